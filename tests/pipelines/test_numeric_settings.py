"""Every numeric setting of the three plugins, set the three ways the README names (an environment
variable, a `.env` line, `meltano config set`), reaches the plugin as the number it accepts,
fractions included: Meltano 4.4.1 crashed (`invalid literal for int()`) on `retry_initial_wait=0.5`
while the setting was `kind: integer`. The settings are read from the definitions: each setting
of `meltano/<plugin>.meltano.yml` that the plugin's own config schema types as a number.

Each case works in a scratch copy of the project files (nothing to install): Meltano resolves the
config as it does for a run (`config print`), then the plugin loads it as it does when started."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from singer_sdk import PluginBase
from tap_planful.tap import TapPlanful
from tap_plansource.tap import TapPlanSource
from target_planhat.target import TargetPlanhat

from tests.pipelines.conftest import MELTANO, REPO, _clean_environment

PLUGINS: dict[str, type[PluginBase]] = {
    "tap-planful": TapPlanful,
    "tap-plansource": TapPlanSource,
    "target-planhat": TargetPlanhat,
}
FRACTION = 0.5
WHOLE_NUMBERS = {"start_fiscal_year": 2024, "end_fiscal_year": 2026, "flattening_max_depth": 1}
"""Values for integer settings without a default (any other gets one less than its default, or
one more when that is 1 or less: inside every declared range)."""


def numeric_settings() -> list[tuple[str, str, str, Any]]:
    """(plugin, setting, Meltano kind, a value the plugin accepts) per numeric setting."""
    cases = []
    for plugin, plugin_class in PLUGINS.items():
        document = yaml.safe_load((REPO / "meltano" / f"{plugin}.meltano.yml").read_text())
        definitions = [p for kind in document["plugins"].values() for p in kind]
        [definition] = [p for p in definitions if p["name"] == plugin]
        schema = plugin_class.config_jsonschema["properties"]
        for setting in definition["settings"]:
            name = setting["name"]
            types = set(schema.get(name, {}).get("type", []))
            if "number" in types:
                value: Any = FRACTION
            elif "integer" in types:
                default = setting.get("value") or 0
                value = WHOLE_NUMBERS.get(name, default - 1 if default >= 2 else default + 1)
            else:
                continue
            cases.append((plugin, name, setting.get("kind", "string"), value))
    return cases


CASES = numeric_settings()


def variable(plugin: str, name: str) -> str:
    return f"{plugin.upper().replace('-', '_')}_{name.upper()}"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copy2(REPO / "meltano.yml", tmp_path / "meltano.yml")
    shutil.copytree(REPO / "meltano", tmp_path / "meltano")
    return tmp_path


def meltano(root: Path, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [MELTANO, "--environment=sandbox", *args],
        cwd=root,
        env={**_clean_environment(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def started_with(root: Path, plugin: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """The config the plugin holds once started from what Meltano hands it."""
    config = json.loads(meltano(root, "config", "--unsafe", "print", plugin, env=env))
    started = PLUGINS[plugin](config=config, validate_config=True, **_offline(plugin))
    return dict(started.config)


def _offline(plugin: str) -> dict[str, Any]:
    return {} if plugin == "target-planhat" else {"setup_mapper": False}


def test_every_numeric_setting_is_covered():
    names = {(plugin, name) for plugin, name, _, _ in CASES}
    assert ("tap-planful", "retry_initial_wait") in names
    assert ("target-planhat", "settle_seconds") in names
    assert len(names) >= 20


def test_a_fraction_needs_a_kind_meltano_passes_through_as_text():
    """`integer` would int() a fraction; `string` reaches the plugin as text it reads."""
    for plugin, name, kind, value in CASES:
        assert kind == ("string" if isinstance(value, float) else "integer"), (plugin, name)


@pytest.mark.parametrize("plugin", list(PLUGINS))
def test_every_number_from_a_variable_dotenv_and_config_set(project, plugin):
    """Each way at once for all of a plugin's numeric settings (one Meltano start per way and
    per `config set`): every setting must arrive as the number given."""
    cases = {name: value for each, name, _, value in CASES if each == plugin}
    lines = {variable(plugin, name): str(value) for name, value in cases.items()}

    assert _mismatches(started_with(project, plugin, env=lines), cases) == {}

    (project / ".env").write_text("".join(f"{key}={text}\n" for key, text in lines.items()))
    assert _mismatches(started_with(project, plugin), cases) == {}
    (project / ".env").unlink()

    for name, value in cases.items():
        meltano(project, "config", "set", plugin, name, str(value))
    assert _mismatches(started_with(project, plugin), cases) == {}


def _mismatches(started: dict[str, Any], expected: dict[str, Any]) -> dict[str, Any]:
    """Settings whose started value is not the one given: {name: (given, started)}."""
    return {
        name: (value, started.get(name))
        for name, value in expected.items()
        if started.get(name) != value or type(started.get(name)) is not type(value)
    }


@pytest.mark.parametrize("plugin", list(PLUGINS))
def test_an_empty_numeric_text_setting_is_not_set(project, plugin):
    """`TAP_PLANFUL_RETRY_INITIAL_WAIT=` in `.env` leaves the default, as every empty line does."""
    (project / ".env").write_text(f"{variable(plugin, 'retry_initial_wait')}=\n")
    started = started_with(project, plugin)
    default = PLUGINS[plugin].config_jsonschema["properties"]["retry_initial_wait"]["default"]
    assert started.get("retry_initial_wait", default) == default
