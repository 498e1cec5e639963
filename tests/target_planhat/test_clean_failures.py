"""Each failure a user can cause ends the target-planhat CLI with one ERROR line naming what to
fix (a bad input line by its number, at most 200 characters of it), exit code 1 and no traceback;
batches done before the failure keep their STATE; SIGTERM and SIGINT end it with 128 + the signal,
after the batch in flight, with no STATE past what Planhat holds; BATCH messages are refused."""

from __future__ import annotations

import json

import pytest
from planful_plansource_planhat_core.retry import UNREACHABLE_TRIES

from tests.cli_failures import (
    SIGNALS,
    assert_clean_failure,
    free_port,
    run,
    stopped,
    write_files,
)
from tests.target_planhat.helpers import config_for, messages

TARGET = "target_planhat"


def jsonl(*items) -> str:
    return "".join((item if isinstance(item, str) else json.dumps(item)) + "\n" for item in items)


def companies(count: int, start: int = 0) -> list[dict]:
    return [{"externalId": f"C-{n}", "name": f"Company {n}"} for n in range(start, start + count)]


def run_target(config, stdin, tmp_path):
    return run(TARGET, write_files(tmp_path, config=config), stdin=stdin)


def stored(planhat) -> set[str]:
    """The companies of this test in Planhat (the emulator starts with a few of its own)."""
    return {
        c["externalId"]
        for c in planhat.emulator.records("companies")
        if str(c.get("externalId")).startswith("C-")
    }


def states(outcome) -> list[dict]:
    """The STATE values the target wrote (a target writes each as one JSON line)."""
    return outcome.messages


def test_on_reject_fail_ends_in_one_line(planhat, tmp_path):
    stdin = jsonl(*messages("companies", [{"externalId": "C-1"}], ["externalId"]))
    config = config_for(planhat.url, on_reject="fail")
    assert_clean_failure(
        run_target(config, stdin, tmp_path), "1 record(s) rejected or unaccounted (on_reject: fail)"
    )


def test_a_bad_setting(tmp_path):
    outcome = run_target(config_for("http://planhat.example.com"), "", tmp_path)
    assert_clean_failure(outcome, "`api_url` plain http:// sends credentials in clear")


def test_a_line_that_is_not_json_is_named_and_cut_short(planhat, tmp_path):
    bad = '{"type": "RECORD", "stream": "companies", "record": {"name": "' + "x" * 500
    stdin = jsonl(*messages("companies", companies(1), ["externalId"]), bad)
    line = assert_clean_failure(
        run_target(config_for(planhat.url), stdin, tmp_path), "Input line 3"
    )
    assert "not JSON" in line
    shown = line[line.index("the line starts '") + len("the line starts '") : -len("...'")]
    assert len(shown) == 200
    assert bad.startswith(shown)


def test_a_record_that_is_null(planhat, tmp_path):
    stdin = jsonl(
        messages("companies", companies(1), ["externalId"])[0],
        {"type": "RECORD", "stream": "companies", "record": None},
    )
    outcome = run_target(config_for(planhat.url), stdin, tmp_path)
    assert_clean_failure(
        outcome, "Input line 2: a RECORD message needs `record` as an object, got null"
    )


def test_batches_done_before_a_bad_line_keep_their_state(planhat, tmp_path):
    schema, *records = messages("companies", companies(5), ["externalId"])
    stdin = jsonl(
        schema,
        *records[:2],
        {"type": "STATE", "value": {"read": 2}},
        *records[2:4],
        {"type": "STATE", "value": {"read": 4}},
        records[4],
        "not a message",
    )
    outcome = run_target(config_for(planhat.url, batch_size_rows=2), stdin, tmp_path)
    assert_clean_failure(outcome, "Input line 9: not JSON")
    assert states(outcome)[-1] == {"read": 4}
    assert stored(planhat) == {f"C-{n}" for n in range(4)}  # the fifth was never sent


def test_an_unreachable_host_is_given_up_after_a_few_quick_tries(tmp_path):
    """Refused connections: 3 tries, not `retry_max_tries` with minute-long waits (the test
    would time out), and the line names the setting and the emulator to start."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    stdin = jsonl(*messages("companies", companies(1), ["externalId"]))
    config = config_for(url, retry_max_tries=8, retry_initial_wait=60)
    outcome = run_target(config, stdin, tmp_path)
    line = assert_clean_failure(outcome, f"Nothing answers at {url} (connection refused)")
    assert "check `region` / `api_url`" in line
    assert f"`./run python -m sandbox serve planhat --port {port}`" in line
    assert outcome.stderr.count(f"Retrying PUT {url}/companies") == UNREACHABLE_TRIES - 1


def test_tls_to_a_host_that_speaks_no_tls(planhat, tmp_path):
    url = planhat.url.replace("http://", "https://")
    stdin = jsonl(*messages("companies", companies(1), ["externalId"]))
    outcome = run_target(config_for(url, retry_max_tries=1), stdin, tmp_path)
    assert_clean_failure(outcome, f"TLS failed with https://127.0.0.1:{planhat.port}")


def test_exhausted_retries(planhat, tmp_path):
    planhat.emulator.add_faults([{"status": 503, "times": 10, "method": "PUT"}])
    stdin = jsonl(*messages("companies", companies(1), ["externalId"]))
    outcome = run_target(config_for(planhat.url, retry_max_tries=2), stdin, tmp_path)
    line = assert_clean_failure(outcome, "Planhat answered 503 to PUT /companies")
    assert "Gave up after 2 attempts" in line


def test_an_api_fault(planhat, tmp_path):
    stdin = jsonl(*messages("companies", companies(1), ["externalId"]))
    outcome = run_target(config_for(planhat.url, api_token="not-the-token"), stdin, tmp_path)
    line = assert_clean_failure(outcome, "Planhat answered 401 to PUT /companies")
    assert "check `api_token`" in line
    assert "not-the-token" not in outcome.stderr


@pytest.mark.parametrize("manifest", [["file:///etc/passwd"], ["s3://bucket/records.jsonl.gz"]])
def test_batch_messages_are_refused(planhat, tmp_path, manifest):
    stdin = jsonl(
        messages("companies", companies(1), ["externalId"])[0],
        {
            "type": "BATCH",
            "stream": "companies",
            "encoding": {"format": "jsonl"},
            "manifest": manifest,
        },
    )
    outcome = run_target(config_for(planhat.url), stdin, tmp_path)
    assert_clean_failure(outcome, "Input line 2: BATCH messages are not taken by this plugin")
    assert "root:" not in outcome.stderr + outcome.stdout


@pytest.mark.parametrize(("signum", "code"), SIGNALS)
def test_a_stop_signal_leaves_no_state_past_what_planhat_holds(planhat, tmp_path, signum, code):
    planhat.emulator.configure(latency_ms=150)
    schema, *records = messages("companies", companies(200), ["externalId"])
    lines = [schema]
    for number, record in enumerate(records, 1):
        lines.append(record)
        lines.append({"type": "STATE", "value": {"read": number}})
    input_file = tmp_path / "input.jsonl"
    input_file.write_text(jsonl(*lines))
    arguments = write_files(tmp_path, config=config_for(planhat.url, batch_size_rows=10))
    with input_file.open() as stdin:
        outcome = stopped(TARGET, arguments, signum, "PUT /companies", stdin=stdin)
    assert_clean_failure(outcome, f"Stopped by {signum.name}: the run did not finish", code)
    written = stored(planhat)
    assert 0 < len(written) < 200
    emitted = states(outcome)
    assert emitted, "the batches answered before the stop keep their STATE"
    for state in emitted:  # every record a STATE covers is in Planhat
        assert {f"C-{n}" for n in range(state["read"])} <= written
