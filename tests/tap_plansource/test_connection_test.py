"""`tap-plansource --test`: a token, then one small read, one line each; the first failure is one
ERROR line naming the setting to fix, exit 1. Discovery without credentials is one line too."""

from __future__ import annotations

from tests.cli_failures import assert_clean_failure, free_port, run, write_files

from .helpers import tap_config

TAP = "tap_plansource"


def run_test(config, tmp_path, *flags):
    return run(TAP, [*write_files(tmp_path, config=config), *(flags or ("--test",))])


def passed(outcome) -> list[str]:
    return [line for line in outcome.stderr.splitlines() if line.startswith("ok: ")]


def test_a_token_and_one_read(plansource, tmp_path):
    outcome = run_test(tap_config(plansource), tmp_path)
    assert outcome.returncode == 0, outcome.stderr[-3000:]
    assert passed(outcome) == [
        f"ok: PlanSource token endpoint at {plansource.url}/oauth/v2/token: issued a token "
        "for 'sandbox.admin'",
        f"ok: PlanSource Admin API at {plansource.url}/admin/v2/organizations: read 1 "
        "organization(s)",
    ]
    assert [request["path"] for request in plansource.emulator.requests()] == [
        "/oauth/v2/token",
        "/admin/v2/organizations",
    ]


def test_a_wrong_secret_names_the_credentials(plansource, tmp_path):
    config = tap_config(plansource, client_secret="not-the-secret-0123456789abcdef0123456789")
    outcome = run_test(config, tmp_path)
    line = assert_clean_failure(outcome, "Connection test failed: PlanSource token endpoint")
    assert "Check `client_id`, `client_secret`, `username`" in line
    assert "not-the-secret" not in outcome.stderr
    assert not passed(outcome)


def test_an_emulator_that_is_not_running(tmp_path):
    port = free_port()
    config = {
        **tap_config(type("R", (), {"url": f"http://127.0.0.1:{port}"})),
        "retry_max_tries": 8,
    }
    outcome = run_test(config, tmp_path)
    line = assert_clean_failure(outcome, f"Nothing answers at http://127.0.0.1:{port}")
    assert "check `environment` (or `api_url`)" in line
    assert f"./run python -m sandbox serve plansource --port {port}" in line


def test_an_unknown_setting_fails_the_test_with_the_closest_name(plansource, tmp_path):
    outcome = run_test(tap_config(plansource, page_sise=5), tmp_path)
    assert_clean_failure(outcome, "`page_sise` is not a setting (did you mean `page_size`?)")
    assert not plansource.emulator.requests()


def test_a_misspelt_variable_is_named_and_fails_the_test(plansource, tmp_path):
    """Meltano and singer-sdk read exact names only: `..._SECERT` would be silently ignored."""
    env = {"TAP_PLANSOURCE_CLIENT_SECERT": "x", "TAP_PLANSOURCE__SELECT": "[]"}
    config = write_files(tmp_path, config=tap_config(plansource))
    outcome = run(TAP, [*config, "--test"], env=env)
    line = assert_clean_failure(outcome, "Environment variable TAP_PLANSOURCE_CLIENT_SECERT is not")
    assert "(did you mean TAP_PLANSOURCE_CLIENT_SECRET?)" in line
    assert not plansource.emulator.requests()
    outcome = run(TAP, [*config, "--discover"], env=env)
    assert outcome.returncode == 0, outcome.stderr[-3000:]
    warnings = [line for line in outcome.stderr.splitlines() if "| WARNING" in line]
    assert len(warnings) == 1, warnings
    assert "TAP_PLANSOURCE_CLIENT_SECERT is not a setting and is ignored" in warnings[0]


def test_discovery_without_credentials_is_one_line(tmp_path):
    outcome = run(TAP, [*write_files(tmp_path, config={}), "--discover"])
    line = assert_clean_failure(outcome, "`client_id`, `client_secret`, `username` must be set")
    assert "`discover_tenant_fields: false` to discover offline" in line


def test_discovery_without_tenant_fields_needs_no_credentials(tmp_path):
    config = {"discover_tenant_fields": False}
    outcome = run(TAP, [*write_files(tmp_path, config=config), "--discover"])
    assert outcome.returncode == 0, outcome.stderr[-3000:]
    assert '"tap_stream_id": "organizations"' in outcome.stdout.replace('":"', '": "')


def test_a_sync_without_credentials_is_one_line(tmp_path):
    outcome = run(TAP, write_files(tmp_path, config={"environment": "development"}))
    line = assert_clean_failure(outcome, "'client_id' is a required property")
    assert line.endswith("Fix the settings named (in the --config file, or with `meltano config`).")
