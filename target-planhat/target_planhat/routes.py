"""Where each stream goes: its Planhat object, behaviour and sync key, from `object_mapping` or,
for a stream named like an object, that object with its default behaviour."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from target_planhat.objects import OBJECTS, Behavior, PlanhatObject, unrouted_stream_problem


@dataclass(frozen=True)
class Route:
    """Where a stream goes: object, behaviour and sync key (None: Planhat's own key order)."""

    object: PlanhatObject
    behavior: Behavior
    sync_key: str | None


class UnroutedStreamError(ValueError):
    """A stream with no route was asked for one; the message says how to route it."""


def parse_routes(mapping: dict[str, dict[str, Any]]) -> tuple[dict[str, Route], list[str]]:
    """The routes `object_mapping` declares, and one sentence per entry that cannot be one."""
    errors: list[str] = []
    routes: dict[str, Route] = {}
    for stream, entry in mapping.items():
        route = _route(stream, entry, errors)
        if route is not None:
            routes[stream] = route
    return routes, errors


def _route(stream: str, entry: dict[str, Any], errors: list[str]) -> Route | None:
    where = f"object_mapping.{stream}"
    obj = OBJECTS.get(entry.get("object", stream))
    if obj is None:
        errors.append(
            f"{where}.object: {entry.get('object', stream)!r} is not a Planhat object; "
            f"choose one of {', '.join(OBJECTS)}"
        )
        return None
    behavior = entry.get("behavior", obj.default_behavior)
    if behavior not in obj.behaviors:
        errors.append(
            f"{where}.behavior: {obj.name} allows {', '.join(obj.behaviors)}, not {behavior!r}"
        )
    sync_key = entry.get("sync_key")
    if sync_key is not None and obj.sync_keys and sync_key not in obj.sync_keys:
        keys = ", ".join(obj.sync_keys) or "none (it is append-only)"
        errors.append(f"{where}.sync_key: {obj.name} matches on {keys}, not {sync_key!r}")
    return Route(obj, behavior, sync_key)


class Routes:
    """Every stream's route: the declared ones, and objects' own names as they are asked for."""

    def __init__(self, declared: dict[str, Route]) -> None:
        self._routes = dict(declared)

    def __contains__(self, stream: str) -> bool:
        return stream in self._routes or stream in OBJECTS

    def route_for(self, stream: str) -> Route:
        """The route of `stream` (UnroutedStreamError when it has none)."""
        if stream in self._routes:
            return self._routes[stream]
        obj = OBJECTS.get(stream)
        if obj is None:
            raise UnroutedStreamError(unrouted_stream_problem(stream))
        return self._routes.setdefault(stream, Route(obj, obj.default_behavior, None))
