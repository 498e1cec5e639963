"""PlanSource's pages: the body decoded once, the records in whatever list shape an endpoint
chose, what a page says about the pages after it (its `next`/`last` links, its `total`), and the
paginator that follows that evidence. No HTTP here: the streams send the requests."""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import msgspec
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from singer_sdk.pagination import PageNumberPaginator
from typing_extensions import override

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    import requests

# Keys that carry paging information beside the records (payroll, content blocks).
PAGING_KEYS = frozenset(
    {"total", "per_page", "page", "total_records", "total_pages", "current_page", "link"}
)

_decoder = msgspec.json.Decoder(float_hook=Decimal)


def json_body(response: requests.Response) -> Any:
    """The decoded body, or None when it is not JSON (for an error message)."""
    try:
        return _decoder.decode(response.content)
    except msgspec.DecodeError:
        return None


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


class PlanSourcePaginator(PageNumberPaginator):
    """Next page number: the API's `next` link when it sends one, else the following page.

    Paging goes on while a page links a `next` page, names a later `last` page, or its `total`
    exceeds the records read; without such metadata, until an empty page. Never does a short
    page end it: PlanSource may serve fewer records than `per_page` asked for.
    """

    def __init__(
        self, start_value: int = 1, count: Callable[[requests.Response], int] | None = None
    ) -> None:
        super().__init__(start_value)
        self.last_page: int | None = None
        #: Records read so far, each page's counted by `count` as it is passed.
        self.records_read = 0
        self._count = count

    @override
    def has_more(self, response: requests.Response) -> bool:
        if self._count is not None:
            self.records_read += self._count(response)
        evidence = page_evidence(envelope_of(response))
        self.last_page = evidence.last
        return not evidence.describes_end or evidence.more_after(
            self.current_value, self.records_read
        )

    @override
    def get_next(self, response: requests.Response) -> int | None:
        next_page = page_evidence(envelope_of(response)).next
        return next_page if next_page and next_page > self.current_value else self.current_value + 1

    @override
    def continue_if_empty(self, response: requests.Response) -> bool:
        """Never: an empty page ends the pages, unless its own evidence promises more; then
        `EmptyPageError` (singer-sdk's loop, which asks this, does not ask a page again)."""
        evidence = page_evidence(envelope_of(response))
        if evidence.describes_end and evidence.more_after(self.current_value, self.records_read):
            raise EmptyPageError(self.current_value, evidence.promise(self.records_read))
        return False

    def upcoming(self, count: int) -> range:
        """The next `count` page numbers from the current one, within the last page when known."""
        end = self.current_value + count - 1
        return range(self.current_value, min(end, self.last_page or end) + 1)
