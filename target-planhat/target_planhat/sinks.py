"""Planhat sinks: bulk upsert / update-only on the main API, append-only send on the analytics host.

Records are turned into what Planhat accepts as they arrive (company references, key fields,
day-number dates); a record that cannot be sent safely is rejected on the spot, with its reason.
`process_batch` hands a batch to the target's single in-flight slot and returns, so the next
batch is read while Planhat works on this one; the target waits for that slot before every STATE
line, so STATE still only covers records that were really written (or reported as rejected).
"""

from __future__ import annotations

import abc
import datetime
import time
from array import array
from functools import cached_property
from itertools import islice
from typing import TYPE_CHECKING, Any

import msgspec
from singer_sdk.exceptions import FatalSyncError
from singer_sdk.helpers._typing import get_datelike_property_type
from singer_sdk.sinks import BatchSink

from target_planhat.objects import COMPANY_REFERENCE_FIELDS

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from target_planhat.client import BulkResult, PlanhatClient
    from target_planhat.inflight import InFlight
    from target_planhat.objects import PlanhatObject
    from target_planhat.report import Report, StreamCounts
    from target_planhat.target import Route, TargetPlanhat

BULK_MAX_ITEMS = 5000
"""Planhat's cap on items per bulk upsert request."""
ANALYTICS_MAX_BODY_BYTES = 32_000_000
"""The analytics host refuses bodies over 32 MB."""

_EPOCH = datetime.date(1970, 1, 1)
_encoder = msgspec.json.Encoder(enc_hook=str, decimal_format="number")
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


class RecordsRejectedError(FatalSyncError):
    """Planhat refused records and the target runs with `on_reject: fail`."""


class Rejected(Exception):  # noqa: N818 - a reason, raised only inside `prepare`
    """A record that cannot be sent as it is."""


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

    def _keys_above_sync_key(self) -> tuple[str, ...]:
        """Keyables Planhat would match on before the configured sync key, so they are not sent."""
        key = self.route.sync_key
        if key is None:
            return ()
        return self.obj.sync_keys[: self.obj.sync_keys.index(key)]

    # -- record preparation -----------------------------------------------------------------

    def prepare(self, record: dict[str, Any]) -> dict[str, Any]:
        """The payload Planhat accepts for `record` (a new dict only when something changes)."""
        obj = self.obj
        payload = record
        touched = (
            obj.company is not None or obj.aliases or obj.day_number_fields or self._stripped_keys
        )
        if touched:
            payload = dict(record)
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
        names = self.obj.sync_keys or ("externalId", "companyExternalId", "email", "dimensionId")
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
        self.stage(number, record, payload, context)

    @abc.abstractmethod
    def stage(
        self, number: int, record: dict[str, Any], payload: dict[str, Any], context: dict
    ) -> None:
        """Keep a prepared record for the next request."""

    def clean_up(self) -> None:
        """The stream ends: its last batch must have been answered (or the run fails)."""
        self.inflight.wait()
        super().clean_up()

    def finish_batch(self, context: dict, rejected: int) -> None:
        """Flush the rejects file and apply the error policy once the batch was answered."""
        self.report.flush()
        rejected += context.get("rejected", 0)
        if rejected and self.fail_on_reject:
            msg = f"{self.stream_name}: {rejected} record(s) rejected (on_reject: fail)" + (
                f"; see {self.report.rejects_path}" if self.report.rejects_path else ""
            )
            raise RecordsRejectedError(msg)


class BulkUpsertSink(PlanhatSink):
    """`upsert` and `update` on the main API: `PUT /<object>` with up to `batch_size` items."""

    MAX_SIZE_DEFAULT = BULK_MAX_ITEMS

    @property
    def max_size(self) -> int:
        """`batch_size_rows` if set (a request still holds <= `batch_size`), else `batch_size`."""
        return self.batch_size_rows or self.batch_size

    def stage(
        self, number: int, record: dict[str, Any], payload: dict[str, Any], context: dict
    ) -> None:
        context.setdefault("records", []).append((number, record, payload))

    def process_batch(self, context: dict) -> None:
        self.inflight.submit(lambda: self.send(context))

    def send(self, context: dict) -> None:
        """Every request of one drained batch, `batch_size` items each (in the in-flight slot)."""
        rejected = 0
        it = iter(context.get("records", []))
        while chunk := list(islice(it, self.batch_size)):
            rejected += self.write(chunk)
        self.finish_batch(context, rejected)

    def write(self, chunk: list[tuple[int, dict[str, Any], dict[str, Any]]]) -> int:
        """Send one request's worth; returns how many items Planhat rejected."""
        batch = self.counts.batches + 1  # numbered per stream, across schema changes
        skipped = 0
        if self.route.behavior == "update":
            chunk, skipped = self.match_existing(chunk, batch)
            if not chunk:
                self.logger.info(
                    "%s: batch %d: nothing to update (%d skipped)", self.stream_name, batch, skipped
                )
                return 0
        started = time.perf_counter()
        result = self.client.bulk_upsert(
            self.obj, _encoder.encode([payload for _, _, payload in chunk])
        )
        self.count(result, len(chunk))
        for key, entry in result.errors:
            position = self._locate(entry, chunk)
            number, record, payload = (
                chunk[position] if position is not None else (None, None, None)
            )
            self.report.reject(
                stream=self.stream_name,
                obj=self.obj.name,
                error=f"{key}: {_reason(entry)}",
                record=record if record is not None else _item(entry),
                record_number=number,
                batch=batch,
                position=position,
                keys=self.key_summary(payload) if payload is not None else "",
            )
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
        return len(result.errors)

    def count(self, result: BulkResult, sent: int) -> None:
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
                "(e.g. end users whose company cannot be resolved are dropped without an error)",
                self.stream_name,
                missing,
                sent,
            )

    def match_existing(
        self, chunk: list[tuple[int, dict[str, Any], dict[str, Any]]], batch: int
    ) -> tuple[list[tuple[int, dict[str, Any], dict[str, Any]]], int]:
        """Update-only: keep records matching an existing one (adding its `_id`), skip the rest."""
        index: dict[str, dict[str, list[str]]] = {key: {} for key in self.obj.sync_keys}
        for existing in self.client.existing_keys(self.obj):
            for key, values in index.items():
                value = existing.get(key)
                if _present(value):
                    values.setdefault(str(value), []).append(existing["_id"])
        matched, skipped = [], 0
        for number, record, payload in chunk:
            key = self.route.sync_key or next(
                k for k in self.obj.sync_keys if _present(payload.get(k))
            )
            ids = index[key].get(str(payload[key]), [])
            if len(ids) == 1:
                matched.append((number, record, {**payload, "_id": ids[0]}))
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
                record=record,
                record_number=number,
                batch=batch,
                keys=self.key_summary(payload),
                outcome=outcome,
            )
        return matched, skipped

    def _locate(
        self, entry: Any, chunk: list[tuple[int, dict[str, Any], dict[str, Any]]]
    ) -> int | None:
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
                for position, (_, _, payload) in enumerate(chunk):
                    if payload.get(key) == value:
                        return position
        return None


class AnalyticsSendSink(PlanhatSink):
    """`send` on the analytics host: append-only, batched by body size (32 MB), not by count."""

    MAX_SIZE_DEFAULT = 1_000_000

    def setup(self) -> None:
        super().setup()
        self.body_limit = int(self.config.get("analytics_batch_bytes", ANALYTICS_MAX_BODY_BYTES))
        self._items = bytearray()
        self._ends = array("q")
        self._largest = 0

    @property
    def is_full(self) -> bool:
        """Drain before the next item could push the body over the limit."""
        next_body = len(self._items) + 1 + self._largest + 1  # `,` + item + `]`
        return super().is_full or next_body > self.body_limit

    def stage(
        self, number: int, record: dict[str, Any], payload: dict[str, Any], context: dict
    ) -> None:
        item = _encoder.encode(payload)
        if len(item) + 2 > self.body_limit:
            context["rejected"] = context.get("rejected", 0) + 1
            self.report.reject(
                stream=self.stream_name,
                obj=self.obj.name,
                error=f"item is {len(item)} bytes, over the {self.body_limit} byte body limit",
                record=record,
                record_number=number,
                keys=self.key_summary(payload),
            )
            return
        self._largest = max(self._largest, len(item))
        self._items += b"," if self._ends else b"["
        self._items += item
        self._ends.append(len(self._items))

    def process_batch(self, context: dict) -> None:
        bodies = _bodies(self._items, self._ends, self.body_limit)
        self._items, self._ends = bytearray(), array("q")
        self.inflight.submit(lambda: self.send(context, bodies))

    def send(self, context: dict, bodies: list[tuple[bytes, int]]) -> None:
        """Every body of one drained batch (in the in-flight slot)."""
        rejected = 0
        for body, count in bodies:
            rejected += self.write(body, count)
        self.finish_batch(context, rejected)

    def write(self, body: bytes, count: int) -> int:
        started = time.perf_counter()
        result = self.client.send(self.obj, body)
        self.counts.batches += 1
        batch = self.counts.batches
        self.counts.sent += count
        for entry in result.errors:
            item = _item(entry)
            self.report.reject(
                stream=self.stream_name,
                obj=self.obj.name,
                error=_reason(entry),
                record=item,
                batch=batch,
                keys=self.key_summary(item) if isinstance(item, dict) else "",
            )
        self.logger.info(
            "%s: batch %d: %d sent (%d bytes), %d processed, %d rejected (POST /%s, %.2f s)",
            self.stream_name,
            batch,
            count,
            len(body),
            result.processed,
            len(result.errors),
            self.obj.endpoint,
            time.perf_counter() - started,
        )
        return len(result.errors)


def _bodies(items: bytearray, ends: array, limit: int) -> list[tuple[bytes, int]]:
    """The staged items as request bodies: one when they fit (the usual case), else split."""
    if not ends:
        return []
    if len(items) + 1 <= limit:
        items += b"]"
        return [(bytes(items), len(ends))]
    return list(_split(items, ends, limit))


def _split(items: bytearray, ends: array, limit: int) -> Iterator[tuple[bytes, int]]:
    """`items` (`[a,b,c…`, item i ending at `ends[i]`) cut into JSON arrays of <= `limit` bytes."""
    view = memoryview(items)
    first, begin = 0, 1
    for position, end in enumerate(ends):
        if position > first and end - begin + 2 > limit:
            yield b"[" + view[begin : ends[position - 1]] + b"]", position - first
            first, begin = position, ends[position - 1] + 1
    yield b"[" + view[begin : ends[-1]] + b"]", len(ends) - first


def _item(entry: Any) -> Any:
    return entry.get("item") if isinstance(entry, dict) else None


def _reason(entry: Any) -> str:
    if isinstance(entry, dict):
        for key in ("error", "message", "reason", "msg"):
            if _present(entry.get(key)):
                return str(entry[key])
        return _encoder.encode({k: v for k, v in entry.items() if k != "item"}).decode()
    return str(entry)
