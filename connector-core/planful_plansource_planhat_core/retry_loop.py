"""The one retry loop: `retry_max_tries` attempts in all, the policy's waits between them, one
`RETRY_LINE` per retry. A block of code is an attempt, so the loop also covers what a decorator
cannot: a generator that has already handed items over, or an answer that drops mid-way.

    for attempt in RetryLoop(policy, RETRIED, on_retry=log):
        with attempt:
            return send()

A failure of a `retry_on` kind is swallowed by its attempt while tries are left (the wait is
slept, `on_retry` told); on the last try, or when the waits end (an unreachable host), it is
raised. `attempt.number` says which try it is; `attempt.failure` what failed before it.
"""

from __future__ import annotations

import time
import typing as t

if t.TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterator, Mapping
    from types import TracebackType

    from planful_plansource_planhat_core.retry import RetryPolicy

T = t.TypeVar("T")


class Attempt:
    """One try: a context manager that swallows a retriable failure while tries are left."""

    def __init__(self, loop: RetryLoop, number: int, failure: BaseException | None) -> None:
        self.loop = loop
        self.number = number
        """This try's number, from 1."""
        self.failure = failure
        """What failed the try before (None on the first)."""

    @property
    def last(self) -> bool:
        """Whether no try follows this one, whatever happens."""
        return self.number >= self.loop.max_tries

    def __enter__(self) -> Attempt:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        if error is None:
            self.loop.succeeded = True
            return False
        if not isinstance(error, self.loop.retry_on):
            return False
        return self.loop.wait_after(self, error)


class RetryLoop:
    """Up to `max_tries` attempts (the policy's unless given), waiting the policy's waits (or
    those of `waits`) between them."""

    def __init__(
        self,
        policy: RetryPolicy,
        retry_on: tuple[type[BaseException], ...],
        on_retry: Callable[[Mapping[str, t.Any]], None] | None = None,
        *,
        max_tries: int | None = None,
        waits: Callable[[], Generator[float, t.Any, None]] | None = None,
    ) -> None:
        self.max_tries = max(1, max_tries or policy.max_tries)
        self.retry_on = retry_on
        self.on_retry = on_retry
        self._waits = (waits or policy.waits)()
        next(self._waits)  # primed, as backoff does
        self.succeeded = False
        self.failed: BaseException | None = None
        """The last failure retried."""

    def __iter__(self) -> Iterator[Attempt]:
        failure: BaseException | None = None
        for number in range(1, self.max_tries + 1):
            attempt = Attempt(self, number, failure)
            yield attempt
            if self.succeeded:
                return
            failure = self.failed

    def call(self, function: Callable[..., T], *args: t.Any, **kwargs: t.Any) -> T:
        """`function(*args, **kwargs)`, tried as the loop says."""
        for attempt in self:
            with attempt:
                return function(*args, **kwargs)
        msg = "the retry loop ended without an answer or a failure"  # max_tries >= 1
        raise AssertionError(msg)

    def wait_after(self, attempt: Attempt, error: BaseException) -> bool:
        """Whether to try again after `error`: then the wait is slept and `on_retry` told."""
        if attempt.last:
            return False
        try:
            wait = self._waits.send(error)
        except StopIteration:
            return False
        self.failed = error
        if self.on_retry is not None:
            self.on_retry({"tries": attempt.number, "wait": wait, "exception": error})
        time.sleep(wait)
        return True
