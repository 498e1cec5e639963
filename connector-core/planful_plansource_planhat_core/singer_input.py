"""The one reader of Singer input: every line is checked before a handler sees it, so a bad line
ends the run with one error naming its number and showing at most 200 characters of it (never
the whole line, never a traceback), and BATCH messages are refused unless the plugin takes them
from a configured root."""

from __future__ import annotations

import typing as t
from urllib.parse import unquote, urlsplit

import msgspec
from singer_sdk.contrib.msgspec import MsgSpecReader
from typing_extensions import override

from planful_plansource_planhat_core.failures import INPUT_ERRORS, InputLineError

if t.TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path

_decode = msgspec.json.Decoder().decode

REQUIRED: Mapping[str, tuple[tuple[str, type], ...]] = {
    "SCHEMA": (("stream", str), ("schema", dict)),
    "RECORD": (("stream", str), ("record", dict)),
    "STATE": (("value", dict),),
    "ACTIVATE_VERSION": (("stream", str), ("version", int)),
    "BATCH": (("stream", str), ("manifest", list)),
}
KINDS = {str: "a string", dict: "an object", list: "an array", int: "an integer"}


def message_problem(message: t.Any, batch_root: Path | None) -> str | None:
    """What is wrong with a decoded line as a Singer message (None when nothing)."""
    if not isinstance(message, dict):
        return "it is not a JSON object"
    kind = message.get("type")
    if not isinstance(kind, str) or kind not in REQUIRED:
        return f"unknown message type {kind!r} (expected one of {', '.join(REQUIRED)})"
    for key, expected in REQUIRED[kind]:
        value = message.get(key)
        if not isinstance(value, expected) or isinstance(value, bool):
            return f"a {kind} message needs `{key}` as {KINDS[expected]}, got {_kind(value)}"
    if kind == "BATCH":
        return batch_problem(message, batch_root)
    return None


def batch_problem(message: dict, batch_root: Path | None) -> str | None:
    """BATCH files are read only from under `batch_root` (never when it is None)."""
    if batch_root is None:
        return (
            "BATCH messages are not taken by this plugin; run the tap without `batch_config` "
            "so that it sends RECORD messages"
        )
    root = batch_root.resolve()
    for url in message["manifest"]:
        parts = urlsplit(str(url))
        path = (root / unquote(parts.path)).resolve() if parts.scheme == "file" else None
        if path is None or not path.is_relative_to(root):
            return f"a BATCH file outside the configured batch root {str(root)!r} was refused"
    return None


def _kind(value: t.Any) -> str:
    if value is None:
        return "null"
    return type(value).__name__.replace("dict", "an object").replace("list", "an array")


class CheckedReader(MsgSpecReader):
    """singer-sdk's msgspec reader with each line numbered and checked first."""

    batch_root: Path | None = None
    """Where BATCH files may be read from; None refuses every BATCH message."""

    def __init__(self) -> None:
        super().__init__()
        self.line_number = 0
        self.line: str | bytes = ""

    @override
    def deserialize_json(self, line: str) -> dict:
        self.line_number += 1
        self.line = line
        try:
            message = _decode(line)
        except msgspec.DecodeError as exc:
            raise InputLineError(self.line_number, line, f"not JSON ({exc})") from None
        problem = message_problem(message, self.batch_root)
        if problem:
            raise InputLineError(self.line_number, line, problem)
        return message

    @override
    def process_lines(
        self, file_input: t.IO[str] | None, callbacks: dict[str, Callable[[dict], None]]
    ) -> t.Counter[str]:
        try:
            return super().process_lines(file_input, callbacks)
        except INPUT_ERRORS as exc:
            exc.input_line = (self.line_number, self.line)  # type: ignore[attr-defined]
            raise
