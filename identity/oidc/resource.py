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

from sqlalchemy.orm import Session

from identity.oidc.service import oidc_from
from parvis.kernel.apiauth import (
    ApiCaller,
    InsufficientScopeError,
    InvalidTokenError,
    register_bearer_verifier,
)
from parvis.kernel.context import AppContext

__all__ = ["ClientCredentialsVerifier", "install"]


class ClientCredentialsVerifier:
    """:class:`parvis.kernel.apiauth.BearerVerifier` over the provider's access tokens."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def verify(self, session: Session, token: str, *, scope: str) -> ApiCaller:
        service = oidc_from(self.ctx)
        # Unknown, expired and revoked tokens get one answer (style: one opaque error per
        # failure class); the provider's lookup compares digests, not the token itself.
        row = service.provider.bearer(session, token)
        if row is None:
            raise InvalidTokenError("unknown, expired or revoked access token")
        if row.citizen is not None or row.code_hash is not None:
            # A token from a citizen's sign-in acts for that citizen at the platform, not for
            # the platform at Parvis: it never authorises the platform APIs, whatever scope.
            raise InvalidTokenError(
                "this access token comes from a citizen's sign-in; the platform APIs take "
                "a token of the client-credentials grant"
            )
        client = service.clients.get(session, row.client_id)
        if client is None:
            raise InvalidTokenError("the client of this access token is disabled")
        scopes = frozenset(row.scope.split())
        if scope not in scopes:
            raise InsufficientScopeError(
                f"this API needs an access token with the scope {scope}", scope=scope
            )
        if scope not in client.scopes:
            # The registration lost the scope after the token was issued: the administrator's
            # latest decision wins over a token that is still live.
            raise InsufficientScopeError(
                f"the client is no longer allowed the scope {scope}", scope=scope
            )
        expires_at = row.expires_at
        if expires_at.tzinfo is None:  # SQLite returns naive UTC datetimes
            expires_at = expires_at.replace(tzinfo=self.ctx.clock.now().tzinfo)
        return ApiCaller(client_id=row.client_id, scopes=scopes, expires_at=expires_at)


def install(ctx: AppContext) -> None:
    """Register the verifier for the resource servers (idempotent)."""
    register_bearer_verifier(ctx, ClientCredentialsVerifier(ctx))
