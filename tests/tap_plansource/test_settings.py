"""Settings: defaults, derived URLs and errors that name the setting to fix."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from singer_sdk.exceptions import ConfigValidationError
from tap_plansource.tap import TapPlanSource

CREDENTIALS = {"client_id": "api-user", "client_secret": "s3cret-value", "username": "admin"}


def settings(**config):
    return TapPlanSource(config={**CREDENTIALS, **config}, parse_env_config=False).settings


@pytest.mark.parametrize(
    ("config", "api_url", "token_url", "audience"),
    [
        (
            {},
            "https://api.plansource.com/admin/v2",
            "https://api.plansource.com/oauth/v2/token",
            "api.plansource.com",
        ),
        (
            {"environment": "development"},
            "https://partner-dev-api.plansource.com/admin/v2",
            "https://partner-dev-api.plansource.com/oauth/v2/token",
            "partner-dev-api.plansource.com",
        ),
        (
            {"api_url": "http://127.0.0.1:8123"},
            "http://127.0.0.1:8123/admin/v2",
            "http://127.0.0.1:8123/oauth/v2/token",
            "127.0.0.1",
        ),
        (
            {"api_url": "https://proxy.example.com/plansource/admin/v2/"},
            "https://proxy.example.com/plansource/admin/v2",
            "https://proxy.example.com/plansource/oauth/v2/token",
            "proxy.example.com",
        ),
    ],
)
def test_urls_derive_from_environment_or_api_url(config, api_url, token_url, audience):
    derived = settings(**config)
    assert (derived.api_url, derived.token_url, derived.token_audience) == (
        api_url,
        token_url,
        audience,
    )


def test_defaults():
    derived = settings()
    assert derived.plan_years == ("current", "next")
    assert derived.page_size == 500
    assert derived.sensitive_mode == "mask"
    assert derived.include_test_employees is False
    assert "s3cret-value" not in repr(derived)


@pytest.mark.parametrize(
    ("config", "error"),
    [
        ({"api_url": "http://api.plansource.com/admin/v2"}, "`api_url`"),
        ({"api_url": "https://user:pw@api.plansource.com/admin/v2"}, "do not put credentials"),
        ({"api_url": "https://evil.example.com/x?to=api.plansource.com"}, "`api_url`"),
        ({"api_url": "https://api.plansource.com/other"}, "must end with /admin/v2"),
        ({"page_size": 501}, "config['page_size']"),
        ({"environment": "staging"}, "config['environment']"),
        ({"plan_years": ["last"]}, "config['plan_years'][0]"),
        ({"sensitive_fields": "hash"}, "`sensitive_hash_salt` is required"),
        ({"sensitive_fields": "encrypt"}, "config['sensitive_fields']"),
        ({"custom_streams": [{"name": "subscribers", "path": "/x"}]}, "already used"),
        (
            {"custom_streams": [{"name": "x", "path": "https://evil.example.com/"}]},
            "`custom_streams[0]`: `path`",
        ),
        ({"custom_streams": [{"name": "x", "path": "/a/../../oauth"}]}, "`path`"),
        ({"custom_streams": [{"name": "x", "path": "/a", "records_path": "$["}]}, "`records_path`"),
        (
            {"custom_streams": [{"name": "x", "path": "/a", "pages": True}]},
            "config['custom_streams'][0]",
        ),
    ],
)
def test_a_wrong_setting_is_named(config, error):
    with pytest.raises(ConfigValidationError) as failure:
        settings(**config)
    assert any(error in message for message in failure.value.errors), failure.value.errors


def test_missing_credentials_are_named():
    with pytest.raises(ConfigValidationError) as failure:
        TapPlanSource(config={"client_id": "x"}, parse_env_config=False)
    assert "'client_secret' is a required property" in failure.value.errors
    assert "'username' is a required property" in failure.value.errors


def test_about_lists_every_setting_and_marks_secrets():
    about = subprocess.run(
        [sys.executable, "-m", "tap_plansource", "--about", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    properties = json.loads(about.stdout)["settings"]["properties"]
    for name in TapPlanSource.config_jsonschema["properties"]:
        assert name in properties
        assert properties[name].get("description"), name
    assert properties["client_secret"]["secret"] is True
    assert properties["sensitive_hash_salt"]["secret"] is True
    assert "stream_maps" in properties
