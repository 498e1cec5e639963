"""What both taps add to singer-sdk's `Tap`: flattening that keeps to the SCHEMA, a command line
that ends quietly when its reader goes (`tap | head`), no ACTIVATE_VERSION messages, a warning for
each unknown setting name, `--test` as a connection test (see `connection_test`), a run that
says what it did (`run_report`), errors a user can fix as one line (`failures`), SIGTERM as a
clean stop, and RECORD lines buffered between STATE lines (`writer`)."""

from __future__ import annotations

import typing as t

from singer_sdk import Tap
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import TapCapabilities
from singer_sdk.tap_base import CliTestOptionValue
from typing_extensions import override

from planful_plansource_planhat_core import flattening, pipe
from planful_plansource_planhat_core.connection_test import Check, run_connection_test
from planful_plansource_planhat_core.failures import clean_failures, install_stop_signals
from planful_plansource_planhat_core.run_report import (
    RunReport,
    forget,
    log_summary,
    report_from_config,
)
from planful_plansource_planhat_core.settings import (
    Alias,
    loaded,
    variable_prefix,
    warn_unknown_settings,
)
from planful_plansource_planhat_core.writer import RecordBufferingWriter, flush_open_writers

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

    host_settings: t.ClassVar[str]
    """The settings that say where the API is, for messages about a host."""

    aliases: t.ClassVar[tuple[Alias, ...]] = ()
    """Old setting names still read as new ones (see `settings.renamed`)."""

    message_writer_class = RecordBufferingWriter
    message_writer: RecordBufferingWriter

    def __init__(self, *args: t.Any, config: t.Any = None, **kwargs: t.Any) -> None:
        config = loaded(config, self.config_jsonschema, self.aliases, self.logger)
        super().__init__(*args, config=config, **kwargs)
        if self.config.get(EMIT_ACTIVATE_VERSION):
            raise ConfigValidationError(ACTIVATE_VERSION_REFUSED, errors=[ACTIVATE_VERSION_REFUSED])
        self.append_builtin_config(self.config_jsonschema)
        prefix = variable_prefix(self.name)
        warn_unknown_settings(self.config, self.config_jsonschema, prefix, self.logger)
        self.run_report: RunReport = report_from_config(self.config, self.logger)
        install_stop_signals()

    def connection_checks(self) -> list[Check]:
        """One cheap read per API the configuration selects (for `--test`)."""
        raise NotImplementedError

    @classmethod
    @override
    def cb_test(cls, ctx: click.Context, param: click.Option, value: str) -> None:
        """`--test` is the connection test; `--test=schema` is singer-sdk's (SCHEMA messages),
        failing the same way: one line naming what to fix."""
        if value == CliTestOptionValue.All.value:
            run_connection_test(cls, cls.logger, cls.host_settings, ctx, cls.config_jsonschema)
        with clean_failures(cls.logger, cls.host_settings, ctx.params, cls.config_jsonschema):
            super().cb_test(ctx, param, value)

    @classmethod
    @override
    def invoke(cls, *args: t.Any, **kwargs: t.Any) -> None:
        """The sync, then its summary per stream (also when it failed or was stopped: what was
        read until then). Errors a user can fix (settings, credentials, host, an outage) are one
        line, exit 1; the traceback only at debug level."""
        forget()
        with clean_failures(cls.logger, cls.host_settings, kwargs, cls.config_jsonschema):
            try:
                super().invoke(*args, **kwargs)
            except BaseException:
                log_summary("stopped")
                raise
            finally:
                flush_open_writers()  # the records gathered since the last STATE line
            log_summary("completed")

    @classmethod
    @override
    def cb_discover(cls, ctx: click.Context, param: click.Option, value: bool) -> None:
        """Discovery (`--discover`) fails the same way."""
        with clean_failures(cls.logger, cls.host_settings, ctx.params, cls.config_jsonschema):
            super().cb_discover(ctx, param, value)

    @override
    def setup_mapper(self) -> None:
        super().setup_mapper()
        flattening.register_flattenable_schemas(self)

    @classmethod
    @override
    def get_singer_command(cls) -> click.Command:
        pipe.guard_stdout()
        command = super().get_singer_command()
        for option in command.params:
            if option.name == "test":
                option.help = (
                    "Connection test: check the settings, then read a little from each API the "
                    "configuration selects, one line each. --test=schema prints the SCHEMA "
                    "messages only."
                )
        return command
