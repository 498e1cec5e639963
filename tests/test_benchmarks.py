"""Every benchmark still runs: each script at its smallest size, in its own process.

Not a timing test (the figures are not read): a benchmark checks its own results (rows lost or
added, requests sent) and exits non-zero when they are wrong, and one that stops running is a
measurement nobody can repeat. `bench_partitioned.py` went a release broken before this test.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
SMALLEST = {
    # two scenarios, 1,200 rows each: one single run and one partitioned run, real Meltano
    "bench_partitioned.py": ["--scenarios", "2", "--rows", "1200", "--workers", "2"],
}


@pytest.mark.pipeline
@pytest.mark.parametrize("script", sorted(p.name for p in BENCHMARKS.glob("bench_*.py")))
def test_benchmark_runs_at_its_smallest_size(script: str) -> None:
    arguments = SMALLEST.get(script, ["--quick"])
    run = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *arguments],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert run.stdout.strip(), "a benchmark prints its figures"


def test_every_benchmark_has_a_smoke_size() -> None:
    """Each script takes `--quick` or has its own entry above, so none is left out."""
    for path in sorted(BENCHMARKS.glob("bench_*.py")):
        if path.name not in SMALLEST:
            assert '"--quick"' in path.read_text(), f"{path.name}: no --quick option"
