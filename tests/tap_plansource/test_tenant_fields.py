"""The tenant's own people fields: discovery declares what `/subscriber/meta` and
`/dependent/meta` list beyond the built-in schemas, a sync with that catalog emits them declared
and converted, and a field the meta types `ssn` never leaves the tap in clear."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import subprocess
import sys

import pytest
from sandbox.core import Fault
from sandbox.plansource.meta import (
    TENANT_DEPENDENT_FIELDS,
    TENANT_SUBSCRIBER_FIELDS,
    subscriber_meta,
)
from tap_plansource.schemas import DEPENDENT, SUBSCRIBER
from tap_plansource.tap import TapPlanSource

from .helpers import requests_to, run_tap, tap_config, visible_subscriber_ids

PEOPLE = ["subscribers", "dependents"]
TENANT_FIELDS = {"subscribers": TENANT_SUBSCRIBER_FIELDS, "dependents": TENANT_DEPENDENT_FIELDS}
BUILT_IN = {"subscribers": SUBSCRIBER, "dependents": DEPENDENT}


def discover(config):
    """The catalog `--discover` prints, as a target-side JSON document."""
    text = TapPlanSource(config=config, parse_env_config=False).catalog_json_text
    return json.loads(text)


def entries(catalog):
    return {entry["tap_stream_id"]: entry for entry in catalog["streams"]}


def properties(catalog, stream):
    return entries(catalog)[stream]["schema"]["properties"]


def property_breadcrumbs(catalog, stream):
    return {
        tuple(m["breadcrumb"])
        for m in entries(catalog)[stream]["metadata"]
        if m["breadcrumb"] and m["metadata"].get("inclusion") == "available"
    }


def selected(catalog, streams):
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == []:
                metadata["metadata"]["selected"] = entry["tap_stream_id"] in streams
    return catalog


def types(schema):
    return {key: schema[key] for key in ("type", "format") if key in schema}


def test_discovery_declares_the_tenant_fields_typed_from_their_data_type(plansource):
    plansource.emulator.configure(tenant_fields=True)
    catalog = discover(tap_config(plansource))

    subscribers = properties(catalog, "subscribers")
    assert types(subscribers["employee_badge_number"]) == {"type": ["string", "null"]}
    assert types(subscribers["union_dues_rate"]) == {"type": ["number", "null"]}
    assert types(subscribers["remote_worker"]) == {"type": ["boolean", "null"]}
    # A data_type no source documents is declared a string.
    assert types(subscribers["parking_zone"]) == {"type": ["string", "null"]}
    assert subscribers["employee_badge_number"]["description"].startswith("Badge Number")
    # A tenant date is declared as the built-in dates are.
    dependents = properties(catalog, "dependents")
    assert types(dependents["student_verified_on"]) == types(dependents["birthdate"])
    assert types(dependents["student_verified_on"]) == {
        "type": ["string", "null"],
        "format": "date",
    }
    # Each declared field is selectable like a built-in one.
    for stream, fields in TENANT_FIELDS.items():
        crumbs = property_breadcrumbs(catalog, stream)
        assert {("properties", name) for name in fields} <= crumbs
    # Only subscribers and dependents change.
    assert "employee_badge_number" not in properties(catalog, "coverages")


def test_built_in_declarations_are_untouched(plansource):
    plansource.emulator.configure(tenant_fields=True)
    built_in = discover(tap_config(plansource, discover_tenant_fields=False))
    extended = discover(tap_config(plansource))
    for stream in PEOPLE:
        declared = properties(extended, stream)
        for name, schema in properties(built_in, stream).items():
            assert declared[name] == schema, (stream, name)
        # The meta types `current_salary` `decimal` and `email` `email`, built-in fields both.
        assert set(declared) - set(properties(built_in, stream)) == set(TENANT_FIELDS[stream])
    for stream, entry in entries(built_in).items():
        if stream not in PEOPLE:
            assert entries(extended)[stream] == entry


def test_a_sync_with_that_catalog_emits_declared_fields_normalized(plansource):
    plansource.emulator.configure(tenant_fields=True)
    config = tap_config(plansource)
    catalog = selected(discover(config), PEOPLE)
    sync = run_tap(config, PEOPLE, catalog=catalog)
    assert set(sync.records) == set(PEOPLE)
    for stream in PEOPLE:
        declared = sync.schemas[stream]["properties"]
        assert set(TENANT_FIELDS[stream]) <= set(declared)
        for record in sync.records[stream]:
            assert set(record) <= set(declared), (stream, set(record) - set(declared))

    store = plansource.emulator.store
    subscribers = {r["id"]: r for r in sync.records["subscribers"]}
    assert set(subscribers) == visible_subscriber_ids(store)
    for s in store.subscribers:
        if s.id not in subscribers:
            continue
        record = subscribers[s.id]
        assert record["employee_badge_number"] == f"B-{s.id:06d}"
        assert record["remote_worker"] is (s.id % 3 == 0)  # sent as "Y"/"N"
        if s.employment_level == "Part Time":
            assert record["union_dues_rate"] == 10 + s.id % 7 + 0.25  # sent as a string
        else:
            assert record["union_dues_rate"] is None  # sent as ""
    verified = [r["student_verified_on"] for r in sync.records["dependents"]]
    assert any(verified)
    assert all(v is None or re.fullmatch(r"\d{4}-\d{2}-\d{2}", v) for v in verified)


@pytest.mark.parametrize("with_tenant_catalog", [True, False], ids=["discovered", "older"])
def test_an_ssn_typed_tenant_field_is_masked(plansource, with_tenant_catalog):
    """Masked with a catalog declaring it, and with one made before the tenant added it."""
    plansource.emulator.configure(tenant_fields=True)
    config = tap_config(plansource)
    discovery = config if with_tenant_catalog else {**config, "discover_tenant_fields": False}
    catalog = selected(discover(discovery), ["subscribers"])
    sync = run_tap(config, ["subscribers"], catalog=catalog)
    ssns = {s.id: s.ssn for s in plansource.emulator.store.subscribers}
    records = sync.records["subscribers"]
    assert records
    for record in records:
        assert record["alternate_tax_id"] == f"XXX-XX-{ssns[record['id']][-4:]}"
    assert not any(ssn in sync.output for ssn in ssns.values())
    declared = sync.schemas["subscribers"]["properties"]
    if with_tenant_catalog:
        assert declared["alternate_tax_id"] == {"type": ["string", "null"]}


def test_an_ssn_typed_tenant_field_is_hashed_like_the_ssn(plansource):
    salt = "pepper" * 6
    plansource.emulator.configure(tenant_fields=True)
    config = tap_config(plansource, sensitive_fields="hash", sensitive_hash_salt=salt)
    sync = run_tap(config, ["subscribers"], catalog=selected(discover(config), ["subscribers"]))
    ssns = {s.id: s.ssn for s in plansource.emulator.store.subscribers}
    assert sync.records["subscribers"]
    for record in sync.records["subscribers"]:
        digits = "".join(ch for ch in ssns[record["id"]] if ch.isdigit())
        expected = hmac.new(salt.encode(), digits.encode(), hashlib.sha256).hexdigest()
        assert record["alternate_tax_id"] == expected
        assert record["ssn"] == expected  # joins with the SSN itself


def test_an_ssn_typed_tenant_field_is_dropped_from_catalog_and_records(plansource):
    plansource.emulator.configure(tenant_fields=True)
    config = tap_config(plansource, sensitive_fields="drop")
    catalog = discover(config)
    assert "alternate_tax_id" not in properties(catalog, "subscribers")
    assert ("properties", "alternate_tax_id") not in property_breadcrumbs(catalog, "subscribers")
    assert "employee_badge_number" in properties(catalog, "subscribers")
    sync = run_tap(config, ["subscribers"], catalog=selected(catalog, ["subscribers"]))
    assert sync.records["subscribers"]
    assert not [r for r in sync.records["subscribers"] if "alternate_tax_id" in r]


def test_setting_off_gives_the_built_in_schema_without_meta_lookups(plansource):
    plansource.emulator.configure(tenant_fields=True)
    config = tap_config(plansource, discover_tenant_fields=False)
    catalog = discover(config)
    for stream in PEOPLE:
        assert set(properties(catalog, stream)) == set(BUILT_IN[stream]["properties"])
    sync = run_tap(config, PEOPLE, catalog=selected(catalog, PEOPLE))
    assert sync.records["subscribers"]
    assert not requests_to(plansource, "^/admin/v2/(subscriber|dependent)/meta$")


def test_unreadable_meta_warns_once_and_keeps_the_built_in_schema(plansource, caplog):
    plansource.emulator.configure(tenant_fields=True)
    plansource.emulator.add_faults(
        [Fault(status=403, path="/subscriber/meta", body={"errors": {"message": "Forbidden"}})]
    )
    with caplog.at_level(logging.WARNING):
        catalog = discover(tap_config(plansource))
    assert set(properties(catalog, "subscribers")) == set(SUBSCRIBER["properties"])
    assert "student_verified_on" in properties(catalog, "dependents")  # its meta was readable
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings
    (line,) = warnings
    assert "GET /subscriber/meta" in line
    assert "403" in line
    assert "`discover_tenant_fields: false`" in line
    assert "\n" not in line


def test_discovery_with_refused_credentials_still_succeeds(plansource, tmp_path):
    """Discovery never needed credentials to work; the meta lookups do not change that."""
    secret = "not-the-secret-but-long-enough-for-hs256"
    config = tap_config(plansource, client_secret=secret)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    run = subprocess.run(
        [sys.executable, "-m", "tap_plansource", "--config", str(path), "--discover"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    catalog = json.loads(run.stdout)
    for stream in PEOPLE:
        assert set(properties(catalog, stream)) == set(BUILT_IN[stream]["properties"])
    warnings = [line for line in run.stderr.splitlines() if "WARNING" in line]
    assert len(warnings) == 1, warnings  # the second meta endpoint is not asked in vain
    assert "GET /subscriber/meta" in warnings[0]
    assert "refused to issue an access token" in warnings[0]
    assert "`discover_tenant_fields: false`" in warnings[0]
    assert secret not in run.stderr


# -- SSNs whatever the meta says (plansource.md §11: `data_type` upper-case, SSN may be STRING) --


@pytest.mark.parametrize("type_case", ["upper", "lower"])
def test_the_meta_types_are_read_whatever_their_case(plansource, type_case):
    plansource.emulator.configure(tenant_fields=True, meta_type_case=type_case)
    subscribers = properties(discover(tap_config(plansource)), "subscribers")
    assert types(subscribers["union_dues_rate"]) == {"type": ["number", "null"]}
    assert types(subscribers["remote_worker"]) == {"type": ["boolean", "null"]}
    assert subscribers["employee_badge_number"]["description"].endswith(
        "(PlanSource tenant field, data_type `string`)"
    )


def test_the_emulator_serves_upper_case_types_by_default(plansource):
    plansource.emulator.configure(tenant_fields=True)
    settings = plansource.emulator.setting
    meta = subscriber_meta(True, settings("meta_type_case"), settings("meta_ssn_type"))
    assert meta["first_name"]["data_type"] == "STRING"
    assert meta["alternate_tax_id"]["data_type"] == meta["ssn"]["data_type"] == "SSN"
    catalog = discover(tap_config(plansource))
    assert properties(catalog, "subscribers")["alternate_tax_id"] == {"type": ["string", "null"]}


@pytest.mark.parametrize(("type_case", "ssn_type"), [("upper", "SSN"), ("upper", "STRING"),
                                                     ("lower", "STRING")])  # fmt: skip
def test_an_ssn_in_a_field_of_any_name_and_type_never_leaves_in_clear(
    plansource, caplog, type_case, ssn_type
):
    """`alternate_tax_id` carries each subscriber's SSN; typed STRING only its values tell."""
    emulator = plansource.emulator
    emulator.configure(tenant_fields=True, meta_type_case=type_case, meta_ssn_type=ssn_type)
    config = tap_config(plansource)
    with caplog.at_level(logging.WARNING):
        sync = run_tap(config, PEOPLE, catalog=selected(discover(config), PEOPLE))
    ssns = {s.id: s.ssn for s in emulator.store.subscribers}
    records = sync.records["subscribers"]
    assert len(records) == len(visible_subscriber_ids(emulator.store))  # none lost
    for record in records:
        assert record["alternate_tax_id"] == f"XXX-XX-{ssns[record['id']][-4:]}"
    assert not any(ssn in sync.output for ssn in ssns.values())
    warnings = [r.getMessage() for r in caplog.records if "shaped like an SSN" in r.getMessage()]
    if ssn_type == "STRING":
        (warning,) = warnings  # once, naming the field
        assert warning.startswith("subscribers: field `alternate_tax_id` holds a value")
        assert "`sensitive_field_names`" in warning
        assert not any(ssn in warning for ssn in ssns.values())
    else:
        assert warnings == []  # the meta said so: no guessing needed


def test_ssn_shaped_values_are_hashed_on_their_digits(plansource):
    salt = "pepper" * 6
    plansource.emulator.configure(tenant_fields=True, meta_ssn_type="STRING")
    config = tap_config(plansource, sensitive_fields="hash", sensitive_hash_salt=salt)
    sync = run_tap(config, ["subscribers"], catalog=selected(discover(config), ["subscribers"]))
    assert sync.records["subscribers"]
    for record in sync.records["subscribers"]:
        assert record["alternate_tax_id"] == record["ssn"]  # joins with the SSN itself


def test_the_value_check_can_be_switched_off(plansource):
    plansource.emulator.configure(tenant_fields=True, meta_ssn_type="STRING")
    config = tap_config(plansource, protect_ssn_shaped_values=False)
    sync = run_tap(config, ["subscribers"], catalog=selected(discover(config), ["subscribers"]))
    ssns = {s.id: s.ssn for s in plansource.emulator.store.subscribers}
    assert all(r["alternate_tax_id"] == ssns[r["id"]] for r in sync.records["subscribers"])
