"""tap-plansource's own record path writes exactly what singer-sdk's record path writes, and
defers to it whenever the outcome could differ.

`FastPathStream` (`fast_path.py`) replaces two per-record SDK hooks (the RECORD line, the
offer of child contexts) for speed (`benchmarks/bench_tap_plansource.py`); these tests run the
same syncs with those hooks alone restored (pages still prefetched; `test_fast_paths` switches
both) and compare every line but `time_extracted` (the fast path stamps a page's records with
the time the page was handed on, the SDK each record as it is written).
"""

from __future__ import annotations

import datetime
import re

from singer_sdk import RESTStream
from tap_plansource.client import PlanSourceStream
from tap_plansource.fast_path import FastPathStream
from tap_plansource.tap import TapPlanSource

from .helpers import run_tap, tap_config

SDK_HOOKS = ("_write_record_message", "generate_child_contexts")
TIME_EXTRACTED = re.compile(r',"time_extracted":"([^"]+)"')
# Streams of every record shape: nested lists, tenant fields, coverages feeding derived streams,
# partitions (plan years) and a bookmark (payroll). `administrators` is left out: its records
# carry the time the run started.
STREAMS = ["subscribers", "dependents", "beneficiaries", "coverages", "payroll_deductions", "plans"]


def without_time(output: str) -> list[str]:
    """The lines with `time_extracted` removed (checked to be an aware UTC time first)."""
    lines = output.splitlines()
    for line in lines:
        if line.startswith('{"type":"RECORD"'):
            (stamp,) = TIME_EXTRACTED.findall(line)
            offset = datetime.datetime.fromisoformat(stamp).utcoffset()
            assert offset is not None
            assert offset.total_seconds() == 0
    return [TIME_EXTRACTED.sub("", line) for line in lines]


def test_lines_and_states_are_those_of_the_sdk_path(plansource, monkeypatch):
    config = tap_config(
        plansource,
        page_size=7,
        plan_years=["previous", "current"],
        start_date="2000-01-01T00:00:00Z",
    )
    fast = run_tap(config, STREAMS)
    tap = TapPlanSource(config=config, parse_env_config=False)
    for name in STREAMS:
        stream = tap.streams[name]
        assert not isinstance(stream, PlanSourceStream) or stream.writes_rows_as_read, name

    for hook in SDK_HOOKS:
        monkeypatch.setattr(FastPathStream, hook, getattr(RESTStream, hook))
    sdk = run_tap(config, STREAMS)

    assert sum(len(fast.records[name]) for name in STREAMS) > 300
    assert fast.records["subscribers"][0]["ssn"].startswith("XXX-XX-")  # masked, as by default
    assert without_time(fast.output) == without_time(sdk.output)


def test_a_stream_map_takes_the_sdk_path(plansource):
    config = tap_config(plansource, stream_maps={"subscribers": {"email": "__NULL__"}})
    tap = TapPlanSource(config=config, parse_env_config=False)
    assert not tap.streams["subscribers"].writes_rows_as_read
    sync = run_tap(config, ["subscribers"])
    assert sync.records["subscribers"]
    assert all("email" not in record for record in sync.records["subscribers"])
