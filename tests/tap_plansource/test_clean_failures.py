"""Each failure a user can cause ends the tap-plansource CLI with one ERROR line naming what to
fix, exit code 1 and no traceback; SIGTERM and SIGINT end it with 128 + the signal, not 0."""

from __future__ import annotations

import pytest
from planful_plansource_planhat_core.retry import UNREACHABLE_TRIES
from sandbox.core import Fault

from tests.cli_failures import SIGNALS, assert_clean_failure, free_port, run, stopped, write_files

from .helpers import built_in_catalog, tap_config

TAP = "tap_plansource"


def arguments(config, streams, tmp_path):
    return write_files(tmp_path, config=config, catalog=built_in_catalog(config, streams))


def run_tap(config, streams, tmp_path):
    return run(TAP, arguments(config, streams, tmp_path))


def test_bad_settings_are_one_line(tmp_path):
    config = {"client_id": "x", "page_size": 0}
    outcome = run(TAP, write_files(tmp_path, config=config))
    line = assert_clean_failure(outcome, "Config validation failed")
    assert "config['page_size']" in line
    assert "'client_secret' is a required property" in line
    config = {**tap_config(type("R", (), {"url": "http://plansource.example.com"}))}
    outcome = run(TAP, write_files(tmp_path, config=config))
    assert_clean_failure(outcome, "`api_url` plain http:// sends credentials in clear")


def test_an_unreachable_host_is_given_up_after_a_few_quick_tries(tmp_path):
    port = free_port()
    config = {
        **tap_config(type("R", (), {"url": f"http://127.0.0.1:{port}"})),
        "retry_max_tries": 8,
        "retry_initial_wait": 60,
    }
    outcome = run_tap(config, ["organizations"], tmp_path)
    line = assert_clean_failure(
        outcome, f"No PlanSource access token: Nothing answers at http://127.0.0.1:{port}"
    )
    assert "(connection refused): check `environment` (or `api_url`)" in line
    assert f"`./run python -m sandbox serve plansource --port {port}`" in line
    assert outcome.stderr.count("Retrying the PlanSource token request") == UNREACHABLE_TRIES - 1


def test_tls_to_a_host_that_speaks_no_tls(plansource, tmp_path):
    config = tap_config(plansource, retry_max_tries=1)
    config["api_url"] = config["api_url"].replace("http://", "https://")
    outcome = run_tap(config, ["organizations"], tmp_path)
    line = assert_clean_failure(outcome, f"TLS failed with https://127.0.0.1:{plansource.port}")
    assert "wrong version number" in line


def test_exhausted_retries(plansource, tmp_path):
    plansource.emulator.add_faults([Fault(status=503, path="/organizations", times=10)])
    outcome = run_tap(tap_config(plansource, retry_max_tries=2), ["organizations"], tmp_path)
    line = assert_clean_failure(outcome, "PlanSource answered 503 to GET /admin/v2/organizations")
    assert "`retry_max_tries`" in line


def test_an_api_fault(plansource, tmp_path):
    plansource.emulator.add_faults(
        [Fault(status=403, path="/organizations", body={"errors": {"message": "Forbidden"}})]
    )
    outcome = run_tap(tap_config(plansource), ["organizations"], tmp_path)
    line = assert_clean_failure(outcome, "PlanSource answered 403 to GET /admin/v2/organizations")
    assert "ask your PlanSource administrator" in line


def test_an_unreadable_meta_stops_a_sync_before_any_person_leaves(plansource, tmp_path):
    """Which tenant fields hold SSNs is unknown: nothing of the stream is emitted."""
    plansource.emulator.configure(tenant_fields=True)
    plansource.emulator.add_faults(
        [Fault(status=403, path="/subscriber/meta", body={"errors": {"message": "Forbidden"}})]
    )
    outcome = run_tap(tap_config(plansource), ["subscribers"], tmp_path)
    line = assert_clean_failure(outcome, "subscribers: could not read GET /subscriber/meta")
    assert "403" in line
    assert "`discover_tenant_fields: false`" in line
    assert '"type": "RECORD"' not in outcome.stdout
    ssns = {s.ssn for s in plansource.emulator.store.subscribers}
    assert not any(ssn in outcome.stdout for ssn in ssns)


def test_refused_credentials(plansource, tmp_path):
    outcome = run_tap(
        tap_config(plansource, client_secret="not-the-secret"), ["organizations"], tmp_path
    )
    assert_clean_failure(outcome, "PlanSource refused to issue an access token")
    assert "not-the-secret" not in outcome.stderr


def test_old_retry_setting_names_still_work_with_a_warning(plansource, tmp_path):
    config = tap_config(plansource)
    del config["retry_max_tries"], config["retry_initial_wait"]
    config.update(max_retries=0, retry_initial_delay=0.01)
    plansource.emulator.add_faults([Fault(status=503, path="/organizations", times=10)])
    outcome = run_tap(config, ["organizations"], tmp_path)
    assert "Setting `max_retries` is deprecated" in outcome.stderr
    assert "Setting `retry_initial_delay` is deprecated" in outcome.stderr
    assert_clean_failure(outcome, "Tried 1 times")  # max_retries 0 = one try


@pytest.mark.parametrize(("signum", "code"), SIGNALS)
def test_a_stop_signal_ends_the_run_not_successfully(plansource, tmp_path, signum, code):
    plansource.emulator.configure(latency_ms=200)
    config = tap_config(plansource, page_size=5, prefetch_pages=0)
    outcome = stopped(TAP, arguments(config, ["subscribers"], tmp_path), signum, "page 2")
    assert_clean_failure(outcome, f"Stopped by {signum.name}: the run did not finish", code)
    assert not [m for m in outcome.messages if m["type"] == "STATE" and m["value"].get("bookmarks")]
