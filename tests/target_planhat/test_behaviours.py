"""Sync keys, update-only and company references."""

from __future__ import annotations

import pytest

from tests.target_planhat.helpers import config_for, messages, read_rejects, run_target


def _company(emulator, external_id):
    return next(c for c in emulator.records("companies") if c.get("externalId") == external_id)


def test_without_sync_key_planhat_matches_source_id_before_external_id(planhat):
    # sourceId names Acme, the externalId is new: Acme is updated (and re-keyed), nothing created.
    record = {"sourceId": "0015g00000AcmeAAA", "externalId": "ACME-NEW", "phase": "Renewal"}
    before = len(planhat.emulator.records("companies"))
    run = run_target(config_for(planhat.url), messages("companies", [record], ["sourceId"]))
    assert (run.counts["companies"]["created"], run.counts["companies"]["updated"]) == (0, 1)
    assert len(planhat.emulator.records("companies")) == before
    acme = next(
        c for c in planhat.emulator.records("companies") if c["sourceId"] == record["sourceId"]
    )
    assert (acme["externalId"], acme["phase"]) == ("ACME-NEW", "Renewal")


def test_configured_sync_key_is_the_one_planhat_matches_on(planhat):
    record = {"sourceId": "0015g00000AcmeAAA", "externalId": "GLOBEX-002", "phase": "Renewal"}
    mapping = {"companies": {"sync_key": "externalId"}}
    config = config_for(planhat.url, object_mapping=mapping)
    run = run_target(config, messages("companies", [record], ["externalId"]))
    assert run.counts["companies"]["updated"] == 1
    assert _company(planhat.emulator, "GLOBEX-002")["phase"] == "Renewal"
    assert _company(planhat.emulator, "ACME-001").get("phase") != "Renewal"
    sent = planhat.emulator.requests(path="^/companies$")[0]["body"]
    assert sent == [{"externalId": "GLOBEX-002", "phase": "Renewal"}]


def test_records_without_the_sync_key_are_rejected_not_created(planhat, tmp_path):
    rejects = tmp_path / "rejects.jsonl"
    records = [{"name": "No Key Inc"}, {"externalId": "", "name": "Empty Key"}]
    config = config_for(planhat.url, rejects_file=str(rejects))
    before = len(planhat.emulator.records("companies"))
    run = run_target(config, messages("companies", records))
    assert run.counts["companies"]["rejected"] == 2
    assert len(planhat.emulator.records("companies")) == before
    assert [r["record"] for r in read_rejects(rejects)] == records
    assert "none of the sync keys" in read_rejects(rejects)[0]["error"]


def test_stream_mapped_to_an_object_with_a_sync_key(planhat):
    mapping = {"crm_accounts": {"object": "companies", "sync_key": "sourceId"}}
    record = {"sourceId": "0015g00000InitechA", "name": "Initech (renamed)"}
    run = run_target(
        config_for(planhat.url, object_mapping=mapping),
        messages("crm_accounts", [record], ["sourceId"]),
    )
    assert run.counts["crm_accounts"]["updated"] == 1
    assert _company(planhat.emulator, "INITECH-003")["name"] == "Initech (renamed)"


def test_update_only_updates_matches_and_skips_the_rest(planhat, tmp_path):
    rejects = tmp_path / "rejects.jsonl"
    mapping = {"companies": {"behavior": "update", "sync_key": "externalId"}}
    records = [
        {"externalId": "ACME-001", "phase": "Expansion"},
        {"externalId": "NOPE-404", "name": "Would be created by an upsert"},
        {"externalId": "GLOBEX-002", "phase": "Renewal"},
    ]
    before = len(planhat.emulator.records("companies"))
    config = config_for(planhat.url, object_mapping=mapping, rejects_file=str(rejects))
    run = run_target(config, messages("companies", records, ["externalId"]))

    assert run.counts["companies"]["updated"] == 2
    assert run.counts["companies"]["skipped"] == 1
    assert run.counts["companies"]["created"] == 0
    assert len(planhat.emulator.records("companies")) == before
    assert _company(planhat.emulator, "ACME-001")["phase"] == "Expansion"
    [skipped] = read_rejects(rejects)
    assert skipped["outcome"] == "skipped"
    assert skipped["record"] == records[1]
    sent = planhat.emulator.requests(path="^/companies$", method="PUT")[0]["body"]
    assert {item["externalId"] for item in sent} == {"ACME-001", "GLOBEX-002"}
    assert all(len(item["_id"]) == 24 for item in sent)
    assert planhat.emulator.requests(path="^/leancompanies$")


def test_update_only_on_a_child_object_matches_by_source_id(planhat):
    config = config_for(planhat.url)
    churn = {"sourceId": "CH-1", "companyExternalId": "ACME-001", "value": 10}
    run_target(config, messages("churn", [churn], ["sourceId"]))
    mapping = {"churn": {"behavior": "update"}}
    updates = [{"sourceId": "CH-1", "value": 20}, {"sourceId": "CH-404", "value": 30}]
    run = run_target(
        config_for(planhat.url, object_mapping=mapping), messages("churn", updates, ["sourceId"])
    )
    assert (run.counts["churn"]["updated"], run.counts["churn"]["skipped"]) == (1, 1)
    assert [c["value"] for c in planhat.emulator.records("churn")] == [20]


@pytest.mark.parametrize(
    ("reference", "value"),
    [
        ("companyExternalId", "GLOBEX-002"),
        ("companySourceId", "0015g00000GlobexAA"),
        ("companyId", None),  # filled with Globex's ObjectId
    ],
)
def test_company_reference_by_each_key(planhat, reference, value):
    globex = _company(planhat.emulator, "GLOBEX-002")["_id"]
    record = {"externalId": "LIC-9", "_currency": "EUR", "fromDate": "2024-01-01", "mrr": 99}
    record[reference] = value or globex
    run = run_target(config_for(planhat.url), messages("licenses", [record], ["externalId"]))
    assert run.counts["licenses"]["created"] == 1
    assert planhat.emulator.records("licenses")[-1]["companyId"] == globex
    sent = planhat.emulator.requests(path="^/licenses$")[0]["body"][0]
    expected = {
        "companyExternalId": "extid-GLOBEX-002",
        "companySourceId": "srcid-0015g00000GlobexAA",
    }
    assert sent["companyId"] == expected.get(reference, globex)
    assert reference == "companyId" or reference not in sent


def test_metrics_without_a_company_external_id_are_rejected(planhat, tmp_path):
    rejects = tmp_path / "rejects.jsonl"
    metric = {"dimensionId": "seats", "value": 3, "companySourceId": "0015g00000AcmeAAA"}
    config = config_for(planhat.url, rejects_file=str(rejects))
    run = run_target(config, messages("metrics", [metric]))
    assert run.counts["metrics"]["rejected"] == 1
    assert "companyExternalId" in read_rejects(rejects)[0]["error"]
    assert planhat.emulator.requests(method="POST") == []


def test_a_metric_the_analytics_host_refuses_is_kept_as_it_was_read(planhat, tmp_path):
    """Analytics entries wait for their body as JSON bytes (for memory): the rejects file still
    holds the record as read, not the item sent."""
    rejects = tmp_path / "rejects.jsonl"
    known = planhat.emulator.records("companies")[0]["externalId"]
    metrics = [
        {"dimensionId": "seats", "value": 3, "companyExternalId": known, "date": "2024-05-01"},
        {
            "dimensionId": "seats",
            "value": 1.5,
            "companyExternalId": "NO-SUCH",
            "date": "2024-05-01",
        },
    ]
    config = config_for(planhat.url, rejects_file=str(rejects))
    run = run_target(config, messages("metrics", metrics))
    assert run.counts["metrics"]["rejected"] == 1
    [reject] = read_rejects(rejects)
    assert "NO-SUCH not found" in reject["error"]
    assert reject["record"] == metrics[1]
    assert (reject["record_number"], reject["batch"]) == (2, 1)
