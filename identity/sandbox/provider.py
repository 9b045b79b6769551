"""The FranceConnect v2 sandbox: the provider's rules, independent of HTTP.

franceconnect.md, "The sandbox Parvis ships" — a FranceConnect v2 standard look-alike:
discovery; JWKS with one ES256 and one RS256 key and a rotation switch; per-client signing
algorithm; mandatory ``state``, ``nonce`` (≥ 22 characters, configurable to 32) and
``acr_values``; client scope habilitations and the error redirect when exceeded;
``prompt=login``; ``idp_hint``; 30-second single-use codes; 60-second tokens; JWT userinfo;
pairwise ``sub`` (64 hex + ``v1``); ``/session/end`` with its three required parameters; a
controllable clock (the injected :class:`~parvis.kernel.clock.Clock`).

State (interactions, codes, tokens, provider sessions) lives in memory: the sandbox serves
the demo and the tests from one process, as FranceConnect's own mocks do. The HTTP adapter is
:mod:`identity.sandbox.web`; this module returns plain values or raises
:class:`SandboxOAuthError` carrying the RFC 6749 error code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from joserfc import jwk, jwt

from identity.franceconnect import (
    ALLOWED_ALGORITHMS,
    NONCE_MIN_LENGTH,
    SCOPE_CLAIMS,
    at_hash,
    claims_for_scopes,
)
from identity.sandbox.citizens import TEST_CITIZENS, Scenario, TestCitizen
from parvis.kernel.clock import Clock

__all__ = [
    "CODE_LIFETIME",
    "FC_SESSION_LIFETIME",
    "IDPS",
    "TOKEN_LIFETIME",
    "Authorization",
    "Sandbox",
    "SandboxClient",
    "SandboxKeys",
    "SandboxOAuthError",
]

#: franceconnect.md, "Lifetimes".
CODE_LIFETIME = timedelta(seconds=30)
TOKEN_LIFETIME = timedelta(seconds=60)
FC_SESSION_LIFETIME = timedelta(minutes=30)

#: The sandbox's identity providers (``idp_hint`` values), as FranceConnect lists its own.
IDPS: Mapping[str, str] = {
    "sandbox-impots": "Impots.gouv (bac à sable)",
    "sandbox-ameli": "Ameli (bac à sable)",
}

_PROMPTS = frozenset({"login", "consent"})


class SandboxOAuthError(Exception):
    """An OAuth/OIDC error with its RFC 6749 code. ``redirect`` is False when the client or
    redirect URI cannot be trusted: the error is then shown, never redirected."""

    def __init__(self, error: str, description: str, *, redirect: bool = True) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.redirect = redirect


@dataclass(frozen=True, slots=True)
class SandboxClient:
    """A service provider ("FS") registered with the sandbox."""

    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...]
    scopes: frozenset[str] = frozenset(SCOPE_CLAIMS)
    alg: str = "ES256"
    entity_id: str = ""

    def __post_init__(self) -> None:
        if self.alg not in ALLOWED_ALGORITHMS:
            raise ValueError(f"the sandbox signs with ES256 or RS256, not {self.alg}")


class SandboxKeys:
    """One EC P-256 (ES256) and one RSA-2048 (RS256) signing key; :meth:`rotate` replaces
    both with new ``kid`` values, and the old ones disappear from the JWKS at once."""

    _shared: tuple[jwk.ECKey, jwk.RSAKey] | None = None
    _lock = threading.Lock()

    def __init__(self, *, fresh: bool = False) -> None:
        self._generation = 0
        if fresh:
            self.ec, self.rsa = self._generate(0)
        else:
            # RSA generation costs ~0.1 s: every sandbox of a process starts from one pair.
            with SandboxKeys._lock:
                if SandboxKeys._shared is None:
                    SandboxKeys._shared = self._generate(0)
                self.ec, self.rsa = SandboxKeys._shared

    @staticmethod
    def _generate(generation: int) -> tuple[jwk.ECKey, jwk.RSAKey]:
        tag = secrets.token_hex(4)
        ec = jwk.ECKey.generate_key(
            "P-256", parameters={"kid": f"es256-{generation}-{tag}", "use": "sig", "alg": "ES256"}
        )
        rsa = jwk.RSAKey.generate_key(
            2048, parameters={"kid": f"rs256-{generation}-{tag}", "use": "sig", "alg": "RS256"}
        )
        return ec, rsa

    def rotate(self) -> None:
        """The rotation switch: new keys, new ``kid`` values, the old keys forgotten."""
        self._generation += 1
        self.ec, self.rsa = self._generate(self._generation)

    def for_alg(self, alg: str) -> jwk.ECKey | jwk.RSAKey:
        return self.ec if alg == "ES256" else self.rsa

    def jwks(self) -> dict[str, Any]:
        """The public JWKS (RFC 7517 §5)."""
        return dict(jwk.KeySet([self.ec, self.rsa]).as_dict(private=False))


@dataclass
class Authorization:
    """A validated ``/authorize`` request waiting for the citizen (an "interaction")."""

    id: str
    client: SandboxClient
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str
    nonce: str
    acr: str
    prompt: frozenset[str]
    idp_hint: str | None
    claims_request: dict[str, Any]
    created_at: datetime


@dataclass
class _Code:
    value_hash: str
    authorization: Authorization
    citizen: TestCitizen
    sid: str
    auth_time: datetime
    expires_at: datetime
    used: bool = False
    access_tokens: list[str] = field(default_factory=list)


@dataclass
class _AccessToken:
    client: SandboxClient
    citizen: TestCitizen
    scopes: tuple[str, ...]
    expires_at: datetime


@dataclass
class _ProviderSession:
    citizen: TestCitizen
    started_at: datetime
    sid: str


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class Sandbox:
    """The provider. ``issuer`` is its public URL (``…/fc-sandbox/api/v2``)."""

    def __init__(
        self,
        *,
        issuer: str,
        clock: Clock,
        secret: bytes,
        clients: Iterable[SandboxClient] = (),
        citizens: Iterable[TestCitizen] = TEST_CITIZENS,
        nonce_min_length: int = NONCE_MIN_LENGTH,
        timeout_delay: float = 15.0,
        keys: SandboxKeys | None = None,
    ) -> None:
        if nonce_min_length not in range(NONCE_MIN_LENGTH, 33):
            raise ValueError("nonce_min_length is 22 (FranceConnect's core) up to 32")
        self.issuer = issuer
        self.clock = clock
        self._secret = secret
        self.clients: dict[str, SandboxClient] = {c.client_id: c for c in clients}
        self.citizens: dict[str, TestCitizen] = {c.login: c for c in citizens}
        self.nonce_min_length = nonce_min_length
        self.timeout_delay = timeout_delay
        self.keys = keys or SandboxKeys()
        self._lock = threading.Lock()
        self._interactions: dict[str, Authorization] = {}
        self._codes: dict[str, _Code] = {}
        self._tokens: dict[str, _AccessToken] = {}
        self._sessions: dict[str, _ProviderSession] = {}
        self._issued_id_tokens: set[str] = set()

    # -- configuration ------------------------------------------------------------------

    def register_client(self, client: SandboxClient) -> None:
        self.clients[client.client_id] = client

    def discovery(self) -> dict[str, Any]:
        """The discovery document (OpenID Connect Discovery 1.0 §3) FranceConnect v2 serves."""
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "end_session_endpoint": f"{self.issuer}/session/end",
            "jwks_uri": f"{self.issuer}/jwks",
            "scopes_supported": sorted(SCOPE_CLAIMS),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["pairwise"],
            "acr_values_supported": ["eidas1"],
            "prompt_values_supported": sorted(_PROMPTS),
            "claims_parameter_supported": True,
            "claims_supported": sorted({c for v in SCOPE_CLAIMS.values() for c in v} | {"acr"}),
            "token_endpoint_auth_methods_supported": ["client_secret_post"],
            "id_token_signing_alg_values_supported": list(ALLOWED_ALGORITHMS),
            "userinfo_signing_alg_values_supported": list(ALLOWED_ALGORITHMS),
            "code_challenge_methods_supported": ["S256"],
        }

    # -- /authorize ---------------------------------------------------------------------

    def authorize(self, params: Mapping[str, str]) -> Authorization:
        """Validate an authorization request (franceconnect.md, "/authorize")."""
        client = self.clients.get(params.get("client_id", ""))
        if client is None:
            raise SandboxOAuthError("invalid_client", "unknown client_id", redirect=False)
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri not in client.redirect_uris:
            raise SandboxOAuthError(
                "invalid_request", "redirect_uri is not registered", redirect=False
            )
        if params.get("response_type") != "code":
            raise SandboxOAuthError("unsupported_response_type", "response_type must be code")
        state = params.get("state", "")
        if not state:
            raise SandboxOAuthError("invalid_request", "state is required")
        nonce = params.get("nonce", "")
        if len(nonce) < self.nonce_min_length:
            raise SandboxOAuthError(
                "invalid_request", f"nonce must be at least {self.nonce_min_length} characters"
            )
        scopes = tuple(params.get("scope", "").split())
        if "openid" not in scopes:
            raise SandboxOAuthError("invalid_scope", "scope must contain openid")
        unknown = [s for s in scopes if s not in SCOPE_CLAIMS]
        if unknown:
            raise SandboxOAuthError("invalid_scope", "unknown scope " + " ".join(unknown))
        beyond = [s for s in scopes if s not in client.scopes]
        if beyond:
            raise SandboxOAuthError(
                "invalid_scope", "scope beyond the client's habilitation: " + " ".join(beyond)
            )
        acr_values = params.get("acr_values", "").split()
        if not acr_values:
            raise SandboxOAuthError("invalid_request", "acr_values is required")
        acr = next((a for a in acr_values if a == "eidas1"), None)
        if acr is None:
            raise SandboxOAuthError("invalid_acr", "v2 standard supports acr_values=eidas1 only")
        prompt = frozenset(params.get("prompt", "").split())
        if prompt - _PROMPTS:
            raise SandboxOAuthError("invalid_request", "prompt must be login and/or consent")
        idp_hint = params.get("idp_hint") or None
        if idp_hint is not None and idp_hint not in IDPS:
            raise SandboxOAuthError("invalid_request", "unknown idp_hint")
        claims_request: dict[str, Any] = {}
        if params.get("claims"):
            try:
                claims_request = json.loads(params["claims"])
            except ValueError:
                raise SandboxOAuthError("invalid_request", "claims is not JSON") from None
            if not isinstance(claims_request, dict):
                raise SandboxOAuthError("invalid_request", "claims is not a JSON object")
        authorization = Authorization(
            id=secrets.token_urlsafe(24),
            client=client,
            redirect_uri=redirect_uri,
            scopes=scopes,
            state=state,
            nonce=nonce,
            acr=acr,
            prompt=prompt,
            idp_hint=idp_hint,
            claims_request=claims_request,
            created_at=self.clock.now(),
        )
        with self._lock:
            self._interactions[authorization.id] = authorization
        return authorization

    def interaction(self, interaction_id: str) -> Authorization:
        """A pending interaction, valid for the FranceConnect session lifetime."""
        with self._lock:
            found = self._interactions.get(interaction_id)
        if found is None or self.clock.now() - found.created_at > FC_SESSION_LIFETIME:
            raise SandboxOAuthError(
                "invalid_request", "unknown or expired interaction", redirect=False
            )
        return found

    def sso_citizen(
        self, authorization: Authorization, session_id: str | None
    ) -> TestCitizen | None:
        """The citizen of a live provider session, unless ``prompt=login`` forces a new
        authentication (OpenID Connect Core §3.1.2.1) or ``idp_hint`` names another provider."""
        if session_id is None or "login" in authorization.prompt:
            return None
        with self._lock:
            session = self._sessions.get(_digest(session_id))
        if session is None or self.clock.now() - session.started_at > FC_SESSION_LIFETIME:
            return None
        if authorization.idp_hint is not None and session.citizen.idp != authorization.idp_hint:
            return None
        return session.citizen

    def citizens_for(self, authorization: Authorization) -> list[TestCitizen]:
        """The citizens shown on the login page (only the hinted provider's with idp_hint)."""
        return [
            c
            for c in self.citizens.values()
            if authorization.idp_hint is None or c.idp == authorization.idp_hint
        ]

    def cancel(self, authorization: Authorization) -> str:
        """The citizen cancels: ``error=access_denied`` back to the client."""
        self._forget(authorization)
        return self.error_redirect(
            authorization.redirect_uri, "access_denied", "the user cancelled", authorization.state
        )

    def login(
        self, authorization: Authorization, login: str, *, session_id: str | None
    ) -> tuple[str, str]:
        """The citizen signs in (or is signed in by the provider session): returns the
        redirect URL with ``code`` and ``state`` and the provider-session id to keep."""
        citizen = self.citizens.get(login)
        if citizen is None:
            raise SandboxOAuthError("access_denied", "unknown test citizen", redirect=False)
        if citizen.disabled:
            raise SandboxOAuthError("access_denied", "this account is disabled", redirect=False)
        if authorization.idp_hint is not None and citizen.idp != authorization.idp_hint:
            raise SandboxOAuthError("access_denied", "citizen of another provider", redirect=False)
        if citizen.scenario is Scenario.CANCEL:
            return self.cancel(authorization), session_id or ""
        now = self.clock.now()
        new_session = session_id is None or "login" in authorization.prompt
        with self._lock:
            existing = None if new_session else self._sessions.get(_digest(session_id or ""))
            if existing is None or existing.citizen.login != citizen.login:
                session_id = secrets.token_urlsafe(32)
                existing = _ProviderSession(citizen, now, secrets.token_hex(16))
                self._sessions[_digest(session_id)] = existing
            code = secrets.token_urlsafe(32)
            self._codes[_digest(code)] = _Code(
                value_hash=_digest(code),
                authorization=authorization,
                citizen=citizen,
                sid=existing.sid,
                auth_time=existing.started_at,
                expires_at=now + CODE_LIFETIME,
            )
            self._interactions.pop(authorization.id, None)
        query = urlencode({"code": code, "state": authorization.state})
        return f"{authorization.redirect_uri}?{query}", session_id or ""

    def _forget(self, authorization: Authorization) -> None:
        with self._lock:
            self._interactions.pop(authorization.id, None)

    @staticmethod
    def error_redirect(redirect_uri: str, error: str, description: str, state: str) -> str:
        """RFC 6749 §4.1.2.1: the error goes back to the client with the original state."""
        query = {"error": error, "error_description": description}
        if state:
            query["state"] = state
        return f"{redirect_uri}?{urlencode(query)}"

    # -- /token -------------------------------------------------------------------------

    def _client_auth(self, form: Mapping[str, str]) -> SandboxClient:
        client = self.clients.get(form.get("client_id", ""))
        secret = form.get("client_secret", "")
        if client is None or not hmac.compare_digest(
            secret.encode(), client.client_secret.encode()
        ):
            raise SandboxOAuthError("invalid_client", "client authentication failed")
        return client

    def code_scenario(self, form: Mapping[str, str]) -> Scenario:
        """The failure scenario of the citizen a code belongs to (for the HTTP adapter)."""
        with self._lock:
            found = self._codes.get(_digest(form.get("code", "")))
        return found.citizen.scenario if found is not None else Scenario.NONE

    def token(self, form: Mapping[str, str]) -> dict[str, Any]:
        """The token endpoint (``client_secret_post``): a 30-second single-use code for a
        60-second access token and ID token. A replayed code also revokes the tokens it gave
        (RFC 6749 §4.1.2)."""
        client = self._client_auth(form)
        if form.get("grant_type") != "authorization_code":
            raise SandboxOAuthError(
                "unsupported_grant_type", "grant_type must be authorization_code"
            )
        now = self.clock.now()
        with self._lock:
            code = self._codes.get(_digest(form.get("code", "")))
            if code is None:
                raise SandboxOAuthError("invalid_grant", "unknown code")
            if code.used:
                for token in code.access_tokens:
                    self._tokens.pop(token, None)
                raise SandboxOAuthError("invalid_grant", "code already used")
            code.used = True
            if now >= code.expires_at:
                raise SandboxOAuthError("invalid_grant", "code expired")
            authorization = code.authorization
            if authorization.client.client_id != client.client_id:
                raise SandboxOAuthError("invalid_grant", "code issued to another client")
            if form.get("redirect_uri") != authorization.redirect_uri:
                raise SandboxOAuthError("invalid_grant", "redirect_uri mismatch")
            access_token = secrets.token_urlsafe(32)
            self._tokens[_digest(access_token)] = _AccessToken(
                client=client,
                citizen=code.citizen,
                scopes=authorization.scopes,
                expires_at=now + TOKEN_LIFETIME,
            )
            code.access_tokens.append(_digest(access_token))
        id_claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": client.client_id,
            "sub": self.pairwise_sub(client, code.citizen),
            "iat": int(now.timestamp()),
            "exp": int((now + TOKEN_LIFETIME).timestamp()),
            "nonce": authorization.nonce,
            "acr": authorization.acr,
            "auth_time": int(code.auth_time.timestamp()),
            "at_hash": at_hash(access_token, client.alg),
            "sid": code.sid,
        }
        wanted = authorization.claims_request.get("id_token", {})
        if isinstance(wanted, dict) and "amr" in wanted and "amr" in client.scopes:
            id_claims["amr"] = code.citizen.claims()["amr"]
        id_token = self.sign(client, id_claims)
        with self._lock:
            self._issued_id_tokens.add(_digest(id_token))
        return {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": int(TOKEN_LIFETIME.total_seconds()),
            "id_token": id_token,
            "scope": " ".join(authorization.scopes),
        }

    def sign(self, client: SandboxClient, claims: Mapping[str, Any]) -> str:
        key = self.keys.for_alg(client.alg)
        return jwt.encode({"alg": client.alg, "kid": key.kid, "typ": "JWT"}, dict(claims), key)

    def pairwise_sub(self, client: SandboxClient, citizen: TestCitizen) -> str:
        """franceconnect.md: SHA-256 over the FS entity id, a hash of the identity pivot and
        a secret, as 64 hex characters followed by ``v1``."""
        pivot = "\x1f".join(
            (
                citizen.given_name,
                citizen.family_name,
                citizen.birthdate,
                citizen.gender,
                citizen.birthplace,
                citizen.birthcountry,
            )
        )
        pivot_digest = hashlib.sha256(pivot.encode()).hexdigest()
        entity = client.entity_id or client.client_id
        material = entity.encode() + pivot_digest.encode() + self._secret
        return hashlib.sha256(material).hexdigest() + "v1"

    # -- /userinfo ----------------------------------------------------------------------

    def userinfo(
        self, authorization_header: str | None
    ) -> tuple[Scenario, dict[str, Any], SandboxClient]:
        """The userinfo claims for a live bearer token (scope → claim map), with the
        citizen's scenario so that the adapter can misbehave on purpose."""
        if not authorization_header or not authorization_header.startswith("Bearer "):
            raise SandboxOAuthError("invalid_token", "bearer token required")
        digest = _digest(authorization_header.removeprefix("Bearer ").strip())
        with self._lock:
            token = self._tokens.get(digest)
        if token is None or self.clock.now() >= token.expires_at:
            raise SandboxOAuthError("invalid_token", "unknown or expired access token")
        available = token.citizen.claims()
        claims: dict[str, Any] = {
            "sub": self.pairwise_sub(token.client, token.citizen),
            "iss": self.issuer,
            "aud": token.client.client_id,
        }
        for name in sorted(claims_for_scopes(token.scopes) - {"sub"}):
            claims[name] = available[name]
        if token.citizen.scenario is Scenario.MISSING_CLAIMS:
            claims.pop("family_name", None)
            claims.pop("birthdate", None)
        return token.citizen.scenario, claims, token.client

    # -- /session/end -------------------------------------------------------------------

    def end_session(self, params: Mapping[str, str], session_id: str | None) -> str:
        """RP-initiated logout: ``id_token_hint``, ``state`` and
        ``post_logout_redirect_uri`` are all required (franceconnect.md, "/session/end");
        the provider session ends and the citizen goes back with the same ``state``."""
        hint = params.get("id_token_hint", "")
        state = params.get("state", "")
        target = params.get("post_logout_redirect_uri", "")
        if not hint or not state or not target:
            raise SandboxOAuthError(
                "invalid_request",
                "id_token_hint, state and post_logout_redirect_uri are required",
                redirect=False,
            )
        with self._lock:
            known = _digest(hint) in self._issued_id_tokens
        if not known:
            raise SandboxOAuthError("invalid_request", "unknown id_token_hint", redirect=False)
        claims = json.loads(_b64decode(hint.split(".")[1]))
        client = self.clients.get(str(claims.get("aud", "")))
        if client is None or target not in client.post_logout_redirect_uris:
            raise SandboxOAuthError(
                "invalid_request", "post_logout_redirect_uri is not registered", redirect=False
            )
        if session_id is not None:
            with self._lock:
                self._sessions.pop(_digest(session_id), None)
        return f"{target}?{urlencode({'state': state})}"


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
