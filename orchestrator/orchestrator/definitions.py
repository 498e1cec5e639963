"""Dagster definitions: one job per Meltano job, one op per partition, one schedule per Meltano
schedule. Load with `dagster job execute -m orchestrator.definitions -j <job>` or
`dagster dev -m orchestrator.definitions`.

Read from the runner's environment when the code location loads:
- `MELTANO_PROJECT_ROOT` (default: the working directory) and `MELTANO_ENVIRONMENT` (default: the
  project's default environment);
- the partitions (see orchestrator.project), e.g. `TAP_PLANFUL_SCENARIOS`;
- `ORCHESTRATOR_PLANHAT_TENANT`: names the pool of the ops that write to Planhat;
- `ORCHESTRATOR_WORKERS`: partitions run at once by the multiprocess executor (default: CPUs);
- `ORCHESTRATOR_RETRIES` (default 2) and `ORCHESTRATOR_RETRY_DELAY` (seconds, default 30): a
  failed partition is retried alone, in the same Dagster run, the others are not run again; a
  failure that says it would happen again (a refused setting or input line) is not retried.
"""

# no `from __future__ import annotations`: Dagster reads the op's context annotation at runtime
import os
import typing as t
from pathlib import Path

from dagster import (
    Definitions,
    ExecutorDefinition,
    Failure,
    In,
    JobDefinition,
    MetadataValue,
    Nothing,
    OpDefinition,
    OpExecutionContext,
    RetryPolicy,
    ScheduleDefinition,
    job,
    multiprocess_executor,
    op,
)

from orchestrator.project import PLANHAT, WHOLE_JOB, Job, MeltanoProject, Partition, slug
from orchestrator.runner import dump_catalog, run_partition, upgrade_system_database

WRITERS_POOL = "planhat"
"""Dagster pool of every op that writes to Planhat: give it a limit of 1 per tenant
(orchestrator/deploy/dagster.yaml: `pools: default_limit: 1`, or `dagster instance concurrency
set planhat 1`), as Planhat's quota is per tenant."""
PLANHAT_TENANT = "ORCHESTRATOR_PLANHAT_TENANT"
"""Optional name of the Planhat tenant the runner writes to: its pool is `planhat-<tenant>`, so
deployments writing to different tenants on one Dagster instance do not wait on each other."""


def writers_pool() -> str:
    tenant = os.environ.get(PLANHAT_TENANT, "").strip()
    return f"{WRITERS_POOL}-{slug(tenant)}" if tenant else WRITERS_POOL


def dagster_name(*parts: str) -> str:
    """Dagster names allow letters, digits and underscores."""
    return "__".join(part.replace("-", "_") for part in parts if part)


def partition_op(
    project: MeltanoProject, meltano_job: Job, partition: Partition, retry: RetryPolicy
) -> OpDefinition:
    writes_planhat = any(
        project.base(name) == PLANHAT for t in meltano_job.tasks for name in t.split()
    )

    @op(
        # a job's ops and graphs share one namespace with the jobs: never the job's own name
        name=dagster_name(meltano_job.name, partition.key or WHOLE_JOB),
        description=f"meltano run {meltano_job.name}"
        + (f" for {partition.label}" if partition.key else ""),
        ins={"after": In(Nothing)},
        retry_policy=retry,
        pool=writers_pool() if writes_planhat else None,
        tags={"meltano/job": meltano_job.name, "meltano/partition": partition.key or "-"},
    )
    def run_meltano(context: OpExecutionContext) -> None:
        result = run_partition(
            project.root,
            environment=project.environment,
            job=meltano_job.name,
            task=meltano_job.tasks[0],
            partition=partition,
        )
        attempt = context.retry_number + 1
        metadata: dict[str, MetadataValue] = {
            "state_id": MetadataValue.text(result.state_id),
            "seconds": MetadataValue.float(round(result.seconds, 3)),
            "cpu_seconds": MetadataValue.float(round(result.cpu_seconds, 3)),
            "attempt": MetadataValue.int(attempt),
            "log": MetadataValue.path(str(result.log)),
        }
        if result.returncode:
            final = result.deterministic_failure()
            verdict = f"not retried: {final}" if final else "may be transient"
            raise Failure(
                description=(
                    f"meltano run {meltano_job.name} ({partition.label}) exited "
                    f"{result.returncode} ({verdict}); last lines of {result.log}:\n"
                    f"{result.tail()}"
                ),
                metadata=metadata,
                allow_retries=final is None,
            )
        context.log.info(
            f"{result.state_id}: done in {result.seconds:.2f} s, {result.cpu_seconds:.2f} s CPU "
            f"(attempt {attempt})"
        )

    return run_meltano


def system_database_op(project: MeltanoProject, meltano_job: Job) -> OpDefinition:
    """The op before a partitioned job's partitions: the extractor's catalog discovered once,
    which, as the first Meltano command of the run, also migrates a new system database before
    the partitions would race to (a job without partitions has no such op: its one `meltano run`
    migrates the database itself)."""
    extractor = meltano_job.tasks[0].split(maxsplit=1)[0]

    @op(
        name=dagster_name(meltano_job.name, "system_database"),
        description=(
            f"{extractor}'s catalog, discovered once for the partitions (and a new system "
            "database migrated) before they run"
        ),
    )
    def prepare(context: OpExecutionContext) -> None:
        catalog = dump_catalog(project.root, project.environment, meltano_job.name, extractor)
        if not catalog.returncode:
            context.log.info(
                f"{extractor}'s catalog discovered (system database ready) in "
                f"{catalog.seconds:.1f} s"
            )
            return
        # not fatal: each partition discovers, as without the cache; the database is migrated
        context.log.warning(
            f"{extractor}'s catalog could not be discovered once (exit {catalog.returncode}): "
            f"each partition discovers it; last lines of {catalog.log}:\n{catalog.tail()}"
        )
        result = upgrade_system_database(project.root, meltano_job.name)
        if result.returncode:
            raise Failure(
                description=f"meltano upgrade database exited {result.returncode}:\n"
                + result.tail()
            )
        context.log.info(f"system database ready in {result.seconds:.1f} s")

    return prepare


def multiprocess(workers: int | None) -> ExecutorDefinition:
    """Dagster's multiprocess executor, `workers` partitions at once, its step processes forked
    from a server that has imported Dagster and this code location once (a spawned step process
    imports both again: about 1.6 s of CPU per partition)."""
    config: dict[str, t.Any] = {"start_method": {"forkserver": {}}}
    if workers:
        config["max_concurrent"] = workers
    return multiprocess_executor.configured(config)


def dagster_job(project: MeltanoProject, meltano_job: Job, workers: int | None) -> JobDefinition:
    retry = RetryPolicy(
        max_retries=int(os.environ.get("ORCHESTRATOR_RETRIES", "2")),
        delay=float(os.environ.get("ORCHESTRATOR_RETRY_DELAY", "30")),
    )
    partitions = meltano_job.partitions or [Partition("", meltano_job.name)]
    ops = [partition_op(project, meltano_job, p, retry) for p in partitions]
    prepare = system_database_op(project, meltano_job) if len(ops) > 1 else None

    @job(
        name=dagster_name(meltano_job.name),
        description=f"Meltano job {meltano_job.name}: {', '.join(meltano_job.tasks)}",
        executor_def=multiprocess(workers),
        tags={"meltano/environment": project.environment},
    )
    def graph() -> None:
        ready = prepare() if prepare else None
        for run_op in ops:
            done = run_op(after=ready) if ready else run_op()
            if meltano_job.sequential:
                ready = done

    return graph


def build_definitions(root: Path | None = None, environment: str | None = None) -> Definitions:
    project = MeltanoProject(
        root or Path(os.environ.get("MELTANO_PROJECT_ROOT") or Path.cwd()).resolve(),
        environment or os.environ.get("MELTANO_ENVIRONMENT"),
    )
    workers = (
        int(os.environ["ORCHESTRATOR_WORKERS"]) if os.environ.get("ORCHESTRATOR_WORKERS") else None
    )
    jobs = {j.name: dagster_job(project, j, workers) for j in project.jobs()}
    schedules = [
        ScheduleDefinition(name=dagster_name(s.name), cron_schedule=s.cron, job=jobs[s.job])
        for s in project.schedules()
        if s.job in jobs
    ]
    return Definitions(jobs=list(jobs.values()), schedules=schedules)


defs = build_definitions()
