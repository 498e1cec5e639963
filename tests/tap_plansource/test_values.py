"""PlanSource's value formats and list shapes, and the SSN policy on nested payloads."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest
from tap_plansource.normalize import RecordNormalizer
from tap_plansource.paging import records_in
from tap_plansource.schemas import COVERAGE, SUBSCRIBER
from tap_plansource.sensitive import SensitiveFieldPolicy

SSN_NAMES = frozenset({"ssn", "subscriber_ssn", "dependent_ssn"})


@pytest.mark.parametrize(
    ("sent", "date", "date_time"),
    [
        ("2018/05/29", "2018-05-29", "2018-05-29T00:00:00+00:00"),
        ("05/29/2018", "2018-05-29", "2018-05-29T00:00:00+00:00"),
        ("2018-05-29", "2018-05-29", "2018-05-29T00:00:00+00:00"),
        ("2018-05-29T19:59:55.000Z", "2018-05-29", "2018-05-29T19:59:55+00:00"),
        ("2017-12-01T12:30:30-06:00", "2017-12-01", "2017-12-01T12:30:30-06:00"),
        ("2006/06/1300: 00: 00-0400", "2006-06-13", "2006-06-13T00:00:00-04:00"),
        ("05/29/201816:03:27", "2018-05-29", "2018-05-29T16:03:27+00:00"),
        ("2018-05-29 19:59:55 UTC", "2018-05-29", "2018-05-29T19:59:55+00:00"),
    ],
)
def test_every_date_format_becomes_iso_8601(sent, date, date_time):
    normalize = RecordNormalizer(SUBSCRIBER)
    record = normalize({"birthdate": sent, "status_changed_at": sent})
    assert record == {"birthdate": date, "status_changed_at": date_time}
    assert not normalize.failures


def test_money_integers_booleans_and_blanks():
    normalize = RecordNormalizer(COVERAGE)
    record = normalize(
        {
            "subscriber_premium": "70000.0",
            "org_premium": "3.82",
            "volume": "",
            "org_plan_id": "563",
            "waiting_for_eoi": "NO",
            "termination_date": None,
            "benefit_lookup_code": "medical",
            "undeclared": "kept as sent",
        }
    )
    assert record == {
        "subscriber_premium": Decimal("70000.0"),
        "org_premium": Decimal("3.82"),
        "volume": None,
        "org_plan_id": 563,
        "waiting_for_eoi": False,
        "termination_date": None,
        "benefit_lookup_code": "medical",
        "undeclared": "kept as sent",
    }


def test_unconvertible_values_are_kept_and_counted():
    normalize = RecordNormalizer(SUBSCRIBER)
    record = normalize({"hire_date": "someday", "benefit_salaries": [{"benefit_salary": "n/a"}]})
    assert record == {"hire_date": "someday", "benefit_salaries": [{"benefit_salary": "n/a"}]}
    assert normalize.failures == {"hire_date": 1, "benefit_salaries[].benefit_salary": 1}


RECORD = {"id": 1, "name": "x"}


@pytest.mark.parametrize(
    "data",
    [
        [RECORD],
        {"subscribers": [RECORD]},
        {"subscribers": RECORD},
        RECORD,
        {
            "total": 1,
            "per_page": 500,
            "links": [{"href": "/x?page=1", "rel": "first"}],
            "payroll_coverages": [RECORD],
        },
        {
            "total": 1,
            "per_page": 500,
            "links": [{"href": "/x?page=1", "rel": "first"}],
            "link": {"href": "/x", "rel": "self"},
            **RECORD,
        },
    ],
)
def test_every_list_shape_gives_the_same_records(data):
    assert records_in(data, ("subscribers",)) == [RECORD]


@pytest.mark.parametrize("data", [[], {}, None, {"subscribers": []}, {"total": 0, "per_page": 5}])
def test_empty_pages(data):
    assert records_in(data, ("subscribers",)) == []


def survey_coverage() -> dict:
    """A coverage as in PlanSource's example: SSNs nested in survey answers and EOI dependents."""
    return {
        "id": 7,
        "survey_data": {
            "answers": [{"question": "Spouse", "subscriber_ssn": "123-45-6789"}],
            "dependent": {"dependent_ssn": "987654321", "Spouse_SSN": "111-22-3333"},
        },
        "dependents": [{"id": 3, "ssn": "555-66-7777", "birthdate": "2001-02-03"}],
        "ssn": None,
    }


def test_nested_ssns_are_masked():
    record = SensitiveFieldPolicy("mask", SSN_NAMES).apply(survey_coverage())
    assert record["survey_data"]["answers"][0]["subscriber_ssn"] == "XXX-XX-6789"
    assert record["survey_data"]["dependent"] == {
        "dependent_ssn": "XXXXX4321",
        "Spouse_SSN": "XXX-XX-3333",
    }
    assert record["dependents"][0]["ssn"] == "XXX-XX-7777"
    assert record["ssn"] is None


def test_nested_ssns_are_hashed_or_dropped_and_other_names_can_be_added():
    hashed = SensitiveFieldPolicy("hash", SSN_NAMES, salt="k").apply(survey_coverage())
    same_person = SensitiveFieldPolicy("hash", SSN_NAMES, salt="k").apply({"ssn": "987-65-4321"})
    assert hashed["survey_data"]["dependent"]["dependent_ssn"] == same_person["ssn"]
    assert len(same_person["ssn"]) == 64

    dropped = SensitiveFieldPolicy("drop", SSN_NAMES | {"birthdate"}).apply(survey_coverage())
    assert dropped["survey_data"] == {"answers": [{"question": "Spouse"}], "dependent": {}}
    assert dropped["dependents"] == [{"id": 3}]


def test_protected_fields_become_strings_in_the_schema():
    policy = SensitiveFieldPolicy("mask", SSN_NAMES | {"birthdate"})
    schema = policy.protect_schema(SUBSCRIBER)
    assert schema["properties"]["birthdate"] == {"type": ["string", "null"]}
    assert SUBSCRIBER["properties"]["birthdate"]["format"] == "date"  # the original is untouched


def test_a_value_shaped_like_an_ssn_is_protected_whatever_its_field(caplog):
    policy = SensitiveFieldPolicy("mask", SSN_NAMES)
    with caplog.at_level(logging.WARNING):
        first = policy.apply({"id": "123456789", "tax_ref": "123-45-6789", "n": 5}, "s", ("id",))
        later = policy.apply({"id": "1", "tax_ref": "987654321", "nested": {"other": "111223333"}})
    assert first == {"id": "123456789", "tax_ref": "XXX-XX-6789", "n": 5}  # keys are exempt
    assert later == {"id": "1", "tax_ref": "XXXXX4321", "nested": {"other": "XXXXX3333"}}
    named = [r.getMessage().split(" holds")[0] for r in caplog.records]
    assert named == ["s: field `tax_ref`", "a record: field `other`"]


def test_values_of_other_shapes_pass(caplog):
    policy = SensitiveFieldPolicy("mask", SSN_NAMES)
    record = {"phone": "4075550100", "zip": "32801", "code": "E000123", "d": "2026-12-07"}
    with caplog.at_level(logging.WARNING):
        assert policy.apply(dict(record), "s") == record
    assert not caplog.records
