"""One class per PlanSource endpoint, plus the streams derived from coverage rows."""

from __future__ import annotations

import datetime
import math
from concurrent.futures import Future, ThreadPoolExecutor
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, cast

from singer_sdk import Stream
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.helpers.jsonpath import extract_jsonpath
from typing_extensions import override

from tap_plansource import schemas
from tap_plansource.client import LinkIds, PlanSourceAPIError, PlanSourceStream, ids_from_link
from tap_plansource.paging import envelope_of, records_in

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    import requests
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

    from tap_plansource.runtime import Runtime
    from tap_plansource.settings import CustomStreamDefinition

# A first payroll run without `start_date` asks for changes since 1 January of the previous
# year (the previous and the current calendar plan year), not PlanSource's whole history.
PAYROLL_FIRST_RUN_YEARS_BACK = 1
# `changes_since` of a first administrators run: every administrator ever changed.
EVERYTHING_SINCE = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def as_list(value: Any) -> list[Any]:
    """PlanSource's examples show single objects where its schemas promise lists."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def data_of(response: requests.Response) -> Any:
    envelope = envelope_of(response)
    return envelope.get("data") if isinstance(envelope, dict) else envelope


class OrganizationsStream(PlanSourceStream):
    """Organizations the API user may act on."""

    name = "organizations"
    path = "/organizations"
    primary_keys = ("id",)
    paginated = False
    records_key = ("organizations",)
    record_schema = schemas.ORGANIZATION


class TenantFieldsStream(PlanSourceStream):
    """A stream whose fields the tenant configures (see `tenant_fields`): before its records
    are emitted, the fields its meta endpoint types `ssn` join the sensitive ones. The meta is
    read while the first page is requested, and awaited before that page's records go on."""

    _learning: Future[None] | None = None

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        learn = self.runtime.tenant_fields.learn_sensitive
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{self.name}-meta") as pool:
            self._learning = pool.submit(learn, self.name)
            try:
                yield from super().get_records(context)
            finally:
                self._await_learning()

    @override
    def record_batches(self, context: Context | None) -> Iterator[list[dict[str, Any]]]:
        for batch in super().record_batches(context):
            self._await_learning()
            yield batch

    def _await_learning(self) -> None:
        learning, self._learning = self._learning, None
        if learning is not None:
            learning.result()


class SubscribersStream(TenantFieldsStream):
    """Employees. No change filter exists, so every sync reads them all."""

    name = "subscribers"
    path = "/subscribers"
    primary_keys = ("id",)
    takes_include_test = True
    records_key = ("subscribers",)
    record_schema = schemas.SUBSCRIBER

    @override
    def query_params(self, context: Context | None) -> dict[str, Any]:
        if (context or {}).get("all_employees"):
            return {"include_test": "true"}
        return super().query_params(context)


class DependentsStream(TenantFieldsStream):
    """Dependents, with `subscriber_id` from their link and `is_active` from their list."""

    name = "dependents"
    path = "/dependents"
    primary_keys = ("id",)
    paginated = False
    record_schema = schemas.DEPENDENT

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, Any]]:
        data = data_of(response)
        lists = ("dependents", "inactive_dependents", "cannot_terminate_dependents")
        if not (isinstance(data, dict) and data.keys() & set(lists)):
            return records_in(data)
        cannot_terminate = {
            r.get("id") for r in records_in(data.get("cannot_terminate_dependents"))
        }
        seen: dict[Any, dict[str, Any]] = {}
        for key, active in zip(lists, (True, False, True), strict=True):
            for record in records_in(data.get(key)):
                if record.get("id") not in seen:
                    record["is_active"] = active
                    record["cannot_terminate"] = record.get("id") in cannot_terminate
                    seen[record.get("id")] = record
        return list(seen.values())

    @override
    def shape(self, record: dict[str, Any], context: Context | None) -> dict[str, Any]:
        link = ids_from_link(record, "/subscriber/{subscriber_id}/dependent/{id}")
        if record.get("subscriber_id") is None:
            record["subscriber_id"] = self.subscriber_id_from(link, record)
        return super().shape(record, context)


class BeneficiariesStream(PlanSourceStream):
    """Beneficiaries per coverage; subscriber and coverage ids come only from nested links."""

    name = "beneficiaries"
    path = "/beneficiaries"
    primary_keys = ("id", "coverage_id")
    paginated = False
    takes_include_test = True
    record_schema = schemas.BENEFICIARY

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, Any]]:
        return list(self._beneficiaries(data_of(response), None))

    def _beneficiaries(self, node: Any, subscriber: LinkIds | None) -> Iterable[dict[str, Any]]:
        """Walk organization → subscriber → beneficiaries, each a list or a single object."""
        for item in as_list(node):
            if not isinstance(item, dict):
                continue
            if "organization" in item:
                yield from self._beneficiaries(item["organization"], subscriber)
            elif "subscriber" in item or "subscribers" in item:
                for owner in as_list(item.get("subscriber") or item.get("subscribers")):
                    if isinstance(owner, dict):
                        link = ids_from_link(owner, "/subscriber/{subscriber_id}/beneficiaries")
                        yield from self._beneficiaries(
                            owner.get("beneficiaries"), link if link.ids else subscriber
                        )
            elif "beneficiaries" in item:
                yield from self._beneficiaries(item["beneficiaries"], subscriber)
            else:
                if subscriber is not None:
                    item["_subscriber_link"] = subscriber
                yield item

    @override
    def shape(self, record: dict[str, Any], context: Context | None) -> dict[str, Any]:
        coverage = ids_from_link(record, "/coverage/{coverage_id}/beneficiaries")
        if record.get("coverage_id") is None:
            record["coverage_id"] = coverage.number("coverage_id")
        subscriber = record.pop("_subscriber_link", None)
        if record.get("subscriber_id") is None:
            record["subscriber_id"] = (
                self.subscriber_id_from(subscriber, record) if subscriber else None
            )
        return super().shape(record, context)


class PlanYearStream(PlanSourceStream):
    """Coverage reads, one partition per configured plan year (`previous`, `current`, `next`)."""

    takes_include_test = True
    bad_request_hint = "`plan_years`"

    @property
    @override
    def partitions(self) -> list[dict[str, Any]]:
        return [{"plan_year_selector": year} for year in self.runtime.settings.plan_years_read]

    @override
    def query_params(self, context: Context | None) -> dict[str, Any]:
        return {
            **super().query_params(context),
            "plan_year": (context or {}).get("plan_year_selector", "current"),
        }


class CoveragesStream(PlanYearStream):
    """Enrollments (elections); also the source of the derived plans, benefits and levels."""

    name = "coverages"
    path = "/coverages"
    primary_keys = ("id",)
    records_key = ("coverages",)
    record_schema = schemas.COVERAGE

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        yield from super().get_records(context)
        self.runtime.coverage_dimensions.completed(
            (context or {}).get("plan_year_selector", "current")
        )

    @override
    def post_process(
        self, row: dict[str, Any], context: Context | None = None
    ) -> dict[str, Any] | None:
        record = super().post_process(row, context)
        if record is not None:
            self.runtime.coverage_dimensions.observe(record)
        return record

    def collect_dimensions(self, plan_year: str) -> None:
        """Read one plan year's coverages only for the derived streams (when not synced itself)."""
        context = {"plan_year_selector": plan_year}
        for record in self.request_records(context):
            self.runtime.coverage_dimensions.observe(self.normalize(record))
        self.runtime.coverage_dimensions.completed(plan_year)


class CoverageLinesStream(PlanYearStream):
    """Stacked coverage lines (e.g. layered life volumes)."""

    name = "coverage_lines"
    path = "/coverages/lines"
    primary_keys = ("id",)
    records_key = ("lines", "coverage_lines")
    record_schema = schemas.COVERAGE_LINE


class DependentCoveragesStream(PlanYearStream):
    """Which dependents each coverage covers."""

    name = "dependent_coverages"
    path = "/coverages/dependents"
    primary_keys = ("id",)
    records_key = ("dependents", "dependent_coverages")
    record_schema = schemas.DEPENDENT_COVERAGE


class PayrollDeductionsStream(PlanSourceStream):
    """Payroll view of coverages, read from the bookmark minus `payroll_lookback_days` to today.

    `payroll_mode: per_subscriber` (PlanSource's recommendation) asks
    `/payroll_coverages_subscriber/{id}` for each subscriber, `prefetch_pages + 1` at a time;
    `bulk` pages through `/payroll_coverages_subscribers`. Both ask the same window.
    `id` is the subscriber id in PlanSource's payload; it is emitted as `subscriber_id`.
    """

    PER_SUBSCRIBER_PATH = "/payroll_coverages_subscriber/{subscriber_id}"
    PROGRESS_EVERY = 500

    name = "payroll_deductions"
    path = "/payroll_coverages_subscribers"
    # A change to a deduction is a new row (the API flags it `current` and the one before it
    # `previous`); both may share the change date, so the row's `created_at` tells them apart
    # while staying the same when that row itself is updated.
    primary_keys = (
        "subscriber_id",
        "benefit_lookup_code",
        "org_plan_year_starts",
        "change_effective_date",
        "created_at",
    )
    replication_key = "updated_at"
    takes_include_test = True
    records_key = ("payroll_coverages", "payroll_coverages_subscribers")
    bad_request_hint = "`start_date` and `payroll_lookback_days`"
    record_schema = schemas.PAYROLL_DEDUCTION

    def window(self, context: Context | None) -> tuple[datetime.date, datetime.date]:
        """Dates of payroll changes to ask for; the end is tomorrow to cover every time zone."""
        since = self.get_starting_timestamp(None)
        today = self.runtime.sync_started_at.date()
        if since is None:
            start = datetime.date(today.year - PAYROLL_FIRST_RUN_YEARS_BACK, 1, 1)
        else:
            start = since.date() - datetime.timedelta(
                days=self.runtime.settings.payroll_lookback_days
            )
        return start, today + datetime.timedelta(days=1)

    @override
    def query_params(self, context: Context | None) -> dict[str, Any]:
        start, end = self.window(context)
        params = {"start_date": start.isoformat(), "end_date": end.isoformat()}
        if not self.per_subscriber(context):
            params.update(super().query_params(context))
        return params

    @staticmethod
    def per_subscriber(context: Context | None) -> bool:
        return bool(context) and "subscriber_id" in context  # type: ignore[operator]

    @override
    def get_url(self, context: Context | None) -> str:
        if self.per_subscriber(context):
            return self.url_base + self.PER_SUBSCRIBER_PATH.format(**context)  # type: ignore[arg-type]
        return super().get_url(context)

    @override
    def get_url_params(
        self, context: Context | None, next_page_token: int | None
    ) -> dict[str, Any]:
        if self.per_subscriber(context):
            return self.query_params(context)
        return super().get_url_params(context, next_page_token)

    @override
    def record_batches(self, context: Context | None) -> Iterator[list[dict[str, Any]]]:
        start, end = self.window(context)
        if self.get_starting_timestamp(None) is None:
            self.logger.info(
                "%s: first run without `start_date`: reading changes from %s to %s",
                self.name,
                start,
                end,
            )
        if self.runtime.settings.payroll_mode == "bulk":
            return super().record_batches(context)
        return self._per_subscriber()

    def _per_subscriber(self) -> Iterator[list[dict[str, Any]]]:
        """Each subscriber's rows; a subscriber gone since the list was read is counted."""
        subscribers = cast("SubscribersStream", self.runtime.stream(SubscribersStream.name))
        ids = (record["id"] for page in subscribers.record_batches(None) for record in page)
        read = rows = 0
        for _, records in self.fan_out(ids, self._subscriber_rows):
            read += 1
            if records is None:
                self.report["subscriber(s) listed but gone (404) when their payroll was read"] += 1
                continue
            rows += len(records)
            if read % self.PROGRESS_EVERY == 0:
                self.logger.info("%s: %d subscribers, %d rows", self.name, read, rows)
            yield records
        self.logger.info("%s: %d subscribers, %d rows", self.name, read, rows)

    def _subscriber_rows(self, subscriber_id: int) -> list[dict[str, Any]] | None:
        try:
            return self._fetch({"subscriber_id": subscriber_id}, None)[1]
        except PlanSourceAPIError as error:
            if error.status == HTTPStatus.NOT_FOUND:
                return None
            raise

    @override
    def shape(self, record: dict[str, Any], context: Context | None) -> dict[str, Any]:
        if "id" in record:
            record.setdefault("subscriber_id", record.pop("id"))
        if record.get("org_plan_year_starts") is None and "plan_year_starts_on" in record:
            # PlanSource's field tables name the plan year's start both ways.
            record["org_plan_year_starts"] = record["plan_year_starts_on"]
        return super().shape(record, context)


class AcaStream(PlanSourceStream):
    """ACA records changed since the bookmark (minutes before now, plus an overlap), deletes too."""

    primary_keys: tuple[str, ...] = ("id",)
    replication_key = "updated_at"
    bad_request_hint = "`start_date` and `aca_overlap_minutes`"

    def changes_since(self, context: Context | None) -> datetime.datetime | None:
        """The earliest change to read: the bookmark, else `start_date`, else everything."""
        return self.get_starting_timestamp(context)

    def changes_since_minutes(self, context: Context | None) -> int | None:
        since = self.changes_since(context)
        if since is None:
            return None
        elapsed = (self.runtime.sync_started_at - since).total_seconds()
        return max(math.ceil(elapsed / 60), 1) + self.runtime.settings.aca_overlap_minutes

    @override
    def query_params(self, context: Context | None) -> dict[str, Any]:
        params = {**super().query_params(context), "include_deletes": "true"}
        minutes = self.changes_since_minutes(context)
        if minutes is not None:
            params["changes_since"] = minutes
        return params


class AcaOffersStream(AcaStream):
    name = "aca_offers"
    path = "/aca/offers"
    records_key = ("offers",)
    record_schema = schemas.ACA_OFFER


class AcaEnrolleesStream(AcaStream):
    """One row per person covered, per coverage period. PlanSource's documented enrollee has no
    `id`, so the key is the subscriber, the person covered (`covered_person`: `subscriber` or
    `dependent:<dependent_id>`) and the period's `start_date`."""

    name = "aca_enrollees"
    path = "/aca/enrollees"
    primary_keys = ("subscriber_id", "covered_person", "start_date")
    records_key = ("enrollees",)
    record_schema = schemas.ACA_ENROLLEE

    @override
    def shape(self, record: dict[str, Any], context: Context | None) -> dict[str, Any]:
        dependent_id = record.get("dependent_id")
        record["covered_person"] = (
            "subscriber" if dependent_id in (None, "") else f"dependent:{dependent_id}"
        )
        return super().shape(record, context)


class AdministratorsStream(AcaStream):
    """Admin users, read through `changes_since` (PlanSource's default looks back one minute).

    The first run asks for every change since 1970 (the full list, whatever `start_date`
    says); later runs ask for the minutes since the previous run started, plus
    `aca_overlap_minutes`. Administrators carry no timestamp, so each record gets `synced_at`
    (when this run started), which is the bookmark.
    """

    name = "administrators"
    path = "/administrators"
    replication_key = "synced_at"
    records_key = ("administrators",)
    record_schema = schemas.ADMINISTRATOR
    bad_request_hint = "`aca_overlap_minutes`"

    @override
    def changes_since(self, context: Context | None) -> datetime.datetime:
        bookmark = self.get_context_state(context).get("replication_key_value")
        return datetime.datetime.fromisoformat(bookmark) if bookmark else EVERYTHING_SINCE

    @override
    def query_params(self, context: Context | None) -> dict[str, Any]:
        return {"changes_since": self.changes_since_minutes(context)}

    @override
    def shape(self, record: dict[str, Any], context: Context | None) -> dict[str, Any]:
        record["synced_at"] = self.runtime.sync_started_at.isoformat()
        return super().shape(record, context)


class EoiPendingStream(PlanSourceStream):
    """Coverages waiting for Evidence of Insurability; `id` (a subscriber) is `subscriber_id`."""

    name = "eoi_pending"
    path = "/eoi/subscribers"
    primary_keys = ("subscriber_id", "coverage_id", "coverage_line_id")
    paginated = False
    records_key = ("eoi_subscribers", "subscribers")
    record_schema = schemas.EOI_PENDING

    @override
    def query_params(self, context: Context | None) -> dict[str, Any]:
        return {"include_test": "yes" if self.runtime.settings.include_test_employees else "no"}

    @override
    def shape(self, record: dict[str, Any], context: Context | None) -> dict[str, Any]:
        if "id" in record:
            record.setdefault("subscriber_id", record.pop("id"))
        return super().shape(record, context)


class TerminationReasonsStream(PlanSourceStream):
    name = "termination_reasons"
    path = "/coverage/meta"
    primary_keys = ("id",)
    paginated = False
    records_key = ("termination_reasons",)
    record_schema = schemas.TERMINATION_REASON


class FieldMetadataStream(PlanSourceStream):
    """Per-field rules (`{field: {update, required, caption, data_type, …}}`) as rows."""

    primary_keys = ("field",)
    paginated = False
    record_schema = schemas.FIELD_METADATA

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, Any]]:
        data = data_of(response)
        if not isinstance(data, dict):
            return records_in(data)
        return [{"field": name, **rules} for name, rules in data.items() if isinstance(rules, dict)]

    @override
    def shape(self, record: dict[str, Any], context: Context | None) -> dict[str, Any]:
        pairs = record.get("validation_data")
        if isinstance(pairs, list):
            if len(pairs) == 2 and all(not isinstance(p, list | dict) for p in pairs):
                pairs = [pairs]  # one pair flattened, as in PlanSource's example
            record["validation_data"] = [
                {"label": p[0], "value": p[1]} if isinstance(p, list) and len(p) == 2 else p
                for p in pairs
            ]
        return super().shape(record, context)


class SubscriberFieldMetadataStream(FieldMetadataStream):
    name = "subscriber_field_metadata"
    path = "/subscriber/meta"


class DependentFieldMetadataStream(FieldMetadataStream):
    name = "dependent_field_metadata"
    path = "/dependent/meta"


class CustomStream(PlanSourceStream):
    """A user-defined stream over any GET endpoint (the `custom_streams` setting)."""

    def __init__(self, tap: Tap, runtime: Runtime, definition: CustomStreamDefinition) -> None:
        self.definition = definition
        self.paginated = definition.paginate
        self.bad_request_hint = f"`params` of custom stream `{definition.name}`"
        self.not_found_hint = (
            f"`path` of custom stream `{definition.name}` and `environment` (or `api_url`)"
        )
        schema = schemas.custom_stream_schema(
            (definition.schema or {}).get("properties"), definition.primary_keys
        )
        super().__init__(tap, runtime, name=definition.name, path=definition.path, schema=schema)
        self.primary_keys = definition.primary_keys  # after the SDK's init, which resets them

    @override
    def query_params(self, context: Context | None) -> dict[str, Any]:
        return {
            k: str(v).lower() if isinstance(v, bool) else v
            for k, v in self.definition.params.items()
        }

    @override
    def missing_key_message(self, key: str) -> str:
        return (
            f"{self.name}: a record has no `{key}`; check `primary_keys` of custom stream "
            f"`{self.name}` (the fields of each record that identify it)."
        )

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, Any]]:
        envelope = envelope_of(response)
        if isinstance(envelope, dict) and envelope.get("status") == "failure":
            return super().parse_response(response)
        matches = extract_jsonpath(self.definition.records_path, envelope)
        return [record for match in matches for record in records_in(match)]

    @override
    def shape(self, record: dict[str, Any], context: Context | None) -> dict[str, Any]:
        return record


class DerivedFromCoveragesStream(Stream):
    """Base of `plans`, `benefits` and `coverage_levels`, built from `/coverages` rows.

    When `coverages` is synced in the same run, its rows are reused; otherwise this stream
    reads the configured plan years of coverages itself (without emitting them).
    """

    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    def __init__(self, tap: Tap, runtime: Runtime) -> None:
        super().__init__(tap=tap, schema=schemas.DERIVED[self.name])
        self.runtime = runtime

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        dimensions = self.runtime.coverage_dimensions
        coverages = cast("CoveragesStream", self.runtime.stream(CoveragesStream.name))
        for plan_year in self.runtime.settings.plan_years_read:
            if plan_year not in dimensions.complete_plan_years:
                coverages.collect_dimensions(plan_year)
        rows = dimensions.rows[self.name]
        for key in sorted(rows, key=lambda k: tuple(str(part) for part in k)):
            yield dict(rows[key])


class PlansStream(DerivedFromCoveragesStream):
    """Derived: one row per plan and plan year seen in coverages."""

    name = "plans"
    primary_keys = ("org_plan_id", "plan_year_starts_on")


class BenefitsStream(DerivedFromCoveragesStream):
    """Derived: one row per benefit (medical, dental, basic life…) seen in coverages."""

    name = "benefits"
    primary_keys = ("org_benefit_id",)


class CoverageLevelsStream(DerivedFromCoveragesStream):
    """Derived: one row per coverage level (Employee Only, Family…) seen in coverages."""

    name = "coverage_levels"
    primary_keys = ("coverage_level_id",)


STREAM_TYPES: tuple[type[PlanSourceStream] | type[DerivedFromCoveragesStream], ...] = (
    OrganizationsStream,
    SubscribersStream,
    DependentsStream,
    BeneficiariesStream,
    CoveragesStream,
    CoverageLinesStream,
    DependentCoveragesStream,
    PayrollDeductionsStream,
    AcaOffersStream,
    AcaEnrolleesStream,
    AdministratorsStream,
    EoiPendingStream,
    TerminationReasonsStream,
    SubscriberFieldMetadataStream,
    DependentFieldMetadataStream,
    PlansStream,
    BenefitsStream,
    CoverageLevelsStream,
)
