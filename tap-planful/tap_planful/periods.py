"""Fiscal periods: the unit of GL data requests and of its bookmark (`period_key`).

A Planful tenant defines its fiscal year ("Define Fiscal Year Setup"): how many periods it has
(12 or more) and the calendar month it starts in. No public call lists them, so they are settings
(`fiscal_periods_per_year`, `fiscal_year_start_month`), read through `FiscalCalendar`.
"""

from __future__ import annotations

import calendar
import datetime
from dataclasses import dataclass

PERIODS_PER_YEAR = 12
MONTHS = 12


@dataclass(frozen=True, order=True)
class Period:
    """One fiscal period; `key` is FiscalYear * 100 + FiscalPeriod (e.g. 202403)."""

    year: int
    month: int

    @classmethod
    def from_key(cls, key: int) -> Period:
        return cls(key // 100, key % 100)

    @property
    def key(self) -> int:
        return self.year * 100 + self.month

    def shifted(self, periods: int, per_year: int = PERIODS_PER_YEAR) -> Period:
        """The period `periods` later (earlier when negative), `per_year` periods a year."""
        index = self.year * per_year + (self.month - 1) + periods
        return Period(index // per_year, index % per_year + 1)

    def through(self, last: Period, per_year: int = PERIODS_PER_YEAR) -> list[Period]:
        """Every period from this one up to and including `last` (empty when `last` is earlier)."""
        periods = []
        period = self
        while period <= last:
            periods.append(period)
            period = period.shifted(1, per_year)
        return periods


@dataclass(frozen=True)
class FiscalCalendar:
    """The tenant's fiscal year: `periods_per_year` periods, starting in `start_month`.

    A fiscal year is named for the calendar year it ends in (one starting in July 2025 is 2026).
    A tenant that names it for the year it starts in gets its Actual periods asked up to a year
    early: those answers are empty and move no bookmark, so nothing is missed either way.
    """

    periods_per_year: int = PERIODS_PER_YEAR
    start_month: int = 1

    def current(self, today: datetime.date | None = None) -> Period:
        """The open period today: never earlier than the tenant's, at most one period later.

        With 12 periods a period is a month. With more, the position in the fiscal year is
        scaled to the period count (4-week periods, or 12 months and adjustment periods) and
        one period is added, so an Actual read never stops before the open period.
        """
        today = today or datetime.datetime.now(datetime.UTC).date()
        months_in = (today.month - self.start_month) % MONTHS
        year = today.year + (1 if self.start_month > 1 and today.month >= self.start_month else 0)
        if self.periods_per_year == MONTHS:
            return Period(year, months_in + 1)
        days = calendar.monthrange(today.year, today.month)[1]
        elapsed = (months_in + (today.day - 1) / days) / MONTHS
        return Period(year, min(self.periods_per_year, int(elapsed * self.periods_per_year) + 2))

    def first(self, year: int) -> Period:
        return Period(year, 1)

    def last(self, year: int) -> Period:
        return Period(year, self.periods_per_year)

    def past_year(self, year: int) -> Period:
        """The first period after the configured count: asked once to prove it empty."""
        return Period(year, self.periods_per_year + 1)

    def shifted(self, period: Period, periods: int) -> Period:
        return period.shifted(periods, self.periods_per_year)

    def through(self, first: Period, last: Period) -> list[Period]:
        return first.through(last, self.periods_per_year)
