"""`./run python -m tests.pipelines.postgres` (the README's PostgreSQL for the *-postgres jobs)
stops its server whichever way it is stopped: Ctrl-C (SIGINT) or `kill` (SIGTERM). Before, SIGTERM
ended the helper and left the server listening."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.pipelines.postgres import _free_port

REPO = Path(__file__).resolve().parents[2]


def accepts_connections(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_helper_stops_its_server_on_a_signal(signum):
    port = _free_port()
    helper = subprocess.Popen(
        [sys.executable, "-m", "tests.pipelines.postgres", "--port", str(port), "--accounts", "2"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert helper.stdout is not None
        listening = helper.stdout.readline()
        assert f"PostgreSQL listening on 127.0.0.1:{port}" in listening, helper.stderr.read()
        url = f"postgresql://postgres@127.0.0.1:{port}/warehouse"
        with psycopg.connect(url) as db:
            assert db.execute("select count(*) from crm.accounts").fetchone() == (2,)

        helper.send_signal(signum)
        stdout, stderr = helper.communicate(timeout=60)
    finally:
        if helper.poll() is None:
            helper.kill()
    assert helper.returncode == 0, stderr
    assert f"{signum.name}: stopping PostgreSQL" in stdout
    assert not accepts_connections(port)
