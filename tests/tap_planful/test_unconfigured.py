"""A partitioned stream with nothing to partition by reads nothing and says which setting to set.

The SDK syncs an empty `partitions` list as a single call without context; before the fix that
call posted blank model and calculation names (400 from Planful) and failed the whole sync.
"""

from __future__ import annotations

import logging

import pytest
from sandbox.testing import start

from .helpers import config_for, sync

DYNAMIC_SETTINGS = ("models", "source_models", "calculations")
NEEDS = {
    "dp_dimension_members": "`models`",
    "dp_model_data": "`models`",
    "dp_esm_data": "`source_models`",
    "dp_calc_status": "`calculations`",
}


@pytest.fixture(scope="module")
def running():
    server = start("planful", seed={"scenarios": []})
    yield server
    server.stop()


@pytest.mark.parametrize("absent", ["missing", "empty"])
def test_dynamic_streams_without_settings_read_nothing(planful, caplog, absent):
    config = config_for(planful.url, api_type="dynamic")
    for name in DYNAMIC_SETTINGS:
        if absent == "missing":
            del config[name]
        else:
            config[name] = []
    caplog.set_level(logging.INFO)
    result = sync(config)
    assert set(result.records) == {"dp_users", "dp_groups"}
    assert sorted(e["path"] for e in planful.emulator.requests()) == [
        "/api/ui/group/getRaw",
        "/api/ui/user/getRaw",
    ]
    for stream, setting in NEEDS.items():
        (line,) = [r for r in caplog.records if r.getMessage().startswith(stream + ":")]
        assert line.levelno == logging.INFO
        assert "nothing to read" in line.getMessage()
        assert setting in line.getMessage()


def test_model_without_dimensions_reads_no_members(planful):
    config = config_for(
        planful.url, api_type="dynamic", models=[{"model": "Opex", "dimensions": []}]
    )
    result = sync(config, {"dp_dimension_members", "dp_model_data"})
    assert "dp_dimension_members" not in result.records
    assert len(result.records["dp_model_data"]) > 0
    assert not planful.emulator.requests(path=r"/dimension/export$")


def test_tenant_without_scenarios_reads_no_gl_data(planful, caplog):
    caplog.set_level(logging.INFO)
    result = sync(config_for(planful.url, api_type="structured"), {"gl_data"})
    assert result.records == {}
    assert not planful.emulator.requests(path=r"/gldata$")
    assert any(
        r.getMessage().startswith("gl_data: nothing to read") and "`scenarios`" in r.getMessage()
        for r in caplog.records
    )
