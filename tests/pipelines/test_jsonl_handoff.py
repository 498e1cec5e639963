"""`benefits-to-jsonl` as a hand-off: each run writes its own fresh set of files (named with the
run's start time), never appends to an earlier run's files, and marks a complete set with a
manifest written last."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from sandbox.testing import SandboxClient

from tests.pipelines.conftest import MeltanoProject

FILE_NAME = re.compile(r"(?P<stream>[a-z_]+)-(?P<stamp>\d{8}T\d{6})\.jsonl")


def jsonl_files(project: MeltanoProject) -> dict[str, bytes]:
    folder = project.root / "output" / "jsonl"
    return {p.name: p.read_bytes() for p in folder.glob("*.jsonl")} if folder.exists() else {}


def run_job(project: MeltanoProject) -> dict[str, bytes]:
    """Runs the job; returns the files it added, after checking it changed no earlier file."""
    before = jsonl_files(project)
    project.run("run", "benefits-to-jsonl")
    after = jsonl_files(project)
    changed = [name for name, content in before.items() if after.get(name) != content]
    assert not changed, f"the run rewrote or appended to earlier files: {changed}"
    return {name: content for name, content in after.items() if name not in before}


def assert_one_fresh_set(files: dict[str, bytes]) -> str:
    """One file per stream, all with the same run stamp, no record written twice."""
    assert files
    names = {name: FILE_NAME.fullmatch(name) for name in files}
    assert all(names.values()), sorted(files)
    stamps = {match["stamp"] for match in names.values() if match}
    assert len(stamps) == 1, stamps
    for name, content in files.items():
        lines = content.splitlines()
        assert lines, name
        duplicated = [line for line, count in Counter(lines).items() if count > 1]
        assert not duplicated, f"{name}: {len(duplicated)} records written twice"
    return stamps.pop()


def test_each_run_writes_a_fresh_set_of_files(meltano_project: MeltanoProject):
    first = run_job(meltano_project)
    first_stamp = assert_one_fresh_set(first)
    assert {"subscribers", "coverages"} <= {Path(n).name.split("-")[0] for n in first}

    second = run_job(meltano_project)
    second_stamp = assert_one_fresh_set(second)
    assert second_stamp > first_stamp


def manifests(project: MeltanoProject) -> dict[str, dict]:
    folder = project.root / "output" / "jsonl"
    return {p.name: json.loads(p.read_text()) for p in folder.glob("manifest-*.json")}


def test_a_manifest_written_last_marks_each_complete_set(meltano_project, sandboxes):
    """The README's rule: take the newest set that has a manifest. A run whose tap fails after
    some files were written leaves them without one; the next run marks only its own files."""
    before = manifests(meltano_project)
    complete = run_job(meltano_project)
    stamp = assert_one_fresh_set(complete)
    added = {name: m for name, m in manifests(meltano_project).items() if name not in before}
    assert list(added) == [f"manifest-{stamp}.json"]
    manifest = added[f"manifest-{stamp}.json"]
    assert manifest["complete"] is True
    assert {f["file"]: f["rows"] for f in manifest["files"]} == {
        name: len(content.splitlines()) for name, content in complete.items()
    }

    plansource = sandboxes["plansource"]
    SandboxClient(plansource.url).fault(status=500, path="/payroll_coverages_subscriber")
    try:
        failed = meltano_project.run(
            "run",
            "benefits-to-jsonl",
            env={"TAP_PLANSOURCE_RETRY_MAX_TRIES": "1"},
            check=False,
        )
    finally:
        plansource.emulator.faults.clear()
    assert failed.returncode != 0
    partial_stamps = {
        match["stamp"]
        for path in (meltano_project.root / "output" / "jsonl").glob("*.jsonl")
        if (match := FILE_NAME.fullmatch(path.name)) and match["stamp"] > stamp
    }
    assert len(partial_stamps) == 1, "the failed run wrote no file: the test proves nothing"
    assert set(manifests(meltano_project)) == set(before) | set(added)

    after_failure = run_job(meltano_project)
    next_stamp = assert_one_fresh_set(after_failure)
    newest = manifests(meltano_project)[f"manifest-{next_stamp}.json"]
    assert {f["file"] for f in newest["files"]} == set(after_failure)
