"""tap-planful over the SOAP web service HostAPI_StateFree of the emulator, over real HTTP."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest
from sandbox.core import Fault
from sandbox.planful.soap import HEAD, NAMESPACE, PASSWORD, TAIL
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError
from tap_planful.periods import Period
from tap_planful.soap_streams import SoapGLDataStream
from tap_planful.streams import GLDataStream
from tap_planful.tap import TapPlanful

from .helpers import (
    config_for,
    gl_rows_in,
    soap_config,
    soap_gl_calls,
    sync,
    with_year_checks,
)

SOAP_PATH = r"HostAPI_StateFree\.asmx$"
GL = "GLData_RetrieveWithLogin"


def soap_body(operation: str, result: str) -> str:
    return (
        f'{HEAD}<{operation}Response xmlns="{NAMESPACE}"><{operation}Result>{result}'
        f"</{operation}Result></{operation}Response>{TAIL}"
    )


def soap_fault(status: int, body: str) -> Fault:
    return Fault(status=status, body=body, content_type="text/xml; charset=utf-8", path=SOAP_PATH)


def passthrough(times: int) -> Fault:
    return Fault(path=SOAP_PATH, times=times)


def expected_gl(emulator, scenario: str, year: int, month: int) -> list[dict]:
    """The REST view of a period turned into the SOAP row the tap should write (MTD)."""
    return [
        {
            **{f"Segment{n}": row[f"Segment{n}"] for n in range(1, 9)},
            "Scenario": scenario,
            "Reporting": row["Reporting"],
            "Calculated": "false",
            "AmountType": "MTD",
            "Amount": row["MtdAmount"],
            "FiscalYear": year,
            "FiscalPeriod": month,
            "period_key": year * 100 + month,
        }
        for row in emulator.gl_records(scenario, year, month)
    ]


@pytest.fixture(scope="module")
def full_sync(running):
    running.emulator.reset()
    return sync(soap_config(running.url))


def test_every_soap_stream_matches_the_seeded_tenant(running, full_sync):
    emulator, records = running.emulator, full_sync.records
    counts = {stream: len(rows) for stream, rows in records.items()}
    assert counts == {
        "segments": 8,
        "segment_members": sum(len(s.members) for s in emulator.segments),
        "scenarios": 2,
        "gl_data": emulator.gl_row_count("Actual") + emulator.gl_row_count("2025 Budget"),
        "currencies": len(emulator.currencies),
        "currency_types": 4,
        "users": len(emulator.users),
    }
    assert records["scenarios"] == [
        {"Name": "Actual", "ScenarioType": "Actual", "FiscalYear": None},
        {"Name": "2025 Budget", "ScenarioType": None, "FiscalYear": None},
    ]
    assert {(r["SegmentNumber"], r["Type"]) for r in records["segments"]} == {
        (n, f"Segment{n}") for n in range(1, 9)
    }


def test_gl_rows_keep_every_element_with_numbers_as_numbers(running, full_sync):
    got = [r for r in full_sync.records["gl_data"] if r["period_key"] == 202507]
    got = [r for r in got if r["Scenario"] == "2025 Budget"]
    assert got == expected_gl(running.emulator, "2025 Budget", 2025, 7)
    assert isinstance(got[0]["Amount"], float)


def test_members_of_all_eight_segments_keep_parents_levels_and_attributes(running, full_sync):
    members = full_sync.records["segment_members"]
    for segment in running.emulator.segments:
        got = {r["Code"]: r for r in members if r["SegmentNumber"] == segment.number}
        assert len(got) == len(segment.members)
        for seeded in segment.members:
            parent = seeded.get("ParentMemberCode", seeded.get("ParentCode"))
            record = got[seeded["Code"]]
            assert record["ParentCode"] == parent
            assert record["RollupLevels"] == [
                {"Code": level["Code"], "Name": level["Name"], "Level": level["Level"]}
                for level in seeded["RollupLevels"]
            ]
            assert record["Attributes"] == seeded["Attributes"]
            assert record["Sort"] == seeded["Sort"]
    account = next(r for r in members if (r["SegmentNumber"], r["Code"]) == (1, "4000"))
    assert account["AccountGroup"] == "Income"
    assert (account["CurrencyTypeCode"], account["CreditDebit"]) == ("AVG", "Credit")
    company = next(r for r in members if (r["SegmentNumber"], r["Code"]) == (2, "CA01"))
    assert (company["CurrencyCode"], company["CurrencyName"]) == ("CAD", "Canadian Dollar")


def test_actual_stops_at_the_current_period_and_each_period_is_asked_once(running, full_sync):
    now = Period(*running.emulator.current_period())
    actual = [Period(y, m) for s, y, m, _ in soap_gl_calls(running.emulator) if s == "Actual"]
    assert actual == with_year_checks(Period(2024, 1).through(now))


def test_incremental_run_asks_only_the_lookback_periods(planful):
    emulator = planful.emulator
    config = soap_config(planful.url, gl_lookback_periods=2, end_fiscal_year=2026)
    first = sync(config, {"gl_data"})
    now = Period(*emulator.current_period())
    bookmarks = {
        p["context"]["Scenario"]: p["replication_key_value"]
        for p in first.state["bookmarks"]["gl_data"]["partitions"]
    }
    assert bookmarks == {"Actual": now.key, "2025 Budget": 202512}

    emulator.soap.calls.clear()
    second = sync(config, {"gl_data"}, state=first.state)
    window = {
        "Actual": now.shifted(-2).through(now),
        "2025 Budget": Period(2025, 10).through(Period(2026, 12)),
    }
    assert soap_gl_calls(emulator) == [
        (scenario, p.year, p.month, "MTD")
        for scenario, periods in window.items()
        for p in with_year_checks(periods)
    ]
    expected = gl_rows_in(emulator, window)
    assert len(second.records["gl_data"]) == expected
    assert second.state["bookmarks"]["gl_data"] == first.state["bookmarks"]["gl_data"]


def test_amount_types_are_one_call_each_and_ytd_adds_up(planful):
    config = gap_config(planful.url) | {"gl_amount_types": ["MTD", "YTD"]}
    rows = sync(config, {"gl_data"}).records["gl_data"]
    assert soap_gl_calls(planful.emulator)[:4] == [
        ("2025 Budget", 2025, 1, "MTD"),
        ("2025 Budget", 2025, 1, "YTD"),
        ("2025 Budget", 2025, 2, "MTD"),
        ("2025 Budget", 2025, 2, "YTD"),
    ]
    key = ("Segment1", "Segment2", "Segment3", "Segment4", "Reporting")
    mtd: dict[tuple, float] = {}
    for row in rows:
        if row["AmountType"] == "MTD" and row["FiscalPeriod"] <= 3:
            k = tuple(row[c] for c in key)
            mtd[k] = mtd.get(k, 0.0) + row["Amount"]
    ytd = {
        tuple(r[c] for c in key): r["Amount"]
        for r in rows
        if r["AmountType"] == "YTD" and r["FiscalPeriod"] == 3
    }
    assert ytd.keys() == mtd.keys()
    assert all(abs(ytd[k] - mtd[k]) < 0.005 for k in mtd)


def test_segment_filters_are_sent_and_narrow_the_rows(planful):
    config = gap_config(planful.url) | {
        "gl_segment_filters": [{"segment": 2, "value": "US01"}, {"segment": 1, "value": "6000"}],
        "gl_reporting": "Local",
    }
    rows = sync(config, {"gl_data"}).records["gl_data"]
    assert rows
    assert {(r["Segment1"], r["Segment2"], r["Reporting"]) for r in rows} == {
        ("6000", "US01", "Local")
    }
    (call, *_) = planful.emulator.soap.calls
    assert call.filters["Segment2"] == ("Equals", "US01")
    assert call.filters["Reporting"] == ("Equals", "Local")


# -- no silent gaps ----------------------------------------------------------------------------

EMPTY_GL = soap_body(GL, "")


def gap_config(url: str) -> dict:
    return soap_config(url, scenarios=["2025 Budget"], start_fiscal_year=2025, end_fiscal_year=2025)


def test_an_empty_period_between_periods_with_data_is_asked_again(planful):
    planful.emulator.add_faults([passthrough(2), soap_fault(200, EMPTY_GL)])
    result = sync(gap_config(planful.url), {"gl_data"})
    periods = [p for _, _, p, _ in soap_gl_calls(planful.emulator)]
    assert periods == [1, 2, 4, 3, *range(5, 13), 13]  # 3 again once 4 had data; 13 once
    assert len(result.records["gl_data"]) == planful.emulator.gl_row_count("2025 Budget")
    (partition,) = result.state["bookmarks"]["gl_data"]["partitions"]
    assert partition["replication_key_value"] == 202512


def test_a_period_empty_twice_holds_the_bookmark_before_it(planful, caplog):
    planful.emulator.add_faults(
        [passthrough(2), soap_fault(200, EMPTY_GL), passthrough(1), soap_fault(200, EMPTY_GL)]
    )
    caplog.set_level(logging.WARNING)
    result = sync(gap_config(planful.url), {"gl_data"})
    assert {r["FiscalPeriod"] for r in result.records["gl_data"]} == set(range(1, 13)) - {3}
    (partition,) = result.state["bookmarks"]["gl_data"]["partitions"]
    assert partition["replication_key_value"] == 202502
    (warning,) = [r.getMessage() for r in caplog.records if "no rows twice" in r.getMessage()]
    assert "'2025 Budget' period 202503 answered no rows twice" in warning
    assert warning.startswith("gl_data:")

    planful.emulator.soap.calls.clear()
    sync(gap_config(planful.url) | {"gl_lookback_periods": 0}, {"gl_data"}, state=result.state)
    assert [p for _, _, p, _ in soap_gl_calls(planful.emulator)][:2] == [2, 3]


@pytest.mark.parametrize("empty", ["element", "omitted"])
def test_empty_periods_after_the_last_data_are_not_asked_twice(planful, empty):
    planful.emulator.configure(soap_empty_result=empty)
    config = soap_config(planful.url, scenarios=["2025 Budget"], start_fiscal_year=2025)
    result = sync(config | {"end_fiscal_year": 2026}, {"gl_data"})
    calls = soap_gl_calls(planful.emulator)
    assert len(calls) == len(set(calls)) == 24 + 2  # and period 13 of each year, once
    (partition,) = result.state["bookmarks"]["gl_data"]["partitions"]
    assert partition["replication_key_value"] == 202512


def test_a_503_storm_is_retried_and_nothing_is_lost(planful):
    planful.emulator.add_faults(
        [Fault(status=503, body="Service Unavailable", path=SOAP_PATH, times=2)]
    )
    result = sync(gap_config(planful.url), {"gl_data"})
    assert len(result.records["gl_data"]) == planful.emulator.gl_row_count("2025 Budget")


def test_a_503_storm_longer_than_the_retries_fails_without_moving_the_bookmark(planful):
    planful.emulator.add_faults(
        [passthrough(3), Fault(status=503, body="Unavailable", path=SOAP_PATH, times=3)]
    )
    with pytest.raises(Exception, match="503"):
        sync(gap_config(planful.url), {"gl_data"})


def test_a_503_forever_is_tried_retry_max_tries_times_in_all(planful, caplog):
    planful.emulator.add_faults([Fault(status=503, body="Unavailable", path=SOAP_PATH, times=50)])
    config = soap_config(planful.url, retry_max_tries=4, retry_initial_wait=0)
    with caplog.at_level(logging.WARNING), pytest.raises(Exception, match="503"):
        sync(config, {"currencies"})
    assert len(planful.emulator.requests(path=SOAP_PATH)) == 4
    retries = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Retrying")]
    assert retries == [
        f"Retrying getALLCurrenciesWithLogin in 0.0 s after HTTP 503 (try {n} of 4 failed)"
        for n in (1, 2, 3)
    ]


def test_a_dropped_answer_and_the_503s_after_it_share_one_budget(large_periods):
    planful = large_periods
    planful.emulator.add_faults(
        [
            Fault(path=SOAP_PATH, cut_after=100_000),
            Fault(status=503, body="Unavailable", path=SOAP_PATH, times=50),
        ]
    )
    config = {**gap_config(planful.url), "retry_max_tries": 3, "retry_initial_wait": 0}
    with pytest.raises(Exception, match="503"):
        sync(config, {"gl_data"})
    assert len(planful.emulator.requests(path=SOAP_PATH)) == 3


def gl_keys(records: list[dict]) -> list[tuple]:
    return [
        (r["Scenario"], r["period_key"], r["AmountType"], *(r[f"Segment{n}"] for n in range(1, 9)))
        for r in records
    ]


@pytest.fixture
def large_periods(planful):
    """600 GL rows a period: an answer of several of the tap's 64 KiB reads, so a cut at
    100,000 bytes falls after rows were handed over."""
    planful.emulator.reseed({"gl_rows_per_period": 600})
    yield planful
    planful.emulator.reseed({})


def test_an_answer_cut_mid_way_is_asked_again_and_read_on_once(large_periods, caplog):
    planful = large_periods
    """The connection drops twice inside GL answers: every row once, in the order served."""
    planful.emulator.add_faults(
        [
            Fault(path=SOAP_PATH, cut_after=100_000),  # the first period, rows in
            passthrough(3),
            Fault(path=SOAP_PATH, cut_after=150_000),
        ]
    )
    config = {**gap_config(planful.url), "retry_initial_wait": 0, "retry_max_wait": 0}
    with caplog.at_level(logging.WARNING):
        result = sync(config, {"gl_data"})
    expected = [
        row
        for month in range(1, 13)
        for row in expected_gl(planful.emulator, "2025 Budget", 2025, month)
    ]
    records = [{k: r[k] for k in expected[0]} for r in result.records["gl_data"]]
    assert gl_keys(records) == gl_keys(expected)  # none lost, none twice
    assert records == expected
    periods = [p for _, _, p, _ in soap_gl_calls(planful.emulator)]
    assert periods == [1, 1, 2, 3, 4, 4, *range(5, 13), 13]
    dropped = [r.getMessage() for r in caplog.records if "connection dropped" in r.getMessage()]
    assert len(dropped) == 2, dropped
    assert all(line.startswith(f"Retrying {GL} from item ") for line in dropped)
    assert all(line.endswith("(try 1 of 3 failed)") for line in dropped)
    assert "after 0 items" not in " ".join(dropped)  # cut after rows were handed over


def test_an_answer_cut_more_often_than_the_retries_fails_naming_the_setting(planful):
    planful.emulator.add_faults([Fault(path=SOAP_PATH, cut_after=100, times=2)])
    config = {**gap_config(planful.url), "retry_max_tries": 2, "retry_initial_wait": 0}
    with pytest.raises(FatalAPIError, match=r"dropped 2 times while GLData_RetrieveWithLogin") as e:
        sync(config, {"gl_data"})
    assert "`retry_max_tries`" in str(e.value)


@pytest.mark.parametrize("second", ["shorter", "other rows"])
def test_an_answer_that_changed_when_asked_again_fails_instead_of_skipping(large_periods, second):
    """Reading on past the rows already written is only right for the same answer."""
    planful = large_periods
    rows = expected_gl(planful.emulator, "2025 Budget", 2025, 1)
    assert len(rows) == 600
    if second == "shorter":
        other = soap_fault(200, soap_body(GL, ""))
    else:
        body = "".join(
            f"<GLData><Segment1>X{n}</Segment1><Amount>1</Amount></GLData>"
            for n in range(len(rows))
        )
        other = soap_fault(200, soap_body(GL, body))
    planful.emulator.add_faults([Fault(path=SOAP_PATH, cut_after=100_000), other])
    config = {**gap_config(planful.url), "retry_initial_wait": 0}
    with pytest.raises(FatalAPIError, match="answered differently when asked again"):
        sync(config, {"gl_data"})


# -- faults, hosts, parsing ----------------------------------------------------------------------


def test_bad_credentials_are_a_clear_login_error(planful):
    with pytest.raises(FatalAPIError) as caught:
        sync(soap_config(planful.url, password="wrong-password"), {"currencies"})
    message = str(caught.value)
    assert message.startswith("Planful refused the web-service login for getALLCurrencies")
    assert "Check `login_name`, `password` and `tenant_code`" in message


def test_a_fault_echoing_the_credentials_is_scrubbed(planful):
    planful.emulator.configure(soap_fault_echoes_credentials=True)
    config = soap_config(planful.url, login_name="someone@example.com", password="s3cr3t-pw")
    with pytest.raises(FatalAPIError) as caught:
        sync(config, {"currencies"})
    assert "s3cr3t-pw" not in str(caught.value)
    assert "someone@example.com" not in str(caught.value)
    assert "***" in str(caught.value)


def test_a_missing_mandatory_filter_names_the_operation_and_the_fault(planful):
    body = (
        f"{HEAD}<soap:Fault><faultcode>soap:Server</faultcode><faultstring>Server was unable "
        "to process request. ---&gt; FiscalYear filter is mandatory.</faultstring>"
        f"<detail /></soap:Fault>{TAIL}"
    )
    planful.emulator.add_faults([soap_fault(500, body)])
    with pytest.raises(FatalAPIError, match=f"Planful answered {GL} with a SOAP fault: .*"):
        sync(gap_config(planful.url), {"gl_data"})


def test_a_wrong_host_is_told_apart_from_bad_credentials(planful):
    config = soap_config(planful.url, soap_url=planful.url + "/HostAPI/Nothing.asmx")
    with pytest.raises(FatalAPIError) as caught:
        sync(config, {"currencies"})
    message = str(caught.value)
    assert message.startswith("No Planful SOAP web service answered getALLCurrenciesWithLogin")
    assert "(HTTP 401, application/json)" in message  # the REST side of the host answered
    assert "check `soap_url`" in message


def test_a_dtd_in_an_answer_is_refused_before_parsing(planful):
    evil = (
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY boom "expanded">]>'
        + soap_body("getALLCurrenciesWithLogin", "<Currency><Code>&boom;</Code></Currency>")[
            len('<?xml version="1.0" encoding="utf-8"?>') :
        ]
    )
    planful.emulator.add_faults([soap_fault(200, evil)])
    with pytest.raises(FatalAPIError, match="declares a DTD or entities"):
        sync(soap_config(planful.url), {"currencies"})


def test_an_answer_of_another_operation_is_refused(planful):
    other = soap_body("getAllCurrencyTypesWithLogin", "<Currency><Code>X</Code></Currency>")
    planful.emulator.add_faults([soap_fault(200, other)])
    with pytest.raises(FatalAPIError, match="item outside <getALLCurrenciesWithLoginResult>"):
        sync(soap_config(planful.url), {"currencies"})


def test_undeclared_elements_are_named_once_and_left_out(planful, caplog):
    planful.emulator.configure(soap_gl_extra=True, soap_member_id=True)
    caplog.set_level(logging.WARNING)
    result = sync(gap_config(planful.url), {"gl_data", "segment_members"})
    assert all("LastModified" not in row for row in result.records["gl_data"])
    warnings = [r.getMessage() for r in caplog.records if "LastModified" in r.getMessage()]
    assert len(warnings) == 1
    members = result.records["segment_members"]
    assert {m["MemberId"] for m in members if m["SegmentNumber"] == 3} == {
        m["MemberId"] for m in planful.emulator.segment(3).members
    }


def run_cli(config: dict, tmp_path, *flags: str) -> subprocess.CompletedProcess:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return subprocess.run(
        [sys.executable, "-m", "tap_planful", "--config", str(path), *flags],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_bad_credentials_one_line_exit_1(planful, tmp_path):
    planful.emulator.configure(soap_fault_echoes_credentials=True)
    done = run_cli(soap_config(planful.url, password="not-the-" + PASSWORD), tmp_path)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "not-the-" not in done.stderr + done.stdout
    errors = [line for line in done.stderr.splitlines() if "refused the web-service login" in line]
    assert len(errors) == 1


@pytest.mark.parametrize("flags", [(), ("--test",)])
def test_cli_wrong_host_one_line_exit_1(planful, tmp_path, flags):
    config = soap_config(planful.url, soap_url=planful.url + "/nowhere.asmx")
    done = run_cli(config, tmp_path, *flags)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert sum("No Planful SOAP web service answered" in ln for ln in done.stderr.splitlines())


# -- choosing the API --------------------------------------------------------------------------


def test_auto_takes_soap_when_its_credentials_are_set(planful):
    soap = TapPlanful(config=soap_config(planful.url), parse_env_config=False)
    assert isinstance(soap.streams["gl_data"], SoapGLDataStream)
    assert "currency_types" in soap.streams
    assert "data_load_rules" not in soap.streams
    both = TapPlanful(
        config=soap_config(planful.url) | config_for(planful.url, api_type="structured"),
        parse_env_config=False,
    )
    assert isinstance(both.streams["gl_data"], SoapGLDataStream)
    assert "data_load_rules" in both.streams  # documented REST, with its own credentials
    rest = TapPlanful(
        config=soap_config(planful.url)
        | config_for(planful.url, api_type="structured", structured_api="rest"),
        parse_env_config=False,
    )
    assert type(rest.streams["gl_data"]) is GLDataStream
    plain = TapPlanful(config=config_for(planful.url), parse_env_config=False)
    assert type(plain.streams["gl_data"]) is GLDataStream


def test_soap_needs_its_settings_named():
    with pytest.raises(ConfigValidationError) as caught:
        TapPlanful(
            config={"structured_api": "soap", "subdomain": "na04", "login_name": "u"},
            parse_env_config=False,
        )
    assert sorted(caught.value.errors) == [
        "`password` is required for the Structured Planning web service (SOAP)",
        "`scenarios` is required with SOAP: the web service has no operation that lists "
        'scenarios (name each one, e.g. ["Actual", "2025 Budget"])',
        "`tenant_code` is required for the Structured Planning web service (SOAP)",
    ]


def test_a_plan_year_limits_the_calls_to_that_year(planful):
    config = soap_config(
        planful.url,
        scenarios=["2025 Budget"],
        scenario_fiscal_years={"2025 Budget": 2025},
        end_fiscal_year=2027,
    )
    result = sync(config, {"gl_data", "scenarios"})
    assert {(y, p) for _, y, p, _ in soap_gl_calls(planful.emulator)} == {
        (2025, p) for p in range(1, 14)
    }
    assert result.records["scenarios"] == [
        {"Name": "2025 Budget", "ScenarioType": None, "FiscalYear": 2025}
    ]


def test_plan_years_of_unnamed_scenarios_are_refused(planful):
    config = soap_config(planful.url, scenario_fiscal_years={"2030 Budget": 2030})
    with pytest.raises(ConfigValidationError) as caught:
        TapPlanful(config=config, parse_env_config=False)
    assert caught.value.errors == [
        "`scenario_fiscal_years` names scenarios not in `scenarios`: ['2030 Budget']"
    ]


def test_an_unknown_scenario_fails_with_the_fault_text(planful):
    with pytest.raises(FatalAPIError, match=r"with a SOAP fault: .*Scenario 'Nope' does not exist"):
        sync(soap_config(planful.url, scenarios=["Nope"]), {"gl_data"})


def test_a_fiscal_year_that_is_no_number_names_the_element_and_the_call(planful):
    row = (
        "<GLData><Segment1>6000</Segment1><Scenario>2025 Budget</Scenario><Amount>1.50</Amount>"
        "<AmountType>MTD</AmountType><FiscalYear>FY25</FiscalYear><FiscalPeriod>1</FiscalPeriod>"
        "</GLData>"
    )
    planful.emulator.add_faults([soap_fault(200, soap_body(GL, row))])
    with pytest.raises(FatalAPIError) as caught:
        sync(gap_config(planful.url), {"gl_data"})
    assert str(caught.value) == (
        "GLData_RetrieveWithLogin ('2025 Budget', period 202501): <FiscalYear> is 'FY25', "
        "not a whole number"
    )


def test_members_are_asked_by_active_status_when_no_filter_answers_none(planful):
    planful.emulator.configure(soap_segment_filter_required=True)
    members = sync(soap_config(planful.url, segments=[3]), {"segment_members"}).records
    assert {m["Code"] for m in members["segment_members"]} == {
        m["Code"] for m in planful.emulator.segment(3).members
    }
    assert [call.filters for call in planful.emulator.soap.calls] == [
        {},
        {"ActiveStatus": ("Equals", "Active")},
        {"ActiveStatus": ("Equals", "Inactive")},
    ]


def test_xml_that_answers_no_operation_is_not_taken_for_no_rows(planful):
    planful.emulator.add_faults([soap_fault(200, "<Error><Message>Moved.</Message></Error>")])
    with pytest.raises(FatalAPIError) as caught:
        sync(soap_config(planful.url), {"currencies"})
    assert str(caught.value) == (
        "The answer of getALLCurrenciesWithLogin (SOAP) has no <getALLCurrenciesWithLoginResponse>"
        " in a SOAP body; it was: <Error><Message>Moved.</Message></Error>"
    )
