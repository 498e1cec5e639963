"""Structured Planning streams read through the documented SOAP web service (HostAPI_StateFree).

Element names, order and types are those of `shared/api/planful-soap.md`. Each record keeps
every element the contract declares; an element it does not declare is left out and named once
in a warning, so RECORDs never carry fields their SCHEMA does not describe.
"""

from __future__ import annotations

import datetime
import decimal
import functools
import re
import typing as t
from functools import cached_property

from singer_sdk import Stream
from singer_sdk import typing as th
from singer_sdk.exceptions import FatalAPIError
from typing_extensions import override

from tap_planful.periods import Period
from tap_planful.settings import DEFAULT_AMOUNT_TYPES, ReadsSettings
from tap_planful.soap import (
    NAMESPACE,
    StateFreeStream,
    Value,
    filter_collection,
    leaf_texts,
)
from tap_planful.streams import (
    GL_KEY_TEXTS,
    MEMBER_ATTRIBUTES,
    NAME_CODE,
    SEGMENT_COLUMNS,
    GLPeriods,
    PeriodAnswer,
    SegmentsStream,
    UsersStream,
    is_actual,
    segment_partitions,
)

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from lxml import etree
    from singer_sdk.helpers.types import Context

ACTIVE_STATUSES = ("Active", "Inactive")
FILTER_ITEMS = {1: "Segment1Filter", 2: "Segment2Filter"}  # segments 3-8 take SegmentFilter
GL_ORDER = (*SEGMENT_COLUMNS, "Scenario", "Reporting", "Calculated", "Amount", "AmountType",
            "FiscalYear", "FiscalPeriod")  # fmt: skip
GL_ELEMENTS = frozenset(GL_ORDER)
SOAP_GL_KEY_TEXTS = (*GL_KEY_TEXTS, "Calculated")
"""`GL_KEY_TEXTS` and `Calculated`, which is part of the SOAP key."""
_SEGMENT_TYPE = re.compile(r"Segment([1-8])")


def whole(text: Value, element: str, where: str) -> int | None:
    """An `int` element's text as a number; anything else ends the run naming the element."""
    if text is None:
        return None
    if not isinstance(text, str):
        msg = f"{where}: <{element}> holds elements, not a whole number"
        raise FatalAPIError(msg)
    try:
        return int(text)
    except ValueError:
        if not text.strip():
            return None
        msg = f"{where}: <{element}> is {text[:40]!r}, not a whole number"
        raise FatalAPIError(msg) from None


def exact_decimal(text: str | None, element: str, where: str) -> decimal.Decimal | None:
    """A `decimal` element's text as an exact number: every digit is kept (a float would round
    amounts beyond 15-17 digits), and the RECORD writes it as the same JSON number."""
    if text is None:
        return None
    try:
        number = decimal.Decimal(text)
    except decimal.InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        if not text.strip():
            return None
        msg = f"{where}: <{element}> is {text[:40]!r}, not a number"
        raise FatalAPIError(msg) from None
    return number


def pairs(value: Value) -> list[tuple[str, Value]]:
    """Children of a complex element (none for a leaf or an absent one)."""
    return value if isinstance(value, list) else []


class UndeclaredElements:
    """Names elements the schema does not declare, once per stream, then leaves them out."""

    def __init__(self, stream: Stream, declared: t.AbstractSet[str]) -> None:
        self.stream, self.declared, self.seen = stream, declared, set[str]()

    def check(self, names: Iterable[str]) -> None:
        extra = set(names) - self.declared - self.seen
        if extra:
            self.seen |= extra
            self.stream.logger.warning(
                "%s: the web service sends elements the schema does not declare, left out: %s",
                self.stream.name,
                sorted(extra),
            )


class SoapSegmentsStream(StateFreeStream):
    """The COA segment slots (`getAllSegmentsWithLogin`); `Type` names the slot (`SegmentN`)."""

    name = "segments"
    operation = "getAllSegmentsWithLogin"
    item = "COASegment"
    primary_keys = ("SegmentNumber",)
    schema = SegmentsStream.schema
    elements: t.ClassVar[set[str]] = {"Name", "Type", "ActiveStatus", "DisplayName", "Visibility"}

    @cached_property
    def undeclared(self) -> UndeclaredElements:
        return UndeclaredElements(self, self.elements)

    @override
    def request_records(self, context: Context | None) -> Iterable[dict]:
        for record in super().request_records(context):
            if record:
                yield record

    @override
    def record_from(self, name: str, value: Value, context: Context | None) -> dict:
        fields = dict(pairs(value))
        self.undeclared.check(fields)
        slot = _SEGMENT_TYPE.fullmatch(str(fields.get("Type") or ""))
        if slot is None:
            return {}  # the GLData object type: not a segment
        return {
            "SegmentNumber": int(slot.group(1)),
            **{key: fields.get(key) for key in sorted(self.elements - {"Type"})},
            "Type": fields.get("Type"),
        }


class SoapSegmentMembersStream(StateFreeStream):
    """Members of each segment (`SegmentN_RetrieveWithLogin`), with parent, levels, attributes.

    The 2013 WSDL has no member id, so a member is keyed by its code; newer schemas add
    `MemberId` (kept when sent).
    """

    name = "segment_members"
    partitions_from = "segment numbers in `segments` (or segments defined in the tenant)"
    primary_keys = ("SegmentNumber", "Code")
    schema = th.PropertiesList(
        th.Property("SegmentNumber", th.IntegerType, required=True),
        th.Property("Code", th.StringType, required=True),
        th.Property("Name", th.StringType),
        th.Property("MemberId", th.IntegerType, description="Sent by newer schemas only"),
        th.Property("RollupOperator", th.StringType, description="The operator's `Sign`"),
        th.Property("MemberType", th.StringType, description="ConsolMember, LeafMember, ..."),
        th.Property("ActiveStatus", th.StringType),
        th.Property("AccountType", th.StringType, description="Segment 1 only"),
        th.Property("AccountGroup", th.StringType, description="Segment 1 only"),
        th.Property("NormalDataInput", th.StringType, description="Segment 1 only"),
        th.Property("CurrencyTypeCode", th.StringType, description="Segment 1 only"),
        th.Property("CurrencyTypeName", th.StringType, description="Segment 1 only"),
        th.Property("CreditDebit", th.StringType, description="Segment 1 only"),
        th.Property("Variance", th.StringType, description="Segment 1 only"),
        th.Property("CurrencyCode", th.StringType, description="Segment 2 only"),
        th.Property("CurrencyName", th.StringType, description="Segment 2 only"),
        th.Property("ParentCode", th.StringType),
        th.Property(
            "RollupLevels",
            th.ArrayType(
                th.ObjectType(*NAME_CODE, th.Property("Level", th.IntegerType)),
            ),
            description="Ancestors of the member, one entry per level",
        ),
        MEMBER_ATTRIBUTES,
        th.Property("Sort", th.IntegerType),
    ).to_dict()
    text_elements = ("Code", "Name", "MemberType", "ActiveStatus", "ParentCode")
    segment1_elements = (
        "AccountType",
        "AccountGroup",
        "NormalDataInput",
        "CreditDebit",
        "Variance",
    )
    elements: t.ClassVar[set[str]] = {
        *text_elements,
        *segment1_elements,
        "MemberId",
        "RollupOperator",
        "CurrencyType",
        "Currency",
        "RollupLevels",
        "Attributes",
        "Sort",
    }

    @cached_property
    def undeclared(self) -> UndeclaredElements:
        return UndeclaredElements(self, self.elements)

    @cached_property
    @override
    def partitions(self) -> list[dict]:
        return segment_partitions(self)

    @override
    @override
    def request_records(self, context: Context | None) -> Iterable[dict]:
        """Members of one segment: first without filters; if that answers none (the contract
        does not say what an empty FilterCollection returns, and a segment has at least its
        root), once per `ActiveStatus`, which together cover every member exactly once."""
        number = int((context or {})["SegmentNumber"])
        operation, item = f"Segment{number}_RetrieveWithLogin", f"Segment{number}"
        item_filter = FILTER_ITEMS.get(number, "SegmentFilter")
        count = 0
        for _, value in self.call(operation, item):
            count += 1
            yield self.member(number, value)
        if count:
            return
        for status in ACTIVE_STATUSES:
            body = filter_collection(item_filter, [("ActiveStatus", "Equals", status)])
            for _, value in self.call(operation, item, body):
                count += 1
                yield self.member(number, value)
        if not count:
            self.logger.warning(
                "segment_members: %s answered no members, with and without ActiveStatus "
                "filters; segment %d is left empty in this run",
                operation,
                number,
            )

    def member(self, number: int, value: Value) -> dict[str, t.Any]:
        fields = dict(pairs(value))
        self.undeclared.check(fields)
        where = f"Segment{number}_RetrieveWithLogin"
        record: dict[str, t.Any] = {"SegmentNumber": number}
        record |= {key: fields.get(key) for key in self.text_elements}
        record["MemberId"] = whole(fields.get("MemberId"), "MemberId", where)
        record["RollupOperator"] = dict(pairs(fields.get("RollupOperator"))).get("Sign")
        record["Sort"] = whole(fields.get("Sort"), "Sort", where)
        record["RollupLevels"] = [
            {
                "Code": level.get("Code"),
                "Name": level.get("Name"),
                "Level": whole(level.get("Level"), "Level", where),
            }
            for level in (dict(pairs(item)) for _, item in pairs(fields.get("RollupLevels")))
        ]
        record["Attributes"] = [
            {"Name": attribute.get("Name"), "Value": attribute.get("Value")}
            for attribute in (dict(pairs(item)) for _, item in pairs(fields.get("Attributes")))
        ]
        if number == 1:
            record |= {key: fields.get(key) for key in self.segment1_elements}
            currency_type = dict(pairs(fields.get("CurrencyType")))
            record["CurrencyTypeCode"] = currency_type.get("Code")
            record["CurrencyTypeName"] = currency_type.get("Name")
        if number == 2:
            currency = dict(pairs(fields.get("Currency")))
            record["CurrencyCode"] = currency.get("Code")
            record["CurrencyName"] = currency.get("Name")
        return record


class SoapCurrenciesStream(StateFreeStream):
    """Currencies defined in the tenant (`getALLCurrenciesWithLogin`)."""

    name = "currencies"
    operation = "getALLCurrenciesWithLogin"
    item = "Currency"
    primary_keys = ("Code",)
    schema = th.PropertiesList(*NAME_CODE).to_dict()

    @override
    def record_from(self, name: str, value: Value, context: Context | None) -> dict:
        fields = dict(pairs(value))
        return {"Code": fields.get("Code"), "Name": fields.get("Name")}


class SoapCurrencyTypesStream(SoapCurrenciesStream):
    """Currency (rate) types such as average or end-of-period (`getAllCurrencyTypesWithLogin`)."""

    name = "currency_types"
    operation = "getAllCurrencyTypesWithLogin"
    item = "CurrencyType"


class ConfiguredScenariosStream(ReadsSettings, Stream):
    """The scenarios named in `scenarios`: the web service has no operation that lists them."""

    name = "scenarios"
    primary_keys = ("Name",)
    schema = th.PropertiesList(
        th.Property("Name", th.StringType, required=True),
        th.Property("ScenarioType", th.StringType, description="'Actual' when named so"),
        th.Property(
            "FiscalYear", th.IntegerType, description="From `scenario_fiscal_years`, if set"
        ),
    ).to_dict()

    @override
    def get_records(self, context: Context | None) -> Iterable[dict]:
        years = self.settings.scenario_fiscal_years or {}
        for name in self.settings.scenarios or []:
            kind = "Actual" if is_actual(name, {}) else None
            yield {"Name": name, "ScenarioType": kind, "FiscalYear": years.get(name)}


class SoapGLDataStream(GLPeriods, StateFreeStream):
    """GL data (`GLData_RetrieveWithLogin`): one call per scenario, year, period, amount type.

    The mandatory filters (Scenario, AmountType, FiscalYear) and FiscalPeriod are always sent;
    `gl_reporting` and `gl_segment_filters` add optional ones. Rows stream straight from the
    parser to the output: a period of a million rows is never held in memory.
    """

    operation = "GLData_RetrieveWithLogin"
    item = "GLData"
    partitions_from = "scenario names in `scenarios`"
    primary_keys = (
        "Scenario",
        "FiscalYear",
        "FiscalPeriod",
        "AmountType",
        "Reporting",
        "Calculated",
        *SEGMENT_COLUMNS,
    )
    schema = th.PropertiesList(
        *(
            th.Property(column, th.StringType, description="Member code")
            for column in SEGMENT_COLUMNS
        ),
        th.Property("Scenario", th.StringType, required=True),
        th.Property("Reporting", th.StringType),
        th.Property(
            "Calculated",
            th.StringType,
            description="Meaning undocumented; part of the key, so rows differing only in it "
            "are kept apart",
        ),
        th.Property("Amount", th.NumberType),
        th.Property("AmountType", th.StringType, required=True),
        th.Property("FiscalYear", th.IntegerType, required=True),
        th.Property("FiscalPeriod", th.IntegerType, required=True),
        th.Property(
            "period_key",
            th.IntegerType,
            required=True,
            description="FiscalYear * 100 + FiscalPeriod",
        ),
    ).to_dict()

    @cached_property
    def undeclared(self) -> UndeclaredElements:
        return UndeclaredElements(self, GL_ELEMENTS)

    @cached_property
    @override
    def partitions(self) -> list[dict]:
        return [{"Scenario": name} for name in self.settings.scenarios or []]

    @cached_property
    def amount_types(self) -> list[str]:
        return list(self.settings.gl_amount_types or DEFAULT_AMOUNT_TYPES)

    @override
    def period_rows(self, scenario: str, periods: list[Period]) -> Iterator[PeriodAnswer]:
        def read(period: Period) -> tuple[datetime.datetime, Iterable[dict[str, t.Any]]]:
            return datetime.datetime.now(datetime.UTC), self.read_period(scenario, period)

        for period in periods:
            extracted_at, rows = read(period)
            yield period, extracted_at, rows, functools.partial(read, period)

    @override
    def rows_of(self, scenario: str, period: Period) -> Iterable[dict[str, t.Any]]:
        return self.read_period(scenario, period)

    def read_period(self, scenario: str, period: Period) -> Iterator[dict[str, t.Any]]:
        """Rows of one scenario and period, one call per amount type, as they are parsed."""
        optional = [
            (f"Segment{entry['segment']}", entry.get("operator") or "Equals", entry["value"])
            for entry in self.settings.gl_segment_filters or []
        ]
        if self.settings.gl_reporting:
            optional.append(("Reporting", "Equals", self.settings.gl_reporting))
        where = f"{self.operation} ({scenario!r}, period {period.key})"

        def convert(element: etree._Element) -> dict[str, t.Any]:
            return self.gl_row(leaf_texts(element), period, where)

        for amount_type in self.amount_types:
            filters = [
                ("Scenario", "Equals", scenario),
                ("AmountType", "Equals", amount_type),
                ("FiscalYear", "Equals", str(period.year)),
                ("FiscalPeriod", "Equals", str(period.month)),
                *optional,
            ]
            body = filter_collection("GLDataFilter", filters)
            yield from self.call(self.operation, self.item, body, convert)

    def gl_row(self, fields: dict[str, t.Any], period: Period, where: str) -> dict[str, t.Any]:
        """The record of one GLData item: its elements, numbers as numbers, and `period_key`.

        When the item has exactly the declared elements (the usual case) its dict is the row.
        """
        if fields.keys() != GL_ELEMENTS:
            self.undeclared.check(fields)
            fields = {name: fields.get(name) for name in GL_ORDER}
        if None in fields.values():
            for name in SOAP_GL_KEY_TEXTS:
                if fields[name] is None:
                    fields[name] = ""
        fields["Amount"] = exact_decimal(fields["Amount"], "Amount", where)
        fields["FiscalYear"] = whole(fields["FiscalYear"], "FiscalYear", where) or period.year
        fields["FiscalPeriod"] = (
            whole(fields["FiscalPeriod"], "FiscalPeriod", where) or period.month
        )
        fields["period_key"] = period.key
        return fields


class SoapUsersStream(StateFreeStream):
    """Users (`Get_Users`), 5,000 a call: `startIndex` counts the users already read, and the
    answer's `hasMore` says whether to ask again (help.planful.com "Get_Users").

    The elements inside a user are not public: they are taken to be the export's columns (those
    of the REST `users` stream); others are named once in a warning and left out. Answers that
    contradict each other (a user twice, no users although `hasMore` was true) end the run:
    `startIndex` would then count otherwise (from 1, or in pages).
    """

    name = "users"
    operation = "Get_Users"
    item = "User"
    primary_keys = ("UserLogin",)
    schema = UsersStream.schema
    texts = ("UserLogin", "FirstName", "LastName", "NavigationRoleName", "ReportingRole",
             "SupportRole", "AuthenticationType", "SupportId")  # fmt: skip

    @cached_property
    def undeclared(self) -> UndeclaredElements:
        return UndeclaredElements(self, {*self.texts, "Status"})

    @override
    def request_records(self, context: Context | None) -> Iterable[dict]:
        seen: set[str] = set()
        calls = 0
        while True:
            start, count = len(seen), 0
            calls += 1
            body = f"<startIndex>{start}</startIndex>"
            for name, value in self.call(self.operation, self.item, body):
                record = self.record_from(name, value, context)
                if record["UserLogin"] in seen:
                    raise FatalAPIError(self._contradiction(start, "a user already read"))
                seen.add(record["UserLogin"])
                count += 1
                yield record
            if start and not count:
                raise FatalAPIError(self._contradiction(start, "no users after hasMore=true"))
            if not self.has_more():
                self.logger.info("users: %d users in %d Get_Users call(s)", len(seen), calls)
                return

    def has_more(self) -> bool:
        answer = self.last_answer
        text = answer.findtext(f"{{{NAMESPACE}}}hasMore") if answer is not None else None
        return (text or "").strip().lower() == "true"

    def _contradiction(self, start: int, what: str) -> str:
        return (
            f"{self.operation} answered {what} at startIndex {start}: Planful pages users "
            "differently than this tap reads them (startIndex as the number of users already "
            "read), so the users stream cannot be read completely; nothing past the users "
            "already written was emitted. Deselect `users` and report the answer's shape."
        )

    @override
    def record_from(self, name: str, value: Value, context: Context | None) -> dict:
        fields = dict(pairs(value))
        self.undeclared.check(fields)
        login = fields.get("UserLogin")
        if not isinstance(login, str) or not login.strip():
            msg = f"{self.operation}: a <User> has no <UserLogin>, the key of users"
            raise FatalAPIError(msg)
        record: dict[str, t.Any] = {key: fields.get(key) for key in self.texts}
        status = fields.get("Status")
        record["Status"] = None if status is None else str(status).strip().lower() == "true"
        return record


SOAP_STREAMS: tuple[type[Stream], ...] = (
    SoapSegmentsStream,
    SoapSegmentMembersStream,
    ConfiguredScenariosStream,
    SoapGLDataStream,
    SoapCurrenciesStream,
    SoapCurrencyTypesStream,
    SoapUsersStream,
)
