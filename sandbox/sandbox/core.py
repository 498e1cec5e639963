"""The emulator core: routing, request log, fault injection, clock and the `/__sandbox/` API.

Every service emulator subclasses `Emulator`, declares its routes with `@route`, and keeps its
in-memory store behind `self.lock`. `serve()` runs an emulator on a loopback port in a thread.

Inspection and control endpoints (never part of a real API):

- `GET    /__sandbox/requests`  request log (method, path, query, status, JSON body when small)
- `DELETE /__sandbox/requests`  clear the log
- `GET    /__sandbox/state`     the emulator's store summary (`Emulator.state()`)
- `POST   /__sandbox/reset`     settings back to start, store re-seeded (same seed options),
                                log, faults and clock cleared
- `POST   /__sandbox/seed`      re-seed with the JSON body as seed options
- `GET    /__sandbox/config`    current settings (switches); `POST` merges the JSON body into them
- `POST   /__sandbox/faults`    queue faults: `{"faults": [Fault, ...]}`; `DELETE` clears them
- `POST   /__sandbox/clock`     `{"advance": seconds}` moves the emulator's clock forward
"""

from __future__ import annotations

import copy
import json
import re
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

SANDBOX_PREFIX = "/__sandbox/"
LOGGED_BODY_LIMIT = 256 * 1024


class Headers:
    """Case-insensitive, read-only view of request headers."""

    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        self._items = {k.lower(): v for k, v in items}

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._items.get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def as_dict(self) -> dict[str, str]:
        return dict(self._items)


@dataclass
class Request:
    """One HTTP request as the emulator sees it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Headers
    body: bytes = b""
    path_params: dict[str, str] = field(default_factory=dict)

    def arg(self, name: str, default: str | None = None) -> str | None:
        """First value of a query parameter."""
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        """The body parsed as JSON (raises `ValueError` when it is not JSON)."""
        return json.loads(self.body or b"null")


@dataclass
class Response:
    """What a route returns. `body` may be bytes, str, any JSON-serialisable value, or an
    iterator of bytes, which is sent chunked as it is produced (large answers stay out of
    memory)."""

    status: int = 200
    body: Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None
    cut_after: int | None = None
    """Close the connection after this many bytes of the body (a fault: a dropped answer)."""

    def encode(self) -> tuple[bytes, str]:
        if isinstance(self.body, bytes):
            return self.body, self.content_type or "application/octet-stream"
        if isinstance(self.body, str):
            return self.body.encode(), self.content_type or "text/plain; charset=utf-8"
        return (
            json.dumps(self.body, separators=(",", ":"), default=str).encode(),
            self.content_type or "application/json",
        )


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        status=status, body=body, headers=headers or {}, content_type="application/json"
    )


def text_response(
    body: str, status: int, content_type: str = "text/plain; charset=utf-8"
) -> Response:
    return Response(status=status, body=body, content_type=content_type)


class DropConnection(Exception):  # noqa: N818 - it is a signal, not an error
    """Raised (or returned by a fault) to close the connection without any response."""


@dataclass
class Fault:
    """A forced response for the next `times` requests that match `method` and `path` (a regex).

    `status` with `body`/`headers` answers instead of the route; `drop` closes the connection;
    `delay` (seconds) sleeps first and then, if no status and no drop, lets the route answer;
    `cut_after` lets the route answer but closes the connection after that many bytes of its
    body (the connection dropped in the middle of an answer).
    """

    status: int | None = None
    body: Any = ""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None
    times: int = 1
    method: str | None = None
    path: str | None = None
    drop: bool = False
    delay: float = 0.0
    cut_after: int | None = None

    def matches(self, request: Request) -> bool:
        if self.method and self.method.upper() != request.method:
            return False
        return not (self.path and not re.search(self.path, request.path))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fault:
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            msg = f"unknown fault fields: {sorted(unknown)}; known: {sorted(known)}"
            raise ValueError(msg)
        return cls(**data)


Handler = Callable[..., Response]


def route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    """Declare an emulator method as the handler of `method` + `pattern` (a regex, full match).

    Named groups in the pattern arrive in `request.path_params`.
    """

    def decorate(func: Handler) -> Handler:
        routes = getattr(func, "_sandbox_routes", [])
        routes.append((method.upper(), pattern))
        func._sandbox_routes = routes  # type: ignore[attr-defined]
        return func

    return decorate


class Emulator:
    """Base class of the service emulators.

    Subclasses set `name`, `default_settings` and `default_seed`, implement `seed_store(**opts)`
    (build the in-memory store from scratch, deterministically) and `state()`, and declare routes.
    Settings are switches for uncertain behaviour, read with `self.setting(name)`.
    """

    name = "emulator"
    default_settings: Mapping[str, Any] = {}
    default_seed: Mapping[str, Any] = {}

    def __init__(
        self, settings: Mapping[str, Any] | None = None, seed: Mapping[str, Any] | None = None
    ) -> None:
        self.lock = threading.RLock()
        self._initial_settings = {**self._all_default_settings(), **(settings or {})}
        self.settings: dict[str, Any] = copy.deepcopy(self._initial_settings)
        self.seed_options: dict[str, Any] = {**self.default_seed, **(seed or {})}
        self.request_log: list[dict[str, Any]] = []
        self.faults: deque[Fault] = deque()
        self.clock_offset = 0.0
        self._routes = self._collect_routes()
        self.seed_store(**self.seed_options)

    # -- hooks for subclasses -------------------------------------------------------------

    def seed_store(self, **options: Any) -> None:
        """Build the store from `options` (deterministic)."""

    def state(self) -> dict[str, Any]:
        """A JSON summary of the store for tests and the demo."""
        return {}

    def before_route(self, request: Request) -> Response | None:
        """Runs before routing for every non-`/__sandbox/` request (auth, rate limits)."""
        return None

    # -- common behaviour -----------------------------------------------------------------

    def _all_default_settings(self) -> dict[str, Any]:
        merged: dict[str, Any] = {"latency_ms": 0, "log_bodies": True}
        for klass in reversed(type(self).__mro__):
            merged.update(getattr(klass, "default_settings", {}) or {})
        return merged

    def setting(self, name: str) -> Any:
        return self.settings[name]

    def now(self) -> float:
        """The emulator's clock (epoch seconds), which tests can move forward."""
        return time.time() + self.clock_offset

    def reset(self) -> None:
        with self.lock:
            self.settings = copy.deepcopy(self._initial_settings)
            self.request_log.clear()
            self.faults.clear()
            self.clock_offset = 0.0
            self.seed_store(**self.seed_options)

    def reseed(self, options: Mapping[str, Any]) -> None:
        with self.lock:
            self.seed_options = {**self.default_seed, **options}
            self.request_log.clear()
            self.seed_store(**self.seed_options)

    def configure(self, **settings: Any) -> None:
        unknown = set(settings) - set(self.settings)
        if unknown:
            msg = f"unknown {self.name} settings: {sorted(unknown)}; known: {sorted(self.settings)}"
            raise ValueError(msg)
        with self.lock:
            self.settings.update(settings)

    def add_faults(self, faults: Iterable[Fault | Mapping[str, Any]]) -> None:
        with self.lock:
            for fault in faults:
                self.faults.append(fault if isinstance(fault, Fault) else Fault.from_dict(fault))

    def requests(self, path: str | None = None, method: str | None = None) -> list[dict[str, Any]]:
        """Logged requests, optionally filtered by a path regex and method."""
        with self.lock:
            entries = list(self.request_log)
        return [
            e
            for e in entries
            if (path is None or re.search(path, e["path"]))
            and (method is None or e["method"] == method.upper())
        ]

    def _collect_routes(self) -> list[tuple[str, re.Pattern[str], Handler]]:
        routes = []
        for attr in dir(type(self)):
            func = getattr(type(self), attr, None)
            for method, pattern in getattr(func, "_sandbox_routes", []):
                routes.append((method, re.compile(pattern), getattr(self, attr)))
        # Longer (more specific) patterns first, so `/x/special` wins over `/x/(?P<id>[^/]+)`.
        routes.sort(key=lambda r: -len(r[1].pattern))
        return routes

    def _take_fault(self, request: Request) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.matches(request):
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def dispatch(self, request: Request) -> Response:
        """Answer one request (raises `DropConnection` to drop it)."""
        if request.path.startswith(SANDBOX_PREFIX):
            return self._sandbox_api(request)
        latency = self.settings.get("latency_ms") or 0
        if latency:
            time.sleep(latency / 1000)
        fault = self._take_fault(request)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.drop:
                raise DropConnection
            if fault.status is not None:
                return Response(fault.status, fault.body, dict(fault.headers), fault.content_type)
        response = self.before_route(request) or self._route(request)
        if fault is not None and fault.cut_after is not None:
            response.cut_after = fault.cut_after
        return response

    def _route(self, request: Request) -> Response:
        allowed: list[str] = []
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(request.path)
            if match is None:
                continue
            if method != request.method:
                allowed.append(method)
                continue
            request.path_params = match.groupdict()
            return handler(request)
        if allowed:
            return json_response({"error": f"method {request.method} not allowed"}, 405)
        return json_response({"error": f"not found: {request.path}"}, 404)

    def log(self, request: Request, status: int, started: float) -> None:
        entry: dict[str, Any] = {
            "method": request.method,
            "path": request.path,
            "query": request.query,
            "status": status,
            "time": started,
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
            "body_bytes": len(request.body),
            "headers": {
                k: v
                for k, v in request.headers.as_dict().items()
                if k not in {"authorization", "x-access-token"}
            },
            "auth": (request.headers.get("authorization") or "").split(" ")[0] or None,
        }
        if (
            self.settings.get("log_bodies")
            and request.body
            and len(request.body) <= LOGGED_BODY_LIMIT
        ):
            try:
                entry["body"] = json.loads(request.body)
            except ValueError:
                entry["body"] = request.body.decode("utf-8", "replace")
        with self.lock:
            self.request_log.append(entry)

    # -- /__sandbox/ ----------------------------------------------------------------------

    def _sandbox_api(self, request: Request) -> Response:
        action = request.path[len(SANDBOX_PREFIX) :].strip("/")
        try:
            body = request.json() if request.body else {}
            if action == "requests" and request.method == "GET":
                return json_response(self.requests(request.arg("path"), request.arg("method")))
            if action == "requests" and request.method == "DELETE":
                with self.lock:
                    self.request_log.clear()
                return json_response({"ok": True})
            if action == "state" and request.method == "GET":
                with self.lock:
                    return json_response(self.state())
            if action == "reset" and request.method == "POST":
                self.reset()
                return json_response({"ok": True})
            if action == "seed" and request.method == "POST":
                self.reseed(body or {})
                return json_response({"ok": True, "seed": self.seed_options})
            if action == "config" and request.method == "GET":
                return json_response(self.settings)
            if action == "config" and request.method == "POST":
                self.configure(**(body or {}))
                return json_response(self.settings)
            if action == "faults" and request.method == "POST":
                self.add_faults((body or {}).get("faults", []))
                return json_response({"queued": len(self.faults)})
            if action == "faults" and request.method == "DELETE":
                with self.lock:
                    self.faults.clear()
                return json_response({"ok": True})
            if action == "clock" and request.method == "POST":
                with self.lock:
                    self.clock_offset += float((body or {}).get("advance", 0))
                return json_response({"now": self.now(), "offset": self.clock_offset})
        except (ValueError, TypeError) as exc:
            return json_response({"error": str(exc)}, 400)
        return json_response({"error": f"unknown sandbox action {request.method} {action}"}, 404)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without TCP_NODELAY, Nagle and delayed ACKs
    # add ~40 ms to every response.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the stdlib's per-request stderr line; the emulator keeps its own log."""

    def _handle(self) -> None:
        started = time.perf_counter()
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers=Headers(self.headers.items()),
            body=body,
        )
        emulator = self.server.emulator
        try:
            response = emulator.dispatch(request)
        except DropConnection:
            self.close_connection = True
            emulator.log(request, 0, started)
            return
        except Exception as exc:
            response = text_response(f"emulator error: {type(exc).__name__}: {exc}", 500)
        if isinstance(response.body, Iterator):
            self._send_chunked(request, response, started)
            return
        payload, content_type = response.encode()
        if not request.path.startswith(SANDBOX_PREFIX):
            # Logged before answering, so a client that got its response always finds it logged.
            emulator.log(request, response.status, started)
        self.send_response(response.status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            if response.cut_after is not None:
                self.wfile.write(payload[: response.cut_after])
                self.close_connection = True
                return
            self.wfile.write(payload)

    def _send_chunked(self, request: Request, response: Response, started: float) -> None:
        """Stream an iterator body with `Transfer-Encoding: chunked`."""
        self.server.emulator.log(request, response.status, started)
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type or "application/octet-stream")
        self.send_header("Transfer-Encoding", "chunked")
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command == "HEAD":
            return
        left = response.cut_after
        for chunk in response.body:
            if left is not None and len(chunk) >= left:
                if left:
                    self.wfile.write(b"%x\r\n%s\r\n" % (left, chunk[:left]))
                self.close_connection = True  # no last chunk: the client sees the answer cut
                return
            if chunk:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                if left is not None:
                    left -= len(chunk)
        self.wfile.write(b"0\r\n\r\n")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle  # noqa: N815


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        self.emulator = emulator
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-answer (a killed tap, `tap | head`) is normal, not an
        emulator error worth a traceback in the test log."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class RunningEmulator:
    """An emulator served on a loopback port in a background thread."""

    def __init__(self, emulator: Emulator, host: str = "127.0.0.1", port: int = 0) -> None:
        self.emulator = emulator
        self._server = _Server((host, port), emulator)
        self.host, self.port = host, int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=lambda: self._server.serve_forever(poll_interval=0.05),
            name=f"sandbox-{emulator.name}",
            daemon=True,
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> RunningEmulator:
        if not self._thread.is_alive():
            self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def __enter__(self) -> RunningEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(emulator: Emulator, host: str = "127.0.0.1", port: int = 0) -> RunningEmulator:
    """Start `emulator` on `host:port` (0 = a free port) in a daemon thread."""
    return RunningEmulator(emulator, host, port).start()
