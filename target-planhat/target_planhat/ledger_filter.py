"""The ledger filter: staged records Planhat already acknowledged with the same payload (upsert,
update), or whose key was already sent (send), are not sent again; what Planhat acknowledges is
written back. Also the batch in flight counts: it is not in the ledger yet, and is newer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from target_planhat.ledger import digest, hashed_key
from target_planhat.staged import encode

if TYPE_CHECKING:
    from collections.abc import Sequence

    from target_planhat.ledger import Ledger
    from target_planhat.staged import Staged

_EMAIL_KEY = "email="


class LedgerFilter:
    """One stream's view of the ledger (its object's scope); nothing is written in a dry run."""

    def __init__(
        self,
        ledger: Ledger,
        scope: int,
        *,
        append_only: bool,
        full_resync: bool,
        dry_run: bool,
    ) -> None:
        self.ledger = ledger
        self.scope = scope
        self.append_only = append_only
        self.full_resync = full_resync
        self.dry_run = dry_run
        self._sending: dict[str, int] = {}
        """Ledger key -> digest of the batch handed over last (in flight: not in the ledger yet)."""

    def previous(self, entries: Sequence[Staged]) -> list[int | None]:
        """Per entry (given its JSON item, digest and ledger key here): the digest the ledger or
        the batch in flight holds for its key, None when neither does."""
        for entry in entries:
            if entry.item is None:
                entry.item = encode(entry.payload)
            entry.digest = digest(entry.item)
            entry.ledger_key = self.ledger_key_of(entry)
        known = (
            {}
            if self.full_resync
            else self.ledger.lookup(self.scope, [e.ledger_key for e in entries])
        )
        sending = self._sending
        return [sending.get(e.ledger_key, known.get(e.ledger_key)) for e in entries]

    def unchanged(self, entry: Staged, previous: int | None) -> bool:
        """Whether Planhat has `entry` already: the same payload, or (a send) the same key."""
        return previous is not None and (self.append_only or previous == entry.digest)

    def ledger_key_of(self, entry: Staged) -> str:
        """The key as the ledger stores it: readable for keyables, a hash for anything that may
        hold personal data (e-mail keys, send keys, whole items)."""
        key = entry.key
        if key is None:
            assert entry.item is not None
            return hashed_key(entry.item)
        if self.append_only or key.startswith(_EMAIL_KEY):
            return hashed_key(key.encode())
        return key

    def handed_over(self, batch: Sequence[Staged]) -> None:
        """`batch` goes out: until the next one, its keys count as sent."""
        self._sending = {entry.ledger_key: entry.digest for entry in batch}

    def remember(self, entries: Sequence[Staged]) -> None:
        """Record what Planhat acknowledged (never in a dry run)."""
        if self.dry_run or not entries:
            return
        self.ledger.record(self.scope, [(e.ledger_key, e.digest) for e in entries])

    def record(self, acknowledged: list[tuple[str, int]]) -> None:
        """Record (ledger key, digest) pairs Planhat acknowledged (never in a dry run)."""
        if not self.dry_run:
            self.ledger.record(self.scope, acknowledged)
