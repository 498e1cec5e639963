"""`tap-planful --test`: one cheap read per API family the configuration selects, one line each;
the first failure is one ERROR line naming the setting to fix, exit 1."""

from __future__ import annotations

import json

from tests.cli_failures import assert_clean_failure, free_port, run, write_files

from .helpers import ACCESS_TOKEN, PASSWORD, config_for, soap_config

TAP = "tap_planful"


def run_test(config, tmp_path, flag="--test"):
    return run(TAP, [*write_files(tmp_path, config=config), flag])


def passed(outcome) -> list[str]:
    return [line for line in outcome.stderr.splitlines() if line.startswith("ok: ")]


def every_family(url: str, **overrides):
    """SOAP, REST (data load rules, with the Access ID/Key) and Dynamic Planning."""
    return config_for(url, api_type="both") | soap_config(url, api_type="both") | overrides


def test_every_family_the_config_selects_is_read_once(planful, tmp_path):
    outcome = run_test(every_family(planful.url), tmp_path)
    assert outcome.returncode == 0, outcome.stderr[-3000:]
    assert [line.split(" at ")[0] for line in passed(outcome)] == [
        "ok: Planful Structured Planning web service (SOAP)",
        "ok: Planful Structured Planning REST API",
        "ok: Planful Dynamic Planning API",
    ]
    assert not outcome.stdout  # nothing on the Singer stream
    paths = [request["path"] for request in planful.emulator.requests()]
    assert len(paths) == 3, paths


def test_rest_only_reads_the_rest_api_alone(planful, tmp_path):
    outcome = run_test(config_for(planful.url, api_type="structured"), tmp_path)
    assert outcome.returncode == 0, outcome.stderr[-3000:]
    assert [line.split(" at ")[0] for line in passed(outcome)] == [
        "ok: Planful Structured Planning REST API"
    ]
    assert f"at {planful.url}/financemodel/data/segments:" in passed(outcome)[0]


def test_a_refused_login_names_the_soap_credentials(planful, tmp_path):
    config = every_family(planful.url, password="not-the-" + PASSWORD)
    outcome = run_test(config, tmp_path)
    line = assert_clean_failure(outcome, "Connection test failed: Planful Structured Planning web")
    assert "Check `login_name`, `password` and `tenant_code`" in line
    assert "not-the-" not in outcome.stderr
    assert not passed(outcome)


def test_a_wrong_token_fails_after_the_families_that_passed(planful, tmp_path):
    outcome = run_test(every_family(planful.url, access_token="wrong-" + ACCESS_TOKEN), tmp_path)
    line = assert_clean_failure(outcome, "Connection test failed: Planful Dynamic Planning API")
    assert "check `access_token`" in line
    assert len(passed(outcome)) == 2


def test_an_emulator_that_is_not_running(tmp_path):
    port = free_port()
    outcome = run_test(every_family(f"http://127.0.0.1:{port}", retry_max_tries=8), tmp_path)
    line = assert_clean_failure(outcome, f"Nothing answers at http://127.0.0.1:{port}")
    assert "check `soap_url`" in line
    assert f"./run python -m sandbox serve planful --port {port}" in line


def test_an_unknown_setting_fails_the_test_with_the_closest_name(planful, tmp_path):
    outcome = run_test(every_family(planful.url, gl_lookbak_periods=2), tmp_path)
    line = assert_clean_failure(outcome, "`gl_lookbak_periods` is not a setting")
    assert "did you mean `gl_lookback_periods`?" in line
    assert not planful.emulator.requests()


def test_an_unknown_setting_is_a_warning_elsewhere(planful, tmp_path):
    outcome = run(TAP, [*write_files(tmp_path, config={"page_sise": 5}), "--discover"])
    assert outcome.returncode == 0, outcome.stderr[-3000:]
    assert "`page_sise` is not a setting; it is ignored." in outcome.stderr
    assert json.loads(outcome.stdout)["streams"]  # discovery stays offline


def test_missing_credentials_are_one_line(tmp_path):
    outcome = run_test({"api_type": "dynamic"}, tmp_path)
    line = assert_clean_failure(outcome, "Config validation failed: `access_token` is required")
    assert line.endswith("Fix the settings named (in the --config file, or with `meltano config`).")


def test_schema_mode_is_singer_sdks(planful, tmp_path):
    outcome = run_test(config_for(planful.url), tmp_path, "--test=schema")
    assert outcome.returncode == 0, outcome.stderr[-3000:]
    assert {message["type"] for message in outcome.messages} == {"SCHEMA"}
    assert not planful.emulator.requests()


def test_discovery_without_credentials_stays_offline_with_one_warning(tmp_path):
    outcome = run(TAP, [*write_files(tmp_path, config={}), "--discover"])
    assert outcome.returncode == 0, outcome.stderr[-3000:]
    warnings = [line for line in outcome.stderr.splitlines() if "| WARNING" in line]
    assert len(warnings) == 1, warnings
    assert "a sync or --test would fail: `access_id` is required" in warnings[0]
    assert "`subdomain` (or `api_url`) is required" in warnings[0]
    assert json.loads(outcome.stdout)["streams"]
