"""Helpers for tests and benchmarks: start emulators on loopback, talk to `/__sandbox/`."""

from __future__ import annotations

import atexit
import json
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import requests

from sandbox.core import RunningEmulator, serve
from sandbox.registry import create

if TYPE_CHECKING:
    from collections.abc import Mapping

_shared: dict[str, RunningEmulator] = {}


def start(
    name: str, settings: Mapping[str, Any] | None = None, seed: Mapping[str, Any] | None = None
) -> RunningEmulator:
    """Start a fresh emulator on a free loopback port; the caller stops it."""
    return serve(create(name, settings, seed))


def shared(name: str) -> RunningEmulator:
    """One emulator per name for the whole process, started on first use (for module-level
    test configuration, which singer-sdk's test factory needs at import time)."""
    if name not in _shared:
        _shared[name] = start(name)
        atexit.register(_shared[name].stop)
    return _shared[name]


def spawn(
    name: str, settings: Mapping[str, Any] | None = None, seed: Mapping[str, Any] | None = None
) -> tuple[subprocess.Popen[str], str]:
    """`python -m sandbox serve <name>` in its own process on a free port (for the demo and the
    benchmarks, where the emulator must not share the caller's interpreter); returns the process
    and its base URL. The caller terminates the process."""
    command = [sys.executable, "-m", "sandbox", "serve", name, "--port", "0"]
    for flag, values in (("--set", settings or {}), ("--seed", seed or {})):
        for key, value in values.items():
            command += [flag, f"{key}={json.dumps(value)}"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline() if process.stdout else ""
    if " listening on " not in line:
        process.kill()
        msg = f"the {name} sandbox did not start (exit code {process.wait()})"
        raise RuntimeError(msg)
    return process, line.rsplit(" ", 1)[-1].strip()


class SandboxClient:
    """Talks to a running emulator's `/__sandbox/` endpoints over HTTP (from any process)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()

    def _call(self, method: str, action: str, body: Any = None) -> Any:
        response = self.session.request(
            method, f"{self.base_url}/__sandbox/{action}", json=body, timeout=30
        )
        response.raise_for_status()
        return response.json()

    def requests(self) -> list[dict[str, Any]]:
        return self._call("GET", "requests")

    def clear_requests(self) -> None:
        self._call("DELETE", "requests")

    def state(self) -> dict[str, Any]:
        return self._call("GET", "state")

    def reset(self) -> None:
        self._call("POST", "reset")

    def seed(self, **options: Any) -> None:
        self._call("POST", "seed", options)

    def configure(self, **settings: Any) -> dict[str, Any]:
        return self._call("POST", "config", settings)

    def fault(self, **fault: Any) -> None:
        self._call("POST", "faults", {"faults": [fault]})

    def advance_clock(self, seconds: float) -> None:
        self._call("POST", "clock", {"advance": seconds})


def meltano_env(urls: Mapping[str, str]) -> dict[str, str]:
    """Environment variables that point the project's plugins at emulators running at `urls`
    (keyed by emulator name); Meltano's `sandbox` environment supplies the credentials."""
    env: dict[str, str] = {}
    if "planful" in urls:
        env["TAP_PLANFUL_API_URL"] = urls["planful"]
        env["TAP_PLANFUL_SOAP_URL"] = f"{urls['planful']}/HostAPI/HostAPI_StateFree.asmx"
        env["TAP_PLANFUL_DYNAMIC_API_URL"] = f"{urls['planful']}/api"
    if "plansource" in urls:
        env["TAP_PLANSOURCE_API_URL"] = f"{urls['plansource']}/admin/v2"
    if "planhat" in urls:
        env["TARGET_PLANHAT_API_URL"] = urls["planhat"]
        env["TARGET_PLANHAT_ANALYTICS_URL"] = urls["planhat"]
    return env
