"""The one retry loop: `max_tries` attempts in all, whatever fails, the policy's waits between."""

from __future__ import annotations

import pytest
import requests
from planful_plansource_planhat_core.retry import RetryLoop, RetryPolicy

POLICY = RetryPolicy(max_tries=3, initial_wait=0.0, max_wait=0.0)


def test_a_failure_forever_is_tried_max_tries_times_and_raised():
    calls, told = [], []

    def fail() -> None:
        calls.append(1)
        raise requests.Timeout(str(len(calls)))

    with pytest.raises(requests.Timeout, match="3"):
        RetryLoop(POLICY, (requests.Timeout,), told.append).call(fail)
    assert len(calls) == 3
    assert [details["tries"] for details in told] == [1, 2]


def test_an_answer_ends_the_loop():
    answers = iter([requests.Timeout(), "ok"])

    def answer() -> str:
        value = next(answers)
        if isinstance(value, Exception):
            raise value
        return value

    assert RetryLoop(POLICY, (requests.Timeout,)).call(answer) == "ok"


def test_other_failures_are_not_retried():
    calls = []

    def refuse() -> None:
        calls.append(1)
        msg = "refused"
        raise ValueError(msg)

    with pytest.raises(ValueError, match="refused"):
        RetryLoop(POLICY, (requests.Timeout,)).call(refuse)
    assert calls == [1]


def test_a_generator_reads_on_across_attempts_within_one_budget():
    """Items already handed over stay handed over; every try counts, whatever failed."""
    tries = []

    def items():
        for attempt in RetryLoop(POLICY, (requests.ConnectionError,)):
            with attempt:
                tries.append(attempt.number)
                yield attempt.number
                if not attempt.last:
                    raise requests.ConnectionError
                return

    assert list(items()) == [1, 2, 3]
    assert tries == [1, 2, 3]


def test_the_waits_ending_stops_the_loop():
    def waits():
        yield 0.0
        yield 0.0  # one retry, then the generator ends

    calls = []

    def fail() -> None:
        calls.append(1)
        raise requests.Timeout

    with pytest.raises(requests.Timeout):
        RetryLoop(POLICY, (requests.Timeout,), max_tries=10, waits=waits).call(fail)
    assert len(calls) == 2
