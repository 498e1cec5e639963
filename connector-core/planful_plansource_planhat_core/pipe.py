"""A reader that closes our stdout early (`tap-planful ... | head`) ends a tap as it ends any
Unix tool: killed by SIGPIPE, silently.

Python ignores SIGPIPE, so a write to a closed pipe raises `BrokenPipeError` wherever it happens;
inside a stream's sync singer-sdk would log "An unhandled error occurred" and a traceback, and
the interpreter would complain again while flushing stdout at exit. Restoring the default
SIGPIPE disposition for the whole run is no answer: a socket write to a server that went away
would then kill the tap instead of raising an error its retries handle. So only stdout's system
calls are guarded, below its buffer (no cost per record), and the first one that finds the
reader gone ends the process by SIGPIPE (shell status 141): not 0, because the extraction did
not finish and its last STATE was never read.
"""

from __future__ import annotations

import io
import os
import signal
import sys
import typing as t


def reader_gone() -> t.NoReturn:
    """End the process as a Unix tool ends when its reader has gone: by SIGPIPE."""
    sigpipe = getattr(signal, "SIGPIPE", None)
    if sigpipe is not None:
        signal.signal(sigpipe, signal.SIG_DFL)
        os.kill(os.getpid(), sigpipe)
    os._exit(141)  # no SIGPIPE on this platform: the status a shell reports for one


class _PipeEnd(io.RawIOBase):
    """stdout's file descriptor; a write that finds the reader gone ends the process."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def isatty(self) -> bool:
        return os.isatty(self._fd)

    def write(self, data: t.Any) -> int:
        try:
            return os.write(self._fd, data)
        except BrokenPipeError:
            reader_gone()


def guard_stdout() -> None:
    """Put `sys.stdout` (same encoding and buffering) on a guarded file descriptor, once."""
    stdout = sys.stdout
    if not isinstance(stdout, io.TextIOWrapper):
        return  # not a real stdout (tests capture it)
    if isinstance(getattr(stdout.buffer, "raw", stdout.buffer), _PipeEnd):
        return  # guarded already
    stdout.flush()
    raw = _PipeEnd(stdout.fileno())
    # unbuffered stays unbuffered (`python -u`, PYTHONUNBUFFERED): writes go straight out
    binary = io.BufferedWriter(raw) if isinstance(stdout.buffer, io.BufferedWriter) else raw
    sys.stdout = io.TextIOWrapper(
        binary,
        encoding=stdout.encoding,
        errors=stdout.errors,
        line_buffering=stdout.line_buffering,
        write_through=stdout.write_through,
    )
