"""The default Planhat workspace: a few companies with their end users, team members and
custom field definitions. Deterministic: the same options always give the same records."""

from __future__ import annotations

import copy
from typing import Any

from sandbox.planhat.store import PlanhatStore

SEEDED_COMPANIES: tuple[dict[str, Any], ...] = (
    {
        "name": "Acme Corporation",
        "externalId": "ACME-001",
        "sourceId": "0015g00000AcmeAAA",
        "domains": ["acme.example"],
        "phase": "Onboarding",
        "country": "United States",
        "custom": {"Segment": "Enterprise", "Seats": 250},
    },
    {
        "name": "Globex Ltd",
        "externalId": "GLOBEX-002",
        "sourceId": "0015g00000GlobexAA",
        "domains": ["globex.example"],
        "phase": "Adoption",
        "country": "United Kingdom",
        "custom": {"Segment": "Mid-Market", "Seats": 80},
    },
    {
        "name": "Initech GmbH",
        "externalId": "INITECH-003",
        "sourceId": "0015g00000InitechA",
        "domains": ["initech.example"],
        "phase": "Renewal",
        "country": "Germany",
        "custom": {"Segment": "SMB", "Seats": 12},
    },
)
"""The first companies of every seed; further ones are generated (`Company 0004`, ...)."""

PEOPLE = (
    ("Alice", "Moreau", "Head of Operations"),
    ("Bruno", "Silva", "Data Engineer"),
    ("Chen", "Wei", "Finance Lead"),
    ("Dana", "Okafor", "Product Manager"),
)

TEAM = (
    ("Ada", "Lindqvist", "ada.lindqvist@planhat.example"),
    ("Ben", "Carter", "ben.carter@planhat.example"),
    ("Chloé", "Martin", "chloe.martin@planhat.example"),
)

CUSTOM_FIELDS = (
    {
        "name": "Segment",
        "type": "list",
        "parent": "Company",
        "listValues": ["Enterprise", "Mid-Market", "SMB"],
    },
    {"name": "Seats", "type": "number", "parent": "Company"},
    {"name": "Role", "type": "text", "parent": "EndUser"},
)


def company(number: int) -> dict[str, Any]:
    """The `number`-th seeded company (1-based)."""
    if number <= len(SEEDED_COMPANIES):
        return SEEDED_COMPANIES[number - 1]
    return {
        "name": f"Company {number:04d}",
        "externalId": f"COMP-{number:04d}",
        "sourceId": f"0015g0000{number:09d}",
        "domains": [f"company{number}.example"],
        "custom": {"Segment": "SMB", "Seats": number % 50 + 1},
    }


def seed_workspace(
    store: PlanhatStore, companies: int, endusers_per_company: int, users: int
) -> None:
    """Fill an empty store through its own create path (so seeds obey the same rules)."""
    for definition in CUSTOM_FIELDS:
        store.create("customfields", {**definition, "isHidden": False})
    for first, last, email in TEAM[:users]:
        store.create(
            "users", {"firstName": first, "lastName": last, "email": email, "isActive": True}
        )
    for number in range(1, companies + 1):
        fields = copy.deepcopy(company(number))
        store.create("companies", fields)
        domain = fields["domains"][0]
        for person in range(endusers_per_company):
            first, last, position = PEOPLE[person % len(PEOPLE)]
            mailbox = f"{first.lower()}.{last.lower()}{person // len(PEOPLE) or ''}"
            store.create(
                "endusers",
                {
                    "companyId": f"extid-{fields['externalId']}",
                    "email": f"{mailbox}@{domain}",
                    "firstName": first,
                    "lastName": last,
                    "name": f"{first} {last}",
                    "position": position,
                    "externalId": f"{fields['externalId']}-U{person + 1}",
                    "sourceId": f"hs-{number:04d}-{person + 1}",
                    "custom": {"Role": position},
                },
            )
