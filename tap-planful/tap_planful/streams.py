"""One class per Planful endpoint; shared behaviour lives in `client.py`."""

from __future__ import annotations

import csv
import datetime
import decimal
import functools
import hashlib
import json
import typing as t
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from http import HTTPStatus

import msgspec
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError
from singer_sdk.helpers.conform import TypeConformanceLevel
from typing_extensions import override

from tap_planful.client import (
    DynamicPlanningStream,
    DynamicPlanningXMLStream,
    PlanfulStream,
    StructuredPlanningStream,
    build_xml,
    shape_error,
    xml_text,
)
from tap_planful.fast_path import FastRecordPath
from tap_planful.periods import FiscalCalendar, Period

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping
    from xml.etree.ElementTree import Element

    import requests
    from singer_sdk.helpers.types import Context
    from singer_sdk.streams import Stream

    from tap_planful.settings import PlanfulSettings

SEGMENT_COLUMNS = tuple(f"Segment{n}" for n in range(1, 9))
GL_KEY_TEXTS = (*SEGMENT_COLUMNS, "Reporting")
"""Optional text parts of a GL key: an absent or null one is written as "" (a NULL key part never
equals itself in a warehouse's merge, and a primary key column refuses it), e.g. the unused
segments of a tenant with fewer than eight."""
DEFAULT_START_YEARS_BACK = 2


def row_key(*parts: t.Any) -> str:
    """A stable key for rows that have no id of their own."""
    encoded = json.dumps(parts, separators=(",", ":"), default=str, ensure_ascii=False)
    return hashlib.blake2b(encoded.encode(), digest_size=16).hexdigest()


def named_entry(settings: PlanfulSettings, setting: str, name: str) -> dict[str, t.Any]:
    """The entry of a list setting (`models`, `source_models`) whose `model` is `name`."""
    for entry in getattr(settings, setting) or []:
        if entry.get("model") == name:
            return entry
    msg = f"`{setting}` has no entry for model {name!r}"
    raise ConfigValidationError(msg, errors=[msg])


# -- Structured Planning ---------------------------------------------------------------------


class DataLoadRulesStream(StructuredPlanningStream):
    """Data load rules; `data_load_rule_type` narrows them to GL or transaction rules."""

    name = "data_load_rules"
    primary_keys = ("DataLoadRuleId",)
    schema = th.PropertiesList(
        th.Property("DataLoadRuleId", th.IntegerType, required=True),
        th.Property("Name", th.StringType),
        th.Property(
            "LoadItem", th.StringType, description="What the rule loads, e.g. 'Segment Hierarchies'"
        ),
    ).to_dict()

    @property
    @override
    def path(self) -> str:  # type: ignore[override]  # a setting, not a class attribute
        rule_type = self.settings.data_load_rule_type or "all"
        return super().path + ("" if rule_type == "all" else f"/{rule_type}")


class SegmentsStream(StructuredPlanningStream):
    """The chart-of-accounts segments: which business dimension sits in which slot (1-8)."""

    name = "segments"
    primary_keys = ("SegmentNumber",)
    schema = th.PropertiesList(
        th.Property("SegmentNumber", th.IntegerType, required=True),
        th.Property("Name", th.StringType),
        th.Property("DisplayName", th.StringType),
        th.Property("Type", th.StringType),
        th.Property("Visibility", th.StringType),
        th.Property("ActiveStatus", th.StringType),
    ).to_dict()


NAME_CODE = (th.Property("Code", th.StringType), th.Property("Name", th.StringType))
MEMBER_ATTRIBUTES = th.Property(
    "Attributes",
    th.ArrayType(
        th.ObjectType(th.Property("Name", th.StringType), th.Property("Value", th.StringType))
    ),
    description="User-defined attributes of the member",
)


def records_of(stream: Stream) -> Iterable[dict[str, t.Any]]:
    """The records of an unpartitioned stream (its `get_records(None)`, never (record, context)
    pairs: our streams have no child contexts to hand back)."""
    return t.cast("Iterable[dict[str, t.Any]]", stream.get_records(None))


def segment_partitions(stream: PlanfulStream) -> list[dict]:
    """`segments` when set, else every segment the tenant defines (read by `segments`)."""
    numbers = stream.settings.segments or [
        record["SegmentNumber"] for record in records_of(stream._tap.streams["segments"])
    ]
    return [{"SegmentNumber": number} for number in numbers]


class SegmentMembersStream(StructuredPlanningStream):
    """Members of each segment, with their rollup levels and attributes kept as arrays."""

    name = "segment_members"
    partitions_from = "segment numbers in `segments` (or segments defined in the tenant)"
    primary_keys = ("SegmentNumber", "MemberId")
    schema = th.PropertiesList(
        th.Property("SegmentNumber", th.IntegerType, required=True),
        th.Property("MemberId", th.IntegerType, required=True),
        *NAME_CODE,
        th.Property("ParentId", th.IntegerType),
        th.Property("ParentCode", th.StringType),
        th.Property("ParentMemberId", th.IntegerType, description="Account segment only"),
        th.Property("ParentMemberCode", th.StringType, description="Account segment only"),
        th.Property("ParentMemberName", th.StringType, description="Account segment only"),
        th.Property("ParentMemberLabel", th.StringType, description="Account segment only"),
        th.Property("MemberType", th.StringType),
        th.Property("RollupOperator", th.StringType),
        th.Property("ActiveStatus", th.StringType),
        th.Property("Sort", th.IntegerType),
        MEMBER_ATTRIBUTES,
        th.Property(
            "RollupLevels",
            th.ArrayType(
                th.ObjectType(
                    th.Property("Level", th.IntegerType),
                    *NAME_CODE,
                    th.Property("Id", th.IntegerType),
                )
            ),
            description="Ancestors of the member, one entry per level",
        ),
        th.Property("AccountType", th.StringType),
        th.Property("AccountGroup", th.StringType),
        th.Property("CreditDebit", th.StringType),
        th.Property("NormalDataInput", th.StringType),
        th.Property("Variance", th.StringType),
        th.Property("TrialBalanceAccount", th.StringType),
        th.Property("ReportCategoryName", th.StringType),
        th.Property("CurrencyTypeCode", th.StringType),
        th.Property("CurrencyTypeName", th.StringType),
        th.Property("CurrencyCode", th.StringType, description="Company segment only"),
        th.Property("CurrencyName", th.StringType, description="Company segment only"),
    ).to_dict()

    @cached_property
    @override
    def partitions(self) -> list[dict]:
        return segment_partitions(self)


class ScenariosStream(StructuredPlanningStream):
    """Scenarios (Actual, budgets, forecasts); GL data is read per scenario."""

    name = "scenarios"
    primary_keys = ("Name",)
    schema = th.PropertiesList(
        th.Property("Name", th.StringType, required=True),
        th.Property("ScenarioType", th.StringType),
        th.Property(
            "FiscalYear", th.IntegerType, description="The plan year of a budget or forecast"
        ),
    ).to_dict()


class GLPeriods(FastRecordPath, PlanfulStream):
    """What GL data shares over REST and SOAP: periods, bookmark per scenario, no silent gaps.

    A re-run starts `gl_lookback_periods` periods before the bookmarked one (which is always read
    again), so restatements of recent periods are picked up. Re-reading periods below the bookmark
    is what the SDK calls unsorted: a scenario's bookmark moves once the scenario is fully read.
    Actual-type scenarios never ask beyond the current period.

    An empty answer for a period between periods with data is asked again once (after the later
    period with data is read, so trailing empty periods cost no second call); if still empty, it
    is a gap: a warning names scenario and period, and the bookmark stays before it, so the next
    run asks again.
    """

    name = "gl_data"
    # Rows already carry the schema's JSON types; conforming a million rows costs more than
    # everything else the tap does per row.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE
    replication_key = "period_key"

    @cached_property
    def calendar(self) -> FiscalCalendar:
        """The tenant's fiscal year (`fiscal_periods_per_year`, `fiscal_year_start_month`)."""
        return FiscalCalendar(
            int(self.settings.fiscal_periods_per_year or 12),
            int(self.settings.fiscal_year_start_month or 1),
        )

    def scenario_record(self, name: str) -> Mapping[str, t.Any]:
        """What is known of a scenario: its plan year from `scenario_fiscal_years`, if set."""
        year = (self.settings.scenario_fiscal_years or {}).get(name)
        return {"FiscalYear": int(year)} if year else {}

    def period_rows(self, scenario: str, periods: list[Period]) -> Iterator[PeriodAnswer]:
        """(period, extraction time, rows, ask again) of each period, in order."""
        raise NotImplementedError

    def rows_of(self, scenario: str, period: Period) -> Iterable[dict[str, t.Any]]:
        """The rows of one period, asked once (the check past the fiscal year)."""
        raise NotImplementedError

    def periods_to_read(
        self, scenario_name: str, bookmark: int | None, today: Period
    ) -> list[Period]:
        """The fiscal periods to request for a scenario, given its bookmark."""
        scenario = self.scenario_record(scenario_name)
        fiscal = self.calendar
        start_year = self.settings.start_fiscal_year or today.year - DEFAULT_START_YEARS_BACK
        first = fiscal.first(start_year)
        if bookmark is not None:
            lookback = self.settings.gl_lookback_periods
            first = max(first, fiscal.shifted(Period.from_key(int(bookmark)), -lookback))
        end_year = self.settings.end_fiscal_year
        if is_actual(scenario_name, scenario):
            last = min(today, fiscal.last(end_year)) if end_year else today
        elif scenario.get("FiscalYear"):
            first = max(first, fiscal.first(scenario["FiscalYear"]))
            last = fiscal.last(scenario["FiscalYear"])
        else:
            last = fiscal.last(end_year or today.year + 1)
        return fiscal.through(first, last)

    def full_years(self, periods: list[Period]) -> list[int]:
        """Fiscal years every period of which is in `periods` (a run of consecutive periods)."""
        if not self.settings.gl_check_period_past_year:
            return []
        asked = set(periods)
        return sorted(
            {
                p.year
                for p in periods
                if {self.calendar.first(p.year), self.calendar.last(p.year)} <= asked
            }
        )

    def check_past_year(self, scenario: str, years: list[int]) -> None:
        """Ask the period after the last configured one of each fully read year, once: rows
        there mean the tenant's fiscal year has more periods, which this run would never read."""
        for year in years:
            beyond = self.calendar.past_year(year)
            found = sum(1 for _ in self.rows_of(scenario, beyond))
            if found:
                msg = (
                    f"gl_data: scenario {scenario!r} has {found:,} rows in fiscal period "
                    f"{beyond.month} of {year}, past the {self.calendar.periods_per_year} periods "
                    "of `fiscal_periods_per_year`: set `fiscal_periods_per_year` to the number of "
                    "periods of your Planful fiscal year (Define Fiscal Year Setup) and run again"
                )
                raise FatalAPIError(msg)
            self.logger.debug("gl_data: scenario %r period %d is empty", scenario, beyond.key)

    @override
    def partition_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """The scenario's periods in order; gaps keep the bookmark before them."""
        scenario = context["Scenario"] if context else ""
        bookmark = self.get_starting_replication_key_value(context)
        periods = self.periods_to_read(scenario, bookmark, self.calendar.current())
        if not periods:
            self.logger.info("gl_data: nothing to read for scenario %r", scenario)
            return
        self.logger.info(
            "gl_data: scenario %r, periods %d..%d (bookmark %s)",
            scenario,
            periods[0].key,
            periods[-1].key,
            bookmark,
        )
        self.partition_starts()
        seen_data = False
        pending: list[tuple[Period, t.Callable[[], tuple[datetime.datetime, Iterable]]]] = []
        gap: Period | None = None
        for period, extracted_at, rows, ask_again in self.period_rows(scenario, periods):
            self.rows_arrive(extracted_at)
            count = 0
            for row in rows:
                count += 1
                yield row
            self.logger.info("gl_data: scenario %r period %d: %d rows", scenario, period.key, count)
            if count == 0:
                if seen_data:  # between periods with data, if a later one has data
                    pending.append((period, ask_again))
                continue
            seen_data = True
            for missing, again in pending:
                self.logger.info(
                    "gl_data: scenario %r period %d answered no rows between periods with "
                    "data; asking again",
                    scenario,
                    missing.key,
                )
                asked_at, retried = again()
                self.rows_arrive(asked_at)
                count = 0
                for row in retried:
                    count += 1
                    yield row
                if count == 0:
                    gap = gap or missing
                    self._warn_gap(scenario, missing)
            pending = []
        if gap is not None:
            self._hold_bookmark_before(context, gap)
        self.check_past_year(scenario, self.full_years(periods))

    def _warn_gap(self, scenario: str, period: Period) -> None:
        self.logger.warning(
            "gl_data: scenario %r period %d answered no rows twice while periods before and "
            "after it have data; its rows (if any) were not read, and the bookmark stays "
            "before it so the next run asks again",
            scenario,
            period.key,
        )

    def _hold_bookmark_before(self, context: Context | None, gap: Period) -> None:
        """Cap this run's progress at the period before the first gap."""
        markers = self.get_context_state(context).get("progress_markers") or {}
        reached = markers.get("replication_key_value")
        cap = self.calendar.shifted(gap, -1).key
        if reached is not None and reached > cap:
            markers["replication_key_value"] = cap


PeriodAnswer = tuple[
    Period,
    datetime.datetime,
    "Iterable[dict[str, t.Any]]",
    "t.Callable[[], tuple[datetime.datetime, Iterable[dict[str, t.Any]]]]",
]


class RestGLRow(t.TypedDict, total=False):
    """The declared fields of a REST GL row: anything else the API adds is left out."""

    Scenario: str
    FiscalYear: int
    FiscalMonth: int
    MonthName: str | None
    Segment1: str | None
    Segment2: str | None
    Segment3: str | None
    Segment4: str | None
    Segment5: str | None
    Segment6: str | None
    Segment7: str | None
    Segment8: str | None
    Reporting: str | None
    MtdAmount: decimal.Decimal | None
    QtdAmount: decimal.Decimal | None
    YtdAmount: decimal.Decimal | None


_rest_gl_rows = msgspec.json.Decoder(list[RestGLRow], strict=False)
REST_GL_FIELDS = len(RestGLRow.__annotations__) + 1  # and period_key


class GLDataStream(GLPeriods, StructuredPlanningStream):
    """GL balances over REST (`structured_api: rest`), one request per scenario and month.

    Rows are decoded into their declared fields only (numbers given as text are converted), so
    a field the API adds never reaches a RECORD the SCHEMA does not describe. Amounts are decoded
    as exact decimals from the JSON text, so every digit reaches the RECORD.
    """

    partitions_from = "scenario names in `scenarios` (or scenarios defined in the tenant)"
    primary_keys = ("Scenario", "FiscalYear", "FiscalMonth", "Reporting", *SEGMENT_COLUMNS)
    schema = th.PropertiesList(
        th.Property("Scenario", th.StringType, required=True),
        th.Property("FiscalYear", th.IntegerType, required=True),
        th.Property("FiscalMonth", th.IntegerType, required=True),
        th.Property("MonthName", th.StringType),
        *(
            th.Property(column, th.StringType, description="Member code")
            for column in SEGMENT_COLUMNS
        ),
        th.Property("Reporting", th.StringType),
        th.Property("MtdAmount", th.NumberType),
        th.Property("QtdAmount", th.NumberType),
        th.Property("YtdAmount", th.NumberType),
        th.Property(
            "period_key",
            th.IntegerType,
            required=True,
            description="FiscalYear * 100 + FiscalMonth",
        ),
    ).to_dict()

    @cached_property
    def scenario_catalog(self) -> dict[str, dict]:
        """Every scenario the tenant defines, by name (read only when `scenarios` is not set)."""
        return {record["Name"]: record for record in records_of(self._tap.streams["scenarios"])}

    @override
    def scenario_record(self, name: str) -> Mapping[str, t.Any]:
        if self.settings.scenarios:
            return super().scenario_record(name)
        return self.scenario_catalog.get(name, {})

    @cached_property
    @override
    def partitions(self) -> list[dict]:
        """One partition (and bookmark) per scenario: `scenarios` when set, else all of them."""
        configured = self.settings.scenarios
        return [{"Scenario": name} for name in configured or self.scenario_catalog]

    @override
    def period_rows(self, scenario: str, periods: list[Period]) -> Iterator[PeriodAnswer]:
        """The next period is fetched while this one is written.

        One worker thread fetches one period ahead and is the only user of the HTTP session;
        at most two periods are held in memory, and a stop waits for the request in flight.
        """
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="gl_data-prefetch") as pool:

            def again(period: Period) -> tuple[datetime.datetime, list[dict[str, t.Any]]]:
                _, extracted_at, rows = pool.submit(self.read_period, scenario, period).result()
                return extracted_at, rows

            upcoming = pool.submit(self.read_period, scenario, periods[0])
            for following in [*periods[1:], None]:
                period, extracted_at, rows = upcoming.result()
                if following is not None:
                    upcoming = pool.submit(self.read_period, scenario, following)
                yield period, extracted_at, rows, functools.partial(again, period)

    @override
    def rows_of(self, scenario: str, period: Period) -> Iterable[dict[str, t.Any]]:
        return self.read_period(scenario, period)[2]

    def read_period(
        self, scenario: str, period: Period
    ) -> tuple[Period, datetime.datetime, list[dict[str, t.Any]]]:
        """Every row of one scenario and period, with the time they were extracted."""
        rows = list(
            self.request_records(
                {"Scenario": scenario, "FiscalYear": period.year, "FiscalMonth": period.month}
            )
        )
        return period, datetime.datetime.now(datetime.UTC), rows

    @override
    def get_url_params(
        self, context: Context | None, next_page_token: int | None
    ) -> dict[str, t.Any]:
        params = super().get_url_params(context, next_page_token)
        context = context or {}
        params.update(
            Scenario=context.get("Scenario"),
            FiscalYear=context.get("FiscalYear"),
            FiscalMonth=context.get("FiscalMonth"),
            Reporting=self.settings.gl_reporting,
        )
        return params

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict]:
        try:
            rows = _rest_gl_rows.decode(response.content)
        except msgspec.ValidationError as exc:
            msg = f"A GL row from GET {self.path} does not fit the gl_data schema: {exc}"
            raise FatalAPIError(msg) from None
        except msgspec.DecodeError as exc:
            msg = f"The response of GET {self.path} is not JSON: {exc}"
            raise FatalAPIError(msg) from None
        records = t.cast("list[dict[str, t.Any]]", rows)
        for row in records:
            row["period_key"] = row["FiscalYear"] * 100 + row["FiscalMonth"]
            if len(row) < REST_GL_FIELDS or None in row.values():
                for name in GL_KEY_TEXTS:
                    if row.get(name) is None:
                        row[name] = ""
        return records


def is_actual(name: str, scenario: Mapping[str, t.Any]) -> bool:
    """Actuals exist only up to today; budgets and forecasts reach into the future."""
    kind = scenario.get("ScenarioType") or name
    return str(kind).strip().lower() in {"actual", "actuals"}


class CurrenciesStream(StructuredPlanningStream):
    """Currencies defined in the tenant."""

    name = "currencies"
    primary_keys = ("Code",)
    schema = th.PropertiesList(*NAME_CODE).to_dict()


class UsersStream(StructuredPlanningStream):
    """Structured Planning users and their roles over REST. UNVERIFIED path: no public source
    documents `/financemodel/data/users` (set `path_overrides.users`); the documented export is
    the SOAP operation `Get_Users`, read when `structured_api` resolves to `soap`."""

    name = "users"
    primary_keys = ("UserLogin",)
    schema = th.PropertiesList(
        th.Property("UserLogin", th.StringType, required=True),
        th.Property("FirstName", th.StringType),
        th.Property("LastName", th.StringType),
        th.Property("NavigationRoleName", th.StringType),
        th.Property("ReportingRole", th.StringType),
        th.Property("SupportRole", th.StringType),
        th.Property("AuthenticationType", th.StringType),
        th.Property("Status", th.BooleanType, description="True when the user is active"),
        th.Property("SupportId", th.StringType),
    ).to_dict()


STRUCTURED_STREAMS: tuple[type[StructuredPlanningStream], ...] = (
    DataLoadRulesStream,
    SegmentsStream,
    SegmentMembersStream,
    ScenariosStream,
    GLDataStream,
    CurrenciesStream,
    UsersStream,
)


# -- Dynamic Planning ------------------------------------------------------------------------


class DPUsersStream(DynamicPlanningStream):
    """Dynamic Planning users with their groups and roles."""

    name = "dp_users"
    path = "/ui/user/getRaw"
    primary_keys = ("email",)
    schema = th.PropertiesList(
        th.Property("email", th.StringType, required=True),
        th.Property("name", th.StringType),
        th.Property("status", th.StringType),
        th.Property("groups", th.ArrayType(th.ObjectType(th.Property("name", th.StringType)))),
        th.Property("role", th.StringType),
        th.Property("invalidPasswordAttempts", th.IntegerType),
        th.Property("lockedStatus", th.StringType),
        th.Property("emailSubscription", th.StringType),
        th.Property("userType", th.StringType),
        th.Property("supportRole", th.StringType),
    ).to_dict()


class DPGroupsStream(DynamicPlanningStream):
    """Dynamic Planning groups (the API lists bare names)."""

    name = "dp_groups"
    path = "/ui/group/getRaw"
    primary_keys = ("name",)
    schema = th.PropertiesList(th.Property("name", th.StringType, required=True)).to_dict()

    @override
    def records_from(self, body: t.Any) -> Iterable[dict]:
        return [{"name": name} for name in super().records_from(body)]


class DPDimensionMembersStream(DynamicPlanningStream):
    """Members of each configured model dimension: hierarchy, labels, attributes."""

    name = "dp_dimension_members"
    partitions_from = "models with `dimensions` in `models`"
    path = "/modeling/model/dimension/export"
    http_method = "POST"
    primary_keys = ("model", "dimension", "code")
    schema = th.PropertiesList(
        th.Property("model", th.StringType, required=True),
        th.Property("dimension", th.StringType, required=True),
        th.Property("code", th.StringType, required=True),
        th.Property("parent", th.StringType, description="Parent member code; null at the root"),
        th.Property("rollupOperator", th.StringType),
        th.Property("displayLabel", th.StringType),
        th.Property(
            "attributes",
            th.ObjectType(additional_properties=True),
            description="Attribute name to value",
        ),
        th.Property(
            "dimensions",
            th.ObjectType(additional_properties=True),
            description="Mapped dimension members",
        ),
    ).to_dict()

    @property
    @override
    def partitions(self) -> list[dict]:
        return [
            {"model": entry["model"], "dimension": dimension}
            for entry in self.settings.models or []
            for dimension in entry.get("dimensions") or []
        ]

    @override
    def prepare_request_payload(self, context: Context | None, next_page_token: int | None) -> dict:
        context = context or {}
        return {
            "model": context.get("model"),
            "dimension": context.get("dimension"),
            "includeAttributes": True,
            "includeDimensions": True,
        }

    @override
    def records_from(self, body: t.Any) -> Iterable[dict]:
        """`{model, dimension, members: [...]}` or a bare list of members; each has `code`."""
        members = body.get("members") if isinstance(body, dict) else body
        if not isinstance(members, list):
            raise shape_error(self.where, "`members` list (nor is it a list of members)", body)
        for member in members:
            if not isinstance(member, dict) or member.get("code") is None:
                raise shape_error(self.where, "`code` in a member", member)
            member.setdefault("model", self.requested.get("model"))
            member.setdefault("dimension", self.requested.get("dimension"))
        return members


class DPModelDataStream(DynamicPlanningStream):
    """Leaf-level data of each configured model, one record per row keyed by its members."""

    name = "dp_model_data"
    partitions_from = "entries in `models`"
    path = "/modeling/model/data/export"
    http_method = "POST"
    primary_keys = ("model", "_row_key")

    @property
    @override
    def schema(self) -> dict:
        dimensions = sorted(
            {d for entry in self.settings.models or [] for d in entry.get("dimensions") or []}
        )
        return th.PropertiesList(
            th.Property("model", th.StringType, required=True),
            th.Property(
                "_row_key",
                th.StringType,
                required=True,
                description="Hash of the model and members",
            ),
            th.Property(
                "members",
                th.ObjectType(
                    *(th.Property(d, th.StringType) for d in dimensions), additional_properties=True
                ),
                description="Dimension name to member of this row",
            ),
            th.Property("value", th.NumberType),
        ).to_dict()

    @property
    @override
    def partitions(self) -> list[dict]:
        return [{"model": entry["model"]} for entry in self.settings.models or []]

    @override
    def prepare_request_payload(self, context: Context | None, next_page_token: int | None) -> dict:
        model = (context or {}).get("model", "")
        entry = named_entry(self.settings, "models", model)
        return {
            "model": model,
            "filters": [
                {
                    "dimension": item["dimension"],
                    "filterType": item.get("filter_type", "Member"),
                    "filterValues": item.get("values") or [],
                }
                for item in entry.get("filters") or []
            ],
            "memberDisplay": entry.get("member_display", "Code"),
            "suppressZeroes": str(entry.get("suppress_zeroes", True)).lower(),
            "operationType": entry.get("operation_type", "AND"),
        }

    @override
    def records_from(self, body: t.Any) -> Iterable[dict]:
        """`{model, columns, rows}`, or a bare list of objects (one key per dimension, `value`)."""
        if isinstance(body, list):
            return self.records_from_objects(body)
        if not isinstance(body, dict) or not isinstance(body.get("columns"), list):
            raise shape_error(self.where, "`columns` and `rows` (nor a list of rows)", body)
        return self.records_from_columns(body)

    def records_from_objects(self, rows: list[t.Any]) -> Iterable[dict]:
        model = self.requested.get("model")
        for row in rows:
            value_keys = (
                [k for k in row if str(k).lower() == "value"] if isinstance(row, dict) else []
            )
            if not value_keys:
                raise shape_error(self.where, "`value` in a row", row)
            members = {
                str(k): None if v is None else str(v) for k, v in row.items() if k != value_keys[0]
            }
            yield {
                "model": model,
                "_row_key": row_key(model, list(members.values())),
                "members": members,
                "value": row[value_keys[0]],
            }

    def records_from_columns(self, body: dict[str, t.Any]) -> Iterable[dict]:
        model = body.get("model") or self.requested.get("model")
        columns = [str(column) for column in body["columns"]]
        lowered = [column.lower() for column in columns]
        value_at = lowered.index("value") if "value" in lowered else len(columns) - 1
        dimensions = [(i, column) for i, column in enumerate(columns) if i != value_at]
        for row in body.get("rows") or []:
            members = {column: None if row[i] is None else str(row[i]) for i, column in dimensions}
            yield {
                "model": model,
                "_row_key": row_key(model, [members[column] for _, column in dimensions]),
                "members": members,
                "value": row[value_at],
            }


class DPSourceModelDataStream(DynamicPlanningXMLStream):
    """Rows of each configured external source model (ESM), parsed from delimited XML rows."""

    name = "dp_esm_data"
    partitions_from = "entries in `source_models`"
    path = "/modeling/sourcemodel/data/export"
    primary_keys = ("model", "_row_key")

    @property
    @override
    def schema(self) -> dict:
        """`fields` declares every field named in a `source_models` entry's `fields` (text);
        it stays open because an entry without `fields` exports every column of its model."""
        entries = self.settings.source_models or []
        known = sorted({field for entry in entries for field in entry.get("fields") or []})
        return th.PropertiesList(
            th.Property("model", th.StringType, required=True),
            th.Property(
                "_row_key",
                th.StringType,
                required=True,
                description="Hash of the key fields (or the row)",
            ),
            th.Property(
                "fields",
                th.ObjectType(
                    *(th.Property(f, th.StringType) for f in known), additional_properties=True
                ),
                description="Field name to value (text)",
            ),
        ).to_dict()

    @property
    @override
    def partitions(self) -> list[dict]:
        return [{"model": entry["model"]} for entry in self.settings.source_models or []]

    @override
    def prepare_request_payload(
        self, context: Context | None, next_page_token: int | None
    ) -> bytes:
        entry = named_entry(self.settings, "source_models", (context or {}).get("model", ""))
        children: list[tuple[str, t.Any]] = [
            ("model-name", entry["model"]),
            ("delimiter", entry.get("delimiter", ",")),
        ]
        if entry.get("filters"):
            filters = [
                (
                    "filter",
                    [
                        ("field", item["field"]),
                        *(("field-value", value) for value in item.get("values") or []),
                    ],
                )
                for item in entry["filters"]
            ]
            children.append(("filters", filters))
        if entry.get("fields"):
            children.append(("fields", [("field", field) for field in entry["fields"]]))
        return build_xml("export-data-payload", children)

    @override
    def records_from_xml(self, root: Element) -> Iterable[dict]:
        """`<header>` and `<rows><row>…`, or one `<data>` of delimited lines, header first."""
        model = xml_text(root, "model-name") or self.requested.get("model")
        entry = named_entry(self.settings, "source_models", model or "")
        delimiter = xml_text(root, "delimiter") or entry.get("delimiter", ",")
        if root.find("header") is not None:
            lines = [
                xml_text(root, "header") or "",
                *(r.text or "" for r in root.iterfind("rows/row")),
            ]
        elif root.find("data") is not None:
            lines = (root.findtext("data") or "").strip("\r\n").splitlines()
        else:
            raise shape_error(self.where, "<header> and <rows> (nor <data>)", root)
        rows = csv.reader(lines, delimiter=delimiter)
        header = next(rows, [])
        key_fields = entry.get("key_fields") or []
        missing = [field for field in key_fields if field not in header]
        if missing:
            msg = f"`source_models` key_fields {missing} are not fields of {model!r}: {header}"
            raise ConfigValidationError(msg, errors=[msg])
        for values in rows:
            fields = dict(zip(header, values, strict=False))
            keyed = [fields.get(field) for field in key_fields] if key_fields else values
            yield {"model": model, "_row_key": row_key(model, keyed), "fields": fields}


class DPCalculationStatusStream(DynamicPlanningXMLStream):
    """Status and last run of each configured calculation (calc script)."""

    name = "dp_calc_status"
    partitions_from = "entries in `calculations`"
    path = "/modeling/model/calcscript/status"
    primary_keys = ("model", "calcscript")
    error_hints: t.ClassVar[Mapping[int, str]] = {
        **DynamicPlanningXMLStream.error_hints,
        HTTPStatus.NOT_FOUND: (
            "Planful does not know this model or calculation: check `calculations`."
        ),
    }
    schema = th.PropertiesList(
        th.Property("model", th.StringType, required=True),
        th.Property("calcscript", th.StringType, required=True),
        th.Property("status", th.StringType, description="submitted, in progress or not running"),
        th.Property("last_status", th.StringType, description="success or failed"),
        th.Property("description", th.StringType),
        th.Property("run_in_background", th.BooleanType),
        th.Property("last_run_time", th.DateTimeType),
    ).to_dict()

    @property
    @override
    def partitions(self) -> list[dict]:
        return [
            {"model": entry["model"], "calcscript": entry["calcscript"]}
            for entry in self.settings.calculations or []
        ]

    @override
    def prepare_request_payload(
        self, context: Context | None, next_page_token: int | None
    ) -> bytes:
        context = context or {}
        return build_xml(
            "run-calcscript-payload",
            [("model-name", context.get("model")), ("calcscript-name", context.get("calcscript"))],
        )

    @override
    def records_from_xml(self, root: Element) -> Iterable[dict]:
        background = xml_text(root, "run-in-background")
        return [
            {
                "model": xml_text(root, "model-name"),
                "calcscript": xml_text(root, "calcscript-name"),
                "status": xml_text(root, "status"),
                "last_status": xml_text(root, "last-status"),
                "description": xml_text(root, "description"),
                "run_in_background": None
                if background is None
                else background.lower() in {"yes", "true"},
                "last_run_time": xml_text(root, "last-run-time"),
            }
        ]


DYNAMIC_STREAMS: tuple[type[DynamicPlanningStream], ...] = (
    DPUsersStream,
    DPGroupsStream,
    DPDimensionMembersStream,
    DPModelDataStream,
    DPSourceModelDataStream,
    DPCalculationStatusStream,
)
