"""The private singer-sdk names our plugins still use, each with the parameters we call or
override it with, so an SDK upgrade that renames or reshapes one fails here, loudly, instead of
silently changing the record path. And no override of a method singer-sdk marks final.

Kept because they are measured (see the README of each plugin and `benchmarks/`): target-planhat's
STATE-per-batch release (the SDK has no public hook for when STATE goes out:
`_process_state_message`, `_write_state_message`; its copy of the record path and of the date
parsing, 1.03-1.16x, were removed), tap-planful's buffered RECORD writer and GL
bookmark (`_write_record_message`, `_increment_stream_state`), its cross-setting checks at config
validation (`_validate_config`), and tap-plansource's fast paths (`fast_path.py`, off with
`fast_paths: false`): its page prefetch (`RESTStream._request` per prepared request from its
thread pool, also its one request per payroll subscriber and connection check) and RECORD lines
written straight from the record (`_write_record_message`, with connector-core's writer).
"""

from __future__ import annotations

import inspect

import pytest
from planful_plansource_planhat_core.tap import ConnectorTap
from singer_sdk import Stream, Tap, Target
from singer_sdk.streams import RESTStream
from singer_sdk.tap_base import CliTestOptionValue
from tap_planful.tap import TapPlanful
from tap_plansource.tap import TapPlanSource
from target_planhat.target import TargetPlanhat

PINNED = [
    (Target, "_process_state_message", ["self", "message_dict"]),
    (Target, "_write_state_message", ["self", "state"]),
    (Stream, "_increment_stream_state", ["self", "latest_record", "context"]),
    (Stream, "_write_record_message", ["self", "record"]),
    (RESTStream, "_request", ["self", "prepared_request", "context"]),
    (Tap, "_validate_config", ["self", "raise_errors"]),
]

ATTRIBUTES = [
    (Stream, "_tap"),
    (Stream, "_stream_version"),
]
"""Private attributes read by our code, found in the SDK class's own source."""


@pytest.mark.parametrize(("owner", "name", "parameters"), PINNED, ids=str)
def test_the_sdk_still_has_the_private_hook(owner, name, parameters):
    hook = getattr(owner, name, None)
    assert hook is not None, f"singer-sdk no longer has {owner.__name__}.{name}"
    assert list(inspect.signature(hook).parameters) == parameters


@pytest.mark.parametrize(("owner", "name"), ATTRIBUTES, ids=str)
def test_the_sdk_still_sets_the_private_attribute(owner, name):
    assert f"self.{name}" in inspect.getsource(owner), f"{owner.__name__}.{name} is gone"


@pytest.mark.parametrize("plugin", [TapPlanful, TapPlanSource, TargetPlanhat])
def test_no_final_method_is_overridden(plugin):
    for klass in plugin.__mro__:
        if klass.__module__.startswith("singer_sdk"):
            continue
        for name, value in vars(klass).items():
            base = next(
                (
                    getattr(b, name)
                    for b in plugin.__mro__[1:]
                    if name in vars(b) and b.__module__.startswith("singer_sdk")
                ),
                None,
            )
            if base is not None and getattr(base, "__final__", False):
                pytest.fail(f"{klass.__name__}.{name} overrides a final singer-sdk method")
            assert value is not None


@pytest.mark.parametrize("tap", [TapPlanful, TapPlanSource])
def test_the_test_flag_without_a_value_reaches_our_connection_test(tap):
    """`ConnectorTap.cb_test` runs the connection test for singer-sdk's `--test` value `all`
    (what the flag gives without a value) and leaves `--test=schema` to singer-sdk."""
    [option] = [p for p in tap.get_singer_command().params if p.name == "test"]
    assert option.flag_value == CliTestOptionValue.All.value
    assert option.default == CliTestOptionValue.Disabled.value
    assert option.callback == tap.cb_test
    assert tap.cb_test.__func__ is ConnectorTap.cb_test.__func__
