"""The Planful emulator: Structured Planning and Dynamic Planning on one loopback server.

Implements section 6 of `shared/api/planful.md`.

Structured Planning (root paths; `Authorization: Basic base64(access_id:access_key)`):

- `GET  /financemodel/data/rules`, `/rules/gl`, `/rules/transactions`: data load rules [V]
- `POST /financemodel/data/transferfile?DataLoadRuleName=…&ColumnDelimiter=,`: a CSV via a rule [V]
- `GET  /financemodel/data/segments`: the COA segment slots 1-8
- `GET  /financemodel/data/segments/{n}/members`: members (n = slot number or segment name)
- `GET  /financemodel/data/gldata?Scenario=&FiscalYear=[&FiscalMonth=][&Reporting=]`
- `GET  /financemodel/data/scenarios`, `/currencies`, `/users`

Missing/wrong credentials answer 401 with `WWW-Authenticate: Basic realm="Planful"`; unknown paths
404 `{"Message": "No HTTP resource was found that matches the request URI '…'."}`; GL data without
Scenario or FiscalYear 400. Query parameter names are case-insensitive (ASP.NET binding).

Dynamic Planning (under `/api`; `X-ACCESS-TOKEN: <token>`; header absent 412, unknown token 401):

- `GET  /api/ui/user/getRaw`, `/api/ui/group/getRaw`: users, group names [V]
- `GET  /api/modeling/models`: models (an emulator convenience, no public equivalent)
- `POST /api/modeling/model/dimension/export`: JSON `{model, dimension, includeAttributes,
  includeDimensions}`; `dimension` may name an attribute (its values become the members)
- `POST /api/modeling/model/data/export`: JSON `{model, filters: [{dimension (or attribute),
  filterType: Member|Children|Descendants|Leaves, filterValues}], memberDisplay: Code|DisplayLabel,
  suppressZeroes, operationType: AND|OR}` → `{model, memberDisplay, columns, rows}` (leaves only)
- `POST /api/modeling/sourcemodel/data/export`: XML `<export-data-payload>` →
  `<export-data-response>` (rows joined by the requested delimiter)
- `POST /api/modeling/model/calcscript/status`: XML `<run-calcscript-payload>` →
  `<calcscript-status>`
- `POST /api/modeling/model/calcscript/run`: XML, 204; the run lasts the script's duration on the
  emulator clock (status `submitted`, `in progress`, then `not running` with a new last-run-time)

The two model exports take JSON payloads only (the XML variant of their payload answers 400), and
`/financemodel/data/transfer` (row pushes) is not emulated: the taps only read.
Unknown model/dimension/calculation 404, malformed JSON/XML (or any DTD) 400. Error bodies follow
`Accept`: Structured `{"Success": false, "Message": …}` or `<Error><Message>…</Message></Error>`,
Dynamic `{"status": "error", "message": …}` or `<error><message>…</message></error>`; without a
preference an endpoint answers errors in its own format. The core's fault switches apply to all.

Settings (`--set key=value`, `POST /__sandbox/config`):

- `access_id`, `access_key`, `access_token`: accepted credentials (defaults: module constants).
- `path_prefix` (None): also serve every Structured Planning route under this prefix instead of
  `/financemodel/data` (e.g. `/export/v2`), so a tap's `path_overrides` can be proven; must not
  start with `/api`. `serve_default_paths` (True): set False to serve only the alternative prefix.
- `paging` (False): SOAP-style paging of Structured lists: `startIndex` (0-based) query parameter,
  `page_size` (5000) rows per response and an `X-Has-More: true|false` header. Off: bare arrays,
  `startIndex` ignored, no header.
- `actual_includes_current_period` (True): whether Actual returns the current (open) period;
  periods after it are never returned (emulator clock, UTC, in the fiscal calendar below).
- Fiscal calendar (planful-soap.md §12: a tenant sets its periods and first month, no call lists
  them): `fiscal_periods` (12; up to 16, e.g. 13 for 4-week periods or an adjustment period)
  are served for every year, REST `FiscalMonth` and SOAP `FiscalPeriod` past them answer no rows;
  `fiscal_year_start_month` (1) places period 1 (and `MonthName`); `fiscal_year_named_for`
  ("end"): fiscal year N ends in calendar year N, "start": it starts in N.
- `unknown_scenario` ("error"): GL data for an unknown scenario answers 400; "empty" answers [].
- `gl_extra_field` (False): GL rows carry a field the contract does not list (`LastModified`).
- `rest_gl_unused_segments` (None): REST GL rows of a tenant that uses fewer than eight
  segments (the contract does not say how unused ones are answered): "null" answers
  `"Segment7":null,"Segment8":null`, "absent" leaves both fields out.
- `gl_exact_amount` (None): a decimal text, e.g. "12345678901234.5678": the first GL row of each
  answer (REST and SOAP) carries it verbatim as its amounts (more digits than a float holds;
  the service's amounts are `decimal`, planful-soap.md §12).
- `maintenance` (False): every API request answers 503 (Dynamic Planning's maintenance status),
  with `Retry-After: <maintenance_retry_after>` when that is set (default None: no header).

SOAP web service "HostAPI_StateFree" (`sandbox/planful/soap.py`, per `shared/api/planful-soap.md`):

- `soap_path` ("/HostAPI/HostAPI_StateFree.asmx", matched case-insensitively), `login_name`,
  `password`, `tenant_code`: where it answers and the Web Services user it accepts.
- `soap_empty_result` ("element"): an empty answer is `<XResult />`; "omitted": a null result, the
  response element without the Result element (both are ASMX forms, §6).
- `unknown_scenario` also applies to GL over SOAP: "error" is a SOAP Fault, "empty" no rows.
- `soap_segment_filter_required` (False): whether `SegmentN_RetrieveWithLogin` without filters
  answers no members (the contract does not say what an empty FilterCollection returns).
- `soap_member_id` (False): the newer schema's `MemberId` as the first element of segment members.
- `soap_gl_extra` (False): GL rows carry an element no WSDL declares (`LastModified`).
- `soap_gl_calculated` ("false"): every GL row has `<Calculated>false</Calculated>`; "twins":
  the first row of each answer comes again with `Calculated` true (rows differing only in it);
  "omitted": no `Calculated` element (a null string, §2.7).
- `soap_fault_echoes_credentials` (False): the login fault repeats the login name and password.
- `Get_Users` (planful-soap.md §12): `soap_users_page_size` (5000) users a call with a `hasMore`
  out element; `soap_users_start_index` ("offset"): what `startIndex` counts, "offset" (users
  before the first answered), "one_based" (position from 1) or "page" (page number from 0).
- `soap.calls`: accepted calls with their filters (no credentials), for tests.

Dynamic Planning response bodies are guesses (planful.md §8); switches serve the plausible variants:

- `dp_dimension_shape` ("object"): `{model, dimension, members: […]}`; "array": the bare members.
- `dp_data_shape` ("columns"): `{model, memberDisplay, columns, rows}`; "records": a bare array of
  objects, one key per dimension plus `Value`.
- `dp_esm_shape` ("rows"): `<header>` and `<rows><row>…`; "data": one `<data>` element holding the
  delimited lines, the header first.

Seed options (`--seed key=value`, `POST /__sandbox/seed`):

- `first_fiscal_year` (2024), `fiscal_years` (4): the GL years; scenarios are Actual, a Budget per
  year and 3+9/6+6/9+3 forecasts for inner years, unless `scenarios` lists
  `{"Name", "ScenarioType" (Actual|Budget|Forecast), "FiscalYear" (int or null)}` records.
- `gl_rows_per_period` (48): GL rows per scenario, fiscal year and month; rows are computed from
  their index and encoded on demand (about 1 µs a row once warm), so a million rows cost no store.
  E.g. `scenarios=[{"Name":"2025 Budget","ScenarioType":"Budget","FiscalYear":2025}]` and
  `gl_rows_per_period=83334` gives 1,000,008 rows in 12 monthly requests.
- `reporting` (["Local", "Common"]): `Reporting` values; rows alternate between them, the first in
  the company's local currency, the others in USD.
- `users` (40), `dp_users` (15), `esm_rows` (500): Structured users, Dynamic users, rows of the
  `salestxn` external source model.

In-process accessors for expected values: `segment(n_or_name).members`, `scenarios`, `currencies`,
`users`, `data_load_rules`, `current_period()`, `visible_months(scenario, year)`,
`gl_records(scenario, year[, month][, reporting])`, `gl_slice(...)` (`len()`, `.records(start)`),
`gl_row_count([scenario])`, `dynamic_planning.models[name].rows`/`.dimensions`,
`dynamic_planning.source_models[name].rows`, `dynamic_planning.users`/`.groups`, `transfers`.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from sandbox.core import Emulator, Request, Response, json_response, route
from sandbox.planful.dynamic import DynamicPlanning, DynamicPlanningError, build_dynamic_planning
from sandbox.planful.ledger import MAX_PERIODS, GeneralLedger, LedgerSlice
from sandbox.planful.soap import (
    DEFAULT_SOAP_PATH,
    LOGIN_NAME,
    PASSWORD,
    TENANT_CODE,
    StateFreeService,
)
from sandbox.planful.structured import (
    Segment,
    build_currencies,
    build_data_load_rules,
    build_scenarios,
    build_segments,
    build_users,
)

ACCESS_ID = "PFSBX-7Q2M4K9T"
ACCESS_KEY = "sbx_3f9a1c7e5b2d4086a1e9c0f7d2b6a4e8"
ACCESS_TOKEN = "0b6f2c4e-8a1d-4e3b-9c7f-5d2a1e8b3c90"

DEFAULT_PREFIX = "/financemodel/data"
DYNAMIC_BASE = "/api"
STRUCTURED_PREFIX = r"(?P<prefix>(?:/[^/]+)*?)"
TRANSFER_LIMIT = 1024 * 1024  # bytes; larger bodies answer 413 as documented for transfers
SCENARIO_TYPES = ("Actual", "Budget", "Forecast")
JSON_UTF8 = "application/json; charset=utf-8"
XML_UTF8 = "application/xml; charset=utf-8"


def structured(
    method: str, suffix: str
) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    """A Structured Planning route, served under the default and/or the alternative prefix."""

    def decorate(handler: Callable[..., Response]) -> Callable[..., Response]:
        @functools.wraps(handler)
        def guarded(self: PlanfulEmulator, request: Request) -> Response:
            if not self.serves_prefix(request.path_params.pop("prefix")):
                return self.structured_error(request, 404, self.not_found_message(request))
            return handler(self, request)

        return route(method, STRUCTURED_PREFIX + suffix)(guarded)

    return decorate


def dynamic(
    method: str, path: str, *, xml: bool = False
) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    """A Dynamic Planning route under `/api`; refusals become documented status codes."""

    def decorate(handler: Callable[..., Response]) -> Callable[..., Response]:
        @functools.wraps(handler)
        def guarded(self: PlanfulEmulator, request: Request) -> Response:
            try:
                return handler(self, request)
            except DynamicPlanningError as exc:
                return self.dynamic_error(request, exc.status, exc.message, native_xml=xml)

        return route(method, DYNAMIC_BASE + path)(guarded)

    return decorate


def prefers_xml(request: Request, native_xml: bool) -> bool:
    """Negotiate on `Accept`: the first of xml/json mentioned wins, else the native format."""
    accept = (request.headers.get("Accept") or "").lower()
    xml_at, json_at = accept.find("xml"), accept.find("json")
    if xml_at < 0 and json_at < 0:
        return native_xml
    return json_at < 0 or 0 <= xml_at < json_at


def xml_response(
    root: ET.Element, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    body = b'<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(root, encoding="utf-8")
    return Response(status=status, body=body, headers=headers or {}, content_type=XML_UTF8)


def xml_element(
    tag: str, children: dict[str, str] | None = None, text: str | None = None
) -> ET.Element:
    element = ET.Element(tag)
    element.text = text
    for name, value in (children or {}).items():
        ET.SubElement(element, name).text = value
    return element


class PlanfulEmulator(Emulator):
    """Planful's Structured Planning and Dynamic Planning APIs with seeded tenant data."""

    name = "planful"
    default_settings = {
        "access_id": ACCESS_ID,
        "access_key": ACCESS_KEY,
        "access_token": ACCESS_TOKEN,
        "path_prefix": None,
        "serve_default_paths": True,
        "paging": False,
        "page_size": 5000,
        "actual_includes_current_period": True,
        "unknown_scenario": "error",
        "maintenance": False,
        "maintenance_retry_after": None,
        "gl_extra_field": False,
        "rest_gl_unused_segments": None,
        "gl_exact_amount": None,
        "fiscal_periods": 12,
        "fiscal_year_start_month": 1,
        "fiscal_year_named_for": "end",
        "dp_dimension_shape": "object",
        "dp_data_shape": "columns",
        "dp_esm_shape": "rows",
        "soap_path": DEFAULT_SOAP_PATH,
        "login_name": LOGIN_NAME,
        "password": PASSWORD,
        "tenant_code": TENANT_CODE,
        "soap_member_id": False,
        "soap_empty_result": "element",
        "soap_segment_filter_required": False,
        "soap_gl_extra": False,
        "soap_gl_calculated": "false",
        "soap_users_page_size": 5000,
        "soap_users_start_index": "offset",
        "soap_fault_echoes_credentials": False,
    }
    default_seed = {
        "first_fiscal_year": 2024,
        "fiscal_years": 4,
        "gl_rows_per_period": 48,
        "reporting": ["Local", "Common"],
        "scenarios": None,
        "users": 40,
        "dp_users": 15,
        "esm_rows": 500,
    }

    # -- store --------------------------------------------------------------------------

    def seed_store(self, **options: Any) -> None:
        seed = self.check_seed(options)
        first_year, years = seed["first_fiscal_year"], seed["fiscal_years"]
        self.fiscal_years = list(range(first_year, first_year + years))
        self.segments: list[Segment] = build_segments()
        self.scenarios = (
            build_scenarios(self.fiscal_years) if seed["scenarios"] is None else seed["scenarios"]
        )
        self.ledger = GeneralLedger(
            self.segments,
            self.scenarios,
            self.fiscal_years,
            seed["gl_rows_per_period"],
            seed["reporting"],
        )
        self.currencies = build_currencies()
        self.users = build_users(seed["users"])
        self.data_load_rules = build_data_load_rules()
        self.dynamic_planning: DynamicPlanning = build_dynamic_planning(
            first_year, years, seed["dp_users"], seed["esm_rows"]
        )
        self.transfers: list[dict[str, Any]] = []
        self.soap = StateFreeService(self)

    def reseed(self, options: Mapping[str, Any]) -> None:
        """Refuse bad options before the core records them (a later reset re-seeds with them)."""
        self.check_seed({**self.default_seed, **options})
        super().reseed(options)

    def check_seed(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """The seed options validated, each error naming its option."""
        unknown = set(options) - set(self.default_seed)
        if unknown:
            known = sorted(self.default_seed)
            msg = f"unknown planful seed options: {sorted(unknown)}; known: {known}"
            raise ValueError(msg)
        reporting = options["reporting"]
        if (
            not isinstance(reporting, list)
            or not reporting
            or not all(isinstance(r, str) for r in reporting)
        ):
            msg = "seed option reporting must be a non-empty list of strings"
            raise ValueError(msg)
        seed: dict[str, Any] = {
            "first_fiscal_year": _whole(options, "first_fiscal_year", 1900),
            "fiscal_years": _whole(options, "fiscal_years", 1),
            "gl_rows_per_period": _whole(options, "gl_rows_per_period", 0),
            "users": _whole(options, "users", 0),
            "dp_users": _whole(options, "dp_users", 0),
            "esm_rows": _whole(options, "esm_rows", 0),
            "scenarios": _scenarios(options["scenarios"])
            if options["scenarios"] is not None
            else None,
            "reporting": reporting,
        }
        combinations = _segment_combinations() * len(reporting)
        if seed["gl_rows_per_period"] > combinations:
            msg = f"seed option gl_rows_per_period exceeds the {combinations} distinct GL keys"
            raise ValueError(msg)
        return seed

    def state(self) -> dict[str, Any]:
        dp = self.dynamic_planning
        return {
            "segments": len(self.segments),
            "segment_members": {s.name: len(s.members) for s in self.segments},
            "scenarios": len(self.scenarios),
            "fiscal_years": self.fiscal_years,
            "gl_rows": self.gl_row_count(),
            "gl_rows_per_period": self.ledger.rows_per_period,
            "currencies": len(self.currencies),
            "users": len(self.users),
            "data_load_rules": len(self.data_load_rules),
            "transfers": len(self.transfers),
            "dp_models": {
                m.name: {
                    "dimensions": {d.name: len(d.nodes) for d in m.dimensions},
                    "rows": len(m.rows),
                }
                for m in dp.models.values()
            },
            "dp_source_models": {s.name: len(s.rows) for s in dp.source_models.values()},
            "dp_calcscripts": sum(len(m.calcscripts) for m in dp.models.values()),
            "dp_users": len(dp.users),
            "dp_groups": len(dp.groups),
        }

    # -- in-process accessors (expected values for tests) ---------------------------------

    def segment(self, key: int | str) -> Segment | None:
        """Segment by slot number or name (case-insensitive)."""
        text = str(key).strip().lower()
        return next((s for s in self.segments if text in (str(s.number), s.name.lower())), None)

    def fiscal_periods(self) -> int:
        """Periods in the tenant's fiscal year (switch `fiscal_periods`)."""
        periods = self.setting("fiscal_periods")
        if not isinstance(periods, int) or not 1 <= periods <= MAX_PERIODS:
            msg = f"fiscal_periods must be an integer from 1 to {MAX_PERIODS}, got {periods!r}"
            raise ValueError(msg)
        return periods

    def current_period(self) -> tuple[int, int]:
        """(fiscal year, period) of the emulator clock, UTC, in the tenant's fiscal calendar.

        12 periods are calendar months from `fiscal_year_start_month`; another count divides the
        fiscal year into that many equal spans of days. A fiscal year is named for the calendar
        year it ends in, or (`fiscal_year_named_for: start`) the one it starts in.
        """
        today = datetime.fromtimestamp(self.now(), UTC)
        start, periods = int(self.setting("fiscal_year_start_month")), self.fiscal_periods()
        begins = today.year if today.month >= start else today.year - 1
        named_for_end = self.setting("fiscal_year_named_for") == "end"
        year = begins + 1 if start > 1 and named_for_end else begins
        if periods == 12:
            return year, (today.month - start) % 12 + 1
        first = datetime(begins, start, 1, tzinfo=UTC)
        share = (today - first) / (datetime(begins + 1, start, 1, tzinfo=UTC) - first)
        return year, min(periods, int(share * periods) + 1)

    def visible_months(
        self, scenario: str, fiscal_year: int, fiscal_month: int | None = None
    ) -> list[int]:
        """Periods of `fiscal_year` returned for `scenario`: Actual stops at the current period."""
        periods = self.fiscal_periods()
        months = [fiscal_month] if fiscal_month else list(range(1, periods + 1))
        months = [m for m in months if 1 <= m <= periods]
        if self.ledger.scenarios[scenario]["ScenarioType"] != "Actual":
            return months
        year, month = self.current_period()
        if not self.setting("actual_includes_current_period"):
            year, month = (year, month - 1) if month > 1 else (year - 1, periods)
        return [m for m in months if (fiscal_year, m) <= (year, month)]

    def gl_slice(
        self,
        scenario: str,
        fiscal_year: int,
        fiscal_month: int | None = None,
        reporting: str | None = None,
    ) -> LedgerSlice:
        """Exactly what `gldata` answers for these parameters (before paging)."""
        months = self.visible_months(scenario, fiscal_year, fiscal_month)
        self.ledger.start_month = int(self.setting("fiscal_year_start_month"))
        return self.ledger.slice(scenario, fiscal_year, months, reporting)

    def gl_records(
        self,
        scenario: str,
        fiscal_year: int,
        fiscal_month: int | None = None,
        reporting: str | None = None,
    ) -> list[dict[str, Any]]:
        return list(self.gl_slice(scenario, fiscal_year, fiscal_month, reporting).records())

    def gl_row_count(self, scenario: str | None = None) -> int:
        """Rows the API serves now, over every fiscal year, for one scenario or all of them."""
        names = [scenario] if scenario else list(self.ledger.scenarios)
        return sum(len(self.gl_slice(name, year)) for name in names for year in self.fiscal_years)

    # -- auth, errors -------------------------------------------------------------------

    def before_route(self, request: Request) -> Response | None:
        is_dynamic = request.path == DYNAMIC_BASE or request.path.startswith(DYNAMIC_BASE + "/")
        if self.setting("maintenance"):
            retry_after = self.setting("maintenance_retry_after")
            headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
            message = "The service is temporarily unavailable for maintenance."
            if is_dynamic:
                return self.dynamic_error(request, 503, message, headers=headers)
            return self.structured_error(request, 503, message, headers=headers)
        if self.soap.serves(request.path):
            return self.soap.handle(request)
        if is_dynamic:
            token = request.headers.get("X-ACCESS-TOKEN")
            if not token:
                return self.dynamic_error(request, 412, "Missing required header: X-ACCESS-TOKEN.")
            if not hmac.compare_digest(token.encode(), str(self.setting("access_token")).encode()):
                return self.dynamic_error(request, 401, "Unauthorized: access key lookup failed.")
            return None
        if not self._basic_auth_ok(request.headers.get("Authorization") or ""):
            return self.structured_error(
                request,
                401,
                "Authorization has been denied for this request.",
                headers={"WWW-Authenticate": 'Basic realm="Planful"'},
            )
        return None

    def _basic_auth_ok(self, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            access_id, sep, access_key = (
                base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
            )
        except (binascii.Error, UnicodeDecodeError):
            return False
        expected = f"{self.setting('access_id')}:{self.setting('access_key')}".encode()
        return bool(sep) and hmac.compare_digest(f"{access_id}:{access_key}".encode(), expected)

    def structured_error(
        self, request: Request, status: int, message: str, headers: dict[str, str] | None = None
    ) -> Response:
        if prefers_xml(request, native_xml=False):
            return xml_response(xml_element("Error", {"Message": message}), status, headers)
        body: dict[str, Any] = (
            {"Message": message} if status == 404 else {"Success": False, "Message": message}
        )
        return json_response(body, status, headers)

    def dynamic_error(
        self,
        request: Request,
        status: int,
        message: str,
        *,
        native_xml: bool = False,
        headers: dict[str, str] | None = None,
    ) -> Response:
        if prefers_xml(request, native_xml):
            return xml_response(xml_element("error", {"message": message}), status, headers)
        return json_response({"status": "error", "message": message}, status, headers)

    def not_found_message(self, request: Request) -> str:
        return f"No HTTP resource was found that matches the request URI '{request.path}'."

    def serves_prefix(self, prefix: str) -> bool:
        alternative = self.setting("path_prefix")
        if alternative and prefix == "/" + str(alternative).strip("/"):
            return True
        return prefix == DEFAULT_PREFIX and bool(self.setting("serve_default_paths"))

    @route("GET", r"/.*")
    @route("POST", r"/.*")
    @route("PUT", r"/.*")
    @route("PATCH", r"/.*")
    @route("DELETE", r"/.*")
    def unmatched(self, request: Request) -> Response:
        """Unknown paths (and known paths with another method) in the family's own error format."""
        known = any(
            method != request.method and pattern.fullmatch(request.path)
            for method, pattern, _ in self._routes
            if pattern.pattern != "/.*"
        )
        if request.path.startswith(DYNAMIC_BASE + "/"):
            if known:
                return self.dynamic_error(
                    request, 405, f"Method {request.method} is not supported here."
                )
            return self.dynamic_error(request, 404, f"Resource not found: {request.path}")
        if known:
            message = f"The requested resource does not support http method '{request.method}'."
            return self.structured_error(request, 405, message)
        return self.structured_error(request, 404, self.not_found_message(request))

    # -- Structured Planning ----------------------------------------------------------------

    def _query(self, request: Request, name: str) -> str | None:
        """A query parameter by case-insensitive name (ASP.NET model binding)."""
        wanted = name.lower()
        return next(
            (
                values[0]
                for key, values in request.query.items()
                if key.lower() == wanted and values
            ),
            None,
        )

    def _list(self, request: Request, records: list[Any]) -> Response:
        """A bare array, or one page of it with `X-Has-More` when paging is switched on."""
        window = self._page_window(request, len(records))
        if isinstance(window, Response):
            return window
        if window is None:
            return json_response(records)
        start, stop, headers = window
        return json_response(records[start:stop], headers=headers)

    def _page_window(
        self, request: Request, total: int
    ) -> tuple[int, int, dict[str, str]] | Response | None:
        if not self.setting("paging"):
            return None
        raw = self._query(request, "startIndex") or "0"
        if not raw.isdigit():
            return self.structured_error(request, 400, "startIndex must be a non-negative integer.")
        start = int(raw)
        stop = start + int(self.setting("page_size"))
        return start, stop, {"X-Has-More": "true" if stop < total else "false"}

    @structured("GET", r"/rules")
    def data_load_rules_all(self, request: Request) -> Response:
        return self._list(request, self.data_load_rules)

    @structured("GET", r"/rules/gl")
    def data_load_rules_gl(self, request: Request) -> Response:
        return self._list(request, [r for r in self.data_load_rules if r["LoadItem"] == "GL Data"])

    @structured("GET", r"/rules/transactions")
    def data_load_rules_transactions(self, request: Request) -> Response:
        rules = [r for r in self.data_load_rules if r["LoadItem"].startswith("Transactions")]
        return self._list(request, rules)

    @structured("POST", r"/transferfile")
    def transfer_file(self, request: Request) -> Response:
        """Load a CSV through a data load rule (multipart field `file`), synchronously."""
        if len(request.body) > TRANSFER_LIMIT:
            return self.structured_error(request, 413, "Request entity too large.")
        rule_name = self._query(request, "DataLoadRuleName")
        rule = next((r for r in self.data_load_rules if r["Name"] == rule_name), None)
        if rule is None:
            return self.structured_error(
                request, 400, f"Data load rule '{rule_name}' was not found."
            )
        content_type = request.headers.get("Content-Type") or ""
        message = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + request.body
        )
        upload = (
            next(
                (
                    p
                    for p in message.iter_parts()
                    if p.get_param("name", header="content-disposition") == "file"
                ),
                None,
            )
            if message.is_multipart()
            else None
        )
        if upload is None:
            return self.structured_error(
                request, 400, "A multipart form field named 'file' is required."
            )
        payload = upload.get_payload(decode=True)
        assert isinstance(payload, bytes)  # decode=True on a non-multipart part
        lines = [line for line in payload.decode("utf-8", "replace").splitlines() if line.strip()]
        execution = {
            "DataLoadRuleId": rule["DataLoadRuleId"],
            "ExcecutionId": f"{rule['DataLoadRuleId']}-{len(self.transfers) + 1:06d}",
            "RunAsynchronously": False,
            "Attempts": 1,
            "TransferResponse": {
                "Success": True,
                "Message": f"{max(len(lines) - 1, 0)} rows loaded.",
            },
        }
        with self.lock:
            self.transfers.append(
                {**execution, "ColumnDelimiter": self._query(request, "ColumnDelimiter") or ","}
            )
        return json_response(execution)

    @structured("GET", r"/segments")
    def segment_list(self, request: Request) -> Response:
        return self._list(request, [s.definition() for s in self.segments])

    @structured("GET", r"/segments/(?P<segment>[^/]+)/members")
    def segment_members(self, request: Request) -> Response:
        segment = self.segment(request.path_params["segment"])
        if segment is None:
            return self.structured_error(
                request, 404, f"Segment '{request.path_params['segment']}' was not found."
            )
        return self._list(request, segment.members)

    @structured("GET", r"/scenarios")
    def scenario_list(self, request: Request) -> Response:
        return self._list(request, self.scenarios)

    @structured("GET", r"/currencies")
    def currency_list(self, request: Request) -> Response:
        return self._list(request, self.currencies)

    @structured("GET", r"/users")
    def user_list(self, request: Request) -> Response:
        return self._list(request, self.users)

    @structured("GET", r"/gldata")
    def gl_data(self, request: Request) -> Response:
        scenario, year_text = self._query(request, "Scenario"), self._query(request, "FiscalYear")
        if not scenario or not year_text:
            return self.structured_error(request, 400, "Scenario and FiscalYear are required.")
        if not re.fullmatch(r"\d{4}", year_text.strip()):
            return self.structured_error(
                request, 400, f"FiscalYear '{year_text}' is not a four-digit year."
            )
        month_text = self._query(request, "FiscalMonth")
        month = int(month_text) if month_text and month_text.strip().isdigit() else None
        if month_text and not (month and 1 <= month <= 99):
            return self.structured_error(
                request, 400, f"FiscalMonth '{month_text}' is not a fiscal period from 1 to 99."
            )
        if scenario not in self.ledger.scenarios:
            if self.setting("unknown_scenario") == "empty":
                return json_response([])
            return self.structured_error(request, 400, f"Scenario '{scenario}' does not exist.")
        rows = self.gl_slice(scenario, int(year_text), month, self._query(request, "Reporting"))
        window = self._page_window(request, len(rows))
        if isinstance(window, Response):
            return window
        start, stop, headers = window or (0, len(rows), {})
        body = rows.encode(start, stop)
        exact = self.setting("gl_exact_amount")
        if exact and start == 0 and body != b"[]":
            body = _first_amounts(body, str(exact))
        unused = self.setting("rest_gl_unused_segments")
        if unused:
            body = _without_segments_7_and_8(body, unused)
        if self.setting("gl_extra_field"):  # a field the API might add one day
            body = body.replace(
                b'"MtdAmount"', b'"LastModified":"2026-01-01T00:00:00Z","MtdAmount"'
            )
        return Response(200, body, headers, JSON_UTF8)

    # -- Dynamic Planning -----------------------------------------------------------------

    def _json_payload(self, request: Request) -> dict[str, Any]:
        try:
            payload = request.json()
        except ValueError:
            raise DynamicPlanningError(400, "Malformed JSON payload.") from None
        if not isinstance(payload, dict):
            raise DynamicPlanningError(400, "The payload must be a JSON object.")
        if not payload.get("model"):
            raise DynamicPlanningError(400, "model is required.")
        return payload

    def _xml_payload(self, request: Request) -> ET.Element:
        if b"<!DOCTYPE" in request.body.upper() or b"<!ENTITY" in request.body.upper():
            raise DynamicPlanningError(
                400, "Malformed XML payload: DTDs and entities are not allowed."
            )
        try:
            return ET.fromstring(request.body)
        except ET.ParseError as exc:
            raise DynamicPlanningError(400, f"Malformed XML payload: {exc}.") from None

    def _clock(self) -> datetime:
        return datetime.fromtimestamp(self.now(), UTC)

    @dynamic("GET", r"/ui/user/getRaw")
    def dp_users(self, request: Request) -> Response:
        return json_response(self.dynamic_planning.users)

    @dynamic("GET", r"/ui/group/getRaw")
    def dp_groups(self, request: Request) -> Response:
        return json_response(self.dynamic_planning.groups)

    @dynamic("GET", r"/modeling/models")
    def dp_models(self, request: Request) -> Response:
        return json_response(self.dynamic_planning.listing())

    @dynamic("POST", r"/modeling/model/dimension/export")
    def dp_dimension_export(self, request: Request) -> Response:
        payload = self._json_payload(request)
        if not payload.get("dimension"):
            raise DynamicPlanningError(400, "dimension is required.")
        model = self.dynamic_planning.model(payload["model"])
        body = model.export_dimension(
            payload["dimension"],
            _flag(payload.get("includeAttributes")),
            _flag(payload.get("includeDimensions")),
        )
        if self.setting("dp_dimension_shape") == "array":
            return json_response(body["members"])
        return json_response(body)

    @dynamic("POST", r"/modeling/model/data/export")
    def dp_data_export(self, request: Request) -> Response:
        payload = self._json_payload(request)
        filters = payload.get("filters") or []
        if not isinstance(filters, list):
            raise DynamicPlanningError(400, "filters must be a list.")
        model = self.dynamic_planning.model(payload["model"])
        body = model.export_data(
            filters,
            member_display=payload.get("memberDisplay") or "Code",
            suppress_zeroes=_flag(payload.get("suppressZeroes")),
            operation=payload.get("operationType") or "AND",
        )
        if self.setting("dp_data_shape") == "records":
            columns = body["columns"]
            return json_response([dict(zip(columns, row, strict=True)) for row in body["rows"]])
        return json_response(body)

    @dynamic("POST", r"/modeling/sourcemodel/data/export", xml=True)
    def dp_source_model_export(self, request: Request) -> Response:
        payload = self._xml_payload(request)
        name = (payload.findtext("model-name") or "").strip()
        if not name:
            raise DynamicPlanningError(400, "model-name is required.")
        delimiter = payload.findtext("delimiter") or ","
        filters: dict[str, list[str]] = {}
        for node in payload.iterfind("filters/filter"):
            field = (node.findtext("field") or "").strip()
            filters.setdefault(field, []).extend(v.text or "" for v in node.iterfind("field-value"))
        fields = [(f.text or "").strip() for f in payload.iterfind("fields/field")]
        header, rows = self.dynamic_planning.source_model(name).export(filters, fields)
        root = xml_element("export-data-response", {"model-name": name, "delimiter": delimiter})
        if self.setting("dp_esm_shape") == "data":
            lines = [delimiter.join(header), *(delimiter.join(row) for row in rows)]
            ET.SubElement(root, "data").text = "\n".join(lines)
            return xml_response(root)
        ET.SubElement(root, "header").text = delimiter.join(header)
        container = ET.SubElement(root, "rows")
        for row in rows:
            ET.SubElement(container, "row").text = delimiter.join(row)
        return xml_response(root)

    def _calcscript(self, request: Request) -> tuple[str, str]:
        payload = self._xml_payload(request)
        model, name = (
            (payload.findtext("model-name") or "").strip(),
            (payload.findtext("calcscript-name") or "").strip(),
        )
        if not model or not name:
            raise DynamicPlanningError(400, "model-name and calcscript-name are required.")
        return model, name

    @dynamic("POST", r"/modeling/model/calcscript/status", xml=True)
    def dp_calcscript_status(self, request: Request) -> Response:
        model, name = self._calcscript(request)
        with self.lock:
            status = self.dynamic_planning.calcscript(model, name).status(self._clock())
        return xml_response(
            xml_element(
                "calcscript-status", {"model-name": model, "calcscript-name": name, **status}
            )
        )

    @dynamic("POST", r"/modeling/model/calcscript/run", xml=True)
    def dp_calcscript_run(self, request: Request) -> Response:
        model, name = self._calcscript(request)
        with self.lock:
            self.dynamic_planning.calcscript(model, name).run(self._clock())
        return Response(204, b"")


@functools.cache
def _segment_combinations() -> int:
    return GeneralLedger.segment_combinations(build_segments())


def _first_amounts(body: bytes, amount: str) -> bytes:
    """`body` with the first row's MtdAmount, QtdAmount and YtdAmount written as `amount`,
    verbatim as a JSON number (switch `gl_exact_amount`)."""
    if not re.fullmatch(r"-?\d+(\.\d+)?([eE][+-]?\d+)?", amount):
        msg = f"gl_exact_amount must be a JSON number, got {amount!r}"
        raise ValueError(msg)
    first_end = body.index(b"}") + 1
    first = re.sub(
        rb'("(?:Mtd|Qtd|Ytd)Amount"):[^,}]+', rb"\1:" + amount.encode(), body[:first_end]
    )
    return first + body[first_end:]


def _flag(value: Any) -> bool:
    """Dynamic Planning booleans arrive as JSON booleans or as strings like "true"/"Yes"."""
    return value is True or str(value).strip().lower() in {"true", "yes", "1"}


def _whole(options: Mapping[str, Any], name: str, minimum: int) -> int:
    value = options[name]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        msg = f"seed option {name} must be an integer >= {minimum}, got {value!r}"
        raise ValueError(msg)
    return value


def _scenarios(records: Any) -> list[dict[str, Any]]:
    """Validate the `scenarios` seed option."""
    if not isinstance(records, list):
        msg = "seed option scenarios must be a list of {Name, ScenarioType, FiscalYear} objects"
        raise ValueError(msg)
    checked = []
    for record in records:
        if (
            not isinstance(record, dict)
            or not isinstance(record.get("Name"), str)
            or record.get("ScenarioType") not in SCENARIO_TYPES
            or not (record.get("FiscalYear") is None or isinstance(record.get("FiscalYear"), int))
        ):
            msg = f"seed option scenarios: bad {record!r}; ScenarioType is one of {SCENARIO_TYPES}"
            raise ValueError(msg)
        checked.append(
            {
                "Name": record["Name"],
                "ScenarioType": record["ScenarioType"],
                "FiscalYear": record.get("FiscalYear"),
            }
        )
    return checked


_SEGMENTS_7_AND_8 = re.compile(rb'"Segment([78])":"[^"]*",')


def _without_segments_7_and_8(body: bytes, variant: str) -> bytes:
    """Switch `rest_gl_unused_segments`: segments 7 and 8 answered as null, or left out."""
    if variant == "null":
        return _SEGMENTS_7_AND_8.sub(rb'"Segment\1":null,', body)
    if variant == "absent":
        return _SEGMENTS_7_AND_8.sub(b"", body)
    msg = f"rest_gl_unused_segments is null or absent, got {variant!r}"
    raise ValueError(msg)
