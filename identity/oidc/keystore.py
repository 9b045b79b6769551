"""The provider's signing keys: JWKS with rotation, private keys sealed at rest.

Rotation (issue 8, item 1) keeps three states per algorithm (RS256, ES256):

- ``next``: published in the JWKS, never signs — relying parties that cache the JWKS
  already know it when it starts signing;
- ``active``: signs ID tokens, signed userinfo and logout tokens;
- ``retired``: no longer signs, still published until every token it signed has expired
  (``publish_until`` = rotation time + the longest token lifetime), then deleted.

``parvis keys rotate`` moves next → active → retired and creates a new next. Private keys
are sealed with XSalsa20-Poly1305 (PyNaCl ``SecretBox``) under a key derived from the master
secret (``identity/oidc/signing-keys/v1``): a copy of the table gives no usable key.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from datetime import datetime, timedelta
from typing import Any

import nacl.secret
from joserfc import jwk
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from identity.oidc.tables import OidcKeyRow
from parvis.kernel.clock import Clock
from parvis.kernel.keys import derive_key

__all__ = ["ALGORITHMS", "KeyStore", "SigningKey"]

ALGORITHMS = ("RS256", "ES256")
KEY_PURPOSE = "identity/oidc/signing-keys/v1"
#: RSA modulus size: 2048 bits is the floor (style.md: never below 2048 outside tests).
RSA_BITS = 2048
#: Seconds a worker trusts its cached active key (a rotation reaches every worker within it;
#: the retired key stays published far longer).
CACHE_SECONDS = 30.0

SigningKey = jwk.RSAKey | jwk.ECKey


def _generate(alg: str) -> SigningKey:
    if alg == "RS256":
        return jwk.RSAKey.generate_key(RSA_BITS, private=True)
    if alg == "ES256":
        return jwk.ECKey.generate_key("P-256", private=True)
    raise ValueError(f"unsupported signing algorithm {alg!r}")


def _aware(value: datetime, now: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=now.tzinfo)


class KeyStore:
    """Signing keys in the database, sealed under ``master_secret``."""

    def __init__(self, *, master_secret: str, clock: Clock) -> None:
        self._box = nacl.secret.SecretBox(derive_key(master_secret, KEY_PURPOSE))
        self.clock = clock
        self._lock = threading.Lock()
        self._active: dict[str, tuple[float, SigningKey]] = {}

    # -- sealing ----------------------------------------------------------------------------

    def _seal(self, key: SigningKey) -> str:
        plain = json.dumps(key.as_dict(private=True)).encode()
        return bytes(self._box.encrypt(plain)).hex()

    def _unseal(self, row: OidcKeyRow) -> SigningKey:
        data = json.loads(self._box.decrypt(bytes.fromhex(row.sealed_private)))
        key = jwk.import_key(data)
        assert isinstance(key, jwk.RSAKey | jwk.ECKey)
        return key

    def _new_row(self, session: Session, alg: str, state: str) -> OidcKeyRow:
        key = _generate(alg)
        kid = f"{alg.lower()}-{secrets.token_urlsafe(12)}"
        public = key.as_dict(private=False)
        public.update({"kid": kid, "alg": alg, "use": "sig"})
        row = OidcKeyRow(
            kid=kid,
            alg=alg,
            state=state,
            sealed_private=self._seal(key),
            public_jwk=json.dumps(public, sort_keys=True),
            created_at=self.clock.now(),
        )
        session.add(row)
        return row

    # -- use cases -------------------------------------------------------------------------

    def ensure(self, session: Session) -> None:
        """Create an active and a next key per algorithm where missing (first start)."""
        rows = list(session.scalars(select(OidcKeyRow)))
        for alg in ALGORITHMS:
            states = {r.state for r in rows if r.alg == alg}
            if "active" not in states:
                self._new_row(session, alg, "active")
            if "next" not in states:
                self._new_row(session, alg, "next")
        session.flush()

    def rotate(self, session: Session, *, keep_retired_for: timedelta) -> list[str]:
        """next → active, active → retired (published ``keep_retired_for`` more), new next.
        Returns the kids now active."""
        now = self.clock.now()
        self.ensure(session)
        rows = list(session.scalars(select(OidcKeyRow).with_for_update()))
        for row in rows:
            if row.state == "retired" and _aware(row.publish_until or now, now) <= now:
                session.delete(row)
        active: list[str] = []
        for alg in ALGORITHMS:
            for row in rows:
                if row.alg != alg:
                    continue
                if row.state == "active":
                    row.state = "retired"
                    row.publish_until = now + keep_retired_for
                elif row.state == "next":
                    row.state = "active"
                    active.append(row.kid)
            self._new_row(session, alg, "next")
        session.flush()
        with self._lock:
            self._active.clear()
        return active

    def purge(self, session: Session) -> int:
        """Delete retired keys whose tokens have all expired."""
        now = self.clock.now()
        result = session.execute(
            delete(OidcKeyRow).where(OidcKeyRow.state == "retired", OidcKeyRow.publish_until <= now)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    def jwks(self, session: Session) -> dict[str, Any]:
        """The public JWK Set: next, active, and retired keys still covering live tokens."""
        now = self.clock.now()
        keys = []
        for row in session.scalars(select(OidcKeyRow).order_by(OidcKeyRow.created_at)):
            if row.state == "retired" and _aware(row.publish_until or now, now) <= now:
                continue
            keys.append(json.loads(row.public_jwk))
        return {"keys": keys}

    def signing_key(self, session: Session, alg: str) -> SigningKey:
        """The active private key for ``alg`` (cached per process for a few seconds)."""
        if alg not in ALGORITHMS:
            raise ValueError(f"unsupported signing algorithm {alg!r}")
        with self._lock:
            cached = self._active.get(alg)
            if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
                return cached[1]
        row = session.scalars(
            select(OidcKeyRow).where(OidcKeyRow.alg == alg, OidcKeyRow.state == "active")
        ).first()
        if row is None:
            self.ensure(session)
            return self.signing_key(session, alg)
        sealed = self._unseal(row)
        imported = jwk.import_key(
            sealed.as_dict(private=True), parameters={"kid": row.kid, "alg": alg}
        )
        assert isinstance(imported, jwk.RSAKey | jwk.ECKey)
        key: SigningKey = imported
        with self._lock:
            self._active[alg] = (time.monotonic(), key)
        return key

    def public_keyset(self, session: Session) -> jwk.KeySet:
        """Every published key (to verify our own tokens, e.g. an ``id_token_hint``)."""
        return jwk.KeySet.import_key_set(self.jwks(session))  # type: ignore[arg-type]
