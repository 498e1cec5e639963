"""What every Planhat sink shares: records prepared as they arrive and rejected on the spot with
their reason, staged by their sync key (a later record with the same key replaces an earlier one:
`superseded`), sifted by the ledger every `batch_size` records (what Planhat already has is
`unchanged`), and handed to the single in-flight slot when drained, so the next batch is read
while Planhat works on this one. After Planhat answers, the ledger records what it acknowledged
and the STATE release lets out the STATE that batch made safe."""

from __future__ import annotations

import abc
from functools import cached_property
from typing import TYPE_CHECKING, Any

from singer_sdk.sinks import BatchSink
from typing_extensions import override

from target_planhat.ledger_filter import LedgerFilter
from target_planhat.prepare import RecordPreparer
from target_planhat.rejects import PointsUnaccountedError, RecordsRejectedError
from target_planhat.sink_services import SinkServices
from target_planhat.staged import Rejected, Staged

if TYPE_CHECKING:
    from collections.abc import Sequence

    from singer_sdk.target_base import Target

    from target_planhat.objects import PlanhatObject
    from target_planhat.report import StreamCounts


class PlanhatSink(BatchSink):
    """A stream written to one Planhat object; `send` (per writer) writes a drained batch."""

    def __init__(
        self,
        target: Target,
        stream_name: str,
        schema: dict,
        key_properties: Sequence[str] | None,
    ) -> None:
        services = SinkServices.of(target)
        self.services = services
        self.settings = services.settings  # before the SDK reads `validate_schema`
        super().__init__(target, stream_name, schema, key_properties)
        self.route = services.routes.route_for(stream_name)
        self.obj: PlanhatObject = self.route.object
        self.preparer = RecordPreparer(self.route, self.key_properties)
        self.client = services.client
        self.inflight = services.inflight
        self.report = services.report
        self.release = services.release
        self.counts: StreamCounts = services.report.stream(stream_name)
        self.fail_on_reject = self.settings.fail_on_reject
        self.batch_size = self.settings.batch_size
        self.dry_run = self.settings.dry_run
        self.append_only = self.route.behavior == "send"
        ledger = services.ledger
        self.ledger_filter = (
            LedgerFilter(
                ledger,
                services.ledger_scope(self.obj),
                append_only=self.append_only,
                full_resync=self.settings.full_resync,
                dry_run=self.dry_run,
            )
            if ledger is not None
            else None
        )
        if self.append_only and ledger is not None and ledger.is_new:
            services.warn_new_ledger(self.logger.warning)
        self._unchecked: dict[str | int, Staged] = {}
        self._ready: dict[str | int, Staged] = {}
        services.add_sink(self)

    @cached_property
    def validate_schema(self) -> bool:
        """Off unless `validate_records` is set: Planhat validates every item and its rejects
        are reported one by one, while the SDK's JSON-schema check costs most of the per-record
        time and fails the whole run on the first invalid record."""
        return self.settings.validate_records

    def key_summary(self, payload: dict[str, Any]) -> str:
        """`[externalId=…]`: how an operator finds the record, without logging its contents."""
        return self.preparer.key_summary(payload)

    # -- SDK hooks --------------------------------------------------------------------------

    @override
    def process_record(self, record: dict, context: dict) -> None:
        self.release.record_read(self)
        self.counts.read += 1
        number = self.counts.read
        preparer = self.preparer
        try:
            payload = preparer.prepare(record)
        except Rejected as exc:
            context["rejected"] = context.get("rejected", 0) + 1
            self.report.reject(
                stream=self.stream_name,
                obj=self.obj.name,
                error=str(exc),
                record=record,
                record_number=number,
                keys=preparer.key_summary(record),
            )
            return
        self.stage(Staged(number, record, payload, preparer.sync_key_of(payload)), context)

    # -- staging: latest record wins, the ledger drops what Planhat already has ---------------

    def stage(self, entry: Staged, context: dict) -> None:
        """Keep a prepared record for the next request; it replaces one with the same key."""
        slot = entry.slot
        if entry.key is not None:
            earlier = self._unchecked.pop(slot, None) or self._ready.pop(slot, None)
            if earlier is not None:
                self.counts.superseded += 1
                self.forget(earlier)
        self.admit(entry)
        if self.ledger_filter is None:
            self._ready[slot] = entry
            return
        self._unchecked[slot] = entry
        if len(self._unchecked) >= min(self.max_size, self.batch_size):
            self.sift()

    def admit(self, entry: Staged) -> None:
        """A subclass hook: account for an entry as it is staged."""

    def forget(self, entry: Staged) -> None:
        """A subclass hook: an entry leaves the buffer without being sent."""

    def sift(self) -> None:
        """Ask the ledger about the unchecked entries: what Planhat already has is dropped."""
        entries = list(self._unchecked.values())
        self._unchecked = {}
        if not entries:
            return
        ledger_filter = self.ledger_filter
        assert ledger_filter is not None
        for entry, previous in zip(entries, ledger_filter.previous(entries), strict=True):
            slot = entry.slot if entry.key is not None else entry.ledger_key
            if ledger_filter.unchanged(entry, previous) or (
                entry.key is None and slot in self._ready  # the same key-less item twice
            ):
                self.counts.unchanged += 1
                self.forget(entry)
                continue
            entry.known = previous is not None
            self._ready[slot] = entry

    def take_batch(self) -> list[Staged]:
        """Every staged record that must be sent, sifted; the buffer starts empty again."""
        if self._unchecked:
            self.sift()
        batch = list(self._ready.values())
        self._ready = {}
        if self.ledger_filter is not None:
            self.ledger_filter.handed_over(batch)
        return batch

    @override
    def process_batch(self, context: dict) -> None:
        """Pending parents (companies, then end users) go first, whoever drains this sink."""
        self.services.drain_parents(self)
        packed = self.pack(self.take_batch())
        token = self.release.batch_started(self)
        self.inflight.submit(lambda: self._send_then_release(packed, context, token))

    def pack(self, batch: list[Staged]) -> Any:
        """What `send` is given for a drained batch (built on the reading thread): the batch."""
        return batch

    def _send_then_release(self, packed: Any, context: dict, token: int) -> None:
        self.send(packed, context)
        self.release.batch_finished(token)

    @abc.abstractmethod
    def send(self, packed: Any, context: dict) -> None:
        """Write one drained batch, as `pack` left it (in the in-flight slot)."""

    def remember(self, entries: Sequence[Staged]) -> None:
        """Record what Planhat acknowledged (never in a dry run)."""
        if self.ledger_filter is not None:
            self.ledger_filter.remember(entries)

    def plan(self, action: str, entries: Sequence[Staged]) -> None:
        """Dry run: write what would be sent to the plan file."""
        for entry in entries:
            self.report.plan(self.stream_name, self.obj.name, action, entry.payload)

    @override
    def clean_up(self) -> None:
        """The stream ends: its last batch must have been answered (or the run fails)."""
        self.inflight.wait()
        super().clean_up()

    def finish_batch(self, context: dict, failed: int) -> None:
        """Flush the rejects file and apply the error policy once the batch was answered; points
        still unaccounted after read-back and re-send stop the run whatever the policy."""
        self.report.flush()
        unresolved = getattr(self, "unresolved", 0)
        if unresolved:
            msg = (
                f"{self.stream_name}: {unresolved} point(s) still unaccounted after reading back "
                "and sending again (the analytics host keeps answering short or not at all); "
                "the run stops before its STATE, so the next run sends them again "
                "(raise `read_back_max_reads`, or check the analytics host)"
            )
            raise PointsUnaccountedError(msg)
        failed += context.get("rejected", 0)
        if failed and self.fail_on_reject:
            msg = (
                f"{self.stream_name}: {failed} record(s) rejected or unaccounted (on_reject: fail)"
            ) + (f"; see {self.report.rejects_path}" if self.report.rejects_path else "")
            raise RecordsRejectedError(msg)

    def _warn_unplaced(self, batch: int, unplaced: int) -> None:
        """Errors that name no record sent: kept whole in the rejects file; the batch is in the
        ledger all the same (Planhat's counts answer every item), so nothing goes out twice."""
        self.logger.warning(
            "%s: batch %d: %d error(s) name no record that was sent (kept whole in the rejects "
            "file); Planhat answered every item, so the batch is remembered as sent: change "
            "those records or run with full_resync to send them again",
            self.stream_name,
            batch,
            unplaced,
        )

    def warn_unknown_outcomes(self, attempts: int, count: int, *, idempotent: bool) -> None:
        if not attempts:
            return
        self.counts.resent_after_no_answer += count * attempts
        if idempotent:
            self.logger.warning(
                "%s: %d item(s) re-sent after %d attempt(s) without an answer (an upsert by key, "
                "so a late first attempt changes nothing)",
                self.stream_name,
                count,
                attempts,
            )
        else:
            self.logger.warning(
                "%s: %d item(s) re-sent after %d attempt(s) without an answer: if Planhat kept "
                "that attempt, they are stored twice (the analytics host has no upsert)",
                self.stream_name,
                count,
                attempts,
            )
