"""PARVIS_FC_* settings, and the sandbox running alone as ``parvis fc-sandbox``."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from parvis.kernel.settings import ConfigError, load_settings
from tests.support.server import ServerProcess

SECRET = "x" * 40


def test_demo_and_test_default_to_the_built_in_sandbox() -> None:
    settings = load_settings(mode="test", public_url="https://parvis.example.fr")
    assert settings.fc_issuer == "https://parvis.example.fr/fc-sandbox/api/v2"
    assert settings.fc_client_id == "parvis-demo"
    assert settings.fc_sandbox is True
    assert settings.fc_redirect_uri == "https://parvis.example.fr/auth/franceconnect/callback"
    assert (
        settings.fc_post_logout_redirect_uri
        == "https://parvis.example.fr/auth/franceconnect/logged-out"
    )
    assert settings.fc_acr == "eidas1"
    # franceconnect.md: "email is not trustworthy for account linking" — not even asked for.
    assert not {"email", "identite_pivot", "gender"} & set(settings.fc_scopes.split())


def test_production_has_no_default_client_and_no_sandbox() -> None:
    settings = load_settings(mode="production", secret_key=SECRET)
    assert settings.fc_issuer == ""
    assert settings.fc_client_id == ""
    assert settings.fc_client_secret == ""
    assert settings.fc_sandbox is False
    with pytest.raises(ConfigError, match="PARVIS_FC_SANDBOX"):
        load_settings(mode="production", secret_key=SECRET, fc_sandbox=True)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"fc_issuer": "fcp-low.sbx.dev-franceconnect.fr/api/v2"}, "PARVIS_FC_ISSUER"),
        ({"fc_issuer": "https://fcp-low.sbx.dev-franceconnect.fr/api/v2/"}, "PARVIS_FC_ISSUER"),
        ({"fc_scopes": "given_name family_name"}, "PARVIS_FC_SCOPES"),
        ({"fc_http_timeout": 0}, "PARVIS_FC_HTTP_TIMEOUT"),
    ],
)
def test_bad_franceconnect_settings(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(mode="test", **overrides)


def test_client_secret_is_not_in_the_repr() -> None:
    assert "parvis-demo-fc-secret" not in repr(load_settings(mode="test"))


def test_fc_sandbox_command_serves_the_sandbox_alone(tmp_path: Path) -> None:
    env = {"PARVIS_MODE": "test", "PARVIS_DATA_DIR": str(tmp_path)}
    with ServerProcess(env, args=["fc-sandbox"]) as server:
        doc = httpx.get(f"{server.url}/fc-sandbox/api/v2/.well-known/openid-configuration").json()
        assert doc["issuer"] == f"{server.url}/fc-sandbox/api/v2"
        keys = httpx.get(doc["jwks_uri"]).json()["keys"]
        assert sorted(k["alg"] for k in keys) == ["ES256", "RS256"]
        page = httpx.get(
            doc["authorization_endpoint"],
            params={
                "response_type": "code",
                "client_id": "parvis-demo",
                "redirect_uri": "http://127.0.0.1:8000/auth/franceconnect/callback",
                "scope": "openid given_name",
                "acr_values": "eidas1",
                "state": "s" * 32,
                "nonce": "n" * 32,
            },
        )
        assert page.status_code == 200
        assert re.search(
            r"form-action 'self' http://127\.0\.0\.1:8000", page.headers["content-security-policy"]
        )


def test_production_refuses_a_plain_http_franceconnect_issuer() -> None:
    """RFC 9700 §2.6 / OpenID Connect Core §16.17: the provider's discovery, keys and
    tokens must come over TLS; a plain-http issuer in production would let anyone on the
    path serve its own keys. ``check-config`` says so in one line."""
    from tests.test_cli import one_line_error, run

    issuer = "http://fcp-low.franceconnect.gouv.fr/api/v2"

    production = {"mode": "production", "secret_key": SECRET, "fc_client_id": "fs"}
    secret = {"fc_client_secret": "s" * 32}
    with pytest.raises(ConfigError, match=r"PARVIS_FC_ISSUER: .*https"):
        load_settings(**production, **secret, fc_issuer=issuer)
    https = load_settings(
        **production, **secret, fc_issuer="https://fcp-low.franceconnect.gouv.fr/api/v2"
    )
    assert https.fc_issuer.startswith("https://")
    env = {
        "PARVIS_MODE": "production",
        "PARVIS_SECRET_KEY": SECRET,
        "PARVIS_FC_ISSUER": issuer,
        "PARVIS_FC_CLIENT_ID": "fs",
        "PARVIS_FC_CLIENT_SECRET": "s" * 32,
    }
    line = one_line_error(run(["check-config"], env))
    assert "PARVIS_FC_ISSUER" in line
    assert "https" in line
    # Outside production the plain-http sandbox of the local demo stays allowed.
    assert load_settings(mode="demo", fc_issuer=issuer).fc_issuer == issuer
