"""Singer output of the taps: msgspec lines, RECORD lines written in blocks, and the test of
whether a stream's rows may skip singer-sdk's per-record message path.

A tap syncing hundreds of thousands of rows spends more on the SDK's per-record work (walking
the selection mask, building a message object, one write per line when Python runs unbuffered)
than on HTTP and parsing. Where the outcome cannot differ (`writes_rows_as_read`), a stream
hands each row to `RecordBufferingWriter.write_record`, which writes the same line.
"""

from __future__ import annotations

import sys
import typing as t
import weakref

from singer_sdk.contrib.msgspec import MsgSpecWriter, encoder, serialize_jsonl
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.singerlib import RecordMessage
from typing_extensions import override

if t.TYPE_CHECKING:
    import datetime

    from singer_sdk import Stream
    from singer_sdk.singerlib.encoding.simple import Message


class RecordBufferingWriter(MsgSpecWriter):
    """msgspec Singer lines; RECORD lines are gathered and written in blocks.

    SCHEMA and STATE lines go out at once together with every RECORD line before them, so a
    target never waits for a state the tap has emitted and never sees a state before its
    records. Gathering RECORD lines here (not in `sys.stdout`'s buffer) keeps one system call
    per block even when Python runs unbuffered (`PYTHONUNBUFFERED`, `-u`).
    """

    block_bytes: int = 1 << 18

    def __init__(self) -> None:
        super().__init__()
        _open_writers.add(self)
        self._pending = bytearray()
        self._frame_key: tuple[str, int | None, datetime.datetime] | None = None
        self._frame = (b"", b"")

    @override
    def write_message(self, message: Message) -> None:
        self._pending += self.format_message(message)
        if not isinstance(message, RecordMessage):
            self.flush()
        elif len(self._pending) >= self.block_bytes:
            self._write_pending()

    def write_record(
        self,
        stream: str,
        record: dict[str, t.Any],
        version: int | None,
        time_extracted: datetime.datetime,
    ) -> None:
        """The RECORD line `RecordMessage(...)` would give, without building the message.

        Rows of one page share stream, version and extraction time, so the line around the
        record is encoded once per page and only the record itself per row.
        """
        if (stream, version, time_extracted) != self._frame_key:
            self._frame_key = (stream, version, time_extracted)
            self._frame = record_frame(stream, version, time_extracted)
        head, tail = self._frame
        self._pending += head
        encoder.encode_into(record, self._pending, -1)
        self._pending += tail
        if len(self._pending) >= self.block_bytes:
            self._write_pending()

    def flush(self) -> None:
        """Write out every gathered line."""
        self._write_pending()
        sys.stdout.flush()

    def _write_pending(self) -> None:
        out = sys.stdout.buffer
        view = memoryview(self._pending)
        while view:  # an unbuffered stdout may take part of a block per call
            written = out.write(view)
            view = view[written or 0 :]
        view.release()
        self._pending.clear()


_open_writers: weakref.WeakSet[RecordBufferingWriter] = weakref.WeakSet()


def flush_open_writers() -> None:
    """Write out what every writer still holds: the end of a run, finished or not."""
    for writer in list(_open_writers):
        writer.flush()


def record_frame(
    stream: str, version: int | None, time_extracted: datetime.datetime
) -> tuple[bytes, bytes]:
    """The bytes of a RECORD line before and after its record, as `RecordMessage` encodes them."""
    message = RecordMessage(stream, {}, version=version, time_extracted=time_extracted)
    line = bytes(serialize_jsonl({**message.to_dict(), "record": None}))
    split = line.index(b'"record":null') + len(b'"record":')
    return line[:split], line[split + len(b"null") :]


def writes_rows_as_read(stream: Stream) -> bool:
    """Whether the SDK's record path would write each row of `stream` unchanged: one stream map
    that passes records through, no flattening, every property selected, no type conformance,
    and this module's writer. Otherwise rows take the SDK's own path."""
    (stream_map,) = stream.stream_maps if len(stream.stream_maps) == 1 else (None,)
    return (
        type(stream_map) is SameRecordTransform
        and not stream_map.flattening_enabled
        and all(stream.mask.values())
        and stream.TYPE_CONFORMANCE_LEVEL == TypeConformanceLevel.NONE
        and isinstance(stream._tap.message_writer, RecordBufferingWriter)
    )
