"""The FranceConnect v2 sandbox: the provider's rules, independent of HTTP.

franceconnect.md, "The sandbox Parvis ships" — a FranceConnect v2 standard look-alike:
discovery; JWKS with one ES256 and one RS256 key and a rotation switch; per-client signing
algorithm; mandatory ``state``, ``nonce`` (≥ 22 characters, configurable to 32) and
``acr_values``; client scope habilitations and the error redirect when exceeded;
``prompt=login``; ``idp_hint``; 30-second single-use codes; 60-second tokens; JWT userinfo;
pairwise ``sub`` (64 hex + ``v1``); ``/session/end`` with its three required parameters; a
controllable clock (the injected :class:`~parvis.kernel.clock.Clock`).

State (interactions, codes, tokens, provider sessions, issued ID tokens, the signing keys)
lives in a :class:`~identity.sandbox.store.SandboxStore`: the database when the sandbox is
served by Parvis, so that a demo with several worker processes works whichever process
answers each step; memory for the standalone ``parvis fc-sandbox``. The HTTP adapter is
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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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
from identity.sandbox.store import MemoryStore, SandboxStore
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
#: How long an issued ID token is accepted as ``id_token_hint`` at ``/session/end``: longer
#: than a Parvis session may last (12 hours), so a citizen can always sign out.
ID_TOKEN_HINT_LIFETIME = timedelta(hours=24)
#: The signing keys stay until rotated.
_KEYS_KEEP_UNTIL = datetime(9999, 1, 1, tzinfo=UTC)

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
    both with new ``kid`` values, and the old ones disappear from the JWKS at once.

    The pair lives in the sandbox's store (private JWKs), so every process serving the
    sandbox signs with the keys every other one publishes; the first to find none stores
    one, and a concurrent first loses to it (:meth:`SandboxStore.add`)."""

    _shared: tuple[jwk.ECKey, jwk.RSAKey] | None = None
    _lock = threading.Lock()

    def __init__(
        self, *, fresh: bool = False, store: SandboxStore | None = None, clock: Clock | None = None
    ) -> None:
        self._store: SandboxStore = store or MemoryStore()
        self._clock = clock
        self._fresh = fresh
        self._parsed: tuple[str, jwk.ECKey, jwk.RSAKey] | None = None

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

    @staticmethod
    def _document(generation: int, pair: tuple[jwk.ECKey, jwk.RSAKey]) -> dict[str, Any]:
        return {
            "generation": generation,
            "ec": pair[0].as_dict(private=True),
            "rsa": pair[1].as_dict(private=True),
        }

    def _now(self) -> datetime:
        return self._clock.now() if self._clock is not None else datetime.now(UTC)

    def _current(self) -> tuple[jwk.ECKey, jwk.RSAKey]:
        now = self._now()
        document = self._store.get("keys", "current", now=now)
        if document is None:
            if self._fresh:
                pair = self._generate(0)
            else:
                # RSA generation costs ~0.1 s: every sandbox of a process starts from one pair.
                with SandboxKeys._lock:
                    if SandboxKeys._shared is None:
                        SandboxKeys._shared = self._generate(0)
                    pair = SandboxKeys._shared
            document = self._store.add(
                "keys", "current", self._document(0, pair), expires_at=_KEYS_KEEP_UNTIL
            )
        tag = f"{document['generation']}|{document['ec']['kid']}|{document['rsa']['kid']}"
        if self._parsed is None or self._parsed[0] != tag:
            self._parsed = (
                tag,
                jwk.ECKey.import_key(document["ec"]),
                jwk.RSAKey.import_key(document["rsa"]),
            )
        return self._parsed[1], self._parsed[2]

    @property
    def ec(self) -> jwk.ECKey:
        return self._current()[0]

    @property
    def rsa(self) -> jwk.RSAKey:
        return self._current()[1]

    def rotate(self) -> None:
        """The rotation switch: new keys, new ``kid`` values, the old keys forgotten."""
        now = self._now()
        document = self._store.get("keys", "current", now=now)
        generation = int(document["generation"]) + 1 if document is not None else 1
        self._store.put(
            "keys",
            "current",
            self._document(generation, self._generate(generation)),
            expires_at=_KEYS_KEEP_UNTIL,
            now=now,
        )

    def for_alg(self, alg: str) -> jwk.ECKey | jwk.RSAKey:
        ec, rsa = self._current()
        return ec if alg == "ES256" else rsa

    def jwks(self) -> dict[str, Any]:
        """The public JWKS (RFC 7517 §5)."""
        return dict(jwk.KeySet(list(self._current())).as_dict(private=False))


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
        store: SandboxStore | None = None,
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
        self.store: SandboxStore = store or MemoryStore()
        self.keys = keys or SandboxKeys(store=self.store, clock=clock)

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
        self.store.put(
            "interaction",
            _digest(authorization.id),
            self._authorization_to_json(authorization),
            expires_at=authorization.created_at + FC_SESSION_LIFETIME,
            now=authorization.created_at,
        )
        return authorization

    # -- state documents (the store keeps JSON) -----------------------------------------

    @staticmethod
    def _authorization_to_json(authorization: Authorization) -> dict[str, Any]:
        return {
            "id": authorization.id,
            "client_id": authorization.client.client_id,
            "redirect_uri": authorization.redirect_uri,
            "scopes": list(authorization.scopes),
            "state": authorization.state,
            "nonce": authorization.nonce,
            "acr": authorization.acr,
            "prompt": sorted(authorization.prompt),
            "idp_hint": authorization.idp_hint,
            "claims_request": authorization.claims_request,
            "created_at": authorization.created_at.isoformat(),
        }

    def _authorization_from_json(self, data: Mapping[str, Any]) -> Authorization:
        client = self.clients.get(str(data["client_id"]))
        if client is None:
            raise SandboxOAuthError("invalid_client", "unknown client_id", redirect=False)
        return Authorization(
            id=str(data["id"]),
            client=client,
            redirect_uri=str(data["redirect_uri"]),
            scopes=tuple(data["scopes"]),
            state=str(data["state"]),
            nonce=str(data["nonce"]),
            acr=str(data["acr"]),
            prompt=frozenset(data["prompt"]),
            idp_hint=data["idp_hint"],
            claims_request=dict(data["claims_request"]),
            created_at=datetime.fromisoformat(data["created_at"]),
        )

    def _citizen(self, login: object) -> TestCitizen:
        citizen = self.citizens.get(str(login))
        if citizen is None:
            raise SandboxOAuthError("access_denied", "unknown test citizen", redirect=False)
        return citizen

    def interaction(self, interaction_id: str) -> Authorization:
        """A pending interaction, valid for the FranceConnect session lifetime."""
        found = self.store.get("interaction", _digest(interaction_id), now=self.clock.now())
        if found is None:
            raise SandboxOAuthError(
                "invalid_request", "unknown or expired interaction", redirect=False
            )
        return self._authorization_from_json(found)

    def sso_citizen(
        self, authorization: Authorization, session_id: str | None
    ) -> TestCitizen | None:
        """The citizen of a live provider session, unless ``prompt=login`` forces a new
        authentication (OpenID Connect Core §3.1.2.1) or ``idp_hint`` names another provider."""
        if session_id is None or "login" in authorization.prompt:
            return None
        session = self.store.get("fc_session", _digest(session_id), now=self.clock.now())
        if session is None:
            return None
        citizen = self.citizens.get(str(session["citizen"]))
        if citizen is None:
            return None
        if authorization.idp_hint is not None and citizen.idp != authorization.idp_hint:
            return None
        return citizen

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
        citizen = self._citizen(login)
        if citizen.disabled:
            raise SandboxOAuthError("access_denied", "this account is disabled", redirect=False)
        if authorization.idp_hint is not None and citizen.idp != authorization.idp_hint:
            raise SandboxOAuthError("access_denied", "citizen of another provider", redirect=False)
        if citizen.scenario is Scenario.CANCEL:
            return self.cancel(authorization), session_id or ""
        now = self.clock.now()
        new_session = session_id is None or "login" in authorization.prompt
        existing = (
            None
            if new_session
            else self.store.get("fc_session", _digest(session_id or ""), now=now)
        )
        if existing is None or existing["citizen"] != citizen.login:
            session_id = secrets.token_urlsafe(32)
            existing = {
                "citizen": citizen.login,
                "started_at": now.isoformat(),
                "sid": secrets.token_hex(16),
            }
            self.store.put(
                "fc_session",
                _digest(session_id),
                existing,
                expires_at=now + FC_SESSION_LIFETIME,
                now=now,
            )
        code = secrets.token_urlsafe(32)
        # Kept past its 30 seconds (until the provider session would end) so that a late
        # redemption is told "expired", not "unknown".
        self.store.put(
            "code",
            _digest(code),
            {
                "authorization": self._authorization_to_json(authorization),
                "citizen": citizen.login,
                "sid": existing["sid"],
                "auth_time": existing["started_at"],
                "expires_at": (now + CODE_LIFETIME).isoformat(),
            },
            expires_at=now + FC_SESSION_LIFETIME,
            now=now,
        )
        self._forget(authorization)
        query = urlencode({"code": code, "state": authorization.state})
        return f"{authorization.redirect_uri}?{query}", session_id or ""

    def _forget(self, authorization: Authorization) -> None:
        self.store.delete("interaction", _digest(authorization.id))

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
        found = self.store.get("code", _digest(form.get("code", "")), now=self.clock.now())
        citizen = self.citizens.get(str(found["citizen"])) if found is not None else None
        return citizen.scenario if citizen is not None else Scenario.NONE

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
        code_hash = _digest(form.get("code", ""))
        # Taken, not read: of two concurrent redemptions (maybe on two processes) one wins.
        code = self.store.take("code", code_hash, now=now)
        if code is None:
            used = self.store.get("used_code", code_hash, now=now)
            if used is None:
                raise SandboxOAuthError("invalid_grant", "unknown code")
            for token in used["access_tokens"]:
                self.store.delete("token", str(token))
            raise SandboxOAuthError("invalid_grant", "code already used")
        used_until = now + FC_SESSION_LIFETIME
        self.store.put(
            "used_code", code_hash, {"access_tokens": []}, expires_at=used_until, now=now
        )
        if now >= datetime.fromisoformat(code["expires_at"]):
            raise SandboxOAuthError("invalid_grant", "code expired")
        authorization = self._authorization_from_json(code["authorization"])
        citizen = self._citizen(code["citizen"])
        if authorization.client.client_id != client.client_id:
            raise SandboxOAuthError("invalid_grant", "code issued to another client")
        if form.get("redirect_uri") != authorization.redirect_uri:
            raise SandboxOAuthError("invalid_grant", "redirect_uri mismatch")
        access_token = secrets.token_urlsafe(32)
        self.store.put(
            "token",
            _digest(access_token),
            {
                "client_id": client.client_id,
                "citizen": citizen.login,
                "scopes": list(authorization.scopes),
            },
            expires_at=now + TOKEN_LIFETIME,
            now=now,
        )
        self.store.put(
            "used_code",
            code_hash,
            {"access_tokens": [_digest(access_token)]},
            expires_at=used_until,
            now=now,
        )
        auth_time = datetime.fromisoformat(code["auth_time"])
        id_claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": client.client_id,
            "sub": self.pairwise_sub(client, citizen),
            "iat": int(now.timestamp()),
            "exp": int((now + TOKEN_LIFETIME).timestamp()),
            "nonce": authorization.nonce,
            "acr": authorization.acr,
            "auth_time": int(auth_time.timestamp()),
            "at_hash": at_hash(access_token, client.alg),
            "sid": str(code["sid"]),
        }
        wanted = authorization.claims_request.get("id_token", {})
        if isinstance(wanted, dict) and "amr" in wanted and "amr" in client.scopes:
            id_claims["amr"] = citizen.claims()["amr"]
        id_token = self.sign(client, id_claims)
        self.store.put(
            "id_token", _digest(id_token), {}, expires_at=now + ID_TOKEN_HINT_LIFETIME, now=now
        )
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
        token = self.store.get("token", digest, now=self.clock.now())
        client = self.clients.get(str(token["client_id"])) if token is not None else None
        if token is None or client is None:
            raise SandboxOAuthError("invalid_token", "unknown or expired access token")
        citizen = self._citizen(token["citizen"])
        available = citizen.claims()
        claims: dict[str, Any] = {
            "sub": self.pairwise_sub(client, citizen),
            "iss": self.issuer,
            "aud": client.client_id,
        }
        for name in sorted(claims_for_scopes(tuple(token["scopes"])) - {"sub"}):
            claims[name] = available[name]
        if citizen.scenario is Scenario.MISSING_CLAIMS:
            claims.pop("family_name", None)
            claims.pop("birthdate", None)
        return citizen.scenario, claims, client

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
        known = self.store.get("id_token", _digest(hint), now=self.clock.now())
        if known is None:
            raise SandboxOAuthError("invalid_request", "unknown id_token_hint", redirect=False)
        claims = json.loads(_b64decode(hint.split(".")[1]))
        client = self.clients.get(str(claims.get("aud", "")))
        if client is None or target not in client.post_logout_redirect_uris:
            raise SandboxOAuthError(
                "invalid_request", "post_logout_redirect_uri is not registered", redirect=False
            )
        if session_id is not None:
            self.store.delete("fc_session", _digest(session_id))
        return f"{target}?{urlencode({'state': state})}"


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
