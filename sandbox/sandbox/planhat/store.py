"""The Planhat workspace in memory: records per model, keyable indexes, bulk upsert, analytics.

Every lookup goes through a dict index (per keyable, and per company for company-scoped keys),
so a bulk upsert of n items costs O(n). Records are plain dicts shared with nobody: writes copy
the incoming item once and never deep-copy the store.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, date, datetime
from typing import Any

from sandbox.planhat.models import METRIC_MODELS, MODELS, Model

OBJECT_ID = re.compile(r"[0-9a-f]{24}")
_SLUG_GAPS = re.compile(r"[^0-9A-Za-z]+")
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
ANALYTICS_USER_ID_KEYS = ("externalId", "id", "euExtId")
ANALYTICS_COMPANY_KEYS = ("companyExternalId", "cId")
_BULK_ECHO_DEFAULTS: Mapping[str, Any] = {"custom": {}}
"""What an echoed bulk item gains (every Planhat record has a `custom` object)."""
_METRIC_ECHO_DEFAULTS: Mapping[str, Any] = {"model": "Company"}
"""Airbyte's sample echo of a metric carries `model`, a default the sender may not have sent."""
_ACTIVITY_ECHO_DEFAULTS: Mapping[str, Any] = {"weight": 1, "count": 1}
BULK_ACTIVITY_USER_ID_KEYS = ("id",)
BULK_ACTIVITY_COMPANY_KEYS = ("cId",)
"""The bulk endpoint's documented names (contract section 10); the others belong to the
single-event endpoint and are only read on bulk with `activity_bulk_aliases`."""

Setting = Callable[[str], Any]


class Rejected(Exception):  # noqa: N818 - Planhat's word for a refused item is an error entry
    """An item Planhat refuses; the message is what its error entry says."""

    def __init__(self, message: str, *, validation: bool = False) -> None:
        super().__init__(message)
        self.validation = validation
        self.matched = False
        """Whether the item named an existing record (its entry goes to `updatedErrors`)."""


class NotFound(Exception):  # noqa: N818 - maps to HTTP 404
    """No record answers to the key."""


def iso_timestamp(epoch: float) -> str:
    """Planhat's timestamp form: ISO 8601 in UTC with milliseconds and `Z`."""
    return (
        datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def day_number(value: str) -> int:
    """Days since 1970-01-01 of an ISO date or timestamp (Planhat's metric `from`/`to`)."""
    return date.fromisoformat(value[:10]).toordinal() - EPOCH_ORDINAL


Ids = str | list[str]
"""An index entry: one record's `_id`, or a list when several records share the value."""


def _link(index: dict[Any, Ids], key: Any, record_id: str) -> None:
    held = index.get(key)
    if held is None:
        index[key] = record_id
    elif isinstance(held, str):
        index[key] = [held, record_id]
    else:
        held.append(record_id)


def _unlink(index: dict[Any, Ids], key: Any, record_id: str) -> None:
    held = index[key]
    if isinstance(held, str):
        del index[key]
        return
    held.remove(record_id)
    if len(held) == 1:
        index[key] = held[0]


class Collection:
    """The records of one model and their indexes.

    `index[field]` maps a value to the records holding it across the workspace; for keys unique
    only within a company, `company_index[field]` maps `(company _id, value)` as well.
    """

    def __init__(self, model: Model) -> None:
        self.model = model
        self.records: dict[str, dict[str, Any]] = {}
        self.index: dict[str, dict[str, Ids]] = {name: {} for name in model.lookups}
        self.company_index: dict[str, dict[tuple[str, str], Ids]] = {
            name: {} for name in model.lookups if name in model.company_scoped
        }
        self.by_company: dict[str, dict[str, None]] = {}

    def company_ids(self, record: Mapping[str, Any]) -> list[str]:
        """The companies a record belongs to (issues may name several)."""
        if self.model.company_field is None:
            return []
        value = record.get(self.model.company_field)
        if isinstance(value, list):
            return value
        return [value] if value else []

    def _relink(
        self, record: Mapping[str, Any], link: Callable[[dict[Any, Ids], Any, str], None]
    ) -> None:
        record_id = record["_id"]
        company_field = self.model.company_field
        company = record.get(company_field) if company_field else None
        for name in self.model.lookups:
            value = record.get(name)
            if value is None or value == "":
                continue
            link(self.index[name], value, record_id)
            if type(company) is str and name in self.company_index:
                link(self.company_index[name], (company, value), record_id)

    def add(self, record: dict[str, Any]) -> None:
        record_id = record["_id"]
        self.records[record_id] = record
        if self.company_index:
            self._relink(record, _link)
        else:  # the hot path of bulk creates: workspace-wide keys only
            for name, index in self.index.items():
                value = record.get(name)
                if value is None or value == "":
                    continue
                if value in index:
                    _link(index, value, record_id)
                else:
                    index[value] = record_id
        if self.model.company_field:
            for company in self.company_ids(record):
                self.by_company.setdefault(company, {})[record_id] = None

    def remove(self, record: dict[str, Any]) -> None:
        record_id = record["_id"]
        del self.records[record_id]
        self._relink(record, _unlink)
        for company in self.company_ids(record):
            self.by_company.get(company, {}).pop(record_id, None)

    def find(self, name: str, value: str, company: str | None = None) -> list[str]:
        """Ids whose `name` equals `value`, within `company` when given and the key is
        company-scoped (workspace-wide otherwise)."""
        if company is not None and name in self.company_index:
            held = self.company_index[name].get((company, value))
        else:
            held = self.index[name].get(value)
        if held is None:
            return []
        return [held] if isinstance(held, str) else held

    def holds(self, name: str, value: str, company: str | None = None) -> bool:
        """Whether any record has `name` equal to `value` (scoped like `find`, without building
        the id list: the uniqueness check of every bulk item only needs a yes or no)."""
        if company is not None and name in self.company_index:
            return (company, value) in self.company_index[name]
        return value in self.index[name]

    def get(self, key: str) -> dict[str, Any] | None:
        """A record by `_id`, `extid-<externalId>` or `srcid-<sourceId>` (first match)."""
        for prefix, name in (("extid-", self.model.external_key), ("srcid-", "sourceId")):
            if key.startswith(prefix):
                if name not in self.index:
                    return None
                ids = self.find(name, key[len(prefix) :])
                return self.records[ids[0]] if ids else None
        return self.records.get(key)


class PlanhatStore:
    """One Planhat workspace: every model's collection plus metric points and activities."""

    def __init__(self, setting: Setting, clock: Callable[[], float]) -> None:
        self.setting = setting
        self.clock = clock
        self.collections = {path: Collection(model) for path, model in MODELS.items()}
        self.companies = self.collections["companies"]
        self._domains: dict[str, str] | None = None
        self.metric_points: list[dict[str, Any]] = []
        self.metric_points_received = 0
        self.activities: list[dict[str, Any]] = []
        self.activities_received = 0
        self._serial = itertools.count(1)

    # -- ids, companies ---------------------------------------------------------------------

    def new_id(self) -> str:
        """A 24-hex ObjectId; increasing, so `_id` order is creation order."""
        return f"65a1b2c3{next(self._serial):016x}"

    def resolve_company(self, reference: Any) -> dict[str, Any] | None:
        """A company by ObjectId, `extid-<externalId>` or `srcid-<sourceId>`."""
        if not isinstance(reference, str) or not reference:
            return None
        return self.companies.get(reference)

    def _company_by_email(self, email: Any) -> dict[str, Any] | None:
        """The company owning the e-mail's domain (the first company listing it)."""
        if not isinstance(email, str) or "@" not in email:
            return None
        if self._domains is None:  # built on demand: company writes only invalidate it
            self._domains = {}
            for company in self.companies.records.values():
                for domain in company.get("domains") or ():
                    if isinstance(domain, str):
                        self._domains.setdefault(domain.lower(), company["_id"])
        company_id = self._domains.get(email.rsplit("@", 1)[1].lower())
        return self.companies.records.get(company_id) if company_id else None

    # -- preparing an item ------------------------------------------------------------------

    def _normalise(self, model: Model, item: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of `item` with keyables as strings and the company reference resolved."""
        fields = dict(item)
        if "_id" in fields and fields["_id"] is None:
            del fields["_id"]  # a null `_id` (a row not yet in Planhat) names nothing
        for name in model.id_fields:
            value = fields.get(name)
            if value is None or type(value) is str:
                continue
            if isinstance(value, int | float) and not isinstance(value, bool):
                fields[name] = str(value)
            else:
                raise Rejected(f"{name} must be a string")
        if "_id" in fields and not OBJECT_ID.fullmatch(fields["_id"]):
            raise Rejected("invalid id")
        if model.company_field == "companyIds":
            self._resolve_company_list(fields)
        elif model.company_field:
            self._resolve_company_ref(model, fields)
        custom = fields.get("custom")
        if custom is not None:
            # Stored as sent: nothing mutates a stored `custom` in place (updates merge a copy).
            if type(custom) is not dict:
                raise Rejected("custom must be an object", validation=True)
            if self.setting("strict_custom_fields"):
                self._check_custom_fields(model, custom)
        return fields

    def _resolve_company_ref(self, model: Model, fields: dict[str, Any]) -> None:
        field_name = model.company_field
        assert field_name is not None
        reference = fields.get(field_name)
        for alias, prefix in model.company_aliases.items():
            value = fields.pop(alias, None)
            if reference is None and value is not None:
                reference = f"{prefix}{value}"
        if reference is None:
            if model.placed_by_email_domain:
                company = self._company_by_email(fields.get("email"))
                if company is not None:
                    fields[field_name] = company["_id"]
                    fields["companyName"] = company.get("name")
            return
        company = self.resolve_company(reference)
        if company is None:
            raise Rejected(f"company not found: {reference}")
        fields[field_name] = company["_id"]
        fields["companyName"] = company.get("name")

    def _resolve_company_list(self, fields: dict[str, Any]) -> None:
        references = fields.get("companyIds")
        if references is None:
            return
        if not isinstance(references, list):
            raise Rejected("companyIds must be an array")
        resolved = []
        for reference in references:
            company = self.resolve_company(reference)
            if company is None:
                raise Rejected(f"company not found: {reference}")
            resolved.append(company["_id"])
        fields["companyIds"] = resolved

    def _check_custom_fields(self, model: Model, custom: Mapping[str, Any]) -> None:
        defined = {
            definition.get("name")
            for definition in self.collections["customfields"].records.values()
            if definition.get("parent") == model.parent
        }
        unknown = sorted(set(custom) - defined)
        if unknown:
            raise Rejected(
                f"unknown custom fields for {model.parent}: {', '.join(unknown)}", validation=True
            )

    def _check(self, model: Model, fields: Mapping[str, Any], creating: bool) -> None:
        if creating:
            missing = [name for name in model.required if fields.get(name) in (None, "")]
            if missing:
                raise Rejected(
                    f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} required"
                )
            if model.requires_company and not fields.get(model.company_field or ""):
                raise Rejected(f"{model.company_field} is required")
        for check in model.checks:
            message = check(fields, creating)
            if message:
                raise Rejected(message, validation=True)

    def _check_unique(
        self, collection: Collection, fields: Mapping[str, Any], record: Mapping[str, Any] | None
    ) -> None:
        """Keyables Planhat keeps unique must not name another record."""
        model = collection.model
        company = _company_of(model, fields, record)
        clashes = []
        for name in model.unique_lookups:
            value = fields.get(name)
            if value is None or value == "" or (record is not None and record.get(name) == value):
                continue
            if name in model.company_scoped and company is None:
                continue
            if collection.holds(name, value, company):
                clashes.append(name)
        if clashes:
            raise Rejected(f"{','.join(clashes)} duplicated")

    # -- matching and writing -------------------------------------------------------------------

    def _match(
        self, collection: Collection, fields: Mapping[str, Any], seen: set[tuple[str, Any, Any]]
    ) -> tuple[dict[str, Any] | None, list[str]]:
        """The record the first present keyable names (priority order; None: create), and the
        keyables this item repeats from an earlier item of the same payload."""
        model = collection.model
        company = _company_of(model, fields, None)
        record = None
        matched = False
        duplicated = []
        for name in model.keyables:
            value = fields.get(name)
            if value is None or value == "":
                continue
            scope = company if name in model.company_scoped else None
            claim = (name, scope, value)
            if claim in seen:
                duplicated.append(name)
            seen.add(claim)
            if matched:
                continue
            matched = True
            if name == "_id":
                record = collection.records.get(value)
                if record is None:
                    raise Rejected("invalid id")
                continue
            ids = collection.find(name, value, scope)
            if ids:
                if len(ids) > 1:
                    raise Rejected(f"{name} {value!r} matches {len(ids)} records")
                record = collection.records[ids[0]]
        return record, duplicated

    def _insert(self, collection: Collection, fields: dict[str, Any], stamp: str) -> dict[str, Any]:
        record = fields
        for name, value in collection.model.defaults.items():
            record.setdefault(name, value)
        record["_id"] = self.new_id()
        record["createdAt"] = record["updatedAt"] = stamp
        record["__v"] = 0
        if collection is self.companies:
            if "slug" not in record:
                record["slug"] = _SLUG_GAPS.sub("-", str(record.get("name", ""))).strip("-").lower()
            if record.get("domains"):
                self._domains = None
        collection.add(record)
        return record

    def _apply(
        self,
        collection: Collection,
        record: dict[str, Any],
        fields: Mapping[str, Any],
        stamp: str,
        *,
        touch: bool,
    ) -> bool:
        """Partial update: top-level fields replaced, `custom` merged key by key."""
        changes = {
            k: v
            for k, v in fields.items()
            if k not in {"_id", "custom"} and record.get(k, _MISSING) != v
        }
        stored_custom = record.get("custom") or {}
        custom_changes = {
            k: v
            for k, v in (fields.get("custom") or {}).items()
            if stored_custom.get(k, _MISSING) != v
        }
        if not changes and not custom_changes and not touch:
            return False
        model = collection.model
        rekey = any(k in changes for k in (*model.lookups, model.company_field))
        if rekey:
            collection.remove(record)
        if collection is self.companies and "domains" in changes:
            self._domains = None
        record.update(changes)
        if custom_changes:
            record["custom"] = {**stored_custom, **custom_changes}
        record["updatedAt"] = stamp
        if rekey:
            collection.add(record)
        return bool(changes or custom_changes)

    def _upsert_one(
        self, collection: Collection, item: Any, stamp: str, seen: set[tuple[str, Any, Any]]
    ) -> tuple[str, dict[str, Any] | None]:
        """What one item did (`created`, `updated`, `nonupdate` or `dropped`) and its record."""
        model = collection.model
        record = None
        try:
            if type(item) is not dict:
                raise Rejected("item must be a JSON object")
            fields = self._normalise(model, item)
            record, duplicated = self._match(collection, fields, seen)
            if duplicated:
                raise Rejected(f"{','.join(duplicated)} duplicated")
            if (
                record is None
                and model.placed_by_email_domain
                and not fields.get(model.company_field or "")
            ):
                if self.setting("unplaced_endusers") == "drop":
                    return "dropped", None
                raise Rejected(
                    "no company for this end user: no company reference and e-mail domain unknown"
                )
            self._check(model, fields, creating=record is None)
            self._check_unique(collection, fields, record)
        except Rejected as exc:
            exc.matched = record is not None or (type(item) is dict and item.get("_id") is not None)
            raise
        if record is None:
            return "created", self._insert(collection, fields, stamp)
        changed = self._apply(collection, record, fields, stamp, touch=False)
        return ("updated" if changed else "nonupdate"), record

    def bulk_upsert(self, path: str, items: list[Any]) -> tuple[int, dict[str, Any]]:
        """`PUT /<model>`: every item created, updated, left alone or rejected; partial success."""
        collection = self.collections[path]
        envelope = self.empty_envelope()
        stamp = iso_timestamp(self.clock())
        seen: set[tuple[str, Any, Any]] = set()
        errors = 0
        lookups = collection.model.lookups
        for index, item in enumerate(items):
            try:
                kind, record = self._upsert_one(collection, item, stamp, seen)
            except Rejected as exc:
                errors += 1
                if exc.validation and "validationErrors" in envelope:
                    target = "validationErrors"
                else:
                    target = "updatedErrors" if exc.matched else "createdErrors"
                envelope[target].append(self.error_entry(item, index, str(exc)))
                continue
            if kind == "nonupdate":
                envelope["nonupdates"] += 1
            elif record is not None:
                envelope[kind] += 1
                keys = {"_id": record["_id"]}
                for name in lookups:
                    if name in item:
                        keys[name] = record.get(name)
                if kind == "created":
                    envelope["insertsKeys"].append(keys)
                    envelope["upsertedIds"].append(record["_id"])
                else:
                    envelope["updatesKeys"].append(keys)
                    envelope["modified"].append(record["_id"])
        succeeded = envelope["created"] + envelope["updated"] + envelope["nonupdates"]
        if not errors:
            return 200, envelope
        return (206 if succeeded else 400), envelope

    def permission_denied(self, items: list[Any], message: str) -> dict[str, Any]:
        """The 403 envelope: every item in `permissionErrors`, nothing written."""
        envelope = self.empty_envelope()
        envelope["permissionErrors"] = [
            self.error_entry(item, i, message) for i, item in enumerate(items)
        ]
        return envelope

    def empty_envelope(self) -> dict[str, Any]:
        """An empty bulk upsert body (with `validationErrors` when switched on)."""
        envelope: dict[str, Any] = {
            "created": 0,
            "createdErrors": [],
            "insertsKeys": [],
            "updated": 0,
            "updatedErrors": [],
            "updatesKeys": [],
            "nonupdates": 0,
            "modified": [],
            "upsertedIds": [],
            "permissionErrors": [],
        }
        if self.setting("include_validation_errors"):
            envelope["validationErrors"] = []
        return envelope

    def error_entry(
        self, item: Any, index: int | None, message: str, defaults: Mapping[str, Any] | None = None
    ) -> Any:
        """One error entry as `error_item_format` says: `{item, index, error}` (analytics: no
        `index`), a bare message, or `echo_with_defaults`: the item with the defaults Planhat
        fills in added (so not byte-equal to what was sent) and no `index`."""
        shape = self.setting("error_item_format")
        if shape == "string":
            return message
        if shape == "echo_with_defaults":
            echoed = (
                {**(defaults or _BULK_ECHO_DEFAULTS), **item} if isinstance(item, dict) else item
            )
            return {"item": echoed, "error": message}
        if index is None:
            return {"item": item, "error": message}
        return {"item": item, "index": index, "error": message}

    # -- single-record calls ------------------------------------------------------------------

    def create(self, path: str, item: Any) -> dict[str, Any]:
        """`POST /<model>`: creates without matching (Planhat's legacy duplicate behaviour)."""
        collection = self.collections[path]
        if not isinstance(item, dict):
            raise Rejected("body must be a JSON object")
        if item.get("_id") is not None:
            raise Rejected("_id cannot be set on create")
        stamp = iso_timestamp(self.clock())
        if path == "companies" and self.setting("post_dedupes_companies"):
            _, record = self._upsert_one(collection, item, stamp, set())
            assert record is not None
            return record
        fields = self._normalise(collection.model, item)
        self._check(collection.model, fields, creating=True)
        return self._insert(collection, fields, stamp)

    def update(self, path: str, key: str, item: Any) -> dict[str, Any]:
        """`PUT /<model>/<key>`: partial update; `updatedAt` moves even when nothing changed."""
        collection = self.collections[path]
        record = collection.get(key)
        if record is None:
            raise NotFound(key)
        if not isinstance(item, dict):
            raise Rejected("body must be a JSON object")
        if "_id" in item and item["_id"] != record["_id"]:
            raise Rejected("_id in the body does not match the record")
        fields = self._normalise(collection.model, item)
        self._check(collection.model, fields, creating=False)
        self._check_unique(collection, fields, record)
        self._apply(collection, record, fields, iso_timestamp(self.clock()), touch=True)
        return record

    def delete(self, path: str, record_id: str) -> None:
        """`DELETE /<model>/<_id>`: by `_id` only."""
        collection = self.collections[path]
        record = collection.records.get(record_id)
        if record is None:
            raise NotFound(record_id)
        collection.remove(record)
        if collection is self.companies:
            self._domains = None

    def records(
        self,
        path: str,
        *,
        companies: Iterable[str] = (),
        filters: Mapping[str, str] | None = None,
        sort: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Records of a model in list order (by `_id` unless `sort`), filtered."""
        collection = self.collections[path]
        model = collection.model
        company_ids = [c for c in companies if c]
        if company_ids:
            ids = sorted({i for c in company_ids for i in collection.by_company.get(c, ())})
            rows: Iterable[dict[str, Any]] = (collection.records[i] for i in ids)
        else:
            rows = collection.records.values()
        if model.hidden_when:
            rows = (r for r in rows if not r.get(model.hidden_when))
        for name, value in (filters or {}).items():
            rows = (r for r in rows if r.get(name) == value)
        if sort and sort != "_id":
            name = sort.lstrip("-")
            rows = sorted(rows, key=lambda r: _sort_key(r.get(name)), reverse=sort.startswith("-"))
        return iter(rows)

    # -- analytics ------------------------------------------------------------------------------

    def push_metrics(self, items: list[Any]) -> list[Any]:
        """`POST /dimensiondata/<tenant>`: append metric points; returns the error entries."""
        errors = []
        keep = self.setting("keep_analytics_items")
        received = iso_timestamp(self.clock())
        for item in items:
            try:
                point = self._metric_point(item, received)
            except Rejected as exc:
                errors.append(self.error_entry(item, None, str(exc), _METRIC_ECHO_DEFAULTS))
                continue
            self.metric_points_received += 1
            if keep:
                self.metric_points.append(point)
        return errors

    def _metric_point(self, item: Any, received: str) -> dict[str, Any]:
        if not isinstance(item, dict):
            raise Rejected("item must be a JSON object")
        dimension = item.get("dimensionId")
        if not isinstance(dimension, str) or not dimension:
            raise Rejected("dimensionId must be specified")
        value = item.get("value")
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise Rejected("value must be a number")
        external_id = item.get("externalId")
        if external_id in (None, ""):
            raise Rejected("externalId must be specified")
        model_name = item.get("model") or "Company"
        if model_name not in METRIC_MODELS:
            raise Rejected(f"model must be one of {', '.join(METRIC_MODELS)}")
        collection = self.collections[METRIC_MODELS[model_name]]
        external_key = collection.model.external_key
        assert external_key is not None
        ids = collection.find(external_key, str(external_id))
        if not ids:
            raise Rejected(f"{model_name} with externalId {external_id} not found")
        target = collection.records[ids[0]]
        moment = item.get("date") or received
        try:
            day_number(str(moment))
        except ValueError:
            raise Rejected(f"date must be an ISO date, got {moment!r}") from None
        company_id = target["_id"] if collection is self.companies else target.get("companyId")
        company = self.companies.records.get(company_id or "")
        return {
            "_id": self.new_id(),
            "dimensionId": dimension,
            "time": moment,
            "value": value,
            "model": model_name,
            "parentId": target["_id"],
            "externalId": str(external_id),
            "companyId": company_id,
            "companyName": company.get("name") if company else None,
        }

    def metric_points_for(
        self,
        company: str | None,
        dimension: str | None,
        first_day: int | None,
        last_day: int | None,
    ) -> Iterator[dict[str, Any]]:
        """Stored points filtered like `GET /dimensiondata` (`from`/`to` are day numbers)."""
        for point in self.metric_points:
            if company and point["companyId"] != company:
                continue
            if dimension and point["dimensionId"] != dimension:
                continue
            if first_day is not None or last_day is not None:
                day = day_number(point["time"])
                if (first_day is not None and day < first_day) or (
                    last_day is not None and day > last_day
                ):
                    continue
            yield point

    def track_activities(self, items: list[Any], *, bulk: bool = False) -> list[Any]:
        """`POST /analytics[/bulk]/<tenant>`: append user activities; returns the error entries."""
        errors = []
        keep = self.setting("keep_analytics_items")
        received = iso_timestamp(self.clock())
        strict = bulk and not self.setting("activity_bulk_aliases")
        user_keys = BULK_ACTIVITY_USER_ID_KEYS if strict else ANALYTICS_USER_ID_KEYS
        company_keys = BULK_ACTIVITY_COMPANY_KEYS if strict else ANALYTICS_COMPANY_KEYS
        for item in items:
            try:
                activity = self._activity(item, received, user_keys, company_keys, bulk=bulk)
            except Rejected as exc:
                errors.append(self.error_entry(item, None, str(exc), _ACTIVITY_ECHO_DEFAULTS))
                continue
            self.activities_received += 1
            if keep:
                self.activities.append(activity)
        return errors

    def _activity(
        self,
        item: Any,
        received: str,
        user_keys: tuple[str, ...],
        company_keys: tuple[str, ...],
        *,
        bulk: bool,
    ) -> dict[str, Any]:
        if not isinstance(item, dict):
            raise Rejected("item must be a JSON object")
        if not item.get("action"):
            raise Rejected("action must be specified")
        email = item.get("email")
        user_external_id = next((item[k] for k in user_keys if item.get(k) not in (None, "")), None)
        company_external_id = next(
            (item[k] for k in company_keys if item.get(k) not in (None, "")), None
        )
        if bulk and email in (None, "") and user_external_id is None:
            names = " or ".join((*user_keys, "email"))
            raise Rejected(f"{names} must be specified")
        company = None
        if company_external_id is not None:
            ids = self.companies.find("externalId", str(company_external_id))
            if not ids:
                raise Rejected(f"company with externalId {company_external_id} not found")
            company = self.companies.records[ids[0]]
        if email is None and user_external_id is None and company is None:
            raise Rejected("email, externalId or companyExternalId must be specified")
        enduser = self._activity_user(email, user_external_id, company, item.get("name"), received)
        if enduser is not None:
            company_id = enduser.get("companyId")
        elif company is not None:
            company_id = company["_id"]
        else:
            raise Rejected("end user not found and no company to create it in")
        return {
            "_id": self.new_id(),
            "action": item["action"],
            "date": item.get("date") or received,
            "weight": item.get("weight", 1),
            "count": item.get("count", 1),
            "info": item.get("info"),
            "name": item.get("name"),
            "enduserId": enduser["_id"] if enduser else None,
            "companyId": company_id,
        }

    def _activity_user(
        self, email: Any, external_id: Any, company: Mapping[str, Any] | None, name: Any, stamp: str
    ) -> dict[str, Any] | None:
        """The end user an activity belongs to; unknown users of a known company are created."""
        endusers = self.collections["endusers"]
        scope = company["_id"] if company else None
        for field_name, value in (("externalId", external_id), ("email", email)):
            if value is not None:
                ids = endusers.find(field_name, str(value), scope)
                if ids:
                    return endusers.records[ids[0]]
        if company is None or (email is None and external_id is None):
            return None
        fields: dict[str, Any] = {"companyId": company["_id"], "companyName": company.get("name")}
        if email is not None:
            fields["email"] = str(email)
        if external_id is not None:
            fields["externalId"] = str(external_id)
        if name:
            fields["name"] = name
        return self._insert(endusers, fields, stamp)


class _Missing:
    """Stands for an absent field, so a field set to `None` still counts as a change."""


_MISSING = _Missing()


def _company_of(
    model: Model, fields: Mapping[str, Any], record: Mapping[str, Any] | None
) -> str | None:
    """The single company a record is (or will be) in, if its model has one."""
    if model.company_field is None:
        return None
    company = fields.get(model.company_field)
    if company is None and record is not None:
        company = record.get(model.company_field)
    return company if type(company) is str else None


def _sort_key(value: Any) -> tuple[bool, str, Any]:
    return (value is None, type(value).__name__, value if value is not None else 0)
