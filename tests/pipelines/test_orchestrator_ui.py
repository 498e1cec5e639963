"""The orchestrator's UI as its README starts it: `dagster dev -m orchestrator.definitions` in the
project (sandbox environment, the emulators), on a free loopback port. Through the webserver's
GraphQL endpoint (what the UI itself calls): the jobs are listed, one is launched, and it
succeeds; then the server is stopped."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.pipelines.conftest import stop_process_group

pytestmark = pytest.mark.pipeline

DAGSTER = str(Path(sys.executable).with_name("dagster"))
JOB = "benefits_to_jsonl"
"""A quick job (PlanSource, a few hundred rows, into JSON lines files): one op and the
system-database op."""

REPOSITORIES = """
query {
  repositoriesOrError {
    __typename
    ... on RepositoryConnection { nodes { name location { name } jobs { name } } }
    ... on PythonError { message }
  }
}"""
LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}"""
RUN = """
query Run($id: ID!) {
  runOrError(runId: $id) { __typename ... on Run { status } ... on PythonError { message } }
}"""
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _graphql(port: int, query: str, **variables: Any) -> dict[str, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        body = json.loads(answer.read())
    assert "errors" not in body, body
    return body["data"]


def _until(what: str, check, seconds: float, server: subprocess.Popen[str]):
    """Poll `check` (once a second) until it returns something, for at most `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert server.poll() is None, f"dagster dev exited {server.returncode} ({what})"
        found = check()
        if found:
            return found
        time.sleep(1)
    pytest.fail(f"{what}: not within {seconds} s")


@pytest.fixture
def dagster_dev(meltano_project, sandboxes, tmp_path):
    """`dagster dev` in the project, its instance in a temporary DAGSTER_HOME; stopped with
    SIGTERM (as Ctrl-C), killed if it has not ended 60 s later."""
    port = _free_port()
    home = tmp_path / "dagster-home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {
        **meltano_project.env,
        "MELTANO_PROJECT_ROOT": str(meltano_project.root),
        "DAGSTER_HOME": str(home),
        "ORCHESTRATOR_RETRIES": "0",
    }
    log = (tmp_path / "dagster-dev.log").open("w")
    server = subprocess.Popen(
        [DAGSTER, "dev", "-m", "orchestrator.definitions", "-h", "127.0.0.1", "-p", str(port)],
        cwd=meltano_project.root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        yield port, server, tmp_path / "dagster-dev.log"
    finally:
        stop_process_group(server)
        log.close()


def test_the_ui_lists_the_jobs_and_runs_one(dagster_dev, meltano_project):
    port, server, log = dagster_dev

    def jobs() -> dict[str, Any] | None:
        try:
            answer = _graphql(port, REPOSITORIES)["repositoriesOrError"]
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return None  # not listening yet
        nodes = answer.get("nodes") or []
        return nodes[0] if nodes else None

    repository = _until("the code location loaded", jobs, 240, server)
    names = {job["name"] for job in repository["jobs"]}
    assert {JOB, "finance_to_postgres", "customers_to_planhat", "warehouse_to_planhat"} <= names

    written = meltano_project.root / "output" / "jsonl"
    before = set(written.glob("*.jsonl")) if written.exists() else set()
    params = {
        "selector": {
            "repositoryLocationName": repository["location"]["name"],
            "repositoryName": repository["name"],
            "jobName": JOB,
        },
        "runConfigData": {},
    }
    launched = _graphql(port, LAUNCH, params=params)["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]

    def finished() -> str | None:
        status = _graphql(port, RUN, id=run_id)["runOrError"]["status"]
        return status if status in FINISHED else None

    status = _until(f"run {run_id} finished", finished, 420, server)
    assert status == "SUCCESS", log.read_text()[-6000:]
    new_files = set(written.glob("*.jsonl")) - before
    assert new_files, "the job wrote no JSON lines file"
    assert any(path.read_text().strip() for path in new_files)
