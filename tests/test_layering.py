"""Imports in one direction: no module of a plugin or of connector-core depends on another that
depends back on it, counting the type-checking-only imports (a module that names another's
types depends on it). `scripts/code_report.py` prints the same figures with the lines per
package and the private singer-sdk names each uses."""

from __future__ import annotations

import pytest

from scripts.code_report import PACKAGES, ROOT, cycles, module_imports


@pytest.mark.parametrize(("folder", "package"), PACKAGES.items())
@pytest.mark.parametrize("typing_only", [False, True], ids=["runtime", "with-typing"])
def test_no_import_cycle(folder, package, typing_only):
    graph = module_imports(ROOT / folder / package, package, typing_only=typing_only)
    assert len(graph) > 3
    assert cycles(graph) == []


def test_a_cycle_is_found():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
