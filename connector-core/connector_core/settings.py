"""The one settings vocabulary for timeouts and retries, shared by the three plugins; the old
names each plugin used before, still accepted with a deprecation warning; and settings as text
(an environment variable, a `.env` line) read the way the user meant them."""

from __future__ import annotations

import logging
import math
import typing as t
from dataclasses import dataclass

from singer_sdk import typing as th

from connector_core.retry import RetryPolicy

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable


def from_text(config: t.Any, schema: dict[str, t.Any]) -> t.Any:
    """A copy of `config` with every declared setting given as text read as meant: an empty
    value is not set (`TARGET_PLANHAT_REGION=` in `.env` means the default host), and a number
    setting's text is its number (Meltano passes `retry_initial_wait=0.5` from a variable as
    text). Text that is not a number is left for the config validation to name. Nested groups
    (`path_overrides.gl_data`) are read the same way; anything but a dict is returned unchanged."""
    if not isinstance(config, dict):
        return config
    declared = schema.get("properties", {})
    read = {}
    for name, value in config.items():
        setting = declared.get(name)
        if setting is None:
            read[name] = value
        elif isinstance(value, str):
            if value.strip() == "":
                continue
            read[name] = _number(value, setting)
        elif isinstance(value, dict) and "properties" in setting:
            read[name] = from_text(value, setting)
        else:
            read[name] = value
    return read


def _number(text: str, setting: dict[str, t.Any]) -> t.Any:
    """`text` as the number `setting` declares (an integer only when whole), else unchanged."""
    declared = setting.get("type", [])
    types = {declared} if isinstance(declared, str) else set(declared)
    if "string" in types or not types & {"integer", "number"}:
        return text
    try:
        number = float(text)
    except ValueError:
        return text
    if not math.isfinite(number):
        return text
    if number.is_integer():
        return int(number)
    return number if "number" in types else text


def retry_properties(defaults: RetryPolicy, service: str) -> list[th.Property]:
    """The four shared settings, with this plugin's defaults."""
    return [
        th.Property(
            "request_timeout",
            th.NumberType(exclusive_minimum=0),
            default=defaults.timeout,
            title="Request timeout (s)",
            description=f"Seconds to wait for {service} to answer one request.",
        ),
        th.Property(
            "retry_max_tries",
            th.IntegerType(minimum=1),
            default=defaults.max_tries,
            title="Tries per request",
            description=(
                "Attempts per request, the first included, on 429, 5xx, timeouts and dropped "
                "connections before the run fails."
            ),
        ),
        th.Property(
            "retry_initial_wait",
            th.NumberType(minimum=0),
            default=defaults.initial_wait,
            title="First retry wait (s)",
            description=(
                "Seconds before the first retry when no Retry-After is sent; doubles each time "
                "(jittered)."
            ),
        ),
        th.Property(
            "retry_max_wait",
            th.NumberType(minimum=0),
            default=defaults.max_wait,
            title="Longest retry wait (s)",
            description="Longest single wait between tries, a server's Retry-After included.",
        ),
    ]


@dataclass(frozen=True)
class Alias:
    """An old setting name still read as `new`, its value converted by `convert`."""

    old: str
    new: str
    convert: Callable[[t.Any], t.Any] = lambda value: value
    meaning: str = ""

    def property(self, kind: th.JSONTypeHelper) -> th.Property:
        """The old name in the config schema, so `--about` lists it as deprecated."""
        return th.Property(
            self.old,
            kind,
            description=f"Deprecated: use `{self.new}`{self.meaning}.",
            deprecated=True,
        )


def renamed(config: t.Any, aliases: Iterable[Alias], logger: logging.Logger) -> t.Any:
    """A copy of `config` with each old name's value under its new name (a warning each); the
    new name wins when both are set. Anything but a dict is returned unchanged."""
    if not isinstance(config, dict):
        return config
    upgraded = dict(config)
    for alias in aliases:
        if alias.old not in upgraded:
            continue
        value = upgraded.pop(alias.old)
        if upgraded.get(alias.new) is None and value is not None:
            upgraded[alias.new] = alias.convert(value)
            logger.warning(
                "Setting `%s` is deprecated; it was read as `%s`%s. Rename it.",
                alias.old,
                alias.new,
                alias.meaning,
            )
        else:
            logger.warning(
                "Setting `%s` is deprecated and ignored: `%s` is set too.", alias.old, alias.new
            )
    return upgraded


def loaded(
    config: t.Any, schema: dict[str, t.Any], aliases: Iterable[Alias], logger: logging.Logger
) -> t.Any:
    """The config a plugin starts from: settings given as text read as meant (`from_text`),
    then old names read as the new ones (`renamed`). Every plugin loads its config here."""
    return renamed(from_text(config, schema), aliases, logger)
