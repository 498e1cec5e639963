"""Field metadata served by `/subscriber/meta` and `/dependent/meta`: per field `update`,
`required`, `caption`, `data_type` and `validation_data` (`[label, value]` pairs), as the
client's Data Field Security configures them (contract §4.2).

`data_type` is upper-case as in the public example (`STRING`, plansource.md §11) unless the
switch `meta_type_case` is "lower"; an SSN field is typed `SSN`, or `STRING` with the switch
`meta_ssn_type: STRING` (whether an SSN type exists is not public)."""

from __future__ import annotations

from typing import Any

from sandbox.plansource.seed import (
    DIVISIONS,
    LOCATIONS,
    PAY_FREQUENCIES,
    PLACES,
    TERMINATION_REASONS,
)

GENDERS = [["Female", "F"], ["Male", "M"]]


def _field(
    caption: str, data_type: str, required: bool = False, choices: list[list[str]] | None = None
) -> dict[str, Any]:
    return {
        "update": True,
        "required": required,
        "caption": caption,
        "data_type": data_type,
        "validation_data": choices or [],
    }


def _pairs(values: tuple[str, ...] | list[str]) -> list[list[str]]:
    return [[value, value] for value in values]


# Fields a tenant configured beyond PlanSource's documented models (the `tenant_fields` switch):
# `data_type` as the meta endpoints type them.
TENANT_SUBSCRIBER_FIELDS = {
    "employee_badge_number": _field("Badge Number", "string"),
    "union_dues_rate": _field("Union Dues Rate", "decimal"),
    "remote_worker": _field("Remote Worker", "boolean"),
    "alternate_tax_id": _field("Alternate Tax Id", "ssn"),
    "parking_zone": _field("Parking Zone", "parking_zone"),
}
TENANT_DEPENDENT_FIELDS = {
    "student_verified_on": _field("Student Verified On", "date"),
}


def subscriber_meta(
    tenant_fields: bool = False, type_case: str = "upper", ssn_type: str = "SSN"
) -> dict[str, Any]:
    meta = _subscriber_meta()
    meta = {**meta, **TENANT_SUBSCRIBER_FIELDS} if tenant_fields else meta
    return _typed(meta, type_case, ssn_type)


def dependent_meta(
    tenant_fields: bool = False, type_case: str = "upper", ssn_type: str = "SSN"
) -> dict[str, Any]:
    meta = _dependent_meta()
    meta = {**meta, **TENANT_DEPENDENT_FIELDS} if tenant_fields else meta
    return _typed(meta, type_case, ssn_type)


def _typed(meta: dict[str, Any], type_case: str, ssn_type: str) -> dict[str, Any]:
    """`meta` with each `data_type` written as the switches say."""
    if type_case not in ("upper", "lower") or ssn_type.lower() not in ("ssn", "string"):
        msg = f"meta_type_case is upper or lower ({type_case!r}), meta_ssn_type SSN or STRING"
        raise ValueError(msg)
    typed = {}
    for name, rules in meta.items():
        if isinstance(rules, dict) and "data_type" in rules:
            data_type = ssn_type if rules["data_type"] == "ssn" else rules["data_type"]
            data_type = data_type.upper() if type_case == "upper" else data_type.lower()
            typed[name] = {**rules, "data_type": data_type}
        else:
            typed[name] = rules
    return typed


def _subscriber_meta() -> dict[str, Any]:
    return {
        "first_name": _field("First Name", "string", required=True),
        "middle_name": _field("Middle Name", "string"),
        "last_name": _field("Last Name", "string", required=True),
        "ssn": _field("SSN", "ssn", required=True),
        "birthdate": _field("Birth Date", "date", required=True),
        "gender": _field("Gender", "list", required=True, choices=GENDERS),
        "marital_status": _field(
            "Marital Status", "list", choices=_pairs(["Single", "Married", "Divorced"])
        ),
        "address_1": _field("Address 1", "string", required=True),
        "city": _field("City", "string", required=True),
        "state": _field(
            "State", "list", required=True, choices=_pairs(sorted({p.state for p in PLACES}))
        ),
        "zip_code": _field("Zip Code", "string", required=True),
        "hire_date": _field("Hire Date", "date", required=True),
        "termination_date": _field("Termination Date", "date"),
        "employment_level": _field(
            "Employment Level", "list", choices=_pairs(["Full Time", "Part Time"])
        ),
        "division": _field("Division", "list", choices=_pairs(DIVISIONS)),
        "location": _field("Location", "list", choices=_pairs(LOCATIONS)),
        "current_salary": _field("Current Salary", "decimal"),
        "email": _field("Email", "email"),
        "udef_1": _field("Cost Center", "string"),
        "payroll_schedules": [
            {"id": payroll_id, "name": name} for name, _, payroll_id in PAY_FREQUENCIES
        ],
        "termination_reason": [{"id": rid, "name": name} for rid, _, name in TERMINATION_REASONS],
    }


def _dependent_meta() -> dict[str, Any]:
    return {
        "first_name": _field("First Name", "string", required=True),
        "last_name": _field("Last Name", "string", required=True),
        "ssn": _field("SSN", "ssn"),
        "birthdate": _field("Birth Date", "date", required=True),
        "gender": _field("Gender", "list", required=True, choices=GENDERS),
        "relationship_code": _field(
            "Relationship", "list", required=True, choices=_pairs(["Spouse", "Child", "Stepchild"])
        ),
        "is_smoker": _field("Tobacco User", "boolean"),
    }
