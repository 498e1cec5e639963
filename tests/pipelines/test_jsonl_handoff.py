"""`benefits-to-jsonl` as a hand-off: each run writes its own fresh set of files (named with the
run's start time) and never appends to an earlier run's files."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

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
