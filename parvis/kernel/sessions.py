"""Server-side web sessions: an opaque random cookie id, the state kept in the database.

architecture.md, "Web" (secure cookies): the cookie holds only a random identifier (256 bits from
:mod:`secrets`); the database keeps its SHA-256 (so a read of the table does not give usable
cookies), the principal, a CSRF token, the sign-in time and the last activity. A session
ends after ``session_idle_seconds`` without a request or ``session_absolute_seconds`` after
it began, whichever comes first (OWASP Session Management Cheat Sheet, "Session
Expiration"). Signing in or changing privileges **rotates** the id (session fixation).

Idle expiry is exact to the minute: the last-seen time is written at most once per
:data:`TOUCH_INTERVAL` (60 s; half the idle limit if that is shorter), not on every request —
a write per request made every signed-in request a durable commit. A session therefore ends
between ``session_idle_seconds - 60`` and ``session_idle_seconds`` after its last request,
never later. Sessions whose cookie never comes back (abandoned, not signed out) would keep a
row — and a pseudonym — forever: :meth:`SessionStore.create` deletes every expired row, at
most once per :data:`PURGE_INTERVAL` per process (GDPR Art. 5(1)(e), storage limitation).

What a domain keeps in a session (``extra``: FranceConnect's ID token for the logout's
``id_token_hint``, return paths, pending states) is **sealed** with AES-256-GCM (NIST SP
800-38D) under a key derived from the sealing secret (ADR 0016, :mod:`parvis.kernel.keys`),
which the database does not hold: a read of ``web_sessions`` — a dump, a backup, an SQL injection —
gives no ``sub``, ``sid``, nonce or token next to the citizen's pseudonym (GDPR Art. 32(1)(a),
pseudonymisation and encryption). The principal and the CSRF token stay readable: the first
is already a pseudonym, the second is useless without the cookie. A row whose seal does not
open (the sealing secret changed, the row was edited) is an expired session.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import String, Text, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from parvis.kernel.clock import Clock
from parvis.kernel.db import Base, UTCDateTime
from parvis.kernel.principal import (
    Anonymous,
    Principal,
    principal_from_dict,
    principal_to_dict,
)

__all__ = [
    "PURGE_INTERVAL",
    "SEAL_KEY_PURPOSE",
    "TOUCH_INTERVAL",
    "SessionStore",
    "WebSession",
    "WebSessionRow",
    "cookie_name",
]

_ID_BYTES = 32

TOUCH_INTERVAL = timedelta(seconds=60)
"""Longest time between two writes of a live session's last-seen time."""

PURGE_INTERVAL = timedelta(minutes=10)
"""Shortest time between two purges of expired sessions by one process."""


SEAL_KEY_PURPOSE = "parvis/kernel/web-sessions/extra/v1"
"""The HKDF ``info`` label of the key that seals a session's ``extra``."""

#: Bound into every seal (AES-GCM associated data): a sealed value from another purpose
#: sealed under a key that happened to match would still not open here.
_SEAL_AAD = b"parvis web_sessions.data extra v1"
_NONCE_BYTES = 12


def cookie_name(*, secure: bool) -> str:
    """``__Host-`` prefix when Secure: the browser then refuses a Domain attribute or a
    non-root Path, so a sibling sub-domain cannot plant the cookie (RFC 6265bis §4.1.3.2)."""
    return "__Host-parvis_session" if secure else "parvis_session"


class WebSessionRow(Base):
    """One server-side session. ``id_hash`` = SHA-256 of the cookie value, hex."""

    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)


@dataclass
class WebSession:
    """A loaded session. ``cookie`` is the raw value to send back (only after create/rotate)."""

    id_hash: str
    principal: Principal
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime
    extra: dict[str, Any] = field(default_factory=dict)
    cookie: str | None = None

    def check_csrf(self, submitted: str | None) -> bool:
        """Constant-time comparison of a submitted form token with the session's."""
        if not submitted:
            return False
        return hmac.compare_digest(submitted.encode(), self.csrf_token.encode())


def _hash(cookie: str) -> str:
    return hashlib.sha256(cookie.encode("ascii", "replace")).hexdigest()


class SessionStore:
    """Create, load, rotate and destroy sessions inside the caller's transaction."""

    def __init__(
        self, *, clock: Clock, idle_seconds: int, absolute_seconds: int, seal_key: bytes
    ) -> None:
        if len(seal_key) != 32:
            raise ValueError("the session seal key is 32 bytes (AES-256-GCM)")
        self._aead = AESGCM(seal_key)
        self.clock = clock
        self.idle = timedelta(seconds=idle_seconds)
        self.absolute = timedelta(seconds=absolute_seconds)
        # Never as long as the idle limit itself, or an active session would expire.
        self.touch_interval = min(TOUCH_INTERVAL, self.idle / 2)
        self._purged_at: datetime | None = None
        self._purge_lock = threading.Lock()

    def create(
        self,
        db: Session,
        principal: Principal | None = None,
        *,
        extra: dict[str, Any] | None = None,
    ) -> WebSession:
        now = self.clock.now()
        self._purge_if_due(db, now)
        cookie = secrets.token_urlsafe(_ID_BYTES)
        session = WebSession(
            id_hash=_hash(cookie),
            principal=principal or Anonymous(),
            csrf_token=secrets.token_urlsafe(24),
            created_at=now,
            last_seen_at=now,
            extra=dict(extra or {}),
            cookie=cookie,
        )
        db.add(
            WebSessionRow(
                id_hash=session.id_hash,
                data=self._encode(session),
                created_at=now,
                last_seen_at=now,
            )
        )
        return session

    def load(self, db: Session, cookie: str | None) -> WebSession | None:
        """The live session for ``cookie``, touching its last-seen time when the stored one
        is :attr:`touch_interval` old or more; None if absent or expired (an expired row is
        deleted at once)."""
        if not cookie or len(cookie) > 128:
            return None
        row = db.get(WebSessionRow, _hash(cookie))
        if row is None:
            return None
        now = self.clock.now()
        created = row.created_at
        last_seen = row.last_seen_at
        if now - last_seen >= self.idle or now - created >= self.absolute:
            db.delete(row)
            return None
        data = json.loads(row.data)
        try:
            extra = self._unseal(data)
        except InvalidTag:
            db.delete(row)
            return None
        if now - last_seen >= self.touch_interval:
            row.last_seen_at = last_seen = now
        return WebSession(
            id_hash=row.id_hash,
            principal=principal_from_dict(data.get("principal", {})),
            csrf_token=str(data.get("csrf", "")),
            created_at=created,
            last_seen_at=last_seen,
            extra=extra,
        )

    def save(self, db: Session, session: WebSession) -> None:
        """Persist changes to ``extra`` (the principal changes only through :meth:`rotate`)."""
        row = db.get(WebSessionRow, session.id_hash)
        if row is not None:
            row.data = self._encode(session)

    def rotate(self, db: Session, old: WebSession | None, principal: Principal) -> WebSession:
        """Replace ``old`` by a new id carrying ``principal`` (sign-in, sign-out, new role).

        The absolute lifetime restarts: a new sign-in is a new authentication.
        """
        extra = dict(old.extra) if old is not None else {}
        if old is not None:
            self.destroy(db, old)
        return self.create(db, principal, extra=extra)

    def destroy(self, db: Session, session: WebSession) -> None:
        db.execute(delete(WebSessionRow).where(WebSessionRow.id_hash == session.id_hash))

    @staticmethod
    def end_all(db: Session) -> int:
        """Delete every session (ADR 0016: their sealed data is under the sealing secret a
        rotation retires; signing in again is cheaper than re-sealing them). Returns how many."""
        result = db.execute(delete(WebSessionRow))
        return int(getattr(result, "rowcount", 0))

    @staticmethod
    def end_staff_sessions(db: Session, staff_id: str, *, keep: str | None = None) -> int:
        """Delete every session signed in as the staff member ``staff_id`` (a disabled
        account, a reset, a new password: OWASP Session Management Cheat Sheet, "Renew the
        Session ID After Any Privilege Level Change"), except the one whose ``id_hash`` is
        ``keep``. The principal is stored readable (the module's docstring), so the rows
        are found without opening any seal; returns how many were deleted."""
        marker = json.dumps({"staff_id": staff_id}, separators=(",", ":"))[1:-1]
        candidates = db.execute(
            select(WebSessionRow.id_hash, WebSessionRow.data).where(
                WebSessionRow.data.contains(marker, autoescape=True)
            )
        ).all()
        ended = []
        for id_hash, data in candidates:
            principal = json.loads(data).get("principal", {})
            if (
                id_hash != keep
                and principal.get("kind") == "staff"
                and principal.get("staff_id") == staff_id
            ):
                ended.append(id_hash)
        if ended:
            db.execute(delete(WebSessionRow).where(WebSessionRow.id_hash.in_(ended)))
        return len(ended)

    def purge_expired(self, db: Session) -> int:
        """Delete every session :meth:`load` would refuse as idle; returns how many.

        Idle expiry is enough: a session past its absolute lifetime but still in use is
        deleted by its next :meth:`load`, and once abandoned it becomes idle too. The
        cutoff uses the indexed ``last_seen_at`` only.
        """
        now = self.clock.now()
        result = db.execute(
            delete(WebSessionRow).where(WebSessionRow.last_seen_at <= now - self.idle)
        )
        with self._purge_lock:
            self._purged_at = now
        return int(getattr(result, "rowcount", 0))

    def _purge_if_due(self, db: Session, now: datetime) -> None:
        with self._purge_lock:
            due = self._purged_at is None or now - self._purged_at >= PURGE_INTERVAL
            if due:
                # Claimed before the delete: two requests of one process never both purge.
                self._purged_at = now
        if due:
            self.purge_expired(db)

    def _encode(self, session: WebSession) -> str:
        data: dict[str, Any] = {
            "principal": principal_to_dict(session.principal),
            "csrf": session.csrf_token,
        }
        if session.extra:
            data["sealed"] = self._seal(session.extra)
        return json.dumps(data, separators=(",", ":"))

    def _seal(self, extra: dict[str, Any]) -> str:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        plain = json.dumps(extra, separators=(",", ":")).encode("utf-8")
        sealed = nonce + self._aead.encrypt(nonce, plain, _SEAL_AAD)
        return base64.urlsafe_b64encode(sealed).decode("ascii")

    def _unseal(self, data: dict[str, Any]) -> dict[str, Any]:
        """The session's ``extra``; raises :class:`InvalidTag` if the seal does not open."""
        sealed = data.get("sealed")
        if not isinstance(sealed, str):
            # Rows written before sealing kept ``extra`` in clear; they read as before and
            # are sealed on their next save.
            return dict(data.get("extra", {}))
        try:
            raw = base64.urlsafe_b64decode(sealed.encode("ascii"))
        except ValueError:
            raise InvalidTag from None
        if len(raw) <= _NONCE_BYTES:
            raise InvalidTag
        plain = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _SEAL_AAD)
        extra: dict[str, Any] = json.loads(plain)
        return extra
