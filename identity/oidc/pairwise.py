"""Pairwise subject identifiers (OpenID Connect Core 1.0 §8.1).

`Core §8.1 <https://openid.net/specs/openid-connect-core-1_0.html#PairwiseAlg>`_: "the
Subject Identifier value MUST NOT be reversible by any party other than the OpenID
Provider". The value is HMAC-SHA-256 under a key derived from the master secret (purpose
``identity/oidc/pairwise/v1``) of the sector identifier and Parvis's internal pseudonym —
never FranceConnect's ``sub``, which Parvis does not even keep in clear. Two platforms of
different sectors get unrelated values; the same sector always gets the same one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import urlsplit

__all__ = ["PAIRWISE_KEY_PURPOSE", "pairwise_sub", "sector_of"]

PAIRWISE_KEY_PURPOSE = "identity/oidc/pairwise/v1"


def sector_of(redirect_uris: tuple[str, ...], sector_identifier: str | None = None) -> str:
    """Core §8.1: the host of the ``sector_identifier_uri`` when registered, else the host
    of the (single-host) redirect URIs."""
    if sector_identifier:
        host = urlsplit(sector_identifier).hostname if "//" in sector_identifier else None
        return (host or sector_identifier).lower()
    hosts = {urlsplit(uri).hostname or "" for uri in redirect_uris}
    if len(hosts) != 1 or "" in hosts:
        raise ValueError("redirect URIs on several hosts need a sector identifier (Core §8.1)")
    return hosts.pop().lower()


def pairwise_sub(key: bytes, *, sector: str, pseudonym: str) -> str:
    """The subject a platform of ``sector`` sees for ``pseudonym`` (43 base64url chars)."""
    if len(key) < 32:
        raise ValueError("the pairwise key must be at least 256 bits")
    mac = hmac.new(key, f"{sector}\x00{pseudonym}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")
