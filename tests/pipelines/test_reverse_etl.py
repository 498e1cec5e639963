"""Reverse ETL with `meltano run`: a customer list split by stream maps into Planhat companies and
end users, checked in the Planhat emulator's store."""

from __future__ import annotations

import json

from tests.pipelines.conftest import REPO


def _customers() -> list[dict]:
    return [
        json.loads(line) for line in (REPO / "data" / "customers.jsonl").read_text().splitlines()
    ]


def test_customer_list_becomes_planhat_companies_and_endusers(meltano_project, sandboxes):
    planhat = sandboxes["planhat"].emulator
    customers = _customers()
    before_companies = len(planhat.records("companies"))
    before_endusers = len(planhat.records("endusers"))

    meltano_project.run("run", "customers-to-planhat")

    companies = {c.get("externalId"): c for c in planhat.records("companies")}
    endusers = {u.get("externalId"): u for u in planhat.records("endusers")}
    assert len(companies) - 1 <= before_companies + len(customers)  # None key folds seeded ones
    for customer in customers:
        company = companies[customer["customer_id"]]
        assert company["name"] == customer["company_name"]
        assert company["domains"] == customer["domains"]
        assert company["custom"]["Segment"] == customer["attributes"]["Segment"]
        user = endusers[customer["contact_id"]]
        assert user["email"] == customer["contact_email"]
        assert user["companyId"] == company["_id"]  # companyExternalId resolved by Planhat
    assert len(planhat.records("companies")) == before_companies + len(customers)
    assert len(planhat.records("endusers")) == before_endusers + len(customers)

    # A second run upserts by externalId: nothing new is created.
    meltano_project.run("run", "customers-to-planhat")
    assert len(planhat.records("companies")) == before_companies + len(customers)
    assert len(planhat.records("endusers")) == before_endusers + len(customers)
