"""The project README documents every setting of our plugins and every stream of our taps."""

from __future__ import annotations

from pathlib import Path

import pytest
from tap_planful.tap import TapPlanful
from tap_plansource.tap import TapPlanSource
from target_planhat.target import TargetPlanhat

README = (Path(__file__).parents[1] / "README.md").read_text()


def section(name: str) -> str:
    start = README.index(f"\n## {name}\n")
    return README[start : README.index("\n## ", start + 1)]


def own_settings(plugin: type) -> list[str]:
    builtin: dict = {"properties": {}}
    plugin.append_builtin_config(builtin)  # the SDK's own settings are documented by the SDK
    return [
        name for name in plugin.config_jsonschema["properties"] if name not in builtin["properties"]
    ]


def stream_names(plugin: type, config: dict) -> set[str]:
    tap = plugin(config=config, validate_config=False, parse_env_config=False)
    return {stream.name for stream in tap.discover_streams()}


@pytest.mark.parametrize(
    ("name", "plugin"),
    [
        ("tap-planful", TapPlanful),
        ("tap-plansource", TapPlanSource),
        ("target-planhat", TargetPlanhat),
    ],
)
def test_every_setting_is_documented(name, plugin):
    settings = own_settings(plugin)
    assert len(settings) >= 10
    missing = [s for s in settings if f"`{s}" not in section(name)]
    assert not missing, f"{name} settings missing from the README: {missing}"


@pytest.mark.parametrize(
    ("name", "plugin", "config"),
    [
        ("tap-planful", TapPlanful, {"api_type": "both"}),  # both families: every stream
        ("tap-plansource", TapPlanSource, {}),
    ],
)
def test_every_stream_is_documented(name, plugin, config):
    streams = stream_names(plugin, config)
    assert len(streams) > 10
    missing = sorted(s for s in streams if f"| `{s}` |" not in section(name))
    assert not missing, f"{name} streams missing from the README: {missing}"
