"""Rejects, the error policy, retries and what the error messages say."""

from __future__ import annotations

import time

import pytest
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError, InvalidRecord
from target_planhat.rejects import RecordsRejectedError
from target_planhat.target import TargetPlanhat

from tests.target_planhat.helpers import config_for, messages, read_rejects, run_target, state

GOOD = [{"externalId": f"OK-{n}", "name": f"Company {n}"} for n in range(3)]
BAD = [{"externalId": "BAD-1"}, {"externalId": "BAD-2", "custom": {"Unknown field": 1}}]


def _mixed():
    return [GOOD[0], BAD[0], GOOD[1], GOOD[2]]


@pytest.mark.parametrize("error_item_format", ["object", "string"])
def test_partial_success_writes_exactly_the_rejected_records(planhat, tmp_path, error_item_format):
    planhat.emulator.configure(error_item_format=error_item_format)
    rejects = tmp_path / "rejects.jsonl"
    config = config_for(planhat.url, rejects_file=str(rejects))
    run = run_target(config, [*messages("companies", _mixed(), ["externalId"]), state({"b": 1})])

    assert planhat.emulator.requests(path="^/companies$")[0]["status"] == 206
    assert run.counts["companies"]["created"] == 3
    assert run.counts["companies"]["rejected"] == 1
    assert run.states == [{"b": 1}]
    [reject] = read_rejects(rejects)
    assert reject["error"] == "createdErrors: name is required"
    assert (reject["stream"], reject["object"], reject["outcome"]) == (
        "companies",
        "companies",
        "rejected",
    )
    if error_item_format == "object":
        assert reject["record"] == BAD[0]
        assert (reject["record_number"], reject["batch"], reject["position"]) == (2, 1, 1)
    else:  # a bare message names no item: the entry is kept, the record cannot be told
        assert reject["record"] is None


def test_all_rejected_400_is_reported_not_fatal(planhat, tmp_path):
    rejects = tmp_path / "rejects.jsonl"
    config = config_for(planhat.url, rejects_file=str(rejects))
    run = run_target(config, messages("companies", [BAD[0]], ["externalId"]))
    assert planhat.emulator.requests(path="^/companies$")[0]["status"] == 400
    assert run.counts["companies"]["rejected"] == 1
    assert [r["record"] for r in read_rejects(rejects)] == [BAD[0]]


def test_permission_errors_of_a_read_only_token_are_rejects(planhat, tmp_path):
    rejects = tmp_path / "rejects.jsonl"
    config = config_for(planhat.url, api_token="sandbox-readonly-token", rejects_file=str(rejects))
    run = run_target(config, messages("companies", GOOD, ["externalId"]))
    assert planhat.emulator.requests(path="^/companies$")[0]["status"] == 403
    assert run.counts["companies"]["rejected"] == 3
    assert {r["error"].split(":")[0] for r in read_rejects(rejects)} == {"permissionErrors"}


def test_on_reject_fail_stops_after_the_batch_and_emits_no_state(planhat, tmp_path):
    rejects = tmp_path / "rejects.jsonl"
    config = config_for(planhat.url, rejects_file=str(rejects), on_reject="fail")
    lines = [*messages("companies", _mixed(), ["externalId"]), state({"b": 1})]
    with pytest.raises(RecordsRejectedError, match="1 record"):
        run_target(config, lines)
    # the batch itself went through: good records are in, the bad one is in the rejects file
    assert {"OK-0", "OK-1", "OK-2"} <= {
        c["externalId"] for c in planhat.emulator.records("companies")
    }
    assert len(read_rejects(rejects)) == 1


def test_rate_limit_storm_then_success(planhat):
    planhat.emulator.add_faults([{"status": 429, "body": "Too many requests", "times": 4}])
    run = run_target(
        config_for(planhat.url), [*messages("companies", GOOD, ["externalId"]), state({"b": 2})]
    )
    assert run.counts["companies"]["created"] == 3
    assert run.states == [{"b": 2}]
    assert [r["status"] for r in planhat.emulator.requests(path="^/companies$")] == [429] * 4 + [
        200
    ]


def test_retry_after_is_honoured(planhat):
    planhat.emulator.add_faults([{"status": 429, "headers": {"Retry-After": "1"}, "times": 1}])
    started = time.monotonic()
    run = run_target(config_for(planhat.url), messages("companies", GOOD, ["externalId"]))
    assert time.monotonic() - started >= 0.95
    assert run.counts["companies"]["created"] == 3


def test_retry_after_is_capped_by_retry_max_wait(planhat):
    planhat.emulator.configure(rate_limit_per_minute=2, send_retry_after=True)  # asks for ~60 s
    records = [{"externalId": f"RL-{n}", "name": "n"} for n in range(3)]
    config = config_for(planhat.url, batch_size=1, retry_max_wait=0.05)
    with pytest.raises(FatalAPIError, match="429"):
        run_target({**config, "retry_max_tries": 2}, messages("companies", records, ["externalId"]))
    assert [r["status"] for r in planhat.emulator.requests(path="^/companies$")] == [
        200,
        200,
        429,
        429,
    ]


def test_server_error_then_success(planhat):
    planhat.emulator.add_faults(
        [
            {
                "status": 500,
                "body": "<html>Failed to create company</html>",
                "content_type": "text/html",
            },
            {"drop": True},
            {"status": 503, "times": 1},
        ]
    )
    run = run_target(
        config_for(planhat.url), [*messages("companies", GOOD, ["externalId"]), state({"b": 3})]
    )
    assert run.counts["companies"]["created"] == 3
    assert run.states == [{"b": 3}]


def test_retries_exhausted_fail_the_run_without_state(planhat):
    planhat.emulator.add_faults([{"status": 500, "times": 10}])
    config = config_for(planhat.url, retry_max_tries=3)
    with pytest.raises(FatalAPIError, match=r"answered 500.*Gave up after 3 attempts"):
        run_target(config, [*messages("companies", GOOD, ["externalId"]), state({"b": 4})])
    assert len(planhat.emulator.requests(path="^/companies$")) == 3


def test_other_client_errors_are_not_retried(planhat):
    planhat.emulator.add_faults([{"status": 422, "body": "Unprocessable"}])
    with pytest.raises(FatalAPIError, match="answered 422 to PUT /companies: Unprocessable"):
        run_target(config_for(planhat.url), messages("companies", GOOD, ["externalId"]))
    assert len(planhat.emulator.requests(path="^/companies$")) == 1


def test_wrong_token_names_token_and_region(planhat):
    with pytest.raises(FatalAPIError, match=r"401.*`api_token`.*`region`") as failure:
        run_target(
            config_for(planhat.url, api_token="not-a-token"),
            messages("companies", GOOD, ["externalId"]),
        )
    assert "not-a-token" not in str(failure.value)
    assert len(planhat.emulator.requests()) == 1


def test_wrong_tenant_token_names_analytics_settings(planhat):
    config = config_for(planhat.url, tenant_token="00000000-wrong-tenant")
    with pytest.raises(FatalAPIError, match=r"404.*`analytics_url` and `tenant_token`") as failure:
        run_target(
            config,
            messages("metrics", [{"dimensionId": "x", "value": 1, "externalId": "ACME-001"}]),
        )
    assert "00000000-wrong-tenant" not in str(failure.value)


def test_metrics_without_tenant_token_are_a_clear_error(planhat):
    config = config_for(planhat.url)
    del config["tenant_token"]
    with pytest.raises(FatalAPIError, match="needs the `tenant_token` setting"):
        run_target(
            config, messages("metrics", [{"dimensionId": "x", "value": 1, "externalId": "A"}])
        )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"region": "us3.evil.example/"}, "region"),
        ({"region": "US3"}, "region"),
        ({"api_url": "http://api.planhat.example"}, "`api_url` plain http:// sends credentials"),
        ({"api_url": "https://user:pw@api.planhat.com"}, "`api_url` must not carry credentials"),
        ({"analytics_url": "ftp://analytics.planhat.com"}, "`analytics_url` must be an https"),
        ({"batch_size": 5001}, "batch_size"),
        ({"on_reject": "ignore"}, "on_reject"),
        ({"max_requests_per_minute": -1}, "max_requests_per_minute"),
        ({"object_mapping": {"s": {"object": "accounts"}}}, "object_mapping.s.object"),
        (
            {"object_mapping": {"companies": {"behavior": "send"}}},
            "object_mapping.companies.behavior",
        ),
        ({"object_mapping": {"nps": {"sync_key": "externalId"}}}, "object_mapping.nps.sync_key"),
        ({"object_mapping": {"s": {"object": "companies", "key": "x"}}}, "object_mapping"),
    ],
)
def test_wrong_settings_are_config_errors_naming_the_setting(planhat, overrides, message):
    config = {**config_for(planhat.url), **overrides}
    if "region" in overrides:
        del config["api_url"]
    with pytest.raises(ConfigValidationError) as failure:
        run_target(config, [])
    assert message in " ".join(failure.value.errors)


def test_unknown_stream_without_mapping_is_a_clear_error(planhat):
    with pytest.raises(ConfigValidationError) as failure:
        run_target(config_for(planhat.url), messages("crm_accounts", [{"externalId": "x"}]))
    assert "'crm_accounts' is not a Planhat object" in failure.value.errors[0]
    assert "object_mapping" in failure.value.errors[0]


def test_region_builds_the_regional_host():
    config = {"api_token": "t", "region": "us3"}
    assert (
        TargetPlanhat(config=config, parse_env_config=False).api_url
        == "https://api-us3.planhat.com"
    )
    assert (
        TargetPlanhat(config={"api_token": "t"}, parse_env_config=False).api_url
        == "https://api.planhat.com"
    )


def test_schema_validation_is_opt_in(planhat):
    lines = messages(
        "companies",
        [{"externalId": "V-1", "name": 42}],
        ["externalId"],
        {"name": {"type": "string"}},
    )
    assert run_target(config_for(planhat.url), lines).counts["companies"]["sent"] == 1
    with pytest.raises(InvalidRecord):
        run_target(config_for(planhat.url, validate_records=True), lines)
