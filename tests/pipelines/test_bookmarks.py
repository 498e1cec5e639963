"""Stream maps keep what the SCHEMA promises: every bookmark property a mapped stream names is a
property of its schema and a field of its records (tap-customers' file bookmark)."""

from __future__ import annotations

import json

import pytest


@pytest.mark.parametrize("extractor", ["tap-customers", "tap-planful-sales"])
def test_bookmark_properties_exist_after_the_stream_maps(meltano_project, extractor):
    output = meltano_project.run("--environment=sandbox", "invoke", extractor).stdout
    messages = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    schemas = {m["stream"]: m for m in messages if m["type"] == "SCHEMA"}
    assert schemas
    for stream, schema in schemas.items():
        for bookmark in schema.get("bookmark_properties") or []:
            assert bookmark in schema["schema"]["properties"], (stream, bookmark)
            records = [
                m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == stream
            ]
            assert records
            assert all(bookmark in record for record in records), (stream, bookmark)
