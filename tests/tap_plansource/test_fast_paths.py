"""`fast_paths: false` runs singer-sdk's own `request_records` and record writing (`fast_path.py`
is the tap's only replacement of them); every stream of the emulator's seeded data, in both
payroll modes and with a custom stream, writes the same records and STATE on both paths.

Lines are compared whole, but for `time_extracted` (the fast path stamps a page's records with
the time the page was handed on, the SDK each record as it is written) and the run's start
time (`administrators` records and bookmark carry it)."""

from __future__ import annotations

import re

import pytest
from planful_plansource_planhat_core.writer import RecordBufferingWriter
from tap_plansource.fast_path import FastPathStream
from tap_plansource.paging import PageGapError

from .helpers import run_tap, tap_config

TIME_EXTRACTED = re.compile(r',"time_extracted":"[^"]+"')
RUN_START = re.compile(
    r'("synced_at"|"replication_key":"synced_at","replication_key_value"):"[^"]+"'
)
CUSTOM = {"name": "offers_by_path", "path": "/aca/offers", "primary_keys": ["id"]}


def comparable(output: str) -> list[str]:
    """The lines without `time_extracted`, the run's start time named, not given."""
    return RUN_START.sub(r'\1:"<run start>"', TIME_EXTRACTED.sub("", output)).splitlines()


def refuse(*args: object, **kwargs: object) -> None:
    raise AssertionError("a fast path ran with `fast_paths: false`")


@pytest.mark.parametrize(
    ("overrides", "streams"),
    [
        ({"custom_streams": [CUSTOM]}, None),  # every stream, payroll per subscriber
        ({"payroll_mode": "bulk"}, ["payroll_deductions"]),
    ],
    ids=["every-stream", "payroll-bulk"],
)
def test_both_paths_write_the_same_records_and_state(plansource, monkeypatch, overrides, streams):
    config = tap_config(
        plansource,
        page_size=7,
        plan_years=["previous", "current", "next"],
        start_date="2000-01-01T00:00:00Z",
        **overrides,
    )
    fast = run_tap(config, streams)
    for fast_path in (
        (FastPathStream, "prefetched_pages"),
        (FastPathStream, "ordered_fan_out"),
        (RecordBufferingWriter, "write_record"),
    ):
        monkeypatch.setattr(*fast_path, refuse)
    sdk = run_tap({**config, "fast_paths": False}, streams)

    read = streams or [*fast.schemas]
    assert all(fast.records[name] for name in read), [n for n in read if not fast.records[n]]
    assert sum(len(records) for records in fast.records.values()) > 300
    assert fast.state["bookmarks"]
    assert comparable(fast.output) == comparable(sdk.output)


def test_the_sdk_path_stops_at_an_empty_page_its_evidence_contradicts(plansource):
    """singer-sdk's loop ends at any empty page; one whose `total` promises more records stops
    the stream without a bookmark instead (it is not asked again on this path)."""
    path = "^/admin/v2/payroll_coverages_subscribers$"
    plansource.emulator.configure(empty_pages=[{"path": path, "page": 3, "times": None}])
    config = tap_config(
        plansource,
        start_date="2000-01-01T00:00:00Z",
        payroll_mode="bulk",
        page_size=50,
        fast_paths=False,
    )
    messages: list[dict] = []
    gap = r"page 3 of GET /payroll_coverages_subscribers .* does not ask again"
    with pytest.raises(PageGapError, match=gap):
        run_tap(config, ["payroll_deductions"], sink=messages)
    states = [m["value"] for m in messages if m["type"] == "STATE"]
    bookmarks = [s.get("bookmarks", {}).get("payroll_deductions", {}) for s in states]
    assert all("replication_key_value" not in b for b in bookmarks), bookmarks
