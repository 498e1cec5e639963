"""Flattening that never emits a key the SCHEMA does not declare.

singer-sdk's `flattening_enabled` turns each declared sub-property of an object into a column
(`fields__amount`) but flattens every key the record holds: an open object (keys vary per tenant
or configuration, `additionalProperties`) would put undeclared columns in RECORD messages, and
one declared with no properties disappears from the SCHEMA while its keys still appear. The tap
therefore hands the flattener a schema in which every open object has no `properties`: the SDK
writes such an object as one JSON text column, which the SCHEMA declares.
"""

from __future__ import annotations

import copy
import typing as t

if t.TYPE_CHECKING:
    from singer_sdk import Tap


def _is_object(node: dict[str, t.Any]) -> bool:
    kind = node.get("type")
    return kind == "object" or (isinstance(kind, list) and "object" in kind)


def json_columns_for_open_objects(schema: dict[str, t.Any]) -> dict[str, t.Any]:
    """A copy of a record schema whose open nested objects are flattened as one JSON column."""
    flattenable = copy.deepcopy(schema)
    pending = list((flattenable.get("properties") or {}).values())
    while pending:
        node = pending.pop()
        if not isinstance(node, dict) or not _is_object(node):
            continue  # arrays are written as JSON text whatever their items
        if node.get("additionalProperties", True) is not False or not node.get("properties"):
            node.pop("properties", None)
        else:
            pending.extend(node["properties"].values())
    return flattenable


def register_flattenable_schemas(tap: Tap) -> None:
    """Give the tap's stream maps the flattenable schema of every stream in its catalog."""
    if not tap.config.get("flattening_enabled"):
        return
    for entry in tap.catalog.streams:
        tap.mapper.register_raw_stream_schema(
            entry.stream or entry.tap_stream_id,
            json_columns_for_open_objects(entry.schema.to_dict()),
            entry.key_properties,
        )
