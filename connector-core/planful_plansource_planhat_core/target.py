"""What our targets add to singer-sdk's `Target`: config loaded the shared way (settings as text,
old names), a warning for each unknown setting name, a run that fails in one ERROR line with its
secrets redacted (`failures`), stop signals that fail the run instead of ending it as a success,
and `--test` as a connection test (`connection_test`). The tap side is `tap.ConnectorTap`."""

from __future__ import annotations

import typing as t

import click
from singer_sdk.target_base import Target
from typing_extensions import override

from planful_plansource_planhat_core.connection_test import Check, run_connection_test
from planful_plansource_planhat_core.failures import (
    clean_failures,
    install_stop_signals,
    on_failure,
)
from planful_plansource_planhat_core.run_report import report_from_config
from planful_plansource_planhat_core.settings import (
    Alias,
    loaded,
    variable_prefix,
    warn_unknown_settings,
)


class ConnectorTarget(Target):
    """Base class of our targets."""

    host_settings: t.ClassVar[str]
    """The settings that say where the API is, for messages about a host."""

    aliases: t.ClassVar[tuple[Alias, ...]] = ()
    """Old setting names still read as new ones (see `settings.renamed`)."""

    test_help: t.ClassVar[str] = (
        "Connection test: check the settings, then each API the configuration selects, one "
        "line each, then exit."
    )
    """The `--test` option's help."""

    def __init__(self, *args: t.Any, config: t.Any = None, **kwargs: t.Any) -> None:
        config = loaded(config, self.config_jsonschema, self.aliases, self.logger)
        super().__init__(*args, config=config, **kwargs)
        report_from_config(self.config, self.logger)  # METRIC lines as `metrics_log_level` says
        install_stop_signals()
        on_failure(self.abandon)
        self.append_builtin_config(self.config_jsonschema)
        prefix = variable_prefix(self.name)
        warn_unknown_settings(self.config, self.config_jsonschema, prefix, self.logger)

    def abandon(self) -> None:
        """After a failure or a stop signal, before the ERROR line: finish or close what the run
        holds (nothing by default)."""

    def connection_checks(self) -> list[Check]:
        """One cheap request per API the configuration selects (for `--test`)."""
        raise NotImplementedError

    @classmethod
    def cb_test(cls, ctx: click.Context, param: click.Option, value: bool) -> None:
        """`--test`: the connection test (see `connection_test`)."""
        if value:
            run_connection_test(cls, cls.logger, cls.host_settings, ctx, cls.config_jsonschema)

    @classmethod
    @override
    def invoke(cls, *args: t.Any, **kwargs: t.Any) -> None:
        """The run, its failures told in one line (see `failures.clean_failures`)."""
        with clean_failures(cls.logger, cls.host_settings, kwargs, cls.config_jsonschema):
            super().invoke(*args, **kwargs)

    @classmethod
    @override
    def get_singer_command(cls) -> click.Command:
        command = super().get_singer_command()
        command.params.append(
            click.Option(
                ["--test"],
                is_flag=True,
                expose_value=False,
                callback=cls.cb_test,
                help=cls.test_help,
            )
        )
        return command
