"""Election keys re-sealed under a new sealing secret (ADR 0016, ``parvis secret rotate``).

:mod:`ballot.keys` is pure (no ORM); this is its database side. The RSA key itself does not
change — voters' blind signatures and the published manifest stay valid — only the
XChaCha20-Poly1305 envelope around its PKCS #8 DER does.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ballot.keys import KeyDecryptionError, open_rsa_key, seal_rsa_key
from ballot.tables import ElectionKeyRow
from parvis.kernel.keys import SealedValueError

__all__ = ["reseal_election_keys"]


def reseal_election_keys(session: Session, *, old_secret: str, new_secret: str) -> int:
    """Re-seal every election key under ``new_secret`` inside the caller's transaction;
    returns how many. Raises :class:`SealedValueError` if one does not open under
    ``old_secret`` — the caller then rolls back, so nothing is written."""
    count = 0
    for row in session.scalars(select(ElectionKeyRow).order_by(ElectionKeyRow.election_id)):
        try:
            key = open_rsa_key(old_secret, election_id=row.election_id, sealed=row.rsa_key)
        except KeyDecryptionError as exc:
            raise SealedValueError(str(exc)) from None
        row.rsa_key = seal_rsa_key(new_secret, election_id=row.election_id, key=key)
        count += 1
    session.flush()
    return count
