"""The Planful emulator over real HTTP: both auth schemes, every endpoint's shape, GL rules,
paging, formats, the alternative prefix, and the seed's determinism and scale."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest
import requests
from sandbox.planful.app import ACCESS_ID, ACCESS_KEY, ACCESS_TOKEN, PlanfulEmulator
from sandbox.planful.soap import DEFAULT_SOAP_PATH, LOGIN_NAME, PASSWORD, TENANT_CODE
from sandbox.testing import SandboxClient, start

SP = "/financemodel/data"
AUTH = (ACCESS_ID, ACCESS_KEY)
TOKEN = {"X-ACCESS-TOKEN": ACCESS_TOKEN}
GL_KEY = ["Scenario", "FiscalYear", "FiscalMonth", "Reporting"] + [
    f"Segment{n}" for n in range(1, 9)
]


@pytest.fixture(scope="module")
def shared_server():
    running = start("planful")
    yield running
    running.stop()


@pytest.fixture
def server(shared_server):
    """The module's emulator, reset (settings, store, log, faults, clock) after each test."""
    yield shared_server
    SandboxClient(shared_server.url).reset()


@pytest.fixture
def emulator(server) -> PlanfulEmulator:
    return server.emulator


def get(server, path, **kwargs):
    kwargs.setdefault("auth", AUTH)
    return requests.get(f"{server.url}{path}", timeout=30, **kwargs)


def post_dp(server, path, *, json=None, data=None, headers=None):
    return requests.post(
        f"{server.url}/api{path}",
        json=json,
        data=data,
        headers={**TOKEN, **(headers or {})},
        timeout=30,
    )


def calc_payload(model="Opex", calc="AllocateOverhead"):
    return (
        "<run-calcscript-payload><model-name>"
        f"{model}</model-name><calcscript-name>{calc}</calcscript-name></run-calcscript-payload>"
    )


# -- Structured Planning auth ------------------------------------------------------------------


def test_basic_auth_accepts_the_key_pair_and_refuses_anything_else(server):
    assert get(server, f"{SP}/rules").status_code == 200
    for auth in [None, ("wrong", ACCESS_KEY), (ACCESS_ID, "wrong")]:
        response = get(server, f"{SP}/rules", auth=auth)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == 'Basic realm="Planful"'
        assert response.json() == {
            "Success": False,
            "Message": "Authorization has been denied for this request.",
        }
    bearer = get(
        server, f"{SP}/rules", auth=None, headers={"Authorization": f"Bearer {ACCESS_KEY}"}
    )
    assert bearer.status_code == 401
    assert (
        get(
            server, f"{SP}/rules", auth=None, headers={"Authorization": "Basic !!notbase64"}
        ).status_code
        == 401
    )


def test_unknown_structured_path_and_wrong_method(server):
    response = get(server, f"{SP}/ledger")
    assert response.status_code == 404
    assert response.json() == {
        "Message": f"No HTTP resource was found that matches the request URI '{SP}/ledger'."
    }
    wrong_method = requests.post(f"{server.url}{SP}/segments", auth=AUTH, timeout=5)
    assert wrong_method.status_code == 405


# -- Structured Planning endpoints ---------------------------------------------------------------


def test_data_load_rules_and_their_filters(server):
    rules = get(server, f"{SP}/rules").json()
    assert {"DataLoadRuleId": 600003, "Name": "Account", "LoadItem": "Segment Hierarchies"} in rules
    assert all(set(rule) == {"DataLoadRuleId", "Name", "LoadItem"} for rule in rules)
    gl = get(server, f"{SP}/rules/gl").json()
    transactions = get(server, f"{SP}/rules/transactions").json()
    assert {r["LoadItem"] for r in gl} == {"GL Data"}
    assert {r["LoadItem"] for r in transactions} == {"Transactions", "Transactions V2"}
    assert all(rule in rules for rule in gl + transactions)


def test_transfer_file_through_a_data_load_rule(server, emulator):
    url = f"{server.url}{SP}/transferfile"
    csv = b"Account,Company,Amount\n6000,US01,100.5\n6010,US01,20\n"
    response = requests.post(
        url,
        params={"DataLoadRuleName": "GL Actuals Monthly", "ColumnDelimiter": ","},
        files={"file": ("gl.csv", csv, "text/csv")},
        auth=AUTH,
        timeout=5,
    )
    assert response.status_code == 200
    assert response.json() == {
        "DataLoadRuleId": 600010,
        "ExcecutionId": "600010-000001",
        "RunAsynchronously": False,
        "Attempts": 1,
        "TransferResponse": {"Success": True, "Message": "2 rows loaded."},
    }
    assert emulator.state()["transfers"] == 1
    unknown = requests.post(
        url, params={"DataLoadRuleName": "Nope"}, files={"file": csv}, auth=AUTH, timeout=5
    )
    assert unknown.status_code == 400
    no_file = requests.post(
        url, params={"DataLoadRuleName": "GL Actuals Monthly"}, auth=AUTH, timeout=5
    )
    assert no_file.status_code == 400
    too_big = requests.post(
        url,
        params={"DataLoadRuleName": "GL Actuals Monthly"},
        files={"file": b"x" * (1024 * 1024 + 1)},
        auth=AUTH,
        timeout=5,
    )
    assert too_big.status_code == 413


def test_segments_are_eight_slots_with_deep_hierarchies(server, emulator):
    segments = get(server, f"{SP}/segments").json()
    assert [s["SegmentNumber"] for s in segments] == list(range(1, 9))
    assert segments[0] == {
        "SegmentNumber": 1,
        "Name": "Account",
        "DisplayName": "Account",
        "Type": "Account",
        "Visibility": "Visible",
        "ActiveStatus": "Active",
    }
    for segment in segments:
        members = get(server, f"{SP}/segments/{segment['SegmentNumber']}/members").json()
        assert members == emulator.segment(segment["SegmentNumber"]).members
        assert max(len(m["RollupLevels"]) for m in members) >= 2
        ids = {m["MemberId"] for m in members}
        assert len(ids) == len(members)
        parent_key = "ParentMemberId" if segment["Name"] == "Account" else "ParentId"
        roots = [m for m in members if m[parent_key] is None]
        assert len(roots) == 1
        assert all(m[parent_key] in ids for m in members if m[parent_key] is not None)
    by_name = get(server, f"{SP}/segments/company/members").json()
    assert by_name == get(server, f"{SP}/segments/2/members").json()
    assert get(server, f"{SP}/segments/9/members").status_code == 404


def test_account_member_shape(server):
    members = get(server, f"{SP}/segments/1/members").json()
    salaries = next(m for m in members if m["Code"] == "6000")
    assert salaries["ParentMemberCode"] == "PERS"
    assert salaries["ParentMemberLabel"] == "PERS - Personnel"
    assert "ParentId" not in salaries
    assert salaries["MemberType"] == "Leaf"
    assert salaries["AccountType"] == "Expense"
    assert salaries["CreditDebit"] == "Debit"
    assert salaries["CurrencyTypeCode"] == "AVG"
    assert [level["Code"] for level in salaries["RollupLevels"]] == ["TOTAL", "IS", "OPEX", "PERS"]
    assert [level["Level"] for level in salaries["RollupLevels"]] == [1, 2, 3, 4]
    assert {"Name": "Cash Flow Category", "Value": "Operating"} in salaries["Attributes"]
    contra = next(m for m in members if m["Code"] == "1550")
    assert contra["RollupOperator"] == "-"
    assert {m["ActiveStatus"] for m in members} == {"Active", "Inactive"}


def test_company_members_carry_their_currency(server):
    members = get(server, f"{SP}/segments/2/members").json()
    japan = next(m for m in members if m["Code"] == "JP01")
    assert (japan["CurrencyCode"], japan["CurrencyName"]) == ("JPY", "Japanese Yen")
    assert japan["ParentCode"] == "APAC"
    assert {"Name": "Region", "Value": "APAC"} in japan["Attributes"]
    assert "ParentMemberId" not in japan


def test_scenarios_currencies_and_users(server, emulator):
    scenarios = get(server, f"{SP}/scenarios").json()
    assert scenarios[0] == {"Name": "Actual", "ScenarioType": "Actual", "FiscalYear": None}
    assert {"Name": "2025 Budget", "ScenarioType": "Budget", "FiscalYear": 2025} in scenarios
    assert {"Name": "2025 6+6", "ScenarioType": "Forecast", "FiscalYear": 2025} in scenarios
    currencies = get(server, f"{SP}/currencies").json()
    assert {"Code": "USD", "Name": "US Dollar"} in currencies
    users = get(server, f"{SP}/users").json()
    assert len(users) == emulator.state()["users"] == 40
    assert set(users[0]) == {
        "UserLogin", "FirstName", "LastName", "NavigationRoleName", "ReportingRole",
        "SupportRole", "AuthenticationType", "Status", "SupportId",
    }  # fmt: skip
    assert {u["Status"] for u in users} == {True, False}
    assert len({u["UserLogin"] for u in users}) == len(users)


# -- GL data -----------------------------------------------------------------------------------


def test_gl_data_needs_scenario_and_fiscal_year(server):
    for query in ["", "?Scenario=Actual", "?FiscalYear=2025", "?Scenario=&FiscalYear=2025"]:
        response = get(server, f"{SP}/gldata{query}")
        assert response.status_code == 400
        assert response.json() == {
            "Success": False,
            "Message": "Scenario and FiscalYear are required.",
        }
    assert get(server, f"{SP}/gldata?Scenario=Actual&FiscalYear=25").status_code == 400
    assert (
        get(server, f"{SP}/gldata?Scenario=Actual&FiscalYear=2025&FiscalMonth=100").status_code
        == 400
    )
    assert get(server, f"{SP}/gldata?Scenario=Nope&FiscalYear=2025").status_code == 400


def test_gl_data_rows_shape_and_accounting(server, emulator):
    rows = get(server, f"{SP}/gldata?Scenario=2025 Budget&FiscalYear=2025").json()
    assert rows == emulator.gl_records("2025 Budget", 2025)
    assert len(rows) == 12 * 48
    assert list(rows[0]) == [
        "Scenario", "FiscalYear", "FiscalMonth", "MonthName", *[f"Segment{n}" for n in range(1, 9)],
        "Reporting", "MtdAmount", "QtdAmount", "YtdAmount",
    ]  # fmt: skip
    keys = {tuple(row[k] for k in GL_KEY) for row in rows}
    assert len(keys) == len(rows)
    leaves = {s.number: set(s.leaf_codes) for s in emulator.segments}
    assert all(row[f"Segment{n}"] in leaves[n] for row in rows for n in range(1, 9))
    ytd: dict[tuple, float] = {}
    for row in rows:
        key = (*(row[f"Segment{n}"] for n in range(1, 9)), row["Reporting"])
        ytd[key] = ytd.get(key, 0.0) + row["MtdAmount"]
        assert row["YtdAmount"] == pytest.approx(ytd[key])
    march = [r for r in rows if r["FiscalMonth"] == 3]
    assert all(r["MonthName"] == "March" for r in march)
    assert {r["Reporting"] for r in rows} == {"Local", "Common"}


def test_gl_data_filters_by_month_and_reporting(server, emulator):
    rows = get(
        server, f"{SP}/gldata?scenario=2025 Budget&fiscalyear=2025&FiscalMonth=4&Reporting=Common"
    ).json()
    assert rows == emulator.gl_records("2025 Budget", 2025, 4, "Common")
    assert len(rows) == 24
    assert {(r["FiscalMonth"], r["Reporting"]) for r in rows} == {(4, "Common")}
    assert get(server, f"{SP}/gldata?Scenario=2025 Budget&FiscalYear=2026").json() == []


def test_actual_never_returns_months_after_the_current_period(server, emulator):
    year, month = emulator.current_period()
    rows = get(server, f"{SP}/gldata?Scenario=Actual&FiscalYear={year}").json()
    assert {r["FiscalMonth"] for r in rows} == set(range(1, month + 1))
    assert get(server, f"{SP}/gldata?Scenario=Actual&FiscalYear={year + 1}").json() == []
    if month < 12:
        later = f"{SP}/gldata?Scenario=Actual&FiscalYear={year}&FiscalMonth={month + 1}"
        assert get(server, later).json() == []
    budget = get(server, f"{SP}/gldata?Scenario={year} Budget&FiscalYear={year}").json()
    assert {r["FiscalMonth"] for r in budget} == set(range(1, 13))

    SandboxClient(server.url).advance_clock(40 * 86400)  # into the next period
    moved_year, moved_month = emulator.current_period()
    assert (moved_year, moved_month) > (year, month)
    rows = get(server, f"{SP}/gldata?Scenario=Actual&FiscalYear={moved_year}").json()
    assert max(r["FiscalMonth"] for r in rows) == moved_month

    SandboxClient(server.url).configure(actual_includes_current_period=False)
    rows = get(server, f"{SP}/gldata?Scenario=Actual&FiscalYear={moved_year}").json()
    assert all(r["FiscalMonth"] < moved_month for r in rows)


def test_unknown_scenario_switch(server):
    SandboxClient(server.url).configure(unknown_scenario="empty")
    response = get(server, f"{SP}/gldata?Scenario=Nope&FiscalYear=2025")
    assert (response.status_code, response.json()) == (200, [])


# -- paging, prefix, formats, faults -------------------------------------------------------------


def test_paging_switch_pages_lists_with_has_more(server, emulator):
    assert "X-Has-More" not in get(server, f"{SP}/users").headers
    SandboxClient(server.url).configure(paging=True, page_size=7)
    collected, start_index = [], 0
    while True:
        response = get(server, f"{SP}/users?startIndex={start_index}")
        page = response.json()
        assert len(page) <= 7
        collected += page
        if response.headers["X-Has-More"] != "true":
            break
        start_index += len(page)
    assert collected == emulator.users
    gl, start_index = [], 0
    while True:
        response = get(
            server, f"{SP}/gldata?Scenario=2026 Budget&FiscalYear=2026&StartIndex={start_index}"
        )
        gl += response.json()
        if response.headers["X-Has-More"] == "false":
            break
        start_index += 7
    assert gl == emulator.gl_records("2026 Budget", 2026)
    assert get(server, f"{SP}/users?startIndex=-1").status_code == 400


def test_alternative_prefix_serves_the_structured_routes(server):
    client = SandboxClient(server.url)
    client.configure(path_prefix="/export/v2/")
    assert get(server, "/export/v2/segments").json() == get(server, f"{SP}/segments").json()
    assert (
        get(
            server, "/export/v2/gldata?Scenario=2025 Budget&FiscalYear=2025&FiscalMonth=1"
        ).status_code
        == 200
    )
    client.configure(serve_default_paths=False)
    assert get(server, f"{SP}/segments").status_code == 404
    assert get(server, "/export/v2/rules/gl").status_code == 200
    assert [e["path"] for e in client.requests()][-1] == "/export/v2/rules/gl"


def test_errors_follow_accept(server):
    as_xml = get(server, f"{SP}/gldata", headers={"Accept": "application/xml"})
    assert as_xml.status_code == 400
    assert as_xml.headers["Content-Type"].startswith("application/xml")
    assert (
        ET.fromstring(as_xml.content).findtext("Message") == "Scenario and FiscalYear are required."
    )
    as_json = post_dp(
        server,
        "/modeling/model/calcscript/status",
        data="<broken",
        headers={"Accept": "application/json"},
    )
    assert as_json.status_code == 400
    assert as_json.json()["status"] == "error"
    native = post_dp(server, "/modeling/model/calcscript/status", data="<broken")
    assert ET.fromstring(native.content).tag == "error"


def test_maintenance_and_faults(server):
    client = SandboxClient(server.url)
    client.configure(maintenance=True, maintenance_retry_after=5)
    response = get(server, f"{SP}/segments")
    assert (response.status_code, response.headers["Retry-After"]) == (503, "5")
    dp = requests.get(f"{server.url}/api/ui/group/getRaw", headers=TOKEN, timeout=5)
    assert dp.status_code == 503
    assert dp.json()["status"] == "error"
    client.configure(maintenance=False)
    client.fault(status=503, path="/gldata$", times=1, headers={"Retry-After": "1"})
    query = f"{SP}/gldata?Scenario=2025 Budget&FiscalYear=2025&FiscalMonth=1"
    assert get(server, query).status_code == 503
    assert get(server, query).status_code == 200


# -- Dynamic Planning ----------------------------------------------------------------------------


def test_access_token_auth(server):
    url = f"{server.url}/api/ui/user/getRaw"
    missing = requests.get(url, timeout=5)
    assert missing.status_code == 412
    assert "X-ACCESS-TOKEN" in missing.json()["message"]
    wrong = requests.get(
        url, headers={"X-ACCESS-TOKEN": "00000000-0000-0000-0000-000000000000"}, timeout=5
    )
    assert wrong.status_code == 401
    assert wrong.json() == {"status": "error", "message": "Unauthorized: access key lookup failed."}
    assert requests.get(url, headers=TOKEN, timeout=5).status_code == 200
    # The two families do not share credentials.
    assert requests.get(url, auth=AUTH, timeout=5).status_code == 412
    assert get(server, f"{SP}/rules", auth=None, headers=TOKEN).status_code == 401


def test_users_groups_and_models(server, emulator):
    users = requests.get(f"{server.url}/api/ui/user/getRaw", headers=TOKEN, timeout=5).json()
    assert users == emulator.dynamic_planning.users
    assert set(users[0]) == {
        "email", "name", "status", "groups", "role", "invalidPasswordAttempts", "lockedStatus",
        "emailSubscription", "userType", "supportRole",
    }  # fmt: skip
    assert all(isinstance(g["name"], str) for u in users for g in u["groups"])
    groups = requests.get(f"{server.url}/api/ui/group/getRaw", headers=TOKEN, timeout=5).json()
    assert "FP&A Analysts" in groups
    assert all(isinstance(g, str) for g in groups)
    models = requests.get(f"{server.url}/api/modeling/models", headers=TOKEN, timeout=5).json()
    opex = {"name": "Opex", "type": "Master", "generated": True}
    assert {
        **opex,
        "dimensions": ["Account", "Company", "Department", "Scenario", "Time"],
    } in models
    assert {m["type"] for m in models} == {"Master", "Analytic", "External Source"}


def test_dimension_export(server):
    body = post_dp(
        server,
        "/modeling/model/dimension/export",
        json={
            "model": "Opex",
            "dimension": "Department",
            "includeAttributes": True,
            "includeDimensions": True,
        },
    ).json()
    assert (body["model"], body["dimension"]) == ("Opex", "Department")
    members = {m["code"]: m for m in body["members"]}
    assert members["Department"]["parent"] is None
    assert members["D520"] == {
        "code": "D520",
        "parent": "SM",
        "rollupOperator": "+",
        "displayLabel": "Sales EMEA",
        "attributes": {"Region": "EMEA", "Owner": "Luca Ferraro"},
        "dimensions": {"Company": "DE01"},
    }
    plain = post_dp(
        server, "/modeling/model/dimension/export", json={"model": "Opex", "dimension": "Account"}
    )
    expenses = next(m for m in plain.json()["members"] if m["code"] == "Expenses")
    assert expenses == {
        "code": "Expenses",
        "parent": "NetIncome",
        "rollupOperator": "-",
        "displayLabel": "Operating Expenses",
    }
    attribute = post_dp(
        server, "/modeling/model/dimension/export", json={"model": "Opex", "dimension": "Region"}
    ).json()
    assert [m["code"] for m in attribute["members"]] == ["Region", "East", "EMEA", "West"]
    assert (
        post_dp(
            server, "/modeling/model/dimension/export", json={"model": "Opex", "dimension": "Nope"}
        ).status_code
        == 404
    )
    assert (
        post_dp(
            server, "/modeling/model/dimension/export", json={"model": "Nope", "dimension": "Time"}
        ).status_code
        == 404
    )
    assert post_dp(server, "/modeling/model/dimension/export", data="{not json").status_code == 400


def test_data_export_filters_display_and_zero_suppression(server, emulator):
    model = emulator.dynamic_planning.models["Opex"]
    everything = post_dp(server, "/modeling/model/data/export", json={"model": "Opex"}).json()
    assert everything["columns"] == [
        "Account",
        "Company",
        "Department",
        "Scenario",
        "Time",
        "Value",
    ]
    assert len(everything["rows"]) == len(model.rows)
    assert any(row[-1] == 0 for row in everything["rows"])
    payload = {
        "model": "Opex",
        "filters": [
            {"dimension": "Time", "filterType": "Descendants", "filterValues": ["Q1-25"]},
            {"dimension": "Account", "filterType": "Children", "filterValues": ["Personnel"]},
            {"dimension": "Region", "filterType": "Member", "filterValues": ["EMEA"]},
        ],
        "suppressZeroes": "true",
        "operationType": "AND",
    }
    rows = post_dp(server, "/modeling/model/data/export", json=payload).json()["rows"]
    assert rows
    assert {r[4] for r in rows} <= {"Jan-25", "Feb-25", "Mar-25"}
    assert {r[0] for r in rows} <= {"6000", "6010", "6030"}
    assert {r[2] for r in rows} <= {"D300", "D520", "D710"}
    assert all(r[5] != 0 for r in rows)
    expected = [
        [*members, value]
        for members, value in model.rows
        if value != 0 and members[4] in {"Jan-25", "Feb-25", "Mar-25"}
        and members[0] in {"6000", "6010", "6030"} and members[2] in {"D300", "D520", "D710"}
    ]  # fmt: skip
    assert rows == expected
    either = post_dp(
        server, "/modeling/model/data/export", json={**payload, "operationType": "OR"}
    ).json()["rows"]
    assert len(either) > len(rows)
    labels = post_dp(
        server, "/modeling/model/data/export", json={**payload, "memberDisplay": "DisplayLabel"}
    ).json()
    assert labels["memberDisplay"] == "DisplayLabel"
    assert labels["rows"][0][4] in {"Jan 2025", "Feb 2025", "Mar 2025"}
    bad_type = {
        **payload,
        "filters": [{"dimension": "Time", "filterType": "Cousins", "filterValues": ["FY25"]}],
    }
    assert post_dp(server, "/modeling/model/data/export", json=bad_type).status_code == 400
    unknown_member = {**payload, "filters": [{"dimension": "Time", "filterValues": ["FY99"]}]}
    assert post_dp(server, "/modeling/model/data/export", json=unknown_member).status_code == 404
    assert (
        post_dp(server, "/modeling/model/data/export", json={"model": "salestxn"}).status_code
        == 400
    )


def test_source_model_export_is_well_formed_xml(server, emulator):
    payload = (
        "<export-data-payload><model-name>salestxn</model-name><delimiter>|</delimiter>"
        "<filters><filter><field>category</field><field-value>Kitchen &amp; Dining</field-value>"
        "<field-value>Garden</field-value></filter></filters>"
        "<fields><field>txn_id</field><field>category</field><field>amount</field></fields>"
        "</export-data-payload>"
    )
    response = post_dp(server, "/modeling/sourcemodel/data/export", data=payload)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/xml")
    root = ET.fromstring(response.content)
    assert root.tag == "export-data-response"
    assert (root.findtext("model-name"), root.findtext("delimiter"), root.findtext("header")) == (
        "salestxn", "|", "txn_id|category|amount",
    )  # fmt: skip
    rows = [row.text.split("|") for row in root.iterfind("rows/row")]
    source = emulator.dynamic_planning.source_models["salestxn"]
    expected = [[r[0], r[3], r[7]] for r in source.rows if r[3] in {"Kitchen & Dining", "Garden"}]
    assert rows == expected
    assert {r[1] for r in rows} == {"Kitchen & Dining", "Garden"}
    all_rows = post_dp(
        server,
        "/modeling/sourcemodel/data/export",
        data="<export-data-payload><model-name>salestxn</model-name></export-data-payload>",
    )
    root = ET.fromstring(all_rows.content)
    assert root.findtext("delimiter") == ","
    assert len(root.findall("rows/row")) == 500
    unknown = "<export-data-payload><model-name>nope</model-name></export-data-payload>"
    assert post_dp(server, "/modeling/sourcemodel/data/export", data=unknown).status_code == 404
    bad_field = (
        "<export-data-payload><model-name>salestxn</model-name>"
        "<fields><field>x</field></fields></export-data-payload>"
    )
    assert post_dp(server, "/modeling/sourcemodel/data/export", data=bad_field).status_code == 400
    entity = (
        '<?xml version="1.0"?><!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        "<export-data-payload><model-name>&x;</model-name></export-data-payload>"
    )
    assert post_dp(server, "/modeling/sourcemodel/data/export", data=entity).status_code == 400


def test_calculation_status_and_run(server):
    status = post_dp(server, "/modeling/model/calcscript/status", data=calc_payload())
    root = ET.fromstring(status.content)
    assert root.tag == "calcscript-status"
    assert root.findtext("status") == "not running"
    assert root.findtext("last-run-time") == "2026-10-31T22:15:03.412Z"
    assert post_dp(server, "/modeling/model/calcscript/run", data=calc_payload()).status_code == 204
    assert (
        post_dp(server, "/modeling/model/calcscript/run", data=calc_payload()).status_code == 400
    )  # running
    client = SandboxClient(server.url)
    client.advance_clock(10)
    status = ET.fromstring(
        post_dp(server, "/modeling/model/calcscript/status", data=calc_payload()).content
    )
    assert status.findtext("status") == "in progress"
    client.advance_clock(60)
    status = ET.fromstring(
        post_dp(server, "/modeling/model/calcscript/status", data=calc_payload()).content
    )
    assert (status.findtext("status"), status.findtext("last-status")) == ("not running", "success")
    ran_at = datetime.strptime(status.findtext("last-run-time"), "%Y-%m-%dT%H:%M:%S.%f%z")
    assert ran_at > datetime(2026, 11, 1, tzinfo=UTC)
    assert (
        post_dp(
            server, "/modeling/model/calcscript/run", data=calc_payload(calc="SeedForecast")
        ).status_code
        == 400
    )
    assert (
        post_dp(
            server, "/modeling/model/calcscript/status", data=calc_payload(calc="Nope")
        ).status_code
        == 404
    )
    assert (
        post_dp(
            server, "/modeling/model/calcscript/status", data=calc_payload(model="Nope")
        ).status_code
        == 404
    )


# -- seed ----------------------------------------------------------------------------------------


def test_seed_is_deterministic():
    first, second = PlanfulEmulator(), PlanfulEmulator()
    assert first.state() == second.state()
    assert first.segments[0].members == second.segments[0].members
    assert first.users == second.users
    assert (
        first.dynamic_planning.models["Revenue"].rows
        == second.dynamic_planning.models["Revenue"].rows
    )
    assert first.gl_slice("2025 9+3", 2025).encode() == second.gl_slice("2025 9+3", 2025).encode()


def test_seed_scales_to_large_gl_volumes_without_storing_rows(server, emulator):
    client = SandboxClient(server.url)
    client.seed(
        scenarios=[{"Name": "2025 Budget", "ScenarioType": "Budget", "FiscalYear": 2025}],
        gl_rows_per_period=100_000,
    )
    assert client.state()["gl_rows"] == 1_200_000
    response = get(server, f"{SP}/gldata?Scenario=2025 Budget&FiscalYear=2025&FiscalMonth=7")
    rows = response.json()
    assert len(rows) == 100_000
    assert len({tuple(r[k] for k in GL_KEY) for r in rows}) == 100_000
    assert rows[-5:] == list(emulator.gl_slice("2025 Budget", 2025, 7).records(99_995))


def test_bad_seed_options_are_refused(server):
    for options in [
        {"gl_rows_per_period": -1},
        {"fiscal_years": "3"},
        {"scenarios": [{"Name": "X"}]},
        {"nope": 1},
    ]:
        response = requests.post(f"{server.url}/__sandbox/seed", json=options, timeout=5)
        assert response.status_code == 400
        assert next(iter(options)) in response.json()["error"]


# -- SOAP web service HostAPI_StateFree (shared/api/planful-soap.md) -------------------------

SOAP_NS = "http://www.HostAnalytics.com/API/SOAP/StateFree/Common/2009/03/19"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
GL_ORDER = [
    *(f"Segment{n}" for n in range(1, 9)),
    *("Scenario", "Reporting", "Calculated", "Amount", "AmountType", "FiscalYear", "FiscalPeriod"),
]


def soap_call(server, operation, body="", *, action="quoted", path=None, password=None):
    envelope = (
        f'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="{SOAP_ENV}"><s:Body>'
        f'<ns2:{operation} xmlns:ns2="{SOAP_NS}"><ns2:LoginName>{LOGIN_NAME}</ns2:LoginName>'
        f"<ns2:Password>{password or PASSWORD}</ns2:Password>"
        f"<ns2:TenantCode>{TENANT_CODE}</ns2:TenantCode>{body}</ns2:{operation}>"
        "</s:Body></s:Envelope>"
    )
    headers = {"Content-Type": "text/xml; charset=utf-8"}
    if action == "quoted":
        headers["SOAPAction"] = f'"{SOAP_NS}/{operation}"'
    elif action == "bare":
        headers["SOAPAction"] = f"{SOAP_NS}/{operation}"
    return requests.post(
        server.url + (path or DEFAULT_SOAP_PATH), data=envelope, headers=headers, timeout=60
    )


def gl_filters(**values):
    return (
        "<ns2:FilterCollection>"
        + "".join(
            f"<ns2:GLDataFilter><ns2:Field>{field}</ns2:Field><ns2:FieldOperator>Equals"
            f"</ns2:FieldOperator><ns2:Value><ns2:string>{value}</ns2:string></ns2:Value>"
            "</ns2:GLDataFilter>"
            for field, value in values.items()
        )
        + "</ns2:FilterCollection>"
    )


def test_soap_gl_answer_has_the_asmx_form_and_wsdl_order(server, emulator):
    filters = gl_filters(Scenario="2025 Budget", AmountType="QTD", FiscalYear=2025, FiscalPeriod=5)
    response = soap_call(server, "GLData_RetrieveWithLogin", filters)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/xml; charset=utf-8"
    text = response.text
    assert text.startswith('<?xml version="1.0" encoding="utf-8"?><soap:Envelope')
    assert (
        f'<GLData_RetrieveWithLoginResponse xmlns="{SOAP_NS}"><GLData_RetrieveWithLoginResult>'
        in text
    )
    assert text.endswith("</GLData_RetrieveWithLoginResponse></soap:Body></soap:Envelope>")
    rows = ET.fromstring(response.content).iter(f"{{{SOAP_NS}}}GLData")
    expected = emulator.gl_records("2025 Budget", 2025, 5)
    got = [[(child.tag.split("}")[1], child.text) for child in row] for row in rows]
    assert len(got) == len(expected) > 0
    for items, row in zip(got, expected, strict=True):
        assert [name for name, _ in items] == GL_ORDER
        values = dict(items)
        assert float(values["Amount"]) == row["QtdAmount"]
        assert (values["FiscalYear"], values["FiscalPeriod"]) == ("2025", "5")
        assert values["Segment2"] == row["Segment2"]


@pytest.mark.parametrize("action", ["quoted", "bare", "absent"])
def test_soap_dispatch_with_any_soapaction_form_and_path_case(server, action):
    response = soap_call(
        server, "getALLCurrenciesWithLogin", action=action, path="/hostapi/hostapi_statefree.ASMX"
    )
    assert response.status_code == 200
    assert response.text.count("<Currency><Code>") == 10


@pytest.mark.parametrize(
    ("body", "password", "fault"),
    [
        ("", "wrong", "Login failed"),
        (gl_filters(Scenario="Actual", FiscalYear=2025), None, "AmountType filter is mandatory"),
        (gl_filters(Scenario="Actual", AmountType="Mtd", FiscalYear=2025), None, "'Mtd'"),
    ],
)
def test_soap_faults_are_soap_1_1_with_http_500(server, body, password, fault):
    response = soap_call(server, "GLData_RetrieveWithLogin", body, password=password)
    assert response.status_code == 500
    root = ET.fromstring(response.content)
    (element,) = root.iter(f"{{{SOAP_ENV}}}Fault")
    assert element.findtext("faultcode").startswith("soap:")
    assert fault in element.findtext("faultstring")


def test_soap_unknown_action_is_a_client_fault(server):
    response = soap_call(server, "getEverythingWithLogin")
    assert response.status_code == 500
    assert "Server did not recognize the value of HTTP Header SOAPAction" in response.text


def test_soap_segment1_members_in_wsdl_order_and_newer_member_id(server, emulator):
    response = soap_call(server, "Segment1_RetrieveWithLogin")
    members = list(ET.fromstring(response.content).iter(f"{{{SOAP_NS}}}Segment1"))
    assert len(members) == len(emulator.segment(1).members)
    order = [child.tag.split("}")[1] for child in members[5]]
    assert order == [
        "Code", "Name", "RollupOperator", "MemberType", "ActiveStatus", "AccountType",
        "AccountGroup", "NormalDataInput", "CurrencyType", "CreditDebit", "Variance",
        "ParentCode", "RollupLevels", "Attributes", "Sort",
    ]  # fmt: skip
    emulator.configure(soap_member_id=True)
    response = soap_call(server, "Segment3_RetrieveWithLogin")
    first = next(ET.fromstring(response.content).iter(f"{{{SOAP_NS}}}Segment3"))
    assert first[0].tag == f"{{{SOAP_NS}}}MemberId"


def test_soap_big_gl_answer_is_streamed_in_chunks():
    one_year = [{"Name": "2025 Budget", "ScenarioType": "Budget", "FiscalYear": 2025}]
    running = start("planful", seed={"scenarios": one_year, "gl_rows_per_period": 20000})
    try:
        filters = gl_filters(Scenario="2025 Budget", AmountType="MTD", FiscalYear=2025)
        response = soap_call(running, "GLData_RetrieveWithLogin", filters)
        assert response.headers["Transfer-Encoding"] == "chunked"
        assert response.content.count(b"<GLData>") == 12 * 20000
    finally:
        running.stop()


def test_soap_password_stays_out_of_the_request_log(server, emulator):
    soap_call(server, "getVersionWithLogin")
    (entry,) = emulator.requests(path="HostAPI_StateFree")
    assert PASSWORD not in str(entry)
    assert "<ns2:Password>***</ns2:Password>" in entry["body"]
