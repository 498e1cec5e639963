"""Every benchmark still runs: each script at its smallest size, in its own process.

Not a timing test (the figures are not read): a benchmark checks its own results (rows lost or
added, requests sent) and exits non-zero when they are wrong, and one that stops running is a
measurement nobody can repeat. `bench_partitioned.py` went a release broken before this test.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path
from typing import Any

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


def test_every_benchmark_takes_strict() -> None:
    """`./run bench --strict` passes `--strict` to every script, so each must accept it."""
    for path in sorted(BENCHMARKS.glob("bench_*.py")):
        assert "add_strict_option(parser)" in path.read_text(), f"{path.name}: no --strict option"


@pytest.fixture
def goals_module(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    return importlib.import_module("goals")


def test_a_goal_met_and_one_missed_print_so_and_only_strict_fails(goals_module, capsys) -> None:
    lenient, strict = goals_module.Goals(), goals_module.Goals(strict=True)
    for goals in (lenient, strict):
        assert goals.judge("tap / floor", 1.999, "<=", 2.0) == "(goal <= 2: met)"
        assert goals.judge("peak RSS 10xN / N", 1.31, "<=", 1.2) == "(goal <= 1.2: MISSED)"
        assert goals.judge("requests", 20, "==", 20, 0) == "(goal == 20: met)"
    assert lenient.conclude() == 0
    assert strict.conclude() == 1
    printed = capsys.readouterr().out
    assert "MISSED 1 of 3 goal(s):\n  peak RSS 10xN / N: 1.31 (goal <= 1.2)" in printed


def test_all_goals_met_exit_zero_when_strict(goals_module, capsys) -> None:
    goals = goals_module.Goals(strict=True)
    assert goals.judge("net records/s", 31_000, ">=", 30_000, 0) == "(goal >= 30,000: met)"
    assert goals.conclude() == 0
    assert "all 1 goal(s) met" in capsys.readouterr().out
