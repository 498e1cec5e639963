"""The target's records take singer-sdk's own record path (its copy was removed when it measured
1.03x): stream maps, metadata, validation, date parsing and key checks as the SDK does them, then
the target's payloads, rejects and STATE."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from singer_sdk.exceptions import InvalidRecord, MissingKeyPropertiesError
from target_planhat.target import TargetPlanhat

from tests.target_planhat.helpers import config_for, messages, read_rejects, run_target, state

PROPERTIES = {
    "externalId": {"type": "string"},
    "name": {"type": "string"},
    "lastSeenAt": {"type": ["string", "null"], "format": "date-time"},
    "renewalDate": {"anyOf": [{"type": "string", "format": "date"}, {"type": "null"}]},
    "custom": {"type": "object"},
}


CLOCK_FIELDS = {"_sdc_received_at", "_sdc_batched_at", "_sdc_sequence", "_sdc_sync_started_at"}
"""Metadata taken from the clock: compared by presence."""


def _records() -> list[dict[str, Any]]:
    records = [
        {
            "externalId": f"RP-{n}",
            "name": f"Company {n}",
            "lastSeenAt": "2024-05-01T12:00:00Z" if n % 2 else "2024-05-01 12:00:00+02:00",
            "renewalDate": "2025-01-31" if n % 3 else None,
            "custom": {"Seats": n},
        }
        for n in range(7)
    ]
    records[1]["_sdc_extracted_at"] = "2024-05-01T00:00:00Z"  # stripped: add_record_metadata off
    records[2].pop("externalId")  # no key: rejected by the target before sending
    records[3]["unknownField"] = "kept"  # no schema for it: passed through
    return records


def _outcome(planhat: Any, tmp_path: Any, **overrides: Any) -> Any:
    """What one run did: request bodies, counts, rejects and STATE lines."""
    planhat.emulator.reset()
    rejects = tmp_path / "rejects.jsonl"
    config = config_for(planhat.url, rejects_file=str(rejects), batch_size_rows=3, **overrides)
    lines = [*messages("companies", _records(), [], PROPERTIES), state({"b": 1})]
    run = run_target(config, lines)
    bodies = [
        [{k: "<clock>" if k in CLOCK_FIELDS else v for k, v in item.items()} for item in r["body"]]
        for r in planhat.emulator.requests(method="PUT")
    ]
    rejected = [{k: v for k, v in r.items() if k != "record"} for r in read_rejects(rejects)]
    return bodies, run.counts, rejected, run.states


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"add_record_metadata": True},
        {"validate_records": True},
        {
            "stream_maps": {
                "companies": {
                    "name": "name.upper()",
                    "__filter__": "record.get('externalId') != 'RP-4'",
                },
                "company_copies": {"__source__": "companies", "custom": "__NULL__"},
            },
            "object_mapping": {"company_copies": {"object": "companies"}},
        },
    ],
    ids=["default", "record-metadata", "validation", "stream-maps"],
)
def test_payloads_rejects_and_state_through_the_sdk_path(planhat, tmp_path, overrides):
    bodies, _, rejected, states = _outcome(planhat, tmp_path, **overrides)
    assert states == [{"b": 1}]
    assert sum(len(body) for body in bodies) >= 5
    assert all("_sdc_extracted_at" not in item for body in bodies for item in body) or overrides
    assert rejected
    assert all("none of the sync keys" in r["error"] for r in rejected)


def test_dates_are_parsed_as_the_sdk_parses_them(planhat):
    records = [{"externalId": "D-1", "name": "D", "at": "2024-05-01T12:00:00Z", "on": "2024-05-02",
                "clock": "12:30:00", "either": "2024-05-03T00:00:00+02:00"}]  # fmt: skip
    properties = {
        "at": {"type": "string", "format": "date-time"},
        "on": {"type": "string", "format": "date"},
        "clock": {"type": "string", "format": "time"},
        "either": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]},
    }
    target = TargetPlanhat(config=config_for(planhat.url), parse_env_config=False)
    target._process_schema_message(messages("companies", records, [], properties)[0])
    sink = target.get_sink("companies")
    record = dict(records[0])
    sink._validate_and_parse(record)
    assert record["at"] == datetime.datetime(2024, 5, 1, 12, tzinfo=datetime.UTC)
    assert record["on"] == datetime.date(2024, 5, 2)
    assert record["clock"] == datetime.time(12, 30)
    assert record["either"].utcoffset() == datetime.timedelta(hours=2)


def test_a_bad_timestamp_fails_the_run_as_in_the_sdk(planhat):
    properties = {"lastSeenAt": {"type": "string", "format": "date-time"}}
    lines = messages(
        "companies", [{"externalId": "B-1", "lastSeenAt": "yesterday"}], [], properties
    )
    target = TargetPlanhat(config=config_for(planhat.url), parse_env_config=False)
    with pytest.raises(ValueError, match="yesterday"):
        run_target(config_for(planhat.url), lines, target)


def test_a_missing_key_property_fails_the_run_as_in_the_sdk(planhat):
    lines = messages("companies", [{"name": "no key"}], ["externalId"], {"externalId": {}})
    target = TargetPlanhat(config=config_for(planhat.url), parse_env_config=False)
    with pytest.raises(MissingKeyPropertiesError, match="externalId"):
        run_target(config_for(planhat.url), lines, target)


def test_an_invalid_record_fails_the_run_when_validation_is_on(planhat):
    config = config_for(planhat.url, validate_records=True)
    lines = messages("companies", [{"externalId": 7}], [], {"externalId": {"type": "string"}})
    target = TargetPlanhat(config=config, parse_env_config=False)
    with pytest.raises(InvalidRecord):
        run_target(config, lines, target)
