"""The Meltano project itself: every setting of our plugins is visible with its description."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.pipelines.conftest import REPO


def _declared_settings(plugin: str) -> list[dict]:
    document = yaml.safe_load((REPO / "meltano" / f"{plugin}.meltano.yml").read_text())
    for plugins in document["plugins"].values():
        for definition in plugins:
            if definition["name"] == plugin:
                return definition["settings"]
    raise AssertionError(plugin)


@pytest.mark.parametrize("plugin", ["tap-planful", "tap-plansource", "target-planhat"])
def test_config_list_shows_every_setting_with_its_description(meltano_project, plugin):
    listing = meltano_project.run("config", "list", plugin, "--all").stdout
    settings = _declared_settings(plugin)
    assert len(settings) >= 8
    for setting in settings:
        assert setting.get("description"), f"{plugin}.{setting['name']} has no description"
        assert setting.get("kind"), f"{plugin}.{setting['name']} has no kind"
        name = re.escape(setting["name"])
        assert re.search(rf"^{name} \[env: ", listing, re.MULTILINE), setting["name"]
        first_words = " ".join(setting["description"].split()[:4])
        assert first_words in listing, f"description of {setting['name']} not listed"


@pytest.mark.parametrize("plugin", ["tap-planful", "tap-plansource", "target-planhat"])
def test_secrets_are_sensitive_and_redacted(meltano_project, plugin):
    secrets = {
        "access_id",
        "access_key",
        "access_token",
        "login_name",
        "password",
        "client_secret",
        "api_token",
        "tenant_token",
    }
    declared = {s["name"]: s for s in _declared_settings(plugin)}
    for name in secrets & declared.keys():
        assert declared[name].get("sensitive") is True, name
    listing = meltano_project.run("--environment=sandbox", "config", "list", plugin).stdout
    for value in (
        "sbx_3f9a1c7e5b2d4086a1e9c0f7d2b6a4e8",
        "sbx-ws-9d41f0c2b7e6a5",
        "sandbox-client-secret",
        "sandbox-token",
    ):
        assert value not in listing


def test_prod_environment_takes_credentials_only_from_the_environment(meltano_project):
    project = yaml.safe_load((REPO / "meltano.yml").read_text())
    prod = next(e for e in project["environments"] if e["name"] == "prod")
    sensitive = {
        s["name"]
        for plugin in ("tap-planful", "tap-plansource", "target-planhat")
        for s in _declared_settings(plugin)
        if s.get("sensitive")
    }
    # a secret setting of prod holds nothing but references to environment variables
    for plugin in prod["config"]["plugins"].values():
        for entry in plugin:
            for name, value in entry.get("config", {}).items():
                if name in sensitive:
                    assert re.sub(r"\$\{[A-Z_]+\}", "", value) in {"", "postgresql://:@:/"}, name
    env = {
        "TARGET_PLANHAT_API_TOKEN": "prod-token-from-env-0123456789",
        "TARGET_PLANHAT_REGION": "us3",
    }
    listing = meltano_project.run(
        "--environment=prod", "config", "list", "target-planhat", env=env
    ).stdout
    assert "prod-token-from-env" not in listing  # redacted
    redacted = "current value: (redacted) (from the TARGET_PLANHAT_API_TOKEN variable"
    assert redacted in listing
    assert "current value: 'us3' (from the TARGET_PLANHAT_REGION variable" in listing
