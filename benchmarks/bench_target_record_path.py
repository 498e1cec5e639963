"""Micro-benchmark: target-planhat's own record path (`TargetPlanhat._process_record_message`
and `PlanhatSink.receive`, private singer-sdk hooks) against singer-sdk's own, in one process.

    python benchmarks/bench_target_record_path.py [--quick] [-n RECORDS] [--rounds R]

Both targets read the same RECORD lines of `companies` in a dry run (nothing is sent: the
time is the record path and the staging of each item), interleaved R times; the best of each is
kept. The private hooks are worth keeping only if the ratio clearly exceeds 1.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import sys
import tempfile
import time

from goals import add_strict_option
from singer_sdk.target_base import Target
from target_planhat.target import TargetPlanhat


class SdkPathTarget(TargetPlanhat):
    """The same target with singer-sdk's own `_process_record_message`."""

    _process_record_message = Target._process_record_message


def lines(count: int) -> str:
    schema = {
        "type": "SCHEMA",
        "stream": "companies",
        "key_properties": ["externalId"],
        "schema": {
            "type": "object",
            "properties": {
                "externalId": {"type": "string"},
                "name": {"type": "string"},
                "lastSeenAt": {"type": ["string", "null"], "format": "date-time"},
                "custom": {"type": "object"},
            },
        },
    }
    out = [json.dumps(schema)]
    out += [
        json.dumps(
            {
                "type": "RECORD",
                "stream": "companies",
                "record": {
                    "externalId": f"C-{n}",
                    "name": f"Company {n}",
                    "lastSeenAt": "2024-05-01T12:00:00Z",
                    "custom": {"Seats": n},
                },
            }
        )
        for n in range(count)
    ]
    return "\n".join(out) + "\n"


def run(target_class: type[TargetPlanhat], text: str, workdir: str) -> float:
    config = {
        "api_token": "benchmark-token",
        "api_url": "http://127.0.0.1:9",
        "ledger": "none",
        "dry_run": True,
        "dry_run_file": os.path.join(workdir, "plan.jsonl"),
    }
    target = target_class(config=config, parse_env_config=False)
    started = time.perf_counter()
    target.listen(io.StringIO(text))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 records instead of 100,000")
    parser.add_argument("-n", "--records", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=3)
    add_strict_option(parser)  # no goal here: accepted so that `./run bench --strict` runs
    args = parser.parse_args()
    args.records = args.records or (20_000 if args.quick else 100_000)
    logging.disable(logging.INFO)
    text = lines(args.records)
    best = {TargetPlanhat: float("inf"), SdkPathTarget: float("inf")}
    with tempfile.TemporaryDirectory() as workdir:
        for _ in range(args.rounds):
            for target_class, so_far in best.items():
                best[target_class] = min(so_far, run(target_class, text, workdir))
    ours, sdk = best[TargetPlanhat], best[SdkPathTarget]
    print(f"records: {args.records:,}, best of {args.rounds} interleaved rounds (dry run)")
    print(f"{'record path':<32}{'seconds':>9}{'records/s':>12}")
    print(f"{'TargetPlanhat (private hooks)':<32}{ours:>9.2f}{args.records / ours:>12,.0f}")
    print(f"{'singer-sdk _process_record_message':<32}{sdk:>9.2f}{args.records / sdk:>12,.0f}")
    print(f"gain of the private hooks: {sdk / ours:.2f}x")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
