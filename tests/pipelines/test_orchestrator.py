"""The Dagster orchestrator (orchestrator/) running the Planful job as scenario partitions on
shared PostgreSQL state: real `dagster job execute` (multiprocess executor) calling real
`meltano run` against the Planful emulator, the system database and the warehouse on the
pipeline tests' PostgreSQL.

Two runners: runner A is the session's Meltano project, runner B a second working directory
with its own copy of the project files. B links A's installed plugins instead of running
`meltano install` again (a real second machine installs at image build); its run files, logs
and Dagster instance are its own, and the only thing it shares with A is the PostgreSQL.
"""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest
import yaml

from tests.pipelines.conftest import PLUGIN_DIRS, PROJECT_FILES, REPO, stop_process_group
from tests.pipelines.postgres import create_warehouse

pytestmark = [pytest.mark.pipeline, pytest.mark.postgres]

DAGSTER = str(Path(sys.executable).with_name("dagster"))
DAGSTER_DAEMON = str(Path(sys.executable).with_name("dagster-daemon"))
JOB = "finance_to_postgres"
SCENARIOS = ["Actual", "2025 Budget", "2026 Budget"]
KEYS = {"Actual": "actual", "2025 Budget": "2025-budget", "2026 Budget": "2026-budget"}
STATE_ID = "shared:tap-planful-to-target-postgres"
LOOKBACK = 3  # the tap's default gl_lookback_periods
OTHER_STREAMS = "other-streams"  # the partition of every Planful stream but gl_data


def _sandbox_settings(kind: str, plugin: str, *names: str) -> dict[str, str]:
    """Settings of meltano.yml's sandbox environment (the emulators' credentials) as variables:
    the shared environment takes them from the environment, as a production runner does."""
    project = yaml.safe_load((REPO / "meltano.yml").read_text())
    sandbox = next(e for e in project["environments"] if e["name"] == "sandbox")
    config = next(p for p in sandbox["config"]["plugins"][kind] if p["name"] == plugin)["config"]
    prefix = plugin.upper().replace("-", "_")
    return {f"{prefix}_{name.upper()}": config[name] for name in names}


@pytest.fixture(scope="module")
def shared_postgres(postgres):
    """Fresh `meltano_shared` (system database and state) and `orchestrated` (warehouse)."""
    with psycopg.connect(postgres.url, autocommit=True) as db:
        for name in ("meltano_shared", "orchestrated"):
            db.execute(f"drop database if exists {name} with (force)")
            db.execute(f"create database {name}")
    return postgres


@pytest.fixture(scope="module")
def runners(meltano_project, shared_postgres, tmp_path_factory):
    """Runner A (the session's project) and runner B (a second working directory)."""
    second = tmp_path_factory.mktemp("runner-b")
    for name in PROJECT_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, second / name)
        else:
            shutil.copy2(source, second / name)
    for name in PLUGIN_DIRS:
        (second / name).symlink_to(REPO / name, target_is_directory=True)
    (second / ".meltano").mkdir()
    for kind in ("extractors", "loaders"):
        (second / ".meltano" / kind).symlink_to(meltano_project.root / ".meltano" / kind)

    server = shared_postgres
    env = {
        **meltano_project.env,
        **_sandbox_settings("extractors", "tap-planful", "login_name", "password", "tenant_code"),
        **_sandbox_settings("loaders", "target-planhat", "api_token", "tenant_token"),
        "MELTANO_ENVIRONMENT": "shared",
        "SHARED_POSTGRES_URL": server.with_database("meltano_shared").url,
        "TAP_PLANFUL_SCENARIOS": json.dumps(SCENARIOS),
        "TAP_PLANFUL_SCENARIO_FISCAL_YEARS": json.dumps({"2025 Budget": 2025, "2026 Budget": 2026}),
        "TARGET_POSTGRES_HOST": server.host,
        "TARGET_POSTGRES_PORT": str(server.port),
        "TARGET_POSTGRES_USER": server.user,
        "TARGET_POSTGRES_PASSWORD": server.password,
        "TARGET_POSTGRES_DATABASE": "orchestrated",
        "ORCHESTRATOR_WORKERS": "4",
        "ORCHESTRATOR_RETRIES": "1",
        "ORCHESTRATOR_RETRY_DELAY": "0",
    }
    return {"A": meltano_project.root, "B": second}, env


def _dagster(
    root: Path, env: dict[str, str], *args: str, job: str = JOB
) -> subprocess.CompletedProcess[str]:
    """`dagster job execute` of the Planful job in `root`, with the runner's own instance."""
    home = root / ".dagster"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return subprocess.run(
        [DAGSTER, "job", "execute", "-m", "orchestrator.definitions", "-j", job, *args],
        cwd=root,
        env={**env, "MELTANO_PROJECT_ROOT": str(root), "DAGSTER_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def _succeeded(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]


def _gl_calls(emulator) -> Counter:
    return Counter(
        call.filters["Scenario"][1]
        for call in emulator.soap.calls
        if call.operation == "GLData_RetrieveWithLogin"
    )


def _query(server, sql: str, *params) -> list[tuple]:
    with psycopg.connect(server.with_database("meltano_shared").url) as db:
        return db.execute(sql, params).fetchall()


def _runs(server, since) -> list[tuple]:
    """Meltano's runs (state ID, result, start, end) since `since`, from the shared database."""
    return _query(
        server,
        "select job_name, state, started_at, ended_at from runs where started_at >= %s "
        "order by started_at",
        since,
    )


def _now(server):
    return _query(server, "select now() at time zone 'utc'")[0][0]


def _warehouse(server, sql: str) -> list[tuple]:
    with psycopg.connect(server.with_database("orchestrated").url) as db:
        return db.execute(sql).fetchall()


def _gl_rows(server) -> Counter:
    return Counter(
        dict(_warehouse(server, 'select "Scenario", count(*) from tap_planful.gl_data group by 1'))
    )


FIRST_RUN_RACES = (
    "already exists",
    "duplicate key value violates unique constraint",
    "deadlock detected",
)
"""What PostgreSQL answers a loader that creates a table another partition is creating at the
same moment (on a fresh warehouse): the orchestrator retries that partition, which finds it."""


def _first_attempts(root: Path, runs: list[tuple]) -> dict[str, tuple]:
    """The first run of each state ID, after checking that each ended in one success: a failed
    attempt before it is accepted only for the first-run table creation race, which its log
    must show."""
    attempts: dict[str, list[tuple]] = {}
    for run in runs:
        attempts.setdefault(run[0], []).append(run)
    for state_id, tries in attempts.items():
        assert [r[1] for r in tries] in (["SUCCESS"], ["FAIL", "SUCCESS"]), tries
        if tries[0][1] == "FAIL":
            key = state_id.rsplit(":", 1)[1]
            log = root / ".meltano" / "partitions" / "finance-to-postgres" / key / "run.log"
            failed = log.read_text().split("=== meltano ")[1]  # each attempt opens with one
            assert any(race in failed for race in FIRST_RUN_RACES), failed[-3000:]
    return {state_id: tries[0] for state_id, tries in attempts.items()}


def test_partitions_in_parallel_then_a_second_runner_resumes(runners, sandboxes, shared_postgres):
    roots, env = runners
    planful = sandboxes["planful"].emulator
    server = shared_postgres

    # Runner A: the three scenario partitions at once.
    started = _now(server)
    planful.soap.calls.clear()
    _succeeded(_dagster(roots["A"], env))
    first_calls = _gl_calls(planful)
    assert set(first_calls) == set(SCENARIOS)
    expected = Counter({s: planful.gl_row_count(s) for s in SCENARIOS})
    assert _gl_rows(server) == expected

    # One run per scenario (gl_data alone) and one for the other streams, read once.
    first = _first_attempts(roots["A"], _runs(server, started))
    assert sorted(first) == sorted(f"{STATE_ID}:{k}" for k in [*KEYS.values(), OTHER_STREAMS])
    # in parallel: every partition started before the first one ended
    assert max(r[2] for r in first.values()) < min(r[3] for r in first.values())
    assert Counter(c.operation for c in planful.soap.calls)["getALLCurrenciesWithLogin"] == 1
    assert _warehouse(server, "select count(*) from tap_planful.currencies")[0][0] > 0

    # Each partition has its own state ID holding its own scenario's bookmark only.
    for scenario, key in KEYS.items():
        (state,) = _query(
            server, "select completed_state from state where state_id = %s", f"{STATE_ID}:{key}"
        )[0]
        bookmarks = json.loads(state)["singer_state"]["bookmarks"]["gl_data"]["partitions"]
        assert [b["context"]["Scenario"] for b in bookmarks] == [scenario]
    (state,) = _query(
        server,
        "select completed_state from state where state_id = %s",
        f"{STATE_ID}:{OTHER_STREAMS}",
    )[0]
    assert "gl_data" not in json.loads(state)["singer_state"].get("bookmarks", {})

    # Runner B, another working directory, continues from A's bookmarks: lookback windows only.
    planful.soap.calls.clear()
    _succeeded(_dagster(roots["B"], env))
    assert _gl_calls(planful) == dict.fromkeys(SCENARIOS, LOOKBACK + 1)
    assert sum(first_calls.values()) > 3 * (LOOKBACK + 1) * len(SCENARIOS)
    assert _gl_rows(server) == expected  # re-read periods upserted: every row once
    assert not (roots["B"] / ".meltano" / "meltano.db").exists()  # no local state on B


def test_a_failing_partition_is_retried_alone(runners, sandboxes, shared_postgres):
    roots, env = runners
    planful = sandboxes["planful"].emulator
    server = shared_postgres
    started = _now(server)
    # The next SOAP call answers with a SOAP Fault: whichever partition makes it fails.
    planful.add_faults(
        [
            {
                "status": 500,
                "content_type": "text/xml; charset=utf-8",
                "body": (
                    '<?xml version="1.0" encoding="utf-8"?><soap:Envelope '
                    'xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
                    "<soap:Fault><faultcode>soap:Server</faultcode>"
                    "<faultstring>Injected outage</faultstring><detail /></soap:Fault>"
                    "</soap:Body></soap:Envelope>"
                ),
                "method": "POST",
                "path": "HostAPI",
                "times": 1,
            }
        ]
    )
    planful.soap.calls.clear()
    _succeeded(_dagster(roots["A"], env))

    runs = _runs(server, started)
    per_partition = Counter(r[0] for r in runs)
    failed = [r[0] for r in runs if r[1] == "FAIL"]
    assert len(failed) == 1, runs
    assert per_partition[failed[0]] == 2  # failed, then retried (and done)
    assert sorted(per_partition.values()) == [1, 1, 1, 2]  # the others ran once
    assert [r[1] for r in runs if r[0] == failed[0]] == ["FAIL", "SUCCESS"]
    assert _gl_rows(server) == Counter({s: planful.gl_row_count(s) for s in SCENARIOS})


def test_planhat_objects_in_turn_with_a_shared_ledger(runners, fresh_planhat, shared_postgres):
    """customers-to-planhat as one partition per Planhat object, companies before the end users
    that point at them; the ledger in the shared PostgreSQL lets runner B send nothing again."""
    roots, env = runners
    planhat = fresh_planhat
    server = shared_postgres
    started = _now(server)
    planhat.request_log.clear()
    _succeeded(_dagster(roots["A"], env, job="customers_to_planhat"))

    runs = _runs(server, started)
    prefix = "shared:tap-customers-to-target-planhat"
    assert [(r[0], r[1]) for r in runs] == [
        (f"{prefix}:companies", "SUCCESS"),
        (f"{prefix}:endusers", "SUCCESS"),
    ]
    assert runs[0][3] <= runs[1][2]  # one writer at a time: end users after companies
    writes = [r for r in planhat.requests() if r["method"] != "GET"]
    assert writes
    ledger = dict(
        _query(
            server,
            "select s.object, count(*) from planhat_ledger l "
            "join planhat_ledger_scopes s using (scope) group by 1",
        )
    )
    customers = len((REPO / "data" / "customers.jsonl").read_text().splitlines())
    assert ledger == {"companies": customers, "endusers": customers}

    # Runner B reads the whole file again (newer file time: the tap's bookmark lets it through)
    # and sends nothing: the shared ledger knows what Planhat acknowledged to runner A.
    (roots["B"] / "data" / "customers.jsonl").touch()
    planhat.request_log.clear()
    _succeeded(_dagster(roots["B"], env, job="customers_to_planhat"))
    assert [r for r in planhat.requests() if r["method"] != "GET"] == []


@pytest.fixture(scope="module")
def sandbox_runner(meltano_project, shared_postgres):
    """Runner A in the sandbox environment (meltano.yml's scenarios and plan years, the
    emulators' credentials), its warehouse on the test PostgreSQL, its system database local."""
    server = shared_postgres
    with psycopg.connect(server.url, autocommit=True) as db:
        db.execute("drop database if exists sandbox_partitions with (force)")
        db.execute("create database sandbox_partitions")
    env = {
        **meltano_project.env,
        "MELTANO_ENVIRONMENT": "sandbox",
        "TARGET_POSTGRES_HOST": server.host,
        "TARGET_POSTGRES_PORT": str(server.port),
        "TARGET_POSTGRES_USER": server.user,
        "TARGET_POSTGRES_PASSWORD": server.password,
        "TARGET_POSTGRES_DATABASE": "sandbox_partitions",
        "ORCHESTRATOR_WORKERS": "3",
    }
    return meltano_project.root, env


def _attempts(root: Path, job: str) -> dict[str, int]:
    """`meltano run`s per partition of `job`, from the partitions' run logs."""
    return {
        log.parent.name: log.read_text().count("=== meltano ")
        for log in (root / ".meltano" / "partitions" / job).glob("*/run.log")
        if log.parent.name != "system-database"
    }


def test_planful_partitions_run_in_the_sandbox_environment(sandbox_runner, sandboxes):
    """The sandbox gives plan years in meltano.yml: each scenario partition still gets only its
    own (tap-planful refuses plan years of scenarios it was not asked for)."""
    root, env = sandbox_runner
    planful = sandboxes["planful"].emulator
    scenarios = ["Actual", "2025 Budget"]
    env = {**env, "TAP_PLANFUL_SCENARIOS": json.dumps(scenarios)}
    for log in (root / ".meltano" / "partitions" / "finance-to-postgres").glob("*/run.log"):
        log.unlink()
    planful.soap.calls.clear()
    _succeeded(_dagster(root, env))
    assert _attempts(root, "finance-to-postgres") == {
        "other-streams": 1,
        "actual": 1,
        "2025-budget": 1,
    }
    with psycopg.connect(env_url(env)) as db:
        rows = Counter(
            dict(db.execute('select "Scenario", count(*) from tap_planful.gl_data group by 1'))
        )
    assert rows == Counter({s: planful.gl_row_count(s) for s in scenarios})
    budget_years = {
        call.filters["FiscalYear"][1]
        for call in planful.soap.calls
        if call.operation == "GLData_RetrieveWithLogin"
        and call.filters["Scenario"][1] == "2025 Budget"
    }
    assert budget_years == {"2025"}  # its plan year from meltano.yml, not every year


def env_url(env: dict[str, str]) -> str:
    return (
        f"postgresql://{env['TARGET_POSTGRES_USER']}:{env['TARGET_POSTGRES_PASSWORD']}@"
        f"{env['TARGET_POSTGRES_HOST']}:{env['TARGET_POSTGRES_PORT']}/"
        f"{env['TARGET_POSTGRES_DATABASE']}"
    )


def test_a_configuration_error_fails_the_partitions_at_once(sandbox_runner):
    """A setting the tap refuses fails the same way on every attempt: not retried (with the
    default 2 retries 30 s apart), the error named in Dagster's output."""
    root, env = sandbox_runner
    env = {
        **env,
        "TAP_PLANFUL_SCENARIOS": json.dumps(["Actual"]),
        "TAP_PLANFUL_START_FISCAL_YEAR": "2030",
        "TAP_PLANFUL_END_FISCAL_YEAR": "2020",
    }
    env.pop("ORCHESTRATOR_RETRIES", None)
    env.pop("ORCHESTRATOR_RETRY_DELAY", None)
    for log in (root / ".meltano" / "partitions" / "finance-to-postgres").glob("*/run.log"):
        log.unlink()
    result = _dagster(root, env)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "not retried: a plugin refused its settings" in output, output[-4000:]
    assert "`start_fiscal_year` (2030) is after `end_fiscal_year` (2020)" in output
    assert _attempts(root, "finance-to-postgres") == {"other-streams": 1, "actual": 1}


def _instance_home(root: Path, name: str) -> Path:
    """A DAGSTER_HOME holding the repository's orchestrator/deploy/dagster.yaml, as is."""
    home = root / name
    home.mkdir(exist_ok=True)
    shutil.copy2(REPO / "orchestrator" / "deploy" / "dagster.yaml", home / "dagster.yaml")
    return home


def _instance_runs(env: dict[str, str], home: Path) -> dict[str, tuple]:
    """Run ID -> (job, status, start, end), as a separate process with its own instance
    directory reads them from the instance's storage."""
    script = (
        "import json\n"
        "from dagster import DagsterInstance\n"
        "with DagsterInstance.get() as instance:\n"
        "    print(json.dumps({r.dagster_run.run_id: [r.dagster_run.job_name, "
        "r.dagster_run.status.value, r.start_time, r.end_time] "
        "for r in instance.get_run_records()}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={**env, "DAGSTER_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return {k: tuple(v) for k, v in json.loads(result.stdout.splitlines()[-1]).items()}


def test_dagsters_instance_in_postgres_queues_planhat_writers_one_at_a_time(
    runners, fresh_planhat, shared_postgres, tmp_path
):
    """deploy/dagster.yaml on the test PostgreSQL: two Planhat-writing jobs launched at once go
    through the run queue; the daemon starts both, and the `planhat` pool lets one Planhat
    writer run at a time; a second instance directory (another machine) sees both runs."""
    roots, env = runners
    server = shared_postgres
    with psycopg.connect(server.url, autocommit=True) as db:
        db.execute("drop database if exists dagster_shared with (force)")
        db.execute("create database dagster_shared")
    warehouse = create_warehouse(server, accounts=3)
    env = {
        **env,
        "DAGSTER_POSTGRES_URL": server.with_database("dagster_shared").url,
        "MELTANO_PROJECT_ROOT": str(roots["A"]),
        "TAP_POSTGRES_HOST": warehouse.host,
        "TAP_POSTGRES_PORT": str(warehouse.port),
        "TAP_POSTGRES_USER": warehouse.user,
        "TAP_POSTGRES_PASSWORD": warehouse.password,
        "TAP_POSTGRES_DATABASE": warehouse.database,
    }
    home = _instance_home(tmp_path, "instance-a")
    started = _now(server)
    launches = [
        subprocess.Popen(
            [DAGSTER, "job", "launch", "-m", "orchestrator.definitions", "-j", job],
            cwd=roots["A"],
            env={**env, "DAGSTER_HOME": str(home)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for job in ("customers_to_planhat", "warehouse_to_planhat")
    ]
    for launch in launches:
        output, _ = launch.communicate(timeout=300)
        assert launch.returncode == 0, output[-3000:]
    queued = _instance_runs(env, home)
    assert sorted(run[0] for run in queued.values()) == [
        "customers_to_planhat",
        "warehouse_to_planhat",
    ]
    assert {run[1] for run in queued.values()} == {"QUEUED"}  # no daemon yet

    daemon_log = (tmp_path / "daemon.log").open("w")
    daemon = subprocess.Popen(
        [DAGSTER_DAEMON, "run", "-m", "orchestrator.definitions"],
        cwd=roots["A"],
        env={**env, "DAGSTER_HOME": str(home)},
        stdout=daemon_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            runs = _instance_runs(env, home)
            if all(run[1] in {"SUCCESS", "FAILURE", "CANCELED"} for run in runs.values()):
                break
            assert daemon.poll() is None, (tmp_path / "daemon.log").read_text()[-3000:]
            time.sleep(3)
    finally:
        stop_process_group(daemon)
        daemon_log.close()
    assert {run[1] for run in runs.values()} == {"SUCCESS"}, (tmp_path / "daemon.log").read_text()[
        -3000:
    ]
    first, second = sorted(run[2:] for run in runs.values())
    assert second[0] < first[1]  # both Dagster runs were under way at once

    # Meltano's runs of the Planhat writers, from the shared system database: none overlaps.
    writers = sorted(
        (r[2], r[3], r[0]) for r in _runs(server, started) if "-to-target-planhat" in r[0]
    )
    assert len(writers) == 3, writers  # companies, end users, warehouse accounts
    for (_, first_end, first), (second_start, _, second) in itertools.pairwise(writers):
        assert first_end <= second_start, f"{first} and {second} wrote to Planhat at once"

    # Another machine: its own instance directory, the same dagster.yaml, the same runs.
    other = _instance_home(tmp_path, "instance-b")
    assert _instance_runs(env, other) == runs
