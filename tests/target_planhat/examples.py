"""One realistic record per Planhat object (target-planhat/README.md shows the same ones).

Child records name their company by externalId, sourceId or `_id`; the seeded emulator holds
Acme Corporation (externalId ACME-001, sourceId 0015g00000AcmeAAA) and Globex (GLOBEX-002).
"""

from __future__ import annotations

from typing import Any

EXAMPLES: dict[str, dict[str, Any]] = {
    "companies": {
        "externalId": "CRM-1001",
        "sourceId": "0015g00000ZetaAAA",
        "name": "Zeta Analytics",
        "domains": ["zeta.example"],
        "phase": "Onboarding",
        "custom": {"Segment": "Enterprise", "Seats": 250},
    },
    "endusers": {
        "externalId": "CRM-C-77",
        "email": "ada@acme.example",
        "firstName": "Ada",
        "lastName": "Lovelace",
        "companyExternalId": "ACME-001",
    },
    "licenses": {
        "externalId": "LIC-2024-1",
        "companyExternalId": "ACME-001",
        "product": "Platform",
        "_currency": "USD",
        "fromDate": "2024-01-01",
        "toDate": "2024-12-31",
        "mrr": 1200,
    },
    "churn": {
        "sourceId": "CHURN-7",
        "companySourceId": "0015g00000GlobexAA",
        "churnDate": "2024-06-30",
        "reasons": ["Budget"],
        "value": 1000,
    },
    "nps": {
        "sourceId": "NPS-991",
        "companyExternalId": "ACME-001",
        "email": "ada@acme.example",
        "score": 9,
        "comment": "Great support",
    },
    "conversations": {
        "companyExternalId": "ACME-001",
        "type": "note",
        "subject": "QBR",
        "description": "Quarterly business review",
        "date": "2024-03-01T10:00:00Z",
    },
    "opportunities": {
        "externalId": "OPP-55",
        "companyExternalId": "ACME-001",
        "title": "Upsell analytics",
        "status": "active",
        "mrr": 500,
    },
    "projects": {
        "externalId": "PRJ-3",
        "companyExternalId": "ACME-001",
        "name": "Onboarding",
        "startDate": "2024-01-15",
    },
    "assets": {"externalId": "ASSET-9", "companyExternalId": "ACME-001", "name": "Workspace EU"},
    "invoices": {
        "externalId": "INV-2024-001",
        "companyExternalId": "ACME-001",
        "currency": "USD",
        "amountTotal": 3600,
        "invoiceDate": "2024-01-31",
        "dueDate": "2024-02-29",
        "status": "pending",
    },
    "issues": {
        "sourceId": "JIRA-42",
        "companyExternalId": "ACME-001",
        "title": "SSO login fails",
        "priority": "high",
    },
    "tasks": {
        "externalId": "TASK-12",
        "companyExternalId": "ACME-001",
        "mainType": "task",
        "action": "Call the champion",
        "startTime": "2024-04-01T09:00:00Z",
    },
    "metrics": {
        "dimensionId": "active_users",
        "value": 42,
        "companyExternalId": "ACME-001",
        "date": "2024-04-01",
    },
    "activities": {
        "email": "ada@acme.example",
        "companyExternalId": "ACME-001",
        "action": "Logged in",
        "date": "2024-04-01T09:00:00Z",
    },
}


def key_properties(record: dict[str, Any]) -> list[str]:
    return (
        [next(key for key in ("externalId", "sourceId") if key in record)]
        if ("externalId" in record or "sourceId" in record)
        else []
    )
