"""Render the compact store as PlanSource's JSON, in the API's own mixed formats (contract §3.3).

Demographic and coverage dates are `YYYY/MM/DD`; `updated_at`, `created_at`, benefit salaries,
payroll effective dates and dependent-coverage dates are ISO date-times with `.000Z`; money,
volumes and percentages are decimal strings (`"70000.0"`); `primary_beneficiary` is `YES`/`NO`.
Parents of dependents and beneficiaries appear only in `links.href`, as in the API.
"""

from __future__ import annotations

import time
from datetime import date
from functools import lru_cache
from typing import Any

from sandbox.plansource.seed import (
    BASIC_LIFE,
    BENEFITS,
    DIVISIONS,
    LOCATIONS,
    PAY_FREQUENCIES,
    PLACES,
    SUPPLEMENTAL_LIFE,
    SUPPLEMENTAL_LIFE_GI_CENTS,
    TERMINATION_REASONS,
    TITLES,
    AcaEnrollee,
    AcaOffer,
    Administrator,
    Beneficiary,
    Coverage,
    CoverageLine,
    Dependent,
    DependentCoverage,
    Organization,
    PayrollCoverage,
    PendingEoi,
    Store,
    Subscriber,
)

ADMIN_ROLES = ((11, "Full Access"), (12, "Benefits Administrator"), (13, "Read Only"))
TERMINATION_REASON_NAMES = {reason_id: name for reason_id, _, name in TERMINATION_REASONS}


@lru_cache(maxsize=65_536)
def slash_date(ordinal: int | None) -> str | None:
    """`2018/01/04`: PlanSource's format for demographic and coverage dates."""
    if ordinal is None:
        return None
    day = date.fromordinal(ordinal)
    return f"{day.year:04d}/{day.month:02d}/{day.day:02d}"


@lru_cache(maxsize=65_536)
def iso_date(ordinal: int | None) -> str | None:
    """`2018-01-04T00:00:00.000Z`: midnight UTC of a date, as the API writes effective dates."""
    if ordinal is None:
        return None
    day = date.fromordinal(ordinal)
    return f"{day.year:04d}-{day.month:02d}-{day.day:02d}T00:00:00.000Z"


def iso_time(epoch: int) -> str:
    """`2018-05-29T19:59:55.000Z`: the API's `updated_at`/`created_at` format."""
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(epoch))


def garbled_time(epoch: int) -> str:
    """`2006/06/1300: 00: 00-0400`: how `status_changed_at` really comes out of the API."""
    stamp = time.gmtime(epoch - 4 * 3600)
    return time.strftime("%Y/%m/%d%H: %M: %S-0400", stamp)


def money(cents: int) -> str:
    """`"70000.0"`, `"3.82"`: Ruby's BigDecimal-as-string rendering of an amount in cents."""
    return str(cents / 100)


def masked(ssn: str) -> str:
    return f"XXX-XX-{ssn[-4:]}"


def link(href: str) -> dict[str, str]:
    return {"href": href, "rel": "self"}


def links(href: str, form: str) -> dict[str, str] | list[dict[str, str]]:
    """A record's `links`: the OpenAPI schema's array of `{href, rel}` (as in PlanSource's payroll
    guide), or the single object of the OpenAPI examples (`form="object"`)."""
    return link(href) if form == "object" else [link(href)]


class Renderer:
    """Turns store tuples into API records; SSN masking follows the emulator's switches."""

    def __init__(
        self,
        store: Store,
        mask_dependent_ssn: bool,
        mask_other_ssn: bool,
        *,
        links_form: str = "array",
        custom_id_links: bool = False,
        aca_enrollee_ids: bool = False,
        tenant_fields: bool = False,
    ) -> None:
        self.store = store
        self.mask_dependent_ssn = mask_dependent_ssn
        self.mask_other_ssn = mask_other_ssn
        self.links_form = links_form
        self.custom_id_links = custom_id_links
        self.aca_enrollee_ids = aca_enrollee_ids
        self.tenant_fields = tenant_fields

    def links(self, href: str) -> dict[str, str] | list[dict[str, str]]:
        return links(href, self.links_form)

    def subscriber_href(self, subscriber_id: int, tail: str = "") -> str:
        """`/admin/subscriber/{id}{tail}`, or with the customer's own id and `?is_custom_id=true`
        (as in PlanSource's payroll guide) when `custom_id_links` is on."""
        if not self.custom_id_links:
            return f"/admin/subscriber/{subscriber_id}{tail}"
        code = self.store.subscriber_by_id[subscriber_id].subscriber_code
        return f"/admin/subscriber/{code}{tail}?is_custom_id=true"

    def other_ssn(self, ssn: str) -> str:
        return masked(ssn) if self.mask_other_ssn else ssn

    def plan_year_dates(self, index: int) -> tuple[str | None, str | None]:
        plan_year = self.store.plan_years[index]
        return slash_date(plan_year.starts_on), slash_date(plan_year.ends_on)

    @staticmethod
    def organization(org: Organization) -> dict[str, Any]:
        return {"id": org.id, "name": org.name, "organization_code": org.organization_code}

    def subscriber(self, s: Subscriber) -> dict[str, Any]:
        place = PLACES[s.place]
        pay_name, _, payroll_id = PAY_FREQUENCIES[s.pay_frequency]
        current_year = self.store.plan_years[1]
        record: dict[str, Any] = {
            "id": s.id,
            "public_id": f"{s.id:x}",
            "subscriber_code": s.subscriber_code,
            "employee_number": s.employee_number,
            "ee_code": None,
            "ssn": self.other_ssn(s.ssn),
            "first_name": s.first_name,
            "middle_name": s.middle_name,
            "last_name": s.last_name,
            "name_suffix": "",
            "gender": s.gender,
            "birthdate": slash_date(s.birthdate),
            "marital_status": s.marital_status,
            "address_1": s.address_1,
            "address_2": "",
            "city": place.city,
            "state": place.state,
            "zip_code": place.zip_code,
            "county": place.county,
            "country": "US",
            "home_phone": s.phone,
            "work_phone": "",
            "cell_phone": s.phone,
            "email": f"{s.user_name}@example.com",
            "email2": None,
            "user_name": s.user_name,
            "hire_date": slash_date(s.hire_date),
            "original_hire_date": slash_date(s.hire_date),
            "seniority_date": slash_date(s.hire_date),
            "benefits_start_date": slash_date(s.hire_date + 30),
            "benefits_end_date": slash_date(s.termination_date),
            "termination_date": slash_date(s.termination_date),
            "termination_reason_id": s.termination_reason_id,
            "is_voluntary_termination": s.termination_reason_id == 1
            if s.termination_date
            else None,
            "employment_level": s.employment_level,
            "employment_status": "Terminated" if s.termination_date else "Active",
            "employee_type": "Regular",
            "business_title": TITLES[s.title],
            "division": DIVISIONS[s.division],
            "location": LOCATIONS[s.location],
            "org_class": "Salaried" if s.employment_level == "Full Time" else "Hourly",
            "benefit_company": "Acme Benefits Co",
            "hours_per_week": "40.0" if s.employment_level == "Full Time" else "24.0",
            "pay_type": "Salary",
            "pay_frequency": pay_name,
            "org_payroll_id": str(payroll_id),
            "current_salary": money(s.salary_cents),
            "current_salary_effective_on": slash_date(max(s.hire_date, current_year.starts_on)),
            "benefit_salaries": [
                {
                    "org_plan_year_id": plan_year.id,
                    "starts_on": iso_date(plan_year.starts_on),
                    "ends_on": iso_date(plan_year.ends_on),
                    "benefit_salary": money(s.salary_cents),
                }
                for plan_year in self.store.plan_years[:2]
                if plan_year.ends_on >= s.hire_date
            ],
            "is_smoker": s.id % 9 == 0,
            "highly_compensated": s.salary_cents >= 15_000_000,
            "subscriber_status_id": 2 if s.termination_date else 1,
            "status_changed_at": garbled_time(s.status_changed_at),
            "test_employee": s.test_employee,
            "ssn_exported": False,
            "locked_at": None,
            "attempted_logon_count": 0,
            "disabled_on": None,
            "organization_id": s.organization_id,
            "links": self.links(self.subscriber_href(s.id)),
        }
        for number in range(1, 31):
            record[f"udef_{number}"] = None
        record["udef_1"] = f"CC-{1000 + s.division * 10 + s.location}"
        if self.tenant_fields:
            record.update(
                employee_badge_number=f"B-{s.id:06d}",
                union_dues_rate=f"{10 + s.id % 7}.25" if s.employment_level == "Part Time" else "",
                remote_worker="Y" if s.id % 3 == 0 else "N",
                alternate_tax_id=self.other_ssn(s.ssn),
                parking_zone=f"P{s.location}",
            )
        return record

    def dependent(self, d: Dependent) -> dict[str, Any]:
        record = self._dependent(d)
        if self.tenant_fields:
            # Children of student age have a verification date; everyone else none.
            record["student_verified_on"] = (
                slash_date(d.birthdate + 18 * 365) if d.relationship_code != "Spouse" else None
            )
        return record

    def _dependent(self, d: Dependent) -> dict[str, Any]:
        subscriber = self.store.subscriber_by_id[d.subscriber_id]
        place = PLACES[subscriber.place]
        return {
            "id": d.id,
            "public_id": f"{d.id:x}",
            "ssn": masked(d.ssn) if self.mask_dependent_ssn else d.ssn,
            "first_name": d.first_name,
            "middle_name": "",
            "last_name": d.last_name,
            "name_suffix": "",
            "birthdate": slash_date(d.birthdate),
            "gender": d.gender,
            "relationship_code": d.relationship_code,
            "org_relationship_id": 1 if d.relationship_code == "Spouse" else 2,
            "lives_at_home": True,
            "address_1": subscriber.address_1,
            "city": place.city,
            "state": place.state,
            "zip_code": place.zip_code,
            "is_smoker": False,
            "verified": d.id % 4 != 0,
            "termination_date": slash_date(d.termination_date),
            "termination_reason_id": None if d.active else 4,
            "links": self.links(self.subscriber_href(d.subscriber_id, f"/dependent/{d.id}")),
        }

    def coverage(self, c: Coverage) -> dict[str, Any]:
        benefit = BENEFITS[c.benefit]
        plan = benefit.plans[c.plan]
        subscriber = self.store.subscriber_by_id[c.subscriber_id]
        starts, ends = self.plan_year_dates(c.plan_year)
        effective = slash_date(c.original_effective_date)
        return {
            "id": c.id,
            "subscriber_id": c.subscriber_id,
            "dependent_id": None,
            "org_benefit_id": benefit.id,
            "org_benefit_name": benefit.name,
            "benefit_lookup_code": benefit.lookup_code,
            "org_plan_id": plan.id,
            "org_plan_name": plan.name,
            "coverage_level_id": c.level.id,
            "coverage_level_name": c.level.name,
            "coverage_type_name": benefit.coverage_type_name,
            "benefit_class": "Core" if c.benefit == BASIC_LIFE else "Voluntary",
            "plan_year_starts_on": starts,
            "plan_year_ends_on": ends,
            "first_name": subscriber.first_name,
            "last_name": subscriber.last_name,
            "original_effective_date": effective,
            "change_effective_date": slash_date(c.change_effective_date),
            "payment_change_effective_date": slash_date(c.change_effective_date),
            "election_effective_date": effective,
            "carrier_effective_date": effective,
            "signature_date": slash_date(c.original_effective_date - 30),
            "esigned_at": iso_time(c.signed_at),
            "esigned_by": subscriber.user_name,
            "termination_date": slash_date(c.termination_date),
            "termination_reason_id": c.termination_reason_id,
            "subscriber_premium": money(c.subscriber_premium_cents),
            "org_premium": money(c.org_premium_cents),
            "billing_premium": money(c.subscriber_premium_cents + c.org_premium_cents),
            "imputed_income": "0.0",
            "subscriber_pretax_premium": money(
                0 if benefit.is_life else c.subscriber_premium_cents
            ),
            "subscriber_posttax_premium": money(
                c.subscriber_premium_cents if benefit.is_life else 0
            ),
            "subscriber_election_amount": money(c.volume_cents) if benefit.is_account else None,
            "volume": money(c.volume_cents),
            "waiting_for_eoi": c.benefit == SUPPLEMENTAL_LIFE
            and c.plan_year >= 1
            and c.volume_cents > SUPPLEMENTAL_LIFE_GI_CENTS,
            "beneficiary_required": benefit.is_life,
            "links": self.links(f"/admin/coverage/{c.id}"),
        }

    def coverage_line(self, line: CoverageLine) -> dict[str, Any]:
        benefit = BENEFITS[line.benefit]
        plan = benefit.plans[0]
        starts, ends = self.plan_year_dates(line.plan_year)
        return {
            "id": line.id,
            "coverage_id": line.coverage_id,
            "coverage_line_id": line.id,
            "subscriber_id": line.subscriber_id,
            "org_benefit_id": benefit.id,
            "org_benefit_name": benefit.name,
            "benefit_lookup_code": benefit.lookup_code,
            "org_plan_id": plan.id,
            "org_plan_name": plan.name,
            "coverage_level_id": 105,
            "coverage_level_name": "Employee",
            "plan_year_starts_on": starts,
            "plan_year_ends_on": ends,
            "original_effective_date": slash_date(line.effective_date),
            "change_effective_date": slash_date(line.effective_date),
            "termination_date": slash_date(line.termination_date),
            "subscriber_premium": money(line.premium_cents),
            "org_premium": "0.0",
            "volume": money(line.volume_cents),
            "increments": "10000.0",
            "policy": f"LIFE-{line.coverage_id}",
            "pretax": False,
            "links": self.links(f"/admin/coverage/line/{line.id}"),
        }

    def dependent_coverage(self, dc: DependentCoverage) -> dict[str, Any]:
        benefit = BENEFITS[dc.benefit]
        plan = benefit.plans[dc.plan]
        starts, ends = self.plan_year_dates(dc.plan_year)
        return {
            "id": dc.id,
            "coverage_id": dc.coverage_id,
            "dependent_id": dc.dependent_id,
            "organization_id": self.store.subscriber_by_id[dc.subscriber_id].organization_id,
            "org_carrier_id": 880 + dc.benefit,
            "org_benefit_id": benefit.id,
            "org_benefit_name": benefit.name,
            "benefit_lookup_code": benefit.lookup_code,
            "org_plan_id": plan.id,
            "org_plan_name": plan.name,
            "coverage_level_id": dc.level.id,
            "coverage_level_name": dc.level.name,
            "plan_year_starts_on": starts,
            "plan_year_ends_on": ends,
            "original_effective_date": iso_date(dc.effective_date),
            "change_effective_date": iso_date(dc.effective_date),
            "termination_date": iso_date(dc.termination_date),
            "pcp_code1": None,
            "pcp_name1": None,
            "first_name": dc.first_name,
            "last_name": dc.last_name,
            "links": self.links(f"/admin/coverage/dependent/{dc.id}"),
        }

    def beneficiary(self, b: Beneficiary) -> dict[str, Any]:
        place = PLACES[b.place]
        return {
            "links": self.links(f"/admin/coverage/{b.coverage_id}/beneficiaries"),
            "id": b.id,
            "coverage_line_id": b.coverage_line_id,
            "name": b.name,
            "relationship": b.relationship,
            "allocation": f"{b.allocation_tenths // 10}.{b.allocation_tenths % 10}",
            "primary_beneficiary": "YES" if b.primary else "NO",
            "address_1": self.store.subscriber_by_id[b.subscriber_id].address_1,
            "city": place.city,
            "state": place.state,
            "zip_code": place.zip_code,
            "original_effective_date": slash_date(b.effective_date),
            "change_effective_date": slash_date(b.effective_date),
            "termination_date": None,
            "test_employee": b.test_employee,
        }

    def payroll_coverage(self, p: PayrollCoverage) -> dict[str, Any]:
        s = self.store.subscriber_by_id[p.subscriber_id]
        benefit = BENEFITS[p.benefit]
        plan = benefit.plans[p.plan]
        pay_name, paydays, _ = PAY_FREQUENCIES[s.pay_frequency]
        starts, ends = self.plan_year_dates(p.plan_year)
        pretax = not benefit.is_life
        return {
            "id": p.subscriber_id,
            "subscriber_code": s.subscriber_code,
            "first_name": s.first_name,
            "middle_name": s.middle_name,
            "last_name": s.last_name,
            "ssn": self.other_ssn(s.ssn),
            "subscriber_status": "Terminated" if s.termination_date else "Active",
            "subscriber_pay_frequency": pay_name,
            "subscriber_total_paydays": paydays,
            "organization_id": s.organization_id,
            "org_plan_year_starts": starts,
            "org_plan_year_ends": ends,
            "benefit_name": benefit.name,
            "benefit_lookup_code": benefit.lookup_code,
            "plan_name": plan.name,
            "coverage_level": p.level.name,
            "subscriber_premium": money(p.subscriber_premium_cents),
            "org_premium": money(p.org_premium_cents),
            "imputed_income": "0.0",
            "subscriber_pretax_premium": money(p.subscriber_premium_cents if pretax else 0),
            "subscriber_posttax_premium": money(0 if pretax else p.subscriber_premium_cents),
            "tax_treatment": "pretax" if pretax else "posttax",
            "volume": money(p.volume_cents),
            "org_fsa_amount": "0.0",
            "subscriber_fsa_amount": "0.0",
            "original_effective_date": iso_date(p.original_effective_date),
            "change_effective_date": iso_date(p.change_effective_date),
            "dp_sub_imputed_income": "0.0",
            "dp_org_imputed_income": "0.0",
            "plan_payroll_mapping_code": f"{benefit.lookup_code[:3].upper()}{plan.id % 100:02d}",
            "plan_group_number": f"G{plan.id}",
            "plan_partner_code_1": None,
            "plan_partner_code_2": None,
            "current": p.current,
            "updated_at": iso_time(p.updated_at),
            "created_at": iso_time(p.created_at),
            "termination_date": slash_date(p.termination_date),
            "termination_reason": TERMINATION_REASON_NAMES.get(p.termination_reason_id or 0),
            "benefit_company": "Acme Benefits Co",
            "test_employee": p.test_employee,
            "changed_fields": list(p.changed_fields),
            "links": self.links(self.subscriber_href(p.subscriber_id)),
        }

    def pending_eoi(self, e: PendingEoi) -> dict[str, Any]:
        s = self.store.subscriber_by_id[e.subscriber_id]
        benefit = BENEFITS[SUPPLEMENTAL_LIFE]
        return {
            "id": e.subscriber_id,
            "coverage_id": e.coverage_id,
            "coverage_line_id": e.coverage_line_id,
            "first_name": s.first_name,
            "middle_name": s.middle_name,
            "last_name": s.last_name,
            "ssn": self.other_ssn(s.ssn),
            "benefit_name": benefit.name,
            "benefit_lookup_code": benefit.lookup_code,
            "plan_name": benefit.plans[0].name,
            "req_plan_name": benefit.plans[0].name,
            "volume": money(e.volume_cents),
            "req_volume": money(e.requested_volume_cents),
            "gi_volume": money(e.volume_cents),
            "eoi_volume": money(e.requested_volume_cents - e.volume_cents),
            "eoi_form": "Incomplete",
            "original_effective_date": slash_date(e.effective_date),
            "change_effective_date": slash_date(e.effective_date),
            "dependents": [],
            "links": self.links(f"/admin/eoi/subscriber/{e.subscriber_id}"),
        }

    def aca_offer(self, o: AcaOffer) -> dict[str, Any]:
        starts, ends = self.plan_year_dates(o.plan_year)
        return {
            "id": o.id,
            "subscriber_id": o.subscriber_id,
            "offer_starts_on": starts,
            "offer_ends_on": ends,
            "offer_origin_code": o.offer_origin_code,
            "max_possible_tier_code": "EF",
            "enrollment_tier_code": o.enrollment_tier_code,
            "is_minimum_value": True,
            "is_mec": True,
            "is_eligible": True,
            "subscriber_premium_monthly": money(o.subscriber_premium_monthly_cents),
            "org_plan_id": o.org_plan_id,
            "coverage_id": o.coverage_id,
            "origin_subscriber_life_event_id": None,
            "origin_plan_year_id": self.store.plan_years[o.plan_year].id,
            "origin_hire_date": slash_date(o.origin_hire_date),
            "is_manual": False,
            "calc_date": iso_time(o.updated_at),
            "approval_date": None,
            "approval_code": None,
            "is_deleted": o.is_deleted,
            "updated_at": iso_time(o.updated_at),
        }

    def aca_enrollee(self, e: AcaEnrollee) -> dict[str, Any]:
        ssn = self.other_ssn(e.ssn)
        record: dict[str, Any] = {"id": e.id} if self.aca_enrollee_ids else {}
        return record | {
            "subscriber_id": e.subscriber_id,
            "dependent_id": e.dependent_id,
            "first_name": e.first_name,
            "middle_name": "",
            "last_name": e.last_name,
            "ssn": int(ssn.replace("-", "")) if ssn[0].isdigit() else ssn,
            "birthdate": slash_date(e.birthdate),
            "start_date": slash_date(e.start_date),
            "end_date": slash_date(e.end_date),
            "is_deleted": e.is_deleted,
            "updated_at": iso_time(e.updated_at),
        }

    def administrator(self, a: Administrator) -> dict[str, Any]:
        role_id, role_name = ADMIN_ROLES[a.role]
        return {
            "id": a.id,
            "type": "OrganizationAdministrator",
            "first_name": a.first_name,
            "middle_name": "",
            "last_name": a.last_name,
            "user_id": 600_000 + a.id,
            "user_name": a.user_name,
            "email": f"{a.user_name}@example.com",
            "email2": None,
            "phone": "4075550100",
            "cell": None,
            "fax": None,
            "organization_id": a.organization_id,
            "master_org_id": None,
            "carrier_id": None,
            "general_agency_id": None,
            "tax_id": None,
            "is_agent": False,
            "is_primary_administrator": a.is_primary,
            "is_data_discrepancy_contact": a.is_primary,
            "receive_eoi_notifications": a.role == 1,
            "receive_life_event_notifications": a.role != 2,
            "account_initialized": True,
            "populations": [{"id": 41, "name": "All Employees"}],
            "roles": [{"id": role_id, "name": role_name}],
            "disabled_on": slash_date(a.disabled_on),
        }
