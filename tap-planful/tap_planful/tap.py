"""`tap-planful`: Structured Planning and Dynamic Planning, chosen by `api_type`."""

from __future__ import annotations

import re
import typing as t

from planful_plansource_planhat_core.connection_test import Check
from planful_plansource_planhat_core.failures import clean_failures, install_stop_signals
from planful_plansource_planhat_core.run_report import report_properties
from planful_plansource_planhat_core.settings import retry_properties
from planful_plansource_planhat_core.tap import ConnectorTap
from planful_plansource_planhat_core.urls import base_url_problem
from planful_plansource_planhat_core.writer import RecordBufferingWriter, flush_open_writers
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError
from typing_extensions import override

from tap_planful.client import (
    DEFAULT_DYNAMIC_API_URL,
    RETRY_DEFAULTS,
    structured_subdomain,
)
from tap_planful.soap import OBSERVED_SOAP_URL, SOAP_PATH
from tap_planful.soap_streams import AMOUNT_TYPES, DEFAULT_AMOUNT_TYPES, SOAP_STREAMS
from tap_planful.streams import (
    DEFAULT_GL_LOOKBACK_PERIODS,
    DYNAMIC_STREAMS,
    STRUCTURED_STREAMS,
    DataLoadRulesStream,
)

if t.TYPE_CHECKING:
    from singer_sdk.streams import Stream

FAMILIES = {
    "structured": ("structured",),
    "dynamic": ("dynamic",),
    "both": ("structured", "dynamic"),
}
_PLACEHOLDER = re.compile(r"{([^{}]*)}")


def _model_entry(*extra: th.Property) -> th.ObjectType:
    return th.ObjectType(
        th.Property("model", th.StringType, required=True, description="Model name"), *extra
    )


CONFIG_SCHEMA = th.PropertiesList(
    th.Property(
        "api_type",
        th.StringType,
        default="structured",
        allowed_values=list(FAMILIES),
        description="Which API family to read: `structured` (Structured Planning, Access ID/Key), "
        "`dynamic` (Dynamic Planning, access token) or `both`. Streams of the other family are "
        "not offered.",
    ),
    th.Property(
        "structured_api",
        th.StringType,
        default="auto",
        allowed_values=["auto", "soap", "rest"],
        description="How Structured Planning is read: `soap` (the documented web service "
        "HostAPI_StateFree, with `login_name`, `password`, `tenant_code`), `rest` (undocumented "
        "export paths, with `access_id`/`access_key` and `path_overrides`) or `auto` (SOAP when "
        "`login_name` and `password` are set, else REST).",
    ),
    th.Property(
        "soap_url",
        th.StringType,
        description="Full URL of the SOAP web service (default "
        f"`https://<subdomain>.planful.com{SOAP_PATH}`, a guess; public clients use "
        f"`{OBSERVED_SOAP_URL}` with their pod's number).",
    ),
    th.Property(
        "login_name",
        th.StringType,
        secret=True,
        description="Login name of the Planful Web Services user (SOAP)",
    ),
    th.Property(
        "password",
        th.StringType,
        secret=True,
        description="Password of the Planful Web Services user (SOAP)",
    ),
    th.Property(
        "tenant_code",
        th.StringType,
        description="Tenant code for the SOAP web service (given by Planful Support)",
    ),
    th.Property(
        "gl_amount_types",
        th.ArrayType(th.StringType(allowed_values=list(AMOUNT_TYPES))),
        default=list(DEFAULT_AMOUNT_TYPES),
        description="Amount types of GL data to read over SOAP, one call each per period.",
    ),
    th.Property(
        "gl_segment_filters",
        th.ArrayType(
            th.ObjectType(
                th.Property("segment", th.IntegerType(minimum=1, maximum=8), required=True),
                th.Property("value", th.StringType, required=True),
                th.Property(
                    "operator",
                    th.StringType(allowed_values=["Equals", "Contains"]),
                    default="Equals",
                ),
                additional_properties=False,
            )
        ),
        description="Optional SOAP GL filters on segment member codes (one per segment).",
    ),
    th.Property(
        "subdomain",
        th.StringType,
        description="Structured Planning tenant: the host label of "
        "`https://<subdomain>.planful.com` "
        "(e.g. `na04`), or that full URL.",
    ),
    th.Property(
        "api_url",
        th.StringType,
        description="Overrides the Structured Planning base URL derived from `subdomain` "
        "(proxy, private deployment, sandbox).",
    ),
    th.Property(
        "access_id",
        th.StringType,
        secret=True,
        description="Structured Planning Access ID (Basic user)",
    ),
    th.Property(
        "access_key",
        th.StringType,
        secret=True,
        description="Structured Planning Access Key (Basic password)",
    ),
    th.Property(
        "access_token",
        th.StringType,
        secret=True,
        description="Dynamic Planning access token (X-ACCESS-TOKEN)",
    ),
    th.Property(
        "dynamic_api_url",
        th.StringType,
        default=DEFAULT_DYNAMIC_API_URL,
        description="Dynamic Planning API base, including `/api` (e.g. the AU host "
        "`https://modelauapi.hostanalytics.com/api` or `https://<tenant>.planful.com/api`).",
    ),
    th.Property(
        "start_fiscal_year",
        th.IntegerType(minimum=1900, maximum=9999),
        description="First fiscal year of GL data to read on a first run "
        "(default: two years before the current one).",
    ),
    th.Property(
        "end_fiscal_year",
        th.IntegerType(minimum=1900, maximum=9999),
        description="Last fiscal year of GL data to read (default: the current year for "
        "Actual, next "
        "year for budgets and forecasts without a plan year).",
    ),
    th.Property(
        "scenarios",
        th.ArrayType(th.StringType),
        description="Scenarios to read GL data for, by name (default: every scenario).",
    ),
    th.Property(
        "scenario_fiscal_years",
        th.ObjectType(additional_properties=th.IntegerType(minimum=1900, maximum=9999)),
        description="Plan year of configured budget and forecast scenarios, by name (e.g. "
        '`{"2025 Budget": 2025}`), so GL data of that scenario is asked for that year only. '
        "Without it, every year from `start_fiscal_year` to `end_fiscal_year` is asked.",
    ),
    th.Property(
        "segments",
        th.ArrayType(th.IntegerType(minimum=1, maximum=8)),
        description="Segment numbers (1-8) to read members of (default: every segment defined).",
    ),
    th.Property(
        "gl_lookback_periods",
        th.IntegerType(minimum=0),
        default=DEFAULT_GL_LOOKBACK_PERIODS,
        description="Fiscal periods before the bookmarked one that every run reads again, "
        "to pick up "
        "restatements. The bookmarked period itself is always read again.",
    ),
    th.Property(
        "fiscal_periods_per_year",
        th.IntegerType(minimum=1, maximum=98),
        default=12,
        description="Periods in the tenant's fiscal year (Planful's Define Fiscal Year Setup; "
        "e.g. 13 for 4-week periods or 12 months and an adjustment period). GL data is asked "
        "for periods 1 to this number of each year.",
    ),
    th.Property(
        "fiscal_year_start_month",
        th.IntegerType(minimum=1, maximum=12),
        default=1,
        description="Calendar month (1-12) in which the tenant's fiscal year starts; fiscal year "
        "N is the one ending in calendar year N. Sets the current period, up to which Actual is "
        "read.",
    ),
    th.Property(
        "gl_check_period_past_year",
        th.BooleanType,
        default=True,
        description="After reading every period of a scenario's fiscal year, ask the period "
        "after the last one once: rows there fail the run naming `fiscal_periods_per_year` "
        "instead of being left unread.",
    ),
    th.Property(
        "gl_reporting",
        th.StringType,
        description="Optional `Reporting` filter of GL data (e.g. a reporting currency view).",
    ),
    th.Property(
        "data_load_rule_type",
        th.StringType,
        default="all",
        allowed_values=["all", "gl", "transactions"],
        description="Which data load rules to list.",
    ),
    th.Property(
        "path_overrides",
        th.ObjectType(
            *(
                th.Property(
                    stream.name,  # type: ignore[misc]  # a class attribute of our streams
                    th.StringType,
                    default=stream.default_path,
                )
                for stream in STRUCTURED_STREAMS
            ),
            additional_properties=False,
        ),
        description="Structured Planning export paths by stream, to adopt Planful's real paths "
        "without a release. `segment_members` takes the placeholder `{SegmentNumber}`.",
    ),
    th.Property(
        "models",
        th.ArrayType(
            _model_entry(
                th.Property(
                    "dimensions",
                    th.ArrayType(th.StringType),
                    required=True,
                    description="Dimensions to export members of "
                    "(and to type `members` of model data)",
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
                th.Property(
                    "operation_type", th.StringType, default="AND", allowed_values=["AND", "OR"]
                ),
            )
        ),
        description="Dynamic Planning master/analytic models to read dimension members "
        "and leaf data of.",
    ),
    th.Property(
        "source_models",
        th.ArrayType(
            _model_entry(
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
        ),
        description="Dynamic Planning external source models to read rows of.",
    ),
    th.Property(
        "calculations",
        th.ArrayType(
            _model_entry(
                th.Property(
                    "calcscript", th.StringType, required=True, description="Calculation name"
                )
            )
        ),
        description="Dynamic Planning calculations to report the status of.",
    ),
    *retry_properties(RETRY_DEFAULTS, "Planful"),
    *report_properties(),
).to_dict()


def structured_api(config: t.Mapping[str, t.Any]) -> str:
    """`soap` or `rest`: `auto` takes SOAP when its credentials are set."""
    chosen = config.get("structured_api") or "auto"
    if chosen == "auto":
        return "soap" if config.get("login_name") and config.get("password") else "rest"
    return chosen


def _soap_errors(config: t.Mapping[str, t.Any]) -> list[str]:
    errors = [
        f"`{name}` is required for the Structured Planning web service (SOAP)"
        for name in ("login_name", "password", "tenant_code")
        if not config.get(name)
    ]
    if not config.get("subdomain") and not config.get("soap_url"):
        errors.append("`subdomain` (or `soap_url`) is required for the web service (SOAP)")
    if not config.get("scenarios"):
        errors.append(
            "`scenarios` is required with SOAP: the web service has no operation that lists "
            'scenarios (name each one, e.g. ["Actual", "2025 Budget"])'
        )
    amount_types = config.get("gl_amount_types") or []
    if len(set(amount_types)) < len(amount_types):
        errors.append("`gl_amount_types` names an amount type twice (its rows would come twice)")
    segments = [entry.get("segment") for entry in config.get("gl_segment_filters") or []]
    repeated = sorted({n for n in segments if segments.count(n) > 1})
    if repeated:
        errors.append(
            f"`gl_segment_filters` filters segments {repeated} more than once; the web service "
            "takes one value per field"
        )
    return errors


def config_errors(config: t.Mapping[str, t.Any]) -> list[str]:
    """Checks JSON Schema cannot express; each message names the setting to fix."""
    errors: list[str] = []
    families = FAMILIES.get(config.get("api_type") or "structured", ())
    auto = (config.get("structured_api") or "auto") == "auto"
    half_soap = bool(config.get("login_name")) != bool(config.get("password"))
    if "structured" in families and auto and half_soap:
        errors.append(
            "`login_name` and `password` go together: set both to read Structured Planning "
            "through the SOAP web service (or neither, for REST)"
        )
    elif "structured" in families and structured_api(config) == "soap":
        errors += _soap_errors(config)
    elif "structured" in families:
        errors += [
            f"`{name}` is required when api_type is {config.get('api_type') or 'structured'!r}"
            for name in ("access_id", "access_key")
            if not config.get(name)
        ]
        if not config.get("subdomain") and not config.get("api_url"):
            errors.append("`subdomain` (or `api_url`) is required for Structured Planning")
    if "dynamic" in families and not config.get("access_token"):
        errors.append(f"`access_token` is required when api_type is {config.get('api_type')!r}")
    if config.get("subdomain"):
        try:
            structured_subdomain(config["subdomain"])
        except ValueError as exc:
            errors.append(f"`subdomain`: {exc}")
    for name in ("api_url", "soap_url", "dynamic_api_url"):
        problem = base_url_problem(config[name]) if config.get(name) else None
        if problem:
            errors.append(f"`{name}` {problem}")
    errors += _path_errors(config.get("path_overrides") or {})
    unnamed = sorted(
        set(config.get("scenario_fiscal_years") or {}) - set(config.get("scenarios") or [])
    )
    if unnamed:
        errors.append(f"`scenario_fiscal_years` names scenarios not in `scenarios`: {unnamed}")
    start, end = config.get("start_fiscal_year"), config.get("end_fiscal_year")
    if start and end and start > end:
        errors.append(f"`start_fiscal_year` ({start}) is after `end_fiscal_year` ({end})")
    return errors


def _path_errors(overrides: t.Mapping[str, t.Any]) -> list[str]:
    errors = []
    placeholders = {"segment_members": {"SegmentNumber"}}
    for name, path in overrides.items():
        if not isinstance(path, str):
            continue
        if not path.startswith("/") or path.startswith("//") or "://" in path or "@" in path:
            errors.append(
                f"`path_overrides.{name}` must be a path on the tenant host "
                f"starting with '/', got {path!r}"
            )
        unknown = set(_PLACEHOLDER.findall(path)) - placeholders.get(name, set())
        if unknown:
            errors.append(f"`path_overrides.{name}` uses unknown placeholders {sorted(unknown)}")
    return errors


HOST_SETTINGS = "the host settings (`subdomain`, `soap_url`, `api_url`, `dynamic_api_url`)"


class TapPlanful(ConnectorTap):
    """Singer tap for Planful's Structured Planning and Dynamic Planning APIs."""

    name = "tap-planful"
    host_settings = HOST_SETTINGS
    config_jsonschema = CONFIG_SCHEMA
    message_writer_class = RecordBufferingWriter
    message_writer: RecordBufferingWriter

    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        errors = super()._validate_config(raise_errors=raise_errors) or config_errors(self.config)
        if errors and raise_errors:
            raise ConfigValidationError(
                "Config validation failed", errors=errors, schema=self.config_jsonschema
            )
        if errors:  # discovery: offline, but say now what a sync and --test will refuse
            self.logger.warning(
                "Discovery goes on, but a sync or --test would fail: %s", "; ".join(errors)
            )
        return errors

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        install_stop_signals()

    @classmethod
    @override
    def invoke(cls, *args: t.Any, **kwargs: t.Any) -> None:
        """Errors a user can fix (settings, credentials, host, an outage) are one line, exit 1;
        the traceback only at debug level."""
        with clean_failures(cls.logger, HOST_SETTINGS, kwargs, cls.config_jsonschema):
            try:
                super().invoke(*args, **kwargs)
            finally:
                flush_open_writers()  # the records gathered since the last STATE line

    @classmethod
    @override
    def cb_discover(cls, ctx: t.Any, param: t.Any, value: bool) -> None:
        """Discovery (`--discover`) fails the same way."""
        with clean_failures(cls.logger, HOST_SETTINGS, ctx.params, cls.config_jsonschema):
            super().cb_discover(ctx, param, value)

    @override
    def connection_checks(self) -> list[Check]:
        """Per family the configuration selects, the first record of a small list: segments
        (SOAP or REST), data load rules (REST next to SOAP, when its keys are set), users
        (Dynamic Planning)."""
        families = FAMILIES.get(self.config.get("api_type") or "structured", ())
        checks: list[tuple[str, str]] = []
        if "structured" in families and structured_api(self.config) == "soap":
            checks.append(("Planful Structured Planning web service (SOAP)", "segments"))
            if "data_load_rules" in self.streams:
                checks.append(("Planful Structured Planning REST API", "data_load_rules"))
        elif "structured" in families:
            checks.append(("Planful Structured Planning REST API", "segments"))
        if "dynamic" in families:
            checks.append(("Planful Dynamic Planning API", "dp_users"))
        return [self._first_record_check(label, self.streams[name]) for label, name in checks]

    @staticmethod
    def _first_record_check(label: str, stream: Stream) -> Check:
        url = f"{stream.url_base}{stream.path}"  # type: ignore[attr-defined]  # our REST streams

        def read() -> str:
            records = iter(stream.get_records(None))
            try:
                found = next(records, None)
            finally:
                getattr(records, "close", lambda: None)()
            return f"signed in; read {stream.name}" + ("" if found else " (none there)")

        return Check(f"{label} at {url}", read)

    @override
    def discover_streams(self) -> list[Stream]:
        families = FAMILIES.get(self.config.get("api_type") or "structured", ())
        classes: list[type[Stream]] = []
        if "structured" in families and structured_api(self.config) == "soap":
            classes += SOAP_STREAMS
            if self.config.get("access_id") and self.config.get("access_key"):
                classes.append(DataLoadRulesStream)  # documented REST, with its own credentials
        elif "structured" in families:
            classes += STRUCTURED_STREAMS
        if "dynamic" in families:
            classes += DYNAMIC_STREAMS
        return [stream_class(tap=self) for stream_class in classes]


if __name__ == "__main__":
    TapPlanful.cli()
