"""Runs that say what they did, through `meltano run` as the README's jobs run: each tap logs a
progress line per long stream (records so far, rate) and a summary per stream at the end
(records, requests, retries, time) that agrees with what landed; singer-sdk's METRIC lines are
left out by the project (`metrics_log_level: warning`) and come back when the setting is `info`."""

from __future__ import annotations

import re
from pathlib import Path

from tests.pipelines.conftest import MeltanoProject

SUMMARY = re.compile(
    r"Summary: (?P<stream>[a-z_]+): (?P<records>[\d,]+) records, (?P<requests>[\d,]+) requests, "
    r"(?P<retries>[\d,]+) retries, [\d.]+ s"
)
PROGRESS = re.compile(r"Progress: (?P<stream>[a-z_]+): [\d,]+ records so far \([\d,]+ records/s\)")


def summaries(log: str) -> dict[str, dict[str, int]]:
    return {
        match["stream"]: {
            key: int(match[key].replace(",", "")) for key in ("records", "requests", "retries")
        }
        for match in SUMMARY.finditer(log)
    }


def metric_share(log: str) -> float:
    lines = log.splitlines()
    return sum("METRIC" in line for line in lines) / max(len(lines), 1)


def newest_files(project: MeltanoProject, before: set[Path]) -> dict[str, int]:
    """Rows per stream of the `benefits-to-jsonl` files a run added."""
    added = set((project.root / "output" / "jsonl").glob("*.jsonl")) - before
    return {path.name.rsplit("-", 1)[0]: len(path.read_bytes().splitlines()) for path in added}


def test_plansource_job_reports_progress_and_a_summary_that_matches_its_files(meltano_project):
    folder = meltano_project.root / "output" / "jsonl"
    before = set(folder.glob("*.jsonl"))
    run = meltano_project.run(
        "run",
        "--no-state-update",
        "benefits-to-jsonl",
        env={"TAP_PLANSOURCE_PROGRESS_INTERVAL": "1"},
    )
    written = newest_files(meltano_project, before)
    said = summaries(run.stderr)
    assert written
    assert {stream: said[stream]["records"] for stream in written} == written
    assert said["subscribers"]["requests"] >= 1
    assert all(counts["retries"] == 0 for counts in said.values())
    assert re.search(r"Summary: run completed after [\d.]+ s: [\d,]+ records", run.stderr)
    assert PROGRESS.search(run.stderr), "no progress line on a stream of a 1 s interval"
    assert metric_share(run.stderr) == 0


def test_planful_soap_requests_are_counted_and_metrics_come_back_on_request(meltano_project):
    quiet = meltano_project.run("invoke", "tap-planful")
    said = summaries(quiet.stderr)
    assert said["gl_data"]["records"] > 0
    assert said["gl_data"]["requests"] > 0  # SOAP answers, read outside singer-sdk's timing
    assert "METRIC" not in quiet.stderr

    loud = meltano_project.run(
        "invoke", "tap-planful", env={"TAP_PLANFUL_METRICS_LOG_LEVEL": "info"}
    )
    assert "METRIC" in loud.stderr
    assert summaries(loud.stderr) == said
