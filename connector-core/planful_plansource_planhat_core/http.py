"""The one HTTP session factory and the one way an HTTP failure becomes a one-line message."""

from __future__ import annotations

import re
import typing as t
from urllib.parse import urlsplit

import msgspec
import requests

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from planful_plansource_planhat_core.redact import Redactor

DETAIL_LIMIT = 300
"""Characters of a server's own message kept in an error line."""
MESSAGE_KEYS = ("message", "Message", "error_description", "error", "errors", "status")

_decode = msgspec.json.Decoder().decode
_TAG = re.compile(r"<[^>]+>")


def new_session(
    user_agent: str, headers: Mapping[str, str] | None = None, redact: Redactor | None = None
) -> requests.Session:
    """A session for one plugin: its User-Agent and fixed headers; urllib3's request lines (at
    DEBUG) scrubbed by `redact`."""
    session = requests.Session()
    session.headers["User-Agent"] = user_agent
    session.headers.update(headers or {})
    if redact is not None:
        from planful_plansource_planhat_core.redact import redact_logger  # noqa: PLC0415 - optional

        redact_logger("urllib3.connectionpool", redact)
    return session


def one_line(text: str, limit: int = DETAIL_LIMIT) -> str:
    """`text` on one line, cut at `limit` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


def _said(body: t.Any, keys: Iterable[str]) -> str | None:
    if isinstance(body, list) and body:
        return _said(body[0], keys)
    if isinstance(body, str):
        return body
    if isinstance(body, dict):
        for key in keys:
            found = _said(body.get(key), keys)
            if found:
                return found
    return None


def server_message(response: requests.Response) -> str:
    """The server's own message in an error body (JSON `message`/`error`..., else its text)."""
    try:
        text = response.text.strip()
    except (requests.RequestException, RuntimeError):
        return ""
    if not text:
        return ""
    try:
        said = _said(_decode(response.content), MESSAGE_KEYS)
    except msgspec.DecodeError:
        said = _TAG.sub(" ", text) if text.startswith("<") else text
    return said or text


def http_failure(
    service: str,
    response: requests.Response,
    redact: Callable[[str], str],
    *,
    detail: str | None = None,
    hint: str = "",
) -> str:
    """`<service> answered <status> to <METHOD> <path>: <its message>. <what to check>`.

    Only the path of the URL is shown (the query may carry tokens), the message is the server's
    own, cut short and redacted, and the hint names the setting to check.
    """
    request = response.request
    method = request.method if request is not None and request.method else "GET"
    path = urlsplit(response.url or (request.url if request is not None else "") or "").path
    said = one_line(redact(detail if detail is not None else server_message(response)))
    said = said.rstrip(". ") or response.reason or "no message"
    message = f"{service} answered {response.status_code} to {method} {redact(path)}: {said}."
    return f"{message} {hint}".strip()
