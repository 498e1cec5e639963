"""Each plugin's README documents every setting (and its generated settings table is what the
plugin prints with `--about --format=markdown`) and every stream; the root README keeps the
project and links to them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from singer_sdk.plugin_base import PluginBase
from tap_planful.tap import TapPlanful
from tap_plansource.tap import TapPlanSource
from target_planhat.target import TargetPlanhat

from scripts.plugin_docs import PLUGINS, documented_table, settings_table

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text()


def plugin_readme(name: str) -> str:
    return (ROOT / name / "README.md").read_text()


def own_settings(plugin: type[PluginBase]) -> list[str]:
    builtin: dict = {"properties": {}}
    plugin.append_builtin_config(builtin)  # the SDK's own settings are documented by the SDK
    return [
        name for name in plugin.config_jsonschema["properties"] if name not in builtin["properties"]
    ]


def stream_names(plugin: type, config: dict) -> set[str]:
    tap = plugin(config=config, validate_config=False, parse_env_config=False)
    return {stream.name for stream in tap.discover_streams()}


GENERATED_ONLY = {"tap-planful", "tap-plansource", "target-planhat"}
"""Plugins whose README describes each setting only in the generated table (issue 19): the
declaration's description is the one place, and a hand-written row for a setting is a second."""


def hand_written_rows(name: str, readme: str) -> list[str]:
    """The names in the first column of every table row outside the generated table, but those of
    the streams table (a stream may be named like a setting: `segments`)."""
    rest = readme.replace(documented_table(name, readme), "", 1)
    rows = []
    for table in re.findall(r"(?:^\|.*\n)+", rest, flags=re.MULTILINE):
        header, *body = table.splitlines()
        if not header.startswith("| Stream |"):
            rows += [m.group(1) for line in body if (m := re.match(r"\| `([^`]+)` \|", line))]
    return rows


@pytest.mark.parametrize(
    ("name", "plugin"),
    [
        ("tap-planful", TapPlanful),
        ("tap-plansource", TapPlanSource),
        ("target-planhat", TargetPlanhat),
    ],
)
def test_every_setting_is_documented(name, plugin):
    """Listed in the generated table; for a plugin in `GENERATED_ONLY` in no hand-written table
    row, for the others explained in the hand-written part too."""
    readme = plugin_readme(name)
    settings = own_settings(plugin)
    assert len(settings) >= 10
    table = documented_table(name, readme)
    unlisted = [s for s in settings if f"\n| {s} |" not in table]
    assert not unlisted, f"{name} settings missing from the generated table: {unlisted}"
    if name in GENERATED_ONLY:
        rows = hand_written_rows(name, readme)
        declared = set(plugin.config_jsonschema["properties"])
        twice = [row for row in rows if row.split(".")[0] in declared]
        assert not twice, (
            f"{name}/README.md describes settings by hand as well as in the generated table "
            f"(describe them in the declaration only): {twice}"
        )
    else:
        missing = [s for s in settings if f"`{s}" not in readme]
        assert not missing, f"{name} settings missing from {name}/README.md: {missing}"


@pytest.mark.parametrize("name", PLUGINS)
def test_settings_table_is_what_the_plugin_prints(name):
    """Fails when a setting is added, renamed or described anew: run
    `./run python scripts/plugin_docs.py` to regenerate the table."""
    assert documented_table(name, plugin_readme(name)) == settings_table(name)


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
    readme = plugin_readme(name)
    missing = sorted(s for s in streams if f"| `{s}` |" not in readme)
    assert not missing, f"{name} streams missing from {name}/README.md: {missing}"


@pytest.mark.parametrize("name", PLUGINS)
def test_a_plugin_readme_stands_alone(name):
    """A package index shows the README without the repository: no link out of the package
    directory, and the parts a user looks for."""
    readme = plugin_readme(name)
    assert readme.startswith(f"# {name}\n")
    links = re.findall(r"\]\(([^)]+)\)", readme)
    assert links
    relative = [link for link in links if not link.startswith(("https://", "http://", "#"))]
    assert not relative, f"{name}/README.md links outside what a package index shows: {relative}"
    for heading in ("## Install and run", "## Settings", "## Meltano"):
        assert f"\n{heading}\n" in readme, heading
    assert f"pip install -e ./connector-core -e ./{name}" in readme
    assert "```bash" in readme


def test_the_root_readme_links_the_plugins_and_keeps_only_the_project():
    for name in PLUGINS:
        assert f"]({name}/README.md)" in README, name
        assert f"\n## {name}\n" not in README, f"{name}'s documentation belongs in its README"
    for section in ("## The two commands", "## The Meltano project", "## The plugins"):
        assert f"\n{section}\n" in README, section
    assert "](docs/performance.md)" in README
    performance = (ROOT / "docs" / "performance.md").read_text()
    for name in PLUGINS:
        assert f"\n## {name}\n" in performance, name
        assert f"benchmarks/bench_{name.replace('-', '_')}.py" in performance, name


def test_the_readme_names_the_fast_loop_and_the_gates():
    assert './run test -m "not pipeline"' in README
    assert "./run check" in README
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.rstrip().endswith("./run test"), "CI runs exactly the README's test command"
