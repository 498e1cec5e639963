"""target-planhat's README and the Meltano definition describe every object and every setting
there is."""

from __future__ import annotations

from pathlib import Path

import yaml
from target_planhat.objects import OBJECTS
from target_planhat.target import TargetPlanhat

ROOT = Path(__file__).parents[2]
_BUILTIN: dict = {"properties": {}}
TargetPlanhat.append_builtin_config(_BUILTIN)  # the SDK's own settings (stream_maps, ...)
SETTINGS = {
    name: schema
    for name, schema in TargetPlanhat.config_jsonschema["properties"].items()
    if (name not in _BUILTIN["properties"] or name == "validate_records")  # ours: default off
    and not schema.get("deprecated")  # old names, read as the new ones with a warning
}


def test_readme_lists_every_object_and_setting():
    readme = (ROOT / "target-planhat" / "README.md").read_text()
    for name, obj in OBJECTS.items():
        assert f"| `{name}` | " in readme, name
        assert f'{{"stream": "{name}", "record":' in readme, name
        assert obj.endpoint in readme
    for setting in SETTINGS:  # in the generated settings table (declared once, test_readme)
        assert f"\n| {setting} |" in readme, setting


def test_meltano_definition_has_every_setting_and_marks_secrets():
    definition = yaml.safe_load((ROOT / "meltano" / "target-planhat.meltano.yml").read_text())
    [loader] = definition["plugins"]["loaders"]
    assert (loader["namespace"], loader["pip_url"], loader["executable"]) == (
        "target_planhat",
        "-e ./connector-core -e ./target-planhat[postgres]",  # psycopg: a ledger in PostgreSQL
        "target-planhat",
    )
    settings = {s["name"]: s for s in loader["settings"]}
    assert set(SETTINGS) <= set(settings)
    for name, schema in SETTINGS.items():
        for key in ("kind", "label", "description"):
            assert settings[name][key], (name, key)
        assert settings[name].get("sensitive", False) == schema.get("secret", False), name
