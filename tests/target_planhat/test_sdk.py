"""singer-sdk's standard target tests, with Planhat-shaped `.singer` files.

The SDK's generic files use streams such as `test_camelcase` that are no Planhat object, so
the generic suite is replaced by the SDK's CLI and error-path tests (streams mapped to companies
so they reach a sink) and file tests of our own, each checked against the emulator's store.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sandbox.testing import shared
from singer_sdk.testing import SuiteConfig, get_target_test_class
from singer_sdk.testing.suites import SingerTestSuite
from singer_sdk.testing.target_tests import (
    TargetCliPrintsTest,
    TargetInvalidSchemaTest,
    TargetRecordBeforeSchemaTest,
    TargetRecordMissingKeyProperty,
)
from singer_sdk.testing.templates import TargetFileTestTemplate
from target_planhat.objects import OBJECTS
from target_planhat.target import TargetPlanhat

from tests.target_planhat.helpers import config_for

STREAMS = Path(__file__).parent / "streams"
EMULATOR = shared("planhat")  # the factory needs the config at import time
SDK_STREAMS = ("test_record_missing_key_property", "test_invalid_schema")


class PlanhatFileTest(TargetFileTestTemplate):
    """A `.singer` file from `streams/`, checked against the emulator afterwards."""

    @property
    def singer_filepath(self) -> Path:
        return STREAMS / f"{self.name}.singer"


class TargetEveryObject(PlanhatFileTest):
    """One record per Planhat object; every one lands, the final STATE is emitted."""

    name = "every_object"

    def validate(self) -> None:
        emulator = self.resource.emulator
        for name, obj in OBJECTS.items():
            if obj.host == "main":
                assert emulator.records(name), name
        assert emulator.records("metric_points")
        assert emulator.records("activities")
        assert self.runner.state_messages[-1]["bookmarks"]["every_object"]


class TargetCompaniesUpsert(PlanhatFileTest):
    """Five companies with datetimes; only the last STATE comes out, after the drain."""

    name = "companies_upsert"

    def validate(self) -> None:
        stored = {c["externalId"]: c for c in self.resource.emulator.records("companies")}
        assert {f"SDK-{n}" for n in range(1, 6)} <= set(stored)
        assert stored["SDK-5"]["lastSyncedAt"].startswith("2024-05-05T12:00:00")
        value = self.runner.state_messages[-1]["bookmarks"]["companies"]["replication_key_value"]
        assert value == "2024-05-05T12:00:00Z"


planhat_suite = SingerTestSuite(
    kind="target",
    tests=[
        TargetCliPrintsTest,
        TargetInvalidSchemaTest,
        TargetRecordBeforeSchemaTest,
        TargetRecordMissingKeyProperty,
        TargetEveryObject,
        TargetCompaniesUpsert,
    ],
)

_TestTargetPlanhat = get_target_test_class(
    TargetPlanhat,
    config=config_for(
        EMULATOR.url,
        object_mapping={name: {"object": "companies"} for name in SDK_STREAMS},
    ),
    custom_suites=[planhat_suite],
    include_target_tests=False,
    suite_config=SuiteConfig(),
    parse_env_config=False,
)


class TestTargetPlanhat(_TestTargetPlanhat):  # type: ignore[misc,valid-type]  # a class the SDK builds
    @pytest.fixture
    def resource(self):
        EMULATOR.emulator.reset()
        return EMULATOR
