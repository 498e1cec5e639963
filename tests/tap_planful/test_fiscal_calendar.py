"""Fiscal calendars other than 12 calendar months (planful-soap.md §12): a tenant sets the number
of periods and the month its fiscal year starts in. Emulator switches `fiscal_periods`,
`fiscal_year_start_month` and `fiscal_year_named_for` serve them; rows lost are counted against
the emulator's store."""

from __future__ import annotations

import datetime

import pytest
from singer_sdk.exceptions import FatalAPIError
from tap_planful.periods import FiscalCalendar, Period

from .helpers import config_for, gl_requests, soap_config, soap_gl_calls, sync

BUDGET_2025 = {"scenarios": ["2025 Budget"], "start_fiscal_year": 2025, "end_fiscal_year": 2025}


def soap(url: str, **settings: object) -> dict:
    return soap_config(url, **BUDGET_2025, **settings)


def rest(url: str, **settings: object) -> dict:
    return config_for(url, api_type="structured", **BUDGET_2025, **settings)


@pytest.mark.parametrize("config", [soap, rest])
def test_rows_past_the_configured_periods_fail_the_run_naming_the_setting(planful, config):
    planful.emulator.configure(fiscal_periods=13)
    with pytest.raises(FatalAPIError) as caught:
        sync(config(planful.url), {"gl_data"})
    message = str(caught.value)
    assert "\n" not in message
    per_period = len(planful.emulator.gl_records("2025 Budget", 2025, 13))
    assert f"has {per_period:,} rows in fiscal period 13 of 2025" in message
    assert "`fiscal_periods_per_year`" in message


@pytest.mark.parametrize("config", [soap, rest])
def test_a_13_period_year_is_read_whole(planful, config):
    planful.emulator.configure(fiscal_periods=13)
    result = sync(config(planful.url, fiscal_periods_per_year=13), {"gl_data"})

    records = result.records["gl_data"]
    assert len(records) == planful.emulator.gl_row_count("2025 Budget")  # none lost
    period_field = "FiscalPeriod" if config is soap else "FiscalMonth"
    assert {r[period_field] for r in records} == set(range(1, 14))
    (partition,) = result.state["bookmarks"]["gl_data"]["partitions"]
    assert partition["replication_key_value"] == 202513
    asked = (
        [p for _, _, p, _ in soap_gl_calls(planful.emulator)]
        if config is soap
        else [m for _, _, m in gl_requests(planful.emulator)]
    )
    assert asked == [*range(1, 14), 14]  # each period once, then the one past the year once


def test_the_check_past_the_year_can_be_switched_off(planful):
    result = sync(soap(planful.url, gl_check_period_past_year=False), {"gl_data"})
    assert [p for _, _, p, _ in soap_gl_calls(planful.emulator)] == list(range(1, 13))
    assert len(result.records["gl_data"]) == planful.emulator.gl_row_count("2025 Budget")


def test_a_13_period_bookmark_looks_back_across_the_year_end(planful):
    planful.emulator.configure(fiscal_periods=13)
    config = soap_config(
        planful.url,
        scenarios=["2025 Budget"],
        start_fiscal_year=2025,
        end_fiscal_year=2026,
        fiscal_periods_per_year=13,
        gl_lookback_periods=2,
    )
    state = {
        "bookmarks": {
            "gl_data": {
                "partitions": [
                    {
                        "context": {"Scenario": "2025 Budget"},
                        "replication_key": "period_key",
                        "replication_key_value": 202601,
                    }
                ]
            }
        }
    }
    sync(config, {"gl_data"}, state=state)
    asked = [(y, p) for _, y, p, _ in soap_gl_calls(planful.emulator)]
    assert asked[:3] == [(2025, 12), (2025, 13), (2026, 1)]


def start_months() -> list[int]:
    """A fiscal year starting this month (first period) and next month (last period)."""
    month = datetime.datetime.now(datetime.UTC).month
    return sorted({month if month != 1 else 2, month % 12 + 1 if month != 12 else 2})


@pytest.mark.parametrize("named_for", ["end", "start"])
@pytest.mark.parametrize("start_month", start_months())
def test_actual_is_read_up_to_the_tenants_current_period(planful, start_month, named_for):
    emulator = planful.emulator
    emulator.configure(fiscal_year_start_month=start_month, fiscal_year_named_for=named_for)
    config = soap_config(planful.url, scenarios=["Actual"], fiscal_year_start_month=start_month)
    result = sync(config, {"gl_data"})

    assert len(result.records["gl_data"]) == emulator.gl_row_count("Actual")  # none lost
    year, period = emulator.current_period()
    (partition,) = result.state["bookmarks"]["gl_data"]["partitions"]
    assert partition["replication_key_value"] == Period(year, period).key
    asked = [Period(y, p) for _, y, p, _ in soap_gl_calls(emulator) if p <= 12]
    assert len(asked) == len(set(asked))


def test_a_fiscal_year_start_left_at_january_reads_actual_late(planful):
    """What the setting is for: a July tenant read as a January one misses its open periods."""
    month = datetime.datetime.now(datetime.UTC).month
    start_month = 7 if month != 7 else 8
    planful.emulator.configure(fiscal_year_start_month=start_month)
    result = sync(soap_config(planful.url, scenarios=["Actual"]), {"gl_data"})
    assert len(result.records["gl_data"]) < planful.emulator.gl_row_count("Actual")


@pytest.mark.parametrize(
    ("calendar", "today", "current"),
    [
        (FiscalCalendar(), datetime.date(2026, 12, 7), Period(2026, 12)),
        (FiscalCalendar(12, 7), datetime.date(2026, 6, 30), Period(2026, 12)),
        (FiscalCalendar(12, 7), datetime.date(2026, 7, 1), Period(2027, 1)),
        (FiscalCalendar(12, 4), datetime.date(2026, 3, 15), Period(2026, 12)),
        (FiscalCalendar(13, 1), datetime.date(2026, 1, 1), Period(2026, 2)),
        (FiscalCalendar(13, 1), datetime.date(2026, 12, 31), Period(2026, 13)),
        (FiscalCalendar(13, 10), datetime.date(2026, 9, 30), Period(2026, 13)),
    ],
)
def test_the_current_period_is_never_before_the_tenants(calendar, today, current):
    assert calendar.current(today) == current


def test_periods_shift_by_the_configured_count():
    thirteen = FiscalCalendar(13)
    assert thirteen.shifted(Period(2026, 1), -2) == Period(2025, 12)
    assert thirteen.shifted(Period(2025, 13), 1) == Period(2026, 1)
    assert [p.key for p in thirteen.through(Period(2025, 12), Period(2026, 1))] == [
        202512,
        202513,
        202601,
    ]
    assert thirteen.past_year(2025) == Period(2025, 14)
