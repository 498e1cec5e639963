"""`.env.example` works when copied, as the README's "Going to production" says (`cp .env.example
.env`): the copy changes nothing the sandbox environment does and not the default environment,
it names every variable the prod environment needs (the SOAP credentials included), and a line
uncommented but left empty means "not set" for every text and number setting of the plugins
(an empty region is the default Planhat host)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

from target_planhat.settings import DEFAULT_API_URL
from target_planhat.target import TargetPlanhat

from tests.pipelines.conftest import MELTANO, REPO, MeltanoProject

EXAMPLE = REPO / ".env.example"
PLUGINS = ("tap-planful", "tap-plansource", "target-planhat")
LINE = re.compile(r"^(?P<commented># )?(?P<name>[A-Z][A-Z0-9_]*)=(?P<value>\S*)")
PROD_NEEDS = {
    "TAP_PLANFUL_API_TYPE",
    "TAP_PLANFUL_SUBDOMAIN",
    "TAP_PLANFUL_SOAP_URL",
    "TAP_PLANFUL_LOGIN_NAME",
    "TAP_PLANFUL_PASSWORD",
    "TAP_PLANFUL_TENANT_CODE",
    "TAP_PLANFUL_SCENARIOS",
    "TAP_PLANFUL_ACCESS_ID",
    "TAP_PLANFUL_ACCESS_KEY",
    "TAP_PLANFUL_ACCESS_TOKEN",
    "TAP_PLANFUL_DYNAMIC_API_URL",
    "TAP_PLANSOURCE_ENVIRONMENT",
    "TAP_PLANSOURCE_CLIENT_ID",
    "TAP_PLANSOURCE_CLIENT_SECRET",
    "TAP_PLANSOURCE_USERNAME",
    "TARGET_PLANHAT_API_TOKEN",
    "TARGET_PLANHAT_REGION",
    "TARGET_PLANHAT_TENANT_TOKEN",
    "TARGET_POSTGRES_HOST",
    "TARGET_POSTGRES_PASSWORD",
}


def variables() -> dict[str, tuple[bool, str]]:
    """Each variable of `.env.example`: (commented out, example value)."""
    found = {}
    for line in EXAMPLE.read_text().splitlines():
        match = LINE.match(line)
        if match:
            found[match["name"]] = (bool(match["commented"]), match["value"])
    return found


def resolved(project: MeltanoProject, environment: str, plugin: str) -> dict:
    printed = project.run(f"--environment={environment}", "config", "--unsafe", "print", plugin)
    return json.loads(printed.stdout)


def test_it_names_every_variable_prod_needs_and_switches_no_environment():
    found = variables()
    assert set(found) >= PROD_NEEDS, sorted(PROD_NEEDS - set(found))
    assert "MELTANO_ENVIRONMENT" not in found
    active = {name for name, (commented, _) in found.items() if not commented}
    assert not {name for name in active if name.startswith(("TAP_", "TARGET_"))}, active


def test_a_copy_changes_nothing_the_sandbox_does(meltano_project, sandboxes):
    before = {plugin: resolved(meltano_project, "sandbox", plugin) for plugin in PLUGINS}
    path = meltano_project.root / ".env"
    shutil.copy2(EXAMPLE, path)
    try:
        after = {plugin: resolved(meltano_project, "sandbox", plugin) for plugin in PLUGINS}
        assert after == before
        # a sandbox job in the default environment, as `./run meltano run <job>` runs it: no
        # MELTANO_ENVIRONMENT but what `.env` might set
        env = {k: v for k, v in meltano_project.env.items() if k != "MELTANO_ENVIRONMENT"}
        job = subprocess.run(
            [MELTANO, "run", "--no-state-update", "benefits-to-jsonl"],
            cwd=meltano_project.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    finally:
        path.unlink()
    assert job.returncode == 0, job.stderr[-4000:]
    assert "Environment 'sandbox' is active" in job.stderr


def test_empty_lines_mean_not_set(meltano_project):
    """Every commented example without a value uncommented as it stands (`NAME=`): Meltano
    accepts them, and each plugin reads them as not set (the region: the default host)."""
    path = meltano_project.root / ".env"
    empty = [name for name, (_, value) in variables().items() if value == ""]
    assert "TARGET_PLANHAT_REGION" in empty
    path.write_text("".join(f"{name}=\n" for name in empty))
    try:
        configs = {plugin: resolved(meltano_project, "prod", plugin) for plugin in PLUGINS}
    finally:
        path.unlink()
    assert configs["target-planhat"]["region"] == ""  # what Meltano hands over
    config = {**configs["target-planhat"], "api_token": "token-0123456789"}
    config.pop("api_url", None)  # the session points Planhat at its emulator; prod has no such line
    target = TargetPlanhat(config=config)
    assert "region" not in target.config
    assert target.api_url == DEFAULT_API_URL
