"""Wall time of Planful GL through Meltano: one `meltano run` against the orchestrator's
partitioned run (one `meltano run` per scenario, W at a time for each W asked).

    python benchmarks/bench_partitioned.py [--quick] [--scenarios 8] [-n ROWS] [--workers 2,4]
                                           [--latency-ms 0] [--fiscal-years 1]

`--latency-ms` makes the emulator wait that long before every answer (its `latency_ms` setting),
as a real Planful tenant does: its SOAP answers take hundreds of milliseconds to seconds, time a
single run spends waiting and parallel partitions spend side by side.

The Planful emulator runs in its own process, seeded with S budget scenarios of N GL rows per
fiscal year (12 monthly SOAP answers of N/12 rows), read for one plan year or, with
`--fiscal-years Y`, for Y years (the tap's default window for Actual is three). A throwaway
copy of the Meltano project gets one extra job, `finance-to-jsonl` (tap-planful, gl_data only,
into target-jsonl: the cheapest target, so the figures are the tap's and Meltano's), and a
throwaway PostgreSQL for Meltano's system database and state (both modes use it). Then:

- single: `meltano --environment=shared run finance-to-jsonl` with every scenario;
- partitioned: `dagster job execute -m orchestrator.definitions -j finance_to_jsonl` with
  ORCHESTRATOR_WORKERS=W: a system-database op, then one op per scenario, W at a time.

Each mode has a system database of its own (a fresh PostgreSQL database), so every mode starts
without state and writes every row (checked: lines in the JSON lines files).
Per partition the orchestrator logs wall and CPU seconds (Meltano, tap and target); the
difference between the partitions' CPU and the single run's splits it into a fixed cost per
partition and a cost per row.

The machine may be shared with other work: run both modes side by side, read the ratio.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import yaml
from goals import add_strict_option
from sandbox.planful.soap import LOGIN_NAME, PASSWORD, TENANT_CODE
from sandbox.testing import meltano_env, spawn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.pipelines.conftest import PLUGIN_DIRS  # noqa: E402
from tests.pipelines.postgres import TemporaryPostgres  # noqa: E402

BIN = Path(sys.executable).parent
JOB = "finance-to-jsonl"
DONE = re.compile(r"tap-planful-to-target-jsonl:(\S+): done in ([\d.]+) s, ([\d.]+) s CPU")


def _project(tmp: Path) -> Path:
    """A copy of the Meltano project with the benchmark's job; plugin source dirs linked."""
    root = tmp / "project"
    root.mkdir()
    for name in ("meltano", "data"):
        shutil.copytree(ROOT / name, root / name)
    for name in PLUGIN_DIRS:  # the plugins' pip_url installs connector-core with each
        (root / name).symlink_to(ROOT / name, target_is_directory=True)
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    project["jobs"] = [{"name": JOB, "tasks": ["tap-planful target-jsonl"]}]
    project["schedules"] = []
    shared = next(e for e in project["environments"] if e["name"] == "shared")
    shared["config"]["plugins"]["loaders"].append(
        {
            "name": "target-jsonl",
            # one folder per partition (the orchestrator sets ORCHESTRATOR_PARTITION)
            "config": {
                "destination_path": f"{tmp}/out/${{BENCH_MODE}}/${{ORCHESTRATOR_PARTITION}}"
            },
        }
    )
    (root / "meltano.yml").write_text(yaml.safe_dump(project, sort_keys=False))
    return root


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _lines(folder: Path) -> int:
    return sum(1 for path in folder.rglob("gl_data*.jsonl") for _ in path.open("rb"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="8 scenarios x 12,000 rows")
    parser.add_argument("--scenarios", type=int, default=8)
    parser.add_argument(
        "-n", "--rows", type=int, default=250_000, help="GL rows per scenario and fiscal year"
    )
    parser.add_argument(
        "--fiscal-years",
        type=int,
        default=1,
        help="fiscal years read per scenario (12 SOAP answers each): 1, a budget's plan year; "
        "3, the tap's default window for Actual",
    )
    parser.add_argument("--workers", default="2,4", help="partitioned runs, e.g. 2,4")
    parser.add_argument(
        "--latency-ms", type=int, default=0, help="the emulator's wait before every answer"
    )
    add_strict_option(parser)  # no goal here: accepted so that `./run bench --strict` runs
    args = parser.parse_args()
    worker_counts = [int(w) for w in str(args.workers).split(",") if w.strip()]
    rows = 12_000 if args.quick else args.rows
    per_period = math.ceil(rows / 12)
    names = [f"Budget {chr(ord('A') + i)}" for i in range(args.scenarios)]
    last_year = 2025
    first_year = last_year - args.fiscal_years + 1
    plan_year = last_year if args.fiscal_years == 1 else None  # else every year is read
    scenarios = [{"Name": n, "ScenarioType": "Budget", "FiscalYear": plan_year} for n in names]

    tmp = Path(tempfile.mkdtemp(prefix="bench-partitioned-"))
    emulator, url = spawn(
        "planful",
        settings={"log_bodies": False, "latency_ms": args.latency_ms},
        seed={
            "scenarios": scenarios,
            "gl_rows_per_period": per_period,
            "first_fiscal_year": first_year,
            "fiscal_years": args.fiscal_years,
        },
    )
    postgres = TemporaryPostgres()
    partitioned: dict[int, float] = {}
    try:
        server = postgres.start()
        root = _project(tmp)
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("TAP_", "TARGET_", "MELTANO_"))
        }
        env.update(
            meltano_env({"planful": url}),
            MELTANO_SEND_ANONYMOUS_USAGE_STATS="false",
            MELTANO_CLI_DISABLE_VERSION_CHECK="true",
            MELTANO_PROJECT_ROOT=str(root),
            MELTANO_ENVIRONMENT="shared",
            TAP_PLANFUL_API_TYPE="structured",
            TAP_PLANFUL_LOGIN_NAME=LOGIN_NAME,
            TAP_PLANFUL_PASSWORD=PASSWORD,
            TAP_PLANFUL_TENANT_CODE=TENANT_CODE,
            TAP_PLANFUL_SCENARIOS=json.dumps(names),
            TAP_PLANFUL_START_FISCAL_YEAR=str(first_year),
            TAP_PLANFUL_END_FISCAL_YEAR=str(last_year),
            TAP_PLANFUL__SELECT=json.dumps(["gl_data.*"]),
            ORCHESTRATOR_RETRIES="0",
        )
        meltano = str(BIN / "meltano")

        def system_database(mode: str) -> dict[str, str]:
            """A fresh system database (no state) for one mode, as MELTANO_DATABASE_URI."""
            name = f"bench_{mode}"
            with psycopg.connect(server.url, autocommit=True) as db:
                db.execute(f"create database {name}")
            url = server.with_database(name).url.replace("postgresql://", "postgresql+psycopg://")
            return {**env, "MELTANO_DATABASE_URI": url, "BENCH_MODE": mode}

        install_env = system_database("install")
        for command in (
            ["install", "extractor", "tap-planful"],
            ["install", "loader", "target-jsonl"],
        ):
            subprocess.run(
                [meltano, *command],
                cwd=root,
                env=install_env,
                check=True,
                capture_output=True,
            )
        if plan_year is not None:
            env["TAP_PLANFUL_SCENARIO_FISCAL_YEARS"] = json.dumps(dict.fromkeys(names, plan_year))
        expected = len(names) * args.fiscal_years * 12 * per_period
        print(
            f"{len(names)} scenarios x {args.fiscal_years} fiscal year(s) x {12 * per_period:,} "
            f"GL rows = {expected:,} rows ({args.fiscal_years * 12} SOAP answers a scenario) "
            f"(SOAP, gl_data only, into target-jsonl), {args.latency_ms} ms emulator latency per "
            f"answer; {os.cpu_count()} cores, maybe shared",
            flush=True,
        )

        # single
        single_env = system_database("single")
        subprocess.run(
            [meltano, "upgrade", "database"],
            cwd=root,
            env=single_env,
            check=True,
            capture_output=True,
        )
        started, cpu = time.monotonic(), _children_cpu()
        run = subprocess.run(
            [meltano, "--environment=shared", "run", "--state-id-suffix=single", JOB],
            cwd=root,
            env={**single_env, "ORCHESTRATOR_PARTITION": "single"},
            check=False,
            capture_output=True,
            text=True,
        )
        if run.returncode:
            print(run.stderr[-3000:])
            return 1
        single, single_cpu = time.monotonic() - started, _children_cpu() - cpu
        assert _lines(tmp / "out" / "single") == expected, "single run lost or added rows"
        print(f"single meltano run       {single:8.1f} s wall {single_cpu:8.1f} s CPU", flush=True)

        # partitioned, W workers at a time
        for workers in worker_counts:
            mode = f"w{workers}"
            home = tmp / "dagster" / mode
            home.mkdir(parents=True)
            (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
            started = time.monotonic()
            dagster = subprocess.run(
                [
                    str(BIN / "dagster"),
                    "job",
                    "execute",
                    "-m",
                    "orchestrator.definitions",
                    "-j",
                    JOB.replace("-", "_"),
                ],
                cwd=root,
                env={
                    **system_database(mode),
                    "DAGSTER_HOME": str(home),
                    "ORCHESTRATOR_WORKERS": str(workers),
                },
                capture_output=True,
                text=True,
                check=False,
            )
            partitioned[workers] = time.monotonic() - started
            if dagster.returncode:
                print(dagster.stdout[-3000:], dagster.stderr[-3000:])
                return 1
            parts = {m[1]: (float(m[2]), float(m[3])) for m in DONE.finditer(dagster.stderr)}
            lines = sum(_lines(tmp / "out" / mode / name) for name in parts)
            assert len(parts) == len(names), f"{len(parts)} partitions reported, {len(names)} asked"
            assert lines == expected, f"partitioned run wrote {lines:,} rows, {expected:,} asked"
            print(
                f"partitioned, {workers} workers {partitioned[workers]:8.1f} s wall "
                f"(single / partitioned = {single / partitioned[workers]:.2f}x)",
                flush=True,
            )
    finally:
        emulator.terminate()
        emulator.wait()
        postgres.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    walls = [w for w, _ in parts.values()]
    cpus = [c for _, c in parts.values()]
    print(f"\npartition ({worker_counts[-1]} workers)  wall s    CPU s")
    for key, (wall, cpu) in sorted(parts.items()):
        print(f"{key:16} {wall:8.1f} {cpu:8.1f}")
    mean_wall, total_cpu = sum(walls) / len(walls), sum(cpus)
    last = worker_counts[-1]
    rounds = math.ceil(len(names) / last)
    overhead = max(partitioned[last] - rounds * mean_wall, 0.0)
    # Each partition pays a fixed CPU cost (Meltano, discovery, interpreter starts) that the
    # single run pays once: the difference splits CPU into fixed and per-row parts.
    fixed = max((total_cpu - single_cpu) / (len(names) - 1), 0.0) if len(names) > 1 else 0.0
    per_row = max(single_cpu - fixed, 0.0) / expected
    one = fixed + per_row * expected / len(names)
    print(
        f"\nsum of partition CPU {total_cpu:.1f} s (single run: {single_cpu:.1f} s); "
        f"per partition: {fixed:.1f} s fixed + {per_row * 1e6:.1f} us/row = {one:.1f} s CPU; "
        f"mean partition wall {mean_wall:.1f} s; orchestration cost (Dagster run and step "
        f"processes, system-database op) ~ {overhead:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
