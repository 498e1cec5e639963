"""Settings declared once: the schema and the typed object come from one declaration."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from planful_plansource_planhat_core.declared import FastPathSettings, RetrySettings, setting
from planful_plansource_planhat_core.retry import RetryPolicy
from singer_sdk import typing as th


@dataclass(frozen=True, kw_only=True)
class ExampleSettings(RetrySettings):
    retry_defaults = RetryPolicy(max_tries=6, initial_wait=2.0, max_wait=30.0, timeout=120)
    retry_service = "Example"

    api_token: str = setting(th.StringType, required=True, secret=True, description="The token.")
    names: list[str] = setting(
        th.ArrayType(th.StringType), default=["a"], description="Names to read."
    )
    mode: str = setting(
        th.StringType, default="fast", allowed_values=["fast", "slow"], description="How."
    )

    def problems(self) -> list[str]:
        return ["`names` must not be empty with `mode` slow"] if not self.names else []


def test_the_schema_lists_each_setting_once_with_its_declaration() -> None:
    schema = ExampleSettings.schema()
    names = list(schema["properties"])
    assert names == [
        "api_token",
        "names",
        "mode",
        "request_timeout",
        "retry_max_tries",
        "retry_initial_wait",
        "retry_max_wait",
    ]
    assert schema["required"] == ["api_token"]
    assert schema["properties"]["api_token"]["secret"] is True
    assert schema["properties"]["names"]["default"] == ["a"]
    assert schema["properties"]["mode"]["enum"] == ["fast", "slow"]
    assert schema["properties"]["retry_max_tries"]["default"] == 6
    assert schema["properties"]["request_timeout"]["description"] == (
        "Seconds to wait for Example to answer one request."
    )


def test_read_gives_values_then_declared_defaults() -> None:
    settings = ExampleSettings.read({"api_token": "t0ken", "retry_max_tries": 3, "mode": None})
    assert settings.api_token == "t0ken"
    assert settings.mode == "fast"
    assert settings.names == ["a"]
    assert settings.retry == RetryPolicy(max_tries=3, initial_wait=2.0, max_wait=30.0, timeout=120)
    settings.names.append("b")  # a list default is the instance's own
    assert ExampleSettings.read({"api_token": "t"}).names == ["a"]


def test_settings_not_declared_are_left_out_and_secrets_stay_out_of_repr() -> None:
    settings = ExampleSettings.read({"api_token": "t0ken", "flattening_enabled": True})
    assert "t0ken" not in repr(settings)
    assert not hasattr(settings, "flattening_enabled")


def test_the_typed_object_is_frozen() -> None:
    settings = ExampleSettings.read({"api_token": "t"})
    with pytest.raises(AttributeError):
        settings.mode = "slow"  # type: ignore[misc]
    assert ExampleSettings.read({"api_token": "t", "names": []}).problems()


def test_fast_paths_are_on_unless_switched_off() -> None:
    assert FastPathSettings.read({}).fast_paths is True
    assert FastPathSettings.read({"fast_paths": False}).fast_paths is False
    assert FastPathSettings.schema()["properties"]["fast_paths"]["default"] is True
