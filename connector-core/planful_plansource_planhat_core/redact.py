"""The one redaction filter: every known secret in a text becomes `***`, in our messages and in
other libraries' log records (urllib3 logs request lines at DEBUG)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

# Shorter values are not searched for (they would match ordinary words).
MIN_SECRET_LENGTH = 6
MASK = "***"


class Redactor:
    """Replaces known secrets with `***`: settings, and tokens learnt while running."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._secrets: set[str] = set()
        for secret in secrets:
            if secret:
                self.add(str(secret))

    def add(self, secret: str) -> None:
        """Also redact `secret` (and each line of it: a PEM key may be echoed line by line)."""
        for line in (secret, *secret.splitlines()):
            candidate = line.strip()
            if len(candidate) >= MIN_SECRET_LENGTH:
                self._secrets.add(candidate)

    def __call__(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, MASK)
        return text


class RedactingFilter(logging.Filter):
    """Scrubs secrets out of the log records of a logger (ours or another library's)."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = self.redact(record.getMessage()), ()
        return True


def redact_logger(name: str, redact: Redactor) -> None:
    """Put a redacting filter on logger `name` (once per redactor)."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, RedactingFilter) and f.redact is redact for f in logger.filters):
        logger.addFilter(RedactingFilter(redact))


def config_redactor(params: Mapping[str, Any], schema: Mapping[str, Any]) -> Redactor:
    """The secrets (`secret: true` in the plugin's config schema) of the config given on the
    command line (`--config`, as singer-sdk's CLI parsed it), for error lines."""
    return settings_redactor(getattr(params.get("config"), "config", None) or {}, schema)


def settings_redactor(config: Mapping[str, Any], schema: Mapping[str, Any]) -> Redactor:
    """The secrets (`secret: true` in the plugin's config schema) of `config`."""
    names = [
        name
        for name, prop in (schema.get("properties") or {}).items()
        if isinstance(prop, dict) and (prop.get("secret") or prop.get("writeOnly"))
    ]
    return Redactor(str(config.get(name) or "") for name in names)
