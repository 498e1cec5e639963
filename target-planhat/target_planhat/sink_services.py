"""What the sinks are given by the target: settings, routes, client, in-flight slot, report,
ledger, STATE release, and the parents-first order of their drains. The sinks use these, never
the target, so imports go one way (target -> sinks -> these)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from target_planhat.ledger import fingerprint

if TYPE_CHECKING:
    from collections.abc import Callable

    from target_planhat.client import PlanhatClient
    from target_planhat.inflight import InFlight
    from target_planhat.ledger import Ledger
    from target_planhat.objects import PlanhatObject
    from target_planhat.report import Report
    from target_planhat.routes import Routes
    from target_planhat.settings import PlanhatSettings
    from target_planhat.state_release import StateRelease


class ParentRanked(Protocol):
    """What the parents-first order needs of a sink."""

    obj: PlanhatObject

    @property
    def current_size(self) -> int: ...


@dataclass
class SinkServices:
    """One per run, shared by every Planhat sink (built when the first one needs it)."""

    settings: PlanhatSettings
    routes: Routes
    client: PlanhatClient
    inflight: InFlight
    report: Report
    ledger: Ledger | None
    release: StateRelease
    drain: Callable[[Any], None]
    """singer-sdk's drain of one sink (the target's `drain_one`)."""
    _sinks: list[ParentRanked] = field(default_factory=list, init=False)
    _warned_new_ledger: bool = field(default=False, init=False)

    @classmethod
    def of(cls, target: object) -> SinkServices:
        """The services `target` gives its sinks."""
        services = getattr(target, "sink_services", None)
        assert isinstance(services, cls), "a Planhat sink needs the target's sink_services"
        return services

    def add_sink(self, sink: ParentRanked) -> None:
        """A Planhat sink was created (kept for the parents-first order)."""
        self._sinks.append(sink)

    def drain_parents(self, child: ParentRanked) -> None:
        """Drain pending companies (then end users) before a batch of `child` that may name
        them; called by every sink's `process_batch`, so singer-sdk's own (final) `drain_all`
        keeps the order."""
        rank = child.obj.parent_rank
        parents = [s for s in self._sinks if s.obj.parent_rank < rank and s.current_size]
        for parent in sorted(parents, key=lambda sink: sink.obj.parent_rank):
            self.drain(parent)

    def ledger_scope(self, obj: PlanhatObject) -> int:
        """The ledger's scope of `obj`: its host and a fingerprint of the credentials used there."""
        assert self.ledger is not None
        settings = self.settings
        if obj.host == "main":
            host, secret = settings.main_url, settings.api_token
        else:
            host, secret = settings.analytics_host_url, settings.tenant_token or ""
        return self.ledger.register_scope(
            urlsplit(host).netloc.lower(), fingerprint(secret), obj.name
        )

    def warn_new_ledger(self, logger: Callable[..., None]) -> None:
        """Once per run: a ledger this run created knows of no send, so nothing stops metrics
        and activities an earlier run sent (with a ledger elsewhere) from going out again."""
        if self._warned_new_ledger or self.ledger is None:
            return
        self._warned_new_ledger = True
        logger(
            "ledger %s is new: it knows of no metric or activity sent before, so every one in "
            "the input is sent; if earlier runs kept their ledger elsewhere (another machine, a "
            "deleted file), set `ledger` to that one (a PostgreSQL URL every runner reaches)",
            self.ledger.where,
        )
