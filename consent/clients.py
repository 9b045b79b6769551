"""Platforms as API clients of a controller, authenticated with OAuth 2.0 client credentials.

Consent owns *which platform acts for which controller*: a row of ``consent_api_clients``
names a platform by its OAuth client id at Parvis's OpenID provider and links it to one
controller. *Who the caller is* is decided by the authorization server: the platform
obtains an access token with the client-credentials grant (RFC 6749 §4.4) and the scope of
the API (``api:consent``, ``api:ballot``) and sends it as a bearer token (RFC 6750 §2.1).
Consent cannot import identity (architecture.md), so the token is checked through the
kernel port :mod:`parvis.kernel.apiauth`, which identity fills at setup.

The interim API keys (``Bearer <client id>.<secret>``, ADR 0005) are deprecated (ADR 0007):
a key still verifies until its sunset date (:data:`DEPRECATION_DAYS` after the upgrade, or
when an administrator retires it), and every answer to a key carries the ``Deprecation``
(RFC 9745) and ``Sunset`` (RFC 8594) headers. No new key can be created from the CLI. Keys
are HMAC-SHA-256 under a key derived from the master secret (``consent/api-key/v1``),
compared in constant time; an unknown client id costs the same HMAC as a known one. An
access token is never confused with a key: ours are ``token_urlsafe`` values, without the
``.`` that separates a key's client id from its secret.
"""

from __future__ import annotations

import functools
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from consent.errors import (
    ApiClientError,
    CatalogueError,
    UnknownControllerError,
    UnlinkedApiClientError,
)
from consent.tables import ApiClientRow, ControllerRow
from parvis.kernel.apiauth import InvalidTokenError, bearer_token, bearer_verifier
from parvis.kernel.context import AppContext
from parvis.kernel.keys import derive_key, keyed_hash

__all__ = [
    "CONSENT_SCOPE",
    "DEPRECATED_SINCE",
    "DEPRECATION_DAYS",
    "ApiClient",
    "authenticate",
    "create_client",
    "link_client",
    "retire_key",
    "revoke_client",
]

#: The scope of the consent platform API (identity.oidc.clients.API_SCOPES).
CONSENT_SCOPE = "api:consent"
#: How long an interim API key keeps working after the switch to client credentials.
DEPRECATION_DAYS = 180
#: When the interim API keys were deprecated (RFC 9745 ``Deprecation``): this release.
DEPRECATED_SINCE = datetime.fromisoformat("2026-11-26T00:00:00+00:00")

_CLIENT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{2,47}$")
_SECRET_LENGTH = 43  # token_urlsafe(32)
_DUMMY = "0" * 64


@dataclass(frozen=True, slots=True)
class ApiClient:
    """An authenticated platform and the controller it acts for.

    ``key_sunset`` is set when the platform authenticated with a deprecated API key: the
    adapters then add the deprecation headers (:meth:`deprecation_headers`).
    """

    id: str
    controller_id: str
    name: str
    key_sunset: datetime | None = None

    @property
    def audit_actor(self) -> str:
        return f"platform:{self.id}"

    def deprecation_headers(self) -> dict[str, str]:
        """RFC 9745 ``Deprecation`` (a structured-field Date: ``@`` and epoch seconds) and
        RFC 8594 ``Sunset`` (an HTTP-date) for an answer to an API key; none otherwise."""
        if self.key_sunset is None:
            return {}
        return {
            "Deprecation": f"@{int(DEPRECATED_SINCE.timestamp())}",
            "Sunset": format_datetime(self.key_sunset.astimezone(UTC), usegmt=True),
        }


def _hash(ctx: AppContext, secret: str) -> str:
    key = ctx.extension(
        "consent.api_key_hmac", lambda c: derive_key(c.settings.secret_key, "consent/api-key/v1")
    )
    return keyed_hash(key, secret.encode("utf-8"))


def link_client(
    ctx: AppContext, session: Session, *, client_id: str, controller_id: str, name: str, actor: str
) -> None:
    """Make the OAuth client ``client_id`` an API client of ``controller_id``.

    The client itself is registered at the OpenID provider (``parvis client create … --scope
    api:consent``); this only says for which controller its access tokens act.
    """
    if not _CLIENT_ID.match(client_id):
        raise CatalogueError("client id: 3 to 48 lowercase letters, digits or '-'")
    if session.get(ControllerRow, controller_id) is None:
        raise UnknownControllerError(controller_id)
    if session.get(ApiClientRow, client_id) is not None:
        raise CatalogueError(f"API client {client_id!r} already exists")
    session.add(
        ApiClientRow(
            id=client_id,
            controller_id=controller_id,
            name=name.strip()[:200] or client_id,
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


def create_client(
    ctx: AppContext, session: Session, *, client_id: str, controller_id: str, name: str, actor: str
) -> str:
    """Deprecated (ADR 0007): link a platform *and* give it an interim API key, returned once.

    Kept for installations that script it during the deprecation period; the key stops
    working :data:`DEPRECATION_DAYS` after its creation.
    """
    link_client(
        ctx, session, client_id=client_id, controller_id=controller_id, name=name, actor=actor
    )
    row = session.get(ApiClientRow, client_id)
    assert row is not None
    secret = secrets.token_urlsafe(32)
    row.api_key_hash = _hash(ctx, secret)
    row.api_key_sunset_at = ctx.clock.now() + timedelta(days=DEPRECATION_DAYS)
    return f"{client_id}.{secret}"


def retire_key(
    ctx: AppContext, session: Session, *, client_id: str, actor: str, at: datetime | None = None
) -> datetime | None:
    """Move the sunset of a platform's API key to ``at`` (default: now, which removes the
    key). Returns the new sunset, or None when the key was removed (or there was none)."""
    row = session.get(ApiClientRow, client_id)
    if row is None:
        raise CatalogueError(f"no API client {client_id!r}")
    if row.api_key_hash is None:
        return None
    now = ctx.clock.now()
    if at is not None and at.tzinfo is None:
        raise CatalogueError("the sunset date needs a timezone (e.g. 2027-03-31T00:00:00+00:00)")
    from consent.auditing import audit_of

    if at is None or at <= now:
        row.api_key_hash = None
        row.api_key_sunset_at = None
        sunset = None
    else:
        row.api_key_sunset_at = at
        sunset = at
    audit_of(ctx).record(
        session,
        event_type="consent.api_client.key_retired",
        actor=actor,
        details={"client": client_id, "sunset": sunset.isoformat() if sunset else "now"},
    )
    return sunset


def revoke_client(ctx: AppContext, session: Session, *, client_id: str, actor: str) -> None:
    """End the link: neither the platform's access tokens nor its key act for the controller."""
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
    """The link of one client (a primary-key read). Core columns of the table, not the
    mapped attributes: the statement then skips the ORM's result machinery, which cost
    about as much as the read itself on every platform API call (bench/consent.py)."""
    table = ApiClientRow.__table__
    return select(
        table.c.id,
        table.c.controller_id,
        table.c.name,
        table.c.api_key_hash,
        table.c.api_key_sunset_at,
        table.c.revoked_at,
    ).where(table.c.id == bindparam("id"))


def authenticate(
    ctx: AppContext, session: Session, authorization: str | None, *, scope: str = CONSENT_SCOPE
) -> ApiClient:
    """The platform behind ``Authorization: Bearer <access token>`` (RFC 6750 §2.1), acting
    for its controller, for an API of ``scope``.

    Raises :class:`~parvis.kernel.apiauth.MissingTokenError` without credentials, RFC 6750
    ``invalid_token`` / ``insufficient_scope`` errors from the authorization server, and
    :class:`UnlinkedApiClientError` (403) for a valid token of a client that acts for no
    controller here.
    """
    token = bearer_token(authorization)
    if "." in token:
        return _legacy_key(ctx, session, token)
    verifier = bearer_verifier(ctx)
    if verifier is None:
        raise InvalidTokenError("no authorization server is configured to verify access tokens")
    caller = verifier.verify(session, token, scope=scope)
    row = session.execute(_client_statement(), {"id": caller.client_id}).first()
    if row is None or row.revoked_at is not None:
        raise UnlinkedApiClientError(
            f"the OAuth client {caller.client_id!r} is not an API client of any controller: "
            "an administrator links it with `parvis consent add-client`"
        )
    return ApiClient(id=row.id, controller_id=row.controller_id, name=row.name)


def _legacy_key(ctx: AppContext, session: Session, token: str) -> ApiClient:
    """A deprecated ``<client id>.<secret>`` key, verified in constant time until its sunset."""
    client_id, _, secret = token.partition(".")
    well_formed = bool(_CLIENT_ID.match(client_id)) and len(secret) == _SECRET_LENGTH
    row = session.execute(_client_statement(), {"id": client_id}).first() if well_formed else None
    now = ctx.clock.now()
    live = (
        row is not None
        and row.revoked_at is None
        and row.api_key_hash is not None
        and row.api_key_sunset_at is not None
        and row.api_key_sunset_at > now
    )
    expected = row.api_key_hash if live and row is not None else _DUMMY
    presented = _hash(ctx, secret)
    if not hmac.compare_digest(presented, expected) or not live or row is None:
        raise ApiClientError(
            "unknown, revoked, retired or wrong API key; API keys are deprecated: use an "
            "access token from the client-credentials grant (POST /token)"
        )
    return ApiClient(
        id=row.id,
        controller_id=row.controller_id,
        name=row.name,
        key_sunset=row.api_key_sunset_at,
    )


def clients(session: Session, controller_id: str | None = None) -> list[ApiClientRow]:
    query = select(ApiClientRow).order_by(ApiClientRow.id)
    if controller_id is not None:
        query = query.where(ApiClientRow.controller_id == controller_id)
    return list(session.scalars(query))
