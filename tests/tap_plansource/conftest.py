"""Fixtures: a small seeded PlanSource emulator on loopback, reset before every test."""

from __future__ import annotations

import pytest
from sandbox.testing import start

from .helpers import SEED


@pytest.fixture(scope="module")
def plansource():
    running = start("plansource", seed=SEED)
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def _fresh_emulator(request):
    """Settings, faults, clock and request log back to the seeded start for each test."""
    if "plansource" in request.fixturenames:
        request.getfixturevalue("plansource").emulator.reset()
