"""ConnectorTarget: the target glue every target of ours shares, and the GIL switch interval."""

from __future__ import annotations

import logging
import sys

import pytest
from planful_plansource_planhat_core.settings import Alias
from planful_plansource_planhat_core.target import ConnectorTarget
from planful_plansource_planhat_core.threads import (
    GIL_SWITCH_INTERVAL_SECONDS,
    use_short_switch_interval,
)
from singer_sdk import typing as th
from singer_sdk.sinks import BatchSink


class _NullSink(BatchSink):
    def process_batch(self, context: dict) -> None:
        """Nothing to write."""


class ExampleTarget(ConnectorTarget):
    name = "target-example"
    host_settings = "`api_url`"
    aliases = (Alias("old_url", "api_url"),)
    default_sink_class = _NullSink
    config_jsonschema = th.PropertiesList(
        th.Property("api_url", th.StringType),
        th.Property("page_size", th.IntegerType),
        th.Property("old_url", th.StringType, deprecated=True),
    ).to_dict()


def test_config_is_loaded_the_shared_way(caplog: pytest.LogCaptureFixture) -> None:
    """Text read as the type it declares, old names read as new ones, unknown names warned."""
    config = {"old_url": "https://example.test", "page_size": "50", "pgae_size_x": 1}
    with caplog.at_level(logging.WARNING):
        target = ExampleTarget(config=config, parse_env_config=False)
    assert target.config["api_url"] == "https://example.test"
    assert target.config["page_size"] == 50
    assert "`old_url` is deprecated" in caplog.text
    assert "`pgae_size_x` is not a setting" in caplog.text


def test_the_test_flag_is_the_connection_test() -> None:
    [option] = [p for p in ExampleTarget.get_singer_command().params if p.name == "test"]
    assert getattr(option, "is_flag", False)
    assert option.callback == ExampleTarget.cb_test
    assert option.help == ConnectorTarget.test_help


def test_the_switch_interval_is_shortened() -> None:
    before = sys.getswitchinterval()
    try:
        use_short_switch_interval()
        assert sys.getswitchinterval() == pytest.approx(GIL_SWITCH_INTERVAL_SECONDS)
    finally:
        sys.setswitchinterval(before)
