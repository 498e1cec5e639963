"""What a tap run did, told as it goes: a progress line per long stream at most every
`progress_interval` seconds (records so far, rate) and a summary when the run ends (per stream:
records, requests, retries, time).

The counts come from singer-sdk's own measurements (its `singer_sdk.metrics` log records:
`record_count`, `http_request_duration`, `sync_duration`), read by a filter on that logger, so
no record path pays for a second count; the same filter keeps the METRIC lines themselves out of
the log unless `metrics_log_level` is `info` (they are one line per request and per child
context: the bulk of a run's log). Requests singer-sdk does not time (the SOAP answers read as
they stream) and retries are told by the stream (`ReportingStream`).
"""

from __future__ import annotations

import logging
import time
import typing as t
from dataclasses import dataclass

from singer_sdk import Stream, metrics
from singer_sdk import typing as th
from typing_extensions import override

DEFAULT_PROGRESS_INTERVAL = 30.0
METRICS_LEVELS = ("info", "warning")


def report_properties(*, progress: bool = True) -> list[th.Property]:
    """The settings of the run report, the same in every plugin (a target, which keeps its own
    counts, takes only `metrics_log_level`)."""
    interval = th.Property(
        "progress_interval",
        th.NumberType(exclusive_minimum=0),
        default=DEFAULT_PROGRESS_INTERVAL,
        title="Progress interval (s)",
        description=(
            "Seconds between progress lines of a long stream (records so far, rate); a "
            "summary per stream follows at the end."
        ),
    )
    stays = "progress and summary lines stay" if progress else "the plugin's own counts stay"
    metrics_level = th.Property(
        "metrics_log_level",
        th.StringType,
        default="info",
        allowed_values=list(METRICS_LEVELS),
        title="METRIC lines",
        description=(
            "info logs singer-sdk's METRIC lines (one per request and per stream part); "
            f"warning leaves them out ({stays})."
        ),
    )
    return [interval, metrics_level] if progress else [metrics_level]


@dataclass
class StreamTally:
    """One stream's counts so far."""

    records: int = 0
    requests: int = 0
    retries: int = 0
    seconds: float = 0.0
    sync_started: float | None = None
    """When its sync began (requests before it, as discovery's, do not start the clock)."""
    last_progress: float = 0.0


class RunReport(logging.Filter):
    """Counts per stream, fed by singer-sdk's metric records and by the streams."""

    def __init__(
        self, logger: logging.Logger, progress_interval: float, *, show_metrics: bool
    ) -> None:
        super().__init__()
        self.logger = logger
        self.progress_interval = progress_interval
        self.show_metrics = show_metrics
        self.streams: dict[str, StreamTally] = {}
        self.started = time.monotonic()

    def install(self) -> RunReport:
        """Read singer-sdk's metric records from now on (in place of an earlier report)."""
        metrics_logger = metrics.get_metrics_logger()
        for earlier in [f for f in metrics_logger.filters if isinstance(f, RunReport)]:
            metrics_logger.removeFilter(earlier)
        metrics_logger.addFilter(self)
        global _current  # noqa: PLW0603 - one plugin run per process
        _current = self
        return self

    def tally(self, stream: str) -> StreamTally:
        if stream not in self.streams:
            self.streams[stream] = StreamTally()
        return self.streams[stream]

    def sync_starts(self, stream: str) -> None:
        tally = self.tally(stream)
        if tally.sync_started is None:
            tally.sync_started = tally.last_progress = time.monotonic()

    def requested(self, stream: str) -> None:
        """A request singer-sdk did not time."""
        self.tally(stream).requests += 1

    def retried(self, stream: str) -> None:
        self.tally(stream).retries += 1

    @override
    def filter(self, record: logging.LogRecord) -> bool:
        point = record.args[0] if isinstance(record.args, tuple) and record.args else None
        if isinstance(point, metrics.Point):
            self._count(point)
        return self.show_metrics

    def _count(self, point: metrics.Point) -> None:
        stream = point.tags.get(metrics.Tag.STREAM)
        if not isinstance(stream, str):
            return
        tally = self.tally(stream)
        if point.metric is metrics.Metric.RECORD_COUNT:
            tally.records += int(point.value)
        elif point.metric is metrics.Metric.HTTP_REQUEST_DURATION:
            tally.requests += 1
        elif point.metric is metrics.Metric.SYNC_DURATION:
            tally.seconds += float(point.value)
        now = time.monotonic()
        if tally.sync_started is None or not tally.records:
            return
        if now - tally.last_progress >= self.progress_interval:
            tally.last_progress = now
            elapsed = max(now - tally.sync_started, 1e-9)
            self.logger.info(
                "Progress: %s: %s records so far (%s records/s), %s requests",
                stream,
                f"{tally.records:,}",
                f"{tally.records / elapsed:,.0f}",
                f"{tally.requests:,}",
            )

    def summarize(self, outcome: str) -> None:
        """One line per stream and one for the run."""
        for stream, tally in sorted(self.streams.items()):
            self.logger.info(
                "Summary: %s: %s records, %s requests, %s retries, %.1f s",
                stream,
                f"{tally.records:,}",
                f"{tally.requests:,}",
                f"{tally.retries:,}",
                tally.seconds,
            )
        self.logger.info(
            "Summary: run %s after %.1f s: %s records, %s requests, %s retries in %d streams",
            outcome,
            time.monotonic() - self.started,
            f"{sum(t.records for t in self.streams.values()):,}",
            f"{sum(t.requests for t in self.streams.values()):,}",
            f"{sum(t.retries for t in self.streams.values()):,}",
            len(self.streams),
        )


_current: RunReport | None = None
"""The report of the plugin this process runs (singer-sdk's `invoke` makes the instance)."""


def forget() -> None:
    """No report until the next plugin instance installs one."""
    global _current  # noqa: PLW0603 - one plugin run per process
    _current = None


def log_summary(outcome: str) -> None:
    """The summary of the current report, if a plugin instance made one (a sync did)."""
    if _current is not None:
        _current.summarize(outcome)


def report_from_config(config: t.Mapping[str, t.Any], logger: logging.Logger) -> RunReport:
    """The run report of a plugin's settings, reading singer-sdk's metric records from now on."""
    interval = config.get("progress_interval")
    return RunReport(
        logger,
        DEFAULT_PROGRESS_INTERVAL if interval is None else float(interval),
        show_metrics=config.get("metrics_log_level", "info") == "info",
    ).install()


class ReportingStream(Stream):
    """A stream whose record counts reach the run report every `progress_interval` seconds
    (singer-sdk's counter says them every 60 s), and that tells it what the SDK does not see."""

    @property
    def run_report(self) -> RunReport | None:
        return getattr(self._tap, "run_report", None)

    @override
    def get_record_counter(
        self, endpoint: str | None = None, log_interval: float = metrics.DEFAULT_LOG_INTERVAL
    ) -> metrics.Counter:
        report = self.run_report
        if report is not None:  # asked for as the stream (or one of its parts) starts its sync
            report.sync_starts(self.name)
            log_interval = min(log_interval, report.progress_interval)
        return super().get_record_counter(endpoint=endpoint, log_interval=log_interval)

    def count_request(self) -> None:
        """A request singer-sdk did not time (read outside `RESTStream._request`)."""
        if self.run_report is not None:
            self.run_report.requested(self.name)

    def count_retry(self) -> None:
        if self.run_report is not None:
            self.run_report.retried(self.name)
