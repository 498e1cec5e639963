"""How every plugin reads its settings (their declaration is `declared.py`): the old names each
plugin used before, still accepted with a deprecation warning; settings as text
(an environment variable, a `.env` line) read the way the user meant them; and setting names no
plugin knows (a typo is ignored by singer-sdk and by Meltano), named with the closest known one."""

from __future__ import annotations

import difflib
import json
import logging
import math
import os
import typing as t
from dataclasses import dataclass

from singer_sdk import typing as th

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping


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
    """`text` as the number, object or list `setting` declares (a number an integer only when
    whole; an object or list from its JSON text, as Meltano passes `kind: object` values written
    as JSON), else unchanged."""
    declared = setting.get("type", [])
    types = {declared} if isinstance(declared, str) else set(declared)
    if "string" in types:
        return text
    if types & {"object", "array"}:
        return _json_of(text, dict if "object" in types else list)
    if not types & {"integer", "number"}:
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


def _json_of(text: str, kind: type) -> t.Any:
    """The `kind` (dict or list) that `text` holds as JSON, else `text` for validation to name."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, kind) else text


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


CLOSE_ENOUGH = 0.6
"""difflib ratio above which a known name is offered for an unknown one."""
ENV_CLOSE_ENOUGH = 0.8
"""The same for variables: only near-misses, as other plugins' variables share the prefix."""


def variable_prefix(plugin_name: str) -> str:
    """The prefix of a plugin's environment variables (`tap-planful`: `TAP_PLANFUL_`)."""
    return f"{plugin_name.upper().replace('-', '_')}_"


def known_settings(schema: Mapping[str, t.Any]) -> list[str]:
    """The setting names of a plugin's config schema (singer-sdk's built-in ones included when
    the plugin has appended them)."""
    return list(schema.get("properties") or {})


def _closest(name: str, known: Iterable[str], cutoff: float) -> str | None:
    found = difflib.get_close_matches(name, list(known), n=1, cutoff=cutoff)
    return found[0] if found else None


def unknown_setting_problems(config: Mapping[str, t.Any], schema: Mapping[str, t.Any]) -> list[str]:
    """One sentence per name in `config` that is not a setting, with the closest known name."""
    known = known_settings(schema)
    problems = []
    for name in sorted(set(config) - set(known)):
        closest = _closest(name, known, CLOSE_ENOUGH)
        hint = f" (did you mean `{closest}`?)" if closest else ""
        problems.append(f"`{name}` is not a setting{hint}")
    return problems


def misspelt_variables(
    prefix: str,
    schema: Mapping[str, t.Any],
    environ: Mapping[str, str] | None = None,
    config: Mapping[str, t.Any] | None = None,
) -> list[str]:
    """One sentence per environment variable `<PREFIX>_<NAME>` whose name is no setting but
    nearly one: Meltano and singer-sdk read only exact names, so it is silently ignored.

    Variables of other plugins share the prefix (`TAP_PLANFUL_SALES_API_TYPE` of an inheriting
    plugin) and Meltano adds its own (`TAP_PLANFUL__SELECT`), so only near-misses are named;
    Meltano also exports each unknown name of `config` as a variable: that one is named once.
    """
    environ = os.environ if environ is None else environ
    known = {name.upper().replace("-", "_"): name for name in known_settings(schema)}
    problems = []
    for variable in sorted(environ):
        if not variable.startswith(prefix) or variable.startswith(f"{prefix}_"):
            continue
        name = variable.removeprefix(prefix)
        if (
            name.lower() in (config or {})
            or name in known
            or any(name.endswith(f"_{other}") or name.startswith(f"{other}_") for other in known)
        ):  # another plugin's prefix, or a nested setting (`a.b` is <PREFIX>A_B)
            continue
        closest = _closest(name, known, ENV_CLOSE_ENOUGH)
        if closest:
            problems.append(
                f"Environment variable {variable} is not a setting and is ignored (did you mean "
                f"{prefix}{closest}?)"
            )
    return problems


def warn_unknown_settings(
    config: Mapping[str, t.Any], schema: Mapping[str, t.Any], prefix: str, logger: logging.Logger
) -> list[str]:
    """Log a warning for each unknown setting name (config and environment); returns those of
    the config (a connection test fails on them)."""
    problems = unknown_setting_problems(config, schema)
    for problem in problems:
        _warn_once(logger, f"{problem}; it is ignored.")
    for problem in misspelt_variables(prefix, schema, config=config):
        _warn_once(logger, f"{problem}.")
    return problems


_warned: set[str] = set()


def _warn_once(logger: logging.Logger, message: str) -> None:
    """A warning, once per process (a connection test builds its plugin twice)."""
    if message not in _warned:
        _warned.add(message)
        logger.warning("%s", message)
