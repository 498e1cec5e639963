"""The `sandbox` environment configures every plugin a job uses that talks to a service, so a
newcomer's `meltano run <job>` needs no hand-set variable; its PostgreSQL settings are the ones
the tests' and the demo's throwaway server uses (`tests/pipelines/postgres.py`)."""

from __future__ import annotations

import dataclasses

import yaml

from tests.pipelines.conftest import REPO
from tests.pipelines.postgres import SANDBOX


def _project() -> dict:
    project = yaml.safe_load((REPO / "meltano.yml").read_text())
    for path in sorted((REPO / "meltano").glob("*.meltano.yml")):
        for kind, plugins in yaml.safe_load(path.read_text())["plugins"].items():
            project["plugins"].setdefault(kind, []).extend(plugins)
    return project


def _sandbox_config(project: dict) -> dict[str, dict]:
    sandbox = next(e for e in project["environments"] if e["name"] == "sandbox")
    return {
        plugin["name"]: plugin.get("config") or {}
        for plugins in sandbox["config"]["plugins"].values()
        for plugin in plugins
    }


def test_every_service_a_job_talks_to_is_configured_in_the_sandbox():
    project = _project()
    definitions = {p["name"]: p for plugins in project["plugins"].values() for p in plugins}
    sandbox = _sandbox_config(project)

    def root(name: str) -> dict:
        definition = definitions[name]
        parent = definition.get("inherit_from")
        return root(parent) if parent else definition

    used = {
        name.split(":")[0]  # a utility's command (`jsonl-manifest:write`) runs that utility
        for job in project["jobs"]
        for task in job["tasks"]
        for name in task.split()
    }
    for name in sorted(used):
        base = root(name)
        secrets = [s["name"] for s in base.get("settings", []) if s.get("sensitive")]
        if not secrets:
            continue  # files only (tap-jsonl, target-duckdb, target-jsonl)
        configured = {**sandbox.get(base["name"], {}), **sandbox.get(name, {})}
        assert configured, f"{name}: no config in the sandbox environment"
        setting_names = {s["name"] for s in base["settings"]}
        if {"host", "port", "user", "password", "database"} <= setting_names:
            expected = dataclasses.asdict(SANDBOX)
            assert {k: configured.get(k) for k in expected} == expected, name


def test_inherited_warehouse_tap_sees_the_sandbox_connection(meltano_project):
    listing = meltano_project.run(
        "--environment=sandbox", "config", "list", "tap-warehouse-accounts"
    ).stdout
    for setting, value in (("host", "'127.0.0.1'"), ("database", "'warehouse'")):
        assert (
            f"{setting} [env: TAP_WAREHOUSE_ACCOUNTS_{setting.upper()}] current value: {value}"
            in listing
        )
