"""Platforms as API clients of a controller, authenticated with interim API keys.

A key is ``<client id>.<secret>`` with a 256-bit random secret, shown once at creation.
Parvis stores only HMAC-SHA-256 of the secret under a key derived from the master secret
(``consent/api-key/v1``): a copy of the table gives no usable key, and the comparison is
constant-time (:func:`hmac.compare_digest`). An unknown client id costs the same HMAC as a
known one, so response time does not reveal which ids exist.

These keys are an interim measure (ADR 0005): they are replaced by OAuth 2.0 client
credentials (RFC 6749 §4.4) from identity's OpenID provider once it lands; the platform API
then reads the client from the access token instead, and nothing else changes.
"""

from __future__ import annotations

import functools
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from consent.errors import ApiClientError, CatalogueError, UnknownControllerError
from consent.tables import ApiClientRow, ControllerRow
from parvis.kernel.context import AppContext
from parvis.kernel.keys import derive_key, keyed_hash

__all__ = ["ApiClient", "authenticate", "create_client", "revoke_client"]

_CLIENT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{2,47}$")
_SECRET_LENGTH = 43  # token_urlsafe(32)
_DUMMY = "0" * 64


@dataclass(frozen=True, slots=True)
class ApiClient:
    """An authenticated platform."""

    id: str
    controller_id: str
    name: str

    @property
    def audit_actor(self) -> str:
        return f"platform:{self.id}"


def _hash(ctx: AppContext, secret: str) -> str:
    key = ctx.extension(
        "consent.api_key_hmac", lambda c: derive_key(c.settings.secret_key, "consent/api-key/v1")
    )
    return keyed_hash(key, secret.encode("utf-8"))


def create_client(
    ctx: AppContext, session: Session, *, client_id: str, controller_id: str, name: str, actor: str
) -> str:
    """Register a platform; returns its API key (shown once, never stored in clear)."""
    if not _CLIENT_ID.match(client_id):
        raise CatalogueError("client id: 3 to 48 lowercase letters, digits or '-'")
    if session.get(ControllerRow, controller_id) is None:
        raise UnknownControllerError(controller_id)
    if session.get(ApiClientRow, client_id) is not None:
        raise CatalogueError(f"API client {client_id!r} already exists")
    secret = secrets.token_urlsafe(32)
    session.add(
        ApiClientRow(
            id=client_id,
            controller_id=controller_id,
            name=name.strip()[:200] or client_id,
            key_hash=_hash(ctx, secret),
            created_at=ctx.clock.now(),
        )
    )
    session.flush()
    from consent.auditing import audit_of

    audit_of(ctx).record(
        session,
        event_type="consent.api_client.created",
        actor=actor,
        details={"client": client_id, "controller": controller_id},
    )
    return f"{client_id}.{secret}"


def revoke_client(ctx: AppContext, session: Session, *, client_id: str, actor: str) -> None:
    row = session.get(ApiClientRow, client_id)
    if row is None:
        raise CatalogueError(f"no API client {client_id!r}")
    if row.revoked_at is None:
        row.revoked_at = ctx.clock.now()
        from consent.auditing import audit_of

        audit_of(ctx).record(
            session,
            event_type="consent.api_client.revoked",
            actor=actor,
            details={"client": client_id},
        )


@functools.cache
def _client_statement() -> Any:
    return select(
        ApiClientRow.id,
        ApiClientRow.controller_id,
        ApiClientRow.name,
        ApiClientRow.key_hash,
        ApiClientRow.revoked_at,
    ).where(ApiClientRow.id == bindparam("id"))


def authenticate(ctx: AppContext, session: Session, authorization: str | None) -> ApiClient:
    """The client named by an ``Authorization: Bearer <client id>.<secret>`` header."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ApiClientError("send the platform's API key as `Authorization: Bearer <key>`")
    client_id, _, secret = token.strip().partition(".")
    well_formed = bool(_CLIENT_ID.match(client_id)) and len(secret) == _SECRET_LENGTH
    row = session.execute(_client_statement(), {"id": client_id}).first() if well_formed else None
    expected = row.key_hash if row is not None and row.revoked_at is None else _DUMMY
    presented = _hash(ctx, secret)
    if not hmac.compare_digest(presented, expected) or row is None or row.revoked_at is not None:
        raise ApiClientError("unknown, revoked or wrong API key")
    return ApiClient(id=row.id, controller_id=row.controller_id, name=row.name)


def clients(session: Session, controller_id: str | None = None) -> list[ApiClientRow]:
    query = select(ApiClientRow).order_by(ApiClientRow.id)
    if controller_id is not None:
        query = query.where(ApiClientRow.controller_id == controller_id)
    return list(session.scalars(query))
