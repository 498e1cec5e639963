"""tap-plansource against the PlanSource emulator over real HTTP: records, shapes, paging, state."""

from __future__ import annotations

import datetime
import math
import re
from decimal import Decimal

import pytest
from sandbox.plansource.app import DEFAULT_ORGANIZATION_ID
from sandbox.plansource.seed import TERMINATION_REASONS
from tap_plansource import auth
from tap_plansource.auth import PlanSourceCredentialsError
from tap_plansource.tap import TapPlanSource

from .helpers import requests_to, run_tap, tap_config, visible_subscriber_ids

PLAN_YEAR_INDEX = {"previous": -1, "current": 0, "next": 1}


def iso(ordinal: int | None) -> str | None:
    return None if ordinal is None else datetime.date.fromordinal(ordinal).isoformat()


def plan_year_indexes(store, selectors=("current", "next")) -> set[int]:
    today = datetime.datetime.now(datetime.UTC).date().toordinal()
    current = next(i for i, y in enumerate(store.plan_years) if y.starts_on <= today <= y.ends_on)
    return {current + PLAN_YEAR_INDEX[s] for s in selectors}


def by_key(records, *keys):
    return {tuple(r[k] for k in keys) if len(keys) > 1 else r[keys[0]]: r for r in records}


def test_every_stream_matches_the_seed(plansource):
    store = plansource.emulator.store
    visible = visible_subscriber_ids(store)
    in_org = visible_subscriber_ids(store, include_test=True)
    years = plan_year_indexes(store)
    sync = run_tap(tap_config(plansource, start_date="2000-01-01T00:00:00Z"))
    records = sync.records

    assert records["organizations"] == [
        {"id": DEFAULT_ORGANIZATION_ID, "name": "Acme Manufacturing", "organization_code": "ACME"}
    ]

    subscribers = by_key(records["subscribers"], "id")
    assert set(subscribers) == visible
    seeded = next(s for s in store.subscribers if s.id in visible and s.termination_date)
    emitted = subscribers[seeded.id]
    assert emitted["birthdate"] == iso(seeded.birthdate)
    assert emitted["termination_date"] == iso(seeded.termination_date)
    assert emitted["current_salary"] == seeded.salary_cents / 100
    assert emitted["ssn"] == f"XXX-XX-{seeded.ssn[-4:]}"
    assert isinstance(emitted["org_payroll_id"], int)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}-04:00", emitted["status_changed_at"])
    assert emitted["benefit_salaries"][0]["starts_on"] == iso(store.plan_years[0].starts_on)
    assert "links" not in emitted

    dependents = by_key(records["dependents"], "id")
    seeded_dependents = {d.id: d for d in store.dependents if d.subscriber_id in in_org}
    assert set(dependents) == set(seeded_dependents)
    assert {d: (r["subscriber_id"], r["is_active"]) for d, r in dependents.items()} == {
        d.id: (d.subscriber_id, d.active) for d in seeded_dependents.values()
    }
    assert any(not r["is_active"] for r in dependents.values())

    beneficiaries = by_key(records["beneficiaries"], "id", "coverage_id")
    seeded_beneficiaries = [b for b in store.beneficiaries if b.subscriber_id in visible]
    assert set(beneficiaries) == {(b.id, b.coverage_id) for b in seeded_beneficiaries}
    for seeded_beneficiary in seeded_beneficiaries[:20]:
        emitted = beneficiaries[(seeded_beneficiary.id, seeded_beneficiary.coverage_id)]
        assert emitted["subscriber_id"] == seeded_beneficiary.subscriber_id
        assert emitted["primary_beneficiary"] is seeded_beneficiary.primary
        assert (
            Decimal(str(emitted["allocation"]))
            == Decimal(seeded_beneficiary.allocation_tenths) / 10
        )

    def seeded_rows(rows):
        return {r.id for r in rows if r.subscriber_id in visible and r.plan_year in years}

    assert set(by_key(records["coverages"], "id")) == seeded_rows(store.coverages)
    assert set(by_key(records["coverage_lines"], "id")) == seeded_rows(store.coverage_lines)
    assert set(by_key(records["dependent_coverages"], "id")) == seeded_rows(
        store.dependent_coverages
    )
    assert {r["plan_year_selector"] for r in records["coverages"]} == {"current", "next"}
    coverage = records["coverages"][0]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", coverage["plan_year_starts_on"])
    assert isinstance(coverage["subscriber_premium"], int | float)
    dependent_coverage = records["dependent_coverages"][0]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", dependent_coverage["original_effective_date"])

    payroll = records["payroll_deductions"]
    assert len(payroll) == sum(1 for p in store.payroll_coverages if p.subscriber_id in visible)
    assert all("id" not in r and r["subscriber_id"] in visible for r in payroll)
    assert all(r["updated_at"].endswith("+00:00") for r in payroll)

    offers = by_key(records["aca_offers"], "id")
    seeded_offers = {o.id: o for o in store.aca_offers if o.subscriber_id in in_org}
    assert set(offers) == set(seeded_offers)
    assert {o for o, r in offers.items() if r["is_deleted"]} == {
        o.id for o in seeded_offers.values() if o.is_deleted
    }
    enrollees = by_key(records["aca_enrollees"], "subscriber_id", "covered_person", "start_date")
    assert set(enrollees) == {
        (
            e.subscriber_id,
            f"dependent:{e.dependent_id}" if e.dependent_id else "subscriber",
            iso(e.start_date),
        )
        for e in store.aca_enrollees
        if e.subscriber_id in in_org
    }
    assert all("id" not in r for r in records["aca_enrollees"]), "the documented enrollee"

    assert set(by_key(records["administrators"], "id")) == {
        a.id for a in store.administrators if a.organization_id == DEFAULT_ORGANIZATION_ID
    }
    eoi = by_key(records["eoi_pending"], "subscriber_id", "coverage_id", "coverage_line_id")
    assert set(eoi) == {
        (e.subscriber_id, e.coverage_id, e.coverage_line_id)
        for e in store.pending_eoi
        if e.subscriber_id in visible
    }
    assert {(r["id"], r["lookup_code"]) for r in records["termination_reasons"]} == {
        (rid, code) for rid, code, _ in TERMINATION_REASONS
    }
    fields = by_key(records["subscriber_field_metadata"], "field")
    assert {"label": "Female", "value": "F"} in fields["gender"]["validation_data"]
    assert fields["ssn"]["required"] is True
    assert "first_name" in by_key(records["dependent_field_metadata"], "field")

    # Derived streams: every plan, benefit and level seen in the synced coverages, once.
    coverages = records["coverages"]
    assert set(by_key(records["plans"], "org_plan_id", "plan_year_starts_on")) == {
        (c["org_plan_id"], c["plan_year_starts_on"]) for c in coverages
    }
    assert set(by_key(records["benefits"], "org_benefit_id")) == {
        c["org_benefit_id"] for c in coverages
    }
    assert set(by_key(records["coverage_levels"], "coverage_level_id")) == {
        c["coverage_level_id"] for c in coverages
    }
    coverage_pages = [
        (r["query"]["plan_year"][0], r["query"]["page"][0])
        for r in requests_to(plansource, "^/admin/v2/coverages$")
    ]
    assert len(coverage_pages) == len(set(coverage_pages)), (
        "the derived streams reuse the coverages stream's rows instead of reading them again"
    )


def test_derived_streams_read_coverages_themselves_when_it_is_not_selected(plansource):
    sync = run_tap(tap_config(plansource, plan_years=["current"]), streams=["plans", "benefits"])
    store = plansource.emulator.store
    years = plan_year_indexes(store, ["current"])
    visible = visible_subscriber_ids(store)
    seeded = {c for c in store.coverages if c.plan_year in years and c.subscriber_id in visible}
    assert "coverages" not in sync.records
    assert len(sync.records["plans"]) == len({(c.benefit, c.plan) for c in seeded})
    pages = [r["query"]["page"][0] for r in requests_to(plansource, "^/admin/v2/coverages$")]
    assert sorted(pages)[:2] == ["1", "2"]
    assert len(pages) == len(set(pages)), "coverages are read once for all derived streams"


@pytest.mark.parametrize("shape", ["example", "single"])
def test_list_shapes_parse_to_the_same_records(plansource, shape):
    streams = ["organizations", "subscribers", "administrators", "eoi_pending", "aca_offers"]
    if shape == "example":
        streams += ["coverages", "coverage_lines", "dependent_coverages", "payroll_deductions"]
    config = tap_config(plansource, plan_years=["current"], start_date="2000-01-01T00:00:00Z")
    as_arrays = run_tap(config, streams=streams).records
    plansource.emulator.configure(list_shape=shape, pagination_meta=shape == "example")
    as_shape = run_tap(config, streams=streams).records
    assert set(as_shape) == set(streams)
    for stream in streams:
        assert without_run_time(as_shape[stream]) == without_run_time(as_arrays[stream]), stream


def without_run_time(records):
    """Records without `synced_at`, the time of the run that read them (administrators)."""
    return [{k: v for k, v in r.items() if k != "synced_at"} for r in records]


def assert_read_through(pages, empty_page: int) -> None:
    """Every page up to the first empty one was requested once; at most one more was prefetched."""
    numbers = sorted(int(p["query"]["page"][0]) for p in pages)
    assert numbers[:empty_page] == list(range(1, empty_page + 1))
    assert numbers[empty_page:] in ([], [empty_page + 1])


def test_payroll_without_paging_metadata_pages_until_empty(plansource):
    plansource.emulator.configure(pagination_meta=False)
    config = tap_config(
        plansource, start_date="2000-01-01T00:00:00Z", page_size=100, payroll_mode="bulk"
    )
    sync = run_tap(config, streams=["payroll_deductions"])
    visible = visible_subscriber_ids(plansource.emulator.store)
    expected = sum(
        1 for p in plansource.emulator.store.payroll_coverages if p.subscriber_id in visible
    )
    assert len(sync.records["payroll_deductions"]) == expected
    pages = requests_to(plansource, "^/admin/v2/payroll_coverages_subscribers$")
    assert_read_through(pages, empty_page=math.ceil(expected / 100) + 1)


def test_payroll_follows_next_links_and_stops_without_one(plansource):
    config = tap_config(
        plansource, start_date="2000-01-01T00:00:00Z", page_size=100, payroll_mode="bulk"
    )
    run_tap(config, streams=["payroll_deductions"])
    visible = visible_subscriber_ids(plansource.emulator.store)
    expected = sum(
        1 for p in plansource.emulator.store.payroll_coverages if p.subscriber_id in visible
    )
    pages = requests_to(plansource, "^/admin/v2/payroll_coverages_subscribers$")
    assert sorted(int(p["query"]["page"][0]) for p in pages) == list(
        range(1, math.ceil(expected / 100) + 1)
    ), "the last page has no `next` link, so no empty page is requested"


def test_a_page_clamped_below_page_size_does_not_stop_paging(plansource):
    plansource.emulator.configure(max_per_page=7)
    sync = run_tap(tap_config(plansource, page_size=50), streams=["subscribers"])
    visible = visible_subscriber_ids(plansource.emulator.store)
    assert sorted(r["id"] for r in sync.records["subscribers"]) == sorted(visible)
    pages = requests_to(plansource, "^/admin/v2/subscribers$")
    assert {p["query"]["per_page"][0] for p in pages} == {"50"}
    assert_read_through(pages, empty_page=math.ceil(len(visible) / 7) + 1)


def test_token_expiry_in_the_middle_of_a_sync(plansource):
    # A 60 s token: moving the emulator's clock past it leaves the tap's 60 s JWT assertions
    # (signed on the tap's own clock) still inside the emulator's 30 s leeway.
    plansource.emulator.configure(token_ttl_seconds=60)
    tap = TapPlanSource(config=tap_config(plansource, page_size=5), parse_env_config=False)
    records = tap.streams["subscribers"].get_records(None)
    first = next(records)
    plansource.emulator.clock_offset += 61  # the token the tap holds has now expired
    rest = list(records)
    visible = visible_subscriber_ids(plansource.emulator.store)
    assert sorted([first["id"]] + [r["id"] for r in rest]) == sorted(visible)
    log = requests_to(plansource, "^/admin/v2/subscribers$")
    rejected = [r["query"]["page"] for r in log if r["status"] == 401]
    # The pages in flight when the token expired were refused once each, then served.
    assert 1 <= len(rejected) <= 3
    assert all(
        [r["status"] for r in log if r["query"]["page"] == page] == [401, 200] for page in rejected
    )
    assert len(requests_to(plansource, "^/oauth/v2/token$")) == 2, "one renewal for all of them"
    assert tap.runtime.token_manager.issued == 2


def test_token_is_renewed_before_it_expires(plansource, monkeypatch):
    plansource.emulator.configure(token_ttl_seconds=100)
    tap = TapPlanSource(config=tap_config(plansource), parse_env_config=False)
    first = tap.runtime.token_manager.access_token()
    assert tap.runtime.token_manager.access_token() == first
    later = auth.time.monotonic() + 81  # inside the 20 s renewal margin of a 100 s token
    monkeypatch.setattr(auth.time, "monotonic", lambda: later)
    assert tap.runtime.token_manager.access_token() != first
    assert tap.runtime.token_manager.issued == 2


def test_a_503_burst_then_success(plansource):
    plansource.emulator.add_faults(
        [
            {
                "status": 503,
                "body": "<html>Service Unavailable</html>",
                "times": 3,
                "path": "^/admin/v2/subscribers$",
                "content_type": "text/html",
            },
            {"drop": True, "times": 1, "path": "^/admin/v2/administrators$"},
        ]
    )
    sync = run_tap(tap_config(plansource), streams=["subscribers", "administrators"])
    assert len(sync.records["subscribers"]) == len(
        visible_subscriber_ids(plansource.emulator.store)
    )
    assert len(sync.records["administrators"]) == 6
    statuses = [r["status"] for r in requests_to(plansource, "^/admin/v2/subscribers$")]
    assert statuses[:4] == [503, 503, 503, 200]


def test_a_page_that_is_not_json_is_retried(plansource):
    plansource.emulator.add_faults(
        [
            {
                "status": 200,
                "body": "<html>Maintenance</html>",
                "content_type": "text/html",
                "path": "^/admin/v2/organizations$",
            }
        ]
    )
    sync = run_tap(tap_config(plansource), streams=["organizations"])
    assert len(sync.records["organizations"]) == 1
    assert len(requests_to(plansource, "^/admin/v2/organizations$")) == 2


def test_retry_after_is_honoured(plansource):
    plansource.emulator.add_faults(
        [{"status": 429, "headers": {"Retry-After": "1"}, "path": "^/admin/v2/organizations$"}]
    )
    sync = run_tap(tap_config(plansource, retry_initial_wait=0.01), streams=["organizations"])
    assert len(sync.records["organizations"]) == 1
    first, second = requests_to(plansource, "^/admin/v2/organizations$")
    assert first["status"] == 429
    assert second["time"] - first["time"] >= 0.95


def test_retries_give_up_with_the_status_and_the_setting(plansource):
    plansource.emulator.add_faults(
        [{"status": 502, "times": 10, "path": "^/admin/v2/organizations$"}]
    )
    with pytest.raises(Exception, match=r"502 to GET /admin/v2/organizations.*`retry_max_tries`"):
        run_tap(tap_config(plansource, retry_max_tries=3), streams=["organizations"])
    assert len(requests_to(plansource, "^/admin/v2/organizations$")) == 3


def test_token_endpoint_timeout_is_retried(plansource):
    plansource.emulator.add_faults(
        [
            {
                "status": 400,
                "path": "^/oauth/v2/token$",
                "body": {"error": "invalid_request", "error_description": "token has expired"},
            }
        ]
    )
    sync = run_tap(tap_config(plansource), streams=["organizations"])
    assert len(sync.records["organizations"]) == 1
    assert [r["status"] for r in requests_to(plansource, "^/oauth/v2/token$")] == [400, 200]


@pytest.mark.parametrize(
    ("override", "said"),
    [
        (
            {"client_secret": "not-the-secret-but-as-long-as-a-real-one"},
            "invalid_client: client_assertion signature is invalid",
        ),
        ({"client_id": "nobody"}, "invalid_client"),
        ({"username": "someone.else"}, "logged_in_user is not an administrator"),
    ],
)
def test_wrong_credentials_give_a_clear_error(plansource, override, said):
    with pytest.raises(PlanSourceCredentialsError) as failure:
        run_tap(tap_config(plansource, **override), streams=["organizations"])
    message = str(failure.value)
    assert said in message
    assert "Check `client_id`, `client_secret`, `username` and `environment`" in message
    assert "not-the-secret-but-as-long-as-a-real-one" not in message
    assert not requests_to(plansource, "^/admin/v2/")


def test_api_errors_carry_the_api_message_and_the_setting(plansource):
    store = plansource.emulator.store
    foreign = next(s.id for s in store.subscribers if s.organization_id != DEFAULT_ORGANIZATION_ID)
    cases = [
        (
            {"name": "foreign", "path": f"/subscriber/{foreign}", "paginate": False},
            r"403 to GET /admin/v2/subscriber/\d+: Forbidden\. The API user \(`client_id`\)",
        ),
        (
            {"name": "typo", "path": "/subscribr/1", "paginate": False},
            r"404 to GET /admin/v2/subscribr/1: Requested route 'subscribr/1' not found "
            r"\(route_not_found\)\. Check `path` of custom stream `typo`",
        ),
        (
            {"name": "bad_window", "path": "/coverages", "params": {"start_date": "01/02/2024"}},
            r"400 to GET /admin/v2/coverages: start_date date is not a valid YYYY-MM-DD date "
            r"format\. Check `params` of custom stream `bad_window`",
        ),
    ]
    for definition, expected in cases:
        config = tap_config(plansource, custom_streams=[definition])
        with pytest.raises(Exception, match=expected):
            run_tap(config, streams=[definition["name"]])


def test_incremental_payroll_reads_only_the_window_after_the_bookmark(plansource):
    store = plansource.emulator.store
    visible = visible_subscriber_ids(store)
    first = run_tap(
        tap_config(plansource, start_date="2000-01-01T00:00:00Z", payroll_mode="bulk"),
        ["payroll_deductions"],
    )
    rows = first.records["payroll_deductions"]
    bookmark = first.state["bookmarks"]["payroll_deductions"]["replication_key_value"]
    assert bookmark == max(r["updated_at"] for r in rows)

    # Pretend the last run ended 20 days before the newest change.
    since = datetime.datetime.fromisoformat(bookmark) - datetime.timedelta(days=20)
    state = {
        "bookmarks": {
            "payroll_deductions": {
                "replication_key": "updated_at",
                "replication_key_value": since.isoformat(),
            }
        }
    }
    plansource.emulator.request_log.clear()
    second = run_tap(
        tap_config(plansource, payroll_lookback_days=3, payroll_mode="bulk"),
        ["payroll_deductions"],
        state,
    )
    (request,) = requests_to(plansource, "^/admin/v2/payroll_coverages_subscribers$")[:1]
    window_start = since.date() - datetime.timedelta(days=3)
    tomorrow = datetime.datetime.now(datetime.UTC).date() + datetime.timedelta(days=1)
    assert request["query"]["start_date"] == [window_start.isoformat()]
    assert request["query"]["end_date"] == [tomorrow.isoformat()]
    again = second.records["payroll_deductions"]
    expected = [
        p
        for p in store.payroll_coverages
        if p.subscriber_id in visible
        and datetime.datetime.fromtimestamp(p.updated_at, datetime.UTC).date() >= window_start
    ]
    assert 0 < len(again) == len(expected) < len(rows)
    assert second.state["bookmarks"]["payroll_deductions"]["replication_key_value"] == bookmark


def test_incremental_aca_turns_the_bookmark_into_changes_since_minutes(plansource):
    store = plansource.emulator.store
    first = run_tap(tap_config(plansource), ["aca_offers", "aca_enrollees"])
    assert "changes_since" not in requests_to(plansource, "^/admin/v2/aca/offers$")[0]["query"]
    assert first.state["bookmarks"]["aca_offers"]["replication_key_value"] == max(
        r["updated_at"] for r in first.records["aca_offers"]
    )

    since = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=5)
    state = {
        "bookmarks": {
            name: {"replication_key": "updated_at", "replication_key_value": since.isoformat()}
            for name in ("aca_offers", "aca_enrollees")
        }
    }
    plansource.emulator.request_log.clear()
    second = run_tap(tap_config(plansource, aca_overlap_minutes=15), ["aca_offers"], state)
    (minutes,) = requests_to(plansource, "^/admin/v2/aca/offers$")[0]["query"]["changes_since"]
    assert int(minutes) in {5 * 60 + 15, 5 * 60 + 16}
    cutoff = datetime.datetime.now(datetime.UTC).timestamp() - int(minutes) * 60
    expected = {
        o.id
        for o in store.aca_offers
        if o.updated_at >= cutoff
        and o.subscriber_id in visible_subscriber_ids(store, include_test=True)
    }
    assert {r["id"] for r in second.records["aca_offers"]} == expected
    assert len(expected) < len(first.records["aca_offers"])


def all_ssns(store) -> set[str]:
    return {s.ssn for s in store.subscribers} | {d.ssn for d in store.dependents}


def test_ssns_never_leave_the_tap_unmasked(plansource):
    plansource.emulator.configure(mask_dependent_ssn=False)
    sync = run_tap(tap_config(plansource, start_date="2000-01-01T00:00:00Z"))
    leaked = [
        ssn
        for ssn in all_ssns(plansource.emulator.store)
        if ssn in sync.output or ssn.replace("-", "") in sync.output
    ]
    assert not leaked
    for stream in (
        "subscribers",
        "dependents",
        "payroll_deductions",
        "eoi_pending",
        "aca_enrollees",
    ):
        assert all(re.fullmatch(r"X{3}-?X{2}-?\d{4}", r["ssn"]) for r in sync.records[stream]), (
            stream
        )
        assert sync.schemas[stream]["properties"]["ssn"] == {"type": ["string", "null"]}


def test_keep_hash_and_drop(plansource):
    streams = ["subscribers", "payroll_deductions"]
    config = tap_config(plansource, start_date="2000-01-01T00:00:00Z")
    kept = run_tap({**config, "sensitive_fields": "keep"}, streams).records
    assert {r["ssn"] for r in kept["subscribers"]} <= all_ssns(plansource.emulator.store)

    hashed = run_tap(
        {**config, "sensitive_fields": "hash", "sensitive_hash_salt": "pepper"}, streams
    ).records
    by_subscriber = {r["id"]: r["ssn"] for r in hashed["subscribers"]}
    assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in by_subscriber.values())
    assert all(by_subscriber[r["subscriber_id"]] == r["ssn"] for r in hashed["payroll_deductions"])

    dropped = run_tap(
        {**config, "sensitive_fields": "drop", "sensitive_field_names": ["birthdate"]}, streams
    )
    assert all("ssn" not in r and "birthdate" not in r for r in dropped.records["subscribers"])
    assert "ssn" not in dropped.schemas["payroll_deductions"]["properties"]
    assert "birthdate" not in dropped.schemas["subscribers"]["properties"]


def test_custom_streams(plansource):
    store = plansource.emulator.store
    custom = [
        {
            "name": "coverage_composites",
            "path": "/coverage/composites",
            "records_path": "$.data[*].coverages",
            "primary_keys": ["id"],
            "schema": {
                "properties": {
                    "id": {"type": "integer"},
                    "subscriber_premium": {"type": ["number", "null"]},
                    "plan_year_starts_on": {"type": "string", "format": "date"},
                }
            },
        },
        {
            "name": "beneficiary_termination_reasons",
            "path": "/beneficiaries/meta",
            "records_path": "$.data.termination_reasons",
            "primary_keys": ["id"],
            "paginate": False,
        },
    ]
    config = tap_config(plansource, custom_streams=custom, page_size=40)
    sync = run_tap(config, streams=["coverages", *[c["name"] for c in custom]])
    composites = sync.records["coverage_composites"]
    years = plan_year_indexes(store, ["current"])
    visible = visible_subscriber_ids(store)
    assert sorted(r["id"] for r in composites) == sorted(
        c.id for c in store.coverages if c.plan_year in years and c.subscriber_id in visible
    )
    assert all(isinstance(r["subscriber_premium"], int | float) for r in composites)
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", r["plan_year_starts_on"]) for r in composites)
    assert len(requests_to(plansource, "^/admin/v2/coverage/composites$")) > 2
    assert [r["id"] for r in sync.records["beneficiary_termination_reasons"]] == [
        rid for rid, _, _ in TERMINATION_REASONS
    ]
    assert sync.schemas["coverage_composites"]["properties"]["id"] == {"type": "integer"}
