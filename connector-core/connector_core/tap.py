"""What both taps add to singer-sdk's `Tap`: flattening that keeps to the SCHEMA, a command line
that ends quietly when its reader goes (`tap | head`), no ACTIVATE_VERSION messages, and a run
that says what it did (`run_report`)."""

from __future__ import annotations

import typing as t

from singer_sdk import Tap
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import TapCapabilities
from typing_extensions import override

from connector_core import flattening, pipe
from connector_core.run_report import RunReport, forget, log_summary, report_from_config
from connector_core.settings import Alias, loaded

if t.TYPE_CHECKING:
    import click


EMIT_ACTIVATE_VERSION = "emit_activate_version_messages"
ACTIVATE_VERSION_REFUSED = (
    f"`{EMIT_ACTIVATE_VERSION}` is not supported: singer-sdk sends ACTIVATE_VERSION before a "
    "stream is read, so a target that honours it marks every row of the table deleted and "
    "only the rows read again come back (not those a failed run did not reach, nor those of "
    "plan years no longer read). Remove the setting; the README's 'Rows deleted at the "
    "source' says how to find them"
)


class ConnectorTap(Tap):
    """Base class of our taps (see `flattening` and `pipe` for why each hook is there).

    ACTIVATE_VERSION is left out of the capabilities and its singer-sdk setting refused: the
    SDK emits the message when a full-table stream starts, not when it has been read whole.
    """

    capabilities: t.ClassVar[list[t.Any]] = [
        capability
        for capability in Tap.capabilities
        if capability is not TapCapabilities.ACTIVATE_VERSION
    ]

    aliases: t.ClassVar[tuple[Alias, ...]] = ()
    """Old setting names still read as new ones (see `connector_core.settings.renamed`)."""

    def __init__(self, *args: t.Any, config: t.Any = None, **kwargs: t.Any) -> None:
        config = loaded(config, self.config_jsonschema, self.aliases, self.logger)
        super().__init__(*args, config=config, **kwargs)
        if self.config.get(EMIT_ACTIVATE_VERSION):
            raise ConfigValidationError(ACTIVATE_VERSION_REFUSED, errors=[ACTIVATE_VERSION_REFUSED])
        self.run_report: RunReport = report_from_config(self.config, self.logger)

    @classmethod
    @override
    def invoke(cls, *args: t.Any, **kwargs: t.Any) -> None:
        """The sync, then its summary per stream (also when it failed or was stopped: what was
        read until then)."""
        forget()
        try:
            super().invoke(*args, **kwargs)
        except BaseException:
            log_summary("stopped")
            raise
        log_summary("completed")

    @override
    def setup_mapper(self) -> None:
        super().setup_mapper()
        flattening.register_flattenable_schemas(self)

    @classmethod
    @override
    def get_singer_command(cls) -> click.Command:
        pipe.guard_stdout()
        return super().get_singer_command()
