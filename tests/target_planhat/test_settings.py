"""PlanhatSettings: each setting declared once, read through one typed object; the rules the
schema cannot say are `problems()`, raised as the config validation error they always were."""

from __future__ import annotations

import pytest
from singer_sdk.exceptions import ConfigValidationError
from target_planhat.settings import DEFAULT_ANALYTICS_URL, PlanhatSettings
from target_planhat.target import TargetPlanhat


def test_defaults_and_derived_values() -> None:
    settings = PlanhatSettings.read({"api_token": "t", "region": "us3"})
    assert settings.main_url == "https://api-us3.planhat.com"
    assert settings.analytics_host_url == DEFAULT_ANALYTICS_URL
    assert settings.batch_size == 5000
    assert settings.retry.max_tries == 8
    assert settings.settle_seconds == 30.0
    assert not settings.fail_on_reject
    assert settings.problems() == []


def test_secrets_stay_out_of_the_repr() -> None:
    settings = PlanhatSettings.read({"api_token": "s3cr3t", "tenant_token": "t3nant"})
    assert "s3cr3t" not in repr(settings)
    assert "t3nant" not in repr(settings)


def test_api_url_wins_over_region_and_loses_its_trailing_slash() -> None:
    settings = PlanhatSettings.read({"api_token": "t", "region": "eu", "api_url": " https://p/x/ "})
    assert settings.main_url == "https://p/x"


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ({"object_mapping": {"s": {"object": "nope"}}}, "object_mapping.s.object: 'nope'"),
        ({"object_mapping": {"metrics": {"behavior": "upsert"}}}, "metrics allows send"),
        ({"api_url": "http://planhat.example"}, "`api_url` plain http://"),
        ({"analytics_url": "https://u:p@x"}, "`analytics_url` must not carry credentials"),
    ],
)
def test_problems_fail_the_config_validation(config: dict, problem: str) -> None:
    assert problem in " ".join(PlanhatSettings.read({"api_token": "t", **config}).problems())
    with pytest.raises(ConfigValidationError) as failure:
        TargetPlanhat(config={"api_token": "t", **config}, parse_env_config=False)
    assert problem in " ".join(failure.value.errors)


def test_the_schema_is_the_declaration_plus_the_shared_pieces() -> None:
    declared = list(PlanhatSettings.schema()["properties"])
    schema = list(TargetPlanhat.config_jsonschema["properties"])
    assert schema[: len(declared)] == declared
    assert "metrics_log_level" in schema[len(declared) :]
    assert "retry_base_seconds" in schema[len(declared) :]
