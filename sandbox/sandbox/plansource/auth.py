"""PlanSource's token endpoint and bearer checks: OAuth 2.0 client credentials with a signed JWT
client assertion (contract §1.3, §8.2), and the Ruby `jwt`-style messages for bad access tokens.

Where the contract marks a message as a guess, the wording here is ours; the verified ones
("token has expired", "Not enough or too many segments", "Signature has expired") are exact.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import jwt

if TYPE_CHECKING:
    from collections.abc import Mapping

    from jwt.types import Options

    from sandbox.core import Request

GRANT_TYPE = "client_credentials"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SCOPE = "admin_api_v2"
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
ACCESS_TOKEN_ISSUER = "plansource-sandbox"
# PyJWT checks times against the wall clock; the emulator checks them against its own clock.
CLOCK_FREE: Options = {"verify_exp": False, "verify_iat": False, "verify_nbf": False}


class TokenError(Exception):
    """A refused token request: OAuth `error` code and `error_description`."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


class BearerError(Exception):
    """A refused API call: HTTP status, PlanSource message and optional `error_code`."""

    def __init__(self, status: int, message: str, error_code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_code = error_code


@dataclass(frozen=True)
class Caller:
    """Who an access token speaks for."""

    client_id: str
    logged_in_user: str
    organization_ids: tuple[int, ...]


def token_form(request: Request) -> dict[str, str]:
    """The token request's parameters: form-encoded as documented, JSON tolerated."""
    content_type = (request.headers.get("content-type") or "").lower()
    if "json" in content_type:
        try:
            body = request.json()
        except ValueError:
            raise TokenError("invalid_request", "request body is not valid JSON") from None
        return {str(k): str(v) for k, v in (body or {}).items()} if isinstance(body, dict) else {}
    pairs = parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in pairs.items()}


def request_host(request: Request) -> str:
    """The host name the client called, without port (`[::1]:80` → `::1`)."""
    host = request.headers.get("host") or ""
    if host.startswith("["):
        return host[1 : host.find("]")]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class TokenIssuer:
    """Verifies client assertions and issues/validates the emulator's own access tokens."""

    def __init__(self) -> None:
        self.signing_key = secrets.token_bytes(32)
        self.seen_jti: dict[str, float] = {}

    def issue(
        self, form: Mapping[str, str], settings: Mapping[str, Any], host: str, now: float
    ) -> dict[str, Any]:
        """Check one token request (§8.2) and return the token response body."""
        if form.get("grant_type") != GRANT_TYPE:
            raise TokenError("unsupported_grant_type", f"grant_type must be {GRANT_TYPE}")
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise TokenError("invalid_request", f"client_assertion_type must be {ASSERTION_TYPE}")
        assertion = form.get("client_assertion")
        if not assertion:
            raise TokenError("invalid_request", "client_assertion is required")
        if settings["require_code_param"] and not form.get("code"):
            raise TokenError("invalid_request", "code is required")
        try:
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise TokenError("invalid_request", "client_assertion is not a valid JWT") from None
        client_id = unverified.get("sub")
        clients = settings["clients"]
        if not isinstance(client_id, str) or client_id not in clients:
            raise TokenError(
                "invalid_client", "unknown client: sub must be the API user's client_id"
            )
        if form.get("client_id") and form["client_id"] != client_id:
            raise TokenError("invalid_client", "client_id does not match the assertion's sub")
        client = clients[client_id]
        key_id = client.get("key_id")
        if key_id and jwt.get_unverified_header(assertion).get("kid") != key_id:
            raise TokenError("invalid_client", "kid does not name this client's key")
        claims = self._verified_claims(assertion, client, settings["jwt_alg"])
        self._check_claims(
            claims=claims, form=form, client=client, settings=settings, host=host, now=now
        )
        token_ttl = int(settings["token_ttl_seconds"])
        access_claims = {
            "iss": ACCESS_TOKEN_ISSUER,
            "sub": client_id,
            "logged_in_user": claims.get("logged_in_user")
            or form.get("logged_in_user")
            or client["logged_in_user"],
            "scope": SCOPE,
            "iat": int(now),
            "exp": int(now) + token_ttl,
            "jti": secrets.token_hex(8),
        }
        return {
            "access_token": jwt.encode(access_claims, self.signing_key, algorithm="HS256"),
            "token_type": "Bearer",
            "expires_in": token_ttl,
            "scope": SCOPE,
        }

    @staticmethod
    def _verified_claims(
        assertion: str, client: Mapping[str, Any], algorithm: str
    ) -> dict[str, Any]:
        key = (
            client.get("client_secret") if algorithm.startswith("HS") else client.get("public_key")
        )
        if not key:
            raise TokenError("invalid_client", f"client has no key for {algorithm}")
        try:
            return jwt.decode(
                assertion,
                key,
                algorithms=[algorithm],
                options={**CLOCK_FREE, "verify_aud": False},
            )
        except jwt.InvalidAlgorithmError:
            raise TokenError(
                "invalid_client", f"client_assertion must be signed with {algorithm}"
            ) from None
        except jwt.PyJWTError:
            raise TokenError("invalid_client", "client_assertion signature is invalid") from None

    def _check_claims(
        self,
        *,
        claims: Mapping[str, Any],
        form: Mapping[str, str],
        client: Mapping[str, Any],
        settings: Mapping[str, Any],
        host: str,
        now: float,
    ) -> None:
        if not claims.get("iss"):
            raise TokenError("invalid_request", "iss is required")
        audiences = claims.get("aud")
        audiences = [audiences] if isinstance(audiences, str) else audiences or []
        accepted = set(settings["environment_hosts"])
        if settings["accept_local_aud"]:
            accepted |= LOCAL_HOSTS | {host}
        if not any(aud in accepted for aud in audiences):
            raise TokenError(
                "invalid_client", "aud must be the host name of the authorization server"
            )
        exp = claims.get("exp")
        if not isinstance(exp, int | float):
            raise TokenError("invalid_request", "exp is required")
        if exp + settings["assertion_leeway_seconds"] < now:
            raise TokenError("invalid_request", "token has expired")
        jti = claims.get("jti")
        if not jti:
            raise TokenError("invalid_request", "jti is required")
        self.seen_jti = {seen: until for seen, until in self.seen_jti.items() if until >= now}
        if jti in self.seen_jti:
            raise TokenError("invalid_grant", "jti has already been used")
        if settings["require_scope"]:
            scopes = str(
                claims.get("scopes") or claims.get("scope") or form.get("scope") or ""
            ).split()
            if SCOPE not in scopes:
                raise TokenError("invalid_scope", f"scopes must include {SCOPE}")
        user = claims.get("logged_in_user") or form.get("logged_in_user")
        if settings["require_logged_in_user"] and not user:
            raise TokenError("invalid_request", "logged_in_user is required")
        if user and user != client["logged_in_user"]:
            raise TokenError(
                "invalid_grant", "logged_in_user is not an administrator for this client"
            )
        self.seen_jti[str(jti)] = float(exp) + settings["assertion_leeway_seconds"]

    def caller(self, authorization: str | None, clients: Mapping[str, Any], now: float) -> Caller:
        """The caller behind an `Authorization: Bearer` header, or the API's refusal."""
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise BearerError(401, "Authorization required", "invalid_token")
        if token.count(".") != 2:
            raise BearerError(400, "Not enough or too many segments")
        try:
            claims = jwt.decode(token, self.signing_key, algorithms=["HS256"], options=CLOCK_FREE)
        except jwt.InvalidSignatureError:
            raise BearerError(401, "Signature verification failed", "invalid_token") from None
        except jwt.PyJWTError:
            raise BearerError(400, "Invalid segment encoding") from None
        if claims.get("exp", 0) <= now:
            raise BearerError(401, "Signature has expired", "invalid_token")
        client = clients.get(str(claims.get("sub")))
        if client is None:
            raise BearerError(401, "Signature verification failed", "invalid_token")
        return Caller(
            claims["sub"], claims.get("logged_in_user", ""), tuple(client["organization_ids"])
        )
