"""The one place that talks HTTP to Planhat: hosts, auth, throttle, retries, response parsing.

Planhat answers a bulk upsert with one envelope whatever the status (200, 206, 400, 403): counts
plus per-item error lists under keys ending in `Errors`. The analytics host always answers 200
with `{processed, errors}`. Everything else is translated into an error that says what to check,
with every secret scrubbed from it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import quote

import msgspec
import requests
from planful_plansource_planhat_core.failures import describe
from planful_plansource_planhat_core.http import http_failure, new_session
from planful_plansource_planhat_core.redact import Redactor
from planful_plansource_planhat_core.retry import (
    CONNECTION_ERRORS,
    RetryLoop,
    RetryPolicy,
    is_retriable_status,
    is_unreachable,
    retry_logger,
)
from singer_sdk.authenticators import BearerTokenAuthenticator
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

if TYPE_CHECKING:
    import logging
    from collections.abc import Generator, Iterator

    from target_planhat.objects import PlanhatObject
    from target_planhat.settings import PlanhatSettings

BULK_STATUSES = frozenset({200, 206, 400, 403})
LIST_PAGE_SIZE = 2000
METRIC_PAGE_SIZE = 5000
"""Points per `GET /dimensiondata` page when reading metrics back."""
_decode = msgspec.json.Decoder().decode


@dataclass
class BulkResult:
    """What Planhat reported for one bulk upsert."""

    status: int
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[tuple[str, Any]] = field(default_factory=list)
    """(envelope key, entry) for every entry of every `*Errors` list, in response order."""
    unknown_outcomes: int = 0
    """Attempts that timed out or lost the connection after sending (re-sent after a wait)."""


@dataclass
class SendResult:
    """What the analytics host reported for one send."""

    processed: int | None
    """Items the host says it received; None when the answer does not say (empty, not JSON)."""
    errors: list[Any]
    unknown_outcomes: int = 0
    answered: bool = True
    """False: the request went out and no answer came back (only when not re-sent)."""


class UnknownOutcomeError(RetriableAPIError):
    """The request went out but no answer came back: Planhat may or may not apply it."""


class NoConnectionError(RetriableAPIError):
    """No answer, and the request certainly did not arrive: `failure` says why (kept here, as
    backoff drops the cause of the error it gives up on)."""

    def __init__(self, message: str, failure: requests.RequestException) -> None:
        super().__init__(message)
        self.failure = failure


class _NoAnswerError(Exception):
    """As `UnknownOutcomeError`, for a caller that reads back instead of re-sending."""


class Throttle:
    """Spaces request starts so at most `per_minute` begin in any minute (0 = no limit)."""

    def __init__(self, per_minute: int) -> None:
        self.interval = 60.0 / per_minute if per_minute else 0.0
        self._next_start = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            delay = self._next_start - now
            self._next_start = max(now, self._next_start) + self.interval
        if delay > 0:
            time.sleep(delay)


def _waits(policy: RetryPolicy, settle_seconds: float) -> Generator[float, Any, None]:
    """The shared policy's waits; at least `settle_seconds` after a request got no answer."""
    waits = policy.waits()
    failure = yield next(waits)
    while True:
        try:
            wait = waits.send(failure)
        except StopIteration:  # the policy gives up (an unreachable host)
            return
        if isinstance(failure, UnknownOutcomeError):
            wait = max(wait, settle_seconds)
        failure = yield wait


class PlanhatClient:
    """HTTP to Planhat's main API (bearer token, throttled) and the analytics host."""

    def __init__(self, settings: PlanhatSettings, logger: logging.Logger) -> None:
        """Hosts, tokens, throttle, timeouts and retries as `settings` says."""
        api_token = settings.api_token
        tenant_token = settings.tenant_token
        self.api_url = settings.main_url
        self.analytics_url = settings.analytics_host_url
        self._tenant_token = tenant_token
        self.retry = retry = settings.retry
        settle_seconds = float(settings.settle_seconds)
        self.settle_seconds = settle_seconds
        """Least wait before re-sending a request whose outcome is unknown, so a late write of
        the first attempt lands before the re-send (and long before any later batch)."""
        self.timeout = retry.timeout
        self.logger = logger
        self.throttle = Throttle(settings.max_requests_per_minute)
        # urllib3 logs every request line at DEBUG, tenant token (in analytics paths) included.
        self.redact = Redactor((api_token, tenant_token))
        self.session = new_session(
            "target-planhat", {"Content-Type": "application/json"}, self.redact
        )
        self._auth = BearerTokenAuthenticator(token=api_token)

    # -- public operations ------------------------------------------------------------------

    def bulk_upsert(self, obj: PlanhatObject, body: bytes) -> BulkResult:
        """`PUT /<endpoint>` with a JSON array; the envelope parsed whatever the status."""
        unknown: list[int] = []
        response = self._call(
            "PUT", "main", f"/{obj.endpoint}", data=body, accept=BULK_STATUSES, unknown=unknown
        )
        envelope = self._json(response)
        is_envelope = isinstance(envelope, dict)
        if not (is_envelope and (_error_keys(envelope) or response.status_code in {200, 206})):
            self._fail(response, "main")
        result = _bulk_result(response.status_code, envelope)
        result.unknown_outcomes = len(unknown)
        return result

    def send(
        self, obj: PlanhatObject, body: bytes, *, resend_unanswered: bool = True
    ) -> SendResult:
        """`POST` a JSON array to the analytics host; the tenant token is part of the path.

        Without `resend_unanswered`, a request that got no answer is not sent again: the result
        says so (`answered` False) and the caller reads back what was stored.
        """
        if not self._tenant_token:
            msg = f"stream writes {obj.name}, which needs the `tenant_token` setting"
            raise FatalAPIError(msg)
        unknown: list[int] = []
        try:
            response = self._call(
                "POST",
                "analytics",
                f"/{obj.endpoint}/{self._tenant_token}",
                data=body,
                unknown=unknown,
                retry_unknown=resend_unanswered,
            )
        except _NoAnswerError as exc:
            self.logger.warning("%s", exc)
            return SendResult(None, [], len(unknown), answered=False)
        try:
            parsed = _decode(response.content) if response.content else {}
        except msgspec.DecodeError:
            parsed = {}
        if not isinstance(parsed, dict):
            parsed = {}
        processed = parsed.get("processed")
        if isinstance(processed, bool) or not isinstance(processed, int):
            processed = None
        errors = parsed.get("errors") or []
        return SendResult(processed, errors if isinstance(errors, list) else [errors], len(unknown))

    def find_one(self, endpoint: str, external_id: str) -> dict[str, Any] | None:
        """`GET /<endpoint>/extid-<externalId>`: the record, or None when Planhat has none."""
        path = f"/{endpoint}/extid-{quote(external_id, safe='')}"
        response = self._call("GET", "main", path, accept=frozenset({200, 404}))
        if response.status_code == 404:
            return None
        found = self._json(response)
        return found if isinstance(found, dict) else None

    def metric_points(
        self, company_id: str, dimension: str, first_day: int, last_day: int
    ) -> Iterator[dict[str, Any]]:
        """`GET /dimensiondata`: the stored points of one company and dimension over a day range
        (days since 1970-01-01), page by page."""
        offset = 0
        while True:
            params = {
                "cid": company_id,  # clients spell it both ways; the points are checked anyway
                "cId": company_id,
                "dimid": dimension,
                "from": first_day,
                "to": last_day,
                "limit": METRIC_PAGE_SIZE,
                "offset": offset,
            }
            page = self._json(self._call("GET", "main", "/dimensiondata", params=params))
            if not isinstance(page, list):
                self._fail_shape("GET /dimensiondata", "a JSON array of points")
            yield from page
            if len(page) < METRIC_PAGE_SIZE:
                return
            offset += METRIC_PAGE_SIZE

    def _fail_shape(self, where: str, expected: str) -> NoReturn:
        msg = f"Planhat answered {where} with something else than {expected}"
        raise FatalAPIError(msg)

    def existing_keys(self, obj: PlanhatObject) -> Iterator[dict[str, Any]]:
        """Every existing record's `_id` and keyables, for update-only matching."""
        fields = ",".join(("_id", *obj.lookup_keys))
        if obj.name == "companies":
            yield from self._json(self._call("GET", "main", "/leancompanies"))
            return
        offset = 0
        while True:
            params = {"select": fields, "limit": LIST_PAGE_SIZE, "offset": offset}
            page = self._json(self._call("GET", "main", f"/{obj.endpoint}", params=params))
            yield from page
            if len(page) < LIST_PAGE_SIZE:
                return
            offset += LIST_PAGE_SIZE

    def read_one_company(self) -> str:
        """The main API's cheapest authenticated read (for the connection test)."""
        params = {"limit": 1, "select": "_id"}
        found = self._json(self._call("GET", "main", "/companies", params=params))
        return "the API token was accepted" + ("" if found else " (no companies yet)")

    def send_nothing(self) -> str:
        """An empty send to the analytics host: the tenant token is checked, nothing written."""
        if not self._tenant_token:
            return "not checked: `tenant_token` is not set (needed for metrics and activities)"
        self._call("POST", "analytics", f"/dimensiondata/{self._tenant_token}", data=b"[]")
        return "the tenant token was accepted"

    # -- plumbing ---------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        host: str,
        path: str,
        *,
        data: bytes | None = None,
        params: dict[str, Any] | None = None,
        accept: frozenset[int] = frozenset({200}),
        unknown: list[int] | None = None,
        retry_unknown: bool = True,
    ) -> requests.Response:
        """One call, tried again by the one retry loop (`retry.RetryLoop`:
        `retry_max_tries` attempts in all, one RETRY_LINE per retry); `unknown` collects attempts
        whose outcome is unknown (not retried without `retry_unknown`: `_NoAnswerError`)."""
        base = self.api_url if host == "main" else self.analytics_url
        where = f"{method} {base}{self.redact(path)}"
        setting = HOST_SETTINGS[host]

        def attempt() -> requests.Response:
            if host == "main":
                self.throttle.wait()
            try:
                response = self.session.request(
                    method,
                    base + path,
                    data=data,
                    params=params,
                    auth=self._auth,
                    timeout=self.timeout,
                )
            except CONNECTION_ERRORS as exc:
                if unknown is not None and _was_sent(exc):  # a write Planhat may still apply
                    unknown.append(1)
                    if not retry_unknown:
                        msg = f"{where} got no answer ({type(exc).__name__}): not sent again"
                        raise _NoAnswerError(msg) from exc
                    msg = (
                        f"{where} got no answer ({type(exc).__name__}): Planhat may still apply "
                        "it, so the same request is re-sent before anything else"
                    )
                    raise UnknownOutcomeError(msg) from exc
                msg = f"{where} failed: {type(exc).__name__}; is the host right? check {setting}"
                raise NoConnectionError(msg, exc) from exc
            if response.status_code in accept:
                return response
            if is_retriable_status(response.status_code):
                raise RetriableAPIError(http_failure("Planhat", response, self.redact), response)
            return self._fail(response, host)

        max_tries = self.retry.max_tries
        loop = RetryLoop(
            self.retry,
            (RetriableAPIError,),
            retry_logger(self.logger, where, max_tries),
            waits=self._waits,
        )
        try:
            return loop.call(attempt)
        except RetriableAPIError as exc:
            tried = (
                f" Gave up after {max_tries} attempts: try again later, or raise "
                "`retry_max_tries` / `retry_max_wait`."
                if max_tries > 1
                else ""
            )
            if isinstance(exc, NoConnectionError):
                raise FatalAPIError(describe(exc.failure, setting, emulator="planhat")) from None
            raise FatalAPIError(f"{exc}{tried}") from None

    def _waits(self) -> Generator[float, Any, None]:
        return _waits(self.retry, self.settle_seconds)

    def _fail(self, response: requests.Response, host: str) -> NoReturn:
        raise FatalAPIError(
            http_failure("Planhat", response, self.redact, hint=_hint(response.status_code, host))
        )

    def _json(self, response: requests.Response) -> Any:
        try:
            return _decode(response.content)
        except msgspec.DecodeError:
            hint = "the body is not JSON: is `region` / `api_url` a Planhat API host?"
            raise FatalAPIError(http_failure("Planhat", response, self.redact, hint=hint)) from None


HOST_SETTINGS = {"main": "`region` / `api_url`", "analytics": "`analytics_url`"}


def _hint(status: int, host: str) -> str:
    """What to check for an error status of `host`."""
    if status == 401:
        return (
            "Planhat rejected the API token: check `api_token`, and `region` (a token only "
            "works on its own region's host: app-us3.planhat.com means region us3) or `api_url`."
        )
    if status == 403:
        return "The service account may not write this object: check its permissions in Planhat."
    if status == 404:
        check = "`region` / `api_url`" if host == "main" else "`analytics_url` and `tenant_token`"
        return f"Check {check}."
    if status == 413:
        return "The body was too large: lower `analytics_batch_bytes`."
    return ""


def _was_sent(exc: BaseException) -> bool:
    """False only when the request certainly never reached the server (no connection made)."""
    if isinstance(exc, requests.ConnectTimeout | requests.exceptions.SSLError):
        return False  # no connection, or no TLS session: the request never left
    return not is_unreachable(exc)  # refused or unknown host: nothing was sent


def _error_keys(envelope: dict[str, Any]) -> list[str]:
    return [key for key in envelope if key.endswith("Errors")]


def _count(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, list):
        return len(value)
    return 0


def _bulk_result(status: int, envelope: dict[str, Any]) -> BulkResult:
    errors: list[tuple[str, Any]] = []
    for key in _error_keys(envelope):
        entries = envelope[key]
        errors.extend(
            (key, entry) for entry in (entries if isinstance(entries, list) else [entries]) if entry
        )
    return BulkResult(
        status=status,
        created=_count(envelope.get("created")),
        updated=_count(envelope.get("updated")),
        unchanged=_count(envelope.get("nonupdates")),
        errors=errors,
    )
