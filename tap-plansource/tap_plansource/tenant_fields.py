"""The tenant's own people fields, as `/subscriber/meta` and `/dependent/meta` list them.

Each PlanSource client configures its subscriber and dependent fields (Data Field Security), so
a tenant may send fields the built-in schemas do not know. At discovery they are declared in the
catalog, typed from the meta's `data_type`, so schema-driven targets get a column for each; the
built-in declarations are never changed. A sync takes its schema from the catalog, as always.

Fields the meta types `ssn` (in any case: the public example writes types upper-case) are
protected by `sensitive_fields` whatever their name: the tap learns their names from the meta at
discovery and again before a sync emits subscribers or dependents, so a catalog made earlier (or
by hand) cannot let one through in clear. A field typed otherwise is caught by its values
(`sensitive.py`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import requests
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

from tap_plansource.auth import (
    ClockSkewError,
    PlanSourceCredentialsError,
    TokenEndpointUnavailableError,
)
from tap_plansource.schemas import Schema, typed

if TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Iterable

    from planful_plansource_planhat_core.redact import Redactor

    from tap_plansource.sensitive import SensitiveFieldPolicy

#: The streams whose fields a meta endpoint describes, and the stream that reads that endpoint.
META_STREAMS = {
    "subscribers": "subscriber_field_metadata",
    "dependents": "dependent_field_metadata",
}
SSN_DATA_TYPE = "ssn"
#: JSON type and format per meta `data_type`; any other `data_type` is declared a string.
DATA_TYPES: dict[str, tuple[str, str | None]] = {
    "string": ("string", None),
    "ssn": ("string", None),
    "email": ("string", None),
    "list": ("string", None),
    "date": ("string", "date"),
    "decimal": ("number", None),
    "boolean": ("boolean", None),
}
SETTING = "discover_tenant_fields"
#: Failures to get a token: the other meta endpoint would fail the same way, so it is not asked.
TOKEN_ERRORS = (PlanSourceCredentialsError, TokenEndpointUnavailableError, ClockSkewError)


def data_type_of(rules: dict[str, Any]) -> str:
    return str(rules.get("data_type") or "").strip().lower()


def property_schema(rules: dict[str, Any]) -> Schema:
    """The declaration of one tenant field (always nullable), its caption as description."""
    data_type = data_type_of(rules)
    schema = typed(*DATA_TYPES.get(data_type, ("string", None)))
    caption = rules.get("caption")
    what = f"PlanSource tenant field, data_type `{data_type or 'unknown'}`"
    schema["description"] = f"{caption} ({what})" if caption else what
    return schema


class FieldStream(Protocol):
    """What is read of a people stream and of a meta stream (a `PlanSourceStream`)."""

    path: str
    source_schema: dict[str, Any]

    def request_records(self, context: Any) -> Iterable[dict[str, Any]]: ...


class TenantFieldsUnknownError(FatalAPIError):
    """A sync cannot tell which of the tenant's fields hold SSNs."""


class TenantFields:
    """Reads each meta endpoint at most once per run and remembers what it listed."""

    def __init__(
        self,
        enabled: bool,
        stream: Callable[[str], FieldStream],
        redact: Redactor,
        sensitive_policy: SensitiveFieldPolicy,
        logger: logging.Logger,
    ) -> None:
        self.enabled = enabled
        self._stream = stream
        self._redact = redact
        self._sensitive_policy = sensitive_policy
        self.logger = logger
        self._fields: dict[str, dict[str, dict[str, Any]] | None] = {}
        self._no_token = False

    def of(self, stream_name: str, consequence: str) -> dict[str, dict[str, Any]] | None:
        """The meta's rules per field name of `stream_name`'s records; None when unreadable
        (then one warning says which endpoint failed, why, `consequence`, and the setting)."""
        if self._no_token:
            return None
        if stream_name not in self._fields:
            self._fields[stream_name] = self._read(stream_name, consequence)
        return self._fields[stream_name]

    def _read(self, stream_name: str, consequence: str | None) -> dict[str, dict[str, Any]] | None:
        """None (and one warning) when unreadable; `consequence` None: raise instead."""
        meta = self._stream(META_STREAMS[stream_name])
        try:
            rows = list(meta.request_records(None))
        except (FatalAPIError, RetriableAPIError, requests.RequestException) as error:
            reason = self._redact(" ".join(str(error).split()) or type(error).__name__)
            if consequence is None:
                msg = (
                    f"{stream_name}: could not read GET {meta.path} ({reason}), which says which "
                    "of its fields hold SSNs, so none of its records were emitted. Give the API "
                    f"user access to it, or set `{SETTING}: false` (then name such fields in "
                    "`sensitive_field_names`)."
                )
                raise TenantFieldsUnknownError(msg) from None
            if isinstance(error, TOKEN_ERRORS):
                self._no_token = True
                consequence = "no meta endpoint is read and no tenant field is declared"
            self.logger.warning(
                "%s: could not read GET %s (%s), so %s. Set `%s: false` to skip this lookup.",
                stream_name,
                meta.path,
                reason,
                consequence,
                SETTING,
            )
            return None
        fields = {
            row["field"]: row for row in rows if isinstance(row.get("field"), str) and row["field"]
        }
        self._sensitive_policy.protect_ssns(
            name for name, rules in fields.items() if data_type_of(rules) == SSN_DATA_TYPE
        )
        return fields

    def declare(self, entry: dict[str, Any]) -> None:
        """Add to a discovered catalog `entry` every field its meta lists that the stream's
        built-in schema lacks (protected like any sensitive field), with its metadata."""
        stream_name = entry["tap_stream_id"]
        fields = self.of(stream_name, "its catalog entry declares the built-in fields only")
        if not fields:
            return
        stream = self._stream(stream_name)
        built_in = stream.source_schema["properties"]
        added = {
            name: property_schema(rules) for name, rules in fields.items() if name not in built_in
        }
        if not added:
            return
        protected = self._sensitive_policy.protect_schema({"properties": added})["properties"]
        entry["schema"].setdefault("properties", {}).update(protected)
        entry["metadata"].extend(
            {"breadcrumb": ["properties", name], "metadata": {"inclusion": "available"}}
            for name in protected
        )
        self.logger.info(
            "%s: declared %d field(s) listed by its meta endpoint: %s",
            stream_name,
            len(protected),
            ", ".join(sorted(protected)),
        )

    def learn_sensitive(self, stream_name: str) -> None:
        """Before a sync emits `stream_name`, learn which of its fields the meta types `ssn`.

        Unreadable, the sync stops: the records carry every field the tenant configured
        (the schema allows additional properties), and an SSN under another name would
        otherwise leave in clear."""
        if self.enabled and self._sensitive_policy.active and stream_name not in self._fields:
            self._fields[stream_name] = self._read(stream_name, None)
