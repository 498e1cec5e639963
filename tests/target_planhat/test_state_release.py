"""StateRelease: a STATE goes out once every record read before it was written, never in a dry
run, and never twice in a row."""

from __future__ import annotations

from target_planhat.state_release import StateRelease


def _release(*, dry_run: bool = False) -> tuple[StateRelease, list[dict]]:
    written: list[dict] = []
    return StateRelease(written.append, dry_run=dry_run), written


def test_state_waits_for_the_batch_holding_the_records_before_it() -> None:
    release, written = _release()
    sink = object()
    release.record_read(sink)
    release.state_read({"at": 1})
    assert written == []  # its record is still in the sink
    token = release.batch_started(sink)
    release.record_read(sink)  # the next batch's first record
    release.state_read({"at": 2})
    assert written == []
    release.batch_finished(token)
    assert written == [{"at": 1}]  # {"at": 2} waits for the record still in the sink
    release.batch_finished(release.batch_started(sink))
    assert written == [{"at": 1}, {"at": 2}]


def test_a_state_with_nothing_pending_goes_out_at_once_and_only_once() -> None:
    release, written = _release()
    release.state_read({"at": 0})
    release.state_read({"at": 0})
    release.drained({"at": 0})
    assert written == [{"at": 0}]


def test_one_sink_waiting_holds_back_the_state_after_another_sinks_batch() -> None:
    release, written = _release()
    companies, users = object(), object()
    release.record_read(companies)
    release.record_read(users)
    release.state_read({"at": 2})
    release.batch_finished(release.batch_started(users))
    assert written == []
    release.batch_finished(release.batch_started(companies))
    assert written == [{"at": 2}]


def test_after_every_sink_drained_the_latest_state_goes_out() -> None:
    release, written = _release()
    release.drained({"at": 9})
    assert written == [{"at": 9}]


def test_a_dry_run_writes_no_state() -> None:
    release, written = _release(dry_run=True)
    sink = object()
    release.record_read(sink)
    release.state_read({"at": 1})
    release.batch_finished(release.batch_started(sink))
    release.drained({"at": 1})
    assert written == []
