"""Planhat sinks: bulk upsert / update-only on the main API, append-only send on the analytics host.

Records are turned into what Planhat accepts as they arrive (company references, key fields,
day-number dates, no `_sdc_` metadata); a record that cannot be sent safely is rejected on the
spot, with its reason. Staged records are keyed by their sync key, so a later record with the same
key replaces an earlier one (`superseded`). With a ledger, staged records are sifted every
`batch_size` records: those whose payload Planhat already acknowledged (upsert, update) or whose
key was already sent (send) are dropped as `unchanged`; a sink is full when `batch_size` changed
records wait. `process_batch` hands a batch to the target's single in-flight slot and returns, so
the next batch is read while Planhat works on this one; after Planhat answers, the ledger records
what it acknowledged and the target releases the STATE that batch made safe.
"""

from __future__ import annotations

import abc
import datetime
import time
from array import array
from functools import cached_property
from typing import TYPE_CHECKING, Any

import msgspec
from planful_plansource_planhat_core.failures import UserError
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError, FatalSyncError
from singer_sdk.helpers._typing import get_datelike_property_type
from singer_sdk.sinks import BatchSink

from target_planhat.ledger import digest, hashed_key
from target_planhat.objects import COMPANY_REFERENCE_FIELDS, OBJECTS, unrouted_stream_problem

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from target_planhat.client import BulkResult, PlanhatClient, SendResult
    from target_planhat.inflight import InFlight
    from target_planhat.ledger import Ledger
    from target_planhat.objects import PlanhatObject
    from target_planhat.report import Report, StreamCounts
    from target_planhat.target import Route, TargetPlanhat

BULK_MAX_ITEMS = 5000
"""Planhat's cap on items per bulk upsert request."""
ANALYTICS_MAX_BODY_BYTES = 32_000_000
"""The most `analytics_batch_bytes` allows: the figure Planhat's current docs give for metrics."""
ANALYTICS_BODY_BYTES = 10_000_000
"""The default body limit on the analytics host: its published docs cap a request at 10 MB."""
READ_BACK_MAX_READS = 3
"""Read-backs of metrics in doubt before they are sent again unread."""
METRIC_MODEL_ENDPOINTS = {
    "Company": "companies",
    "EndUser": "endusers",
    "Asset": "assets",
    "Project": "projects",
}
"""Where a metric's `model` lives on the main API (to find the object its point belongs to)."""

_EPOCH = datetime.date(1970, 1, 1)
_encoder = msgspec.json.Encoder(enc_hook=str, decimal_format="number")
_encode = _encoder.encode
_decode = msgspec.json.decode
_SDC_PREFIX = "_sdc_"
_KEY_SEPARATOR = "="
_COMPANY_SEPARATOR = "\x1f"  # a value may hold "@" or "="
_FIELD_SEPARATOR = "\x1f"
_EMAIL_KEY = "email="
_SDC_METADATA_FIELDS = frozenset(
    (
        "_sdc_extracted_at",
        "_sdc_received_at",
        "_sdc_batched_at",
        "_sdc_deleted_at",
        "_sdc_sequence",
        "_sdc_table_version",
        "_sdc_sync_started_at",
    )
)
"""What singer-sdk's `_remove_sdc_metadata_from_record` strips."""


class RecordsRejectedError(FatalSyncError, UserError):
    """Planhat refused records and the target runs with `on_reject: fail`."""


class PointsUnaccountedError(FatalSyncError, UserError):
    """Metric points Planhat neither confirmed nor showed on reading back, after every try."""


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
            return _decode(self.item) if self.item is not None else {}
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
            self.item = _encode(self.payload)
        if not keep_record:
            self._record = None
        elif isinstance(self._record, dict):
            self._record = _encode(self._record)
        self._payload = None

    @property
    def slot(self) -> str | int:
        """Where it waits: its key, so a later record with the same key replaces it."""
        return self.key if self.key is not None else self.number


def _day_number(value: Any) -> int:
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
        return (value - _EPOCH).days
    raise TypeError(value)


def _present(value: Any) -> bool:
    return value is not None and value != ""


class PlanhatSink(BatchSink):
    """What every Planhat sink shares: the object, the behaviour, record preparation, reporting."""

    def __init__(
        self,
        target: TargetPlanhat,
        stream_name: str,
        schema: dict,
        key_properties: Sequence[str] | None,
    ) -> None:
        super().__init__(target, stream_name, schema, key_properties)
        self.route: Route = target.route_for(stream_name)
        self.obj: PlanhatObject = self.route.object
        self.client: PlanhatClient = target.client
        self.inflight: InFlight = target.inflight
        self.report: Report = target.report
        self.counts: StreamCounts = target.report.stream(stream_name)
        self.fail_on_reject = target.config.get("on_reject", "report") == "fail"
        self.batch_size = int(target.config.get("batch_size", BULK_MAX_ITEMS))
        self._stripped_keys = self._keys_above_sync_key()
        self._adds_sdc_metadata = self.include_sdc_metadata_properties
        self._key_set = frozenset(self.key_properties)
        self.target = target
        self.dry_run = bool(target.config.get("dry_run", False))
        self.ledger: Ledger | None = target.ledger
        self.full_resync = bool(target.config.get("full_resync", False))
        self.ledger_scope = target.ledger_scope(self.obj) if self.ledger is not None else 0
        self.append_only = self.route.behavior == "send"
        if self.append_only and self.ledger is not None and self.ledger.is_new:
            target.warn_new_ledger()
        self._send_key_fields: tuple[str, ...] = (
            (self.route.sync_key,) if self.route.sync_key else tuple(self.key_properties or ())
        )
        self._unchecked: dict[str | int, Staged] = {}
        self._ready: dict[str | int, Staged] = {}
        self._sending: dict[str, int] = {}
        """Ledger key -> digest of the batch handed over last (in flight: not in the ledger yet)."""
        self.first_pending: int | None = None
        """Number of the first record read since the last drain (STATE waits for it)."""
        self._names_seen: set[str] = set()
        self._metadata: list[str] = []
        """The `_sdc_*` fields among `_names_seen` (Singer metadata is never sent)."""

    @cached_property
    def validate_schema(self) -> bool:
        """Off unless `validate_records` is set: Planhat validates every item and its rejects
        are reported one by one, while the SDK's JSON-schema check costs most of the per-record
        time and fails the whole run on the first invalid record."""
        return bool(self.config.get("validate_records", False))

    @cached_property
    def _date_parsers(self) -> tuple[tuple[str, Callable[[str], Any]], ...]:
        """The schema's date-like fields and their parsers, chosen as singer-sdk chooses them."""
        parsers = {"date": datetime.date.fromisoformat, "time": datetime.time.fromisoformat}
        return tuple(
            (name, parsers.get(kind, datetime.datetime.fromisoformat))
            for name, prop in self.schema.get("properties", {}).items()
            if (kind := get_datelike_property_type(prop))
        )

    def _parse_timestamps_in_record(self, record: dict, schema: dict, treatment: Any) -> None:
        """Parse only the schema's date-like fields, found once, instead of walking every field
        of every record; a value that does not parse takes the SDK's path (its error treatment)."""
        for name, parse in self._date_parsers:
            value = record.get(name)
            if value is not None:
                try:
                    record[name] = parse(value)
                except ValueError:
                    field = {name: value}
                    super()._parse_timestamps_in_record(field, schema, treatment)
                    record[name] = field[name]

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
            self._metadata = [name for name in names if name.startswith(_SDC_PREFIX)]
        metadata = self._metadata
        if touched or metadata:
            payload = dict(record)
            for name in metadata:
                del payload[name]
            if obj.company is not None:
                self._resolve_company(payload)
            for name, alias in obj.aliases.items():
                if name in payload and alias not in payload:
                    payload[alias] = payload.pop(name)
            for name in obj.day_number_fields:
                if _present(payload.get(name)):
                    try:
                        payload[name] = _day_number(payload[name])
                    except (TypeError, ValueError):
                        msg = f"{name} must be a date (as a day number), got {payload[name]!r}"
                        raise Rejected(msg) from None
            for name in self._stripped_keys:
                payload.pop(name, None)
        if obj.required_one_of and not any(_present(payload.get(n)) for n in obj.required_one_of):
            msg = f"{obj.name} need one of {', '.join(obj.required_one_of)}"
            if obj.aliases:
                spellings = ", ".join(f"{k} (sent as {v})" for k, v in obj.aliases.items())
                msg += f"; also read from {spellings}"
            raise Rejected(msg)
        self._check_keys(payload)
        return payload

    def _resolve_company(self, payload: dict[str, Any]) -> None:
        """companyId / companySourceId / companyExternalId into Planhat's reference, no lookup."""
        reference = self.obj.company
        assert reference is not None
        by_id, by_source, by_external = (
            payload.pop(name, None) for name in COMPANY_REFERENCE_FIELDS
        )
        if reference.external_only:
            if _present(by_external):
                payload.setdefault(reference.field, by_external)
                if self.obj.name == "metrics":
                    payload.setdefault("model", "Company")
            elif (_present(by_id) or _present(by_source)) and not _present(
                payload.get(reference.field)
            ):
                msg = f"{self.obj.name} address a company by external id: send companyExternalId"
                raise Rejected(msg)
            return
        if _present(by_id):
            value = str(by_id)
        elif _present(by_source):
            value = f"srcid-{by_source}"
        elif _present(by_external):
            value = f"extid-{by_external}"
        else:
            return
        if reference.many:
            current = payload.get(reference.field) or []
            payload[reference.field] = [*current, value] if value not in current else current
        else:
            payload[reference.field] = value

    def _check_keys(self, payload: dict[str, Any]) -> None:
        obj, sync_key = self.obj, self.route.sync_key
        if sync_key is not None:
            if not _present(payload.get(sync_key)):
                msg = f"sync key {sync_key} is empty"
                raise Rejected(msg)
            return
        if obj.sync_keys:
            if _present(payload.get("_id")):
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
            if not _present(payload.get(name)):
                missing = [f for f in obj.required if not _present(payload.get(f))]
                msg = f"missing required field(s) {', '.join(missing)}"
                raise Rejected(msg)

    def key_summary(self, payload: dict[str, Any]) -> str:
        """`[externalId=…]`: how an operator finds the record, without logging its contents."""
        names = self.obj.sync_keys or ("externalId", "cId", "id", "email", "dimensionId")
        shown = [f"{name}={payload[name]}" for name in names if _present(payload.get(name))]
        return f" [{', '.join(shown)}]" if shown else ""

    # -- SDK hooks --------------------------------------------------------------------------

    def receive(self, record: dict, message: dict) -> None:
        """singer-sdk's per-record steps for one mapped record, in its order and with its own
        hooks and errors (see `TargetPlanhat._process_record_message`), flags looked up once."""
        context = self._get_context(record)
        if self._adds_sdc_metadata:
            self._add_sdc_metadata_to_record(record, message, context)
        elif not _SDC_METADATA_FIELDS.isdisjoint(record):
            self._remove_sdc_metadata_from_record(record)
        self._validate_and_parse(record)
        record = self.preprocess_record(record, context)
        if not self._key_set.issubset(record):
            self._singer_validate_message(record)  # raises the SDK's MissingKeyPropertiesError
        self.tally_record_read()
        self.process_record(record, context)
        self.record_counter_metric.increment()
        self._after_process_record(context)

    def process_record(self, record: dict, context: dict) -> None:
        self.counts.read += 1
        number = self.counts.read
        try:
            payload = self.prepare(record)
        except Rejected as exc:
            context["rejected"] = context.get("rejected", 0) + 1
            self.report.reject(
                stream=self.stream_name,
                obj=self.obj.name,
                error=str(exc),
                record=record,
                record_number=number,
                keys=self.key_summary(record),
            )
            return
        self.stage(Staged(number, record, payload, self.sync_key_of(payload)), context)

    # -- staging: latest record wins, the ledger drops what Planhat already has ---------------

    def sync_key_of(self, payload: dict[str, Any]) -> str | None:
        """The key Planhat matches this record on (None: no key, every record is its own)."""
        if self.append_only:
            if not self._send_key_fields:
                return None
            return _FIELD_SEPARATOR.join(str(payload.get(name)) for name in self._send_key_fields)
        obj = self.obj
        name = self.route.sync_key
        if name is None:
            name = next((k for k in obj.sync_keys if _present(payload.get(k))), None)
            if name is None:
                return None
        scope = ""
        if obj.company is not None and name not in ("_id", "sourceId"):
            scope = str(payload.get(obj.company.field) or "")  # unique per company only
        return f"{name}{_KEY_SEPARATOR}{payload[name]}{_COMPANY_SEPARATOR}{scope}"

    def stage(self, entry: Staged, context: dict) -> None:
        """Keep a prepared record for the next request; it replaces one with the same key."""
        slot = entry.slot
        if entry.key is not None:
            earlier = self._unchecked.pop(slot, None) or self._ready.pop(slot, None)
            if earlier is not None:
                self.counts.superseded += 1
                self.forget(earlier)
        self.admit(entry)
        if self.ledger is None:
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
        assert self.ledger is not None
        for entry in entries:
            if entry.item is None:
                entry.item = _encode(entry.payload)
            entry.digest = digest(entry.item)
            entry.ledger_key = self.ledger_key_of(entry)
        known = (
            {}
            if self.full_resync
            else self.ledger.lookup(self.ledger_scope, [e.ledger_key for e in entries])
        )
        sending = self._sending
        for entry in entries:
            # the batch in flight is not in the ledger yet, and is newer than what is
            previous = sending.get(entry.ledger_key, known.get(entry.ledger_key))
            slot = entry.slot if entry.key is not None else entry.ledger_key
            if (previous is not None and (self.append_only or previous == entry.digest)) or (
                entry.key is None and slot in self._ready  # the same key-less item twice
            ):
                self.counts.unchanged += 1
                self.forget(entry)
                continue
            entry.known = previous is not None
            self._ready[slot] = entry

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

    def take_batch(self) -> list[Staged]:
        """Every staged record that must be sent, sifted; the buffer starts empty again."""
        if self._unchecked:
            self.sift()
        batch = list(self._ready.values())
        self._ready = {}
        if self.ledger is not None:
            self._sending = {entry.ledger_key: entry.digest for entry in batch}
        return batch

    def process_batch(self, context: dict) -> None:
        """Pending parents (companies, then end users) go first, whoever drains this sink."""
        self.target.drain_parents(self)
        packed = self.pack(self.take_batch())
        token = self.target.batch_started(self)
        self.inflight.submit(lambda: self._send_then_release(packed, context, token))

    def pack(self, batch: list[Staged]) -> Any:
        """What `send` is given for a drained batch (built on the reading thread): the batch."""
        return batch

    def _send_then_release(self, packed: Any, context: dict, token: int) -> None:
        self.send(packed, context)
        self.target.batch_finished(token)

    @abc.abstractmethod
    def send(self, packed: Any, context: dict) -> None:
        """Write one drained batch, as `pack` left it (in the in-flight slot)."""

    def remember(self, entries: Sequence[Staged]) -> None:
        """Record what Planhat acknowledged (never in a dry run)."""
        if self.ledger is None or self.dry_run or not entries:
            return
        self.ledger.record(self.ledger_scope, [(e.ledger_key, e.digest) for e in entries])

    def plan(self, action: str, entries: Sequence[Staged]) -> None:
        """Dry run: write what would be sent to the plan file."""
        for entry in entries:
            self.report.plan(self.stream_name, self.obj.name, action, entry.payload)

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
            else _encode([entry.payload for entry in chunk])
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
                error=f"{key}: {_reason(entry)}",
                record=staged.record if staged is not None else _item(entry),
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
                if _present(value):
                    values.setdefault(str(value), []).append(existing["_id"])
        matched, skipped = [], 0
        for entry in chunk:
            payload = entry.payload
            key = self.route.sync_key or next(
                k for k in self.obj.sync_keys if _present(payload.get(k))
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
            if _present(value):
                for position, staged in enumerate(chunk):
                    if staged.payload.get(key) == value:
                        return position
        return None


class AnalyticsSendSink(PlanhatSink):
    """`send` on the analytics host: append-only, batched by body size (10 MB), not by count."""

    MAX_SIZE_DEFAULT = 1_000_000

    def setup(self) -> None:
        super().setup()
        self.body_limit = int(self.config.get("analytics_batch_bytes", ANALYTICS_BODY_BYTES))
        self.max_reads = int(self.config.get("read_back_max_reads", READ_BACK_MAX_READS))
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
        item = _encode(entry.payload)
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
        ledger = self.ledger is not None
        return [
            Body(part, keep=self.dry_run, ledger=ledger) for part in _bodies(batch, self.body_limit)
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
            if self.ledger is not None and not self.dry_run:
                self.ledger.record(self.ledger_scope, packed.acknowledged())
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
                stored = self._stored(pending)
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
        result = self.client.send(self.obj, _body(entries), resend_unanswered=resend_unanswered)
        self.counts.sent += len(entries)
        if result.answered:
            self.warn_unknown_outcomes(result.unknown_outcomes, len(entries), idempotent=False)
        refused, _ = self._refused(result.errors, entries, batch)
        kept = [e for i, e in enumerate(entries) if i not in refused]
        if _short(result, len(entries)):
            return [], kept, len(result.errors)
        return kept, [], len(result.errors)

    def _stored(self, entries: list[Staged]) -> set[int]:
        """Positions of `entries` that Planhat holds: per object and dimension, the stored points
        of their days are read, and each sent point takes one stored point with its day and
        value (a point equal in all of these to one stored before counts as stored)."""
        parents: dict[tuple[str, str], dict[str, Any] | None] = {}
        models = {str(e.payload.get("model") or "Company") for e in entries}
        if "Company" in models:  # one call for every company instead of one per company
            for lean in self.client.existing_keys(OBJECTS["companies"]):
                if _present(lean.get("externalId")):
                    parents.setdefault(("Company", str(lean["externalId"])), lean)
        groups: dict[tuple[str, str], list[int]] = {}  # company, dimension -> positions
        owners: dict[int, str] = {}  # position -> the `_id` its point belongs to
        for position, entry in enumerate(entries):
            payload = entry.payload
            model = str(payload.get("model") or "Company")
            external_id = str(payload.get("externalId"))
            key = (model, external_id)
            if key not in parents and model != "Company":
                endpoint = METRIC_MODEL_ENDPOINTS.get(model)
                parents[key] = (
                    self.client.find_one(endpoint, external_id) if endpoint is not None else None
                )
            parent = parents.get(key)
            if parent is None:
                continue  # no such object: Planhat cannot have stored the point
            company_id = parent["_id"] if model == "Company" else parent.get("companyId")
            if company_id is None:
                continue
            owners[position] = str(parent["_id"])
            groups.setdefault((str(company_id), str(payload.get("dimensionId"))), []).append(
                position
            )
        stored: set[int] = set()
        today = (datetime.datetime.now(datetime.UTC).date() - _EPOCH).days
        for (company_id, dimension), positions in groups.items():
            days = {p: _point_day(entries[p].payload.get("date")) for p in positions}
            known = [d for d in days.values() if d is not None]
            undated = len(known) < len(days)  # stored with the day Planhat received them
            first = min([*known, *([today - 1] if undated else [])])
            last = max([*known, *([today + 1] if undated else [])])
            available: dict[tuple[str, int | None, float], int] = {}
            for point in self.client.metric_points(company_id, dimension, first, last):
                if not isinstance(point, dict):
                    continue
                value = _number(point.get("value"))
                if value is None:
                    continue
                owner = str(point.get("parentId"))
                for slot in ((owner, _point_day(point.get("time")), value), (owner, None, value)):
                    available[slot] = available.get(slot, 0) + 1
            # dated points first: an undated one may take any day's point, so it takes what is left
            for position in sorted(positions, key=lambda p: days[p] is None):
                value = _number(entries[position].payload.get("value"))
                if value is None:
                    continue
                slot = (owners[position], days[position], value)
                if available.get(slot, 0) > 0:
                    available[slot] -= 1
                    if slot[1] is not None:
                        available[(slot[0], None, value)] -= 1
                    stored.add(position)
        return stored

    def _refused(
        self, errors: list[Any], entries: list[Staged], batch: int
    ) -> tuple[set[int], int]:
        """Report each error entry; returns the positions they name and how many name none."""
        if not errors:
            return set(), 0
        positions: dict[tuple[str, ...], list[int]] = {}
        for position, entry in enumerate(entries):
            positions.setdefault(_identity(entry.payload), []).append(position)
        refused: set[int] = set()
        unplaced = 0
        for error in errors:
            item = _item(error)
            found = positions.get(_identity(item)) if isinstance(item, dict) else None
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
                error=_reason(error),
                record=staged.record if staged is not None else item,
                record_number=staged.number if staged is not None else None,
                batch=batch,
                keys=self.key_summary(item) if isinstance(item, dict) else "",
            )
        return refused, unplaced


class UnroutedSink(BatchSink):
    """A stream with no Planhat object: harmless until a record of it must be written.

    Stream maps can drop a stream (`__NULL__`) or rename it; only a record that reaches this sink
    fails the run, with the message that says how to route it.
    """

    first_pending: int | None = None

    def receive(self, record: dict, message: dict) -> None:
        self.process_record(record, {})

    def process_record(self, record: dict, context: dict) -> None:
        problem = unrouted_stream_problem(self.stream_name)
        raise ConfigValidationError("Config validation failed", errors=[problem])

    def process_batch(self, context: dict) -> None:
        """Nothing was staged."""


class Body:
    """One analytics request, built when its batch is handed over: the JSON array, and per item
    only what its answer may need (record number, record JSON for a rejects file, ledger key and
    digest) in flat arrays, not an object per item. `entries()` rebuilds the items when an answer
    names some (errors, points in doubt); a dry run keeps its entries as they are."""

    __slots__ = ("_digests", "_ends", "_entries", "_ledger_keys", "_numbers", "_records", "data")

    def __init__(self, entries: list[Staged], *, keep: bool, ledger: bool) -> None:
        self.data = _body(entries)
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


def _bodies(entries: list[Staged], limit: int) -> list[list[Staged]]:
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


_IDENTITY_FIELDS = ("dimensionId", "externalId", "cId", "id", "email", "action", "date")
"""What tells one analytics item from another (metric: dimension, external id, date; activity:
action, company, user, date). An echo may add defaults (`model`, `weight`), so never bytes."""


def _identity(item: dict[str, Any]) -> tuple[str, ...]:
    return tuple(
        "" if (value := item.get(name)) is None else str(value) for name in _IDENTITY_FIELDS
    )


def _body(entries: Sequence[Staged]) -> bytes:
    return _json_array([e.item for e in entries])  # type: ignore[misc]


def _short(result: SendResult, count: int) -> int:
    """How many of `count` items the answer does not account for (all, when there was none)."""
    if not result.answered or result.processed is None:
        return count
    return max(0, count - result.processed)


def _point_day(value: Any) -> int | None:
    """Days since 1970-01-01 of a point's date or time (None when absent or unreadable)."""
    if value is None or value == "":
        return None
    try:
        return _day_number(value)
    except (TypeError, ValueError):
        return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _json_array(items: list[bytes]) -> bytes:
    """`[item,item,...]` in one allocation: a body of up to the analytics limit is not copied
    again to add its brackets (`b"[" + ... + b"]"` would hold two copies at once)."""
    if not items:
        return b"[]"
    parts = [b","] * (2 * len(items) + 1)
    parts[0], parts[-1] = b"[", b"]"
    parts[1::2] = items
    return b"".join(parts)


def _item(entry: Any) -> Any:
    return entry.get("item") if isinstance(entry, dict) else None


def _reason(entry: Any) -> str:
    if isinstance(entry, dict):
        for key in ("error", "message", "reason", "msg"):
            if _present(entry.get(key)):
                return str(entry[key])
        return _encoder.encode({k: v for k, v in entry.items() if k != "item"}).decode()
    return str(entry)
