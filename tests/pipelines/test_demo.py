"""`./run demo` gives the same warehouse on every run: it runs each job from clear state (a second
run used to keep the bookmarks of the first while the warehouse file was new, and reported success
with gl_data 7,488 -> 2,112 rows), and shows each job's progress as it runs. The demo's own job
runner (`scripts/demo.py`), pointed at the session's project copy."""

from __future__ import annotations

import importlib.util
from types import ModuleType

import duckdb
import pytest

from tests.pipelines.conftest import REPO


@pytest.fixture
def demo(meltano_project, monkeypatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("demo", REPO / "scripts" / "demo.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "ROOT", meltano_project.root)
    return module


def rows(path) -> dict[str, int]:
    with duckdb.connect(str(path), read_only=True) as db:
        tables = db.execute(
            "select table_schema || '.' || table_name from information_schema.tables"
        ).fetchall()
        counts = {t: db.execute(f"select count(*) from {t}").fetchone() for (t,) in tables}
    return {table: count[0] if count else 0 for table, count in counts.items()}


def test_two_demo_runs_give_the_same_warehouse_and_show_progress(
    demo, meltano_project, sandboxes, capsys
):
    warehouse = meltano_project.root / "output" / "warehouse.duckdb"
    warehouse.parent.mkdir(exist_ok=True)
    env = {**meltano_project.env, "TAP_PLANFUL_PROGRESS_INTERVAL": "0.001"}
    seen = []
    for _ in range(2):
        warehouse.unlink(missing_ok=True)  # as the demo starts
        demo.run_job("finance-to-warehouse", env)
        seen.append(rows(warehouse))
    assert seen[0]["tap_planful.gl_data"] > 0
    assert seen[1] == seen[0]
    shown = capsys.readouterr().out
    assert "tap-planful: Progress: gl_data:" in shown
    assert "tap-planful: Summary: run completed after" in shown
