"""Markers by location and fixture, so `./run test -m "not pipeline"` is the fast loop."""

from __future__ import annotations

from pathlib import Path

import pytest

PIPELINES = Path(__file__).parent / "pipelines"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(PIPELINES):
            item.add_marker(pytest.mark.pipeline)
        if "postgres" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)
