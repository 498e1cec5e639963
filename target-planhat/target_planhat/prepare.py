"""Record preparation: each record turned into the payload Planhat accepts (company references,
aliases, day-number dates, no `_sdc_` metadata, keys it would match on before the configured
one left out), or rejected on the spot with its reason; and the key it is matched on."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from target_planhat.company_refs import resolve_company
from target_planhat.staged import Rejected, day_number, present

if TYPE_CHECKING:
    from collections.abc import Sequence

    from target_planhat.objects import PlanhatObject
    from target_planhat.routes import Route

_SDC_PREFIX = "_sdc_"
_KEY_SEPARATOR = "="
_COMPANY_SEPARATOR = "\x1f"  # a value may hold "@" or "="
_FIELD_SEPARATOR = "\x1f"


class RecordPreparer:
    """What one stream's records become, by its route (object, behaviour, sync key)."""

    def __init__(self, route: Route, key_properties: Sequence[str] | None) -> None:
        self.route = route
        self.obj: PlanhatObject = route.object
        self.append_only = route.behavior == "send"
        self._stripped_keys = self._keys_above_sync_key()
        self._send_key_fields: tuple[str, ...] = (
            (route.sync_key,) if route.sync_key else tuple(key_properties or ())
        )
        self._names_seen: set[str] = set()
        self._metadata_fields: list[str] = []
        """The `_sdc_*` fields among `_names_seen` (Singer metadata is never sent)."""

    @cached_property
    def _touches(self) -> bool:
        """Whether `prepare` rewrites records of this object (else it sends them as they are)."""
        obj = self.obj
        return bool(
            obj.company is not None or obj.aliases or obj.day_number_fields or self._stripped_keys
        )

    def _keys_above_sync_key(self) -> tuple[str, ...]:
        """Keyables Planhat would match on before the configured sync key, so they are not sent."""
        key = self.route.sync_key
        if key is None or key not in self.obj.sync_keys:
            return ()  # no key, or a send's own key (any field of the record)
        return self.obj.sync_keys[: self.obj.sync_keys.index(key)]

    # -- record preparation -----------------------------------------------------------------

    def prepare(self, record: dict[str, Any]) -> dict[str, Any]:
        """The payload Planhat accepts for `record` (a new dict only when something changes)."""
        obj = self.obj
        payload = record
        touched = self._touches
        names = record.keys()
        if names != self._names_seen:  # records of a stream mostly share one set of fields
            self._names_seen = set(names)
            self._metadata_fields = [name for name in names if name.startswith(_SDC_PREFIX)]
        metadata = self._metadata_fields
        if touched or metadata:
            payload = dict(record)
            for name in metadata:
                del payload[name]
            if obj.company is not None:
                resolve_company(obj, payload)
            for name, alias in obj.aliases.items():
                if name in payload and alias not in payload:
                    payload[alias] = payload.pop(name)
            for name in obj.day_number_fields:
                if present(payload.get(name)):
                    try:
                        payload[name] = day_number(payload[name])
                    except (TypeError, ValueError):
                        msg = f"{name} must be a date (as a day number), got {payload[name]!r}"
                        raise Rejected(msg) from None
            for name in self._stripped_keys:
                payload.pop(name, None)
        if obj.required_one_of and not any(present(payload.get(n)) for n in obj.required_one_of):
            msg = f"{obj.name} need one of {', '.join(obj.required_one_of)}"
            if obj.aliases:
                spellings = ", ".join(f"{k} (sent as {v})" for k, v in obj.aliases.items())
                msg += f"; also read from {spellings}"
            raise Rejected(msg)
        self._check_keys(payload)
        return payload

    def _check_keys(self, payload: dict[str, Any]) -> None:
        obj, sync_key = self.obj, self.route.sync_key
        if sync_key is not None:
            if not present(payload.get(sync_key)):
                msg = f"sync key {sync_key} is empty"
                raise Rejected(msg)
            return
        if obj.sync_keys:
            if present(payload.get("_id")):
                return
            if not obj.keyless_creates:
                for key in obj.sync_keys:
                    value = payload.get(key)
                    if value is not None and value != "":
                        return
                msg = (
                    f"none of the sync keys ({', '.join(obj.sync_keys)}) is set: "
                    "Planhat would create the record again on every run"
                )
                raise Rejected(msg)
        # Certainly a create (append-only, or no `_id` where `_id` is the only key): check fields.
        for name in obj.required:
            if not present(payload.get(name)):
                missing = [f for f in obj.required if not present(payload.get(f))]
                msg = f"missing required field(s) {', '.join(missing)}"
                raise Rejected(msg)

    def key_summary(self, payload: dict[str, Any]) -> str:
        """`[externalId=…]`: how an operator finds the record, without logging its contents."""
        names = self.obj.sync_keys or ("externalId", "cId", "id", "email", "dimensionId")
        shown = [f"{name}={payload[name]}" for name in names if present(payload.get(name))]
        return f" [{', '.join(shown)}]" if shown else ""

    def sync_key_of(self, payload: dict[str, Any]) -> str | None:
        """The key Planhat matches this record on (None: no key, every record is its own)."""
        if self.append_only:
            if not self._send_key_fields:
                return None
            return _FIELD_SEPARATOR.join(str(payload.get(name)) for name in self._send_key_fields)
        obj = self.obj
        name = self.route.sync_key
        if name is None:
            name = next((k for k in obj.sync_keys if present(payload.get(k))), None)
            if name is None:
                return None
        scope = ""
        if obj.company is not None and name not in ("_id", "sourceId"):
            scope = str(payload.get(obj.company.field) or "")  # unique per company only
        return f"{name}{_KEY_SEPARATOR}{payload[name]}{_COMPANY_SEPARATOR}{scope}"
