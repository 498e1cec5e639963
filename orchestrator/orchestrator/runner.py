"""One partition of a Meltano job as one `meltano run` process.

Meltano writes a plugin's config, catalog and incoming state to `.meltano/run/<plugin>/`, one
directory per plugin *name*, and deletes them when the plugin ends. Two runs of tap-planful at
once in one project would read each other's config (another scenario) or state. So each partition
runs with its own `MELTANO_SYS_DIR_ROOT`, whose plugin directories (the installed virtual
environments) are links to the project's: private run files, shared installs, no reinstall.
"""

from __future__ import annotations

import contextlib
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from orchestrator.project import SYSTEM_DATABASE, WHOLE_JOB, Partition

SHARED_POSTGRES_URL = "SHARED_POSTGRES_URL"
ATTEMPT_HEADER = "=== meltano "
"""Opens each attempt in a partition's run.log."""
USAGE_ERROR = 2
"""The exit status of a command line Meltano (click) cannot parse."""
DETERMINISTIC_MARKERS = {
    "Config validation failed": "a plugin refused its settings",
    "Fix the program that produced the input": "a plugin refused a line of its input",
    "Failed to parse JSON": "Meltano cannot read a setting's value",
}
"""What a failed run's log says when the same run would fail again (the one-line errors of the
plugins, through connector-core and singer-sdk, and of Meltano): not retried."""
PLUGIN_KINDS = ("extractors", "loaders", "mappers", "utilities", "transformers", "files")


@dataclass(frozen=True)
class RunResult:
    state_id: str
    returncode: int
    seconds: float
    cpu_seconds: float
    """CPU time of Meltano and the plugins it ran (user + system)."""
    log: Path

    def tail(self, lines: int = 20) -> str:
        return "\n".join(self.last_attempt().splitlines()[-lines:])

    def last_attempt(self) -> str:
        """The log of this run only (a retry appends to the partition's log)."""
        text = self.log.read_text(errors="replace")
        return text[text.rfind(ATTEMPT_HEADER) :] if ATTEMPT_HEADER in text else text

    def deterministic_failure(self) -> str | None:
        """Why running this again cannot succeed (a setting, an input or a command line to fix),
        or None: the failure may be transient and is worth a retry."""
        if self.returncode == USAGE_ERROR:
            return f"meltano exited {USAGE_ERROR} (its command line is wrong)"
        text = self.last_attempt()
        for marker, reason in DETERMINISTIC_MARKERS.items():
            if marker in text:
                return reason
        return None


def meltano_executable() -> str:
    """The `meltano` of this interpreter's environment (the one the orchestrator was installed
    with), else the one on PATH."""
    local = Path(sys.executable).with_name("meltano")
    return str(local) if local.exists() else "meltano"


def private_sys_dir(project_root: Path, job: str, partition: Partition) -> Path:
    """`.meltano/partitions/<job>/<key>/` with links to the project's installed plugins."""
    shared = project_root / ".meltano"
    own = shared / "partitions" / job / (partition.key or WHOLE_JOB)
    own.mkdir(parents=True, exist_ok=True)
    for kind in PLUGIN_KINDS:
        (shared / kind).mkdir(exist_ok=True)
        link = own / kind
        if not link.is_symlink():
            link.symlink_to(shared / kind, target_is_directory=True)
    return own


def state_id(environment: str, task: str, suffix: str) -> str:
    """The state ID Meltano gives `tap target` in `environment` with `--state-id-suffix`."""
    extractor, *_, loader = task.split()
    return ":".join(p for p in (environment, f"{extractor}-to-{loader}", suffix) if p)


def system_database_uri(project_root: Path, env: dict[str, str]) -> str:
    """SHARED_POSTGRES_URL (the shared environment's PostgreSQL) in SQLAlchemy's form for
    psycopg 3, the driver of meltano[postgres]; else the project's SQLite file (the default one
    lives in the sys dir, which is private to each partition here)."""
    shared = env.get(SHARED_POSTGRES_URL)
    if shared:
        scheme, _, rest = shared.partition("://")
        if scheme not in {"postgres", "postgresql"}:
            msg = f"{SHARED_POSTGRES_URL} must be a postgresql://user:password@host:port/db URL"
            raise ValueError(msg)
        return f"postgresql+psycopg://{rest}"
    return f"sqlite:///{project_root / '.meltano' / 'meltano.db'}"


def _meltano(
    project_root: Path,
    sys_dir: Path,
    env: dict[str, str],
    arguments: list[str],
    stdout: Path | None = None,
) -> tuple[int, float, float, Path]:
    """`meltano <arguments>` with its own sys dir, output appended to `run.log` there (Meltano's
    own log lines: no setting values, so no secrets); standard output to `stdout` if given."""
    env = {**os.environ, **env, "MELTANO_SYS_DIR_ROOT": str(sys_dir)}
    env.setdefault("MELTANO_DATABASE_URI", system_database_uri(project_root, env))
    log = sys_dir / "run.log"
    started, cpu = time.monotonic(), _children_cpu()
    with log.open("a", encoding="utf-8") as output:  # a retry appends: both attempts kept
        output.write(
            f"{ATTEMPT_HEADER}{' '.join(arguments)} at {time.strftime('%FT%TZ', time.gmtime())}\n"
        )
        output.flush()
        with stdout.open("w") if stdout else contextlib.nullcontext(output) as standard:
            completed = subprocess.run(  # noqa: S603 - our meltano, arguments from the project
                [meltano_executable(), *arguments],
                cwd=project_root,
                env=env,
                stdout=standard,
                stderr=output if stdout else subprocess.STDOUT,
                check=False,
            )
    return completed.returncode, time.monotonic() - started, _children_cpu() - cpu, log


def _children_cpu() -> float:
    """CPU seconds of this process's finished children and the descendants they waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def upgrade_system_database(project_root: Path, job: str) -> RunResult:
    """`meltano upgrade database` once before the partitions: Meltano migrates a new system
    database on first use, and several runs doing that at once fail ("Cannot upgrade the system
    database"), as the first test of this package showed on a fresh PostgreSQL."""
    partition = Partition(SYSTEM_DATABASE, "system database")
    sys_dir = private_sys_dir(project_root, job, partition)
    return RunResult("", *_meltano(project_root, sys_dir, {}, ["upgrade", "database"]))


def extra_variable(plugin: str, extra: str) -> str:
    """The variable of a Meltano extra of a plugin, e.g. TAP_PLANFUL__CATALOG."""
    return f"{plugin}__{extra}".upper().replace("-", "_")


def cached_catalog(project_root: Path, job: str) -> Path:
    return project_root / ".meltano" / "partitions" / job / "catalog.json"


def dump_catalog(project_root: Path, environment: str, job: str, extractor: str) -> RunResult:
    """The extractor's catalog, discovered once before the partitions with the project's
    select, metadata and schema rules applied: each partition gives it to Meltano as its
    `catalog` extra (only its own select filter is applied then) instead of running discovery.
    Written under another name and renamed when complete; removed first, so a partition never
    reads an older run's catalog (without the file, a partition discovers as usual)."""
    target = cached_catalog(project_root, job)
    target.unlink(missing_ok=True)
    partial = target.with_suffix(".partial")
    sys_dir = private_sys_dir(project_root, job, Partition(SYSTEM_DATABASE, "system database"))
    arguments = [
        f"--environment={environment}",
        "invoke",
        "--no-install",
        "--dump=catalog",
        extractor,
    ]
    # the runner's own select filter stays out: the partitions apply theirs to this catalog
    env = {extra_variable(extractor, "select_filter"): "[]"}
    outcome = _meltano(project_root, sys_dir, env, arguments, stdout=partial)
    if outcome[0] == 0 and partial.stat().st_size:
        partial.replace(target)
    else:
        partial.unlink(missing_ok=True)
    return RunResult("", *outcome)


def run_partition(
    project_root: Path,
    *,
    environment: str,
    job: str,
    task: str,
    partition: Partition,
    extra_env: dict[str, str] | None = None,
) -> RunResult:
    """`meltano --environment=<env> run --state-id-suffix=<key> <job>` in the partition's own
    sys dir."""
    sys_dir = private_sys_dir(project_root, job, partition)
    # installed at deploy time (`meltano install`): no install check in every partition
    arguments = [f"--environment={environment}", "run", "--no-install"]
    if partition.key:
        arguments.append(f"--state-id-suffix={partition.key}")
    # ORCHESTRATOR_PARTITION lets meltano.yml give a partition its own paths: ${...} in config
    own = {
        **(extra_env or {}),
        **partition.env,
        "ORCHESTRATOR_PARTITION": partition.key or WHOLE_JOB,
    }
    catalog = cached_catalog(project_root, job)
    if catalog.exists():
        own.setdefault(extra_variable(task.split(maxsplit=1)[0], "catalog"), str(catalog))
    outcome = _meltano(project_root, sys_dir, own, [*arguments, job])
    return RunResult(state_id(environment, task, partition.key), *outcome)
