"""GL data computed from a row's index, so a million rows cost no memory and encode on demand.

Within one scenario and fiscal year every month holds the same `rows_per_period` rows; row `i`
is always the same combination of segment leaves and the same `Reporting` value, so MTD, QTD and
YTD add up across months (YTD of month m == sum of MTD of months 1..m, to the cent). A row's
combination comes from `i` through a bijection onto the product of the eight segments' leaves,
which keeps the natural key (scenario, year, month, reporting, Segment1..8) unique.
"""

from __future__ import annotations

import calendar
import json
import math
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar
from xml.sax.saxutils import escape

from sandbox.planful.structured import Segment

MONTH_NAMES = tuple(calendar.month_name[1:])
SEASONALITY = (92, 95, 104, 98, 100, 106, 94, 96, 103, 101, 99, 112)
# Local amounts per 11 units of common (USD) amount, by company currency.
LOCAL_SCALE = {
    "USD": 11,
    "CAD": 15,
    "BRL": 53,
    "EUR": 10,
    "GBP": 9,
    "AUD": 17,
    "SGD": 14,
    "JPY": 1553,
}
COMMON_SCALE = 11
SCENARIO_FACTORS = {"Actual": 101, "Budget": 107, "Forecast": 103}  # percent of the base, + growth
STRIDE = 1_000_003  # prime above any leaf count: row -> combination is a bijection
OFFSET = 7
ROW_CACHE_LIMIT = 250_000  # rows per period whose encoded segments are kept (about 200 B each)
AMOUNT_CACHE_MONTHS = 48
FORECAST = re.compile(r"(\d+)\+(\d+)$")
MAX_PERIODS = 16  # fiscal periods a year the ledger computes (switch `fiscal_periods`)


def month_name(period: int, start_month: int) -> str:
    """`MonthName` of a fiscal period: the calendar month it falls in (periods past 12 are
    adjustment periods, named `Period N`)."""
    if period > len(MONTH_NAMES):
        return f"Period {period}"
    return MONTH_NAMES[(start_month - 1 + period - 1) % len(MONTH_NAMES)]


@dataclass(frozen=True)
class Multipliers:
    """Per-month integer factors of one scenario-year: amount in cents = base x factor."""

    mtd: tuple[int, ...]
    qtd: tuple[int, ...]
    ytd: tuple[int, ...]


class GeneralLedger:
    """All GL rows of the tenant, by (scenario, fiscal year, month, row index)."""

    def __init__(
        self,
        segments: Sequence[Segment],
        scenarios: Sequence[dict[str, Any]],
        fiscal_years: Sequence[int],
        rows_per_period: int,
        reporting: Sequence[str],
    ) -> None:
        self.scenarios = {s["Name"]: s for s in scenarios}
        self.fiscal_years = list(fiscal_years)
        self.rows_per_period = rows_per_period
        self.reporting = list(reporting)
        self.start_month = 1  # calendar month of fiscal period 1 (for `MonthName`)
        leaves = [s.leaf_codes for s in segments]
        self.radix = [len(codes) for codes in leaves]
        self.combinations = self.segment_combinations(segments)
        if rows_per_period > self.combinations * len(reporting):
            msg = f"gl_rows_per_period={rows_per_period} exceeds the distinct GL keys"
            raise ValueError(msg)
        self.leaves = leaves
        currencies = [
            m.get("CurrencyCode") or "USD" for m in segments[1].members if m["MemberType"] == "Leaf"
        ]
        self.local_scale = [LOCAL_SCALE.get(code, COMMON_SCALE) for code in currencies]
        # Segments are encoded in pairs (1-2, 3-4, 5-6, 7-8): four look-ups a row instead of eight.
        self.pairs: list[list[str]] = []
        for first in range(0, len(leaves), 2):
            a, b = leaves[first], leaves[first + 1]
            self.pairs.append(
                [
                    f'"Segment{first + 1}":{json.dumps(x)},"Segment{first + 2}":{json.dumps(y)},'
                    for y in b
                    for x in a
                ]
            )
        self.xml_pairs = [
            [
                f"<Segment{first + 1}>{escape(x)}</Segment{first + 1}>"
                f"<Segment{first + 2}>{escape(y)}</Segment{first + 2}>"
                for y in leaves[first + 1]
                for x in leaves[first]
            ]
            for first in range(0, len(leaves), 2)
        ]
        self.reporting_json = [f'"Reporting":{json.dumps(r)},' for r in self.reporting]
        self.pair_sizes = [self.radix[k] * self.radix[k + 1] for k in range(0, 6, 2)]
        self._multipliers: dict[tuple[str, int], Multipliers] = {}
        self._row_lock = threading.Lock()
        self._row_json: list[str] = []
        self._row_xml: list[str] = []
        self._row_base: list[int] = []
        self._amount_json: dict[tuple[str, int, int], _AmountFragments] = {}

    @staticmethod
    def segment_combinations(segments: Sequence[Segment]) -> int:
        """How many distinct Segment1..8 combinations the leaves allow."""
        return math.prod(len(s.leaf_codes) for s in segments)

    # -- what exists ----------------------------------------------------------------------

    def has_year(self, scenario: str, fiscal_year: int) -> bool:
        year = self.scenarios[scenario]["FiscalYear"]
        return fiscal_year in self.fiscal_years and year in (None, fiscal_year)

    def slice(
        self, scenario: str, fiscal_year: int, months: Sequence[int], reporting: str | None = None
    ) -> LedgerSlice:
        """Rows of `scenario` in `fiscal_year` for `months`, optionally one `Reporting` value."""
        if not self.has_year(scenario, fiscal_year):
            months = ()
        if reporting is None:
            lane, per_month = None, self.rows_per_period
        elif reporting in self.reporting:
            lane = self.reporting.index(reporting)
            per_month = max(0, -(-(self.rows_per_period - lane) // len(self.reporting)))
        else:
            lane, per_month = None, 0
        return LedgerSlice(self, scenario, fiscal_year, tuple(months), lane, per_month)

    # -- one row ----------------------------------------------------------------------------

    def multipliers(self, scenario: str, fiscal_year: int) -> Multipliers:
        key = (scenario, fiscal_year)
        if key not in self._multipliers:
            growth = 3 * (fiscal_year - self.fiscal_years[0])
            record = self.scenarios[scenario]
            kind = record["ScenarioType"]
            done = FORECAST.search(scenario)
            actual_months = int(done.group(1)) if kind == "Forecast" and done else 0
            actual = SCENARIO_FACTORS["Actual"] + growth
            factor = SCENARIO_FACTORS.get(kind, SCENARIO_FACTORS["Actual"]) + growth
            monthly = [
                SEASONALITY[m % 12] * (actual if m < actual_months else factor)
                for m in range(MAX_PERIODS)
            ]
            ytd = [sum(monthly[: m + 1]) for m in range(MAX_PERIODS)]
            qtd = [sum(monthly[m - m % 3 : m + 1]) for m in range(MAX_PERIODS)]
            self._multipliers[key] = Multipliers(tuple(monthly), tuple(qtd), tuple(ytd))
        return self._multipliers[key]

    def _combination_number(self, row: int) -> int:
        """Row -> combination (reporting lanes of one row share it)."""
        return (row // len(self.reporting) * STRIDE + OFFSET) % self.combinations

    def leaf_indexes(self, row: int) -> list[int]:
        """Index into each segment's leaves of the member that row `row` books to."""
        rest = self._combination_number(row)
        digits = []
        for size in self.radix:
            rest, digit = divmod(rest, size)
            digits.append(digit)
        return digits

    def base(self, row: int) -> int:
        """Amount of `row` in cents per unit of monthly factor, in its reporting lane's currency."""
        combo = self._combination_number(row)
        company = combo // self.radix[0] % self.radix[1]
        units = (combo * 2654435761 % 4294967296) % 997 + 1
        return units * (
            self.local_scale[company] if row % len(self.reporting) == 0 else COMMON_SCALE
        )

    def _encoded_row(self, row: int) -> str:
        """`"Segment1":…,"Reporting":…,` of `row`, from the pair tables."""
        rest, p0 = divmod(self._combination_number(row), self.pair_sizes[0])
        rest, p1 = divmod(rest, self.pair_sizes[1])
        p3, p2 = divmod(rest, self.pair_sizes[2])
        pairs = self.pairs
        lane = self.reporting_json[row % len(self.reporting)]
        return f"{pairs[0][p0]}{pairs[1][p1]}{pairs[2][p2]}{pairs[3][p3]}{lane}"

    def _xml_segments(self, row: int) -> str:
        """`<Segment1>…</Segment8>` of `row`, from the pair tables."""
        rest, p0 = divmod(self._combination_number(row), self.pair_sizes[0])
        rest, p1 = divmod(rest, self.pair_sizes[1])
        p3, p2 = divmod(rest, self.pair_sizes[2])
        pairs = self.xml_pairs
        return f"{pairs[0][p0]}{pairs[1][p1]}{pairs[2][p2]}{pairs[3][p3]}"

    def encoded_rows(self, stop: int, *, xml: bool = False) -> tuple[Rows[str], Rows[int]]:
        """Encoded segment fragments (JSON, or XML for SOAP) and bases of rows [0, stop),
        cached while small enough."""
        encode = self._xml_segments if xml else self._encoded_row
        if stop > ROW_CACHE_LIMIT:
            return _LazyRows(encode), _LazyRows(self.base)
        cache = self._row_xml if xml else self._row_json
        with self._row_lock:  # server threads may extend the cache at the same time
            for row in range(len(self._row_base), stop):
                self._row_base.append(self.base(row))
            for row in range(len(cache), stop):
                cache.append(encode(row))
        return cache, self._row_base

    def xml_rows(
        self,
        rows: LedgerSlice,
        amount_type: str,
        segment_filters: Mapping[int, tuple[str, str]],
        extra_element: bool = False,
    ) -> Iterator[str]:
        """The `<GLData>` items of `rows` for one AmountType, in P1's element order (SOAP).

        `Amount` is the row's MTD, QTD or YTD; OpeningBalance is YTD less MTD and AccountBased
        is YTD (both GUESSES). `segment_filters` ({segment index: (operator, value)}) keep the
        rows whose member codes match. `extra_element` adds an element no WSDL declares (drift).
        """
        scenario = escape(rows.scenario)
        lanes = [
            f"<Scenario>{scenario}</Scenario><Reporting>{escape(r)}</Reporting>"
            "<Calculated>false</Calculated>"
            for r in self.reporting
        ]
        factors = self.multipliers(rows.scenario, rows.fiscal_year)
        extra = "<LastModified>2026-01-01T00:00:00</LastModified>" if extra_element else ""
        for month, indexes in rows._positions(0, len(rows)):
            mtd, ytd = factors.mtd[month - 1], factors.ytd[month - 1]
            factor = {"MTD": mtd, "QTD": factors.qtd[month - 1], "YTD": ytd,
                      "OpeningBalance": ytd - mtd, "AccountBased": ytd}[amount_type]  # fmt: skip
            tail = (
                f"<AmountType>{amount_type}</AmountType><FiscalYear>{rows.fiscal_year}"
                f"</FiscalYear><FiscalPeriod>{month}</FiscalPeriod>{extra}</GLData>"
            )
            amounts: dict[int, str] = {}
            segments, bases = self.encoded_rows(indexes[-1] + 1, xml=True) if indexes else ((), ())
            lane_count = len(lanes)
            for row in indexes:
                if segment_filters and not self._row_matches(row, segment_filters):
                    continue
                base = bases[row]
                amount = amounts.get(base)
                if amount is None:
                    cents = base * factor
                    amount = amounts[base] = f"<Amount>{cents // 100}.{cents % 100:02d}</Amount>"
                yield f"<GLData>{segments[row]}{lanes[row % lane_count]}{amount}{tail}"

    def _row_matches(self, row: int, filters: Mapping[int, tuple[str, str]]) -> bool:
        digits = self.leaf_indexes(row)
        for index, (operator, value) in filters.items():
            code = self.leaves[index][digits[index]]
            if (operator == "Equals" and code != value) or (
                operator == "Contains" and value not in code
            ):
                return False
        return True

    def encoded_amounts(self, scenario: str, fiscal_year: int, month: int) -> dict[int, str]:
        """`"MtdAmount":…}` by base for one month: amounts repeat, so each is formatted once."""
        key = (scenario, fiscal_year, month)
        fragments = self._amount_json.get(key)
        if fragments is None:
            if len(self._amount_json) >= AMOUNT_CACHE_MONTHS:
                self._amount_json.clear()
            factors = self.multipliers(scenario, fiscal_year)
            fragments = _AmountFragments(
                factors.mtd[month - 1], factors.qtd[month - 1], factors.ytd[month - 1]
            )
            self._amount_json[key] = fragments
        return fragments


_Item_co = TypeVar("_Item_co", covariant=True)


class Rows(Protocol[_Item_co]):
    """What readers of `encoded_rows` use: the item of a row number."""

    def __getitem__(self, row: int, /) -> _Item_co: ...


class _LazyRows:
    """A sequence-like view computing each item on access (for slices beyond the cache)."""

    def __init__(self, compute: Callable[[int], Any]) -> None:
        self._compute = compute

    def __getitem__(self, row: int) -> Any:
        return self._compute(row)


class _AmountFragments(dict):
    """Formats the amounts of one base on first use."""

    def __init__(self, mtd: int, qtd: int, ytd: int) -> None:
        super().__init__()
        self.factors = (mtd, qtd, ytd)

    def __missing__(self, base: int) -> str:
        mtd, qtd, ytd = self.factors
        text = (
            f'"MtdAmount":{base * mtd / 100},"QtdAmount":{base * qtd / 100},'
            f'"YtdAmount":{base * ytd / 100}}}'
        )
        self[base] = text
        return text


@dataclass(frozen=True)
class LedgerSlice:
    """An ordered, indexable run of GL rows: month by month, then by row index."""

    ledger: GeneralLedger
    scenario: str
    fiscal_year: int
    months: tuple[int, ...]
    lane: int | None
    per_month: int

    def __len__(self) -> int:
        return len(self.months) * self.per_month

    def _positions(self, start: int, stop: int) -> Iterator[tuple[int, range]]:
        """(month, row indexes) runs covering positions [start, stop)."""
        stop = min(stop, len(self))
        lanes = len(self.ledger.reporting)
        while start < stop:
            month_index, first = divmod(start, self.per_month)
            last = min(self.per_month, first + stop - start)
            if self.lane is None:
                rows = range(first, last)
            else:
                rows = range(first * lanes + self.lane, last * lanes + self.lane, lanes)
            yield self.months[month_index], rows
            start += last - first

    def records(self, start: int = 0, stop: int | None = None) -> Iterator[dict[str, Any]]:
        """The rows as dicts (the readable twin of `encode`, for tests)."""
        ledger = self.ledger
        factors = ledger.multipliers(self.scenario, self.fiscal_year)
        for month, rows in self._positions(start, len(self) if stop is None else stop):
            for row in rows:
                digits = ledger.leaf_indexes(row)
                base = ledger.base(row)
                record: dict[str, Any] = {
                    "Scenario": self.scenario,
                    "FiscalYear": self.fiscal_year,
                    "FiscalMonth": month,
                    "MonthName": month_name(month, ledger.start_month),
                }
                for number, (codes, digit) in enumerate(
                    zip(ledger.leaves, digits, strict=True), start=1
                ):
                    record[f"Segment{number}"] = codes[digit]
                record["Reporting"] = ledger.reporting[row % len(ledger.reporting)]
                record["MtdAmount"] = base * factors.mtd[month - 1] / 100
                record["QtdAmount"] = base * factors.qtd[month - 1] / 100
                record["YtdAmount"] = base * factors.ytd[month - 1] / 100
                yield record

    def encode(self, start: int = 0, stop: int | None = None) -> bytes:
        """Positions [start, stop) as a JSON array, built from cached fragments."""
        ledger = self.ledger
        scenario = json.dumps(self.scenario)
        parts: list[str] = []
        for month, rows in self._positions(start, len(self) if stop is None else stop):
            head = (
                f'{{"Scenario":{scenario},"FiscalYear":{self.fiscal_year},'
                f'"FiscalMonth":{month},"MonthName":"{month_name(month, ledger.start_month)}",'
            )
            segments, bases = ledger.encoded_rows(rows[-1] + 1)
            amounts = ledger.encoded_amounts(self.scenario, self.fiscal_year, month)
            parts.extend([head + segments[row] + amounts[bases[row]] for row in rows])
        return ("[" + ",".join(parts) + "]").encode()
