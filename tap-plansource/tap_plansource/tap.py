"""`tap-plansource`: the PlanSource Admin API v2 as Singer streams."""

from __future__ import annotations

import datetime
import sys
from functools import cached_property
from typing import TYPE_CHECKING, Any, cast

from planful_plansource_planhat_core.connection_test import Check
from planful_plansource_planhat_core.failures import clean_failures, install_stop_signals
from planful_plansource_planhat_core.run_report import report_properties
from planful_plansource_planhat_core.settings import retry_properties
from planful_plansource_planhat_core.tap import ConnectorTap
from planful_plansource_planhat_core.writer import RecordBufferingWriter, flush_open_writers
from singer_sdk import Stream
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError
from typing_extensions import override

from tap_plansource.auth import HOST_SETTINGS
from tap_plansource.runtime import Runtime
from tap_plansource.settings import (
    ALIASES,
    ASSERTION_ALGORITHMS,
    DEFAULTS,
    ENVIRONMENT_HOSTS,
    MAX_PAGE_SIZE,
    PAYROLL_MODES,
    PLAN_YEAR_SELECTORS,
    RETRY_DEFAULTS,
    SENSITIVE_MODES,
    USERNAME_PLACEMENTS,
    Settings,
)
from tap_plansource.streams import STREAM_TYPES, CustomStream
from tap_plansource.tenant_fields import META_STREAMS

if TYPE_CHECKING:
    from tap_plansource.client import PlanSourceStream

CUSTOM_STREAM = th.ObjectType(
    th.Property(
        "name", th.StringType, required=True, description="Stream name (lower case, digits, `_`)."
    ),
    th.Property(
        "path",
        th.StringType,
        required=True,
        description="Path under `/admin/v2`, e.g. `/content_blocks` or `/subscriber/meta`.",
    ),
    th.Property(
        "params", th.ObjectType(additional_properties=True), description="Fixed query parameters."
    ),
    th.Property(
        "primary_keys", th.ArrayType(th.StringType), description="Fields that identify a record."
    ),
    th.Property(
        "records_path",
        th.StringType,
        default="$.data",
        description=(
            "JSONPath to the records in the response; whatever it points at is read as a list, an "
            "object holding a list, or one record."
        ),
    ),
    th.Property(
        "paginate",
        th.BooleanType,
        default=True,
        description="Send `page`/`per_page` and read every page.",
    ),
    th.Property(
        "schema",
        th.ObjectType(additional_properties=True),
        description="Optional JSON Schema of a record; undeclared fields pass through.",
    ),
    additional_properties=False,
)


GIL_SWITCH_INTERVAL_SECONDS = 0.0002


class TapPlanSource(ConnectorTap):
    """Employees, dependents, beneficiaries, coverages, payroll and ACA data from PlanSource."""

    name = "tap-plansource"
    host_settings = HOST_SETTINGS
    message_writer_class = RecordBufferingWriter
    aliases = ALIASES
    message_writer: RecordBufferingWriter

    config_jsonschema = th.PropertiesList(
        th.Property(
            "environment",
            th.StringType,
            default=DEFAULTS["environment"],
            allowed_values=list(ENVIRONMENT_HOSTS),
            description=(
                "`production` (api.plansource.com) or `development` "
                "(partner-dev-api.plansource.com, PlanSource's Partner-Dev); credentials differ "
                "per environment."
            ),
        ),
        th.Property(
            "api_url",
            th.StringType,
            description=(
                "Override of the Admin API base URL (ending in `/admin/v2`), e.g. for a proxy or "
                "the local sandbox; the token endpoint is `/oauth/v2/token` on the same host. "
                "https only, except for loopback hosts."
            ),
        ),
        th.Property(
            "client_id",
            th.StringType,
            required=True,
            description="The API user's client id (System Administration → System → API Users).",
        ),
        th.Property(
            "client_secret",
            th.StringType,
            required=True,
            secret=True,
            description=(
                "The API user's client secret; signs the token request's JWT assertion when "
                "`client_assertion_algorithm` is HS256."
            ),
        ),
        th.Property(
            "client_assertion_algorithm",
            th.StringType,
            default=DEFAULTS["client_assertion_algorithm"],
            allowed_values=list(ASSERTION_ALGORITHMS),
            description=(
                "How the token request's JWT assertion is signed: `HS256` with `client_secret`, "
                "or `RS256`/`ES256` with `private_key` (PlanSource holds the public key)."
            ),
        ),
        th.Property(
            "private_key",
            th.StringType,
            secret=True,
            description=(
                "PEM private key (RSA for RS256, EC P-256 for ES256) that signs the assertion."
            ),
        ),
        th.Property(
            "key_id",
            th.StringType,
            description="Optional `kid` header of the assertion, naming the key PlanSource holds.",
        ),
        th.Property(
            "username",
            th.StringType,
            required=True,
            description="The PlanSource admin user the API acts as (its `logged_in_user`).",
        ),
        th.Property(
            "username_placement",
            th.StringType,
            default=DEFAULTS["username_placement"],
            allowed_values=list(USERNAME_PLACEMENTS),
            description=(
                "Where the token request carries `logged_in_user`: a JWT `claim` (default), a "
                "`form` field, or `both`. Change only if PlanSource support says so."
            ),
        ),
        th.Property(
            "plan_years",
            th.ArrayType(th.StringType(allowed_values=list(PLAN_YEAR_SELECTORS))),
            default=DEFAULTS["plan_years"],
            description="Plan years the coverage streams read: `previous`, `current`, `next`.",
        ),
        th.Property(
            "include_test_employees",
            th.BooleanType,
            default=DEFAULTS["include_test_employees"],
            description="Include PlanSource test employees (hidden by the API by default).",
        ),
        th.Property(
            "page_size",
            th.IntegerType(minimum=1, maximum=MAX_PAGE_SIZE),
            default=DEFAULTS["page_size"],
            description=f"Records per page (`per_page`), at most {MAX_PAGE_SIZE}.",
        ),
        th.Property(
            "start_date",
            th.DateTimeType,
            description=(
                "Earliest change read by the incremental streams (payroll, ACA) on the first run; "
                "later runs start from the bookmark. Without it, payroll reads changes since 1 "
                "January of the previous year and ACA reads every record."
            ),
        ),
        th.Property(
            "payroll_mode",
            th.StringType,
            default=DEFAULTS["payroll_mode"],
            allowed_values=list(PAYROLL_MODES),
            description=(
                "`per_subscriber` (PlanSource's recommendation): one request per subscriber "
                "(`prefetch_pages + 1` in flight); `bulk`: pages of the whole organization."
            ),
        ),
        th.Property(
            "payroll_lookback_days",
            th.IntegerType(minimum=0),
            default=DEFAULTS["payroll_lookback_days"],
            description="Days before the bookmark that payroll re-reads, for back-dated changes.",
        ),
        th.Property(
            "aca_overlap_minutes",
            th.IntegerType(minimum=0),
            default=DEFAULTS["aca_overlap_minutes"],
            description=(
                "Minutes added to the `changes_since` window of the ACA streams and "
                "`administrators`, for clock differences."
            ),
        ),
        th.Property(
            "sensitive_fields",
            th.StringType,
            default=DEFAULTS["sensitive_fields"],
            allowed_values=list(SENSITIVE_MODES),
            description=(
                "What to do with SSNs and the other fields in `sensitive_field_names`, at any "
                "depth: `keep`, `mask` (all but the last four characters), `hash` (HMAC-SHA256 "
                "with `sensitive_hash_salt`) or `drop`."
            ),
        ),
        th.Property(
            "sensitive_field_names",
            th.ArrayType(th.StringType),
            default=DEFAULTS["sensitive_field_names"],
            description=(
                "Field names protected by `sensitive_fields`, besides `ssn` and any `*_ssn` which "
                "are always protected; e.g. `birthdate`, `email`, `home_phone`, `tax_id`."
            ),
        ),
        th.Property(
            "protect_ssn_shaped_values",
            th.BooleanType,
            default=DEFAULTS["protect_ssn_shaped_values"],
            description=(
                "Protect with `sensitive_fields` any field, whatever its name and meta "
                "`data_type`, from its first string value shaped like an SSN (`123-45-6789` or "
                "nine digits), and name it in a warning. Primary keys are exempt."
            ),
        ),
        th.Property(
            "sensitive_hash_salt",
            th.StringType,
            secret=True,
            description="Secret key for `sensitive_fields: hash` (required in that mode).",
        ),
        th.Property(
            "discover_tenant_fields",
            th.BooleanType,
            default=DEFAULTS["discover_tenant_fields"],
            description=(
                "At discovery, read `/subscriber/meta` and `/dependent/meta` and declare in the "
                "`subscribers` and `dependents` schemas the tenant's fields the built-in schemas "
                "lack (typed from their `data_type`); before a sync, learn which fields they "
                "type `ssn`, so `sensitive_fields` protects them. `false` skips both lookups."
            ),
        ),
        th.Property(
            "custom_streams",
            th.ArrayType(CUSTOM_STREAM),
            description="Extra streams over any GET endpoint of the Admin API.",
        ),
        *retry_properties(RETRY_DEFAULTS, "PlanSource"),
        *report_properties(),
        ALIASES[0].property(th.IntegerType(minimum=0)),
        ALIASES[1].property(th.NumberType(minimum=0)),
        th.Property(
            "user_agent",
            th.StringType,
            description="User-Agent header sent to PlanSource (default tap-plansource/<version>).",
        ),
        th.Property(
            "prefetch_pages",
            th.IntegerType(minimum=0, maximum=8),
            default=DEFAULTS["prefetch_pages"],
            description=(
                "Pages requested ahead while the current page's records are processed (requests "
                "in flight per stream); 0 reads strictly one page at a time."
            ),
        ),
    ).to_dict()

    @classmethod
    @override
    def invoke(cls, **kwargs: Any) -> None:
        """Run the CLI with a short GIL switch interval.

        Pages are read from sockets by a few threads while the main thread processes records;
        with the default 5 ms interval every chunk a reader thread receives waits up to 5 ms for
        the GIL behind record processing, which serialises the network behind the CPU work.
        The tap owns its process, so it can tune this interpreter-wide setting.
        """
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_SECONDS)
        with clean_failures(cls.logger, HOST_SETTINGS, kwargs, cls.config_jsonschema):
            try:
                super().invoke(**kwargs)
            finally:
                flush_open_writers()  # the records gathered since the last STATE line

    @classmethod
    @override
    def cb_discover(cls, ctx: Any, param: Any, value: bool) -> None:
        """Discovery (`--discover`) fails the same way."""
        with clean_failures(cls.logger, HOST_SETTINGS, ctx.params, cls.config_jsonschema):
            super().cb_discover(ctx, param, value)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _ = self.settings  # settings errors surface while the CLI still reports them one a line
        install_stop_signals()

    @cached_property
    def settings(self) -> Settings:
        settings = Settings.from_config(
            self.config,
            reserved_stream_names=[t.name for t in STREAM_TYPES],  # type: ignore[misc]
        )
        if settings.start_date and settings.start_date > datetime.datetime.now(datetime.UTC):
            self.logger.warning(
                "`start_date` %s is in the future: payroll and ACA will read nothing newer "
                "than it until then",
                settings.start_date.isoformat(),
            )
        return settings

    @cached_property
    def runtime(self) -> Runtime:
        """What the streams use of this run (they get it, never the tap)."""
        return Runtime(self.settings, self.logger, self.plugin_version, lambda: self.streams)

    @property
    @override
    def catalog_dict(self) -> dict:
        """The discovered catalog; with `discover_tenant_fields`, `subscribers` and
        `dependents` also declare the fields their meta endpoints list (discovery only: a sync
        takes its schemas from the catalog it is given)."""
        catalog = super().catalog_dict
        missing = self.settings.missing_credentials()
        if self.runtime.tenant_fields.enabled and missing:
            problem = (
                f"{', '.join(missing)} must be set: discovery reads the tenant's own fields "
                "(`discover_tenant_fields`); set them, or `discover_tenant_fields: false` to "
                "discover offline"
            )
            raise ConfigValidationError("Config validation failed", errors=[problem])
        if self.runtime.tenant_fields.enabled:
            for entry in catalog["streams"]:
                if entry["tap_stream_id"] in META_STREAMS:
                    self.runtime.tenant_fields.declare(entry)
        return catalog

    @property
    @override
    def streams(self) -> dict[str, Stream]:
        """Streams in discovery order rather than by name: `coverages` is synced before the
        streams derived from its rows, so they reuse them instead of reading coverages again.
        (singer-sdk's `load_streams`, which sorts by name, is final: the order is set here.)"""
        streams = super().streams
        order = {
            stream_type.name: index  # type: ignore[misc]  # a class attribute of our streams
            for index, stream_type in enumerate(STREAM_TYPES)
        }
        ranked = sorted(streams.items(), key=lambda item: order.get(item[0], len(order)))
        if list(streams) != [name for name, _ in ranked]:
            streams.clear()
            streams.update(ranked)  # the SDK's own mapping, so its cache keeps the order
        return streams

    @override
    def connection_checks(self) -> list[Check]:
        """A token from the token endpoint, then the organizations (one small page)."""
        organizations = cast("PlanSourceStream", self.streams["organizations"])
        token_url, api_url = self.settings.token_url, f"{self.settings.api_url}/organizations"

        def sign_in() -> str:
            self.runtime.token_manager.access_token()
            return f"issued a token for {self.settings.username!r}"

        def read() -> str:
            _, records = organizations._fetch(None, None)  # our stream's one page, no fan-out
            return f"read {len(records)} organization(s)"

        return [
            Check(f"PlanSource token endpoint at {token_url}", sign_in),
            Check(f"PlanSource Admin API at {api_url}", read),
        ]

    @override
    def discover_streams(self) -> list[Stream]:
        runtime = self.runtime
        streams: list[Any] = [stream_type(self, runtime) for stream_type in STREAM_TYPES]
        streams += [
            CustomStream(self, runtime, definition) for definition in self.settings.custom_streams
        ]
        return streams


if __name__ == "__main__":
    TapPlanSource.cli()
