"""The demo: start the sandbox, run the Meltano jobs, print what landed where, stop the sandbox.

Run it with `./run demo` (which sets up `.venv` first). Everything is local: the three emulators
listen on loopback, the warehouse is `output/warehouse.duckdb`, Planhat is the emulator's store.
When PostgreSQL's server binaries are installed (`./run test` installs them), the demo also starts
a throwaway PostgreSQL the way the pipeline tests do and runs the reverse-ETL job from it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
from sandbox.testing import SandboxClient, meltano_env, spawn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.pipelines import postgres  # the pipeline tests' throwaway server

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parents[1]
MELTANO = str(Path(sys.executable).with_name("meltano"))
JOBS = [
    ("benefits-to-warehouse", "PlanSource employees, dependents, coverages... into DuckDB"),
    ("finance-to-warehouse", "Planful GL data, segments, Dynamic Planning models into DuckDB"),
    ("customers-to-planhat", "customer list split by stream maps into companies and end users"),
    ("sales-to-planhat", "Planful sales transactions mapped to Planhat metrics"),
]
PROGRESS_SECONDS = 5
"""How often a long stream says how far it is, in the demo (the plugins' default is 30 s)."""
POSTGRES_JOBS = [
    ("warehouse-to-planhat", "warehouse table crm.accounts (PostgreSQL) into Planhat companies"),
]


def say(text: str) -> None:
    print(text, flush=True)


@contextmanager
def emulator(name: str) -> Iterator[str]:
    """One emulator in its own process on a free port, for as long as the block runs."""
    process, url = spawn(name)
    try:
        say(f"  {name:<11} {url}")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def warehouse_postgres() -> Iterator[dict[str, str] | None]:
    """A throwaway PostgreSQL with a seeded `crm.accounts` table, as the pipeline tests start
    one; the variables that point the sandbox environment at it, or None without the binaries."""
    server = postgres.TemporaryPostgres()
    try:
        warehouse = postgres.create_warehouse(server.start(), accounts=25)
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        say(f"  PostgreSQL: not started ({exc}); skipping {', '.join(j for j, _ in POSTGRES_JOBS)}")
        yield None
        return
    try:
        say(f"  postgresql  {warehouse.host}:{warehouse.port} (database warehouse)")
        yield postgres.meltano_env(warehouse)
    finally:
        server.stop()


SHOWN = re.compile(r"\]\s+(?P<plugin>[a-z][a-z0-9-]*)\s+(?P<line>Progress: .*|Summary: run .*)")
"""The taps' progress lines (a long stream, every few seconds) and their closing summary."""


def meltano(*args: str, env: dict[str, str]) -> str:
    """Run the real `meltano` CLI, with the `.env` file left out (the demo is the sandbox's:
    production credentials or a state backend there must not reach it), showing the taps'
    progress as it comes; stop the demo with its log tail if it fails."""
    started = time.monotonic()
    command = [MELTANO, f"--env-file={os.devnull}", *args]
    log = []
    with subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    ) as process:
        assert process.stderr is not None
        for line in process.stderr:
            log.append(line)
            shown = SHOWN.search(line)
            if shown:
                say(f"    {shown['plugin']}: {shown['line'].strip()}")
    stderr = "".join(log)
    if process.returncode != 0:
        say(stderr[-8000:])
        say(f"meltano {' '.join(args)} failed with exit code {process.returncode}")
        sys.exit(process.returncode)
    say(f"  meltano {' '.join(args)}: ok ({time.monotonic() - started:.0f} s)")
    for summary in re.findall(r"target-planhat\s+(\S+: total .*)", stderr):
        say(f"    target-planhat {summary.strip()}")
    return stderr


def run_job(job: str, env: dict[str, str]) -> str:
    """One job from clear state (`--full-refresh`: earlier runs' bookmarks ignored and replaced),
    so every demo run reads everything again and gives the same warehouse."""
    return meltano("run", "--full-refresh", job, env=env)


def warehouse_summary(path: Path) -> None:
    say(f"\nWarehouse ({path.relative_to(ROOT)}): rows per table")
    with duckdb.connect(str(path), read_only=True) as db:
        tables = db.execute(
            "select table_schema, table_name from information_schema.tables "
            "order by table_schema, table_name"
        ).fetchall()
        for schema, table in tables:
            row = db.execute(f'select count(*) from "{schema}"."{table}"').fetchone()
            count = row[0] if row else 0
            say(f"  {schema + '.' + table:<42} {count:>9,}")


def planhat_summary(url: str, before: dict[str, int]) -> None:
    after = SandboxClient(url).state()
    say("\nPlanhat sandbox: objects (before -> after the jobs)")
    for model, count in sorted(after.items()):
        if isinstance(count, int) and (count or before.get(model)):
            change = count - before.get(model, 0)
            say(f"  {model:<16} {before.get(model, 0):>7,} -> {count:>7,}  ({change:+,})")
    rejects = ROOT / "output" / "planhat-rejects.jsonl"
    rejected = len(rejects.read_text().splitlines()) if rejects.exists() else 0
    say(f"  rejected records: {rejected} (see {rejects.relative_to(ROOT)})")


def main() -> None:
    (ROOT / "output").mkdir(exist_ok=True)
    warehouse = ROOT / "output" / "warehouse.duckdb"
    warehouse.unlink(missing_ok=True)
    (ROOT / "output" / "planhat-rejects.jsonl").unlink(missing_ok=True)
    for ledger in (ROOT / "output").glob("planhat-ledger.sqlite3*"):  # fresh emulator, fresh ledger
        ledger.unlink()
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("TAP_", "TARGET_"))}
    base_env |= {
        "MELTANO_ENVIRONMENT": "sandbox",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "MELTANO_CLI_DISABLE_VERSION_CHECK": "true",
        "TAP_PLANFUL_PROGRESS_INTERVAL": str(PROGRESS_SECONDS),
        "TAP_PLANSOURCE_PROGRESS_INTERVAL": str(PROGRESS_SECONDS),
    }
    say("Starting the sandbox (local emulators of Planful, PlanSource, Planhat):")
    with ExitStack() as stack:
        names = ("planful", "plansource", "planhat")
        urls = {name: stack.enter_context(emulator(name)) for name in names}
        postgres_env = stack.enter_context(warehouse_postgres())
        env = base_env | meltano_env(urls)
        planhat_before = SandboxClient(urls["planhat"]).state()
        say("\nInstalling the Meltano plugins (first time: a minute or two):")
        meltano("install", env=env)
        say(
            "\nRunning the jobs from clear state (meltano run --full-refresh <job>): every run "
            "of the demo reads everything again into a new warehouse file, so each gives the "
            "same warehouse; bookmarks of earlier runs are ignored and replaced"
        )
        for job, what in JOBS:
            say(f"- {job}: {what}")
            run_job(job, env)
        if postgres_env is not None:
            for job, what in POSTGRES_JOBS:
                say(f"- {job}: {what}")
                run_job(job, env | postgres_env)
        warehouse_summary(warehouse)
        planhat_summary(urls["planhat"], planhat_before)
    say(
        "\nSandbox stopped. To run a job yourself, serve the sandbox on the ports meltano.yml uses:"
    )
    say("  ./run python -m sandbox serve planful --port 8701   (plansource 8702, planhat 8703)")
    say("  ./run python -m tests.pipelines.postgres   (PostgreSQL on 5432: the *-postgres jobs)")
    say("  ./run meltano run <job>")


if __name__ == "__main__":
    main()
