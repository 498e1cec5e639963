"""The real `target-planhat` executable: connection test, and no secret in any log line."""

from __future__ import annotations

import json

from planful_plansource_planhat_core.target import ConnectorTarget
from target_planhat.target import TargetPlanhat

from tests.target_planhat.helpers import config_for, messages, run_cli, state

SECRET_TOKEN = "sandbox-token"  # the emulator's read/write token: must never be printed
SECRET_TENANT = "6f1d3c2a-9b8e-4f7a-a1c5-2d4e6f8a0b1c"


def test_connection_test_passes_with_good_settings(planhat, tmp_path):
    result = run_cli(config_for(planhat.url), tmp_path, None, "--test")
    assert result.returncode == 0, result.stderr
    assert f"ok: Planhat API at {planhat.url}: the API token was accepted" in result.stderr
    assert f"ok: Planhat analytics host at {planhat.url}: the tenant token was" in result.stderr
    assert [r["path"] for r in planhat.emulator.requests()] == [
        "/companies",
        f"/dimensiondata/{SECRET_TENANT}",
    ]


def test_connection_test_names_token_and_region_on_401(planhat, tmp_path):
    result = run_cli(config_for(planhat.url, api_token="wrong-token"), tmp_path, None, "--test")
    assert result.returncode == 1
    assert "Planhat answered 401 to GET /companies" in result.stderr
    assert "`api_token`" in result.stderr
    assert "`region`" in result.stderr
    assert "wrong-token" not in result.stderr


def test_connection_test_on_an_unreachable_host_names_region(tmp_path):
    config = config_for("http://127.0.0.1:9", retry_max_tries=1)
    result = run_cli(config, tmp_path, None, "--test")
    assert result.returncode == 1
    assert "Nothing answers at http://127.0.0.1:9 (connection refused)" in result.stderr
    assert "`region` / `api_url`" in result.stderr


def test_connection_test_without_tenant_token_checks_the_main_api_alone(planhat, tmp_path):
    config = {k: v for k, v in config_for(planhat.url).items() if k != "tenant_token"}
    result = run_cli(config, tmp_path, None, "--test")
    assert result.returncode == 0, result.stderr
    assert [line for line in result.stderr.splitlines() if line.startswith("ok: ")] == [
        f"ok: Planhat API at {planhat.url}: the API token was accepted"
    ]


def test_connection_test_names_the_tenant_token_when_the_analytics_host_refuses_it(
    planhat, tmp_path
):
    config = config_for(planhat.url, tenant_token="00000000-0000-0000-0000-000000000000")
    result = run_cli(config, tmp_path, None, "--test")
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if "| ERROR" in line]
    assert len(errors) == 1, errors
    assert "Connection test failed: Planhat analytics host at" in errors[0]
    assert "`tenant_token`" in errors[0]
    assert "00000000-0000" not in result.stderr


def test_an_unknown_setting_fails_the_connection_test_and_warns_elsewhere(planhat, tmp_path):
    config = config_for(planhat.url, on_rejct="fail")
    result = run_cli(config, tmp_path, None, "--test")
    assert result.returncode == 1
    assert "`on_rejct` is not a setting (did you mean `on_reject`?)" in result.stderr
    assert not planhat.emulator.requests()
    result = run_cli(config, tmp_path, [])
    assert result.returncode == 0, result.stderr
    assert "`on_rejct` is not a setting (did you mean `on_reject`?); it is ignored." in (
        result.stderr
    )


def test_connection_test_without_a_token_is_one_line(tmp_path):
    result = run_cli({}, tmp_path, None, "--test")
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if "| ERROR" in line]
    assert errors[0].endswith(
        "'api_token' is a required property. Fix the settings named (in the --config file, or "
        "with `meltano config`)."
    )


def test_connection_test_reports_a_bad_region_setting(tmp_path):
    config = {"api_token": "t", "region": "us3.attacker.example"}
    result = run_cli(config, tmp_path, None, "--test")
    assert result.returncode == 1
    assert "config['region']" in result.stderr or "region" in result.stderr.split("rror")[-1]


def test_no_secret_in_any_log_line(planhat, tmp_path):
    rejects = tmp_path / "rejects.jsonl"
    planhat.emulator.add_faults(
        [
            {"status": 429, "times": 2, "path": "^/companies$"},
            {"status": 500, "path": "^/dimensiondata/", "body": f"bad tenant {SECRET_TENANT}"},
            {"drop": True, "path": "^/endusers$"},
        ]
    )
    lines = [
        *messages(
            "companies", [{"externalId": "S-1", "name": "S"}, {"externalId": "S-2"}], ["externalId"]
        ),
        *messages(
            "endusers",
            [{"externalId": "U", "email": "u@acme.example", "companyExternalId": "ACME-001"}],
        ),
        *messages(
            "metrics", [{"dimensionId": "d", "value": 1, "externalId": "ACME-001"}, {"value": 2}]
        ),
        state({"ok": True}),
    ]
    config = config_for(planhat.url, rejects_file=str(rejects))
    env_debug = run_cli(config, tmp_path, lines, env={"LOGLEVEL": "debug"})
    assert env_debug.returncode == 0, env_debug.stderr
    assert json.loads(env_debug.stdout) == {"ok": True}
    failing = run_cli(
        {**config, "tenant_token": SECRET_TENANT + "x"}, tmp_path, lines, env={"LOGLEVEL": "debug"}
    )
    assert failing.returncode == 1
    for output in (
        env_debug.stdout,
        env_debug.stderr,
        failing.stdout,
        failing.stderr,
        rejects.read_text(),
    ):
        assert SECRET_TOKEN not in output
        assert SECRET_TENANT not in output
    assert "(try 1 of 8 failed)" in env_debug.stderr
    assert "/dimensiondata/***" in env_debug.stderr


def test_about_lists_every_setting(tmp_path):
    result = run_cli({}, tmp_path, None, "--about", "--format", "json")
    settings = json.loads(result.stdout)["settings"]["properties"]
    for name in (
        "api_token",
        "region",
        "api_url",
        "tenant_token",
        "analytics_url",
        "object_mapping",
    ):
        assert name in settings
    assert settings["api_token"]["secret"] is True
    assert settings["tenant_token"]["secret"] is True


def test_the_cli_glue_is_connector_core_s():
    """`--test`, clean failures and config loading come from `ConnectorTarget`, not a copy."""
    [option] = [p for p in TargetPlanhat.get_singer_command().params if p.name == "test"]
    assert option.callback == TargetPlanhat.cb_test
    assert TargetPlanhat.cb_test.__func__ is ConnectorTarget.cb_test.__func__
    assert "cb_test" not in vars(TargetPlanhat)
    assert "get_singer_command" not in vars(TargetPlanhat)
