"""Every setting of tap-planful, declared once (`PlanfulSettings`): the config schema, `--about`,
the README table and the Meltano definition come from here, and the code reads the typed object.
The checks JSON Schema cannot express are `PlanfulSettings.problems`. Nothing here imports the
rest of the tap: the streams and the tap import it.
"""

from __future__ import annotations

import re
import typing as t
from dataclasses import dataclass
from functools import cached_property
from urllib.parse import urlsplit

from planful_plansource_planhat_core.declared import (
    Declaration,
    FastPathSettings,
    RetrySettings,
    setting,
)
from planful_plansource_planhat_core.retry import RetryPolicy
from planful_plansource_planhat_core.run_report import report_properties
from planful_plansource_planhat_core.urls import base_url_problem
from singer_sdk import typing as th

if t.TYPE_CHECKING:
    from collections.abc import Mapping

PLANFUL_DOMAIN = "planful.com"
DEFAULT_DYNAMIC_API_URL = "https://modelapi.hostanalytics.com/api"
SOAP_PATH = "/HostAPI/HostAPI_StateFree.asmx"
OBSERVED_SOAP_URL = f"https://epm01.hostanalytics.com{SOAP_PATH}"
AMOUNT_TYPES = ("OpeningBalance", "MTD", "QTD", "YTD", "AccountBased")
DEFAULT_AMOUNT_TYPES = ("MTD",)
DATA_LOAD_RULE_TYPES = ("all", "gl", "transactions")
DEFAULT_GL_LOOKBACK_PERIODS = 3
FAMILIES = {
    "structured": ("structured",),
    "dynamic": ("dynamic",),
    "both": ("structured", "dynamic"),
}
DEFAULT_PATHS = {
    "data_load_rules": "/financemodel/data/rules",
    "segments": "/financemodel/data/segments",
    "segment_members": "/financemodel/data/segments/{SegmentNumber}/members",
    "scenarios": "/financemodel/data/scenarios",
    "gl_data": "/financemodel/data/gldata",
    "currencies": "/financemodel/data/currencies",
    "users": "/financemodel/data/users",
}
"""The Structured Planning REST export path of each stream, unless `path_overrides` moves it."""
PATH_NOTES = {
    "data_load_rules": "the data load rules list (read with REST also when Structured Planning "
    "is read over SOAP)",
    "segments": "the segment list",
    "segment_members": "a segment's members; `{SegmentNumber}` is replaced",
    "scenarios": "the scenario list",
    "gl_data": "the GL data export; it receives `Scenario`, `FiscalYear`, `FiscalMonth` "
    "(and `Reporting`)",
    "currencies": "the currency list",
    "users": "the user list; the default is unverified (SOAP reads users with `Get_Users`)",
}
"""What each key of `path_overrides` is the path of (its description)."""
PATH_PLACEHOLDERS = {"segment_members": {"SegmentNumber"}}

_HOST_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_PLACEHOLDER = re.compile(r"{([^{}]*)}")


def shown(value: str) -> str:
    """A setting's value for an error message; never one that may hold a password."""
    if "@" in value:
        return "(a value with credentials in it: 'user:password@' is not shown and not allowed)"
    return repr(value)


def structured_subdomain(value: str) -> str:
    """The tenant's host label from a bare label or a full `https://<label>.planful.com` URL.

    Anything else raises `ValueError`, so a setting can never point credentials at another host.
    """
    candidate = value.strip().lower()
    if "@" in candidate:
        msg = "must be a host label such as 'na04' and must not carry credentials " + shown(value)
        raise ValueError(msg)
    if "/" in candidate or ":" in candidate:
        parts = urlsplit(candidate)
        suffix = "." + PLANFUL_DOMAIN
        host = parts.hostname or ""
        if (
            parts.scheme != "https"
            or parts.port is not None
            or parts.username is not None
            or parts.path not in {"", "/"}
            or parts.query
            or parts.fragment
            or not host.endswith(suffix)
        ):
            msg = (
                "expected a host label such as 'na04' or a URL such as "
                f"'https://na04.{PLANFUL_DOMAIN}', got {shown(value)}"
            )
            raise ValueError(msg)
        candidate = host.removesuffix(suffix)
    if not _HOST_LABEL.fullmatch(candidate):
        msg = (
            f"{shown(value)} is not a valid Planful subdomain (a single host label such as 'na04')"
        )
        raise ValueError(msg)
    return candidate


def one_of(values: t.Sequence[str]) -> str:
    """`a`, `b` or `c`: a setting's values in its description, as declared."""
    quoted = [f"`{value}`" for value in values]
    return f"{', '.join(quoted[:-1])} or {quoted[-1]}" if len(quoted) > 1 else quoted[0]


def shape(kind: th.JSONTypeHelper) -> str:
    """The keys of an object setting's entries, nested ones included (`{model, filters: [{field,
    values}]}`), so a description shows them without naming them a second time."""
    return _shape(kind.to_dict())


def _shape(schema: dict[str, t.Any]) -> str:
    if "items" in schema:
        return f"[{_shape(schema['items'])}]"
    keys = []
    for name, sub in schema.get("properties", {}).items():
        nested = "properties" in sub or "properties" in sub.get("items", {})
        keys.append(f"{name}: {_shape(sub)}" if nested else name)
    return "{" + ", ".join(keys) + "}"


def _model_entry(*extra: th.Property) -> th.ObjectType:
    return th.ObjectType(
        th.Property("model", th.StringType, required=True, description="Model name"), *extra
    )


GL_SEGMENT_FILTER = th.ObjectType(
    th.Property("segment", th.IntegerType(minimum=1, maximum=8), required=True),
    th.Property("value", th.StringType, required=True),
    th.Property(
        "operator",
        th.StringType(allowed_values=["Equals", "Contains"]),
        default="Equals",
    ),
    additional_properties=False,
)
"""One entry of `gl_segment_filters`."""
MODEL = _model_entry(
    th.Property(
        "dimensions",
        th.ArrayType(th.StringType),
        required=True,
        description="Dimensions to export members of (and to type `members` of model data)",
    ),
    th.Property(
        "filters",
        th.ArrayType(
            th.ObjectType(
                th.Property("dimension", th.StringType, required=True),
                th.Property("filter_type", th.StringType, default="Member"),
                th.Property("values", th.ArrayType(th.StringType), required=True),
            )
        ),
    ),
    th.Property(
        "member_display",
        th.StringType,
        default="Code",
        allowed_values=["Code", "DisplayLabel"],
    ),
    th.Property("suppress_zeroes", th.BooleanType, default=True),
    th.Property("operation_type", th.StringType, default="AND", allowed_values=["AND", "OR"]),
)
"""One entry of `models`."""
SOURCE_MODEL = _model_entry(
    th.Property(
        "fields",
        th.ArrayType(th.StringType),
        description="Fields to export (default: all)",
    ),
    th.Property(
        "key_fields",
        th.ArrayType(th.StringType),
        description="Fields that identify a row (default: the whole row)",
    ),
    th.Property(
        "filters",
        th.ArrayType(
            th.ObjectType(
                th.Property("field", th.StringType, required=True),
                th.Property("values", th.ArrayType(th.StringType), required=True),
            )
        ),
    ),
    th.Property("delimiter", th.StringType, default=","),
)
"""One entry of `source_models`."""
CALCULATION = _model_entry(
    th.Property("calcscript", th.StringType, required=True, description="Calculation name")
)
"""One entry of `calculations`."""
YEAR = th.IntegerType(minimum=1900, maximum=9999)


@dataclass(frozen=True, kw_only=True)
class PlanfulSettings(RetrySettings, FastPathSettings):
    """tap-planful's settings (see the module's docstring)."""

    retry_defaults = RetryPolicy(max_tries=5, initial_wait=1.0, max_wait=60.0, timeout=300)
    retry_service = "Planful"

    api_type: str = setting(
        th.StringType,
        default="structured",
        allowed_values=FAMILIES,
        description="Which API family to read: `structured` (Structured Planning, Access ID/Key), "
        "`dynamic` (Dynamic Planning, access token) or `both`. Streams of the other family are "
        "not offered.",
    )
    structured_api: str = setting(
        th.StringType,
        default="auto",
        allowed_values=["auto", "soap", "rest"],
        description="How Structured Planning is read: `soap` (the documented web service "
        "HostAPI_StateFree, with `login_name`, `password`, `tenant_code`), `rest` (undocumented "
        "export paths, with `access_id`/`access_key` and `path_overrides`) or `auto` (SOAP when "
        "`login_name` and `password` are set, else REST).",
    )
    soap_url: str | None = setting(
        th.StringType,
        description="Full URL of the SOAP web service (default "
        f"`https://<subdomain>.planful.com{SOAP_PATH}`, a guess; public clients use "
        f"`{OBSERVED_SOAP_URL}` with their pod's number).",
    )
    login_name: str | None = setting(
        th.StringType,
        secret=True,
        description="Login name of the Planful Web Services user (SOAP)",
    )
    password: str | None = setting(
        th.StringType,
        secret=True,
        description="Password of the Planful Web Services user (SOAP)",
    )
    tenant_code: str | None = setting(
        th.StringType,
        description="Tenant code for the SOAP web service (given by Planful Support)",
    )
    gl_amount_types: list[str] = setting(
        th.ArrayType(th.StringType(allowed_values=list(AMOUNT_TYPES))),
        default=list(DEFAULT_AMOUNT_TYPES),
        description="Amount types of GL data to read over SOAP, each one of "
        f"{one_of(AMOUNT_TYPES)}; one call each per period.",
    )
    gl_segment_filters: list[dict[str, t.Any]] | None = setting(
        th.ArrayType(GL_SEGMENT_FILTER),
        description="Optional SOAP GL filters on segment member codes, one per segment: a list "
        f"of `{shape(GL_SEGMENT_FILTER)}`, `operator` `Equals` (the default) or `Contains`.",
    )
    subdomain: str | None = setting(
        th.StringType,
        description="Structured Planning tenant: the host label of "
        "`https://<subdomain>.planful.com` (e.g. `na04`), or that full URL; anything else is "
        "refused.",
    )
    api_url: str | None = setting(
        th.StringType,
        description="REST: replaces the Structured Planning base URL derived from `subdomain`, "
        "`https://<subdomain>.planful.com` (proxy, private deployment, sandbox).",
    )
    access_id: str | None = setting(
        th.StringType,
        secret=True,
        description="Structured Planning REST Access ID (Basic user), with `access_key`: "
        "required for REST; with SOAP it adds the `data_load_rules` stream.",
    )
    access_key: str | None = setting(
        th.StringType,
        secret=True,
        description="Structured Planning REST Access Key (Basic password), with `access_id`.",
    )
    access_token: str | None = setting(
        th.StringType,
        secret=True,
        description="Dynamic Planning access token (X-ACCESS-TOKEN): required when `api_type` "
        "is `dynamic` or `both`.",
    )
    dynamic_api_url: str = setting(
        th.StringType,
        default=DEFAULT_DYNAMIC_API_URL,
        description="Dynamic Planning API base, including `/api` (e.g. the AU host "
        "`https://modelauapi.hostanalytics.com/api` or `https://<tenant>.planful.com/api`).",
    )
    start_fiscal_year: int | None = setting(
        YEAR,
        description="First fiscal year of GL data to read on a first run "
        "(default: two years before the current one).",
    )
    end_fiscal_year: int | None = setting(
        YEAR,
        description="Last fiscal year of GL data to read (default: the current year for "
        "Actual, next "
        "year for budgets and forecasts without a plan year).",
    )
    scenarios: list[str] | None = setting(
        th.ArrayType(th.StringType),
        description="Scenarios to read GL data for, by name. Required with SOAP (the web "
        "service lists none); with REST the default is every scenario, and names set here are "
        "used as given (no call to `/scenarios`): an unknown one fails with the server's message.",
    )
    scenario_fiscal_years: dict[str, int] | None = setting(
        th.ObjectType(additional_properties=YEAR),
        description="Plan year of configured budget and forecast scenarios, by name (e.g. "
        '`{"2025 Budget": 2025}`), so GL data of that scenario is asked for that year only. '
        "Without it, every year from `start_fiscal_year` to `end_fiscal_year` is asked.",
    )
    segments: list[int] | None = setting(
        th.ArrayType(th.IntegerType(minimum=1, maximum=8)),
        description="Segment numbers (1-8) to read members of (default: every segment defined).",
    )
    gl_lookback_periods: int = setting(
        th.IntegerType(minimum=0),
        default=DEFAULT_GL_LOOKBACK_PERIODS,
        description="Fiscal periods before the bookmarked one that every run reads again, "
        "to pick up "
        "restatements. The bookmarked period itself is always read again.",
    )
    fiscal_periods_per_year: int = setting(
        th.IntegerType(minimum=1, maximum=98),
        default=12,
        description="Periods (1-98) in the tenant's fiscal year (Planful's Define Fiscal Year "
        "Setup; e.g. 13 for 4-week periods or 12 months and an adjustment period). GL data is "
        "asked for periods 1 to this number of each year.",
    )
    fiscal_year_start_month: int = setting(
        th.IntegerType(minimum=1, maximum=12),
        default=1,
        description="Calendar month (1-12) in which the tenant's fiscal year starts; fiscal year "
        "N is the one ending in calendar year N. Sets the current period, up to which Actual is "
        "read.",
    )
    gl_check_period_past_year: bool = setting(
        th.BooleanType,
        default=True,
        description="After reading every period of a scenario's fiscal year, ask the period "
        "after the last one once: rows there fail the run naming `fiscal_periods_per_year` "
        "instead of being left unread.",
    )
    gl_reporting: str | None = setting(
        th.StringType,
        description="Optional `Reporting` filter of GL data (e.g. a reporting currency view).",
    )
    data_load_rule_type: str = setting(
        th.StringType,
        default="all",
        allowed_values=DATA_LOAD_RULE_TYPES,
        description=f"Which data load rules to list: {one_of(DATA_LOAD_RULE_TYPES)}.",
    )
    path_overrides: dict[str, str] | None = setting(
        th.ObjectType(
            *(
                th.Property(
                    name, th.StringType, default=path, description=f"Path of {PATH_NOTES[name]}."
                )
                for name, path in DEFAULT_PATHS.items()
            ),
            additional_properties=False,
        ),
        description="Structured Planning REST export paths by stream, to adopt Planful's real "
        "paths without a release.",
    )
    models: list[dict[str, t.Any]] | None = setting(
        th.ArrayType(MODEL),
        description="Dynamic Planning master/analytic models to read dimension members and leaf "
        f"data of: a list of `{shape(MODEL)}`.",
    )
    source_models: list[dict[str, t.Any]] | None = setting(
        th.ArrayType(SOURCE_MODEL),
        description="Dynamic Planning external source models to read rows of: a list of "
        f"`{shape(SOURCE_MODEL)}`.",
    )
    calculations: list[dict[str, t.Any]] | None = setting(
        th.ArrayType(CALCULATION),
        description="Dynamic Planning calculations to report the status of: a list of "
        f"`{shape(CALCULATION)}`.",
    )

    @classmethod
    def declarations(cls) -> dict[str, Declaration]:
        """The switch of the fast paths last: it is for diagnosis, not for everyday use."""
        declared = super().declarations()
        return declared | {"fast_paths": declared.pop("fast_paths")}

    # -- what the settings mean ------------------------------------------------------------

    @property
    def families(self) -> tuple[str, ...]:
        """The API families `api_type` selects."""
        return FAMILIES.get(self.api_type, ())

    @property
    def structured_over(self) -> str:
        """`soap` or `rest`: `auto` takes SOAP when its credentials are set."""
        if self.structured_api == "auto":
            return "soap" if self.login_name and self.password else "rest"
        return self.structured_api

    @property
    def reads_soap(self) -> bool:
        """Whether Structured Planning is read over the SOAP web service."""
        return "structured" in self.families and self.structured_over == "soap"

    @property
    def secrets(self) -> list[str]:
        """The values of the secret settings (for redaction)."""
        return [
            str(getattr(self, name) or "")
            for name, declared in self.declarations().items()
            if declared.secret
        ]

    def path_of(self, stream: str) -> str:
        """The REST export path of a Structured Planning stream."""
        return (self.path_overrides or {}).get(stream) or DEFAULT_PATHS[stream]

    # -- what JSON Schema cannot say -------------------------------------------------------

    def problems(self) -> list[str]:
        """Checks JSON Schema cannot express; each message names the setting to fix."""
        errors: list[str] = []
        structured = "structured" in self.families
        half_soap = bool(self.login_name) != bool(self.password)
        if structured and self.structured_api == "auto" and half_soap:
            errors.append(
                "`login_name` and `password` go together: set both to read Structured Planning "
                "through the SOAP web service (or neither, for REST)"
            )
        elif self.reads_soap:
            errors += self._soap_problems()
        elif structured:
            errors += [
                f"`{name}` is required when api_type is {self.api_type!r}"
                for name in ("access_id", "access_key")
                if not getattr(self, name)
            ]
            if not self.subdomain and not self.api_url:
                errors.append("`subdomain` (or `api_url`) is required for Structured Planning")
        if "dynamic" in self.families and not self.access_token:
            errors.append(f"`access_token` is required when api_type is {self.api_type!r}")
        if self.subdomain:
            try:
                structured_subdomain(self.subdomain)
            except ValueError as exc:
                errors.append(f"`subdomain`: {exc}")
        for name in ("api_url", "soap_url", "dynamic_api_url"):
            value = getattr(self, name)
            problem = base_url_problem(value) if value else None
            if problem:
                errors.append(f"`{name}` {problem}")
        errors += self._path_problems()
        unnamed = sorted(set(self.scenario_fiscal_years or {}) - set(self.scenarios or []))
        if unnamed:
            errors.append(f"`scenario_fiscal_years` names scenarios not in `scenarios`: {unnamed}")
        start, end = self.start_fiscal_year, self.end_fiscal_year
        if start and end and start > end:
            errors.append(f"`start_fiscal_year` ({start}) is after `end_fiscal_year` ({end})")
        return errors

    def _soap_problems(self) -> list[str]:
        errors = [
            f"`{name}` is required for the Structured Planning web service (SOAP)"
            for name in ("login_name", "password", "tenant_code")
            if not getattr(self, name)
        ]
        if not self.subdomain and not self.soap_url:
            errors.append("`subdomain` (or `soap_url`) is required for the web service (SOAP)")
        if not self.scenarios:
            errors.append(
                "`scenarios` is required with SOAP: the web service has no operation that lists "
                'scenarios (name each one, e.g. ["Actual", "2025 Budget"])'
            )
        amount_types = self.gl_amount_types or []
        if len(set(amount_types)) < len(amount_types):
            errors.append(
                "`gl_amount_types` names an amount type twice (its rows would come twice)"
            )
        segments: list[int] = [entry["segment"] for entry in self.gl_segment_filters or []]
        repeated = sorted({n for n in segments if segments.count(n) > 1})
        if repeated:
            errors.append(
                f"`gl_segment_filters` filters segments {repeated} more than once; the web "
                "service takes one value per field"
            )
        return errors

    def _path_problems(self) -> list[str]:
        errors = []
        for name, path in (self.path_overrides or {}).items():
            if not isinstance(path, str):
                continue
            if not path.startswith("/") or path.startswith("//") or "://" in path or "@" in path:
                errors.append(
                    f"`path_overrides.{name}` must be a path on the tenant host "
                    f"starting with '/', got {path!r}"
                )
            unknown = set(_PLACEHOLDER.findall(path)) - PATH_PLACEHOLDERS.get(name, set())
            if unknown:
                errors.append(
                    f"`path_overrides.{name}` uses unknown placeholders {sorted(unknown)}"
                )
        return errors


CONFIG_SCHEMA = th.PropertiesList(
    *(declared.property(name) for name, declared in PlanfulSettings.declarations().items()),
    *report_properties(),
).to_dict()
"""The config schema: the declared settings, then the run report's."""


class ReadsSettings:
    """Gives `settings`, the typed settings of `config` (a tap or one of its streams)."""

    config: Mapping[str, t.Any]

    @cached_property
    def settings(self) -> PlanfulSettings:
        return PlanfulSettings.read(self.config)
