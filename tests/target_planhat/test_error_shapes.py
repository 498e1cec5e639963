"""Answered batches are remembered whatever shape Planhat's errors take (issue 17, point 5).

Planhat's bulk errors may be bare strings (a public client's fixtures), and the analytics host's
echo of a refused item may carry defaults the target never sent (Airbyte's sample: `model`). In
either case Planhat's counts still answer every item, so the batch goes into the ledger, the
error the target cannot place goes to the rejects file whole, and a re-run stores nothing twice.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.target_planhat.examples import EXAMPLES, key_properties
from tests.target_planhat.helpers import config_for, messages, read_rejects, run_target

SHAPES = ("object", "string", "echo_with_defaults")
ANALYTICS = {"metrics": "metric_points", "activities": "activities"}


def _bad(obj: str, good: dict[str, Any]) -> dict[str, Any]:
    """A record the target sends and Planhat refuses: no name, or a company Planhat lacks."""
    if obj == "companies":
        return {"externalId": "CRM-BAD"}
    bad = {**good, "companyExternalId": "NO-SUCH-COMPANY"}
    bad.pop("companySourceId", None)
    for key in ("externalId", "sourceId"):
        if key in bad:
            bad[key] = f"{bad[key]}-BAD"
    if obj == "nps":
        bad["email"] = "nobody@nowhere.example"
    if obj == "metrics":
        bad["value"] = 7
    return bad


def _stored(emulator: Any, obj: str) -> int:
    return emulator.state()[ANALYTICS.get(obj, obj)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("obj", sorted(EXAMPLES))
def test_an_answered_batch_is_remembered_whatever_its_errors_look_like(
    planhat, tmp_path, obj, shape
):
    planhat.emulator.configure(error_item_format=shape)
    good = EXAMPLES[obj]
    bad = _bad(obj, good)
    rejects = tmp_path / "rejects.jsonl"
    config = config_for(
        planhat.url, ledger=str(tmp_path / "ledger.sqlite3"), rejects_file=str(rejects)
    )
    lines = messages(obj, [good, bad], key_properties(good))
    before = _stored(planhat.emulator, obj)

    first = run_target(config, lines)
    assert _stored(planhat.emulator, obj) == before + 1
    assert first.counts[obj]["rejected"] == 1
    assert first.counts[obj]["unaccounted"] == 0
    [reject] = read_rejects(rejects)
    if shape == "string":  # a bare message names no record: the entry is kept whole
        assert reject["record"] is None
    elif obj == "conversations" and shape == "echo_with_defaults":
        # no index and no key to place it by (notes are matched on `_id` only): kept whole
        assert reject["record"]["companyId"] == "extid-NO-SUCH-COMPANY"
        assert reject["record_number"] is None
    else:  # by index, by keys (main API) or by identity (analytics), echo defaults or not
        assert reject["record"] == bad
        assert reject["record_number"] == 2

    again = run_target(config, lines)
    assert _stored(planhat.emulator, obj) == before + 1, "stored twice after a re-run"
    assert again.counts[obj]["sent"] <= 1  # at most the refused record is tried again
