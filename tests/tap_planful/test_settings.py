"""Wrong settings fail before any request, naming the setting; periods do month arithmetic."""

from __future__ import annotations

import pytest
from singer_sdk.exceptions import ConfigValidationError
from tap_planful.client import structured_base_url
from tap_planful.periods import Period
from tap_planful.tap import TapPlanful

STRUCTURED = {"api_type": "structured", "subdomain": "na04", "access_id": "id", "access_key": "key"}


def errors_of(config: dict) -> list[str]:
    with pytest.raises(ConfigValidationError) as caught:
        TapPlanful(config=config, parse_env_config=False)
    return caught.value.errors


@pytest.mark.parametrize(
    ("value", "label"),
    [
        ("na04", "na04"),
        ("NA04", "na04"),
        ("https://acme.planful.com", "acme"),
        ("https://acme.planful.com/", "acme"),
    ],
)
def test_subdomain_accepts_a_label_or_the_tenant_url(value, label):
    tap = TapPlanful(config={**STRUCTURED, "subdomain": value}, parse_env_config=False)
    assert structured_base_url(tap.settings) == f"https://{label}.planful.com"


@pytest.mark.parametrize(
    "value",
    [
        "evil.com",
        "na04.evil.com",
        "https://na04.planful.com.evil.com",
        "http://na04.planful.com",
        "https://user@na04.planful.com",
        "https://na04.planful.com:8443",
        "https://na04.planful.com/api",
        "https://evil.com/.planful.com",
        "-bad",
    ],
)
def test_subdomain_that_could_leave_planful_is_refused(value):
    errors = errors_of({**STRUCTURED, "subdomain": value})
    assert len(errors) == 1
    assert errors[0].startswith("`subdomain`")


def test_missing_credentials_name_the_settings_of_the_chosen_family():
    assert sorted(errors_of({"api_type": "structured", "subdomain": "na04"})) == [
        "`access_id` is required when api_type is 'structured'",
        "`access_key` is required when api_type is 'structured'",
    ]
    assert errors_of({"api_type": "dynamic"}) == [
        "`access_token` is required when api_type is 'dynamic'"
    ]
    both = errors_of({**STRUCTURED, "api_type": "both"})
    assert both == ["`access_token` is required when api_type is 'both'"]
    assert errors_of({"api_type": "structured", "access_id": "a", "access_key": "b"}) == [
        "`subdomain` (or `api_url`) is required for Structured Planning"
    ]


def test_schema_errors_name_the_setting():
    errors = errors_of({**STRUCTURED, "api_type": "everything", "segments": [9]})
    assert any("config['api_type']" in error for error in errors)
    assert any("config['segments'][0]" in error for error in errors)


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"gl_data": "https://evil.com/gl"}, "`path_overrides.gl_data` must be a path"),
        ({"gl_data": "//evil.com/gl"}, "`path_overrides.gl_data` must be a path"),
        (
            {"users": "/x/{access_key}"},
            "`path_overrides.users` uses unknown placeholders ['access_key']",
        ),
    ],
)
def test_path_overrides_stay_on_the_tenant_host(overrides, fragment):
    errors = errors_of({**STRUCTURED, "path_overrides": overrides})
    assert any(fragment in error for error in errors), errors


def test_urls_carry_no_credentials():
    errors = errors_of({**STRUCTURED, "api_url": "https://u:p@proxy.example/x"})
    assert errors == [
        "`api_url` must not carry credentials (user:password@): the plugin authenticates by itself"
    ]
    query = errors_of({**STRUCTURED, "api_url": "https://proxy.example/x?token=abc"})
    assert query == ["`api_url` must not carry a query string or a fragment"]
    assert errors_of({**STRUCTURED, "dynamic_api_url": "ftp://x"})[0].startswith(
        "`dynamic_api_url`"
    )


def test_discovery_offers_only_the_configured_family():
    structured = TapPlanful(config=STRUCTURED, parse_env_config=False).streams
    dynamic = TapPlanful(
        config={"api_type": "dynamic", "access_token": "t"}, parse_env_config=False
    ).streams
    assert "gl_data" in structured
    assert not any(name.startswith("dp_") for name in structured)
    assert all(name.startswith("dp_") for name in dynamic)
    both = TapPlanful(
        config={**STRUCTURED, "api_type": "both", "access_token": "t"}, parse_env_config=False
    )
    assert set(both.streams) == set(structured) | set(dynamic)


def test_period_arithmetic_crosses_years():
    assert Period(2024, 2).shifted(-3) == Period(2023, 11)
    assert Period(2023, 12).shifted(1) == Period(2024, 1)
    assert Period.from_key(202405).key == 202405
    assert [p.key for p in Period(2023, 11).through(Period(2024, 2))] == [
        202311,
        202312,
        202401,
        202402,
    ]
    assert Period(2024, 3).through(Period(2024, 2)) == []


@pytest.mark.parametrize("setting", ["api_url", "dynamic_api_url", "soap_url"])
def test_plain_http_goes_only_to_loopback(setting):
    errors = errors_of({**STRUCTURED, setting: "http://proxy.example.com/x"})
    assert errors == [
        f"`{setting}` plain http:// sends credentials in clear; use https:// (http is allowed "
        "only for a loopback host such as 127.0.0.1)"
    ]
    for local in ("http://127.0.0.1:8701", "http://localhost:8701", "http://[::1]:8701"):
        TapPlanful(config={**STRUCTURED, setting: local}, parse_env_config=False)


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("subdomain", "admin:hunter2@na04"),
        ("subdomain", "https://admin:hunter2@na04.planful.com"),
        ("api_url", "https://admin:hunter2@proxy.example"),
        ("soap_url", "https://admin:hunter2@epm01.hostanalytics.com/HostAPI/x.asmx"),
        ("dynamic_api_url", "ftp://admin:hunter2@x"),
    ],
)
def test_credentials_in_a_url_are_refused_without_echoing_them(setting, value):
    (error,) = errors_of({**STRUCTURED, setting: value})
    assert error.startswith(f"`{setting}`")
    assert "hunter2" not in error
    assert "admin" not in error


def test_one_gl_filter_per_segment_and_amount_types_once():
    config = {
        **STRUCTURED,
        "login_name": "u",
        "password": "p",
        "tenant_code": "T",
        "scenarios": ["Actual"],
        "gl_segment_filters": [{"segment": 2, "value": "A"}, {"segment": 2, "value": "B"}],
        "gl_amount_types": ["MTD", "YTD", "MTD"],
    }
    assert errors_of(config) == [
        "`gl_amount_types` names an amount type twice (its rows would come twice)",
        "`gl_segment_filters` filters segments [2] more than once; the web service takes one "
        "value per field",
    ]


def test_fiscal_years_are_validated_naming_the_setting():
    errors = errors_of({**STRUCTURED, "start_fiscal_year": "FY24", "end_fiscal_year": 99999})
    assert any("config['start_fiscal_year']" in error for error in errors)
    assert any("config['end_fiscal_year']" in error for error in errors)
    assert errors_of({**STRUCTURED, "start_fiscal_year": 2026, "end_fiscal_year": 2025}) == [
        "`start_fiscal_year` (2026) is after `end_fiscal_year` (2025)"
    ]


def test_half_of_the_soap_credentials_is_named_in_auto_mode():
    errors = errors_of({"subdomain": "na04", "login_name": "ws.user"})
    assert errors == [
        "`login_name` and `password` go together: set both to read Structured Planning through "
        "the SOAP web service (or neither, for REST)"
    ]
