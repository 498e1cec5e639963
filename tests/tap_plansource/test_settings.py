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
    assert (derived.admin_api_url, derived.token_url, derived.token_audience) == (
        api_url,
        token_url,
        audience,
    )


def test_defaults():
    derived = settings()
    assert derived.plan_years_read == ("current", "next")
    assert derived.page_size == 500
    assert derived.sensitive_fields == "mask"
    assert derived.include_test_employees is False
    assert "s3cret-value" not in repr(derived)


@pytest.mark.parametrize(
    ("config", "error"),
    [
        ({"api_url": "http://api.plansource.com/admin/v2"}, "`api_url`"),
        ({"api_url": "https://user:pw@api.plansource.com/admin/v2"}, "must not carry credentials"),
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


@pytest.mark.parametrize(
    "api_url",
    [
        "https://api-user:hunter2-Secret@api.plansource.com/admin/v2",
        "https://api-user:hunter2-Secret@[api.plansource.com/admin/v2",
    ],
)
def test_credentials_in_api_url_are_refused_without_echo(api_url):
    with pytest.raises(ConfigValidationError) as failure:
        settings(api_url=api_url)
    said = " ".join(failure.value.errors)
    assert "`api_url`" in said
    assert "hunter2-Secret" not in said
    assert "api-user" not in said


@pytest.mark.parametrize("start_date", ["yesterday", "2024-13-01", "01/02/2024"])
def test_a_garbage_start_date_is_one_clear_error(start_date):
    with pytest.raises(ConfigValidationError) as failure:
        settings(start_date=start_date)
    assert failure.value.errors == [
        "`start_date` must be an ISO 8601 date or date-time such as 2024-01-01 or "
        f"2024-01-01T00:00:00Z, got {start_date!r}"
    ]


def test_a_garbage_start_date_exits_1_with_one_line(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({**CREDENTIALS, "start_date": "next tuesday"}))
    run = subprocess.run(
        [sys.executable, "-m", "tap_plansource", "--config", str(config), "--discover"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 1
    assert "`start_date` must be an ISO 8601 date" in run.stderr
    assert "Traceback" not in run.stderr


def test_a_future_start_date_is_warned_about(caplog):
    derived = settings(start_date="2999-01-01T00:00:00Z")
    assert derived.start is not None
    assert derived.start.year == 2999
    assert any(
        "`start_date` 2999-01-01T00:00:00+00:00 is in the future" in r.getMessage()
        for r in caplog.records
    )


@pytest.mark.parametrize(
    ("config", "error"),
    [
        ({"client_assertion_algorithm": "RS256"}, "`private_key`: required"),
        (
            {"client_assertion_algorithm": "ES256", "private_key": "not a key at all"},
            "`private_key`: is not an unencrypted PEM private key",
        ),
        ({"client_assertion_algorithm": "PS512"}, "config['client_assertion_algorithm']"),
        ({"payroll_mode": "nightly"}, "config['payroll_mode']"),
    ],
)
def test_signing_and_payroll_settings_are_checked(config, error):
    with pytest.raises(ConfigValidationError) as failure:
        settings(**config)
    assert any(error in message for message in failure.value.errors), failure.value.errors
    assert all("not a key at all" not in message for message in failure.value.errors)


def test_discovery_stops_on_what_the_schema_refuses(tmp_path):
    """singer-sdk does not check the schema before a discovery (it needs no credentials); the
    tap does, but for settings left unset, so a custom stream without a path is named."""
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {"discover_tenant_fields": False, "page_size": 9999, "custom_streams": [{"name": "x"}]}
        )
    )
    run = subprocess.run(
        [sys.executable, "-m", "tap_plansource", "--config", str(config), "--discover"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 1
    assert "in config['page_size']" in run.stderr
    assert "'path' is a required property in config['custom_streams'][0]" in run.stderr
    assert "'client_id' is a required property" not in run.stderr
    assert "Traceback" not in run.stderr
