"""A batch is sent while the next one is read: requests stay sequential, STATE never runs ahead."""

from __future__ import annotations

import contextlib
import io
import json
import time
from itertools import pairwise
from typing import Any

import pytest
from singer_sdk.exceptions import FatalAPIError
from target_planhat.rejects import RecordsRejectedError
from target_planhat.target import TargetPlanhat

from tests.target_planhat.helpers import bulk_requests, config_for, messages, read_rejects, state

SLOW = 0.4
"""Seconds the emulator holds each bulk request, so a STATE that does not wait would show."""


class TimedStdout(io.StringIO):
    """Stdout that remembers when each line was written (same clock as the emulator's log)."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[tuple[float, Any]] = []

    def write(self, text: str) -> int:
        self.lines.extend((time.perf_counter(), json.loads(line)) for line in text.splitlines())
        return super().write(text)


def _run(
    config: dict[str, Any],
    lines: list[dict[str, Any]],
    target_class: type[TargetPlanhat] = TargetPlanhat,
) -> tuple[TargetPlanhat, TimedStdout]:
    target = target_class(config=config, parse_env_config=False)
    stdout = TimedStdout()
    with contextlib.redirect_stdout(stdout):
        target.listen(io.StringIO("".join(json.dumps(line) + "\n" for line in lines)))
    return target, stdout


def _companies(first: int, count: int) -> list[dict[str, Any]]:
    return [{"externalId": f"IF-{n}", "name": f"Company {n}"} for n in range(first, first + count)]


def _batches(*states: dict[str, Any], size: int = 3) -> list[dict[str, Any]]:
    """SCHEMA, then `size` companies followed by a STATE, once per state."""
    schema, *records = messages("companies", _companies(0, size * len(states)), ["externalId"])
    lines = [schema]
    for number, value in enumerate(states):
        lines += [*records[number * size : (number + 1) * size], state(value)]
    return lines


def _answered_at(request: dict[str, Any]) -> float:
    return request["time"] + request["duration_ms"] / 1000


def test_state_waits_for_the_batch_in_flight_and_requests_never_overlap(planhat):
    planhat.emulator.add_faults([{"delay": SLOW, "times": 2, "method": "PUT"}])
    config = config_for(planhat.url, batch_size_rows=3)
    target, stdout = _run(config, _batches({"b": 1}, {"b": 2}))

    puts = bulk_requests(planhat.emulator, "companies")
    assert [len(r["body"]) for r in puts] == [3, 3]
    assert all(later["time"] >= _answered_at(earlier) for earlier, later in pairwise(puts))
    # each STATE goes out as soon as the batch holding the records before it was answered
    assert [value for _, value in stdout.lines] == [{"b": 1}, {"b": 2}]
    assert all(at >= _answered_at(put) for (at, _), put in zip(stdout.lines, puts, strict=True))
    assert target.report.counts["companies"].created == 6


class AgingTarget(TargetPlanhat):
    """The SDK's 5-minute record age runs out right after a full batch was handed over."""

    def _handle_max_record_age(self) -> None:
        if any(sink.current_size == 0 for sink in self._sinks_active.values()):
            self.drain_all()


def test_state_of_a_record_age_drain_waits_for_the_batch_in_flight(planhat):
    planhat.emulator.add_faults([{"delay": SLOW, "method": "PUT"}])
    schema, *records = messages("companies", _companies(0, 3), ["externalId"])
    lines = [schema, records[0], state({"b": 1}), *records[1:]]
    _, stdout = _run(config_for(planhat.url, batch_size_rows=3), lines, AgingTarget)

    # IF-0 precedes STATE b1 and travels in the batch that filled up after it
    [put] = bulk_requests(planhat.emulator, "companies")
    emitted = [at for at, value in stdout.lines if value == {"b": 1}]
    assert len(emitted) == 1  # the record-age drain; the end of input repeats no STATE
    assert emitted[0] >= _answered_at(put)


def test_a_failed_batch_in_flight_stops_the_run_before_any_state(planhat):
    planhat.emulator.add_faults([{"status": 422, "body": "Unprocessable", "delay": SLOW}])
    config = config_for(planhat.url, batch_size_rows=3)
    with pytest.raises(FatalAPIError, match="422"):
        _run(config, _batches({"b": 1}, {"b": 2}))
    # batch 2 was read meanwhile, but never sent after batch 1 failed
    assert len(bulk_requests(planhat.emulator, "companies")) == 1


def test_the_last_batch_failing_fails_the_run_even_without_state(planhat):
    planhat.emulator.add_faults([{"status": 422, "body": "Unprocessable", "delay": SLOW}])
    lines = messages("companies", _companies(0, 3), ["externalId"])
    with pytest.raises(FatalAPIError, match="422"):
        _run(config_for(planhat.url, batch_size_rows=3), lines)


def test_on_reject_fail_in_flight_stops_before_the_next_batch_and_state(planhat, tmp_path):
    planhat.emulator.add_faults([{"delay": SLOW, "method": "PUT"}])
    rejects = tmp_path / "rejects.jsonl"
    config = config_for(planhat.url, batch_size_rows=3, on_reject="fail", rejects_file=str(rejects))
    lines = _batches({"b": 1}, {"b": 2})
    lines[2]["record"]["_id"] = "not-an-object-id"  # Planhat rejects it: "invalid id"
    with pytest.raises(RecordsRejectedError, match="1 record"):
        _run(config, lines)
    assert len(bulk_requests(planhat.emulator, "companies")) == 1
    [reject] = read_rejects(rejects)
    assert reject["record"]["externalId"] == "IF-1"
    assert reject["batch"] == 1


def test_rejects_and_counts_stay_exact_across_overlapping_batches(planhat, tmp_path):
    rejects = tmp_path / "rejects.jsonl"
    lines = messages("companies", _companies(0, 30), [])
    for number, line in enumerate(lines[1::4]):
        line["record"]["_id"] = f"not-an-object-id-{number}"  # one _id each: no record supersedes
    for line in lines[2::7]:
        line["record"].pop("externalId")  # rejected by the target itself: no key to match on
    config = config_for(planhat.url, batch_size_rows=4, rejects_file=str(rejects))
    target, _ = _run(config, lines)

    counts = target.report.counts["companies"]
    written = {c["externalId"] for c in planhat.emulator.records("companies")}
    rejected = {r["record_number"] for r in read_rejects(rejects)}
    assert counts.read == 30
    assert counts.created + counts.rejected == 30
    assert counts.rejected == len(rejected) == len(read_rejects(rejects))
    assert {f"IF-{n - 1}" for n in range(1, 31) if n not in rejected} <= written
    assert not {f"IF-{n - 1}" for n in rejected} & written
