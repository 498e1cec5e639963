"""Records/s of tap-plansource (subscribers, coverages) beside the raw floor and a default stream.

    python benchmarks/bench_tap_plansource.py [--quick] [-n SUBSCRIBERS] [--latency-ms MS]
        [--per-subscriber-n SUBSCRIBERS] [--strict]

The PlanSource emulator runs in its own process (`python -m sandbox serve plansource --seed
subscribers=N --set log_bodies=false`). Each contender reads `/subscribers` and the current plan
year of `/coverages`, 500 records a page until an empty page, and writes Singer RECORD lines to
a file:

- raw floor: plain `requests` + msgspec, one RECORD line per record, nothing else;
- tap-plansource: the real CLI (`tap-plansource --config --catalog`), both streams selected
  (dates normalised, money as numbers, SSNs masked, pages prefetched);
- tap-plansource with `prefetch_pages: 0` (one page at a time) and with `fast_paths: false`
  (singer-sdk's own `request_records` and record writing): the gain of each fast path;
- sdk default: a singer-sdk `RESTStream` per endpoint with default settings (stdlib JSON with
  Decimal, JSONPath extraction, default writer, recursive type conformance, one page at a time),
  run as its own CLI, with the same schemas.

All three run without latency, then with `latency_ms` per request on the emulator. Ratios:
wall time over the raw floor's; with latency, the tap's time over the bound
max(pages x latency, the tap's own time without latency) -- goals <= 1.5 and <= 1.2.

Then `payroll_mode: per_subscriber` (one request per subscriber) on a second emulator of
`--per-subscriber-n` subscribers with the same latency: the tap's time over
(API requests x latency) / requests in flight (`prefetch_pages + 1`) -- goal <= 1.5.

Each goal prints `met` or `MISSED`; `--strict` exits with status 1 when one is missed.
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
from goals import Goals, add_strict_option
from sandbox.plansource.app import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_LOGGED_IN_USER
from sandbox.testing import SandboxClient, spawn
from singer_sdk import RESTStream, Tap
from singer_sdk import typing as th
from singer_sdk.authenticators import BearerTokenAuthenticator
from singer_sdk.pagination import PageNumberPaginator
from tap_plansource import schemas
from tap_plansource.settings import Settings
from tap_plansource.tap import TapPlanSource

ENDPOINTS: dict[str, tuple[str, dict[str, str]]] = {
    "subscribers": ("/subscribers", {}),
    "coverages": ("/coverages", {"plan_year": "current"}),
}
PAGE_SIZE = 500
BIN = Path(sys.executable).parent
# CLIs run as installed code runs in production: with bytecode caches.
CLI_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


class DefaultStream(RESTStream):
    """A PlanSource list endpoint the way the SDK template would write it: defaults everywhere."""

    records_jsonpath = "$.data[*]"
    primary_keys = ("id",)

    @property
    def url_base(self) -> str:
        return self.config["api_url"]

    @property
    def authenticator(self) -> BearerTokenAuthenticator:
        return BearerTokenAuthenticator(token=self.config["access_token"])

    def get_new_paginator(self) -> PageNumberPaginator:
        return PageNumberPaginator(1)

    def get_url_params(self, context: Any, next_page_token: Any) -> dict[str, Any]:
        return {**ENDPOINTS[self.name][1], "page": next_page_token, "per_page": PAGE_SIZE}


class DefaultSubscribers(DefaultStream):
    name = "subscribers"
    path = "/subscribers"
    schema = schemas.SUBSCRIBER


class DefaultCoverages(DefaultStream):
    name = "coverages"
    path = "/coverages"
    schema = schemas.COVERAGE


class DefaultPlanSourceTap(Tap):
    name = "tap-default-plansource"
    config_jsonschema = th.PropertiesList(
        th.Property("api_url", th.StringType), th.Property("access_token", th.StringType)
    ).to_dict()

    def discover_streams(self) -> list:
        return [DefaultSubscribers(self), DefaultCoverages(self)]


def start_emulator(subscribers: int) -> tuple[subprocess.Popen, str]:
    return spawn(
        "plansource",
        settings={"log_bodies": False, "token_ttl_seconds": 3600},
        seed={"subscribers": subscribers},
    )


def access_token(config: dict[str, Any]) -> str:
    tap = TapPlanSource(config=config, parse_env_config=False)
    return tap.runtime.token_manager.access_token()


def raw_floor(api_url: str, token: str, out: Path) -> int:
    """The least work that yields the same RECORD lines."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    decoder = msgspec.json.Decoder()
    encoder = msgspec.json.Encoder()
    count = 0
    with out.open("wb") as sink:
        for stream, (path, params) in ENDPOINTS.items():
            page = 1
            while True:
                response = session.get(
                    api_url + path,
                    params={**params, "page": str(page), "per_page": str(PAGE_SIZE)},
                    timeout=300,
                )
                response.raise_for_status()
                records = decoder.decode(response.content)["data"]
                if not records:
                    break
                extracted = datetime.datetime.now(datetime.UTC).isoformat()
                for record in records:
                    message = {"type": "RECORD", "stream": stream, "record": record}
                    message["time_extracted"] = extracted
                    sink.write(encoder.encode(message) + b"\n")
                count += len(records)
                page += 1
    return count


def variant(work: Path, config: dict[str, Any], **settings: Any) -> Path:
    """A config file of `config` with `settings` changed (a contender of the tap itself)."""
    path = work / ("config-" + "-".join(f"{k}={v}" for k, v in settings.items()) + ".json")
    path.write_text(json.dumps({**config, **settings}))
    return path


def tap_cli(config_path: Path, catalog_path: Path) -> list[str]:
    return [
        str(BIN / "tap-plansource"),
        "--config",
        str(config_path),
        "--catalog",
        str(catalog_path),
    ]


def run_cli(command: list[str], out: Path) -> int:
    with out.open("wb") as sink:
        subprocess.run(command, stdout=sink, stderr=subprocess.DEVNULL, check=True, env=CLI_ENV)
    with out.open("rb") as lines:
        return sum(1 for line in lines if line.startswith(b'{"type":"RECORD"'))


def selected_catalog(config_path: Path, out: Path, streams: Any = ENDPOINTS) -> None:
    discovered = subprocess.run(
        [str(BIN / "tap-plansource"), "--config", str(config_path), "--discover"],
        capture_output=True,
        env=CLI_ENV,
        check=False,
    )
    if discovered.returncode:
        sys.exit(f"tap-plansource --discover failed:\n{discovered.stderr.decode()[-2000:]}")
    catalog = json.loads(discovered.stdout)
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == []:
                metadata["metadata"]["selected"] = entry["tap_stream_id"] in streams
    out.write_text(json.dumps(catalog))


def api_pages(sandbox: SandboxClient) -> int:
    return sum(1 for r in sandbox.requests() if r["path"].startswith("/admin/v2/"))


def per_subscriber_payroll(
    subscribers: int, latency_ms: int, work: Path
) -> tuple[float, int, int, int]:
    """Seconds, rows, API requests and requests in flight of a per-subscriber payroll sync."""
    emulator, url = spawn(
        "plansource",
        settings={"log_bodies": False, "token_ttl_seconds": 3600},
        seed={"subscribers": subscribers},
    )
    sandbox = SandboxClient(url)
    try:
        config = {
            "api_url": f"{url}/admin/v2",
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
            "username": DEFAULT_LOGGED_IN_USER,
            "payroll_mode": "per_subscriber",
            "start_date": "2000-01-01T00:00:00Z",
        }
        in_flight = Settings.read(config).prefetch_pages + 1
        config_path = work / "payroll.json"
        config_path.write_text(json.dumps(config))
        catalog_path = work / "payroll-catalog.json"
        selected_catalog(config_path, catalog_path, {"payroll_deductions"})
        command = [
            str(BIN / "tap-plansource"),
            "--config",
            str(config_path),
            "--catalog",
            str(catalog_path),
        ]
        run_cli(command, work / "payroll.jsonl")  # warm the emulator's caches
        sandbox.configure(latency_ms=latency_ms)
        sandbox.clear_requests()
        started = time.perf_counter()
        rows = run_cli(command, work / "payroll.jsonl")
        elapsed = time.perf_counter() - started
        return elapsed, rows, api_pages(sandbox), in_flight
    finally:
        emulator.terminate()
        emulator.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 subscribers, not 50,000")
    parser.add_argument("-n", "--subscribers", type=int, help="subscribers in the organization")
    parser.add_argument("--latency-ms", type=int, default=50, help="emulated latency per request")
    parser.add_argument(
        "--per-subscriber-n",
        type=int,
        help="subscribers for the per-subscriber payroll run (default 2,000; --quick 300)",
    )
    add_strict_option(parser)
    args = parser.parse_args()
    goals = Goals(strict=args.strict)
    subscribers = args.subscribers or (2_000 if args.quick else 50_000)
    payroll_subscribers = args.per_subscriber_n or (300 if args.quick else 2_000)

    emulator, url = start_emulator(subscribers)
    sandbox = SandboxClient(url)
    results: dict[tuple[str, int], tuple[float, int, int]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            config = {
                "api_url": f"{url}/admin/v2",
                "client_id": DEFAULT_CLIENT_ID,
                "client_secret": DEFAULT_CLIENT_SECRET,
                "username": DEFAULT_LOGGED_IN_USER,
                "plan_years": ["current"],
            }
            api_url = Settings.read(config).admin_api_url
            token = access_token(config)
            config_path = work / "config.json"
            config_path.write_text(json.dumps(config))
            default_config_path = work / "default.json"
            default_config_path.write_text(json.dumps({"api_url": api_url, "access_token": token}))
            catalog_path = work / "catalog.json"
            selected_catalog(config_path, catalog_path)
            out = work / "out.jsonl"
            contenders = {
                "raw floor (requests + msgspec)": lambda: raw_floor(api_url, token, out),
                "tap-plansource (CLI)": lambda: run_cli(
                    [
                        str(BIN / "tap-plansource"),
                        "--config",
                        str(config_path),
                        "--catalog",
                        str(catalog_path),
                    ],
                    out,
                ),
                "tap-plansource prefetch_pages=0": lambda: run_cli(
                    tap_cli(variant(work, config, prefetch_pages=0), catalog_path), out
                ),
                "tap-plansource fast_paths=false": lambda: run_cli(
                    tap_cli(variant(work, config, fast_paths=False), catalog_path), out
                ),
                "singer-sdk default stream (CLI)": lambda: run_cli(
                    [sys.executable, __file__, "default-tap", "--config", str(default_config_path)],
                    out,
                ),
            }
            raw_floor(api_url, token, out)  # warm the emulator's caches
            for latency in (0, args.latency_ms):
                sandbox.configure(latency_ms=latency)
                for name, contender in contenders.items():
                    sandbox.clear_requests()
                    started = time.perf_counter()
                    count = contender()
                    results[name, latency] = (
                        time.perf_counter() - started,
                        count,
                        api_pages(sandbox),
                    )
    finally:
        emulator.terminate()
        emulator.wait()
    with tempfile.TemporaryDirectory() as tmp:
        payroll = per_subscriber_payroll(payroll_subscribers, args.latency_ms, Path(tmp))

    print(f"subscribers: {subscribers:,} (+ current-year coverages), {PAGE_SIZE} records a page")
    print(
        f"{'contender':34} {'latency':>7} {'records':>9} {'pages':>6} {'seconds':>8} "
        f"{'records/s':>10} {'vs floor':>8}"
    )
    for (name, latency), (elapsed, count, pages) in results.items():
        floor = results["raw floor (requests + msgspec)", latency][0]
        print(
            f"{name:34} {latency:>5}ms {count:>9,} {pages:>6} {elapsed:>8.2f} "
            f"{count / elapsed:>10,.0f} {elapsed / floor:>8.2f}"
        )
    tap, raw = "tap-plansource (CLI)", "raw floor (requests + msgspec)"
    for latency in (0, args.latency_ms):
        fast = results[tap, latency][0]
        print(
            f"gain at {latency} ms latency: fast paths (fast_paths=false / tap) "
            f"{results['tap-plansource fast_paths=false', latency][0] / fast:.2f}x, of which page "
            f"prefetch (prefetch_pages=0 / tap) "
            f"{results['tap-plansource prefetch_pages=0', latency][0] / fast:.2f}x"
        )
    unhurried, _, _ = results[tap, 0]
    hurried, _, pages = results[tap, args.latency_ms]
    bound = max(pages * args.latency_ms / 1000, unhurried)
    vs_floor = unhurried / results[raw, 0][0]
    print(
        f"tap without latency / raw floor: {vs_floor:.2f} "
        + goals.judge("tap without latency / raw floor", vs_floor, "<=", 1.5)
    )
    print(
        f"tap with {args.latency_ms} ms latency: {hurried:.2f} s / max({pages} pages x "
        f"{args.latency_ms} ms, {unhurried:.2f} s) = {hurried / bound:.2f} "
        + goals.judge(f"tap with {args.latency_ms} ms latency / bound", hurried / bound, "<=", 1.2)
    )
    elapsed, rows, requests_made, in_flight = payroll
    ideal = requests_made * args.latency_ms / 1000 / in_flight
    print(
        f"payroll per subscriber, {payroll_subscribers:,} subscribers, {rows:,} rows, "
        f"{args.latency_ms} ms latency: {elapsed:.2f} s / ({requests_made} requests x "
        f"{args.latency_ms} ms / {in_flight} in flight = {ideal:.2f} s) = {elapsed / ideal:.2f} "
        + goals.judge("payroll per subscriber / ideal", elapsed / ideal, "<=", 1.5)
    )
    return goals.conclude()


if __name__ == "__main__":
    if sys.argv[1:2] == ["default-tap"]:
        del sys.argv[1]
        DefaultPlanSourceTap.cli()
    else:
        sys.exit(main())
