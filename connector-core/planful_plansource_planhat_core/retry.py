"""The one retry policy: 429, 5xx and connection errors are tried again, after what the server's
`Retry-After` asks for or else a jittered exponential wait, both capped by `retry_max_wait`. A
host that cannot be reached at all (connection refused, unknown name) is tried UNREACHABLE_TRIES
times within seconds, whatever the settings: waiting minutes does not start a server.

The same four settings mean the same thing in every plugin (see `declared.RetrySettings`). The
waits are a generator in the shape `backoff.on_exception` (and so singer-sdk's
`RESTStream.backoff_wait_generator`) expects: it sends each failure in and takes the next wait out.

The one retry loop, `RetryLoop`, runs every request path of the three plugins: `retry_max_tries`
attempts in all, the policy's waits between them, one `RETRY_LINE` per retry. A block of code is
an attempt, so the loop also covers what a decorator cannot: a generator that has already handed
items over, or an answer that drops mid-way:

    for attempt in RetryLoop(policy, RETRIED, on_retry=log):
        with attempt:
            return send()

A failure of a `retry_on` kind is swallowed by its attempt while tries are left (the wait is
slept, `on_retry` told); on the last try, or when the waits end (an unreachable host), it is
raised. `RetryPolicy.retrying` is the same loop around one call.
"""

from __future__ import annotations

import email.utils
import functools
import random
import socket
import time
import typing as t
from dataclasses import dataclass
from http import HTTPStatus

import requests

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Generator, Iterator, Mapping
    from types import TracebackType

T = t.TypeVar("T")

CONNECTION_ERRORS = (requests.ConnectionError, requests.Timeout)
UNREACHABLE_TRIES = 3
"""Tries in all when nothing answers at the host (refused, unknown name)."""
UNREACHABLE_MAX_WAIT = 1.0
"""Longest wait before trying an unreachable host again."""


def is_unreachable(exc: BaseException | None) -> bool:
    """Whether `exc` (or what caused it) says no connection could be made at all: refused, or
    the name is unknown. A connect timeout is not: a slow or busy host may still answer."""
    seen: set[int] = set()
    pending: list[t.Any] = [exc]
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError | socket.gaierror) or any(
            kind.__name__ == "NewConnectionError" for kind in type(current).__mro__
        ):
            return True  # urllib3's "could not connect" (DNS, refused), seen through requests
        pending.extend(getattr(current, "args", ()) or ())
        pending.extend((getattr(current, "reason", None), current.__cause__, current.__context__))
    return False


def unreachable_reason(exc: BaseException) -> str:
    """`unknown host` or `connection refused`, for an error that `is_unreachable`."""
    text = repr(exc) + repr(exc.__cause__) + repr(exc.__context__)
    markers = ("NameResolution", "Name or service not known", "getaddrinfo", "nodename")
    return "unknown host" if any(marker in text for marker in markers) else "connection refused"


def is_retriable_status(status: int) -> bool:
    """Overload (429) and server errors (5xx) may pass; other failures will not."""
    return status == HTTPStatus.TOO_MANY_REQUESTS or status >= HTTPStatus.INTERNAL_SERVER_ERROR


@dataclass(frozen=True)
class RetryPolicy:
    """How long one request may take and how hard it is retried."""

    max_tries: int = 5
    """Attempts per request, the first included."""
    initial_wait: float = 1.0
    """Seconds before the first retry when the server sends no `Retry-After`; doubles each time."""
    max_wait: float = 60.0
    """Longest single wait, `Retry-After` included."""
    timeout: float = 300.0
    """Seconds to wait for one answer."""

    @classmethod
    def from_config(cls, config: Mapping[str, t.Any], defaults: RetryPolicy) -> RetryPolicy:
        """The policy of the shared settings, `defaults` where a setting is unset."""

        def value(name: str, default: float) -> float:
            setting = config.get(name)
            return default if setting is None else float(setting)

        return cls(
            max_tries=max(1, int(value("retry_max_tries", defaults.max_tries))),
            initial_wait=max(0.0, value("retry_initial_wait", defaults.initial_wait)),
            max_wait=max(0.0, value("retry_max_wait", defaults.max_wait)),
            timeout=value("request_timeout", defaults.timeout),
        )

    def waits(self) -> Generator[float, t.Any, None]:
        """Waits between tries: the failure's `Retry-After`, else jittered exponential. An
        unreachable host gets short waits and, at its UNREACHABLE_TRIES-th failure, no more
        (the generator ends: backoff then gives up and raises that failure)."""
        attempt = unreachable = 0
        failure = yield 0.0  # backoff primes the generator with None
        while True:
            asked = retry_after_seconds(getattr(failure, "response", None))
            if asked is None:
                ceiling = self.initial_wait * 2**attempt
                asked = ceiling / 2 + random.uniform(0, ceiling / 2)
            attempt += 1
            wait = min(asked, self.max_wait)
            if is_unreachable(failure):
                unreachable += 1
                if unreachable >= UNREACHABLE_TRIES:
                    return
                wait = min(wait, UNREACHABLE_MAX_WAIT)
            failure = yield wait

    def retrying(
        self,
        function: Callable[..., T],
        retry_on: tuple[type[Exception], ...],
        on_backoff: Callable[[t.Any], None] | None = None,
        max_tries: int | None = None,
        waits: Callable[[], Generator[float, t.Any, None]] | None = None,
    ) -> Callable[..., T]:
        """`function` tried again on `retry_on` exceptions, at most `max_tries` times in all,
        after the policy's waits (or those of `waits`, which may stretch them): the one retry
        loop (`retry.RetryLoop`) around a call."""

        @functools.wraps(function)
        def retried(*args: t.Any, **kwargs: t.Any) -> T:
            loop = RetryLoop(self, retry_on, on_backoff, max_tries=max_tries, waits=waits)
            return loop.call(function, *args, **kwargs)

        return retried


def retry_after_seconds(response: requests.Response | None) -> float | None:
    """Seconds a `Retry-After` header asks for (delta-seconds or an HTTP date), if any."""
    header = response.headers.get("Retry-After") if response is not None else None
    if not header:
        return None
    header = header.strip()
    try:
        seconds = float(header)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(header).timestamp() - time.time()
        except (TypeError, ValueError, IndexError):
            return None
    return max(seconds, 0.0)


def retry_cause(details: Mapping[str, t.Any]) -> str:
    """What failed, for a retry's log line: the status, else the exception's class."""
    failure = details.get("exception")
    response = getattr(failure, "response", None)
    return f"HTTP {response.status_code}" if response is not None else type(failure).__name__


RETRY_LINE = "Retrying %s in %.1f s after %s (try %d of %d failed)"
"""The one log line of a retry, in every plugin and on every request path."""


def retry_logger(
    logger: logging.Logger,
    operation: str | Callable[[], str],
    max_tries: int,
    on_retry: Callable[[], None] | None = None,
) -> Callable[[Mapping[str, t.Any]], None]:
    """The `on_backoff` handler of every retry loop: one warning in `RETRY_LINE`'s words
    (`operation` says what is retried, e.g. `GET /admin/v2/subscribers`), then `on_retry` (a
    run report's count)."""

    def log(details: Mapping[str, t.Any]) -> None:
        logger.warning(
            RETRY_LINE,
            operation() if callable(operation) else operation,
            details.get("wait", 0.0),
            retry_cause(details),
            details.get("tries", 0),
            max_tries,
        )
        if on_retry is not None:
            on_retry()

    return log


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
