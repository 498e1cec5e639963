"""A throwaway PostgreSQL server for the pipeline tests and the demo: initdb into a temp dir,
start on a loopback port, drop it at the end. `./run test` installs the server binaries when they
are missing; `TEST_POSTGRES_URL` points the tests at an existing server instead.

`./run python -m tests.pipelines.postgres` serves one where meltano.yml's `sandbox` environment
expects it (127.0.0.1:5432, user `postgres`, database `warehouse` with a `crm.accounts` table), so
`meltano run warehouse-to-planhat` and `benefits-to-postgres` work by hand.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str
    password: str
    database: str

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{self.database}"

    def with_database(self, database: str) -> PostgresServer:
        return PostgresServer(self.host, self.port, self.user, self.password, database)


SANDBOX = PostgresServer("127.0.0.1", 5432, "postgres", "postgres", "warehouse")
"""What meltano.yml's `sandbox` environment gives tap-postgres and target-postgres."""


def meltano_env(server: PostgresServer) -> dict[str, str]:
    """Variables that point the sandbox environment's PostgreSQL plugins at `server` (its
    `warehouse` database): only the settings where it differs from the sandbox's."""
    differs = {
        "HOST": (server.host, SANDBOX.host),
        "PORT": (str(server.port), str(SANDBOX.port)),
        "USER": (server.user, SANDBOX.user),
        "PASSWORD": (server.password, SANDBOX.password),
    }
    return {
        f"{plugin}_{name}": value
        for plugin in ("TAP_POSTGRES", "TARGET_POSTGRES")
        for name, (value, sandbox) in differs.items()
        if value != sandbox
    }


def create_warehouse(server: PostgresServer, accounts: int = 0) -> PostgresServer:
    """A fresh `warehouse` database on `server`, with `accounts` rows in `crm.accounts` when
    asked (what `warehouse-to-planhat` reads)."""
    with psycopg.connect(server.url, autocommit=True) as db:
        db.execute("drop database if exists warehouse")
        db.execute("create database warehouse")
    warehouse = server.with_database("warehouse")
    if accounts:
        rows = [
            (f"PG-{i:03d}", f"Warehouse Account {i}", f"pg{i}.example.com")
            for i in range(1, accounts + 1)
        ]
        with psycopg.connect(warehouse.url, autocommit=True) as db:
            db.execute("create schema crm")
            db.execute(
                "create table crm.accounts "
                "(account_code text primary key, account_name text, domain text)"
            )
            with db.cursor() as cursor:
                cursor.executemany("insert into crm.accounts values (%s, %s, %s)", rows)
    return warehouse


def _bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    if not candidates:
        msg = f"PostgreSQL's {name} is missing: `./run test` installs it, or set TEST_POSTGRES_URL"
        raise RuntimeError(msg)
    return candidates[0]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TemporaryPostgres:
    """initdb + pg_ctl as the `postgres` OS user when running as root (postgres refuses root)."""

    def __init__(self, port: int = 0) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="pgtest-"))
        self.data = self.root / "data"
        self.port = port or _free_port()
        self.as_root = os.geteuid() == 0

    def _run(self, *args: str) -> None:
        command = list(args)
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, text=True)

    def start(self) -> PostgresServer:
        if self.as_root:
            shutil.chown(self.root, user="postgres")
        self._run(
            _bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8"
        )
        self._run(
            _bin("pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.root / "log"),
            "-w",
            "-t",
            "60",
            "-o",
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
        )
        server = PostgresServer("127.0.0.1", self.port, SANDBOX.user, SANDBOX.password, "postgres")
        self._wait(server)
        return server

    @staticmethod
    def _wait(server: PostgresServer) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(server.url).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        try:
            self._run(_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


class Stopped(Exception):
    """SIGTERM or SIGINT arrived: leave the wait and stop the server."""


def _stop_on_signal(signum: int, frame: object) -> None:
    raise Stopped(signal.Signals(signum).name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    parser.add_argument("--port", type=int, default=SANDBOX.port)
    parser.add_argument("--accounts", type=int, default=25, help="rows in crm.accounts")
    args = parser.parse_args()
    for signum in (signal.SIGTERM, signal.SIGINT):  # `kill` as well as Ctrl-C stops the server
        signal.signal(signum, _stop_on_signal)
    server = TemporaryPostgres(args.port)
    try:
        warehouse = create_warehouse(server.start(), args.accounts)
    except Stopped:
        _stop(server, started=False)
        raise SystemExit(0) from None
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        log = server.root / "log"
        lines = log.read_text().splitlines() if log.exists() else [str(exc)]
        detail = [line for line in lines if "FATAL" in line or "could not" in line] or lines[-1:]
        shutil.rmtree(server.root, ignore_errors=True)
        message = f"PostgreSQL did not start on port {args.port}: {' '.join(detail)}"
        raise SystemExit(message) from None
    print(
        f"PostgreSQL listening on {warehouse.host}:{warehouse.port} (database warehouse, "
        f"user {warehouse.user}, any password); Ctrl-C or SIGTERM stops it",
        flush=True,
    )
    try:
        while True:
            time.sleep(3600)
    except Stopped as stop:
        print(f"{stop}: stopping PostgreSQL", flush=True)
    finally:
        _stop(server, started=True)


def _stop(server: TemporaryPostgres, *, started: bool) -> None:
    """Stop the server (if it got as far as starting) and remove its files; a second signal
    must not cut this short."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        server.stop()
    except subprocess.CalledProcessError:
        if started:
            raise


if __name__ == "__main__":
    main()
