"""Ledgers that cannot be lost quietly (issue 17, point 7): a ledger deleted or replaced during a
run stops it at the next write, a brand-new ledger that would send metrics or activities says so,
a URL of a scheme the target cannot use is refused with its credentials hidden, and every ledger
error is one line."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.cli_failures import Run, assert_clean_failure, free_port, run, write_files
from tests.target_planhat.helpers import config_for, messages, state

if TYPE_CHECKING:
    from collections.abc import Callable

NEW_LEDGER = "is new: it knows of no metric or activity sent before"


def _lines(items: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(item) + "\n" for item in items)


def _points(values: range) -> list[dict[str, Any]]:
    return [
        {"dimensionId": "seats", "value": n, "externalId": "ACME-001", "date": "2026-03-01"}
        for n in values
    ]


def lose_ledger_mid_run(
    planhat: Any,
    tmp_path: Path,
    ledger: str,
    rows: Callable[[], int],
    lose: Callable[[], None],
) -> Run:
    """Run the target on two batches of metrics: after the first is in the ledger, `lose` it;
    returns the finished run (the second batch's ledger write is the first one after the loss)."""
    config = config_for(planhat.url, ledger=ledger, batch_size_rows=3)
    arguments = write_files(tmp_path, config=config)
    process = subprocess.Popen(
        [sys.executable, "-m", "target_planhat", *arguments],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None
    process.stdin.write(_lines([*messages("metrics", _points(range(3))), state({"at": 3})]))
    process.stdin.flush()
    deadline = time.monotonic() + 60
    while rows() < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert rows() == 3
    lose()
    later = [{"type": "RECORD", "stream": "metrics", "record": p} for p in _points(range(3, 6))]
    stdout, stderr = process.communicate(_lines([*later, state({"at": 6})]), timeout=120)
    return Run(process.returncode, stdout, stderr)


def _sqlite_rows(path: Path) -> Callable[[], int]:
    def rows() -> int:
        try:
            with sqlite3.connect(path) as db:
                return db.execute("select count(*) from planhat_ledger").fetchone()[0]
        except sqlite3.Error:
            return 0

    return rows


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_ledger_lost_during_the_run_stops_it_at_the_next_write(planhat, tmp_path, how):
    ledger = tmp_path / "ledger.sqlite3"
    other = tmp_path / "other.sqlite3"

    def lose() -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{ledger}{suffix}").unlink(missing_ok=True)
        if how == "replaced":  # another ledger (an old backup, another machine's) in its place
            with sqlite3.connect(other) as db:
                db.execute("create table planhat_ledger_instance (id text not null)")
                db.execute("insert into planhat_ledger_instance values ('elsewhere')")
            shutil.copy(other, ledger)

    outcome = lose_ledger_mid_run(planhat, tmp_path, str(ledger), _sqlite_rows(ledger), lose)
    line = assert_clean_failure(outcome, f"was {how}")
    assert "during this run: stopped before writing to it" in line  # the path is the secret
    assert outcome.messages == [{"at": 3}]  # nothing past the batch the lost ledger held
    if how == "deleted":
        assert not ledger.exists()  # not quietly re-created empty


def test_a_new_ledger_that_would_send_metrics_says_so_once(planhat, tmp_path):
    ledger = str(tmp_path / "ledger.sqlite3")
    config = config_for(planhat.url, ledger=ledger)
    arguments = write_files(tmp_path, config=config)
    companies = messages("companies", [{"externalId": "NL-1", "name": "New"}], ["externalId"])
    first = run("target_planhat", arguments, stdin=_lines(companies))
    assert first.returncode == 0, first.stderr
    assert NEW_LEDGER not in first.stderr  # upserts are idempotent: nothing to warn about

    fresh = str(tmp_path / "fresh.sqlite3")
    arguments = write_files(tmp_path, config={**config, "ledger": fresh})
    lines = _lines([*messages("metrics", _points(range(2))), *messages("activities", [])])
    sends = run("target_planhat", arguments, stdin=lines)
    assert sends.returncode == 0, sends.stderr
    warnings = [line for line in sends.stderr.splitlines() if NEW_LEDGER in line]
    assert len(warnings) == 1
    assert f"ledger {fresh} is new" in warnings[0]
    again = run("target_planhat", arguments, stdin=lines)
    assert NEW_LEDGER not in again.stderr
    assert planhat.emulator.state()["metric_points"] == 2


@pytest.mark.parametrize(
    ("ledger", "says"),
    [
        ("mysql://ledger_user:S3cr3t-PW@db.internal/ledger", "mysql:// is not a ledger"),
        ("postgresql+psycopg://ledger_user:S3cr3t-PW@db.internal/x", "postgresql+psycopg://"),
        ("postgresql://:@:/", "names no host, port or database (an unset variable?"),
        ("postgresql://ledger_user:S3cr3t-PW@127.0.0.1:{port}/x", "cannot connect"),
        ("/proc/no-such-dir/ledger.sqlite3", "cannot open"),
    ],
)
def test_every_ledger_error_is_one_line_without_credentials(planhat, tmp_path, ledger, says):
    config = config_for(planhat.url, ledger=ledger.format(port=free_port()))
    outcome = run(
        "target_planhat",
        write_files(tmp_path, config=config),
        stdin=_lines(messages("metrics", _points(range(1)))),
    )
    line = assert_clean_failure(outcome, says)
    assert "S3cr3t-PW" not in outcome.stderr
    assert "ledger_user" not in outcome.stderr
    if "@db.internal" in ledger:
        assert "***@db.internal" in line
        assert "postgresql://user:password@host:5432/db, a file path, or none" in line
    assert planhat.emulator.state()["metric_points"] == 0
