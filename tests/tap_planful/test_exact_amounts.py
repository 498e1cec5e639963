"""Amounts keep every digit: Planful's amounts are `decimal` (planful-soap.md §12), and a float
would round `12345678901234.5678` to `12345678901234.568`. Emulator switch `gl_exact_amount`
serves such an amount as the first GL row of each answer, over SOAP and REST."""

from __future__ import annotations

import decimal
import json

import pytest
from singer_sdk.exceptions import FatalAPIError

from .helpers import config_for, soap_config, sync_lines

EXACT = "12345678901234.5678"
ONE_PERIOD = {"start_fiscal_year": 2025, "end_fiscal_year": 2025, "scenarios": ["2025 Budget"]}


def gl_records(lines: list[bytes]) -> list[dict]:
    """RECORD messages of gl_data, numbers read as exact decimals (as a target reads them)."""
    messages = (json.loads(line, parse_float=decimal.Decimal) for line in lines)
    return [m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == "gl_data"]


def test_soap_amount_reaches_the_record_with_every_digit(planful):
    planful.emulator.configure(gl_exact_amount=EXACT)
    lines = sync_lines(soap_config(planful.url, **ONE_PERIOD), {"gl_data"})

    records = gl_records(lines)
    exact = [r for r in records if r["Amount"] == decimal.Decimal(EXACT)]
    assert len(exact) == 12  # the first row of each month's answer
    assert all(str(r["Amount"]) == EXACT for r in exact)
    assert any(f'"Amount":{EXACT},'.encode() in line for line in lines)  # a JSON number, as sent
    assert len(records) == sum(
        len(planful.emulator.gl_records("2025 Budget", 2025, month)) for month in range(1, 13)
    )


def test_rest_amounts_reach_the_record_with_every_digit(planful):
    planful.emulator.configure(gl_exact_amount=EXACT)
    config = config_for(planful.url, api_type="structured", **ONE_PERIOD)
    lines = sync_lines(config, {"gl_data"})

    exact = [r for r in gl_records(lines) if r["MtdAmount"] == decimal.Decimal(EXACT)]
    assert len(exact) == 12
    assert all(str(r[f"{kind}Amount"]) == EXACT for r in exact for kind in ("Mtd", "Qtd", "Ytd"))
    assert any(f'"MtdAmount":{EXACT},'.encode() in line for line in lines)


def test_default_amounts_are_unchanged_decimals(planful):
    """Two-decimal amounts read back as the emulator computes them (cents), not as floats."""
    lines = sync_lines(soap_config(planful.url, **ONE_PERIOD), {"gl_data"})
    records = gl_records(lines)
    expected = sorted(
        decimal.Decimal(str(row["MtdAmount"])).quantize(decimal.Decimal("0.01"))
        for month in range(1, 13)
        for row in planful.emulator.gl_records("2025 Budget", 2025, month)
    )
    assert sorted(r["Amount"] for r in records) == expected


@pytest.mark.parametrize("text", ["NaN", "Infinity", "12,5"])
def test_an_amount_that_is_no_finite_decimal_fails_in_one_line(planful, text):
    planful.emulator.configure(gl_exact_amount=text)
    with pytest.raises(FatalAPIError, match=r"<Amount> is .*not a number"):
        sync_lines(soap_config(planful.url, **ONE_PERIOD), {"gl_data"})
