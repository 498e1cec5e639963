"""Each failure a user can cause ends the tap-planful CLI with one ERROR line naming what to fix,
exit code 1 and no traceback; SIGTERM and SIGINT end it with 128 + the signal, not 0."""

from __future__ import annotations

import pytest
from planful_plansource_planhat_core.retry import UNREACHABLE_TRIES
from sandbox.core import Fault

from tests.cli_failures import SIGNALS, assert_clean_failure, free_port, run, stopped, write_files

from .helpers import catalog_selecting, config_for, soap_config

TAP = "tap_planful"


def run_tap(config, streams, tmp_path):
    catalog = catalog_selecting(config, streams)
    return run(TAP, write_files(tmp_path, config=config, catalog=catalog))


def test_a_bad_setting(tmp_path):
    config = config_for("http://planful.example.com")
    outcome = run(TAP, write_files(tmp_path, config=config))
    line = assert_clean_failure(outcome, "`api_url` plain http:// sends credentials in clear")
    assert "`dynamic_api_url`" in line  # every wrong setting, on the same line


def test_an_unreachable_host_is_given_up_after_a_few_quick_tries(tmp_path):
    """Refused connections: 3 tries whatever `retry_max_tries` (a minute's first wait would
    time the test out), and the line names the URL setting and the emulator to start."""
    port = free_port()
    config = config_for(f"http://127.0.0.1:{port}", retry_max_tries=8, retry_initial_wait=60)
    outcome = run_tap(config, {"currencies"}, tmp_path)
    line = assert_clean_failure(outcome, f"Nothing answers at http://127.0.0.1:{port}")
    assert "(connection refused): check `api_url`." in line
    assert f"`./run python -m sandbox serve planful --port {port}`" in line
    assert outcome.stderr.count("| WARNING  | tap-planful.currencies") == UNREACHABLE_TRIES - 1


def test_an_unknown_host_names_the_setting(tmp_path):
    config = config_for("http://127.0.0.1", api_url="https://no-such-host.invalid")
    outcome = run_tap(config, {"currencies"}, tmp_path)
    line = assert_clean_failure(outcome, "Nothing answers at https://no-such-host.invalid")
    assert "(unknown host): check `api_url`." in line
    assert "sandbox" not in line


def test_the_traceback_shows_at_debug_level(tmp_path):
    config = config_for(f"http://127.0.0.1:{free_port()}", retry_max_tries=1)
    arguments = write_files(
        tmp_path, config=config, catalog=catalog_selecting(config, {"currencies"})
    )
    outcome = run(TAP, arguments, env={"TAP_PLANFUL_LOGLEVEL": "debug"})
    assert outcome.returncode == 1
    assert "Nothing answers at http://127.0.0.1:" in outcome.errors[-1]  # SDK lines too, at debug
    assert "Traceback of the error above" in outcome.stderr
    assert "Traceback (most recent call last)" in outcome.stderr


def test_tls_to_a_host_that_speaks_no_tls(planful, tmp_path):
    config = config_for(planful.url.replace("http://", "https://"), retry_max_tries=1)
    outcome = run_tap(config, {"currencies"}, tmp_path)
    assert_clean_failure(outcome, f"TLS failed with https://127.0.0.1:{planful.port}")


def test_exhausted_retries(planful, tmp_path):
    planful.emulator.configure(maintenance=True)
    outcome = run_tap(config_for(planful.url), {"currencies"}, tmp_path)
    line = assert_clean_failure(
        outcome, "Planful answered 503 to GET /financemodel/data/currencies"
    )
    assert "still failing after every retry" in line
    assert "`retry_max_tries`" in line


def test_an_api_fault(planful, tmp_path):
    planful.emulator.add_faults([Fault(status=403, path="currencies", body={"Message": "No."})])
    outcome = run_tap(config_for(planful.url), {"currencies"}, tmp_path)
    line = assert_clean_failure(outcome, "Planful answered 403 to GET")
    assert "`access_id` and `access_key`" in line


def test_a_soap_fault(planful, tmp_path):
    config = soap_config(planful.url, password="wrong-password")
    outcome = run_tap(config, {"segments"}, tmp_path)
    line = assert_clean_failure(outcome, "Planful refused the web-service login")
    assert "wrong-password" not in outcome.stderr
    assert "`login_name`, `password` and `tenant_code`" in line


@pytest.mark.parametrize(("signum", "code"), SIGNALS)
def test_a_stop_signal_ends_the_run_not_successfully(planful, tmp_path, signum, code):
    planful.emulator.configure(latency_ms=300)
    config = config_for(planful.url, scenarios=["Actual"])
    arguments = write_files(tmp_path, config=config, catalog=catalog_selecting(config, {"gl_data"}))
    outcome = stopped(TAP, arguments, signum, "gl_data")
    assert_clean_failure(outcome, f"Stopped by {signum.name}: the run did not finish", code)
    assert not any(
        m["type"] == "STATE" and m["value"].get("bookmarks", {}).get("gl_data")
        for m in outcome.messages
    )


def test_rows_past_the_configured_fiscal_periods(planful, tmp_path):
    """A 13-period tenant read with the default 12 periods (emulator switch `fiscal_periods`)."""
    planful.emulator.configure(fiscal_periods=13)
    config = soap_config(
        planful.url, scenarios=["2025 Budget"], start_fiscal_year=2025, end_fiscal_year=2025
    )
    outcome = run_tap(config, {"gl_data"}, tmp_path)
    line = assert_clean_failure(outcome, "rows in fiscal period 13 of 2025")
    assert "set `fiscal_periods_per_year`" in line
    assert not [m for m in outcome.messages if m["type"] == "STATE" and "gl_data" in str(m)]
