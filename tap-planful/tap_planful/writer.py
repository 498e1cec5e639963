"""Singer output: msgspec lines, RECORD lines written in blocks."""

from __future__ import annotations

import sys
import typing as t

from singer_sdk.contrib.msgspec import MsgSpecWriter, encoder
from singer_sdk.singerlib import RecordMessage
from typing_extensions import override

if t.TYPE_CHECKING:
    import datetime

    from singer_sdk.singerlib.encoding.simple import Message


class RecordBufferingWriter(MsgSpecWriter):
    """msgspec Singer lines; RECORD lines are gathered and written in blocks.

    SCHEMA and STATE lines go out at once together with every RECORD line before them, so a
    target never waits for a state the tap has emitted and never sees a state before its
    records. Gathering RECORD lines here (not in `sys.stdout`'s buffer) keeps one system call
    per block even when Python runs unbuffered (`PYTHONUNBUFFERED`, `-u`).
    """

    block_bytes: t.ClassVar[int] = 1 << 18

    def __init__(self) -> None:
        super().__init__()
        self._pending = bytearray()

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
        """The RECORD line `RecordMessage(...)` would give, without building the message."""
        message: dict[str, t.Any] = {"type": "RECORD", "stream": stream, "record": record}
        if version is not None:
            message["version"] = version
        message["time_extracted"] = time_extracted
        encoder.encode_into(message, self._pending, -1)
        self._pending += b"\n"
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
