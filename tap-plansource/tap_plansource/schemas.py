"""Record schemas, written as field names grouped by the type each value is converted to.

Field lists follow PlanSource's OpenAPI schemas (SubscriberModel, DependentModel, …). Every
object stays open (`additionalProperties`) because fields differ per client configuration;
undeclared fields pass through unchanged. Dates become `format: date` (`YYYY-MM-DD`),
timestamps `format: date-time`, money and volumes `number`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Schema = dict[str, Any]

_TYPES = {
    "strings": ("string", None),
    "integers": ("integer", None),
    "numbers": ("number", None),
    "booleans": ("boolean", None),
    "dates": ("string", "date"),
    "date_times": ("string", "date-time"),
}


def typed(json_type: str, fmt: str | None = None) -> Schema:
    """A nullable scalar schema (`format` for dates and date-times)."""
    schema: Schema = {"type": [json_type, "null"]}
    if fmt:
        schema["format"] = fmt
    return schema


def obj(nested: dict[str, Schema] | None = None, **fields: str) -> Schema:
    """An open object schema; `fields` maps a type group (`strings`, `dates`…) to names."""
    properties: dict[str, Schema] = {}
    for group, names in fields.items():
        json_type, fmt = _TYPES[group]
        properties.update({name: typed(json_type, fmt) for name in names.split()})
    properties.update(nested or {})
    return {"type": "object", "properties": properties, "additionalProperties": True}


def nullable(schema: Schema) -> Schema:
    """`schema` that also accepts null (for nested objects)."""
    return {**schema, "type": [schema["type"], "null"]}


def array_of(items: Schema) -> Schema:
    return {"type": ["array", "null"], "items": items}


def udefs(count: int) -> str:
    return " ".join(f"udef_{n}" for n in range(1, count + 1))


ADDRESS = "address_1 address_2 city state zip_code county country"

ORGANIZATION = obj(integers="id", strings="name organization_code")

SUBSCRIBER = obj(
    integers="""id organization_id termination_reason_id subscriber_status_id
        subscriber_status_subtype_id org_payroll_id parent_dependent_id
        org_admin_enroll_reason_id attempted_logon_count""",
    strings=f"""public_id subscriber_code employee_number ee_code ssn user_name email email2
        first_name middle_name last_name name_suffix {ADDRESS} home_phone work_phone cell_phone
        preferred_locale written_language spoken_language gender marital_status medicare_reason
        medicare_plan employment_level employment_status employee_type business_title division
        location org_class union_code benefit_company benefit_deduction_group pay_type pay_frequency
        bank_account_type anthem_hcid anthem_member_code anthem_sub_id anthem_emp_dept_code
        {udefs(30)}""",
    numbers="pay_rate current_salary hours_per_week",
    booleans="""test_employee is_smoker is_voluntary_termination highly_compensated vip fmla
        shareholder owner is_aca_full_time_for_enrollment hide_from_payroll
        exclude_from_batch_import ssn_exported""",
    dates="""birthdate hire_date original_hire_date seniority_date termination_date
        employment_status_starts_on employment_status_ends_on current_salary_effective_on
        status_starts_on status_ends_on status_ends_on_expected benefits_start_date
        benefits_end_date medicare_effective_date medicare_termination_date disabled_on""",
    date_times="status_changed_at locked_at",
    nested={
        "eligible_org_population_ids": array_of(typed("integer")),
        "benefit_salaries": array_of(
            obj(
                integers="org_plan_year_id",
                dates="starts_on ends_on",
                numbers="benefit_salary benefit_salary2 benefit_salary3 benefit_salary4 "
                "benefit_salary5 benefit_salary6",
            )
        ),
    },
)

DEPENDENT = obj(
    integers="id subscriber_id org_relationship_id termination_reason_id",
    strings=f"""public_id subscriber_custom_id ssn first_name middle_name last_name name_suffix
        gender relationship_code {ADDRESS} home_phone medicare_reason medicare_plan qmcso_benefits
        anthem_member_code {udefs(10)}""",
    booleans="""is_active cannot_terminate lives_at_home is_smoker verified
        hide_dependent_on_termination enroll_in_medicare qmcso has_worksite_coverage""",
    dates="""birthdate verification_expires_on termination_date medicare_effective_date
        medicare_termination_date""",
)

BENEFICIARY = obj(
    integers="id subscriber_id coverage_id coverage_line_id",
    strings=f"subscriber_custom_id name relationship {ADDRESS} phone {udefs(10)}",
    numbers="allocation",
    booleans="primary_beneficiary test_employee",
    dates="original_effective_date change_effective_date termination_date",
)

# Fields shared by coverages, coverage lines and dependent coverages.
_COVERAGE_IDS = """id subscriber_id dependent_id org_benefit_id org_plan_id coverage_level_id
    termination_reason_id"""
_COVERAGE_NAMES = """org_benefit_name benefit_lookup_code org_plan_name coverage_level_name
    coverage_type_name benefit_class first_name last_name plan_year_selector"""
_COVERAGE_DATES = """plan_year_starts_on plan_year_ends_on original_effective_date
    change_effective_date termination_date"""

COVERAGE = obj(
    integers=f"{_COVERAGE_IDS} req_org_plan_id req_coverage_level_id",
    strings=f"""{_COVERAGE_NAMES} esigned_by pcpcode1 pcpcode2 pcp_name1 beneficiary_esign_by
        req_org_plan_name req_coverage_level_name udef_1""",
    numbers="""subscriber_premium org_premium billing_premium billing_fee billing_fee2
        imputed_income dp_sub_imputed_income dp_org_imputed_income subscriber_pretax_premium
        subscriber_posttax_premium subscriber_election_amount subscriber_fsa_amount
        org_fsa_amount volume increments subscriber_ytd org_ytd req_volume
        req_subscriber_premium req_org_premium gi_volume deny_pend_permanently_amount""",
    booleans="""waiting_for_eoi waiting_for_doc_requests pcp_existing_patient1
        had_prior_coverage beneficiary_required beneficiary_optional_admin""",
    dates=f"""{_COVERAGE_DATES} payment_change_effective_date election_effective_date
        carrier_effective_date demographic_effective_date signature_date
        hsa_contribution_end_date subscriber_ytd_effective_date org_ytd_effective_date""",
    date_times="esigned_at beneficiary_esign_at",
    nested={
        "bookkeeping_values": nullable(obj()),
        "survey_data": {"type": ["object", "array", "null"]},
    },
)

COVERAGE_LINE = obj(
    integers=f"{_COVERAGE_IDS} coverage_id coverage_line_id req_org_plan_id",
    strings=f"{_COVERAGE_NAMES} policy",
    numbers="""subscriber_premium org_premium billing_premium imputed_income volume increments
        req_volume req_subscriber_premium req_org_premium""",
    booleans="pretax",
    dates=_COVERAGE_DATES,
)

DEPENDENT_COVERAGE = obj(
    integers=f"{_COVERAGE_IDS} coverage_id organization_id org_carrier_id",
    strings=f"{_COVERAGE_NAMES} pcp_code1 pcp_name1",
    dates=_COVERAGE_DATES,
)

PAYROLL_DEDUCTION = obj(
    integers="subscriber_id organization_id subscriber_total_paydays",
    strings="""subscriber_code first_name middle_name last_name ssn subscriber_status
        subscriber_pay_frequency benefit_name benefit_lookup_code plan_name coverage_level
        tax_treatment plan_payroll_mapping_code plan_group_number plan_partner_code_1
        plan_partner_code_2 termination_reason benefit_company""",
    numbers="""subscriber_premium org_premium imputed_income subscriber_pretax_premium
        subscriber_posttax_premium volume org_fsa_amount subscriber_fsa_amount
        dp_sub_imputed_income dp_org_imputed_income""",
    booleans="current test_employee",
    dates="""org_plan_year_starts org_plan_year_ends original_effective_date
        change_effective_date termination_date""",
    date_times="updated_at created_at",
    nested={"changed_fields": array_of(typed("string"))},
)

ACA_OFFER = obj(
    integers="""id subscriber_id org_plan_id coverage_id origin_subscriber_life_event_id
        origin_plan_year_id""",
    strings="offer_origin_code max_possible_tier_code enrollment_tier_code approval_code",
    numbers="subscriber_premium_monthly",
    booleans="is_minimum_value is_mec is_eligible is_manual is_deleted",
    dates="""offer_starts_on offer_ends_on enrollment_starts_on enrollment_ends_on
        origin_hire_date calc_date approval_date""",
    date_times="updated_at",
)

ACA_ENROLLEE = obj(
    integers="id subscriber_id dependent_id",
    strings="covered_person first_name middle_name last_name ssn",
    booleans="is_deleted",
    dates="birthdate start_date end_date",
    date_times="updated_at",
)

_ID_NAME = obj(integers="id", strings="name")

ADMINISTRATOR = obj(
    integers="id user_id organization_id master_org_id carrier_id general_agency_id",
    strings="""type first_name middle_name last_name user_name email email2 phone cell fax
        tax_id""",
    booleans="""is_agent is_primary_administrator is_data_discrepancy_contact
        account_initialized receive_eoi_notifications receive_life_event_notifications""",
    dates="disabled_on",
    date_times="synced_at",
    nested={"populations": array_of(_ID_NAME), "roles": array_of(_ID_NAME)},
)

EOI_PENDING = obj(
    integers="subscriber_id coverage_id coverage_line_id",
    strings="""first_name middle_name last_name ssn benefit_name benefit_lookup_code plan_name
        req_plan_name eoi_form""",
    numbers="volume req_volume gi_volume eoi_volume",
    dates="original_effective_date change_effective_date",
    nested={
        "dependents": array_of(obj(integers="id", strings="first_name middle_name last_name ssn"))
    },
)

TERMINATION_REASON = obj(integers="id", strings="lookup_code name")

FIELD_METADATA = obj(
    strings="field caption data_type",
    booleans="update required",
    nested={"validation_data": array_of(obj(strings="label value"))},
)

DERIVED: dict[str, Schema] = {
    "plans": obj(
        integers="org_plan_id org_benefit_id",
        strings="org_plan_name org_benefit_name benefit_lookup_code coverage_type_name",
        dates="plan_year_starts_on plan_year_ends_on",
    ),
    "benefits": obj(
        integers="org_benefit_id",
        strings="org_benefit_name benefit_lookup_code coverage_type_name benefit_class",
    ),
    "coverage_levels": obj(integers="coverage_level_id", strings="coverage_level_name"),
}


def custom_stream_schema(properties: dict[str, Any] | None, primary_keys: Iterable[str]) -> Schema:
    """A user-defined stream's schema: as given, else open with its keys declared."""
    declared = dict(properties or {})
    for key in primary_keys:
        declared.setdefault(key, {})
    return {"type": "object", "properties": declared, "additionalProperties": True}
