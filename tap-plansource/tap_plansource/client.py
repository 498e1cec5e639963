"""The base of every PlanSource stream: one request to the Admin API v2.

Base URL and token from the run's settings, page-number paging that also follows the `next`
links some endpoints send (`paging`), retries on 429/5xx/connection errors (honouring
`Retry-After`) in one loop per request, error messages built from PlanSource's own error body
plus the setting to check, and each record shaped, converted and protected. How pages are read
is `record_batches`: the tap's prefetch (`fast_path`), or singer-sdk's own loop.
"""

from __future__ import annotations

import datetime
import re
import threading
from collections import Counter
from dataclasses import dataclass
from functools import cache, cached_property
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import requests
from planful_plansource_planhat_core.http import http_failure, new_session
from planful_plansource_planhat_core.rest import ConnectorRESTStream
from planful_plansource_planhat_core.retry import is_retriable_status, retry_logger
from planful_plansource_planhat_core.writer import flush_open_writers
from singer_sdk.exceptions import FatalAPIError
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.streams.rest import PageContext
from typing_extensions import override

from tap_plansource.fast_path import FastPathStream
from tap_plansource.normalize import RecordNormalizer
from tap_plansource.paging import (
    EmptyPageError,
    PageGapError,
    PlanSourcePaginator,
    envelope_of,
    json_body,
    records_in,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from backoff.types import Details
    from planful_plansource_planhat_core.redact import Redactor
    from planful_plansource_planhat_core.retry import RetryPolicy
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context
    from singer_sdk.singerlib import Catalog

    from tap_plansource.runtime import Runtime


class PlanSourceAPIError(FatalAPIError):
    """PlanSource refused a request; the message carries its reason and the setting to check."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class MissingKeyError(FatalAPIError):
    """A record lacks a primary-key field: emitting it would merge or drop rows downstream."""


class PlanSourceStream(FastPathStream, ConnectorRESTStream[int]):
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

    service = "PlanSource"

    # Records are converted to the schema by `RecordNormalizer`; the SDK need not walk them again.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

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
    def fast_paths(self) -> bool:
        return self.runtime.settings.fast_paths

    @property
    @override
    def prefetch_pages(self) -> int:
        return self.runtime.settings.prefetch_pages

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
    def retry_policy(self) -> RetryPolicy:
        return self.runtime.settings.retry

    @property
    @override
    def redact(self) -> Redactor:
        return self.runtime.redact

    @cached_property
    @override
    def user_agent(self) -> str:
        return self.config.get("user_agent") or f"tap-plansource/{self.runtime.plugin_version}"

    @override
    def get_new_paginator(self) -> PlanSourcePaginator | None:
        if not self.paginated:
            return None
        return PlanSourcePaginator(
            1, count=lambda response: len(list(self.parse_response(response)))
        )

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
    def fatal_error(self, message: str, status: int) -> FatalAPIError:
        return PlanSourceAPIError(message, status)

    @override
    def response_error_message(self, response: requests.Response) -> str:
        """PlanSource's own message and the setting to check; never the body or headers as sent."""
        return self.error_message(response, json_body(response))

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
            hint=self.error_hint(status),
        )
        if status != response.status_code:  # the envelope's own status wins
            message = message.replace(f" {response.status_code} to ", f" {status} to ", 1)
        return message

    @override
    def error_hint(self, status: int) -> str:
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
        """The records this stream reads, a page (or a request) at a time: prefetched pages
        (`fast_path`), or singer-sdk's own `request_records` a record at a time."""
        if self.fast_paths:
            return self.prefetched_pages(context)
        return self.sdk_records(context)

    def sdk_records(self, context: Context | None) -> Iterator[list[dict[str, Any]]]:
        """singer-sdk's own paging loop (`RESTStream.request_records`), one record a batch. It
        ends at an empty page; one that its own `total` or links contradict stops the stream."""
        try:
            for record in super().request_records(context):
                yield [record]
        except EmptyPageError as empty:
            msg = (
                f"{self.name}: PlanSource answered page {empty.page} of GET {self.path} with no "
                f"records although {empty.promise} (`fast_paths: false` does not ask again). "
                "Stopped without a new bookmark so that no unread records are skipped; run the "
                "sync again."
            )
            raise PageGapError(msg) from None

    def fan_out(
        self, items: Iterable[Any], fetch: Callable[[Any], Any]
    ) -> Iterator[tuple[Any, Any]]:
        """`(item, fetch(item))` in the order of `items`: several in flight on the fast path
        (`ordered_fan_out`), else one after the other."""
        if self.fast_paths:
            return self.ordered_fan_out(items, fetch)
        return ((item, fetch(item)) for item in items)

    @override
    def _fetch(self, context: Context | None, page: int | None) -> tuple[requests.Response, list]:
        """One page and its records, retried under the policy (`request_decorator`); a body
        that is not JSON is retried like a 5xx."""
        retrying = self.request_decorator(self._answer)
        return retrying(self._prepared(context, page), context)

    @override
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
