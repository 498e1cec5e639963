"""Request sizes, request counts, throttling, analytics body limits and when STATE is emitted."""

from __future__ import annotations

import time
from itertools import pairwise

import pytest
from singer_sdk.exceptions import FatalAPIError

from tests.target_planhat.helpers import bulk_requests, config_for, messages, run_target, state


def _companies(count: int, prefix: str = "C") -> list[dict]:
    return [{"externalId": f"{prefix}-{n:05d}", "name": f"Company {n}"} for n in range(count)]


def test_12001_companies_go_in_exactly_3_requests_and_rerun_creates_nothing(planhat):
    planhat.emulator.configure(log_bodies=False)
    lines = [*messages("companies", _companies(12_001), ["externalId"]), state({"done": True})]
    before = len(planhat.emulator.records("companies"))

    run = run_target(config_for(planhat.url), lines)
    puts = bulk_requests(planhat.emulator, "companies")
    assert len(puts) == 3
    assert all(r["status"] == 200 for r in puts)
    assert run.counts["companies"]["created"] == 12_001
    assert run.states == [{"done": True}]
    assert len(planhat.emulator.records("companies")) == before + 12_001

    rerun = run_target(config_for(planhat.url), lines)
    assert rerun.counts["companies"]["created"] == 0
    assert rerun.counts["companies"]["unchanged"] == 12_001
    assert len(planhat.emulator.records("companies")) == before + 12_001


def test_batch_size_sets_request_size_even_with_larger_batch_size_rows(planhat):
    config = config_for(planhat.url, batch_size=2, batch_size_rows=5)
    run_target(config, messages("companies", _companies(5), ["externalId"]))
    assert [len(r["body"]) for r in bulk_requests(planhat.emulator, "companies")] == [2, 2, 1]


def test_requests_are_throttled_to_max_requests_per_minute(planhat):
    config = config_for(planhat.url, batch_size=1, max_requests_per_minute=600)  # 0.1 s apart
    started = time.monotonic()
    run_target(config, messages("companies", _companies(4), ["externalId"]))
    assert time.monotonic() - started >= 0.3
    times = [r["time"] for r in bulk_requests(planhat.emulator, "companies")]
    assert all(later - earlier >= 0.09 for earlier, later in pairwise(times))


def test_analytics_batches_by_body_size_within_the_limit(planhat):
    metrics = [
        {"dimensionId": "logins", "value": n, "externalId": "ACME-001", "date": "2024-04-01"}
        for n in range(300)
    ]
    run = run_target(
        config_for(planhat.url, analytics_batch_bytes=4096), messages("metrics", metrics)
    )
    posts = planhat.emulator.requests(path="^/dimensiondata/", method="POST")
    assert all(r["body_bytes"] <= 4096 for r in posts)
    assert sum(len(r["body"]) for r in posts) == 300
    total = sum(r["body_bytes"] for r in posts)
    assert len(posts) == -(-total // 4096) or len(posts) == -(-total // 4096) + 1
    assert [p["value"] for p in planhat.emulator.records("metric_points")] == list(range(300))
    assert run.counts["metrics"]["sent"] == 300


def test_state_only_after_every_record_before_it_was_written(planhat):
    planhat.emulator.add_faults([{"status": 500, "times": 50, "path": "^/endusers$"}])
    lines = [
        *messages("companies", _companies(2), ["externalId"]),
        state({"bookmark": 1}),
        *messages(
            "endusers",
            [{"externalId": "U-1", "email": "u@acme.example", "companyExternalId": "ACME-001"}],
            ["externalId"],
        ),
        state({"bookmark": 2}),
    ]
    with pytest.raises(FatalAPIError):
        run_target(config_for(planhat.url, retry_max_tries=2), lines)
    # companies were written, but STATE 1 was never acknowledged on its own either: the SDK
    # emits state only after a full drain, and that drain failed.
    assert len(bulk_requests(planhat.emulator, "companies")) == 1


def test_state_is_emitted_after_a_successful_drain(planhat):
    lines = [
        *messages("companies", _companies(3), ["externalId"]),
        state({"bookmark": 1}),
        state({"bookmark": 2}),
    ]
    run = run_target(config_for(planhat.url), lines)
    assert run.states == [{"bookmark": 2}]


def test_an_item_larger_than_any_before_splits_the_body_within_the_limit(planhat):
    small = [{"dimensionId": "logins", "value": n, "externalId": "ACME-001"} for n in range(35)]
    large = {"dimensionId": "x" * 2000, "value": 1, "externalId": "ACME-001"}
    run = run_target(
        config_for(planhat.url, analytics_batch_bytes=4096), messages("metrics", [*small, large])
    )
    posts = planhat.emulator.requests(path="^/dimensiondata/", method="POST")
    assert len(posts) == 2
    assert all(r["body_bytes"] <= 4096 for r in posts)
    assert [len(r["body"]) for r in posts] == [35, 1]
    assert run.counts["metrics"]["sent"] == 36
