"""A Planful emulator per test module (a module may override `running` with its own seed),
reset before each test."""

from __future__ import annotations

import pytest
from sandbox.testing import start


@pytest.fixture(scope="module")
def running():
    server = start("planful")
    yield server
    server.stop()


@pytest.fixture
def planful(running):
    running.emulator.reset()
    return running
