"""Each plugin's Meltano plugin definition (`<plugin>/meltano-definition.yml`, the file `meltano add
--from-ref` reads in someone else's project) is what the plugin declares, in a form Meltano 4.4.1
accepts, and agrees with this project's own definition in `meltano/`."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema  # type: ignore[import-untyped]
import meltano.schemas
import pytest
import yaml
from meltano.core.plugin.base import PluginDefinition, PluginType
from singer_sdk.plugin_base import PluginBase
from tap_planful.tap import TapPlanful
from tap_plansource.tap import TapPlanSource
from target_planhat.target import TargetPlanhat

from scripts.plugin_docs import (
    DEFINITION,
    PLUGINS,
    definition_text,
    plugin_type,
    project_definition_path,
    project_definition_text,
)

ROOT = Path(__file__).parents[1]
CLASSES: dict[str, type[PluginBase]] = {
    "tap-planful": TapPlanful,
    "tap-plansource": TapPlanSource,
    "target-planhat": TargetPlanhat,
}


def shipped(plugin: str) -> dict:
    return yaml.safe_load((ROOT / plugin / DEFINITION).read_text())


def in_project(plugin: str) -> dict:
    document = yaml.safe_load((ROOT / "meltano" / f"{plugin}.meltano.yml").read_text())
    [definition] = [p for p in document["plugins"][plugin_type(plugin)] if p["name"] == plugin]
    return definition


@pytest.mark.parametrize("plugin", PLUGINS)
def test_definition_is_what_the_plugin_declares(plugin):
    """Regenerate with `./run python scripts/plugin_docs.py` when this fails."""
    assert (ROOT / plugin / DEFINITION).read_text() == definition_text(plugin)


@pytest.mark.parametrize("plugin", PLUGINS)
def test_the_project_definition_settings_are_generated(plugin):
    """A setting is declared once, in the plugin: this project's definition of it lists every
    declared setting with the declaration's kind, description, default and secrecy (its own
    labels and defaults kept). Regenerate with `./run python scripts/plugin_docs.py`."""
    assert project_definition_path(plugin).read_text() == project_definition_text(plugin)


@pytest.mark.parametrize("plugin", PLUGINS)
def test_meltano_reads_the_definition(plugin):
    definition = shipped(plugin)
    schema_path = Path(meltano.schemas.__file__).with_name("meltano.schema.json")
    project = {"plugins": {plugin_type(plugin): [definition]}}
    jsonschema.validate(project, json.loads(schema_path.read_text()))
    kind = PluginType.EXTRACTORS if plugin.startswith("tap-") else PluginType.LOADERS
    parsed = PluginDefinition.parse({"plugin_type": kind, **definition})  # as `--from-ref` does
    parsed.extras.clear()
    added = parsed.canonical()  # what `meltano add` writes into the project
    assert added["name"] == plugin
    assert added["namespace"] == plugin.replace("-", "_")
    assert added["pip_url"] == f"{plugin}=={CLASSES[plugin].plugin_version}"
    assert len(added["settings"]) >= 20
    for setting in definition["settings"]:
        assert setting["kind"], setting["name"]
        assert setting["description"], setting["name"]
        assert setting["kind"] != "decimal", "Meltano 4.4.1 cannot read it from the environment"


@pytest.mark.parametrize("plugin", PLUGINS)
def test_every_setting_with_its_kind_and_secrecy(plugin):
    """Every setting the plugin declares (deprecated aliases aside) is in the definition; secrets
    are `sensitive`, closed choices are `options`."""
    schema = copy.deepcopy(CLASSES[plugin].config_jsonschema)
    CLASSES[plugin].append_builtin_config(schema)  # the SDK's settings the plugin also takes
    declared = schema["properties"]
    settings = {s["name"]: s for s in shipped(plugin)["settings"]}
    current = {name for name, schema in declared.items() if not schema.get("deprecated")}
    assert set(settings) == current
    for name in current:
        assert settings[name].get("sensitive", False) is bool(declared[name].get("secret")), name
        choices = declared[name].get("enum")
        if choices:
            assert [o["value"] for o in settings[name]["options"]] == choices


@pytest.mark.parametrize("plugin", PLUGINS)
def test_the_project_definition_agrees(plugin):
    """meltano/<plugin>.meltano.yml (hand-written labels and option names) has every setting of
    its own the plugin declares, of the same kind and secrecy as the shipped definition."""
    builtin: dict = {"properties": {}}
    CLASSES[plugin].append_builtin_config(builtin)
    settings = {s["name"]: s for s in shipped(plugin)["settings"]}
    project = in_project(plugin)["settings"]
    named = {setting["name"].split(".")[0] for setting in project}
    own = set(settings) - set(builtin["properties"])
    assert not own - named, f"meltano/{plugin}.meltano.yml lacks {sorted(own - named)}"
    for setting in project:
        name = setting["name"]
        assert name.split(".")[0] in settings, f"{name} is not a setting of {plugin}"
        if "." in name:
            continue  # one key of an object setting, spelled out for the project
        assert setting.get("kind", "string") == settings[name]["kind"], name
        assert setting.get("sensitive", False) == settings[name].get("sensitive", False), name
    assert in_project(plugin)["namespace"] == shipped(plugin)["namespace"]
    assert in_project(plugin)["executable"] == shipped(plugin)["executable"]
