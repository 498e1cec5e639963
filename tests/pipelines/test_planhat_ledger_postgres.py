"""target-planhat's sync ledger in a real PostgreSQL server (slow: starts the server once per
session): re-runs send only what changed, and two target processes share one ledger."""

from __future__ import annotations

import json
import shutil
import subprocess
from urllib.parse import urlsplit

import psycopg
import pytest
from sandbox.planhat.app import SANDBOX_TOKEN, TENANT_UUID
from sandbox.testing import start

from tests.cli_failures import assert_clean_failure
from tests.pipelines.conftest import MELTANO
from tests.target_planhat.helpers import config_for, messages, run_cli, run_target, state
from tests.target_planhat.test_ledger_loss import lose_ledger_mid_run
from tests.target_planhat.test_sync import kill_mid_run_then_replay

pytestmark = pytest.mark.postgres


@pytest.fixture
def planhat():
    running = start("planhat")
    yield running
    running.stop()


@pytest.fixture
def ledger_url(postgres) -> str:
    with psycopg.connect(postgres.url, autocommit=True) as db:
        db.execute("drop database if exists planhat_ledger")
        db.execute("create database planhat_ledger")
    return postgres.url.rsplit("/", 1)[0] + "/planhat_ledger"


def _writes(emulator) -> list[dict]:
    return [r for r in emulator.requests() if r["method"] in {"PUT", "POST"}]


def test_rerun_and_one_percent_changed_with_the_ledger_in_postgres(planhat, ledger_url):
    config = config_for(planhat.url, ledger=ledger_url)
    records = [{"externalId": f"P-{n}", "name": f"Company {n}"} for n in range(6000)]
    run_target(config, messages("companies", records, ["externalId"]))
    assert len(_writes(planhat.emulator)) == 2

    again = run_target(config, [*messages("companies", records, ["externalId"]), state({"x": 1})])
    assert len(_writes(planhat.emulator)) == 2
    assert again.counts["companies"]["unchanged"] == 6000
    assert again.states == [{"x": 1}]

    changed = [dict(r, name="Renamed") if n % 100 == 0 else r for n, r in enumerate(records)]
    run_target(config, messages("companies", changed, ["externalId"]))
    [put] = _writes(planhat.emulator)[2:]
    assert len(put["body"]) == 60
    with psycopg.connect(ledger_url) as db:
        assert db.execute("select count(*) from planhat_ledger").fetchone()[0] == 6000
        [(credentials,)] = db.execute("select credentials from planhat_ledger_scopes").fetchall()
    assert config["api_token"] not in credentials


def test_two_target_processes_share_one_ledger(planhat, ledger_url, tmp_path):
    points = [
        {"dimensionId": "seats", "value": n, "externalId": "ACME-001", "date": "2026-02-01"}
        for n in range(500)
    ]
    config = config_for(planhat.url, ledger=ledger_url)
    first_dir, second_dir = tmp_path / "runner-a", tmp_path / "runner-b"
    first_dir.mkdir()
    second_dir.mkdir()
    first = run_cli(config, first_dir, [*messages("metrics", points[:300]), state({"n": 1})])
    assert first.returncode == 0, first.stderr
    second = run_cli(config, second_dir, [*messages("metrics", points), state({"n": 2})])
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout) == {"n": 2}

    values = sorted(p["value"] for p in planhat.emulator.records("metric_points"))
    assert values == list(range(500))  # each point once: runner B sent only the 200 new ones
    posts = planhat.emulator.requests(path="^/dimensiondata/", method="POST")
    assert [len(p["body"]) for p in posts] == [300, 200]
    assert ledger_url not in first.stderr + second.stderr


def test_kill_9_mid_run_then_replay_with_the_ledger_in_postgres(planhat, ledger_url, tmp_path):
    kill_mid_run_then_replay(planhat, tmp_path, ledger_url)


@pytest.mark.pipeline
def test_prod_keeps_the_ledger_where_a_new_machine_finds_it(
    meltano_project, postgres, ledger_url, tmp_path
):
    """The prod environment's ledger is the warehouse PostgreSQL (TARGET_POSTGRES_*): a run on a
    new machine (no local files) knows what the first run sent and sends nothing twice."""
    planhat = start("planhat")
    try:
        db = urlsplit(ledger_url)
        env = {
            "MELTANO_ENVIRONMENT": "prod",
            "TARGET_PLANHAT_API_TOKEN": SANDBOX_TOKEN,
            "TARGET_PLANHAT_TENANT_TOKEN": TENANT_UUID,
            "TARGET_PLANHAT_API_URL": planhat.url,
            "TARGET_PLANHAT_ANALYTICS_URL": planhat.url,
            "TARGET_PLANHAT_MAX_REQUESTS_PER_MINUTE": "0",
            "TARGET_POSTGRES_HOST": db.hostname or "",
            "TARGET_POSTGRES_PORT": str(db.port),
            "TARGET_POSTGRES_USER": db.username or "",
            "TARGET_POSTGRES_PASSWORD": db.password or "",
            "TARGET_POSTGRES_DATABASE": db.path.lstrip("/"),
        }
        points = [
            {"dimensionId": "seats", "value": n, "externalId": "ACME-001", "date": "2026-04-01"}
            for n in range(20)
        ]
        lines = "".join(json.dumps(line) + "\n" for line in messages("metrics", points))

        def invoke() -> subprocess.CompletedProcess[str]:
            done = subprocess.run(
                [MELTANO, "invoke", "target-planhat"],
                input=lines,
                cwd=meltano_project.root,
                env={**meltano_project.env, **env},
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            assert done.returncode == 0, done.stderr[-3000:]
            return done

        first = invoke()
        assert "is new: it knows of no metric or activity sent before" in first.stderr
        for local in (".target-planhat", "output"):  # a new machine: nothing local survives
            shutil.rmtree(meltano_project.root / local, ignore_errors=True)
        second = invoke()
        assert "is new" not in second.stderr
        assert planhat.emulator.state()["metric_points"] == 20  # each point once
        assert f":{db.password}@" not in first.stderr + second.stderr
        with psycopg.connect(ledger_url) as conn:
            assert conn.execute("select count(*) from planhat_ledger").fetchone()[0] == 20
    finally:
        planhat.stop()


def test_ledger_tables_dropped_during_a_run_stop_it_at_the_next_write(
    planhat, ledger_url, tmp_path
):
    def rows() -> int:
        with psycopg.connect(ledger_url) as db:
            try:
                found = db.execute("select count(*) from planhat_ledger").fetchone()
            except psycopg.Error:
                return 0
            return found[0] if found else 0

    def lose() -> None:
        with psycopg.connect(ledger_url, autocommit=True) as db:
            db.execute("drop table planhat_ledger, planhat_ledger_scopes, planhat_ledger_instance")

    outcome = lose_ledger_mid_run(planhat, tmp_path, ledger_url, rows, lose)
    line = assert_clean_failure(outcome, "was deleted during this run")
    assert "postgresql://127.0.0.1" in line or "***" in line
    assert outcome.messages == [{"at": 3}]
