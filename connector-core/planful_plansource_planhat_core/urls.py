"""The one URL policy for base-URL settings: https (plain http only to this machine), a host, and
nothing that could leak (credentials, query string, fragment). A refused URL is never repeated in
the message: it may hold a password."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def is_loopback(host: str) -> bool:
    """Whether `host` is this machine, the only place plain http:// may go."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def base_url_problem(value: str) -> str | None:
    """Why `value` is refused as a base URL (None when accepted); never quotes the value."""
    try:
        parts = urlsplit(str(value).strip())
        host = parts.hostname
        _ = parts.port
    except ValueError:
        return "is not a valid URL (expected https://host[:port][/path])"
    if "@" in parts.netloc:
        return "must not carry credentials (user:password@): the plugin authenticates by itself"
    if parts.scheme not in {"http", "https"} or not host:
        return "must be an https:// URL with a host"
    if parts.query or parts.fragment:
        return "must not carry a query string or a fragment"
    if parts.scheme == "http" and not is_loopback(host):
        return (
            "plain http:// sends credentials in clear; use https:// (http is allowed only for a "
            "loopback host such as 127.0.0.1)"
        )
    return None


def checked_base_url(value: str, setting: str = "the URL") -> str:
    """`value` without trailing slash; `ValueError` naming `setting` when the policy refuses it."""
    problem = base_url_problem(value)
    if problem:
        msg = f"`{setting}` {problem}" if setting.isidentifier() else f"{setting} {problem}"
        raise ValueError(msg)
    return str(value).strip().rstrip("/")
