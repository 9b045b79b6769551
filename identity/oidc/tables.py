"""Tables of the OpenID provider: signing keys, clients, codes, tokens, grants, sessions.

Secrets are never stored in clear: client secrets as keyed hashes, codes and tokens as
SHA-256 digests, private signing keys sealed with a key derived from the master secret.
Citizens appear only as Parvis's internal pseudonym (never FranceConnect's ``sub``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from parvis.kernel.db import Base, UTCDateTime

__all__ = [
    "OidcClientRow",
    "OidcCodeRow",
    "OidcGrantRow",
    "OidcJtiRow",
    "OidcKeyRow",
    "OidcSessionRow",
    "OidcTokenRow",
]


class OidcKeyRow(Base):
    """A signing key. ``state``: ``next`` (published, not signing), ``active`` (signing),
    ``retired`` (published until ``publish_until``, then deleted)."""

    __tablename__ = "identity_oidc_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(8), nullable=False)
    state: Mapped[str] = mapped_column(String(8), nullable=False)
    sealed_private: Mapped[str] = mapped_column(Text, nullable=False)
    public_jwk: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    publish_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class OidcClientRow(Base):
    """A platform registered by an administrator."""

    __tablename__ = "identity_oidc_clients"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    #: keyed hash of the secret; None for public and private_key_jwt clients
    secret_hash: Mapped[str | None] = mapped_column(String(64))
    public: Mapped[bool] = mapped_column(Boolean, nullable=False)
    auth_method: Mapped[str] = mapped_column(String(32), nullable=False)
    redirect_uris: Mapped[str] = mapped_column(Text, nullable=False)
    post_logout_redirect_uris: Mapped[str] = mapped_column(Text, nullable=False)
    scopes: Mapped[str] = mapped_column(Text, nullable=False)
    grant_types: Mapped[str] = mapped_column(Text, nullable=False)
    id_token_alg: Mapped[str] = mapped_column(String(8), nullable=False)
    userinfo_alg: Mapped[str | None] = mapped_column(String(8))
    sector: Mapped[str] = mapped_column(String(255), nullable=False)
    backchannel_logout_uri: Mapped[str | None] = mapped_column(Text)
    jwks: Mapped[str | None] = mapped_column(Text)
    #: JSON object: claim group -> consent purpose id (from consent's registry)
    purposes: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class OidcCodeRow(Base):
    """An authorization code (SHA-256 of the code). Single use: ``used_at`` is set by the
    first exchange; a second one revokes the tokens of the first."""

    __tablename__ = "identity_oidc_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), nullable=False)
    citizen: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    redirect_uri: Mapped[str] = mapped_column(Text, nullable=False)
    scope: Mapped[str] = mapped_column(Text, nullable=False)
    nonce: Mapped[str | None] = mapped_column(Text)
    code_challenge: Mapped[str | None] = mapped_column(String(128))
    code_challenge_method: Mapped[str | None] = mapped_column(String(8))
    claims: Mapped[str] = mapped_column(Text, nullable=False)
    acr: Mapped[str | None] = mapped_column(String(32))
    sid: Mapped[str] = mapped_column(String(64), nullable=False)
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class OidcTokenRow(Base):
    """An access token (SHA-256 of the opaque value)."""

    __tablename__ = "identity_oidc_tokens"
    __table_args__ = (Index("ix_identity_oidc_tokens_citizen_client", "citizen", "client_id"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), nullable=False)
    citizen: Mapped[str | None] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(Text, nullable=False)
    claims: Mapped[str] = mapped_column(Text, nullable=False)
    code_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class OidcGrantRow(Base):
    """What a citizen agreed to share with a platform (remembered per platform)."""

    __tablename__ = "identity_oidc_grants"

    citizen: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    groups: Mapped[str] = mapped_column(Text, nullable=False)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class OidcSessionRow(Base):
    """A sign-in of a citizen at a platform (``sid`` of OpenID Back-Channel Logout 1.0)."""

    __tablename__ = "identity_oidc_sessions"
    __table_args__ = (Index("ix_identity_oidc_sessions_citizen_client", "citizen", "client_id"),)

    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    citizen: Mapped[str] = mapped_column(String(64), nullable=False)
    client_id: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class OidcJtiRow(Base):
    """``jti`` of private_key_jwt client assertions already seen (RFC 7523 §3, item 7)."""

    __tablename__ = "identity_oidc_jti"

    jti_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
