"""The tap's settings: defaults, the checks JSON Schema cannot express, and the derived URLs.

Every problem is reported with the name of the setting to fix, all at once, as a
`ConfigValidationError` (the SDK's CLI prints each error and exits 1).
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jsonpath_ng.exceptions import JsonPathLexerError, JsonPathParserError
from jsonpath_ng.ext import parse as parse_jsonpath
from planful_plansource_planhat_core.redact import Redactor
from planful_plansource_planhat_core.retry import RetryPolicy
from planful_plansource_planhat_core.settings import Alias
from planful_plansource_planhat_core.urls import base_url_problem, is_loopback
from singer_sdk.exceptions import ConfigValidationError

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping

ENVIRONMENT_HOSTS = {
    "production": "api.plansource.com",
    "development": "partner-dev-api.plansource.com",
}
API_PATH = "/admin/v2"
TOKEN_PATH = "/oauth/v2/token"  # noqa: S105 - a URL path, not a password
PLAN_YEAR_SELECTORS = ("previous", "current", "next")
SENSITIVE_MODES = ("keep", "mask", "hash", "drop")
USERNAME_PLACEMENTS = ("claim", "form", "both")
PAYROLL_MODES = ("per_subscriber", "bulk")
# JWT client assertion algorithms: HMAC with the client secret, or a private key (RSA, EC P-256).
ASSERTION_ALGORITHMS = ("HS256", "RS256", "ES256")
MAX_PAGE_SIZE = 500
# SSNs as PlanSource names them on subscribers, dependents, payroll, EOI, ACA and survey answers.
SSN_FIELD_NAMES = ("ssn", "subscriber_ssn", "dependent_ssn")

DEFAULTS: dict[str, Any] = {
    "environment": "production",
    "username_placement": "claim",
    "plan_years": ["current", "next"],
    "include_test_employees": False,
    "page_size": MAX_PAGE_SIZE,
    "payroll_lookback_days": 7,
    "aca_overlap_minutes": 60,
    "sensitive_fields": "mask",
    "sensitive_field_names": list(SSN_FIELD_NAMES),
    "prefetch_pages": 2,
    "payroll_mode": "per_subscriber",
    "client_assertion_algorithm": "HS256",
    "discover_tenant_fields": True,
    "protect_ssn_shaped_values": True,
}
RETRY_DEFAULTS = RetryPolicy(max_tries=6, initial_wait=2.0, max_wait=60.0, timeout=120)
# The names of the retry settings before the three plugins shared one vocabulary.
ALIASES = (
    Alias("max_retries", "retry_max_tries", lambda retries: int(retries) + 1, " plus one"),
    Alias("retry_initial_delay", "retry_initial_wait"),
)

_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)
_STREAM_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_CUSTOM_PATH = re.compile(r"^/[A-Za-z0-9_\-./]*$")


@dataclass(frozen=True)
class CustomStreamDefinition:
    """A user-defined stream over any GET endpoint of the Admin API (`custom_streams`)."""

    name: str
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    primary_keys: tuple[str, ...] = ()
    records_path: str = "$.data"
    paginate: bool = True
    schema: dict[str, Any] | None = None


@dataclass(frozen=True)
class Settings:
    """The validated settings, with defaults applied and URLs derived."""

    api_url: str
    token_url: str
    token_audience: str
    client_id: str
    client_secret: str = field(repr=False)
    client_assertion_algorithm: str
    private_key: str | None = field(repr=False)
    key_id: str | None
    username: str
    username_placement: str
    plan_years: tuple[str, ...]
    include_test_employees: bool
    page_size: int
    start_date: datetime.datetime | None
    payroll_mode: str
    payroll_lookback_days: int
    aca_overlap_minutes: int
    sensitive_mode: str
    sensitive_field_names: frozenset[str]
    sensitive_hash_salt: str | None = field(repr=False)
    custom_streams: tuple[CustomStreamDefinition, ...]
    retry: RetryPolicy
    prefetch_pages: int
    discover_tenant_fields: bool = True
    protect_ssn_shaped_values: bool = True

    @property
    def request_timeout(self) -> float:
        """Seconds to wait for one answer."""
        return self.retry.timeout

    @property
    def secrets(self) -> tuple[str, ...]:
        """Setting values that must never be printed (see `Redactor`)."""
        values = (self.client_secret, self.sensitive_hash_salt, self.private_key)
        return tuple(v for v in values if v)

    def missing_credentials(self) -> list[str]:
        """The credential settings still empty (discovery does not require them)."""
        signer = "client_secret" if self.client_assertion_algorithm == "HS256" else "private_key"
        values = {
            "client_id": self.client_id,
            signer: self.client_secret if signer == "client_secret" else self.private_key,
            "username": self.username,
        }
        return [f"`{name}`" for name, value in values.items() if not value]

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], reserved_stream_names: Collection[str] = ()
    ) -> Settings:
        """Apply defaults and check what the config schema cannot (URLs, custom streams, salts)."""
        values = {**DEFAULTS, **{k: v for k, v in config.items() if v is not None}}
        errors: list[str] = []

        api_url = _api_url(values, errors)
        origin = api_url[: -len(API_PATH)] if api_url.endswith(API_PATH) else api_url
        page_size = values["page_size"]
        if not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE_SIZE:
            errors.append(
                f"`page_size` must be an integer from 1 to {MAX_PAGE_SIZE} (PlanSource's maximum), "
                f"got {page_size!r}"
            )
        plan_years = tuple(values["plan_years"])
        unknown_years = [y for y in plan_years if y not in PLAN_YEAR_SELECTORS]
        if unknown_years or not plan_years:
            errors.append(
                f"`plan_years` must list some of {list(PLAN_YEAR_SELECTORS)}, "
                f"got {list(plan_years)!r}"
            )
        mode = values["sensitive_fields"]
        if mode not in SENSITIVE_MODES:
            errors.append(
                f"`sensitive_fields` must be one of {list(SENSITIVE_MODES)}, got {mode!r}"
            )
        salt = values.get("sensitive_hash_salt") or None
        if mode == "hash" and not salt:
            errors.append(
                "`sensitive_hash_salt` is required when `sensitive_fields` is `hash`: an "
                "unsalted hash of a nine-digit SSN can be reversed by trying every number"
            )
        if values["username_placement"] not in USERNAME_PLACEMENTS:
            errors.append(
                f"`username_placement` must be one of {list(USERNAME_PLACEMENTS)}, "
                f"got {values['username_placement']!r}"
            )
        for name in ("payroll_lookback_days", "aca_overlap_minutes", "prefetch_pages"):
            if not isinstance(values[name], int) or values[name] < 0:
                errors.append(
                    f"`{name}` must be a whole number of at least 0, got {values[name]!r}"
                )
        retry = RetryPolicy.from_config(values, RETRY_DEFAULTS)
        if retry.timeout <= 0:
            errors.append(
                f"`request_timeout` must be a number of seconds above 0, got {retry.timeout}"
            )
        custom_streams = _custom_streams(
            values.get("custom_streams") or [], set(reserved_stream_names), errors
        )
        payroll_mode = values["payroll_mode"]
        if payroll_mode not in PAYROLL_MODES:
            errors.append(
                f"`payroll_mode` must be one of {list(PAYROLL_MODES)}, got {payroll_mode!r}"
            )
        start_date = _start_date(values.get("start_date"), errors)
        algorithm = values["client_assertion_algorithm"]
        private_key = values.get("private_key") or None
        if algorithm not in ASSERTION_ALGORITHMS:
            errors.append(
                f"`client_assertion_algorithm` must be one of {list(ASSERTION_ALGORITHMS)}, "
                f"got {algorithm!r}"
            )
        elif algorithm != "HS256":
            key_problem = signing_key_problem(algorithm, private_key)
            if key_problem:
                errors.append(f"`private_key`: {key_problem}")

        if errors:
            summary = "Config validation failed: " + "; ".join(errors)
            raise ConfigValidationError(summary, errors=errors)
        return cls(
            api_url=api_url,
            token_url=origin + TOKEN_PATH,
            token_audience=urlsplit(api_url).hostname or "",
            client_id=values.get("client_id", ""),
            client_secret=values.get("client_secret", ""),
            client_assertion_algorithm=algorithm,
            private_key=private_key,
            key_id=values.get("key_id") or None,
            username=values.get("username", ""),
            username_placement=values["username_placement"],
            plan_years=tuple(dict.fromkeys(plan_years)),
            include_test_employees=bool(values["include_test_employees"]),
            page_size=page_size,
            start_date=start_date,
            payroll_mode=payroll_mode,
            payroll_lookback_days=values["payroll_lookback_days"],
            aca_overlap_minutes=values["aca_overlap_minutes"],
            sensitive_mode=mode,
            sensitive_field_names=frozenset(
                n.lower() for n in (*SSN_FIELD_NAMES, *values["sensitive_field_names"])
            ),
            sensitive_hash_salt=salt,
            custom_streams=custom_streams,
            retry=retry,
            prefetch_pages=values["prefetch_pages"],
            discover_tenant_fields=bool(values["discover_tenant_fields"]),
            protect_ssn_shaped_values=bool(values["protect_ssn_shaped_values"]),
        )


def _api_url(values: Mapping[str, Any], errors: list[str]) -> str:
    """The Admin API base URL: from `environment`, or `api_url` checked not to leak credentials."""
    environment = values["environment"]
    if environment not in ENVIRONMENT_HOSTS:
        errors.append(
            f"`environment` must be one of {list(ENVIRONMENT_HOSTS)}, got {environment!r}"
        )
        environment = "production"
    override = values.get("api_url")
    if not override:
        return f"https://{ENVIRONMENT_HOSTS[environment]}{API_PATH}"
    problem = base_url_problem(str(override))
    if problem:
        errors.append(f"`api_url` {problem}")
        return ""
    parts = urlsplit(str(override).strip())
    host = parts.hostname or ""
    port_ok = parts.port is None or 0 < parts.port < 65536
    problems = []
    if not (_HOSTNAME.match(host) or is_loopback(host)) or not port_ok:
        problems.append("give a plain host name")
    path = parts.path.rstrip("/")
    if path not in {"", API_PATH} and not path.endswith(API_PATH):
        problems.append(f"the path must end with {API_PATH}")
    if problems:
        errors.append("`api_url` is not accepted: " + "; ".join(problems))
        return ""
    return f"{parts.scheme}://{parts.netloc}{path if path.endswith(API_PATH) else path + API_PATH}"


def _custom_streams(
    definitions: Any, reserved: set[str], errors: list[str]
) -> tuple[CustomStreamDefinition, ...]:
    if not isinstance(definitions, list):
        errors.append("`custom_streams` must be a list of stream definitions")
        return ()
    streams: list[CustomStreamDefinition] = []
    seen: set[str] = set(reserved)
    for index, item in enumerate(definitions):
        where = f"`custom_streams[{index}]`"
        if not isinstance(item, dict):
            errors.append(f"{where} must be an object with at least `name` and `path`")
            continue
        name, path = item.get("name"), item.get("path")
        problems = []
        if not isinstance(name, str) or not _STREAM_NAME.match(name):
            problems.append(
                f"`name` must be lower-case letters, digits and underscores, got {name!r}"
            )
        elif name in seen:
            problems.append(f"`name` {name!r} is already used by another stream")
        if (
            not isinstance(path, str)
            or not _CUSTOM_PATH.match(path)
            or ".." in path
            or "//" in path
        ):
            problems.append(
                f"`path` must be a path under {API_PATH} such as `/subscriber/meta`, without host, "
                f"query string or `..`, got {path!r}"
            )
        params = item.get("params") or {}
        if not isinstance(params, dict) or not all(
            isinstance(v, str | int | float | bool) for v in params.values()
        ):
            problems.append("`params` must map query parameter names to plain values")
        keys = item.get("primary_keys") or []
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            problems.append("`primary_keys` must be a list of field names")
        records_path = item.get("records_path") or "$.data"
        try:
            parse_jsonpath(records_path)
        except (JsonPathLexerError, JsonPathParserError, TypeError, ValueError) as exc:
            problems.append(f"`records_path` {records_path!r} is not a JSONPath expression ({exc})")
        schema = item.get("schema")
        if schema is not None and not (
            isinstance(schema, dict) and isinstance(schema.get("properties", {}), dict)
        ):
            problems.append("`schema` must be a JSON Schema object (with `properties`)")
        unknown = set(item) - {
            "name",
            "path",
            "params",
            "primary_keys",
            "records_path",
            "paginate",
            "schema",
        }
        if unknown:
            problems.append(f"unknown keys {sorted(unknown)}")
        if problems:
            errors.extend(f"{where}: {problem}" for problem in problems)
            continue
        assert isinstance(name, str)
        assert isinstance(path, str)
        seen.add(name)
        streams.append(
            CustomStreamDefinition(
                name=name,
                path=path.rstrip("/") or "/",
                params=dict(params),
                primary_keys=tuple(keys),
                records_path=records_path,
                paginate=bool(item.get("paginate", True)),
                schema=schema,
            )
        )
    return tuple(streams)


def _start_date(value: Any, errors: list[str]) -> datetime.datetime | None:
    """`start_date` as an aware date-time (UTC when no offset is given)."""
    if value is None or value == "":
        return None
    try:
        moment = datetime.datetime.fromisoformat(str(value).strip())
    except ValueError:
        errors.append(
            f"`start_date` must be an ISO 8601 date or date-time such as 2024-01-01 or "
            f"2024-01-01T00:00:00Z, got {value!r}"
        )
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


def signing_key_problem(algorithm: str, private_key: str | None) -> str | None:
    """Why `private_key` cannot sign `algorithm` assertions (None when it can); never quotes it."""
    if not private_key:
        return f"required with `client_assertion_algorithm: {algorithm}` (a PEM private key)"
    try:
        key = serialization.load_pem_private_key(private_key.encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return (
            "is not an unencrypted PEM private key (expected `-----BEGIN PRIVATE KEY-----` or "
            "`-----BEGIN RSA/EC PRIVATE KEY-----`)"
        )
    if algorithm == "RS256" and not isinstance(key, rsa.RSAPrivateKey):
        return "RS256 needs an RSA private key"
    if algorithm == "ES256" and not (
        isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    ):
        return "ES256 needs an EC private key on the P-256 curve"
    return None


__all__ = ["Redactor"]  # the core's, re-exported for the tap
