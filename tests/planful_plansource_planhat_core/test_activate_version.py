"""Neither tap offers ACTIVATE_VERSION: singer-sdk 0.54 sends it when a full-table stream starts,
so a target honouring it (target-postgres) would mark every row deleted before the stream is
read again. The capability is not advertised, and the SDK's setting is refused in one line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from tap_planful.tap import TapPlanful
from tap_plansource.tap import TapPlanSource

from tests.cli_failures import assert_clean_failure, free_port, run, write_files
from tests.tap_planful.helpers import config_for
from tests.tap_plansource.helpers import tap_config

UNREACHABLE = f"http://127.0.0.1:{free_port()}"
TAPS = {
    "tap_planful": (TapPlanful, config_for(UNREACHABLE)),
    "tap_plansource": (TapPlanSource, tap_config(type("Emulator", (), {"url": UNREACHABLE}))),
}


@pytest.mark.parametrize("module", sorted(TAPS))
def test_the_capability_is_not_advertised(module):
    about = subprocess.run(
        [sys.executable, "-m", module, "--about", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    capabilities = json.loads(about.stdout)["capabilities"]
    assert "activate-version" not in capabilities
    assert {"catalog", "state", "discover"} <= set(capabilities)


@pytest.mark.parametrize("module", sorted(TAPS))
def test_the_sdk_setting_is_refused_in_one_line(module, tmp_path):
    _, config = TAPS[module]
    files = write_files(tmp_path, config={**config, "emit_activate_version_messages": True})
    line = assert_clean_failure(run(module, files), "`emit_activate_version_messages` is not")
    assert "marks every row of the table deleted" in line
    assert "Remove the setting" in line


@pytest.mark.parametrize("module", sorted(TAPS))
def test_the_setting_off_is_accepted(module):
    tap_class, config = TAPS[module]
    tap = tap_class(config={**config, "emit_activate_version_messages": False})
    assert not any(stream.emit_activate_version_messages for stream in tap.streams.values())
