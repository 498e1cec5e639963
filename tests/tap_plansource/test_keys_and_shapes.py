"""Documented shapes: `links` as object or array with custom ids, keys that exist (never null,
never repeated within a sync), administrators through `changes_since`, payroll per subscriber."""

from __future__ import annotations

import datetime
import math
from collections import Counter

import pytest
from sandbox.plansource.app import DEFAULT_ORGANIZATION_ID
from tap_plansource.client import MissingKeyError

from .helpers import requests_to, run_tap, tap_config, visible_subscriber_ids

ALL_TIME = "2000-01-01T00:00:00Z"


@pytest.mark.parametrize("links_form", ["array", "object"])
@pytest.mark.parametrize("custom_id_links", [False, True])
def test_parent_ids_come_from_every_links_form(plansource, links_form, custom_id_links):
    plansource.emulator.configure(links_form=links_form, custom_id_links=custom_id_links)
    store = plansource.emulator.store
    sync = run_tap(tap_config(plansource), ["dependents", "beneficiaries"])
    dependents = sync.records["dependents"]
    assert dependents
    assert {r["id"]: r["subscriber_id"] for r in dependents} == {
        r["id"]: store.dependent_by_id[r["id"]].subscriber_id for r in dependents
    }
    beneficiaries = sync.records["beneficiaries"]
    seeded = {(b.id, b.coverage_id): b.subscriber_id for b in store.beneficiaries}
    assert beneficiaries
    assert {(r["id"], r["coverage_id"]): r["subscriber_id"] for r in beneficiaries} == {
        (r["id"], r["coverage_id"]): seeded[r["id"], r["coverage_id"]] for r in beneficiaries
    }
    if custom_id_links:
        codes = {s.id: s.subscriber_code for s in store.subscribers}
        assert all(r["subscriber_custom_id"] == codes[r["subscriber_id"]] for r in dependents)
        # The custom ids were resolved with one read of the subscribers, test employees too.
        listed = requests_to(plansource, "^/admin/v2/subscribers$")
        assert {r["query"]["include_test"][0] for r in listed} == {"true"}
    else:
        assert all("subscriber_custom_id" not in r for r in dependents)


def assert_keys_unique_and_filled(sync) -> None:
    for stream, records in sync.records.items():
        keys = sync.key_properties[stream]
        assert keys, stream
        values = [tuple(record.get(key) for key in keys) for record in records]
        nulls = [value for value in values if None in value]
        assert not nulls, f"{stream}: null key values {nulls[:3]}"
        repeated = [value for value, count in Counter(values).items() if count > 1]
        assert not repeated, f"{stream}: {len(repeated)} keys repeat, e.g. {repeated[:3]}"


@pytest.mark.parametrize("payroll_mode", ["bulk", "per_subscriber"])
def test_no_key_repeats_or_is_null_in_any_stream(plansource, payroll_mode):
    plansource.emulator.configure(custom_id_links=True)
    sync = run_tap(
        tap_config(
            plansource,
            start_date=ALL_TIME,
            plan_years=["previous", "current", "next"],
            include_test_employees=True,
            payroll_mode=payroll_mode,
        )
    )
    assert len(sync.records) == 18
    assert_keys_unique_and_filled(sync)
    # Superseded payroll rows are kept beside the current ones, told apart by `created_at`.
    payroll = sync.records["payroll_deductions"]
    assert any(not r["current"] for r in payroll)
    assert len(payroll) == len(plansource.emulator.store.payroll_coverages) - sum(
        1
        for p in plansource.emulator.store.payroll_coverages
        if plansource.emulator.store.subscriber_by_id[p.subscriber_id].organization_id
        != DEFAULT_ORGANIZATION_ID
    )


def test_enrollees_without_id_have_a_composite_key(plansource):
    store = plansource.emulator.store
    sync = run_tap(tap_config(plansource), ["aca_enrollees"])
    enrollees = sync.records["aca_enrollees"]
    assert sync.key_properties["aca_enrollees"] == ["subscriber_id", "covered_person", "start_date"]
    assert all("id" not in r for r in enrollees)
    assert {r["covered_person"] for r in enrollees if r["dependent_id"] is None} == {"subscriber"}
    in_org = visible_subscriber_ids(store, include_test=True)
    assert len(enrollees) == sum(1 for e in store.aca_enrollees if e.subscriber_id in in_org)
    plansource.emulator.configure(aca_enrollee_ids=True)
    with_ids = run_tap(tap_config(plansource), ["aca_enrollees"]).records["aca_enrollees"]
    assert [{k: v for k, v in r.items() if k != "id"} for r in with_ids] == enrollees, (
        "the same records and keys whether the API sends `id` or not"
    )


def test_a_record_without_its_key_stops_the_stream_naming_the_field(plansource):
    plansource.emulator.add_faults(
        [
            {
                "status": 200,
                "path": "^/admin/v2/aca/offers$",
                "body": {"status": "success", "errors": [], "data": [{"subscriber_id": 1}]},
            }
        ]
    )
    with pytest.raises(MissingKeyError, match=r"aca_offers: PlanSource sent a record without `id`"):
        run_tap(tap_config(plansource), ["aca_offers"])
    custom = {"name": "offers_again", "path": "/aca/offers", "primary_keys": ["offer_key"]}
    with pytest.raises(MissingKeyError, match=r"check `primary_keys` of custom stream"):
        run_tap(tap_config(plansource, custom_streams=[custom]), ["offers_again"])


def test_administrators_full_then_incremental(plansource):
    store = plansource.emulator.store
    own = {a.id for a in store.administrators if a.organization_id == DEFAULT_ORGANIZATION_ID}
    # A start_date does not shorten the first read: administrators are a list, not a history.
    first = run_tap(tap_config(plansource, start_date="2030-01-01"), ["administrators"])
    assert {r["id"] for r in first.records["administrators"]} == own
    request = requests_to(plansource, "^/admin/v2/administrators$")[0]
    started = datetime.datetime.fromisoformat(first.records["administrators"][0]["synced_at"])
    since_1970 = (started - datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)).total_seconds()
    assert int(request["query"]["changes_since"][0]) >= since_1970 / 60
    bookmark = first.state["bookmarks"]["administrators"]["replication_key_value"]
    # The SDK caps the bookmark at the moment the stream began, just before `synced_at`.
    assert started - datetime.timedelta(seconds=5) <= datetime.datetime.fromisoformat(bookmark)
    assert datetime.datetime.fromisoformat(bookmark) <= started

    plansource.emulator.request_log.clear()
    earlier = datetime.datetime.fromisoformat(bookmark) - datetime.timedelta(minutes=30)
    state = {"bookmarks": {"administrators": {**first.state["bookmarks"]["administrators"]}}}
    state["bookmarks"]["administrators"]["replication_key_value"] = earlier.isoformat()
    second = run_tap(tap_config(plansource, aca_overlap_minutes=5), ["administrators"], state)
    request = requests_to(plansource, "^/admin/v2/administrators$")[0]
    minutes = int(request["query"]["changes_since"][0])
    assert minutes in {31 + 5, 32 + 5}, "minutes since the previous run started, plus the overlap"
    cutoff = plansource.emulator.now() - minutes * 60
    expected = {
        a.id
        for a in store.administrators
        if a.organization_id == DEFAULT_ORGANIZATION_ID and a.updated_at >= cutoff
    }
    assert {r["id"] for r in second.records["administrators"]} == expected
    assert len(expected) < len(own)


def test_per_subscriber_payroll_equals_bulk(plansource):
    config = tap_config(plansource, start_date=ALL_TIME, prefetch_pages=3)
    bulk = run_tap({**config, "payroll_mode": "bulk"}, ["payroll_deductions"])
    plansource.emulator.request_log.clear()
    per_subscriber = run_tap({**config, "payroll_mode": "per_subscriber"}, ["payroll_deductions"])
    key = ("subscriber_id", "benefit_lookup_code", "change_effective_date", "created_at")

    def ordered(records):
        return sorted(records, key=lambda r: tuple(str(r[k]) for k in key))

    assert ordered(per_subscriber.records["payroll_deductions"]) == ordered(
        bulk.records["payroll_deductions"]
    )
    assert per_subscriber.state == bulk.state
    visible = visible_subscriber_ids(plansource.emulator.store)
    calls = requests_to(plansource, "^/admin/v2/payroll_coverages_subscriber/")
    assert sorted(int(c["path"].rsplit("/", 1)[1]) for c in calls) == sorted(visible)
    assert all("page" not in c["query"] for c in calls)
    assert {c["query"]["start_date"][0] for c in calls} == {"1999-12-25"}  # minus the lookback


def test_first_payroll_run_without_start_date_reads_a_bounded_window(plansource):
    run_tap(tap_config(plansource, payroll_mode="bulk"), ["payroll_deductions"])
    (first, *_) = requests_to(plansource, "^/admin/v2/payroll_coverages_subscribers$")
    today = datetime.datetime.now(datetime.UTC).date()
    assert first["query"]["start_date"] == [f"{today.year - 1}-01-01"]


def test_a_subscriber_gone_before_its_payroll_is_read_is_counted(plansource, caplog):
    plansource.emulator.add_faults(
        [
            {
                "status": 404,
                "path": "^/admin/v2/payroll_coverages_subscriber/",
                "body": {
                    "status": "failure",
                    "errors": {"http_status": 404, "message": "Employee not found"},
                },
            }
        ]
    )
    sync = run_tap(tap_config(plansource, start_date=ALL_TIME), ["payroll_deductions"])
    assert sync.records["payroll_deductions"]
    assert any(
        "payroll_deductions: 1 subscriber(s) listed but gone (404)" in r.getMessage()
        for r in caplog.records
    )
    assert math.isfinite(len(sync.records["payroll_deductions"]))
