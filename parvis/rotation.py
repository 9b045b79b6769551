"""Sealing-secret rotation: every value sealed at rest, re-sealed in one transaction (ADR 0016).

The values sealed under HKDF keys of the sealing secret (:mod:`parvis.kernel.keys`) are
consent's wrapped data keys (and through them identity's attribute vault), the election RSA
keys, the OIDC signing keys and the staff TOTP secrets; each domain re-seals its own. Web
sessions are ended rather than re-sealed, and a sign-in in flight (its state cookie sealed
under the old secret) starts again. All of it happens in one write transaction: a value that
does not open under the old secret rolls everything back, so a wrong old secret writes
nothing. The keyed hashes (pseudonyms) and derived signing keys stay under the master secret,
which this does not change (ADR 0016 says why).

This is a composition module: it is the one place that knows every domain's re-seal function.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from ballot.key_rotation import reseal_election_keys
from consent.datakeys import reseal_data_keys
from identity.oidc.keystore import reseal_signing_keys
from identity.staff import reseal_totp_secrets
from parvis.kernel.db import Database
from parvis.kernel.keys import SealedValueError
from parvis.kernel.sessions import SessionStore
from parvis.kernel.settings import MIN_SECRET_LENGTH

__all__ = ["RESEALERS", "RotationError", "RotationReport", "rotate_sealing_secret"]

Resealer = Callable[..., int]

#: What each domain re-seals, in the order they run (names as printed by ``secret rotate``).
RESEALERS: tuple[tuple[str, Resealer], ...] = (
    ("consent data keys", reseal_data_keys),
    ("election keys", reseal_election_keys),
    ("OIDC signing keys", reseal_signing_keys),
    ("staff TOTP secrets", reseal_totp_secrets),
)


class RotationError(ValueError):
    """The rotation cannot start or did not open a sealed value; nothing was written."""


@dataclass(frozen=True)
class RotationReport:
    """How many values each domain re-sealed, and how many sessions were ended."""

    resealed: dict[str, int]
    sessions_ended: int

    def describe(self) -> str:
        counts = ", ".join(f"{n} {what}" for what, n in self.resealed.items())
        return f"re-sealed {counts}; ended {self.sessions_ended} web sessions"


def _check(old_secret: str, new_secret: str) -> None:
    for name, value in (("old", old_secret), ("new", new_secret)):
        if len(value) < MIN_SECRET_LENGTH:
            raise RotationError(f"the {name} secret has fewer than {MIN_SECRET_LENGTH} characters")
    if old_secret == new_secret:
        raise RotationError("the new secret is the old one")


def reseal_all(session: Session, *, old_secret: str, new_secret: str) -> RotationReport:
    """Re-seal everything inside ``session``'s transaction (the caller commits)."""
    _check(old_secret, new_secret)
    resealed: dict[str, int] = {}
    for what, reseal in RESEALERS:
        try:
            resealed[what] = reseal(session, old_secret=old_secret, new_secret=new_secret)
        except SealedValueError as exc:
            raise RotationError(f"wrong old secret? {exc}; nothing was written") from None
    return RotationReport(resealed=resealed, sessions_ended=SessionStore.end_all(session))


def rotate_sealing_secret(db: Database, *, old_secret: str, new_secret: str) -> RotationReport:
    """One write transaction: everything re-sealed, or (on any error) nothing written."""
    with db.write_session() as session:
        return reseal_all(session, old_secret=old_secret, new_secret=new_secret)
