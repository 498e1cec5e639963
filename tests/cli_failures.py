"""What every user-caused failure of our three command lines looks like: exit code 1 (128 + the
signal for a stop), exactly one ERROR line saying what to fix, and no traceback at the default
log level."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    @property
    def errors(self) -> list[str]:
        """The ERROR lines of the log."""
        return [line for line in self.stderr.splitlines() if "| ERROR" in line]

    @property
    def messages(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.startswith("{")]


def free_port() -> int:
    """A loopback port nothing listens on (for an unreachable host)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_files(tmp_path: Path, **files: Any) -> list[str]:
    """`--name path` arguments for JSON files written under `tmp_path`."""
    arguments = []
    for name, content in files.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(content))
        arguments += [f"--{name}", str(path)]
    return arguments


def run(
    module: str, arguments: list[str], stdin: str | None = None, env: dict[str, str] | None = None
) -> Run:
    """`python -m <module> <arguments>` to its end."""
    done = subprocess.run(
        [sys.executable, "-m", module, *arguments],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    return Run(done.returncode, done.stdout, done.stderr)


def stopped(module: str, arguments: list[str], signum: int, started: str, stdin: Any = None) -> Run:
    """`python -m <module>` sent `signum` once `started` appears in its log (or output)."""
    process = subprocess.Popen(
        [sys.executable, "-m", module, *arguments],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stderr is not None
    log = []
    deadline = time.monotonic() + 60
    for line in process.stderr:
        log.append(line)
        if started in line or time.monotonic() > deadline:
            break
    process.send_signal(signum)
    stdout, rest = process.communicate(timeout=60)
    return Run(process.returncode, stdout, "".join(log) + rest)


def assert_clean_failure(outcome: Run, says: str, code: int = 1) -> str:
    """The run ended with `code`, one ERROR line containing `says`, and no traceback."""
    assert outcome.returncode == code, outcome.stderr[-3000:]
    assert len(outcome.errors) == 1, outcome.errors
    assert says in outcome.errors[0], outcome.errors[0]
    assert "Traceback" not in outcome.stderr
    return outcome.errors[0]


SIGNALS = [(signal.SIGTERM, 143), (signal.SIGINT, 130)]
