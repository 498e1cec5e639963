"""A record on its way to Planhat: `Staged` holds what was read, what is sent and what the ledger
needs; the JSON helpers every writer shares (msgspec: one encoder, bodies built in one piece)."""

from __future__ import annotations

import datetime
from typing import Any

import msgspec

EPOCH = datetime.date(1970, 1, 1)
encoder = msgspec.json.Encoder(enc_hook=str, decimal_format="number")
encode = encoder.encode
decode = msgspec.json.decode


class Rejected(Exception):  # noqa: N818 - a reason, raised only inside `prepare`
    """A record that cannot be sent as it is."""


class Staged:
    """One prepared record waiting for its request, with what the ledger needs."""

    __slots__ = ("_payload", "_record", "digest", "item", "key", "known", "ledger_key", "number")

    def __init__(
        self,
        number: int,
        record: dict[str, Any] | bytes | None,
        payload: dict[str, Any] | None,
        key: str | None,
    ) -> None:
        self.number = number
        self._record: dict[str, Any] | bytes | None = record
        self._payload: dict[str, Any] | None = payload
        self.key = key
        self.item: bytes | None = None
        """The payload as JSON (encoded once: the digest and the request body share it)."""
        self.digest = 0
        self.ledger_key = ""
        self.known = False
        """The ledger holds this key (with another payload): an update rather than a create."""

    @property
    def record(self) -> dict[str, Any] | msgspec.Raw | None:
        """The record as read, for the rejects file (as JSON once `compact` kept it so; None
        once `compact` dropped it, there being no rejects file to write it to)."""
        record = self._record
        return msgspec.Raw(record) if isinstance(record, bytes) else record

    @property
    def kept_record(self) -> dict[str, Any] | bytes | None:
        """The record as `compact` kept it (JSON, or None without a rejects file)."""
        return self._record

    @property
    def payload(self) -> dict[str, Any]:
        """What is sent for the record (read back from `item` once `compact` dropped it)."""
        if self._payload is None:
            return decode(self.item) if self.item is not None else {}
        return self._payload

    @payload.setter
    def payload(self, payload: dict[str, Any]) -> None:
        self._payload = payload

    def compact(self, *, keep_record: bool) -> None:
        """Keep only the JSON of the payload (`item`) and, for a rejects file (`keep_record`),
        of the record, not their dicts: what an analytics entry needs while it waits for its body
        and its answer. Both read back the same (`payload` decoded from the item, `record` as
        JSON for the rejects file); without a rejects file the record is never read again."""
        if self.item is None:
            self.item = encode(self.payload)
        if not keep_record:
            self._record = None
        elif isinstance(self._record, dict):
            self._record = encode(self._record)
        self._payload = None

    @property
    def slot(self) -> str | int:
        """Where it waits: its key, so a later record with the same key replaces it."""
        return self.key if self.key is not None else self.number


def day_number(value: Any) -> int:
    """Planhat stores invoice dates as days since 1970-01-01."""
    if isinstance(value, bool):
        raise TypeError(value)
    if isinstance(value, int):
        return value
    if isinstance(value, datetime.datetime):
        value = value.date()
    elif isinstance(value, str):
        value = datetime.date.fromisoformat(value[:10])
    if isinstance(value, datetime.date):
        return (value - EPOCH).days
    raise TypeError(value)


def present(value: Any) -> bool:
    return value is not None and value != ""


def json_array(items: list[bytes]) -> bytes:
    """`[item,item,...]` in one allocation: a body of up to the analytics limit is not copied
    again to add its brackets (`b"[" + ... + b"]"` would hold two copies at once)."""
    if not items:
        return b"[]"
    parts = [b","] * (2 * len(items) + 1)
    parts[0], parts[-1] = b"[", b"]"
    parts[1::2] = items
    return b"".join(parts)
