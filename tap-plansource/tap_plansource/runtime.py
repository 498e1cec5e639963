"""What the streams use of a run, built once by the tap and handed to each stream: the settings,
the redaction of secrets, the token and its auth, the sensitive-field policy, the tenant's
fields and the lookups streams share. Streams get this object, never the tap, so no module
imports the tap back."""

from __future__ import annotations

import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from planful_plansource_planhat_core.redact import Redactor

from tap_plansource.auth import PlanSourceAuth, TokenManager
from tap_plansource.lookups import CoverageDimensions, SubscriberDirectory
from tap_plansource.sensitive import SensitiveFieldPolicy
from tap_plansource.tenant_fields import TenantFields

if TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Iterable, Mapping

    from singer_sdk import Stream

    from tap_plansource.settings import Settings

SUBSCRIBERS = "subscribers"


class Runtime:
    """One run's shared services; `streams` gives the run's streams by name (the tap's map)."""

    def __init__(
        self,
        settings: Settings,
        logger: logging.Logger,
        plugin_version: str,
        streams: Callable[[], Mapping[str, Stream]],
    ) -> None:
        self.settings = settings
        self.logger = logger
        self.plugin_version = plugin_version
        self._stream_map = streams

    def stream(self, name: str) -> Any:
        """The run's stream `name` (its class is the caller's to know)."""
        return self._stream_map()[name]

    @cached_property
    def redact(self) -> Redactor:
        """Scrubs secrets (settings, tokens, assertions) from anything the tap logs."""
        return Redactor(self.settings.secrets)

    @cached_property
    def sync_started_at(self) -> datetime.datetime:
        """ "Now" for the change windows, fixed for the run so every page asks the same window."""
        return datetime.datetime.now(datetime.UTC)

    @cached_property
    def token_manager(self) -> TokenManager:
        return TokenManager(self.settings, self.logger, self.redact)

    @cached_property
    def auth(self) -> PlanSourceAuth:
        return PlanSourceAuth(self.token_manager, self.logger)

    @cached_property
    def sensitive_policy(self) -> SensitiveFieldPolicy:
        settings = self.settings
        return SensitiveFieldPolicy(
            settings.sensitive_fields,
            settings.protected_field_names,
            settings.sensitive_hash_salt,
            by_shape=settings.protect_ssn_shaped_values,
            logger=self.logger,
        )

    @cached_property
    def tenant_fields(self) -> TenantFields:
        return TenantFields(
            self.settings.discover_tenant_fields,
            self.stream,
            self.redact,
            self.sensitive_policy,
            self.logger,
        )

    @cached_property
    def coverage_dimensions(self) -> CoverageDimensions:
        return CoverageDimensions()

    @cached_property
    def subscriber_directory(self) -> SubscriberDirectory:
        def every_subscriber() -> Iterable[dict[str, Any]]:
            return self.stream(SUBSCRIBERS).request_records({"all_employees": True})

        return SubscriberDirectory(every_subscriber)
