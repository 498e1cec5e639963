"""The shared pieces of connector-core on their own: retry waits, URL policy, redaction, setting
aliases and the checked Singer reader."""

from __future__ import annotations

import io
import json
import logging

import pytest
import requests
from planful_plansource_planhat_core import run_report
from planful_plansource_planhat_core.failures import InputLineError
from planful_plansource_planhat_core.redact import Redactor
from planful_plansource_planhat_core.retry import RetryPolicy, retry_after_seconds
from planful_plansource_planhat_core.settings import Alias, from_text, renamed
from planful_plansource_planhat_core.singer_input import CheckedReader
from planful_plansource_planhat_core.urls import base_url_problem, checked_base_url
from singer_sdk import metrics


def answer(status: int, retry_after: str | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = retry_after
    return response


def failure(response: requests.Response | None) -> Exception:
    error = Exception("failed")
    error.response = response  # type: ignore[attr-defined]
    return error


def test_waits_double_with_jitter_and_stop_at_the_cap():
    waits = RetryPolicy(initial_wait=1.0, max_wait=5.0).waits()
    assert next(waits) == 0.0
    seen = [waits.send(failure(answer(503))) for _ in range(6)]
    for attempt, wait in enumerate(seen):
        ceiling = min(2.0**attempt, 5.0)
        assert min(2.0**attempt / 2, 5.0) <= wait <= ceiling
    assert seen[-1] == 5.0


def test_retry_after_wins_and_is_capped():
    waits = RetryPolicy(initial_wait=1.0, max_wait=30.0).waits()
    next(waits)
    assert waits.send(failure(answer(429, "7"))) == 7.0
    assert waits.send(failure(answer(429, "3600"))) == 30.0
    assert retry_after_seconds(answer(429, "Wed, 21 Oct 2015 07:28:00 GMT")) == 0.0
    assert retry_after_seconds(answer(429, "soon")) is None


def test_the_policy_reads_the_shared_settings():
    defaults = RetryPolicy(max_tries=5, initial_wait=1.0, max_wait=60.0, timeout=300.0)
    config = {"retry_max_tries": 2, "retry_initial_wait": 0.5, "request_timeout": 9}
    assert RetryPolicy.from_config(config, defaults) == RetryPolicy(2, 0.5, 60.0, 9.0)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://api.example.com", "plain http://"),
        ("https://user:secret@api.example.com", "must not carry credentials"),
        ("https://api.example.com/x?token=secret", "query string"),
        ("https://api.example.com/#secret", "fragment"),
        ("ftp://api.example.com", "https:// URL with a host"),
        ("https://[::1", "not a valid URL"),
    ],
)
def test_url_policy_refuses_without_echoing(url, problem):
    said = base_url_problem(url)
    assert said is not None
    assert problem in said
    assert "secret" not in said
    with pytest.raises(ValueError, match="`api_url`"):
        checked_base_url(url, "api_url")


@pytest.mark.parametrize(
    "url", ["https://api.example.com/", "http://127.0.0.1:8701", "http://[::1]:1"]
)
def test_url_policy_accepts_https_and_loopback(url):
    assert checked_base_url(url, "api_url") == url.rstrip("/")


def test_redaction_covers_each_line_of_a_secret_and_skips_short_ones():
    redact = Redactor(["-----BEGIN KEY-----\nAAAAbbbbCCCC\n-----END KEY-----", "abc", None])
    redact.add("token-12345")
    text = redact("key line AAAAbbbbCCCC, token token-12345, word abc")
    assert text == "key line ***, token ***, word abc"


def test_old_setting_names_are_read_as_the_new_ones_with_a_warning(caplog):
    aliases = [Alias("max_retries", "retry_max_tries", lambda v: v + 1), Alias("old", "new")]
    with caplog.at_level(logging.WARNING):
        config = renamed({"max_retries": 2, "old": 1, "new": 5}, aliases, logging.getLogger("t"))
    assert config == {"retry_max_tries": 3, "new": 5}
    assert "`max_retries` is deprecated" in caplog.text
    assert "`old` is deprecated and ignored: `new` is set too" in caplog.text


def read(lines: list[str], root=None) -> list[dict]:
    reader = CheckedReader()
    reader.batch_root = root
    seen: list[dict] = []
    callbacks = dict.fromkeys(("SCHEMA", "RECORD", "STATE", "BATCH"), seen.append)
    reader.process_lines(io.StringIO("".join(line + "\n" for line in lines)), callbacks)
    return seen


def test_the_reader_names_the_bad_line_and_shows_200_characters():
    good = json.dumps({"type": "STATE", "value": {}})
    with pytest.raises(InputLineError) as failure_info:
        read([good, good, "x" * 1000])
    message = str(failure_info.value)
    assert message.startswith("Input line 3: not JSON")
    assert "x" * 200 + "..." in message
    assert "x" * 201 not in message


def test_batch_files_only_from_under_the_batch_root(tmp_path):
    inside = {"type": "BATCH", "stream": "s", "manifest": [f"file://{tmp_path}/a.jsonl"]}
    outside = {"type": "BATCH", "stream": "s", "manifest": ["file:///etc/passwd"]}
    assert read([json.dumps(inside)], root=tmp_path) == [inside]
    with pytest.raises(InputLineError, match="outside the configured batch root"):
        read([json.dumps(outside)], root=tmp_path)
    with pytest.raises(InputLineError, match="BATCH messages are not taken"):
        read([json.dumps(inside)])


def test_settings_given_as_text_are_read_as_meant():
    schema = {
        "properties": {
            "region": {"type": ["string", "null"]},
            "retry_initial_wait": {"type": ["number", "null"]},
            "page_size": {"type": ["integer", "null"]},
            "port": {"type": ["integer", "null"]},
            "path_overrides": {"type": "object", "properties": {"gl_data": {"type": "string"}}},
            "stream_maps": {"type": "object"},
            "plan_years": {"type": ["object", "null"]},
            "scenarios": {"type": ["array", "null"]},
            "models": {"type": ["array", "null"]},
        }
    }
    config = {
        "region": "",
        "retry_initial_wait": "0.5",
        "page_size": "50",
        "port": "5.5",
        "path_overrides": {"gl_data": " "},
        "stream_maps": {"s": {"p": ""}},
        "unknown": "",
        "plan_years": '{"2026 Budget": 2026}',
        "scenarios": '["Actual"]',
        "models": '{"not": "a list"}',
    }
    assert from_text(config, schema) == {
        "retry_initial_wait": 0.5,
        "page_size": 50,
        "port": "5.5",  # not a whole number: left for the validation to name
        "path_overrides": {},
        "stream_maps": {"s": {"p": ""}},  # free-form objects are the user's own
        "unknown": "",  # an undeclared name is not ours to drop
        "plan_years": {"2026 Budget": 2026},  # JSON text, as Meltano hands `kind: object` over
        "scenarios": ["Actual"],
        "models": '{"not": "a list"}',  # not the declared kind: left for the validation
    }
    assert from_text(None, schema) is None


def test_the_run_report_counts_from_the_sdks_metrics_and_hides_them(caplog, monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(run_report.time, "monotonic", lambda: clock[0])
    logger = logging.getLogger("tap-test")
    report = run_report.RunReport(logger, progress_interval=10, show_metrics=False).install()
    metrics_logger = metrics.get_metrics_logger()
    metrics_logger.setLevel(logging.INFO)

    def point(kind: str, metric: metrics.Metric, value: float) -> None:
        metrics.log(metrics_logger, metrics.Point(kind, metric, value, {"stream": "gl_data"}))

    with caplog.at_level(logging.INFO):
        report.sync_starts("gl_data")
        point("timer", metrics.Metric.HTTP_REQUEST_DURATION, 0.2)
        point("counter", metrics.Metric.RECORD_COUNT, 500)
        clock[0] += 5
        point("counter", metrics.Metric.RECORD_COUNT, 500)  # 5 s: too soon for a progress line
        clock[0] += 5
        point("counter", metrics.Metric.RECORD_COUNT, 1000)
        report.retried("gl_data")
        report.requested("gl_data")
        point("timer", metrics.Metric.SYNC_DURATION, 12.5)
        report.summarize("completed")
    lines = [r.getMessage() for r in caplog.records if r.name == "tap-test"]
    assert "METRIC" not in caplog.text  # counted, not shown
    assert lines == [
        "Progress: gl_data: 2,000 records so far (200 records/s), 1 requests",
        "Summary: gl_data: 2,000 records, 2 requests, 1 retries, 12.5 s",
        "Summary: run completed after 10.0 s: 2,000 records, 2 requests, 1 retries in 1 streams",
    ]
    metrics_logger.removeFilter(report)
