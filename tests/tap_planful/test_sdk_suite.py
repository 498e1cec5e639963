"""singer-sdk's standard tap tests, against the shared Planful emulator (config known at import)."""

from __future__ import annotations

from sandbox.testing import shared
from singer_sdk.testing import SuiteConfig, get_tap_test_class
from tap_planful.tap import TapPlanful

from .helpers import config_for, soap_config

TestTapPlanful = get_tap_test_class(
    TapPlanful,
    config=config_for(shared("planful").url, scenarios=["Actual", "2025 Budget"]),
    parse_env_config=False,
    suite_config=SuiteConfig(max_records_limit=200),
)

TestTapPlanfulOverSoap = get_tap_test_class(
    TapPlanful,
    config=soap_config(shared("planful").url, start_fiscal_year=2025, end_fiscal_year=2025),
    parse_env_config=False,
    suite_config=SuiteConfig(max_records_limit=200),
)
