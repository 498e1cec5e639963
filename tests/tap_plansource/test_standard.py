"""singer-sdk's standard tap tests, against the shared PlanSource emulator."""

from __future__ import annotations

import pytest
from sandbox.testing import shared
from singer_sdk.testing import SuiteConfig, get_tap_test_class
from tap_plansource.tap import TapPlanSource

from .helpers import tap_config

# The suite reads only the first 25 records of each stream, where many optional PlanSource
# fields are null; the SDK reports such fields with a UserWarning instead of a result, which
# says something about the sample, not about the tap.
pytestmark = [
    pytest.mark.filterwarnings(
        "ignore:Fields in transformed catalog but not in records:UserWarning"
    ),
    pytest.mark.filterwarnings("ignore:No records were available to test:UserWarning"),
]

TestTapPlanSource = get_tap_test_class(
    tap_class=TapPlanSource,
    config=tap_config(shared("plansource"), start_date="2000-01-01T00:00:00Z"),
    parse_env_config=False,
    suite_config=SuiteConfig(max_records_limit=25),
)
