"""`tap-plansource`: the PlanSource Admin API v2 as Singer streams."""

from __future__ import annotations

import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, cast

from planful_plansource_planhat_core.connection_test import Check
from planful_plansource_planhat_core.tap import ConnectorTap
from planful_plansource_planhat_core.threads import use_short_switch_interval
from singer_sdk import Stream
from singer_sdk.exceptions import ConfigValidationError
from typing_extensions import override

from tap_plansource.auth import HOST_SETTINGS
from tap_plansource.runtime import Runtime
from tap_plansource.settings import ALIASES, Settings, schema_problems
from tap_plansource.streams import STREAM_TYPES, CustomStream
from tap_plansource.tenant_fields import META_STREAMS

if TYPE_CHECKING:
    from tap_plansource.client import PlanSourceStream


class TapPlanSource(ConnectorTap):
    """Employees, dependents, beneficiaries, coverages, payroll and ACA data from PlanSource."""

    name = "tap-plansource"
    host_settings = HOST_SETTINGS
    aliases = ALIASES

    config_jsonschema = Settings.schema()

    @classmethod
    @override
    def invoke(cls, **kwargs: Any) -> None:
        """Run the CLI with a short GIL switch interval: pages are read from sockets by a few
        threads while the main thread processes records (see `threads`)."""
        use_short_switch_interval()
        super().invoke(**kwargs)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _ = self.settings  # settings errors surface while the CLI still reports them one a line

    @cached_property
    def settings(self) -> Settings:
        problems = schema_problems(self.config, self.config_jsonschema)  # at discovery
        settings = Settings.read(self.config)
        problems = problems or settings.problems(
            reserved_stream_names=[t.name for t in STREAM_TYPES]  # type: ignore[misc]
        )
        if problems:
            summary = "Config validation failed: " + "; ".join(problems)
            raise ConfigValidationError(summary, errors=problems)
        if settings.start and settings.start > datetime.datetime.now(datetime.UTC):
            self.logger.warning(
                "`start_date` %s is in the future: payroll and ACA will read nothing newer "
                "than it until then",
                settings.start.isoformat(),
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
        token_url, api_url = self.settings.token_url, f"{self.settings.admin_api_url}/organizations"

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
            CustomStream(self, runtime, definition)
            for definition in self.settings.custom_stream_definitions
        ]
        return streams


if __name__ == "__main__":
    TapPlanSource.cli()
