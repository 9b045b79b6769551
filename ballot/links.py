"""Booth links for participation platforms, with a return URL Parvis vouches for.

A platform sends a citizen to the Parvis booth with a way back (docs/ballot-api.md, "Platform API").
The link carries the return URL and an HMAC-SHA-256 tag over ``<election id>\\n<return URL>`` under
a key derived from the master secret (``ballot/booth-return/v1``), truncated to 128 bits: the
booth shows "back to the platform" only for URLs a registered platform asked for, so the
booth cannot be used as an open redirector. The link holds nothing about the citizen.
"""

from __future__ import annotations

import hmac
from typing import Final
from urllib.parse import urlencode, urlsplit

from ballot.errors import InvalidElectionError
from ballot.token import b64u_decode, b64u_encode
from parvis.kernel.context import AppContext
from parvis.kernel.errors import DomainError
from parvis.kernel.keys import derive_key
from parvis.kernel.settings import Mode

__all__ = ["BOOTH_PATH", "TRACKER_PATH", "booth_link", "check_return_url"]

#: Where the booth and the tracker pages live (the booth engineer's pages).
BOOTH_PATH: Final = "/scrutins/{election}/isoloir"
TRACKER_PATH: Final = "/scrutins/{election}/suivi"
_TAG_BYTES: Final = 16
_LOCAL_HOSTS: Final = frozenset({"127.0.0.1", "localhost", "::1"})


def _key(ctx: AppContext) -> bytes:
    return ctx.extension(
        "ballot.booth_key", lambda c: derive_key(c.settings.secret_key, "ballot/booth-return/v1")
    )


def _tag(ctx: AppContext, election_id: str, return_url: str) -> bytes:
    message = f"{election_id}\n{return_url}".encode()
    return hmac.digest(_key(ctx), message, "sha256")[:_TAG_BYTES]


def _check_url(ctx: AppContext, return_url: str) -> None:
    parts = urlsplit(return_url)
    local = parts.hostname in _LOCAL_HOSTS and ctx.settings.mode is not Mode.PRODUCTION
    if len(return_url) > 2000 or not parts.hostname or parts.username or parts.password:
        raise InvalidElectionError("return_url: an absolute URL without user information")
    if parts.scheme != "https" and not (parts.scheme == "http" and local):
        raise InvalidElectionError("return_url: https:// only (http:// for localhost in demo)")


def booth_link(ctx: AppContext, *, election_id: str, return_url: str) -> str:
    """The absolute booth URL for a citizen sent by a platform."""
    _check_url(ctx, return_url)
    query = urlencode(
        {"retour": return_url, "sig": b64u_encode(_tag(ctx, election_id, return_url))}
    )
    path = BOOTH_PATH.format(election=election_id)
    return f"{ctx.settings.public_url}{path}?{query}"


def check_return_url(ctx: AppContext, *, election_id: str, return_url: str, sig: str) -> str | None:
    """The return URL if ``sig`` vouches for it (constant-time comparison), else None."""
    try:
        _check_url(ctx, return_url)
        given = b64u_decode(sig, field="sig")
    except DomainError:
        return None
    if hmac.compare_digest(given, _tag(ctx, election_id, return_url)):
        return return_url
    return None
