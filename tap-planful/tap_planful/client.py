"""The one place that talks HTTP to Planful: base URLs, authentication, retries, errors, parsing.

Planful has two unrelated API families. Structured Planning lives on the tenant host
(`https://{subdomain}.planful.com`) and takes HTTP Basic with the Access ID and Access Key;
Dynamic Planning lives on its own host (`https://modelapi.hostanalytics.com/api` by default)
and takes an `X-ACCESS-TOKEN` header. Each family has a base stream class here.
"""

from __future__ import annotations

import decimal
import typing as t
from functools import cached_property
from http import HTTPStatus
from xml.etree.ElementTree import Element, tostring

import defusedxml
import defusedxml.ElementTree
import msgspec
from planful_plansource_planhat_core.redact import Redactor
from planful_plansource_planhat_core.rest import ConnectorRESTStream
from planful_plansource_planhat_core.urls import checked_base_url
from planful_plansource_planhat_core.writer import flush_open_writers
from singer_sdk.authenticators import APIKeyAuthenticator, BasicAuthenticator
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError
from singer_sdk.pagination import BaseAPIPaginator
from typing_extensions import override

from tap_planful.settings import (
    DEFAULT_DYNAMIC_API_URL,
    PLANFUL_DOMAIN,
    ReadsSettings,
    structured_subdomain,
)

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping
    from xml.etree.ElementTree import Element as XMLElement

    import requests
    from planful_plansource_planhat_core.retry import RetryPolicy
    from singer_sdk.helpers.types import Context

    from tap_planful.settings import PlanfulSettings

_json_decoder = msgspec.json.Decoder(float_hook=decimal.Decimal)  # every digit of a number
_row_counter = msgspec.json.Decoder(list[msgspec.Raw])


def structured_base_url(settings: PlanfulSettings) -> str:
    """`api_url` when set, else `https://{subdomain}.planful.com`."""
    if settings.api_url:
        return checked_base_url(settings.api_url, "api_url")
    if not settings.subdomain:
        msg = "Structured Planning needs `subdomain` (or `api_url`)"
        raise ConfigValidationError(msg, errors=[msg])
    return f"https://{structured_subdomain(settings.subdomain)}.{PLANFUL_DOMAIN}"


def dynamic_base_url(settings: PlanfulSettings) -> str:
    """`dynamic_api_url` when set, else the documented US production host."""
    return checked_base_url(settings.dynamic_api_url or DEFAULT_DYNAMIC_API_URL, "dynamic_api_url")


def parse_xml(text: str | bytes, where: str) -> XMLElement:
    """Parse an XML body safely: no DTD, no entities, no external references."""
    try:
        return defusedxml.ElementTree.fromstring(text, forbid_dtd=True)
    except defusedxml.DefusedXmlException as exc:
        msg = (
            f"Refused the XML response of {where}: it declares a DTD or entities "
            f"({type(exc).__name__}), which Planful never sends and which could read local "
            "files or expand without bound. Nothing from this response was used."
        )
        raise FatalAPIError(msg) from None
    except defusedxml.ElementTree.ParseError as exc:
        msg = f"The XML response of {where} is not well-formed: {exc}"
        raise FatalAPIError(msg) from None


def xml_text(element: XMLElement, tag: str) -> str | None:
    """Text of the first child called `tag` (None when absent or empty)."""
    child = element.find(tag)
    text = child.text if child is not None else None
    return text.strip() if text and text.strip() else None


def build_xml(tag: str, children: Iterable[tuple[str, t.Any]]) -> bytes:
    """A small XML document: `children` are (tag, text) pairs or (tag, list of pairs)."""

    def add(parent: XMLElement, items: Iterable[tuple[str, t.Any]]) -> None:
        for name, value in items:
            child = Element(name)
            parent.append(child)
            if isinstance(value, list):
                add(child, value)
            elif value is not None:
                child.text = str(value)

    root = Element(tag)
    add(root, children)
    return tostring(root, encoding="utf-8", xml_declaration=True)


SHAPE_SAMPLE_LIMIT = 200


def shape_error(where: str, expected: str, arrived: t.Any) -> FatalAPIError:
    """An answer of an unexpected shape: what was expected and what arrived (cut short)."""
    if isinstance(arrived, (bytes, str)):
        sample = arrived if isinstance(arrived, str) else arrived.decode("utf-8", "replace")
    elif isinstance(arrived, Element):
        sample = tostring(arrived, encoding="unicode")
    else:
        sample = msgspec.json.encode(arrived).decode()
    sample = " ".join(sample.split())
    if len(sample) > SHAPE_SAMPLE_LIMIT:
        sample = sample[:SHAPE_SAMPLE_LIMIT] + "..."
    return FatalAPIError(f"The answer of {where} has no {expected}; it was: {sample}")


class StartIndexPaginator(BaseAPIPaginator[int]):
    """SOAP-style paging some Planful lists use: `startIndex` moves on while `X-Has-More: true`.

    The next index counts the rows received, so no page size has to be assumed.
    """

    @override
    def has_more(self, response: requests.Response) -> bool:
        return response.headers.get("X-Has-More", "").strip().lower() == "true"

    @override
    def get_next(self, response: requests.Response) -> int | None:
        received = len(_row_counter.decode(response.content))
        return self.current_value + received if received else None


class PlanfulStream(ReadsSettings, ConnectorRESTStream[int]):
    """What both families share: retries with Retry-After, error translation, fast JSON."""

    service = "Planful"
    error_hints: t.ClassVar[Mapping[int, str]] = {
        HTTPStatus.UNAUTHORIZED: (
            "Planful did not accept the credentials: check {stream.credential_settings}."
        ),
        HTTPStatus.FORBIDDEN: (
            "The credentials are valid but not allowed to read this: check the Planful "
            "user behind {stream.credential_settings} and its web-service access."
        ),
    }
    family: t.ClassVar[str]
    credential_settings: t.ClassVar[str]
    partitions_from: t.ClassVar[str | None] = None
    """Where a partitioned stream's partitions come from, for the log line when there are none."""

    @cached_property
    @override
    def retry_policy(self) -> RetryPolicy:
        return self.settings.retry

    @cached_property
    @override
    def redact(self) -> Redactor:
        return Redactor(self.settings.secrets)

    # -- records ---------------------------------------------------------------------------

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Nothing at all when the stream is partitioned and there is no partition.

        The SDK syncs an empty `partitions` list as one call with no context, which would send
        a request with blank model, scenario or segment names.
        """
        if context is None and self.partitions == []:
            self.logger.info("%s: nothing to read; it needs %s", self.name, self.partitions_from)
            return iter(())
        return self._flushed_at_end(self.partition_records(context))

    @staticmethod
    def _flushed_at_end(records: Iterable[dict[str, t.Any]]) -> Iterator[dict[str, t.Any]]:
        """The records; once read (or when reading fails) the emitted ones leave the writer's
        buffer, so none waits for a STATE that may never come (a failed run emits none after
        them, so no bookmark passes them)."""
        try:
            yield from records
        finally:
            flush_open_writers()

    def partition_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """The records of one partition (of the whole stream when it has none)."""
        return super().get_records(context)

    # -- parsing ---------------------------------------------------------------------------

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict]:
        try:
            body = _json_decoder.decode(response.content)
        except msgspec.DecodeError as exc:
            msg = f"The response of {self.http_method} {self.path} is not JSON: {exc}"
            raise FatalAPIError(msg) from None
        return self.records_from(body)

    def records_from(self, body: t.Any) -> Iterable[dict]:
        """Records in a decoded body; Planful answers with bare arrays."""
        if not isinstance(body, list):
            where = f"{self.http_method} {self.path}"
            msg = f"Expected a JSON array from {where}, got {type(body).__name__}"
            raise FatalAPIError(msg)
        return body


class StructuredPlanningStream(PlanfulStream):
    """Structured Planning (PCR): Basic auth on the tenant host, every path a setting."""

    family = "structured"
    credential_settings = "`access_id` and `access_key`"
    error_hints: t.ClassVar[Mapping[int, str]] = {
        **PlanfulStream.error_hints,
        HTTPStatus.NOT_FOUND: (
            "No such endpoint on this tenant: check `path_overrides.{stream.name}` "
            "(now {stream.path!r}) and `subdomain` / `api_url`."
        ),
    }

    @property
    @override
    def url_base(self) -> str:
        return structured_base_url(self.settings)

    @property
    def path(self) -> str:  # type: ignore[override]  # a setting, not a class attribute
        """The `path_overrides` entry for this stream, else the contract's default."""
        return self.settings.path_of(self.name)

    @cached_property
    @override
    def authenticator(self) -> BasicAuthenticator:
        return BasicAuthenticator(
            username=self.settings.access_id or "",
            password=self.settings.access_key or "",
        )

    @property
    @override
    def http_headers(self) -> dict:
        return {"Accept": "application/json"}

    @override
    def get_new_paginator(self) -> BaseAPIPaginator:
        return StartIndexPaginator(start_value=0)

    @override
    def get_url_params(
        self, context: Context | None, next_page_token: int | None
    ) -> dict[str, t.Any]:
        return {"startIndex": next_page_token or None}


class DynamicPlanningStream(PlanfulStream):
    """Dynamic Planning: `X-ACCESS-TOKEN` on the model API host; exports are POSTs."""

    family = "dynamic"
    credential_settings = "`access_token`"
    error_hints: t.ClassVar[Mapping[int, str]] = {
        **PlanfulStream.error_hints,
        HTTPStatus.PRECONDITION_FAILED: (
            "Planful says a required header is missing: check `access_token`."
        ),
        HTTPStatus.NOT_FOUND: (
            "Planful does not know this model, dimension or calculation: check `models`, "
            "`source_models` and `calculations`, and `dynamic_api_url`."
        ),
    }

    @property
    @override
    def url_base(self) -> str:
        return dynamic_base_url(self.settings)

    @cached_property
    @override
    def authenticator(self) -> APIKeyAuthenticator:
        return APIKeyAuthenticator(key="X-ACCESS-TOKEN", value=self.settings.access_token or "")

    @property
    @override
    def http_headers(self) -> dict:
        return {"Accept": "application/json"}

    @override
    def get_new_paginator(self) -> None:
        return None

    @override
    def request_records(self, context: Context | None) -> Iterable[dict]:
        self.requested = dict(context or {})  # what an answer without names was asked for
        return super().request_records(context)

    @property
    def where(self) -> str:
        """The request an answer belongs to, for messages."""
        model = self.requested.get("model") if hasattr(self, "requested") else None
        return f"{self.http_method} {self.path}" + (f" (model {model!r})" if model else "")


class DynamicPlanningXMLStream(DynamicPlanningStream):
    """Dynamic Planning endpoints that speak XML (external source models, calculations)."""

    payload_as_json = False
    http_method = "POST"

    @property
    @override
    def http_headers(self) -> dict:
        return {"Accept": "application/xml", "Content-Type": "application/xml"}

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict]:
        root = parse_xml(response.content, f"{self.http_method} {self.path}")
        return self.records_from_xml(root)

    def records_from_xml(self, root: XMLElement) -> Iterable[dict]:
        """Records in a parsed XML body."""
        raise NotImplementedError
