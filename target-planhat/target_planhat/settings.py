"""Every setting of target-planhat, declared once (name, type, default, description): the config
schema, `--about`, the README table and the Meltano definition come from here, and the target
reads its settings through `PlanhatSettings.read(config)`. Cross-field rules are `problems()`."""

from __future__ import annotations

import typing as t
from dataclasses import dataclass
from functools import cached_property

from planful_plansource_planhat_core.declared import RetrySettings, setting
from planful_plansource_planhat_core.retry import RetryPolicy
from planful_plansource_planhat_core.settings import Alias
from planful_plansource_planhat_core.urls import base_url_problem
from singer_sdk import typing as th

from target_planhat.ledger import DEFAULT_LEDGER_PATH
from target_planhat.objects import BEHAVIORS
from target_planhat.routes import Route, parse_routes

DEFAULT_API_URL = "https://api.planhat.com"
DEFAULT_ANALYTICS_URL = "https://analytics.planhat.com"
REGION_PATTERN = r"^[a-z]{2}[0-9]{0,2}$"
BULK_MAX_ITEMS = 5000
"""Planhat's cap on items per bulk upsert request."""
ANALYTICS_MAX_BODY_BYTES = 32_000_000
"""The most `analytics_batch_bytes` allows: the figure Planhat's current docs give for metrics."""
ANALYTICS_BODY_BYTES = 10_000_000
"""The default body limit on the analytics host: its published docs cap a request at 10 MB."""
READ_BACK_MAX_READS = 3
"""Read-backs of metrics in doubt before they are sent again unread."""
DEFAULT_SETTLE_SECONDS = 30.0
DEFAULT_DRY_RUN_FILE = "target-planhat-dry-run.jsonl"
ALIASES = (
    Alias("retry_base_seconds", "retry_initial_wait"),
    Alias("retry_max_wait_seconds", "retry_max_wait"),
    Alias("request_timeout_seconds", "request_timeout"),
)
"""The names of the retry settings before the three plugins shared one vocabulary."""

_MAPPING_ENTRY = th.ObjectType(
    th.Property("object", th.StringType, description="Planhat object the stream writes."),
    th.Property("sync_key", th.StringType, description="Field matched to existing records."),
    th.Property("behavior", th.StringType(allowed_values=list(BEHAVIORS))),
    additional_properties=False,
)


@dataclass(frozen=True, kw_only=True)
class PlanhatSettings(RetrySettings):
    """target-planhat's settings (the run report's and the old names' are appended by the
    target: they are shared pieces of connector-core)."""

    retry_defaults = RetryPolicy(max_tries=8, initial_wait=2.0, max_wait=60.0, timeout=300.0)
    retry_service = "Planhat"

    api_token: str = setting(
        th.StringType(min_length=1),
        required=True,
        secret=True,
        description="Planhat API access token of a service account (private app).",
    )
    region: str | None = setting(
        th.StringType(pattern=REGION_PATTERN),
        description=(
            "Planhat region, the suffix of your app host: app-us3.planhat.com means `us3` "
            "(API https://api-us3.planhat.com). Empty for app.planhat.com "
            "(https://api.planhat.com). Two lowercase letters and up to two digits, so it can "
            "never name another host."
        ),
    )
    api_url: str | None = setting(
        th.StringType,
        description=(
            "Overrides the main API URL derived from `region` (a proxy, the sandbox): https "
            "only (plain http on loopback only), no credentials, query or fragment."
        ),
    )
    tenant_token: str | None = setting(
        th.StringType(min_length=1),
        secret=True,
        description=(
            "Tenant token (UUID) for the analytics host; the `metrics` and `activities` streams "
            "need it."
        ),
    )
    analytics_url: str = setting(
        th.StringType,
        default=DEFAULT_ANALYTICS_URL,
        description=(
            "Base URL of the analytics host (metrics and activities; the same for every "
            "region), under the same rules as `api_url`."
        ),
    )
    object_mapping: dict[str, dict[str, t.Any]] = setting(
        th.ObjectType(additional_properties=_MAPPING_ENTRY),
        default={},
        description=(
            "Per stream: `object` (when the stream name is not an object name), `sync_key` and "
            "`behavior` (upsert, update or send). Example: "
            '{"crm_accounts": {"object": "companies", "sync_key": "externalId", '
            '"behavior": "update"}}'
        ),
    )
    batch_size: int = setting(
        th.IntegerType(minimum=1, maximum=BULK_MAX_ITEMS),
        default=BULK_MAX_ITEMS,
        description="Records per bulk upsert request (Planhat accepts at most 5,000).",
    )
    max_requests_per_minute: int = setting(
        th.IntegerType(minimum=0),
        default=200,
        description=(
            "Main API throttle (Planhat's soft limit is 200/min); 0 turns it off. The analytics "
            "host is not throttled."
        ),
    )
    on_reject: str = setting(
        th.StringType(allowed_values=["report", "fail"]),
        default="report",
        description=(
            "What a rejected record does: `report` logs it, writes it to `rejects_file` and "
            "goes on; "
            "`fail` also fails the run after the batch that held it (no STATE for it)."
        ),
    )
    rejects_file: str | None = setting(
        th.StringType,
        description="JSON-lines file that rejected and skipped records are appended to.",
    )
    validate_records: bool = setting(
        th.BooleanType,
        default=False,
        description=(
            "Validate records against the stream schema before sending (fails the run on "
            "the first invalid record). Off by default: Planhat validates every item and "
            "its rejects are reported one by one; the check costs most of the time per record."
        ),
    )
    analytics_batch_bytes: int = setting(
        th.IntegerType(minimum=1024, maximum=ANALYTICS_MAX_BODY_BYTES),
        default=ANALYTICS_BODY_BYTES,
        description=(
            "Largest request body sent to the analytics host (its published limit is 10 MB; "
            "at most 32 MB, the figure given for metrics)."
        ),
    )
    read_back_max_reads: int = setting(
        th.IntegerType(minimum=0),
        default=READ_BACK_MAX_READS,
        description=(
            "Metrics whose send got no answer or a short `processed` are read back "
            "(GET /dimensiondata, after `settle_seconds`) and only the points not stored are "
            "sent again, at most this many reads; then the rest is sent once more unread "
            "(logged as `maybe_twice`: they may be stored twice). Points still unaccounted "
            "stop the run before its STATE. 0: send again at once (at-least-once)."
        ),
    )
    settle_seconds: float = setting(
        th.NumberType(minimum=0),
        default=DEFAULT_SETTLE_SECONDS,
        description=(
            "After a request got no answer (timeout, dropped connection), the least wait "
            "before the same request is re-sent, so a late write of the first attempt lands "
            "before the re-send and before every later batch."
        ),
    )
    ledger: str = setting(
        th.StringType,
        default=DEFAULT_LEDGER_PATH,
        secret=True,
        description=(
            "Where the sync ledger lives (what Planhat last acknowledged, so unchanged "
            "records are not sent again and sends go out once): a SQLite file path "
            f"(default `{DEFAULT_LEDGER_PATH}` in the working directory), "
            "`postgresql://user:password@host:port/db` to share one ledger between runners, "
            "or `none`."
        ),
    )
    full_resync: bool = setting(
        th.BooleanType,
        default=False,
        description=(
            "Ignore the ledger for this run (send everything, sends included, so metrics and "
            "activities are appended again) and rebuild it from what Planhat acknowledges."
        ),
    )
    dry_run: bool = setting(
        th.BooleanType,
        default=False,
        description=(
            "Read the input, the ledger and (for update-only) Planhat, but write nothing to "
            "Planhat or the ledger and emit no STATE; log what would be created / updated / "
            "unchanged / sent / skipped and write the planned items to `dry_run_file`."
        ),
    )
    dry_run_file: str = setting(
        th.StringType,
        default=DEFAULT_DRY_RUN_FILE,
        description=(
            "JSON-lines file a dry run writes its planned items to, one "
            '`{"stream", "object", "action", "item"}` per line (`action`: create, update, '
            "send); replaced by each dry run."
        ),
    )

    @classmethod
    def config_schema(cls, *shared: th.Property) -> dict[str, t.Any]:
        """The target's `config_jsonschema`: these settings, then the `shared` pieces of
        connector-core (run report) and the old names (listed as deprecated)."""
        return th.PropertiesList(
            *cls.properties().wrapped.values(),
            *shared,
            *(alias.property(th.NumberType(minimum=0)) for alias in ALIASES),
        ).to_dict()

    @property
    def _main_url_as_set(self) -> str:
        return self.api_url or (
            f"https://api-{self.region}.planhat.com" if self.region else DEFAULT_API_URL
        )

    @property
    def main_url(self) -> str:
        """The main API's base URL: `api_url`, else the `region`'s host."""
        return self._main_url_as_set.strip().rstrip("/")

    @property
    def analytics_host_url(self) -> str:
        return (self.analytics_url or DEFAULT_ANALYTICS_URL).strip().rstrip("/")

    @cached_property
    def _parsed_routes(self) -> tuple[dict[str, Route], list[str]]:
        return parse_routes(self.object_mapping or {})

    @property
    def routes(self) -> dict[str, Route]:
        """The routes `object_mapping` declares (those it declares well)."""
        return self._parsed_routes[0]

    @property
    def fail_on_reject(self) -> bool:
        return self.on_reject == "fail"

    def problems(self) -> list[str]:
        """`object_mapping` entries that name no object, behaviour or key of it; host URLs that
        are not one."""
        problems = list(self._parsed_routes[1])
        if problems:
            return problems
        as_set = (
            ("api_url", self._main_url_as_set),
            ("analytics_url", self.analytics_url or DEFAULT_ANALYTICS_URL),
        )
        for name, url in as_set:
            problem = base_url_problem(url)
            if problem:
                return [f"`{name}` {problem}"]
        return problems
