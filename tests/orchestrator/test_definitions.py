"""What the orchestrator makes of the project (no `meltano run` here: tests/pipelines/
test_orchestrator.py runs the jobs): partitions and their variables per plugin, Dagster jobs,
ops, dependencies and schedules, the partitions' private Meltano directories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from dagster import Definitions
from orchestrator.definitions import WRITERS_POOL, build_definitions
from orchestrator.project import PLANFUL, MeltanoProject, ProjectError, slug
from orchestrator.runner import private_sys_dir, state_id, system_database_uri

pytestmark = pytest.mark.pipeline

REPO = Path(__file__).resolve().parents[2]


def _jobs(environment: str, **env: str) -> dict:
    return {job.name: job for job in MeltanoProject(REPO, environment).jobs(env)}


def test_planful_partitions_are_the_sandbox_scenarios_each_with_its_own_plan_year():
    job = _jobs("sandbox")["finance-to-postgres"]
    assert [p.label for p in job.partitions][1:4] == ["Actual", "2024 Budget", "2025 Budget"]
    assert not job.sequential
    by_key = {p.key: p.env for p in job.partitions}
    assert json.loads(by_key["actual"]["TAP_PLANFUL_SCENARIOS"]) == ["Actual"]
    assert json.loads(by_key["actual"]["TAP_PLANFUL__SELECT_FILTER"]) == ["gl_data"]
    assert json.loads(by_key["actual"]["TAP_PLANFUL_SCENARIO_FISCAL_YEARS"]) == {}
    forecast = by_key["2025-3-9"]
    assert json.loads(forecast["TAP_PLANFUL_SCENARIOS"]) == ["2025 3+9"]
    assert json.loads(forecast["TAP_PLANFUL_SCENARIO_FISCAL_YEARS"]) == {"2025 3+9": 2025}


def test_planful_partitions_from_the_runners_variables_and_year_ranges():
    env = {
        "TAP_PLANFUL_SCENARIOS": json.dumps(["Actual", "2026 Budget"]),
        "ORCHESTRATOR_PLANFUL_YEAR_RANGES": "2020-2022, 2023-2026",
    }
    job = _jobs("shared", **env)["finance-to-warehouse"]
    assert [p.key for p in job.partitions] == [
        "other-streams",
        "actual-2020-2022",
        "actual-2023-2026",
        "2026-budget-2020-2022",
        "2026-budget-2023-2026",
    ]
    first = job.partitions[1].env
    assert first["TAP_PLANFUL_START_FISCAL_YEAR"] == "2020"
    assert first["TAP_PLANFUL_END_FISCAL_YEAR"] == "2022"
    with pytest.raises(ProjectError, match="'2024' is not a range"):
        _jobs("shared", **{**env, "ORCHESTRATOR_PLANFUL_YEAR_RANGES": "2024"})


def test_planful_streams_other_than_gl_data_are_one_partition_of_their_own():
    """Segments, currencies and Dynamic Planning do not depend on the scenario: one run reads
    them (once, not once per scenario) and is their only writer; every scenario partition
    reads gl_data alone, the years and plan years of the whole list kept for the others."""
    env = {
        "TAP_PLANFUL_SCENARIOS": json.dumps(["Actual", "2026 Budget"]),
        "TAP_PLANFUL_SCENARIO_FISCAL_YEARS": json.dumps({"2026 Budget": 2026}),
    }
    job = _jobs("shared", **env)["finance-to-postgres"]
    other, *scenarios = job.partitions
    assert other.key == "other-streams"
    assert json.loads(other.env["TAP_PLANFUL__SELECT_FILTER"]) == ["!gl_data"]
    assert "TAP_PLANFUL_SCENARIOS" not in other.env  # the `scenarios` stream lists them all
    assert json.loads(other.env["TAP_PLANFUL_SCENARIO_FISCAL_YEARS"]) == {"2026 Budget": 2026}
    # the sandbox's files give every scenario's plan year: those of the scenarios read only
    sandbox = _jobs("sandbox", TAP_PLANFUL_SCENARIOS='["Actual", "2025 Budget"]')
    plan_years = {
        p.key: p.env["TAP_PLANFUL_SCENARIO_FISCAL_YEARS"]
        for p in sandbox["finance-to-postgres"].partitions
    }
    assert {k: json.loads(v) for k, v in plan_years.items()} == {
        "other-streams": {"2025 Budget": 2025},
        "actual": {},
        "2025-budget": {"2025 Budget": 2025},
    }
    assert [json.loads(p.env["TAP_PLANFUL__SELECT_FILTER"]) for p in scenarios] == [
        ["gl_data"],
        ["gl_data"],
    ]
    assert _jobs("shared", TAP_PLANFUL_SCENARIOS="[]")["finance-to-postgres"].partitions == []
    # a project that selects gl_data alone has no other streams to read
    only_gl = _jobs("shared", **env, TAP_PLANFUL__SELECT='["gl_data.*"]')["finance-to-postgres"]
    assert [p.key for p in only_gl.partitions] == ["actual", "2026-budget"]


def test_partitions_into_one_local_file_run_in_turn():
    jobs = _jobs("sandbox")
    assert jobs["finance-to-warehouse"].sequential  # one DuckDB file: one writer
    assert not jobs["finance-to-postgres"].sequential


def test_partitions_whose_state_ids_would_collide_are_refused():
    env = {"TAP_PLANFUL_SCENARIOS": json.dumps(["2025 3+9", "2025 3 9"])}
    with pytest.raises(ProjectError, match="share a state ID suffix"):
        _jobs("shared", **env)
    with pytest.raises(ProjectError, match="no letter or digit"):
        slug("+")
    with pytest.raises(ProjectError, match="TAP_PLANFUL_SCENARIOS must be JSON"):
        _jobs("shared", TAP_PLANFUL_SCENARIOS="Actual,2025 Budget")


def test_plansource_partitions_per_organisation_with_their_own_credentials():
    env = {
        "ORCHESTRATOR_PLANSOURCE_ORGANISATIONS": "acme, Globex",
        "PLANSOURCE_ACME_CLIENT_ID": "acme-id",
        "PLANSOURCE_ACME_CLIENT_SECRET": "acme-secret",
        "PLANSOURCE_GLOBEX_CLIENT_ID": "globex-id",
        "TAP_PLANSOURCE_CLIENT_ID": "ignored-by-partitions",
    }
    job = _jobs("shared", **env)["benefits-to-postgres"]
    assert [(p.key, p.env) for p in job.partitions] == [
        (
            "acme",
            {"TAP_PLANSOURCE_CLIENT_ID": "acme-id", "TAP_PLANSOURCE_CLIENT_SECRET": "acme-secret"},
        ),
        ("globex", {"TAP_PLANSOURCE_CLIENT_ID": "globex-id"}),
    ]
    assert _jobs("shared")["benefits-to-postgres"].partitions == []  # no list: one run
    with pytest.raises(ProjectError, match="PLANSOURCE_INITECH_"):
        _jobs("shared", **{**env, "ORCHESTRATOR_PLANSOURCE_ORGANISATIONS": "initech"})


def test_planhat_partitions_per_object_in_order_each_dropping_the_others():
    job = _jobs("shared")["customers-to-planhat"]
    assert job.sequential
    assert [(p.key, json.loads(p.env["TARGET_PLANHAT_STREAM_MAPS"])) for p in job.partitions] == [
        ("companies", {"endusers": "__NULL__"}),
        ("endusers", {"companies": "__NULL__"}),
    ]
    # one object only: no partitions
    assert _jobs("shared")["warehouse-to-planhat"].partitions == []


def test_dagster_jobs_ops_and_schedules():
    defs = build_definitions(REPO, "sandbox")
    finance = defs.get_job_def("finance_to_postgres")
    assert finance.executor_def.name == "multiprocess"
    upstream = finance.graph.dependency_structure
    partitions = [
        n.name for n in finance.graph.nodes if n.name != "finance_to_postgres__system_database"
    ]
    assert "finance_to_postgres__actual" in partitions
    for name in partitions:  # every partition waits for the system database, for nothing else
        inputs = upstream.input_to_upstream_outputs_for_node(name)
        assert [o.node_name for outs in inputs.values() for o in outs] == [
            "finance_to_postgres__system_database"
        ]
        assert finance.graph.node_named(name).definition.retry_policy.max_retries == 2

    planhat = defs.get_job_def("customers_to_planhat")
    inputs = planhat.graph.dependency_structure.input_to_upstream_outputs_for_node(
        "customers_to_planhat__endusers"
    )
    assert [o.node_name for outs in inputs.values() for o in outs] == [
        "customers_to_planhat__companies"
    ]
    assert (
        planhat.graph.node_named("customers_to_planhat__companies").definition.pool == WRITERS_POOL
    )
    assert finance.graph.node_named("finance_to_postgres__actual").definition.pool is None

    schedules = {s.name: (s.cron_schedule, s.job_name) for s in defs.schedules}
    assert schedules == {
        "benefits_daily": ("0 5 * * *", "benefits_to_postgres"),
        "finance_hourly": ("15 * * * *", "finance_to_postgres"),
        "customers_to_planhat_hourly": ("30 * * * *", "customers_to_planhat"),
    }


def test_each_partition_has_its_own_meltano_run_directory_and_shares_the_installs(tmp_path):
    job = _jobs("sandbox")["finance-to-postgres"]
    first, second = (
        private_sys_dir(tmp_path, "finance-to-postgres", p) for p in job.partitions[:2]
    )
    assert first != second
    for kind in ("extractors", "loaders"):
        assert (first / kind).resolve() == (tmp_path / ".meltano" / kind).resolve()
        assert (second / kind).resolve() == (tmp_path / ".meltano" / kind).resolve()
    assert not (first / "run").is_symlink()
    assert state_id("shared", "tap-planful target-postgres", "actual") == (
        "shared:tap-planful-to-target-postgres:actual"
    )


def test_system_database_from_the_shared_postgres_url(tmp_path):
    url = "postgresql://meltano:secret@db.internal:5432/meltano"
    assert system_database_uri(tmp_path, {"SHARED_POSTGRES_URL": url}) == (
        "postgresql+psycopg://meltano:secret@db.internal:5432/meltano"
    )
    assert system_database_uri(tmp_path, {}) == f"sqlite:///{tmp_path}/.meltano/meltano.db"
    with pytest.raises(ValueError, match="SHARED_POSTGRES_URL must be"):
        system_database_uri(tmp_path, {"SHARED_POSTGRES_URL": "mysql://x"})


def test_shared_environment_names_its_secrets_only_by_variable():
    project = yaml.safe_load((REPO / "meltano.yml").read_text())
    shared = next(e for e in project["environments"] if e["name"] == "shared")
    sensitive = set()
    for path in (REPO / "meltano").glob("*.meltano.yml"):
        for plugins in (yaml.safe_load(path.read_text()).get("plugins") or {}).values():
            for plugin in plugins:
                sensitive |= {s["name"] for s in plugin.get("settings") or [] if s.get("sensitive")}
    given = {
        name: value
        for plugins in shared["config"]["plugins"].values()
        for plugin in plugins
        for name, value in (plugin.get("config") or {}).items()
        if name in sensitive
    }
    assert given == {"ledger": "${SHARED_POSTGRES_URL}"}


@pytest.mark.parametrize("environment", ["sandbox", "prod", "shared"])
def test_every_name_in_the_code_location_is_unique(environment):
    """Dagster's own check of a repository (what `dagster definitions validate` runs): a job
    without partitions has one op, `<job>__all`, never named like the job."""
    defs = build_definitions(REPO, environment)
    Definitions.validate_loadable(defs)
    single = defs.get_job_def("benefits_to_jsonl")
    assert sorted(n.name for n in single.graph.nodes) == ["benefits_to_jsonl__all"]


def test_partition_names_of_the_orchestrator_are_refused():
    with pytest.raises(ProjectError, match=r"may not be named \['all'\]"):
        _jobs("shared", TAP_PLANFUL_SCENARIOS=json.dumps(["All", "Actual"]))
    with pytest.raises(ProjectError, match="may not be named"):
        _jobs("shared", TAP_PLANFUL_SCENARIOS=json.dumps(["System Database"]))


def test_plan_years_written_as_a_yaml_mapping_are_refused_with_what_to_write(tmp_path):
    """Meltano merges a variable into an object written as a mapping in meltano.yml, so each
    partition would get every scenario's plan year and tap-planful would refuse them: the
    project must write them as JSON text (as the sandbox environment does) or as a variable."""
    project = yaml.safe_load((REPO / "meltano.yml").read_text())
    sandbox = next(e for e in project["environments"] if e["name"] == "sandbox")
    planful = next(p for p in sandbox["config"]["plugins"]["extractors"] if p["name"] == PLANFUL)
    assert json.loads(planful["config"]["scenario_fiscal_years"])["2025 Budget"] == 2025
    planful["config"]["scenario_fiscal_years"] = {"2025 Budget": 2025}
    planful["config"]["scenarios"] = ["Actual", "2025 Budget"]
    (tmp_path / "meltano.yml").write_text(yaml.safe_dump(project))
    with pytest.raises(ProjectError, match="write `scenario_fiscal_years` of environment sandbox"):
        MeltanoProject(tmp_path, "sandbox").jobs({})
    # a single scenario is one run: nothing to narrow
    planful["config"]["scenarios"] = ["2025 Budget"]
    (tmp_path / "meltano.yml").write_text(yaml.safe_dump(project))
    (job,) = [
        j for j in MeltanoProject(tmp_path, "sandbox").jobs({}) if j.name == "finance-to-postgres"
    ]
    assert [p.key for p in job.partitions] == ["other-streams", "2025-budget"]


def test_the_planhat_pool_is_named_by_tenant(monkeypatch):
    monkeypatch.setenv("ORCHESTRATOR_PLANHAT_TENANT", "Acme EU")
    defs = build_definitions(REPO, "shared")
    job = defs.get_job_def("customers_to_planhat")
    assert job.graph.node_named("customers_to_planhat__companies").definition.pool == (
        "planhat-acme-eu"
    )


def test_the_shared_instance_config_is_valid_dagster_config(monkeypatch):
    """orchestrator/deploy/dagster.yaml as Dagster reads an instance's config (its schema, the
    storage and coordinator classes it names); tests/pipelines/test_orchestrator.py runs it."""
    from dagster._config import process_config  # noqa: PLC0415
    from dagster._core.instance.config import dagster_instance_config  # noqa: PLC0415
    from dagster_postgres import DagsterPostgresStorage  # noqa: PLC0415

    monkeypatch.setenv("DAGSTER_POSTGRES_URL", "postgresql://dagster@db.internal:5432/dagster")
    config, _ = dagster_instance_config(str(REPO / "orchestrator" / "deploy"))
    assert config["concurrency"]["pools"] == {"default_limit": 1, "granularity": "op"}
    assert config["run_coordinator"] == {"module": "dagster", "class": "QueuedRunCoordinator"}
    assert config["storage"] == {"postgres": {"postgres_url": {"env": "DAGSTER_POSTGRES_URL"}}}
    storage = process_config(DagsterPostgresStorage.config_type(), config["storage"]["postgres"])
    assert storage.success, storage.errors
    assert storage.value["postgres_url"] == "postgresql://dagster@db.internal:5432/dagster"


def test_the_cluster_example_says_what_the_shared_instance_says():
    """orchestrator/deploy/k8s/values.yaml (Dagster's Helm chart) against deploy/dagster.yaml:
    the same pools, run limit and coordinator, the user code served from the module that
    `dagster definitions validate` loads, the image built by deploy/Dockerfile."""
    deploy = REPO / "orchestrator" / "deploy"
    values = yaml.safe_load((deploy / "k8s" / "values.yaml").read_text())
    instance = yaml.safe_load((deploy / "dagster.yaml").read_text())
    pools = values["concurrency"]["pools"]
    assert {"default_limit": pools["defaultLimit"], "granularity": pools["granularity"]} == (
        instance["concurrency"]["pools"]
    )
    assert (
        values["concurrency"]["runs"]["maxConcurrentRuns"]
        == (instance["concurrency"]["runs"]["max_concurrent_runs"])
    )
    assert (
        values["dagsterDaemon"]["runCoordinator"]["type"] == (instance["run_coordinator"]["class"])
    )
    assert values["postgresql"]["enabled"] is False  # the shared server, not the chart's own
    (user_code,) = values["dagster-user-deployments"]["deployments"]
    assert user_code["dagsterApiGrpcArgs"] == ["-m", "orchestrator.definitions"]
    assert {"name": "MELTANO_ENVIRONMENT", "value": "shared"} in user_code["env"]
    dockerfile = (deploy / "Dockerfile").read_text()
    assert "meltano install" in dockerfile
    assert '"-m", "orchestrator.definitions"' in dockerfile
    assert str(user_code["port"]) in dockerfile
