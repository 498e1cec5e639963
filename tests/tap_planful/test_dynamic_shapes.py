"""Dynamic Planning answers whose shape the contract only guesses: every plausible variant the
emulator serves gives the same records, and any other shape is one message naming what was
missing and showing what arrived."""

from __future__ import annotations

import pytest
from sandbox.core import Fault
from singer_sdk.exceptions import FatalAPIError

from .helpers import config_for, sync

DP_STREAMS = {"dp_dimension_members", "dp_model_data", "dp_esm_data"}


def dp_records(planful, **shapes) -> dict[str, list[dict]]:
    planful.emulator.configure(**shapes)
    return dict(sync(config_for(planful.url, api_type="dynamic"), DP_STREAMS).records)


@pytest.mark.parametrize(
    "shapes",
    [
        {"dp_dimension_shape": "array"},
        {"dp_data_shape": "records"},
        {"dp_esm_shape": "data"},
    ],
)
def test_every_variant_gives_the_same_records(planful, shapes):
    expected = dp_records(planful)
    assert all(expected.get(stream) for stream in DP_STREAMS)
    assert dp_records(planful, **shapes) == expected


@pytest.mark.parametrize(
    ("stream", "path", "body", "missing"),
    [
        ("dp_dimension_members", r"dimension/export$", {"items": []}, "no `members` list"),
        ("dp_dimension_members", r"dimension/export$", [{"label": "x"}], "no `code` in a member"),
        ("dp_model_data", r"data/export$", {"cols": ["A"], "data": [["x" * 500]]}, "`columns`"),
        ("dp_model_data", r"data/export$", [{"Account": "6000"}], "no `value` in a row"),
    ],
)
def test_an_unknown_shape_names_what_is_missing_and_what_arrived(
    planful, stream, path, body, missing
):
    planful.emulator.add_faults([Fault(status=200, body=body, path=path)])
    with pytest.raises(FatalAPIError) as caught:
        sync(config_for(planful.url, api_type="dynamic"), {stream})
    message = str(caught.value)
    assert missing in message
    assert "(model 'Opex')" in message
    arrived = message.split("; it was: ", 1)[1]
    assert len(arrived) <= 203


def test_an_esm_answer_without_rows_names_what_is_missing(planful):
    body = "<export-data-response><model-name>salestxn</model-name><lines/></export-data-response>"
    planful.emulator.add_faults(
        [Fault(status=200, body=body, content_type="application/xml", path=r"sourcemodel")]
    )
    with pytest.raises(FatalAPIError, match=r"no <header> and <rows> \(nor <data>\); it was: <"):
        sync(config_for(planful.url, api_type="dynamic"), {"dp_esm_data"})
