"""The code location loads as a user loads it: `dagster definitions validate` and `dagster job
list`, the commands of the orchestrator's README, in every Meltano environment of the project,
with and without the runner's partition variables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.pipeline

REPO = Path(__file__).resolve().parents[2]
DAGSTER = str(Path(sys.executable).with_name("dagster"))

PARTITION_VARIABLES = {
    "TAP_PLANFUL_SCENARIOS": json.dumps(["Actual", "2025 Budget", "2026 Budget"]),
    "TAP_PLANFUL_SCENARIO_FISCAL_YEARS": json.dumps({"2025 Budget": 2025, "2026 Budget": 2026}),
    "ORCHESTRATOR_PLANFUL_YEAR_RANGES": "2023-2024,2025-2026",
    "ORCHESTRATOR_PLANSOURCE_ORGANISATIONS": "acme,globex",
    "PLANSOURCE_ACME_CLIENT_ID": "acme-id",
    "PLANSOURCE_GLOBEX_CLIENT_ID": "globex-id",
}


def _dagster(tmp_path: Path, *args: str, **variables: str) -> subprocess.CompletedProcess[str]:
    home = tmp_path / "dagster-home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TAP_", "TARGET_", "MELTANO_", "ORCHESTRATOR_", "PLANSOURCE_"))
    }
    env.update(DAGSTER_HOME=str(home), NO_COLOR="1", **variables)
    return subprocess.run(
        [DAGSTER, *args, "-m", "orchestrator.definitions"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize(
    ("environment", "partitioned"),
    [("sandbox", False), ("sandbox", True), ("prod", False), ("shared", True)],
    ids=["sandbox", "sandbox-partitioned", "prod", "shared-partitioned"],
)
def test_definitions_validate_in_every_environment(tmp_path, environment, partitioned):
    variables = {"MELTANO_ENVIRONMENT": environment}
    if partitioned:
        variables.update(PARTITION_VARIABLES)
    result = _dagster(tmp_path, "definitions", "validate", **variables)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "All code locations passed validation" in output


def test_job_list_names_every_meltano_job_and_its_ops(tmp_path):
    """In the sandbox (the default environment), without variables: the scenarios of meltano.yml
    are the Planful partitions, each job has its system-database op first."""
    result = _dagster(tmp_path, "job", "list")
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    listed = [
        line.removeprefix("Job: ").strip()
        for line in result.stdout.splitlines()
        if line.startswith("Job: ")
    ]
    assert sorted(listed) == sorted(
        [
            "benefits_to_warehouse",
            "finance_to_warehouse",
            "customers_to_planhat",
            "sales_to_planhat",
            "benefits_to_jsonl",
            "benefits_to_postgres",
            "finance_to_postgres",
            "warehouse_to_planhat",
        ]
    )
    ops = result.stdout.split("Job: benefits_to_jsonl")[1].split("Job: ")[0]
    assert ops.split("Ops: (Execution Order)")[1].split()[:1] == ["benefits_to_jsonl__all"]
    assert "finance_to_postgres__2026_6_6" in result.stdout
