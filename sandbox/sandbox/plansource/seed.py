"""Deterministic PlanSource data: one organization of employees ("subscribers") and their benefits.

The generator keeps records compact (named tuples of ids, ordinals and cents) so that an
organization of 50,000 subscribers seeds in a few seconds; `records.py` renders them as the API's
JSON on demand. Everything derives from the integer `seed` and the `anchor` instant (epoch
seconds): plan years are the calendar years before, of and after the anchor, and every
`updated_at` lies before it. The same seed and anchor always give the same store.
"""

from __future__ import annotations

import gc
import itertools
import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from functools import cached_property, wraps
from typing import NamedTuple, TypeVar

T = TypeVar("T")

DAY = 86_400

FIRST_NAMES_F = (
    "Olivia",
    "Emma",
    "Ava",
    "Sophia",
    "Isabella",
    "Mia",
    "Amelia",
    "Harper",
    "Evelyn",
    "Abigail",
    "Emily",
    "Elizabeth",
    "Sofia",
    "Avery",
    "Ella",
    "Scarlett",
    "Grace",
    "Chloe",
    "Victoria",
    "Riley",
    "Aria",
    "Lily",
    "Aubrey",
    "Zoey",
    "Penelope",
    "Lillian",
    "Addison",
    "Layla",
    "Natalie",
    "Camila",
)
FIRST_NAMES_M = (
    "Liam",
    "Noah",
    "William",
    "James",
    "Oliver",
    "Benjamin",
    "Elijah",
    "Lucas",
    "Mason",
    "Logan",
    "Alexander",
    "Ethan",
    "Jacob",
    "Michael",
    "Daniel",
    "Henry",
    "Jackson",
    "Sebastian",
    "Aiden",
    "Matthew",
    "Samuel",
    "David",
    "Joseph",
    "Carter",
    "Owen",
    "Wyatt",
    "John",
    "Jack",
    "Luke",
    "Ted",
)
LAST_NAMES = (
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Mosby",
    "O'Brien",
    "Van der Berg",
    "Núñez",
)
MIDDLE_INITIALS = ("A", "B", "C", "D", "E", "J", "K", "L", "M", "R", "S", "T", "")
STREETS = (
    "Main St",
    "Oak Ave",
    "Pine Rd",
    "Maple Dr",
    "Cedar Ln",
    "Elm St",
    "Lakeview Blvd",
    "2nd Ave",
)


class Place(NamedTuple):
    city: str
    state: str
    zip_code: str
    county: str


PLACES = (
    Place("Orlando", "FL", "32801", "Orange"),
    Place("Tampa", "FL", "33602", "Hillsborough"),
    Place("Atlanta", "GA", "30303", "Fulton"),
    Place("Austin", "TX", "78701", "Travis"),
    Place("Denver", "CO", "80202", "Denver"),
    Place("Chicago", "IL", "60601", "Cook"),
    Place("Columbus", "OH", "43215", "Franklin"),
    Place("Portland", "OR", "97204", "Multnomah"),
)
DIVISIONS = ("Corporate", "Operations", "Sales", "Engineering", "Customer Care", "Finance")
LOCATIONS = ("Orlando HQ", "Tampa Service Center", "Remote", "Atlanta Office", "Austin Office")
TITLES = ("Analyst", "Associate", "Engineer", "Manager", "Specialist", "Director", "Coordinator")
PAY_FREQUENCIES = (
    ("Biweekly (26 per year)", 26, 563),
    ("Semi-Monthly (24 per year)", 24, 564),
    ("Weekly (52 per year)", 52, 565),
)
TERMINATION_REASONS = (
    (1, "voluntary", "Voluntary Termination"),
    (2, "involuntary", "Involuntary Termination"),
    (3, "retirement", "Retirement"),
    (4, "waived", "Subscriber voluntarily waived coverage"),
    (5, "death", "Death"),
)


class CoverageLevel(NamedTuple):
    id: int
    name: str
    covers_spouse: bool
    covers_children: bool


EMPLOYEE_ONLY = CoverageLevel(101, "Employee Only", False, False)
COVERAGE_LEVELS = (
    EMPLOYEE_ONLY,
    CoverageLevel(102, "Employee + Spouse", True, False),
    CoverageLevel(103, "Employee + Child(ren)", False, True),
    CoverageLevel(104, "Family", True, True),
)
LIFE_LEVEL = CoverageLevel(105, "Employee", False, False)


class Plan(NamedTuple):
    id: int
    name: str
    monthly_cents: int  # employee-only monthly premium; levels scale it


class Benefit(NamedTuple):
    id: int
    name: str
    lookup_code: str
    coverage_type_name: str
    plans: tuple[Plan, ...]
    participation: float  # share of eligible subscribers who elect it
    is_life: bool = False
    is_account: bool = False


BENEFITS = (
    Benefit(
        3101,
        "Medical",
        "medical",
        "Medical",
        (
            Plan(51001, "PPO 500", 21_850),
            Plan(51002, "HDHP 3000", 14_225),
            Plan(51003, "HMO Select", 18_990),
        ),
        0.86,
    ),
    Benefit(
        3102,
        "Dental",
        "dental",
        "Dental",
        (Plan(51011, "Dental Base", 2_410), Plan(51012, "Dental Plus", 3_875)),
        0.74,
    ),
    Benefit(3103, "Vision", "vision", "Vision", (Plan(51021, "Vision Care", 812),), 0.58),
    Benefit(
        3104, "Health Savings Account", "hsa", "HSA", (Plan(51031, "HSA", 0),), 0.0, is_account=True
    ),
    Benefit(
        3105,
        "Basic Life",
        "basic_subscriber_life",
        "Life",
        (Plan(51041, "Basic Life 1x Salary", 0),),
        1.0,
        is_life=True,
    ),
    Benefit(
        3106,
        "Supplemental Life",
        "subscriber_life",
        "Life",
        (Plan(51051, "Supplemental Life", 0),),
        0.34,
        is_life=True,
    ),
)
MEDICAL, DENTAL, VISION, HSA, BASIC_LIFE, SUPPLEMENTAL_LIFE = range(len(BENEFITS))
HDHP_PLAN = 1
SUPPLEMENTAL_LIFE_GI_CENTS = 15_000_000  # guaranteed issue: volumes above it wait for EOI
RELATIONSHIPS_CHILD = ("Child", "Stepchild")
BENEFICIARY_RELATIONSHIPS = ("Spouse", "Child", "Parent", "Sibling", "Trust", "Estate")


class Organization(NamedTuple):
    id: int
    name: str
    organization_code: str


class PlanYear(NamedTuple):
    id: int
    starts_on: int  # date ordinal
    ends_on: int


class Subscriber(NamedTuple):
    id: int
    organization_id: int
    subscriber_code: str
    employee_number: str
    ssn: str
    first_name: str
    middle_name: str
    last_name: str
    gender: str
    birthdate: int
    marital_status: str
    address_1: str
    place: int
    phone: str
    hire_date: int
    termination_date: int | None
    termination_reason_id: int | None
    employment_level: str
    division: int
    location: int
    title: int
    pay_frequency: int
    salary_cents: int
    status_changed_at: int  # epoch seconds
    test_employee: bool
    user_name: str


class Dependent(NamedTuple):
    id: int
    subscriber_id: int
    ssn: str
    first_name: str
    last_name: str
    gender: str
    birthdate: int
    relationship_code: str
    active: bool
    termination_date: int | None


class Coverage(NamedTuple):
    id: int
    subscriber_id: int
    plan_year: int  # index into Store.plan_years
    benefit: int  # index into BENEFITS
    plan: int  # index into the benefit's plans
    level: CoverageLevel
    original_effective_date: int
    change_effective_date: int
    termination_date: int | None
    termination_reason_id: int | None
    subscriber_premium_cents: int
    org_premium_cents: int
    volume_cents: int
    dependent_ids: tuple[int, ...]
    signed_at: int  # epoch seconds
    test_employee: bool


class CoverageLine(NamedTuple):
    id: int
    coverage_id: int
    subscriber_id: int
    plan_year: int
    benefit: int
    volume_cents: int
    premium_cents: int
    effective_date: int
    termination_date: int | None
    test_employee: bool


class DependentCoverage(NamedTuple):
    id: int
    coverage_id: int
    dependent_id: int
    subscriber_id: int
    plan_year: int
    benefit: int
    plan: int
    level: CoverageLevel
    effective_date: int
    termination_date: int | None
    first_name: str
    last_name: str
    test_employee: bool


class Beneficiary(NamedTuple):
    id: int
    coverage_id: int
    coverage_line_id: int
    subscriber_id: int
    name: str
    relationship: str
    allocation_tenths: int  # percent times 10, so "33.4" stays exact
    primary: bool
    effective_date: int
    place: int
    test_employee: bool


class PayrollCoverage(NamedTuple):
    subscriber_id: int
    coverage_id: int
    plan_year: int
    benefit: int
    plan: int
    level: CoverageLevel
    subscriber_premium_cents: int  # per pay period
    org_premium_cents: int
    volume_cents: int
    original_effective_date: int
    change_effective_date: int
    termination_date: int | None
    termination_reason_id: int | None
    created_at: int  # epoch seconds
    updated_at: int
    current: bool  # the latest row of this subscriber, benefit and plan year
    previous: bool  # the row immediately before the current one
    changed_fields: tuple[str, ...]
    test_employee: bool


class AcaOffer(NamedTuple):
    id: int
    subscriber_id: int
    plan_year: int
    coverage_id: int | None
    org_plan_id: int | None
    offer_origin_code: str
    enrollment_tier_code: str
    subscriber_premium_monthly_cents: int
    origin_hire_date: int
    is_deleted: bool
    updated_at: int


class AcaEnrollee(NamedTuple):
    id: int
    subscriber_id: int
    dependent_id: int | None
    first_name: str
    last_name: str
    ssn: str
    birthdate: int
    start_date: int
    end_date: int
    is_deleted: bool
    updated_at: int


class Administrator(NamedTuple):
    id: int
    organization_id: int
    first_name: str
    last_name: str
    user_name: str
    role: int
    is_primary: bool
    disabled_on: int | None
    updated_at: int  # internal: only `changes_since` sees it


class PendingEoi(NamedTuple):
    subscriber_id: int
    coverage_id: int
    coverage_line_id: int
    plan_year: int
    volume_cents: int
    requested_volume_cents: int
    effective_date: int


def derived(build: Callable[[Store], T]) -> cached_property[T]:
    """A collection computed from the seeded ones on first use (without GC pauses)."""

    @wraps(build)
    def compute(store: Store) -> T:
        with no_gc_pauses():
            return build(store)

    return cached_property(compute)


class Dice:
    """Draws from one seeded stream, built on `random()`: `randint`/`choice` cost ten times more."""

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed).random

    def between(self, low: int, high: int) -> int:
        return low + int(self.random() * (high - low + 1))

    def pick(self, options: Sequence[T]) -> T:
        return options[int(self.random() * len(options))]

    def chance(self, probability: float) -> bool:
        return self.random() < probability

    def ssn(self) -> str:
        return f"{self.between(100, 665)}-{self.between(10, 99)}-{self.between(1000, 9999)}"


class Store:
    """Everything the emulator serves, each collection ordered by id (payroll: by subscriber).

    Subscribers, dependents, coverages and administrators are built at seeding; the collections
    derived from coverages (lines, beneficiaries, EOI, dependent coverages, payroll, ACA) are
    built on first use, each from its own random stream, so they do not depend on access order.
    """

    def __init__(self, seed: int, anchor: int) -> None:
        self.seed = seed
        self.anchor = anchor
        self.today = datetime.fromtimestamp(anchor, UTC).date().toordinal()
        year = date.fromordinal(self.today).year
        self.plan_years = [
            PlanYear(7000 + y - 2000, date(y, 1, 1).toordinal(), date(y, 12, 31).toordinal())
            for y in (year - 1, year, year + 1)
        ]
        self.organizations: list[Organization] = []
        self.subscribers: list[Subscriber] = []
        self.dependents: list[Dependent] = []
        self.coverages: list[Coverage] = []
        self.administrators: list[Administrator] = []
        self.subscriber_by_id: dict[int, Subscriber] = {}
        self.dependent_by_id: dict[int, Dependent] = {}
        self.coverage_by_id: dict[int, Coverage] = {}

    def index(self) -> None:
        """Build the id lookups once the seeded collections are complete."""
        self.subscriber_by_id = {s.id: s for s in self.subscribers}
        self.dependent_by_id = {d.id: d for d in self.dependents}
        self.coverage_by_id = {c.id: c for c in self.coverages}

    def recent(self, dice: Dice, max_days: float) -> int:
        """An epoch second within `max_days` before the anchor, skewed toward the recent past."""
        return self.anchor - int(dice.random() ** 2 * max_days * DAY) - 1

    @derived
    def dependent_coverages(self) -> list[DependentCoverage]:
        rows = []
        next_id = 40_330_001
        for coverage in self.coverages:
            for dependent_id in coverage.dependent_ids:
                dependent = self.dependent_by_id[dependent_id]
                rows.append(
                    DependentCoverage(
                        next_id,
                        coverage.id,
                        dependent_id,
                        coverage.subscriber_id,
                        coverage.plan_year,
                        coverage.benefit,
                        coverage.plan,
                        coverage.level,
                        coverage.original_effective_date,
                        coverage.termination_date,
                        dependent.first_name,
                        dependent.last_name,
                        coverage.test_employee,
                    )
                )
                next_id += 1
        return rows

    @derived
    def _life(self) -> tuple[list[CoverageLine], list[Beneficiary], list[PendingEoi]]:
        """Stacked lines, primary and contingent beneficiaries, and EOI above guaranteed issue."""
        dice = Dice(self.seed * 31 + 1)
        lines: list[CoverageLine] = []
        beneficiaries: list[Beneficiary] = []
        pending: list[PendingEoi] = []
        for coverage in self.coverages:
            if not BENEFITS[coverage.benefit].is_life:
                continue
            subscriber = self.subscriber_by_id[coverage.subscriber_id]
            layers = (
                1
                if coverage.benefit == BASIC_LIFE
                else min(3, coverage.volume_cents // 10_000_000 + 1)
            )
            remaining = coverage.volume_cents
            first_line = 30_210_001 + len(lines)
            for layer in range(layers):
                volume = remaining if layer == layers - 1 else remaining // (layers - layer)
                remaining -= volume
                lines.append(
                    CoverageLine(
                        30_210_001 + len(lines),
                        coverage.id,
                        coverage.subscriber_id,
                        coverage.plan_year,
                        coverage.benefit,
                        volume,
                        round(
                            coverage.subscriber_premium_cents
                            * volume
                            / max(coverage.volume_cents, 1)
                        ),
                        coverage.original_effective_date,
                        coverage.termination_date,
                        coverage.test_employee,
                    )
                )
            for primary, count in (
                (True, dice.pick((1, 1, 2, 3))),
                (False, dice.pick((0, 0, 1, 2))),
            ):
                for share in _allocations(dice, count):
                    relationship = dice.pick(BENEFICIARY_RELATIONSHIPS)
                    if relationship in {"Trust", "Estate"}:
                        name = f"{subscriber.last_name} Family {relationship}"
                    else:
                        name = f"{subscriber.last_name}, {dice.pick(FIRST_NAMES_F + FIRST_NAMES_M)}"
                    beneficiaries.append(
                        Beneficiary(
                            5_120_001 + len(beneficiaries),
                            coverage.id,
                            first_line,
                            coverage.subscriber_id,
                            name,
                            relationship,
                            share,
                            primary,
                            coverage.original_effective_date,
                            subscriber.place,
                            coverage.test_employee,
                        )
                    )
            if (
                coverage.benefit == SUPPLEMENTAL_LIFE
                and coverage.plan_year >= 1
                and coverage.volume_cents > SUPPLEMENTAL_LIFE_GI_CENTS
            ):
                pending.append(
                    PendingEoi(
                        coverage.subscriber_id,
                        coverage.id,
                        first_line,
                        coverage.plan_year,
                        SUPPLEMENTAL_LIFE_GI_CENTS,
                        coverage.volume_cents,
                        coverage.original_effective_date,
                    )
                )
        return lines, beneficiaries, pending

    @property
    def coverage_lines(self) -> list[CoverageLine]:
        return self._life[0]

    @property
    def beneficiaries(self) -> list[Beneficiary]:
        return self._life[1]

    @property
    def pending_eoi(self) -> list[PendingEoi]:
        return self._life[2]

    @derived
    def payroll_coverages(self) -> list[PayrollCoverage]:
        """One deduction row per coverage of the previous and current plan years, plus an older
        superseded row (`previous`) when the election changed during the year."""
        dice = Dice(self.seed * 31 + 2)
        rows: list[PayrollCoverage] = []
        for coverage in self.coverages:
            if coverage.plan_year > 1:
                continue
            subscriber = self.subscriber_by_id[coverage.subscriber_id]
            periods = PAY_FREQUENCIES[subscriber.pay_frequency][1]
            per_period_sub = round(coverage.subscriber_premium_cents * 12 / periods)
            per_period_org = round(coverage.org_premium_cents * 12 / periods)
            updated = self.recent(dice, 200 if coverage.plan_year == 0 else 120)
            changed = (
                coverage.change_effective_date > coverage.original_effective_date
                or dice.chance(0.15)
            )
            if changed:
                before = updated - dice.between(3, 60) * DAY
                rows.append(
                    PayrollCoverage(
                        coverage.subscriber_id,
                        coverage.id,
                        coverage.plan_year,
                        coverage.benefit,
                        coverage.plan,
                        COVERAGE_LEVELS[0] if coverage.level.covers_spouse else coverage.level,
                        per_period_sub,
                        per_period_org,
                        coverage.volume_cents,
                        coverage.original_effective_date,
                        coverage.original_effective_date,
                        coverage.change_effective_date - 1,
                        None,
                        before - dice.between(0, 5) * DAY,
                        before,
                        False,
                        True,
                        (),
                        coverage.test_employee,
                    )
                )
            rows.append(
                PayrollCoverage(
                    coverage.subscriber_id,
                    coverage.id,
                    coverage.plan_year,
                    coverage.benefit,
                    coverage.plan,
                    coverage.level,
                    per_period_sub,
                    per_period_org,
                    coverage.volume_cents,
                    coverage.original_effective_date,
                    coverage.change_effective_date,
                    coverage.termination_date,
                    coverage.termination_reason_id,
                    # A change is a new row (PlanSource flags it `current`, the one before it
                    # `previous`), created when the change was made.
                    updated - dice.between(0, 2 if changed else 10) * DAY,
                    updated,
                    True,
                    False,
                    ("coverage_level", "subscriber_premium") if changed else (),
                    coverage.test_employee,
                )
            )
        return rows

    @derived
    def _aca(self) -> tuple[list[AcaOffer], list[AcaEnrollee]]:
        """An offer per current-year medical coverage and an enrollee row per covered person;
        a few deleted, a few changed within the last hour."""
        dice = Dice(self.seed * 31 + 3)
        offers: list[AcaOffer] = []
        enrollees: list[AcaEnrollee] = []
        for coverage in self.coverages:
            if coverage.benefit != MEDICAL or coverage.plan_year != 1:
                continue
            subscriber = self.subscriber_by_id[coverage.subscriber_id]
            plan_year = self.plan_years[coverage.plan_year]
            deleted = dice.chance(0.06)
            offers.append(
                AcaOffer(
                    700_001 + len(offers),
                    subscriber.id,
                    coverage.plan_year,
                    coverage.id,
                    BENEFITS[MEDICAL].plans[coverage.plan].id,
                    "NEW_HIRE"
                    if subscriber.hire_date >= plan_year.starts_on
                    else "OPEN_ENROLLMENT",
                    ("EE", "ES", "EC", "EF")[COVERAGE_LEVELS.index(coverage.level)],
                    coverage.subscriber_premium_cents,
                    subscriber.hire_date,
                    deleted,
                    self._aca_updated(dice),
                )
            )
            people: list[tuple[int | None, str, str, str, int]] = [
                (
                    None,
                    subscriber.first_name,
                    subscriber.last_name,
                    subscriber.ssn,
                    subscriber.birthdate,
                )
            ]
            for dependent_id in coverage.dependent_ids:
                d = self.dependent_by_id[dependent_id]
                people.append((d.id, d.first_name, d.last_name, d.ssn, d.birthdate))
            for person_id, first, last, ssn, birthdate in people:
                enrollees.append(
                    AcaEnrollee(
                        900_001 + len(enrollees),
                        subscriber.id,
                        person_id,
                        first,
                        last,
                        ssn,
                        birthdate,
                        coverage.original_effective_date,
                        coverage.termination_date or plan_year.ends_on,
                        deleted or dice.chance(0.02),
                        self._aca_updated(dice),
                    )
                )
        return offers, enrollees

    def _aca_updated(self, dice: Dice) -> int:
        if dice.chance(0.05):
            return self.anchor - dice.between(1, 3600)
        return self.recent(dice, 90)

    @property
    def aca_offers(self) -> list[AcaOffer]:
        return self._aca[0]

    @property
    def aca_enrollees(self) -> list[AcaEnrollee]:
        return self._aca[1]

    def counts(self) -> dict[str, int]:
        """Counts per collection (builds the derived collections if they are not built yet)."""
        return {
            "organizations": len(self.organizations),
            "subscribers": len(self.subscribers),
            "test_subscribers": sum(s.test_employee for s in self.subscribers),
            "terminated_subscribers": sum(s.termination_date is not None for s in self.subscribers),
            "dependents": len(self.dependents),
            "inactive_dependents": sum(not d.active for d in self.dependents),
            "coverages": len(self.coverages),
            "coverage_lines": len(self.coverage_lines),
            "dependent_coverages": len(self.dependent_coverages),
            "beneficiaries": len(self.beneficiaries),
            "payroll_coverages": len(self.payroll_coverages),
            "aca_offers": len(self.aca_offers),
            "aca_enrollees": len(self.aca_enrollees),
            "administrators": len(self.administrators),
            "pending_eoi": len(self.pending_eoi),
        }


class _Generator:
    """Walks subscribers in id order, appending each one's dependents and coverages."""

    def __init__(self, store: Store, dice: Dice) -> None:
        self.store = store
        self.dice = dice
        self.next_subscriber = 12_186_001
        self.next_dependent = 2_078_001
        self.next_coverage = 20_551_001
        self.next_administrator = 3_001

    def organization(self, org: Organization, subscribers: int, administrators: int) -> None:
        self.store.organizations.append(org)
        for _ in range(subscribers):
            self.subscriber(org)
        for _ in range(administrators):
            self.administrator(org)

    def subscriber(self, org: Organization) -> None:
        dice, today = self.dice, self.store.today
        sid = self.next_subscriber
        self.next_subscriber += 1
        gender = "F" if dice.chance(0.5) else "M"
        first = dice.pick(FIRST_NAMES_F if gender == "F" else FIRST_NAMES_M)
        last = dice.pick(LAST_NAMES)
        hire = today - dice.between(30, 20 * 365)
        terminated = dice.chance(0.08) and hire < today - 120
        term = dice.between(hire + 60, today - 1) if terminated else None
        married = dice.chance(0.55)
        full_time = dice.chance(0.9)
        subscriber = Subscriber(
            id=sid,
            organization_id=org.id,
            subscriber_code=f"E{sid % 1_000_000:06d}",
            employee_number=str(sid - 12_086_000),
            ssn=dice.ssn(),
            first_name=first,
            middle_name=dice.pick(MIDDLE_INITIALS),
            last_name=last,
            gender=gender,
            birthdate=today - dice.between(20 * 365, 66 * 365),
            marital_status="Married" if married else dice.pick(("Single", "Single", "Divorced")),
            address_1=f"{dice.between(10, 9999)} {dice.pick(STREETS)}",
            place=dice.between(0, len(PLACES) - 1),
            phone=f"{dice.between(201, 989)}555{dice.between(1000, 9999)}",
            hire_date=hire,
            termination_date=term,
            termination_reason_id=dice.pick((1, 1, 2, 3)) if terminated else None,
            employment_level="Full Time" if full_time else "Part Time",
            division=dice.between(0, len(DIVISIONS) - 1),
            location=dice.between(0, len(LOCATIONS) - 1),
            title=dice.between(0, len(TITLES) - 1),
            pay_frequency=dice.pick((0, 0, 0, 1, 2)),
            salary_cents=dice.between(64, 480) * 50_000,
            status_changed_at=self.store.anchor - (today - (term or hire)) * DAY,
            test_employee=dice.chance(0.012),
            user_name=f"{first[0]}{last}{sid % 10_000}".lower().replace(" ", "").replace("'", ""),
        )
        self.store.subscribers.append(subscriber)
        children = dice.pick((0, 0, 0, 1, 1, 2, 2, 3)) if dice.chance(0.7) else 0
        spouse, kids = self.dependents(subscriber, married, children)
        for year in range(len(self.store.plan_years)):
            self.elections(subscriber, year, spouse, kids, full_time)

    def dependents(
        self, sub: Subscriber, married: bool, children: int
    ) -> tuple[int | None, tuple[int, ...]]:
        """Append the subscriber's dependents (a divorced spouse or aged-out child stays on file,
        inactive); return the active spouse and children."""
        dice, today = self.dice, self.store.today
        people: list[tuple[str, str, int]] = []
        if married or dice.chance(0.05):
            gender = "M" if sub.gender == "F" else "F"
            people.append(("Spouse", gender, sub.birthdate + dice.between(-5 * 365, 5 * 365)))
        for _ in range(children):
            relationship = "Child" if dice.chance(0.9) else "Stepchild"
            people.append((relationship, dice.pick("FM"), today - dice.between(200, 27 * 365)))
        spouse = None
        kids: list[int] = []
        for relationship, gender, birthdate in people:
            did = self.next_dependent
            self.next_dependent += 1
            aged_out = relationship != "Spouse" and birthdate < today - 26 * 365
            active = (married or relationship != "Spouse") and not aged_out
            self.store.dependents.append(
                Dependent(
                    id=did,
                    subscriber_id=sub.id,
                    ssn=dice.ssn(),
                    first_name=dice.pick(FIRST_NAMES_F if gender == "F" else FIRST_NAMES_M),
                    last_name=sub.last_name,
                    gender=gender,
                    birthdate=birthdate,
                    relationship_code=relationship,
                    active=active,
                    termination_date=None if active else today - dice.between(30, 700),
                )
            )
            if active and relationship == "Spouse":
                spouse = did
            elif active:
                kids.append(did)
        return spouse, tuple(kids)

    def elections(
        self, sub: Subscriber, year: int, spouse: int | None, kids: tuple[int, ...], full_time: bool
    ) -> None:
        """One plan year's coverages (part-timers get life only; HSA rides on the HDHP)."""
        dice = self.dice
        plan_year = self.store.plan_years[year]
        starts = max(plan_year.starts_on, sub.hire_date + 30)  # benefits start after 30 days
        if starts > plan_year.ends_on or (sub.termination_date and sub.termination_date < starts):
            return
        term = (
            sub.termination_date
            if sub.termination_date and sub.termination_date <= plan_year.ends_on
            else None
        )
        levels = [EMPLOYEE_ONLY]
        if spouse:
            levels.append(COVERAGE_LEVELS[1])
        if kids:
            levels.append(COVERAGE_LEVELS[2])
        if spouse and kids:
            levels.append(COVERAGE_LEVELS[3])
        medical_plan = None
        for benefit_index, benefit in enumerate(BENEFITS):
            if benefit_index == HSA:
                if medical_plan != HDHP_PLAN:
                    continue
            elif not dice.chance(benefit.participation) or (not full_time and not benefit.is_life):
                continue
            plan = dice.between(0, len(benefit.plans) - 1)
            if benefit_index == MEDICAL:
                medical_plan = plan
            level = (
                LIFE_LEVEL
                if benefit.is_life
                else EMPLOYEE_ONLY
                if benefit.is_account
                else dice.pick(levels)
            )
            covered = ((spouse,) if level.covers_spouse and spouse else ()) + (
                kids if level.covers_children else ()
            )
            monthly = benefit.plans[plan].monthly_cents * (1 + len(covered) * 0.8)
            volume = 0
            if benefit_index == BASIC_LIFE:
                volume = sub.salary_cents
            elif benefit_index == SUPPLEMENTAL_LIFE:
                volume = dice.pick((5, 10, 15, 20, 25, 30)) * 1_000_000
                monthly = volume / 100_000 * 2.1
            elif benefit_index == HSA:
                volume = dice.pick((1_000, 2_000, 3_600, 4_150)) * 100
            employee_share = (
                0.25 if benefit_index == MEDICAL else 0.0 if benefit_index == BASIC_LIFE else 1.0
            )
            changed = starts if dice.chance(0.85) else dice.between(starts, plan_year.ends_on)
            self.store.coverages.append(
                Coverage(  # positional: keywords cost 3x on the hottest constructor
                    self.next_coverage,
                    sub.id,
                    year,
                    benefit_index,
                    plan,
                    level,
                    starts,
                    changed,
                    term,
                    sub.termination_reason_id if term else None,
                    round(monthly * employee_share),
                    round(monthly * (1 - employee_share)),
                    volume,
                    covered,
                    self.store.anchor - (self.store.today - plan_year.starts_on + 30) * DAY,
                    sub.test_employee,
                )
            )
            self.next_coverage += 1

    def administrator(self, org: Organization) -> None:
        dice = self.dice
        first, last = dice.pick(FIRST_NAMES_F + FIRST_NAMES_M), dice.pick(LAST_NAMES)
        aid = self.next_administrator
        self.next_administrator += 1
        minutes_ago = dice.between(1, 55) if dice.chance(0.3) else dice.between(60, 60 * 24 * 45)
        self.store.administrators.append(
            Administrator(
                id=aid,
                organization_id=org.id,
                first_name=first,
                last_name=last,
                user_name=f"{first}.{last}.{aid}".lower().replace(" ", "").replace("'", ""),
                role=dice.between(0, 2),
                is_primary=aid % 25 == 1,
                disabled_on=self.store.today - dice.between(1, 400) if dice.chance(0.1) else None,
                updated_at=self.store.anchor - minutes_ago * 60,
            )
        )


def _allocations(dice: Dice, count: int) -> list[int]:
    """`count` percentages in tenths that sum to exactly 100.0 (e.g. 33.4 + 33.3 + 33.3)."""
    if count == 0:
        return []
    if count == 3 and dice.chance(0.5):
        return [334, 333, 333]
    cuts = sorted({dice.between(1, 99) * 10 for _ in range(count - 1)})
    bounds = [0, *cuts, 1000]
    return [high - low for low, high in itertools.pairwise(bounds)]


def build_store(
    *,
    seed: int,
    anchor: int,
    organization: Organization,
    subscribers: int,
    administrators: int,
    foreign_organization: Organization,
    foreign_subscribers: int,
) -> Store:
    """Generate the organization the default client sees and a small foreign one it must not."""
    store = Store(seed, anchor)
    generator = _Generator(store, Dice(seed))
    with no_gc_pauses():
        generator.organization(organization, subscribers, administrators)
        generator.organization(foreign_organization, foreign_subscribers, 2)
        store.index()
    return store


@contextmanager
def no_gc_pauses() -> Iterator[None]:
    """Hold the cyclic collector while building millions of acyclic tuples: in a process with
    many live objects (a test session) its repeated full passes triple the build time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
