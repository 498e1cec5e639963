"""What `meltano config set` writes (Meltano 4.4.1), pinned as the README's "Setting a value"
describes it: every file of `include_paths` is dumped back in Meltano's layout, so the project's
files are kept in that layout and a `config set` changes only the line of its value. Each test
works in a scratch copy of the project files; nothing needs installing."""

from __future__ import annotations

import difflib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pipelines.conftest import MELTANO, REPO, _clean_environment

SET_START_YEAR = (
    "--environment=sandbox",
    "config",
    "set",
    "tap-planful",
    "start_fiscal_year",
    "2025",
)
FILES = ["meltano.yml", *(f"meltano/{p.name}" for p in sorted((REPO / "meltano").glob("*.yml")))]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copy2(REPO / "meltano.yml", tmp_path / "meltano.yml")
    shutil.copytree(REPO / "meltano", tmp_path / "meltano")
    return tmp_path


def _snapshot(root: Path) -> dict[str, list[str]]:
    return {name: (root / name).read_text().splitlines() for name in FILES}


def _changes(before: dict[str, list[str]], root: Path) -> dict[str, list[str]]:
    """Changed lines per file (`+line` / `-line`)."""
    changes = {}
    for name, lines in _snapshot(root).items():
        diff = [
            line
            for line in difflib.unified_diff(before[name], lines, lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))
        ]
        if diff:
            changes[name] = diff
    return changes


def _meltano(root: Path, *args: str) -> None:
    env = {k: v for k, v in _clean_environment().items() if k != "MELTANO_ENVIRONMENT"}
    subprocess.run(
        [MELTANO, *args], cwd=root, env=env, check=True, capture_output=True, timeout=120
    )


def test_project_files_are_in_meltanos_layout(project):
    before = _snapshot(project)
    subprocess.run(
        [sys.executable, str(REPO / "scripts" / "meltano_format.py"), str(project)],
        check=True,
        capture_output=True,
    )
    changes = _changes(before, project)
    assert not changes, (
        "run `./run python scripts/meltano_format.py`: "
        f"`meltano config set` would rewrite {sorted(changes)}"
    )


def test_config_set_with_an_environment_changes_one_line_of_meltano_yml(project):
    before = _snapshot(project)
    _meltano(project, *SET_START_YEAR)
    assert _changes(before, project) == {"meltano.yml": ["+          start_fiscal_year: 2025"]}

    _meltano(
        project, "--environment=sandbox", "config", "unset", "tap-planful", "start_fiscal_year"
    )
    assert _changes(before, project) == {}


def test_config_set_without_an_environment_changes_only_the_plugins_file(project):
    before = _snapshot(project)
    _meltano(project, "config", "set", "tap-plansource", "page_size", "50")
    changes = _changes(before, project)
    assert list(changes) == ["meltano/tap-plansource.meltano.yml"]
    assert changes["meltano/tap-plansource.meltano.yml"] == ["+    config:", "+      page_size: 50"]


def test_secrets_go_to_dotenv_and_no_yaml_file_changes(project):
    before = _snapshot(project)
    _meltano(
        project, "--environment=sandbox", "config", "set", "tap-planful", "access_key", "k-123"
    )
    assert _changes(before, project) == {}
    assert "TAP_PLANFUL_ACCESS_KEY='k-123'" in (project / ".env").read_text()


def test_meltano_rewrites_every_included_file_whatever_the_setting(project):
    """The Meltano behaviour the layout rule guards against: a file of `include_paths` in
    another layout (here a value in double quotes) is rewritten by a `config set` of a setting
    of another plugin."""
    planhat = project / "meltano" / "target-planhat.meltano.yml"
    planhat.write_text(
        planhat.read_text().replace("executable: target-planhat", 'executable: "target-planhat"')
    )
    hand_edited = planhat.read_text().splitlines()
    _meltano(project, *SET_START_YEAR)
    rewritten = planhat.read_text().splitlines()
    assert '    executable: "target-planhat"' in hand_edited
    assert "    executable: target-planhat" in rewritten
