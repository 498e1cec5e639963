"""The analytics host's writer: metrics and activities `send` (append-only), batched by body
size, not by count; metrics whose send got no answer or a short one are read back (`read_back`)
and only the points Planhat does not hold are sent again."""

from __future__ import annotations

import time
from functools import cached_property
from typing import TYPE_CHECKING, Any

from singer_sdk.exceptions import FatalAPIError
from typing_extensions import override

from target_planhat.analytics_body import Body, body_of, split_bodies
from target_planhat.read_back import stored_positions
from target_planhat.rejects import error_item, error_reason, identity
from target_planhat.sink import PlanhatSink
from target_planhat.staged import encode

if TYPE_CHECKING:
    from target_planhat.client import SendResult
    from target_planhat.staged import Staged


class AnalyticsSendSink(PlanhatSink):
    """`send` on the analytics host: append-only, batched by body size (10 MB), not by count."""

    MAX_SIZE_DEFAULT = 1_000_000

    @override
    def setup(self) -> None:
        super().setup()
        self.body_limit = self.settings.analytics_batch_bytes
        self.max_reads = self.settings.read_back_max_reads
        self.unresolved = 0
        """Points still unaccounted after read-back and re-send: the run must not end well."""
        self._bytes = 0
        self._largest = 0

    @property
    def is_full(self) -> bool:
        """Drain before the next item could push the body over the limit."""
        waiting = len(self._ready) + len(self._unchecked)
        next_body = self._bytes + 1 + self._largest + 1  # items, `,` + item + `]`
        return (
            len(self._ready) >= self.max_size
            or waiting >= self.max_size
            or next_body > self.body_limit
        )

    def stage(self, entry: Staged, context: dict) -> None:
        """Stage the item as JSON bytes. What waits for its body is kept compact: metric
        points are small and a body holds up to `body_limit` bytes of them (plus the batch
        being answered), so per-point dicts would cost several times the body."""
        item = encode(entry.payload)
        if len(item) + 2 > self.body_limit:
            context["rejected"] = context.get("rejected", 0) + 1
            self.report.reject(
                stream=self.stream_name,
                obj=self.obj.name,
                error=f"item is {len(item)} bytes, over the {self.body_limit} byte body limit",
                record=entry.record,
                record_number=entry.number,
                keys=self.key_summary(entry.payload),
            )
            return
        entry.item = item
        if not self.dry_run:  # a dry run writes the payload to the plan file
            entry.compact(keep_record=self.report.rejects_path is not None)
        super().stage(entry, context)

    def admit(self, entry: Staged) -> None:
        assert entry.item is not None
        self._bytes += len(entry.item) + 1
        self._largest = max(self._largest, len(entry.item))

    def forget(self, entry: Staged) -> None:
        assert entry.item is not None
        self._bytes -= len(entry.item) + 1

    def take_batch(self) -> list[Staged]:
        batch = super().take_batch()
        self._bytes = 0
        return batch

    def pack(self, batch: list[Staged]) -> list[Body]:
        """The batch as its request bodies, built once the batch before was answered (its
        bodies freed): while one batch is in flight and the next is read, the one in flight
        holds little more than its bodies' bytes."""
        self.inflight.wait()
        ledger = self.ledger_filter is not None
        return [
            Body(part, keep=self.dry_run, ledger=ledger)
            for part in split_bodies(batch, self.body_limit)
        ]

    def send(self, packed: list[Body], context: dict) -> None:
        """Every body of one drained batch (in the in-flight slot)."""
        failed = 0
        for body in packed:
            failed += self.write(body)
        self.finish_batch(context, failed)

    @cached_property
    def reads_back(self) -> bool:
        """Metrics in doubt are read back (`GET /dimensiondata`) rather than sent again."""
        return self.obj.name == "metrics"

    def write(self, packed: Body) -> int:
        """One request; returns how many of its items were rejected or unaccounted."""
        count = len(packed)
        body = packed.data
        self.counts.batches += 1
        batch = self.counts.batches
        if self.dry_run:
            self.counts.sent += count
            self.plan("send", packed.entries())
            self.logger.info(
                "%s: dry run, batch %d: would send %d (%d bytes)",
                self.stream_name,
                batch,
                count,
                len(body),
            )
            return 0
        started = time.perf_counter()
        result = self.client.send(self.obj, body, resend_unanswered=not self.reads_back)
        self.counts.sent += count
        if result.answered:  # else nothing was re-sent: it is read back
            self.warn_unknown_outcomes(result.unknown_outcomes, count, idempotent=False)
        processed = result.processed
        unaccounted = _short(result, count)
        rejected = len(result.errors)
        if not (rejected or unaccounted):  # the usual answer: every item accepted
            if self.ledger_filter is not None:
                self.ledger_filter.record(packed.acknowledged())
            entries: list[Staged] = []
        else:
            entries = packed.entries()
        refused, unplaced = self._refused(result.errors, entries, batch)
        if unaccounted and self.reads_back:
            doubtful = [e for i, e in enumerate(entries) if i not in refused]
            accepted, left, refused_later = self.read_back(doubtful, batch, result)
            kept = {id(e) for e in accepted}
            self.remember([e for i, e in enumerate(entries) if i not in refused and id(e) in kept])
            rejected += refused_later
            unaccounted = len(left)
            if left:
                self.counts.unaccounted += len(left)
                self.unresolved += len(left)
        elif unaccounted:
            self.counts.unaccounted += unaccounted
            said = (
                "an answer without `processed`"
                if processed is None
                else f"`processed: {processed}`"
            )
            self.logger.warning(
                "%s: batch %d: %d of %d items unaccounted (the analytics host answered %s); "
                "the batch stays out of the ledger, so the next run sends it again",
                self.stream_name,
                batch,
                unaccounted,
                count,
                said,
            )
        elif entries:  # every item answered: what no error names was accepted
            self.remember([e for i, e in enumerate(entries) if i not in refused])
            if unplaced:
                self._warn_unplaced(batch, unplaced)
        self.logger.info(
            "%s: batch %d: %d sent (%d bytes), %s processed, %d rejected (POST /%s, %.2f s)",
            self.stream_name,
            batch,
            count,
            len(body),
            "?" if processed is None else processed,
            len(result.errors),
            self.obj.endpoint,
            time.perf_counter() - started,
        )
        return rejected + unaccounted

    # -- metrics in doubt: read back, send only what is missing --------------------------------

    def read_back(
        self, pending: list[Staged], batch: int, first: SendResult
    ) -> tuple[list[Staged], list[Staged], int]:
        """After an unanswered or short send: read the points back, send only those Planhat does
        not hold, and again, at most `read_back_max_reads` reads; past them the rest is sent once
        more unread (and said to be possibly stored twice). Returns the points now accounted
        for, those still unaccounted and how many Planhat refused on the way."""
        said = (
            "no answer"
            if not first.answered
            else "an answer without `processed`"
            if first.processed is None
            else f"`processed: {first.processed}`"
        )
        self.logger.warning(
            "%s: batch %d: %d point(s) in doubt (the analytics host gave %s); reading them back "
            "instead of sending them again",
            self.stream_name,
            batch,
            len(pending),
            said,
        )
        accepted: list[Staged] = []
        refused_total = 0
        reads = 0
        while pending and reads < self.max_reads:
            reads += 1
            time.sleep(self.client.settle_seconds)  # a late write of the last attempt lands first
            try:
                stored = stored_positions(self.client, pending)
            except FatalAPIError as exc:
                self.logger.warning(
                    "%s: batch %d: read-back failed (%s)", self.stream_name, batch, exc
                )
                break
            missing = [e for i, e in enumerate(pending) if i not in stored]
            accepted += [e for i, e in enumerate(pending) if i in stored]
            self.counts.found_on_read_back += len(pending) - len(missing)
            self.logger.info(
                "%s: batch %d: read-back %d of %d: %d of %d point(s) stored, %d sent again",
                self.stream_name,
                batch,
                reads,
                self.max_reads,
                len(pending) - len(missing),
                len(pending),
                len(missing),
            )
            if not missing:
                return accepted, [], refused_total
            done, pending, refused = self._send_again(missing, batch, resend_unanswered=False)
            accepted += done
            refused_total += refused
        if not pending:
            return accepted, [], refused_total
        self.counts.maybe_twice += len(pending)
        self.logger.warning(
            "%s: batch %d: %d point(s) sent again without a read-back showing them missing (%d "
            "read(s) made; `read_back_max_reads` is %d): they may be stored twice",
            self.stream_name,
            batch,
            len(pending),
            reads,
            self.max_reads,
        )
        done, pending, refused = self._send_again(pending, batch, resend_unanswered=True)
        return [*accepted, *done], pending, refused_total + refused

    def _send_again(
        self, entries: list[Staged], batch: int, *, resend_unanswered: bool
    ) -> tuple[list[Staged], list[Staged], int]:
        """Send `entries` again: (accepted, still in doubt, refused)."""
        result = self.client.send(self.obj, body_of(entries), resend_unanswered=resend_unanswered)
        self.counts.sent += len(entries)
        if result.answered:
            self.warn_unknown_outcomes(result.unknown_outcomes, len(entries), idempotent=False)
        refused, _ = self._refused(result.errors, entries, batch)
        kept = [e for i, e in enumerate(entries) if i not in refused]
        if _short(result, len(entries)):
            return [], kept, len(result.errors)
        return kept, [], len(result.errors)

    def _refused(
        self, errors: list[Any], entries: list[Staged], batch: int
    ) -> tuple[set[int], int]:
        """Report each error entry; returns the positions they name and how many name none."""
        if not errors:
            return set(), 0
        positions: dict[tuple[str, ...], list[int]] = {}
        for position, entry in enumerate(entries):
            positions.setdefault(identity(entry.payload), []).append(position)
        refused: set[int] = set()
        unplaced = 0
        for error in errors:
            item = error_item(error)
            found = positions.get(identity(item)) if isinstance(item, dict) else None
            free = [p for p in found or () if p not in refused]
            same_value = [p for p in free if entries[p].payload.get("value") == item.get("value")]
            named = next(iter(same_value or free), None)
            if named is None:
                unplaced += 1
            else:
                refused.add(named)
            staged = entries[named] if named is not None else None
            self.report.reject(
                stream=self.stream_name,
                obj=self.obj.name,
                error=error_reason(error),
                record=staged.record if staged is not None else item,
                record_number=staged.number if staged is not None else None,
                batch=batch,
                keys=self.key_summary(item) if isinstance(item, dict) else "",
            )
        return refused, unplaced


def _short(result: SendResult, count: int) -> int:
    """How many of `count` items the answer does not account for (all, when there was none)."""
    if not result.answered or result.processed is None:
        return count
    return max(0, count - result.processed)
