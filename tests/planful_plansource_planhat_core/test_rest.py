"""The shared REST stream base: the policy feeds singer-sdk's backoff hooks, a retry is one
`RETRY_LINE` counted in the run report, and an error names what to check from the plugin's hints."""

from __future__ import annotations

import logging
import typing as t
from http import HTTPStatus

import pytest
import requests
from planful_plansource_planhat_core.redact import Redactor
from planful_plansource_planhat_core.rest import ConnectorRESTStream
from planful_plansource_planhat_core.retry import RETRY_LINE, RetryPolicy
from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

if t.TYPE_CHECKING:
    from collections.abc import Mapping


class ThingsStream(ConnectorRESTStream[int]):
    name = "things"
    path = "/things"
    url_base = "https://example.test"
    schema = th.PropertiesList(th.Property("id", th.IntegerType)).to_dict()
    service = "Example"
    error_hints: t.ClassVar[Mapping[int, str]] = {
        HTTPStatus.UNAUTHORIZED: "Check `token`.",
        HTTPStatus.NOT_FOUND: "Check `paths.{stream.name}` (now {stream.path!r}).",
    }
    retried_hint = "Tried {stream.retry_policy.max_tries} times; raise `retry_max_tries`."

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(max_tries=4, initial_wait=0.5, max_wait=2.0, timeout=12.5)

    @property
    def redact(self) -> Redactor:
        return Redactor(["s3cret-value"])


class Refused(FatalAPIError):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class RefusingStream(ThingsStream):
    def fatal_error(self, message: str, status: int) -> FatalAPIError:
        return Refused(message, status)


class ExampleTap(Tap):
    name = "tap-example"
    config_jsonschema = th.PropertiesList().to_dict()

    def discover_streams(self) -> list:
        return []


@pytest.fixture
def stream() -> ThingsStream:
    return ThingsStream(ExampleTap(config={}, validate_config=False))


def answer(status: int, body: str = "") -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body.encode()
    response.url = "https://example.test/things?token=s3cret-value"
    response.request = requests.Request("GET", response.url).prepare()
    return response


def test_the_policy_feeds_the_backoff_hooks(stream):
    assert stream.backoff_max_tries() == 4
    assert stream.timeout == 12.5
    assert stream.backoff_jitter(7.0) == 7.0  # a Retry-After is never jittered
    waits = stream.backoff_wait_generator()
    next(waits)
    assert 0.25 <= waits.send(None) <= 0.5


def test_a_retry_is_the_one_line_and_counted(stream, caplog, monkeypatch):
    counted = []
    monkeypatch.setattr(stream, "count_retry", lambda: counted.append(1))
    failure = RetriableAPIError("busy", answer(503))
    with caplog.at_level(logging.WARNING):
        stream.backoff_handler({"tries": 2, "wait": 1.25, "exception": failure})
    (record,) = [r for r in caplog.records if r.msg == RETRY_LINE]
    assert record.getMessage() == "Retrying GET /things in 1.2 s after HTTP 503 (try 2 of 4 failed)"
    assert counted == [1]


def test_overload_and_server_errors_are_retriable(stream):
    with pytest.raises(RetriableAPIError) as raised:
        stream.validate_response(answer(503, '{"message": "busy"}'))
    assert str(raised.value) == (
        "Example answered 503 to GET /things: busy. Tried 4 times; raise `retry_max_tries`."
    )
    with pytest.raises(RetriableAPIError):
        stream.validate_response(answer(429))


def test_a_refusal_names_the_setting_from_the_hints_and_no_secret(stream):
    with pytest.raises(FatalAPIError) as raised:
        stream.validate_response(answer(404, '{"message": "no s3cret-value here"}'))
    assert str(raised.value) == (
        "Example answered 404 to GET /things: no *** here. Check `paths.things` (now '/things')."
    )
    with pytest.raises(FatalAPIError, match=r"Check `token`\.$"):
        stream.validate_response(answer(401))
    with pytest.raises(FatalAPIError, match=r"answered 400 to GET /things: no message\.$"):
        stream.validate_response(answer(400))
    stream.validate_response(answer(200, "[]"))


def test_a_plugin_may_raise_its_own_error():
    stream = RefusingStream(ExampleTap(config={}, validate_config=False))
    with pytest.raises(Refused) as raised:
        stream.validate_response(answer(403))
    assert raised.value.status == HTTPStatus.FORBIDDEN


def test_a_request_is_tried_in_the_one_loop_max_tries_in_all(stream, caplog, monkeypatch):
    monkeypatch.setattr("planful_plansource_planhat_core.retry.time.sleep", lambda _: None)
    calls = []

    def send() -> None:
        calls.append(1)
        raise RetriableAPIError("busy", answer(503))

    with caplog.at_level(logging.WARNING), pytest.raises(RetriableAPIError):
        stream.request_decorator(send)()
    assert len(calls) == 4
    lines = [r.getMessage() for r in caplog.records if r.msg == RETRY_LINE]
    assert [line.rsplit("(", 1)[1] for line in lines] == [
        f"try {n} of 4 failed)" for n in (1, 2, 3)
    ]
