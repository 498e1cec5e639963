"""The plugins as someone outside this repository gets them: built by `./run build`, installed from
their wheels into a fresh virtual environment or a fresh Meltano project in a temporary directory,
with nothing from the source tree, and run against the emulators."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests
import yaml
from sandbox.planful.app import ACCESS_TOKEN
from sandbox.planhat.app import SANDBOX_TOKEN, TENANT_UUID
from sandbox.plansource.app import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_LOGGED_IN_USER,
    DEFAULT_ORGANIZATION_ID,
)
from sandbox.testing import start

from scripts.plugin_docs import DEFINITION, PLUGINS

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sandbox.core import RunningEmulator

ROOT = Path(__file__).resolve().parents[2]
UV = ROOT / ".tools" / "bin" / "uv"
MELTANO = str(Path(sys.executable).with_name("meltano"))
CORE = "planful-plansource-planhat-core"
GITHUB = "https://github.com/<owner>/<repository>"
"""The repository in the READMEs' Git URLs; the tests put a local copy in its place."""
VERSION = tomllib.loads((ROOT / "connector-core" / "pyproject.toml").read_text())["project"][
    "version"
]


def outside_environment() -> dict[str, str]:
    """The caller's environment without this repository's virtual environment, Python path or
    plugin settings: what a shell elsewhere has."""
    leaks = ("TAP_", "TARGET_", "MELTANO_", "VIRTUAL_ENV", "PYTHON", "UV_PROJECT")
    env = {k: v for k, v in os.environ.items() if not k.startswith(leaks)}
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(str(ROOT))
    )
    env.update(
        MELTANO_SEND_ANONYMOUS_USAGE_STATS="false",
        MELTANO_CLI_DISABLE_VERSION_CHECK="true",
        NO_COLOR="1",
    )
    return env


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 900):
    result = subprocess.run(
        command,
        cwd=cwd,
        env={**outside_environment(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(
            f"{' '.join(command)} exited {result.returncode}\n{result.stderr[-6000:]}"
            f"\n{result.stdout[-2000:]}"
        )
    return result


def readme_line(plugin: str, start: str) -> str:
    """The line of the plugin README's "Install and run" section that starts with `start`."""
    readme = (ROOT / plugin / "README.md").read_text()
    begin = readme.index("\n## Install and run\n")
    section = readme[begin : readme.index("\n## ", begin + 1)]
    [line] = [line for line in section.splitlines() if line.startswith(start)]
    return line


def wheel(dist: Path, distribution: str) -> Path:
    [path] = dist.glob(f"{distribution.replace('-', '_')}-{VERSION}-py3-none-any.whl")
    return path


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheels and sdists `./run build` makes, in a directory outside the repository."""
    out = tmp_path_factory.mktemp("dist")
    assert not out.is_relative_to(ROOT)
    run([str(ROOT / "run"), "build", str(out)], cwd=ROOT)
    for distribution in (CORE, *PLUGINS):
        assert wheel(dist=out, distribution=distribution).exists()
        assert (out / f"{distribution.replace('-', '_')}-{VERSION}.tar.gz").exists()
    return out


@pytest.fixture(scope="module")
def emulators() -> Iterator[dict[str, RunningEmulator]]:
    running = {name: start(name) for name in ("planful", "plansource", "planhat")}
    yield running
    for server in running.values():
        server.stop()


def fresh_venv(where: Path) -> Path:
    """A new virtual environment of this Python, outside the repository; returns its bin/."""
    run([str(UV), "venv", "--quiet", "--python", sys.executable, str(where)], cwd=where.parent)
    return where / "bin"


def uv_pip_install(bin_dir: Path) -> list[str]:
    """`pip install` into the environment of `bin_dir` (uv's, the same arguments, faster)."""
    return [str(UV), "pip", "install", "--quiet", "--python", str(bin_dir / "python")]


def installed(bin_dir: Path, cwd: Path) -> dict[str, Any]:
    """Where the environment imports the plugins and the core from, and what it holds."""
    code = (
        "import importlib, importlib.metadata as m, json\n"
        "core = m.distribution('planful-plansource-planhat-core')\n"
        "packages = [f.parts[0] for f in core.files if f.suffix == '.py']\n"
        "print(json.dumps({\n"
        "    'core': str(importlib.import_module(packages[0]).__file__),\n"
        "    'direct_url': core.read_text('direct_url.json'),\n"
        "    'distributions': sorted(d.metadata['Name'] for d in m.distributions()),\n"
        "}))\n"
    )
    return json.loads(run([str(bin_dir / "python"), "-c", code], cwd=cwd).stdout)


def test_a_plugin_wheel_installs_alone_and_syncs(dist, emulators, tmp_path):
    """`pip install --find-links dist dist/tap_plansource-<version>-py3-none-any.whl` as
    tap-plansource's README writes it, in a fresh environment: the plugin's wheel, the core's
    wheel beside it and what they declare from the package index; then `--about`, `--version`
    and a sync."""
    bin_dir = fresh_venv(tmp_path / "venv")
    (tmp_path / "dist").symlink_to(dist, target_is_directory=True)
    command = shlex.split(readme_line("tap-plansource", "pip install --find-links "))
    assert command[-1] == f"dist/{wheel(dist, 'tap-plansource').name}"
    run([*uv_pip_install(bin_dir), *command[2:]], cwd=tmp_path)
    where = installed(bin_dir, tmp_path)
    assert Path(where["core"]).is_relative_to(tmp_path / "venv"), where["core"]
    assert where["direct_url"] is None  # from the wheel beside the plugin, not a path or editable
    names = {n.lower() for n in where["distributions"]}
    assert {"tap-plansource", CORE} <= names
    assert not names & {"tap-planful", "target-planhat", "sandbox", "orchestrator"}

    tap = str(bin_dir / "tap-plansource")
    about = json.loads(run([tap, "--about", "--format=json"], cwd=tmp_path).stdout)
    assert (about["name"], about["version"]) == ("tap-plansource", VERSION)
    assert f"tap-plansource v{VERSION}," in run([tap, "--version"], cwd=tmp_path).stdout

    plansource = emulators["plansource"]
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "environment": "development",
                "api_url": f"{plansource.url}/admin/v2",
                "client_id": DEFAULT_CLIENT_ID,
                "client_secret": DEFAULT_CLIENT_SECRET,
                "username": DEFAULT_LOGGED_IN_USER,
                "discover_tenant_fields": False,
            }
        )
    )
    catalog = json.loads(run([tap, "--config", str(config), "--discover"], cwd=tmp_path).stdout)
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == []:
                metadata["metadata"]["selected"] = entry["tap_stream_id"] == "administrators"
    (tmp_path / "catalog.json").write_text(json.dumps(catalog))
    output = run([tap, "--config", str(config), "--catalog", "catalog.json"], cwd=tmp_path).stdout
    messages = [json.loads(line) for line in output.splitlines()]
    records = [m["record"] for m in messages if m["type"] == "RECORD"]
    assert {m["stream"] for m in messages if m["type"] == "RECORD"} == {"administrators"}
    store = plansource.emulator.store
    expected = {a.id for a in store.administrators if a.organization_id == DEFAULT_ORGANIZATION_ID}
    assert sorted(r["id"] for r in records) == sorted(expected)
    states = [m["value"] for m in messages if m["type"] == "STATE"]
    assert states[-1]["bookmarks"]["administrators"]["replication_key_value"]


def test_the_git_url_form_installs_the_plugin_with_its_core(dist, tmp_path):
    """The Git form of target-planhat's README: the plugin and the core from their subdirectories
    of one tag of one repository (here a local copy of the working tree, as `git+file://`)."""
    repository = tmp_path / "repository"
    files = run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT
    ).stdout.split("\0")
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            (repository / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repository / name)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid"]
    run(["git", "init", "--quiet", "--initial-branch=main"], cwd=repository)
    run([*git, "add", "--all"], cwd=repository)
    run([*git, "commit", "--quiet", "--message", "snapshot"], cwd=repository)
    run([*git, "tag", f"v{VERSION}"], cwd=repository)

    command = shlex.split(readme_line("target-planhat", f'pip install "{CORE}@git+'))
    requirements = [r.replace(GITHUB, repository.as_uri()) for r in command[2:]]
    assert all(f"@v{VERSION}#subdirectory=" in r for r in requirements)
    bin_dir = fresh_venv(tmp_path / "venv")
    run([*uv_pip_install(bin_dir), *requirements], cwd=tmp_path)
    where = installed(bin_dir, tmp_path)
    assert Path(where["core"]).is_relative_to(tmp_path / "venv"), where["core"]
    assert "connector-core" in json.loads(where["direct_url"])["subdirectory"]
    version = run([str(bin_dir / "target-planhat"), "--version"], cwd=tmp_path).stdout
    assert f"target-planhat v{VERSION}," in version


def test_a_meltano_project_elsewhere_adds_each_plugin_from_its_definition(
    dist, emulators, tmp_path
):
    """`meltano add --from-ref <plugin>/meltano-definition.yml <plugin>` in a new project with the
    wheels in its `dist/` as `pip_url` (each README's line), `meltano invoke <plugin> --about`, one
    `meltano run` from the Planful emulator into the Planhat emulator."""
    project = tmp_path / "project"
    run([MELTANO, "init", "--no-usage-stats", str(project)], cwd=tmp_path)
    shutil.copytree(dist, project / "dist")
    for plugin in PLUGINS:
        definition = yaml.safe_load((ROOT / plugin / DEFINITION).read_text())
        definition["pip_url"] = readme_line(plugin, "pip_url: dist/").removeprefix("pip_url: ")
        reference = tmp_path / f"{plugin}.yml"
        reference.write_text(yaml.safe_dump(definition, sort_keys=False))
        run([MELTANO, "add", "--from-ref", str(reference), plugin], cwd=project)
        about = run([MELTANO, "invoke", plugin, "--about", "--format=json"], cwd=project).stdout
        assert json.loads(about[about.index("{") :])["version"] == VERSION
    venv = project / ".meltano" / "loaders" / "target-planhat" / "venv"
    assert Path(installed(venv / "bin", tmp_path)["core"]).is_relative_to(venv)

    planful, planhat = emulators["planful"], emulators["planhat"]
    metrics = {
        "__source__": "dp_esm_data",
        "__key_properties__": [],
        "__filter__": "fields.get('customer_id') and float(fields.get('amount') or 0) != 0",
        "dimensionId": "'planful_sales_amount'",
        "value": "float(fields['amount'])",
        "externalId": "fields['customer_id']",
        "model": "'Company'",
        "date": "fields['txn_date']",
        "__else__": "__NULL__",
    }
    settings = {
        "TAP_PLANFUL_API_TYPE": "dynamic",
        "TAP_PLANFUL_DYNAMIC_API_URL": f"{planful.url}/api",
        "TAP_PLANFUL_ACCESS_TOKEN": ACCESS_TOKEN,
        "TAP_PLANFUL_SOURCE_MODELS": json.dumps([{"model": "salestxn", "key_fields": ["txn_id"]}]),
        "TAP_PLANFUL_STREAM_MAPS": json.dumps({"metrics": metrics, "dp_esm_data": "__NULL__"}),
        "TAP_PLANFUL__SELECT": json.dumps(["dp_esm_data.*"]),
        "TARGET_PLANHAT_API_URL": planhat.url,
        "TARGET_PLANHAT_ANALYTICS_URL": planhat.url,
        "TARGET_PLANHAT_API_TOKEN": SANDBOX_TOKEN,
        "TARGET_PLANHAT_TENANT_TOKEN": TENANT_UUID,
    }
    extracted = run([MELTANO, "invoke", "tap-planful"], cwd=project, env=settings).stdout
    messages = [json.loads(line) for line in extracted.splitlines() if line.startswith("{")]
    sent = [m for m in messages if m["type"] == "RECORD"]
    assert sent
    assert {m["stream"] for m in sent} == {"metrics"}

    customers = sorted({m["record"]["externalId"] for m in sent})
    companies = [{"name": f"Customer {c}", "externalId": c} for c in customers]
    requests.put(  # the customers Planhat knows (metrics of unknown companies are rejected)
        f"{planhat.url}/companies",
        json=companies,
        headers={"Authorization": f"Bearer {SANDBOX_TOKEN}"},
        timeout=30,
    ).raise_for_status()

    loaded = run([MELTANO, "run", "tap-planful", "target-planhat"], cwd=project, env=settings)
    assert f"sent {len(sent)}, rejected 0," in loaded.stderr
    assert planhat.emulator.state()["metric_points"] == len(sent)
