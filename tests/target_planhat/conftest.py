"""A fresh Planhat emulator per test, on a loopback port."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from sandbox.testing import start

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sandbox.core import RunningEmulator


@pytest.fixture
def planhat() -> Iterator[RunningEmulator]:
    running = start("planhat")
    yield running
    running.stop()
