"""With `flattening_enabled`, no RECORD carries a key its SCHEMA does not declare: open objects
(`dp_esm_data.fields`, `dp_dimension_members.attributes`, `coverages.bookkeeping_values`) become
one JSON column; fields the configuration names are declared at discovery."""

from __future__ import annotations

import json
import subprocess

import pytest
from tap_planful.tap import TapPlanful
from tap_plansource.tap import TapPlanSource

from tests.pipelines.test_closed_pipe import BIN, sandbox_tap_config

FLATTENING = {"flattening_enabled": True, "flattening_max_depth": 3}


def _messages(plugin: str, config: dict, tmp_path) -> list[dict]:
    config_file = tmp_path / f"{plugin}.json"
    config_file.write_text(json.dumps(config))
    result = subprocess.run(
        [str(BIN / plugin), "--config", str(config_file)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return [json.loads(line) for line in result.stdout.splitlines()]


def _undeclared_keys(messages: list[dict]) -> dict[str, set[str]]:
    declared: dict[str, set[str]] = {}
    undeclared: dict[str, set[str]] = {}
    for message in messages:
        if message["type"] == "SCHEMA":
            declared[message["stream"]] = set(message["schema"]["properties"])
        elif message["type"] == "RECORD":
            extra = set(message["record"]) - declared[message["stream"]]
            if extra:
                undeclared.setdefault(message["stream"], set()).update(extra)
    return undeclared


def test_planful_flattened_records_match_their_schema(sandboxes, tmp_path):
    config = sandbox_tap_config("tap-planful", sandboxes) | FLATTENING
    messages = _messages("tap-planful", config, tmp_path)

    assert _undeclared_keys(messages) == {}
    records = {}
    for message in messages:
        if message["type"] == "RECORD":
            records.setdefault(message["stream"], []).append(message["record"])
    # The open objects are kept whole, as JSON text, not dropped.
    esm = records["dp_esm_data"][0]
    assert json.loads(esm["fields"]), esm
    with_attributes = [r for r in records["dp_dimension_members"] if r.get("attributes")]
    assert with_attributes
    assert isinstance(json.loads(with_attributes[0]["attributes"]), dict)


def test_configured_source_model_fields_are_declared():
    config = {"api_type": "dynamic", "source_models": [{"model": "salestxn", "fields": ["amount"]}]}
    tap = TapPlanful(config=config, validate_config=False, parse_env_config=False)
    fields = tap.streams["dp_esm_data"].schema["properties"]["fields"]
    assert set(fields["properties"]) == {"amount"}


@pytest.mark.parametrize(
    ("tap_class", "config", "stream", "record"),
    [
        (
            TapPlanful,
            {"api_type": "dynamic", "source_models": [{"model": "m", "fields": ["amount"]}]},
            "dp_esm_data",
            {"model": "m", "_row_key": "k", "fields": {"amount": "1", "undeclared": "2"}},
        ),
        (
            TapPlanful,
            {"api_type": "dynamic"},
            "dp_dimension_members",
            {"model": "m", "dimension": "d", "code": "c", "attributes": {"Region": "East"}},
        ),
        (
            TapPlanSource,
            {},
            "coverages",
            {"id": 1, "bookkeeping_values": {"gl_code": "6100", "cost_center": {"id": 7}}},
        ),
    ],
)
def test_open_objects_flatten_into_one_declared_column(tap_class, config, stream, record):
    tap = tap_class(config=config | FLATTENING, validate_config=False, parse_env_config=False)
    (stream_map,) = tap.streams[stream].stream_maps
    flattened = stream_map.transform(json.loads(json.dumps(record)))
    assert set(flattened) <= set(stream_map.transformed_schema["properties"])
    open_object = next(k for k, v in record.items() if isinstance(v, dict))
    assert json.loads(flattened[open_object]) == record[open_object]
