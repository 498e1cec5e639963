"""Regenerate what each plugin says about itself in files: the settings table of its README (from
`<plugin> --about --format=markdown`), its Meltano plugin definition (from `<plugin> --about
--format=json`) and the settings of this project's definition of it (`meltano/<plugin>.meltano.yml`,
its labels and project defaults kept), all from the settings the plugin declares.

The table sits between two markers in `<plugin>/README.md`; the definition is
`<plugin>/meltano-definition.yml`, the file `meltano add --from-ref` reads. `tests/test_readme.py`
and `tests/test_plugin_definitions.py` fail when either differs from what the plugin prints (a
setting added, renamed or described anew), and running `./run python scripts/plugin_docs.py`
brings both back in line. `--check` only reports.
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml
from meltano.core import yaml as meltano_yaml
from meltano.core.project import Project

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = ("tap-planful", "tap-plansource", "target-planhat")
DEFINITION = "meltano-definition.yml"

MELTANO_CAPABILITIES = {
    "extractors": {
        "properties", "catalog", "discover", "state", "about", "stream-maps", "activate-version",
        "batch", "test", "log-based", "schema-flattening", "structured-logging",
    },
    "loaders": {
        "about", "stream-maps", "activate-version", "batch", "soft-delete", "hard-delete",
        "datatype-failsafe", "schema-flattening", "structured-logging",
    },
}  # fmt: skip
"""The capabilities Meltano 4.4.1 accepts per plugin type (`meltano.schema.json`); singer-sdk also
reports some Meltano refuses (`validate-records`)."""


def begin_marker(plugin: str) -> str:
    return (
        f"<!-- BEGIN settings: `{plugin} --about --format=markdown`, "
        "regenerate with `./run python scripts/plugin_docs.py` -->"
    )


END_MARKER = "<!-- END settings -->"


def about_text(plugin: str, about_format: str) -> str:
    """What the installed plugin prints with `--about --format=<about_format>`."""
    executable = Path(sys.executable).with_name(plugin)
    return subprocess.run(
        [str(executable), "--about", f"--format={about_format}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout


def settings_table(plugin: str) -> str:
    """The `Settings` table the plugin prints about itself (the SDK's markdown)."""
    lines = about_text(plugin, "markdown").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| Setting "))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    return "\n".join(lines[start:end])


def documented_table(plugin: str, readme: str) -> str:
    """The table between the markers of `readme` (ValueError when the markers are missing)."""
    begin = begin_marker(plugin)
    start = readme.index(begin) + len(begin)
    return readme[start : readme.index(END_MARKER, start)].strip("\n")


def with_table(plugin: str, readme: str, table: str) -> str:
    begin = begin_marker(plugin)
    start = readme.index(begin) + len(begin)
    end = readme.index(END_MARKER, start)
    return f"{readme[:start]}\n{table}\n{readme[end:]}"


def plugin_type(plugin: str) -> str:
    return "extractors" if plugin.startswith("tap-") else "loaders"


def about(plugin: str) -> dict[str, Any]:
    """What the plugin prints with `--about --format=json`: version, capabilities, settings."""
    return json.loads(about_text(plugin, "json"))


def setting_kind(schema: dict[str, Any]) -> str:
    """The Meltano setting kind of a JSON schema property.

    Numbers that take fractions become `string`: Meltano 4.4.1 cannot read a `decimal` setting
    from an environment variable (`Object of type Decimal is not JSON serializable`) and `int()`s
    an `integer` one (`0.5` crashes it); the plugin reads the text as its number
    (`planful_plansource_planhat_core.settings.loaded`).
    """
    types = schema.get("type", [])
    types = {types} if isinstance(types, str) else set(types)
    if "enum" in schema:
        return "options"
    for json_type, kind in (
        ("boolean", "boolean"),
        ("integer", "integer"),
        ("number", "string"),
        ("array", "array"),
        ("object", "object"),
    ):
        if json_type in types:
            return kind
    if schema.get("format") in {"date-time", "date"}:
        return "date_iso8601"
    return "string"


def meltano_setting(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    setting: dict[str, Any] = {"name": name, "kind": setting_kind(schema)}
    if "title" in schema:
        setting["label"] = schema["title"]
    setting["description"] = " ".join(schema.get("description", "").split())
    if "default" in schema:
        default = schema["default"]
        integral = isinstance(default, float) and default.is_integer()
        setting["value"] = int(default) if integral else default
    if "enum" in schema:
        setting["options"] = [{"label": str(v), "value": v} for v in schema["enum"]]
    if schema.get("secret"):
        setting["sensitive"] = True
    return setting


def meltano_definition(plugin: str) -> dict[str, Any]:
    """The plugin as Meltano's plugin definition format has it (what `meltano add --from-ref`
    reads): the released package as `pip_url`, every setting the plugin declares except the
    deprecated aliases, with its kind, description, default and whether it is secret."""
    info = about(plugin)
    schema = info["settings"]
    definition: dict[str, Any] = {
        "name": plugin,
        "namespace": plugin.replace("-", "_"),
        "pip_url": f"{plugin}=={info['version']}",
        "executable": plugin,
        "description": info["description"],
        "capabilities": [
            c for c in info["capabilities"] if c in MELTANO_CAPABILITIES[plugin_type(plugin)]
        ],
    }
    if schema.get("required"):
        definition["settings_group_validation"] = [schema["required"]]
    definition["settings"] = [
        meltano_setting(name, prop)
        for name, prop in schema["properties"].items()
        if not prop.get("deprecated")
    ]
    return definition


def definition_text(plugin: str) -> str:
    header = (
        f"# Meltano plugin definition of {plugin}, generated from\n"
        f"# `{plugin} --about --format=json` by `./run python scripts/plugin_docs.py` (do not\n"
        "# edit). Add it to a Meltano project with `meltano add --from-ref <this file or URL>\n"
        f"# {plugin}`; {plugin}/README.md, Install, shows pip_url for a Git URL or wheels.\n"
    )
    body = yaml.safe_dump(
        meltano_definition(plugin), sort_keys=False, allow_unicode=True, width=100
    )
    return header + body


PRESENTATION = ("label", "value")
"""What this project's own definition (`meltano/<plugin>.meltano.yml`) may say of a declared
setting beyond the declaration: a friendlier label, the project's default value (e.g.
`metrics_log_level: warning`), and labels of the options (whose values are declared)."""


def project_settings(plugin: str, current: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The `settings` of the project's definition: every setting the plugin declares (but the
    deprecated aliases and singer-sdk's own, unless listed already), kind, description, default
    and secrecy from the declaration, the project's presentation kept; then the project's
    entries for one key of an object setting (`path_overrides.gl_data`) and for singer-sdk's own
    settings, as written."""
    declared = meltano_definition(plugin)["settings"]
    own = {s["name"] for s in declared} - set(sdk_settings(plugin))
    listed = {s["name"]: s for s in current}
    settings = []
    for generated in declared:
        name = generated["name"]
        if name not in own:
            continue
        project = listed.get(name, {})
        setting = dict(generated)
        for key in PRESENTATION:
            if key in project:
                setting[key] = project[key]
        if "options" in generated and "options" in project:
            labels = {o["value"]: o["label"] for o in project["options"]}
            setting["options"] = [
                {"label": labels.get(o["value"], o["label"]), "value": o["value"]}
                for o in generated["options"]
            ]
        settings.append({k: setting[k] for k in SETTING_KEYS if k in setting})
    properties = about(plugin)["settings"]["properties"]
    for entry in current:
        if entry["name"] in own:
            continue
        parent, _, key = entry["name"].partition(".")
        declared_key = properties.get(parent, {}).get("properties", {}).get(key)
        described = dict(entry)
        if declared_key is not None:  # one key of an object setting: its declared description
            described["description"] = " ".join(declared_key["description"].split())
        settings.append(described)
    return settings


SETTING_KEYS = ("name", "kind", "value", "label", "description", "options", "sensitive")
"""The order of a setting's keys in the project's definition."""


def sdk_settings(plugin: str) -> list[str]:
    """singer-sdk's own settings the plugin takes (stream maps, flattening, batch...)."""
    info = about(plugin)
    return [name for name in info["settings"]["properties"] if name in SDK_SETTING_NAMES]


SDK_SETTING_NAMES = {
    "stream_maps", "stream_map_config", "faker_config", "flattening_enabled",
    "flattening_max_depth", "flattening_max_key_length", "flattening_separator", "batch_config",
    "add_record_metadata", "load_method", "validate_records", "hard_delete",
    "default_target_schema",
}  # fmt: skip


def project_definition_path(plugin: str) -> Path:
    return ROOT / "meltano" / f"{plugin}.meltano.yml"


def project_definition_text(plugin: str) -> str:
    """`meltano/<plugin>.meltano.yml` with its settings regenerated (its comments and every other
    key kept), in the layout Meltano writes (see `scripts/meltano_format.py`)."""
    return project_definition_texts()[plugin]


@functools.cache
def project_definition_texts() -> dict[str, str]:
    """Each plugin's project definition regenerated, laid out by Meltano's own round trip in a
    scratch copy of the project files."""
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        shutil.copy2(ROOT / "meltano.yml", root / "meltano.yml")
        shutil.copytree(ROOT / "meltano", root / "meltano")
        for plugin in PLUGINS:
            path = root / "meltano" / f"{plugin}.meltano.yml"
            document = meltano_yaml.load(path)  # comments and flow style kept
            for definition in document["plugins"][plugin_type(plugin)]:
                if definition["name"] == plugin:
                    definition["settings"] = project_settings(
                        plugin, list(definition.get("settings", []))
                    )
            with path.open("w") as output:
                meltano_yaml.yaml.dump(document, output)
        with Project.find(root, activate=False).meltano_update():
            pass  # Meltano dumps every file of include_paths in its own layout
        return {p: (root / "meltano" / f"{p}.meltano.yml").read_text() for p in PLUGINS}


def main() -> int:
    check = "--check" in sys.argv[1:]
    stale = []
    for plugin in PLUGINS:
        path = ROOT / plugin / "README.md"
        readme = path.read_text()
        table = settings_table(plugin)
        if documented_table(plugin, readme) != table:
            stale.append(f"{plugin}/README.md: settings table")
            if not check:
                path.write_text(with_table(plugin, readme, table))
        path = ROOT / plugin / DEFINITION
        text = definition_text(plugin)
        if not path.exists() or path.read_text() != text:
            stale.append(f"{plugin}/{DEFINITION}")
            if not check:
                path.write_text(text)
        path = project_definition_path(plugin)
        text = project_definition_text(plugin)
        if path.read_text() != text:
            stale.append(f"meltano/{plugin}.meltano.yml: settings")
            if not check:
                path.write_text(text)
    verb = "out of date" if check else "regenerated"
    for what in stale:
        print(f"{what} {verb}")
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
