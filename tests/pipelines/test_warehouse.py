"""`meltano run` from both taps into the embedded DuckDB warehouse: rows, types, and an
incremental second run that reads only what is new."""

from __future__ import annotations

import json
import re
from collections import Counter

import duckdb
import pytest


def _count(db: duckdb.DuckDBPyConnection, table: str) -> int:
    row = db.execute(f"select count(*) from {table}").fetchone()
    assert row is not None
    return row[0]


def _tables(path) -> dict[str, int]:
    with duckdb.connect(str(path), read_only=True) as db:
        names = db.execute(
            "select table_schema || '.' || table_name from information_schema.tables"
        ).fetchall()
        return {name: _count(db, name) for (name,) in names}


def _column_types(path, table: str) -> dict[str, str]:
    schema, name = table.split(".")
    with duckdb.connect(str(path), read_only=True) as db:
        rows = db.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = ? and table_name = ?",
            [schema, name],
        ).fetchall()
    return {column.lower(): kind for column, kind in rows}


@pytest.fixture(scope="module")
def warehouse(meltano_project):
    path = meltano_project.root / "output" / "warehouse.duckdb"
    path.parent.mkdir(exist_ok=True)
    return path


def _gl_requests(emulator) -> Counter:
    """GL calls per scenario (the sandbox environment reads Structured Planning over SOAP)."""
    return Counter(
        call.filters["Scenario"][1]
        for call in emulator.soap.calls
        if call.operation == "GLData_RetrieveWithLogin"
    )


def test_planful_into_duckdb_then_incremental_rerun(meltano_project, sandboxes, warehouse):
    planful = sandboxes["planful"].emulator
    # A full first run: whatever earlier tests of the session ran, this job starts without state.
    meltano_project.run("state", "clear", "--force", "sandbox:tap-planful-to-target-duckdb")
    planful.soap.calls.clear()
    meltano_project.run("run", "finance-to-warehouse")

    tables = _tables(warehouse)
    assert tables["tap_planful.gl_data"] == planful.gl_row_count()
    assert tables["tap_planful.segments"] == len(planful.segments)
    members = sum(len(s.members) for s in planful.segments)
    assert tables["tap_planful.segment_members"] == members
    assert tables["tap_planful.scenarios"] == len(planful.scenarios)
    types = _column_types(warehouse, "tap_planful.gl_data")
    assert types["fiscalyear"] in {"BIGINT", "INTEGER", "HUGEINT"}
    assert types["amount"].startswith(("DOUBLE", "DECIMAL", "NUMERIC"))
    first_requests = _gl_requests(planful)

    state = json.loads(
        meltano_project.run("state", "get", "sandbox:tap-planful-to-target-duckdb").stdout
    )
    partitions = state["singer_state"]["bookmarks"]["gl_data"]["partitions"]
    assert {p["context"]["Scenario"] for p in partitions} == set(first_requests)

    # Second run: state from the first, so each scenario re-reads only its lookback window.
    planful.soap.calls.clear()
    meltano_project.run("run", "finance-to-warehouse")
    second_requests = _gl_requests(planful)
    lookback = 3  # the tap's default gl_lookback_periods
    assert second_requests == dict.fromkeys(first_requests, lookback + 1)
    assert sum(first_requests.values()) > 3 * sum(second_requests.values())
    # Re-read periods are merged by primary key: the warehouse holds each GL row once.
    assert _tables(warehouse)["tap_planful.gl_data"] == planful.gl_row_count()


def test_plansource_into_duckdb(meltano_project, sandboxes, warehouse):
    store = sandboxes["plansource"].emulator.store
    meltano_project.run("run", "benefits-to-warehouse")

    tables = _tables(warehouse)
    visible = {s.id for s in store.subscribers if s.organization_id == 4087 and not s.test_employee}
    assert tables["tap_plansource.subscribers"] == len(visible)
    assert tables["tap_plansource.organizations"] == 1
    for stream in ("dependents", "beneficiaries", "coverages", "payroll_deductions", "plans"):
        assert tables[f"tap_plansource.{stream}"] > 0, stream
    with duckdb.connect(str(warehouse), read_only=True) as db:
        ssns = [r[0] for r in db.execute("select ssn from tap_plansource.subscribers").fetchall()]
        orphans = db.execute(
            "select count(*) from tap_plansource.beneficiaries b left join "
            "tap_plansource.subscribers s on s.id = b.subscriber_id where s.id is null"
        ).fetchone()[0]
    assert ssns
    assert all(ssn is None or ssn.startswith("XXX-XX-") for ssn in ssns)  # masked by default
    assert orphans == 0  # every beneficiary's subscriber_id was recovered from its links
    types = _column_types(warehouse, "tap_plansource.subscribers")
    assert types["current_salary"].startswith(("DOUBLE", "DECIMAL", "NUMERIC"))  # money: a number
    assert types["status_changed_at"].startswith("TIMESTAMP")
    with duckdb.connect(str(warehouse), read_only=True) as db:
        # JSON Schema `date` lands as text in target-duckdb: the tap made it ISO 8601 (the API
        # sends MM/DD/YYYY).
        birthdates = [
            r[0] for r in db.execute("select birthdate from tap_plansource.subscribers").fetchall()
        ]
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", b) for b in birthdates if b)
