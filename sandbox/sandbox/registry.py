"""Which emulators exist, imported lazily so one service's emulator never loads the others."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sandbox.core import Emulator

EMULATORS: dict[str, str] = {
    "planhat": "sandbox.planhat.app:PlanhatEmulator",
    "plansource": "sandbox.plansource.app:PlanSourceEmulator",
    "planful": "sandbox.planful.app:PlanfulEmulator",
}


def create(
    name: str, settings: Mapping[str, Any] | None = None, seed: Mapping[str, Any] | None = None
) -> Emulator:
    """Build the emulator called `name` with optional settings and seed options."""
    try:
        target = EMULATORS[name]
    except KeyError:
        msg = f"unknown emulator {name!r}; choose one of {sorted(EMULATORS)}"
        raise ValueError(msg) from None
    module_name, class_name = target.split(":")
    emulator_class = getattr(importlib.import_module(module_name), class_name)
    return emulator_class(settings=settings, seed=seed)
