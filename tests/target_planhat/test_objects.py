"""Every Planhat object, written by its behaviour, lands in the emulator as Planhat stores it."""

from __future__ import annotations

import pytest
from target_planhat.objects import OBJECTS

from tests.target_planhat.examples import EXAMPLES, key_properties
from tests.target_planhat.helpers import config_for, messages, run_target

MAIN_OBJECTS = [name for name, obj in OBJECTS.items() if obj.host == "main"]


def _acme_id(emulator) -> str:
    return next(c["_id"] for c in emulator.records("companies") if c["externalId"] == "ACME-001")


def test_every_object_has_an_example():
    assert set(EXAMPLES) == set(OBJECTS)


@pytest.mark.parametrize("name", MAIN_OBJECTS)
def test_upsert_creates_then_rerun_changes_nothing(planhat, name):
    record = EXAMPLES[name]
    lines = messages(name, [record], key_properties(record))
    before = len(planhat.emulator.records(name))

    first = run_target(config_for(planhat.url), lines)
    assert first.counts[name]["created"] == 1
    assert first.counts[name]["rejected"] == 0
    assert len(planhat.emulator.records(name)) == before + 1

    if OBJECTS[name].keyless_creates:
        return  # conversations match on `_id` only: covered by the next test
    second = run_target(config_for(planhat.url), lines)
    assert second.counts[name]["created"] == 0
    assert second.counts[name]["updated"] + second.counts[name]["unchanged"] == 1
    assert len(planhat.emulator.records(name)) == before + 1


def test_conversation_with_id_updates_and_without_id_creates(planhat):
    config = config_for(planhat.url)
    run_target(config, messages("conversations", [EXAMPLES["conversations"]]))
    stored = planhat.emulator.records("conversations")[-1]
    count = len(planhat.emulator.records("conversations"))

    update = {"_id": stored["_id"], "subject": "QBR (rescheduled)"}
    run = run_target(config, messages("conversations", [update], ["_id"]))
    assert run.counts["conversations"]["updated"] == 1
    assert len(planhat.emulator.records("conversations")) == count
    assert planhat.emulator.records("conversations")[-1]["subject"] == "QBR (rescheduled)"


def test_child_records_reference_their_company_without_lookups(planhat):
    acme = _acme_id(planhat.emulator)
    lines = []
    for name in ("endusers", "licenses", "opportunities", "projects", "assets", "tasks"):
        lines += messages(name, [EXAMPLES[name]], key_properties(EXAMPLES[name]))
    run_target(config_for(planhat.url), lines)
    for name in ("endusers", "licenses", "opportunities", "projects", "assets", "tasks"):
        stored = planhat.emulator.records(name)[-1]
        assert stored["companyId"] == acme, name
        assert "companyExternalId" not in stored
    assert planhat.emulator.requests(method="GET") == []


def test_nps_and_invoices_use_cid_issues_use_company_ids(planhat):
    acme = _acme_id(planhat.emulator)
    lines = []
    for name in ("nps", "invoices", "issues"):
        lines += messages(name, [EXAMPLES[name]], key_properties(EXAMPLES[name]))
    run_target(config_for(planhat.url), lines)
    assert planhat.emulator.records("nps")[-1]["cId"] == acme
    invoice = planhat.emulator.records("invoices")[-1]
    assert invoice["cId"] == acme
    assert invoice["extId"] == "INV-2024-001"
    assert (invoice["invoiceDate"], invoice["dueDate"]) == (19753, 19782)  # days since 1970-01-01
    assert planhat.emulator.records("issues")[-1]["companyIds"] == [acme]


def test_invoice_dates_typed_as_dates_become_day_numbers(planhat):
    record = {**EXAMPLES["invoices"], "externalId": "INV-2", "paidDate": "2024-02-10"}
    date = {"type": "string", "format": "date"}
    lines = messages("invoices", [record], ["externalId"], {"invoiceDate": date, "paidDate": date})
    run_target(config_for(planhat.url), lines)
    invoice = planhat.emulator.records("invoices")[-1]
    assert (invoice["invoiceDate"], invoice["paidDate"]) == (19753, 19763)


def test_datetimes_are_sent_as_iso_strings(planhat):
    record = {**EXAMPLES["tasks"], "endTime": "2024-04-01T10:30:00+00:00"}
    timestamp = {"type": "string", "format": "date-time"}
    lines = messages(
        "tasks", [record], ["externalId"], {"startTime": timestamp, "endTime": timestamp}
    )
    run_target(config_for(planhat.url), lines)
    task = planhat.emulator.records("tasks")[-1]
    assert task["startTime"].startswith("2024-04-01T09:00:00")
    assert task["endTime"].startswith("2024-04-01T10:30:00")


def test_metrics_and_activities_are_sent_to_the_analytics_host(planhat):
    metric, activity = EXAMPLES["metrics"], EXAMPLES["activities"]
    lines = messages("metrics", [metric, {**metric, "value": 43}]) + messages(
        "activities", [activity]
    )
    run = run_target(config_for(planhat.url), lines)
    assert run.counts["metrics"]["sent"] == 2
    assert run.counts["activities"]["sent"] == 1
    points = planhat.emulator.records("metric_points")
    assert [(p["dimensionId"], p["value"]) for p in points[-2:]] == [
        ("active_users", 42),
        ("active_users", 43),
    ]
    assert planhat.emulator.records("activities")[-1]["action"] == "Logged in"
    sent = [r["path"] for r in planhat.emulator.requests(method="POST")]
    assert all(path.startswith(("/dimensiondata/", "/analytics/bulk/")) for path in sent)


def test_metrics_rerun_appends(planhat):
    lines = messages("metrics", [EXAMPLES["metrics"]])
    run_target(config_for(planhat.url), lines)
    run_target(config_for(planhat.url), lines)
    assert len(planhat.emulator.records("metric_points")) == 2
