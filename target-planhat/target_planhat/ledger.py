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

A ledger lost quietly means metrics and activities sent twice, so each ledger carries an
instance id (`planhat_ledger_instance`), made once when its tables are: every write checks, in
its own transaction, that the ledger it opened is still the one there (and, for a file, still at
its path), and stops the run otherwise.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import re
import sqlite3
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from planful_plansource_planhat_core.failures import UserError

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

DEFAULT_LEDGER_PATH = ".target-planhat/ledger.sqlite3"
"""Relative to the working directory: the project root when Meltano runs the target."""
_FINGERPRINT_KEY = b"target-planhat ledger v1"
_SQLITE_CHUNK = 500
_POSTGRES_SCHEMES = frozenset({"postgres", "postgresql"})
_URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://")
_INSTANCE_TABLE = "planhat_ledger_instance"
LEDGER_CHOICES = "postgresql://user:password@host:5432/db, a file path, or none"


class LedgerError(UserError):
    """The ledger cannot be opened or used (one line, no password)."""


class LedgerLostError(LedgerError):
    """The ledger this run opened was deleted or replaced while it ran."""


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
        self.instance: str | None = None
        """The id this ledger was created with (None: not opened for writing)."""
        self.is_new = False
        """This run created the ledger (or, in a dry run, found none): it knows of no send."""

    def _claim_instance(self, db: Any, mark: str, *, existed: bool) -> None:
        """Read the ledger's instance id, or make one (in a transaction on `db`, `mark` the
        driver's placeholder); `existed`: the ledger's rows table was there before this run."""
        db.execute(f"CREATE TABLE IF NOT EXISTS {_INSTANCE_TABLE} (id TEXT NOT NULL)")
        row = db.execute(f"SELECT id FROM {_INSTANCE_TABLE}").fetchone()  # noqa: S608 - constant
        if row is None:
            self.instance = uuid.uuid4().hex
            insert = f"INSERT INTO {_INSTANCE_TABLE} VALUES ({mark})"  # noqa: S608 - constant
            db.execute(insert, (self.instance,))
        else:
            self.instance = row[0]
        self.is_new = not existed

    def _lost(self, found: str | None) -> LedgerLostError:
        how = "deleted" if found is None else "replaced by another"
        return LedgerLostError(
            f"ledger {self.where} was {how} during this run: stopped before writing to it, so "
            "nothing is sent twice unnoticed; put the ledger back (or, to start a new one on "
            "purpose, run again: a new ledger sends every metric and activity once more)"
        )

    def _check_instance(self, db: Any) -> None:
        """Raise when the ledger at `where` is not the one opened (same transaction as a write)."""
        try:
            row = db.execute(f"SELECT id FROM {_INSTANCE_TABLE}").fetchone()  # noqa: S608 - constant
        except Exception as exc:
            if "no such table" in str(exc) or "does not exist" in str(exc):
                raise self._lost(None) from None
            raise
        if row is None or row[0] != self.instance:
            raise self._lost(None if row is None else row[0])

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
        raise NotImplementedError


class SqliteLedger(Ledger):
    """An embedded file (WAL mode): one runner, no server."""

    _scope_sql = "INSERT OR IGNORE INTO planhat_ledger_scopes VALUES (?, ?, ?, ?)"
    _upsert_sql = "INSERT OR REPLACE INTO planhat_ledger (scope, key, digest) VALUES (?, ?, ?)"

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        super().__init__(readonly=readonly)
        self.path = path
        self.where = str(path)
        self._file_id: tuple[int, int] | None = None
        if readonly:
            self.is_new = not path.exists()
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = self.connection()
            db.execute("PRAGMA journal_mode=WAL")
            with db:
                db.execute("BEGIN IMMEDIATE")  # two first runs side by side make one instance
                existed = db.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'planhat_ledger'"
                ).fetchone()
                self._claim_instance(db, "?", existed=existed is not None)
                db.execute(
                    "CREATE TABLE IF NOT EXISTS planhat_ledger (scope INTEGER NOT NULL, "
                    "key TEXT NOT NULL, digest INTEGER NOT NULL, PRIMARY KEY (scope, key)) "
                    "WITHOUT ROWID"
                )
                db.execute(
                    "CREATE TABLE IF NOT EXISTS planhat_ledger_scopes (scope INTEGER PRIMARY KEY, "
                    "host TEXT NOT NULL, credentials TEXT NOT NULL, object TEXT NOT NULL)"
                )
            stat = path.stat()
            self._file_id = (stat.st_dev, stat.st_ino)
        except (OSError, sqlite3.Error) as exc:
            raise LedgerError(f"ledger {self.where}: cannot open: {_first_line(exc)}") from None

    def _connect(self) -> sqlite3.Connection:
        if self._file_id is not None and not self.path.exists():
            raise self._lost(None)  # connecting would create an empty file in its place
        db = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
        db.execute("PRAGMA synchronous=NORMAL")
        return db

    def _execute_commit(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        db = self.connection()
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            raise self._lost(None) from None
        if (stat.st_dev, stat.st_ino) != self._file_id:
            raise self._lost("")
        try:
            with db:
                self._check_instance(db)
                db.executemany(sql, rows)
        except sqlite3.Error as exc:
            raise LedgerError(f"ledger {self.where}: write failed: {_first_line(exc)}") from None

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
            if "no such table" in str(exc):
                if self.readonly:
                    return found
                raise self._lost(None) from None
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
        try:
            port = parts.port or 5432
        except ValueError:
            port = None
        self.where = f"postgresql://{parts.hostname}:{port}{parts.path}"
        if not parts.hostname or port is None or parts.path in ("", "/"):
            msg = (
                f"`ledger` {redacted_url(url)} names no host, port or database (an unset "
                "variable? a password with @, / or : must be percent-encoded): set it to "
                f"{LEDGER_CHOICES}"
            )
            raise LedgerError(msg)
        try:
            import psycopg  # noqa: F401, PLC0415 - only needed with a PostgreSQL ledger
        except ImportError:
            msg = (
                "ledger: a PostgreSQL URL needs psycopg; install target-planhat[postgres] "
                "(Meltano's pip_url does)"
            )
            raise LedgerError(msg) from None
        if readonly:
            self.is_new = not self._has_tables()
            return
        db = self.connection()
        try:
            with db.transaction():
                db.execute("SELECT pg_advisory_xact_lock(8207341)")  # one creator at a time
                existed = self._has_table(db, "planhat_ledger")
                self._claim_instance(db, "%s", existed=existed)
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
            if "does not exist" in str(exc):
                if self.readonly:
                    return {}
                raise self._lost(None) from None
            raise LedgerError(f"ledger {self.where}: lookup failed: {_first_line(exc)}") from None
        return dict(rows)

    @staticmethod
    def _has_table(db: Any, name: str) -> bool:
        row = db.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()
        return bool(row and row[0])

    def _has_tables(self) -> bool:
        try:
            return self._has_table(self.connection(), "planhat_ledger")
        except LedgerError:
            raise
        except Exception as exc:
            raise LedgerError(f"ledger {self.where}: lookup failed: {_first_line(exc)}") from None

    def _execute_commit(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        db = self.connection()
        try:
            with db.transaction(), db.cursor() as cursor:
                self._check_instance(cursor)
                cursor.executemany(sql, rows)
        except LedgerError:
            raise
        except Exception as exc:
            raise LedgerError(f"ledger {self.where}: write failed: {_first_line(exc)}") from None


def open_ledger(setting: str | None, *, readonly: bool = False) -> Ledger | None:
    """`none` -> no ledger; `postgresql://…` -> PostgreSQL; `sqlite:///path` or a path -> SQLite;
    any other URL, or an empty value (an unset variable), is refused.

    `readonly` (a dry run) creates nothing: a ledger that does not exist yet reads as empty.
    """
    value = (DEFAULT_LEDGER_PATH if setting is None else setting).strip()
    if not value:
        msg = (
            "`ledger` is empty (an unset variable? under Meltano: TARGET_PLANHAT_LEDGER): "
            f"set it to {LEDGER_CHOICES}"
        )
        raise LedgerError(msg)
    if value.lower() == "none":
        return None
    url = _URL.match(value)
    scheme = url.group("scheme").lower() if url else ""
    if scheme in _POSTGRES_SCHEMES:
        return PostgresLedger(value, readonly=readonly)
    if scheme == "sqlite":
        value = value.split(":", 1)[1].removeprefix("//")
    elif scheme:
        msg = (
            f"`ledger` {redacted_url(value)}: {scheme}:// is not a ledger this target can use; "
            f"set it to {LEDGER_CHOICES}"
        )
        raise LedgerError(msg)
    return SqliteLedger(Path(value), readonly=readonly)


def redacted_url(url: str) -> str:
    """`url` without the user name and password it may carry."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return parts._replace(netloc=f"***@{host}").geturl()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
