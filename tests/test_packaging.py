"""What a package index and `pip install` see of each workspace member: a true
`requires-python`, every imported distribution declared, the license file, one version, URLs."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from tap_planful.tap import TapPlanful
from tap_plansource.tap import TapPlanSource
from target_planhat.target import TargetPlanhat

ROOT = Path(__file__).parents[1]
UV = ROOT / ".tools" / "bin" / "uv"
WORKSPACE = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]
MEMBERS = [m for m in WORKSPACE["members"] if (ROOT / m / "pyproject.toml").exists()]
CORE = "connector-core"
"""The directory of the shared core (its distribution: `<project name>-core`)."""
PLUGINS = {
    "tap-planful": TapPlanful,
    "tap-plansource": TapPlanSource,
    "target-planhat": TargetPlanhat,
}


def pyproject(member: str) -> dict:
    return tomllib.loads((ROOT / member / "pyproject.toml").read_text())


def packages(member: str) -> list[str]:
    """The import packages the member's wheel ships."""
    wheel = pyproject(member).get("tool", {}).get("hatch", {}).get("build", {})
    names = wheel.get("targets", {}).get("wheel", {}).get("packages")
    return [Path(n).name for n in names] if names else [member.replace("-", "_")]


def normalized(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


def distribution(member: str) -> str:
    """The member's distribution name (what `pip install` and a package index know it by)."""
    return normalized(pyproject(member)["project"]["name"])


def declared(member: str) -> set[str]:
    """Distribution names in `dependencies` and in the optional extras (their names only)."""
    project = pyproject(member)["project"]
    requirements = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        requirements += extra
    return {
        normalized(re.split(r"[\[ ;<>=~!]", requirement, maxsplit=1)[0])
        for requirement in requirements
    }


def imported_modules(member: str) -> set[str]:
    """Top-level names of every absolute import in the member's code."""
    names = set()
    for package in packages(member):
        for path in (ROOT / member / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - set(packages(member))


def minimum_python(member: str) -> str:
    spec = pyproject(member)["project"]["requires-python"]
    match = re.fullmatch(r">=\s*(3\.\d+)", spec)
    assert match, f"{member}: requires-python {spec!r} is not of the form '>=3.N'"
    return match.group(1)


def test_every_member_is_checked():
    assert {"tap-planful", "tap-plansource", "target-planhat", "sandbox"} <= set(MEMBERS)


@pytest.mark.parametrize("member", MEMBERS)
def test_every_imported_distribution_is_declared(member):
    providers = dict(importlib.metadata.packages_distributions())
    for other in MEMBERS:  # editable installs do not list their packages in the metadata
        providers |= {package: [distribution(other)] for package in packages(other)}
    imported = imported_modules(member)
    assert imported, member
    undeclared = {}
    for module in sorted(imported):
        distributions = {normalized(d) for d in providers.get(module, [])}
        assert len(distributions) == 1, f"{module} is provided by {distributions or 'nothing'}"
        if not distributions & declared(member):
            undeclared[module] = distributions
    assert not undeclared, f"{member} imports undeclared distributions: {undeclared}"


def test_one_backoff_distribution():
    """singer-sdk uses python-backoff; the abandoned `backoff` would shadow the same module. gql
    (the orchestrator's UI) still names it: the workspace overrides it away (never installed)."""
    lock = (ROOT / "uv.lock").read_text()
    locked = re.findall(r'^name = "([^"]+)"', lock, flags=re.MULTILINE)
    assert "python-backoff" in locked
    edges = re.findall(r'\{ name = "backoff"(?:, marker = "([^"]*)")? \}', lock)
    assert edges, "no package names backoff: drop the override in pyproject.toml"
    assert set(edges) == {"sys_platform == 'never'"}, edges  # every edge to it is cut
    installed = {normalized(d.metadata["Name"]) for d in importlib.metadata.distributions()}
    assert "backoff" not in installed
    assert "python-backoff" in installed
    for member in MEMBERS:
        assert "backoff" not in declared(member), member


def test_the_shared_core_has_a_name_only_this_project_uses():
    """A generic unpublished name (`connector-core`) is anyone's to register on the package index,
    and `pip install <plugin>` would then install their code; the core is named after the project
    and each plugin accepts only the core version it was released with."""
    project = normalized(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["name"])
    core = distribution(CORE)
    assert core == f"{project}-core"
    version = pyproject(CORE)["project"]["version"]
    for member in PLUGINS:
        requirements = pyproject(member)["project"]["dependencies"]
        assert f"{core}=={version}" in requirements, member
        assert pyproject(member)["project"]["version"] == version, "released together"
    generic = {"connector-core", "core", "connector", "common", "shared"}
    for member in MEMBERS:
        assert not declared(member) & generic, member


@pytest.mark.parametrize("member", [*PLUGINS, CORE])
def test_plugin_metadata_a_package_index_shows(member):
    project = pyproject(member)["project"]
    assert project["license"] == "Apache-2.0"
    license_text = (ROOT / member / "LICENSE").read_text()
    assert "Apache License" in license_text
    assert "Version 2.0, January 2004" in license_text
    assert license_text == (ROOT / "LICENSE").read_text()
    assert project["urls"], member
    assert all(url.startswith("https://") for url in project["urls"].values())
    assert project["readme"] == "README.md"


@pytest.mark.parametrize(("member", "plugin"), PLUGINS.items())
def test_the_version_comes_from_the_pyproject_only(member, plugin):
    """singer-sdk reports the installed distribution's version (`--about`, `--version`), so the
    pyproject holds the one copy; no second literal may drift from it."""
    version = pyproject(member)["project"]["version"]
    assert plugin.plugin_version == version
    for package in packages(member):
        for path in (ROOT / member / package).rglob("*.py"):
            assert "__version__" not in path.read_text(), path


def _import_everything(packages: list[str]) -> str:
    return (
        "import importlib, pkgutil\n"
        f"for name in {packages!r}:\n"
        "    package = importlib.import_module(name)\n"
        "    for module in pkgutil.walk_packages(package.__path__, name + '.'):\n"
        "        if not module.name.endswith('.__main__'):  # would run the CLI\n"
        "            importlib.import_module(module.name)\n"
    )


@pytest.mark.parametrize("member", list(PLUGINS))
def test_every_module_imports_under_the_oldest_declared_python(member):
    """The project's environment runs the oldest Python a plugin declares, so the whole suite
    runs there too; on a newer one, uv fetches that Python and installs the plugin alone."""
    oldest = minimum_python(member)
    code = _import_everything(packages(member))
    if f"{sys.version_info.major}.{sys.version_info.minor}" == oldest:
        command = [sys.executable, "-X", "dev", "-W", "error", "-c", code]
    else:
        command = [str(UV), "run", "--isolated", "--no-project", "--python", oldest]
        command += ["--with", str(ROOT / member), "python", "-W", "error", "-c", code]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, f"{member} under Python {oldest}:\n{result.stderr[-3000:]}"
