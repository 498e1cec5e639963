"""`tap-... | head -n 5`: a reader that stops early ends the tap as it ends any Unix tool, killed
by SIGPIPE (shell status 141), with nothing on stderr about it. Real processes, a real pipe."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.pipelines.conftest import REPO

BIN = Path(sys.executable).parent


def _sandbox_config(plugin: str) -> dict:
    """The plugin's config in meltano.yml's `sandbox` environment (the emulators' credentials)."""
    project = yaml.safe_load((REPO / "meltano.yml").read_text())
    sandbox = next(e for e in project["environments"] if e["name"] == "sandbox")
    extractors = sandbox["config"]["plugins"]["extractors"]
    return dict(next(p for p in extractors if p["name"] == plugin)["config"])


@pytest.mark.parametrize(
    ("plugin", "emulator", "urls"),
    [
        ("tap-planful", "planful", {"api_url": "", "dynamic_api_url": "/api"}),
        ("tap-plansource", "plansource", {"api_url": "/admin/v2"}),
    ],
)
@pytest.mark.parametrize("unbuffered", ["", "1"], ids=["buffered", "unbuffered"])
def test_tap_piped_into_head_ends_quietly(tmp_path, sandboxes, plugin, emulator, urls, unbuffered):
    config = _sandbox_config(plugin)
    config |= {key: sandboxes[emulator].url + suffix for key, suffix in urls.items()}
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
