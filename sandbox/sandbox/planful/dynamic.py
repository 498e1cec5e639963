"""Seeded Dynamic Planning content: models with dimensions and leaf data, external source models,
calculation scripts, users and groups, and the export semantics of section 6b.

Export bodies are built here; `app.py` only parses payloads and negotiates formats. Problems with
a payload raise `DynamicPlanningError` carrying the HTTP status the API documents for them.
"""

from __future__ import annotations

import itertools
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.planful.hierarchy import Node, parse_outline

FILTER_TYPES = ("Member", "Children", "Descendants", "Leaves")
MEMBER_DISPLAYS = {"code": "Code", "displaylabel": "DisplayLabel", "display label": "DisplayLabel"}
OPERATIONS = ("AND", "OR")
MAPPED = "dim:"  # outline properties naming a mapped dimension, e.g. `dim:Company=US01`
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

ACCOUNT = """
Account Account
  NetIncome Net Income
    Revenue Revenue | @AccountType=Revenue
      4000 Product Revenue
      4100 Subscription Revenue
    Expenses Operating Expenses | op=-; @AccountType=Expense
      Personnel Personnel
        6000 Salaries and Wages
        6010 Bonus and Commission
        6030 Employee Benefits
      NonPersonnel Non-Personnel
        6500 Rent
        6600 Travel
        7000 Professional Fees
        7010 Software Subscriptions
"""

COMPANY = """
Company Company
  US01 Acme Corp US | @Currency=USD
  UK01 Acme UK Ltd | @Currency=GBP
  DE01 Acme GmbH | @Currency=EUR
"""

DEPARTMENT = """
Department Department
  GA G&A
    D100 Finance | dim:Company=US01; @Region=East; @Owner=Dana Whitfield
    D200 Human Resources | dim:Company=US01; @Region=East; @Owner=Marcus Oyelaran
    D300 Legal | dim:Company=UK01; @Region=EMEA; @Owner=Priya Raman
  SM Sales & Marketing
    D500 Sales East | dim:Company=US01; @Region=East; @Owner=Grace Mbeki
    D510 Sales West | dim:Company=US01; @Region=West; @Owner=Grace Mbeki
    D520 Sales EMEA | dim:Company=DE01; @Region=EMEA; @Owner=Luca Ferraro
  RD R&D
    D700 Engineering | dim:Company=US01; @Region=West; @Owner=Hiro Tanaka
    D710 Engineering Berlin | dim:Company=DE01; @Region=EMEA; @Owner=Hiro Tanaka
"""

OPEX_SCENARIO = """
Scenario Scenario
  Actual Actual
  Plans Plans | op=~
    Budget Budget
    Forecast Forecast
"""

PRODUCT = """
Product Product
  Software Software | @Category=Recurring
    SKU100 Platform Standard | @Launch Year=2019
    SKU110 Platform Enterprise | @Launch Year=2020
    SKU200 Analytics Add-on | @Launch Year=2022
    SKU210 Workflow Add-on | @Launch Year=2023
  Hardware Hardware | @Category=One-time
    SKU300 Edge Gateway | @Launch Year=2021
    SKU310 Sensor Kit | @Launch Year=2024
  Services Services | @Category=One-time
    SKU400 Implementation | @Launch Year=2019
    SKU410 Training & Enablement | @Launch Year=2019
"""

REGION = """
Region Region
  AMER Americas
    NAE North America East | @Territory Manager=Grace Mbeki
    NAW North America West | @Territory Manager=Hiro Tanaka
    LATAM Latin America | @Territory Manager=Diego Santos
  EMEAR EMEA
    UKI UK & Ireland | @Territory Manager=Luca Ferraro
    DACH Germany, Austria, Switzerland | @Territory Manager=Ingrid Keller
  APACR APAC
    ANZ Australia & New Zealand | @Territory Manager=Mei Chen
"""

REVENUE_SCENARIO = """
Scenario Scenario
  Actual Actual
  Budget Budget
"""

MEASURE = """
Measure Measure
  Units Units | op=~
  Bookings Bookings | op=~
"""

UNIT_PRICES = {"SKU100": 1200.0, "SKU110": 4800.0, "SKU200": 650.0, "SKU210": 480.0,
               "SKU300": 899.0, "SKU310": 249.5, "SKU400": 15000.0, "SKU410": 2200.0}  # fmt: skip

SALES_CATEGORIES = (
    ("Kitchen & Dining", ("KD-100", "KD-140", "KD-210")),
    ("Bath & Body", ("BB-010", "BB-020")),
    ("Garden", ("GD-500", "GD-510", "GD-530")),
    ("Office", ("OF-900", "OF-910")),
)
SALES_REGIONS = ("East", "West", "Central", "EMEA", "APAC")
# Sales go to the 40 customers of the project's customer list (data/customers.jsonl), so that
# Planful sales can become Planhat metrics on the same companies.
SALES_CUSTOMERS = 40
CENSUS_GRADES = ("G4", "G5", "G6", "G7", "G8", "M1", "M2")
CENSUS_DEPARTMENTS = ("Finance", "Sales East", "Sales West", "Engineering", "Marketing", "Legal")
CENSUS_LOCATIONS = ("New York", "Austin", "London", "Berlin", "Singapore")

DP_GROUPS = (
    "Finance",
    "FP&A Analysts",
    "Sales Operations",
    "Executives",
    "Budget Owners",
    "Modelers",
)
DP_ROLES = ("Admin", "Modeler", "Contributor", "Reviewer")
DP_NAMES = (
    "Dana Whitfield", "Marcus Oyelaran", "Priya Raman", "Tomas Lindqvist", "Grace Mbeki",
    "Luca Ferraro", "Hiro Tanaka", "Sofia Alvarez", "Noah Brennan", "Ingrid Keller",
    "Mei Chen", "Diego Santos", "Amara Okafor", "Freya Johansson", "Kofi Mensah",
)  # fmt: skip
EMAIL_DOMAIN = "acme-finance.example"


class DynamicPlanningError(Exception):
    """A request the Dynamic Planning API refuses, with its HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _checksum(*parts: object) -> int:
    """A small deterministic hash (Python's `hash` of str is salted per process)."""
    return zlib.crc32("|".join(map(str, parts)).encode())


@dataclass
class Dimension:
    """A model dimension: an outline of members, their attributes and mapped dimensions."""

    name: str
    nodes: list[Node]

    def __post_init__(self) -> None:
        self.by_code = {node.code: node for node in self.nodes}

    @property
    def leaves(self) -> list[Node]:
        return [node for node in self.nodes if node.is_leaf]

    def attribute_names(self) -> list[str]:
        return list(dict.fromkeys(name for node in self.nodes for name in node.attributes))

    def member(self, code: str) -> Node:
        try:
            return self.by_code[code]
        except KeyError:
            raise DynamicPlanningError(
                404, f"Member '{code}' not found in dimension '{self.name}'."
            ) from None

    def export(self, include_attributes: bool, include_dimensions: bool) -> list[dict[str, Any]]:
        members = []
        for node in self.nodes:
            record: dict[str, Any] = {
                "code": node.code,
                "parent": node.parent.code if node.parent else None,
                "rollupOperator": node.properties.get("op", "+"),
                "displayLabel": node.name,
            }
            if include_attributes:
                record["attributes"] = dict(node.attributes)
            if include_dimensions:
                record["dimensions"] = {
                    key.removeprefix(MAPPED): value
                    for key, value in node.properties.items()
                    if key.startswith(MAPPED)
                }
            members.append(record)
        return members

    def export_attribute(self, attribute: str) -> list[dict[str, Any]]:
        """An attribute hierarchy: the attribute as root, its values as children."""
        values = dict.fromkeys(
            n.attributes[attribute] for n in self.nodes if attribute in n.attributes
        )
        root = {"code": attribute, "parent": None, "rollupOperator": "+", "displayLabel": attribute}
        return [root] + [
            {"code": value, "parent": attribute, "rollupOperator": "+", "displayLabel": value}
            for value in values
        ]

    def select(self, filter_type: str, values: list[str]) -> set[str]:
        """Leaf codes a `Member`/`Children`/`Descendants`/`Leaves` filter on `values` keeps."""
        chosen: set[str] = set()
        for code in values:
            node = self.member(code)
            if filter_type == "Member":
                picked = [node]
            elif filter_type == "Children":
                picked = node.children
            else:  # Descendants and Leaves keep the same leaf rows: data lives on leaves only
                picked = node.leaves()
            chosen.update(n.code for n in picked if n.is_leaf)
        return chosen


@dataclass
class CalcScript:
    """A calculation script and its run history (times on the emulator clock)."""

    name: str
    description: str
    background: bool
    duration_s: float
    last_run: datetime
    last_status: str
    started: datetime | None = None

    def status(self, now: datetime) -> dict[str, str]:
        state = "not running"
        if self.started is not None:
            if now - self.started < timedelta(seconds=min(1.0, self.duration_s)):
                state = "submitted"
            elif now - self.started < timedelta(seconds=self.duration_s):
                state = "in progress"
            else:
                self.last_run, self.last_status, self.started = self.started, "success", None
        return {
            "status": state,
            "last-status": self.last_status,
            "description": self.description,
            "run-in-background": "Yes" if self.background else "No",
            "last-run-time": iso_millis(self.last_run),
        }

    def run(self, now: datetime) -> None:
        if not self.background:
            raise DynamicPlanningError(
                400, f"Calculation '{self.name}' is not enabled to run in the background."
            )
        if self.status(now)["status"] != "not running":
            raise DynamicPlanningError(400, f"Calculation '{self.name}' is already running.")
        self.started = now


@dataclass
class Model:
    """A Master or Analytic model: dimensions in column order and its leaf-level data."""

    name: str
    type: str
    dimensions: list[Dimension]
    rows: list[tuple[tuple[str, ...], float]]
    calcscripts: dict[str, CalcScript] = field(default_factory=dict)

    def listing(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "generated": True,
            "dimensions": [d.name for d in self.dimensions],
        }

    def dimension(self, name: str) -> Dimension:
        for dimension in self.dimensions:
            if dimension.name == name:
                return dimension
        raise DynamicPlanningError(404, f"Dimension '{name}' not found in model '{self.name}'.")

    def attribute_owner(self, name: str) -> Dimension | None:
        return next((d for d in self.dimensions if name in d.attribute_names()), None)

    def export_dimension(
        self, name: str, include_attributes: bool, include_dimensions: bool
    ) -> dict[str, Any]:
        owner = self.attribute_owner(name)
        if owner is not None and name not in (d.name for d in self.dimensions):
            members = owner.export_attribute(name)
        else:
            members = self.dimension(name).export(include_attributes, include_dimensions)
        return {"model": self.name, "dimension": name, "members": members}

    def export_data(
        self,
        filters: list[dict[str, Any]],
        member_display: str = "Code",
        suppress_zeroes: bool = False,
        operation: str = "AND",
    ) -> dict[str, Any]:
        display = MEMBER_DISPLAYS.get(str(member_display).lower())
        if display is None:
            raise DynamicPlanningError(
                400, f"memberDisplay must be Code or DisplayLabel, not '{member_display}'."
            )
        if str(operation).upper() not in OPERATIONS:
            raise DynamicPlanningError(400, f"operationType must be AND or OR, not '{operation}'.")
        tests = [self._filter(f) for f in filters]
        combine = all if str(operation).upper() == "AND" else any
        rows = []
        for members, value in self.rows:
            if suppress_zeroes and value == 0:
                continue
            if tests and not combine(members[position] in keep for position, keep in tests):
                continue
            shown = (
                members
                if display == "Code"
                else tuple(
                    d.by_code[code].name for d, code in zip(self.dimensions, members, strict=True)
                )
            )
            rows.append([*shown, value])
        return {
            "model": self.name,
            "memberDisplay": display,
            "columns": [d.name for d in self.dimensions] + ["Value"],
            "rows": rows,
        }

    def _filter(self, spec: dict[str, Any]) -> tuple[int, set[str]]:
        """(column position, leaf codes kept) of one filter on a dimension or an attribute."""
        if not isinstance(spec, dict) or not spec.get("dimension"):
            raise DynamicPlanningError(400, "Every filter needs a dimension.")
        name = spec["dimension"]
        filter_type = spec.get("filterType") or "Member"
        values = spec.get("filterValues") or []
        if filter_type not in FILTER_TYPES:
            raise DynamicPlanningError(
                400, f"filterType must be one of {', '.join(FILTER_TYPES)}, not '{filter_type}'."
            )
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise DynamicPlanningError(400, "filterValues must be a list of member codes.")
        names = [d.name for d in self.dimensions]
        if name in names:
            return names.index(name), self.dimension(name).select(filter_type, values)
        owner = self.attribute_owner(name)
        if owner is None:
            raise DynamicPlanningError(
                404, f"Dimension or attribute '{name}' not found in model '{self.name}'."
            )
        return names.index(owner.name), {
            n.code for n in owner.leaves if n.attributes.get(name) in values
        }


@dataclass
class SourceModel:
    """An External Source Model: named fields and rows of text values."""

    name: str
    fields: list[str]
    rows: list[list[str]]

    def listing(self) -> dict[str, Any]:
        return {"name": self.name, "type": "External Source", "generated": True, "dimensions": []}

    def export(
        self, filters: dict[str, list[str]], fields: list[str]
    ) -> tuple[list[str], list[list[str]]]:
        """(header, rows) keeping rows whose `field` is one of its values, for every filter."""
        unknown = [f for f in [*filters, *fields] if f not in self.fields]
        if unknown:
            raise DynamicPlanningError(
                400, f"Unknown field '{unknown[0]}' in source model '{self.name}'."
            )
        header = fields or self.fields
        positions = [self.fields.index(f) for f in header]
        checks = [(self.fields.index(f), set(values)) for f, values in filters.items()]
        kept = [row for row in self.rows if all(row[p] in allowed for p, allowed in checks)]
        return header, [[row[p] for p in positions] for row in kept]


@dataclass
class DynamicPlanning:
    """The whole Dynamic Planning tenant."""

    models: dict[str, Model]
    source_models: dict[str, SourceModel]
    users: list[dict[str, Any]]
    groups: list[str]

    def model(self, name: str) -> Model:
        if name in self.source_models:
            raise DynamicPlanningError(
                400, f"'{name}' is an External Source model; use /modeling/sourcemodel/data/export."
            )
        try:
            return self.models[name]
        except KeyError:
            raise DynamicPlanningError(404, f"Model '{name}' not found.") from None

    def source_model(self, name: str) -> SourceModel:
        try:
            return self.source_models[name]
        except KeyError:
            raise DynamicPlanningError(404, f"External source model '{name}' not found.") from None

    def calcscript(self, model: str, name: str) -> CalcScript:
        try:
            return self.model(model).calcscripts[name]
        except KeyError:
            raise DynamicPlanningError(
                404, f"Calculation '{name}' not found in model '{model}'."
            ) from None

    def listing(self) -> list[dict[str, Any]]:
        return [m.listing() for m in self.models.values()] + [
            s.listing() for s in self.source_models.values()
        ]


def iso_millis(moment: datetime) -> str:
    """ISO-8601 UTC with milliseconds, as Dynamic Planning writes timestamps."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def _time_outline(years: list[int]) -> str:
    lines = ["Time Time"]
    for year in years:
        yy = f"{year % 100:02d}"
        lines.append(f"  FY{yy} FY{year}")
        for quarter in range(4):
            lines.append(f"    Q{quarter + 1}-{yy} Q{quarter + 1} {year}")
            lines += [
                f"      {month}-{yy} {month} {year}"
                for month in MONTHS[quarter * 3 : quarter * 3 + 3]
            ]
    return "\n".join(lines)


def _dimension(name: str, outline: str) -> Dimension:
    return Dimension(name, parse_outline(outline))


def _opex(years: list[int], first_year: int) -> Model:
    account, company, department = (
        _dimension("Account", ACCOUNT),
        _dimension("Company", COMPANY),
        _dimension("Department", DEPARTMENT),
    )
    scenario, time = _dimension("Scenario", OPEX_SCENARIO), _dimension("Time", _time_outline(years))
    rows: list[tuple[tuple[str, ...], float]] = []
    for acct, dept, scen, period in itertools.product(
        account.leaves, department.leaves, scenario.leaves, time.leaves
    ):
        members = (
            acct.code,
            dept.properties[f"{MAPPED}Company"],
            dept.code,
            scen.code,
            period.code,
        )
        check = _checksum("Opex", *members)
        value = 0.0 if check % 10 == 0 else round(500 + check % 250_000 / 3, 2)
        rows.append((members, value))
    calcs = {
        "AllocateOverhead": CalcScript(
            "AllocateOverhead", "Allocate IT and facilities overhead to departments", True, 45.0,
            datetime(first_year + 2, 10, 31, 22, 15, 3, 412000, tzinfo=UTC), "success",
        ),
        "RollupActuals": CalcScript(
            "RollupActuals", "Aggregate actuals after the monthly GL load", True, 120.0,
            datetime(first_year + 2, 11, 2, 6, 0, 0, 87000, tzinfo=UTC), "failed",
        ),
        "SeedForecast": CalcScript(
            "SeedForecast", "Copy budget into the forecast scenario", False, 30.0,
            datetime(first_year + 2, 7, 1, 9, 30, 12, 5000, tzinfo=UTC), "success",
        ),
    }  # fmt: skip
    return Model("Opex", "Master", [account, company, department, scenario, time], rows, calcs)


def _revenue(years: list[int], first_year: int) -> Model:
    product, region = _dimension("Product", PRODUCT), _dimension("Region", REGION)
    scenario, time = (
        _dimension("Scenario", REVENUE_SCENARIO),
        _dimension("Time", _time_outline(years)),
    )
    measure = _dimension("Measure", MEASURE)
    rows: list[tuple[tuple[str, ...], float]] = []
    for prod, reg, scen, period in itertools.product(
        product.leaves, region.leaves, scenario.leaves, time.leaves
    ):
        check = _checksum("Revenue", prod.code, reg.code, scen.code, period.code)
        units = 0 if check % 8 == 0 else check % 40 + 1
        keys = (prod.code, reg.code, scen.code, period.code)
        rows.append(((*keys, "Units"), float(units)))
        rows.append(((*keys, "Bookings"), round(units * UNIT_PRICES[prod.code], 2)))
    calcs = {
        "CalcRevenue": CalcScript(
            "CalcRevenue", "Bookings = Units x list price", True, 20.0,
            datetime(first_year + 2, 11, 15, 18, 45, 59, 999000, tzinfo=UTC), "success",
        )
    }  # fmt: skip
    return Model("Revenue", "Analytic", [product, region, scenario, time, measure], rows, calcs)


def _sales_transactions(count: int, first_year: int) -> SourceModel:
    rows = []
    start = datetime(first_year + 1, 1, 1, tzinfo=UTC)
    for index in range(count):
        category, skus = SALES_CATEGORIES[index % len(SALES_CATEGORIES)]
        sku = skus[(index // len(SALES_CATEGORIES)) % len(skus)]
        qty = _checksum("qty", index) % 12 + 1
        price = 4.99 + _checksum("price", sku) % 9000 / 100
        day = start + timedelta(days=index * 730 // max(count, 1))
        rows.append(
            [
                f"T{100000 + index}", day.date().isoformat(),
                SALES_REGIONS[index % len(SALES_REGIONS)], category, sku, str(qty),
                f"{price:.2f}", f"{qty * price:.2f}",
                f"CUST-{_checksum('customer', index) % SALES_CUSTOMERS + 1:04d}",
            ]
        )  # fmt: skip
    fields = [
        "txn_id", "txn_date", "region", "category", "sku", "qty", "unit_price", "amount",
        "customer_id",
    ]  # fmt: skip
    return SourceModel("salestxn", fields, rows)


def _census(count: int) -> SourceModel:
    rows = []
    for index in range(count):
        check = _checksum("emp", index)
        fte = "0.5" if check % 9 == 0 else "1.0"
        rows.append(
            [
                f"E{2000 + index}", CENSUS_DEPARTMENTS[index % len(CENSUS_DEPARTMENTS)],
                CENSUS_LOCATIONS[check % len(CENSUS_LOCATIONS)],
                CENSUS_GRADES[check % len(CENSUS_GRADES)],
                fte, str(55000 + check % 95000),
            ]
        )  # fmt: skip
    return SourceModel(
        "hrcensus", ["emp_id", "department", "location", "grade", "fte", "annual_salary"], rows
    )


def _users(count: int) -> list[dict[str, Any]]:
    users = []
    for index in range(count):
        name = DP_NAMES[index % len(DP_NAMES)]
        suffix = "" if index < len(DP_NAMES) else str(index // len(DP_NAMES))
        users.append(
            {
                "email": f"{name.lower().replace(' ', '.')}{suffix}@{EMAIL_DOMAIN}",
                "name": name,
                "status": "Unverified" if index % 6 == 5 else "Active",
                "groups": [
                    {"name": DP_GROUPS[(index + k) % len(DP_GROUPS)]} for k in range(index % 3 + 1)
                ],
                "role": DP_ROLES[index % len(DP_ROLES)],
                "invalidPasswordAttempts": index % 4 if index % 5 == 0 else 0,
                "lockedStatus": "Locked" if index % 11 == 10 else "UnLocked",
                "emailSubscription": "Unsubscribe" if index % 3 == 2 else "Subscribe",
                "userType": "External" if index % 8 == 7 else "Business",
                "supportRole": "Support" if index == 0 else "None",
            }
        )
    return users


def build_dynamic_planning(
    first_year: int, years: int, users: int, esm_rows: int
) -> DynamicPlanning:
    """The tenant's models cover the second and third seeded fiscal years (24 months)."""
    model_years = (
        [first_year + 1, first_year + 2] if years >= 3 else [first_year + y for y in range(years)]
    )
    models = [_opex(model_years, first_year), _revenue(model_years, first_year)]
    sources = [_sales_transactions(esm_rows, first_year), _census(120)]
    return DynamicPlanning(
        models={m.name: m for m in models},
        source_models={s.name: s for s in sources},
        users=_users(users),
        groups=list(DP_GROUPS),
    )
