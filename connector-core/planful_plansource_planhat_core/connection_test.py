"""The one connection test of the three plugins (`--test`): the settings are checked, then each
API the configuration selects gets one cheap read with its own credentials, one line each, and
the first failure ends the test with one line naming the setting to fix (exit 1).

Each request is tried once, for at most TEST_TIMEOUT_SECONDS, so a test with a few checks ends
within 30 seconds whatever the retry settings; discovery and syncs keep their own policy.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

import click
from singer_sdk.exceptions import ConfigValidationError

from planful_plansource_planhat_core.failures import (
    USER_ERRORS,
    clean_failures,
    describe,
    emulator,
    fail,
)
from planful_plansource_planhat_core.redact import settings_redactor
from planful_plansource_planhat_core.settings import (
    misspelt_variables,
    unknown_setting_problems,
    variable_prefix,
)

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Mapping

TEST_TIMEOUT_SECONDS = 8.0
"""Longest wait for one answer during a connection test."""
PASSED = "ok"
FAILED = "Connection test failed"


@dataclass(frozen=True)
class Check:
    """One cheap read of one API: `read` raises on failure, else says what it saw."""

    name: str
    """The API and where it is, e.g. `Planful Dynamic Planning at https://...`."""
    read: Callable[[], str]


class ConnectionTested(t.Protocol):
    """A plugin with a connection test: its checks, built from its (validated) config."""

    name: str

    @property
    def config(self) -> Mapping[str, t.Any]: ...

    def connection_checks(self) -> list[Check]: ...


def quick(config: Mapping[str, t.Any]) -> dict[str, t.Any]:
    """`config` for a connection test: one try per request, TEST_TIMEOUT_SECONDS at most."""
    timeout = config.get("request_timeout")
    limit = TEST_TIMEOUT_SECONDS if timeout is None else min(float(timeout), TEST_TIMEOUT_SECONDS)
    return {**config, "retry_max_tries": 1, "request_timeout": limit}


def run_connection_test(
    plugin_class: Callable[..., ConnectionTested],
    logger: logging.Logger,
    hosts: str,
    ctx: click.Context,
    schema: Mapping[str, t.Any],
) -> t.NoReturn:
    """`--test`: unknown setting names (in the config, or variables that nearly name a setting)
    and invalid settings fail first; then each check, one line each on stderr; exit 0 when all
    passed, else 1 after the failing check's line."""
    params = ctx.params
    given = params.get("config")
    with clean_failures(logger, hosts, params, schema):
        plugin = plugin_class(
            config=given.config if given else None,
            parse_env_config=bool(given and given.parse_env),
            validate_config=True,
        )
        prefix = variable_prefix(plugin.name)
        unknown = unknown_setting_problems(plugin.config, schema)
        unknown += misspelt_variables(prefix, schema, config=plugin.config)
        if unknown:
            raise ConfigValidationError("Config validation failed", errors=unknown)
        tested = plugin_class(config=quick(plugin.config), parse_env_config=False)
        redact = settings_redactor(plugin.config, schema)
        for check in tested.connection_checks():
            try:
                seen = check.read()
            except USER_ERRORS as exc:
                said = describe(exc, hosts, redact, config=plugin.config, emulator=emulator(logger))
                fail(logger, f"{FAILED}: {check.name}: {said}", exc)
            click.echo(f"{PASSED}: {check.name}: {seen}", err=True)
    logger.info("Connection test passed")
    ctx.exit(0)
