"""Company resolution: the companyId / companySourceId / companyExternalId a record names, turned
into the reference Planhat resolves by itself (`srcid-`, `extid-` or the `_id`), no lookup."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from target_planhat.objects import COMPANY_REFERENCE_FIELDS
from target_planhat.staged import Rejected, present

if TYPE_CHECKING:
    from target_planhat.objects import PlanhatObject


def resolve_company(obj: PlanhatObject, payload: dict[str, Any]) -> None:
    """companyId / companySourceId / companyExternalId into Planhat's reference, no lookup."""
    reference = obj.company
    assert reference is not None
    by_id, by_source, by_external = (payload.pop(name, None) for name in COMPANY_REFERENCE_FIELDS)
    if reference.external_only:
        if present(by_external):
            payload.setdefault(reference.field, by_external)
            if obj.name == "metrics":
                payload.setdefault("model", "Company")
        elif (present(by_id) or present(by_source)) and not present(payload.get(reference.field)):
            msg = f"{obj.name} address a company by external id: send companyExternalId"
            raise Rejected(msg)
        return
    if present(by_id):
        value = str(by_id)
    elif present(by_source):
        value = f"srcid-{by_source}"
    elif present(by_external):
        value = f"extid-{by_external}"
    else:
        return
    if reference.many:
        current = payload.get(reference.field) or []
        payload[reference.field] = [*current, value] if value not in current else current
    else:
        payload[reference.field] = value
