"""connector-core's unknown-setting names, the give-up on unreachable hosts, and the connection
test's policy, on their own (each plugin's CLI tests show them end to end)."""

from __future__ import annotations

import socket

import pytest
import requests
from planful_plansource_planhat_core.connection_test import TEST_TIMEOUT_SECONDS, quick
from planful_plansource_planhat_core.failures import describe
from planful_plansource_planhat_core.retry import (
    UNREACHABLE_MAX_WAIT,
    UNREACHABLE_TRIES,
    RetryPolicy,
)
from planful_plansource_planhat_core.settings import misspelt_variables, unknown_setting_problems

SCHEMA: dict[str, dict[str, dict]] = {
    "properties": {"page_size": {}, "client_secret": {}, "path_overrides": {}}
}


def refused(port: int) -> requests.ConnectionError:
    """What requests raises when nothing listens on a loopback port."""
    with pytest.raises(requests.ConnectionError) as caught:
        requests.get(f"http://127.0.0.1:{port}/admin/v2/x", timeout=5)
    return caught.value


@pytest.fixture
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_unknown_names_come_with_the_closest_known_one():
    config = {"page_sise": 1, "client_secret": "s", "zzz": 1}
    assert unknown_setting_problems(config, SCHEMA) == [
        "`page_sise` is not a setting (did you mean `page_size`?)",
        "`zzz` is not a setting",
    ]


def test_only_near_miss_variables_are_named():
    environ = {
        "TAP_X_CLIENT_SECERT": "1",  # a typo
        "TAP_X_CLIENT_SECRET": "1",  # the setting
        "TAP_X__SELECT": "[]",  # Meltano's own
        "TAP_X_SALES_PAGE_SIZE": "5",  # an inheriting plugin's
        "TAP_X_PATH_OVERRIDES_GL_DATA": "/x",  # a nested setting
        "TAP_X_LOGLEVEL": "debug",  # not close to any setting
        "TAP_X_PAGE_SISE": "5",  # also in the config: named there
    }
    found = misspelt_variables("TAP_X_", SCHEMA, environ, config={"page_sise": 5})
    assert found == [
        "Environment variable TAP_X_CLIENT_SECERT is not a setting and is ignored (did you mean "
        "TAP_X_CLIENT_SECRET?)"
    ]


def test_an_unreachable_host_is_given_up_quickly(free_port):
    waits = RetryPolicy(max_tries=8, initial_wait=60.0, max_wait=600.0).waits()
    next(waits)
    error = refused(free_port)
    seen = [waits.send(error) for _ in range(UNREACHABLE_TRIES - 1)]
    assert all(wait <= UNREACHABLE_MAX_WAIT for wait in seen)
    with pytest.raises(StopIteration):  # backoff gives up and raises the failure
        waits.send(error)


def test_the_line_names_the_url_setting_and_the_emulator(free_port):
    config = {"api_url": f"http://127.0.0.1:{free_port}/admin/v2", "environment": "production"}
    line = describe(refused(free_port), "`environment`", config=config, emulator="plansource")
    assert line == (
        f"Nothing answers at http://127.0.0.1:{free_port} (connection refused): check `api_url`. "
        "It is this machine: if it is the sandbox, its emulator is not running (start it with "
        f"`./run python -m sandbox serve plansource --port {free_port}`)."
    )


def test_a_connection_test_tries_once_within_its_time():
    assert quick({"request_timeout": 300, "retry_max_tries": 8}) == {
        "request_timeout": TEST_TIMEOUT_SECONDS,
        "retry_max_tries": 1,
    }
    assert quick({"request_timeout": 2})["request_timeout"] == 2.0
