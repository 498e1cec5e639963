"""The tap's settings, declared once (`Settings`: each setting's type, default and description,
from which `config_jsonschema`, `--about`, the README table and the Meltano definition come),
what is derived from them (the URLs, the parsed start date, the custom streams, the protected
field names, the retry policy), and the checks JSON Schema cannot express (`Settings.problems`).

Every problem is reported with the name of the setting to fix, all at once, as a
`ConfigValidationError` (the SDK's CLI prints each error and exits 1).
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jsonpath_ng.exceptions import JsonPathLexerError, JsonPathParserError
from jsonpath_ng.ext import parse as parse_jsonpath
from planful_plansource_planhat_core.declared import FastPathSettings, RetrySettings, setting
from planful_plansource_planhat_core.retry import RetryPolicy
from planful_plansource_planhat_core.run_report import report_properties
from planful_plansource_planhat_core.settings import Alias
from planful_plansource_planhat_core.urls import base_url_problem, is_loopback
from singer_sdk import typing as th
from singer_sdk.typing import DEFAULT_JSONSCHEMA_VALIDATOR

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

CUSTOM_STREAM = th.ObjectType(
    th.Property(
        "name", th.StringType, required=True, description="Stream name (lower case, digits, `_`)."
    ),
    th.Property(
        "path",
        th.StringType,
        required=True,
        description="Path under `/admin/v2`, e.g. `/content_blocks` or `/subscriber/meta`.",
    ),
    th.Property(
        "params", th.ObjectType(additional_properties=True), description="Fixed query parameters."
    ),
    th.Property(
        "primary_keys", th.ArrayType(th.StringType), description="Fields that identify a record."
    ),
    th.Property(
        "records_path",
        th.StringType,
        default="$.data",
        description=(
            "JSONPath to the records in the response; whatever it points at is read as a list, an "
            "object holding a list, or one record."
        ),
    ),
    th.Property(
        "paginate",
        th.BooleanType,
        default=True,
        description="Send `page`/`per_page` and read every page.",
    ),
    th.Property(
        "schema",
        th.ObjectType(additional_properties=True),
        description="Optional JSON Schema of a record; undeclared fields pass through.",
    ),
    additional_properties=False,
)


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


@dataclass(frozen=True, kw_only=True)
class Settings(FastPathSettings, RetrySettings):
    """Every setting of the tap, read from a validated config (`Settings.read`)."""

    retry_defaults: ClassVar[RetryPolicy] = RETRY_DEFAULTS
    retry_service: ClassVar[str] = "PlanSource"

    environment: str = setting(
        th.StringType,
        default="production",
        allowed_values=ENVIRONMENT_HOSTS,
        description=(
            "`production` (api.plansource.com) or `development` "
            "(partner-dev-api.plansource.com, PlanSource's Partner-Dev); credentials differ "
            "per environment. The Admin API is `https://<host>/admin/v2`, the token endpoint "
            "`/oauth/v2/token` on the same host."
        ),
    )
    api_url: str | None = setting(
        th.StringType,
        description=(
            "Override of the Admin API base URL (ending in `/admin/v2`), e.g. for a proxy or "
            "the local sandbox; the token endpoint is `/oauth/v2/token` on the same host. "
            "https only (plain http on a loopback host only), no credentials, query or "
            "fragment."
        ),
    )
    client_id: str | None = setting(
        th.StringType,
        required=True,
        description=(
            "The API user's client id (System Administration → System → API Users); the JWT "
            "`sub` and the form's `client_id`."
        ),
    )
    client_secret: str | None = setting(
        th.StringType,
        required=True,
        secret=True,
        description=(
            "The API user's client secret; signs the token request's JWT assertion when "
            "`client_assertion_algorithm` is HS256."
        ),
    )
    client_assertion_algorithm: str = setting(
        th.StringType,
        default="HS256",
        allowed_values=ASSERTION_ALGORITHMS,
        description=(
            "How the token request's JWT assertion is signed: `HS256` with `client_secret`, "
            "or `RS256`/`ES256` with `private_key` (PlanSource holds the public key)."
        ),
    )
    private_key: str | None = setting(
        th.StringType,
        secret=True,
        description=(
            "Unencrypted PEM private key (RSA for RS256, EC P-256 for ES256) that signs the "
            "assertion; its type and curve are checked at start, and it is never printed."
        ),
    )
    key_id: str | None = setting(
        th.StringType,
        description="Optional `kid` header of the assertion, naming the key PlanSource holds.",
    )
    username: str | None = setting(
        th.StringType,
        required=True,
        description="The PlanSource admin user the API acts as (its `logged_in_user`).",
    )
    username_placement: str = setting(
        th.StringType,
        default="claim",
        allowed_values=USERNAME_PLACEMENTS,
        description=(
            "Where the token request carries `logged_in_user`: a JWT `claim` (default), a "
            "`form` field, or `both` (PlanSource's guide is not explicit). Change only if "
            "PlanSource support says so."
        ),
    )
    plan_years: list[str] = setting(
        th.ArrayType(th.StringType(allowed_values=list(PLAN_YEAR_SELECTORS))),
        default=["current", "next"],
        description=(
            "Plan years the coverage streams read (one partition each): `previous`, `current`, "
            "`next`."
        ),
    )
    include_test_employees: bool = setting(
        th.BooleanType,
        default=False,
        description="Include PlanSource test employees (hidden by the API by default).",
    )
    page_size: int = setting(
        th.IntegerType(minimum=1, maximum=MAX_PAGE_SIZE),
        default=MAX_PAGE_SIZE,
        description=f"Records per page (`per_page`), at most {MAX_PAGE_SIZE}.",
    )
    start_date: str | None = setting(
        th.DateTimeType,
        description=(
            "Earliest change read by the incremental streams (payroll, ACA) on the first run; "
            "later runs start from the bookmark. Without it, payroll reads changes since 1 "
            "January of the previous year and ACA reads every record. An ISO 8601 date or "
            "date-time; anything else is refused at start, and a future one is warned about "
            "(those streams then read nothing newer than it)."
        ),
    )
    payroll_mode: str = setting(
        th.StringType,
        default="per_subscriber",
        allowed_values=PAYROLL_MODES,
        description=(
            "`per_subscriber` (PlanSource's recommendation): one request per subscriber "
            "(`/payroll_coverages_subscriber/{id}`, `prefetch_pages + 1` in flight); `bulk`: "
            "pages of `/payroll_coverages_subscribers` for the whole organization (fewer "
            "requests, discouraged by PlanSource)."
        ),
    )
    payroll_lookback_days: int = setting(
        th.IntegerType(minimum=0),
        default=7,
        description="Days before the bookmark that payroll re-reads, for back-dated changes.",
    )
    aca_overlap_minutes: int = setting(
        th.IntegerType(minimum=0),
        default=60,
        description=(
            "Minutes added to the `changes_since` window of the ACA streams and "
            "`administrators`, for clock differences."
        ),
    )
    sensitive_fields: str = setting(
        th.StringType,
        default="mask",
        allowed_values=SENSITIVE_MODES,
        description=(
            "What to do with SSNs and the other fields in `sensitive_field_names`, at any "
            "depth: `keep`, `mask` (all but the last four characters), `hash` (HMAC-SHA256 "
            "with `sensitive_hash_salt`) or `drop`."
        ),
    )
    sensitive_field_names: list[str] = setting(
        th.ArrayType(th.StringType),
        default=list(SSN_FIELD_NAMES),
        description=(
            "Field names protected by `sensitive_fields`, besides `ssn` and any `*_ssn` which "
            "are always protected; e.g. `birthdate`, `email`, `home_phone`, `tax_id`."
        ),
    )
    protect_ssn_shaped_values: bool = setting(
        th.BooleanType,
        default=True,
        description=(
            "Protect with `sensitive_fields` any field, whatever its name and meta "
            "`data_type`, from its first string value shaped like an SSN (`123-45-6789` or "
            "nine digits), and name it in a warning. Primary keys are exempt."
        ),
    )
    sensitive_hash_salt: str | None = setting(
        th.StringType,
        secret=True,
        description=(
            "Key of the HMAC-SHA256 that `sensitive_fields: hash` uses (required in that mode)."
        ),
    )
    discover_tenant_fields: bool = setting(
        th.BooleanType,
        default=True,
        description=(
            "At discovery, read `/subscriber/meta` and `/dependent/meta` and declare in the "
            "`subscribers` and `dependents` schemas the tenant's fields the built-in schemas "
            "lack (typed from their `data_type`); before a sync, learn which fields they "
            "type `ssn`, so `sensitive_fields` protects them. `false` skips both lookups."
        ),
    )
    custom_streams: list[dict[str, Any]] | None = setting(
        th.ArrayType(CUSTOM_STREAM),
        description=(
            "Extra streams over any GET endpoint of the Admin API (see the README's Custom "
            "streams)."
        ),
    )
    user_agent: str | None = setting(
        th.StringType,
        description="User-Agent header sent to PlanSource (default tap-plansource/<version>).",
    )
    prefetch_pages: int = setting(
        th.IntegerType(minimum=0, maximum=8),
        default=2,
        description=(
            "Pages requested ahead while the current page's records are processed (requests "
            "in flight per stream); 0 reads strictly one page at a time."
        ),
    )

    @classmethod
    def schema(cls) -> dict[str, Any]:
        """The declared settings, then the run report's and the old names of retry settings."""
        schema = super().schema()
        appended = th.PropertiesList(
            *report_properties(),
            ALIASES[0].property(th.IntegerType(minimum=0)),
            ALIASES[1].property(th.NumberType(minimum=0)),
        ).to_dict()
        schema["properties"].update(appended["properties"])
        return schema

    # -- derived --------------------------------------------------------------------------

    @cached_property
    def _url(self) -> tuple[str, list[str]]:
        return _api_url(self.environment, self.api_url)

    @property
    def admin_api_url(self) -> str:
        """The Admin API base URL: from `environment`, or `api_url` (checked in `problems`)."""
        return self._url[0]

    @property
    def token_url(self) -> str:
        api_url = self.admin_api_url
        origin = api_url[: -len(API_PATH)] if api_url.endswith(API_PATH) else api_url
        return origin + TOKEN_PATH

    @property
    def token_audience(self) -> str:
        return urlsplit(self.admin_api_url).hostname or ""

    @property
    def plan_years_read(self) -> tuple[str, ...]:
        """`plan_years` in order, each once."""
        return tuple(dict.fromkeys(self.plan_years))

    @cached_property
    def start(self) -> datetime.datetime | None:
        """`start_date` as an aware date-time (UTC when no offset is given); None when unset
        or not a date (then `problems` says so)."""
        return _start_date(self.start_date)[0]

    @cached_property
    def custom_stream_definitions(self) -> tuple[CustomStreamDefinition, ...]:
        return _custom_streams(self.custom_streams or [])[0]

    @property
    def protected_field_names(self) -> frozenset[str]:
        """Field names `sensitive_fields` protects (lower case), the SSN names always."""
        return frozenset(n.lower() for n in (*SSN_FIELD_NAMES, *self.sensitive_field_names))

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

    # -- what the schema cannot say --------------------------------------------------------

    def problems(self, reserved_stream_names: Collection[str] = ()) -> list[str]:
        """The URL policy, the start date, the salt a hash needs, the signing key, and the
        custom streams (their names not among `reserved_stream_names`)."""
        errors = list(self._url[1])
        if not self.plan_years:
            errors.append(
                f"`plan_years` must list some of {list(PLAN_YEAR_SELECTORS)}, "
                f"got {list(self.plan_years)!r}"
            )
        if self.sensitive_fields == "hash" and not self.sensitive_hash_salt:
            errors.append(
                "`sensitive_hash_salt` is required when `sensitive_fields` is `hash`: an "
                "unsalted hash of a nine-digit SSN can be reversed by trying every number"
            )
        errors += _custom_streams(self.custom_streams or [], reserved_stream_names)[1]
        errors += _start_date(self.start_date)[1]
        algorithm = self.client_assertion_algorithm
        if algorithm != "HS256":
            key_problem = signing_key_problem(algorithm, self.private_key)
            if key_problem:
                errors.append(f"`private_key`: {key_problem}")
        return errors


def schema_problems(config: Mapping[str, Any], schema: dict[str, Any]) -> list[str]:
    """What `schema` finds wrong in `config`, worded as singer-sdk words it, but for settings
    left unset. singer-sdk checks the schema before a sync, and before a discovery not at all
    (which needs no credentials); the URL and the custom streams a discovery reads come from
    settings the schema checks, so their problems stop it all the same."""
    found = DEFAULT_JSONSCHEMA_VALIDATOR(schema).iter_errors(dict(config))
    return [
        error.message
        + (f" in config[{']['.join(repr(i) for i in error.path)}]" if error.path else "")
        for error in found
        if error.validator != "required" or error.path
    ]


def _api_url(environment: str, override: str | None) -> tuple[str, list[str]]:
    """The Admin API base URL: from `environment`, or `api_url` checked not to leak
    credentials; and the problems of `api_url` (then the URL is empty)."""
    if not override:
        return f"https://{ENVIRONMENT_HOSTS[environment]}{API_PATH}", []
    problem = base_url_problem(str(override))
    if problem:
        return "", [f"`api_url` {problem}"]
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
        return "", ["`api_url` is not accepted: " + "; ".join(problems)]
    base = path if path.endswith(API_PATH) else path + API_PATH
    return f"{parts.scheme}://{parts.netloc}{base}", []


def _custom_streams(
    definitions: list[dict[str, Any]], reserved: Collection[str] = ()
) -> tuple[tuple[CustomStreamDefinition, ...], list[str]]:
    """The well-formed definitions, and one problem per flaw the schema cannot see (names,
    paths, parameter values, JSONPath, schema shape)."""
    streams: list[CustomStreamDefinition] = []
    errors: list[str] = []
    seen: set[str] = set(reserved)
    for index, item in enumerate(definitions):
        where = f"`custom_streams[{index}]`"
        name, path = item["name"], item["path"]
        problems = []
        if not _STREAM_NAME.match(name):
            problems.append(
                f"`name` must be lower-case letters, digits and underscores, got {name!r}"
            )
        elif name in seen:
            problems.append(f"`name` {name!r} is already used by another stream")
        if not _CUSTOM_PATH.match(path) or ".." in path or "//" in path:
            problems.append(
                f"`path` must be a path under {API_PATH} such as `/subscriber/meta`, without host, "
                f"query string or `..`, got {path!r}"
            )
        params = item.get("params") or {}
        if not all(isinstance(v, str | int | float | bool) for v in params.values()):
            problems.append("`params` must map query parameter names to plain values")
        records_path = item.get("records_path") or "$.data"
        try:
            parse_jsonpath(records_path)
        except (JsonPathLexerError, JsonPathParserError, TypeError, ValueError) as exc:
            problems.append(f"`records_path` {records_path!r} is not a JSONPath expression ({exc})")
        schema = item.get("schema")
        if schema is not None and not isinstance(schema.get("properties", {}), dict):
            problems.append("`schema` must be a JSON Schema object (with `properties`)")
        if problems:
            errors.extend(f"{where}: {problem}" for problem in problems)
            continue
        seen.add(name)
        streams.append(
            CustomStreamDefinition(
                name=name,
                path=path.rstrip("/") or "/",
                params=dict(params),
                primary_keys=tuple(item.get("primary_keys") or ()),
                records_path=records_path,
                paginate=bool(item.get("paginate", True)),
                schema=schema,
            )
        )
    return tuple(streams), errors


def _start_date(value: str | None) -> tuple[datetime.datetime | None, list[str]]:
    """`start_date` as an aware date-time (UTC when no offset is given), or why it is not one."""
    if value is None or value == "":
        return None, []
    try:
        moment = datetime.datetime.fromisoformat(str(value).strip())
    except ValueError:
        return None, [
            f"`start_date` must be an ISO 8601 date or date-time such as 2024-01-01 or "
            f"2024-01-01T00:00:00Z, got {value!r}"
        ]
    return (moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)), []


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
