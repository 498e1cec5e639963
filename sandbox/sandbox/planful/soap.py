"""Planful's SOAP web service "HostAPI_StateFree" (ASMX), per `shared/api/planful-soap.md`.

Served on `POST <soap_path>` (default `/HostAPI/HostAPI_StateFree.asmx`, matched without regard
to case as IIS does). Operations: `GLData_RetrieveWithLogin`, `Segment1_RetrieveWithLogin` …
`Segment8_RetrieveWithLogin`, `getAllSegmentsWithLogin`, `getALLCurrenciesWithLogin`,
`getAllCurrencyTypesWithLogin`, `getVersionWithLogin`, `Get_Users`. Dispatch is on `SOAPAction`
(quoted or not), falling back to the body's first element when the header is absent.

Responses have the ASMX text form (§2.9): `soap:` envelope, the response element carries the
default namespace, children unprefixed, elements in WSDL order, value-typed members always
present, null strings omitted. GL rows are computed from their index and streamed in chunks, so a
million-row answer never sits in memory.

Faults are SOAP 1.1 with HTTP 500 (§6, a GUESS for retrieve operations): bad credentials, a
missing mandatory GL filter (Scenario, AmountType, FiscalYear), an operator other than Equals or
Contains, more than one value per filter, a bad enum text, an unknown SOAPAction.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

from sandbox.core import Request, Response
from sandbox.planful.structured import ACCOUNT_TYPES, CURRENCIES, CURRENCY_TYPES

if TYPE_CHECKING:
    from sandbox.planful.app import PlanfulEmulator
    from sandbox.planful.structured import Segment

NAMESPACE = "http://www.HostAnalytics.com/API/SOAP/StateFree/Common/2009/03/19"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
DEFAULT_SOAP_PATH = "/HostAPI/HostAPI_StateFree.asmx"
LOGIN_NAME = "ws.sandbox@acme-finance.example"
PASSWORD = "sbx-ws-9d41f0c2b7e6a5"
TENANT_CODE = "ACME01"
AMOUNT_TYPES = ("OpeningBalance", "MTD", "QTD", "YTD", "AccountBased")
GL_FIELDS = (
    "Scenario",
    *(f"Segment{n}" for n in range(1, 9)),
    "Reporting",
    "FiscalYear",
    "FiscalPeriod",
    "AmountType",
)
OPERATORS = ("Equals", "Contains")
CHUNK_BYTES = 1 << 16
XML_UTF8 = "text/xml; charset=utf-8"
HEAD = (
    '<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org'
    '/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xmlns:xsd="http://www.w3.org/2001/XMLSchema"><soap:Body>'
)
TAIL = "</soap:Body></soap:Envelope>"
MEMBER_TYPES = {"Leaf": "LeafMember", "Rollup": "ConsolMember"}
ACCOUNT_GROUPS = {"Revenue": "Income"}
BALANCE_GROUPS = {"Asset", "Liability", "Equity"}
VARIANCE = {"Flip": "Negative", "Non Flip": "Positive"}


class SoapFault(Exception):  # noqa: N818 - it is an answer, not an error of ours
    """Answered as a SOAP 1.1 Fault with HTTP 500."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def server_fault(message: str) -> SoapFault:
    """ASMX wraps an exception of the service in this text (§6)."""
    return SoapFault("Server", f"Server was unable to process request. ---> {message}")


def client_fault(message: str) -> SoapFault:
    """What XmlSerializer says about a request it cannot read (§6)."""
    return SoapFault("Client", f"There is an error in XML document: {message}")


@dataclass(frozen=True)
class Call:
    """One accepted call, as tests read it: the operation and its filters (no credentials)."""

    operation: str
    filters: dict[str, tuple[str, str]]


def fault_response(code: str, message: str) -> Response:
    body = (
        f"{HEAD}<soap:Fault><faultcode>soap:{code}</faultcode>"
        f"<faultstring>{escape(message)}</faultstring><detail /></soap:Fault>{TAIL}"
    )
    return Response(500, body.encode(), {}, XML_UTF8)


def element(tag: str, value: Any) -> str:
    """`<tag>value</tag>`, nothing for None (null strings are omitted, §2.7)."""
    if value is None:
        return ""
    return f"<{tag}>{escape(str(value))}</{tag}>"


def name_code(tag: str, code: str | None, name: str | None) -> str:
    if code is None:
        return ""
    return f"<{tag}>{element('Code', code)}{element('Name', name)}</{tag}>"


class StateFreeService:
    """The SOAP service of one emulator: parsing, auth, dispatch, encoding."""

    def __init__(self, emulator: PlanfulEmulator) -> None:
        self.emulator = emulator
        self.calls: list[Call] = []
        self.operations = {
            "GLData_RetrieveWithLogin": self.gl_data,
            "getAllSegmentsWithLogin": self.all_segments,
            "getALLCurrenciesWithLogin": self.currencies,
            "getAllCurrencyTypesWithLogin": self.currency_types,
            "getVersionWithLogin": self.version,
            "Get_Users": self.users,
            **{f"Segment{n}_RetrieveWithLogin": self.segment_members for n in range(1, 9)},
        }

    def serves(self, path: str) -> bool:
        wanted = str(self.emulator.setting("soap_path") or DEFAULT_SOAP_PATH)
        return path.lower() == wanted.lower()

    def handle(self, request: Request) -> Response:
        if request.method != "POST":
            return Response(
                405, b"<html><body>Use POST.</body></html>", {}, "text/html; charset=utf-8"
            )
        try:
            operation, body = self._operation(request)
            self._redact(request, body)
            self._authenticate(body)
            return self.operations[operation](operation, body)
        except SoapFault as fault:
            return fault_response(fault.code, fault.message)

    # -- request ------------------------------------------------------------------------

    def _operation(self, request: Request) -> tuple[str, ET.Element]:
        upper = request.body.upper()
        if b"<!DOCTYPE" in upper or b"<!ENTITY" in upper:
            raise client_fault("DTD is prohibited.")
        try:
            root = ET.fromstring(request.body)
        except ET.ParseError as exc:
            raise client_fault(f"{exc}.") from None
        body = root.find(f"{{{SOAP_ENV}}}Body")
        first = body[0] if body is not None and len(body) else None
        if root.tag != f"{{{SOAP_ENV}}}Envelope" or first is None:
            raise SoapFault("Client", "The request is not a SOAP 1.1 envelope.")
        action = (request.headers.get("SOAPAction") or "").strip().strip('"')
        operation = action.removeprefix(NAMESPACE + "/") if action else first.tag
        operation = operation.removeprefix(f"{{{NAMESPACE}}}")
        if operation not in self.operations or first.tag != f"{{{NAMESPACE}}}{operation}":
            raise SoapFault(
                "Client", f"Server did not recognize the value of HTTP Header SOAPAction: {action}."
            )
        return operation, first

    @staticmethod
    def _redact(request: Request, body: ET.Element) -> None:
        """Keep the password out of the request log (it travels in the body)."""
        password = _text(body, "Password")
        if password:
            request.body = request.body.replace(escape(password).encode(), b"***")

    def _authenticate(self, body: ET.Element) -> None:
        given = [_text(body, name) for name in ("LoginName", "Password", "TenantCode")]
        expected = [
            str(self.emulator.setting(name)) for name in ("login_name", "password", "tenant_code")
        ]
        if given != expected:
            echoed = (
                f" for user '{given[0]}' with password '{given[1]}'"
                if self.emulator.setting("soap_fault_echoes_credentials")
                else ""
            )
            raise SoapFault(
                "Server",
                "Server was unable to process request. ---> Login failed"
                f"{echoed}: invalid Login Name, Password or Tenant Code.",
            )

    def _filters(self, body: ET.Element, fields: Sequence[str]) -> dict[str, tuple[str, str]]:
        """FilterCollection as {field: (operator, value)}; one value per field (§4.1)."""
        filters: dict[str, tuple[str, str]] = {}
        collection = body.find(f"{{{NAMESPACE}}}FilterCollection")
        for item in collection if collection is not None else ():
            field, operator = _text(item, "Field"), _text(item, "FieldOperator")
            values = [
                v.text or "" for v in item.iterfind(f"{{{NAMESPACE}}}Value/{{{NAMESPACE}}}string")
            ]
            if field is None or field not in fields:
                raise client_fault(f"'{field}' is not a valid value for Field.")
            if operator not in OPERATORS:
                raise server_fault(
                    f"Operator '{operator}' is not supported; use Equals or Contains."
                )
            if len(values) != 1:
                raise server_fault(f"Filter on {field} must have exactly one value.")
            filters[field] = (operator, values[0])
        return filters

    def _answer(self, operation: str, parts: Iterator[str] | str) -> Response:
        """The response envelope; an empty array is `<XResult />`, or (switch
        `soap_empty_result: omitted`) a null result without the element (§6)."""
        head = f'{HEAD}<{operation}Response xmlns="{NAMESPACE}"><{operation}Result>'
        tail = f"</{operation}Result></{operation}Response>{TAIL}"
        if parts == "":
            if self.emulator.setting("soap_empty_result") == "omitted":
                body = f'{HEAD}<{operation}Response xmlns="{NAMESPACE}" />{TAIL}'
            else:
                body = (
                    f'{HEAD}<{operation}Response xmlns="{NAMESPACE}"><{operation}Result />'
                    f"</{operation}Response>{TAIL}"
                )
            return Response(200, body.encode(), {}, XML_UTF8)
        if isinstance(parts, str):
            return Response(200, (head + parts + tail).encode(), {}, XML_UTF8)
        return Response(200, _chunks(head, parts, tail), {}, XML_UTF8)

    # -- operations ---------------------------------------------------------------------

    def gl_data(self, operation: str, body: ET.Element) -> Response:
        filters = self._filters(body, GL_FIELDS)
        missing = [name for name in ("Scenario", "AmountType", "FiscalYear") if name not in filters]
        if missing:
            raise server_fault(f"{', '.join(missing)} filter is mandatory.")
        self.calls.append(Call(operation, filters))
        _, amount_type = filters["AmountType"]
        if amount_type not in AMOUNT_TYPES:
            raise client_fault(
                f"Instance validation error: '{amount_type}' is not a valid value for AmountType."
            )
        _, year_text = filters["FiscalYear"]
        _, scenario = filters["Scenario"]
        period = filters.get("FiscalPeriod", ("Equals", ""))[1]
        if not year_text.strip().isdigit() or (period and not period.strip().isdigit()):
            return self._answer(operation, "")
        ledger = self.emulator.ledger
        if scenario not in ledger.scenarios:
            if self.emulator.setting("unknown_scenario") == "empty":
                return self._answer(operation, "")
            raise server_fault(f"Scenario '{scenario}' does not exist.")
        month = int(period) if period else None
        if month is not None and not 1 <= month <= self.emulator.fiscal_periods():
            return self._answer(operation, "")
        reporting = filters.get("Reporting", ("Equals", None))[1]
        rows = self.emulator.gl_slice(scenario, int(year_text), month, reporting)
        if not len(rows):
            return self._answer(operation, "")
        segment_filters = {
            int(name.removeprefix("Segment")) - 1: value
            for name, value in filters.items()
            if name.startswith("Segment")
        }
        items = ledger.xml_rows(
            rows, amount_type, segment_filters, self.emulator.setting("soap_gl_extra")
        )
        exact = self.emulator.setting("gl_exact_amount")
        if exact:
            items = _first_amount(items, str(exact))
        calculated = self.emulator.setting("soap_gl_calculated")
        if calculated != "false":
            items = _calculated(items, calculated)
        return self._answer(operation, items)

    def segment_members(self, operation: str, body: ET.Element) -> Response:
        number = int(operation[len("Segment")])
        extra = {
            1: (
                "AccountGroup",
                "AccountType",
                "CreditDebit",
                "NormalDataInput",
                "CurrencyType",
                "Variance",
            ),
            2: ("Currency",),
        }.get(number, ())
        fields = ("All", "Code", "Name", "MemberType", "RollupOperator", "ActiveStatus", *extra)
        filters = self._filters(body, fields)
        self.calls.append(Call(operation, filters))
        if not filters and self.emulator.setting("soap_segment_filter_required"):
            return self._answer(operation, "")  # the other reading of an empty FilterCollection
        segment = self.emulator.segment(number)
        members = segment.members if segment else []
        newer = bool(self.emulator.setting("soap_member_id"))
        parts = (
            segment_member_xml(number, member, newer)
            for member in members
            if _member_matches(member, filters)
        )
        return self._answer(operation, "".join(parts))

    def all_segments(self, operation: str, body: ET.Element) -> Response:
        self.calls.append(Call(operation, {}))
        return self._answer(operation, "".join(coa_segment_xml(s) for s in self.emulator.segments))

    def currencies(self, operation: str, body: ET.Element) -> Response:
        self.calls.append(Call(operation, {}))
        items = (name_code("Currency", c["Code"], c["Name"]) for c in self.emulator.currencies)
        return self._answer(operation, "".join(items))

    def currency_types(self, operation: str, body: ET.Element) -> Response:
        self.calls.append(Call(operation, {}))
        items = (name_code("CurrencyType", code, name) for code, name in CURRENCY_TYPES.items())
        return self._answer(operation, "".join(items))

    def users(self, operation: str, body: ET.Element) -> Response:
        """`Get_Users(startIndex, out hasMore)`: `soap_users_page_size` users a call (5,000,
        help.planful.com). What `startIndex` counts is not public (switch
        `soap_users_start_index`): "offset" the users before the first one answered, "one_based"
        the position of the first one counted from 1, "page" the page number from 0."""
        text = (_text(body, "startIndex") or "0").strip()
        if not text.isdigit():
            raise client_fault(f"Input string '{text}' was not in a correct format.")
        start = int(text)
        self.calls.append(Call(operation, {"startIndex": ("Equals", text)}))
        size = int(self.emulator.setting("soap_users_page_size"))
        first = {
            "offset": start,
            "one_based": max(start, 1) - 1,
            "page": start * size,
        }[str(self.emulator.setting("soap_users_start_index"))]
        users = self.emulator.users
        page = users[first : first + size]
        items = "".join(user_xml(user) for user in page)
        more = "true" if first + size < len(users) else "false"
        result = (
            f"<{operation}Result>{items}</{operation}Result>"
            if items
            else (f"<{operation}Result />")
        )
        answer = (
            f'{HEAD}<{operation}Response xmlns="{NAMESPACE}">{result}<hasMore>{more}</hasMore>'
            f"</{operation}Response>{TAIL}"
        )
        return Response(200, answer.encode(), {}, XML_UTF8)

    def version(self, operation: str, body: ET.Element) -> Response:
        self.calls.append(Call(operation, {}))
        return self._answer(operation, element("Version", "26.11.0.1") + element("Name", "Planful"))


def _chunks(head: str, parts: Iterator[str], tail: str) -> Iterator[bytes]:
    """The body in pieces of about CHUNK_BYTES."""
    buffer = [head]
    size = len(head)
    for part in parts:
        buffer.append(part)
        size += len(part)
        if size >= CHUNK_BYTES:
            yield "".join(buffer).encode()
            buffer, size = [], 0
    buffer.append(tail)
    yield "".join(buffer).encode()


def _first_amount(items: Iterator[str], amount: str) -> Iterator[str]:
    """`items` with the first one's `<Amount>` text replaced by `amount` (switch
    `gl_exact_amount`: a decimal with more digits than a float holds)."""
    first = next(items, None)
    if first is None:
        return
    head, _, rest = first.partition("<Amount>")
    yield f"{head}<Amount>{escape(amount)}</Amount>{rest.partition('</Amount>')[2]}"
    yield from items


FALSE = "<Calculated>false</Calculated>"


def _calculated(items: Iterator[str], variant: str) -> Iterator[str]:
    """Switch `soap_gl_calculated`: "twins" serves the first row again with `Calculated` true
    (two rows differing only in it, which the contract does not rule out, §12); "omitted"
    leaves the element out, as ASMX does for a null string (§2.7)."""
    if variant == "omitted":
        yield from (item.replace(FALSE, "") for item in items)
        return
    if variant != "twins":
        msg = f"soap_gl_calculated is false, twins or omitted, got {variant!r}"
        raise ValueError(msg)
    first = next(items, None)
    if first is None:
        return
    yield first
    yield first.replace(FALSE, "<Calculated>true</Calculated>")
    yield from items


def _text(parent: ET.Element, name: str) -> str | None:
    child = parent.find(f"{{{NAMESPACE}}}{name}")
    return None if child is None else (child.text or "")


def _member_matches(member: Mapping[str, Any], filters: Mapping[str, tuple[str, str]]) -> bool:
    for field, (operator, value) in filters.items():
        if field == "All":
            continue
        actual = str(
            member.get(field) if field != "MemberType" else MEMBER_TYPES.get(member["MemberType"])
        )
        if (operator == "Equals" and actual != value) or (
            operator == "Contains" and value not in actual
        ):
            return False
    return True


def user_xml(user: Mapping[str, Any]) -> str:
    """One `<User>` item (element names are a GUESS: the export's columns, §12)."""
    texts = "".join(element(name, value) for name, value in user.items() if name != "Status")
    return f"<User>{texts}<Status>{str(user['Status']).lower()}</Status></User>"


def coa_segment_xml(segment: Segment) -> str:
    return (
        f"<COASegment>{element('Name', segment.name)}<Type>Segment{segment.number}</Type>"
        f"<ActiveStatus>Active</ActiveStatus>{element('DisplayName', segment.name)}"
        "<Visibility>Visible</Visibility></COASegment>"
    )


def segment_member_xml(number: int, member: Mapping[str, Any], newer: bool) -> str:
    """One `SegmentN` item in P1's element order (§3.4); `newer` puts `MemberId` first (D2)."""
    parts = [element("MemberId", member["MemberId"]) if newer else ""]
    parts += [
        element("Code", member["Code"]),
        element("Name", member["Name"]),
        f"<RollupOperator>{element('Sign', member['RollupOperator'])}</RollupOperator>",
        f"<MemberType>{MEMBER_TYPES[member['MemberType']]}</MemberType>",
        f"<ActiveStatus>{member['ActiveStatus']}</ActiveStatus>",
    ]
    if number == 1:
        kind = member.get("AccountType") or "Statistical"
        credit_debit, variance = ACCOUNT_TYPES.get(kind, ("Debit", "Non Flip"))
        group = ACCOUNT_GROUPS.get(kind, kind)
        normal = "YTD" if member.get("NormalDataInput") == "Balance" else "MTD"
        parts += [
            f"<AccountType>{'Balance' if group in BALANCE_GROUPS else 'Flow'}</AccountType>",
            f"<AccountGroup>{group}</AccountGroup>",
            f"<NormalDataInput>{normal}</NormalDataInput>",
            name_code(
                "CurrencyType", member.get("CurrencyTypeCode"), member.get("CurrencyTypeName")
            ),
            f"<CreditDebit>{credit_debit}</CreditDebit>",
            f"<Variance>{VARIANCE[variance]}</Variance>",
        ]
    if number == 2:
        code = member.get("CurrencyCode")
        parts.append(name_code("Currency", code, CURRENCIES.get(code or "")))
    parent = member.get("ParentMemberCode") if number == 1 else member.get("ParentCode")
    parts.append(element("ParentCode", parent))
    levels = "".join(
        f"<RollupLevel>{element('Code', level['Code'])}{element('Name', level['Name'])}"
        f"<Level>{level['Level']}</Level></RollupLevel>"
        for level in member["RollupLevels"]
    )
    attributes = "".join(
        f"<Attribute>{element('Name', a['Name'])}{element('Value', a['Value'])}</Attribute>"
        for a in member["Attributes"]
    )
    parts += [
        f"<RollupLevels>{levels}</RollupLevels>" if levels else "",
        f"<Attributes>{attributes}</Attributes>" if attributes else "",
        f"<Sort>{member['Sort']}</Sort>",
    ]
    return f"<Segment{number}>{''.join(parts)}</Segment{number}>"
