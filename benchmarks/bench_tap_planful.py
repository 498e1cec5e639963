"""Records/s of tap-planful extracting GL rows, beside the raw floor and a default SDK stream.

    python benchmarks/bench_tap_planful.py [--quick] [-n ROWS] [--repeat K]

The Planful emulator runs in its own process (`python -m sandbox serve planful --set
log_bodies=false`) seeded with one budget scenario of N GL rows over 12 fiscal months. Each
contender reads the same 12 pages (`/financemodel/data/gldata?Scenario&FiscalYear&FiscalMonth`)
and writes Singer RECORD lines to a file:

- raw floor: plain `requests` + msgspec, one RECORD line per row (with `period_key`), nothing else;
- tap-planful: the real CLI (`tap-planful --config --catalog`), gl_data selected;
- sdk default: a singer-sdk `RESTStream` with default settings (stdlib JSON with Decimal,
  JSONPath extraction, default writer, recursive type conformance) over the same endpoint, run as
  its own CLI.

The ratio column is wall time over the raw floor's (1.00 = as fast as the floor).
"""

from __future__ import annotations

import argparse
import datetime
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
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sandbox",
            "serve",
            "planful",
            "--set",
            "log_bodies=false",
            "--seed",
            f"scenarios={json.dumps([SCENARIO])}",
            "--seed",
            f"gl_rows_per_period={per_period}",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline() if process.stdout else ""
    return process, line.rsplit(" ", 1)[-1].strip()


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50,000 rows instead of 1,000,000")
    parser.add_argument("-n", "--rows", type=int, help="GL rows to extract")
    parser.add_argument("--repeat", type=int, default=1, help="runs per contender (best is kept)")
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
            out = work / "out.jsonl"
            contenders = {
                "raw floor (requests + msgspec)": lambda: raw_floor(url, out),
                "tap-planful (CLI)": lambda: run_cli(
                    [
                        str(BIN / "tap-planful"),
                        "--config",
                        str(config_path),
                        "--catalog",
                        str(catalog_path),
                    ],
                    out,
                ),
                "singer-sdk default stream (CLI)": lambda: run_cli(
                    [sys.executable, __file__, "default-tap", "--config", str(config_path)], out
                ),
            }
            raw_floor(url, out)  # warm the emulator's row encoder
            results: dict[str, tuple[float, int]] = {}
            for name, contender in contenders.items():
                best = None
                for _ in range(args.repeat):
                    started = time.perf_counter()
                    count = contender()
                    elapsed = time.perf_counter() - started
                    best = min(best or (elapsed, count), (elapsed, count))
                results[name] = best
    finally:
        emulator.terminate()
        emulator.wait()

    floor = results["raw floor (requests + msgspec)"][0]
    print(f"GL rows: {rows:,} (12 pages), best of {args.repeat}")
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
