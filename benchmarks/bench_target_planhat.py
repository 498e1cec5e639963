"""target-planhat end to end: Singer file -> `target-planhat` CLI -> Planhat emulator, over HTTP.

    python benchmarks/bench_target_planhat.py [--quick] [-n N]

For N and 10 x N companies (bulk upsert, 5,000 per request) and metrics (analytics host, batched
by the 32 MB body limit) it prints records/s, requests made against the minimum possible, and
the target process's peak RSS. A last pair of rows runs the companies at N with the SDK's record
validation off (`validate_records: false`), to show what that lever is worth, as a ratio.

The emulator runs as its own process (`python -m sandbox serve planhat --set log_bodies=false`),
throttling is off (`max_requests_per_minute: 0`). Goals: >= 30,000 records/s, requests equal to
the minimum, peak memory independent of N.
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

from sandbox.planhat.app import SANDBOX_TOKEN, TENANT_UUID
from sandbox.testing import SandboxClient
from target_planhat.sinks import ANALYTICS_MAX_BODY_BYTES

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


def metric(i: int) -> dict[str, Any]:
    return {
        "dimensionId": "logins",
        "value": i % 17,
        "companyExternalId": f"BENCH-{i % 1000}",
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


def write_singer(path: Path, stream: str, count: int) -> None:
    properties, keys, make = SCHEMAS[stream]
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
            "externalId": f"BENCH-{i % 1000}",
            "model": "Company",
        }
        for i in range(min(count, 1000))
    ]
    average = sum(len(json.dumps(s, separators=(",", ":"))) + 1 for s in sent) / len(sent)
    return math.ceil((average * count + 1) / ANALYTICS_MAX_BODY_BYTES)


@dataclass
class Result:
    case: str
    records: int
    seconds: float
    requests: int
    minimum: int
    peak_rss_mb: float

    @property
    def per_second(self) -> float:
        return self.records / self.seconds


def run_target(config: dict[str, Any], singer: Path, workdir: Path) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of one `target-planhat` run on `singer`."""
    config_path = workdir / "config.json"
    config_path.write_text(json.dumps(config))
    log_path = workdir / "target.log"
    started = time.perf_counter()
    with singer.open() as stdin, log_path.open("w") as log:
        process = subprocess.Popen(
            [TARGET, "--config", str(config_path)],
            stdin=stdin,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        _, status, usage = os.wait4(process.pid, 0)  # this child's own rusage
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status):
        sys.exit(f"target-planhat failed:\n{log_path.read_text()[-3000:]}")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small N, for a smoke test")
    parser.add_argument(
        "-n", type=int, default=None, help="records per stream at 1 x N (default 100,000)"
    )
    args = parser.parse_args()
    n = args.n or (5_000 if args.quick else 100_000)

    server = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "sandbox",
            "serve",
            "planhat",
            "--set",
            "log_bodies=false",
            "--set",
            "keep_analytics_items=false",
            "--seed",
            "companies=0",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = server.stdout.readline().strip().rsplit(" ", 1)[-1]
        sandbox = SandboxClient(url)
        config = {
            "api_token": SANDBOX_TOKEN,
            "tenant_token": TENANT_UUID,
            "api_url": url,
            "analytics_url": url,
            "max_requests_per_minute": 0,
        }
        results = []
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            plan = [
                (stream, count, {}) for count in (n, 10 * n) for stream in ("companies", "metrics")
            ]
            plan.append(("companies", n, {"validate_records": False}))
            for stream, count, extra in plan:
                singer = workdir / f"{stream}-{count}.singer"
                if not singer.exists():
                    write_singer(singer, stream, count)
                sandbox.reset()
                seconds, peak = run_target({**config, **extra}, singer, workdir)
                made = [r for r in sandbox.requests() if r["method"] in {"PUT", "POST"}]
                label = stream + (" (validate_records off)" if extra else "")
                results.append(
                    Result(label, count, seconds, len(made), minimum_requests(stream, count), peak)
                )
                print(f"  ran {label} x {count:,}: {seconds:.1f} s", file=sys.stderr, flush=True)
    finally:
        server.terminate()
        server.wait(timeout=10)

    print(f"\ntarget-planhat -> Planhat emulator (throttle off), N = {n:,}\n")
    print(
        f"{'case':<36}{'records':>10}{'seconds':>9}{'records/s':>11}{'requests':>10}{'minimum':>9}{'peak RSS MB':>13}"
    )
    for r in results:
        print(
            f"{r.case:<36}{r.records:>10,}{r.seconds:>9.1f}{r.per_second:>11,.0f}{r.requests:>10}{r.minimum:>9}{r.peak_rss_mb:>13.0f}"
        )
    by_case = {(r.case, r.records): r for r in results}
    print()
    for stream in ("companies", "metrics"):
        small, large = by_case[(stream, n)], by_case[(stream, 10 * n)]
        print(
            f"{stream}: 10xN / N  records/s {large.per_second / small.per_second:.2f}, "
            f"peak RSS {large.peak_rss_mb / small.peak_rss_mb:.2f}"
        )
    on, off = by_case[("companies", n)], by_case[("companies (validate_records off)", n)]
    print(f"companies: validate_records off / on  records/s {off.per_second / on.per_second:.2f}")


if __name__ == "__main__":
    main()
