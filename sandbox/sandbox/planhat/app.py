"""The Planhat emulator: contract section 9 of `shared/api/planhat.md`, main API and analytics.

Main API (token auth, rate limiter): per model `<m>` in `sandbox.planhat.models.MODELS`
`PUT /<m>` (bulk upsert), `POST /<m>`, `GET /<m>` (list), `GET|PUT /<m>/<_id|extid-…|srcid-…>`,
`DELETE /<m>/<_id>`; plus `GET /leancompanies` and `GET /dimensiondata`. Analytics (tenant UUID in
the path, no token needed, never rate limited): `POST /dimensiondata/<tenant>`,
`POST /analytics/<tenant>`, `POST /analytics/bulk/<tenant>`, always 200 `{processed, errors}`.

Bulk upsert (`PUT /<m>`, at most `bulk_max_items`): each item matches by the first keyable it
carries, in the model's priority order (`_id` > `sourceId` > `externalId` > `email`; see the
table in `models.py`); an unknown `_id` is "invalid id", other unmatched keys create; a keyable
repeated in one payload, or held by another record, is "<key> duplicated". Company
references: `companyId` as ObjectId, `extid-<externalId>` or `srcid-<sourceId>`, or
`companyExternalId`; NPS and invoices use `cId` (NPS also takes `companyId`); issues take
`companyIds[]` in any of those forms. `companySourceId` is not a Planhat field: it is stored
verbatim and places nothing, so a client must send `srcid-…`. The response is always the full
envelope; 200 all good, 206 some failed, 400 all failed, 403 no write permission (every item in
`permissionErrors`). Successful items are kept whatever happens to the others.

Settings (`--set k=v`, `POST /__sandbox/config`, or `start("planhat", settings=...)`):

- `tokens` ({SANDBOX_TOKEN: "rw", SANDBOX_READONLY_TOKEN: "ro"}): token -> `"rw"`, `"ro"` or a map
  of model path -> `"rw"`/`"ro"` (`"*"` for the rest; unlisted models: no access). Sent as
  `Authorization: Bearer <token>` or `Basic base64("<token>:")`; unknown or missing -> 401.
- `tenant_uuid` (TENANT_UUID): the tenant the analytics paths accept; any other -> 404.
- `rate_limit_per_minute` (0 = off): main-API budget per 60 s window; over it -> 429
  `Too many requests`. `send_retry_after` (false): add `Retry-After` (seconds to the window's end)
  to 429s. `rate_limit_headers` (true): `X-Rate-Limit-Limit` / `X-Rate-Limit-Remaining` on every
  main-API response while the limiter is on.
- `bulk_max_items` (5000): more items in one `PUT /<m>` -> 400.
- `error_item_format` ("object"): error entries as `{"item", "index", "error"}` objects (analytics:
  `{"item", "error"}`); `"string"`, bare messages (a public client's fixtures), on both hosts;
  `"echo_with_defaults"`, `{"item", "error"}` whose item carries defaults the sender may not have
  sent (bulk `custom: {}`, metrics `model: "Company"` as in Airbyte's sample, activities
  `weight`/`count` 1), so it is not byte-equal to the item sent, and no `index`.
- `include_validation_errors` (false): add `validationErrors` to every bulk envelope and put value
  rule failures (score range, day numbers, custom fields…) there instead of `created/updatedErrors`.
- `strict_custom_fields` (false): `custom` keys without a `/customfields` definition are rejected.
- `unplaced_endusers` ("drop"): end users with no company reference and no company owning their
  e-mail domain are silently dropped (counted nowhere, like Planhat); `"error"` rejects them.
- `post_dedupes_companies` (false): `POST /companies` creates a duplicate even when the
  externalId/sourceId exists (Planhat's documented legacy behaviour); true makes it an upsert.
- `list_max_limits` ({}): per-model overrides of the list `limit` maxima (companies 5000;
  nps, tasks, users 10000; others 2000). `list_limit_over_max` ("cap"): silently cap, or
  `"error"` -> 400.
- `analytics_max_body_bytes` (32 MiB): bigger analytics bodies -> 413.
- `keep_analytics_items` (true): store metric points and activities; false keeps only the counts
  (for benchmarks at millions of points).
- `activity_bulk_aliases` (false): `POST /analytics/bulk/<tenant>` reads only its documented
  names (`cId`, `id`, `email`; one of `id`/`email` required); true also reads the single-event
  names (`companyExternalId`, `externalId`, `euExtId`).
- `analytics_answer` ("counts"): what the analytics host answers: `{processed, errors}`;
  `"empty"`, a 200 with an empty body; `"no_processed"`, `{errors}` without `processed`.
- `analytics_drop_last` (0): silently keep none of the last n items of each analytics request and
  answer `processed` short by n (Planhat's analytics host is a data sink: only `processed` tells).
- `analytics_odd_requests` (0): `analytics_answer` and `analytics_drop_last` apply to the first n
  analytics requests only (counted from the last reset), the later ones are answered normally;
  0: to every request.
- `dimensiondata_company_param` ("any"): the company filter `GET /dimensiondata` reads, `cid` or
  `cId` (clients disagree); `"cid"` or `"cId"` reads only that one and ignores the other (every
  company's points come back).
- Core switches: `latency_ms`, `log_bodies` (false: the request log keeps no bodies).

Seed options (`--seed k=v`, `POST /__sandbox/seed`): `companies` (3; the first three are Acme
Corporation `ACME-001`, Globex Ltd `GLOBEX-002`, Initech GmbH `INITECH-003`, further ones
`COMP-0004`…), `endusers_per_company` (2; externalIds `<company externalId>-U1`…), `users`
(2 team members, at most 3). Custom fields Company `Segment`, `Seats` and EndUser `Role` exist.

Inspection: `GET /__sandbox/state` gives counts per model plus `metric_points` and `activities`;
`GET /__sandbox/state?model=<m>` the stored records (also `metric_points`, `activities`);
in-process, `PlanhatEmulator.records(model)`.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Callable, Iterable, Mapping
from itertools import islice
from typing import Any
from urllib.parse import unquote

from sandbox.core import Emulator, Request, Response, json_response, route, text_response
from sandbox.planhat.models import MODELS, Model
from sandbox.planhat.seed import seed_workspace
from sandbox.planhat.store import NotFound, PlanhatStore, Rejected

SANDBOX_TOKEN = "sandbox-token"
SANDBOX_READONLY_TOKEN = "sandbox-readonly-token"
TENANT_UUID = "6f1d3c2a-9b8e-4f7a-a1c5-2d4e6f8a0b1c"
ANALYTICS_STREAMS = ("metric_points", "activities")

_MODEL = "|".join(MODELS)
_ANALYTICS_PATH = re.compile(r"/(dimensiondata|analytics(/bulk)?)/[^/]+")
_LEAN_FIELDS = ("_id", "name", "externalId", "sourceId", "slug")
_METRIC_LIST_DEFAULT, _METRIC_LIST_MAX = 100, 5000
_METRIC_FIELDS = ("dimensionId", "time", "value", "model", "parentId", "companyId", "companyName")
"""What `GET /dimensiondata` serves per point (with `_id`); not the externalId that was sent."""


class PlanhatEmulator(Emulator):
    """Planhat's main REST API and analytics endpoints over one in-memory workspace."""

    name = "planhat"
    default_settings: Mapping[str, Any] = {
        "tokens": {SANDBOX_TOKEN: "rw", SANDBOX_READONLY_TOKEN: "ro"},
        "tenant_uuid": TENANT_UUID,
        "rate_limit_per_minute": 0,
        "send_retry_after": False,
        "rate_limit_headers": True,
        "bulk_max_items": 5000,
        "error_item_format": "object",
        "include_validation_errors": False,
        "strict_custom_fields": False,
        "unplaced_endusers": "drop",
        "post_dedupes_companies": False,
        "list_max_limits": {},
        "list_limit_over_max": "cap",
        "analytics_max_body_bytes": 32 * 1024 * 1024,
        "keep_analytics_items": True,
        "activity_bulk_aliases": False,
        "analytics_answer": "counts",
        "analytics_drop_last": 0,
        "analytics_odd_requests": 0,
        "dimensiondata_company_param": "any",
    }
    default_seed: Mapping[str, Any] = {"companies": 3, "endusers_per_company": 2, "users": 2}

    def seed_store(self, **options: Any) -> None:
        unknown = set(options) - set(self.default_seed)
        if unknown:
            known = sorted(self.default_seed)
            msg = f"unknown planhat seed options: {sorted(unknown)}; known: {known}"
            raise ValueError(msg)
        self.store = PlanhatStore(self.setting, self.now)
        self._window_start = -math.inf
        self._window_used = 0
        self._analytics_requests = 0
        seed_workspace(
            self.store, options["companies"], options["endusers_per_company"], options["users"]
        )

    def state(self) -> dict[str, Any]:
        counts: dict[str, Any] = {
            path: len(c.records) for path, c in self.store.collections.items()
        }
        counts["metric_points"] = self.store.metric_points_received
        counts["activities"] = self.store.activities_received
        return counts

    def records(self, model: str) -> list[dict[str, Any]]:
        """Copies of the stored records of `model` (or `metric_points`, `activities`)."""
        with self.lock:
            if model in ANALYTICS_STREAMS:
                return [dict(r) for r in getattr(self.store, model)]
            if model not in self.store.collections:
                known = sorted([*MODELS, *ANALYTICS_STREAMS])
                msg = f"unknown planhat model {model!r}; known: {known}"
                raise ValueError(msg)
            return [dict(r) for r in self.store.collections[model].records.values()]

    def record(self, model: str, key: str) -> dict[str, Any] | None:
        """A copy of one stored record by `_id`, `extid-<externalId>` or `srcid-<sourceId>`."""
        with self.lock:
            found = self.store.collections[model].get(key)
            return dict(found) if found is not None else None

    # -- cross-cutting: auth, rate limit, inspection -------------------------------------------

    def dispatch(self, request: Request) -> Response:
        if request.method == "GET" and request.path == "/__sandbox/state" and request.arg("model"):
            try:
                return json_response(self.records(request.arg("model") or ""))
            except ValueError as exc:
                return json_response({"error": str(exc)}, 404)
        response = super().dispatch(request)
        limit = self.setting("rate_limit_per_minute")
        if limit and self.setting("rate_limit_headers") and self._is_main_api(request):
            with self.lock:
                remaining = max(0, limit - self._window_used)
            response.headers.update(
                {"X-Rate-Limit-Limit": str(limit), "X-Rate-Limit-Remaining": str(remaining)}
            )
        return response

    def before_route(self, request: Request) -> Response | None:
        if not self._is_main_api(request):
            return None
        if self._permissions(request) is None:
            return text_response("Unauthorized", 401)
        return self._spend_rate_budget()

    @staticmethod
    def _is_main_api(request: Request) -> bool:
        if request.path.startswith("/__sandbox/"):
            return False
        return not (request.method == "POST" and _ANALYTICS_PATH.fullmatch(request.path))

    def _permissions(self, request: Request) -> Any:
        """The permissions of the request's token, or None when it carries no known token."""
        scheme, _, credentials = (request.headers.get("authorization") or "").partition(" ")
        token: str | None = None
        if scheme.lower() == "bearer":
            token = credentials.strip()
        elif scheme.lower() == "basic":
            try:
                user, colon, password = (
                    base64.b64decode(credentials.strip(), validate=True).decode().partition(":")
                )
            except (binascii.Error, UnicodeDecodeError):
                return None
            token = user if colon and not password else None
        return self.setting("tokens").get(token) if token else None

    def _may(self, request: Request, model: str, *, write: bool) -> bool:
        permissions = self._permissions(request)
        if isinstance(permissions, Mapping):
            permissions = permissions.get(model, permissions.get("*"))
        return permissions == "rw" or (permissions == "ro" and not write)

    def _spend_rate_budget(self) -> Response | None:
        """One call from the per-minute budget; 429 once it is spent."""
        limit = self.setting("rate_limit_per_minute")
        if not limit:
            return None
        now = self.now()
        with self.lock:
            if now - self._window_start >= 60:
                self._window_start, self._window_used = now, 0
            if self._window_used < limit:
                self._window_used += 1
                return None
            wait = math.ceil(self._window_start + 60 - now)
        response = text_response("Too many requests", 429)
        if self.setting("send_retry_after"):
            response.headers["Retry-After"] = str(max(1, wait))
        return response

    # -- main API ----------------------------------------------------------------------------

    @route("PUT", rf"/(?P<model>{_MODEL})")
    def bulk_upsert(self, request: Request) -> Response:
        path = request.path_params["model"]
        if not (MODELS[path].bulk and MODELS[path].writable):
            return json_response({"error": f"PUT /{path} (bulk upsert) is not supported"}, 405)
        try:
            items = request.json()
        except ValueError:
            return json_response({"error": "body is not valid JSON"}, 400)
        if not isinstance(items, list):
            return json_response({"error": "body must be a JSON array of objects"}, 400)
        limit = self.setting("bulk_max_items")
        if len(items) > limit:
            return json_response(
                {"error": f"too many items: {len(items)}; at most {limit} per request"}, 400
            )
        with self.lock:
            if not self._may(request, path, write=True):
                return json_response(
                    self.store.permission_denied(items, f"no write permission on {path}"), 403
                )
            status, envelope = self.store.bulk_upsert(path, items)
        return json_response(envelope, status)

    @route("POST", rf"/(?P<model>{_MODEL})")
    def create_record(self, request: Request) -> Response:
        path = request.path_params["model"]
        return self._write(request, path, lambda body: self.store.create(path, body))

    @route("PUT", rf"/(?P<model>{_MODEL})/(?P<key>[^/]+)")
    def update_record(self, request: Request) -> Response:
        path, key = request.path_params["model"], unquote(request.path_params["key"])
        return self._write(request, path, lambda body: self.store.update(path, key, body))

    @route("DELETE", rf"/(?P<model>{_MODEL})/(?P<key>[^/]+)")
    def delete_record(self, request: Request) -> Response:
        path, key = request.path_params["model"], unquote(request.path_params["key"])

        def delete(_: Any) -> dict[str, Any]:
            self.store.delete(path, key)
            return {"n": 1, "ok": 1, "deletedCount": 1}

        return self._write(request, path, delete, body=False)

    def _write(
        self,
        request: Request,
        path: str,
        action: Callable[[Any], dict[str, Any]],
        *,
        body: bool = True,
    ) -> Response:
        """A single-record write: 405 on read-only models, 403, 404, 400 with the reason, or 200."""
        if not MODELS[path].writable:
            return json_response({"error": f"{path} are read-only"}, 405)
        if not self._may(request, path, write=True):
            return json_response({"error": f"no write permission on {path}"}, 403)
        try:
            payload = request.json() if body else None
        except ValueError:
            return json_response({"error": "body is not valid JSON"}, 400)
        with self.lock:
            try:
                return json_response(dict(action(payload)))
            except NotFound as exc:
                return json_response({"error": f"{path} record not found: {exc}"}, 404)
            except Rejected as exc:
                return json_response({"error": str(exc)}, 400)

    @route("GET", rf"/(?P<model>{_MODEL})/(?P<key>[^/]+)")
    def get_record(self, request: Request) -> Response:
        path, key = request.path_params["model"], unquote(request.path_params["key"])
        if not self._may(request, path, write=False):
            return json_response({"error": f"no read permission on {path}"}, 403)
        found = self.record(path, key)
        if found is None:
            return json_response({"error": f"{path} record not found: {key}"}, 404)
        return json_response(found)

    @route("GET", rf"/(?P<model>{_MODEL})")
    def list_records(self, request: Request) -> Response:
        path = request.path_params["model"]
        model = MODELS[path]
        if not self._may(request, path, write=False):
            return json_response({"error": f"no read permission on {path}"}, 403)
        try:
            limit, offset = self._page(request, model.list_default_limit, self._list_max(model))
        except ValueError as exc:
            return json_response({"error": str(exc)}, 400)
        companies = (request.arg("companyId") or "").split(",")
        filters = {
            name: value for name in model.list_filters if (value := request.arg(name)) is not None
        }
        select = [name for name in (request.arg("select") or "").split(",") if name]
        with self.lock:
            rows = self.store.records(
                path, companies=companies, filters=filters, sort=request.arg("sort")
            )
            page = [_project(row, select) for row in islice(rows, offset, offset + limit)]
        return json_response(page)

    def _list_max(self, model: Model) -> int:
        return int(self.setting("list_max_limits").get(model.path, model.list_max_limit))

    def _page(self, request: Request, default: int, maximum: int | None) -> tuple[int, int]:
        """`limit` and `offset` from the query; raises ValueError naming the bad one."""
        values = []
        for name, fallback in (("limit", default), ("offset", 0)):
            raw = request.arg(name)
            if raw is None or raw == "":
                values.append(fallback)
                continue
            if not raw.isdigit():
                msg = f"{name} must be a non-negative integer, got {raw!r}"
                raise ValueError(msg)
            values.append(int(raw))
        limit, offset = values
        if maximum is not None and limit > maximum:
            if self.setting("list_limit_over_max") == "error":
                msg = f"limit must be at most {maximum}, got {limit}"
                raise ValueError(msg)
            limit = maximum
        return limit, offset

    @route("GET", r"/leancompanies")
    def lean_companies(self, request: Request) -> Response:
        """Every company's ids and name, filtered by `externalId`, `sourceId`, `status`; no cap."""
        if not self._may(request, "companies", write=False):
            return json_response({"error": "no read permission on companies"}, 403)
        try:
            limit, offset = self._page(request, 0, None)
        except ValueError as exc:
            return json_response({"error": str(exc)}, 400)
        filters = {
            n: value
            for n in ("externalId", "sourceId", "status")
            if (value := request.arg(n)) is not None
        }
        with self.lock:
            companies = self.store.companies
            rows: Iterable[dict[str, Any]] = companies.records.values()
            for name in ("externalId", "sourceId"):
                if name in filters:
                    rows = [companies.records[i] for i in companies.find(name, filters.pop(name))]
            rows = (r for r in rows if all(r.get(n) == v for n, v in filters.items()))
            page = [
                _project(r, _LEAN_FIELDS, every=True)
                for r in islice(rows, offset, offset + limit if limit else None)
            ]
        return json_response(page)

    @route("GET", r"/dimensiondata")
    def metric_points(self, request: Request) -> Response:
        """Stored metric points; `cid`/`cId` company, `dimid`, `from`/`to` day numbers."""
        if not self._may(request, "dimensiondata", write=False):
            return json_response({"error": "no read permission on dimensiondata"}, 403)
        try:
            limit, offset = self._page(request, _METRIC_LIST_DEFAULT, _METRIC_LIST_MAX)
            first, last = (_optional_int(request.arg(name), name) for name in ("from", "to"))
        except ValueError as exc:
            return json_response({"error": str(exc)}, 400)
        spelling = self.setting("dimensiondata_company_param")
        names = ("cid", "cId") if spelling == "any" else (spelling,)
        company = next((value for name in names if (value := request.arg(name))), None)
        with self.lock:
            points = self.store.metric_points_for(company, request.arg("dimid"), first, last)
            page = [_project(p, _METRIC_FIELDS) for p in islice(points, offset, offset + limit)]
        return json_response(page)

    # -- analytics ---------------------------------------------------------------------------

    @route("POST", r"/dimensiondata/(?P<tenant>[^/]+)")
    def push_metrics(self, request: Request) -> Response:
        return self._analytics(request, self.store.push_metrics)

    @route("POST", r"/analytics/(?P<tenant>[^/]+)")
    def track_activity(self, request: Request) -> Response:
        return self._analytics(request, self.store.track_activities)

    @route("POST", r"/analytics/bulk/(?P<tenant>[^/]+)")
    def track_activities(self, request: Request) -> Response:
        return self._analytics(request, lambda items: self.store.track_activities(items, bulk=True))

    def _analytics(self, request: Request, append: Callable[[list[Any]], list[Any]]) -> Response:
        """Always 200 `{processed, errors}` once the tenant is known and the body fits."""
        if request.path_params["tenant"] != self.setting("tenant_uuid"):
            return json_response({"error": "tenant not found"}, 404)
        limit = self.setting("analytics_max_body_bytes")
        if len(request.body) > limit:
            return text_response(
                f"Payload Too Large: {len(request.body)} bytes, at most {limit}", 413
            )
        try:
            body = request.json()
        except ValueError:
            return json_response({"error": "body is not valid JSON"}, 400)
        items = body if isinstance(body, list) else [body]
        with self.lock:
            self._analytics_requests += 1
            odd = self.setting("analytics_odd_requests")
            normal = bool(odd) and self._analytics_requests > odd
            drop = 0 if normal else max(0, int(self.setting("analytics_drop_last")))
            dropped = min(len(items), drop)
            errors = append(items[: len(items) - dropped])
        answer = "counts" if normal else self.setting("analytics_answer")
        if answer == "empty":
            return Response(200, b"", {}, "application/json")
        if answer == "no_processed":
            return json_response({"errors": errors})
        return json_response({"processed": len(items) - dropped, "errors": errors})


def _project(
    row: Mapping[str, Any], select: Iterable[str], *, every: bool = False
) -> dict[str, Any]:
    """A shallow copy of `row`, limited to `select` (and `_id`) when given; `every` keeps absent
    fields as null."""
    names = list(select)
    if not names:
        return dict(row)
    if every:
        return {name: row.get(name) for name in names}
    return {"_id": row["_id"], **{name: row[name] for name in names if name in row}}


def _optional_int(raw: str | None, name: str) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        msg = f"{name} must be an integer day number, got {raw!r}"
        raise ValueError(msg) from None
