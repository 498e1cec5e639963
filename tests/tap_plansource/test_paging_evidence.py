"""Empty pages that contradict the paging evidence: asked again, else the run fails without a
bookmark past the unread rows; two runs never lose a row."""

from __future__ import annotations

import pytest
from tap_plansource.paging import PageGapError

from .helpers import requests_to, run_cli, run_tap, tap_config, visible_subscriber_ids

PAYROLL = "^/admin/v2/payroll_coverages_subscribers$"
SUBSCRIBERS = "^/admin/v2/subscribers$"


def payroll_config(plansource, **overrides):
    return tap_config(
        plansource,
        start_date="2000-01-01T00:00:00Z",
        payroll_mode="bulk",
        page_size=50,
        **overrides,
    )


def payroll_keys(records):
    return {
        (
            r["subscriber_id"],
            r["benefit_lookup_code"],
            r["org_plan_year_starts"],
            r["change_effective_date"],
            r["created_at"],
        )
        for r in records
    }


def visible_payroll_count(plansource) -> int:
    visible = visible_subscriber_ids(plansource.emulator.store)
    return sum(1 for p in plansource.emulator.store.payroll_coverages if p.subscriber_id in visible)


@pytest.mark.parametrize(("path", "stream"), [(PAYROLL, "payroll_deductions")])
def test_an_empty_page_against_total_and_next_is_asked_again(plansource, path, stream, caplog):
    plansource.emulator.configure(empty_pages=[{"path": path, "page": 3, "times": 2}])
    sync = run_tap(payroll_config(plansource), [stream])
    assert len(sync.records[stream]) == visible_payroll_count(plansource)
    pages = [int(r["query"]["page"][0]) for r in requests_to(plansource, path)]
    assert pages.count(3) == 3, "page 3 was asked three times"
    assert any(
        "came back empty although its `total` says" in r.getMessage() for r in caplog.records
    )


def test_an_empty_page_followed_by_records_is_asked_again(plansource):
    """`/subscribers` has no paging metadata: the page after the empty one is the evidence."""
    plansource.emulator.configure(empty_pages=[{"path": SUBSCRIBERS, "page": 2}])
    sync = run_tap(tap_config(plansource, page_size=10), ["subscribers"])
    visible = visible_subscriber_ids(plansource.emulator.store)
    assert sorted(r["id"] for r in sync.records["subscribers"]) == sorted(visible)


def test_an_empty_last_page_still_ends_the_stream(plansource):
    sync = run_tap(tap_config(plansource, page_size=10, prefetch_pages=0), ["subscribers"])
    visible = visible_subscriber_ids(plansource.emulator.store)
    assert len(sync.records["subscribers"]) == len(visible)
    pages = sorted(int(r["query"]["page"][0]) for r in requests_to(plansource, SUBSCRIBERS))
    last_full = -(-len(visible) // 10)
    # The empty page is confirmed by the one after it, which is empty too.
    assert pages == [*range(1, last_full + 1), last_full + 1, last_full + 2]


def test_an_empty_page_that_stays_empty_fails_without_a_bookmark(plansource):
    plansource.emulator.configure(empty_pages=[{"path": PAYROLL, "page": 3, "times": None}])
    messages = []
    with pytest.raises(PageGapError, match=r"page 3 of GET /payroll_coverages_subscribers"):
        run_tap(
            payroll_config(plansource, retry_max_tries=3), ["payroll_deductions"], sink=messages
        )
    states = [m["value"] for m in messages if m["type"] == "STATE"]
    bookmarks = [s.get("bookmarks", {}).get("payroll_deductions", {}) for s in states]
    assert all("replication_key_value" not in b for b in bookmarks), bookmarks


def test_a_failed_run_keeps_the_previous_bookmark(plansource):
    config = payroll_config(plansource, retry_max_tries=2)
    state = run_tap(config, ["payroll_deductions"]).state
    bookmark = state["bookmarks"]["payroll_deductions"]["replication_key_value"]
    plansource.emulator.configure(empty_pages=[{"path": PAYROLL, "page": 3, "times": None}])
    messages = []
    with pytest.raises(PageGapError):
        run_tap(config, ["payroll_deductions"], state=state, sink=messages)
    for message in messages:
        if message["type"] == "STATE":
            kept = message["value"]["bookmarks"]["payroll_deductions"]
            assert kept.get("replication_key_value") in {None, bookmark}


def test_two_runs_with_an_empty_page_lose_nothing(plansource):
    config = payroll_config(plansource, retry_max_tries=2)
    plansource.emulator.configure(empty_pages=[{"path": PAYROLL, "page": 3, "times": None}])
    first = []
    with pytest.raises(PageGapError):
        run_tap(config, ["payroll_deductions"], sink=first)
    state = next((m["value"] for m in reversed(first) if m["type"] == "STATE"), {})
    plansource.emulator.configure(empty_pages=[])
    second = run_tap(config, ["payroll_deductions"], state=state)
    read = [m["record"] for m in first if m["type"] == "RECORD"]
    read += second.records["payroll_deductions"]
    assert len(payroll_keys(read)) == visible_payroll_count(plansource)


def test_the_cli_exits_1_with_one_line_and_no_state_past_the_gap(plansource, tmp_path):
    plansource.emulator.configure(empty_pages=[{"path": SUBSCRIBERS, "page": 2, "times": None}])
    config = tap_config(plansource, page_size=10, retry_max_tries=2)
    run = run_cli(config, ["subscribers"], tmp_path)
    assert run.returncode == 1
    errors = [line for line in run.stderr.splitlines() if "| ERROR" in line]
    # One line says why (the SDK's own "unhandled error" line only shows at debug level).
    assert len(errors) == 1
    assert "PlanSource answered page 2 of GET /subscribers with no records 2 times" in errors[0]
    assert "page 3 has records" in errors[0]
    assert "Traceback" not in run.stderr
    assert len(run.records("subscribers")) == 10
