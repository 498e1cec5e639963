"""STATE as soon as it is safe: a STATE message goes out once every record read before it was
written (Planhat answered its batch and the ledger holds it), not only when singer-sdk drains
every sink. The sinks tell it what they read and hand over; the target tells it each STATE."""

from __future__ import annotations

import itertools
import threading
from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable


class StateRelease:
    """Orders STATE messages after the records they follow; `write` emits one (singer-sdk's).

    Records are numbered as the sinks read them; a STATE waits for the first record still
    unwritten (in a batch not answered yet, or still in a sink). In a dry run nothing is
    written, so no STATE goes out.
    """

    def __init__(self, write: Callable[[dict], None], *, dry_run: bool) -> None:
        self._write = write
        self._dry_run = dry_run
        self._received = 0
        self._states: deque[tuple[int, dict]] = deque()
        self._open: dict[Hashable, int] = {}
        """Per sink: number of its first record read since its last hand-over."""
        self._unfinished: dict[int, int] = {}
        """Per batch handed over and not answered: number of its first record."""
        self._tokens = itertools.count(1)
        self._lock = threading.Lock()
        self._last_written: dict | None = None

    def record_read(self, sink: Hashable) -> None:
        """A sink read a record: a STATE after it waits until the sink's batch is written."""
        self._received += 1
        if sink not in self._open:
            with self._lock:
                self._open[sink] = self._received

    def batch_started(self, sink: Hashable) -> int:
        """A sink hands its batch over: STATE after its first record waits for that batch."""
        with self._lock:
            token = next(self._tokens)
            first = self._open.pop(sink, None)
            if first is not None:
                self._unfinished[token] = first
        return token

    def batch_finished(self, token: int) -> None:
        """Planhat answered a batch (and the ledger holds it): release what is now safe."""
        with self._lock:
            self._unfinished.pop(token, None)
            self._release()

    def state_read(self, state: dict) -> None:
        """A STATE message arrived: out now if every record before it was written, else later."""
        with self._lock:
            self._states.append((self._received, state))
            self._release()

    def drained(self, state: dict) -> None:
        """singer-sdk drained every sink and the batch in flight was answered: every queued STATE
        is safe; `state` (the latest) goes out unless it already went out after its batch."""
        with self._lock:
            self._release()
            if not self._dry_run and not self._states and state != self._last_written:
                self._write(state)
                self._last_written = state

    def _release(self) -> None:
        """Write the latest STATE all of whose preceding records were written (lock held)."""
        if self._dry_run:
            self._states.clear()
            return
        bound = min([*self._unfinished.values(), *self._open.values()], default=self._received + 1)
        latest = None
        while self._states and self._states[0][0] < bound:
            latest = self._states.popleft()[1]
        if latest is not None and latest != self._last_written:
            self._write(latest)
            self._last_written = latest
