"""target-planhat's sync ledger under real `meltano run`: the ledger lives in the project root, a
re-run of a job sends nothing, and a dry run set from the environment writes nothing."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.pipeline


def _writes(emulator) -> list[dict]:
    return [r for r in emulator.requests() if r["method"] in {"PUT", "POST"}]


def test_rerun_of_a_job_sends_nothing_and_a_dry_run_writes_nothing(meltano_project, fresh_planhat):
    planhat = fresh_planhat
    meltano_project.run("run", "customers-to-planhat")
    # the sandbox environment keeps the ledger with its other outputs
    assert (meltano_project.root / "output" / "planhat-ledger.sqlite3").exists()
    before = len(_writes(planhat))

    meltano_project.run("run", "customers-to-planhat")
    assert len(_writes(planhat)) == before  # the ledger knows every record: zero bulk calls

    plan = meltano_project.root / "output" / "plan.jsonl"
    dry = meltano_project.run(
        "run",
        "sales-to-planhat",
        env={"TARGET_PLANHAT_DRY_RUN": "true", "TARGET_PLANHAT_DRY_RUN_FILE": str(plan)},
    )
    assert len(_writes(planhat)) == before
    planned = [json.loads(line) for line in plan.read_text().splitlines()]
    assert planned
    assert {(p["stream"], p["action"]) for p in planned} == {("metrics", "send")}
    assert "dry run, would have" in dry.stderr
