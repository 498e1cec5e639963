"""GL keys that hold: two rows differing only in `Calculated` (which the contract does not rule
out, planful-soap.md §12) are two records with two keys, and no key part is ever null (a NULL
never equals itself in a warehouse merge, and a primary key column refuses it). Emulator switch
`soap_gl_calculated` serves the twins, or leaves the element out."""

from __future__ import annotations

import pytest
from tap_planful.soap_streams import SoapGLDataStream
from tap_planful.streams import GLDataStream

from .helpers import config_for, soap_config, sync

BUDGET_2025 = {"scenarios": ["2025 Budget"], "start_fiscal_year": 2025, "end_fiscal_year": 2025}
KEY = SoapGLDataStream.primary_keys


def keys(records: list[dict]) -> list[tuple]:
    return [tuple(record[name] for name in KEY) for record in records]


def test_rows_differing_only_in_calculated_have_two_keys(planful):
    planful.emulator.configure(soap_gl_calculated="twins")
    records = sync(soap_config(planful.url, **BUDGET_2025), {"gl_data"}).records["gl_data"]

    seeded = planful.emulator.gl_row_count("2025 Budget")
    assert len(records) == seeded + 12  # one twin a month: none lost
    assert len(set(keys(records))) == len(records)  # none overwrites another in an upsert
    twins = [r for r in records if r["Calculated"] == "true"]
    assert len(twins) == 12
    for twin in twins:
        same = [r for r in records if {**r, "Calculated": "true"} == twin]
        assert [r["Calculated"] for r in same] == ["false", "true"]


def test_an_omitted_key_element_is_an_empty_string_not_null(planful):
    planful.emulator.configure(soap_gl_calculated="omitted")
    result = sync(soap_config(planful.url, **BUDGET_2025), {"gl_data"})
    records = result.records["gl_data"]
    assert len(records) == planful.emulator.gl_row_count("2025 Budget")
    assert {r["Calculated"] for r in records} == {""}
    assert all(None not in key for key in keys(records))
    assert len(set(keys(records))) == len(records)


@pytest.mark.parametrize("variant", ["null", "absent"])
def test_unused_segments_over_rest_are_empty_strings_not_null(planful, variant):
    """A tenant with fewer than eight segments: whether REST answers the unused ones as null or
    leaves them out (the contract is silent), every key part is a string and no row is lost."""
    planful.emulator.configure(rest_gl_unused_segments=variant)
    config = config_for(planful.url, api_type="structured", **BUDGET_2025)
    records = sync(config, {"gl_data"}).records["gl_data"]
    assert len(records) == planful.emulator.gl_row_count("2025 Budget")
    assert {(r["Segment7"], r["Segment8"]) for r in records} == {("", "")}
    rest_key = GLDataStream.primary_keys
    assert all(isinstance(r[name], str) for r in records for name in rest_key[3:])
