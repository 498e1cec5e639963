"""tap-planful against the Planful emulator over real HTTP: records, state, errors, retries."""

from __future__ import annotations

import logging

import pytest
from sandbox.core import Fault
from sandbox.planful.app import ACCESS_ID, ACCESS_KEY, ACCESS_TOKEN
from sandbox.testing import start
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from tap_planful.periods import Period

from .helpers import config_for, gl_requests, gl_rows_in, sync, with_year_checks

STRUCTURED = {"data_load_rules", "segments", "segment_members", "scenarios", "currencies", "users"}


@pytest.fixture(scope="module")
def full_sync(running):
    running.emulator.reset()
    return sync(config_for(running.url))


def current_period(emulator) -> Period:
    return Period(*emulator.current_period())


def test_every_stream_matches_the_seeded_tenant(running, full_sync):
    emulator, records = running.emulator, full_sync.records
    seeded = emulator.state()
    counts = {stream: len(rows) for stream, rows in records.items()}
    assert counts == {
        "data_load_rules": seeded["data_load_rules"],
        "segments": 8,
        "segment_members": sum(seeded["segment_members"].values()),
        "scenarios": seeded["scenarios"],
        "gl_data": emulator.gl_row_count(),
        "currencies": seeded["currencies"],
        "users": seeded["users"],
        "dp_users": seeded["dp_users"],
        "dp_groups": seeded["dp_groups"],
        "dp_dimension_members": sum(
            sum(model["dimensions"].values()) for model in seeded["dp_models"].values()
        ),
        "dp_model_data": counts["dp_model_data"],  # checked against the model below
        "dp_esm_data": seeded["dp_source_models"]["salestxn"],
        "dp_calc_status": 1,
    }
    assert counts["gl_data"] > 7000


def test_gl_rows_keep_their_values_and_get_a_period_key(running, full_sync):
    expected = running.emulator.gl_records("2025 Budget", 2025, 7)
    got = [
        r
        for r in full_sync.records["gl_data"]
        if (r["Scenario"], r["period_key"]) == ("2025 Budget", 202507)
    ]
    assert got == [{**row, "period_key": 202507} for row in expected]
    assert isinstance(got[0]["MtdAmount"], float)
    assert isinstance(got[0]["FiscalYear"], int)


def test_actual_never_asks_beyond_the_current_period(running, full_sync):
    now = current_period(running.emulator)
    actual = [Period(y, m) for s, y, m in gl_requests(running.emulator) if s == "Actual"]
    assert actual == with_year_checks(Period(2024, 1).through(now))


def test_segment_members_keep_rollup_levels_and_attributes(running, full_sync):
    seeded = next(m for m in running.emulator.segment(1).members if m["Code"] == "6000")
    got = next(
        r
        for r in full_sync.records["segment_members"]
        if (r["SegmentNumber"], r["Code"]) == (1, "6000")
    )
    assert got == {**seeded, "SegmentNumber": 1}
    assert [level["Code"] for level in got["RollupLevels"]] == ["TOTAL", "IS", "OPEX", "PERS"]
    assert {"Name": "Cash Flow Category", "Value": "Operating"} in got["Attributes"]
    company = next(r for r in full_sync.records["segment_members"] if r["Code"] == "UK01")
    assert (company["SegmentNumber"], company["CurrencyCode"], company["ParentCode"]) == (
        2,
        "GBP",
        "EMEA",
    )


def test_model_data_rows_become_records_keyed_by_members(running, full_sync):
    model = running.emulator.dynamic_planning.model("Revenue")
    expected = model.export_data(
        [{"dimension": "Scenario", "filterType": "Member", "filterValues": ["Budget"]}],
        member_display="Code",
        suppress_zeroes=True,
        operation="AND",
    )
    rows = [r for r in full_sync.records["dp_model_data"] if r["model"] == "Revenue"]
    assert len(rows) == len(expected["rows"])
    first = dict(zip(expected["columns"], expected["rows"][0], strict=True))
    value = first.pop("Value")
    match = [r for r in rows if r["members"] == {k: str(v) for k, v in first.items()}]
    assert len(match) == 1
    assert match[0]["value"] == value
    assert {r["members"]["Scenario"] for r in rows} == {"Budget"}
    assert len({r["_row_key"] for r in full_sync.records["dp_model_data"]}) == len(
        full_sync.records["dp_model_data"]
    )


def test_dimension_members_source_rows_and_calculations(full_sync):
    members = full_sync.records["dp_dimension_members"]
    root = next(
        m
        for m in members
        if (m["model"], m["dimension"], m["code"]) == ("Opex", "Account", "Account")
    )
    assert root["parent"] is None
    assert all(m["parent"] for m in members if m["code"] != m["dimension"])
    esm = full_sync.records["dp_esm_data"]
    assert esm[0]["fields"]["txn_id"] == "T100000"
    assert len({r["_row_key"] for r in esm}) == len(esm)
    (calc,) = full_sync.records["dp_calc_status"]
    assert (calc["model"], calc["calcscript"], calc["run_in_background"]) == (
        "Opex",
        "RollupActuals",
        True,
    )
    assert calc["last_run_time"].endswith("Z")


def test_rerun_reads_only_the_lookback_window(planful):
    emulator = planful.emulator
    config = config_for(
        planful.url,
        scenarios=["Actual", "2026 Budget"],
        gl_lookback_periods=2,
        end_fiscal_year=2026,
    )
    first = sync(config, {"gl_data"})
    now = current_period(emulator)
    bookmarks = {
        p["context"]["Scenario"]: p["replication_key_value"]
        for p in first.state["bookmarks"]["gl_data"]["partitions"]
    }
    assert bookmarks == {"Actual": now.key, "2026 Budget": 202612}

    emulator.request_log.clear()
    second = sync(config, {"gl_data"}, state=first.state)
    window = {
        "Actual": now.shifted(-2).through(now),
        "2026 Budget": Period(2026, 10).through(Period(2026, 12)),
    }
    assert gl_requests(emulator) == [
        (scenario, p.year, p.month) for scenario, periods in window.items() for p in periods
    ]
    expected = gl_rows_in(emulator, window)
    assert len(second.records["gl_data"]) == expected
    assert second.state["bookmarks"]["gl_data"] == first.state["bookmarks"]["gl_data"]


def test_state_resumes_per_scenario(planful):
    state = {
        "bookmarks": {
            "gl_data": {
                "partitions": [
                    {
                        "context": {"Scenario": "Actual"},
                        "replication_key": "period_key",
                        "replication_key_value": 202503,
                    },
                    {
                        "context": {"Scenario": "2026 Budget"},
                        "replication_key": "period_key",
                        "replication_key_value": 202611,
                    },
                ]
            }
        }
    }
    config = config_for(
        planful.url,
        scenarios=["Actual", "2026 Budget", "2025 Budget"],
        gl_lookback_periods=0,
        start_fiscal_year=2025,
        end_fiscal_year=2026,
    )
    sync(config, {"gl_data"}, state=state)
    requested: dict[str, list[int]] = {}
    for scenario, year, month in gl_requests(planful.emulator):
        requested.setdefault(scenario, []).append(year * 100 + month)
    now = current_period(planful.emulator)
    assert requested == {
        "Actual": [p.key for p in with_year_checks(Period(2025, 3).through(now))],
        "2026 Budget": [202611, 202612],
        "2025 Budget": [p.key for p in with_year_checks(Period(2025, 1).through(Period(2026, 12)))],
    }
    assert not planful.emulator.requests(path=r"/scenarios$")


def test_unknown_scenario_fails_with_the_servers_message(planful):
    with pytest.raises(FatalAPIError, match="Scenario 'Nope' does not exist"):
        sync(config_for(planful.url, scenarios=["Nope"]), {"gl_data"})
    assert not planful.emulator.requests(path=r"/scenarios$")


def test_path_overrides_follow_moved_endpoints():
    moved = start("planful", settings={"path_prefix": "/export/v2", "serve_default_paths": False})
    try:
        defaults = config_for(moved.url, api_type="structured")
        with pytest.raises(FatalAPIError, match=r"404 .*check `path_overrides\.\w+`"):
            sync(defaults, {"currencies"})
        moved.emulator.request_log.clear()
        overrides = {
            "data_load_rules": "/export/v2/rules",
            "segments": "/export/v2/segments",
            "segment_members": "/export/v2/segments/{SegmentNumber}/members",
            "scenarios": "/export/v2/scenarios",
            "gl_data": "/export/v2/gldata",
            "currencies": "/export/v2/currencies",
            "users": "/export/v2/users",
        }
        result = sync({**defaults, "path_overrides": overrides, "scenarios": ["2025 Budget"]})
        assert len(result.records["segment_members"]) == 178
        assert len(result.records["gl_data"]) == len(moved.emulator.gl_records("2025 Budget", 2025))
        assert {e["path"].split("/")[1] for e in moved.emulator.requests()} == {"export"}
    finally:
        moved.stop()


def test_paged_lists_are_read_to_the_end(planful):
    planful.emulator.configure(paging=True, page_size=7)
    result = sync(config_for(planful.url, api_type="structured"), {"users", "segment_members"})
    assert len(result.records["users"]) == 40
    assert len({u["UserLogin"] for u in result.records["users"]}) == 40
    assert len(result.records["segment_members"]) == 178
    starts = [
        e["query"].get("startIndex", ["0"])[0] for e in planful.emulator.requests(path=r"/users$")
    ]
    assert starts == ["0", "7", "14", "21", "28", "35"]


@pytest.mark.parametrize(
    ("family", "credential", "hint"),
    [
        ("structured", {"access_key": "wrong-key-123"}, "check `access_id` and `access_key`"),
        ("dynamic", {"access_token": "wrong-token-123"}, "check `access_token`"),
    ],
)
def test_wrong_credentials_fail_at_once_with_the_setting_to_check(
    planful, caplog, family, credential, hint
):
    config = config_for(planful.url, api_type=family, **credential)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(FatalAPIError) as caught:
        sync(config)
    message = str(caught.value)
    assert "401" in message
    assert hint in message
    assert len(planful.emulator.requests()) == 1  # no retry
    for secret in (*credential.values(), ACCESS_ID, ACCESS_KEY, ACCESS_TOKEN):
        assert secret not in message
        assert secret not in caplog.text


def test_forbidden_and_unknown_model_are_not_retried(planful):
    planful.emulator.add_faults(
        [Fault(status=403, path=r"/currencies$", body={"Message": "Denied."})]
    )
    with pytest.raises(FatalAPIError, match=r"403 .*Denied\..*not allowed to read this"):
        sync(config_for(planful.url), {"currencies"})
    assert len(planful.emulator.requests(path=r"/currencies$")) == 1
    config = config_for(planful.url, models=[{"model": "Capex", "dimensions": ["Account"]}])
    with pytest.raises(FatalAPIError, match=r"404 .*check `models`"):
        sync(config, {"dp_model_data"})
    assert len(planful.emulator.requests(path=r"/data/export$")) == 1


def test_503_then_success(planful):
    planful.emulator.add_faults(
        [
            Fault(status=503, path=r"/users$", times=2, headers={"Retry-After": "0"}, body="busy"),
            Fault(drop=True, path=r"/currencies$"),
            Fault(status=429, path=r"/getRaw$", headers={"Retry-After": "1"}),
        ]
    )
    result = sync(config_for(planful.url), {"users", "currencies", "dp_groups"})
    assert len(result.records["users"]) == 40
    assert len(result.records["currencies"]) == 10
    assert len(result.records["dp_groups"]) == 6
    assert [e["status"] for e in planful.emulator.requests(path=r"/users$")] == [503, 503, 200]
    assert [e["status"] for e in planful.emulator.requests(path=r"/currencies$")] == [0, 200]
    throttled, retried = planful.emulator.requests(path=r"/getRaw$")
    assert retried["time"] - throttled["time"] >= 0.95  # Retry-After honoured


def test_retries_are_bounded(planful):
    planful.emulator.configure(maintenance=True)
    with pytest.raises(RetriableAPIError, match="answered 503 to GET"):
        sync(config_for(planful.url), {"currencies"})
    assert len(planful.emulator.requests()) == 3


EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE export-data-response [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<export-data-response><model-name>salestxn</model-name><delimiter>,</delimiter>
<header>a</header><rows><row>&secret;</row></rows></export-data-response>"""
ENTITY_BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<calcscript-status><model-name>&lol2;</model-name></calcscript-status>"""


@pytest.mark.parametrize(
    ("stream", "path", "body"),
    [
        ("dp_esm_data", r"/sourcemodel/data/export$", EXTERNAL_ENTITY),
        ("dp_calc_status", r"/calcscript/status$", ENTITY_BOMB),
    ],
)
def test_xml_with_entities_is_refused(planful, stream, path, body):
    planful.emulator.add_faults(
        [Fault(status=200, path=path, body=body, content_type="application/xml")]
    )
    with pytest.raises(
        FatalAPIError, match=r"Refused the XML response .* declares a DTD or entities"
    ):
        sync(config_for(planful.url), {stream})
