"""target-planhat: write Singer streams into Planhat objects (upsert, update-only, send)."""

from __future__ import annotations

import gc
import itertools
import sys
import threading
from collections import deque
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

import click
from planful_plansource_planhat_core.connection_test import Check, run_connection_test
from planful_plansource_planhat_core.failures import (
    clean_failures,
    install_stop_signals,
    on_failure,
)
from planful_plansource_planhat_core.run_report import report_from_config, report_properties
from planful_plansource_planhat_core.settings import (
    Alias,
    loaded,
    retry_properties,
    variable_prefix,
    warn_unknown_settings,
)
from planful_plansource_planhat_core.singer_input import CheckedReader
from planful_plansource_planhat_core.urls import base_url_problem
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.target_base import Target

from target_planhat.client import RETRY_DEFAULTS, PlanhatClient, RetryPolicy
from target_planhat.inflight import InFlight
from target_planhat.ledger import DEFAULT_LEDGER_PATH, Ledger, fingerprint, open_ledger
from target_planhat.objects import (
    BEHAVIORS,
    OBJECTS,
    Behavior,
    PlanhatObject,
    unrouted_stream_problem,
)
from target_planhat.report import Report
from target_planhat.sinks import (
    ANALYTICS_BODY_BYTES,
    ANALYTICS_MAX_BODY_BYTES,
    BULK_MAX_ITEMS,
    READ_BACK_MAX_READS,
    AnalyticsSendSink,
    BulkUpsertSink,
    PlanhatSink,
    UnroutedSink,
)

if TYPE_CHECKING:
    from singer_sdk.sinks import Sink


DEFAULT_API_URL = "https://api.planhat.com"
DEFAULT_ANALYTICS_URL = "https://analytics.planhat.com"
REGION_PATTERN = r"^[a-z]{2}[0-9]{0,2}$"
HOST_SETTINGS = "`region` / `api_url` and `analytics_url`"
# The names of the retry settings before the three plugins shared one vocabulary.
ALIASES = (
    Alias("retry_base_seconds", "retry_initial_wait"),
    Alias("retry_max_wait_seconds", "retry_max_wait"),
    Alias("request_timeout_seconds", "request_timeout"),
)
GIL_SWITCH_INTERVAL_SECONDS = 0.0002
"""Lets the in-flight batch's thread take each chunk off the socket as it arrives (default 5 ms)."""
DEFAULT_SETTLE_SECONDS = 30.0
DEFAULT_DRY_RUN_FILE = "target-planhat-dry-run.jsonl"
GC_YOUNG_THRESHOLD = 50_000
"""Allocations between young-generation collections (default 700): records are not cyclic."""


@dataclass(frozen=True)
class Route:
    """Where a stream goes: object, behaviour and sync key (None: Planhat's own key order)."""

    object: PlanhatObject
    behavior: Behavior
    sync_key: str | None


def _object_mapping_help() -> str:
    return ", ".join(OBJECTS)


class TargetPlanhat(Target):
    """Singer target for Planhat."""

    name = "target-planhat"
    message_reader_class = CheckedReader  # BATCH messages refused: no batch root

    config_jsonschema = th.PropertiesList(
        th.Property(
            "api_token",
            th.StringType(min_length=1),
            required=True,
            secret=True,
            description="Planhat API access token of a service account (private app).",
        ),
        th.Property(
            "region",
            th.StringType(pattern=REGION_PATTERN),
            description=(
                "Planhat region, the suffix of your app host: app-us3.planhat.com means `us3` "
                "(API https://api-us3.planhat.com). Empty for app.planhat.com (https://api.planhat.com)."
            ),
        ),
        th.Property(
            "api_url",
            th.StringType,
            description="Overrides the main API URL derived from `region` (a proxy, the sandbox).",
        ),
        th.Property(
            "tenant_token",
            th.StringType(min_length=1),
            secret=True,
            description="Tenant token (UUID) for the analytics host (metrics, activities).",
        ),
        th.Property(
            "analytics_url",
            th.StringType,
            default=DEFAULT_ANALYTICS_URL,
            description="Base URL of the analytics host (metrics and activities).",
        ),
        th.Property(
            "object_mapping",
            th.ObjectType(
                additional_properties=th.ObjectType(
                    th.Property(
                        "object", th.StringType, description="Planhat object the stream writes."
                    ),
                    th.Property(
                        "sync_key", th.StringType, description="Field matched to existing records."
                    ),
                    th.Property("behavior", th.StringType(allowed_values=list(BEHAVIORS))),
                    additional_properties=False,
                )
            ),
            default={},
            description=(
                "Per stream: `object` (when the stream name is not an object name), `sync_key` and "
                "`behavior` (upsert, update or send). Example: "
                '{"crm_accounts": {"object": "companies", "sync_key": "externalId", '
                '"behavior": "update"}}'
            ),
        ),
        th.Property(
            "batch_size",
            th.IntegerType(minimum=1, maximum=BULK_MAX_ITEMS),
            default=BULK_MAX_ITEMS,
            description="Records per bulk upsert request (Planhat accepts at most 5,000).",
        ),
        th.Property(
            "max_requests_per_minute",
            th.IntegerType(minimum=0),
            default=200,
            description="Main API throttle (Planhat's soft limit is 200/min); 0 turns it off.",
        ),
        th.Property(
            "on_reject",
            th.StringType(allowed_values=["report", "fail"]),
            default="report",
            description=(
                "What a rejected record does: `report` logs it, writes it to `rejects_file` and "
                "goes on; "
                "`fail` also fails the run after the batch that held it."
            ),
        ),
        th.Property(
            "rejects_file",
            th.StringType,
            description="JSON-lines file that rejected and skipped records are appended to.",
        ),
        th.Property(
            "validate_records",
            th.BooleanType,
            default=False,
            description=(
                "Validate records against the stream schema before sending (fails the run on "
                "the first invalid record). Off by default: Planhat validates every item and "
                "its rejects are reported one by one; the check costs most of the time per record."
            ),
        ),
        th.Property(
            "analytics_batch_bytes",
            th.IntegerType(minimum=1024, maximum=ANALYTICS_MAX_BODY_BYTES),
            default=ANALYTICS_BODY_BYTES,
            description=(
                "Largest request body sent to the analytics host (its published limit is 10 MB; "
                "at most 32 MB, the figure given for metrics)."
            ),
        ),
        th.Property(
            "read_back_max_reads",
            th.IntegerType(minimum=0),
            default=READ_BACK_MAX_READS,
            description=(
                "Metrics whose send got no answer or a short `processed` are read back "
                "(GET /dimensiondata) and only the points not stored are sent again, at most this "
                "many times; then the rest is sent once more unread (logged: they may be stored "
                "twice). Points still unaccounted stop the run. 0: send again at once."
            ),
        ),
        *retry_properties(RETRY_DEFAULTS, "Planhat"),
        *report_properties(progress=False),
        *(alias.property(th.NumberType(minimum=0)) for alias in ALIASES),
        th.Property(
            "settle_seconds",
            th.NumberType(minimum=0),
            default=DEFAULT_SETTLE_SECONDS,
            description=(
                "After a request got no answer (timeout, dropped connection), the least wait "
                "before the same request is re-sent, so a late write of the first attempt lands "
                "before the re-send and before every later batch."
            ),
        ),
        th.Property(
            "ledger",
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
        ),
        th.Property(
            "full_resync",
            th.BooleanType,
            default=False,
            description=(
                "Ignore the ledger for this run (send everything, sends included) and rebuild it "
                "from what Planhat acknowledges."
            ),
        ),
        th.Property(
            "dry_run",
            th.BooleanType,
            default=False,
            description=(
                "Read the input, the ledger and (for update-only) Planhat, but write nothing to "
                "Planhat or the ledger and emit no STATE; log what would be created / updated / "
                "unchanged / sent / skipped and write the planned items to `dry_run_file`."
            ),
        ),
        th.Property(
            "dry_run_file",
            th.StringType,
            default=DEFAULT_DRY_RUN_FILE,
            description="JSON-lines file a dry run writes its planned items to (replaced).",
        ),
    ).to_dict()

    def __init__(self, *args: Any, config: Any = None, **kwargs: Any) -> None:
        config = loaded(config, self.config_jsonschema, ALIASES, self.logger)
        super().__init__(*args, config=config, **kwargs)
        report_from_config(self.config, self.logger)  # METRIC lines as `metrics_log_level` says
        install_stop_signals()
        on_failure(self.abandon)
        self.append_builtin_config(self.config_jsonschema)
        prefix = variable_prefix(self.name)
        warn_unknown_settings(self.config, self.config_jsonschema, prefix, self.logger)
        self.max_parallelism = (
            1  # Planhat asks for sequential bulk calls; one client, one throttle.
        )
        self.routes = self._validated_routes()
        self.api_url = self._validated_url("api_url", self._default_api_url())
        self.analytics_url = self._validated_url("analytics_url", DEFAULT_ANALYTICS_URL)
        self.dry_run = bool(self.config.get("dry_run", False))
        self.records_received = 0
        self._states: deque[tuple[int, dict]] = deque()
        self._unfinished: dict[int, int] = {}
        self._batch_tokens = itertools.count(1)
        self._state_lock = threading.Lock()
        self._last_state_written: dict | None = None
        self._warned_new_ledger = False

    # -- settings ---------------------------------------------------------------------------

    def _default_api_url(self) -> str:
        region = self.config.get("region")
        return f"https://api-{region}.planhat.com" if region else DEFAULT_API_URL

    def _validated_url(self, setting: str, default: str) -> str:
        url = self.config.get(setting) or default
        problem = base_url_problem(url)
        if problem:
            raise ConfigValidationError(
                "Config validation failed", errors=[f"`{setting}` {problem}"]
            )
        return url.strip().rstrip("/")

    def _validated_routes(self) -> dict[str, Route]:
        errors: list[str] = []
        routes: dict[str, Route] = {}
        for stream, entry in (self.config.get("object_mapping") or {}).items():
            route = self._route(stream, entry, errors)
            if route is not None:
                routes[stream] = route
        if errors:
            raise ConfigValidationError("Config validation failed", errors=errors)
        return routes

    def _route(self, stream: str, entry: dict[str, Any], errors: list[str]) -> Route | None:
        where = f"object_mapping.{stream}"
        obj = OBJECTS.get(entry.get("object", stream))
        if obj is None:
            errors.append(
                f"{where}.object: {entry.get('object', stream)!r} is not a Planhat object; "
                f"choose one of {_object_mapping_help()}"
            )
            return None
        behavior = entry.get("behavior", obj.default_behavior)
        if behavior not in obj.behaviors:
            errors.append(
                f"{where}.behavior: {obj.name} allows {', '.join(obj.behaviors)}, not {behavior!r}"
            )
        sync_key = entry.get("sync_key")
        if sync_key is not None and obj.sync_keys and sync_key not in obj.sync_keys:
            keys = ", ".join(obj.sync_keys) or "none (it is append-only)"
            errors.append(f"{where}.sync_key: {obj.name} matches on {keys}, not {sync_key!r}")
        return Route(obj, behavior, sync_key)

    def route_for(self, stream: str) -> Route:
        """The route of `stream`: from `object_mapping`, or the object of the same name."""
        if stream in self.routes:
            return self.routes[stream]
        obj = OBJECTS.get(stream)
        if obj is None:
            problem = unrouted_stream_problem(stream)
            raise ConfigValidationError("Config validation failed", errors=[problem])
        return self.routes.setdefault(stream, Route(obj, obj.default_behavior, None))

    def is_routed(self, stream: str) -> bool:
        return stream in self.routes or stream in OBJECTS

    # -- collaborators ----------------------------------------------------------------------

    @cached_property
    def client(self) -> PlanhatClient:
        return PlanhatClient(
            api_url=self.api_url,
            analytics_url=self.analytics_url,
            api_token=self.config["api_token"],
            tenant_token=self.config.get("tenant_token"),
            max_requests_per_minute=self.config.get("max_requests_per_minute", 200),
            retry=RetryPolicy.from_config(self.config, RETRY_DEFAULTS),
            settle_seconds=float(self.config.get("settle_seconds", DEFAULT_SETTLE_SECONDS)),
            logger=self.logger,
        )

    @cached_property
    def ledger(self) -> Ledger | None:
        """The sync ledger (None with `ledger: none`), opened when the first sink needs it."""
        return open_ledger(self.config.get("ledger"), readonly=self.dry_run)

    def ledger_scope(self, obj: PlanhatObject) -> int:
        """The ledger's scope of `obj`: its host and a fingerprint of the credentials used there."""
        assert self.ledger is not None
        if obj.host == "main":
            host, secret = self.api_url, self.config["api_token"]
        else:
            host, secret = self.analytics_url, self.config.get("tenant_token") or ""
        return self.ledger.register_scope(
            urlsplit(host).netloc.lower(), fingerprint(secret), obj.name
        )

    def warn_new_ledger(self) -> None:
        """Once per run: a ledger this run created knows of no send, so nothing stops metrics
        and activities an earlier run sent (with a ledger elsewhere) from going out again."""
        if self._warned_new_ledger or self.ledger is None:
            return
        self._warned_new_ledger = True
        self.logger.warning(
            "ledger %s is new: it knows of no metric or activity sent before, so every one in "
            "the input is sent; if earlier runs kept their ledger elsewhere (another machine, a "
            "deleted file), set `ledger` to that one (a PostgreSQL URL every runner reaches)",
            self.ledger.where,
        )

    @cached_property
    def inflight(self) -> InFlight:
        """The batch on its way to Planhat, shared by every sink: one request at a time."""
        return InFlight()

    @cached_property
    def report(self) -> Report:
        plan_file = self.config.get("dry_run_file", DEFAULT_DRY_RUN_FILE) if self.dry_run else None
        return Report(self.config.get("rejects_file"), self.logger, plan_file)

    def get_sink_class(self, stream_name: str) -> type[Sink]:
        if not self.is_routed(stream_name):
            return UnroutedSink  # fails only if a record of it must be written (stream maps)
        route = self.route_for(stream_name)
        return AnalyticsSendSink if route.object.host == "analytics" else BulkUpsertSink

    def abandon(self) -> None:
        """After a failure or a stop signal: the batch in flight is answered (its STATE goes out
        when Planhat accepted it), the records not yet handed over are dropped with no STATE
        after them, and the ledger and reports are closed."""
        try:
            if "inflight" in self.__dict__:
                self.inflight.wait()
        finally:
            self._close()

    def _close(self) -> None:
        if "inflight" in self.__dict__:
            self.inflight.close()
        if "ledger" in self.__dict__ and self.ledger is not None:
            self.ledger.close()
        if "report" in self.__dict__:
            self.report.log_summary(dry_run=self.dry_run)
            self.report.close()

    def process_endofpipe(self) -> None:
        try:
            super().process_endofpipe()
            self.inflight.wait()
        finally:
            self._close()

    # -- parents first ----------------------------------------------------------------------

    def _planhat_sinks(self) -> list[PlanhatSink]:
        sinks = [*self._sinks_to_clear, *self._sinks_active.values()]
        return [sink for sink in sinks if isinstance(sink, PlanhatSink)]

    def drain_parents(self, child: PlanhatSink) -> None:
        """Drain pending companies (then end users) before a batch that may name them; called
        by every sink's `process_batch`, so singer-sdk's own (final) `drain_all` keeps the order.
        """
        parents = [
            sink
            for sink in self._planhat_sinks()
            if sink.obj.parent_rank < child.obj.parent_rank and sink.current_size
        ]
        for parent in sorted(parents, key=lambda sink: sink.obj.parent_rank):
            self.drain_one(parent)

    # -- STATE as soon as it is safe ----------------------------------------------------------

    def batch_started(self, sink: PlanhatSink) -> int:
        """A sink hands its batch over: STATE after its first record waits for that batch."""
        with self._state_lock:
            token = next(self._batch_tokens)
            if sink.first_pending is not None:
                self._unfinished[token] = sink.first_pending
            sink.first_pending = None
        return token

    def batch_finished(self, token: int) -> None:
        """Planhat answered a batch (and the ledger holds it): release what is now safe."""
        with self._state_lock:
            self._unfinished.pop(token, None)
            self._release_states()

    def _release_states(self) -> None:
        """Write the latest STATE all of whose preceding records were written (lock held)."""
        if self.dry_run:
            self._states.clear()
            return
        pending = [*self._unfinished.values()]
        pending += [
            first
            for sink in [*self._sinks_to_clear, *self._sinks_active.values()]
            if (first := getattr(sink, "first_pending", None)) is not None
        ]
        bound = min(pending, default=self.records_received + 1)
        latest = None
        while self._states and self._states[0][0] < bound:
            latest = self._states.popleft()[1]
        if latest is not None and latest != self._last_state_written:
            super()._write_state_message(latest)
            self._last_state_written = latest

    def _process_state_message(self, message_dict: dict) -> None:
        super()._process_state_message(message_dict)
        with self._state_lock:
            self._states.append((self.records_received, message_dict["value"]))
            self._release_states()

    def _process_record_message(self, message_dict: dict) -> None:
        """singer-sdk 0.54's record path, the same steps in the same order with the same hooks
        and errors (stream maps, `get_sink`, metadata, validation and date parsing,
        `preprocess_record`, key check, `process_record`, drain when full, record-age drain),
        with the flags it looks up for every record looked up once per sink.
        """
        if "stream" not in message_dict or "record" not in message_dict:
            self._assert_line_requires(message_dict, requires={"stream", "record"})
        stream_name = message_dict["stream"]
        if stream_name not in self.mapper.stream_maps:
            self._assert_sink_exists(stream_name)
        self.records_received += 1
        for stream_map in self.mapper.stream_maps[stream_name]:
            record = stream_map.transform(message_dict["record"].copy())
            if record is None:  # filtered out by the stream map
                continue
            self._assert_sink_exists(stream_map.stream_alias)
            sink = cast("PlanhatSink", self.get_sink(stream_map.stream_alias, record=record))
            sink.receive(record, message_dict)
            if sink.first_pending is None:
                sink.first_pending = self.records_received
            if sink.is_full:
                self.logger.info(
                    "Target sink for '%s' is full. Current size is '%s'. Draining...",
                    sink.stream_name,
                    sink.current_size,
                )
                self.drain_one(sink)
        self._handle_max_record_age()

    def _write_state_message(self, state: dict) -> None:
        """The SDK's STATE after `drain_all` (end of input, the 5-minute record age, a
        termination signal): once the batch in flight was answered (not if it failed), every
        queued STATE is safe; the latest goes out unless it already went out after its batch.
        No STATE at all in a dry run: nothing was written.
        """
        self.inflight.wait()
        with self._state_lock:
            self._release_states()
            if not self.dry_run and not self._states and state != self._last_state_written:
                super()._write_state_message(state)
                self._last_state_written = state

    # -- connection test --------------------------------------------------------------------

    def connection_checks(self) -> list[Check]:
        """The main API (token, region/api_url), then the analytics host (tenant token)."""
        checks = [Check(f"Planhat API at {self.api_url}", self.client.read_one_company)]
        if self.config.get("tenant_token"):
            name = f"Planhat analytics host at {self.analytics_url}"
            checks.append(Check(name, self.client.send_nothing))
        return checks

    @classmethod
    def cb_test(cls, ctx: click.Context, param: click.Option, value: bool) -> None:
        """`--test`: the connection test (see `planful_plansource_planhat_core.connection_test`)."""
        if value:
            run_connection_test(cls, cls.logger, HOST_SETTINGS, ctx, cls.config_jsonschema)

    @classmethod
    def invoke(cls, **kwargs: Any) -> None:
        """Run the CLI with the interpreter tuned for a stream of records and one sending thread.

        The target owns its process, so it may tune these interpreter-wide settings: a short
        GIL switch interval (else every chunk of Planhat's answer waits up to 5 ms behind record
        processing), start-up objects frozen out of the cyclic GC, and rarer young collections
        (every record is a few acyclic dicts; the default threshold re-scans the staged batch
        hundreds of times per batch).
        """
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_SECONDS)
        gc.freeze()
        gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
        with clean_failures(cls.logger, HOST_SETTINGS, kwargs, cls.config_jsonschema):
            super().invoke(**kwargs)

    @classmethod
    def get_singer_command(cls) -> click.Command:
        command = super().get_singer_command()
        command.params.append(
            click.Option(
                ["--test"],
                is_flag=True,
                expose_value=False,
                callback=cls.cb_test,
                help=(
                    "Connection test: check the settings, the API token and region/api_url, "
                    "and the tenant token, one line each, then exit."
                ),
            )
        )
        return command
