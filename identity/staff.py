"""Staff accounts: argon2id passwords, TOTP second factor, lockout, identical failures.

architecture.md, "Cryptography". Passwords are hashed with argon2id (argon2-cffi) using RFC 9106's
second recommended ("low-memory") profile; the cheapest profile exists only for the test
suite and :func:`password_profile` refuses it outside test mode. The TOTP second factor
(RFC 6238, pyotp) refuses a code already used (the last accepted time step is kept).

Accounts are managed without a developer (docs/operations.md, "Staff accounts"): an
administrator lists, creates, disables, enables and resets them; a reset or a generated
password is a **one-time password** (valid :data:`ONE_TIME_LIFETIME`) that the next sign-in
must change before anything else (:class:`SignIn`); the staff member enrols the second
factor by scanning a QR code and confirming a code, and receives :data:`RECOVERY_CODES`
single-use recovery codes, shown once and stored as keyed hashes. Disabling, resetting or
changing a password ends the account's other sessions. Every change is audited with the
staff id only, never the e-mail (audit-log.md, "Content").

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
import segno
from argon2 import Parameters, PasswordHasher, Type, profiles
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from identity import auditing
from identity.errors import (
    IdentityNotFoundError,
    IdentityRuleError,
    StaffAccountError,
    StaffAuthenticationError,
)
from identity.tables import LoginThrottleRow, StaffRecoveryCodeRow, StaffRow
from identity.vault import open_sealed, seal
from parvis.kernel.context import AppContext
from parvis.kernel.keys import SealedValueError, derive_key, keyed_hash
from parvis.kernel.principal import Role, Staff
from parvis.kernel.sessions import SessionStore
from parvis.kernel.settings import Mode

__all__ = [
    "LOCKOUT",
    "MAX_FAILURES",
    "ONE_TIME_LIFETIME",
    "RECOVERY_CODES",
    "TOTP_KEY_PURPOSE",
    "Enrolment",
    "NewStaff",
    "OneTimePassword",
    "SignIn",
    "StaffAccount",
    "StaffService",
    "password_profile",
    "qr_svg",
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
#: How long a one-time password (creation or reset) signs in before it must be reissued.
ONE_TIME_LIFETIME = timedelta(days=3)
#: Recovery codes issued at each enrolment: ten, each ~49 bits from :mod:`secrets`, behind
#: the same lockout as the password.
RECOVERY_CODES = 10
RECOVERY_KEY_PURPOSE = "identity/staff-recovery-codes/v1"
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_RECOVERY_LENGTH = 10


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


@dataclass(frozen=True, slots=True)
class OneTimePassword:
    """A reset's one-time password, to hand over once; refused after ``expires_at``."""

    staff_id: str
    email: str
    password: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class StaffAccount:
    """An account as the administrators' list shows it (no secret)."""

    staff_id: str
    email: str
    roles: frozenset[Role]
    active: bool
    must_change_password: bool
    totp_enrolled: bool
    created_at: datetime
    last_sign_in_at: datetime | None


@dataclass(frozen=True, slots=True)
class SignIn:
    """A successful password check: the principal, and what must happen before it may act
    (a one-time password to change, a second factor to enrol)."""

    principal: Staff
    must_change_password: bool
    must_enrol: bool
    #: :meth:`StaffService.pending_tag` of the account at this sign-in: the steps that
    #: follow are refused once it changes (a reset, a disabling, another password).
    tag: str = ""

    @property
    def pending(self) -> bool:
        return self.must_change_password or self.must_enrol


@dataclass(frozen=True, slots=True)
class Enrolment:
    """A second factor being enrolled: the secret (kept in the sealed session until a code
    confirms it) and its ``otpauth://`` URI (Google Authenticator's Key Uri Format)."""

    secret: str
    uri: str


def qr_svg(uri: str, *, title: str) -> str:
    """The QR code of ``uri`` as inline SVG (segno, ISO/IEC 18004), quiet zone included."""
    return str(
        segno.make(uri, error="m").svg_inline(scale=4, title=title, dark="#000", light="#fff")
    )


def _roles(row: StaffRow) -> frozenset[Role]:
    return frozenset(Role(r) for r in row.roles.split(",") if r)


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
        self._recovery_key = derive_key(secret, RECOVERY_KEY_PURPOSE)
        self._pending_key = derive_key(secret, "identity/staff-pending-sign-in/v1")
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
        enrolled: bool = True,
        one_time: bool = False,
    ) -> NewStaff:
        """``parvis staff create`` and the accounts page: a random password (unless given)
        and a TOTP secret. The accounts page creates with ``one_time=True`` (its first
        sign-in must change the password, valid :data:`ONE_TIME_LIFETIME`) and
        ``enrolled=False`` (the staff member enrols the second factor with the QR code at
        that sign-in); ``parvis staff create`` keeps its behaviour: the password and the
        secret (``totp_uri``) are handed over as they are."""
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
                must_change_password=one_time,
                one_time_expires_at=self.ctx.clock.now() + ONE_TIME_LIFETIME if one_time else None,
                totp_enrolled=enrolled,
            )
        )
        auditing.record(
            self.ctx,
            session,
            event_type="identity.staff.created",
            actor=actor,
            subject=f"staff:{staff_id}",
            details={"roles": sorted(roles), "one_time": one_time, "enrolled": enrolled},
        )
        uri = pyotp.TOTP(totp_secret).provisioning_uri(name=email, issuer_name=ISSUER_NAME)
        return NewStaff(staff_id=staff_id, email=email, password=password, totp_uri=uri)

    def active_by_email(self, session: Session, *, email: str) -> Staff | None:
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
        """:meth:`sign_in` for an account with nothing pending; an account that must first
        change its password or enrol its second factor is refused here (only the sign-in
        page, which leads through those steps, may use :meth:`sign_in`)."""
        result = self.sign_in(email=email, password=password, code=totp_code)
        if result.pending:
            raise StaffAuthenticationError("e-mail, password or code incorrect")
        return result.principal

    def sign_in(self, *, email: str, password: str, code: str) -> SignIn:
        """Check password and second factor in one transaction of its own (so that a
        failure is counted even though this raises).

        The second factor is a TOTP code or, when it is not six digits, an unused recovery
        code (which is then used up). An account whose second factor is not enrolled yet
        asks for no code: its password is a one-time password, and the result says the
        enrolment must come first. A disabled account, and a one-time password past its
        :data:`ONE_TIME_LIFETIME`, fail like a wrong password."""
        now = self.ctx.clock.now()
        normal = email.strip().lower()[:254]
        throttle_id = keyed_hash(self._throttle_key, normal.encode())
        result: SignIn | None = None
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
            elif (
                row.must_change_password
                and row.one_time_expires_at is not None
                and now >= row.one_time_expires_at
            ):
                failure = "one_time_expired"
            elif row.totp_enrolled and not self._verify_second_factor(session, row, code, now):
                failure = "second_factor"
            else:
                failure = None
            if failure is None and row is not None:
                if throttle is not None:
                    session.delete(throttle)
                row.last_sign_in_at = now
                if self.hasher.check_needs_rehash(row.password_hash):
                    row.password_hash = self.hasher.hash(password)
                result = SignIn(
                    principal=Staff(row.id, _roles(row)),
                    must_change_password=row.must_change_password,
                    must_enrol=not row.totp_enrolled,
                    tag=self._tag(row),
                )
                auditing.record(
                    self.ctx,
                    session,
                    event_type="identity.staff.signed_in",
                    actor=f"staff:{row.id}",
                    subject=f"staff:{row.id}",
                    details={"pending": result.pending} if result.pending else None,
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
        if result is None:
            raise StaffAuthenticationError("e-mail, password or code incorrect")
        return result

    def _verify_second_factor(
        self, session: Session, row: StaffRow, code: str, now: datetime
    ) -> bool:
        digits = "".join(ch for ch in code if ch.isdigit())
        if len(digits) == 6 and digits == code.strip().replace(" ", ""):
            return self._verify_totp(row, code, now)
        return self._use_recovery_code(session, row, code, now)

    def _tag(self, row: StaffRow) -> str:
        """A keyed digest of the account's credentials and state: an unfinished sign-in
        keeps it (sealed in its session) and its next step is refused when it differs —
        sessions of a reset or disabled account end, and a sign-in half done is one."""
        state = f"{row.password_hash}\x00{row.totp_enrolled}\x00{row.active}"
        return keyed_hash(self._pending_key, state.encode())[:32]

    def _check_tag(self, row: StaffRow, pending_tag: str | None) -> None:
        if pending_tag is not None and not secrets.compare_digest(self._tag(row), pending_tag):
            raise StaffAuthenticationError("e-mail, password or code incorrect")

    # -- account management (administrators) -------------------------------------------

    def accounts(self, session: Session) -> list[StaffAccount]:
        rows = session.scalars(select(StaffRow).order_by(StaffRow.email))
        return [self._account(row) for row in rows]

    @staticmethod
    def _account(row: StaffRow) -> StaffAccount:
        return StaffAccount(
            staff_id=row.id,
            email=row.email,
            roles=_roles(row),
            active=row.active,
            must_change_password=row.must_change_password,
            totp_enrolled=row.totp_enrolled,
            created_at=row.created_at,
            last_sign_in_at=row.last_sign_in_at,
        )

    def find(self, session: Session, reference: str) -> StaffAccount:
        """The account with this id, or this e-mail address (the CLI's argument)."""
        return self._account(self._row(session, reference))

    @staticmethod
    def _row(session: Session, reference: str) -> StaffRow:
        value = reference.strip()
        if "@" in value:
            row = session.scalar(select(StaffRow).where(StaffRow.email == value.lower()))
        else:
            row = session.get(StaffRow, value[:32])
        if row is None:
            raise IdentityNotFoundError("no staff account with this id or e-mail")
        return row

    def principal(self, session: Session, staff_id: str) -> Staff:
        """The principal of an active account (after a pending sign-in completes)."""
        row = session.get(StaffRow, staff_id)
        if row is None or not row.active:
            raise StaffAuthenticationError("e-mail, password or code incorrect")
        return Staff(row.id, _roles(row))

    def set_active(self, session: Session, reference: str, *, active: bool, actor: str) -> int:
        """Disable or enable an account. Disabling ends every session of the account
        (returns how many); an administrator cannot disable their own account, nor the last
        active administrator (nobody could manage accounts any more)."""
        row = self._row(session, reference)
        ended = 0
        if not active:
            if actor == f"staff:{row.id}":
                raise StaffAccountError("you cannot disable your own account")
            if Role.ADMIN in _roles(row) and row.active and self._active_admins(session) <= 1:
                raise StaffAccountError("the last active administrator cannot be disabled")
            ended = SessionStore.end_staff_sessions(session, row.id)
        if row.active == active:
            return ended
        row.active = active
        row.disabled_at = None if active else self.ctx.clock.now()
        auditing.record(
            self.ctx,
            session,
            event_type="identity.staff.enabled" if active else "identity.staff.disabled",
            actor=actor,
            subject=f"staff:{row.id}",
            details=None if active else {"sessions_ended": ended},
        )
        return ended

    @staticmethod
    def _active_admins(session: Session) -> int:
        rows = session.scalars(select(StaffRow.roles).where(StaffRow.active.is_(True)))
        return sum(1 for roles in rows if Role.ADMIN.value in roles.split(","))

    def reset(
        self, session: Session, reference: str, *, actor: str, second_factor: bool = False
    ) -> OneTimePassword:
        """An administrator's reset: a new one-time password (valid
        :data:`ONE_TIME_LIFETIME`, to be changed at the next sign-in) and every session of
        the account ended. The second factor stays unless ``second_factor`` (a lost
        phone): then the secret and the recovery codes are discarded and the next sign-in
        enrols a new one. An administrator changes their own password on their account
        page, not by a reset."""
        row = self._row(session, reference)
        if actor == f"staff:{row.id}":
            raise StaffAccountError("change your own password on your account page")
        now = self.ctx.clock.now()
        password = secrets.token_urlsafe(15)
        row.password_hash = self.hasher.hash(password)
        row.must_change_password = True
        row.one_time_expires_at = now + ONE_TIME_LIFETIME
        if second_factor:
            secret = pyotp.random_base32()
            row.totp_secret = seal(self._totp_key, secret.encode(), row.id.encode())
            row.totp_last_step = 0
            row.totp_enrolled = False
            session.execute(
                delete(StaffRecoveryCodeRow).where(StaffRecoveryCodeRow.staff_id == row.id)
            )
        ended = SessionStore.end_staff_sessions(session, row.id)
        auditing.record(
            self.ctx,
            session,
            event_type="identity.staff.reset",
            actor=actor,
            subject=f"staff:{row.id}",
            details={"second_factor": second_factor, "sessions_ended": ended},
        )
        return OneTimePassword(
            staff_id=row.id, email=row.email, password=password, expires_at=row.one_time_expires_at
        )

    # -- the staff member's own account --------------------------------------------------

    def change_password(
        self,
        session: Session,
        staff_id: str,
        *,
        current: str | None,
        new: str,
        keep_session: str | None = None,
        pending_tag: str | None = None,
    ) -> str:
        """Set a new password. ``current`` is checked unless None (the forced change right
        after a sign-in with the one-time password, which this session just proved: then
        ``pending_tag`` must still match). The account's other sessions end
        (``keep_session``: the caller's ``id_hash``). Returns the new pending tag."""
        row = session.get(StaffRow, staff_id)
        if row is None or not row.active:
            raise StaffAuthenticationError("e-mail, password or code incorrect")
        self._check_tag(row, pending_tag)
        if current is not None and not self._verify_password(row, current):
            raise IdentityRuleError("the current password is not correct")
        if len(new) < MIN_PASSWORD_LENGTH:
            raise IdentityRuleError(f"passwords have at least {MIN_PASSWORD_LENGTH} characters")
        if len(new) > 1024:
            raise IdentityRuleError("passwords have at most 1024 characters")
        if self._verify_password(row, new):
            raise IdentityRuleError("the new password must differ from the current one")
        forced = row.must_change_password
        row.password_hash = self.hasher.hash(new)
        row.must_change_password = False
        row.one_time_expires_at = None
        ended = SessionStore.end_staff_sessions(session, row.id, keep=keep_session)
        auditing.record(
            self.ctx,
            session,
            event_type="identity.staff.password_changed",
            actor=f"staff:{row.id}",
            subject=f"staff:{row.id}",
            details={"one_time": forced, "sessions_ended": ended},
        )
        return self._tag(row)

    def begin_enrolment(self, session: Session, staff_id: str) -> Enrolment:
        """A new TOTP secret for the account (not stored until :meth:`confirm_enrolment`)."""
        row = session.get(StaffRow, staff_id)
        if row is None or not row.active:
            raise StaffAuthenticationError("e-mail, password or code incorrect")
        secret = pyotp.random_base32()
        uri = pyotp.TOTP(secret).provisioning_uri(name=row.email, issuer_name=ISSUER_NAME)
        return Enrolment(secret=secret, uri=uri)

    def confirm_enrolment(
        self,
        session: Session,
        staff_id: str,
        *,
        secret: str,
        code: str,
        current: str | None,
        pending_tag: str | None = None,
    ) -> list[str]:
        """Store ``secret`` as the account's second factor once ``code`` is one of its
        current codes (RFC 6238, one step of drift), and issue new recovery codes (the old
        ones no longer work); returns them, for showing once. ``current`` (the password) is
        checked unless None — the enrolment that ends a sign-in, which just proved it and
        whose ``pending_tag`` must still match — so that a session left open does not let
        someone else replace the second factor."""
        row = session.get(StaffRow, staff_id)
        if row is None or not row.active:
            raise StaffAuthenticationError("e-mail, password or code incorrect")
        self._check_tag(row, pending_tag)
        if current is not None and not self._verify_password(row, current):
            raise IdentityRuleError("the current password is not correct")
        totp = pyotp.TOTP(secret)
        digits = "".join(ch for ch in code if ch.isdigit())
        step_now = int(self.ctx.clock.now().timestamp()) // totp.interval
        confirmed = next(
            (
                step
                for step in (step_now - 1, step_now, step_now + 1)
                if secrets.compare_digest(totp.at(step * totp.interval), digits)
            ),
            None,
        )
        if confirmed is None:
            raise StaffAccountError("this code does not match: scan the QR code again")
        row.totp_secret = seal(self._totp_key, secret.encode(), row.id.encode())
        row.totp_last_step = confirmed
        row.totp_enrolled = True
        auditing.record(
            self.ctx,
            session,
            event_type="identity.staff.totp_enrolled",
            actor=f"staff:{row.id}",
            subject=f"staff:{row.id}",
        )
        return self.new_recovery_codes(session, row.id, current=None)

    def new_recovery_codes(
        self, session: Session, staff_id: str, *, current: str | None
    ) -> list[str]:
        """Replace the account's recovery codes by :data:`RECOVERY_CODES` new ones, stored
        as keyed hashes; the codes themselves are returned once and kept nowhere.
        ``current`` (the password) is checked unless None (within an enrolment)."""
        if current is not None:
            row = session.get(StaffRow, staff_id)
            if row is None or not self._verify_password(row, current):
                raise IdentityRuleError("the current password is not correct")
        now = self.ctx.clock.now()
        session.execute(
            delete(StaffRecoveryCodeRow).where(StaffRecoveryCodeRow.staff_id == staff_id)
        )
        codes = []
        for _ in range(RECOVERY_CODES):
            raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
            codes.append(f"{raw[:5]}-{raw[5:]}")
            session.add(
                StaffRecoveryCodeRow(
                    staff_id=staff_id, code_hash=self._recovery_hash(staff_id, raw), created_at=now
                )
            )
        session.flush()
        auditing.record(
            self.ctx,
            session,
            event_type="identity.staff.recovery_codes_issued",
            actor=f"staff:{staff_id}",
            subject=f"staff:{staff_id}",
            details={"count": RECOVERY_CODES},
        )
        return codes

    def recovery_codes_left(self, session: Session, staff_id: str) -> int:
        count = session.scalar(
            select(func.count())
            .select_from(StaffRecoveryCodeRow)
            .where(
                StaffRecoveryCodeRow.staff_id == staff_id, StaffRecoveryCodeRow.used_at.is_(None)
            )
        )
        return int(count or 0)

    def _recovery_hash(self, staff_id: str, normal: str) -> str:
        # Bound to the account: the same code under another account hashes differently.
        return keyed_hash(self._recovery_key, f"{staff_id}\x00{normal}".encode())

    def _use_recovery_code(self, session: Session, row: StaffRow, code: str, now: datetime) -> bool:
        """Use up an unused recovery code of ``row``: the conditional update makes a code
        single use even when two sign-ins race with it."""
        normal = "".join(ch for ch in code.lower() if ch.isalnum())
        if len(normal) != _RECOVERY_LENGTH:
            return False
        used = session.execute(
            update(StaffRecoveryCodeRow)
            .where(
                StaffRecoveryCodeRow.staff_id == row.id,
                StaffRecoveryCodeRow.code_hash == self._recovery_hash(row.id, normal),
                StaffRecoveryCodeRow.used_at.is_(None),
            )
            .values(used_at=now)
        )
        if int(getattr(used, "rowcount", 0)) != 1:
            return False
        auditing.record(
            self.ctx,
            session,
            event_type="identity.staff.recovery_code_used",
            actor=f"staff:{row.id}",
            subject=f"staff:{row.id}",
            details={"left": self.recovery_codes_left(session, row.id)},
        )
        return True

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
