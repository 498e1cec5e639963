"""Records/s of tap-planful extracting GL rows, beside the raw floor and a default SDK stream.

    python benchmarks/bench_tap_planful.py [--quick] [-n ROWS] [--repeat K] [--no-default]

The Planful emulator runs in its own process (`python -m sandbox serve planful --set
log_bodies=false`) seeded with one budget scenario of N GL rows over 12 fiscal months. Each
contender reads the same 12 pages (`/financemodel/data/gldata?Scenario&FiscalYear&FiscalMonth`)
and writes Singer RECORD lines to a file:

- raw floor: plain `requests` + msgspec, one RECORD line per row (with `period_key`), nothing else;
- tap-planful: the real CLI (`tap-planful --config --catalog`), gl_data selected;
- sdk default: a singer-sdk `RESTStream` with default settings (stdlib JSON with Decimal,
  JSONPath extraction, default writer, recursive type conformance) over the same endpoint, run as
  its own CLI.

Contenders run in interleaved rounds (floor, tap, default, floor, ...) so a noisy machine slows
them alike; the best round of each is kept. After the first round, every contender's RECORD lines
are checked to carry the floor's records (parsed, `time_extracted` aside), so a contender cannot
win by writing less. The ratio column is wall time over the raw floor's (1.00 = as fast as the
floor).
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec
import requests
from sandbox.planful.app import ACCESS_ID, ACCESS_KEY
from sandbox.testing import spawn
from singer_sdk import RESTStream, Tap
from singer_sdk import typing as th
from singer_sdk.authenticators import BasicAuthenticator
from tap_planful.streams import GLDataStream

SCENARIO = {"Name": "2025 Budget", "ScenarioType": "Budget", "FiscalYear": 2025}
MONTHS = range(1, 13)
ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


class DefaultGLStream(RESTStream):
    """GL data the way the SDK template would write it: defaults everywhere."""

    name = "gl_data"
    path = "/financemodel/data/gldata"
    primary_keys = GLDataStream.primary_keys
    schema = GLDataStream.schema

    @property
    def url_base(self) -> str:
        return self.config["api_url"]

    @property
    def authenticator(self) -> BasicAuthenticator:
        return BasicAuthenticator(
            username=self.config["access_id"], password=self.config["access_key"]
        )

    @property
    def partitions(self) -> list[dict]:
        return [{"FiscalMonth": month} for month in MONTHS]

    def get_url_params(self, context: Any, next_page_token: Any) -> dict[str, Any]:
        return {"Scenario": SCENARIO["Name"], "FiscalYear": SCENARIO["FiscalYear"], **context}

    def post_process(self, row: dict, context: Any = None) -> dict:
        row["period_key"] = row["FiscalYear"] * 100 + row["FiscalMonth"]
        return row


class DefaultGLTap(Tap):
    name = "tap-default-gl"
    config_jsonschema = th.PropertiesList(
        th.Property("api_url", th.StringType),
        th.Property("access_id", th.StringType),
        th.Property("access_key", th.StringType),
    ).to_dict()

    def discover_streams(self) -> list:
        return [DefaultGLStream(self)]


def start_emulator(rows: int) -> tuple[subprocess.Popen, str]:
    per_period = -(-rows // len(MONTHS))
    return spawn(
        "planful",
        settings={"log_bodies": False},
        seed={"scenarios": [SCENARIO], "gl_rows_per_period": per_period},
    )


def raw_floor(url: str, out: Path) -> int:
    """The least work that yields the same RECORD lines."""
    session = requests.Session()
    session.auth = (ACCESS_ID, ACCESS_KEY)
    decoder = msgspec.json.Decoder()
    encoder = msgspec.json.Encoder()
    count = 0
    with out.open("wb") as sink:
        for month in MONTHS:
            response = session.get(
                f"{url}/financemodel/data/gldata",
                params={"Scenario": SCENARIO["Name"], "FiscalYear": 2025, "FiscalMonth": month},
                timeout=300,
            )
            response.raise_for_status()
            extracted = datetime.datetime.now(datetime.UTC).isoformat()
            for row in decoder.decode(response.content):
                row["period_key"] = row["FiscalYear"] * 100 + row["FiscalMonth"]
                message = {"type": "RECORD", "stream": "gl_data", "record": row}
                message["time_extracted"] = extracted
                sink.write(encoder.encode(message) + b"\n")
                count += 1
    return count


# CLIs run as installed code runs in production: with bytecode caches (the test environment may
# set PYTHONDONTWRITEBYTECODE, which would recompile singer-sdk on every start).
CLI_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def run_cli(command: list[str], out: Path) -> int:
    with out.open("wb") as sink:
        subprocess.run(command, stdout=sink, stderr=subprocess.DEVNULL, check=True, env=CLI_ENV)
    with out.open("rb") as lines:
        return sum(1 for line in lines if line.startswith(b'{"type":"RECORD"'))


def records_digest(out: Path) -> str:
    """A digest of the RECORD lines' records and streams, whatever their JSON spelling."""
    decoder = msgspec.json.Decoder()
    encoder = msgspec.json.Encoder(order="sorted")
    digest = hashlib.blake2b(digest_size=16)
    with out.open("rb") as lines:
        for line in lines:
            message = decoder.decode(line)
            if message["type"] == "RECORD":
                digest.update(encoder.encode([message["stream"], message["record"]]))
    return digest.hexdigest()


def gl_only_catalog(config_path: Path, out: Path) -> None:
    discovered = subprocess.run(
        [str(BIN / "tap-planful"), "--config", str(config_path), "--discover"],
        capture_output=True,
        check=True,
        env=CLI_ENV,
    )
    catalog = json.loads(discovered.stdout)
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == []:
                metadata["metadata"]["selected"] = entry["tap_stream_id"] == "gl_data"
    out.write_text(json.dumps(catalog))


def check_same_records(outs: dict[str, Path]) -> None:
    """Every contender wrote the floor's records; stop the benchmark otherwise."""
    digests = {name: records_digest(out) for name, out in outs.items()}
    if len(set(digests.values())) != 1:
        msg = f"contenders wrote different records: {digests}"
        raise SystemExit(msg)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50,000 rows instead of 1,000,000")
    parser.add_argument("-n", "--rows", type=int, help="GL rows to extract")
    parser.add_argument(
        "--repeat", type=int, default=2, help="interleaved rounds (each contender's best is kept)"
    )
    parser.add_argument(
        "--no-default", action="store_true", help="leave out the slow default-stream contender"
    )
    args = parser.parse_args()
    rows = args.rows or (50_000 if args.quick else 1_000_000)

    emulator, url = start_emulator(rows)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            config = {
                "api_type": "structured",
                "api_url": url,
                "access_id": ACCESS_ID,
                "access_key": ACCESS_KEY,
                "scenarios": [SCENARIO["Name"]],
                "start_fiscal_year": 2025,
            }
            config_path = work / "config.json"
            config_path.write_text(json.dumps(config))
            catalog_path = work / "catalog.json"
            gl_only_catalog(config_path, catalog_path)
            contenders = {
                "raw floor (requests + msgspec)": (
                    work / "floor.jsonl",
                    lambda out: raw_floor(url, out),
                ),
                "tap-planful (CLI)": (
                    work / "tap.jsonl",
                    lambda out: run_cli(
                        [
                            str(BIN / "tap-planful"),
                            "--config",
                            str(config_path),
                            "--catalog",
                            str(catalog_path),
                        ],
                        out,
                    ),
                ),
            }
            if not args.no_default:
                contenders["singer-sdk default stream (CLI)"] = (
                    work / "default.jsonl",
                    lambda out: run_cli(
                        [sys.executable, __file__, "default-tap", "--config", str(config_path)],
                        out,
                    ),
                )
            raw_floor(url, work / "floor.jsonl")  # warm the emulator's row encoder
            results: dict[str, tuple[float, int]] = {}
            for round_number in range(args.repeat):
                for name, (out, contender) in contenders.items():
                    started = time.perf_counter()
                    count = contender(out)
                    elapsed = time.perf_counter() - started
                    results[name] = min(results.get(name, (elapsed, count)), (elapsed, count))
                if round_number == 0:
                    check_same_records({name: out for name, (out, _) in contenders.items()})
    finally:
        emulator.terminate()
        emulator.wait()

    floor = results["raw floor (requests + msgspec)"][0]
    print(f"GL rows: {rows:,} (12 pages), best of {args.repeat} interleaved rounds; same records")
    print(f"{'contender':34} {'records':>10} {'seconds':>8} {'records/s':>11} {'ratio':>6}")
    for name, (elapsed, count) in results.items():
        rate = count / elapsed
        print(f"{name:34} {count:>10,} {elapsed:>8.2f} {rate:>11,.0f} {elapsed / floor:>6.2f}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["default-tap"]:
        del sys.argv[1]
        DefaultGLTap.cli()
    else:
        main()
