"""Staff accounts: argon2id passwords, TOTP second factor, lockout, identical failures.

architecture.md, "Cryptography". Passwords are hashed with argon2id (argon2-cffi) using RFC 9106's
second recommended ("low-memory") profile; the cheapest profile exists only for the test
suite and :func:`password_profile` refuses it outside test mode. The TOTP second factor
(RFC 6238, pyotp) refuses a code already used (the last accepted time step is kept).

An unknown e-mail, a wrong password, a wrong code and a locked account give the same
:class:`StaffAuthenticationError`, after the same work: an unknown e-mail is checked against a
dummy hash of the same profile, and failures are counted per keyed hash of the e-mail whether
or not an account exists, so lockout does not reveal accounts either (OWASP Authentication
Cheat Sheet, "Authentication and Error Messages").
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import nacl.exceptions
import pyotp
from argon2 import Parameters, PasswordHasher, Type, profiles
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from identity import auditing
from identity.errors import IdentityRuleError, StaffAuthenticationError
from identity.tables import LoginThrottleRow, StaffRow
from identity.vault import open_sealed, seal
from parvis.kernel.context import AppContext
from parvis.kernel.keys import SealedValueError, derive_key, keyed_hash
from parvis.kernel.principal import Role, Staff
from parvis.kernel.settings import Mode

__all__ = [
    "LOCKOUT",
    "MAX_FAILURES",
    "TOTP_KEY_PURPOSE",
    "NewStaff",
    "StaffService",
    "password_profile",
    "reseal_totp_secrets",
]

#: After MAX_FAILURES failures within WINDOW, sign-in is refused for LOCKOUT.
#: HKDF ``info`` label of the key sealing TOTP secrets (from the sealing secret, ADR 0016).
TOTP_KEY_PURPOSE = "identity/staff-totp/v1"
MAX_FAILURES = 5
WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 12
ISSUER_NAME = "Parvis"


def password_profile(mode: Mode) -> Parameters:
    """RFC 9106 §4 second recommended option ("low memory": t=3, m=64 MiB, p=4) everywhere
    except the test suite, which uses argon2-cffi's CHEAPEST profile."""
    profile = profiles.CHEAPEST if mode is Mode.TEST else profiles.RFC_9106_LOW_MEMORY
    if profile.type is not Type.ID:
        raise AssertionError("staff passwords use argon2id")
    return profile


@dataclass(frozen=True, slots=True)
class NewStaff:
    """A created account: the one-time password and the TOTP provisioning URI to hand over."""

    staff_id: str
    email: str
    password: str
    totp_uri: str


def _normal_email(email: str) -> str:
    value = email.strip().lower()
    if "@" not in value or len(value) > 254 or value.startswith("@") or value.endswith("@"):
        raise IdentityRuleError("not an e-mail address")
    return value


class StaffService:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.hasher = PasswordHasher.from_parameters(password_profile(ctx.settings.mode))
        secret = ctx.settings.secret_key
        self._totp_key = derive_key(ctx.settings.sealing_secret, TOTP_KEY_PURPOSE)
        self._throttle_key = derive_key(secret, "identity/staff-throttle/v1")
        # Verified when the e-mail is unknown, so that the answer takes as long.
        self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))

    def create(
        self,
        session: Session,
        *,
        email: str,
        roles: frozenset[Role],
        actor: str,
        password: str | None = None,
    ) -> NewStaff:
        """``parvis staff create``: a random password (unless given) and a TOTP secret."""
        email = _normal_email(email)
        if not roles:
            raise IdentityRuleError("a staff member needs at least one role")
        if session.scalar(select(StaffRow.id).where(StaffRow.email == email)) is not None:
            raise IdentityRuleError("a staff account with this e-mail exists")
        password = password or secrets.token_urlsafe(15)
        if len(password) < MIN_PASSWORD_LENGTH:
            raise IdentityRuleError(f"passwords have at least {MIN_PASSWORD_LENGTH} characters")
        staff_id = secrets.token_hex(8)
        totp_secret = pyotp.random_base32()
        session.add(
            StaffRow(
                id=staff_id,
                email=email,
                password_hash=self.hasher.hash(password),
                totp_secret=seal(self._totp_key, totp_secret.encode(), staff_id.encode()),
                totp_last_step=0,
                roles=",".join(sorted(roles)),
                active=True,
                created_at=self.ctx.clock.now(),
            )
        )
        auditing.record(
            self.ctx,
            session,
            event_type="identity.staff.created",
            actor=actor,
            subject=f"staff:{staff_id}",
            details={"roles": sorted(roles)},
        )
        uri = pyotp.TOTP(totp_secret).provisioning_uri(name=email, issuer_name=ISSUER_NAME)
        return NewStaff(staff_id=staff_id, email=email, password=password, totp_uri=uri)

    def find(self, session: Session, *, email: str) -> Staff | None:
        """The active staff account with this e-mail, as a principal (no password check):
        how an encrypted election's definition names its trustees
        (docs/adr/0018-encrypted-elections.md, "Who may upload what")."""
        normal = email.strip().lower()[:254]
        row = session.scalar(select(StaffRow).where(StaffRow.email == normal))
        if row is None or not row.active:
            return None
        return Staff(row.id, frozenset(Role(r) for r in row.roles.split(",") if r))

    def totp_secret(self, row: StaffRow) -> str:
        return open_sealed(self._totp_key, row.totp_secret, row.id.encode()).decode()

    def authenticate(self, *, email: str, password: str, totp_code: str) -> Staff:
        """Check password and TOTP in one transaction of its own (so that a failure is
        counted even though this raises); return the :class:`Staff` principal."""
        now = self.ctx.clock.now()
        normal = email.strip().lower()[:254]
        throttle_id = keyed_hash(self._throttle_key, normal.encode())
        principal: Staff | None = None
        with self.ctx.db.write_session() as session:
            throttle = session.get(LoginThrottleRow, throttle_id)
            row = session.scalar(select(StaffRow).where(StaffRow.email == normal))
            password_ok = self._verify_password(row, password)
            locked_until = throttle.locked_until if throttle else None
            locked = locked_until is not None and now < locked_until
            failure: str | None
            if locked:
                failure = "locked"
            elif row is None:
                failure = "unknown_account"
            elif not row.active:
                failure = "inactive"
            elif not password_ok:
                failure = "password"
            elif not self._verify_totp(row, totp_code, now):
                failure = "second_factor"
            else:
                failure = None
            if failure is None and row is not None:
                if throttle is not None:
                    session.delete(throttle)
                row.last_sign_in_at = now
                if self.hasher.check_needs_rehash(row.password_hash):
                    row.password_hash = self.hasher.hash(password)
                principal = Staff(row.id, frozenset(Role(r) for r in row.roles.split(",") if r))
                auditing.record(
                    self.ctx,
                    session,
                    event_type="identity.staff.signed_in",
                    actor=f"staff:{row.id}",
                    subject=f"staff:{row.id}",
                )
            else:
                self._count_failure(session, throttle, throttle_id, now)
                # Never the e-mail typed: the account's id when it exists, and a prefix of
                # the keyed hash the throttle uses (to correlate attempts on one address).
                auditing.record(
                    self.ctx,
                    session,
                    event_type="identity.staff.sign_in_failed",
                    actor="anonymous",
                    subject=f"staff:{row.id}" if row is not None else None,
                    details={"account": throttle_id[:16], "reason": failure, "locked": locked},
                )
        if principal is None:
            raise StaffAuthenticationError("e-mail, password or code incorrect")
        return principal

    def _verify_password(self, row: StaffRow | None, password: str) -> bool:
        target = row.password_hash if row is not None else self._dummy_hash
        try:
            self.hasher.verify(target, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return row is not None

    def _verify_totp(self, row: StaffRow, code: str, now: datetime) -> bool:
        """RFC 6238 with one step of drift either way; a step already used is refused."""
        totp = pyotp.TOTP(self.totp_secret(row))
        code = "".join(ch for ch in code if ch.isdigit())
        step_now = int(now.timestamp()) // totp.interval
        for step in (step_now - 1, step_now, step_now + 1):
            candidate = totp.at(step * totp.interval)
            if secrets.compare_digest(candidate, code) and step > row.totp_last_step:
                row.totp_last_step = step
                return True
        return False

    @staticmethod
    def _count_failure(
        session: Session, throttle: LoginThrottleRow | None, key: str, now: datetime
    ) -> None:
        if throttle is None:
            session.add(LoginThrottleRow(key_hash=key, failures=1, window_start=now))
            return
        start = throttle.window_start
        assert start is not None
        if now - start > WINDOW:
            throttle.failures, throttle.window_start = 0, now
        throttle.failures += 1
        if throttle.failures >= MAX_FAILURES:
            throttle.locked_until = now + LOCKOUT
            throttle.failures, throttle.window_start = 0, now


def reseal_totp_secrets(session: Session, *, old_secret: str, new_secret: str) -> int:
    """Re-seal every staff TOTP secret under ``new_secret`` in the caller's transaction
    (ADR 0016); returns how many. Raises :class:`SealedValueError` if one does not open
    under ``old_secret``."""
    old_key = derive_key(old_secret, TOTP_KEY_PURPOSE)
    new_key = derive_key(new_secret, TOTP_KEY_PURPOSE)
    count = 0
    for row in session.scalars(select(StaffRow).order_by(StaffRow.id)):
        try:
            plain = open_sealed(old_key, row.totp_secret, row.id.encode())
        except nacl.exceptions.CryptoError:
            raise SealedValueError(
                "a staff TOTP secret does not open under the old sealing secret"
            ) from None
        row.totp_secret = seal(new_key, plain, row.id.encode())
        count += 1
    session.flush()
    return count
