"""The tap's fast paths: the places where it replaces a singer-sdk path for speed, each
measured in docs/performance.md, all switched off by `fast_paths: false` (then singer-sdk's own
`request_records` and record writing run, with the same records and STATE, slower).

- Pages prefetched: while one page's records are processed, the next `prefetch_pages` pages
  are already requested (in order, by a small thread pool) with `RESTStream._request`, so
  network waits and record processing overlap; an empty page the evidence contradicts is asked
  again in the same retry budget (singer-sdk's loop stops there, or ends the stream at an empty
  page of an endpoint without paging metadata). The same pool
  serves one request per item (`ordered_fan_out`, payroll per subscriber).
- RECORD lines written straight from the record: a large employer is hundreds of thousands of
  records, and the SDK's per-record work (walking the selection mask, building a message
  object per record, offering child contexts) cost about as much as reading them. Where the
  outcome cannot differ (`writes_rows_as_read`), each record goes to connector-core's
  `RecordBufferingWriter.write_record`; with stream maps, flattening, deselected properties or
  another writer, records take the SDK's own path.
"""

from __future__ import annotations

import datetime
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cached_property
from typing import TYPE_CHECKING, Any, cast

from planful_plansource_planhat_core.writer import RecordBufferingWriter, writes_rows_as_read
from singer_sdk.pagination import SinglePagePaginator
from singer_sdk.streams.rest import RESTStream
from typing_extensions import override

from tap_plansource.paging import (
    EmptyPageError,
    PageGapError,
    PlanSourcePaginator,
    envelope_of,
    page_evidence,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    import requests
    from singer_sdk.helpers.types import Context


class FastPathStream(RESTStream[int]):
    """The fast paths of a PlanSource stream; the stream says whether they run (`fast_paths`)
    and gives the one request they send (`_fetch`, `_answer`, `_prepared`)."""

    #: Whether the endpoint takes `page`/`per_page`.
    paginated: bool
    #: When the page whose records are being emitted was handed on (their `time_extracted`).
    _extracted_at: datetime.datetime

    @property
    def fast_paths(self) -> bool:
        """The `fast_paths` setting."""
        raise NotImplementedError

    @property
    def prefetch_pages(self) -> int:
        """The `prefetch_pages` setting."""
        raise NotImplementedError

    def _fetch(self, context: Context | None, page: int | None) -> tuple[requests.Response, list]:
        """One page and its records, retried under the policy."""
        raise NotImplementedError

    def _prepared(self, context: Context | None, page: int | None) -> requests.PreparedRequest:
        raise NotImplementedError

    def _answer(
        self, prepared: requests.PreparedRequest, context: Context | None
    ) -> tuple[requests.Response, list]:
        """One try: the response and its records."""
        raise NotImplementedError

    # -- pages prefetched ------------------------------------------------------------------

    def ordered_fan_out(
        self, items: Iterable[Any], fetch: Callable[[Any], Any]
    ) -> Iterator[tuple[Any, Any]]:
        """`(item, fetch(item))` in the order of `items`, with `prefetch_pages + 1` fetches in
        flight, so one request per item costs about the latency divided by that depth."""
        depth = self.prefetch_pages + 1
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

    def prefetched_pages(self, context: Context | None) -> Iterator[list[dict[str, Any]]]:
        """Each page's records in order, while the evidence says more pages follow.

        Before a page's records are handed on, the following `prefetch_pages` pages are
        requested, so the network works while the records are processed. An empty page that
        contradicts the evidence (its `total` or `next` link, or records on the page after it)
        is asked again, and fails the stream if it stays empty: ending there would let the
        bookmark pass records never read.
        """
        paginator = self.get_new_paginator() or SinglePagePaginator()
        ahead = self.prefetch_pages if self.paginated else 0
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

    # -- RECORD lines written straight from the record ---------------------------------------

    @override
    def generate_child_contexts(
        self, record: dict[str, Any], context: Context | None
    ) -> Iterable[Context | None]:
        if self.child_streams or not self.fast_paths:
            yield from super().generate_child_contexts(record, context)

    @override
    def _write_record_message(self, record: dict[str, Any]) -> None:
        """The RECORD line the SDK would write, encoded straight from the record."""
        if not (self.fast_paths and self.writes_rows_as_read):
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
