"""The port between Parvis's platform APIs and its authorization server (ADR 0007).

Participation platforms call the platform-to-Parvis APIs (consent checks, election
management) with an access token obtained by the OAuth 2.0 client-credentials grant
(RFC 6749 §4.4) and sent as a bearer token (RFC 6750 §2.1). The resource servers live in
``consent`` and ``ballot``; the authorization server lives in ``identity``, which
``consent`` must not import (architecture.md, dependency rule). So ``identity`` registers a
:class:`BearerVerifier` here at setup, and the resource servers reach it through
:func:`bearer_verifier` without knowing who implements it.

Failures are RFC 6750 §3.1 errors (``invalid_token``, ``insufficient_scope``, or no error
code when the request carried no credentials) raised as :class:`BearerError`, which carries
its ``WWW-Authenticate`` challenge (RFC 6750 §3, RFC 9110 §11.6.1) as ``www_authenticate``:
the application's problem handler (:mod:`parvis.problems`) answers problem+json with that
header, on any route. Importing this module loads no web framework (the domains' pure cores
import their error trees, which derive from these).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar, Protocol

from parvis.kernel.errors import DomainError, ForbiddenError, UnauthenticatedError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from parvis.kernel.context import AppContext

__all__ = [
    "ApiCaller",
    "BearerError",
    "BearerVerifier",
    "InsufficientScopeError",
    "InvalidTokenError",
    "MissingTokenError",
    "bearer_token",
    "bearer_verifier",
    "register_bearer_verifier",
]

_EXTENSION = "kernel.apiauth.bearer_verifier"
#: RFC 6750 §2.1: ``b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="``
_B64TOKEN = re.compile(r"^[A-Za-z0-9\-._~+/]+=*$")
#: RFC 6749 §3.3: ``scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`` (no quote, no backslash),
#: so a scope can be placed inside the quoted ``scope`` auth-param as is.
_SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")
#: No access token of ours comes near this; longer values are refused before any lookup.
MAX_TOKEN_LENGTH = 512


@dataclass(frozen=True, slots=True)
class ApiCaller:
    """A platform whose access token was verified: only a :class:`BearerVerifier` makes one.

    ``client_id`` is the OAuth client (RFC 6749 §2.2) the token was issued to by the
    client-credentials grant, ``scopes`` the token's scope (RFC 6749 §3.3), ``expires_at``
    the end of its lifetime (timezone-aware).
    """

    client_id: str
    scopes: frozenset[str]
    expires_at: datetime

    def __post_init__(self) -> None:
        if not self.client_id:
            raise ValueError("an API caller has a client id")
        if self.expires_at.tzinfo is None:
            raise ValueError("expires_at must be timezone-aware")
        if any(not _SCOPE_TOKEN.match(s) for s in self.scopes):
            raise ValueError("scopes are RFC 6749 §3.3 scope-tokens")


class BearerError(DomainError):
    """A request to a bearer-token-protected resource failed (RFC 6750 §3.1).

    ``error`` is the RFC 6750 error code (None when the request had no credentials: §3.1,
    "the resource server SHOULD NOT include an error code"); ``scope`` the scope needed.
    """

    title = "Invalid platform credentials"
    error: ClassVar[str | None] = None

    def __init__(self, detail: str, *, scope: str | None = None) -> None:
        super().__init__(detail)
        self.scope = scope if scope and _SCOPE_TOKEN.match(scope) else None

    @property
    def www_authenticate(self) -> str:
        """The ``WWW-Authenticate`` value (RFC 6750 §3). The error description is left out:
        ``detail`` may hold characters the quoted-string syntax of §3 does not allow, and
        the problem body carries it anyway."""
        params = ['realm="parvis"']
        if self.error:
            params.append(f'error="{self.error}"')
        if self.scope:
            params.append(f'scope="{self.scope}"')
        return "Bearer " + ", ".join(params)


class MissingTokenError(BearerError, UnauthenticatedError):
    """No bearer token in the request (RFC 6750 §3.1, last paragraph)."""

    title = "Access token required"


class InvalidTokenError(BearerError, UnauthenticatedError):
    """RFC 6750 §3.1 ``invalid_token``: "The access token provided is expired, revoked,
    malformed, or invalid for other reasons." (HTTP 401)"""

    title = "Invalid access token"
    error = "invalid_token"


class InsufficientScopeError(BearerError, ForbiddenError):
    """RFC 6750 §3.1 ``insufficient_scope``: "The request requires higher privileges than
    provided by the access token." (HTTP 403, with the scope needed)"""

    title = "Insufficient scope"
    error = "insufficient_scope"


class BearerVerifier(Protocol):
    """What an authorization server offers the resource servers."""

    def verify(self, session: Session, token: str, *, scope: str) -> ApiCaller:
        """The caller of a live client-credentials access token carrying ``scope``.

        Raises :class:`InvalidTokenError` (unknown, expired, revoked, not a
        client-credentials token, client disabled) or :class:`InsufficientScopeError`.
        """
        ...


def register_bearer_verifier(ctx: AppContext, verifier: BearerVerifier) -> None:
    """Install the authorization server's verifier (called by its domain's ``setup``)."""
    ctx.extensions[_EXTENSION] = verifier


def bearer_verifier(ctx: AppContext) -> BearerVerifier | None:
    """The registered verifier, or None when no authorization server joined the app."""
    verifier: BearerVerifier | None = ctx.extensions.get(_EXTENSION)
    return verifier


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header (RFC 6750 §2.1).

    Only the header method is accepted: §2.3 (URI query) "SHOULD NOT be used", and a token
    in a form body would make every JSON endpoint accept forms.
    """
    scheme, _, value = (authorization or "").strip().partition(" ")
    token = value.strip()
    # RFC 9110 §11.1: the scheme is case-insensitive.
    if scheme.lower() != "bearer" or not token:
        raise MissingTokenError(
            "send an access token from the client-credentials grant as "
            "`Authorization: Bearer <token>`"
        )
    if len(token) > MAX_TOKEN_LENGTH or not _B64TOKEN.match(token):
        raise InvalidTokenError("malformed bearer token")
    return token
