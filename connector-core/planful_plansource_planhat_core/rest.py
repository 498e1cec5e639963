"""The REST stream base both taps share: singer-sdk's backoff hooks fed by the one retry policy
and run by the one retry loop (`retry.RetryLoop`), the one retry log line
(`retry.RETRY_LINE`) counted in the run report, and response validation whose messages name the
setting to check, from each plugin's own error hints.

A subclass says which service it talks to (`service`), gives its `retry_policy` and `redact`,
and its hints as data (`error_hints`, status → sentence; `retried_hint`). A hint may name the
stream's attributes (`{stream.name}`, `{stream.path!r}`); `error_hint` is the one hook for what
data cannot say.
"""

from __future__ import annotations

import functools
import typing as t
from http import HTTPStatus

import requests
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from singer_sdk.streams import RESTStream
from typing_extensions import override

from planful_plansource_planhat_core.http import http_failure
from planful_plansource_planhat_core.retry import RetryLoop, is_retriable_status, retry_logger
from planful_plansource_planhat_core.run_report import ReportingStream

if t.TYPE_CHECKING:
    from collections.abc import Generator, Mapping

    from planful_plansource_planhat_core.redact import Redactor
    from planful_plansource_planhat_core.retry import RetryPolicy

_TToken = t.TypeVar("_TToken")
T = t.TypeVar("T")

RETRIED = (
    ConnectionResetError,
    RetriableAPIError,
    requests.exceptions.Timeout,
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)
"""What is tried again: what singer-sdk's own `request_decorator` retries."""


class ConnectorRESTStream(ReportingStream, RESTStream[_TToken]):
    """A REST stream retried by the shared policy and failing with a message that says what to
    check. Subclasses give `service`, `retry_policy`, `redact` and, as data, `error_hints`."""

    service: t.ClassVar[str] = "The API"
    """Who answered, at the start of an error message (`Planful answered 404 to GET ...`)."""
    error_hints: t.ClassVar[Mapping[int, str]] = {}
    """What to check for an error status; formatted with `stream` (this stream)."""
    retried_hint: t.ClassVar[str] = ""
    """What to check when a retriable status (429, 5xx) outlasted the retries; formatted so."""

    @property
    def retry_policy(self) -> RetryPolicy:
        """The shared retry settings' policy (`retry_max_tries`, `retry_initial_wait`, ...)."""
        raise NotImplementedError

    @property
    def redact(self) -> Redactor:
        """Scrubs the configured secrets from anything the stream reports."""
        raise NotImplementedError

    @property
    @override
    def timeout(self) -> float:  # type: ignore[override]  # requests takes fractions too
        return self.retry_policy.timeout

    # -- retries (singer-sdk's backoff hooks, fed by the shared policy) --------------------

    @override
    def backoff_wait_generator(self) -> Generator[float, t.Any, None]:
        return self.retry_policy.waits()

    @override
    def backoff_jitter(self, value: float) -> float:
        return value  # the policy jitters its own waits, never a server's Retry-After

    @override
    def backoff_max_tries(self) -> int:
        return self.retry_policy.max_tries

    @override
    def backoff_handler(self, details: t.Any) -> None:
        retry_logger(
            self.logger, self.retried_operation, self.backoff_max_tries(), self.count_retry
        )(details)

    @override
    def request_decorator(self, func: t.Callable[..., T]) -> t.Callable[..., T]:
        """`func` tried in the one retry loop, configured by the backoff hooks above."""

        @functools.wraps(func)
        def retried(*args: t.Any, **kwargs: t.Any) -> T:
            return self.retry_loop().call(func, *args, **kwargs)

        return retried

    def retry_loop(
        self, on_retry: t.Callable[[Mapping[str, t.Any]], None] | None = None
    ) -> RetryLoop:
        """The one retry loop for a request of this stream; `on_retry` (a `retry_logger`)
        when the log line should say more than `retried_operation`."""
        return RetryLoop(
            self.retry_policy,
            RETRIED,
            on_retry or self.backoff_handler,
            max_tries=self.backoff_max_tries(),
            waits=self.backoff_wait_generator,
        )

    def retried_operation(self) -> str:
        """What a retry's log line says is retried."""
        return f"{self.http_method} {self.path}"

    # -- errors ----------------------------------------------------------------------------

    @override
    def validate_response(self, response: requests.Response) -> None:
        status = response.status_code
        if is_retriable_status(status):
            raise RetriableAPIError(self.response_error_message(response), response)
        if status >= HTTPStatus.BAD_REQUEST:
            raise self.fatal_error(self.response_error_message(response), status)

    def fatal_error(self, message: str, status: int) -> FatalAPIError:
        """The error a refused request raises (a plugin may keep its own subclass)."""
        return FatalAPIError(message)

    def error_hint(self, status: int) -> str:
        """What the operator should check for an error status (from `error_hints`)."""
        hint = self.error_hints.get(status) or (
            self.retried_hint if is_retriable_status(status) else ""
        )
        return hint.format(stream=self) if hint else ""

    @override
    def response_error_message(self, response: requests.Response) -> str:
        """Status, method and path plus the API's own message, never headers or secrets."""
        hint = self.error_hint(response.status_code)
        return http_failure(self.service, response, self.redact, hint=hint)
