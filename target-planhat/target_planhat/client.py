"""The one place that talks HTTP to Planhat: hosts, auth, throttle, retries, response parsing.

Planhat answers a bulk upsert with one envelope whatever the status (200, 206, 400, 403): counts
plus per-item error lists under keys ending in `Errors`. The analytics host always answers 200
with `{processed, errors}`. Everything else is translated into an error that says what to check,
with every secret scrubbed from it.
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

import backoff
import msgspec
import requests
from singer_sdk.authenticators import BearerTokenAuthenticator
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterator

    from target_planhat.objects import PlanhatObject

BULK_STATUSES = frozenset({200, 206, 400, 403})
LIST_PAGE_SIZE = 2000
ERROR_SNIPPET = 300
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


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to retry 429, 5xx and connection errors."""

    max_tries: int = 8
    base_seconds: float = 2.0
    max_wait_seconds: float = 60.0
    settle_seconds: float = 0.0
    """Least wait before re-sending a request whose outcome is unknown, so a late write of the
    first attempt lands before the re-send (and long before any later batch)."""


class UnknownOutcomeError(RetriableAPIError):
    """The request went out but no answer came back: Planhat may or may not apply it."""


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


def retry_after_seconds(response: requests.Response | None) -> float | None:
    """Seconds a `Retry-After` header asks for (delta-seconds or HTTP date), if any."""
    header = response.headers.get("Retry-After") if response is not None else None
    if not header:
        return None
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _waits(policy: RetryPolicy) -> Generator[float, Any, None]:
    """Backoff waits: what `Retry-After` asks for when sent, else jittered exponential."""
    failure = yield 0.0
    attempt = 0
    while True:
        asked = retry_after_seconds(getattr(failure, "response", None))
        if asked is None:
            ceiling = policy.base_seconds * 2**attempt
            asked = ceiling / 2 + random.uniform(0, ceiling / 2)
        attempt += 1
        wait = min(asked, policy.max_wait_seconds)
        if isinstance(failure, UnknownOutcomeError):
            wait = max(wait, policy.settle_seconds)
        failure = yield wait


class PlanhatClient:
    """HTTP to Planhat's main API (bearer token, throttled) and the analytics host."""

    def __init__(
        self,
        *,
        api_url: str,
        analytics_url: str,
        api_token: str,
        tenant_token: str | None,
        max_requests_per_minute: int,
        retry: RetryPolicy,
        timeout: float,
        logger: logging.Logger,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.analytics_url = analytics_url.rstrip("/")
        self._secrets = [s for s in (api_token, tenant_token) if s]
        self._tenant_token = tenant_token
        self.retry = retry
        self.timeout = timeout
        self.logger = logger
        self.throttle = Throttle(max_requests_per_minute)
        self.session = requests.Session()
        self.session.headers["Content-Type"] = "application/json"
        self.session.headers["User-Agent"] = "target-planhat"
        self._auth = BearerTokenAuthenticator(token=api_token)
        # urllib3 logs every request line at DEBUG, tenant token (in analytics paths) included.
        logging.getLogger("urllib3.connectionpool").addFilter(_Redacting(self.redact))

    # -- public operations ------------------------------------------------------------------

    def bulk_upsert(self, obj: PlanhatObject, body: bytes) -> BulkResult:
        """`PUT /<endpoint>` with a JSON array; the envelope parsed whatever the status."""
        unknown: list[int] = []
        response = self._request(
            "PUT", "main", f"/{obj.endpoint}", data=body, accept=BULK_STATUSES, unknown=unknown
        )
        envelope = self._json(response)
        is_envelope = isinstance(envelope, dict)
        if not (is_envelope and (_error_keys(envelope) or response.status_code in {200, 206})):
            self._fail(response, f"PUT {self.api_url}/{obj.endpoint}", "main")
        result = _bulk_result(response.status_code, envelope)
        result.unknown_outcomes = len(unknown)
        return result

    def send(self, obj: PlanhatObject, body: bytes) -> SendResult:
        """`POST` a JSON array to the analytics host; the tenant token is part of the path."""
        if not self._tenant_token:
            msg = f"stream writes {obj.name}, which needs the `tenant_token` setting"
            raise FatalAPIError(msg)
        unknown: list[int] = []
        response = self._request(
            "POST", "analytics", f"/{obj.endpoint}/{self._tenant_token}", data=body, unknown=unknown
        )
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

    def existing_keys(self, obj: PlanhatObject) -> Iterator[dict[str, Any]]:
        """Every existing record's `_id` and keyables, for update-only matching."""
        fields = ",".join(("_id", *obj.lookup_keys))
        if obj.name == "companies":
            yield from self._json(self._request("GET", "main", "/leancompanies"))
            return
        offset = 0
        while True:
            params = {"select": fields, "limit": LIST_PAGE_SIZE, "offset": offset}
            page = self._json(self._request("GET", "main", f"/{obj.endpoint}", params=params))
            yield from page
            if len(page) < LIST_PAGE_SIZE:
                return
            offset += LIST_PAGE_SIZE

    def check_connection(self) -> list[str]:
        """Problems with the token, region/api_url and tenant token; empty when all is well."""
        problems = []
        try:
            self._request(
                "GET", "main", "/companies", params={"limit": 1, "select": "_id"}, tries=1
            )
        except FatalAPIError as exc:
            problems.append(str(exc))
        if self._tenant_token:
            try:
                self._request(
                    "POST", "analytics", f"/dimensiondata/{self._tenant_token}", data=b"[]", tries=1
                )
            except FatalAPIError as exc:
                problems.append(str(exc))
        return problems

    # -- plumbing ---------------------------------------------------------------------------

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _request(
        self,
        method: str,
        host: str,
        path: str,
        *,
        data: bytes | None = None,
        params: dict[str, Any] | None = None,
        accept: frozenset[int] = frozenset({200}),
        tries: int | None = None,
        unknown: list[int] | None = None,
    ) -> requests.Response:
        """One call with retries; `unknown` collects attempts whose outcome is unknown."""
        base = self.api_url if host == "main" else self.analytics_url
        where = f"{method} {base}{self.redact(path)}"

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
            except (requests.ConnectionError, requests.Timeout) as exc:
                if unknown is not None and _was_sent(exc):  # a write Planhat may still apply
                    unknown.append(1)
                    msg = (
                        f"{where} got no answer ({type(exc).__name__}): Planhat may still apply "
                        "it, so the same request is re-sent before anything else"
                    )
                    raise UnknownOutcomeError(msg) from None
                setting = "`region` / `api_url`" if host == "main" else "`analytics_url`"
                msg = f"{where} failed: {type(exc).__name__}; is the host right? check {setting}"
                raise RetriableAPIError(msg) from None
            if response.status_code in accept:
                return response
            if response.status_code == 429 or response.status_code >= 500:
                msg = f"{where} answered {response.status_code}: {self._snippet(response)}"
                raise RetriableAPIError(msg, response)
            return self._fail(response, where, host)

        def log_retry(details: dict[str, Any]) -> None:
            self.logger.warning(
                "%s; retry %d of %d in %.1f s",
                details["exception"],
                details["tries"],
                max_tries - 1,
                details["wait"],
            )

        max_tries = tries or self.retry.max_tries
        retrying = backoff.on_exception(
            lambda: _waits(self.retry),
            RetriableAPIError,
            max_tries=max_tries,
            jitter=None,
            on_backoff=log_retry,
            logger=None,
        )
        try:
            return retrying(attempt)()
        except RetriableAPIError as exc:
            tried = f" (gave up after {max_tries} attempts)" if max_tries > 1 else ""
            raise FatalAPIError(f"{exc}{tried}") from None

    def _fail(self, response: requests.Response, where: str, host: str) -> NoReturn:
        status = response.status_code
        if status == 401:
            msg = (
                f"{where} answered 401 Unauthorized: Planhat rejected the API token. Check "
                "`api_token`, and `region` (a token only works on its own region's host: "
                "app-us3.planhat.com means region us3) or `api_url`"
            )
        elif status == 403:
            msg = f"{where} answered 403 Forbidden: the service account may not write this object"
        elif status == 404:
            check = (
                "`region` / `api_url`" if host == "main" else "`analytics_url` and `tenant_token`"
            )
            msg = f"{where} answered 404 Not Found: check {check}"
        elif status == 413:
            msg = f"{where} answered 413: body too large; lower `analytics_batch_bytes`"
        else:
            msg = f"{where} answered {status}: {self._snippet(response)}"
        raise FatalAPIError(msg)

    def _snippet(self, response: requests.Response) -> str:
        text = response.text[:ERROR_SNIPPET].strip().replace("\n", " ")
        return self.redact(text) or response.reason or "empty body"

    def _json(self, response: requests.Response) -> Any:
        try:
            return _decode(response.content)
        except msgspec.DecodeError:
            where = self.redact(f"{response.request.method} {response.url}")
            msg = f"{where} answered {response.status_code} with a body that is not JSON: "
            raise FatalAPIError(msg + self._snippet(response)) from None


class _Redacting(logging.Filter):
    """Scrubs secrets out of another library's log records."""

    def __init__(self, redact: Callable[[str], str]) -> None:
        super().__init__()
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = self.redact(record.getMessage()), ()
        return True


def _was_sent(exc: BaseException) -> bool:
    """False only when the request certainly never reached the server (no connection made)."""
    if isinstance(exc, requests.ConnectTimeout):
        return False
    seen: set[int] = set()
    pending: list[Any] = [exc]
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError) or any(
            kind.__name__ == "NewConnectionError" for kind in type(current).__mro__
        ):
            return False  # urllib3's "could not connect" (DNS, refused), seen through requests
        pending.extend(getattr(current, "args", ()) or ())
        pending.extend((getattr(current, "reason", None), current.__cause__, current.__context__))
    return True


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
    errors = []
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
