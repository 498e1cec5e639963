"""`tap-planful`: Structured Planning and Dynamic Planning, chosen by `api_type`."""

from __future__ import annotations

import typing as t

from planful_plansource_planhat_core.connection_test import Check
from planful_plansource_planhat_core.tap import ConnectorTap
from singer_sdk.exceptions import ConfigValidationError
from typing_extensions import override

from tap_planful.settings import CONFIG_SCHEMA, ReadsSettings
from tap_planful.soap_streams import SOAP_STREAMS
from tap_planful.streams import DYNAMIC_STREAMS, STRUCTURED_STREAMS, DataLoadRulesStream

if t.TYPE_CHECKING:
    from singer_sdk.streams import Stream

HOST_SETTINGS = "the host settings (`subdomain`, `soap_url`, `api_url`, `dynamic_api_url`)"


class TapPlanful(ReadsSettings, ConnectorTap):
    """Singer tap for Planful's Structured Planning and Dynamic Planning APIs."""

    name = "tap-planful"
    host_settings = HOST_SETTINGS
    config_jsonschema = CONFIG_SCHEMA

    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        errors = super()._validate_config(raise_errors=raise_errors) or self.settings.problems()
        if errors and raise_errors:
            raise ConfigValidationError(
                "Config validation failed", errors=errors, schema=self.config_jsonschema
            )
        if errors:  # discovery: offline, but say now what a sync and --test will refuse
            self.logger.warning(
                "Discovery goes on, but a sync or --test would fail: %s", "; ".join(errors)
            )
        return errors

    @override
    def connection_checks(self) -> list[Check]:
        """Per family the configuration selects, the first record of a small list: segments
        (SOAP or REST), data load rules (REST next to SOAP, when its keys are set), users
        (Dynamic Planning)."""
        families = self.settings.families
        checks: list[tuple[str, str]] = []
        if self.settings.reads_soap:
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
        families = self.settings.families
        classes: list[type[Stream]] = []
        if self.settings.reads_soap:
            classes += SOAP_STREAMS
            if self.settings.access_id and self.settings.access_key:
                classes.append(DataLoadRulesStream)  # documented REST, with its own credentials
        elif "structured" in families:
            classes += STRUCTURED_STREAMS
        if "dynamic" in families:
            classes += DYNAMIC_STREAMS
        return [stream_class(tap=self) for stream_class in classes]


if __name__ == "__main__":
    TapPlanful.cli()
