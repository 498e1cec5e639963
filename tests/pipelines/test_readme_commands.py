"""Every command the README's "The Meltano project" section shows runs as written against the
sandbox. The commands are read from the section's fenced `bash` blocks, so a README change is
tested: `./run meltano ...` lines run in the session's copy of the project, the lines that start
a service (`sandbox serve`, the PostgreSQL helper) are what the session fixtures provide, and a
line ending with `# needs: real services` is skipped."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from dataclasses import dataclass

import pytest
import yaml

from tests.cli_failures import free_port
from tests.pipelines.conftest import MELTANO, REPO, MeltanoProject
from tests.pipelines.postgres import SANDBOX, create_warehouse
from tests.pipelines.postgres import meltano_env as postgres_meltano_env

SECTION = "The Meltano project"
NEEDS_REAL_SERVICES = "# needs: real services"
SERVICES = {
    "./run python -m sandbox serve": "an emulator (the `sandboxes` fixture)",
    "./run python -m tests.pipelines.postgres": "PostgreSQL (the `postgres` fixture)",
}
ENVIRONMENT_BLIND = ("select", "config", "state")
"""Subcommands for which Meltano 4.4 ignores `default_environment`."""


@dataclass(frozen=True)
class Command:
    line: str
    skipped: bool

    @property
    def text(self) -> str:
        """The command without its trailing comment."""
        return " ".join(shlex.split(self.line, comments=True))


def readme_commands() -> list[Command]:
    readme = (REPO / "README.md").read_text()
    start = readme.index(f"\n## {SECTION}\n")
    section = readme[start : readme.index("\n## ", start + 1)]
    blocks = re.findall(r"^( *)```bash\n(.*?)^\1```", section, flags=re.MULTILINE | re.DOTALL)
    commands = []
    for _indent, block in blocks:
        for raw in block.splitlines():
            line = raw.strip()
            if line and not line.startswith("#"):
                commands.append(Command(line, line.endswith(NEEDS_REAL_SERVICES)))
    return commands


COMMANDS = readme_commands()


def test_the_section_shows_commands_and_every_one_is_understood():
    runnable = [c for c in COMMANDS if not c.skipped]
    assert len(runnable) >= 8
    for command in COMMANDS:
        assert command.text.startswith(("./run meltano ", *SERVICES)), command.line
        if command.skipped:
            assert "--environment=prod" in command.text, f"only prod needs real services: {command}"


def test_environment_blind_commands_name_their_environment():
    """`meltano select/config/state` without `--environment` ignore the sandbox settings."""
    for command in COMMANDS:
        words = command.text.split()
        subcommand = next((w for w in words[2:] if not w.startswith("-")), "")
        if subcommand in ENVIRONMENT_BLIND:
            assert any(w.startswith("--environment=") for w in words), command.line


def test_service_lines_match_the_sandbox_environment():
    """The ports the README starts the services on are the ones meltano.yml points at."""
    project = yaml.safe_load((REPO / "meltano.yml").read_text())
    sandbox = next(e for e in project["environments"] if e["name"] == "sandbox")
    text = yaml.safe_dump(sandbox)
    for command in COMMANDS:
        if command.text.startswith("./run python -m sandbox serve"):
            port = command.text.split("--port ")[1].split()[0]
            assert f"http://127.0.0.1:{port}" in text, command.line
        elif command.text.startswith("./run python -m tests.pipelines.postgres"):
            assert "--port" not in command.text or f"--port {SANDBOX.port}" in command.text


def _as_a_newcomer(env: dict[str, str]) -> dict[str, str]:
    """The session's variables without `MELTANO_ENVIRONMENT`, which would hide what
    `default_environment` does not apply; only the services' URLs and ports stay."""
    return {k: v for k, v in env.items() if k != "MELTANO_ENVIRONMENT"}


def _meltano(
    project: MeltanoProject, arguments: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """`meltano <arguments>` through a shell (the README's lines may hold a pipe)."""
    return subprocess.run(
        ["bash", "-c", MELTANO + " " + arguments.strip()],
        cwd=project.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_readme_commands_run_against_the_sandbox(meltano_project, postgres):
    """Each `./run meltano ...` line in README order, in the sandbox environment; the services
    are the session's emulators and PostgreSQL (only their ports differ from meltano.yml)."""
    env = _as_a_newcomer(meltano_project.env)
    env |= postgres_meltano_env(create_warehouse(postgres, accounts=5))
    ran = []
    for command in COMMANDS:
        if command.skipped or not command.text.startswith("./run meltano "):
            continue
        result = _meltano(meltano_project, command.text.removeprefix("./run meltano"), env)
        detail = f"{command.line}\n--- stderr ---\n{result.stderr[-4000:]}"
        assert result.returncode == 0, detail
        assert "Traceback" not in result.stderr, detail
        assert "unhandled error" not in result.stderr, detail
        ran.append(command.text)
    assert ran


@pytest.mark.parametrize(
    ("args", "expected"),
    [("select tap-planful --list --all", "dp_esm_data")],
)
def test_select_shows_the_sandbox_streams_only_with_the_environment(
    meltano_project, args, expected
):
    """Why the README gives `select` its `--environment`: without it the sandbox's
    `api_type: both` is not applied and the Dynamic Planning streams are missing."""
    env = _as_a_newcomer(meltano_project.env)
    with_environment = _meltano(meltano_project, f"--environment=sandbox {args}", env).stdout
    without = _meltano(meltano_project, args, env).stdout
    assert expected in with_environment
    assert expected not in without


CONNECTION_TESTS = [c for c in COMMANDS if c.skipped and c.text.endswith(" --test")]
"""The production section's `meltano invoke <plugin> --test` lines."""
CHECKS = {"tap-planful": 3, "tap-plansource": 2, "target-planhat": 2}
"""The checks each plugin makes with the sandbox's settings (Planful: SOAP, REST and Dynamic
Planning; PlanSource: token and Admin API; Planhat: API and analytics host)."""


def _as_variables(plugin: str) -> dict[str, str]:
    """The sandbox environment's settings of `plugin` as the variables a filled-in `.env` holds
    for `prod` (values Meltano expands itself, `${...}`, left out)."""
    project = yaml.safe_load((REPO / "meltano.yml").read_text())
    sandbox = next(e for e in project["environments"] if e["name"] == "sandbox")
    plugins = [p for kind in sandbox["config"]["plugins"].values() for p in kind]
    config = next(p["config"] for p in plugins if p["name"] == plugin)
    prefix = plugin.upper().replace("-", "_") + "_"
    return {
        prefix + name.upper(): value if isinstance(value, str) else json.dumps(value)
        for name, value in config.items()
        if not (isinstance(value, str) and "${" in value)
    }


def _prod_env(project: MeltanoProject, plugin: str) -> dict[str, str]:
    """`prod` filled in with the sandbox's credentials, pointed at the session's emulators."""
    urls = {k: v for k, v in project.env.items() if k.endswith("_URL")}
    return _as_a_newcomer(project.env) | _as_variables(plugin) | urls


def test_the_production_connection_tests_pass_against_the_sandbox(meltano_project):
    """The README's `--test` lines, as written, with `.env`'s variables set to the sandbox's
    credentials and URLs: one `ok:` line per API, exit 0."""
    assert {c.text.split()[-2] for c in CONNECTION_TESTS} == set(CHECKS)
    for command in CONNECTION_TESTS:
        plugin = command.text.split()[-2]
        arguments = command.text.removeprefix("./run meltano")
        result = _meltano(meltano_project, arguments, _prod_env(meltano_project, plugin))
        detail = f"{command.line}\n--- stderr ---\n{result.stderr[-4000:]}"
        assert result.returncode == 0, detail
        assert result.stderr.count(" ok: ") == CHECKS[plugin], detail
        assert "Connection test passed" in result.stderr, detail
        assert "Traceback" not in result.stderr, detail


def test_the_production_connection_tests_name_the_setting_of_a_stopped_emulator(meltano_project):
    """The same lines with an emulator that is not running (nothing listens on its port): exit
    1, one error line naming the URL setting and the emulator to start."""
    stopped = {  # the variable moved to a free port, and the setting the line names
        "tap-planful": ("TAP_PLANFUL_SOAP_URL", "check `soap_url`"),
        "tap-plansource": ("TAP_PLANSOURCE_API_URL", "check `environment` (or `api_url`)"),
        "target-planhat": ("TARGET_PLANHAT_API_URL", "check `region` / `api_url`"),
    }
    for command in CONNECTION_TESTS:
        plugin = command.text.split()[-2]
        env = _prod_env(meltano_project, plugin)
        port = free_port()
        variable, setting = stopped[plugin]
        env[variable] = re.sub(r":\d+", f":{port}", env[variable], count=1)
        arguments = command.text.removeprefix("./run meltano")
        result = _meltano(meltano_project, arguments, env)
        detail = f"{command.line}\n--- stderr ---\n{result.stderr[-4000:]}"
        assert result.returncode == 1, detail
        failed = [line for line in result.stderr.splitlines() if "Connection test failed" in line]
        assert len(failed) == 1, detail
        assert f"Nothing answers at http://127.0.0.1:{port} (connection refused)" in failed[0]
        assert setting in failed[0], failed[0]
        assert f"python -m sandbox serve {plugin.split('-', 1)[1]} --port {port}" in failed[0]
        assert "Traceback" not in result.stderr, detail
