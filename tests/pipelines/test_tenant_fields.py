"""`meltano run` with a fresh catalog: a field only the tenant's `/subscriber/meta` lists lands as
a typed column in DuckDB, and one the meta types `ssn` lands masked."""

from __future__ import annotations

import json

import duckdb


def test_a_tenant_field_lands_as_a_column(meltano_project, sandboxes, tmp_path):
    emulator = sandboxes["plansource"].emulator
    warehouse = tmp_path / "tenant.duckdb"
    env = {
        "TAP_PLANSOURCE__SELECT": json.dumps(["subscribers.*", "dependents.*"]),
        "TARGET_DUCKDB_FILEPATH": str(warehouse),
    }
    emulator.configure(tenant_fields=True)
    try:
        meltano_project.run(
            "run", "--refresh-catalog", "--no-state-update", "benefits-to-warehouse", env=env
        )
    finally:
        emulator.configure(tenant_fields=False)

    with duckdb.connect(str(warehouse), read_only=True) as db:
        columns = dict(
            db.execute(
                "select table_name || '.' || column_name, data_type "
                "from information_schema.columns where table_schema = 'tap_plansource'"
            ).fetchall()
        )
        badges = db.execute(
            "select id, employee_badge_number, alternate_tax_id from tap_plansource.subscribers"
        ).fetchall()
    assert columns["subscribers.employee_badge_number"] == "VARCHAR"
    assert columns["subscribers.union_dues_rate"].startswith(("DOUBLE", "DECIMAL", "NUMERIC"))
    assert columns["subscribers.remote_worker"] == "BOOLEAN"
    assert "dependents.student_verified_on" in columns
    assert badges
    for subscriber_id, badge, tax_id in badges:
        assert badge == f"B-{subscriber_id:06d}"
        assert tax_id.startswith("XXX-XX-")
