"""How long to wait before trying a request again: `Retry-After` when sent, else capped backoff.

Shared by the token request (`auth.py`) and the Admin API streams (`client.py`) so both honour
the same `max_retries` and `retry_initial_delay` settings. The waits are generators in the shape
`backoff.on_exception` expects: it sends each failure in and takes the next wait out.
"""

from __future__ import annotations

import random
import time
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Generator

    import requests

MAX_WAIT_SECONDS = 300.0
MAX_BACKOFF_SECONDS = 60.0


def retry_after_seconds(response: requests.Response | None) -> float | None:
    """The server's `Retry-After` (seconds or an HTTP date), capped at five minutes."""
    if response is None:
        return None
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), MAX_WAIT_SECONDS)


def wait_times(initial_delay: float) -> Generator[float, BaseException, None]:
    """Waits between tries: the server's `Retry-After`, otherwise exponential with jitter."""
    attempt = 0
    failure = yield 0.0
    while True:
        server_wait = retry_after_seconds(getattr(failure, "response", None))
        if server_wait is not None:
            wait = server_wait
        else:
            ceiling = min(initial_delay * 2**attempt, MAX_BACKOFF_SECONDS)
            wait = ceiling / 2 + random.uniform(0, ceiling / 2)
        attempt += 1
        failure = yield wait
