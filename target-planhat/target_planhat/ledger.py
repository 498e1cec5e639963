"""The sync ledger: what Planhat last acknowledged, so a run sends only what changed.

One row per item: `scope`, `key` and `digest`, a 64-bit hash of the payload Planhat accepted. The
scope is a hash of the Planhat host, a fingerprint of the credentials (an HMAC, never the token)
and the object; a readable `planhat_ledger_scopes` table says which host, fingerprint and object
each scope is, so an operator can reset one object. The key is the sync key and its value as text
(`externalId=ACME-001`), so a batch of records read in key order touches a few neighbouring pages
of the index instead of pages all over it (what makes writes cheap at millions of rows); e-mail
keys, send keys and key-less items are stored as hashes. Lookups and writes go per batch
(`IN (...)` / `= ANY(...)`), so memory does not grow with the ledger. Each thread gets its own
connection: lookups run on the reading thread, writes on the sending one.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import sqlite3
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

DEFAULT_LEDGER_PATH = ".target-planhat/ledger.sqlite3"
"""Relative to the working directory: the project root when Meltano runs the target."""
_FINGERPRINT_KEY = b"target-planhat ledger v1"
_SQLITE_CHUNK = 500
_POSTGRES_SCHEMES = frozenset({"postgres", "postgresql"})


class LedgerError(Exception):
    """The ledger cannot be opened or used (one line, no password)."""


def fingerprint(secret: str) -> str:
    """A keyed hash of a credential: stable per tenant, useless for recovering the token."""
    return hmac.new(_FINGERPRINT_KEY, secret.encode(), hashlib.sha256).hexdigest()[:32]


def digest(data: bytes) -> int:
    """64-bit hash (a signed integer, as SQLite and PostgreSQL store them) of a key or payload."""
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big", signed=True)


def scope_id(host: str, credentials: str, obj: str) -> int:
    return digest(f"{host}\x1f{credentials}\x1f{obj}".encode())


def hashed_key(data: bytes) -> str:
    """A key stored without its value (an e-mail address, a whole item)."""
    return "#" + hashlib.blake2b(data, digest_size=16).hexdigest()


class Ledger:
    """Base: per-thread connections, scope registration, chunked lookups and upserts."""

    where: str

    def __init__(self, *, readonly: bool = False) -> None:
        self.readonly = readonly
        """A dry run: read what exists, create and write nothing."""
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[Any] = []

    def connection(self) -> Any:
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._connect()
            self._local.db = db
            with self._lock:
                self._connections.append(db)
        return db

    def register_scope(self, host: str, credentials: str, obj: str) -> int:
        scope = scope_id(host, credentials, obj)
        if not self.readonly:
            self._execute_commit(self._scope_sql, [(scope, host, credentials, obj)])
        return scope

    def lookup(self, scope: int, keys: Sequence[str]) -> dict[str, int]:
        """Digest per key already in the ledger (absent keys are not in the answer)."""
        raise NotImplementedError

    def record(self, scope: int, rows: Iterable[tuple[str, int]]) -> None:
        """Remember what Planhat acknowledged: (key, payload digest) per item, in key order."""
        ordered = sorted((scope, key, value) for key, value in rows)
        if ordered and not self.readonly:
            self._execute_commit(self._upsert_sql, ordered)

    def close(self) -> None:
        with self._lock:
            for db in self._connections:
                with contextlib.suppress(Exception):  # closing at exit, nothing to report
                    db.close()
            self._connections.clear()

    _scope_sql: str
    _upsert_sql: str

    def _connect(self) -> Any:
        raise NotImplementedError

    def _execute_commit(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        db = self.connection()
        try:
            with db:
                db.executemany(sql, rows)
        except sqlite3.Error as exc:
            raise LedgerError(f"ledger {self.where}: write failed: {_first_line(exc)}") from None


class SqliteLedger(Ledger):
    """An embedded file (WAL mode): one runner, no server."""

    _scope_sql = "INSERT OR IGNORE INTO planhat_ledger_scopes VALUES (?, ?, ?, ?)"
    _upsert_sql = "INSERT OR REPLACE INTO planhat_ledger (scope, key, digest) VALUES (?, ?, ?)"

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        super().__init__(readonly=readonly)
        self.path = path
        self.where = str(path)
        if readonly:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = self.connection()
            db.execute("PRAGMA journal_mode=WAL")
            with db:
                db.execute(
                    "CREATE TABLE IF NOT EXISTS planhat_ledger (scope INTEGER NOT NULL, "
                    "key TEXT NOT NULL, digest INTEGER NOT NULL, PRIMARY KEY (scope, key)) "
                    "WITHOUT ROWID"
                )
                db.execute(
                    "CREATE TABLE IF NOT EXISTS planhat_ledger_scopes (scope INTEGER PRIMARY KEY, "
                    "host TEXT NOT NULL, credentials TEXT NOT NULL, object TEXT NOT NULL)"
                )
        except (OSError, sqlite3.Error) as exc:
            raise LedgerError(f"ledger {self.where}: cannot open: {_first_line(exc)}") from None

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
        db.execute("PRAGMA synchronous=NORMAL")
        return db

    def lookup(self, scope: int, keys: Sequence[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        if self.readonly and not self.path.exists():
            return found
        db = self.connection()
        try:
            for start in range(0, len(keys), _SQLITE_CHUNK):
                chunk = keys[start : start + _SQLITE_CHUNK]
                marks = ",".join("?" * len(chunk))
                query = (
                    f"SELECT key, digest FROM planhat_ledger WHERE scope = ? AND key IN ({marks})"  # noqa: S608 - placeholders only
                )
                found.update(db.execute(query, (scope, *chunk)))
        except sqlite3.Error as exc:
            if self.readonly and "no such table" in str(exc):
                return found
            raise LedgerError(f"ledger {self.where}: lookup failed: {_first_line(exc)}") from None
        return found


class PostgresLedger(Ledger):
    """A PostgreSQL database: several runners (one after the other or side by side) share it."""

    _scope_sql = (
        "INSERT INTO planhat_ledger_scopes VALUES (%s, %s, %s, %s) ON CONFLICT (scope) DO NOTHING"
    )
    _upsert_sql = (
        "INSERT INTO planhat_ledger (scope, key, digest) VALUES (%s, %s, %s) "
        "ON CONFLICT (scope, key) DO UPDATE SET digest = excluded.digest"
    )

    def __init__(self, url: str, *, readonly: bool = False) -> None:
        super().__init__(readonly=readonly)
        parts = urlsplit(url)
        self.url = url
        self.where = f"postgresql://{parts.hostname}:{parts.port or 5432}{parts.path}"
        try:
            import psycopg  # noqa: F401, PLC0415 - only needed with a PostgreSQL ledger
        except ImportError:
            msg = (
                "ledger: a PostgreSQL URL needs psycopg; install target-planhat[postgres] "
                "(Meltano's pip_url does)"
            )
            raise LedgerError(msg) from None
        if readonly:
            return
        db = self.connection()
        try:
            with db.transaction():
                db.execute(
                    "CREATE TABLE IF NOT EXISTS planhat_ledger (scope bigint NOT NULL, "
                    "key text NOT NULL, digest bigint NOT NULL, PRIMARY KEY (scope, key))"
                )
                db.execute(
                    "CREATE TABLE IF NOT EXISTS planhat_ledger_scopes (scope bigint PRIMARY KEY, "
                    "host text NOT NULL, credentials text NOT NULL, object text NOT NULL)"
                )
        except Exception as exc:
            raise LedgerError(f"ledger {self.where}: cannot set up: {_first_line(exc)}") from None

    def _connect(self) -> Any:
        import psycopg  # noqa: PLC0415

        try:
            return psycopg.connect(self.url, autocommit=True)
        except psycopg.Error as exc:
            message = _first_line(exc).replace(self.url, self.where)
            raise LedgerError(f"ledger {self.where}: cannot connect: {message}") from None

    def lookup(self, scope: int, keys: Sequence[str]) -> dict[str, int]:
        if not keys:
            return {}
        try:
            rows = (
                self.connection()
                .execute(
                    "SELECT key, digest FROM planhat_ledger WHERE scope = %s AND key = ANY(%s)",
                    (scope, list(keys)),
                )
                .fetchall()
            )
        except Exception as exc:
            if self.readonly and "does not exist" in str(exc):
                return {}
            raise LedgerError(f"ledger {self.where}: lookup failed: {_first_line(exc)}") from None
        return dict(rows)

    def _execute_commit(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        db = self.connection()
        try:
            with db.transaction(), db.cursor() as cursor:
                cursor.executemany(sql, rows)
        except Exception as exc:
            raise LedgerError(f"ledger {self.where}: write failed: {_first_line(exc)}") from None


def open_ledger(setting: str | None, *, readonly: bool = False) -> Ledger | None:
    """`none` -> no ledger; `postgresql://…` -> PostgreSQL; `sqlite:///path` or a path -> SQLite.

    `readonly` (a dry run) creates nothing: a ledger that does not exist yet reads as empty.
    """
    value = (setting or DEFAULT_LEDGER_PATH).strip()
    if value.lower() == "none":
        return None
    scheme = urlsplit(value).scheme.lower()
    if scheme in _POSTGRES_SCHEMES:
        return PostgresLedger(value, readonly=readonly)
    if scheme == "sqlite":
        value = value.split(":", 1)[1].removeprefix("//")
    return SqliteLedger(Path(value), readonly=readonly)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
