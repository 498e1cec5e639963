"""What one stream learns from another during a run: the plans, benefits and levels seen in
coverage rows, and the subscriber ids behind the customer's own ids. Shared by the streams
through the run's `Runtime`; neither knows the tap or the stream classes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from tap_plansource import schemas

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable


class SubscriberDirectory:
    """PlanSource subscriber ids by the customer's own ids, for hrefs that name a subscriber by
    custom id (`/admin/subscriber/E000123?is_custom_id=true`).

    PlanSource does not say which field a custom id is, so both `subscriber_code` and
    `employee_number` are looked up; a value naming two different subscribers resolves to
    nothing. The subscribers (test employees too) are read once, on the first custom id.
    """

    FIELDS = ("subscriber_code", "employee_number")

    def __init__(self, read_subscribers: Callable[[], Iterable[dict[str, Any]]]) -> None:
        self._read_subscribers = read_subscribers
        self._ids: dict[str, int | None] | None = None

    def resolve(self, custom_id: str) -> int | None:
        if self._ids is None:
            self._ids = self._read()
        return self._ids.get(custom_id)

    def _read(self) -> dict[str, int | None]:
        ids: dict[str, int | None] = {}
        for record in self._read_subscribers():
            for field in self.FIELDS:
                code = record.get(field)
                if code is None or code == "":
                    continue
                known = ids.setdefault(str(code), record.get("id"))
                if known != record.get("id"):
                    ids[str(code)] = None
        return ids


class CoverageDimensions:
    """Plans, benefits and coverage levels seen in coverage rows (PlanSource has no endpoint)."""

    KEYS: ClassVar[dict[str, tuple[str, ...]]] = {
        "plans": ("org_plan_id", "plan_year_starts_on"),
        "benefits": ("org_benefit_id",),
        "coverage_levels": ("coverage_level_id",),
    }

    def __init__(self) -> None:
        self.rows: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {
            name: {} for name in self.KEYS
        }
        self.complete_plan_years: set[str] = set()

    def observe(self, coverage: dict[str, Any]) -> None:
        """Remember the plan, benefit and level of one coverage row (called for every row)."""
        get = coverage.get
        for name, keys in self.KEYS.items():
            key = tuple(map(get, keys))
            if key[0] is not None and key not in self.rows[name]:
                fields = schemas.DERIVED[name]["properties"]
                self.rows[name][key] = {field: get(field) for field in fields}

    def completed(self, plan_year: str) -> None:
        self.complete_plan_years.add(plan_year)
