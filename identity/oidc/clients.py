"""Platforms registered as OpenID clients by an administrator (docs/oidc-integration.md §4).

Metadata names follow OpenID Connect Dynamic Client Registration 1.0 §2 (registration is
administrative here, not dynamic). Redirect URIs are compared by exact string match
(RFC 9700 §4.1.3: "the authorization server MUST ensure … exact string matching"); a URI
with a fragment, a wildcard or a non-HTTPS scheme (other than loopback outside production)
is refused at registration. Secrets are 256-bit random values shown once; Parvis keeps
HMAC-SHA-256 of them under a derived key and compares in constant time.
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from identity.oidc.claims import SCOPES
from identity.oidc.errors import ClientRegistrationError, UnknownClientError
from identity.oidc.pairwise import sector_of
from identity.oidc.tables import OidcClientRow, OidcCodeRow, OidcSessionRow, OidcTokenRow
from parvis.kernel.clock import Clock
from parvis.kernel.keys import derive_key, keyed_hash

__all__ = [
    "AUTH_METHODS",
    "Client",
    "ClientRegistry",
    "Disabled",
    "Registration",
    "check_secret",
]

AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")
ID_TOKEN_ALGS = ("RS256", "ES256")
API_SCOPE_PREFIX = "api:"
#: Scopes of the platform-to-Parvis APIs (client-credentials grant).
API_SCOPES = ("api:consent", "api:ballot")
_CLIENT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{2,47}$")
_DUMMY = "0" * 64
SECRET_PURPOSE = "identity/oidc/client-secret/v1"  # noqa: S105 - an HKDF label, not a secret


def _check_uri(uri: str, *, allow_loopback_http: bool, what: str) -> str:
    parts = urlsplit(uri)
    if parts.fragment or "#" in uri:
        raise ClientRegistrationError(f"{what} must not contain a fragment: {uri!r}")
    if "*" in uri:
        raise ClientRegistrationError(f"{what} must not contain a wildcard: {uri!r}")
    if parts.scheme == "https" and parts.hostname:
        return uri
    loopback = parts.hostname in {"127.0.0.1", "localhost", "::1"}
    if parts.scheme == "http" and loopback and allow_loopback_http:
        return uri
    raise ClientRegistrationError(f"{what} must be an absolute https URL: {uri!r}")


@dataclass(frozen=True, slots=True)
class Registration:
    """What an administrator enters for a platform; validated on construction."""

    client_id: str
    name: str
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ("openid", "eligibility", "age")
    auth_method: str = "client_secret_basic"
    id_token_alg: str = "RS256"  # noqa: S105 - an algorithm name
    userinfo_alg: str | None = None
    sector_identifier: str | None = None
    backchannel_logout_uri: str | None = None
    jwks: dict[str, Any] | None = None
    purposes: dict[str, str] = field(default_factory=dict)
    allow_loopback_http: bool = False

    def __post_init__(self) -> None:
        if not _CLIENT_ID.match(self.client_id):
            raise ClientRegistrationError("client id: 3 to 48 lowercase letters, digits or '-'")
        if self.auth_method not in AUTH_METHODS:
            raise ClientRegistrationError(f"token endpoint auth method: one of {AUTH_METHODS}")
        if self.id_token_alg not in ID_TOKEN_ALGS:
            raise ClientRegistrationError(f"ID token algorithm: one of {ID_TOKEN_ALGS}")
        if self.userinfo_alg not in (None, *ID_TOKEN_ALGS):
            raise ClientRegistrationError("userinfo algorithm: none (JSON), RS256 or ES256")
        unknown = set(self.scopes) - set(SCOPES) - set(API_SCOPES)
        if unknown:
            raise ClientRegistrationError(f"unknown scopes: {sorted(unknown)}")
        if self.auth_method == "private_key_jwt" and not self.jwks:
            raise ClientRegistrationError("private_key_jwt needs the client's public JWKS")
        if "openid" in self.scopes and not self.redirect_uris:
            raise ClientRegistrationError("a sign-in client needs at least one redirect URI")
        if self.auth_method == "none" and any(s.startswith(API_SCOPE_PREFIX) for s in self.scopes):
            raise ClientRegistrationError("a public client cannot use the platform APIs")
        loop = self.allow_loopback_http
        for uri in self.redirect_uris:
            _check_uri(uri, allow_loopback_http=loop, what="redirect URI")
        for uri in self.post_logout_redirect_uris:
            _check_uri(uri, allow_loopback_http=loop, what="post-logout redirect URI")
        if self.backchannel_logout_uri:
            _check_uri(self.backchannel_logout_uri, allow_loopback_http=loop, what="logout URI")
        if self.redirect_uris:
            try:
                sector_of(self.redirect_uris, self.sector_identifier)
            except ValueError as exc:
                raise ClientRegistrationError(str(exc)) from None


@dataclass(frozen=True, slots=True)
class Client:
    """A registered client as Authlib's ``ClientMixin`` expects it (duck-typed)."""

    client_id: str
    name: str
    public: bool
    auth_method: str
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...]
    scopes: tuple[str, ...]
    grant_types: tuple[str, ...]
    id_token_signed_response_alg: str
    userinfo_signed_response_alg: str | None
    sector: str
    backchannel_logout_uri: str | None
    jwks: dict[str, Any] | None
    purposes: dict[str, str]
    secret_hash: str | None
    secret_key: bytes

    @classmethod
    def from_row(cls, row: OidcClientRow, secret_key: bytes) -> Client:
        return cls(
            client_id=row.client_id,
            name=row.name,
            public=row.public,
            auth_method=row.auth_method,
            redirect_uris=tuple(json.loads(row.redirect_uris)),
            post_logout_redirect_uris=tuple(json.loads(row.post_logout_redirect_uris)),
            scopes=tuple(row.scopes.split()),
            grant_types=tuple(row.grant_types.split()),
            id_token_signed_response_alg=row.id_token_alg,
            userinfo_signed_response_alg=row.userinfo_alg,
            sector=row.sector,
            backchannel_logout_uri=row.backchannel_logout_uri,
            jwks=json.loads(row.jwks) if row.jwks else None,
            purposes=json.loads(row.purposes),
            secret_hash=row.secret_hash,
            secret_key=secret_key,
        )

    # -- authlib.oauth2.rfc6749.ClientMixin -------------------------------------------------

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        # RFC 6749 §3.1.2.3 allows omitting redirect_uri with a single registration; OpenID
        # Core §3.1.2.1 makes it REQUIRED. We require it always: no default.
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return ""
        allowed = set(self.scopes)
        return " ".join(s for s in scope.split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        """RFC 9700 §4.1.3: "exact string matching" (no normalisation: case, trailing slash,
        dot segments, percent-encoding, extra query or fragment all make a different URI).

        Compared as UTF-8 bytes: :func:`hmac.compare_digest` refuses ``str`` with non-ASCII
        characters (a TypeError, once a 500 for ``…/callbacké``)."""
        if not isinstance(redirect_uri, str):
            return False
        presented = redirect_uri.encode("utf-8", "surrogatepass")
        return any(hmac.compare_digest(presented, u.encode("utf-8")) for u in self.redirect_uris)

    def check_client_secret(self, client_secret: str) -> bool:
        """Constant time whatever the client (no secret registered → compared against a
        dummy, and refused)."""
        return check_secret(self.secret_key, self.secret_hash, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if method == "client_assertion_jwt":
            method = "private_key_jwt"
        if endpoint == "token" or not self.public:
            return method == self.auth_method
        return False

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


def check_secret(secret_key: bytes, expected: str | None, presented: str) -> bool:
    """The keyed hash of ``presented`` compared in constant time with ``expected``; with no
    ``expected`` (unknown or disabled client, or one without a secret) the same work is done
    against a dummy, so that the answer takes the same path (RFC 6819 §5.1.4.2.2 spirit:
    client ids must not be enumerable by timing or by a different error)."""
    value = keyed_hash(secret_key, presented.encode("utf-8", "surrogatepass"))
    same = hmac.compare_digest(value.encode("ascii"), (expected or _DUMMY).encode("ascii"))
    return same and expected is not None


@dataclass(frozen=True, slots=True)
class Disabled:
    """What :meth:`ClientRegistry.disable` did."""

    client_id: str
    already: bool
    tokens_revoked: int
    sessions_ended: int
    codes_expired: int


def _count(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


class ClientRegistry:
    """Create, read, rotate, disable and enable clients in the caller's transaction."""

    def __init__(self, *, master_secret: str, clock: Clock) -> None:
        self.secret_key = derive_key(master_secret, SECRET_PURPOSE)
        self.clock = clock

    def _hash(self, secret: str) -> str:
        return keyed_hash(self.secret_key, secret.encode("utf-8"))

    def create(self, session: Session, registration: Registration) -> str | None:
        """Register; returns the client secret (shown once) for secret-based methods."""
        reg = registration
        if session.get(OidcClientRow, reg.client_id) is not None:
            raise ClientRegistrationError(f"client {reg.client_id!r} already exists")
        secret = None
        if reg.auth_method in {"client_secret_basic", "client_secret_post"}:
            secret = secrets.token_urlsafe(32)
        grants = []
        if "openid" in reg.scopes:
            grants.append("authorization_code")
        if any(s.startswith(API_SCOPE_PREFIX) for s in reg.scopes):
            grants.append("client_credentials")
        session.add(
            OidcClientRow(
                client_id=reg.client_id,
                name=reg.name.strip()[:200] or reg.client_id,
                secret_hash=self._hash(secret) if secret else None,
                public=reg.auth_method == "none",
                auth_method=reg.auth_method,
                redirect_uris=json.dumps(list(reg.redirect_uris)),
                post_logout_redirect_uris=json.dumps(list(reg.post_logout_redirect_uris)),
                scopes=" ".join(reg.scopes),
                grant_types=" ".join(grants),
                id_token_alg=reg.id_token_alg,
                userinfo_alg=reg.userinfo_alg,
                sector=sector_of(reg.redirect_uris, reg.sector_identifier)
                if reg.redirect_uris
                else reg.client_id,
                backchannel_logout_uri=reg.backchannel_logout_uri,
                jwks=json.dumps(reg.jwks) if reg.jwks else None,
                purposes=json.dumps(reg.purposes, sort_keys=True),
                created_at=self.clock.now(),
            )
        )
        session.flush()
        return secret

    def rotate_secret(self, session: Session, client_id: str) -> str:
        row = session.get(OidcClientRow, client_id)
        if row is None:
            raise UnknownClientError(f"no client {client_id!r}")
        if row.auth_method not in {"client_secret_basic", "client_secret_post"}:
            raise ClientRegistrationError("this client does not authenticate with a secret")
        secret = secrets.token_urlsafe(32)
        row.secret_hash = self._hash(secret)
        return secret

    def check_unknown(self, presented: str) -> bool:
        """The work of a secret check for a client that does not exist (always False)."""
        return check_secret(self.secret_key, None, presented)

    def _row(self, session: Session, client_id: str) -> OidcClientRow:
        """The client's row, locked until the caller's transaction ends (two administrators
        acting at once see each other's change, and ``already`` is exact)."""
        valid = isinstance(client_id, str) and _CLIENT_ID.match(client_id)
        row = session.get(OidcClientRow, client_id, with_for_update=True) if valid else None
        if row is None:
            raise UnknownClientError(f"no client {str(client_id)[:64]!r}")
        return row

    #: Called by :meth:`disable` in the same transaction, after the client is flagged: the
    #: OpenID provider's service sets it to delete the names and addresses that only this
    #: platform's grants needed (ADR 0008); the registry itself knows no other domain.
    after_disable: Callable[[Session, str], None] | None = None

    def disable(self, session: Session, client_id: str) -> Disabled:
        """Disable a client, in the caller's transaction: it can no longer authenticate or
        sign anyone in (:meth:`get` no longer finds it), and what it holds ends with it —

        - every live access token, client-credentials tokens included, is revoked (RFC 7009
          §2.2: "the token is … no longer usable"; at userinfo, introspection and the
          platform APIs);
        - its sign-in sessions end (the ``sid`` of its ID tokens is over);
        - its authorization codes not yet exchanged expire, so that no token is issued from
          them should the client be enabled again within their lifetime;
        - the names and e-mail addresses retained only for its grants are deleted
          (:attr:`after_disable`, ADR 0008: a disabled platform's grants need nothing).

        Disabling a disabled client still revokes and ends whatever a concurrent request
        left behind (``already`` tells the caller). :meth:`Provider.bearer` also refuses
        a disabled client's tokens, so a token committed by a request that authenticated
        the client just before this transaction is refused all the same."""
        row = self._row(session, client_id)
        already = row.disabled_at is not None
        now = self.clock.now()
        row.disabled_at = row.disabled_at or now
        tokens = session.execute(
            update(OidcTokenRow)
            .where(OidcTokenRow.client_id == client_id, OidcTokenRow.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        sessions = session.execute(
            update(OidcSessionRow)
            .where(OidcSessionRow.client_id == client_id, OidcSessionRow.ended_at.is_(None))
            .values(ended_at=now)
        )
        codes = session.execute(
            update(OidcCodeRow)
            .where(
                OidcCodeRow.client_id == client_id,
                OidcCodeRow.used_at.is_(None),
                OidcCodeRow.expires_at > now,
            )
            .values(expires_at=now)
        )
        if self.after_disable is not None:
            session.flush()  # the flag is seen by the grant queries of the hook
            self.after_disable(session, client_id)
        return Disabled(
            client_id=client_id,
            already=already,
            tokens_revoked=_count(tokens),
            sessions_ended=_count(sessions),
            codes_expired=_count(codes),
        )

    def enable(self, session: Session, client_id: str) -> bool:
        """Lift a disabling; returns whether the client was disabled. Only the flag is
        lifted: the tokens, sessions and codes that :meth:`disable` ended stay ended (a
        revoked token is never valid again, RFC 7009 §2.2), so the platform starts afresh
        with new sign-ins. Its secret, keys and registration are unchanged (rotate the
        secret if it may have leaked)."""
        row = self._row(session, client_id)
        if row.disabled_at is None:
            return False
        row.disabled_at = None
        return True

    def is_enabled(self, session: Session, client_id: str) -> bool:
        """Whether ``client_id`` is registered and not disabled (one primary-key read)."""
        row = session.get(OidcClientRow, client_id)
        return row is not None and row.disabled_at is None

    def get(self, session: Session, client_id: str) -> Client | None:
        row = session.get(OidcClientRow, client_id) if _CLIENT_ID.match(client_id or "") else None
        if row is None or row.disabled_at is not None:
            return None
        return Client.from_row(row, self.secret_key)

    def all(self, session: Session) -> list[OidcClientRow]:
        return list(session.scalars(select(OidcClientRow).order_by(OidcClientRow.client_id)))
