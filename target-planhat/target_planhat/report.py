"""Per-stream counts and the rejects file: nothing Planhat refused goes unreported."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    import logging

LOGGED_REJECTS_WITH_FILE = 20
"""With a rejects file, only the first rejects of a stream are also logged one by one."""

_encode = msgspec.json.Encoder(enc_hook=str, decimal_format="number").encode


@dataclass
class StreamCounts:
    """What happened to a stream's records, in Planhat's terms."""

    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    superseded: int = 0
    sent: int = 0
    rejected: int = 0
    skipped: int = 0
    unaccounted: int = 0
    resent_after_no_answer: int = 0
    found_on_read_back: int = 0
    """Metric points in doubt that reading back showed stored (not sent again)."""
    maybe_twice: int = 0
    """Metric points sent again without a read-back showing them missing."""
    batches: int = 0

    def describe(self) -> str:
        return ", ".join(f"{name} {value}" for name, value in asdict(self).items())


class Report:
    """Collects outcomes for the whole run and appends rejects as JSON lines.

    Thread-safe: records are rejected while read (main thread) and when Planhat answers (the
    in-flight batch's thread).
    """

    def __init__(
        self, rejects_file: str | None, logger: logging.Logger, plan_file: str | None = None
    ) -> None:
        self.rejects_path = Path(rejects_file) if rejects_file else None
        self.plan_path = Path(plan_file) if plan_file else None
        self.logger = logger
        self.counts: dict[str, StreamCounts] = {}
        self._file: IO[bytes] | None = None
        self._plan: IO[bytes] | None = None
        self._lock = threading.Lock()

    def plan(self, stream: str, obj: str, action: str, item: Any) -> None:
        """Dry run: one planned item (what would be sent) as a JSON line."""
        if self.plan_path is None:
            return
        with self._lock:
            if self._plan is None:
                self.plan_path.parent.mkdir(parents=True, exist_ok=True)
                self._plan = self.plan_path.open("wb")
            line = {"stream": stream, "object": obj, "action": action, "item": item}
            self._plan.write(_encode(line) + b"\n")

    def stream(self, name: str) -> StreamCounts:
        return self.counts.setdefault(name, StreamCounts())

    def reject(
        self,
        *,
        stream: str,
        obj: str,
        error: str,
        record: Any,
        record_number: int | None = None,
        batch: int | None = None,
        position: int | None = None,
        keys: str = "",
        outcome: str = "rejected",
    ) -> None:
        """Count one record Planhat (or the target, before sending) did not write, and keep it."""
        with self._lock:
            counts = self.stream(stream)
            total = counts.skipped if outcome == "skipped" else counts.rejected
            if outcome == "skipped":
                counts.skipped += 1
            else:
                counts.rejected += 1
            where = ", ".join(
                f"{label} {value}"
                for label, value in (
                    ("record", record_number),
                    ("batch", batch),
                    ("position", position),
                )
                if value is not None
            )
            if self.rejects_path is None or total < LOGGED_REJECTS_WITH_FILE:
                self.logger.warning(
                    "%s: %s %s%s: %s", stream, outcome, f"({where})" if where else "", keys, error
                )
            elif total == LOGGED_REJECTS_WITH_FILE:
                self.logger.warning(
                    "%s: further %s records are only written to the rejects file", stream, outcome
                )
            if self.rejects_path is not None:
                line = {
                    "stream": stream,
                    "object": obj,
                    "outcome": outcome,
                    "error": error,
                    "record_number": record_number,
                    "batch": batch,
                    "position": position,
                    "record": record,
                }
                self._rejects().write(_encode(line) + b"\n")

    def flush(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.flush()

    def close(self) -> None:
        with self._lock:
            for handle in (self._file, self._plan):
                if handle is not None:
                    handle.close()
            self._file = self._plan = None

    def log_summary(self, *, dry_run: bool = False) -> None:
        label = "dry run, would have" if dry_run else "total"
        for stream, counts in self.counts.items():
            self.logger.info("%s: %s %s", stream, label, counts.describe())
        if dry_run and self.plan_path is not None:
            self.logger.info("dry run: the planned items were written to %s", self.plan_path)
        if self.rejects_path is not None and any(
            c.rejected or c.skipped for c in self.counts.values()
        ):
            self.logger.info("rejected and skipped records were appended to %s", self.rejects_path)

    def _rejects(self) -> IO[bytes]:
        if self._file is None:
            assert self.rejects_path is not None
            self.rejects_path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.rejects_path.open("ab")
        return self._file
