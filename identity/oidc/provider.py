"""The OpenID provider on Authlib: grants, endpoints and the storage they need.

- Authorization code (RFC 6749 §4.1) with PKCE (RFC 7636; ``S256`` only, required for
  public clients) and OpenID Connect Core 1.0 §3.1 (``nonce``, ``prompt``, ID token);
- client credentials (RFC 6749 §4.4) for the platform-to-Parvis APIs (``api:*`` scopes);
- client authentication ``client_secret_basic``, ``client_secret_post``, ``private_key_jwt``
  (RFC 7523 §2.2, ``jti`` single use), ``none`` for public clients;
- revocation (RFC 7009) and introspection (RFC 7662), confidential clients only;
- RFC 9207 ``iss`` on every authorization response, errors included.

Every callback Authlib makes runs inside the one database transaction of the request
(:data:`CURRENT_DB`), so a code exchange and its tokens commit together or not at all.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from authlib.oauth2.rfc6749 import (
    InvalidClientError,
    InvalidRequestError,
    InvalidScopeError,
    grants,
)
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oauth2.rfc9207 import IssuerParameter
from authlib.oidc.core import grants as oidc_grants
from authlib.oidc.core.errors import RequestNotSupportedError, RequestURINotSupportedError
from joserfc import jwk
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from identity.oidc.clients import API_SCOPE_PREFIX, Client, ClientRegistry
from identity.oidc.keystore import KeyStore
from identity.oidc.pairwise import pairwise_sub
from identity.oidc.starlette import StarletteAuthorizationServer
from identity.oidc.tables import OidcCodeRow, OidcJtiRow, OidcSessionRow, OidcTokenRow
from parvis.kernel.clock import Clock

__all__ = [
    "ACCESS_TOKEN_SECONDS",
    "CODE_SECONDS",
    "CURRENT_DB",
    "ID_TOKEN_SECONDS",
    "EndUser",
    "Provider",
    "digest",
]

#: RFC 6749 §4.1.2: "A maximum authorization code lifetime of 10 minutes is RECOMMENDED";
#: a browser redirect takes seconds.
CODE_SECONDS = 60
ACCESS_TOKEN_SECONDS = 600
ID_TOKEN_SECONDS = 600
#: private_key_jwt assertions are accepted this long after their iat (and jti kept as long).
ASSERTION_SECONDS = 300

CURRENT_DB: ContextVar[Session] = ContextVar("identity.oidc.db")


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()


def _db() -> Session:
    return CURRENT_DB.get()


@dataclass(frozen=True, slots=True)
class EndUser:
    """The signed-in citizen as the grants see them."""

    pseudonym: str
    auth_time: int
    acr: str | None = None
    sid: str | None = None
    sector: str | None = None

    def get_user_id(self) -> str:
        return self.pseudonym


@dataclass
class StoredCode:
    """An authorization code row seen through Authlib's ``AuthorizationCodeMixin``."""

    row: OidcCodeRow

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope

    def get_nonce(self) -> str | None:
        return self.row.nonce

    def get_auth_time(self) -> int:
        return int(self.row.auth_time.timestamp())

    def get_acr(self) -> str | None:
        return self.row.acr

    def get_amr(self) -> list[str] | None:
        return None

    @property
    def code_challenge(self) -> str | None:
        return self.row.code_challenge

    @property
    def code_challenge_method(self) -> str | None:
        return self.row.code_challenge_method


@dataclass
class StoredToken:
    """An access token row seen through Authlib's ``TokenMixin``. ``client_enabled``: a
    token of a disabled client counts as revoked (RFC 7662 §2.2: ``active`` is false for a
    token that "has been revoked … or is otherwise invalid")."""

    row: OidcTokenRow
    now: datetime
    client_enabled: bool = True

    def check_client(self, client: Client) -> bool:
        return self.row.client_id == client.client_id

    def get_scope(self) -> str:
        return self.row.scope

    def get_expires_in(self) -> int:
        return ACCESS_TOKEN_SECONDS

    def is_expired(self) -> bool:
        return self.row.expires_at <= self.now

    def is_revoked(self) -> bool:
        return self.row.revoked_at is not None or not self.client_enabled

    def get_user(self) -> str | None:
        return self.row.citizen

    def get_client(self) -> Any:
        return None


class Provider(StarletteAuthorizationServer):  # StarletteAuthorizationServer carries the ignore
    """The authorization server of one process."""

    def __init__(
        self,
        *,
        issuer: str,
        clock: Clock,
        clients: ClientRegistry,
        keys: KeyStore,
        pairwise_key: bytes,
    ) -> None:
        super().__init__(scopes_supported=None)
        self.issuer = issuer
        self.clock = clock
        self.clients = clients
        self.keys = keys
        self.pairwise_key = pairwise_key
        provider = self

        def access_token(*_args: Any, **_kwargs: Any) -> str:
            return secrets.token_urlsafe(32)

        def expires_in(_client: Any, _grant_type: str) -> int:
            return ACCESS_TOKEN_SECONDS

        self.register_token_generator(
            "default", BearerTokenGenerator(access_token, None, expires_in)
        )
        self.register_client_auth_method(
            JWTBearerClientAssertion.CLIENT_AUTH_METHOD, _PrivateKeyJwt(provider)
        )
        self.register_client_auth_method("client_secret_basic", _SecretAuth(clients, basic=True))
        self.register_client_auth_method("client_secret_post", _SecretAuth(clients, basic=False))
        self.register_grant(_AuthorizationCode, [_PkceS256(required=True), _OpenIDCode(provider)])
        self.register_grant(_ClientCredentials)
        self.register_endpoint(_Revocation(self))
        self.register_endpoint(_Introspection(self))
        self.register_extension(_Issuer(issuer))

    # -- AuthorizationServer -----------------------------------------------------------------

    def query_client(self, client_id: str) -> Client | None:
        if not isinstance(client_id, str):
            return None
        return self.clients.get(_db(), client_id)

    def authenticate_client(self, request: Any, methods: list[str], endpoint: str = "token") -> Any:
        """RFC 6749 §5.2 ``invalid_client``, one answer for every failure (unknown or disabled
        client, wrong secret, method not registered, bad assertion): 401 with
        ``WWW-Authenticate`` (RFC 9110 §15.5.2 requires it on a 401) and one description, so
        that the answer does not tell which client ids exist. The precise reason stays in
        the exception chain, never in the response."""
        try:
            return super().authenticate_client(request, methods, endpoint)
        except InvalidClientError as exc:
            raise InvalidClientError(
                status_code=401, description="client authentication failed"
            ) from exc

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        now = self.clock.now()
        user = request.user
        code = request.authorization_code
        _db().add(
            OidcTokenRow(
                token_hash=digest(token["access_token"]),
                client_id=request.client.client_id,
                citizen=user.pseudonym if isinstance(user, EndUser) else None,
                scope=token.get("scope", ""),
                claims=code.row.claims if isinstance(code, StoredCode) else "{}",
                code_hash=code.row.code_hash if isinstance(code, StoredCode) else None,
                issued_at=now,
                expires_at=now + timedelta(seconds=ACCESS_TOKEN_SECONDS),
            )
        )

    def get_error_uri(self, request: Any, error: Any) -> None:
        return None

    # -- helpers for the adapters ------------------------------------------------------------

    def subject_for(self, client: Client, pseudonym: str) -> str:
        return pairwise_sub(self.pairwise_key, sector=client.sector, pseudonym=pseudonym)

    def bearer(self, session: Session, token: str) -> OidcTokenRow | None:
        """A live access token, or None: known, not expired, not revoked, and issued to a
        client that is still enabled (RFC 6750 §3.1 ``invalid_token``: "revoked … or
        invalid for other reasons"). :meth:`ClientRegistry.disable` revokes the client's
        tokens too; this check also refuses one committed by a token request that had
        authenticated the client just before the disabling."""
        if not token or len(token) > 200:
            return None
        row = session.get(OidcTokenRow, digest(token))
        now = self.clock.now()
        if row is None or row.revoked_at is not None or row.expires_at <= now:
            return None
        if not self.clients.is_enabled(session, row.client_id):
            return None
        return row

    def sign(
        self, session: Session, claims: dict[str, Any], *, alg: str, typ: str | None = None
    ) -> str:
        """A JWT signed with the active key of ``alg``. The caller names the algorithm the
        client registered for *this* kind of token (OpenID Connect Dynamic Client
        Registration 1.0 §2: ``id_token_signed_response_alg`` for ID and logout tokens,
        ``userinfo_signed_response_alg`` for UserInfo responses): there is no default, so
        one cannot stand in for the other."""
        from joserfc import jwt

        key = self.keys.signing_key(session, alg)
        header: dict[str, Any] = {"alg": alg, "kid": key.kid}
        if typ:
            header["typ"] = typ
        return jwt.encode(header, claims, key, algorithms=[alg])

    def revoke_for(self, session: Session, *, citizen: str, client_id: str | None = None) -> int:
        """Revoke every live token of ``citizen`` (at one client, or everywhere)."""
        query = update(OidcTokenRow).where(
            OidcTokenRow.citizen == citizen, OidcTokenRow.revoked_at.is_(None)
        )
        if client_id is not None:
            query = query.where(OidcTokenRow.client_id == client_id)
        result = session.execute(query.values(revoked_at=self.clock.now()))
        return int(getattr(result, "rowcount", 0) or 0)


# -- grants ----------------------------------------------------------------------------------


class _AuthorizationCode(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = [  # noqa: RUF012 - Authlib's class attribute
        "client_secret_basic",
        "client_secret_post",
        "client_assertion_jwt",
        "none",
    ]

    def validate_authorization_request(self) -> str:
        """OpenID Connect Core §6.1 and §6.2: the OP does not support request objects
        (discovery says ``request_parameter_supported`` and ``request_uri_parameter_supported``
        are false), and §3.1.2.6 names the answers: ``request_not_supported`` and
        ``request_uri_not_supported``. Ignoring the parameter instead would issue a code for
        parameters the client did not mean (the request object's values take precedence,
        §6.3.3). Checked once the redirect URI is known, so that the error is redirected."""
        redirect_uri: str = super().validate_authorization_request()
        data = self.request.payload.data
        state = self.request.payload.state
        if "request" in data:
            raise RequestNotSupportedError(state=state, redirect_uri=redirect_uri)
        if "request_uri" in data:
            raise RequestURINotSupportedError(state=state, redirect_uri=redirect_uri)
        return redirect_uri

    @staticmethod
    def validate_authorization_redirect_uri(request: Any, client: Client) -> str:
        """RFC 9700 §4.1.3 exact matching, and OpenID Connect Core §3.1.2.1: ``redirect_uri``
        is REQUIRED. The error is shown to the citizen, never sent to the URI (RFC 6749
        §4.1.2.1: "MUST NOT automatically redirect the user-agent to the invalid redirection
        URI"); its description never echoes the URI (Authlib's does, and a non-ASCII or
        ``\\`` character in it then made a 500)."""
        uri = request.payload.redirect_uri
        if not uri:
            raise InvalidRequestError("redirect_uri is required", state=request.payload.state)
        if not client.check_redirect_uri(uri):
            raise InvalidRequestError("redirect_uri is not registered for this platform")
        return str(uri)

    def validate_requested_scope(self) -> None:
        """OpenID Connect Core §3.1.2.1: ``openid`` is REQUIRED (Parvis releases citizen
        data to platforms only through OpenID Connect sign-in); the ``api:*`` scopes of the
        platform APIs belong to the client-credentials grant and never ride on a citizen's
        authorization (RFC 6749 §3.3: the server MAY refuse a scope, ``invalid_scope``)."""
        scopes = (self.request.payload.scope or "").split()
        if "openid" not in scopes:
            raise InvalidScopeError("the openid scope is required")
        if any(s.startswith(API_SCOPE_PREFIX) for s in scopes):
            raise InvalidScopeError("api:* scopes are for the client credentials grant")
        super().validate_requested_scope()

    def save_authorization_code(self, code: str, request: Any) -> None:
        provider: Provider = self.server
        user: EndUser = request.user
        now = provider.clock.now()
        data = request.payload.data
        session = _db()
        sid = user.sid or secrets.token_urlsafe(16)
        if session.get(OidcSessionRow, sid) is None:
            session.add(
                OidcSessionRow(
                    sid=sid,
                    citizen=user.pseudonym,
                    client_id=request.client.client_id,
                    created_at=now,
                )
            )
        claims = data.get("claims")
        session.add(
            OidcCodeRow(
                code_hash=digest(code),
                client_id=request.client.client_id,
                citizen=user.pseudonym,
                redirect_uri=request.payload.redirect_uri,
                # The scopes registered for the client only (Authlib's request.scope, set
                # from client.get_allowed_scope when the request was validated).
                scope=request.client.get_allowed_scope(request.payload.scope),
                nonce=data.get("nonce"),
                code_challenge=data.get("code_challenge"),
                code_challenge_method=data.get("code_challenge_method"),
                claims=claims if isinstance(claims, str) else "{}",
                acr=user.acr,
                sid=sid,
                auth_time=datetime.fromtimestamp(user.auth_time, tz=now.tzinfo),
                expires_at=now + timedelta(seconds=CODE_SECONDS),
            )
        )

    def query_authorization_code(self, code: str, client: Client) -> StoredCode | None:
        provider: Provider = self.server
        session = _db()
        row = session.get(OidcCodeRow, digest(code), with_for_update=True)
        if row is None or row.client_id != client.client_id:
            return None
        now = provider.clock.now()
        if row.used_at is not None:
            # RFC 6749 §4.1.2: a code used twice "SHOULD revoke … all tokens previously
            # issued based on that authorization code". The revocation must survive the
            # error response, so it is flagged for the caller to commit.
            session.execute(
                update(OidcTokenRow)
                .where(OidcTokenRow.code_hash == row.code_hash, OidcTokenRow.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            session.info["commit_on_error"] = True
            return None
        if row.expires_at <= now:
            return None
        return StoredCode(row)

    def delete_authorization_code(self, authorization_code: StoredCode) -> None:
        # Kept (marked used) rather than deleted, so that a replay can be recognised.
        authorization_code.row.used_at = self.server.clock.now()

    def authenticate_user(self, authorization_code: StoredCode) -> EndUser:
        row = authorization_code.row
        client = self.request.client
        return EndUser(
            pseudonym=row.citizen,
            auth_time=int(row.auth_time.timestamp()),
            acr=row.acr,
            sid=row.sid,
            sector=client.sector,
        )


class _PkceS256(CodeChallenge):  # type: ignore[misc]
    """RFC 7636 with ``S256`` only (RFC 9700 §2.1.1: ``plain`` SHOULD NOT be used; we
    refuse it), and a challenge required from public clients."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]  # noqa: RUF012 - Authlib's class attribute

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        challenge = data.get("code_challenge")
        if challenge and data.get("code_challenge_method") != "S256":
            # Without a method RFC 7636 §4.3 means "plain": refused, not silently upgraded.
            raise InvalidRequestError(
                "code_challenge_method must be S256", redirect_uri=redirect_uri
            )
        if not challenge and grant.request.client.public:
            raise InvalidRequestError(
                "public clients must use PKCE (S256)", redirect_uri=redirect_uri
            )
        try:
            super().validate_code_challenge(grant, redirect_uri)
        except InvalidRequestError as exc:
            exc.redirect_uri = redirect_uri
            raise


class _OpenIDCode(oidc_grants.OpenIDCode):  # type: ignore[misc]
    def __init__(self, provider: Provider) -> None:
        super().__init__(require_nonce=False)
        self.provider = provider

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        # A nonce already bound to a live code of this client is a replayed request.
        found = _db().scalar(
            select(OidcCodeRow.code_hash).where(
                OidcCodeRow.client_id == request.payload.client_id,
                OidcCodeRow.nonce == nonce,
                OidcCodeRow.used_at.is_(None),
            )
        )
        return found is not None

    def resolve_client_private_key(self, client: Client) -> jwk.Key:
        return self.provider.keys.signing_key(_db(), client.id_token_signed_response_alg)

    def get_client_algorithm(self, client: Client) -> str:
        return client.id_token_signed_response_alg

    def get_encode_header(self, client: Client) -> dict[str, str]:
        key = self.resolve_client_private_key(client)
        return {"alg": client.id_token_signed_response_alg, "kid": str(key.kid)}

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        now = int(self.provider.clock.now().timestamp())
        return {
            "iss": self.provider.issuer,
            "aud": client.client_id,
            "iat": now,
            "exp": now + ID_TOKEN_SECONDS,
        }

    def generate_user_info(self, user: EndUser, scope: str) -> dict[str, Any]:
        # Minimal ID token: the claims of the scopes are served by the userinfo endpoint
        # (Core §5.4, response_type=code); the ID token says only who and which session.
        assert user.sector is not None, "authenticate_user sets the client's sector"
        info: dict[str, Any] = {
            "sub": pairwise_sub(
                self.provider.pairwise_key, sector=user.sector, pseudonym=user.pseudonym
            )
        }
        if user.sid:
            info["sid"] = user.sid
        return info


class _ClientCredentials(grants.ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = [  # noqa: RUF012 - Authlib's class attribute
        "client_secret_basic",
        "client_secret_post",
        "client_assertion_jwt",
    ]

    def validate_token_request(self) -> None:
        """RFC 6749 §4.4.2 and §3.3: the platform APIs only (``api:*``), each of them
        registered for the client. A scope outside that is ``invalid_scope`` rather than
        silently dropped: a token with fewer scopes than asked, or none, is a surprise."""
        super().validate_token_request()
        scope = self.request.payload.scope or ""
        wanted = scope.split()
        if not wanted or any(not s.startswith(API_SCOPE_PREFIX) for s in wanted):
            raise InvalidScopeError("client credentials carry only api:* scopes")
        if set(wanted) - set(self.request.client.scopes):
            raise InvalidScopeError("a scope asked for is not registered for this client")


class _PrivateKeyJwt(JWTBearerClientAssertion):  # type: ignore[misc]
    """RFC 7523 §2.2 and §3 client authentication with the client's registered JWKS.

    - only RS256, ES256 and PS256 verify: ``alg: none`` and an HMAC algorithm keyed with
      the client's public key (key confusion) never reach a key (RFC 8725 §3.1, §2.1);
    - §3 item 4: ``exp`` is required and checked against the provider's clock (not the
      wall clock of the library), with 30 s of leeway; an ``exp`` further than
      :data:`ASSERTION_SECONDS` ahead is refused, so that a ``jti`` is remembered for
      longer than any assertion that carries it can be valid;
    - §3 item 3: ``aud`` must be the issuer or the token endpoint;
    - §3 items 1–2: ``iss`` and ``sub`` are the client id;
    - §3 item 7: ``jti`` is single use.
    Every failure is the same ``invalid_client`` (see :meth:`Provider.authenticate_client`).
    """

    LEEWAY = 30

    def __init__(self, provider: Provider) -> None:
        super().__init__(validate_jti=True, leeway=self.LEEWAY)
        self.provider = provider

    def __call__(self, query_client: Any, request: Any) -> Any:
        client = super().__call__(query_client, request)
        named = request.form.get("client_id")
        if client is not None and named is not None and named != client.client_id:
            # RFC 7521 §4.2: "If present, the value of the client_id parameter MUST identify
            # the same client as is identified by the client assertion."
            raise InvalidClientError(description="client_id is not the assertion's client")
        return client

    def get_audiences(self) -> list[str]:
        return [self.provider.issuer, f"{self.provider.issuer}/token"]

    def resolve_client_public_key(self, client: Client) -> jwk.KeySet:
        if client.auth_method != "private_key_jwt" or not client.jwks:
            raise InvalidClientError(description="this client has no registered keys")
        keys = [k for k in client.jwks.get("keys", []) if k.get("kty") in {"RSA", "EC"}]
        return jwk.KeySet.import_key_set({"keys": keys})

    def process_assertion_claims(self, assertion: str, resolve_key: Any) -> Any:
        from joserfc import jwt
        from joserfc.errors import JoseError

        try:
            token = jwt.decode(assertion, resolve_key, algorithms=["RS256", "ES256", "PS256"])
        except (JoseError, ValueError) as exc:
            raise InvalidClientError(description="invalid client assertion") from exc
        self.verify_claims(token.claims)
        return token.claims

    def verify_claims(self, claims: Any) -> None:
        from joserfc import jwt
        from joserfc.errors import JoseError

        now = int(self.provider.clock.now().timestamp())
        registry = jwt.JWTClaimsRegistry(
            now=now,
            leeway=self.LEEWAY,
            iss={"essential": True},
            sub={"essential": True},
            aud={"essential": True, "values": self.get_audiences()},
            exp={"essential": True},
            jti={"essential": True},
        )
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise InvalidClientError(description="invalid client assertion") from exc
        if claims["sub"] != claims["iss"]:
            raise InvalidClientError(description="iss and sub must be the client id")
        if claims["exp"] > now + ASSERTION_SECONDS:
            raise InvalidClientError(description="client assertion valid for too long")
        iat = claims.get("iat")
        if isinstance(iat, int | float) and iat < now - ASSERTION_SECONDS:
            raise InvalidClientError(description="client assertion too old")
        if not self.validate_jti(claims, claims["jti"]):
            raise InvalidClientError(description="client assertion replayed")

    def validate_jti(self, claims: dict[str, Any], jti: str) -> bool:
        session = _db()
        key = digest(f"{claims.get('iss')}\x00{jti}")
        now = self.provider.clock.now()
        session.execute(delete(OidcJtiRow).where(OidcJtiRow.expires_at <= now))
        if session.get(OidcJtiRow, key) is not None:
            return False
        # Kept past the latest exp an accepted assertion can have (now + ASSERTION_SECONDS
        # + leeway): a replay is recognised for as long as the assertion could verify.
        session.add(
            OidcJtiRow(jti_hash=key, expires_at=now + timedelta(seconds=2 * ASSERTION_SECONDS))
        )
        session.flush()
        # The assertion is spent even if the request then fails (e.g. invalid_scope): its
        # jti row must survive the error response, or a captured assertion would work once
        # more. Nothing else is written before a token request can fail.
        session.info["commit_on_error"] = True
        return True


class _SecretAuth:
    """``client_secret_basic`` (RFC 6749 §2.3.1) and ``client_secret_post``, replacing
    Authlib's: an unknown or disabled client takes the same path as a known one (one lookup,
    one keyed hash compared in constant time against a dummy) and fails the same way."""

    def __init__(self, clients: ClientRegistry, *, basic: bool) -> None:
        self.clients = clients
        self.basic = basic

    def __call__(self, query_client: Any, request: Any) -> Client | None:
        if self.basic:
            client_id, secret = extract_basic_authorization(request.headers)
        else:
            client_id = request.form.get("client_id")
            secret = request.form.get("client_secret")
        if not isinstance(client_id, str) or not isinstance(secret, str) or not secret:
            return None
        client: Client | None = query_client(client_id)
        if client is None:
            self.clients.check_unknown(secret)
            return None
        return client if client.check_client_secret(secret) else None


class _Revocation(RevocationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = [  # noqa: RUF012 - Authlib's class attribute
        "client_secret_basic",
        "client_secret_post",
        "client_assertion_jwt",
    ]

    def query_token(self, token_string: str, token_type_hint: str | None) -> StoredToken | None:
        row = _db().get(OidcTokenRow, digest(token_string or ""))
        return StoredToken(row, self.server.clock.now()) if row is not None else None

    def revoke_token(self, token: StoredToken, request: Any) -> None:
        token.row.revoked_at = token.row.revoked_at or self.server.clock.now()


class _Introspection(IntrospectionEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = [  # noqa: RUF012 - Authlib's class attribute
        "client_secret_basic",
        "client_secret_post",
        "client_assertion_jwt",
    ]

    def query_token(self, token_string: str, token_type_hint: str | None) -> StoredToken | None:
        session = _db()
        row = session.get(OidcTokenRow, digest(token_string or ""))
        if row is None:
            return None
        provider: Provider = self.server
        enabled = provider.clients.is_enabled(session, row.client_id)
        return StoredToken(row, provider.clock.now(), client_enabled=enabled)

    def check_permission(self, token: StoredToken, client: Client, request: Any) -> bool:
        # A platform may introspect only its own tokens (no cross-client probing).
        return token.row.client_id == client.client_id

    def introspect_token(self, token: StoredToken) -> dict[str, Any]:
        provider: Provider = self.server
        row = token.row
        out: dict[str, Any] = {
            "active": True,
            "client_id": row.client_id,
            "scope": row.scope,
            "token_type": "Bearer",
            "iss": provider.issuer,
            "iat": int(row.issued_at.timestamp()),
            "exp": int(row.expires_at.timestamp()),
        }
        if row.citizen:
            client = provider.clients.get(_db(), row.client_id)
            if client is not None:
                out["sub"] = provider.subject_for(client, row.citizen)
        return out


class _Issuer(IssuerParameter):  # type: ignore[misc]
    def __init__(self, issuer: str) -> None:
        self.issuer = issuer

    def get_issuer(self) -> str:
        return self.issuer

    def add_issuer_parameter(self, authorization_server: Any, response: Any) -> None:
        # Our adapter's responses are (status, body, headers) triples: the Location header
        # is rewritten in place in the (mutable) header list.
        from authlib.common.urls import add_params_to_uri

        _status, _body, headers = response
        for i, (key, value) in enumerate(headers):
            if key.lower() == "location":
                headers[i] = (key, add_params_to_uri(value, {"iss": self.issuer}))


def claims_request(raw: str) -> dict[str, Any]:
    """The ``claims`` parameter (Core §5.5) as a dict; malformed input counts as none."""
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
