"""The fast path (`tap_planful.fast_path`) against singer-sdk's own record path
(`fast_paths: false`): every stream of every API, the same RECORD and STATE lines in the same
order. Only `time_extracted` may differ (the answer's time against each row's write time)."""

from __future__ import annotations

import json

import pytest
from planful_plansource_planhat_core.writer import RecordBufferingWriter
from tap_planful.tap import TapPlanful

from .helpers import config_for, soap_config, sync_lines

CONFIGS = {
    "rest, both families": config_for,
    "soap": soap_config,
}


def messages(lines: list[bytes]) -> list[dict]:
    """The Singer messages, without `time_extracted`."""
    out = []
    for line in lines:
        message = json.loads(line)
        message.pop("time_extracted", None)
        out.append(message)
    return out


@pytest.mark.parametrize("api", CONFIGS)
def test_both_paths_write_the_same_records_and_state(planful, api, monkeypatch):
    written = {"rows": 0}
    write_record = RecordBufferingWriter.write_record

    def counted(self, *args, **kwargs):
        written["rows"] += 1
        return write_record(self, *args, **kwargs)

    monkeypatch.setattr(RecordBufferingWriter, "write_record", counted)
    config = CONFIGS[api](planful.url)

    fast = messages(sync_lines({**config, "fast_paths": True}))
    fast_rows = written["rows"]
    planful.emulator.reset()
    written["rows"] = 0
    sdk = messages(sync_lines({**config, "fast_paths": False}))

    assert fast_rows > 0  # GL rows took the fast path ...
    assert written["rows"] == 0  # ... and none with `fast_paths: false`
    every_stream = set(TapPlanful(config=config, parse_env_config=False).streams)
    assert {m["stream"] for m in fast if m["type"] == "RECORD"} == every_stream
    assert sdk == fast
