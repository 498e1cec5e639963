"""How fast the Planhat emulator absorbs bulk writes, in-process and over HTTP, side by side.

The target's benchmark pushes 100,000 companies and 100,000 metrics through the emulator and
aims at >= 30,000 records/s end to end, so the emulator must stay well below that cost.

    python benchmarks/bench_planhat_emulator.py [--quick] [-n N]

In-process: `PlanhatStore.bulk_upsert` on parsed JSON (what the emulator does per request),
in CPU time. HTTP: `PUT /companies` etc. against `python -m sandbox serve planhat --set
log_bodies=false` in its own process: the server's CPU time per 5,000 records, and the wall
time seen by the client (encode, send, server work, response, decode).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import requests
from goals import add_strict_option
from sandbox.planhat.app import SANDBOX_TOKEN, TENANT_UUID, PlanhatEmulator

BATCH = 5000
EMPTY = ("--seed", "companies=0", "--seed", "users=0")
METRICS_BATCH = 10000


def companies(n: int, tag: str = "") -> list[dict[str, Any]]:
    return [
        {
            "name": f"Company {i}{tag}",
            "externalId": f"BENCH-{i}",
            "sourceId": f"sf-{i}",
            "domains": [f"bench{i}.example"],
            "phase": "Onboarding",
            "custom": {"Segment": "SMB", "Seats": i % 90},
        }
        for i in range(n)
    ]


def endusers(n: int) -> list[dict[str, Any]]:
    return [
        {
            "email": f"user{i}@bench{i}.example",
            "externalId": f"U-{i}",
            "companyId": f"extid-BENCH-{i}",
        }
        for i in range(n)
    ]


def metrics(n: int) -> list[dict[str, Any]]:
    return [
        {"dimensionId": "logins", "value": i % 17, "externalId": f"BENCH-{i}", "date": "2024-05-01"}
        for i in range(n)
    ]


def phases(n: int) -> list[tuple[str, str, list[dict[str, Any]], int]]:
    """(phase, path, items, batch size), in the order they run (each builds on the last)."""
    return [
        ("companies create", "/companies", companies(n), BATCH),
        ("companies nonupdate", "/companies", companies(n), BATCH),
        ("companies update", "/companies", companies(n, " v2"), BATCH),
        ("endusers create (extid- ref)", "/endusers", endusers(n), BATCH),
        ("metrics push", f"/dimensiondata/{TENANT_UUID}", metrics(n), METRICS_BATCH),
    ]


def batches(items: list[Any], size: int) -> list[bytes]:
    return [json.dumps(items[i : i + size]).encode() for i in range(0, len(items), size)]


def in_process(plan: list[tuple[str, str, list[dict[str, Any]], int]]) -> dict[str, float]:
    """CPU seconds per phase for parse + store work, no HTTP (CPU time, so other load on the
    machine does not count)."""
    emulator = PlanhatEmulator(settings={"log_bodies": False}, seed={"companies": 0, "users": 0})
    store = emulator.store
    write: dict[str, Callable[[list[Any]], Any]] = {
        "/companies": lambda items: store.bulk_upsert("companies", items),
        "/endusers": lambda items: store.bulk_upsert("endusers", items),
        f"/dimensiondata/{TENANT_UUID}": store.push_metrics,
    }
    timings = {}
    for phase, path, items, size in plan:
        bodies = batches(items, size)
        started = time.process_time()
        for body in bodies:
            write[path](json.loads(body))
        timings[phase] = time.process_time() - started
    return timings


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux `/proc`)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def over_http(
    plan: list[tuple[str, str, list[dict[str, Any]], int]],
) -> tuple[dict[str, float], dict[str, float]]:
    """Per phase: wall seconds seen by the client, and CPU seconds the emulator process spent."""
    server = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "serve", "planhat", "--set", "log_bodies=false", *EMPTY],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip().rsplit(" ", 1)[-1]
        session = requests.Session()
        session.headers.update(
            {"Authorization": f"Bearer {SANDBOX_TOKEN}", "Content-Type": "application/json"}
        )
        timings, server_cpu = {}, {}
        for phase, path, items, size in plan:
            method = "POST" if path.startswith("/dimensiondata") else "PUT"
            cpu_before = cpu_seconds(server.pid)
            started = time.perf_counter()
            for chunk in (items[i : i + size] for i in range(0, len(items), size)):
                response = session.request(
                    method, url + path, data=json.dumps(chunk).encode(), timeout=120
                )
                response.raise_for_status()
                response.json()
            timings[phase] = time.perf_counter() - started
            server_cpu[phase] = cpu_seconds(server.pid) - cpu_before
        return timings, server_cpu
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one batch per phase (smoke test)")
    parser.add_argument("-n", type=int, default=100_000, help="records per phase (default 100,000)")
    add_strict_option(parser)  # no goal here: accepted so that `./run bench --strict` runs
    args = parser.parse_args()
    n = BATCH if args.quick else args.n
    plan = phases(n)
    local = in_process(plan)
    remote, server_cpu = over_http(plan)
    print(f"Planhat emulator: {n:,} records per phase, {BATCH:,} per request", end="")
    print(f" ({METRICS_BATCH:,} for metrics)")
    header = (
        f"{'phase':<30} {'in-proc CPU rec/s':>18} {'server CPU ms/5k':>17} {'HTTP wall rec/s':>16}"
        f" {'wall/in-proc':>13}"
    )
    print(header)
    print("-" * len(header))
    for phase, *_ in plan:
        print(
            f"{phase:<30} {n / local[phase]:>18,.0f} {server_cpu[phase] / n * BATCH * 1000:>17.1f}"
            f" {n / remote[phase]:>16,.0f} {remote[phase] / local[phase]:>12.2f}x"
        )
    print("in-proc: parse + store CPU time; server CPU: the emulator process's CPU time over HTTP")
    print("(both immune to other load); HTTP wall: client-side throughput, includes encode/decode.")


if __name__ == "__main__":
    main()
