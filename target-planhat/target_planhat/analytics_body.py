"""Analytics request bodies: staged items split into bodies under the size limit, each kept as
its JSON bytes plus, per item, only what its answer may need."""

from __future__ import annotations

from array import array
from typing import TYPE_CHECKING

from target_planhat.staged import Staged, json_array

if TYPE_CHECKING:
    from collections.abc import Sequence


class Body:
    """One analytics request, built when its batch is handed over: the JSON array, and per item
    only what its answer may need (record number, record JSON for a rejects file, ledger key and
    digest) in flat arrays, not an object per item. `entries()` rebuilds the items when an answer
    names some (errors, points in doubt); a dry run keeps its entries as they are."""

    __slots__ = ("_digests", "_ends", "_entries", "_ledger_keys", "_numbers", "_records", "data")

    def __init__(self, entries: list[Staged], *, keep: bool, ledger: bool) -> None:
        self.data = body_of(entries)
        self._entries = entries if keep else None
        ends = array("Q")
        end = 0
        for entry in entries:
            assert entry.item is not None
            end += 1 + len(entry.item)  # `[` or `,`, then the item
            ends.append(end)
        self._ends = ends
        self._numbers = array("q", [entry.number for entry in entries])
        records = [entry.kept_record for entry in entries]
        self._records = records if any(r is not None for r in records) else None
        self._ledger_keys = [entry.ledger_key for entry in entries] if ledger else None
        self._digests = array("q", [entry.digest for entry in entries]) if ledger else None

    def __len__(self) -> int:
        return len(self._numbers)

    def acknowledged(self) -> list[tuple[str, int]]:
        """(ledger key, digest) of every item, for the ledger once all were accepted."""
        assert self._ledger_keys is not None
        assert self._digests is not None
        return list(zip(self._ledger_keys, self._digests, strict=True))

    def entries(self) -> list[Staged]:
        """The items as staged entries (payload read back from the item), in body order."""
        if self._entries is not None:
            return self._entries
        data, records, keys, digests = self.data, self._records, self._ledger_keys, self._digests
        entries: list[Staged] = []
        start = 1
        for position, end in enumerate(self._ends):
            entry = Staged(
                self._numbers[position], records[position] if records else None, None, None
            )
            entry.item = data[start:end]
            if keys is not None and digests is not None:
                entry.ledger_key, entry.digest = keys[position], digests[position]
            entries.append(entry)
            start = end + 1
        return entries


def split_bodies(entries: list[Staged], limit: int) -> list[list[Staged]]:
    """The entries as request bodies of at most `limit` bytes (one body in the usual case)."""
    bodies: list[list[Staged]] = []
    current: list[Staged] = []
    size = 1  # `[` ... `]`: 2 bytes plus each item and the commas between them
    for entry in entries:
        assert entry.item is not None
        grown = size + len(entry.item) + 1
        if current and grown > limit:
            bodies.append(current)
            current, grown = [], 1 + len(entry.item) + 1
        current.append(entry)
        size = grown
    if current:
        bodies.append(current)
    return bodies


def body_of(entries: Sequence[Staged]) -> bytes:
    return json_array([e.item for e in entries])  # type: ignore[misc]
