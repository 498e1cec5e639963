"""Planful's SOAP web service "HostAPI_StateFree": envelopes, transport, streamed parsing, faults.

The contract is `shared/api/planful-soap.md`: SOAP 1.1, document/literal wrapped, every call
carries `LoginName`, `Password` and `TenantCode` in its body (so no request body is ever logged),
the answer is one array with no paging. Answers are parsed while they arrive, item by item, with
lxml's pull parser (no entity resolution, no network, and any DTD refused before parsing), so a
million-row GL answer needs no memory proportional to it.
"""

from __future__ import annotations

import re
import typing as t
from http import HTTPStatus
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

import requests
from lxml import etree
from planful_plansource_planhat_core.http import one_line
from planful_plansource_planhat_core.retry import is_retriable_status, retry_logger
from planful_plansource_planhat_core.urls import checked_base_url
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from typing_extensions import override

from tap_planful.client import PlanfulStream, shape_error
from tap_planful.settings import OBSERVED_SOAP_URL, PLANFUL_DOMAIN, SOAP_PATH, structured_subdomain

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from singer_sdk.helpers.types import Context

    from tap_planful.settings import PlanfulSettings

NAMESPACE = "http://www.HostAnalytics.com/API/SOAP/StateFree/Common/2009/03/19"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
CHUNK_BYTES = 1 << 16
PROLOG_LIMIT = 1 << 16
_NS_LENGTH = len(NAMESPACE) + 2
_FAULT = f"{{{SOAP_ENV}}}Fault"
_LOGIN_WORDS = re.compile(
    r"login|password|credential|authenticat|unauthori|tenant code", re.IGNORECASE
)

DROPPED_ANSWER = (requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError)
"""What reading an answer's body raises when the connection drops or stalls past the timeout."""

Value = t.Union[str, None, list[tuple[str, "Value"]]]  # noqa: UP007 - a runtime alias
"""An element's content: its text when it has no children, else its children as (name, value)."""


def soap_url(settings: PlanfulSettings) -> str:
    """`soap_url` when set, else the service path on the tenant host `<subdomain>.planful.com`.

    The contract only observed `https://epmNN.hostanalytics.com/HostAPI/HostAPI_StateFree.asmx`;
    the tenant host is a guess, which the connection check reports clearly when wrong.
    """
    if settings.soap_url:
        return checked_base_url(settings.soap_url, "soap_url")
    return f"https://{structured_subdomain(settings.subdomain or '')}.{PLANFUL_DOMAIN}{SOAP_PATH}"


def envelope(operation: str, credentials: Iterable[str | None], body: str = "") -> bytes:
    """The request envelope of `operation`: the three credentials, then `body` (already XML)."""
    login, password, tenant = (escape(value or "") for value in credentials)
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<soap:Envelope xmlns:soap="{SOAP_ENV}"><soap:Body>'
        f'<{operation} xmlns="{NAMESPACE}"><LoginName>{login}</LoginName>'
        f"<Password>{password}</Password><TenantCode>{tenant}</TenantCode>{body}</{operation}>"
        "</soap:Body></soap:Envelope>"
    ).encode()


def filter_collection(item: str, filters: Iterable[tuple[str, str, str]]) -> str:
    """`<FilterCollection>` of (field, operator, value) filters, items named `item`."""
    parts = [
        f"<{item}><Field>{field}</Field><FieldOperator>{operator}</FieldOperator>"
        f"<Value><string>{escape(value)}</string></Value></{item}>"
        for field, operator, value in filters
    ]
    return f"<FilterCollection>{''.join(parts)}</FilterCollection>" if parts else ""


def value_of(element: etree._Element) -> Value:
    """Text of a leaf element; (name, value) pairs of a complex one."""
    if len(element) == 0:
        return element.text
    return [(child.tag[_NS_LENGTH:], value_of(child)) for child in element]


def named_value(element: etree._Element) -> tuple[str, Value]:
    """(local name, value) of an item."""
    return element.tag[_NS_LENGTH:], value_of(element)


def leaf_texts(element: etree._Element) -> dict[str, str | None]:
    """Local name to text of each child: for items whose children are all leaves (GLData)."""
    return {child.tag[_NS_LENGTH:]: child.text for child in element}


class StateFreeStream(PlanfulStream):
    """A stream read through one HostAPI_StateFree operation; items arrive as they are parsed.

    Subclasses name the `operation` and its `item` element and turn each item into a record.
    """

    family = "structured"
    credential_settings = "`login_name`, `password` and `tenant_code`"
    http_method = "POST"
    operation: t.ClassVar[str]
    item: t.ClassVar[str]
    last_answer: etree._Element | None = None
    """The `<XResponse>` element of the last answer read (its items freed): out parameters."""

    @property
    @override
    def url_base(self) -> str:
        parts = urlsplit(soap_url(self.settings))
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def path(self) -> str:  # type: ignore[override]  # a setting, not a class attribute
        return urlsplit(soap_url(self.settings)).path

    @override
    def get_new_paginator(self) -> None:
        return None

    @override
    def request_records(self, context: Context | None) -> Iterable[dict]:
        for name, value in self.call(self.operation, self.item, self.request_body(context)):
            yield self.record_from(name, value, context)

    def request_body(self, context: Context | None) -> str:
        """The request elements after the credentials (filters)."""
        return ""

    def record_from(self, name: str, value: Value, context: Context | None) -> dict:
        """The record of one item."""
        return dict(value) if isinstance(value, list) else {}

    # -- transport -------------------------------------------------------------------------

    def call(
        self,
        operation: str,
        item: str,
        body: str = "",
        convert: t.Callable[[etree._Element], t.Any] | None = None,
    ) -> Iterator[t.Any]:
        """Items of `operation`'s answer, parsed as they arrive: (element name, value) pairs,
        or what `convert` makes of each item element (before it is freed).

        One retry loop, `retry_max_tries` tries in all, whatever fails: 429, 5xx without a SOAP
        Fault and connection errors before the first item, and a connection that drops in the
        middle of an answer (a million-row answer takes a while); a SOAP Fault ends the run with
        one clear message. An answer asked again is read past the items already handed over: its
        item at that position must equal the last one handed over, else the run fails rather
        than skip or repeat rows of an answer that changed.
        """
        settings = self.settings
        credentials = (settings.login_name, settings.password, settings.tenant_code)
        payload = envelope(operation, credentials, body)
        handed_over, last, dropped, cause = 0, None, 0, ""

        def retried() -> str:
            """What is asked again, for the retry's log line."""
            if not dropped:
                return operation
            return (
                f"{operation} from item {handed_over + 1:,} (the connection dropped after "
                f"{handed_over:,} items: {cause})"
            )

        log = retry_logger(self.logger, retried, self.backoff_max_tries(), self.count_retry)
        for attempt in self.retry_loop(log):
            with attempt:
                response = self._post(operation, payload)
                position = 0
                try:
                    for value in self._items(operation, item, response, convert or named_value):
                        position += 1
                        if position < handed_over:
                            continue
                        if position == handed_over:
                            if value != last:
                                raise FatalAPIError(self._changed_message(operation, handed_over))
                            continue
                        handed_over, last = position, value
                        yield value
                    if position < handed_over:
                        raise FatalAPIError(self._changed_message(operation, handed_over))
                    return
                except DROPPED_ANSWER as error:
                    dropped += 1
                    cause = one_line(self.redact(str(error)))
                    if attempt.last:
                        msg = (
                            f"The connection dropped {dropped} times while {operation} "
                            f"answered (last after {handed_over:,} items: {cause}); the next "
                            "run reads this answer again. Check the network, or raise "
                            "`retry_max_tries` or `request_timeout`."
                        )
                        raise FatalAPIError(msg) from None
                    raise
                finally:
                    response.close()

    @staticmethod
    def _changed_message(operation: str, handed_over: int) -> str:
        return (
            f"{operation} answered differently when asked again after a dropped connection "
            f"(item {handed_over:,} is not the one read before): the {handed_over:,} items "
            "already read are kept, the rest is not read, and the next run reads this answer "
            "again."
        )

    def _post(self, operation: str, payload: bytes) -> requests.Response:
        self.count_request()  # read as it streams, outside singer-sdk's timed requests
        response = self.requests_session.post(
            soap_url(self.settings),
            data=payload,
            headers={
                "Content-Type": "text/xml; charset=utf-8",
                "SOAPAction": f'"{NAMESPACE}/{operation}"',
            },
            timeout=self.timeout,
            stream=True,
            allow_redirects=False,
        )
        self._check_status(operation, response)
        return response

    def _check_status(self, operation: str, response: requests.Response) -> None:
        """Faults and wrong hosts end the run; overload and outages are retried."""
        status = response.status_code
        content_type = response.headers.get("Content-Type", "").lower()
        is_xml = "xml" in content_type
        if status == HTTPStatus.OK and is_xml:
            return
        if is_xml and status == HTTPStatus.INTERNAL_SERVER_ERROR:
            text = response.content[: PROLOG_LIMIT * 4]
            fault = self._fault_text(text)
            if fault is not None:
                raise FatalAPIError(self._fault_message(operation, fault))
        if is_retriable_status(status):
            raise RetriableAPIError(
                f"{operation}: HTTP {status} from the Planful web service", response
            )
        msg = (
            f"No Planful SOAP web service answered {operation} at {soap_url(self.settings)} "
            f"(HTTP {status}, {content_type or 'no content type'}): check `soap_url` "
            f"(observed form: {OBSERVED_SOAP_URL}, with your pod's number) or `subdomain`."
        )
        raise FatalAPIError(msg)

    def _fault_text(self, body: bytes) -> str | None:
        """The faultstring of a Fault body (None when the body is no SOAP Fault)."""
        self._refuse_dtd(body, "a SOAP fault")
        try:
            root = etree.fromstring(body, parser=_safe_parser())
        except etree.XMLSyntaxError:
            return None
        fault = root.find(f"{{{SOAP_ENV}}}Body/{_FAULT}")
        if fault is None:
            return None
        return " ".join((fault.findtext("faultstring") or "").split())

    def _fault_message(self, operation: str, fault: str) -> str:
        fault = one_line(self.redact(fault))
        if _LOGIN_WORDS.search(fault):
            return (
                f"Planful refused the web-service login for {operation}: {fault} "
                f"Check {self.credential_settings} (Web Services user; the tenant code comes "
                "from Planful Support)."
            )
        return f"Planful answered {operation} with a SOAP fault: {fault}"

    @staticmethod
    def _refuse_dtd(head: bytes, where: str) -> None:
        """Refuse a DTD (the only place entities can be declared) before parsing anything.

        Outside markup `<!` cannot appear in well-formed XML, so a match is a DTD or a comment
        about one, never data.
        """
        upper = head.upper()
        if b"<!DOCTYPE" in upper or b"<!ENTITY" in upper:
            msg = (
                f"Refused {where} from the Planful web service: it declares a DTD or entities, "
                "which Planful never sends and which could read local files or expand without "
                "bound. Nothing from this response was used."
            )
            raise FatalAPIError(msg)

    def _items(
        self,
        operation: str,
        item: str,
        response: requests.Response,
        convert: t.Callable[[etree._Element], t.Any],
    ) -> Iterator[t.Any]:
        parser = etree.XMLPullParser(
            events=("end",),
            tag=(f"{{{NAMESPACE}}}{item}", _FAULT),
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
        )
        result_tag = f"{{{NAMESPACE}}}{operation}Result"
        try:
            for chunk in self._checked_chunks(operation, response):
                parser.feed(chunk)
                yield from self._drain(operation, parser, result_tag, convert)
            root = parser.close()
            yield from self._drain(operation, parser, result_tag, convert)
        except etree.XMLSyntaxError as exc:
            msg = f"The answer to {operation} is not well-formed XML: {exc}"
            raise FatalAPIError(msg) from None
        answer = f"{{{SOAP_ENV}}}Body/{{{NAMESPACE}}}{operation}Response"
        self.last_answer = root.find(answer) if root.tag == f"{{{SOAP_ENV}}}Envelope" else None
        if self.last_answer is None:
            # XML, but no answer to this operation: reading it as "no items" would lose data.
            raise shape_error(
                f"{operation} (SOAP)",
                f"<{operation}Response> in a SOAP body",
                etree.tostring(root, encoding="unicode"),
            )

    def _checked_chunks(self, operation: str, response: requests.Response) -> Iterator[bytes]:
        """The body in chunks; the first PROLOG_LIMIT bytes are checked for a DTD first."""
        head: bytes | None = b""
        for chunk in response.iter_content(CHUNK_BYTES):
            if head is None:
                yield chunk
                continue
            head += chunk
            if len(head) >= PROLOG_LIMIT:
                self._refuse_dtd(head, f"the answer to {operation}")
                yield head
                head = None
        if head:
            self._refuse_dtd(head, f"the answer to {operation}")
            yield head

    def _drain(
        self,
        operation: str,
        parser: etree.XMLPullParser,
        result_tag: str,
        convert: t.Callable[[etree._Element], t.Any],
    ) -> Iterator[t.Any]:
        """Items completed so far; each is freed (and unlinked) once handed over."""
        for _, element in parser.read_events():
            if element.tag == _FAULT:
                fault = " ".join((element.findtext("faultstring") or "").split())
                raise FatalAPIError(self._fault_message(operation, fault))
            parent = element.getparent()
            if parent is None or parent.tag != result_tag:
                msg = (
                    f"The answer to {operation} has an item outside "
                    f"<{operation}Result>: the service answered another operation"
                )
                raise FatalAPIError(msg)
            yield convert(element)
            element.clear()
            while element.getprevious() is not None:
                del parent[0]


def _safe_parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
