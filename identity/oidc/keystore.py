"""The provider's signing keys: JWKS with rotation, private keys sealed at rest.

Rotation (docs/oidc-integration.md §2; OpenID Connect Core §10.1.1) keeps three states per algorithm
(RS256, ES256):

- ``next``: published in the JWKS, never signs — relying parties that cache the JWKS
  already know it when it starts signing;
- ``active``: signs ID tokens, signed userinfo and logout tokens;
- ``retired``: no longer signs, still published until every token it signed has expired
  (``publish_until`` = rotation time + the longest token lifetime), then deleted.

``parvis keys rotate`` moves next → active → retired and creates a new next. It refuses to
promote a next key published for less than :data:`NEXT_KEY_MIN_PUBLISHED` (twice the JWKS
``Cache-Control: max-age``), so that a relying party that fetched the JWKS just before the
rotation already holds the key that now signs (OpenID Connect Core 1.0 §10.1.1: "the signer
can begin using a new key at its discretion and signals the change to the verifier using the
kid value"; the verifier re-fetches on an unknown kid, but caches may serve the old set).
``--force`` skips the check (a compromised key).

Private keys are sealed with XSalsa20-Poly1305 (PyNaCl ``SecretBox``) under a key derived from
the sealing secret (``identity/oidc/signing-keys/v1``; ADR 0016): a copy of the table gives no
usable key.
"""

from __future__ import annotations

import json
import secrets
import threading
from datetime import timedelta
from typing import Any

import nacl.exceptions
import nacl.secret
from joserfc import jwk
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from identity.oidc.errors import OidcError
from identity.oidc.tables import OidcKeyRow
from parvis.kernel.clock import Clock
from parvis.kernel.errors import ConflictError
from parvis.kernel.keys import SealedValueError, derive_key

__all__ = [
    "ALGORITHMS",
    "NEXT_KEY_MIN_PUBLISHED",
    "KeyRotationError",
    "KeyStore",
    "SigningKey",
    "reseal_signing_keys",
]

ALGORITHMS = ("RS256", "ES256")
KEY_PURPOSE = "identity/oidc/signing-keys/v1"
#: RSA modulus size: 2048 bits is the floor (style.md: never below 2048 outside tests).
RSA_BITS = 2048
#: The JWKS response's ``Cache-Control: max-age`` (identity.oidc.web), in seconds.
JWKS_MAX_AGE = 300
#: A next key signs only after it has been published this long: twice the JWKS cache life.
NEXT_KEY_MIN_PUBLISHED = timedelta(seconds=2 * JWKS_MAX_AGE)

SigningKey = jwk.RSAKey | jwk.ECKey


def _generate(alg: str) -> SigningKey:
    if alg == "RS256":
        return jwk.RSAKey.generate_key(RSA_BITS, private=True)
    if alg == "ES256":
        return jwk.ECKey.generate_key("P-256", private=True)
    raise ValueError(f"unsupported signing algorithm {alg!r}")


class KeyRotationError(OidcError, ConflictError):
    """A rotation now would make a key sign before relying parties can know it."""


class KeyStore:
    """Signing keys in the database, sealed under ``master_secret``."""

    def __init__(self, *, master_secret: str, clock: Clock) -> None:
        self._box = nacl.secret.SecretBox(derive_key(master_secret, KEY_PURPOSE))
        self.clock = clock
        self._lock = threading.Lock()
        #: The last unsealed key per algorithm, with its kid. Which kid is active is read from
        #: the database at every signature, so a rotation made by another process takes
        #: effect here at once.
        self._unsealed: dict[str, tuple[str, SigningKey]] = {}

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

    def rotate(
        self, session: Session, *, keep_retired_for: timedelta, force: bool = False
    ) -> list[str]:
        """next → active, active → retired (published ``keep_retired_for`` more), new next.
        Returns the kids now active.

        Raises :class:`KeyRotationError` when a next key has been published for less than
        :data:`NEXT_KEY_MIN_PUBLISHED` (OpenID Connect Core §10.1.1: the next key is
        published before it signs), unless ``force``."""
        now = self.clock.now()
        self.ensure(session)
        # The first locking read waits for a concurrent rotation to commit; on PostgreSQL
        # (READ COMMITTED) its snapshot predates that commit and misses the next key it
        # created, so the rows are read again once the locks are held.
        session.scalars(select(OidcKeyRow).with_for_update()).all()
        rows = list(session.scalars(select(OidcKeyRow).with_for_update()))
        young = [
            r.kid for r in rows if r.state == "next" and now - r.created_at < NEXT_KEY_MIN_PUBLISHED
        ]
        if young and not force:
            minutes = int(NEXT_KEY_MIN_PUBLISHED.total_seconds() // 60)
            raise KeyRotationError(
                f"the next keys {', '.join(sorted(young))} have been published for less than "
                f"{minutes} minutes: relying parties may not have them yet (--force to rotate "
                "anyway, e.g. after a key compromise)"
            )
        for row in rows:
            if row.state == "retired" and (row.publish_until or now) <= now:
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
            if row.state == "retired" and (row.publish_until or now) <= now:
                continue
            keys.append(json.loads(row.public_jwk))
        return {"keys": keys}

    def signing_key(self, session: Session, alg: str) -> SigningKey:
        """The active private key for ``alg``. The active kid is read at every call (one
        small query), so no worker signs with a retired key after a rotation commits; the
        unsealed key is kept per kid (unsealing and importing an RSA key is the costly
        part)."""
        if alg not in ALGORITHMS:
            raise ValueError(f"unsupported signing algorithm {alg!r}")
        row = session.scalars(
            select(OidcKeyRow)
            .where(OidcKeyRow.alg == alg, OidcKeyRow.state == "active")
            .order_by(OidcKeyRow.created_at, OidcKeyRow.kid)
        ).first()
        if row is None:
            self.ensure(session)
            return self.signing_key(session, alg)
        with self._lock:
            cached = self._unsealed.get(alg)
        if cached is not None and cached[0] == row.kid:
            return cached[1]
        sealed = self._unseal(row)
        imported = jwk.import_key(
            sealed.as_dict(private=True), parameters={"kid": row.kid, "alg": alg}
        )
        assert isinstance(imported, jwk.RSAKey | jwk.ECKey)
        key: SigningKey = imported
        with self._lock:
            self._unsealed[alg] = (row.kid, key)
        return key

    def public_keyset(self, session: Session) -> jwk.KeySet:
        """Every published key (to verify our own tokens, e.g. an ``id_token_hint``)."""
        return jwk.KeySet.import_key_set(self.jwks(session))  # type: ignore[arg-type]


def reseal_signing_keys(session: Session, *, old_secret: str, new_secret: str) -> int:
    """Re-seal every OIDC signing key (active, next and retired) under ``new_secret`` in the
    caller's transaction (ADR 0016); kids and public keys do not change, so relying parties
    notice nothing. Raises :class:`SealedValueError` if one does not open under
    ``old_secret``."""
    old_box = nacl.secret.SecretBox(derive_key(old_secret, KEY_PURPOSE))
    new_box = nacl.secret.SecretBox(derive_key(new_secret, KEY_PURPOSE))
    count = 0
    for row in session.scalars(select(OidcKeyRow).order_by(OidcKeyRow.kid)):
        try:
            plain = old_box.decrypt(bytes.fromhex(row.sealed_private))
        except nacl.exceptions.CryptoError:
            raise SealedValueError(
                f"the OIDC signing key {row.kid} does not open under the old sealing secret"
            ) from None
        row.sealed_private = bytes(new_box.encrypt(plain)).hex()
        count += 1
    session.flush()
    return count
