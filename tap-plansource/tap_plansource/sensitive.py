"""The `sensitive_fields` policy: SSNs and other named personal fields, at any depth.

PlanSource masks SSNs on some endpoints and not on others (dependents are masked, payroll, EOI
and survey answers are not), so the tap applies one policy everywhere, by field name, to every
nested object and array, including fields the schemas do not declare:

- `keep`: values pass unchanged;
- `mask` (default): every letter and digit but the last four become `X` (`XXX-XX-6789`);
- `hash`: HMAC-SHA256 keyed with `sensitive_hash_salt` (digits only for SSNs, so `123-45-6789`
  and `123456789` give the same hash, which still joins across streams);
- `drop`: the field is removed from records and from the schema.

The meta endpoints may type an SSN field `STRING` (the public example's only type), so a field
of any name whose string value has an SSN's shape (`123-45-6789` or nine digits) is protected
from that value on, and named once in a warning (`protect_ssn_shaped_values`, on by default).
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import logging
import re
from itertools import compress
from typing import TYPE_CHECKING, Any

from tap_plansource.settings import SSN_FIELD_NAMES

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable

_KEEP_VISIBLE = 4
_CONTAINERS = frozenset({dict, list})
_SSN = re.compile(r"(?:\d{3}|XXX)-?(?:\d{2}|XX)-?(\d{4})")
_SSN_SHAPE = re.compile(r"\d{3}-\d{2}-\d{4}|\d{9}")
_SSN_LENGTHS = frozenset({9, 11})
_logger = logging.getLogger("tap-plansource")


def _is_ssn_name(name: str) -> bool:
    return name in SSN_FIELD_NAMES or name.endswith("_ssn")


def mask(value: Any) -> str:
    """Hide all letters and digits except the last four (all of them when the value is short)."""
    text = str(value)
    ssn = _SSN.fullmatch(text)
    if ssn:
        return f"XXX-XX-{ssn[1]}" if "-" in text else f"XXXXX{ssn[1]}"
    total = sum(ch.isalnum() for ch in text)
    visible = _KEEP_VISIBLE if total > _KEEP_VISIBLE * 2 else 0
    out, seen = [], 0
    for ch in text:
        if ch.isalnum():
            seen += 1
            out.append(ch if seen > total - visible else "X")
        else:
            out.append(ch)
    return "".join(out)


class SensitiveFieldPolicy:
    """Applies the configured mode to every field whose name is sensitive, however deep."""

    def __init__(
        self,
        mode: str,
        names: frozenset[str],
        salt: str | None = None,
        *,
        by_shape: bool = True,
        logger: logging.Logger = _logger,
    ) -> None:
        self.mode = mode
        self.by_shape = by_shape
        self.logger = logger
        self._salt = (salt or "").encode()
        self._names = set(names)
        self._classified: set[str] = set(names)
        self._ssn_names: set[str] = set()

    @property
    def active(self) -> bool:
        return self.mode != "keep"

    def is_sensitive(self, name: str) -> bool:
        return name.lower() in self._names or _is_ssn_name(name.lower())

    def protect_ssns(self, names: Iterable[str]) -> None:
        """Protect `names` as SSNs whatever they are called (fields PlanSource's meta types
        `ssn`): like `ssn` itself, hashed on their digits."""
        for name in names:
            self._names.update({name, name.lower()})
            self._ssn_names.add(name.lower())
            self._classified.add(name)

    def apply(
        self, record: dict[str, Any], stream: str = "", keys: Collection[str] = ()
    ) -> dict[str, Any]:
        """Protect `record` of `stream` in place (and return it); its `keys` (the stream's
        primary key) are never taken for SSNs by their shape."""
        if self.mode != "keep":
            self._walk(record, stream, keys)
        return record

    def protect_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        """A copy of `schema`: protected fields become strings (mask, hash) or vanish (drop)."""
        schema = copy.deepcopy(schema)
        if self.mode != "keep":
            self._protect_properties(schema)
        return schema

    def _protect_properties(self, schema: dict[str, Any]) -> None:
        properties = schema.get("properties") or {}
        for name in list(properties):
            if self.is_sensitive(name):
                if self.mode == "drop":
                    del properties[name]
                else:
                    properties[name] = {"type": ["string", "null"]}
                continue
            self._protect_properties(properties[name])
            if isinstance(properties[name].get("items"), dict):
                self._protect_properties(properties[name]["items"])
        if isinstance(schema.get("items"), dict):
            self._protect_properties(schema["items"])

    def _walk(self, record: dict[str, Any], stream: str, exempt: Collection[str] = ()) -> None:
        keys = record.keys()
        if not keys <= self._classified:  # a record of keys seen before builds no set here
            unseen = keys - self._classified
            self._classified.update(unseen)
            self._names.update(k for k in unseen if self.is_sensitive(k))
        if self.by_shape:
            for name in [
                n for n, v in record.items() if v.__class__ is str and len(v) in _SSN_LENGTHS
            ]:
                if (
                    name not in self._names
                    and name not in exempt
                    and _SSN_SHAPE.fullmatch(record[name])
                ):
                    self._protect_by_shape(name, stream)
        for name in keys & self._names:
            value = record[name]
            if value is None:
                continue
            if self.mode == "drop":
                del record[name]
            elif self.mode == "mask":
                record[name] = mask(value)
            else:
                record[name] = self._hash(name, value)
        values = record.values()
        # the nested objects and arrays, found without a Python step per value
        if _CONTAINERS.isdisjoint(map(type, values)):
            return
        for value in list(compress(values, map(_CONTAINERS.__contains__, map(type, values)))):
            if value.__class__ is dict:
                self._walk(value, stream)
            else:
                for item in value:
                    if item.__class__ is dict:
                        self._walk(item, stream)

    def _protect_by_shape(self, name: str, stream: str) -> None:
        """A field whose value looks like an SSN: an SSN from now on, in every stream."""
        self.protect_ssns([name])
        self.logger.warning(
            "%s: field `%s` holds a value shaped like an SSN, so `sensitive_fields` (%s) "
            "protects it from now on; name it in `sensitive_field_names` to protect it in the "
            "schema too, or set `protect_ssn_shaped_values: false` if it is no SSN",
            stream or "a record",
            name,
            self.mode,
        )

    def _hash(self, name: str, value: Any) -> str:
        text = str(value)
        if _is_ssn_name(name.lower()) or name.lower() in self._ssn_names:
            text = "".join(ch for ch in text if ch.isdigit()) or text
        return hmac.new(self._salt, text.encode(), hashlib.sha256).hexdigest()
