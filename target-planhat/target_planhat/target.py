"""target-planhat: write Singer streams into Planhat objects (upsert, update-only, send)."""

from __future__ import annotations

import gc
import sys
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import click
from singer_sdk import typing as th
from singer_sdk.contrib.msgspec import MsgSpecReader
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.target_base import Target

from target_planhat.client import PlanhatClient, RetryPolicy
from target_planhat.inflight import InFlight
from target_planhat.objects import BEHAVIORS, OBJECTS, Behavior, PlanhatObject
from target_planhat.report import Report
from target_planhat.sinks import (
    ANALYTICS_MAX_BODY_BYTES,
    BULK_MAX_ITEMS,
    AnalyticsSendSink,
    BulkUpsertSink,
)

if TYPE_CHECKING:
    from singer_sdk.sinks import Sink

DEFAULT_API_URL = "https://api.planhat.com"
DEFAULT_ANALYTICS_URL = "https://analytics.planhat.com"
REGION_PATTERN = r"^[a-z]{2}[0-9]{0,2}$"
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
GIL_SWITCH_INTERVAL_SECONDS = 0.0002
"""Lets the in-flight batch's thread take each chunk off the socket as it arrives (default 5 ms)."""
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
    message_reader_class = MsgSpecReader

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
            default=ANALYTICS_MAX_BODY_BYTES,
            description="Largest request body sent to the analytics host (its limit is 32 MB).",
        ),
        th.Property(
            "retry_max_tries",
            th.IntegerType(minimum=1),
            default=8,
            description="Attempts per request on 429, 5xx and connection errors before failing.",
        ),
        th.Property(
            "retry_base_seconds",
            th.NumberType(minimum=0),
            default=2.0,
            description="First backoff wait; it doubles per retry (a Retry-After header wins).",
        ),
        th.Property(
            "retry_max_wait_seconds",
            th.NumberType(minimum=0),
            default=60.0,
            description="Longest single wait between retries, also capping Retry-After.",
        ),
        th.Property(
            "request_timeout_seconds",
            th.NumberType(exclusive_minimum=0),
            default=300.0,
            description="Timeout of one HTTP request.",
        ),
    ).to_dict()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_parallelism = (
            1  # Planhat asks for sequential bulk calls; one client, one throttle.
        )
        self.routes = self._validated_routes()
        self.api_url = self._validated_url("api_url", self._default_api_url())
        self.analytics_url = self._validated_url("analytics_url", DEFAULT_ANALYTICS_URL)

    # -- settings ---------------------------------------------------------------------------

    def _default_api_url(self) -> str:
        region = self.config.get("region")
        return f"https://api-{region}.planhat.com" if region else DEFAULT_API_URL

    def _validated_url(self, setting: str, default: str) -> str:
        url = self.config.get(setting) or default
        parts = urlsplit(url)
        problem = None
        if parts.scheme not in {"https", "http"} or not parts.hostname:
            problem = "must be an http(s) URL with a host"
        elif parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
            problem = "must use https (http only on loopback): the token must not travel in clear"
        elif parts.username or parts.password or parts.query or parts.fragment:
            problem = "must not carry credentials, a query or a fragment"
        if problem:
            raise ConfigValidationError("Config validation failed", errors=[f"{setting} {problem}"])
        return url.rstrip("/")

    def _validated_routes(self) -> dict[str, Route]:
        errors, routes = [], {}
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
        if sync_key is not None and sync_key not in obj.sync_keys:
            keys = ", ".join(obj.sync_keys) or "none (it is append-only)"
            errors.append(f"{where}.sync_key: {obj.name} matches on {keys}, not {sync_key!r}")
        return Route(obj, behavior, sync_key)

    def route_for(self, stream: str) -> Route:
        """The route of `stream`: from `object_mapping`, or the object of the same name."""
        if stream in self.routes:
            return self.routes[stream]
        obj = OBJECTS.get(stream)
        if obj is None:
            msg = (
                f"stream {stream!r} is not a Planhat object; name it after one "
                f"({_object_mapping_help()}) "
                f'or map it: object_mapping: {{"{stream}": {{"object": "companies"}}}}'
            )
            raise ConfigValidationError("Config validation failed", errors=[msg])
        return self.routes.setdefault(stream, Route(obj, obj.default_behavior, None))

    # -- collaborators ----------------------------------------------------------------------

    @cached_property
    def client(self) -> PlanhatClient:
        return PlanhatClient(
            api_url=self.api_url,
            analytics_url=self.analytics_url,
            api_token=self.config["api_token"],
            tenant_token=self.config.get("tenant_token"),
            max_requests_per_minute=self.config.get("max_requests_per_minute", 200),
            retry=RetryPolicy(
                max_tries=self.config.get("retry_max_tries", 8),
                base_seconds=float(self.config.get("retry_base_seconds", 2.0)),
                max_wait_seconds=float(self.config.get("retry_max_wait_seconds", 60.0)),
            ),
            timeout=float(self.config.get("request_timeout_seconds", 300.0)),
            logger=self.logger,
        )

    @cached_property
    def inflight(self) -> InFlight:
        """The batch on its way to Planhat, shared by every sink: one request at a time."""
        return InFlight()

    @cached_property
    def report(self) -> Report:
        return Report(self.config.get("rejects_file"), self.logger)

    def get_sink_class(self, stream_name: str) -> type[Sink]:
        route = self.route_for(stream_name)
        return AnalyticsSendSink if route.object.host == "analytics" else BulkUpsertSink

    def process_endofpipe(self) -> None:
        try:
            super().process_endofpipe()
            self.inflight.wait()
        finally:
            self.inflight.close()
            self.report.log_summary()
            self.report.close()

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
        for stream_map in self.mapper.stream_maps[stream_name]:
            record = stream_map.transform(message_dict["record"].copy())
            if record is None:  # filtered out by the stream map
                continue
            self._assert_sink_exists(stream_map.stream_alias)
            sink = self.get_sink(stream_map.stream_alias, record=record)
            sink.receive(record, message_dict)
            if sink.is_full:
                self.logger.info(
                    "Target sink for '%s' is full. Current size is '%s'. Draining...",
                    sink.stream_name,
                    sink.current_size,
                )
                self.drain_one(sink)
        self._handle_max_record_age()

    def _write_state_message(self, state: dict) -> None:
        """STATE goes out only once the batch in flight was answered (and not if it failed).

        `drain_all` is the SDK's only STATE path (end of input, the 5-minute record age, a
        termination signal) and it ends here; a sink drained just before it may still have its
        batch in flight, so this is the one place that covers every path.
        """
        self.inflight.wait()
        super()._write_state_message(state)

    # -- connection test --------------------------------------------------------------------

    def connection_problems(self) -> list[str]:
        """What is wrong with the token, region/api_url and tenant token (empty when nothing)."""
        return self.client.check_connection()

    @classmethod
    def cb_test(cls, ctx: click.Context, param: click.Option, value: bool) -> None:
        """`--test`: check token, region and tenant token, then exit (1 when something is wrong)."""
        if not value:
            return
        config = ctx.params.get("config")
        try:
            target = cls(
                config=config.config if config else None,
                parse_env_config=bool(config and config.parse_env),
            )
        except ConfigValidationError as exc:
            for error in exc.errors or [str(exc)]:
                cls.logger.error("Config validation error: %s", error)
            ctx.exit(1)
        problems = target.connection_problems()
        for problem in problems:
            cls.logger.error("Connection test: %s", problem)
        if problems:
            ctx.exit(1)
        checked = "the API token" + (
            " and the tenant token" if target.config.get("tenant_token") else ""
        )
        cls.logger.info("Connection test passed: %s accepted by %s", checked, target.api_url)
        click.echo(f"OK: {checked} accepted by {target.api_url}", file=sys.stderr)
        ctx.exit(0)

    @classmethod
    def invoke(cls, **kwargs: Any) -> None:  # type: ignore[override]
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
                help="Check the API token, region/api_url and tenant token, then exit.",
            )
        )
        return command
