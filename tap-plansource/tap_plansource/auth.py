"""PlanSource tokens: OAuth client credentials with a JWT client assertion signed by PyJWT.

PlanSource access tokens live five minutes. The tap holds one token at a time (one
`TokenManager` per tap instance, shared by its streams and threads), renews it a margin before
it expires, and renews it once when the API answers 401 anyway (clock skew, revoked token):
`PlanSourceAuth` re-sends that request with the new token, as `requests`' digest auth does.
"""

from __future__ import annotations

import datetime
import logging
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import jwt
import requests
from planful_plansource_planhat_core.failures import describe
from planful_plansource_planhat_core.http import new_session
from planful_plansource_planhat_core.retry import (
    CONNECTION_ERRORS,
    is_retriable_status,
    retry_logger,
)
from requests.auth import AuthBase
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

if TYPE_CHECKING:
    from planful_plansource_planhat_core.redact import Redactor

    from tap_plansource.settings import Settings

SCOPE = "admin_api_v2"
ASSERTION_LIFETIME_SECONDS = 60
DEFAULT_TOKEN_LIFETIME_SECONDS = 300
RENEWAL_MARGIN_SECONDS = 60
HOST_SETTINGS = "`environment` (or `api_url`)"
CREDENTIAL_SETTINGS = "`client_id`, `client_secret`, `username` and `environment` (or `api_url`)"
KEY_SETTINGS = (
    "`client_id`, `client_assertion_algorithm`, `private_key` (the key whose public half "
    "PlanSource holds), `key_id`, `username` and `environment` (or `api_url`)"
)


class PlanSourceCredentialsError(FatalAPIError):
    """PlanSource refused to issue a token for the configured credentials."""


class TokenEndpointBusyError(RetriableAPIError):
    """The token endpoint failed in a way worth retrying (5xx, 429, timed-out generation)."""


class TokenEndpointUnavailableError(FatalAPIError):
    """The token endpoint kept failing after every retry (not retried again by the streams)."""


class AssertionExpiredError(TokenEndpointBusyError):
    """PlanSource called a just-signed assertion expired: a timed-out generation, or skew."""


class ClockSkewError(FatalAPIError):
    """Every fresh assertion was refused as expired: this machine's clock disagrees."""


def clock_skew_message(tries: int, response: requests.Response | None) -> str:
    """Names the machine clock, with PlanSource's own time when its answer carried one."""
    now = datetime.datetime.now(datetime.UTC)
    theirs = ""
    date_header = response.headers.get("Date") if response is not None else None
    if date_header:
        try:
            server = parsedate_to_datetime(date_header)
            skew = (server - now).total_seconds()
            theirs = f", PlanSource's clock said {server:%H:%M:%S} UTC ({skew:+.0f} s)"
        except (TypeError, ValueError):
            theirs = ""
    return (
        f"PlanSource refused {tries} freshly signed client assertions as expired (each valid "
        f"for {ASSERTION_LIFETIME_SECONDS} s from signing): this machine's clock is probably "
        f"wrong (it said {now:%Y-%m-%d %H:%M:%S} UTC{theirs}). Synchronise the machine clock "
        "(NTP) and run again."
    )


@dataclass(frozen=True)
class AccessToken:
    value: str
    renew_at: float  # time.monotonic() after which the token is renewed before use


class TokenManager:
    """Issues the tap's one access token and renews it before expiry or after a rejection."""

    def __init__(self, settings: Settings, logger: logging.Logger, redact: Redactor) -> None:
        self._settings = settings
        self.logger = logger
        self._redact = redact
        self._lock = threading.Lock()
        self._token: AccessToken | None = None
        self._session = new_session("tap-plansource", redact=redact)
        self.issued = 0

    def access_token(self) -> str:
        """A token valid for at least the renewal margin, requesting one when needed."""
        with self._lock:
            if self._token is None or time.monotonic() >= self._token.renew_at:
                self._token = self._request_token()
            return self._token.value

    def discard(self, rejected: str) -> None:
        """Forget `rejected` unless another thread has already replaced it."""
        with self._lock:
            if self._token is not None and self._token.value == rejected:
                self._token = None

    def _request_token(self) -> AccessToken:
        policy = self._settings.retry
        tries = policy.max_tries
        retry_on = (TokenEndpointBusyError, *CONNECTION_ERRORS)
        log_retry = retry_logger(self.logger, "the PlanSource token request", tries)
        request = policy.retrying(self._post_token_request, retry_on, log_retry)
        try:
            return request()
        except AssertionExpiredError as exc:
            raise ClockSkewError(clock_skew_message(tries, exc.response)) from exc
        except CONNECTION_ERRORS as exc:
            msg = "No PlanSource access token: " + describe(
                exc, HOST_SETTINGS, emulator="plansource"
            )
            raise TokenEndpointUnavailableError(msg) from exc
        except TokenEndpointBusyError as exc:
            msg = (
                f"Could not obtain a PlanSource access token after {tries} tries ({exc}); "
                "raise `retry_max_tries` if PlanSource is slow to recover."
            )
            raise TokenEndpointUnavailableError(msg) from exc

    def _post_token_request(self) -> AccessToken:
        settings = self._settings
        started = time.monotonic()
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": settings.client_id,
            "sub": settings.client_id,
            "aud": settings.token_audience,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_SECONDS,
            "jti": uuid.uuid4().hex,
            "scopes": SCOPE,
        }
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_id": settings.client_id or "",
            "code": secrets.token_urlsafe(16),
        }
        if settings.username_placement in {"claim", "both"}:
            claims["logged_in_user"] = settings.username
        if settings.username_placement in {"form", "both"}:
            form["logged_in_user"] = settings.username or ""
        algorithm = settings.client_assertion_algorithm
        key = (settings.client_secret if algorithm == "HS256" else settings.private_key) or ""
        headers = {"kid": settings.key_id} if settings.key_id else None
        form["client_assertion"] = jwt.encode(claims, key, algorithm=algorithm, headers=headers)
        self._redact.add(form["client_assertion"])
        response = self._session.post(
            settings.token_url,
            data=form,
            headers={"Accept": "application/json"},
            timeout=settings.request_timeout,
            allow_redirects=False,
        )
        if response.status_code == HTTPStatus.OK:
            return self._read_token(response, started)
        raise self._token_error(response)

    def _read_token(self, response: requests.Response, started: float) -> AccessToken:
        try:
            body = response.json()
            value = body["access_token"]
            lifetime = float(body.get("expires_in") or DEFAULT_TOKEN_LIFETIME_SECONDS)
        except (ValueError, KeyError, TypeError) as exc:
            msg = f"PlanSource's token endpoint {self._settings.token_url} sent no access token"
            raise FatalAPIError(msg) from exc
        self.issued += 1
        self._redact.add(str(value))
        margin = min(RENEWAL_MARGIN_SECONDS, lifetime / 5)
        self.logger.info("Obtained a PlanSource access token valid for %d s", lifetime)
        return AccessToken(value=value, renew_at=started + lifetime - margin)

    def _token_error(self, response: requests.Response) -> Exception:
        status = response.status_code
        error, description = oauth_error(response)
        error, description = self._redact(error), self._redact(description)
        said = f"{error}: {description}" if description else error
        if is_retriable_status(status):
            return TokenEndpointBusyError(
                f"PlanSource token endpoint answered {status} ({said})", response
            )
        if error == "invalid_request" and "expired" in description.lower():
            # PlanSource: token generation sometimes times out; the fix is to ask again. When
            # every fresh assertion is refused so, the clocks disagree (see `_request_token`).
            return AssertionExpiredError(
                f"PlanSource token endpoint answered {status} ({said})", response
            )
        if status == HTTPStatus.NOT_FOUND:
            return PlanSourceCredentialsError(
                f"PlanSource has no token endpoint at {self._settings.token_url} (404). "
                "Check `environment` (or `api_url`)."
            )
        settings = CREDENTIAL_SETTINGS
        if self._settings.client_assertion_algorithm != "HS256":
            settings = KEY_SETTINGS
        return PlanSourceCredentialsError(
            f"PlanSource refused to issue an access token ({status} {said}). Check {settings}."
        )


def oauth_error(response: requests.Response) -> tuple[str, str]:
    """`error` and `error_description` of an OAuth error body (or the status when not one)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return f"HTTP {response.status_code}", ""
    return str(body.get("error") or f"HTTP {response.status_code}"), str(
        body.get("error_description") or ""
    )[:200]


class PlanSourceAuth(AuthBase):
    """Adds the bearer token; on a 401 renews it once and re-sends the request."""

    def __init__(self, tokens: TokenManager, logger: logging.Logger) -> None:
        self.tokens = tokens
        self.logger = logger

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.tokens.access_token()}"
        if self._renew_once_on_401 not in request.hooks["response"]:
            request.register_hook("response", self._renew_once_on_401)
        return request

    def _renew_once_on_401(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        if response.status_code != HTTPStatus.UNAUTHORIZED:
            return response
        rejected = str(response.request.headers.get("Authorization", "")).removeprefix("Bearer ")
        self.logger.info(
            "PlanSource rejected the access token (401); requesting a new one and retrying once"
        )
        _ = response.content  # read the body so the connection can be reused
        response.close()
        self.tokens.discard(rejected)
        retry = response.request.copy()
        retry.headers["Authorization"] = f"Bearer {self.tokens.access_token()}"
        retry.hooks["response"] = [
            hook for hook in retry.hooks["response"] if hook != self._renew_once_on_401
        ]
        second = response.connection.send(retry, **kwargs)
        second.history.append(response)
        second.request = retry
        return second
