"""Turn PlanSource's loosely typed values into the types the stream schemas declare.

PlanSource sends dates as `YYYY/MM/DD`, `MM/DD/YYYY`, ISO date-times with milliseconds and `Z`
and a few garbled forms (`2006/06/1300: 00: 00-0400`), money and volumes as decimal strings,
some integers as strings and some booleans as `YES`/`NO`. A `RecordNormalizer` is compiled once
per schema and applies one converter per declared field, so a record costs one dict pass.
A value that cannot be converted is kept as it came (never silently dropped) and counted, so
the stream can warn about the field without logging the value (it may be personal data).
"""

from __future__ import annotations

import datetime
import re
from collections import Counter
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, NamedTuple

UTC = datetime.UTC
CACHE_SIZE = 1 << 16
#: Texts remembered per field beside the shared caches (found without calling a converter).
FIELD_MEMO_SIZE = 1 << 12

_DATE_TIME = re.compile(
    r"""^\s*
    (?:(?P<y>\d{4})[-/](?P<m>\d{1,2})[-/](?P<d>\d{1,2})
      |(?P<m2>\d{1,2})/(?P<d2>\d{1,2})/(?P<y2>\d{4}))
    (?:[T\s]*(?P<H>\d{1,2}):\s*(?P<M>\d{2})(?::\s*(?P<S>\d{2})(?P<f>\.\d+)?)?)?
    \s*(?P<tz>Z|UTC|GMT|[+-]\d{2}:?\d{2})?\s*$""",
    re.VERBOSE | re.IGNORECASE,
)
_TRUE = frozenset({"true", "yes", "y", "1", "t"})
_FALSE = frozenset({"false", "no", "n", "0", "f"})


class UnconvertibleError(ValueError):
    """A value that does not fit its declared type; the caller keeps the raw value."""


def _parts(value: str) -> tuple[datetime.date, datetime.datetime | None]:
    match = _DATE_TIME.match(value)
    if match is None:
        raise UnconvertibleError
    g = match.groupdict()
    try:
        day = datetime.date(int(g["y"] or g["y2"]), int(g["m"] or g["m2"]), int(g["d"] or g["d2"]))
        if g["H"] is None:
            return day, None
        micro = int((g["f"] or ".0")[1:7].ljust(6, "0"))
        moment = datetime.datetime.combine(
            day, datetime.time(int(g["H"]), int(g["M"]), int(g["S"] or 0), micro)
        )
    except ValueError as exc:
        raise UnconvertibleError from exc
    tz = (g["tz"] or "Z").upper()
    if tz in {"Z", "UTC", "GMT"}:
        return day, moment.replace(tzinfo=UTC)
    sign = 1 if tz[0] == "+" else -1
    digits = tz[1:].replace(":", "")
    offset = datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return day, moment.replace(tzinfo=datetime.timezone(sign * offset))


# Dates and amounts repeat across records (plan years, effective dates, premiums), so the
# string conversions are memoised; they are pure functions of the text.


@lru_cache(maxsize=CACHE_SIZE)
def _date_text(value: str) -> str:
    if len(value) == 10 and value[4] == "-" and value[7] == "-" and value[:4].isdigit():
        return value
    return _parts(value)[0].isoformat()


@lru_cache(maxsize=CACHE_SIZE)
def _date_time_text(value: str) -> str:
    day, moment = _parts(value)
    if moment is None:
        moment = datetime.datetime.combine(day, datetime.time(), UTC)
    return moment.isoformat()


@lru_cache(maxsize=CACHE_SIZE)
def _decimal_text(value: str) -> Decimal:
    try:
        number = Decimal(value)
    except InvalidOperation:
        try:
            number = Decimal(value.strip().replace(",", "").lstrip("$"))
        except InvalidOperation as exc:
            raise UnconvertibleError from exc
    if not number.is_finite():
        raise UnconvertibleError
    return number


def to_date(value: Any) -> str:
    """ISO `YYYY-MM-DD` from any date or date-time form (the calendar date as written)."""
    if isinstance(value, str):
        return _date_text(value)
    raise UnconvertibleError


def to_date_time(value: Any) -> str:
    """ISO 8601 date-time with offset (UTC when PlanSource gives none)."""
    if isinstance(value, str):
        return _date_time_text(value)
    raise UnconvertibleError


def to_number(value: Any) -> Decimal | int | float:
    """Money, volumes and percentages arrive as decimal strings; keep every digit."""
    if isinstance(value, str):
        return _decimal_text(value)
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return value
    raise UnconvertibleError


def to_integer(value: Any) -> int:
    """Ids such as `org_payroll_id` are sometimes quoted."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    if isinstance(value, float | Decimal) and value == int(value):
        return int(value)
    raise UnconvertibleError


def to_boolean(value: Any) -> bool:
    """Booleans are JSON booleans, except the odd `YES`/`NO` (e.g. `primary_beneficiary`)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise UnconvertibleError


def to_string(value: Any) -> str:
    """Identifiers such as `zip_code` or `ssn` sometimes arrive as numbers."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return str(value)
    raise UnconvertibleError


Converter = Callable[[Any], Any]


class Conversion(NamedTuple):
    """How one field is converted: classes already right, the text path and the other path."""

    path: str
    accepts: tuple[type, ...]
    text: Converter | None
    other: Converter


def _scalar_conversion(types: set[str], fmt: str | None, path: str) -> Conversion | None:
    if "string" in types and fmt == "date":
        return Conversion(path, (), _date_text, to_date)
    if "string" in types and fmt == "date-time":
        return Conversion(path, (), _date_time_text, to_date_time)
    if "integer" in types:
        return Conversion(path, (int,), None, to_integer)
    if "number" in types:
        return Conversion(path, (Decimal, int, float), _decimal_text, to_number)
    if "boolean" in types:
        return Conversion(path, (bool,), None, to_boolean)
    if types in ({"string"}, {"string", "null"}):
        return Conversion(path, (str,), None, to_string)
    return None


def _types(schema: dict[str, Any]) -> set[str]:
    declared = schema.get("type", [])
    return {declared} if isinstance(declared, str) else set(declared)


Step = tuple[tuple[type, ...], Converter, dict[str, Any]]
"""A field's compiled conversion: the classes it keeps as they are, the function for others, and
the texts it has converted (dates and amounts repeat across records, so most are found there)."""
_MISSING = object()


class RecordNormalizer:
    """Converts one record in place according to a JSON schema (nested objects and arrays too).

    Each declared field is compiled once into a `Step`; a record then costs one pass over its
    items, in which a value of an accepted class (or None) costs a lookup and a comparison.
    """

    def __init__(self, schema: dict[str, Any]) -> None:
        self.failures: Counter[str] = Counter()
        self._plan = self._compile(schema.get("properties", {}), "")

    def __call__(self, record: dict[str, Any]) -> dict[str, Any]:
        return _apply(self._plan, record)

    def _compile(self, properties: dict[str, Any], prefix: str) -> dict[str, Step]:
        plan = {}
        for name, schema in properties.items():
            conversion = self._conversion(schema, f"{prefix}{name}")
            if conversion is not None:
                plan[name] = self._step(conversion)
        return plan

    def _conversion(self, schema: dict[str, Any], path: str) -> Conversion | None:
        types = _types(schema)
        if "object" in types and schema.get("properties"):
            plan = self._compile(schema["properties"], f"{path}.")
            return Conversion(path, (), None, lambda value: _nested(plan, value))
        if "array" in types and isinstance(schema.get("items"), dict):
            item = self._conversion(schema["items"], f"{path}[]")
            if item is None:
                return None
            step = self._step(item)
            return Conversion(path, (), None, lambda values: _items(step, values))
        return _scalar_conversion(types, schema.get("format"), path)

    def _step(self, conversion: Conversion) -> Step:
        """The function for a value of a class `conversion` does not accept (never None):
        an empty string becomes None, text takes the text path when there is one, and a value
        that cannot be converted is kept as it came and counted under the field's path. Texts
        converted by the text path are remembered (up to `FIELD_MEMO_SIZE` per field)."""
        path, accepts, text, other = conversion
        failures = self.failures
        converted: dict[str, Any] = {"": None}

        def convert(value: Any) -> Any:
            try:
                if value.__class__ is str:
                    if not value:
                        return None
                    if text is not None:
                        result = text(value)
                        if len(converted) < FIELD_MEMO_SIZE:
                            converted[value] = result
                        return result
                return other(value)
            except UnconvertibleError:
                failures[path] += 1
                return value

        return accepts, convert, converted


def _apply(plan: dict[str, Step], record: dict[str, Any]) -> dict[str, Any]:
    step_of = plan.get
    for name, value in record.items():  # values are replaced, keys never added or removed
        if value is not None:
            step = step_of(name)
            if step is not None and value.__class__ not in step[0]:
                known = step[2].get(value, _MISSING) if value.__class__ is str else _MISSING
                record[name] = step[1](value) if known is _MISSING else known
    return record


def _nested(plan: dict[str, Step], value: Any) -> Any:
    return _apply(plan, value) if isinstance(value, dict) else value


def _items(step: Step, values: Any) -> Any:
    if not isinstance(values, list):
        return values
    accepts, convert, _ = step
    return [
        value if value is None or value.__class__ in accepts else convert(value) for value in values
    ]
