"""Fiscal periods: the unit of GL data requests and of its bookmark (`period_key`)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

PERIODS_PER_YEAR = 12


@dataclass(frozen=True, order=True)
class Period:
    """One fiscal month; `key` is FiscalYear * 100 + FiscalMonth (e.g. 202403)."""

    year: int
    month: int

    @classmethod
    def from_key(cls, key: int) -> Period:
        return cls(key // 100, key % 100)

    @classmethod
    def current(cls, today: datetime.date | None = None) -> Period:
        """The open period today (fiscal months follow calendar months)."""
        today = today or datetime.datetime.now(datetime.UTC).date()
        return cls(today.year, today.month)

    @property
    def key(self) -> int:
        return self.year * 100 + self.month

    def shifted(self, months: int) -> Period:
        """The period `months` later (earlier when negative)."""
        index = self.year * PERIODS_PER_YEAR + (self.month - 1) + months
        return Period(index // PERIODS_PER_YEAR, index % PERIODS_PER_YEAR + 1)

    def through(self, last: Period) -> list[Period]:
        """Every period from this one up to and including `last` (empty when `last` is earlier)."""
        periods = []
        period = self
        while period <= last:
            periods.append(period)
            period = period.shifted(1)
        return periods
