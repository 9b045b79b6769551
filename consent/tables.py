"""SQLAlchemy 2 models of the consent registry (migration branch ``consent``).

What is personal and how it is protected:

* subject pseudonyms (random internal ids, never names) appear in events, states, receipts,
  requests and data keys;
* anything a person wrote or received — receipts, request notes, Art. 15/20 export artefacts —
  is stored encrypted under the subject's data key (``consent_data_keys``), so destroying the
  key (erasure) makes all of it unreadable at once (crypto-shredding);
* consent events are append-only: the service only ever inserts them, and only the retention
  purge deletes whole histories whose retention has run out.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from parvis.kernel.db import Base, UTCDateTime

__all__ = [
    "ApiClientRow",
    "ConsentEventRow",
    "ConsentStateRow",
    "ControllerRow",
    "DataKeyRow",
    "NoticeRow",
    "PurposeRow",
    "PurposeVersionRow",
    "ReceiptRow",
    "RequestRow",
    "WebhookDeliveryRow",
    "WebhookSubscriptionRow",
]

ID = 64
#: A 64-bit identity on PostgreSQL, SQLite's rowid alias (INTEGER PRIMARY KEY) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")
When = UTCDateTime()


class ControllerRow(Base):
    __tablename__ = "consent_controllers"

    id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    definition: Mapped[str] = mapped_column(Text, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(When, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(When, nullable=False)


class PurposeRow(Base):
    """The current version of a purpose (the live Art. 30 register)."""

    __tablename__ = "consent_purposes"

    id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    controller_id: Mapped[str] = mapped_column(
        ForeignKey("consent_controllers.id"), nullable=False, index=True
    )
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    legal_basis: Mapped[str] = mapped_column(String(32), nullable=False)
    definition: Mapped[str] = mapped_column(Text, nullable=False)
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False)
    created_at: Mapped[datetime] = mapped_column(When, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(When, nullable=False)


class PurposeVersionRow(Base):
    """Every version a purpose ever had (the register's history; never updated)."""

    __tablename__ = "consent_purpose_versions"

    purpose_id: Mapped[str] = mapped_column(ForeignKey("consent_purposes.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    definition: Mapped[str] = mapped_column(Text, nullable=False)
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    changed_at: Mapped[datetime] = mapped_column(When, nullable=False)
    changed_by: Mapped[str] = mapped_column(String(ID + 16), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)


class NoticeRow(Base):
    """An immutable privacy notice version (content hash over the RFC 8785 content)."""

    __tablename__ = "consent_notices"
    __table_args__ = (
        UniqueConstraint("controller_id", "language", "version", name="uq_consent_notices_version"),
    )

    id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    controller_id: Mapped[str] = mapped_column(
        ForeignKey("consent_controllers.id"), nullable=False, index=True
    )
    language: Mapped[str] = mapped_column(String(2), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    effective_at: Mapped[datetime] = mapped_column(When, nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False)
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    purpose_fingerprints: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(When, nullable=False)
    created_by: Mapped[str] = mapped_column(String(ID + 16), nullable=False)


class ConsentEventRow(Base):
    """One append-only consent event; ``seq`` orders the events of one consent."""

    __tablename__ = "consent_events"
    __table_args__ = (Index("ix_consent_events_history", "subject", "purpose_id", "seq"),)

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(ID), nullable=False, unique=True)
    subject: Mapped[str] = mapped_column(String(ID), nullable=False)
    purpose_id: Mapped[str] = mapped_column(ForeignKey("consent_purposes.id"), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    time: Mapped[datetime] = mapped_column(When, nullable=False)
    actor: Mapped[str] = mapped_column(Text, nullable=False)
    method: Mapped[str] = mapped_column(String(32), nullable=False)
    interface: Mapped[str] = mapped_column(String(ID + 16), nullable=False)
    notice_id: Mapped[str | None] = mapped_column(ForeignKey("consent_notices.id"), nullable=True)
    valid_until: Mapped[datetime | None] = mapped_column(When, nullable=True)
    receipt_id: Mapped[str] = mapped_column(String(ID), nullable=False)


class ConsentStateRow(Base):
    """The projection: always equal to the fold of the subject's events for the purpose."""

    __tablename__ = "consent_states"
    __table_args__ = (Index("ix_consent_states_purpose_status", "purpose_id", "status"),)

    subject: Mapped[str] = mapped_column(String(ID), primary_key=True)
    purpose_id: Mapped[str] = mapped_column(ForeignKey("consent_purposes.id"), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    since: Mapped[datetime] = mapped_column(When, nullable=False)
    last_event_id: Mapped[str] = mapped_column(String(ID), nullable=False)
    events: Mapped[int] = mapped_column(Integer, nullable=False)
    notice_id: Mapped[str | None] = mapped_column(ForeignKey("consent_notices.id"), nullable=True)
    given_at: Mapped[datetime | None] = mapped_column(When, nullable=True)
    valid_until: Mapped[datetime | None] = mapped_column(When, nullable=True, index=True)


class ReceiptRow(Base):
    """A signed receipt, sealed under the subject's data key."""

    __tablename__ = "consent_receipts"

    id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    subject: Mapped[str] = mapped_column(String(ID), nullable=False, index=True)
    purpose_id: Mapped[str] = mapped_column(ForeignKey("consent_purposes.id"), nullable=False)
    event_id: Mapped[str] = mapped_column(String(ID), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(When, nullable=False)
    sealed: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class DataKeyRow(Base):
    """A subject's data key wrapped by the key-encryption key; ``wrapped`` is None once
    shredded (the row stays so that nothing is ever encrypted for that subject again)."""

    __tablename__ = "consent_data_keys"

    subject: Mapped[str] = mapped_column(String(ID), primary_key=True)
    wrapped: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[datetime] = mapped_column(When, nullable=False)
    shredded_at: Mapped[datetime | None] = mapped_column(When, nullable=True)


class RequestRow(Base):
    """A data-subject request (Art. 15-22) and its Art. 12(3) time limits."""

    __tablename__ = "consent_requests"
    __table_args__ = (Index("ix_consent_requests_queue", "status", "due_on"),)

    id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    subject: Mapped[str] = mapped_column(String(ID), nullable=False, index=True)
    controller_id: Mapped[str] = mapped_column(ForeignKey("consent_controllers.id"), nullable=False)
    purpose_id: Mapped[str | None] = mapped_column(ForeignKey("consent_purposes.id"), nullable=True)
    right: Mapped[str] = mapped_column(String(16), nullable=False)
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    opened_by: Mapped[str] = mapped_column(String(ID + 16), nullable=False)
    received_at: Mapped[datetime] = mapped_column(When, nullable=False)
    received_on: Mapped[date] = mapped_column(Date, nullable=False)
    due_on: Mapped[date] = mapped_column(Date, nullable=False)
    identity_checked_at: Mapped[datetime | None] = mapped_column(When, nullable=True)
    identity_method: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    extension_months: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    extension_reasons: Mapped[str] = mapped_column(Text, nullable=False, default="")
    extension_notified_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    outcome: Mapped[str | None] = mapped_column(String(24), nullable=True)
    motivation: Mapped[str] = mapped_column(Text, nullable=False, default="")
    recipients_notified: Mapped[str] = mapped_column(Text, nullable=False, default="[]")
    completed_at: Mapped[datetime | None] = mapped_column(When, nullable=True)
    completed_by: Mapped[str | None] = mapped_column(String(ID + 16), nullable=True)
    note_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    artefact_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


class ApiClientRow(Base):
    """A platform acting as an API client of one controller.

    ``id`` is the platform's OAuth client id at identity's OpenID provider: its
    client-credentials access tokens are mapped to the controller through this row (ADR 0007).
    ``api_key_hash``/``api_key_sunset_at`` belong to the deprecated interim API key, if the
    platform still has one (NULL for a platform linked after the switch, or once its key is
    retired).
    """

    __tablename__ = "consent_api_clients"

    id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    controller_id: Mapped[str] = mapped_column(
        ForeignKey("consent_controllers.id"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    api_key_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    api_key_sunset_at: Mapped[datetime | None] = mapped_column(When, nullable=True)
    created_at: Mapped[datetime] = mapped_column(When, nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(When, nullable=True)


class WebhookSubscriptionRow(Base):
    __tablename__ = "consent_webhooks"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("consent_api_clients.id"), nullable=False, index=True
    )
    url: Mapped[str] = mapped_column(Text, nullable=False)
    events: Mapped[str] = mapped_column(Text, nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False)
    created_at: Mapped[datetime] = mapped_column(When, nullable=False)


class WebhookDeliveryRow(Base):
    """The outbox: one row per (event, subscription), written in the event's transaction.

    ``id`` is the idempotency key sent as ``webhook-id`` on every attempt; ``seq`` orders
    deliveries in the order their events happened.
    """

    __tablename__ = "consent_deliveries"
    __table_args__ = (Index("ix_consent_deliveries_due", "delivered_at", "next_attempt_at"),)

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(ID), nullable=False, unique=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("consent_webhooks.id"), nullable=False)
    event_type: Mapped[str] = mapped_column(String(48), nullable=False)
    payload: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(When, nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(When, nullable=False)
    lease_until: Mapped[datetime | None] = mapped_column(When, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(When, nullable=True)
    gave_up_at: Mapped[datetime | None] = mapped_column(When, nullable=True)
    last_error: Mapped[str] = mapped_column(String(200), nullable=False, default="")
