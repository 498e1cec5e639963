"""`tap-... | head -n 5`: a reader that stops early ends the tap as it ends any Unix tool, killed
by SIGPIPE (shell status 141), with nothing on stderr about it. Real processes, a real pipe."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml
from sandbox.testing import meltano_env

from tests.pipelines.conftest import REPO

if TYPE_CHECKING:
    from sandbox.core import RunningEmulator

BIN = Path(sys.executable).parent


def sandbox_tap_config(plugin: str, sandboxes: dict[str, RunningEmulator]) -> dict:
    """The tap's config in meltano.yml's `sandbox` environment (the emulators' credentials),
    with the URLs of the session's emulators (as `sandbox.testing.meltano_env` sets them)."""
    project = yaml.safe_load((REPO / "meltano.yml").read_text())
    sandbox = next(e for e in project["environments"] if e["name"] == "sandbox")
    extractors = sandbox["config"]["plugins"]["extractors"]
    config = dict(next(p for p in extractors if p["name"] == plugin)["config"])
    prefix = plugin.upper().replace("-", "_") + "_"
    urls = meltano_env({name: server.url for name, server in sandboxes.items()})
    config |= {k.removeprefix(prefix).lower(): v for k, v in urls.items() if k.startswith(prefix)}
    return config


@pytest.mark.parametrize("plugin", ["tap-planful", "tap-plansource"])
@pytest.mark.parametrize("unbuffered", ["", "1"], ids=["buffered", "unbuffered"])
def test_tap_piped_into_head_ends_quietly(tmp_path, sandboxes, plugin, unbuffered):
    config = sandbox_tap_config(plugin, sandboxes)
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config))

    tap = subprocess.Popen(
        [str(BIN / plugin), "--config", str(config_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": unbuffered},  # `python -u` writes each line out
    )
    head = subprocess.run(
        ["head", "-n", "5"], stdin=tap.stdout, capture_output=True, text=True, check=True
    )
    assert tap.stdout is not None
    tap.stdout.close()  # as a shell does: only `head` holds the read end
    _, stderr = tap.communicate(timeout=120)

    lines = head.stdout.splitlines()
    assert len(lines) == 5
    assert json.loads(lines[0])["type"] == "SCHEMA"
    assert tap.returncode == -signal.SIGPIPE  # what `yes | head` does; a shell shows 141
    for noise in ("Traceback", "unhandled error", "BrokenPipe", "Exception ignored"):
        assert noise not in stderr, stderr[-3000:]
