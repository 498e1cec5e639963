"""Reverse ETL with `meltano run`: a customer list split by stream maps into Planhat companies and
end users, checked in the Planhat emulator's store."""

from __future__ import annotations

import json

from tests.pipelines.conftest import REPO


def _customers() -> list[dict]:
    return [
        json.loads(line) for line in (REPO / "data" / "customers.jsonl").read_text().splitlines()
    ]


def test_customer_list_becomes_planhat_companies_and_endusers(meltano_project, fresh_planhat):
    planhat = fresh_planhat
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
        assert "_sdc_last_modified" not in company  # the tap's bookmark is not Planhat data
        assert "_sdc_last_modified" not in user
    assert len(planhat.records("companies")) == before_companies + len(customers)
    assert len(planhat.records("endusers")) == before_endusers + len(customers)

    # A second run upserts by externalId: nothing new is created.
    meltano_project.run("run", "customers-to-planhat")
    assert len(planhat.records("companies")) == before_companies + len(customers)
    assert len(planhat.records("endusers")) == before_endusers + len(customers)


def test_planful_sales_become_planhat_metrics(meltano_project, sandboxes, fresh_planhat):
    """Stream maps turn Planful sales transactions into Planhat metric points per customer."""
    planful = sandboxes["planful"].emulator
    planhat = fresh_planhat
    source = planful.dynamic_planning.source_models["salestxn"]
    rows = [dict(zip(source.fields, row, strict=True)) for row in source.rows]
    expected = [r for r in rows if r["customer_id"] and float(r["amount"]) != 0]
    meltano_project.run("run", "customers-to-planhat")  # the companies the metrics land on
    before = len(planhat.records("metric_points"))

    meltano_project.run("run", "sales-to-planhat")

    points = planhat.records("metric_points")[before:]
    assert len(points) == len(expected)
    assert {p["dimensionId"] for p in points} == {"planful_sales_amount"}
    total = {}
    for point in points:
        total[point["externalId"]] = total.get(point["externalId"], 0) + point["value"]
    expected_total = {}
    for row in expected:
        expected_total[row["customer_id"]] = expected_total.get(row["customer_id"], 0) + float(
            row["amount"]
        )
    assert total.keys() == expected_total.keys()
    for customer, amount in expected_total.items():
        assert abs(total[customer] - amount) < 0.01, customer


def test_mapped_customer_list_into_json_lines(meltano_project):
    """The same stream maps feed any loader: here target-jsonl, one file per mapped stream."""
    folder = meltano_project.root / "output" / "jsonl"
    earlier = set(folder.glob("*.jsonl"))
    meltano_project.run("run", "tap-customers", "target-jsonl")
    written = {p.name.rsplit("-", 1)[0]: p for p in set(folder.glob("*.jsonl")) - earlier}
    assert set(written) == {"companies", "endusers"}  # `<stream>-<run time>.jsonl`, no customers
    companies = [json.loads(line) for line in written["companies"].read_text().splitlines()]
    endusers = [json.loads(line) for line in written["endusers"].read_text().splitlines()]
    customers = _customers()
    assert [c["externalId"] for c in companies] == [c["customer_id"] for c in customers]
    assert set(companies[0]) == {
        "externalId",
        "name",
        "domains",
        "country",
        "custom",
        "_sdc_last_modified",  # the bookmark property the stream's SCHEMA names
    }
    assert [u["companyExternalId"] for u in endusers] == [c["customer_id"] for c in customers]
