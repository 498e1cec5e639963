"""Run tap-planful in-process against a Planful emulator and collect its Singer messages."""

from __future__ import annotations

import contextlib
import io
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sandbox.planful.app import ACCESS_ID, ACCESS_KEY, ACCESS_TOKEN
from sandbox.planful.soap import DEFAULT_SOAP_PATH, LOGIN_NAME, PASSWORD, TENANT_CODE
from tap_planful.periods import Period
from tap_planful.tap import TapPlanful

if TYPE_CHECKING:
    from collections.abc import Iterable

MODELS = [
    {"model": "Opex", "dimensions": ["Account", "Company", "Department", "Scenario", "Time"]},
    {
        "model": "Revenue",
        "dimensions": ["Product", "Region", "Scenario", "Time", "Measure"],
        "filters": [{"dimension": "Scenario", "filter_type": "Member", "values": ["Budget"]}],
    },
]


def config_for(url: str, **overrides: Any) -> dict[str, Any]:
    """Both families pointed at one emulator, with fast retries."""
    return {
        "api_type": "both",
        "api_url": url,
        "dynamic_api_url": f"{url}/api",
        "access_id": ACCESS_ID,
        "access_key": ACCESS_KEY,
        "access_token": ACCESS_TOKEN,
        "start_fiscal_year": 2024,
        "models": MODELS,
        "source_models": [{"model": "salestxn", "key_fields": ["txn_id"]}],
        "calculations": [{"model": "Opex", "calcscript": "RollupActuals"}],
        "retry_initial_wait": 0.01,
        "retry_max_tries": 3,
        **overrides,
    }


def soap_config(url: str, **overrides: Any) -> dict[str, Any]:
    """Structured Planning over the SOAP web service of one emulator, with fast retries."""
    return {
        "api_type": "structured",
        "soap_url": url + DEFAULT_SOAP_PATH,
        "login_name": LOGIN_NAME,
        "password": PASSWORD,
        "tenant_code": TENANT_CODE,
        "scenarios": ["Actual", "2025 Budget"],
        "start_fiscal_year": 2024,
        "retry_initial_wait": 0.01,
        "retry_max_tries": 3,
        **overrides,
    }


def with_year_checks(periods: list[Period], per_year: int = 12) -> list[Period]:
    """`periods`, then the period past the fiscal year of each year they cover whole: the tap
    asks it once after a scenario's periods (`gl_check_period_past_year`)."""
    asked = set(periods)
    whole = sorted(
        {p.year for p in periods if {Period(p.year, 1), Period(p.year, per_year)} <= asked}
    )
    return [*periods, *(Period(year, per_year + 1) for year in whole)]


def gl_rows_in(emulator: Any, window: dict[str, Iterable[Any]]) -> int:
    """GL rows the emulator holds for each scenario's periods in `window`."""
    return sum(
        len(emulator.gl_records(scenario, period.year, period.month))
        for scenario, periods in window.items()
        for period in periods
    )


def soap_gl_calls(emulator: Any) -> list[tuple[str, int, int, str]]:
    """(Scenario, FiscalYear, FiscalPeriod, AmountType) of every GL call the SOAP service took."""
    return [
        (
            call.filters["Scenario"][1],
            int(call.filters["FiscalYear"][1]),
            int(call.filters["FiscalPeriod"][1]),
            call.filters["AmountType"][1],
        )
        for call in emulator.soap.calls
        if call.operation == "GLData_RetrieveWithLogin"
    ]


@dataclass
class SyncResult:
    records: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    states: list[dict[str, Any]] = field(default_factory=list)

    @property
    def state(self) -> dict[str, Any]:
        return self.states[-1]


def catalog_selecting(
    config: dict[str, Any],
    streams: set[str] | None,
    deselected: dict[str, set[str]] | None = None,
) -> dict[str, Any]:
    """The discovered catalog with only `streams` selected (all when None), minus the
    `deselected` properties of each stream."""
    catalog = TapPlanful(config=config, parse_env_config=False).catalog_dict
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            breadcrumb = metadata["breadcrumb"]
            if breadcrumb == []:
                metadata["metadata"]["selected"] = (
                    streams is None or entry["tap_stream_id"] in streams
                )
            elif breadcrumb[-1] in (deselected or {}).get(entry["tap_stream_id"], ()):
                metadata["metadata"]["selected"] = False
    return catalog


def sync_lines(
    config: dict[str, Any],
    streams: set[str] | None = None,
    state: dict[str, Any] | None = None,
    deselected: dict[str, set[str]] | None = None,
) -> list[bytes]:
    """Run a full sync in-process and return the Singer lines as written; exceptions propagate."""
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    tap = TapPlanful(
        config=config,
        catalog=catalog_selecting(config, streams, deselected),
        state=state or {},
        parse_env_config=False,
    )
    with contextlib.redirect_stdout(out):
        tap.sync_all()
        out.flush()
    return out.buffer.getvalue().splitlines()


def sync(
    config: dict[str, Any],
    streams: set[str] | None = None,
    state: dict[str, Any] | None = None,
    deselected: dict[str, set[str]] | None = None,
) -> SyncResult:
    """Run a full sync in-process and collect its records and states."""
    result = SyncResult()
    for line in sync_lines(config, streams, state, deselected):
        message = json.loads(line)
        if message["type"] == "RECORD":
            result.records[message["stream"]].append(message["record"])
        elif message["type"] == "STATE":
            result.states.append(message["value"])
    return result


def gl_requests(emulator: Any) -> list[tuple[str, int, int]]:
    """(Scenario, FiscalYear, FiscalMonth) of every GL data request the emulator saw, in order."""
    return [
        (
            e["query"]["Scenario"][0],
            int(e["query"]["FiscalYear"][0]),
            int(e["query"]["FiscalMonth"][0]),
        )
        for e in emulator.requests(path=r"/gldata$")
    ]
