"""The main API's writer: `upsert` and `update` as bulk `PUT /<object>` requests, Planhat's
answer counted and each error it lists reported against the record it names."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from target_planhat.rejects import error_item, error_reason
from target_planhat.settings import BULK_MAX_ITEMS
from target_planhat.sink import PlanhatSink
from target_planhat.staged import encode, present

if TYPE_CHECKING:
    from target_planhat.client import BulkResult
    from target_planhat.staged import Staged


class BulkUpsertSink(PlanhatSink):
    """`upsert` and `update` on the main API: `PUT /<object>` with up to `batch_size` items."""

    MAX_SIZE_DEFAULT = BULK_MAX_ITEMS

    @property
    def max_size(self) -> int:
        """`batch_size_rows` if set (a request still holds <= `batch_size`), else `batch_size`."""
        return self.batch_size_rows or self.batch_size

    @property
    def is_full(self) -> bool:
        """Full when `max_size` records must be sent (records the ledger drops do not count)."""
        return len(self._ready) >= self.max_size

    def send(self, batch: list[Staged], context: dict) -> None:
        """Every request of one drained batch, `batch_size` items each (in the in-flight slot)."""
        failed = 0
        for start in range(0, len(batch), self.batch_size):
            failed += self.write(batch[start : start + self.batch_size])
        self.finish_batch(context, failed)

    def write(self, chunk: list[Staged]) -> int:
        """Send one request's worth; returns how many items were rejected or unaccounted."""
        batch = self.counts.batches + 1  # numbered per stream, across schema changes
        skipped = 0
        if self.route.behavior == "update":
            chunk, skipped = self.match_existing(chunk, batch)
            if not chunk:
                self.logger.info(
                    "%s: batch %d: nothing to update (%d skipped)", self.stream_name, batch, skipped
                )
                return 0
        if self.dry_run:
            return self.write_plan(chunk, batch, skipped)
        items = [entry.item for entry in chunk]
        body = (
            b"[" + b",".join(items) + b"]"  # type: ignore[arg-type]
            if None not in items
            else encode([entry.payload for entry in chunk])
        )
        started = time.perf_counter()
        result = self.client.bulk_upsert(self.obj, body)
        missing = self.count(result, len(chunk))
        self.warn_unknown_outcomes(result.unknown_outcomes, len(chunk), idempotent=True)
        refused: set[int] = set()
        unplaced = 0
        for key, entry in result.errors:
            position = self._locate(entry, chunk)
            staged = chunk[position] if position is not None else None
            if position is None:
                unplaced += 1
            else:
                refused.add(position)
            self.report.reject(
                stream=self.stream_name,
                obj=self.obj.name,
                error=f"{key}: {error_reason(entry)}",
                record=staged.record if staged is not None else error_item(entry),
                record_number=staged.number if staged is not None else None,
                batch=batch,
                position=position,
                keys=self.key_summary(staged.payload) if staged is not None else "",
            )
        if not missing:  # every item answered: what no error names was accepted
            self.remember([e for i, e in enumerate(chunk) if i not in refused])
            if unplaced:
                self._warn_unplaced(batch, unplaced)
        self.logger.info(
            "%s: batch %d: %d sent, %d created, %d updated, %d unchanged, %d rejected, %d skipped "
            "(PUT /%s %d, %.2f s)",
            self.stream_name,
            batch,
            len(chunk),
            result.created,
            result.updated,
            result.unchanged,
            len(result.errors),
            skipped,
            self.obj.endpoint,
            result.status,
            time.perf_counter() - started,
        )
        return len(result.errors) + missing

    def write_plan(self, chunk: list[Staged], batch: int, skipped: int) -> int:
        counts = self.counts
        counts.batches += 1
        update = self.route.behavior == "update"
        updates = [e for e in chunk if update or e.known]
        creates = [e for e in chunk if not (update or e.known)]
        counts.updated += len(updates)
        counts.created += len(creates)
        self.plan("update", updates)
        self.plan("create", creates)
        self.logger.info(
            "%s: dry run, batch %d: would create %d, update %d; %d skipped (nothing sent)",
            self.stream_name,
            batch,
            len(creates),
            len(updates),
            skipped,
        )
        return 0

    def count(self, result: BulkResult, sent: int) -> int:
        """Add Planhat's counts; returns how many items it gave no outcome for."""
        counts = self.counts
        counts.batches += 1
        counts.sent += sent
        counts.created += result.created
        counts.updated += result.updated
        counts.unchanged += result.unchanged
        missing = sent - (result.created + result.updated + result.unchanged + len(result.errors))
        if missing > 0:
            counts.unaccounted += missing
            self.logger.warning(
                "%s: Planhat reported no outcome for %d of %d items in this batch "
                "(e.g. end users whose company cannot be resolved are dropped without an error); "
                "the batch stays out of the ledger, so the next run sends it again",
                self.stream_name,
                missing,
                sent,
            )
        return max(missing, 0)

    def match_existing(self, chunk: list[Staged], batch: int) -> tuple[list[Staged], int]:
        """Update-only: keep records matching an existing one (adding its `_id`), skip the rest."""
        index: dict[str, dict[str, list[str]]] = {key: {} for key in self.obj.sync_keys}
        for existing in self.client.existing_keys(self.obj):
            for key, values in index.items():
                value = existing.get(key)
                if present(value):
                    values.setdefault(str(value), []).append(existing["_id"])
        matched, skipped = [], 0
        for entry in chunk:
            payload = entry.payload
            key = self.route.sync_key or next(
                k for k in self.obj.sync_keys if present(payload.get(k))
            )
            ids = index[key].get(str(payload[key]), [])
            if len(ids) == 1:
                entry.payload = {**payload, "_id": ids[0]}
                entry.item = None
                matched.append(entry)
                continue
            outcome, error = (
                (
                    "skipped",
                    f"update-only: no existing {self.obj.name} record has {key}={payload[key]}",
                )
                if not ids
                else (
                    "rejected",
                    f"update-only: {len(ids)} {self.obj.name} records have {key}={payload[key]}",
                )
            )
            skipped += outcome == "skipped"
            self.report.reject(
                stream=self.stream_name,
                obj=self.obj.name,
                error=error,
                record=entry.record,
                record_number=entry.number,
                batch=batch,
                keys=self.key_summary(payload),
                outcome=outcome,
            )
        return matched, skipped

    def _locate(self, entry: Any, chunk: list[Staged]) -> int | None:
        """The request position an error entry refers to: its `index`, else its item's keys."""
        if not isinstance(entry, dict):
            return None
        index = entry.get("index")
        if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(chunk):
            return index
        item = entry.get("item")
        if not isinstance(item, dict):
            return None
        for key in (*self.obj.sync_keys, "email"):
            value = item.get(key)
            if present(value):
                for position, staged in enumerate(chunk):
                    if staged.payload.get(key) == value:
                        return position
        return None
