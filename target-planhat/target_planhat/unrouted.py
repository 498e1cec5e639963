"""The sink of a stream with no Planhat object: harmless until a record of it must be written."""

from __future__ import annotations

from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.conform import DatetimeErrorTreatmentEnum
from singer_sdk.sinks import BatchSink
from typing_extensions import override

from target_planhat.objects import unrouted_stream_problem


class UnroutedSink(BatchSink):
    """Stream maps can drop a stream (`__NULL__`) or rename it; only a record that reaches this
    sink fails the run, with the message that says how to route it (before singer-sdk checks
    the record's keys; no validation or date error comes first)."""

    validate_schema = False

    @property
    @override
    def datetime_error_treatment(self) -> DatetimeErrorTreatmentEnum:
        return DatetimeErrorTreatmentEnum.NULL

    @override
    def preprocess_record(self, record: dict, context: dict) -> dict:
        problem = unrouted_stream_problem(self.stream_name)
        raise ConfigValidationError("Config validation failed", errors=[problem])

    @override
    def process_record(self, record: dict, context: dict) -> None:
        self.preprocess_record(record, context)

    @override
    def process_batch(self, context: dict) -> None:
        """Nothing was staged."""
