"""Records/s of tap-planful extracting GL rows, beside the raw floor and a default SDK stream.

    python benchmarks/bench_tap_planful.py [--quick] [-n ROWS] [--repeat K] [--no-default]
                                           [--api rest|soap|both]

The Planful emulator runs in its own process (`python -m sandbox serve planful --set
log_bodies=false`) seeded with one budget scenario of N GL rows over 12 fiscal months. Each
contender reads the same 12 pages (`/financemodel/data/gldata?Scenario&FiscalYear&FiscalMonth`)
and writes Singer RECORD lines to a file:

- raw floor: plain `requests` + msgspec, one RECORD line per row (with `period_key`), nothing else;
- tap-planful: the real CLI (`tap-planful --config --catalog`), gl_data selected; and again
  with `fast_paths: false` (singer-sdk's own record path), which measures the fast path's gain;
- sdk default: a singer-sdk `RESTStream` with default settings (stdlib JSON with Decimal,
  JSONPath extraction, default writer, recursive type conformance) over the same endpoint, run as
  its own CLI.

Over SOAP (`GLData_RetrieveWithLogin`, 12 calls of N/12 rows, MTD) the floor is `requests` with
a streamed body + the same lxml pull-parser loop the tap uses, writing the same RECORD lines; the
tap is the real CLI with SOAP credentials. The peak memory (max RSS) of the SOAP tap is measured
at N/10 and at N rows: it must stay flat, since answers are parsed and written as they arrive.

Contenders run in interleaved rounds (floor, tap, default, floor, ...) so a noisy machine slows
them alike; the best round of each is kept. After the first round, every contender's RECORD lines
are checked to carry the floor's records (parsed, `time_extracted` aside), so a contender cannot
win by writing less. The ratio column is wall time over the raw floor's (1.00 = as fast as the
floor).
"""

from __future__ import annotations

import argparse
import datetime
import decimal
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
from goals import add_strict_option
from lxml import etree
from sandbox.planful.app import ACCESS_ID, ACCESS_KEY
from sandbox.planful.soap import DEFAULT_SOAP_PATH, LOGIN_NAME, PASSWORD, TENANT_CODE
from sandbox.testing import spawn
from singer_sdk import RESTStream, Tap
from singer_sdk import typing as th
from singer_sdk.authenticators import BasicAuthenticator
from tap_planful.soap import NAMESPACE, envelope, filter_collection
from tap_planful.streams import GLDataStream

SCENARIO: dict[str, str | int] = {
    "Name": "2025 Budget",
    "ScenarioType": "Budget",
    "FiscalYear": 2025,
}
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
    decoder = msgspec.json.Decoder(float_hook=decimal.Decimal)  # exact, as the tap
    encoder = msgspec.json.Encoder(decimal_format="number")
    count = 0
    with out.open("wb") as sink:
        for month in MONTHS:
            response = session.get(
                f"{url}/financemodel/data/gldata",
                params={
                    "Scenario": str(SCENARIO["Name"]),
                    "FiscalYear": "2025",
                    "FiscalMonth": str(month),
                },
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


def raw_soap_floor(url: str, out: Path) -> int:
    """The least work that yields the SOAP RECORD lines: streamed POSTs + one pull-parser loop."""
    session = requests.Session()
    encoder = msgspec.json.Encoder(decimal_format="number")
    item = f"{{{NAMESPACE}}}GLData"
    strip = len(NAMESPACE) + 2
    count = 0
    with out.open("wb") as sink:
        for month in MONTHS:
            filters = [
                ("Scenario", "Equals", str(SCENARIO["Name"])),
                ("AmountType", "Equals", "MTD"),
                ("FiscalYear", "Equals", "2025"),
                ("FiscalPeriod", "Equals", str(month)),
            ]
            body = envelope(
                "GLData_RetrieveWithLogin",
                (LOGIN_NAME, PASSWORD, TENANT_CODE),
                filter_collection("GLDataFilter", filters),
            )
            headers = {
                "Content-Type": "text/xml; charset=utf-8",
                "SOAPAction": f'"{NAMESPACE}/GLData_RetrieveWithLogin"',
            }
            response = session.post(
                url + DEFAULT_SOAP_PATH, data=body, headers=headers, stream=True, timeout=300
            )
            response.raise_for_status()
            extracted = datetime.datetime.now(datetime.UTC).isoformat()
            parser = etree.XMLPullParser(
                events=("end",), tag=item, resolve_entities=False, no_network=True
            )
            for chunk in [*response.iter_content(1 << 16), None]:
                if chunk is None:
                    parser.close()
                else:
                    parser.feed(chunk)
                for _, element in parser.read_events():
                    row = {child.tag[strip:]: child.text for child in element}
                    row["Amount"] = decimal.Decimal(row["Amount"])
                    row["FiscalYear"] = int(row["FiscalYear"])
                    row["FiscalPeriod"] = int(row["FiscalPeriod"])
                    row["period_key"] = row["FiscalYear"] * 100 + row["FiscalPeriod"]
                    message = {"type": "RECORD", "stream": "gl_data", "record": row}
                    message["time_extracted"] = extracted
                    sink.write(encoder.encode(message) + b"\n")
                    count += 1
                    element.clear()
                    while element.getprevious() is not None:
                        del element.getparent()[0]
    return count


# CLIs run as installed code runs in production: with bytecode caches (the test environment may
# set PYTHONDONTWRITEBYTECODE, which would recompile singer-sdk on every start).
CLI_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


PEAK_RSS: dict[Path, int] = {}


def run_cli(command: list[str], out: Path) -> int:
    """Run a CLI into `out`; its peak memory (VmHWM, KiB) is kept in PEAK_RSS[out].

    The high-water mark is read from /proc while the process runs (it only grows), because
    `wait4`'s max RSS would count this big parent's pages the child had before its `exec`.
    """
    peak = 0
    with out.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.DEVNULL, env=CLI_ENV)
        status = Path(f"/proc/{process.pid}/status")
        while process.poll() is None:
            try:
                text = status.read_text()
            except OSError:
                break
            for line in text.splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
            time.sleep(0.02)
        if process.wait():
            raise subprocess.CalledProcessError(process.returncode, command)
    PEAK_RSS[out] = peak
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


def tap_command(config: dict[str, Any], work: Path, tag: str) -> list[str]:
    config_path = work / f"config-{tag}.json"
    config_path.write_text(json.dumps(config))
    catalog_path = work / f"catalog-{tag}.json"
    gl_only_catalog(config_path, catalog_path)
    return [str(BIN / "tap-planful"), "--config", str(config_path), "--catalog", str(catalog_path)]


def soap_config(url: str) -> dict[str, Any]:
    return {
        "api_type": "structured",
        "soap_url": url + DEFAULT_SOAP_PATH,
        "login_name": LOGIN_NAME,
        "password": PASSWORD,
        "tenant_code": TENANT_CODE,
        "scenarios": [SCENARIO["Name"]],
        "scenario_fiscal_years": {SCENARIO["Name"]: 2025},
        "start_fiscal_year": 2025,
    }


def race(contenders: dict[str, tuple[Path, Any]], repeat: int) -> dict[str, tuple[float, int]]:
    """Interleaved rounds, best of each; the records are checked to be the same after round 1."""
    results: dict[str, tuple[float, int]] = {}
    for round_number in range(repeat):
        for name, (out, contender) in contenders.items():
            started = time.perf_counter()
            count = contender(out)
            elapsed = time.perf_counter() - started
            results[name] = min(results.get(name, (elapsed, count)), (elapsed, count))
        if round_number == 0:
            check_same_records({name: out for name, (out, _) in contenders.items()})
    return results


def report(title: str, results: dict[str, tuple[float, int]]) -> None:
    floor = next(iter(results.values()))[0]
    print(title)
    print(f"{'contender':34} {'records':>10} {'seconds':>8} {'records/s':>11} {'ratio':>6}")
    for name, (elapsed, count) in results.items():
        rate = count / elapsed
        print(f"{name:34} {count:>10,} {elapsed:>8.2f} {rate:>11,.0f} {elapsed / floor:>6.2f}")


def soap_peak_memory(rows: int, work: Path, big_url: str) -> tuple[int, int]:
    """Peak RSS (KiB) of the SOAP tap at rows/10 and at rows."""
    small_emulator, small_url = start_emulator(rows // 10)
    try:
        small = work / "soap-small.jsonl"
        run_cli(tap_command(soap_config(small_url), work, "soap-small"), small)
    finally:
        small_emulator.terminate()
        small_emulator.wait()
    big = work / "soap-big.jsonl"
    run_cli(tap_command(soap_config(big_url), work, "soap-big"), big)
    return PEAK_RSS[small], PEAK_RSS[big]


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
    parser.add_argument("--api", choices=["rest", "soap", "both"], default="both")
    add_strict_option(parser)  # no goal here: accepted so that `./run bench --strict` runs
    args = parser.parse_args()
    rows = args.rows or (50_000 if args.quick else 1_000_000)

    emulator, url = start_emulator(rows)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            if args.api in {"rest", "both"}:
                rest_config = {
                    "api_type": "structured",
                    "api_url": url,
                    "access_id": ACCESS_ID,
                    "access_key": ACCESS_KEY,
                    "scenarios": [SCENARIO["Name"]],
                    "scenario_fiscal_years": {SCENARIO["Name"]: 2025},
                    "start_fiscal_year": 2025,
                }
                command = tap_command(rest_config, work, "rest")
                sdk_path = tap_command({**rest_config, "fast_paths": False}, work, "rest-sdk")
                contenders = {
                    "raw floor (requests + msgspec)": (
                        work / "floor.jsonl",
                        lambda out: raw_floor(url, out),
                    ),
                    "tap-planful (CLI)": (work / "tap.jsonl", lambda out: run_cli(command, out)),
                    "tap-planful fast_paths=false": (
                        work / "tap-sdk-path.jsonl",
                        lambda out: run_cli(sdk_path, out),
                    ),
                }
                if not args.no_default:
                    default_config = work / "config-rest.json"
                    contenders["singer-sdk default stream (CLI)"] = (
                        work / "default.jsonl",
                        lambda out: run_cli(
                            [
                                sys.executable,
                                __file__,
                                "default-tap",
                                "--config",
                                str(default_config),
                            ],
                            out,
                        ),
                    )
                raw_floor(url, work / "floor.jsonl")  # warm the emulator's row encoder
                rest_results = race(contenders, args.repeat)
            if args.api in {"soap", "both"}:
                soap = tap_command(soap_config(url), work, "soap")
                soap_sdk = tap_command({**soap_config(url), "fast_paths": False}, work, "soap-sdk")
                raw_soap_floor(url, work / "soap-floor.jsonl")  # warm the emulator
                soap_results = race(
                    {
                        "raw SOAP floor (requests + lxml)": (
                            work / "soap-floor.jsonl",
                            lambda out: raw_soap_floor(url, out),
                        ),
                        "tap-planful over SOAP (CLI)": (
                            work / "soap-tap.jsonl",
                            lambda out: run_cli(soap, out),
                        ),
                        "tap-planful SOAP fast_paths=false": (
                            work / "soap-tap-sdk-path.jsonl",
                            lambda out: run_cli(soap_sdk, out),
                        ),
                    },
                    args.repeat,
                )
                small_rss, big_rss = soap_peak_memory(rows, work, url)
    finally:
        emulator.terminate()
        emulator.wait()

    rounds = f"best of {args.repeat} interleaved rounds; same records"
    if args.api in {"rest", "both"}:
        report(f"REST: GL rows: {rows:,} (12 pages), {rounds}", rest_results)
    if args.api in {"soap", "both"}:
        report(f"SOAP: GL rows: {rows:,} (12 calls), {rounds}", soap_results)
        print(
            f"SOAP tap peak memory (max RSS): {small_rss / 1024:.0f} MiB at {rows // 10:,} rows, "
            f"{big_rss / 1024:.0f} MiB at {rows:,} rows ({big_rss / small_rss:.2f}x)"
        )


if __name__ == "__main__":
    if sys.argv[1:2] == ["default-tap"]:
        del sys.argv[1]
        DefaultGLTap.cli()
    else:
        main()
