"""Client assertions signed as configured (HS256, RS256, ES256), and errors that say what to fix
without ever repeating a secret: echoed secrets, refused keys, a wrong machine clock."""

from __future__ import annotations

import copy

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sandbox.plansource.app import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from tap_plansource.auth import ClockSkewError, PlanSourceCredentialsError

from .helpers import requests_to, run_cli, run_tap, tap_config


def key_pair(algorithm: str) -> tuple[str, str]:
    """A fresh private key (PEM) and its public half (PEM) for `algorithm`."""
    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    if algorithm == "RS256":
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        private = ec.generate_private_key(ec.SECP256R1())
    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private_pem, public_pem


def expect_key(plansource, algorithm: str, public_pem: str, key_id: str | None = None) -> None:
    """The emulator verifies `algorithm` assertions with `public_pem` for the default client."""
    clients = copy.deepcopy(plansource.emulator.setting("clients"))
    clients[DEFAULT_CLIENT_ID]["public_key"] = public_pem
    if key_id:
        clients[DEFAULT_CLIENT_ID]["key_id"] = key_id
    plansource.emulator.configure(jwt_alg=algorithm, clients=clients)


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_key_signed_assertions_are_accepted(plansource, algorithm):
    private_pem, public_pem = key_pair(algorithm)
    expect_key(plansource, algorithm, public_pem, key_id="plansource-key-1")
    config = tap_config(
        plansource,
        client_assertion_algorithm=algorithm,
        private_key=private_pem,
        key_id="plansource-key-1",
    )
    sync = run_tap(config, ["organizations"])
    assert len(sync.records["organizations"]) == 1
    assert [r["status"] for r in requests_to(plansource, "^/oauth/v2/token$")] == [200]


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_a_wrong_key_is_refused_with_the_settings_to_check(plansource, algorithm):
    _, public_pem = key_pair(algorithm)
    other_private_pem, _ = key_pair(algorithm)
    expect_key(plansource, algorithm, public_pem)
    config = tap_config(
        plansource, client_assertion_algorithm=algorithm, private_key=other_private_pem
    )
    with pytest.raises(PlanSourceCredentialsError) as failure:
        run_tap(config, ["organizations"])
    message = str(failure.value)
    assert "invalid_client: client_assertion signature is invalid" in message
    assert "`client_assertion_algorithm`, `private_key`" in message
    assert "PRIVATE KEY" not in message
    assert not requests_to(plansource, "^/admin/v2/")


def test_the_secret_signed_assertion_is_refused_where_a_key_is_expected(plansource):
    _, public_pem = key_pair("RS256")
    expect_key(plansource, "RS256", public_pem)
    with pytest.raises(PlanSourceCredentialsError, match="must be signed with RS256"):
        run_tap(tap_config(plansource), ["organizations"])


def test_a_wrong_key_id_is_refused(plansource):
    private_pem, public_pem = key_pair("ES256")
    expect_key(plansource, "ES256", public_pem, key_id="current-key")
    config = tap_config(
        plansource, client_assertion_algorithm="ES256", private_key=private_pem, key_id="old-key"
    )
    with pytest.raises(PlanSourceCredentialsError, match="kid does not name this client's key"):
        run_tap(config, ["organizations"])


def test_secrets_echoed_by_the_api_never_reach_the_output(plansource, tmp_path):
    private_pem, public_pem = key_pair("RS256")
    expect_key(plansource, "RS256", public_pem)
    salt = "pepper-for-the-hashes"
    echo = f"bad request: client_secret={DEFAULT_CLIENT_SECRET} key={private_pem} salt={salt}"
    plansource.emulator.add_faults(
        [
            {
                "status": 400,
                "path": "^/admin/v2/subscribers$",
                "body": {
                    "status": "failure",
                    "errors": {"http_status": 400, "message": echo[:2000]},
                    "data": [],
                },
            }
        ]
    )
    config = tap_config(
        plansource,
        client_assertion_algorithm="RS256",
        private_key=private_pem,
        sensitive_fields="hash",
        sensitive_hash_salt=salt,
    )
    run = run_cli(config, ["subscribers"], tmp_path)
    assert run.returncode == 1
    said = run.stderr + "".join(str(m) for m in run.messages)
    assert "PlanSource answered 400 to GET /admin/v2/subscribers: bad request" in said
    assert "client_secret=***" in said
    for secret in (DEFAULT_CLIENT_SECRET, salt, *private_pem.splitlines()[1:-1]):
        assert secret not in said


def test_a_token_error_echoing_the_assertion_or_secret_is_scrubbed(plansource, tmp_path):
    plansource.emulator.add_faults(
        [
            {
                "status": 401,
                "path": "^/oauth/v2/token$",
                "body": {
                    "error": "invalid_client",
                    "error_description": f"secret {DEFAULT_CLIENT_SECRET} is not valid",
                },
            }
        ]
    )
    run = run_cli(tap_config(plansource), ["organizations"], tmp_path)
    assert run.returncode == 1
    assert "invalid_client: secret *** is not valid" in run.stderr
    assert DEFAULT_CLIENT_SECRET not in run.stderr
    assert "Traceback" not in run.stderr


def test_assertions_refused_as_expired_right_away_name_the_machine_clock(plansource):
    plansource.emulator.clock_offset += 600  # PlanSource's clock runs ten minutes ahead
    with pytest.raises(ClockSkewError) as failure:
        run_tap(tap_config(plansource, retry_max_tries=3), ["organizations"])
    message = str(failure.value)
    assert "refused 3 freshly signed client assertions as expired" in message
    assert "this machine's clock is probably wrong" in message
    assert "retry_max_tries" not in message
    assert len(requests_to(plansource, "^/oauth/v2/token$")) == 3
