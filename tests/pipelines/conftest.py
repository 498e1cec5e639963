"""Real `meltano run` pipelines against the sandbox: a copy of the project in a temp dir, plugins
installed once per session by `meltano install`, emulators on loopback ports."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
from sandbox.testing import meltano_env, start

from tests.pipelines.postgres import PostgresServer, TemporaryPostgres

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sandbox.core import RunningEmulator

REPO = Path(__file__).resolve().parents[2]
PROJECT_FILES = ["meltano.yml", "meltano", "data"]
PLUGIN_DIRS = ["connector-core", "tap-planful", "tap-plansource", "target-planhat"]
MELTANO = str(Path(sys.executable).with_name("meltano"))


@dataclass
class MeltanoProject:
    """A throwaway copy of the Meltano project; `run()` calls the real `meltano` CLI in it."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)

    def run(
        self, *args: str, env: dict[str, str] | None = None, check: bool = True, timeout: int = 600
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [MELTANO, *args],
            check=False,
            cwd=self.root,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            command = " ".join(args)
            tail = result.stderr[-6000:]
            pytest.fail(f"meltano {command} exited {result.returncode}\n--- stderr ---\n{tail}")
        return result


def stop_process_group(process: subprocess.Popen) -> None:
    """SIGTERM, as a supervisor stops a server; its whole session killed if it has not ended
    within a minute (the process was started with `start_new_session=True`)."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def _clean_environment() -> dict[str, str]:
    """The caller's environment without settings that would leak into the plugins."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAP_", "TARGET_", "MELTANO_"))}
    env.update(
        MELTANO_SEND_ANONYMOUS_USAGE_STATS="false",
        MELTANO_CLI_DISABLE_VERSION_CHECK="true",
        MELTANO_ENVIRONMENT="sandbox",
        NO_COLOR="1",
    )
    return env


@pytest.fixture(scope="session")
def sandboxes() -> Iterator[dict[str, RunningEmulator]]:
    running = {name: start(name) for name in ("planful", "plansource", "planhat")}
    yield running
    for server in running.values():
        server.stop()


@pytest.fixture(scope="session")
def meltano_project(
    tmp_path_factory: pytest.TempPathFactory, sandboxes: dict[str, RunningEmulator]
) -> MeltanoProject:
    root = tmp_path_factory.mktemp("meltano-project")
    for name in PROJECT_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, root / name)
        elif source.exists():
            shutil.copy2(source, root / name)
    for name in PLUGIN_DIRS:
        (root / name).symlink_to(REPO / name, target_is_directory=True)
    project = MeltanoProject(
        root, {**_clean_environment(), **meltano_env({n: s.url for n, s in sandboxes.items()})}
    )
    project.run("install", timeout=1200)
    return project


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    url = os.environ.get("TEST_POSTGRES_URL")
    if url:
        parts = urlsplit(url)
        yield PostgresServer(
            parts.hostname or "127.0.0.1",
            parts.port or 5432,
            parts.username or "postgres",
            parts.password or "",
            parts.path.lstrip("/") or "postgres",
        )
        return
    server = TemporaryPostgres()
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def fresh_planhat(
    meltano_project: MeltanoProject, sandboxes: dict[str, RunningEmulator]
) -> Iterator[object]:
    """The session's Planhat emulator re-seeded and the project's sync ledger removed, before and
    after the test: the ledger remembers what earlier tests sent, so a test that counts what a
    job writes must start from a Planhat and a ledger that agree."""

    def fresh() -> None:
        sandboxes["planhat"].emulator.reset()
        for path in (meltano_project.root / "output").glob("planhat-ledger.sqlite3*"):
            path.unlink()

    fresh()
    yield sandboxes["planhat"].emulator
    fresh()
