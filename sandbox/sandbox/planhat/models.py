"""The Planhat models the emulator serves, as data: one row per model (contract section 9.3).

A row says which fields a create needs, which keyables bulk upsert matches on (in priority
order), which of them are unique only within a company, how the record points at its company,
and the value rules Planhat enforces. Behaviour lives in `store.py`, never here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import Any, TypeGuard

Check = Callable[[Mapping[str, Any], bool], "str | None"]
"""A value rule: `(fields, creating) -> error message or None`."""


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def nps_score(fields: Mapping[str, Any], creating: bool) -> str | None:
    """NPS `score` is an integer from 0 to 10."""
    score = fields.get("score")
    if score is None and not creating:
        return None
    if not isinstance(score, int) or isinstance(score, bool) or not 0 <= score <= 10:
        return "score must be an integer between 0 and 10"
    return None


def license_money(fields: Mapping[str, Any], creating: bool) -> str | None:
    """A license needs `mrr`, or a positive `value` when `fixedPeriod` is true."""
    if fields.get("fixedPeriod") is True:
        value = fields.get("value")
        if (creating or "value" in fields) and not (_is_number(value) and value > 0):
            return "value must be a positive number when fixedPeriod is true"
        return None
    mrr = fields.get("mrr")
    if creating and mrr is None:
        return "mrr is required unless fixedPeriod is true"
    if mrr is not None and not _is_number(mrr):
        return "mrr must be a number"
    return None


def iso_dates(*names: str) -> Check:
    """Fields that must hold ISO dates (`2024-01-31` or a full timestamp)."""

    def check(fields: Mapping[str, Any], creating: bool) -> str | None:
        for name in names:
            value = fields.get(name)
            if value is None:
                continue
            try:
                date.fromisoformat(str(value)[:10])
            except ValueError:
                return f"{name} must be an ISO date, got {value!r}"
        return None

    return check


def day_numbers(*names: str) -> Check:
    """Fields that must hold days since 1970-01-01 as integers (invoice dates)."""

    def check(fields: Mapping[str, Any], creating: bool) -> str | None:
        for name in names:
            value = fields.get(name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                return (
                    f"{name} must be an integer day number (days since 1970-01-01), got {value!r}"
                )
        return None

    return check


def one_of(name: str, allowed: tuple[str, ...]) -> Check:
    """A field restricted to a few values."""

    def check(fields: Mapping[str, Any], creating: bool) -> str | None:
        value = fields.get(name)
        if value is not None and value not in allowed:
            return f"{name} must be one of {', '.join(allowed)}, got {value!r}"
        return None

    return check


@dataclass(frozen=True)
class Model:
    """One Planhat model as the emulator serves it."""

    path: str
    parent: str
    """The model's name in custom field definitions and metrics (`Company`, `EndUser`, ...)."""
    required: tuple[str, ...] = ()
    keyables: tuple[str, ...] = ("_id", "sourceId", "externalId")
    """Bulk upsert match keys, highest priority first."""
    lookups: tuple[str, ...] = ("sourceId", "externalId")
    """Indexed id fields: `srcid-`/`extid-` addressing and keyable matching."""
    company_scoped: frozenset[str] = frozenset({"externalId"})
    """Keyables unique only within the record's company."""
    shared: frozenset[str] = frozenset()
    """Keyables Planhat does not keep unique (match only when exactly one record has it)."""
    company_field: str | None = "companyId"
    company_aliases: Mapping[str, str] = field(
        default_factory=lambda: {"companyExternalId": "extid-"}
    )
    """Other fields naming the company, with the prefix that makes their value a reference."""
    placed_by_email_domain: bool = False
    """Without a company reference, place the record in the company owning the e-mail's domain."""
    requires_company: bool = True
    checks: tuple[Check, ...] = ()
    defaults: Mapping[str, Any] = field(default_factory=dict)
    list_default_limit: int = 100
    list_max_limit: int = 2000
    list_filters: tuple[str, ...] = ()
    """Extra list query filters matched by equality (besides `companyId`)."""
    hidden_when: str | None = None
    """A boolean field whose records lists leave out (archived end users)."""
    bulk: bool = True
    writable: bool = True

    @cached_property
    def id_fields(self) -> tuple[str, ...]:
        """`_id` and the lookups: the fields that must be strings."""
        return ("_id", *self.lookups)

    @cached_property
    def unique_lookups(self) -> tuple[str, ...]:
        """Lookups Planhat keeps unique (within the company for company-scoped ones)."""
        return tuple(name for name in self.lookups if name not in self.shared)

    @cached_property
    def external_key(self) -> str | None:
        """The field `extid-` addresses (`extId` on invoices)."""
        return next((k for k in self.lookups if k in {"externalId", "extId"}), None)


MODELS: dict[str, Model] = {
    model.path: model
    for model in (
        Model(
            "companies",
            "Company",
            required=("name",),
            company_scoped=frozenset(),
            company_field=None,
            company_aliases={},
            requires_company=False,
            list_max_limit=5000,
        ),
        Model(
            "endusers",
            "EndUser",
            required=("email",),
            keyables=("_id", "sourceId", "externalId", "email"),
            lookups=("sourceId", "externalId", "email"),
            company_scoped=frozenset({"externalId", "email"}),
            shared=frozenset({"email"}),
            placed_by_email_domain=True,
            list_filters=("email",),
            hidden_when="archived",
        ),
        Model(
            "licenses",
            "License",
            required=("_currency", "fromDate"),
            checks=(license_money, iso_dates("fromDate", "toDate")),
        ),
        Model("churn", "Churn", checks=(iso_dates("churnDate"),)),
        Model(
            "nps",
            "Nps",
            required=("email", "score"),
            keyables=("_id", "sourceId"),
            company_scoped=frozenset(),
            company_field="cId",
            company_aliases={"companyId": "", "companyExternalId": "extid-"},
            requires_company=False,
            checks=(nps_score,),
            list_max_limit=10000,
            list_filters=("email",),
        ),
        Model(
            "conversations",
            "Conversation",
            keyables=("_id",),
            defaults={"type": "note"},
            list_default_limit=30,
            list_filters=("type",),
        ),
        Model(
            "opportunities", "Opportunity", checks=(one_of("status", ("active", "won", "lost")),)
        ),
        Model("projects", "Project", required=("name",)),
        Model("assets", "Asset", required=("name",)),
        Model(
            "invoices",
            "Invoice",
            required=("currency",),
            keyables=("_id", "sourceId", "extId"),
            lookups=("sourceId", "extId"),
            company_scoped=frozenset({"extId"}),
            company_field="cId",
            checks=(day_numbers("invoiceDate", "dueDate", "paidDate"),),
        ),
        Model(
            "issues",
            "Issue",
            required=("title",),
            keyables=("_id", "sourceId"),
            company_scoped=frozenset(),
            company_field="companyIds",
            company_aliases={},
            requires_company=False,
        ),
        Model(
            "tasks",
            "Task",
            required=("mainType",),
            checks=(one_of("mainType", ("task", "event")),),
            list_max_limit=10000,
        ),
        Model(
            "customfields",
            "CustomField",
            required=("name", "type", "parent"),
            keyables=("_id",),
            lookups=(),
            company_scoped=frozenset(),
            company_field=None,
            company_aliases={},
            requires_company=False,
            list_filters=("parent",),
            bulk=False,
        ),
        Model(
            "users",
            "User",
            keyables=("_id",),
            lookups=("externalId",),
            company_scoped=frozenset(),
            company_field=None,
            company_aliases={},
            requires_company=False,
            list_max_limit=10000,
            list_filters=("email",),
            bulk=False,
            writable=False,
        ),
    )
}

METRIC_MODELS: dict[str, str] = {
    "Company": "companies",
    "EndUser": "endusers",
    "Asset": "assets",
    "Project": "projects",
}
"""Models a metric point may belong to (`model` field of dimension data) and their paths."""
