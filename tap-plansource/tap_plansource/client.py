"""The one place that talks HTTP to the PlanSource Admin API v2.

Base URL and token from the tap's settings, page-number paging that also follows the `next`
links some endpoints send, retries on 429/5xx/connection errors (honouring `Retry-After`),
error messages built from PlanSource's own error body plus the setting to check, and
defensive parsing of every list shape the API is known to answer with.

While one page's records are processed, the next `prefetch_pages` pages are already being
requested (in order, by a small thread pool), so network waits and record processing overlap.
"""

from __future__ import annotations

import datetime
import re
import threading
import weakref
from collections import Counter, deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from functools import cache, cached_property
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qs, urlsplit

import msgspec
import requests
from planful_plansource_planhat_core.http import http_failure, new_session
from planful_plansource_planhat_core.retry import is_retriable_status, retry_logger
from planful_plansource_planhat_core.run_report import ReportingStream
from planful_plansource_planhat_core.writer import (
    RecordBufferingWriter,
    flush_open_writers,
    writes_rows_as_read,
)
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.pagination import PageNumberPaginator, SinglePagePaginator
from singer_sdk.streams.rest import PageContext, RESTStream
from typing_extensions import override

from tap_plansource.normalize import RecordNormalizer

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from backoff.types import Details
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context
    from singer_sdk.singerlib import Catalog

    from tap_plansource.runtime import Runtime

# Keys that carry paging information beside the records (payroll, content blocks).
PAGING_KEYS = frozenset(
    {"total", "per_page", "page", "total_records", "total_pages", "current_page", "link"}
)

_decoder = msgspec.json.Decoder(float_hook=Decimal)


class PlanSourceAPIError(FatalAPIError):
    """PlanSource refused a request; the message carries its reason and the setting to check."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


_envelopes: weakref.WeakKeyDictionary[requests.Response, Any] = weakref.WeakKeyDictionary()
_envelopes_lock = threading.Lock()


def envelope_of(response: requests.Response) -> Any:
    """The decoded body, decoded once for both the record parser and the paginator, and
    forgotten with the response."""
    with _envelopes_lock:
        if response in _envelopes:
            return _envelopes[response]
    try:
        envelope = _decoder.decode(response.content)
    except msgspec.DecodeError as exc:
        msg = f"PlanSource answered {urlsplit(response.url).path} with a body that is not JSON"
        raise RetriableAPIError(msg, response) from exc
    with _envelopes_lock:
        _envelopes[response] = envelope
    return envelope


# `rel`s of the paging links beside a page's records (records carry their own `self` link).
PAGING_RELS = frozenset({"first", "current", "next", "last", "prev", "previous"})


def _is_paging_links(value: Any) -> bool:
    return isinstance(value, list) and any(
        isinstance(link, dict) and link.get("rel") in PAGING_RELS for link in value
    )


def records_in(data: Any, keys: Iterable[str] = ()) -> list[dict[str, Any]]:
    """The records in a `data` value, whatever list shape this endpoint chose.

    `data` may be the list itself; an object holding the list under a resource key (`keys`,
    e.g. `dependents`) or beside paging fields (`total`, `per_page`, `links`); or a single record,
    as in many of PlanSource's own examples (then possibly with the paging fields flattened in).
    """
    if isinstance(data, list):
        return [item for item in data if isinstance(item, dict)]
    if not isinstance(data, dict) or not data:
        return []
    for key in keys:
        if key in data:
            return records_in(data[key])
    paging = {k for k in data if k in PAGING_KEYS or (k == "links" and _is_paging_links(data[k]))}
    if not paging:
        return [data]
    rest = {k: v for k, v in data.items() if k not in paging}
    if len(rest) == 1:
        (only,) = rest.values()
        if isinstance(only, list | dict):
            return records_in(only)
    return [rest] if rest else []


@dataclass(frozen=True)
class PageEvidence:
    """What a page says about the pages after it: its `next`/`last` links and its `total`."""

    links_present: bool = False
    next: int | None = None
    last: int | None = None
    total: int | None = None

    @property
    def describes_end(self) -> bool:
        """Whether the page carries paging metadata at all (else only an empty page ends)."""
        return self.links_present or self.total is not None

    def more_after(self, page: int, records_read: int) -> bool:
        """Whether more records are promised after `page`, with `records_read` read so far."""
        return (
            self.next is not None
            or (self.last is not None and page < self.last)
            or (self.total is not None and records_read < self.total)
        )

    def promise(self, records_read: int) -> str:
        """The evidence in words, for an error message."""
        said = []
        if self.total is not None:
            said.append(f"its `total` says {self.total} records ({records_read} read so far)")
        if self.next is not None:
            said.append(f"it links a next page ({self.next})")
        elif self.last is not None:
            said.append(f"it names page {self.last} as the last")
        return " and ".join(said)


def _page_number(href: Any) -> int | None:
    page = parse_qs(urlsplit(str(href or "")).query).get("page", [""])[0]
    return int(page) if page.isdigit() else None


def page_evidence(envelope: Any) -> PageEvidence:
    data = envelope.get("data") if isinstance(envelope, dict) else None
    if not isinstance(data, dict):
        return PageEvidence()
    total = data.get("total", data.get("total_records"))
    total = int(total) if isinstance(total, int | str) and str(total).isdigit() else None
    links = data.get("links")
    if not _is_paging_links(links):
        return PageEvidence(total=total)
    named = {link.get("rel"): link.get("href") for link in links or () if isinstance(link, dict)}
    next_page = _page_number(named["next"]) or 0 if named.get("next") else None
    return PageEvidence(True, next_page, _page_number(named.get("last")), total)


class PageGapError(FatalAPIError):
    """A page came back empty although the API promised more records, even when asked again."""


class EmptyPageError(RetriableAPIError):
    """A page came back empty although the API promised more records: asked again, in the
    same retry loop and budget as a 5xx."""

    def __init__(self, page: int, promise: str) -> None:
        super().__init__(f"page {page} came back empty although {promise}")
        self.page = page
        self.promise = promise


class MissingKeyError(FatalAPIError):
    """A record lacks a primary-key field: emitting it would merge or drop rows downstream."""


class PlanSourcePaginator(PageNumberPaginator):
    """Next page number: the API's `next` link when it sends one, else the following page.

    Paging goes on while a page links a `next` page, names a later `last` page, or its `total`
    exceeds the records read; without such metadata, until an empty page. Never does a short
    page end it: PlanSource may serve fewer records than `per_page` asked for.
    """

    def __init__(self, start_value: int = 1) -> None:
        super().__init__(start_value)
        self.last_page: int | None = None
        self.records_read = 0

    @override
    def has_more(self, response: requests.Response) -> bool:
        evidence = page_evidence(envelope_of(response))
        self.last_page = evidence.last
        return not evidence.describes_end or evidence.more_after(
            self.current_value, self.records_read
        )

    @override
    def get_next(self, response: requests.Response) -> int | None:
        next_page = page_evidence(envelope_of(response)).next
        return next_page if next_page and next_page > self.current_value else self.current_value + 1

    def upcoming(self, count: int) -> range:
        """The next `count` page numbers from the current one, within the last page when known."""
        end = self.current_value + count - 1
        return range(self.current_value, min(end, self.last_page or end) + 1)


class PlanSourceStream(ReportingStream, RESTStream[int]):
    """Base of every stream: an Admin API v2 list endpoint and its records."""

    #: Where `data` may hold the record list (e.g. `dependents`); tried before other shapes.
    records_key: tuple[str, ...] = ()
    #: Whether the endpoint takes `page`/`per_page`.
    paginated = True
    #: Whether the endpoint takes `include_test` (the `include_test_employees` setting).
    takes_include_test = False
    #: The settings to check when PlanSource answers 400 for this stream.
    bad_request_hint = "the stream's settings"
    #: The settings to check when PlanSource answers 404.
    not_found_hint = "`environment` (or `api_url`)"
    #: The schema as PlanSource's values are converted to; `sensitive_fields` may adjust a copy.
    record_schema: dict[str, Any] = {"type": "object", "properties": {}}

    # Records are converted to the schema by `RecordNormalizer`; the SDK need not walk them again.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    #: When the page whose records are being emitted was handed on (their `time_extracted`).
    _extracted_at: datetime.datetime

    def __init__(self, tap: Tap, runtime: Runtime, **kwargs: Any) -> None:
        schema = kwargs.pop("schema", None) or self.record_schema
        #: The schema PlanSource's values are converted to (before `sensitive_fields`).
        self.source_schema = schema
        self.normalize = RecordNormalizer(schema)
        #: Things counted while reading (e.g. unresolved custom ids), reported when it ends.
        self.report: Counter[str] = Counter()
        self._sessions = threading.local()
        #: The run's settings and shared services (not the tap: see `runtime`).
        self.runtime = runtime
        super().__init__(tap=tap, schema=runtime.sensitive_policy.protect_schema(schema), **kwargs)

    @override
    def apply_catalog(self, catalog: Catalog) -> None:
        """Also convert the fields the catalog declares beyond the built-in schema (e.g. the
        tenant's own fields discovery found), so every emitted field matches its declaration.
        Built-in fields keep their conversion (the catalog holds them as `sensitive_fields`
        changed them); without extra fields the normalizer stays the same object."""
        super().apply_catalog(catalog)
        own = self.source_schema.get("properties", {})
        declared = self.effective_schema.get("properties", {})
        extra = {name: schema for name, schema in declared.items() if name not in own}
        if extra:
            self.normalize = RecordNormalizer({"properties": {**own, **extra}})

    @property
    @override
    def url_base(self) -> str:
        return self.runtime.settings.admin_api_url

    @property
    @override
    def authenticator(self) -> requests.auth.AuthBase:
        return self.runtime.auth

    @property
    @override
    def timeout(self) -> float:  # type: ignore[override]  # requests takes fractions too
        return self.runtime.settings.request_timeout

    @cached_property
    @override
    def user_agent(self) -> str:
        return self.config.get("user_agent") or f"tap-plansource/{self.runtime.plugin_version}"

    @override
    def get_new_paginator(self) -> PlanSourcePaginator | None:
        return PlanSourcePaginator(start_value=1) if self.paginated else None

    def query_params(self, context: Context | None) -> dict[str, Any]:
        """The endpoint's own query parameters (filters); paging is added by the base class."""
        if self.takes_include_test:
            return {"include_test": str(self.runtime.settings.include_test_employees).lower()}
        return {}

    @override
    def get_url_params(
        self, context: Context | None, next_page_token: int | None
    ) -> dict[str, Any]:
        params = self.query_params(context)
        if self.paginated:
            params["page"] = next_page_token or 1
            params["per_page"] = self.runtime.settings.page_size
        return params

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, Any]]:
        envelope = envelope_of(response)
        if isinstance(envelope, dict) and envelope.get("status") == "failure":
            raise PlanSourceAPIError(self.error_message(response, envelope))
        return records_in(
            envelope.get("data") if isinstance(envelope, dict) else envelope, self.records_key
        )

    @override
    def validate_response(self, response: requests.Response) -> None:
        status = response.status_code
        if is_retriable_status(status):
            raise RetriableAPIError(self.response_error_message(response), response)
        if status >= HTTPStatus.BAD_REQUEST:
            raise PlanSourceAPIError(self.response_error_message(response), status)

    @override
    def response_error_message(self, response: requests.Response) -> str:
        """PlanSource's own message and the setting to check; never the body or headers as sent."""
        try:
            envelope = _decoder.decode(response.content)
        except msgspec.DecodeError:
            envelope = None
        return self.error_message(response, envelope)

    def error_message(self, response: requests.Response, envelope: Any) -> str:
        """`PlanSource answered <status> to GET <path>: <its message> (<code>). <setting hint>`."""
        errors = envelope.get("errors") if isinstance(envelope, dict) else None
        if isinstance(errors, list):
            errors = errors[0] if errors else None
        status, said = response.status_code, None
        if isinstance(errors, dict):
            if isinstance(errors.get("http_status"), int):
                status = errors["http_status"]
            said = str(errors.get("message") or response.reason or "no message")
            if errors.get("error_code") not in {None, "", status}:
                said += f" ({errors['error_code']})"
        elif isinstance(errors, str) and errors:
            said = errors
        message = http_failure(
            "PlanSource",
            response,
            self.runtime.redact,
            detail=said or response.reason or "no message",
            hint=self.setting_hint(status),
        )
        if status != response.status_code:  # the envelope's own status wins
            message = message.replace(f" {response.status_code} to ", f" {status} to ", 1)
        return message

    def setting_hint(self, status: int) -> str:
        """Which setting to check for an error status."""
        if is_retriable_status(status):
            tries = self.backoff_max_tries()
            return f"Tried {tries} times; raise `retry_max_tries` if PlanSource is slow to recover."
        hints: dict[int, str] = {
            HTTPStatus.BAD_REQUEST: f"Check {self.bad_request_hint}.",
            HTTPStatus.UNAUTHORIZED: (
                "The access token was refused even after renewing it: check `client_id`, "
                "`client_secret`, `username` and `environment` (or `api_url`)."
            ),
            HTTPStatus.FORBIDDEN: (
                "The API user (`client_id`) or admin (`username`) may not read this: "
                "ask your PlanSource administrator to grant access."
            ),
            HTTPStatus.NOT_FOUND: f"Check {self.not_found_hint}.",
        }
        return hints.get(status, "")

    @override
    def backoff_wait_generator(self) -> Iterator[float]:  # type: ignore[override]
        return self.runtime.settings.retry.waits()

    @override
    def backoff_jitter(self, value: float) -> float:
        return value  # the policy jitters its own waits, never a server's Retry-After

    @override
    def backoff_max_tries(self) -> int:
        return self.runtime.settings.retry.max_tries

    @override
    def backoff_handler(self, details: Details) -> None:
        """The one retry line (`retry_logger`), counted in the run report."""
        failure = details.get("exception")
        operation = f"{self.name}: GET {self.path}"
        if isinstance(failure, EmptyPageError):
            operation = (
                f"{self.name}: page {failure.page} of GET {self.path} (it came back empty "
                f"although {failure.promise})"
            )
        retry_logger(self.logger, operation, self.backoff_max_tries(), self.count_retry)(details)

    @property
    @override
    def requests_session(self) -> requests.Session:
        """One session per thread: pages of a stream are requested from a small thread pool."""
        session = getattr(self._sessions, "session", None)
        if session is None:
            session = self._sessions.session = new_session(self.user_agent)
        return session

    @override
    def request_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Each page's records, then the warnings of what was counted while reading them.

        Once read (or when reading fails) the emitted records leave the writer's buffer, so
        none waits for a STATE that may never come."""
        try:
            for records in self.record_batches(context):
                self._extracted_at = datetime.datetime.now(datetime.UTC)
                yield from records
        finally:
            flush_open_writers()
        for field_path, count in sorted(self.normalize.failures.items()):
            self.logger.warning(
                "%s: %d value(s) of `%s` did not match the declared type and were kept as sent",
                self.name,
                count,
                field_path,
            )
        self.normalize.failures.clear()
        for what, count in sorted(self.report.items()):
            self.logger.warning("%s: %d %s", self.name, count, what)
        self.report.clear()

    def record_batches(self, context: Context | None) -> Iterator[list[dict[str, Any]]]:
        """The records this stream reads, a page (or a request) at a time."""
        return self._pages(context)

    def ordered_fan_out(
        self, items: Iterable[Any], fetch: Callable[[Any], Any]
    ) -> Iterator[tuple[Any, Any]]:
        """`(item, fetch(item))` in the order of `items`, with `prefetch_pages + 1` fetches in
        flight, so one request per item costs about the latency divided by that depth."""
        depth = self.runtime.settings.prefetch_pages + 1
        pool = ThreadPoolExecutor(max_workers=depth, thread_name_prefix=f"{self.name}-fetch")
        pending: deque[tuple[Any, Future]] = deque()
        try:
            for item in items:
                pending.append((item, pool.submit(fetch, item)))
                if len(pending) >= depth:
                    item_done, future = pending.popleft()
                    yield item_done, future.result()
            while pending:
                item_done, future = pending.popleft()
                yield item_done, future.result()
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def _fetch(self, context: Context | None, page: int | None) -> tuple[requests.Response, list]:
        """One page and its records, retried under the policy (`request_decorator`); a body
        that is not JSON is retried like a 5xx."""
        retrying = self.request_decorator(self._answer)  # type: ignore[arg-type]  # any result
        return cast(
            "tuple[requests.Response, list]", retrying(self._prepared(context, page), context)
        )

    def _prepared(self, context: Context | None, page: int | None) -> requests.PreparedRequest:
        request = self.get_http_request(page=PageContext(context, page))
        return self.build_prepared_request(
            method=request.method,
            url=request.url,
            params=request.encode_params(),
            headers=request.headers,
        )

    def _answer(
        self, prepared: requests.PreparedRequest, context: Context | None
    ) -> tuple[requests.Response, list]:
        """One try: the response and its records."""
        response = self._request(prepared, context)
        return response, list(self.parse_response(response))

    def _pages(self, context: Context | None) -> Iterator[list[dict[str, Any]]]:
        """Each page's records in order, while the evidence says more pages follow.

        Before a page's records are handed on, the following `prefetch_pages` pages are
        requested, so the network works while the records are processed. An empty page that
        contradicts the evidence (its `total` or `next` link, or records on the page after it)
        is asked again, and fails the stream if it stays empty: ending there would let the
        bookmark pass records never read.
        """
        paginator = self.get_new_paginator() or SinglePagePaginator()
        ahead = self.runtime.settings.prefetch_pages if self.paginated else 0
        pool = ThreadPoolExecutor(max_workers=ahead + 1, thread_name_prefix=f"{self.name}-page")
        in_flight: dict[int | None, Future] = {}

        def requested(page: int | None) -> Future:
            if page not in in_flight:
                in_flight[page] = pool.submit(self._fetch, context, page)
            return in_flight[page]

        records_read = 0
        try:
            with self.get_http_request_counter() as request_counter:
                request_counter.with_context(context)
                while not paginator.finished:
                    page = paginator.current_value
                    response, records = requested(page).result()
                    del in_flight[page]
                    request_counter.increment()
                    if not records and isinstance(paginator, PlanSourcePaginator):
                        assert page is not None  # numbered pages
                        response, records = self._empty_page(
                            context, page, response, records_read, requested
                        )
                    self.logger.info("%s: page %s, %d records", self.name, page or 1, len(records))
                    if not records:
                        break
                    records_read += len(records)
                    if isinstance(paginator, PlanSourcePaginator):
                        paginator.records_read = records_read
                    paginator.advance(response)
                    if isinstance(paginator, PlanSourcePaginator) and not paginator.finished:
                        for number in paginator.upcoming(ahead):
                            requested(number)
                    yield records
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def _empty_page(
        self,
        context: Context | None,
        page: int,
        response: requests.Response,
        records_read: int,
        requested: Callable[[int], Future],
    ) -> tuple[requests.Response, list]:
        """An empty page as it stands when nothing says more follows; else asked again."""
        evidence = page_evidence(envelope_of(response))
        if evidence.describes_end:
            if not evidence.more_after(page, records_read):
                return response, []
            promise = evidence.promise(records_read)
        else:
            try:
                _, following = requested(page + 1).result()
            except Exception:
                following = []
            if not following:
                return response, []
            promise = f"page {page + 1} has records"
        first_answer: list[tuple[requests.Response, list]] = [(response, [])]

        def ask(
            prepared: requests.PreparedRequest, context: Context | None
        ) -> tuple[requests.Response, list]:
            """The empty answer already received is the first try; each try after it asks."""
            response, records = (
                first_answer.pop() if first_answer else self._answer(prepared, context)
            )
            if not records:
                raise EmptyPageError(page, promise)
            return response, records

        try:
            retrying = self.request_decorator(ask)  # type: ignore[arg-type]  # any result
            return cast(
                "tuple[requests.Response, list]", retrying(self._prepared(context, page), context)
            )
        except EmptyPageError:
            msg = (
                f"{self.name}: PlanSource answered page {page} of GET {self.path} with no "
                f"records {self.backoff_max_tries()} times although {promise}. Stopped without a "
                "new bookmark so that no unread records are skipped; run the sync again later, "
                "and tell PlanSource support if it persists."
            )
            raise PageGapError(msg) from None

    def shape(self, record: dict[str, Any], context: Context | None) -> dict[str, Any]:
        """Derive or rename fields before conversion (e.g. parent ids from `links.href`)."""
        record.pop("links", None)
        return record

    def subscriber_id_from(self, link: LinkIds, record: dict[str, Any]) -> int | None:
        """PlanSource's subscriber id named by an href; a custom id (`is_custom_id=true`) is
        kept as `subscriber_custom_id` and looked up among the subscribers."""
        if not link.custom:
            return link.number("subscriber_id")
        custom_id = link.ids.get("subscriber_id")
        record["subscriber_custom_id"] = custom_id
        found = self.runtime.subscriber_directory.resolve(custom_id) if custom_id else None
        if found is None:
            self.report["custom subscriber id(s) matching no subscriber (subscriber_id null)"] += 1
        return found

    @override
    def post_process(
        self, row: dict[str, Any], context: Context | None = None
    ) -> dict[str, Any] | None:
        record = self.normalize(self.shape(row, context))
        for key in self.primary_keys:
            if record.get(key) is None:
                raise MissingKeyError(self.missing_key_message(key))
        return self.runtime.sensitive_policy.apply(record, self.name, self.primary_keys)

    def missing_key_message(self, key: str) -> str:
        """Why a record without `key` stops the stream."""
        return (
            f"{self.name}: PlanSource sent a record without `{key}`, part of the stream's primary "
            f"key {list(self.primary_keys)}; stopped rather than emit a record that targets would "
            "merge with others or drop."
        )

    # -- the per-record path ---------------------------------------------------------------
    # A large employer is hundreds of thousands of records, and the SDK's per-record work
    # (walking the selection mask, building a message object per record, offering child
    # contexts) cost about as much as reading them. Where the outcome cannot differ, the two
    # hooks below skip it; with stream maps, flattening, deselected properties or another
    # writer, records take the SDK's own path.

    @override
    def generate_child_contexts(
        self, record: dict[str, Any], context: Context | None
    ) -> Iterable[Context | None]:
        if self.child_streams:
            yield from super().generate_child_contexts(record, context)

    @override
    def _write_record_message(self, record: dict[str, Any]) -> None:
        """The RECORD line the SDK would write, encoded straight from the record."""
        if not self.writes_rows_as_read:
            super()._write_record_message(record)
            return
        cast("RecordBufferingWriter", self._tap.message_writer).write_record(
            self.name, record, self._stream_version, self._extracted_at
        )
        self.state_manager.is_flushed = False

    @cached_property
    def writes_rows_as_read(self) -> bool:
        """Whether each record goes out unchanged: what the SDK's record path would then do."""
        return writes_rows_as_read(self)


@cache
def _href_pattern(pattern: str) -> re.Pattern[str]:
    """`/subscriber/{subscriber_id}/beneficiaries` as a regex over the path of an href."""
    return re.compile(re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/?#]+)", re.escape(pattern)) + r"/?$")


@dataclass(frozen=True)
class LinkIds:
    """The ids an href names, and whether they are the customer's own (`is_custom_id=true`)."""

    ids: dict[str, str]
    custom: bool = False

    def number(self, name: str) -> int | None:
        """The id `name` as PlanSource's numeric id (None when custom or absent)."""
        value = self.ids.get(name, "")
        return int(value) if value.isdigit() and not self.custom else None


def self_href(links: Any) -> str | None:
    """The `self` href of a record's `links`: an object, or an array of `{rel, href}`."""
    if isinstance(links, dict):
        return links.get("href") or links.get("self")
    if isinstance(links, list):
        hrefs = [link for link in links if isinstance(link, dict) and link.get("href")]
        chosen = next((link for link in hrefs if link.get("rel") == "self"), None)
        return (chosen or (hrefs[0] if hrefs else {})).get("href")
    return None


def ids_from_link(record: dict[str, Any], pattern: str) -> LinkIds:
    """Ids named in `pattern` read from the record's `links` (empty when absent)."""
    href = self_href(record.get("links"))
    if not href:
        return LinkIds({})
    parts = urlsplit(str(href))
    match = _href_pattern(pattern).search(parts.path)
    if match is None:
        return LinkIds({})
    custom = parse_qs(parts.query).get("is_custom_id", [""])[0].lower() == "true"
    return LinkIds(match.groupdict(), custom)
