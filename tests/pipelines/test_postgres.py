"""The production warehouse path with a real PostgreSQL server: a tap into PostgreSQL with
`meltano run`, and PostgreSQL back out into Planhat (reverse ETL)."""

from __future__ import annotations

import psycopg
import pytest

from tests.pipelines.postgres import create_warehouse
from tests.pipelines.postgres import meltano_env as postgres_meltano_env


@pytest.fixture(scope="module")
def postgres_env(postgres) -> dict[str, str]:
    """A fresh `warehouse` database; the sandbox environment configures tap-postgres and
    target-postgres, so only what differs from it is set (the throwaway server's port)."""
    create_warehouse(postgres)
    return postgres_meltano_env(postgres)


def test_planful_into_postgres(meltano_project, sandboxes, postgres, postgres_env):
    planful = sandboxes["planful"].emulator
    meltano_project.run("run", "finance-to-postgres", env=postgres_env)

    url = postgres.url.rsplit("/", 1)[0] + "/warehouse"
    with psycopg.connect(url) as db:
        gl_rows = db.execute("select count(*) from tap_planful.gl_data").fetchone()[0]
        amount_type = db.execute(
            "select data_type from information_schema.columns "
            "where table_schema = 'tap_planful' and table_name = 'gl_data' "
            "and lower(column_name) = 'amount'"
        ).fetchone()[0]
        members = db.execute(
            'select "Code", "RollupLevels" from tap_planful.segment_members '
            'where "SegmentNumber" = 1 order by "Code" limit 1'
        ).fetchone()
    assert gl_rows == planful.gl_row_count()
    assert amount_type in {"numeric", "double precision", "real"}
    assert members is not None
    assert isinstance(members[1], list | dict)  # rollup levels kept as JSON, not a string


def test_exact_amount_lands_in_postgres_with_every_digit(
    meltano_project, sandboxes, postgres, postgres_env
):
    """A GL amount with more digits than a float holds (emulator switch `gl_exact_amount`)
    reaches PostgreSQL unchanged: the tap writes the decimal text as a JSON number, and
    target-postgres types `number` as NUMERIC without precision."""
    exact = "12345678901234.5678"
    planful = sandboxes["planful"].emulator
    planful.configure(gl_exact_amount=exact)
    try:
        meltano_project.run("run", "finance-to-postgres", env=postgres_env)
    finally:
        planful.configure(gl_exact_amount=None)

    url = postgres.url.rsplit("/", 1)[0] + "/warehouse"
    with psycopg.connect(url) as db:
        landed = db.execute(
            'select "Amount"::text, pg_typeof("Amount")::text from tap_planful.gl_data '
            'where "Amount" = %s::numeric',
            (exact,),
        ).fetchall()
        near = db.execute(
            'select count(*) from tap_planful.gl_data where "Amount" between %s and %s',
            ("12345678901234", "12345678901235"),
        ).fetchone()[0]
    assert landed, "no GL row holds the exact amount"
    assert set(landed) == {(exact, "numeric")}
    assert near == len(landed)  # no rounded copy (12345678901234.568) beside it


def test_gl_rows_differing_only_in_calculated_both_land(
    meltano_project, sandboxes, postgres, postgres_env
):
    """Emulator switch `soap_gl_calculated: twins`: the first row of each answer comes again
    with `Calculated` true; `Calculated` is part of the key, so the merge keeps both."""
    planful = sandboxes["planful"].emulator
    planful.configure(soap_gl_calculated="twins")
    try:
        meltano_project.run("run", "finance-to-postgres", env=postgres_env)
    finally:
        planful.configure(soap_gl_calculated="false")

    url = postgres.url.rsplit("/", 1)[0] + "/warehouse"
    key = ", ".join(f'"{c}"' for c in ("Scenario", "period_key", "AmountType", "Reporting"))
    segments = ", ".join(f'"Segment{n}"' for n in range(1, 9))
    with psycopg.connect(url) as db:
        twins = db.execute(
            f"select {key}, {segments}, count(*), string_agg(\"Calculated\", ',' "
            f'order by "Calculated") from tap_planful.gl_data group by {key}, {segments} '
            "having count(*) > 1"
        ).fetchall()
        calculated = dict(
            db.execute(
                'select "Calculated", count(*) from tap_planful.gl_data group by 1'
            ).fetchall()
        )
    assert twins, "no GL row landed beside its twin"
    assert {(row[-2], row[-1]) for row in twins} == {(2, "false,true")}
    assert calculated["true"] == len(twins)


def test_postgres_accounts_into_planhat(meltano_project, sandboxes, postgres, postgres_env):
    """Reverse ETL: a CRM table in the warehouse becomes Planhat companies (tap-postgres)."""
    url = postgres.url.rsplit("/", 1)[0] + "/warehouse"
    accounts = [
        (f"PG-{i:03d}", f"Warehouse Account {i}", f"pg{i}.example.com") for i in range(1, 26)
    ]
    create_warehouse(postgres, accounts=len(accounts))
    with psycopg.connect(url) as db:
        assert db.execute("select * from crm.accounts order by 1").fetchall() == accounts
    planhat = sandboxes["planhat"].emulator

    meltano_project.run("run", "warehouse-to-planhat", env=postgres_env)

    companies = {c.get("externalId"): c for c in planhat.records("companies")}
    for code, name, _domain in accounts:
        assert companies[code]["name"] == name
