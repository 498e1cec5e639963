"""Metrics read back: which of the points sent in doubt (no answer, a short `processed`) Planhat
holds, from `GET /dimensiondata`, so only the missing ones are sent again."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

from target_planhat.objects import OBJECTS
from target_planhat.staged import EPOCH, day_number, present

if TYPE_CHECKING:
    from target_planhat.client import PlanhatClient
    from target_planhat.staged import Staged

METRIC_MODEL_ENDPOINTS = {
    "Company": "companies",
    "EndUser": "endusers",
    "Asset": "assets",
    "Project": "projects",
}
"""Where a metric's `model` lives on the main API (to find the object its point belongs to)."""


def stored_positions(client: PlanhatClient, entries: list[Staged]) -> set[int]:
    """Positions of `entries` that Planhat holds: per object and dimension, the stored points
    of their days are read, and each sent point takes one stored point with its day and
    value (a point equal in all of these to one stored before counts as stored)."""
    parents: dict[tuple[str, str], dict[str, Any] | None] = {}
    models = {str(e.payload.get("model") or "Company") for e in entries}
    if "Company" in models:  # one call for every company instead of one per company
        for lean in client.existing_keys(OBJECTS["companies"]):
            if present(lean.get("externalId")):
                parents.setdefault(("Company", str(lean["externalId"])), lean)
    groups: dict[tuple[str, str], list[int]] = {}  # company, dimension -> positions
    owners: dict[int, str] = {}  # position -> the `_id` its point belongs to
    for position, entry in enumerate(entries):
        payload = entry.payload
        model = str(payload.get("model") or "Company")
        external_id = str(payload.get("externalId"))
        key = (model, external_id)
        if key not in parents and model != "Company":
            endpoint = METRIC_MODEL_ENDPOINTS.get(model)
            parents[key] = client.find_one(endpoint, external_id) if endpoint is not None else None
        parent = parents.get(key)
        if parent is None:
            continue  # no such object: Planhat cannot have stored the point
        company_id = parent["_id"] if model == "Company" else parent.get("companyId")
        if company_id is None:
            continue
        owners[position] = str(parent["_id"])
        groups.setdefault((str(company_id), str(payload.get("dimensionId"))), []).append(position)
    stored: set[int] = set()
    today = (datetime.datetime.now(datetime.UTC).date() - EPOCH).days
    for (company_id, dimension), positions in groups.items():
        days = {p: _point_day(entries[p].payload.get("date")) for p in positions}
        known = [d for d in days.values() if d is not None]
        undated = len(known) < len(days)  # stored with the day Planhat received them
        first = min([*known, *([today - 1] if undated else [])])
        last = max([*known, *([today + 1] if undated else [])])
        available: dict[tuple[str, int | None, float], int] = {}
        for point in client.metric_points(company_id, dimension, first, last):
            if not isinstance(point, dict):
                continue
            value = _number(point.get("value"))
            if value is None:
                continue
            owner = str(point.get("parentId"))
            for slot in ((owner, _point_day(point.get("time")), value), (owner, None, value)):
                available[slot] = available.get(slot, 0) + 1
        # dated points first: an undated one may take any day's point, so it takes what is left
        for position in sorted(positions, key=lambda p: days[p] is None):
            value = _number(entries[position].payload.get("value"))
            if value is None:
                continue
            slot = (owners[position], days[position], value)
            if available.get(slot, 0) > 0:
                available[slot] -= 1
                if slot[1] is not None:
                    available[(slot[0], None, value)] -= 1
                stored.add(position)
    return stored


def _point_day(value: Any) -> int | None:
    """Days since 1970-01-01 of a point's date or time (None when absent or unreadable)."""
    if value is None or value == "":
        return None
    try:
        return day_number(value)
    except (TypeError, ValueError):
        return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
