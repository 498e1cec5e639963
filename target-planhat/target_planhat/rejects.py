"""Reject reporting: the errors that stop a run over refused records, and how an error entry of
Planhat's answer is read (its reason, the item it names, what tells analytics items apart)."""

from __future__ import annotations

from typing import Any

from planful_plansource_planhat_core.failures import UserError
from singer_sdk.exceptions import FatalSyncError

from target_planhat.staged import encoder, present


class RecordsRejectedError(FatalSyncError, UserError):
    """Planhat refused records and the target runs with `on_reject: fail`."""


class PointsUnaccountedError(FatalSyncError, UserError):
    """Metric points Planhat neither confirmed nor showed on reading back, after every try."""


IDENTITY_FIELDS = ("dimensionId", "externalId", "cId", "id", "email", "action", "date")
"""What tells one analytics item from another (metric: dimension, external id, date; activity:
action, company, user, date). An echo may add defaults (`model`, `weight`), so never bytes."""


def identity(item: dict[str, Any]) -> tuple[str, ...]:
    return tuple(
        "" if (value := item.get(name)) is None else str(value) for name in IDENTITY_FIELDS
    )


def error_item(entry: Any) -> Any:
    """The item an error entry quotes (None when it quotes none)."""
    return entry.get("item") if isinstance(entry, dict) else None


def error_reason(entry: Any) -> str:
    """What an error entry says went wrong (the whole entry but its item, when it says nothing)."""
    if isinstance(entry, dict):
        for key in ("error", "message", "reason", "msg"):
            if present(entry.get(key)):
                return str(entry[key])
        return encoder.encode({k: v for k, v in entry.items() if k != "item"}).decode()
    return str(entry)
