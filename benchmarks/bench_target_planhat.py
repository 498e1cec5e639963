"""target-planhat end to end: Singer file -> `target-planhat` CLI -> Planhat emulator, over HTTP.

    python benchmarks/bench_target_planhat.py [--quick] [-n N] [--rounds R] [--skip-10x] [--strict]

For N and 10 x N companies (bulk upsert, 5,000 per request) and metrics (analytics host, batched
by the analytics body limit, 10 MB by default) it prints records/s, requests made against the
minimum possible, and the target process's peak RSS. `net` leaves out the process start-up (the
SDK's imports); `server s` is the time the emulator spent answering (its request log), which the
target now overlaps with reading the next batch. Two
more rows: the companies at N with the SDK's JSON-schema validation on (`validate_records: true`;
off by default), and the SDK floor (same reader and pipeline, a sink that writes nowhere).

The cases at N run R times, interleaved (companies, metrics, floor, companies, ...), and the best
run of each is shown, so a burst of other load on a shared machine hits one run, not one case.
`cpu µs/rec` is the CPU time per record of the target process (both threads, start-up left out)
and of the emulator process: unlike records/s, these barely move with other load.

The emulator runs as its own process (`python -m sandbox serve planhat --set log_bodies=false`),
throttling is off (`max_requests_per_minute: 0`). Goals: >= 30,000 records/s (net, at N), requests
equal to the minimum, peak memory independent of N (10 x N within 1.2 x the figure at N) and the
metrics' peak within 2 x the companies' at the same N.

The sync ledger (a SQLite file, fresh per round): `companies, ledger on` is a first run with the
ledger (goal: >= 0.8 x the records/s of `ledger: none`, the plain `companies` rows); `companies,
2nd run 1% changed` runs the same N again with every 100th company changed (goal: requests =
ceil(changed / 5,000), wall time <= 1.5 x the SDK floor reading the same N records). The ledger-on
case also runs at 10 x N, for peak memory.

Each goal prints `met` or `MISSED`; `--strict` exits with status 1 when one is missed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from goals import Goals, add_strict_option
from sandbox.planhat.app import SANDBOX_TOKEN, TENANT_UUID
from sandbox.testing import SandboxClient
from singer_sdk import typing as th
from singer_sdk.contrib.msgspec import MsgSpecReader
from singer_sdk.sinks import BatchSink
from singer_sdk.target_base import Target
from target_planhat.settings import ANALYTICS_BODY_BYTES

BULK_MAX = 5000
TARGET = str(Path(sys.executable).with_name("target-planhat"))


def company(i: int) -> dict[str, Any]:
    return {
        "externalId": f"BENCH-{i}",
        "sourceId": f"sf-{i}",
        "name": f"Company {i}",
        "domains": [f"bench{i}.example"],
        "phase": "Onboarding",
        "lastSeenAt": "2024-05-01T12:00:00Z",
        "custom": {"Segment": "SMB", "Seats": i % 90},
    }


def changed_company(i: int) -> dict[str, Any]:
    """The second run's input: every 100th company changed."""
    record = company(i)
    if i % 100 == 0:
        record["phase"] = "Renewal"
    return record


def seeded_company(i: int) -> str:
    """One of the emulator's seeded companies (`--seed companies=1000`: COMP-0004 ... COMP-1000)."""
    return f"COMP-{4 + i % 997:04d}"


def metric(i: int) -> dict[str, Any]:
    return {
        "dimensionId": "logins",
        "value": i % 17,
        "companyExternalId": seeded_company(i),
        "date": "2024-05-01",
    }


SCHEMAS = {
    "companies": (
        {
            "externalId": {"type": "string"},
            "sourceId": {"type": "string"},
            "name": {"type": "string"},
            "domains": {"type": "array", "items": {"type": "string"}},
            "phase": {"type": "string"},
            "lastSeenAt": {"type": "string", "format": "date-time"},
            "custom": {"type": "object"},
        },
        ["externalId"],
        company,
    ),
    "metrics": (
        {
            "dimensionId": {"type": "string"},
            "value": {"type": "number"},
            "companyExternalId": {"type": "string"},
            "date": {"type": "string"},
        },
        [],
        metric,
    ),
}


def write_singer(path: Path, stream: str, count: int, *, changed: bool = False) -> None:
    properties, keys, make = SCHEMAS[stream]
    make = changed_company if changed else make
    with path.open("w") as out:
        schema = {"type": "object", "properties": properties}
        out.write(
            json.dumps(
                {"type": "SCHEMA", "stream": stream, "schema": schema, "key_properties": keys}
            )
            + "\n"
        )
        for i in range(count):
            out.write(json.dumps({"type": "RECORD", "stream": stream, "record": make(i)}) + "\n")
        out.write(
            json.dumps({"type": "STATE", "value": {"bookmarks": {stream: {"n": count}}}}) + "\n"
        )


def minimum_requests(stream: str, count: int) -> int:
    if stream == "companies":
        return math.ceil(count / BULK_MAX)
    # what the target sends per metric: companyExternalId becomes externalId + model
    sent = [
        {
            **{k: v for k, v in metric(i).items() if k != "companyExternalId"},
            "externalId": seeded_company(i),
            "model": "Company",
        }
        for i in range(min(count, 1000))
    ]
    average = sum(len(json.dumps(s, separators=(",", ":"))) + 1 for s in sent) / len(sent)
    return math.ceil((average * count + 1) / ANALYTICS_BODY_BYTES)


LEDGER_FIRST = "companies, ledger on"
LEDGER_SECOND = "companies, 2nd run 1% changed"


@dataclass
class Result:
    case: str
    records: int
    seconds: float
    startup: float
    requests: int | None
    minimum: int | None
    peak_rss_mb: float
    server: float = 0.0
    """Seconds the emulator spent answering (from its request log): time the target waited."""
    target_cpu: float = 0.0
    emulator_cpu: float = 0.0
    startup_cpu: float = 0.0

    @property
    def per_second(self) -> float:
        return self.records / self.seconds

    @property
    def net_per_second(self) -> float:
        """Records/s once the process is up (the SDK's import time is the same for every run)."""
        return self.records / max(self.seconds - self.startup, 1e-9)

    @property
    def cpu_per_record_us(self) -> float:
        """CPU microseconds per record of the target process, its start-up left out."""
        return (self.target_cpu - self.startup_cpu) / self.records * 1e6


class FloorSink(BatchSink):
    """Keeps nothing: what the SDK's own per-record pipeline costs."""

    def process_batch(self, context: dict) -> None:
        pass


class FloorTarget(Target):
    """The SDK floor: same reader, same pipeline, a sink that writes nowhere."""

    name = "sdk-floor"
    config_jsonschema = th.PropertiesList().to_dict()
    default_sink_class = FloorSink
    message_reader_class = MsgSpecReader


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux `/proc`)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_process(
    command: list[str], config: dict[str, Any], singer: Path, workdir: Path
) -> tuple[float, float, float]:
    """Seconds, peak RSS (MB) and CPU seconds of one process reading `singer` on stdin."""
    config_path = workdir / "config.json"
    config_path.write_text(json.dumps(config))
    log_path = workdir / "target.log"
    started = time.perf_counter()
    with singer.open() as stdin, log_path.open("w") as log:
        process = subprocess.Popen(
            [*command, "--config", str(config_path)],
            stdin=stdin,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        _, status, usage = os.wait4(process.pid, 0)  # this child's own rusage
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status):
        sys.exit(f"{command[-1]} failed:\n{log_path.read_text()[-3000:]}")
    return seconds, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def start_up(
    command: list[str], config: dict[str, Any], empty: Path, workdir: Path
) -> tuple[float, float]:
    """Seconds and CPU seconds of a run with no records (best of two): the process start-up."""
    runs = [run_process(command, config, empty, workdir) for _ in range(2)]
    return min(r[0] for r in runs), min(r[2] for r in runs)


def main() -> int:
    if sys.argv[1:2] == ["--floor-target"]:
        sys.argv = [sys.argv[0], *sys.argv[2:]]
        FloorTarget.cli()
        return 0
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small N, for a smoke test")
    parser.add_argument(
        "-n", type=int, default=None, help="records per stream at 1 x N (default 100,000)"
    )
    parser.add_argument(
        "--rounds", type=int, default=None, help="interleaved runs of each case at N (default 3)"
    )
    parser.add_argument(
        "--skip-10x", action="store_true", help="leave out the 10 x N cases (for a large N)"
    )
    add_strict_option(parser)
    args = parser.parse_args()
    n = args.n or (5_000 if args.quick else 100_000)
    rounds = args.rounds or (1 if args.quick else 3)

    emulator = [
        "serve",
        "planhat",
        "--set",
        "log_bodies=false",
        "--set",
        "keep_analytics_items=false",
    ]
    server = subprocess.Popen(
        [sys.executable, "-m", "sandbox", *emulator, "--seed", "companies=1000"],
        stdout=subprocess.PIPE,
        text=True,
    )
    best: dict[tuple[str, int], Result] = {}
    assert server.stdout is not None  # stdout=PIPE
    try:
        url = server.stdout.readline().strip().rsplit(" ", 1)[-1]
        sandbox = SandboxClient(url)
        config = {
            "api_token": SANDBOX_TOKEN,
            "tenant_token": TENANT_UUID,
            "api_url": url,
            "analytics_url": url,
            "max_requests_per_minute": 0,
            "ledger": "none",
        }
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            empty = workdir / "empty.singer"
            write_singer(empty, "companies", 0)
            floor_command = [sys.executable, __file__, "--floor-target"]
            floor_config = {"validate_records": False}
            empty_runs = [run_process([TARGET], config, empty, workdir) for _ in range(2)]
            startup, startup_cpu = min(r[0] for r in empty_runs), min(r[2] for r in empty_runs)
            empty_runs = [
                run_process(floor_command, floor_config, empty, workdir) for _ in range(2)
            ]
            floor_startup, floor_cpu = min(r[0] for r in empty_runs), min(r[2] for r in empty_runs)

            def run(
                stream: str,
                count: int,
                extra: dict[str, Any],
                *,
                label: str | None = None,
                changed: bool = False,
                reset: bool = True,
            ) -> Result:
                singer = workdir / f"{stream}-{count}{'-changed' if changed else ''}.singer"
                if not singer.exists():
                    write_singer(singer, stream, count, changed=changed)
                if reset:
                    sandbox.reset()
                else:
                    sandbox.clear_requests()
                emulator_before = cpu_seconds(server.pid)
                seconds, peak, cpu = run_process([TARGET], {**config, **extra}, singer, workdir)
                emulator_cpu = cpu_seconds(server.pid) - emulator_before
                made = [r for r in sandbox.requests() if r["method"] in {"PUT", "POST"}]
                waited = sum(r["duration_ms"] for r in made) / 1000
                label = label or stream + (" (validate_records on)" if extra else "")
                minimum = (
                    math.ceil(math.ceil(count / 100) / BULK_MAX)
                    if changed
                    else minimum_requests(stream, count)
                )
                print(f"  ran {label} x {count:,}: {seconds:.1f} s", file=sys.stderr, flush=True)
                return Result(
                    label, count, seconds, startup, len(made), minimum, peak, waited, cpu,
                    emulator_cpu, startup_cpu,
                )  # fmt: skip

            def floor() -> Result:
                singer = workdir / f"companies-{n}.singer"
                seconds, peak, cpu = run_process(floor_command, floor_config, singer, workdir)
                print(f"  ran SDK floor x {n:,}: {seconds:.1f} s", file=sys.stderr, flush=True)
                label = "SDK floor (no-op sink)"
                return Result(
                    label, n, seconds, floor_startup, None, None, peak, 0.0, cpu, 0.0, floor_cpu
                )

            def keep(result: Result) -> None:
                key = (result.case, result.records)
                if key not in best or result.seconds < best[key].seconds:
                    best[key] = result

            def with_ledger(count: int, name: str) -> dict[str, Any]:
                path = workdir / f"ledger-{name}.sqlite3"
                for leftover in workdir.glob(f"ledger-{name}.sqlite3*"):
                    leftover.unlink()
                return {"ledger": str(path)}

            for round_number in range(rounds):
                keep(run("companies", n, {}))
                ledger = with_ledger(n, f"round{round_number}")
                keep(run("companies", n, ledger, label=LEDGER_FIRST))
                keep(run("companies", n, ledger, label=LEDGER_SECOND, changed=True, reset=False))
                keep(run("metrics", n, {}))
                keep(floor())
            if not args.skip_10x:
                for stream in ("companies", "metrics"):
                    keep(run(stream, 10 * n, {}))
                keep(run("companies", 10 * n, with_ledger(10 * n, "large"), label=LEDGER_FIRST))
            keep(run("companies", n, {"validate_records": True}))
    finally:
        server.terminate()
        server.wait(timeout=10)
    goals = Goals(strict=args.strict)
    report(list(best.values()), n, startup, rounds, goals)
    return goals.conclude()


def report(results: list[Result], n: int, startup: float, rounds: int, goals: Goals) -> None:
    print(
        f"\ntarget-planhat -> Planhat emulator, throttle off, N = {n:,}, start-up {startup:.1f} s,"
        f" best of {rounds} interleaved runs at N\n"
    )
    columns = (
        "records", "seconds", "server s", "records/s", "net rec/s", "requests", "minimum",
        "peak MB", "cpu µs/rec", "emulator",
    )  # fmt: skip
    widths = (10, 9, 10, 11, 11, 10, 9, 9, 12, 10)
    print(f"{'case':<34}" + "".join(f"{c:>{w}}" for c, w in zip(columns, widths, strict=True)))
    results = sorted(results, key=lambda r: (r.records, r.case))
    for r in results:
        cells = (
            f"{r.records:,}",
            f"{r.seconds:.1f}",
            f"{r.server:.1f}",
            f"{r.per_second:,.0f}",
            f"{r.net_per_second:,.0f}",
            "-" if r.requests is None else r.requests,
            "-" if r.minimum is None else r.minimum,
            f"{r.peak_rss_mb:.0f}",
            f"{r.cpu_per_record_us:.1f}",
            "-" if r.requests is None else f"{r.emulator_cpu / r.records * 1e6:.1f}",
        )
        print(f"{r.case:<34}" + "".join(f"{c:>{w}}" for c, w in zip(cells, widths, strict=True)))
    by_case = {(r.case, r.records): r for r in results}
    print()
    for r in results:
        if r.requests is not None and r.minimum is not None:
            name = f"{r.case} x {r.records:,}: requests"
            print(f"{name} {r.requests} " + goals.judge(name, r.requests, "==", r.minimum, 0))
        if r.case in {"companies", "metrics"} and r.records == n:
            print(
                f"{r.case}: net records/s {r.net_per_second:,.0f} "
                + goals.judge(f"{r.case}: net records/s", r.net_per_second, ">=", 30_000, 0)
            )
    for stream in ("companies", "metrics"):
        if (stream, 10 * n) not in by_case:
            continue
        small, large = by_case[(stream, n)], by_case[(stream, 10 * n)]
        growth = large.peak_rss_mb / small.peak_rss_mb
        print(
            f"{stream}: 10xN / N  net records/s {large.net_per_second / small.net_per_second:.2f}, "
            f"peak RSS {growth:.2f} "
            + goals.judge(f"{stream}: peak RSS 10xN / N", growth, "<=", 1.2)
        )
    for size in (n, 10 * n):
        if ("metrics", size) in by_case and ("companies", size) in by_case:
            ratio = (
                by_case[("metrics", size)].peak_rss_mb / by_case[("companies", size)].peak_rss_mb
            )
            print(
                f"peak RSS at {size:,}: metrics / companies {ratio:.2f} "
                + goals.judge(f"peak RSS at {size:,}: metrics / companies", ratio, "<=", 2.0)
            )
    plain, first, second = (
        by_case[(case, n)] for case in ("companies", LEDGER_FIRST, LEDGER_SECOND)
    )
    floor = by_case[("SDK floor (no-op sink)", n)]
    ledger_large = by_case.get((LEDGER_FIRST, 10 * n))
    ledger_net = first.net_per_second / plain.net_per_second
    print(
        f"ledger: first run records/s, ledger on / none {first.per_second / plain.per_second:.2f},"
        f" net {ledger_net:.2f} "
        + goals.judge("ledger: first run net records/s, on / none", ledger_net, ">=", 0.8)
        + (
            f"; peak RSS 10xN / N {ledger_large.peak_rss_mb / first.peak_rss_mb:.2f} "
            + goals.judge(
                "ledger: peak RSS 10xN / N",
                ledger_large.peak_rss_mb / first.peak_rss_mb,
                "<=",
                1.2,
            )
            if ledger_large
            else ""
        )
    )
    second_wall = second.seconds / floor.seconds
    print(
        f"ledger: 2nd run 1% changed: {second.requests} requests (minimum {second.minimum}); "
        f"wall time / SDK floor {second_wall:.2f} "
        + goals.judge("ledger: 2nd run wall time / SDK floor", second_wall, "<=", 1.5)
        + f", net {(second.seconds - second.startup) / (floor.seconds - floor.startup):.2f}"
    )
    default, validating = by_case[("companies", n)], by_case[("companies (validate_records on)", n)]
    print(
        "companies: net records/s, validate_records off (default) / on "
        f"{default.net_per_second / validating.net_per_second:.2f}; "
        f"target-planhat / SDK floor: net records/s "
        f"{default.net_per_second / floor.net_per_second:.2f}, "
        f"CPU per record {default.cpu_per_record_us / floor.cpu_per_record_us:.2f}"
    )


if __name__ == "__main__":
    sys.exit(main())
