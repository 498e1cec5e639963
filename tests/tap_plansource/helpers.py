"""Run `tap-plansource` in-process against the emulator and collect what it writes."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections import defaultdict
from contextlib import redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.plansource.app import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_LOGGED_IN_USER,
    DEFAULT_ORGANIZATION_ID,
)
from tap_plansource.tap import TapPlanSource

SEED = {"subscribers": 80, "administrators": 6, "foreign_subscribers": 3}
FAST_RETRIES = {"retry_initial_wait": 0.01, "retry_max_tries": 4, "request_timeout": 10}


def tap_config(running: Any, **overrides: Any) -> dict[str, Any]:
    """Config for the emulator `running` (credentials of its default API user)."""
    return {
        "api_url": f"{running.url}/admin/v2",
        "client_id": DEFAULT_CLIENT_ID,
        "client_secret": DEFAULT_CLIENT_SECRET,
        "username": DEFAULT_LOGGED_IN_USER,
        **FAST_RETRIES,
        **overrides,
    }


@dataclass
class Sync:
    """What one run wrote: records per stream, the last STATE and every message."""

    records: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    schemas: dict[str, dict[str, Any]] = field(default_factory=dict)
    key_properties: dict[str, list[str]] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)
    output: str = ""


def run_tap(
    config: dict[str, Any],
    streams: list[str] | None = None,
    state: dict | None = None,
    sink: list[dict[str, Any]] | None = None,
    catalog: dict[str, Any] | None = None,
) -> Sync:
    """Sync the `streams` (all when None) and parse stdout as Singer messages; `sink` receives
    the messages written even when the sync raises. `catalog` as `--catalog` would give it."""
    tap = TapPlanSource(config=config, state=state or {}, catalog=catalog, parse_env_config=False)
    for name, stream in tap.streams.items():
        stream.selected = streams is None or name in streams
    stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    result = Sync()
    try:
        with redirect_stdout(stdout):
            tap.sync_all()
    finally:
        stdout.flush()
        result.output = stdout.buffer.getvalue().decode()
        for line in result.output.splitlines():
            message = json.loads(line)
            result.messages.append(message)
            if message["type"] == "RECORD":
                result.records[message["stream"]].append(message["record"])
            elif message["type"] == "SCHEMA":
                result.schemas[message["stream"]] = message["schema"]
                result.key_properties[message["stream"]] = message["key_properties"]
            elif message["type"] == "STATE":
                result.state = message["value"]
        if sink is not None:
            sink.extend(result.messages)
    return result


def visible_subscriber_ids(store: Any, include_test: bool = False) -> set[int]:
    """Subscribers the default API user sees (its organization, test employees optional)."""
    return {
        s.id
        for s in store.subscribers
        if s.organization_id == DEFAULT_ORGANIZATION_ID and (include_test or not s.test_employee)
    }


def requests_to(running: Any, path: str) -> list[dict[str, Any]]:
    return running.emulator.requests(path=path)


@dataclass
class CliRun:
    """One `tap-plansource` process: exit code, stderr and the Singer messages it wrote."""

    returncode: int
    stderr: str
    messages: list[dict[str, Any]]

    def states(self) -> list[dict[str, Any]]:
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    def records(self, stream: str) -> list[dict[str, Any]]:
        return [
            m["record"] for m in self.messages if m["type"] == "RECORD" and m["stream"] == stream
        ]


def built_in_catalog(config: dict[str, Any], streams: list[str]) -> dict[str, Any]:
    """The catalog of the built-in schemas with `streams` selected: made without meta lookups,
    so faults set for a run are met by the run."""
    built_in = {**config, "discover_tenant_fields": False}
    catalog = TapPlanSource(config=built_in, parse_env_config=False).catalog_dict
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == []:
                metadata["metadata"]["selected"] = entry["tap_stream_id"] in streams
    return catalog


def run_cli(
    config: dict[str, Any], streams: list[str], tmp_path: Path, state: dict | None = None
) -> CliRun:
    """Run the tap's CLI in its own process with `streams` selected (the built-in catalog)."""
    files = {"config": config, "catalog": built_in_catalog(config, streams), "state": state or {}}
    arguments = [sys.executable, "-m", "tap_plansource"]
    for name, content in files.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(content))
        arguments += [f"--{name}", str(path)]
    run = subprocess.run(arguments, capture_output=True, text=True, check=False, timeout=120)
    messages = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    return CliRun(run.returncode, run.stderr, messages)
