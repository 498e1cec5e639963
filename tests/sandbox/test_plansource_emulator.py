"""The PlanSource emulator over real HTTP: tokens, envelopes, paging, shapes, filters, errors."""

from __future__ import annotations

import json
import time
import uuid
from collections import defaultdict

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sandbox.plansource.app import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_LOGGED_IN_USER,
    DEFAULT_ORGANIZATION_ID,
    FOREIGN_ORGANIZATION,
    ORGANIZATION,
)
from sandbox.plansource.auth import ASSERTION_TYPE
from sandbox.plansource.seed import build_store
from sandbox.testing import SandboxClient, start

SUBSCRIBERS = 300


@pytest.fixture(scope="module")
def running():
    server = start("plansource", seed={"subscribers": SUBSCRIBERS})
    yield server
    server.stop()


@pytest.fixture
def plansource(running):
    """The shared emulator, reset after each test so settings and clock never leak."""
    yield running
    SandboxClient(running.url).reset()


def assertion(**overrides) -> str:
    claims = {
        "iss": "tap-plansource",
        "sub": DEFAULT_CLIENT_ID,
        "aud": "127.0.0.1",
        "exp": int(time.time()) + 60,
        "jti": uuid.uuid4().hex,
        "scopes": "admin_api_v2",
        "logged_in_user": DEFAULT_LOGGED_IN_USER,
    }
    claims.update(overrides)
    secret = str(claims.pop("_secret", DEFAULT_CLIENT_SECRET))
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, secret, algorithm="HS256")


def token_request(url: str, signed: str | None = None, **form) -> requests.Response:
    data = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": signed or assertion(),
        "code": uuid.uuid4().hex,
        **form,
    }
    return requests.post(
        f"{url}/oauth/v2/token", data={k: v for k, v in data.items() if v is not None}, timeout=10
    )


def access_token(url: str, now: float | None = None) -> str:
    """A token for an assertion signed at `now` (the client's clock; defaults to the real one)."""
    response = token_request(url, assertion(exp=int(now or time.time()) + 60))
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


class Api:
    """A tiny authenticated client for the emulator's `/admin/v2`."""

    def __init__(self, url: str, now: float | None = None) -> None:
        self.url = url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {access_token(url, now)}"

    def get(self, path: str, **params) -> requests.Response:
        return self.session.get(f"{self.url}/admin/v2{path}", params=params, timeout=30)

    def data(self, path: str, **params):
        response = self.get(path, **params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "success"
        return body["data"]

    def all_pages(self, path: str, per_page: int = 100, **params) -> list[dict]:
        records: list[dict] = []
        page = 1
        while True:
            data = self.data(path, page=page, per_page=per_page, **params)
            chunk = records_of(data)
            if not chunk:
                return records
            records.extend(chunk)
            page += 1


def records_of(data) -> list[dict]:
    """Records from any list shape: a list, a dict holding the list, or one bare record."""
    if isinstance(data, list):
        return data
    if "id" in data:
        return [data]
    if "payroll_coverages" in data:
        return data["payroll_coverages"]
    (value,) = data.values()
    return value


@pytest.fixture
def api(plansource) -> Api:
    return Api(plansource.url)


def store(running):
    return running.emulator.store


# -- token endpoint ------------------------------------------------------------------------


def test_token_success_shape(plansource):
    response = token_request(plansource.url)
    body = response.json()
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert (body["token_type"], body["expires_in"], body["scope"]) == (
        "Bearer",
        300,
        "admin_api_v2",
    )
    assert body["access_token"].count(".") == 2


def test_token_accepts_logged_in_user_as_form_field_and_production_aud(plansource):
    signed = assertion(logged_in_user=None, aud="api.plansource.com")
    response = token_request(plansource.url, signed, logged_in_user=DEFAULT_LOGGED_IN_USER)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("signed", "form", "error", "description"),
    [
        (
            None,
            {"grant_type": "password"},
            "unsupported_grant_type",
            "grant_type must be client_credentials",
        ),
        (
            None,
            {"client_assertion_type": "jwt"},
            "invalid_request",
            f"client_assertion_type must be {ASSERTION_TYPE}",
        ),
        ("", {"client_assertion": None}, "invalid_request", "client_assertion is required"),
        ("not-a-jwt", {}, "invalid_request", "client_assertion is not a valid JWT"),
        (
            {"_secret": "wrong-secret-of-sufficient-length-0123456789"},
            {},
            "invalid_client",
            "client_assertion signature is invalid",
        ),
        (
            {"sub": "someone-else"},
            {},
            "invalid_client",
            "unknown client: sub must be the API user's client_id",
        ),
        (
            None,
            {"client_id": "other"},
            "invalid_client",
            "client_id does not match the assertion's sub",
        ),
        (
            {"aud": "evil.example.com"},
            {},
            "invalid_client",
            "aud must be the host name of the authorization server",
        ),
        ({"exp": int(time.time()) - 120}, {}, "invalid_request", "token has expired"),
        ({"iss": None}, {}, "invalid_request", "iss is required"),
        ({"jti": None}, {}, "invalid_request", "jti is required"),
        ({"scopes": "read"}, {}, "invalid_scope", "scopes must include admin_api_v2"),
        ({"logged_in_user": None}, {}, "invalid_request", "logged_in_user is required"),
        (
            {"logged_in_user": "mallory"},
            {},
            "invalid_grant",
            "logged_in_user is not an administrator for this client",
        ),
    ],
)
def test_token_failures(plansource, signed, form, error, description):
    if isinstance(signed, dict):
        signed = assertion(**signed)
    response = token_request(plansource.url, signed, **form)
    assert response.status_code == 400
    assert response.json() == {"error": error, "error_description": description}


def test_token_replayed_jti_and_required_code(plansource):
    signed = assertion()
    assert token_request(plansource.url, signed).status_code == 200
    replay = token_request(plansource.url, signed)
    assert replay.json() == {
        "error": "invalid_grant",
        "error_description": "jti has already been used",
    }
    SandboxClient(plansource.url).configure(require_code_param=True)
    missing_code = token_request(plansource.url, code=None)
    assert missing_code.json() == {
        "error": "invalid_request",
        "error_description": "code is required",
    }


def test_assertion_expiry_uses_leeway_and_emulator_clock(plansource):
    client = SandboxClient(plansource.url)
    assert (
        token_request(plansource.url, assertion(exp=int(time.time()) - 10)).status_code == 200
    )  # skew
    client.advance_clock(120)
    response = token_request(plansource.url, assertion(exp=int(time.time()) + 60))
    assert response.json()["error_description"] == "token has expired"


# -- bearer checks -------------------------------------------------------------------------


def test_access_token_expires_after_five_minutes_on_the_clock(plansource, api):
    assert api.get("/organizations").status_code == 200
    SandboxClient(plansource.url).advance_clock(299)
    assert api.get("/organizations").status_code == 200
    SandboxClient(plansource.url).advance_clock(2)
    expired = api.get("/organizations")
    assert expired.status_code == 401
    assert expired.text == (
        '{"status":"failure","errors":{"http_status":401,"message":"Signature has expired",'
        '"error_code":"invalid_token"},"data":[]}'
    )
    fresh = Api(plansource.url, now=plansource.emulator.now())
    assert fresh.get("/organizations").status_code == 200


def test_bearer_failures(plansource):
    url = f"{plansource.url}/admin/v2/subscribers"
    malformed = requests.get(url, headers={"Authorization": "Bearer abc.def"}, timeout=5)
    assert malformed.status_code == 400
    assert malformed.text == (
        '{"status":"failure","errors":{"http_status":400,'
        '"message":"Not enough or too many segments"},"data":[]}'
    )
    missing = requests.get(url, timeout=5)
    assert (missing.status_code, missing.json()["errors"]["message"]) == (
        401,
        "Authorization required",
    )
    legacy = requests.get(url, headers={"AuthenticationString": "x", "Signature": "y"}, timeout=5)
    assert legacy.status_code == 401
    forged = jwt.encode(
        {"sub": DEFAULT_CLIENT_ID, "exp": int(time.time()) + 60}, "x" * 32, algorithm="HS256"
    )
    bad = requests.get(url, headers={"Authorization": f"Bearer {forged}"}, timeout=5)
    assert (bad.status_code, bad.json()["errors"]["message"]) == (
        401,
        "Signature verification failed",
    )


def test_forbidden_and_not_found_bodies(plansource, api):
    foreign = next(
        s for s in store(plansource).subscribers if s.organization_id == FOREIGN_ORGANIZATION.id
    )
    forbidden = api.get(f"/subscriber/{foreign.id}")
    assert forbidden.status_code == 403
    assert (
        forbidden.text
        == '{"status":"failure","errors":{"http_status":403,"message":"Forbidden"},"data":[]}'
    )
    foreign_coverage = next(c for c in store(plansource).coverages if c.subscriber_id == foreign.id)
    assert api.get(f"/coverage/{foreign_coverage.id}").status_code == 403
    missing = api.get("/subscriber/1")
    assert missing.status_code == 404
    assert missing.json()["errors"] == {
        "http_status": 404,
        "message": "No employee with id: 1 found",
        "error_code": 404,
    }
    route = api.get("/subscribr/12196354")
    assert route.status_code == 404
    assert route.text == (
        '{"status":"failure","errors":{"http_status":404,"message":'
        '"Requested route \'subscribr/12196354\' not found","error_code":"route_not_found"}}'
    )
    assert api.get("/coverage/1").json()["errors"]["message"] == "Invalid coverage"
    assert (
        api.get("/administrator/1").json()["errors"]["message"] == "Admin with id = 1 is not found."
    )


# -- organizations, subscribers, paging ----------------------------------------------------


def test_organizations_scope_and_envelope(api):
    body = api.get("/organizations").json()
    assert body == {
        "status": "success",
        "data": [
            {"id": DEFAULT_ORGANIZATION_ID, "name": ORGANIZATION.name, "organization_code": "ACME"}
        ],
    }


def test_subscriber_paging_covers_every_visible_subscriber_in_id_order(plansource, api):
    expected = [
        s.id
        for s in store(plansource).subscribers
        if s.organization_id == DEFAULT_ORGANIZATION_ID and not s.test_employee
    ]
    records = api.all_pages("/subscribers", per_page=70)
    assert [r["id"] for r in records] == expected
    assert records[0]["links"] == [{"href": f"/admin/subscriber/{expected[0]}", "rel": "self"}]
    assert api.data("/subscribers", page=99, per_page=70) == []
    with_test = api.all_pages("/subscribers", per_page=500, include_test="true")
    assert len(with_test) == SUBSCRIBERS
    assert any(r["test_employee"] for r in with_test)


def test_per_page_is_clamped_to_max_per_page(plansource, api):
    SandboxClient(plansource.url).configure(max_per_page=40)
    assert len(api.data("/subscribers", per_page=500)) == 40
    assert len(api.data("/coverages", per_page=500)) == 40


def test_subscriber_formats_and_custom_id(plansource, api):
    subscriber = store(plansource).subscribers[0]
    record = api.data(f"/subscriber/{subscriber.id}")
    assert record["birthdate"].count("/") == 2
    assert record["current_salary"] == str(subscriber.salary_cents / 100)
    assert record["ssn"] == subscriber.ssn  # unmasked by default
    assert record["benefit_salaries"][0]["starts_on"].endswith("T00:00:00.000Z")
    by_code = api.data(f"/subscriber/{subscriber.subscriber_code}", is_custom_id="true")
    assert by_code["id"] == subscriber.id
    SandboxClient(plansource.url).configure(mask_other_ssn=True)
    assert api.data(f"/subscriber/{subscriber.id}")["ssn"] == f"XXX-XX-{subscriber.ssn[-4:]}"


# -- dependents and beneficiaries ----------------------------------------------------------


def test_dependents_split_active_inactive_with_parent_only_in_links(plansource, api):
    data = api.data("/dependents")
    own = [
        d
        for d in store(plansource).dependents
        if store(plansource).subscriber_by_id[d.subscriber_id].organization_id
        == DEFAULT_ORGANIZATION_ID
    ]
    assert {d["id"] for d in data["dependents"]} == {d.id for d in own if d.active}
    assert {d["id"] for d in data["inactive_dependents"]} == {d.id for d in own if not d.active}
    assert data["inactive_dependents"]
    assert data["cannot_terminate_dependents"] == []
    first = data["dependents"][0]
    dependent = store(plansource).dependent_by_id[first["id"]]
    assert "subscriber_id" not in first
    assert (
        first["links"][0]["href"]
        == f"/admin/subscriber/{dependent.subscriber_id}/dependent/{dependent.id}"
    )
    assert first["ssn"] == f"XXX-XX-{dependent.ssn[-4:]}"
    one = api.data("/dependents", subscriber_id=dependent.subscriber_id)
    assert {d["id"] for d in one["dependents"] + one["inactive_dependents"]} == {
        d.id for d in own if d.subscriber_id == dependent.subscriber_id
    }
    other = next(s for s in store(plansource).subscribers if s.id != dependent.subscriber_id)
    mismatch = api.get(f"/subscriber/{other.id}/dependent/{dependent.id}")
    assert mismatch.status_code == 400
    assert mismatch.json()["errors"]["message"] == "The dependent does not belong to this employee."


def test_beneficiaries_nesting_links_and_allocations(plansource, api):
    data = api.data("/beneficiaries")
    organization = data["organization"]
    assert organization["links"] == [{"href": "/admin/beneficiaries", "rel": "self"}]
    seen = defaultdict(lambda: defaultdict(int))
    count = 0
    for subscriber in organization["subscriber"]:
        subscriber_id = int(subscriber["links"][0]["href"].split("/")[3])
        for beneficiary in subscriber["beneficiaries"]:
            coverage_id = int(beneficiary["links"][0]["href"].split("/")[3])
            assert store(plansource).coverage_by_id[coverage_id].subscriber_id == subscriber_id
            assert beneficiary["primary_beneficiary"] in {"YES", "NO"}
            seen[coverage_id][beneficiary["primary_beneficiary"]] += round(
                float(beneficiary["allocation"]) * 10
            )
            count += 1
    expected = [
        b
        for b in store(plansource).beneficiaries
        if not b.test_employee
        and store(plansource).subscriber_by_id[b.subscriber_id].organization_id
        == DEFAULT_ORGANIZATION_ID
    ]
    assert count == len(expected)
    assert all(total == 1000 for groups in seen.values() for total in groups.values())
    assert any(len(groups) == 2 for groups in seen.values())  # primary and contingent
    coverage_id = expected[0].coverage_id
    per_coverage = api.data(f"/coverage/{coverage_id}/beneficiaries")["beneficiaries"]
    assert {b["id"] for b in per_coverage} == {
        b.id for b in expected if b.coverage_id == coverage_id
    }
    per_subscriber = api.data(f"/subscriber/{expected[0].subscriber_id}/beneficiaries")[
        "subscriber"
    ]
    assert (
        per_subscriber["links"][0]["href"]
        == f"/admin/subscriber/{expected[0].subscriber_id}/beneficiaries"
    )
    unknown = api.get("/coverage/1/beneficiaries")
    assert (unknown.status_code, unknown.json()["errors"]["message"]) == (
        400,
        "Coverage not found for organization",
    )


# -- coverages -----------------------------------------------------------------------------


def visible_coverages(running, plan_year: int) -> list:
    s = store(running)
    return [
        c
        for c in s.coverages
        if c.plan_year == plan_year
        and not c.test_employee
        and s.subscriber_by_id[c.subscriber_id].organization_id == DEFAULT_ORGANIZATION_ID
    ]


@pytest.mark.parametrize(("plan_year", "index"), [("previous", 0), ("current", 1), ("next", 2)])
def test_coverages_per_plan_year(plansource, api, plan_year, index):
    records = api.all_pages("/coverages", per_page=500, plan_year=plan_year)
    assert [r["id"] for r in records] == [c.id for c in visible_coverages(plansource, index)]
    assert {r["benefit_lookup_code"] for r in records} >= {
        "medical",
        "dental",
        "vision",
        "hsa",
        "basic_subscriber_life",
    }
    year = store(plansource).plan_years[index]
    assert records[0]["plan_year_starts_on"] == time.strftime(
        "%Y/01/01", time.gmtime((year.starts_on - 719163) * 86400)
    )


def test_coverage_children_and_date_window(plansource, api):
    current = visible_coverages(plansource, 1)
    ids = {c.id for c in current}
    lines = api.all_pages("/coverages/lines", per_page=500)
    assert {line["coverage_id"] for line in lines} <= ids
    assert len(lines) == sum(
        1 for line in store(plansource).coverage_lines if line.coverage_id in ids
    )
    dependents = api.all_pages("/coverages/dependents", per_page=500)
    assert dependents
    assert dependents[0]["original_effective_date"].endswith("T00:00:00.000Z")
    changed_late = sorted({c.change_effective_date for c in current})[-1]
    day = time.strftime("%Y-%m-%d", time.gmtime((changed_late - 719163) * 86400))
    window = api.all_pages("/coverages", per_page=500, start_date=day, end_date=f"{day}T23:59:59Z")
    assert {r["id"] for r in window} == {
        c.id for c in current if c.change_effective_date == changed_late
    }
    bad = api.get("/coverages", start_date="12/01/2017")
    assert bad.status_code == 400
    assert (
        bad.json()["errors"]["message"] == "start_date date is not a valid YYYY-MM-DD date format."
    )


def test_composites(plansource, api):
    coverage = next(c for c in visible_coverages(plansource, 1) if c.dependent_ids)
    composite = api.data(f"/coverage/{coverage.id}/composite")
    assert composite["coverages"]["id"] == coverage.id
    assert {d["dependent_id"] for d in composite["dependents"]} == set(coverage.dependent_ids)
    listed = api.data("/coverage/composites", per_page=5)
    assert len(listed) == 5
    assert set(listed[0]) == {"coverages", "dependents", "lines"}


# -- list shapes ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small():
    server = start("plansource", seed={"subscribers": 12})
    yield server
    server.stop()


PARAMS = {"/administrators": {"changes_since": 10**8}}


@pytest.mark.parametrize(
    "path",
    [
        "/subscribers",
        "/coverages",
        "/coverages/lines",
        "/coverages/dependents",
        "/aca/offers",
        "/administrators",
    ],
)
def test_every_list_shape_carries_the_same_records(small, path):
    client, api = SandboxClient(small.url), Api(small.url)
    try:
        shapes = {}
        for shape in ("array", "example", "single"):
            client.configure(list_shape=shape)
            shapes[shape] = api.all_pages(path, per_page=7, **PARAMS.get(path, {}))
        assert shapes["array"]
        assert shapes["array"] == shapes["example"] == shapes["single"]
        client.configure(list_shape="example")
        assert isinstance(api.data(path, per_page=7, **PARAMS.get(path, {})), dict)
        client.configure(list_shape="single")
        assert "id" in api.data(path, per_page=7, **PARAMS.get(path, {}))
    finally:
        client.reset()


def test_composite_and_payroll_shapes(small):
    client, api = SandboxClient(small.url), Api(small.url)
    try:
        client.configure(list_shape="example")
        composite = api.data("/coverage/composites", per_page=4)
        assert len(composite["coverages"]) == 4
        window = {"start_date": "2000-01-01", "end_date": "2100-01-01"}
        payroll = api.data("/payroll_coverages_subscribers", per_page=3, **window)
        assert payroll["link"]["rel"] == "self"
        client.configure(pagination_meta=False, list_shape="array")
        plain = api.data("/payroll_coverages_subscribers", per_page=3, **window)
        assert plain == payroll["payroll_coverages"]
    finally:
        client.reset()


# -- payroll -------------------------------------------------------------------------------


def iso_day(epoch: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(epoch))


def test_payroll_requires_valid_dates(api):
    missing = api.get("/payroll_coverages_subscribers", end_date="2024-01-01")
    assert missing.status_code == 400
    assert missing.text == (
        '{"status":"failure","errors":{"http_status":400,"message":'
        '"No Start Date (params[:start_date] in the request."},"data":[]}'
    )
    no_end = api.get("/payroll_coverages_subscribers", start_date="2024-01-01")
    assert no_end.json()["errors"]["message"] == "No End Date (params[:end_date] in the request."
    invalid = api.get(
        "/payroll_coverages_subscribers", start_date="2024-13-45", end_date="2024-12-31"
    )
    assert (
        invalid.json()["errors"]["message"]
        == "start_date date is not a valid YYYY-MM-DD date format."
    )


def test_payroll_window_on_updated_at_with_pagination_meta(plansource, api):
    s = store(plansource)
    start, end = s.anchor - 30 * 86400, s.anchor
    params = {"start_date": iso_day(start), "end_date": iso_day(end)}
    low = (s.anchor // 86400 - 30) * 86400
    expected = [
        p
        for p in s.payroll_coverages
        if low <= p.updated_at
        and not p.test_employee
        and s.subscriber_by_id[p.subscriber_id].organization_id == DEFAULT_ORGANIZATION_ID
    ]
    first = api.data("/payroll_coverages_subscribers", per_page=50, **params)
    assert first["total"] == len(expected)
    assert first["per_page"] == 50
    rels = [link["rel"] for link in first["links"]]
    assert rels == ["first", "current", "next", "last"]
    assert "page=2" in first["links"][2]["href"]
    assert "start_date=" in first["links"][2]["href"]
    rows = api.all_pages("/payroll_coverages_subscribers", per_page=200, **params)
    assert [(r["id"], r["updated_at"]) for r in rows] == [
        (p.subscriber_id, time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(p.updated_at)))
        for p in expected
    ]
    assert all(r["original_effective_date"].endswith(".000Z") for r in rows)
    current = api.all_pages(
        "/payroll_coverages_subscribers", per_page=500, current="true", **params
    )
    assert current
    assert all(r["current"] for r in current)
    previous = api.all_pages(
        "/payroll_coverages_subscribers", per_page=500, previous="true", **params
    )
    assert len(previous) == sum(1 for p in expected if p.previous)


def test_payroll_window_field_switch_and_per_subscriber(plansource, api):
    s = store(plansource)
    year = s.plan_years[1]
    day = iso_day((year.starts_on - 719163) * 86400)
    SandboxClient(plansource.url).configure(payroll_window_field="change_effective_date")
    rows = api.all_pages(
        "/payroll_coverages_subscribers", per_page=500, start_date=day, end_date=day
    )
    assert rows
    assert all(r["change_effective_date"] == f"{day}T00:00:00.000Z" for r in rows)
    subscriber_id = rows[0]["id"]
    one = api.data(
        f"/payroll_coverages_subscriber/{subscriber_id}",
        start_date="2000-01-01",
        end_date="2100-01-01",
    )
    assert len(one) == sum(1 for p in s.payroll_coverages if p.subscriber_id == subscriber_id)


# -- administrators, ACA, EOI --------------------------------------------------------------


def test_administrators_changes_since_window_moves_with_the_clock(plansource, api):
    s = store(plansource)
    own = [a for a in s.administrators if a.organization_id == DEFAULT_ORGANIZATION_ID]
    # Without changes_since PlanSource looks back its documented default of one minute.
    assert api.all_pages("/administrators") == []
    assert len(api.all_pages("/administrators", changes_since=10**8)) == len(own)
    cutoff = plansource.emulator.now() - 60 * 60
    recent = {r["id"] for r in api.all_pages("/administrators", changes_since=60)}
    assert recent == {a.id for a in own if a.updated_at >= cutoff}
    assert 0 < len(recent) < len(own)
    SandboxClient(plansource.url).advance_clock(3600)
    later = Api(plansource.url, now=plansource.emulator.now())
    assert later.all_pages("/administrators", changes_since=60) == []
    bad = later.get("/administrators", changes_since="yesterday")
    assert bad.status_code == 400


def test_aca_changes_since_and_include_deletes(plansource, api):
    s = store(plansource)
    own = [
        o
        for o in s.aca_offers
        if s.subscriber_by_id[o.subscriber_id].organization_id == DEFAULT_ORGANIZATION_ID
    ]
    live = api.all_pages("/aca/offers", per_page=500)
    assert [r["id"] for r in live] == [o.id for o in own if not o.is_deleted]
    with_deletes = api.all_pages("/aca/offers", per_page=50, include_deletes="true")
    deleted = [r for r in with_deletes if r["is_deleted"]]
    assert deleted
    assert with_deletes == live + deleted
    cutoff = plansource.emulator.now() - 120 * 60
    window = api.all_pages("/aca/offers", per_page=500, changes_since=120, include_deletes="true")
    assert {r["id"] for r in window} == {o.id for o in own if o.updated_at >= cutoff}
    enrollees = api.all_pages("/aca/enrollees", per_page=500)
    assert enrollees
    assert all(not r["is_deleted"] for r in enrollees)
    subscriber_id = own[0].subscriber_id
    mine = api.all_pages(f"/aca/offers/subscriber/{subscriber_id}", include_deletes="true")
    assert {r["id"] for r in mine} == {o.id for o in own if o.subscriber_id == subscriber_id}


def test_pending_eoi_unmasked_and_without_errors_key(plansource, api):
    body = api.get("/eoi/subscribers", include_test="no").json()
    assert "errors" not in body
    rows = body["data"]
    assert rows
    subscriber = store(plansource).subscriber_by_id[rows[0]["id"]]
    assert rows[0]["ssn"] == subscriber.ssn
    assert float(rows[0]["req_volume"]) > float(rows[0]["gi_volume"])


# -- rate limit, faults --------------------------------------------------------------------


def test_rate_limit_answers_429_with_retry_after(plansource, api):
    client = SandboxClient(plansource.url)
    client.configure(rate_limit=3, rate_limit_window_seconds=60)
    statuses = [api.get("/organizations").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = api.get("/organizations")
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.json()["errors"]["http_status"] == 429
    client.advance_clock(61)
    assert api.get("/organizations").status_code == 200


def test_token_timeout_fault(plansource):
    SandboxClient(plansource.url).fault(
        path="^/oauth/v2/token$",
        status=400,
        body={"error": "invalid_request", "error_description": "token has expired"},
    )
    assert token_request(plansource.url).json()["error_description"] == "token has expired"
    assert token_request(plansource.url).status_code == 200


# -- seed ----------------------------------------------------------------------------------


def test_seed_is_deterministic_and_state_counts(plansource):
    anchor = 1_780_000_000
    first = start("plansource", seed={"subscribers": 40, "anchor": anchor})
    second = start("plansource", seed={"subscribers": 40, "anchor": anchor})
    other = start("plansource", seed={"subscribers": 40, "anchor": anchor, "seed": 7})
    try:
        pages = [
            json.dumps(Api(s.url).all_pages("/coverages", plan_year="next"))
            for s in (first, second, other)
        ]
        assert pages[0] == pages[1]
        assert pages[0] != pages[2]
        state = SandboxClient(first.url).state()
        assert state["subscribers"] == 43  # 40 plus the foreign organization's 3
        assert state["coverages"] == len(first.emulator.store.coverages)
        assert state["anchor"].startswith("2026-05-28")
    finally:
        for server in (first, second, other):
            server.stop()


def test_fifty_thousand_subscribers_build():
    built = build_store(
        seed=1,
        anchor=1_780_000_000,
        organization=ORGANIZATION,
        subscribers=50_000,
        administrators=40,
        foreign_organization=FOREIGN_ORGANIZATION,
        foreign_subscribers=0,
    )
    assert len(built.subscribers) == 50_000
    assert len(built.coverages) > 400_000
    assert sum(s.test_employee for s in built.subscribers) > 0


# -- switches: links form, custom ids, enrollee ids, empty pages ---------------------------


def test_links_object_form_and_custom_ids(plansource, api):
    plansource.emulator.configure(links_form="object", custom_id_links=True)
    first = api.data("/dependents")["dependents"][0]
    dependent = store(plansource).dependent_by_id[first["id"]]
    code = store(plansource).subscriber_by_id[dependent.subscriber_id].subscriber_code
    assert first["links"] == {
        "href": f"/admin/subscriber/{code}/dependent/{dependent.id}?is_custom_id=true",
        "rel": "self",
    }
    by_code = api.data(f"/subscriber/{code}", is_custom_id="true")
    assert by_code["id"] == dependent.subscriber_id


def test_aca_enrollees_carry_id_only_when_switched_on(plansource, api):
    assert all("id" not in r for r in api.all_pages("/aca/enrollees", per_page=500))
    plansource.emulator.configure(aca_enrollee_ids=True)
    assert all("id" in r for r in api.all_pages("/aca/enrollees", per_page=500))


def test_empty_page_fault_keeps_the_paging_metadata(plansource, api):
    plansource.emulator.configure(
        empty_pages=[{"path": "^/admin/v2/payroll_coverages_subscribers$", "page": 2}]
    )
    window = {"start_date": "2000-01-01", "end_date": "2100-01-01", "per_page": 50}
    empty = api.data("/payroll_coverages_subscribers", page=2, **window)
    assert empty["payroll_coverages"] == []
    assert empty["total"] > 100
    assert "next" in [link["rel"] for link in empty["links"]]
    again = api.data("/payroll_coverages_subscribers", page=2, **window)
    assert len(again["payroll_coverages"]) == 50, "times defaults to 1"
    plansource.emulator.configure(
        empty_pages=[{"path": "^/admin/v2/subscribers$", "page": 1, "times": None}]
    )
    for _ in range(3):
        assert api.data("/subscribers", page=1) == []


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_key_signed_assertions_are_verified_with_the_clients_public_key(plansource, algorithm):
    def generate():
        if algorithm == "RS256":
            return rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return ec.generate_private_key(ec.SECP256R1())

    key, stranger = generate(), generate()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    clients = json.loads(json.dumps(plansource.emulator.setting("clients")))
    clients[DEFAULT_CLIENT_ID].update(public_key=public_pem, key_id="k1")
    plansource.emulator.configure(jwt_alg=algorithm, clients=clients)

    def signed(private, kid="k1"):
        claims = jwt.decode(assertion(), options={"verify_signature": False})
        return jwt.encode(claims, private, algorithm=algorithm, headers={"kid": kid})

    assert token_request(plansource.url, signed(key)).status_code == 200
    refused = {
        "wrong key": token_request(plansource.url, signed(stranger)),
        "wrong kid": token_request(plansource.url, signed(key, kid="k0")),
        "secret": token_request(plansource.url, assertion()),
    }
    assert {name: r.json()["error_description"] for name, r in refused.items()} == {
        "wrong key": "client_assertion signature is invalid",
        "wrong kid": "kid does not name this client's key",
        "secret": "kid does not name this client's key",
    }
