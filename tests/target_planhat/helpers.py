"""Run target-planhat against an emulator: Singer lines in, STATE lines and Planhat's store out."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.planhat.app import SANDBOX_TOKEN, TENANT_UUID
from target_planhat.target import TargetPlanhat

TARGET_CLI = str(Path(sys.executable).with_name("target-planhat"))


def config_for(url: str, **overrides: Any) -> dict[str, Any]:
    """A config pointing both hosts at the emulator, with throttling off, short backoff waits and
    no ledger (tests of the ledger give it a file or a database)."""
    return {
        "api_token": SANDBOX_TOKEN,
        "tenant_token": TENANT_UUID,
        "api_url": url,
        "analytics_url": url,
        "max_requests_per_minute": 0,
        "retry_initial_wait": 0.01,
        "retry_max_wait": 2,
        "settle_seconds": 0.05,
        "ledger": "none",
        **overrides,
    }


def schema_message(stream: str, properties: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    return {
        "type": "SCHEMA",
        "stream": stream,
        "schema": {"type": "object", "properties": properties},
        "key_properties": keys,
    }


def messages(
    stream: str,
    records: list[dict[str, Any]],
    keys: list[str] | None = None,
    properties: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """SCHEMA (every field any type unless `properties` says more) followed by RECORDs."""
    names = dict.fromkeys(name for record in records for name in record)
    schema = {name: {} for name in names} | (properties or {})
    keys = keys if keys is not None else []
    return [
        schema_message(stream, schema, keys),
        *({"type": "RECORD", "stream": stream, "record": record} for record in records),
    ]


def state(value: dict[str, Any]) -> dict[str, Any]:
    return {"type": "STATE", "value": value}


@dataclass
class Run:
    target: TargetPlanhat
    states: list[dict[str, Any]]

    @property
    def counts(self) -> dict[str, Any]:
        return {stream: vars(c) for stream, c in self.target.report.counts.items()}


def run_target(
    config: dict[str, Any], lines: list[dict[str, Any]], target: TargetPlanhat | None = None
) -> Run:
    """Run the target (a new one for `config` unless given) in-process; raises what it raises."""
    target = target or TargetPlanhat(config=config, parse_env_config=False)
    stdout = io.StringIO()
    text = "".join(json.dumps(line) + "\n" for line in lines)
    with contextlib.redirect_stdout(stdout):
        target.listen(io.StringIO(text))
    states = [json.loads(line) for line in stdout.getvalue().splitlines() if line.strip()]
    return Run(target, states)


def run_cli(
    config: dict[str, Any],
    tmp_path: Path,
    lines: list[dict[str, Any]] | None,
    *args: str,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the real `target-planhat` executable (the way Meltano does)."""
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config))
    text = "".join(json.dumps(line) + "\n" for line in lines or [])
    return subprocess.run(
        [TARGET_CLI, "--config", str(config_file), *args],
        input=text,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )


def read_rejects(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def bulk_requests(emulator: Any, path: str) -> list[dict[str, Any]]:
    return emulator.requests(path=f"^/{path}$", method="PUT")
