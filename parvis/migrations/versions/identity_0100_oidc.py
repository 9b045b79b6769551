"""OpenID provider tables: signing keys, clients, codes, tokens, grants, sessions, jti.

Revision ID: identity_0100
Revises:
Create Date: 2026-11-27

Its own branch (``oidc``) so that it never collides with the identity branch's revisions.
No depends_on: these tables reference no other table (citizens by pseudonym only; erasure
deletes the rows through identity's eraser).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "identity_0100"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = ("oidc",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "identity_oidc_clients",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=True),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("auth_method", sa.String(length=32), nullable=False),
        sa.Column("redirect_uris", sa.Text(), nullable=False),
        sa.Column("post_logout_redirect_uris", sa.Text(), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("grant_types", sa.Text(), nullable=False),
        sa.Column("id_token_alg", sa.String(length=8), nullable=False),
        sa.Column("userinfo_alg", sa.String(length=8), nullable=True),
        sa.Column("sector", sa.String(length=255), nullable=False),
        sa.Column("backchannel_logout_uri", sa.Text(), nullable=True),
        sa.Column("jwks", sa.Text(), nullable=True),
        sa.Column("purposes", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_identity_oidc_clients")),
    )
    op.create_table(
        "identity_oidc_codes",
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("citizen", sa.String(length=64), nullable=False),
        sa.Column("redirect_uri", sa.Text(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("nonce", sa.Text(), nullable=True),
        sa.Column("code_challenge", sa.String(length=128), nullable=True),
        sa.Column("code_challenge_method", sa.String(length=8), nullable=True),
        sa.Column("claims", sa.Text(), nullable=False),
        sa.Column("acr", sa.String(length=32), nullable=True),
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("auth_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("code_hash", name=op.f("pk_identity_oidc_codes")),
    )
    op.create_index(
        op.f("ix_identity_oidc_codes_citizen"), "identity_oidc_codes", ["citizen"], unique=False
    )
    op.create_table(
        "identity_oidc_grants",
        sa.Column("citizen", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("groups", sa.Text(), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("citizen", "client_id", name=op.f("pk_identity_oidc_grants")),
    )
    op.create_table(
        "identity_oidc_jti",
        sa.Column("jti_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("jti_hash", name=op.f("pk_identity_oidc_jti")),
    )
    op.create_table(
        "identity_oidc_keys",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("alg", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("sealed_private", sa.Text(), nullable=False),
        sa.Column("public_jwk", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("publish_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_identity_oidc_keys")),
    )
    op.create_table(
        "identity_oidc_sessions",
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("citizen", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("sid", name=op.f("pk_identity_oidc_sessions")),
    )
    op.create_index(
        "ix_identity_oidc_sessions_citizen_client",
        "identity_oidc_sessions",
        ["citizen", "client_id"],
        unique=False,
    )
    op.create_table(
        "identity_oidc_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("citizen", sa.String(length=64), nullable=True),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("claims", sa.Text(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=True),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_identity_oidc_tokens")),
    )
    op.create_index(
        "ix_identity_oidc_tokens_citizen_client",
        "identity_oidc_tokens",
        ["citizen", "client_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_identity_oidc_tokens_code_hash"),
        "identity_oidc_tokens",
        ["code_hash"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_identity_oidc_tokens_code_hash"), table_name="identity_oidc_tokens")
    op.drop_index("ix_identity_oidc_tokens_citizen_client", table_name="identity_oidc_tokens")
    op.drop_table("identity_oidc_tokens")
    op.drop_index("ix_identity_oidc_sessions_citizen_client", table_name="identity_oidc_sessions")
    op.drop_table("identity_oidc_sessions")
    op.drop_table("identity_oidc_keys")
    op.drop_table("identity_oidc_jti")
    op.drop_table("identity_oidc_grants")
    op.drop_index(op.f("ix_identity_oidc_codes_citizen"), table_name="identity_oidc_codes")
    op.drop_table("identity_oidc_codes")
    op.drop_table("identity_oidc_clients")
