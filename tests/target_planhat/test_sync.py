"""Change-aware sync: parents first, the latest record wins, the ledger sends what changed once,
STATE as soon as it is safe, no overtaking after an unknown outcome, every point accounted for."""

from __future__ import annotations

import inspect
import json
import math
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.target_base import Target
from target_planhat.rejects import RecordsRejectedError

from tests.target_planhat.helpers import (
    TARGET_CLI,
    bulk_requests,
    config_for,
    messages,
    read_rejects,
    run_target,
    schema_message,
    state,
)


def _ledger(tmp_path: Path) -> str:
    return str(tmp_path / "ledger.sqlite3")


def _companies(count: int, *, tag: str = "v1") -> list[dict[str, Any]]:
    return [{"externalId": f"S-{n}", "name": f"Company {n}", "phase": tag} for n in range(count)]


def _writes(emulator: Any) -> list[dict[str, Any]]:
    return [r for r in emulator.requests() if r["method"] in {"PUT", "POST", "DELETE"}]


def _points(count: int) -> list[dict[str, Any]]:
    return [
        {"dimensionId": "logins", "value": n, "externalId": "ACME-001", "date": "2026-01-01"}
        for n in range(count)
    ]


# -- 1 parents first, 2 latest wins ------------------------------------------------------------


def test_interleaved_companies_and_end_users_all_link(planhat):
    """7,000 customers as `customers-to-planhat` maps them: company, then its end user."""
    lines = [
        schema_message("companies", {"externalId": {}, "name": {}}, ["externalId"]),
        schema_message("endusers", {"externalId": {}, "email": {}, "companyExternalId": {}}, []),
    ]
    for n in range(7000):
        company = {"externalId": f"D{n}", "name": f"Customer {n}"}
        user = {
            "externalId": f"U{n}",
            "email": f"u{n}@d{n}.example",
            "companyExternalId": f"D{n}",
        }
        lines += [
            {"type": "RECORD", "stream": "companies", "record": company},
            {"type": "RECORD", "stream": "endusers", "record": user},
        ]
    run = run_target(config_for(planhat.url), lines)

    assert run.counts["endusers"]["rejected"] == 0
    assert run.counts["endusers"]["created"] == 7000
    companies = {c["externalId"]: c["_id"] for c in planhat.emulator.records("companies")}
    users = [u for u in planhat.emulator.records("endusers") if u["externalId"].startswith("U")]
    assert len(users) == 7000
    assert all(u["companyId"] == companies[f"D{u['externalId'][1:]}"] for u in users)
    # the end-user batch that filled first went out after the companies read before it
    order = [r["path"] for r in _writes(planhat.emulator)]
    assert order == ["/companies", "/endusers", "/companies", "/endusers"]


def test_the_same_key_twice_in_a_batch_sends_the_later_record(planhat, tmp_path):
    rejects = tmp_path / "rejects.jsonl"
    first = [{"externalId": f"C-{n}", "name": f"Old {n}"} for n in range(100)]
    later = [{"externalId": f"C-{n}", "name": f"New {n}"} for n in range(100)]
    config = config_for(planhat.url, on_reject="fail", rejects_file=str(rejects))
    run = run_target(config, messages("companies", [*first, *later], ["externalId"]))

    counts = run.counts["companies"]
    assert (counts["created"], counts["superseded"], counts["rejected"]) == (100, 100, 0)
    [put] = bulk_requests(planhat.emulator, "companies")
    assert [item["name"] for item in put["body"]] == [f"New {n}" for n in range(100)]
    assert not read_rejects(rejects)


def test_end_users_with_the_same_external_id_in_two_companies_are_two_records(planhat):
    users = [
        {"externalId": "X", "email": "x@acme.example", "companyExternalId": "ACME-001"},
        {"externalId": "X", "email": "x@globex.example", "companyExternalId": "GLOBEX-002"},
    ]
    run = run_target(config_for(planhat.url), messages("endusers", users, ["externalId"]))
    assert (run.counts["endusers"]["created"], run.counts["endusers"]["superseded"]) == (2, 0)


# -- 3 the ledger -------------------------------------------------------------------------------


def test_rerun_sends_nothing_one_percent_changed_sends_only_those(planhat, tmp_path):
    config = config_for(planhat.url, ledger=_ledger(tmp_path))
    records = _companies(12_000)
    first = run_target(config, [*messages("companies", records, ["externalId"]), state({"r": 1})])
    assert first.counts["companies"]["created"] == 12_000
    assert len(bulk_requests(planhat.emulator, "companies")) == 3
    before = len(_writes(planhat.emulator))

    again = run_target(config, [*messages("companies", records, ["externalId"]), state({"r": 2})])
    assert len(_writes(planhat.emulator)) == before  # zero bulk calls
    assert again.counts["companies"]["unchanged"] == 12_000
    assert again.states == [{"r": 2}]

    changed = [dict(r, phase="v2") if n % 100 == 7 else r for n, r in enumerate(records)]
    third = run_target(config, messages("companies", changed, ["externalId"]))
    new_writes = _writes(planhat.emulator)[before:]
    assert len(new_writes) == math.ceil(120 / 5000)
    assert [len(r["body"]) for r in new_writes] == [120]
    assert (third.counts["companies"]["updated"], third.counts["companies"]["unchanged"]) == (
        120,
        11_880,
    )

    resync = run_target({**config, "full_resync": True}, messages("companies", changed, []))
    assert resync.counts["companies"]["sent"] == 12_000
    assert len(_writes(planhat.emulator)[before + 1 :]) == 3


def test_metrics_are_sent_once_per_key_and_once_per_record_without_one(planhat, tmp_path):
    config = config_for(planhat.url, ledger=_ledger(tmp_path))
    keyed = messages("metrics", _points(50), ["dimensionId", "externalId", "date", "value"])
    run_target(config, keyed)
    run_target(config, keyed)
    assert planhat.emulator.state()["metric_points"] == 50
    assert len(planhat.emulator.requests(path="^/dimensiondata/", method="POST")) == 1

    # no key: the whole record is the key; one new point among 51 is the only one sent
    unkeyed = messages("metrics", [*_points(50), {**_points(1)[0], "value": 1000}], [])
    run = run_target(config, unkeyed)
    assert run.counts["metrics"]["sent"] == 51  # another scope than the keyed stream's rows
    run = run_target(config, unkeyed)
    assert (run.counts["metrics"]["sent"], run.counts["metrics"]["unchanged"]) == (0, 51)


def test_a_key_in_the_batch_in_flight_is_judged_against_that_batch(planhat, tmp_path):
    """X goes v1 -> v2 -> v1 over three batches, and the same event twice in two batches: the
    ledger does not hold the batch in flight yet, so the target compares with that batch."""
    planhat.emulator.add_faults([{"delay": 0.3, "method": "PUT"}, {"delay": 0.3, "method": "POST"}])
    config = config_for(planhat.url, ledger=_ledger(tmp_path), batch_size_rows=2)
    names = ["v1", "v1", "v2", "v2", "v1", "v1"]
    records = [{"externalId": f"X{n % 2}", "name": name} for n, name in enumerate(names)]
    run_target(config, messages("companies", records, ["externalId"]))
    assert {
        c["name"] for c in planhat.emulator.records("companies") if c["externalId"] in {"X0", "X1"}
    } == {"v1"}
    event = {"action": "Login", "email": "alice.moreau@acme.example", "date": "2026-01-01"}
    other = {**event, "action": "Logout"}
    run_target(config, messages("activities", [event, other, event, other, event], []))
    assert planhat.emulator.state()["activities"] == 2


def test_the_ledger_holds_no_token_and_rejects_are_tried_again(planhat, tmp_path):
    config = config_for(planhat.url, ledger=_ledger(tmp_path))
    records = [{"externalId": "L-1", "name": "Kept"}, {"externalId": "L-2"}]  # L-2: no name
    run_target(config, messages("companies", records, ["externalId"]))
    run = run_target(config, messages("companies", records, ["externalId"]))
    assert (run.counts["companies"]["unchanged"], run.counts["companies"]["rejected"]) == (1, 1)
    raw = Path(_ledger(tmp_path)).read_bytes()
    assert config["api_token"].encode() not in raw
    assert config["tenant_token"].encode() not in raw
    with sqlite3.connect(_ledger(tmp_path)) as db:
        [(host, credentials, obj)] = db.execute(
            "select host, credentials, object from planhat_ledger_scopes"
        ).fetchall()
    assert (host, obj) == (planhat.url.split("//")[1], "companies")
    assert config["api_token"] not in credentials


# -- 4 STATE as soon as it is safe, kill -9 -----------------------------------------------------


def test_state_follows_each_answered_batch_across_streams(planhat):
    lines = [*messages("companies", _companies(4), ["externalId"])]
    lines.insert(3, state({"at": 2}))
    lines.append(state({"at": 4}))
    run = run_target(config_for(planhat.url, batch_size_rows=2), lines)
    assert run.states == [{"at": 2}, {"at": 4}]


def test_kill_9_mid_run_then_replay_sends_every_point_once(planhat, tmp_path):
    kill_mid_run_then_replay(planhat, tmp_path, _ledger(tmp_path))


def kill_mid_run_then_replay(planhat: Any, tmp_path: Path, ledger: str) -> None:
    """A slowed emulator, the target killed mid-way, the whole input replayed: every point is
    stored, and at most the one batch in flight at the kill twice."""
    total, per_body = 3000, 100
    planhat.emulator.configure(latency_ms=40)
    item_bytes = len(json.dumps(_points(total)[-1], separators=(",", ":")))
    body_bytes = (item_bytes + 1) * per_body
    config = config_for(planhat.url, ledger=ledger, analytics_batch_bytes=body_bytes)
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config))
    input_file = tmp_path / "input.jsonl"
    lines = messages("metrics", _points(total), [])
    input_file.write_text("".join(json.dumps(line) + "\n" for line in lines))

    def start() -> subprocess.Popen[bytes]:
        with input_file.open("rb") as stdin:
            return subprocess.Popen(
                [TARGET_CLI, "--config", str(config_file)],
                stdin=stdin,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )

    first = start()
    deadline = time.monotonic() + 60
    while planhat.emulator.state()["metric_points"] < total // 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    stored_at_kill = planhat.emulator.state()["metric_points"]
    assert 0 < stored_at_kill < total

    second = start()
    assert second.wait(timeout=120) == 0
    values = [p["value"] for p in planhat.emulator.records("metric_points")]
    assert set(values) == set(range(total))  # nothing lost
    posts = planhat.emulator.requests(path="^/dimensiondata/", method="POST")
    largest = max(len(post["body"]) for post in posts)  # about per_body (values vary in length)
    assert len(values) - total <= largest  # at most the one batch in flight repeats


# -- 5 no overtaking ---------------------------------------------------------------------------


@pytest.mark.parametrize(("settle", "winner"), [(1.5, "new"), (0.0, "old")])
def test_a_late_write_never_overtakes_the_next_batch(planhat, settle, winner):
    """Batch 1 times out client-side while the emulator applies it 1.5 s later; batch 2 has newer
    values for the same companies. With the settle wait (default) the newest values win; the
    case without it shows the test reproduces the overtaking."""
    planhat.emulator.add_faults([{"delay": 1.5, "times": 1, "method": "PUT"}])
    old = [{"externalId": f"T-{n}", "name": "old"} for n in range(10)]
    new = [{"externalId": f"T-{n}", "name": "new"} for n in range(10)]
    config = config_for(planhat.url, batch_size_rows=10, request_timeout=0.5, settle_seconds=settle)
    run = run_target(config, messages("companies", [*old, *new], ["externalId"]))
    time.sleep(2.0)  # long enough for any late write to land
    names = {
        c["name"] for c in planhat.emulator.records("companies") if c["externalId"][:2] == "T-"
    }
    assert names == {winner}
    assert run.counts["companies"]["resent_after_no_answer"] == 10


def _activities(count: int) -> list[dict[str, Any]]:
    return [
        {"action": f"A{n}", "email": "alice.moreau@acme.example", "date": "2026-01-01"}
        for n in range(count)
    ]


def test_an_activity_send_without_an_answer_is_re_sent_and_reported_as_possibly_twice(
    planhat, caplog
):
    """Activities cannot be read back: a post that timed out but was kept is stored twice. The
    target cannot tell, so it says so (at-least-once, see the README). Metrics are read back
    instead (test_read_back.py)."""
    planhat.emulator.add_faults([{"delay": 0.6, "times": 1, "method": "POST"}])
    config = config_for(planhat.url, request_timeout=0.3, settle_seconds=0.5)
    run = run_target(config, messages("activities", _activities(5), []))
    time.sleep(0.5)
    assert planhat.emulator.state()["activities"] == 10
    assert run.counts["activities"]["resent_after_no_answer"] == 5
    assert "they are stored twice" in caplog.text


# -- 6 account for every point -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "drop_last", "unaccounted"),
    [("counts", 3, 3), ("empty", 0, 10), ("no_processed", 0, 10)],
)
def test_short_or_empty_activity_answers_are_unaccounted_and_sent_again(
    planhat, tmp_path, caplog, answer, drop_last, unaccounted
):
    planhat.emulator.configure(analytics_answer=answer, analytics_drop_last=drop_last)
    config = config_for(planhat.url, ledger=_ledger(tmp_path))
    lines = messages("activities", _activities(10), [])
    run = run_target(config, [*lines, state({"s": 1})])
    assert run.counts["activities"]["unaccounted"] == unaccounted
    assert f"{unaccounted} of 10 items unaccounted" in caplog.text
    again = run_target(config, lines)  # nothing went into the ledger
    assert again.counts["activities"]["sent"] == 10
    with pytest.raises(RecordsRejectedError, match="rejected or unaccounted"):
        run_target({**config, "on_reject": "fail"}, lines)


# -- 7 activities, 8 metadata, 9 stream maps ------------------------------------------------------


def test_activities_use_the_bulk_fields(planhat, tmp_path):
    rejects = tmp_path / "rejects.jsonl"
    records = [
        {"action": "Login", "externalId": "ACME-001-U1", "companyExternalId": "ACME-001"},
        {"action": "Export", "email": "alice.moreau@acme.example", "cId": "ACME-001"},
        {"action": "View", "id": "ACME-001-U2", "companyExternalId": "ACME-001"},
        {"action": "Nobody", "companyExternalId": "ACME-001"},
    ]
    config = config_for(planhat.url, rejects_file=str(rejects))
    run = run_target(config, messages("activities", records))
    [post] = planhat.emulator.requests(path="^/analytics/bulk/", method="POST")
    assert post["body"] == [
        {"action": "Login", "id": "ACME-001-U1", "cId": "ACME-001"},
        {"action": "Export", "email": "alice.moreau@acme.example", "cId": "ACME-001"},
        {"action": "View", "id": "ACME-001-U2", "cId": "ACME-001"},
    ]
    assert planhat.emulator.state()["activities"] == 3
    [reject] = read_rejects(rejects)
    assert reject["record"] == records[3]
    assert "need one of id, email" in reject["error"]
    assert run.counts["activities"]["rejected"] == 1


def test_singer_metadata_is_never_sent(planhat):
    records = [
        {"externalId": "M-1", "name": "M", "_sdc_filename": "/home/me/x.csv", "_sdc_line": 3},
        {"dimensionId": "d", "value": 1, "externalId": "ACME-001", "_sdc_extracted_at": "x"},
    ]
    run_target(
        config_for(planhat.url),
        [*messages("companies", records[:1]), *messages("metrics", records[1:])],
    )
    sent = [item for r in _writes(planhat.emulator) for item in r["body"]]
    assert len(sent) == 2
    assert not [name for item in sent for name in item if name.startswith("_sdc_")]


def test_streams_dropped_by_stream_maps_need_no_route(planhat):
    lines = [
        *messages("audit_log", [{"id": 1}]),
        *messages("companies", [{"externalId": "N-1", "name": "N"}], ["externalId"]),
    ]
    config = config_for(planhat.url, stream_maps={"audit_log": None})
    run = run_target(config, lines)
    assert run.counts["companies"]["created"] == 1
    with pytest.raises(ConfigValidationError) as failure:
        run_target(config_for(planhat.url), lines)
    assert "'audit_log' is not a Planhat object" in failure.value.errors[0]


# -- 10 dry run ------------------------------------------------------------------------------------


def test_dry_run_writes_nothing_and_plans_everything(planhat, tmp_path):
    ledger = _ledger(tmp_path)
    run_target(
        config_for(planhat.url, ledger=ledger),
        messages("companies", _companies(3), ["externalId"]),
    )
    before = len(_writes(planhat.emulator))
    plan = tmp_path / "plan.jsonl"
    changed = [*_companies(2), {"externalId": "S-2", "name": "Company 2", "phase": "v2"}]
    lines = [
        *messages("companies", [*changed, {"externalId": "S-9", "name": "New"}], ["externalId"]),
        *messages("metrics", _points(2), []),
        *messages(
            "crm", [{"externalId": "ACME-001", "phase": "x"}, {"externalId": "NOPE", "phase": "y"}]
        ),
        state({"dry": 1}),
    ]
    mapping = {"crm": {"object": "companies", "behavior": "update"}}
    config = config_for(
        planhat.url, ledger=ledger, dry_run=True, dry_run_file=str(plan), object_mapping=mapping
    )
    run = run_target(config, lines)

    assert len(_writes(planhat.emulator)) == before  # not one write: only reads for update-only
    assert run.states == []
    planned = [json.loads(line) for line in plan.read_text().splitlines()]
    assert sorted((p["stream"], p["action"]) for p in planned) == [
        ("companies", "create"),
        ("companies", "update"),
        ("crm", "update"),
        ("metrics", "send"),
        ("metrics", "send"),
    ]
    assert run.counts["companies"]["unchanged"] == 2
    assert run.counts["crm"]["skipped"] == 1
    with sqlite3.connect(ledger) as db:
        assert db.execute("select count(*) from planhat_ledger").fetchone()[0] == 3
        assert db.execute("select count(*) from planhat_ledger_scopes").fetchone()[0] == 1


def test_a_dry_run_without_a_ledger_yet_creates_none(planhat, tmp_path):
    ledger = tmp_path / "fresh" / "ledger.sqlite3"
    config = config_for(
        planhat.url, ledger=str(ledger), dry_run=True, dry_run_file=str(tmp_path / "plan.jsonl")
    )
    run = run_target(config, messages("companies", _companies(3), ["externalId"]))
    assert run.counts["companies"]["created"] == 3  # would create
    assert not ledger.exists()
    assert not _writes(planhat.emulator)


def test_a_metric_stream_may_name_its_own_key(planhat, tmp_path):
    mapping = {"usage": {"object": "metrics", "sync_key": "eventId"}}
    config = config_for(planhat.url, ledger=_ledger(tmp_path), object_mapping=mapping)
    points = [{**point, "eventId": f"E-{point['value'] % 5}"} for point in _points(10)]
    run = run_target(config, messages("usage", points))
    assert (run.counts["usage"]["sent"], run.counts["usage"]["superseded"]) == (5, 5)
    run = run_target(config, messages("usage", [{**points[0], "value": 99}]))
    assert (run.counts["usage"]["sent"], run.counts["usage"]["unchanged"]) == (0, 1)


def test_the_private_sdk_hooks_state_release_relies_on_are_still_there():
    """STATE release leans on singer-sdk internals: pin them, so an SDK upgrade that moves them
    fails here rather than silently writing STATE too early."""
    assert list(inspect.signature(Target._process_state_message).parameters) == [
        "self",
        "message_dict",
    ]
    assert list(inspect.signature(Target._write_state_message).parameters) == ["self", "state"]
    assert inspect.signature(Target.drain_all).parameters["is_endofpipe"].kind is (
        inspect.Parameter.KEYWORD_ONLY
    )
