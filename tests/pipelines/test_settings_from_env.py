"""Every setting of our three plugins can come from an environment variable: Meltano 4.4.1 crashed
(`Object of type Decimal is not JSON serializable`) before the plugin started whenever a setting of
`kind: decimal` came from the environment or `.env`. Each plugin here gets each of its settings
from `<PLUGIN>_<SETTING>` and Meltano lists them and runs the plugin."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
NEUTRAL = {"boolean": False, "array": [], "object": {}}
KINDS = {"integer", "boolean", "array", "object", "options"}
UNSET_NUMBERS = {
    "start_fiscal_year": 2024,
    "end_fiscal_year": 2026,
    "flattening_max_depth": 1,
    "batch_size_rows": 10000,
}
"""Values for the integer settings the sandbox leaves unset (years the emulator serves)."""
RUNS = {
    "tap-planful": ["run", "--no-state-update", "finance-to-warehouse"],  # leaves no bookmark
    "tap-plansource": ["invoke", "tap-plansource", "--discover"],
    "target-planhat": ["invoke", "target-planhat", "--test"],
}


def definition(plugin: str) -> list[dict[str, Any]]:
    document = yaml.safe_load((REPO / "meltano" / f"{plugin}.meltano.yml").read_text())
    [entry] = [p for kind in document["plugins"].values() for p in kind if p["name"] == plugin]
    return entry["settings"]


def variable(prefix: str, name: str) -> str:
    """Meltano's environment variable of a setting (`a.b` is `<PLUGIN>_A_B`)."""
    return prefix + name.upper().replace(".", "_")


def as_text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def test_no_setting_kind_meltano_cannot_read_from_the_environment():
    for plugin in RUNS:
        kinds = {setting.get("kind", "string") for setting in definition(plugin)}
        assert "decimal" not in kinds, plugin


@pytest.mark.parametrize("plugin", list(RUNS))
def test_every_setting_from_an_environment_variable(meltano_project, plugin):
    effective = json.loads(meltano_project.run("config", "--unsafe", "print", plugin).stdout)
    prefix = plugin.upper().replace("-", "_") + "_"
    env, covered = {}, []
    for setting in definition(plugin):
        name, kind = setting["name"], setting.get("kind", "string")
        value = effective.get(name, setting.get("value"))
        if value is None:
            value = NEUTRAL.get(kind, UNSET_NUMBERS.get(name))
        if value is None:
            continue  # an unset text setting: Meltano passes text through unconverted
        env[variable(prefix, name)] = as_text(value)
        covered.append(name)
    converted = [s["name"] for s in definition(plugin) if s.get("kind", "string") in KINDS]
    assert set(converted) <= set(covered)  # every setting Meltano converts from text

    listed = meltano_project.run("config", "list", "--all", plugin, env=env).stdout
    for name in covered:
        assert f"(from the {variable(prefix, name)} variable" in listed, name
    (meltano_project.root / "output").mkdir(exist_ok=True)  # where the warehouse file goes
    run = meltano_project.run(*RUNS[plugin], env=env, check=False)
    assert run.returncode == 0, run.stderr[-4000:]
    assert "Decimal" not in run.stderr
