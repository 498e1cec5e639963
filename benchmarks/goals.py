"""The goals a benchmark judges its own figures by.

Each figure with a goal prints `met` or `MISSED` beside it, so a miss cannot be skimmed past,
and the run ends with the list of misses. With `--strict` a missed goal makes the exit status
non-zero (for a person or a scheduled job that wants to be told). Timings are never judged in
the test suite (`tests/test_benchmarks.py` runs each benchmark without `--strict`): on a shared
machine a figure may miss its goal because of other load, not because of the code.
"""

from __future__ import annotations

import argparse
import operator
from dataclasses import dataclass, field

COMPARISONS = {"<=": operator.le, ">=": operator.ge, "==": operator.eq}


def add_strict_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit with status 1 when a figure misses its goal",
    )


@dataclass
class Goals:
    """The goals judged in one run and those missed."""

    strict: bool = False
    missed: list[str] = field(default_factory=list)
    judged: int = 0

    def judge(self, name: str, value: float, comparison: str, goal: float, digits: int = 2) -> str:
        """`(goal <= 2.0: met)` or `(goal <= 2.0: MISSED)`, to print beside the figure.

        The figure is judged as printed (rounded to `digits`), so `2.00` never misses `<= 2.0`.
        """
        self.judged += 1
        met = COMPARISONS[comparison](round(value, digits), goal)
        if not met:
            self.missed.append(f"{name}: {value:,.{digits}f} (goal {comparison} {goal:,g})")
        return f"(goal {comparison} {goal:,g}: {'met' if met else 'MISSED'})"

    def conclude(self) -> int:
        """Print the verdict; the exit status (1 only with `--strict` and a missed goal)."""
        if self.missed:
            print(f"\nMISSED {len(self.missed)} of {self.judged} goal(s):")
            for miss in self.missed:
                print(f"  {miss}")
        elif self.judged:
            print(f"\nall {self.judged} goal(s) met")
        return 1 if self.strict and self.missed else 0
