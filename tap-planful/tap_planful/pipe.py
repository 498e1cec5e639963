"""A reader that closes our stdout early (`tap-planful ... | head`) ends the tap as it ends any
Unix tool: killed by SIGPIPE, silently.

Python ignores SIGPIPE, so a write to a closed pipe raises `BrokenPipeError` wherever it happens;
inside a stream's sync singer-sdk would log "An unhandled error occurred" and a traceback, and
the interpreter would complain again while flushing stdout at exit. Restoring the default
SIGPIPE disposition for the whole run is no answer: a socket write to a server that went away
would then kill the tap instead of raising an error its retries handle. So only writes to stdout
are guarded, and the first one that finds the reader gone ends the process by SIGPIPE (shell
status 141): not 0, because the extraction did not finish and its last STATE was never read.
"""

from __future__ import annotations

import os
import signal
import sys
import typing as t

if t.TYPE_CHECKING:
    from collections.abc import Callable


def reader_gone() -> t.NoReturn:
    """End the process as a Unix tool ends when its reader has gone: by SIGPIPE."""
    sigpipe = getattr(signal, "SIGPIPE", None)
    if sigpipe is not None:
        signal.signal(sigpipe, signal.SIG_DFL)
        os.kill(os.getpid(), sigpipe)
    os._exit(141)  # no SIGPIPE on this platform: the status a shell reports for one


class _Guarded:
    """A stdout stream (text or binary) whose writes end the process quietly on a closed pipe."""

    def __init__(self, stream: t.Any) -> None:
        self._stream = stream
        raw = getattr(stream, "buffer", None)
        if raw is not None:
            self.buffer = _Guarded(raw)  # what singer-sdk's msgspec writer writes to

    def write(self, data: t.Any) -> int:
        return _guard(self._stream.write, data)

    def writelines(self, lines: t.Any) -> None:
        _guard(self._stream.writelines, lines)

    def flush(self) -> None:
        _guard(self._stream.flush)

    def __getattr__(self, name: str) -> t.Any:
        return getattr(self._stream, name)


def _guard(call: Callable[..., t.Any], *args: t.Any) -> t.Any:
    try:
        return call(*args)
    except BrokenPipeError:
        reader_gone()


def guard_stdout() -> None:
    """Route `sys.stdout` (and its binary buffer) through the closed-pipe guard, once."""
    if not isinstance(sys.stdout, _Guarded):
        sys.stdout = _Guarded(sys.stdout)  # type: ignore[assignment]
