"""target-planhat: write Singer streams into Planhat objects (upsert, update-only, send)."""

from __future__ import annotations

import gc
from functools import cached_property
from typing import TYPE_CHECKING, Any

from planful_plansource_planhat_core.connection_test import Check
from planful_plansource_planhat_core.run_report import report_properties
from planful_plansource_planhat_core.singer_input import CheckedReader
from planful_plansource_planhat_core.target import ConnectorTarget
from planful_plansource_planhat_core.threads import use_short_switch_interval
from singer_sdk.exceptions import ConfigValidationError
from typing_extensions import override

from target_planhat.analytics_sink import AnalyticsSendSink
from target_planhat.bulk_sink import BulkUpsertSink
from target_planhat.client import PlanhatClient
from target_planhat.inflight import InFlight
from target_planhat.ledger import Ledger, open_ledger
from target_planhat.report import Report
from target_planhat.routes import Routes, UnroutedStreamError
from target_planhat.settings import ALIASES, PlanhatSettings
from target_planhat.sink_services import SinkServices
from target_planhat.state_release import StateRelease
from target_planhat.unrouted import UnroutedSink

if TYPE_CHECKING:
    from singer_sdk.sinks import Sink


HOST_SETTINGS = "`region` / `api_url` and `analytics_url`"
GC_YOUNG_THRESHOLD = 50_000
"""Allocations between young-generation collections (default 700): records are not cyclic."""


class TargetPlanhat(ConnectorTarget):
    """Singer target for Planhat."""

    name = "target-planhat"
    message_reader_class = CheckedReader  # BATCH messages refused: no batch root
    host_settings = HOST_SETTINGS
    aliases = ALIASES
    test_help = (
        "Connection test: check the settings, the API token and region/api_url, "
        "and the tenant token, one line each, then exit."
    )
    config_jsonschema = PlanhatSettings.config_schema(*report_properties(progress=False))

    def __init__(self, *args: Any, config: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, config=config, **kwargs)
        self.max_parallelism = 1  # Planhat asks for sequential bulk calls: one client, throttle
        self.settings = PlanhatSettings.read(self.config)
        problems = self.settings.problems()
        if problems:
            raise ConfigValidationError("Config validation failed", errors=problems)
        self.routes = Routes(self.settings.routes)
        self.api_url = self.settings.main_url
        self.analytics_url = self.settings.analytics_host_url
        self.dry_run = self.settings.dry_run
        self.release = StateRelease(super()._write_state_message, dry_run=self.dry_run)

    # -- collaborators ----------------------------------------------------------------------

    @cached_property
    def client(self) -> PlanhatClient:
        return PlanhatClient(self.settings, self.logger)

    @cached_property
    def ledger(self) -> Ledger | None:
        """The sync ledger (None with `ledger: none`), opened when the first sink needs it."""
        return open_ledger(self.settings.ledger, readonly=self.dry_run)

    @cached_property
    def inflight(self) -> InFlight:
        """The batch on its way to Planhat, shared by every sink: one request at a time."""
        return InFlight()

    @cached_property
    def report(self) -> Report:
        plan_file = self.settings.dry_run_file if self.dry_run else None
        return Report(self.settings.rejects_file, self.logger, plan_file)

    @cached_property
    def sink_services(self) -> SinkServices:
        """What the sinks are given (built when the first Planhat sink needs it)."""
        return SinkServices(
            settings=self.settings,
            routes=self.routes,
            client=self.client,
            inflight=self.inflight,
            report=self.report,
            ledger=self.ledger,
            release=self.release,
            drain=self.drain_one,
        )

    @override
    def get_sink_class(self, stream_name: str) -> type[Sink]:
        if stream_name not in self.routes:
            return UnroutedSink  # fails only if a record of it must be written (stream maps)
        try:
            route = self.routes.route_for(stream_name)
        except UnroutedStreamError as exc:
            raise ConfigValidationError("Config validation failed", errors=[str(exc)]) from None
        return AnalyticsSendSink if route.object.host == "analytics" else BulkUpsertSink

    @override
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

    @override
    def process_endofpipe(self) -> None:
        try:
            super().process_endofpipe()
            self.inflight.wait()
        finally:
            self._close()

    # -- STATE as soon as it is safe (see `state_release`) ----------------------------------

    @override
    def _process_state_message(self, message_dict: dict) -> None:
        super()._process_state_message(message_dict)
        self.release.state_read(message_dict["value"])

    @override
    def _write_state_message(self, state: dict) -> None:
        """The SDK's STATE after `drain_all` (end of input, the 5-minute record age, a
        termination signal): once the batch in flight was answered (not if it failed), every
        queued STATE is safe; the latest goes out unless it already went out after its batch.
        No STATE at all in a dry run: nothing was written.
        """
        self.inflight.wait()
        self.release.drained(state)

    # -- connection test --------------------------------------------------------------------

    @override
    def connection_checks(self) -> list[Check]:
        """The main API (token, region/api_url), then the analytics host (tenant token)."""
        checks = [Check(f"Planhat API at {self.api_url}", self.client.read_one_company)]
        if self.settings.tenant_token:
            name = f"Planhat analytics host at {self.analytics_url}"
            checks.append(Check(name, self.client.send_nothing))
        return checks

    @classmethod
    @override
    def invoke(cls, *args: Any, **kwargs: Any) -> None:
        """Run the CLI with the interpreter tuned for a stream of records and one sending thread.

        The target owns its process, so it may tune these interpreter-wide settings: a short
        GIL switch interval (else every chunk of Planhat's answer waits up to 5 ms behind record
        processing), start-up objects frozen out of the cyclic GC, and rarer young collections
        (every record is a few acyclic dicts; the default threshold re-scans the staged batch
        hundreds of times per batch).
        """
        use_short_switch_interval()
        gc.freeze()
        gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
        super().invoke(*args, **kwargs)
