"""The Planhat objects the target writes, as one table: adding an object is adding a row.

Each row says where the object lives (endpoint and host), how Planhat matches a record to an
existing one (its keyables in Planhat's priority order), how a record names its company, which
behaviours make sense, and which fields Planhat needs to create one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Host = Literal["main", "analytics"]
Behavior = Literal["upsert", "update", "send"]
BEHAVIORS: tuple[Behavior, ...] = ("upsert", "update", "send")

COMPANY_REFERENCE_FIELDS = ("companyId", "companySourceId", "companyExternalId")
"""How a record may name its company, highest priority first (Planhat's keyable order)."""


@dataclass(frozen=True)
class CompanyReference:
    """Where an object carries its company, and in which form.

    `field` receives the reference. With `external_only` Planhat addresses the company by its
    externalId alone (the analytics host), so `_id`/sourceId references cannot be translated
    without a lookup and are rejected. With `many` the field is a list (issues).
    """

    field: str
    many: bool = False
    external_only: bool = False


@dataclass(frozen=True)
class PlanhatObject:
    """One Planhat object (model) and how the target writes it."""

    name: str
    endpoint: str
    host: Host
    sync_keys: tuple[str, ...]
    behaviors: tuple[Behavior, ...]
    company: CompanyReference | None = None
    required: tuple[str, ...] = ()
    day_number_fields: tuple[str, ...] = ()
    aliases: dict[str, str] = field(default_factory=dict)
    keyless_creates: bool = False
    """Planhat matches this object on `_id` only, so records without one are always created."""
    required_one_of: tuple[str, ...] = ()
    """At least one of these fields must be set (after aliases)."""

    @property
    def parent_rank(self) -> int:
        """Drain order: companies before the end users that name them, both before the rest."""
        return PARENT_RANKS.get(self.name, len(PARENT_RANKS))

    @property
    def default_behavior(self) -> Behavior:
        return self.behaviors[0]

    @property
    def lookup_keys(self) -> tuple[str, ...]:
        """Keyables an update-only lookup can match on (everything but `_id`)."""
        return tuple(key for key in self.sync_keys if key != "_id")


PARENT_RANKS = {"companies": 0, "endusers": 1}
_MAIN: tuple[Behavior, ...] = ("upsert", "update")
_KEYABLES = ("_id", "sourceId", "externalId")
_COMPANY_ID = CompanyReference("companyId")
_CID = CompanyReference("cId")

OBJECTS: dict[str, PlanhatObject] = {
    obj.name: obj
    for obj in (
        PlanhatObject("companies", "companies", "main", _KEYABLES, _MAIN, required=("name",)),
        PlanhatObject(
            "endusers", "endusers", "main", (*_KEYABLES, "email"), _MAIN, _COMPANY_ID, ("email",)
        ),
        PlanhatObject(
            "licenses",
            "licenses",
            "main",
            _KEYABLES,
            _MAIN,
            _COMPANY_ID,
            ("companyId", "_currency", "fromDate"),
        ),
        PlanhatObject("churn", "churn", "main", _KEYABLES, _MAIN, _COMPANY_ID, ("companyId",)),
        PlanhatObject("nps", "nps", "main", ("_id", "sourceId"), _MAIN, _CID, ("email", "score")),
        PlanhatObject(
            "conversations",
            "conversations",
            "main",
            ("_id",),
            ("upsert",),
            _COMPANY_ID,
            ("companyId",),
            keyless_creates=True,
        ),
        PlanhatObject(
            "opportunities", "opportunities", "main", _KEYABLES, _MAIN, _COMPANY_ID, ("companyId",)
        ),
        PlanhatObject(
            "projects", "projects", "main", _KEYABLES, _MAIN, _COMPANY_ID, ("name", "companyId")
        ),
        PlanhatObject(
            "assets", "assets", "main", _KEYABLES, _MAIN, _COMPANY_ID, ("name", "companyId")
        ),
        PlanhatObject(
            "invoices",
            "invoices",
            "main",
            ("_id", "sourceId", "extId"),
            _MAIN,
            _CID,
            ("currency", "cId"),
            day_number_fields=("invoiceDate", "dueDate", "paidDate"),
            aliases={"externalId": "extId"},
        ),
        PlanhatObject(
            "issues",
            "issues",
            "main",
            ("_id", "sourceId"),
            _MAIN,
            CompanyReference("companyIds", many=True),
            ("title",),
        ),
        PlanhatObject(
            "tasks", "tasks", "main", _KEYABLES, _MAIN, _COMPANY_ID, ("companyId", "mainType")
        ),
        PlanhatObject(
            "metrics",
            "dimensiondata",
            "analytics",
            (),
            ("send",),
            CompanyReference("externalId", external_only=True),
            ("dimensionId", "value", "externalId"),
        ),
        PlanhatObject(
            "activities",
            "analytics/bulk",
            "analytics",
            (),
            ("send",),
            CompanyReference("cId", external_only=True),
            ("action",),
            aliases={"externalId": "id", "euExtId": "id"},
            required_one_of=("id", "email"),
        ),
    )
}


def unrouted_stream_problem(stream: str) -> str:
    """What to do about a stream that is neither an object's name nor in `object_mapping`."""
    return (
        f"stream {stream!r} is not a Planhat object; name it after one ({', '.join(OBJECTS)}) "
        f'or map it: object_mapping: {{"{stream}": {{"object": "companies"}}}}'
    )
