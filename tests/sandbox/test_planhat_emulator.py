"""The Planhat emulator over real HTTP: bulk upsert, references, errors, lists, analytics."""

from __future__ import annotations

import base64
import copy

import pytest
import requests
from sandbox.core import serve
from sandbox.planhat.app import (
    SANDBOX_READONLY_TOKEN,
    SANDBOX_TOKEN,
    TENANT_UUID,
    PlanhatEmulator,
)
from sandbox.planhat.models import MODELS
from sandbox.testing import SandboxClient

ACME, GLOBEX = "ACME-001", "GLOBEX-002"
ACME_SOURCE_ID = "0015g00000AcmeAAA"


class Planhat:
    """A tiny client for the tests: one token, JSON in and out."""

    def __init__(self, url: str, emulator: PlanhatEmulator, token: str = SANDBOX_TOKEN) -> None:
        self.url = url
        self.emulator = emulator
        self.sandbox = SandboxClient(url)
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.session.request(method, f"{self.url}{path}", timeout=30, **kwargs)

    def bulk(self, model: str, items: list) -> tuple[int, dict]:
        response = self.call("PUT", f"/{model}", json=items)
        return response.status_code, response.json()

    def get(self, path: str, **params) -> requests.Response:
        return self.call("GET", path, params=params)

    def company_id(self, external_id: str) -> str:
        record = self.emulator.record("companies", f"extid-{external_id}")
        assert record is not None, external_id
        return record["_id"]


@pytest.fixture(scope="module")
def running():
    with serve(PlanhatEmulator()) as server:
        yield server


@pytest.fixture
def planhat(running) -> Planhat:
    running.emulator.reseed({})  # back to the default seed options, then settings and store
    running.emulator.reset()
    return Planhat(running.url, running.emulator)


def counts(envelope: dict) -> dict:
    return {k: v for k, v in envelope.items() if isinstance(v, int)}


# -- every model: create, nonupdate, update ---------------------------------------------------

# model -> (item that creates, key used to address it again, change)
SAMPLES = {
    "companies": (
        {"name": "Umbrella Corp", "externalId": "UMB-1", "sourceId": "sf-umb"},
        "externalId",
        {"phase": "Live"},
    ),
    "endusers": (
        {
            "email": "eve@acme.example",
            "companyId": f"extid-{ACME}",
            "externalId": "EVE",
            "firstName": "Eve",
        },
        "externalId",
        {"position": "CTO"},
    ),
    "licenses": (
        {
            "companyId": f"extid-{ACME}",
            "_currency": "EUR",
            "fromDate": "2024-01-01",
            "mrr": 1200,
            "sourceId": "lic-1",
        },
        "sourceId",
        {"mrr": 1500},
    ),
    "churn": (
        {"companyId": f"extid-{ACME}", "sourceId": "ch-1", "reasons": ["Price"]},
        "sourceId",
        {"value": 900},
    ),
    "nps": (
        {
            "email": "alice.moreau@acme.example",
            "score": 9,
            "cId": f"extid-{ACME}",
            "sourceId": "nps-1",
        },
        "sourceId",
        {"score": 10},
    ),
    "conversations": (
        {"companyId": f"extid-{ACME}", "subject": "Kick-off", "externalId": "conv-1"},
        "_id",
        {"subject": "QBR"},
    ),
    "opportunities": (
        {"companyId": f"extid-{ACME}", "title": "Upsell", "externalId": "opp-1"},
        "externalId",
        {"status": "won"},
    ),
    "projects": (
        {"companyId": f"extid-{ACME}", "name": "Rollout", "externalId": "prj-1"},
        "externalId",
        {"mrr": 10},
    ),
    "assets": (
        {"companyId": f"extid-{ACME}", "name": "Server", "externalId": "as-1"},
        "externalId",
        {"value": 5},
    ),
    "invoices": (
        {"cId": f"extid-{ACME}", "currency": "EUR", "extId": "inv-1", "invoiceDate": 19800},
        "extId",
        {"status": "paid"},
    ),
    "issues": (
        {"title": "Login broken", "sourceId": "jira-1", "companyIds": [f"extid-{ACME}"]},
        "sourceId",
        {"status": "closed"},
    ),
    "tasks": (
        {"companyId": f"extid-{ACME}", "mainType": "task", "action": "Call", "externalId": "t-1"},
        "externalId",
        {"status": "done"},
    ),
}


@pytest.mark.parametrize("model", sorted(SAMPLES))
def test_every_model_creates_leaves_alone_and_updates(planhat, model):
    item, key, change = SAMPLES[model]
    before = planhat.sandbox.state()[model]

    status, body = planhat.bulk(model, [item])
    assert (status, counts(body)) == (200, {"created": 1, "updated": 0, "nonupdates": 0})
    record_id = body["upsertedIds"][0]
    assert body["insertsKeys"][0]["_id"] == record_id
    sent_keys = {k: item[k] for k in MODELS[model].lookups if k in item}
    assert {k: v for k, v in body["insertsKeys"][0].items() if k != "_id"} == sent_keys

    again = {**item, "_id": record_id} if key == "_id" else item
    status, body = planhat.bulk(model, [again])
    assert (status, counts(body)) == (200, {"created": 0, "updated": 0, "nonupdates": 1})

    status, body = planhat.bulk(model, [{**again, **change}])
    assert (status, counts(body)) == (200, {"created": 0, "updated": 1, "nonupdates": 0})
    assert body["modified"] == [record_id]
    assert body["updatesKeys"][0]["_id"] == record_id

    stored = planhat.emulator.record(model, record_id)
    assert all(stored[k] == v for k, v in change.items())
    assert stored["createdAt"] <= stored["updatedAt"]
    assert stored["__v"] == 0
    assert planhat.sandbox.state()[model] == before + 1
    if model not in {"companies", "issues"}:
        company_field = "cId" if model in {"nps", "invoices"} else "companyId"
        assert stored[company_field] == planhat.company_id(ACME)
        assert stored["companyName"] == "Acme Corporation"


def test_conversations_match_only_by_id(planhat):
    item = SAMPLES["conversations"][0]
    assert planhat.bulk("conversations", [item])[1]["created"] == 1
    # externalId is no keyable here: re-sending without `_id` tries to create and clashes.
    status, body = planhat.bulk("conversations", [item])
    assert (status, body["createdErrors"][0]["error"]) == (400, "externalId duplicated")
    anonymous = {"companyId": f"extid-{ACME}", "subject": "Call"}
    assert planhat.bulk("conversations", [anonymous, anonymous])[1]["created"] == 2
    assert planhat.get("/conversations/extid-conv-1").json()["subject"] == "Kick-off"
    assert planhat.emulator.records("conversations")[0]["type"] == "note"


def test_custom_fields_merge_key_by_key(planhat):
    status, body = planhat.bulk("companies", [{"externalId": ACME, "custom": {"Seats": 300}}])
    assert (status, body["updated"]) == (200, 1)
    assert planhat.emulator.record("companies", f"extid-{ACME}")["custom"] == {
        "Segment": "Enterprise",
        "Seats": 300,
    }


# -- keyables -------------------------------------------------------------------------------------


def test_keyable_priority_id_then_source_id_then_external_id(planhat):
    globex_id = planhat.company_id(GLOBEX)
    status, body = planhat.bulk(
        "companies",
        [
            {
                "sourceId": ACME_SOURCE_ID,
                "externalId": "ACME-RENAMED",
            },  # sourceId wins, externalId rewritten
            {
                "_id": globex_id,
                "sourceId": "sf-new-globex",
                "externalId": "GLOBEX-9",
            },  # _id wins over both
        ],
    )
    assert (status, body["updated"], body["created"]) == (200, 2, 0)
    assert planhat.emulator.record("companies", "extid-ACME-RENAMED")["name"] == "Acme Corporation"
    assert planhat.emulator.record("companies", "srcid-sf-new-globex")["_id"] == globex_id
    assert planhat.emulator.record("companies", f"extid-{ACME}") is None


def test_first_present_keyable_decides_and_other_keys_stay_unique(planhat):
    status, body = planhat.bulk(
        "companies", [{"sourceId": "sf-unknown", "externalId": GLOBEX, "name": "Clash"}]
    )
    assert status == 400
    assert body["createdErrors"] == [
        {
            "item": {"sourceId": "sf-unknown", "externalId": GLOBEX, "name": "Clash"},
            "index": 0,
            "error": "externalId duplicated",
        }
    ]


def test_enduser_keys_are_scoped_to_the_company(planhat):
    # Same externalId and e-mail in another company: a new end user, not an update.
    status, body = planhat.bulk(
        "endusers",
        [
            {
                "externalId": f"{ACME}-U1",
                "email": "alice.moreau@acme.example",
                "companyId": f"extid-{GLOBEX}",
            },
            {
                "email": "bruno.silva@acme.example",
                "companyId": f"extid-{ACME}",
                "position": "Architect",
            },
        ],
    )
    assert (status, body["created"], body["updated"]) == (200, 1, 1)
    bruno = planhat.get("/endusers", email="bruno.silva@acme.example").json()
    assert [u["position"] for u in bruno] == ["Architect"]


def test_unknown_id_is_an_invalid_id(planhat):
    item = {"_id": "0123456789abcdef01234567", "name": "Ghost"}
    status, body = planhat.bulk("companies", [item, {"_id": "not-an-object-id"}])
    assert status == 400
    assert [e["error"] for e in body["updatedErrors"]] == ["invalid id", "invalid id"]
    assert body["createdErrors"] == []


def test_duplicate_keys_in_one_payload(planhat):
    first = {"name": "Twin", "externalId": "TWIN-1"}
    second = {"name": "Twin again", "externalId": "TWIN-1"}
    status, body = planhat.bulk("companies", [first, second])
    assert status == 206
    assert body["created"] == 1
    assert body["updatedErrors"] == [{"item": second, "index": 1, "error": "externalId duplicated"}]
    assert planhat.emulator.record("companies", "extid-TWIN-1")["name"] == "Twin"


# -- company references -------------------------------------------------------------------------


def test_company_reference_by_every_form(planhat):
    acme_id = planhat.company_id(ACME)
    base = {"_currency": "EUR", "fromDate": "2024-02-01", "mrr": 10}
    forms = [
        {"companyId": acme_id},
        {"companyId": f"extid-{ACME}"},
        {"companyId": f"srcid-{ACME_SOURCE_ID}"},
        {"companyExternalId": ACME},
    ]
    items = [{**base, **form, "externalId": f"lic-{i}"} for i, form in enumerate(forms)]
    status, body = planhat.bulk("licenses", items)
    assert (status, body["created"]) == (200, 4)
    assert {r["companyId"] for r in planhat.emulator.records("licenses")} == {acme_id}
    assert all("companyExternalId" not in r for r in planhat.emulator.records("licenses"))


def test_unresolvable_or_unaccepted_company_references(planhat):
    base = {"_currency": "EUR", "fromDate": "2024-02-01", "mrr": 10}
    items = [
        {**base, "companyId": "extid-NOPE"},
        {**base, "companyId": "srcid-NOPE"},
        {**base, "companyId": "0123456789abcdef01234567"},
        {
            **base,
            "companySourceId": ACME_SOURCE_ID,
        },  # not a Planhat field: the target must translate it
    ]
    status, body = planhat.bulk("licenses", items)
    assert status == 400
    assert [e["error"] for e in body["createdErrors"]] == [
        "company not found: extid-NOPE",
        "company not found: srcid-NOPE",
        "company not found: 0123456789abcdef01234567",
        "companyId is required",
    ]


def test_nps_invoices_and_issues_company_fields(planhat):
    acme_id, globex_id = planhat.company_id(ACME), planhat.company_id(GLOBEX)
    assert (
        planhat.bulk(
            "nps", [{"email": "a@acme.example", "score": 7, "companyId": f"extid-{ACME}"}]
        )[0]
        == 200
    )
    assert (
        planhat.bulk(
            "invoices", [{"currency": "USD", "companyExternalId": GLOBEX, "extId": "i-9"}]
        )[0]
        == 200
    )
    issue = {"title": "Outage", "companyIds": [acme_id, f"extid-{GLOBEX}"]}
    assert planhat.bulk("issues", [issue])[0] == 200
    assert planhat.emulator.records("nps")[0]["cId"] == acme_id
    assert planhat.emulator.records("invoices")[0]["cId"] == globex_id
    assert planhat.emulator.records("issues")[0]["companyIds"] == [acme_id, globex_id]
    assert [i["title"] for i in planhat.get("/issues", companyId=globex_id).json()] == ["Outage"]
    assert len(planhat.get("/nps", companyId=acme_id).json()) == 1


def test_endusers_placed_by_email_domain_or_dropped(planhat):
    items = [{"email": "new.person@globex.example"}, {"email": "stray@unknown.example"}]
    status, body = planhat.bulk("endusers", items)
    assert (status, counts(body)) == (
        200,
        {"created": 1, "updated": 0, "nonupdates": 0},
    )  # the stray is silently lost
    assert planhat.emulator.record("endusers", body["upsertedIds"][0])[
        "companyId"
    ] == planhat.company_id(GLOBEX)

    planhat.sandbox.configure(unplaced_endusers="error")
    status, body = planhat.bulk("endusers", [items[1]])
    assert status == 400
    assert "no company" in body["createdErrors"][0]["error"]


def test_domains_follow_company_updates(planhat):
    planhat.bulk("companies", [{"externalId": GLOBEX, "domains": ["globex.test"]}])
    status, body = planhat.bulk(
        "endusers", [{"email": "a@globex.test"}, {"email": "b@globex.example"}]
    )
    assert (status, body["created"]) == (200, 1)
    placed = planhat.emulator.record("endusers", body["upsertedIds"][0])
    assert placed["companyId"] == planhat.company_id(GLOBEX)


def test_null_id_names_nothing(planhat):
    status, body = planhat.bulk("companies", [{"_id": None, "name": "Fresh", "externalId": "F-1"}])
    assert (status, body["created"]) == (200, 1)


# -- required fields and value rules ----------------------------------------------------------

REQUIRED = {
    "companies": ({}, "name is required"),
    "endusers": ({"companyId": f"extid-{ACME}", "externalId": "x"}, "email is required"),
    "licenses": ({"companyId": f"extid-{ACME}", "mrr": 1}, "_currency, fromDate are required"),
    "churn": ({"sourceId": "c"}, "companyId is required"),
    "nps": ({"email": "a@b.c"}, "score is required"),
    "conversations": ({"subject": "s"}, "companyId is required"),
    "opportunities": ({"title": "t"}, "companyId is required"),
    "projects": ({"companyId": f"extid-{ACME}"}, "name is required"),
    "assets": ({"name": "n"}, "companyId is required"),
    "invoices": ({"cId": f"extid-{ACME}"}, "currency is required"),
    "issues": ({"description": "d"}, "title is required"),
    "tasks": ({"companyId": f"extid-{ACME}"}, "mainType is required"),
}


@pytest.mark.parametrize("model", sorted(REQUIRED))
def test_required_fields(planhat, model):
    item, message = REQUIRED[model]
    before = planhat.sandbox.state()
    status, body = planhat.bulk(model, [item])
    assert status == 400
    assert body["createdErrors"] == [{"item": item, "index": 0, "error": message}]
    assert planhat.sandbox.state() == before


@pytest.mark.parametrize(
    ("model", "item", "message"),
    [
        ("nps", {"email": "a@b.c", "score": 11}, "score must be an integer between 0 and 10"),
        (
            "licenses",
            {"companyId": f"extid-{ACME}", "_currency": "EUR", "fromDate": "2024-01-01"},
            "mrr is required unless fixedPeriod is true",
        ),
        (
            "licenses",
            {"companyId": f"extid-{ACME}", "_currency": "EUR", "fromDate": "01/02/2024", "mrr": 1},
            "fromDate must be an ISO date, got '01/02/2024'",
        ),
        (
            "invoices",
            {"cId": f"extid-{ACME}", "currency": "EUR", "invoiceDate": "2024-01-01"},
            "invoiceDate must be an integer day number (days since 1970-01-01), got '2024-01-01'",
        ),
        (
            "tasks",
            {"companyId": f"extid-{ACME}", "mainType": "chore"},
            "mainType must be one of task, event, got 'chore'",
        ),
        ("companies", {"name": "x", "externalId": {"nested": 1}}, "externalId must be a string"),
        ("companies", {"name": "x", "custom": ["not", "an", "object"]}, "custom must be an object"),
    ],
)
def test_value_rules(planhat, model, item, message):
    status, body = planhat.bulk(model, [item])
    assert (status, [e["error"] for e in body["createdErrors"]]) == (400, [message])


def test_partial_success_is_206_with_exact_error_entries(planhat):
    good, bad, also_good = (
        {"name": "One", "externalId": "P-1"},
        {"externalId": "P-2"},
        {"name": "Three"},
    )
    status, body = planhat.bulk("companies", [good, bad, also_good])
    assert status == 206
    assert body == {
        "created": 2,
        "createdErrors": [{"item": bad, "index": 1, "error": "name is required"}],
        "insertsKeys": [
            {"_id": body["upsertedIds"][0], "externalId": "P-1"},
            {"_id": body["upsertedIds"][1]},
        ],
        "updated": 0,
        "updatedErrors": [],
        "updatesKeys": [],
        "nonupdates": 0,
        "modified": [],
        "upsertedIds": body["upsertedIds"],
        "permissionErrors": [],
    }
    assert planhat.sandbox.state()["companies"] == 5


def test_error_items_as_strings_and_validation_errors_switch(planhat):
    planhat.sandbox.configure(error_item_format="string", include_validation_errors=True)
    status, body = planhat.bulk("nps", [{"email": "a@b.c"}, {"email": "a@b.c", "score": 42}])
    assert status == 400
    assert body["createdErrors"] == ["score is required"]
    assert body["validationErrors"] == ["score must be an integer between 0 and 10"]
    assert planhat.bulk("companies", [])[1]["validationErrors"] == []


def test_strict_custom_fields(planhat):
    item = {"name": "Strict", "custom": {"Segment": "SMB", "Colour": "red"}}
    assert planhat.bulk("companies", [item])[0] == 200
    planhat.sandbox.configure(strict_custom_fields=True)
    status, body = planhat.bulk("companies", [{**item, "name": "Strict 2"}])
    assert (status, body["createdErrors"][0]["error"]) == (
        400,
        "unknown custom fields for Company: Colour",
    )


# -- request-level checks: body, cap, auth, permissions ---------------------------------------


def test_bulk_cap_is_5000_items(planhat):
    items = [{"name": f"Bulk {i}", "externalId": f"B-{i}"} for i in range(5001)]
    status, body = planhat.bulk("companies", items)
    assert status == 400
    assert "at most 5000" in body["error"]
    assert planhat.sandbox.state()["companies"] == 3
    status, body = planhat.bulk("companies", items[:5000])
    assert (status, body["created"], len(body["upsertedIds"])) == (200, 5000, 5000)


def test_bulk_body_must_be_an_array(planhat):
    assert planhat.bulk("companies", {"name": "x"}) == (
        400,
        {"error": "body must be a JSON array of objects"},
    )
    response = planhat.call("PUT", "/companies", data=b"{not json")
    assert response.status_code == 400
    status, body = planhat.bulk("companies", ["just a string"])
    assert status == 400
    assert body["createdErrors"][0]["error"] == "item must be a JSON object"


def test_authentication(planhat):
    url = f"{planhat.url}/companies"
    basic = base64.b64encode(f"{SANDBOX_TOKEN}:".encode()).decode()
    assert (
        requests.get(url, headers={"Authorization": f"Basic {basic}"}, timeout=5).status_code == 200
    )
    for header in (
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic " + base64.b64encode(f"{SANDBOX_TOKEN}:pw".encode()).decode()},
        {"Authorization": "Basic " + base64.b64encode(SANDBOX_TOKEN.encode()).decode()},
        {"Authorization": "Basic %%%"},
    ):
        response = requests.get(url, headers=header, timeout=5)
        assert (response.status_code, response.text) == (401, "Unauthorized")
    assert SANDBOX_TOKEN not in str(planhat.sandbox.requests())


def test_read_only_and_per_model_tokens(planhat, running):
    read_only = Planhat(running.url, running.emulator, SANDBOX_READONLY_TOKEN)
    items = [{"name": "Nope"}, {"name": "Nope 2"}]
    status, body = read_only.bulk("companies", items)
    assert status == 403
    assert body["permissionErrors"] == [
        {"item": item, "index": i, "error": "no write permission on companies"}
        for i, item in enumerate(items)
    ]
    assert body["created"] == 0
    assert read_only.call("POST", "/companies", json={"name": "x"}).status_code == 403
    assert read_only.get("/companies").status_code == 200

    planhat.sandbox.configure(tokens={"scoped": {"endusers": "rw", "*": "ro"}})
    scoped = Planhat(running.url, running.emulator, "scoped")
    assert scoped.bulk("endusers", [{"email": "z@acme.example"}])[0] == 200
    assert scoped.bulk("companies", [{"name": "x"}])[0] == 403
    assert planhat.get("/companies").status_code == 401  # the default tokens were replaced


# -- single-record calls (update-only building blocks) -----------------------------------------


def test_get_by_id_extid_srcid(planhat):
    acme_id = planhat.company_id(ACME)
    for key in (acme_id, f"extid-{ACME}", f"srcid-{ACME_SOURCE_ID}"):
        response = planhat.get(f"/companies/{key}")
        assert (response.status_code, response.json()["_id"]) == (200, acme_id)
    assert planhat.get("/companies/extid-NOPE").status_code == 404
    assert planhat.get(f"/endusers/extid-{ACME}-U1").json()["email"] == "alice.moreau@acme.example"


def test_single_put_post_delete(planhat):
    response = planhat.call(
        "PUT", f"/companies/extid-{ACME}", json={"phase": "Live", "custom": {"Seats": 1}}
    )
    assert response.status_code == 200
    updated = response.json()
    assert (updated["phase"], updated["custom"]) == ("Live", {"Segment": "Enterprise", "Seats": 1})
    assert updated["updatedAt"] >= updated["createdAt"]
    assert planhat.call("PUT", "/companies/extid-NOPE", json={"phase": "x"}).status_code == 404
    mismatch = planhat.call(
        "PUT", f"/companies/extid-{ACME}", json={"_id": "0123456789abcdef01234567"}
    )
    assert mismatch.status_code == 400
    clash = planhat.call("PUT", f"/companies/extid-{ACME}", json={"externalId": GLOBEX})
    assert (clash.status_code, clash.json()) == (400, {"error": "externalId duplicated"})

    created = planhat.call("POST", "/companies", json={"name": "Acme again", "externalId": ACME})
    assert created.status_code == 200  # POST does not de-duplicate (Planhat's legacy behaviour)
    assert planhat.sandbox.state()["companies"] == 4
    assert planhat.call("POST", "/companies", json={"externalId": "x"}).json() == {
        "error": "name is required"
    }

    assert planhat.call("DELETE", f"/companies/extid-{GLOBEX}").status_code == 404  # only by _id
    deleted = planhat.call("DELETE", f"/companies/{planhat.company_id(GLOBEX)}")
    assert deleted.json() == {"n": 1, "ok": 1, "deletedCount": 1}
    assert planhat.get(f"/companies/extid-{GLOBEX}").status_code == 404


def test_post_dedupes_companies_switch(planhat):
    planhat.sandbox.configure(post_dedupes_companies=True)
    response = planhat.call("POST", "/companies", json={"name": "Acme Inc", "externalId": ACME})
    assert response.json()["_id"] == planhat.company_id(ACME)
    assert planhat.sandbox.state()["companies"] == 3


def test_read_only_models(planhat):
    assert planhat.bulk("customfields", [{"name": "x"}])[0] == 405
    assert planhat.call("POST", "/users", json={"email": "x@y.z"}).status_code == 405
    assert len(planhat.get("/users").json()) == 2
    definition = {"name": "Tier", "type": "text", "parent": "Company", "isHidden": False}
    assert planhat.call("POST", "/customfields", json=definition).status_code == 200
    assert [f["name"] for f in planhat.get("/customfields", parent="Company").json()] == [
        "Segment",
        "Seats",
        "Tier",
    ]


def test_lean_companies(planhat, running):
    running.emulator.reseed({"companies": 6000, "endusers_per_company": 0})
    lean = planhat.get("/leancompanies").json()
    assert len(lean) == 6000  # not capped like the list
    assert lean[0] == {
        "_id": planhat.company_id(ACME),
        "name": "Acme Corporation",
        "externalId": ACME,
        "sourceId": ACME_SOURCE_ID,
        "slug": "acme-corporation",
    }
    assert [c["name"] for c in planhat.get("/leancompanies", externalId="COMP-0042").json()] == [
        "Company 0042"
    ]
    assert [
        c["externalId"] for c in planhat.get("/leancompanies", sourceId=ACME_SOURCE_ID).json()
    ] == [ACME]
    assert len(planhat.get("/companies", limit=10000).json()) == 5000


# -- lists -----------------------------------------------------------------------------------


def test_list_paging_select_sort_and_filters(planhat, running):
    running.emulator.reseed({"companies": 12})
    pages = [planhat.get("/companies", limit=5, offset=offset).json() for offset in (0, 5, 10)]
    assert [len(p) for p in pages] == [5, 5, 2]
    ids = [c["_id"] for page in pages for c in page]
    assert ids == sorted(ids)
    assert len(set(ids)) == 12
    assert planhat.get("/companies", limit=2, select="name,externalId").json()[0] == {
        "_id": ids[0],
        "name": "Acme Corporation",
        "externalId": ACME,
    }
    names = [
        c["name"] for c in planhat.get("/companies", sort="-name", limit=2, select="name").json()
    ]
    assert names == ["Initech GmbH", "Globex Ltd"]
    acme_users = planhat.get("/endusers", companyId=planhat.company_id(ACME)).json()
    assert [u["externalId"] for u in acme_users] == [f"{ACME}-U1", f"{ACME}-U2"]
    two = ",".join([planhat.company_id(ACME), planhat.company_id(GLOBEX)])
    assert len(planhat.get("/endusers", companyId=two).json()) == 4
    assert len(planhat.get("/endusers").json()) == 24  # default limit 100


def test_list_limits_are_capped_or_refused(planhat):
    planhat.sandbox.configure(list_max_limits={"companies": 2})
    assert len(planhat.get("/companies", limit=50).json()) == 2
    planhat.sandbox.configure(list_limit_over_max="error")
    response = planhat.get("/companies", limit=50)
    assert (response.status_code, response.json()) == (
        400,
        {"error": "limit must be at most 2, got 50"},
    )
    bad = planhat.get("/companies", limit="ten")
    assert (bad.status_code, bad.json()) == (
        400,
        {"error": "limit must be a non-negative integer, got 'ten'"},
    )


def test_archived_endusers_are_hidden_from_lists(planhat):
    planhat.bulk(
        "endusers", [{"externalId": f"{ACME}-U1", "companyId": f"extid-{ACME}", "archived": True}]
    )
    assert f"{ACME}-U1" not in [u["externalId"] for u in planhat.get("/endusers").json()]


# -- analytics -----------------------------------------------------------------------------


def test_metrics_always_200_with_errors(planhat):
    items = [
        {"dimensionId": "logins", "value": 3, "externalId": ACME, "date": "2024-03-01"},
        {"dimensionId": "seats", "value": 2, "externalId": f"{ACME}-U1", "model": "EndUser"},
        {"value": 1, "externalId": ACME},
        {"dimensionId": "logins", "value": "3", "externalId": ACME},
        {"dimensionId": "logins", "value": 3, "externalId": "NOPE"},
        {"dimensionId": "logins", "value": 3, "externalId": ACME, "model": "Planet"},
    ]
    response = requests.post(f"{planhat.url}/dimensiondata/{TENANT_UUID}", json=items, timeout=5)
    assert response.status_code == 200
    assert response.json() == {
        "processed": 6,
        "errors": [
            {"item": items[2], "error": "dimensionId must be specified"},
            {"item": items[3], "error": "value must be a number"},
            {"item": items[4], "error": "Company with externalId NOPE not found"},
            {"item": items[5], "error": "model must be one of Company, EndUser, Asset, Project"},
        ],
    }
    assert planhat.sandbox.state()["metric_points"] == 2
    acme_id = planhat.company_id(ACME)
    points = planhat.get(
        "/dimensiondata", cid=acme_id, dimid="logins", **{"from": 19783, "to": 19783}
    ).json()
    assert [(p["value"], p["parentId"], p["companyName"]) for p in points] == [
        (3, acme_id, "Acme Corporation")
    ]
    user_point = planhat.emulator.records("metric_points")[1]
    assert (user_point["model"], user_point["companyId"]) == ("EndUser", acme_id)
    # Re-sending appends: metrics are never de-duplicated.
    requests.post(f"{planhat.url}/dimensiondata/{TENANT_UUID}", json=items[0], timeout=5)
    assert planhat.sandbox.state()["metric_points"] == 3


def test_activities_create_unknown_users_of_known_companies(planhat):
    items = [
        {"action": "Logged in", "email": "alice.moreau@acme.example"},
        {"action": "Exported", "email": "newbie@acme.example", "cId": ACME, "name": "New Bie"},
        {"action": "Viewed", "id": "GHOST"},
        {"email": "alice.moreau@acme.example"},
    ]
    response = requests.post(f"{planhat.url}/analytics/bulk/{TENANT_UUID}", json=items, timeout=5)
    assert response.json() == {
        "processed": 4,
        "errors": [
            {"item": items[2], "error": "end user not found and no company to create it in"},
            {"item": items[3], "error": "action must be specified"},
        ],
    }
    single = requests.post(
        f"{planhat.url}/analytics/{TENANT_UUID}", json={"action": "Ping", "cId": GLOBEX}, timeout=5
    )
    assert single.json() == {"processed": 1, "errors": []}
    assert planhat.sandbox.state()["activities"] == 3
    assert planhat.get("/endusers", email="newbie@acme.example").json()[0][
        "companyId"
    ] == planhat.company_id(ACME)


def test_error_shapes_on_both_hosts(planhat):
    """`error_item_format`: bare strings, or echoes carrying defaults that were not sent."""
    metric = {"dimensionId": "d", "value": 1, "externalId": "NOPE"}
    activity = {"action": "A", "cId": "NOPE", "email": "x@y.example"}
    bad_company = {"externalId": "NAMELESS"}
    answers = {}
    for shape in ("string", "echo_with_defaults"):
        planhat.sandbox.configure(error_item_format=shape)
        metrics = requests.post(
            f"{planhat.url}/dimensiondata/{TENANT_UUID}", json=[metric], timeout=5
        )
        activities = requests.post(
            f"{planhat.url}/analytics/bulk/{TENANT_UUID}", json=[activity], timeout=5
        )
        bulk = planhat.bulk("companies", [bad_company])[1]["createdErrors"]
        answers[shape] = (metrics.json()["errors"], activities.json()["errors"], bulk)
    assert answers["string"] == (
        ["Company with externalId NOPE not found"],
        ["company with externalId NOPE not found"],
        ["name is required"],
    )
    assert answers["echo_with_defaults"] == (
        [
            {
                "item": {**metric, "model": "Company"},
                "error": "Company with externalId NOPE not found",
            }
        ],
        [
            {
                "item": {**activity, "weight": 1, "count": 1},
                "error": "company with externalId NOPE not found",
            }
        ],
        [{"item": {**bad_company, "custom": {}}, "error": "name is required"}],
    )


def test_metric_read_back_serves_the_documented_fields(planhat):
    point = {"dimensionId": "d", "value": 5, "externalId": ACME, "date": "2024-03-01"}
    requests.post(f"{planhat.url}/dimensiondata/{TENANT_UUID}", json=[point], timeout=5)
    [served] = planhat.get("/dimensiondata", cid=planhat.company_id(ACME)).json()
    assert set(served) == {
        "_id",
        "dimensionId",
        "time",
        "value",
        "model",
        "parentId",
        "companyId",
        "companyName",
    }


def test_bulk_activities_read_the_bulk_names_unless_aliases_are_switched_on(planhat):
    single_names = {"action": "Exported", "externalId": "ACME-001-U1", "companyExternalId": ACME}
    bulk = f"{planhat.url}/analytics/bulk/{TENANT_UUID}"
    answer = requests.post(bulk, json=[single_names], timeout=5).json()
    assert answer["errors"] == [{"item": single_names, "error": "id or email must be specified"}]
    planhat.sandbox.configure(activity_bulk_aliases=True)
    assert requests.post(bulk, json=[single_names], timeout=5).json()["errors"] == []
    assert planhat.sandbox.state()["activities"] == 1


@pytest.mark.parametrize(
    ("answer", "drop_last", "body"),
    [
        ("counts", 2, {"processed": 1, "errors": []}),
        ("no_processed", 0, {"errors": []}),
        ("empty", 0, None),
    ],
)
def test_analytics_answers_can_be_short_or_say_nothing(planhat, answer, drop_last, body):
    planhat.sandbox.configure(analytics_answer=answer, analytics_drop_last=drop_last)
    points = [{"dimensionId": "d", "value": n, "externalId": ACME} for n in range(3)]
    response = requests.post(f"{planhat.url}/dimensiondata/{TENANT_UUID}", json=points, timeout=5)
    assert response.status_code == 200
    assert (response.json() if response.content else None) == body
    assert [p["value"] for p in planhat.emulator.records("metric_points")] == list(
        range(3 - drop_last)
    )


def test_analytics_tenant_and_body_size(planhat):
    assert (
        requests.post(f"{planhat.url}/dimensiondata/other-tenant", json=[], timeout=5).status_code
        == 404
    )
    planhat.sandbox.configure(analytics_max_body_bytes=1000)
    big = [{"dimensionId": "d", "value": 1, "externalId": ACME}] * 50
    assert (
        requests.post(f"{planhat.url}/dimensiondata/{TENANT_UUID}", json=big, timeout=5).status_code
        == 413
    )
    assert planhat.sandbox.state()["metric_points"] == 0


# -- rate limiter ------------------------------------------------------------------------------


def test_rate_limiter_429_with_and_without_retry_after(planhat):
    planhat.sandbox.configure(rate_limit_per_minute=3)
    remaining = [planhat.get("/companies").headers["X-Rate-Limit-Remaining"] for _ in range(3)]
    assert remaining == ["2", "1", "0"]
    refused = planhat.get("/companies")
    assert (refused.status_code, refused.text, refused.headers["X-Rate-Limit-Limit"]) == (
        429,
        "Too many requests",
        "3",
    )
    assert "Retry-After" not in refused.headers
    # The analytics host is not rate limited.
    assert requests.post(
        f"{planhat.url}/analytics/{TENANT_UUID}", json={"action": "a", "cId": ACME}, timeout=5
    ).ok

    planhat.sandbox.configure(send_retry_after=True, rate_limit_headers=False)
    refused = planhat.get("/companies")
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert "X-Rate-Limit-Limit" not in refused.headers

    planhat.sandbox.advance_clock(61)
    assert planhat.get("/companies").status_code == 200


# -- inspection and seeding --------------------------------------------------------------------


def test_state_detail_records_and_seed_options(planhat, running):
    detail = requests.get(
        f"{planhat.url}/__sandbox/state", params={"model": "companies"}, timeout=5
    ).json()
    assert [c["externalId"] for c in detail] == [ACME, GLOBEX, "INITECH-003"]
    unknown = requests.get(f"{planhat.url}/__sandbox/state", params={"model": "planets"}, timeout=5)
    assert unknown.status_code == 404
    planhat.sandbox.seed(companies=5, endusers_per_company=1, users=3)
    state = planhat.sandbox.state()
    assert (state["companies"], state["endusers"], state["users"]) == (5, 5, 3)
    with pytest.raises(requests.HTTPError):
        planhat.sandbox.seed(planets=1)
    copy_of = running.emulator.records("companies")[0]
    copy_of["name"] = "changed"
    assert running.emulator.records("companies")[0]["name"] == "Acme Corporation"


def test_request_log_keeps_no_bodies_when_asked(planhat):
    planhat.sandbox.configure(log_bodies=False)
    planhat.bulk("companies", [{"name": "Quiet"}])
    entry = planhat.sandbox.requests()[-1]
    assert (entry["method"], entry["path"], entry["status"]) == ("PUT", "/companies", 200)
    assert "body" not in entry
    assert entry["body_bytes"] > 0


def test_reset_restores_settings_and_workspace(planhat):
    planhat.sandbox.configure(rate_limit_per_minute=1)
    planhat.bulk("companies", [{"name": "Temp"}])
    planhat.sandbox.reset()
    assert planhat.sandbox.state()["companies"] == 3
    assert planhat.get("/companies").status_code == 200
    assert copy.deepcopy(planhat.emulator.settings)["rate_limit_per_minute"] == 0


def test_odd_analytics_answers_for_the_first_requests_only(planhat):
    planhat.sandbox.configure(analytics_drop_last=1, analytics_odd_requests=1)
    points = [{"dimensionId": "d", "value": n, "externalId": ACME} for n in range(3)]
    url = f"{planhat.url}/dimensiondata/{TENANT_UUID}"
    answers = [requests.post(url, json=points, timeout=5).json()["processed"] for _ in range(2)]
    assert answers == [2, 3]
    assert planhat.sandbox.state()["metric_points"] == 5


@pytest.mark.parametrize("spelling", ["cid", "cId"])
def test_metric_read_filters_by_one_company_spelling_when_told(planhat, spelling):
    planhat.sandbox.configure(dimensiondata_company_param=spelling)
    points = [
        {"dimensionId": "d", "value": 1, "externalId": ACME},
        {"dimensionId": "d", "value": 2, "externalId": GLOBEX},
    ]
    requests.post(f"{planhat.url}/dimensiondata/{TENANT_UUID}", json=points, timeout=5)
    other = "cId" if spelling == "cid" else "cid"
    acme = planhat.company_id(ACME)
    assert [p["value"] for p in planhat.get("/dimensiondata", **{spelling: acme}).json()] == [1]
    assert len(planhat.get("/dimensiondata", **{other: acme}).json()) == 2  # ignored
