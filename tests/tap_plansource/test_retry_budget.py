"""`retry_max_tries` is the number of attempts per request, the first included, on every request
path of the tap: a page, the token, an empty page asked again. Counted on the emulator, with the
one retry line of every plugin (`retry.RETRY_LINE`)."""

from __future__ import annotations

import pytest
from sandbox.core import Fault
from tap_plansource.auth import TokenEndpointUnavailableError
from tap_plansource.paging import PageGapError

from .helpers import requests_to, run_tap, tap_config

FOREVER = 1000
TRIES = 3


def retry_lines(caplog: pytest.LogCaptureFixture, what: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.getMessage().startswith(f"Retrying {what}") and "failed)" in r.getMessage()
    ]


def test_a_page_failing_with_503_forever_is_tried_retry_max_tries_times(plansource, caplog):
    plansource.emulator.add_faults([Fault(status=503, path="/subscribers$", times=FOREVER)])
    with pytest.raises(Exception, match=r"503 to GET /admin/v2/subscribers"):
        run_tap(tap_config(plansource, retry_max_tries=TRIES), ["subscribers"])
    assert len(requests_to(plansource, "^/admin/v2/subscribers$")) == TRIES
    lines = retry_lines(caplog, "subscribers: GET /subscribers")
    assert [line.split("(")[-1] for line in lines] == [
        f"try {n} of {TRIES} failed)" for n in range(1, TRIES)
    ]
    assert all("after HTTP 503" in line for line in lines)


def test_the_token_failing_with_503_forever_is_tried_retry_max_tries_times(plansource, caplog):
    plansource.emulator.add_faults([Fault(status=503, path="/oauth/v2/token", times=FOREVER)])
    with pytest.raises(TokenEndpointUnavailableError, match=f"after {TRIES} tries"):
        run_tap(tap_config(plansource, retry_max_tries=TRIES), ["organizations"])
    assert len(requests_to(plansource, "^/oauth/v2/token$")) == TRIES
    assert not requests_to(plansource, "^/admin/v2/organizations$"), "no token, no page"
    assert len(retry_lines(caplog, "the PlanSource token request")) == TRIES - 1


def test_an_empty_page_is_asked_retry_max_tries_times_in_all(plansource, caplog):
    path = "^/admin/v2/subscribers$"
    plansource.emulator.configure(empty_pages=[{"path": path, "page": 2, "times": None}])
    config = tap_config(plansource, page_size=10, prefetch_pages=0, retry_max_tries=TRIES)
    with pytest.raises(PageGapError, match=f"with no records {TRIES} times"):
        run_tap(config, ["subscribers"])
    pages = [int(r["query"]["page"][0]) for r in requests_to(plansource, path)]
    assert pages.count(2) == TRIES
    assert len(retry_lines(caplog, "subscribers: page 2 of GET /subscribers")) == TRIES - 1
