"""One batch on its way to Planhat while the target reads the next one.

Planhat asks for sequential bulk calls, and they stay sequential: a batch is handed over only
after the previous one was answered. What overlaps is the reading and preparing of the next batch
(this process) with Planhat's work on the current one (the other end of the connection).
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable


class InFlight:
    """A single slot for the batch being sent; `wait()` before anything claims it was written.

    A failure is kept: every later `submit` or `wait` raises it again, so no STATE can follow a
    batch that was not accepted, whoever asks first.
    """

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="planhat-send")
        self._pending: Future[None] | None = None
        self._failure: BaseException | None = None

    def submit(self, send: Callable[[], None]) -> None:
        """Start `send` once the batch before it was answered (raising what that one raised)."""
        self.wait()
        self._pending = self._executor.submit(send)

    def wait(self) -> None:
        """Return when nothing is in flight; raise if a batch failed."""
        pending, self._pending = self._pending, None
        if pending is not None:
            try:
                pending.result()
            except BaseException as exc:
                self._failure = exc
        if self._failure is not None:
            raise self._failure

    def close(self) -> None:
        """Let the batch in flight finish (its outcome is reported by its own thread)."""
        self._executor.shutdown(wait=True)
