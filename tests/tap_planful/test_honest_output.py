"""Every RECORD carries only what its SCHEMA declares; REST GL gaps and odd types are handled.

The emulator's drift switches make the API send fields and elements no contract lists, so the
tap's own record paths (the fast GL path in particular) are checked against what they emit.
"""

from __future__ import annotations

import json
import logging

import pytest
from sandbox.core import Fault
from singer_sdk.exceptions import FatalAPIError

from .helpers import config_for, gl_requests, soap_config, sync_lines


def undeclared(value: object, schema: dict, where: str) -> list[str]:
    """Paths in `value` that `schema` does not declare (unless it allows extra properties)."""
    if isinstance(value, dict):
        properties = schema.get("properties")
        if properties is None:
            return [] if schema.get("additionalProperties", True) else [where]
        found = []
        for key, item in value.items():
            if key in properties:
                found += undeclared(item, properties[key], f"{where}.{key}")
            elif not schema.get("additionalProperties"):
                found.append(f"{where}.{key}")
        return found
    if isinstance(value, list):
        return [p for item in value for p in undeclared(item, schema.get("items", {}), where)]
    return []


def emitted(config: dict) -> tuple[dict[str, dict], dict[str, list[dict]]]:
    schemas, records, _ = emitted_with_keys(config)
    return schemas, records


def emitted_with_keys(
    config: dict,
) -> tuple[dict[str, dict], dict[str, list[dict]], dict[str, list[str]]]:
    schemas: dict[str, dict] = {}
    records: dict[str, list[dict]] = {}
    keys: dict[str, list[str]] = {}
    for line in sync_lines(config):
        message = json.loads(line)
        if message["type"] == "SCHEMA":
            schemas[message["stream"]] = message["schema"]
            keys[message["stream"]] = message["key_properties"]
        elif message["type"] == "RECORD":
            records.setdefault(message["stream"], []).append(message["record"])
    return schemas, records, keys


def every_stream_config(url: str, api: str) -> dict:
    """Both API families, Structured Planning over `api` (rest or soap), fiscal year 2025."""
    base = config_for(url, start_fiscal_year=2025, end_fiscal_year=2025)
    if api == "soap":
        return base | soap_config(
            url, start_fiscal_year=2025, end_fiscal_year=2025, api_type="both"
        )
    return base | {"scenarios": ["Actual", "2025 Budget"]}


@pytest.mark.parametrize("api", ["rest", "soap"])
def test_no_record_field_outside_its_schema_for_every_stream(planful, api):
    planful.emulator.configure(gl_extra_field=True, soap_gl_extra=True, soap_member_id=True)
    config = every_stream_config(planful.url, api)
    schemas, records = emitted(config)
    streams = set(records)
    assert {"gl_data", "segment_members", "segments", "currencies", "dp_esm_data"} <= streams
    assert ("currency_types" in streams) == (api == "soap")
    for stream, rows in records.items():
        found = [p for row in rows for p in undeclared(row, schemas[stream], stream)]
        assert found == [], f"{stream} writes fields its SCHEMA does not declare: {found[:5]}"


@pytest.mark.parametrize("api", ["rest", "soap"])
def test_every_stream_has_a_key_that_exists_and_never_repeats(planful, api):
    """What lets an upserting target hold each row once (the root README's delivery table)."""
    config = every_stream_config(planful.url, api)
    _, records, keys = emitted_with_keys(config)
    assert len(records) >= 10
    for stream, rows in records.items():
        assert keys[stream], f"{stream} declares no key"
        values = [tuple(row.get(key) for key in keys[stream]) for row in rows]
        missing = [v for v in values if None in v]
        assert not missing, f"{stream}: {len(missing)} records without a key value"
        repeated = len(values) - len(set(values))
        assert not repeated, f"{stream}: {repeated} records repeat a key ({keys[stream]})"


def rest_gl_config(url: str) -> dict:
    return config_for(
        url,
        api_type="structured",
        scenarios=["2025 Budget"],
        start_fiscal_year=2025,
        end_fiscal_year=2025,
    )


def gl_lines(config: dict, state: dict | None = None) -> tuple[list[dict], dict]:
    records, final = [], {}
    for line in sync_lines(config, {"gl_data"}, state=state):
        message = json.loads(line)
        if message["type"] == "RECORD":
            records.append(message["record"])
        elif message["type"] == "STATE":
            final = message["value"]
    return records, final


def test_rest_period_empty_twice_holds_the_bookmark_before_it(planful, caplog):
    gl = r"/gldata$"
    planful.emulator.add_faults(
        [
            Fault(path=gl, times=2),
            Fault(status=200, body=[], path=gl),
            Fault(path=gl, times=2),  # 4, and 5 fetched ahead while 4 is written
            Fault(status=200, body=[], path=gl),
        ]
    )
    caplog.set_level(logging.WARNING)
    records, state = gl_lines(rest_gl_config(planful.url))
    assert {r["FiscalMonth"] for r in records} == set(range(1, 13)) - {3}
    (partition,) = state["bookmarks"]["gl_data"]["partitions"]
    assert partition["replication_key_value"] == 202502
    assert [m for _, _, m in gl_requests(planful.emulator)][:6] == [1, 2, 3, 4, 5, 3]
    assert any("period 202503 answered no rows twice" in r.getMessage() for r in caplog.records)


def test_rest_fiscal_year_as_text_is_converted(planful):
    rows = planful.emulator.gl_records("2025 Budget", 2025, 1)
    as_text = [{**row, "FiscalYear": "2025", "FiscalMonth": "1"} for row in rows]
    planful.emulator.add_faults([Fault(status=200, body=as_text, path=r"/gldata$")])
    records, _ = gl_lines(rest_gl_config(planful.url))
    january = [r for r in records if r["FiscalMonth"] == 1]
    assert january == [{**row, "period_key": 202501} for row in rows]


def test_rest_fiscal_year_that_is_no_number_is_one_clear_error(planful):
    rows = planful.emulator.gl_records("2025 Budget", 2025, 1)
    planful.emulator.add_faults(
        [Fault(status=200, body=[{**rows[0], "FiscalYear": "FY2025"}], path=r"/gldata$")]
    )
    with pytest.raises(FatalAPIError, match=r"does not fit the gl_data schema: .*FiscalYear"):
        gl_lines(rest_gl_config(planful.url))
