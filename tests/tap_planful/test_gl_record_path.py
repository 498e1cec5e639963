"""gl_data's own record path writes exactly what the SDK's record path writes, and defers to it.

`GLDataStream` replaces three per-record SDK hooks (RECORD line, bookmark, child contexts) for
speed; these tests run the same syncs with the SDK's hooks restored and compare the output.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import re
import sys

import pytest
from planful_plansource_planhat_core.writer import RecordBufferingWriter
from sandbox.core import Fault
from singer_sdk import RESTStream
from singer_sdk.exceptions import FatalAPIError
from singer_sdk.singerlib import RecordMessage, SchemaMessage, StateMessage
from tap_planful.soap_streams import SoapGLDataStream
from tap_planful.streams import GLDataStream
from tap_planful.tap import TapPlanful

from .helpers import catalog_selecting, config_for, gl_requests, soap_config, sync, sync_lines

SDK_HOOKS = ("_write_record_message", "_increment_stream_state", "generate_child_contexts")
TIME_EXTRACTED = re.compile(rb',"time_extracted":"([^"]+)"')


def without_time(lines: list[bytes]) -> list[bytes]:
    """The lines with `time_extracted` removed (checked to be an aware ISO time first)."""
    for line in lines:
        if line.startswith(b'{"type":"RECORD"'):
            (stamp,) = TIME_EXTRACTED.findall(line)
            offset = datetime.datetime.fromisoformat(stamp.decode()).utcoffset()
            assert offset is not None
            assert offset.total_seconds() == 0
    return [TIME_EXTRACTED.sub(b"", line) for line in lines]


def test_gl_lines_and_states_are_those_of_the_sdk_path(planful, monkeypatch):
    monkeypatch.setattr(GLDataStream, "STATE_MSG_FREQUENCY", 500)  # interim states too
    config = config_for(planful.url, scenarios=["Actual", "2025 Budget"])
    fast_first = sync_lines(config, {"gl_data"})
    state = json.loads(fast_first[-1])["value"]
    fast_rerun = sync_lines(config, {"gl_data"}, state=state)

    assert GLDataStream(TapPlanful(config=config, parse_env_config=False)).fast
    for hook in SDK_HOOKS:
        monkeypatch.setattr(GLDataStream, hook, getattr(RESTStream, hook))
    sdk_first = sync_lines(config, {"gl_data"})
    sdk_rerun = sync_lines(config, {"gl_data"}, state=state)

    assert len(fast_first) > 2000
    assert sum(line.startswith(b'{"type":"STATE"') for line in fast_first) > 4
    assert without_time(fast_first) == without_time(sdk_first)
    assert without_time(fast_rerun) == without_time(sdk_rerun)


def test_stream_maps_take_the_sdk_path(planful):
    maps = {"gl_data": {"MtdAmount": "MtdAmount * 2", "__filter__": "FiscalMonth == 3"}}
    config = config_for(planful.url, scenarios=["2025 Budget"], stream_maps=maps)
    records = sync(config, {"gl_data"}).records["gl_data"]
    expected = planful.emulator.gl_records("2025 Budget", 2025, 3)
    assert [r["MtdAmount"] for r in records] == [row["MtdAmount"] * 2 for row in expected]
    assert {r["FiscalMonth"] for r in records} == {3}


def test_deselected_properties_are_left_out(planful):
    config = config_for(planful.url, scenarios=["2025 Budget"])
    result = sync(config, {"gl_data"}, deselected={"gl_data": {"MonthName", "QtdAmount"}})
    records = result.records["gl_data"]
    assert len(records) == len(planful.emulator.gl_records("2025 Budget", 2025))
    assert {frozenset(r) for r in records} == {
        frozenset(GLDataStream.schema["properties"]) - {"MonthName", "QtdAmount"}
    }


def test_rows_read_before_a_failure_are_written_and_no_bookmark_moves(planful):
    planful.emulator.add_faults(
        [
            Fault(path=r"/gldata$", times=2),  # the first two periods answer normally
            Fault(status=403, path=r"/gldata$", body={"Message": "Denied."}),
        ]
    )
    config = config_for(planful.url, scenarios=["2025 Budget"], start_fiscal_year=2025)
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    tap = TapPlanful(
        config=config, catalog=catalog_selecting(config, {"gl_data"}), parse_env_config=False
    )
    with contextlib.redirect_stdout(out), pytest.raises(FatalAPIError, match="403"):
        tap.sync_all()
    messages = [json.loads(line) for line in out.buffer.getvalue().splitlines()]
    written = [m["record"] for m in messages if m["type"] == "RECORD"]
    expected = [
        {**row, "period_key": 202500 + month}
        for month in (1, 2)
        for row in planful.emulator.gl_records("2025 Budget", 2025, month)
    ]
    assert written == expected
    assert gl_requests(planful.emulator) == [("2025 Budget", 2025, m) for m in (1, 2, 3)]
    assert all(
        "gl_data" not in m["value"].get("bookmarks", {})
        for m in messages[1:-1]
        if m["type"] == "STATE"
    )


class ShortWrites:
    """A binary stdout that takes at most 7 bytes per call, as an unbuffered pipe may."""

    def __init__(self) -> None:
        self.calls: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.calls.append(bytes(data[:7]))
        return len(self.calls[-1])

    @property
    def written(self) -> bytes:
        return b"".join(self.calls)


class FakeStdout:
    def __init__(self) -> None:
        self.buffer = ShortWrites()

    def flush(self) -> None:
        pass


def test_writer_holds_records_until_a_state_and_survives_short_writes(monkeypatch):
    stdout = FakeStdout()
    monkeypatch.setattr(sys, "stdout", stdout)
    writer = RecordBufferingWriter()
    now = datetime.datetime(2025, 3, 1, 12, 0, tzinfo=datetime.UTC)
    writer.write_message(SchemaMessage("s", {"type": "object"}, ["id"]))
    schema_line = stdout.buffer.written
    assert schema_line.startswith(b'{"type":"SCHEMA"')
    writer.write_message(RecordMessage("s", {"id": 1}, time_extracted=now))
    writer.write_record("s", {"id": 2}, None, now)
    writer.write_record("s", {"id": 3}, 7, now)
    assert stdout.buffer.written == schema_line  # records wait for the state
    writer.write_message(StateMessage({"bookmarks": {"s": {"id": 3}}}))
    lines = stdout.buffer.written[len(schema_line) :].splitlines()
    assert [json.loads(line) for line in lines] == [
        {
            "type": "RECORD",
            "stream": "s",
            "record": {"id": 1},
            "time_extracted": "2025-03-01T12:00:00Z",
        },
        {
            "type": "RECORD",
            "stream": "s",
            "record": {"id": 2},
            "time_extracted": "2025-03-01T12:00:00Z",
        },
        {
            "type": "RECORD",
            "stream": "s",
            "record": {"id": 3},
            "version": 7,
            "time_extracted": "2025-03-01T12:00:00Z",
        },
        {"type": "STATE", "value": {"bookmarks": {"s": {"id": 3}}}},
    ]
    assert (
        lines[0]
        == bytes(writer.format_message(RecordMessage("s", {"id": 1}, time_extracted=now))).strip()
    )
    assert lines[1] == lines[0].replace(b'"id":1', b'"id":2')


def test_writer_writes_full_blocks_without_waiting(monkeypatch):
    stdout = FakeStdout()
    monkeypatch.setattr(sys, "stdout", stdout)
    writer = RecordBufferingWriter()
    writer.block_bytes = 1000
    now = datetime.datetime.now(datetime.UTC)
    for number in range(30):
        writer.write_record("s", {"id": number}, None, now)
    written = stdout.buffer.written
    assert 1000 <= len(written) < 30 * 80
    assert written.endswith(b"\n")
    writer.flush()
    assert len(stdout.buffer.written.splitlines()) == 30


def test_soap_gl_lines_and_states_are_those_of_the_sdk_path(planful, monkeypatch):
    monkeypatch.setattr(SoapGLDataStream, "STATE_MSG_FREQUENCY", 500)
    config = soap_config(planful.url, start_fiscal_year=2025, end_fiscal_year=2025)
    fast_first = sync_lines(config, {"gl_data"})
    state = json.loads(fast_first[-1])["value"]
    fast_rerun = sync_lines(config, {"gl_data"}, state=state)

    assert SoapGLDataStream(TapPlanful(config=config, parse_env_config=False)).fast
    for hook in SDK_HOOKS:
        monkeypatch.setattr(SoapGLDataStream, hook, getattr(RESTStream, hook))
    assert without_time(fast_first) == without_time(sync_lines(config, {"gl_data"}))
    assert without_time(fast_rerun) == without_time(sync_lines(config, {"gl_data"}, state=state))
    assert len(fast_first) > 1000
