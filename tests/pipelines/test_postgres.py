"""The production warehouse path with a real PostgreSQL server: a tap into PostgreSQL with
`meltano run`, and PostgreSQL back out into Planhat (reverse ETL)."""

from __future__ import annotations

import psycopg
import pytest


@pytest.fixture(scope="module")
def postgres_env(postgres) -> dict[str, str]:
    with psycopg.connect(postgres.url, autocommit=True) as db:
        db.execute("drop database if exists warehouse")
        db.execute("create database warehouse")
    settings = {
        "HOST": postgres.host,
        "PORT": str(postgres.port),
        "USER": postgres.user,
        "PASSWORD": postgres.password,
        "DATABASE": "warehouse",
    }
    return {
        f"{plugin}_{key}": value
        for plugin in ("TARGET_POSTGRES", "TAP_POSTGRES")
        for key, value in settings.items()
    }


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


def test_postgres_accounts_into_planhat(meltano_project, sandboxes, postgres, postgres_env):
    """Reverse ETL: a CRM table in the warehouse becomes Planhat companies (tap-postgres)."""
    url = postgres.url.rsplit("/", 1)[0] + "/warehouse"
    accounts = [
        (f"PG-{i:03d}", f"Warehouse Account {i}", f"pg{i}.example.com") for i in range(1, 26)
    ]
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("create schema if not exists crm")
        db.execute(
            "create table crm.accounts "
            "(account_code text primary key, account_name text, domain text)"
        )
        with db.cursor() as cursor:
            cursor.executemany("insert into crm.accounts values (%s, %s, %s)", accounts)
    planhat = sandboxes["planhat"].emulator

    meltano_project.run("run", "warehouse-to-planhat", env=postgres_env)

    companies = {c.get("externalId"): c for c in planhat.records("companies")}
    for code, name, _domain in accounts:
        assert companies[code]["name"] == name
