"""The one way the three command lines end on an error a user can fix: one ERROR line saying
what to fix, exit code 1, the traceback only at debug level. Stop signals end the same way (exit
128 + the signal's number), after the plugin has finished or abandoned the batch in flight."""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
import typing as t
from urllib.parse import urlsplit

import requests
from singer_sdk import exceptions
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError, RetriableAPIError

from planful_plansource_planhat_core.http import one_line
from planful_plansource_planhat_core.redact import config_redactor
from planful_plansource_planhat_core.retry import is_unreachable, unreachable_reason
from planful_plansource_planhat_core.urls import is_loopback

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping
    from types import FrameType

INPUT_SAMPLE_LIMIT = 200
"""Characters of a bad input line shown in its error."""
SETTINGS_TO_FIX = "Fix the settings named (in the --config file, or with `meltano config`)"
"""How a configuration error line ends: where the settings it names are set."""
SDK_NOISE = ("An unhandled error occurred while syncing", "Giving up ")
"""ERROR lines singer-sdk adds before re-raising; our one line says it all (debug keeps them)."""


class UserError(Exception):
    """An error the user can fix; its message says what to fix."""


def input_line_message(line_number: int, line: str | bytes, problem: str) -> str:
    """`Input line N: <problem>. ...` with at most INPUT_SAMPLE_LIMIT characters of the line."""
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    sample = text.strip()
    if len(sample) > INPUT_SAMPLE_LIMIT:
        sample = sample[:INPUT_SAMPLE_LIMIT] + "..."
    problem = one_line(problem, 600).rstrip(". ")
    return (
        f"Input line {line_number}: {problem}. Fix the program that produced the input; the "
        f"line starts {sample!r}"
    )


class InputLineError(UserError, exceptions.InvalidInputLine):
    """A line of the input that is not a Singer message the plugin can take."""

    def __init__(self, line_number: int, line: str | bytes, problem: str) -> None:
        super().__init__(input_line_message(line_number, line, problem))
        self.line_number = line_number


INPUT_ERRORS: tuple[type[BaseException], ...] = (
    exceptions.InvalidInputLine,
    exceptions.MissingKeyPropertiesError,
    exceptions.RecordsWithoutSchemaException,
    exceptions.InvalidRecord,
    exceptions.InvalidJSONSchema,
)
"""singer-sdk's errors about what a line holds; the reader tags them with the line."""


class StopRequested(BaseException):
    """SIGTERM or SIGINT: the run ends without finishing (not an `Exception`, so no handler of
    ordinary errors swallows it)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.signal_name = signal.Signals(signum).name
        super().__init__(f"Stopped by {self.signal_name}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


USER_ERRORS: tuple[type[BaseException], ...] = (
    UserError,
    FatalAPIError,
    RetriableAPIError,
    requests.RequestException,
    ConfigValidationError,
    *INPUT_ERRORS,
)


def describe(
    exc: BaseException,
    hosts: str,
    redact: Callable[[str], str] = str,
    *,
    config: Mapping[str, t.Any] | None = None,
    emulator: str = "",
) -> str:
    """`exc` on one line, naming what to fix; `hosts` names the host settings to check (the one
    URL setting of `config` that points at a host nobody answers at, when there is one)."""
    tagged = getattr(exc, "input_line", None)
    if tagged is not None and not isinstance(exc, InputLineError):
        line_number, line = tagged
        return input_line_message(line_number, line, str(exc))
    if isinstance(exc, ConfigValidationError):
        errors = [str(error) for error in (exc.errors or [])] or [str(exc)]
        said = "; ".join(errors)
        prefix = "" if said.startswith("Config validation failed") else "Config validation failed: "
        said = said.rstrip(". ")
        return one_line(redact(f"{prefix}{said}. {SETTINGS_TO_FIX}."), 2000)
    if isinstance(exc, requests.exceptions.SSLError):
        return one_line(
            f"TLS failed with {_origin(exc)}: {_reason(exc)}. Check {hosts} (the host must present "
            "a certificate valid for its name) or the CA bundle (REQUESTS_CA_BUNDLE).",
            600,
        )
    if isinstance(exc, requests.ConnectionError) and is_unreachable(exc):
        return unreachable_message(exc, hosts, config or {}, emulator)
    if isinstance(exc, requests.ConnectionError | requests.Timeout):
        return (
            f"Could not reach {_origin(exc)} ({type(exc).__name__}, after every retry): check "
            f"{hosts} and the network."
        )
    if isinstance(exc, RetriableAPIError):
        return one_line(
            redact(
                f"{exc}: still failing after every retry. Try again later, or raise "
                "`retry_max_tries` / `retry_max_wait`."
            ),
            600,
        )
    return one_line(redact(str(exc)), 2000) or type(exc).__name__


def unreachable_message(
    exc: requests.RequestException, hosts: str, config: Mapping[str, t.Any], emulator: str = ""
) -> str:
    """Nothing answers at the host: which setting points there, and for this machine, what to
    start."""
    origin = _origin(exc)
    url = exc.request.url if exc.request is not None and exc.request.url else ""
    url = url if isinstance(url, str) else url.decode()
    check = _url_setting(url, config) or hosts
    message = f"Nothing answers at {origin} ({unreachable_reason(exc)}): check {check}."
    parts = urlsplit(url)
    if parts.hostname and is_loopback(parts.hostname):
        message += (
            " It is this machine: if it is the sandbox, its emulator is not running (start it "
            f"with `./run python -m sandbox serve {emulator or '<name>'} --port {parts.port}`)."
        )
    return message


def _url_setting(url: str, config: Mapping[str, t.Any]) -> str:
    """The setting of `config` whose URL `url` was built from (the longest that starts it)."""
    bases = {
        name: value.strip().rstrip("/")
        for name, value in config.items()
        if isinstance(value, str) and value.strip().startswith(("http://", "https://"))
    }
    matching = [
        name
        for name, base in bases.items()
        if f"{url}/".startswith(f"{base}/") or url.startswith(f"{base}?")
    ]
    if not matching:
        return ""
    return f"`{max(matching, key=lambda name: len(bases[name]))}`"


def _origin(exc: requests.RequestException) -> str:
    """`scheme://host[:port]` of the failed request: never its path or query (tokens)."""
    url = exc.request.url if exc.request is not None and exc.request.url else ""
    parts = urlsplit(url if isinstance(url, str) else url.decode())
    if not parts.hostname:
        return "the host"
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


def _reason(exc: BaseException) -> str:
    text = str(exc)
    for marker in ("certificate verify failed", "wrong version number", "handshake"):
        if marker in text:
            start = text.index(marker)
            return one_line(text[start:].split(")", maxsplit=1)[0].rstrip("'\" "), 160)
    return type(exc).__name__


def fail(
    logger: logging.Logger, message: str, exc: BaseException | None, code: int = 1
) -> t.NoReturn:
    """Log `message` as the run's one ERROR line and exit with `code`."""
    logger.error("%s", message)
    if exc is not None:
        logger.debug("Traceback of the error above", exc_info=exc)
    sys.stdout.flush()
    sys.exit(code)


class _SdkNoise(logging.Filter):
    """Drops singer-sdk's extra ERROR lines unless the logger shows debug."""

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__()
        self.logger = logger

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and str(record.msg).startswith(SDK_NOISE):
            return self.logger.isEnabledFor(logging.DEBUG)
        return True


_cleanups: list[Callable[[], None]] = []


def on_failure(cleanup: Callable[[], None]) -> None:
    """Run `cleanup` when the run fails or is stopped, before the ERROR line (e.g. let the batch
    in flight finish so that its STATE goes out)."""
    _cleanups.append(cleanup)


def _clean_up(logger: logging.Logger) -> None:
    while _cleanups:
        cleanup = _cleanups.pop()
        try:
            cleanup()
        except BaseException as exc:  # the run's own error is the one to report
            logger.debug("Clean-up after the failure failed too", exc_info=exc)


@contextlib.contextmanager
def clean_failures(
    logger: logging.Logger,
    hosts: str,
    params: Mapping[str, t.Any] | None = None,
    schema: Mapping[str, t.Any] | None = None,
) -> Iterator[None]:
    """Run a command line: user errors and stop signals end in one ERROR line, with the
    secrets (by `schema`) of the config given on the command line (`params`) redacted."""
    redact = config_redactor(params or {}, schema or {})
    noise = _SdkNoise(logger)
    handlers = [*logging.getLogger().handlers, *logger.handlers]
    for handler in handlers:
        handler.addFilter(noise)
    try:
        yield
    except StopRequested as stop:
        _clean_up(logger)
        fail(
            logger,
            f"{stop}: the run did not finish; its last STATE covers only what was completed, "
            "so run it again to continue.",
            None,
            stop.exit_code,
        )
    except USER_ERRORS as exc:
        _clean_up(logger)
        config = getattr((params or {}).get("config"), "config", None) or {}
        fail(logger, describe(exc, hosts, redact, config=config, emulator=emulator(logger)), exc)
    except BaseException:
        _clean_up(logger)
        raise
    finally:
        for handler in handlers:
            handler.removeFilter(noise)


def emulator(logger: logging.Logger) -> str:
    """The sandbox emulator of a plugin, by its logger's name (`tap-planful`: `planful`)."""
    return logger.name.split(".")[0].split("-", 1)[-1]


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise StopRequested(signum)


def install_stop_signals() -> None:
    """SIGTERM and SIGINT raise `StopRequested` in the main thread (singer-sdk's own handler
    exits 0, which a scheduler records as success)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for name in ("SIGTERM", "SIGINT"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _raise_stop)
