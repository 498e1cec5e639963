"""The PlanSource Admin API v2 emulator: token endpoint and every read endpoint of contract §8.3.

One loopback server stands in for both PlanSource hosts: `POST /oauth/v2/token` and
`GET /admin/v2/...`. Access tokens are JWTs signed by the emulator and live `token_ttl_seconds`
on the emulator clock (`POST /__sandbox/clock {"advance": 301}` expires them). Success bodies
are `{"status": "success", "errors": [], "data": ...}` (organizations and EOI omit `errors`);
failures are `{"status": "failure", "errors": {"http_status", "message"[, "error_code"]},
"data": []}` (404s omit `data`), with the API's own messages where the contract knows them.

Settings (`--set key=value`, `POST /__sandbox/config`), defaults in brackets:

- `clients` [one client, see `DEFAULT_CLIENT_ID` and friends]: `{client_id: {"client_secret",
  "logged_in_user", "organization_ids": [...], "public_key"?, "key_id"?}}` (PEM public key for
  RS*/ES* only; with `key_id`, the assertion's `kid` header must name it).
- `environment_hosts` [`api.plansource.com`, `partner-dev-api.plansource.com`]: accepted `aud`.
- `accept_local_aud` [true]: also accept `localhost`, `127.0.0.1`, `::1` and the Host header's name.
- `token_ttl_seconds` [300]; `assertion_leeway_seconds` [30]: skew allowed on the assertion `exp`.
- `jwt_alg` [`HS256`]: the assertion's algorithm, e.g. `RS256` (the RFC 7523 sample PlanSource
  documents) or `ES256` (HS* keyed by `client_secret`, RS*/ES* by `public_key`).
- `require_code_param` [false]: demand the CSRF `code` form field.
- `require_logged_in_user` [true]: demand `logged_in_user` as a JWT claim or form field.
- `require_scope` [true]: demand `admin_api_v2` in the `scopes` (or `scope`) claim or form field.
- `max_per_page` [500]: larger `per_page` values are clamped to it.
- `list_shape` [`array`]: `data` of flat list endpoints is a list; `example` wraps it as in the
  spec's examples (`{"subscribers": [...]}`; composites as `{"coverages": [...], "dependents":
  [...], "lines": [...]}`; payroll metadata plus a `link`); `single` answers one record per page
  as a bare object (`per_page` forced to 1), the third shape a client must parse.
- `pagination_meta` [true]: payroll `data` is `{"total", "per_page", "links",
  "payroll_coverages"}`; false gives the plain list.
- `payroll_window_field` [`updated_at`] or `change_effective_date`: what payroll
  `start_date`/`end_date` compare.
- `coverage_window_field` [`change_effective_date`] or `original_effective_date`: the same for
  coverages.
- `mask_dependent_ssn` [true]; `mask_other_ssn` [false]: `XXX-XX-1234` masking of dependents, and
  of subscribers, payroll, EOI and ACA rows.
- `links_form` [`array`]: a record's `links` as the OpenAPI schema's array of `{href, rel}`
  (PlanSource's payroll guide shows it); `object` gives the single object of the OpenAPI examples.
- `custom_id_links` [false]: hrefs name subscribers by the customer's own id
  (`/admin/subscriber/E000123/dependent/2078001?is_custom_id=true`), as the payroll guide shows.
- `aca_enrollee_ids` [false]: ACA enrollee rows carry `id` (the OpenAPI schema); by default they
  do not, as in the documented example.
- `administrators_default_changes_since` [1]: minutes `/administrators` looks back when the
  request has no `changes_since` (PlanSource documents a default of 1); null gives every admin.
- `empty_pages` [[]]: faults answering a list page 200 with no records while its paging metadata
  (payroll's `total`, `next` link) still describes the rows, e.g. `{"path":
  "^/admin/v2/subscribers$", "page": 3, "times": 1}` (`times: null`: every time).
- `tenant_fields` [false]: the tenant configured fields beyond PlanSource's documented models:
  `/subscriber/meta` lists `employee_badge_number` (string), `union_dues_rate` (decimal),
  `remote_worker` (boolean), `alternate_tax_id` (ssn) and `parking_zone` (a `data_type` no
  source documents), `/dependent/meta` lists `student_verified_on` (date), and the records carry
  them (PlanSource's loose forms: decimal strings, `Y`/`N`, `YYYY/MM/DD`, a clear SSN).
- `meta_type_case` ["upper"]: the meta endpoints' `data_type` as the public example writes it
  (`STRING`, `DATE`, ...); "lower" serves `string`, `date`, ... `meta_ssn_type` ["SSN"]: the
  type of SSN fields (`ssn`, `alternate_tax_id`); "STRING" types them like any text, as the
  public example may (plansource.md §11).
- `rate_limit` [0 = off]: requests allowed per `rate_limit_window_seconds` [1] on the emulator
  clock; beyond it 429 with `Retry-After`.
- core: `latency_ms` [0], `log_bodies` [true]; faults through `/__sandbox/faults`, e.g. the token
  endpoint's timeout: `{"path": "^/oauth/v2/token$", "status": 400, "body": {"error":
  "invalid_request", "error_description": "token has expired"}}`.

Seed options (`--seed key=value`, `POST /__sandbox/seed`):

- `seed` [42]: the random seed; `subscribers` [2000] in the client's organization
  (`DEFAULT_ORGANIZATION_ID`); `administrators` [40]; `foreign_subscribers` [3] in
  `FOREIGN_ORGANIZATION_ID`, which the default client may not read (403);
- `anchor` [the clock when seeding]: epoch seconds or ISO date-time that dates are generated
  around (plan years are the calendar years before, of and after it). Same seed and anchor give
  the same data.

In-process accessors for tests: `emulator.store` (compact records: `subscribers`, `dependents`,
`coverages`, `coverage_lines`, `dependent_coverages`, `beneficiaries`, `payroll_coverages`,
`aca_offers`, `aca_enrollees`, `administrators`, `pending_eoi`, `plan_years`) and
`emulator.renderer` (the same records as the API renders them).
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlencode

from sandbox.core import Emulator, Request, Response, json_response, route
from sandbox.plansource.auth import (
    BearerError,
    Caller,
    TokenError,
    TokenIssuer,
    request_host,
    token_form,
)
from sandbox.plansource.meta import dependent_meta, subscriber_meta
from sandbox.plansource.records import Renderer
from sandbox.plansource.seed import (
    DAY,
    TERMINATION_REASONS,
    AcaEnrollee,
    AcaOffer,
    Coverage,
    Organization,
    Store,
    Subscriber,
    build_store,
)

DEFAULT_CLIENT_ID = "sandbox-api-user"
DEFAULT_CLIENT_SECRET = "sandbox-client-secret-for-tests-only-0123456789"
DEFAULT_LOGGED_IN_USER = "sandbox.admin"
DEFAULT_ORGANIZATION_ID = 4087
FOREIGN_ORGANIZATION_ID = 9011
ORGANIZATION = Organization(DEFAULT_ORGANIZATION_ID, "Acme Manufacturing", "ACME")
FOREIGN_ORGANIZATION = Organization(FOREIGN_ORGANIZATION_ID, "Globex Corporation", "GLOBEX")
API = "/admin/v2"
PLAN_YEAR_OFFSETS = {"previous": -1, "current": 0, "next": 1}
DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")
TRUE_VALUES = frozenset({"true", "1", "yes", "y"})
T = TypeVar("T")
Aca = TypeVar("Aca", "AcaOffer", "AcaEnrollee")


class ApiError(Exception):
    """A PlanSource failure response."""

    def __init__(self, status: int, message: str, error_code: str | int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_code = error_code

    def response(self) -> Response:
        errors: dict[str, Any] = {"http_status": self.status, "message": self.message}
        if self.error_code is not None:
            errors["error_code"] = self.error_code
        body: dict[str, Any] = {"status": "failure", "errors": errors}
        if self.status != 404:
            body["data"] = []
        return json_response(body, self.status)


def api_get(*patterns: str) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    """Declare an authenticated `GET /admin/v2<pattern>` handler taking `(request, caller)`."""

    def decorate(func: Callable[..., Response]) -> Callable[..., Response]:
        @wraps(func)
        def handler(self: PlanSourceEmulator, request: Request) -> Response:
            try:
                return func(self, request, self.authenticate(request))
            except ApiError as error:
                return error.response()

        for pattern in patterns:
            route("GET", API + pattern)(handler)
        return handler

    return decorate


def success(data: Any, errors: bool = True) -> Response:
    body: dict[str, Any] = {"status": "success"}
    if errors:
        body["errors"] = []
    body["data"] = data
    return json_response(body)


def flag(request: Request, name: str) -> bool:
    return (request.arg(name) or "").strip().lower() in TRUE_VALUES


def window_bound(request: Request, name: str, end: bool) -> float | None:
    """A `start_date`/`end_date` as epoch seconds (a date-only end includes its whole day)."""
    value = request.arg(name)
    if value is None or value == "":
        return None
    try:
        if DATE_ONLY.fullmatch(value):
            day = date.fromisoformat(value).toordinal() + (1 if end else 0)
            return (day - date(1970, 1, 1).toordinal()) * DAY - (1 if end else 0)
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            raise ValueError(value)
        return moment.timestamp()
    except ValueError:
        raise ApiError(400, f"{name} date is not a valid YYYY-MM-DD date format.") from None


def midnight(ordinal: int) -> int:
    return (ordinal - date(1970, 1, 1).toordinal()) * DAY


class PlanSourceEmulator(Emulator):
    """PlanSource Admin API v2 on loopback (see the module docstring for settings and seed)."""

    name = "plansource"
    default_settings = {
        "clients": {
            DEFAULT_CLIENT_ID: {
                "client_secret": DEFAULT_CLIENT_SECRET,
                "logged_in_user": DEFAULT_LOGGED_IN_USER,
                "organization_ids": [DEFAULT_ORGANIZATION_ID],
            }
        },
        "environment_hosts": ["api.plansource.com", "partner-dev-api.plansource.com"],
        "accept_local_aud": True,
        "token_ttl_seconds": 300,
        "assertion_leeway_seconds": 30,
        "jwt_alg": "HS256",
        "require_code_param": False,
        "require_logged_in_user": True,
        "require_scope": True,
        "max_per_page": 500,
        "list_shape": "array",
        "pagination_meta": True,
        "payroll_window_field": "updated_at",
        "coverage_window_field": "change_effective_date",
        "mask_dependent_ssn": True,
        "mask_other_ssn": False,
        "rate_limit": 0,
        "rate_limit_window_seconds": 1.0,
        "links_form": "array",
        "custom_id_links": False,
        "aca_enrollee_ids": False,
        "administrators_default_changes_since": 1,
        "empty_pages": [],
        "tenant_fields": False,
        "meta_type_case": "upper",
        "meta_ssn_type": "SSN",
    }
    default_seed = {
        "seed": 42,
        "subscribers": 2000,
        "administrators": 40,
        "foreign_subscribers": 3,
        "anchor": None,
    }

    def __init__(
        self, settings: dict[str, Any] | None = None, seed: dict[str, Any] | None = None
    ) -> None:
        self.issuer = TokenIssuer()
        self.recent_requests: deque[float] = deque()
        self._cache: dict[tuple[Any, ...], Any] = {}
        super().__init__(settings, seed)

    # -- store -----------------------------------------------------------------------------

    def seed_store(self, **options: Any) -> None:
        unknown = set(options) - set(self.default_seed)
        if unknown:
            known = sorted(self.default_seed)
            msg = f"unknown plansource seed options: {sorted(unknown)}; known: {known}"
            raise ValueError(msg)
        anchor = options.get("anchor")
        if anchor is None:
            anchor = int(self.now())
        elif isinstance(anchor, str):
            anchor = int(datetime.fromisoformat(anchor).replace(tzinfo=UTC).timestamp())
        self.store: Store = build_store(
            seed=int(options["seed"]),
            anchor=int(anchor),
            organization=ORGANIZATION,
            subscribers=int(options["subscribers"]),
            administrators=int(options["administrators"]),
            foreign_organization=FOREIGN_ORGANIZATION,
            foreign_subscribers=int(options["foreign_subscribers"]),
        )
        self._cache.clear()

    def state(self) -> dict[str, Any]:
        store = self.store
        return {
            **store.counts(),
            "anchor": datetime.fromtimestamp(store.anchor, UTC).isoformat(),
            "plan_years": [
                {"id": p.id, "starts_on": date.fromordinal(p.starts_on).isoformat()}
                for p in store.plan_years
            ],
        }

    @property
    def renderer(self) -> Renderer:
        return Renderer(
            self.store,
            self.setting("mask_dependent_ssn"),
            self.setting("mask_other_ssn"),
            links_form=self.setting("links_form"),
            custom_id_links=self.setting("custom_id_links"),
            aca_enrollee_ids=self.setting("aca_enrollee_ids"),
            tenant_fields=self.setting("tenant_fields"),
        )

    def cached(self, key: tuple[Any, ...], build: Callable[[], T]) -> T:
        """Memoise a filtered view or index of the current store (cleared on re-seed)."""
        with self.lock:
            full_key = (id(self.store), *key)
            if full_key not in self._cache:
                if len(self._cache) > 64:
                    self._cache.clear()
                self._cache[full_key] = build()
            return self._cache[full_key]

    def grouped(
        self, name: str, rows: Callable[[], Iterable[T]], key: Callable[[T], Any]
    ) -> dict[Any, list[T]]:
        def build() -> dict[Any, list[T]]:
            groups: dict[Any, list[T]] = {}
            for row in rows():
                groups.setdefault(key(row), []).append(row)
            return groups

        return self.cached(("group", name), build)

    # -- auth, rate limit, routing ---------------------------------------------------------

    def before_route(self, request: Request) -> Response | None:
        limit = int(self.setting("rate_limit") or 0)
        if not limit:
            return None
        window = float(self.setting("rate_limit_window_seconds"))
        now = self.now()
        with self.lock:
            while self.recent_requests and self.recent_requests[0] <= now - window:
                self.recent_requests.popleft()
            if len(self.recent_requests) >= limit:
                retry_after = max(1, math.ceil(self.recent_requests[0] + window - now))
                response = ApiError(429, "Rate limit exceeded", "rate_limit_exceeded").response()
                response.headers["Retry-After"] = str(retry_after)
                return response
            self.recent_requests.append(now)
        return None

    def authenticate(self, request: Request) -> Caller:
        try:
            return self.issuer.caller(
                request.headers.get("authorization"), self.setting("clients"), self.now()
            )
        except BearerError as error:
            raise ApiError(error.status, error.message, error.error_code) from None

    @route("POST", r"/oauth/v2/token")
    def token(self, request: Request) -> Response:
        try:
            with self.lock:
                body = self.issuer.issue(
                    token_form(request), self.settings, request_host(request), self.now()
                )
        except TokenError as error:
            return json_response(error.body(), 400, {"Cache-Control": "no-store"})
        return json_response(body, 200, {"Cache-Control": "no-store"})

    @route("GET", API + r"/(.*)")
    @route("POST", API + r"/(.*)")
    @route("PUT", API + r"/(.*)")
    @route("DELETE", API + r"/(.*)")
    def route_not_found(self, request: Request) -> Response:
        """Anything else under `/admin/v2` (the core sorts this shortest pattern last)."""
        route_name = request.path[len(API) + 1 :]
        return ApiError(
            404, f"Requested route '{route_name}' not found", "route_not_found"
        ).response()

    # -- paging and shapes -----------------------------------------------------------------

    def page_window(self, request: Request) -> tuple[int, int]:
        """`page` (1-based) and `per_page` (default 500, clamped to `max_per_page`)."""
        try:
            page = int(request.arg("page") or 1)
            per_page = int(request.arg("per_page") or 500)
        except ValueError:
            raise ApiError(400, "page and per_page must be integers.") from None
        if self.setting("list_shape") == "single":
            per_page = 1
        return max(page, 1), max(1, min(per_page, int(self.setting("max_per_page"))))

    def shaped(self, records: list[dict[str, Any]], key: str) -> Any:
        """`data` for a flat list in the configured `list_shape`."""
        shape = self.setting("list_shape")
        if shape == "example":
            return {key: records}
        if shape == "single" and len(records) == 1:
            return records[0]
        return records

    def paged(
        self, request: Request, rows: Sequence[T], render: Callable[[T], dict[str, Any]], key: str
    ) -> Response:
        page, per_page = self.page_window(request)
        chunk = rows[(page - 1) * per_page : page * per_page]
        if self.forced_empty(request, page):
            chunk = []
        return success(self.shaped([render(row) for row in chunk], key))

    def forced_empty(self, request: Request, page: int) -> bool:
        """Whether an `empty_pages` fault answers this page with no records (paging metadata
        such as payroll's `total` and `next` link still describing the rows that exist)."""
        with self.lock:
            for fault in self.setting("empty_pages"):
                if int(fault.get("page", 1)) != page:
                    continue
                if not re.search(fault.get("path") or "", request.path):
                    continue
                times = fault.get("times", 1)
                if times is None:
                    return True
                if times > 0:
                    fault["times"] = times - 1
                    return True
        return False

    # -- scope helpers ---------------------------------------------------------------------

    def visible_subscribers(self, caller: Caller, include_test: bool) -> list[Subscriber]:
        def build() -> list[Subscriber]:
            return [
                s
                for s in self.store.subscribers
                if s.organization_id in caller.organization_ids
                and (include_test or not s.test_employee)
            ]

        return self.cached(("subscribers", caller.organization_ids, include_test), build)

    def in_scope(self, caller: Caller, subscriber_id: int) -> bool:
        subscriber = self.store.subscriber_by_id.get(subscriber_id)
        return subscriber is not None and subscriber.organization_id in caller.organization_ids

    def subscriber_for(
        self, request: Request, caller: Caller, raw_id: str, missing: str
    ) -> Subscriber:
        """The subscriber in the path (`is_custom_id`: by `subscriber_code`), else 404/403."""
        if flag(request, "is_custom_id"):
            codes = self.cached(
                ("by_code",), lambda: {s.subscriber_code: s for s in self.store.subscribers}
            )
            subscriber = codes.get(raw_id)
        else:
            subscriber = self.store.subscriber_by_id.get(int(raw_id)) if raw_id.isdigit() else None
        if subscriber is None:
            raise ApiError(404, missing.format(id=raw_id), 404)
        if subscriber.organization_id not in caller.organization_ids:
            raise ApiError(403, "Forbidden")
        return subscriber

    def plan_year_index(self, request: Request) -> int | None:
        """The plan year that `plan_year` (default `current`) names, on the emulator clock."""
        name = request.arg("plan_year") or "current"
        if name not in PLAN_YEAR_OFFSETS:
            raise ApiError(400, "plan_year must be one of previous, current, next.")
        today = datetime.fromtimestamp(self.now(), UTC).date().toordinal()
        years = self.store.plan_years
        current = next((i for i, y in enumerate(years) if y.starts_on <= today <= y.ends_on), None)
        if current is None:
            current = -1 if today < years[0].starts_on else len(years)
        index = current + PLAN_YEAR_OFFSETS[name]
        return index if 0 <= index < len(years) else None

    def coverage_filter(
        self, request: Request, caller: Caller, include_test: bool | None = None
    ) -> Callable[[Coverage], bool]:
        """Plan year, optional change window and test-employee filter shared by coverage reads."""
        plan_year = self.plan_year_index(request)
        start = window_bound(request, "start_date", end=False)
        end = window_bound(request, "end_date", end=True)
        field = self.setting("coverage_window_field")
        if include_test is None:
            include_test = flag(request, "include_test")
        orgs = caller.organization_ids
        subscribers = self.store.subscriber_by_id

        def keep(c: Coverage) -> bool:
            if c.plan_year != plan_year or (c.test_employee and not include_test):
                return False
            if subscribers[c.subscriber_id].organization_id not in orgs:
                return False
            moment = midnight(getattr(c, field))
            return (start is None or moment >= start) and (end is None or moment <= end)

        keep.cache_key = (plan_year, start, end, field, include_test, orgs)  # type: ignore[attr-defined]
        return keep

    def coverage_or_error(self, caller: Caller, raw_id: str) -> Coverage:
        coverage = self.store.coverage_by_id.get(int(raw_id))
        if coverage is None:
            raise ApiError(404, "Invalid coverage", 404)
        if not self.in_scope(caller, coverage.subscriber_id):
            raise ApiError(403, "Forbidden")
        return coverage

    # -- organizations and demographics ----------------------------------------------------

    @api_get(r"/organizations")
    def organizations(self, request: Request, caller: Caller) -> Response:
        orgs = [
            self.renderer.organization(o)
            for o in self.store.organizations
            if o.id in caller.organization_ids
        ]
        return success(self.shaped(orgs, "organizations"), errors=False)

    @api_get(r"/subscribers")
    def subscribers(self, request: Request, caller: Caller) -> Response:
        rows = self.visible_subscribers(caller, flag(request, "include_test"))
        return self.paged(request, rows, self.renderer.subscriber, "subscribers")

    @api_get(r"/subscriber/(?P<subscriber_id>(?!meta$)[^/]+)")
    def subscriber(self, request: Request, caller: Caller) -> Response:
        subscriber = self.subscriber_for(
            request, caller, request.path_params["subscriber_id"], "No employee with id: {id} found"
        )
        return success(self.renderer.subscriber(subscriber))

    @api_get(r"/subscriber/meta")
    def subscriber_meta(self, request: Request, caller: Caller) -> Response:
        return success(subscriber_meta(self.setting("tenant_fields"), *self._meta_types()))

    @api_get(r"/dependent/meta")
    def dependent_meta(self, request: Request, caller: Caller) -> Response:
        return success(dependent_meta(self.setting("tenant_fields"), *self._meta_types()))

    def _meta_types(self) -> tuple[str, str]:
        return str(self.setting("meta_type_case")), str(self.setting("meta_ssn_type"))

    @api_get(r"/dependents")
    def dependents(self, request: Request, caller: Caller) -> Response:
        by_subscriber = self.grouped(
            "dependents", lambda: self.store.dependents, lambda d: d.subscriber_id
        )
        raw_id = request.arg("subscriber_id")
        if raw_id:
            subscriber = self.subscriber_for(
                request, caller, raw_id, "No employee with id: {id} found"
            )
            rows = by_subscriber.get(subscriber.id, [])
        else:
            rows = [d for d in self.store.dependents if self.in_scope(caller, d.subscriber_id)]
        render = self.renderer.dependent
        return success(
            {
                "dependents": [render(d) for d in rows if d.active],
                "inactive_dependents": [render(d) for d in rows if not d.active],
                "cannot_terminate_dependents": [],
            }
        )

    @api_get(r"/subscriber/(?P<subscriber_id>[^/]+)/dependent/(?P<dependent_id>\d+)")
    def dependent(self, request: Request, caller: Caller) -> Response:
        subscriber = self.subscriber_for(
            request, caller, request.path_params["subscriber_id"], "No employee with id: {id} found"
        )
        dependent = self.store.dependent_by_id.get(int(request.path_params["dependent_id"]))
        if dependent is None:
            raise ApiError(404, "Dependent not found", 404)
        if dependent.subscriber_id != subscriber.id:
            raise ApiError(400, "The dependent does not belong to this employee.")
        return success(self.renderer.dependent(dependent))

    # -- beneficiaries ---------------------------------------------------------------------

    def beneficiaries_by_subscriber(self) -> dict[int, list[Any]]:
        return self.grouped(
            "beneficiaries", lambda: self.store.beneficiaries, lambda b: b.subscriber_id
        )

    def subscriber_beneficiaries(self, subscriber_id: int) -> dict[str, Any]:
        renderer = self.renderer
        return {
            "links": renderer.links(renderer.subscriber_href(subscriber_id, "/beneficiaries")),
            "beneficiaries": [
                renderer.beneficiary(b)
                for b in self.beneficiaries_by_subscriber().get(subscriber_id, [])
            ],
        }

    @api_get(r"/beneficiaries")
    def beneficiaries(self, request: Request, caller: Caller) -> Response:
        groups = self.beneficiaries_by_subscriber()
        subscribers = [
            self.subscriber_beneficiaries(s.id)
            for s in self.visible_subscribers(caller, flag(request, "include_test"))
            if s.id in groups
        ]
        organization = {
            "links": self.renderer.links("/admin/beneficiaries"),
            "subscriber": subscribers,
        }
        return success({"organization": organization})

    @api_get(r"/subscriber/(?P<subscriber_id>[^/]+)/beneficiaries")
    def beneficiaries_of_subscriber(self, request: Request, caller: Caller) -> Response:
        subscriber = self.subscriber_for(
            request, caller, request.path_params["subscriber_id"], "Employee not found"
        )
        return success({"subscriber": self.subscriber_beneficiaries(subscriber.id)})

    @api_get(r"/coverage/(?P<coverage_id>\d+)/beneficiaries")
    def beneficiaries_of_coverage(self, request: Request, caller: Caller) -> Response:
        coverage = self.store.coverage_by_id.get(int(request.path_params["coverage_id"]))
        if coverage is None or not self.in_scope(caller, coverage.subscriber_id):
            raise ApiError(400, "Coverage not found for organization")
        rows = self.grouped(
            "beneficiaries_by_coverage", lambda: self.store.beneficiaries, lambda b: b.coverage_id
        )
        return success(
            {"beneficiaries": [self.renderer.beneficiary(b) for b in rows.get(coverage.id, [])]}
        )

    @api_get(r"/beneficiaries/meta")
    def beneficiaries_meta(self, request: Request, caller: Caller) -> Response:
        return success({"termination_reasons": termination_reasons()})

    # -- coverages -------------------------------------------------------------------------

    def filtered_coverages(self, request: Request, caller: Caller) -> list[Coverage]:
        keep = self.coverage_filter(request, caller)
        return self.cached(
            ("coverages", *keep.cache_key),  # type: ignore[attr-defined]
            lambda: [c for c in self.store.coverages if keep(c)],
        )

    def lines_by_coverage(self) -> dict[int, list[Any]]:
        return self.grouped(
            "lines", lambda: self.store.coverage_lines, lambda line: line.coverage_id
        )

    def dependent_coverages_by_coverage(self) -> dict[int, list[Any]]:
        return self.grouped(
            "dependent_coverages", lambda: self.store.dependent_coverages, lambda d: d.coverage_id
        )

    def composite(self, coverages: list[Coverage]) -> dict[str, Any]:
        """`{"coverages", "dependents", "lines"}` for a set of coverages (the spec's composite)."""
        renderer, lines, dependents = (
            self.renderer,
            self.lines_by_coverage(),
            self.dependent_coverages_by_coverage(),
        )
        return {
            "coverages": [renderer.coverage(c) for c in coverages],
            "dependents": [
                renderer.dependent_coverage(d) for c in coverages for d in dependents.get(c.id, [])
            ],
            "lines": [
                renderer.coverage_line(line) for c in coverages for line in lines.get(c.id, [])
            ],
        }

    def single_composite(self, coverage: Coverage) -> dict[str, Any]:
        composite = self.composite([coverage])
        composite["coverages"] = composite["coverages"][0]
        return composite

    @api_get(r"/coverages")
    def coverages(self, request: Request, caller: Caller) -> Response:
        return self.paged(
            request, self.filtered_coverages(request, caller), self.renderer.coverage, "coverages"
        )

    @api_get(r"/coverages/lines")
    def coverages_lines(self, request: Request, caller: Caller) -> Response:
        lines = self.lines_by_coverage()
        rows = [
            line for c in self.filtered_coverages(request, caller) for line in lines.get(c.id, ())
        ]
        return self.paged(request, rows, self.renderer.coverage_line, "lines")

    @api_get(r"/coverages/dependents")
    def coverages_dependents(self, request: Request, caller: Caller) -> Response:
        dependents = self.dependent_coverages_by_coverage()
        rows = [
            d for c in self.filtered_coverages(request, caller) for d in dependents.get(c.id, ())
        ]
        return self.paged(request, rows, self.renderer.dependent_coverage, "dependents")

    @api_get(r"/coverage/composites")
    def composites(self, request: Request, caller: Caller) -> Response:
        page, per_page = self.page_window(request)
        chunk = self.filtered_coverages(request, caller)[(page - 1) * per_page : page * per_page]
        if self.setting("list_shape") == "example":
            return success(self.composite(chunk))
        return success(self.shaped([self.single_composite(c) for c in chunk], "composites"))

    @api_get(r"/coverage/(?P<coverage_id>\d+)")
    def coverage(self, request: Request, caller: Caller) -> Response:
        coverage = self.coverage_or_error(caller, request.path_params["coverage_id"])
        if request.arg("plan_year") and coverage.plan_year != self.plan_year_index(request):
            raise ApiError(404, "Invalid coverage", 404)
        return success(self.renderer.coverage(coverage))

    def coverages_of_subscriber(self, request: Request, caller: Caller) -> list[Coverage]:
        subscriber = self.subscriber_for(
            request, caller, request.path_params["subscriber_id"], "Employee not found"
        )
        keep = self.coverage_filter(request, caller, include_test=True)
        by_subscriber = self.grouped(
            "coverages", lambda: self.store.coverages, lambda c: c.subscriber_id
        )
        return [c for c in by_subscriber.get(subscriber.id, []) if keep(c)]

    @api_get(r"/coverage/subscriber/(?P<subscriber_id>[^/]+)")
    def coverage_of_subscriber(self, request: Request, caller: Caller) -> Response:
        rows = self.coverages_of_subscriber(request, caller)
        return success(self.shaped([self.renderer.coverage(c) for c in rows], "coverages"))

    @api_get(r"/coverage/subscriber/(?P<subscriber_id>[^/]+)/composite")
    def composite_of_subscriber(self, request: Request, caller: Caller) -> Response:
        return success(self.composite(self.coverages_of_subscriber(request, caller)))

    @api_get(r"/coverage/(?P<coverage_id>\d+)/composite")
    def composite_of_coverage(self, request: Request, caller: Caller) -> Response:
        return success(
            self.single_composite(
                self.coverage_or_error(caller, request.path_params["coverage_id"])
            )
        )

    @api_get(r"/coverage/(?P<coverage_id>\d+)/lines")
    def lines_of_coverage(self, request: Request, caller: Caller) -> Response:
        coverage = self.coverage_or_error(caller, request.path_params["coverage_id"])
        rows = self.lines_by_coverage().get(coverage.id, [])
        return success(self.shaped([self.renderer.coverage_line(line) for line in rows], "lines"))

    @api_get(r"/coverage/line/(?P<line_id>\d+)")
    def coverage_line(self, request: Request, caller: Caller) -> Response:
        lines = self.cached(
            ("line_by_id",), lambda: {line.id: line for line in self.store.coverage_lines}
        )
        line = lines.get(int(request.path_params["line_id"]))
        if line is None:
            raise ApiError(404, "Invalid coverage", 404)
        if not self.in_scope(caller, line.subscriber_id):
            raise ApiError(403, "Forbidden")
        return success(self.renderer.coverage_line(line))

    @api_get(r"/coverage/(?P<coverage_id>\d+)/dependents")
    def dependents_of_coverage(self, request: Request, caller: Caller) -> Response:
        coverage = self.coverage_or_error(caller, request.path_params["coverage_id"])
        rows = self.dependent_coverages_by_coverage().get(coverage.id, [])
        return success(
            self.shaped([self.renderer.dependent_coverage(d) for d in rows], "dependents")
        )

    @api_get(r"/coverage/dependent/(?P<dependent_coverage_id>\d+)")
    def dependent_coverage(self, request: Request, caller: Caller) -> Response:
        by_id = self.cached(
            ("dependent_coverage_by_id",), lambda: {d.id: d for d in self.store.dependent_coverages}
        )
        row = by_id.get(int(request.path_params["dependent_coverage_id"]))
        if row is None:
            raise ApiError(404, "Invalid coverage", 404)
        if not self.in_scope(caller, row.subscriber_id):
            raise ApiError(403, "Forbidden")
        return success(self.renderer.dependent_coverage(row))

    @api_get(r"/coverage/meta")
    def coverage_meta(self, request: Request, caller: Caller) -> Response:
        return success({"termination_reasons": termination_reasons()})

    # -- payroll ---------------------------------------------------------------------------

    def payroll_rows(
        self, request: Request, caller: Caller, subscriber_id: int | None
    ) -> list[Any]:
        """Payroll rows in the required `start_date`/`end_date` window on `payroll_window_field`."""
        if not request.arg("start_date"):
            raise ApiError(400, "No Start Date (params[:start_date] in the request.")
        if not request.arg("end_date"):
            raise ApiError(400, "No End Date (params[:end_date] in the request.")
        start = window_bound(request, "start_date", end=False)
        end = window_bound(request, "end_date", end=True)
        field = self.setting("payroll_window_field")
        include_test = subscriber_id is not None or flag(request, "include_test")
        current, previous = flag(request, "current"), flag(request, "previous")
        orgs = caller.organization_ids
        subscribers = self.store.subscriber_by_id

        def build() -> list[Any]:
            if subscriber_id is None:
                rows = self.store.payroll_coverages
            else:
                by_subscriber = self.grouped(
                    "payroll", lambda: self.store.payroll_coverages, lambda p: p.subscriber_id
                )
                rows = by_subscriber.get(subscriber_id, [])
            kept = []
            for row in rows:
                moment = (
                    row.updated_at if field == "updated_at" else midnight(row.change_effective_date)
                )
                if not start <= moment <= end or (row.test_employee and not include_test):  # type: ignore[operator]
                    continue
                if (current and not row.current) or (previous and not row.previous):
                    continue
                if subscribers[row.subscriber_id].organization_id in orgs:
                    kept.append(row)
            return kept

        key = ("payroll", subscriber_id, start, end, field, include_test, current, previous, orgs)
        return self.cached(key, build)

    @api_get(r"/payroll_coverages_subscribers")
    def payroll_coverages(self, request: Request, caller: Caller) -> Response:
        rows = self.payroll_rows(request, caller, None)
        page, per_page = self.page_window(request)
        records = [
            self.renderer.payroll_coverage(p) for p in rows[(page - 1) * per_page : page * per_page]
        ]
        if self.forced_empty(request, page):
            records = []
        if not self.setting("pagination_meta"):
            return success(self.shaped(records, "payroll_coverages"))
        last = max(1, math.ceil(len(rows) / per_page))
        query = {k: v[0] for k, v in request.query.items() if k not in {"page", "per_page"}}

        def href(number: int) -> str:
            params = urlencode({**query, "page": number, "per_page": per_page})
            return f"/admin/payroll_coverages_subscribers?{params}"

        links = [{"href": href(1), "rel": "first"}, {"href": href(page), "rel": "current"}]
        if page < last:
            links.append({"href": href(page + 1), "rel": "next"})
        links.append({"href": href(last), "rel": "last"})
        data: dict[str, Any] = {"total": len(rows), "per_page": per_page, "links": links}
        if self.setting("list_shape") == "example":
            data["link"] = {"href": href(page), "rel": "self"}
        data["payroll_coverages"] = records
        return success(data)

    @api_get(r"/payroll_coverages_subscriber/(?P<subscriber_id>[^/]+)")
    def payroll_coverages_of_subscriber(self, request: Request, caller: Caller) -> Response:
        subscriber = self.subscriber_for(
            request, caller, request.path_params["subscriber_id"], "Employee not found"
        )
        rows = self.payroll_rows(request, caller, subscriber.id)
        return success(
            self.shaped([self.renderer.payroll_coverage(p) for p in rows], "payroll_coverages")
        )

    # -- EOI, administrators ---------------------------------------------------------------

    @api_get(r"/eoi/subscribers")
    def eoi_subscribers(self, request: Request, caller: Caller) -> Response:
        include_test = flag(request, "include_test")
        subscribers = self.store.subscriber_by_id
        rows = [
            self.renderer.pending_eoi(e)
            for e in self.store.pending_eoi
            if subscribers[e.subscriber_id].organization_id in caller.organization_ids
            and (include_test or not subscribers[e.subscriber_id].test_employee)
        ]
        return success(self.shaped(rows, "eoi_subscribers"), errors=False)

    @api_get(r"/eoi/subscriber/(?P<subscriber_id>[^/]+)")
    def eoi_of_subscriber(self, request: Request, caller: Caller) -> Response:
        subscriber = self.subscriber_for(
            request, caller, request.path_params["subscriber_id"], "Employee not found"
        )
        by_subscriber = self.grouped(
            "eoi", lambda: self.store.pending_eoi, lambda e: e.subscriber_id
        )
        rows = [self.renderer.pending_eoi(e) for e in by_subscriber.get(subscriber.id, [])]
        return success(self.shaped(rows, "eoi_subscribers"), errors=False)

    def changes_since(self, request: Request, default: int | None = None) -> float | None:
        """`changes_since` (whole minutes back from now) as an epoch-second cutoff."""
        raw = request.arg("changes_since")
        if raw is None or raw == "":
            return None if default is None else self.now() - int(default) * 60
        if not raw.strip().isdigit():
            raise ApiError(400, "changes_since must be a whole number of minutes.")
        return self.now() - int(raw) * 60

    @api_get(r"/administrators")
    def administrators(self, request: Request, caller: Caller) -> Response:
        cutoff = self.changes_since(request, self.setting("administrators_default_changes_since"))
        rows = [
            a
            for a in self.store.administrators
            if a.organization_id in caller.organization_ids
            and (cutoff is None or a.updated_at >= cutoff)
        ]
        return self.paged(request, rows, self.renderer.administrator, "administrators")

    @api_get(r"/administrator/(?P<administrator_id>\d+)")
    def administrator(self, request: Request, caller: Caller) -> Response:
        admin_id = int(request.path_params["administrator_id"])
        admin = next((a for a in self.store.administrators if a.id == admin_id), None)
        if admin is None:
            raise ApiError(404, f"Admin with id = {admin_id} is not found.", 404)
        if admin.organization_id not in caller.organization_ids:
            raise ApiError(403, "Forbidden")
        return success(self.renderer.administrator(admin))

    # -- ACA -------------------------------------------------------------------------------

    def aca_rows(
        self,
        request: Request,
        caller: Caller,
        rows: Sequence[Aca],
        subscriber_id: int | None,
    ) -> list[Aca]:
        """Live rows changed since the cutoff, then (with `include_deletes`) the deleted ones."""
        cutoff = self.changes_since(request)
        orgs = caller.organization_ids
        subscribers = self.store.subscriber_by_id
        kept = [
            r
            for r in rows
            if (subscriber_id is None or r.subscriber_id == subscriber_id)
            and (cutoff is None or r.updated_at >= cutoff)
            and subscribers[r.subscriber_id].organization_id in orgs
        ]
        live = [r for r in kept if not r.is_deleted]
        return (
            live + [r for r in kept if r.is_deleted] if flag(request, "include_deletes") else live
        )

    def subscriber_id_param(self, request: Request, caller: Caller) -> int | None:
        raw = request.path_params.get("subscriber_id")
        if raw is None:
            return None
        return self.subscriber_for(request, caller, raw, "Employee not found").id

    @api_get(r"/aca/offers", r"/aca/offers/subscriber/(?P<subscriber_id>[^/]+)")
    def aca_offers(self, request: Request, caller: Caller) -> Response:
        rows = self.aca_rows(
            request, caller, self.store.aca_offers, self.subscriber_id_param(request, caller)
        )
        return self.paged(request, rows, self.renderer.aca_offer, "offers")

    @api_get(r"/aca/enrollees", r"/aca/enrollees/subscriber/(?P<subscriber_id>[^/]+)")
    def aca_enrollees(self, request: Request, caller: Caller) -> Response:
        rows = self.aca_rows(
            request, caller, self.store.aca_enrollees, self.subscriber_id_param(request, caller)
        )
        return self.paged(request, rows, self.renderer.aca_enrollee, "enrollees")


def termination_reasons() -> list[dict[str, Any]]:
    return [
        {"id": rid, "lookup_code": code, "name": name} for rid, code, name in TERMINATION_REASONS
    ]
