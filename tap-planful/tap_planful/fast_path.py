"""tap-planful's one fast path, fenced off: GL rows leave as RECORD lines encoded straight from
the row, and the bookmark is offered once per period, not once per row.

A GL sync is millions of rows, and singer-sdk's per-record work (walking the selection mask,
building a message object, updating the bookmark, offering child contexts) costs several times
the HTTP and parsing work. The hooks below do that work once per stream or period where the
outcome cannot differ; with stream maps, flattening, deselected properties or another writer,
rows take the SDK's own path, and so do they all with `fast_paths: false`. The RECORD lines and
STATE are the same either way (`tests/tap_planful/test_fast_path.py`); only `time_extracted`
is the period's answer time here and each row's write time on the SDK's path.
"""

from __future__ import annotations

import typing as t
from functools import cached_property

from planful_plansource_planhat_core.writer import RecordBufferingWriter, writes_rows_as_read
from singer_sdk import Stream
from typing_extensions import override

from tap_planful.settings import ReadsSettings

if t.TYPE_CHECKING:
    import datetime
    from collections.abc import Iterable

    from singer_sdk.helpers.types import Context


class FastRecordPath(ReadsSettings, Stream):
    """The record path of a stream whose rows are bookmarked by `period_key` (GL data)."""

    _bookmarked_key: int | None = None
    _extracted_at: datetime.datetime
    """When the answer whose rows are being written arrived (their `time_extracted`)."""

    @cached_property
    def fast(self) -> bool:
        """Whether rows take this path: `fast_paths` is on and each row goes out unchanged."""
        return self.settings.fast_paths and writes_rows_as_read(self)

    def rows_arrive(self, extracted_at: datetime.datetime) -> None:
        """The rows that follow are those of an answer received at `extracted_at`."""
        self._extracted_at = extracted_at

    def partition_starts(self) -> None:
        """A partition's first row always reaches the bookmark."""
        self._bookmarked_key = None

    @override
    def generate_child_contexts(
        self, record: dict[str, t.Any], context: Context | None
    ) -> Iterable[Context | None]:
        if self.child_streams or not self.fast:
            yield from super().generate_child_contexts(record, context)

    @override
    def _increment_stream_state(
        self, latest_record: dict[str, t.Any], *, context: Context | None = None
    ) -> None:
        """Once per period: a period's rows share one `period_key`, so the rest change nothing."""
        if not self.fast or latest_record["period_key"] != self._bookmarked_key:
            self._bookmarked_key = latest_record["period_key"]
            super()._increment_stream_state(latest_record, context=context)

    @override
    def _write_record_message(self, record: dict[str, t.Any]) -> None:
        """The RECORD line the SDK would write, encoded straight from the row."""
        if not self.fast:
            super()._write_record_message(record)
            return
        t.cast("RecordBufferingWriter", self._tap.message_writer).write_record(
            self.name, record, self._stream_version, self._extracted_at
        )
        self.state_manager.is_flushed = False
