"""The provider's side of the platform APIs: verifying client-credentials access tokens.

``consent`` and ``ballot`` are resource servers (RFC 6749 §1.1) for the platform-to-Parvis
APIs; this module is what they call, through the kernel port
:mod:`parvis.kernel.apiauth`, to check an access token issued by the client-credentials
grant (RFC 6749 §4.4) of :mod:`identity.oidc.provider`. Tokens are opaque and looked up in
the provider's table (the SHA-256 digest of the value), so a revocation (RFC 7009) or a
disabled client takes effect at the next call, not at the token's expiry.

RFC 6750 §3.1 errors: ``invalid_token`` for a token that is unknown, expired, revoked,
issued to a citizen's sign-in (authorization code) rather than to the platform itself, or
to a client since disabled; ``insufficient_scope`` when the token (or, since its issue, the
client's registration) lacks the API's scope.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from identity.oidc.provider import digest
from identity.oidc.tables import OidcClientRow, OidcTokenRow
from parvis.kernel.apiauth import (
    ApiCaller,
    InsufficientScopeError,
    InvalidTokenError,
    register_bearer_verifier,
)
from parvis.kernel.context import AppContext

__all__ = ["ClientCredentialsVerifier", "install"]

#: Longer values are no token of ours (as :meth:`identity.oidc.provider.Provider.bearer`).
_MAX_TOKEN = 200


@functools.cache
def _token_statement() -> Any:
    """The token and its client in one indexed read (both joined on primary keys); Core
    columns, so no ORM object is built on the platform APIs' hot path."""
    token, client = OidcTokenRow.__table__, OidcClientRow.__table__
    return (
        select(
            token.c.client_id,
            token.c.citizen,
            token.c.code_hash,
            token.c.scope,
            token.c.expires_at,
            token.c.revoked_at,
            client.c.client_id.label("registered_client"),
            client.c.scopes.label("client_scopes"),
            client.c.disabled_at.label("client_disabled_at"),
        )
        .select_from(token.outerjoin(client, client.c.client_id == token.c.client_id))
        .where(token.c.token_hash == bindparam("token_hash"))
    )


class ClientCredentialsVerifier:
    """:class:`parvis.kernel.apiauth.BearerVerifier` over the provider's access tokens."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def verify(self, session: Session, token: str, *, scope: str) -> ApiCaller:
        """ADR 0007: a token is accepted when it exists, its client is registered and not
        disabled, it is not revoked (RFC 7009) nor expired, it was issued by the
        client-credentials grant (RFC 6749 §4.4), and both the token and the client's
        current registration carry ``scope`` (RFC 6750 §3.1 ``insufficient_scope``).

        The same conditions as :meth:`identity.oidc.provider.Provider.bearer` plus the
        client's, read in one query instead of one primary-key read per table.
        """
        # Unknown, expired and revoked tokens get one answer (style: one opaque error per
        # failure class); the lookup compares digests, not the token itself.
        row = (
            session.execute(_token_statement(), {"token_hash": digest(token)}).first()
            if token and len(token) <= _MAX_TOKEN
            else None
        )
        if row is None:
            raise InvalidTokenError("unknown, expired or revoked access token")
        if row.registered_client is None or row.client_disabled_at is not None:
            # Before the revocation check: disabling a client also revokes its tokens, and
            # the platform's operators should read why.
            raise InvalidTokenError("the client of this access token is disabled")
        now = self.ctx.clock.now()
        expires_at = row.expires_at
        if row.revoked_at is not None or expires_at <= now:
            raise InvalidTokenError("unknown, expired or revoked access token")
        if row.citizen is not None or row.code_hash is not None:
            # A token from a citizen's sign-in acts for that citizen at the platform, not for
            # the platform at Parvis: it never authorises the platform APIs, whatever scope.
            raise InvalidTokenError(
                "this access token comes from a citizen's sign-in; the platform APIs take "
                "a token of the client-credentials grant"
            )
        scopes = frozenset(row.scope.split())
        if scope not in scopes:
            raise InsufficientScopeError(
                f"this API needs an access token with the scope {scope}", scope=scope
            )
        if scope not in row.client_scopes.split():
            # The registration lost the scope after the token was issued: the administrator's
            # latest decision wins over a token that is still live.
            raise InsufficientScopeError(
                f"the client is no longer allowed the scope {scope}", scope=scope
            )
        return ApiCaller(client_id=row.client_id, scopes=scopes, expires_at=expires_at)


def install(ctx: AppContext) -> None:
    """Register the verifier for the resource servers (idempotent)."""
    register_bearer_verifier(ctx, ClientCredentialsVerifier(ctx))
