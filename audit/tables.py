"""The log engine's tables (SQLAlchemy 2 typed models). Layout and reasons: ADR 0003.

Append-only (database triggers refuse UPDATE, DELETE and TRUNCATE; on PostgreSQL the
application role may only INSERT on named columns and SELECT — migration ``audit_0001``):

* ``audit_logs`` — one row per named log: origin line, public flag, verifier key text, and
  the seal flag — the one column that may change, and only as migration ``audit_0002``
  allows (unseal; seal while the log has no entry).
* ``audit_entries`` — the leaves: dense final index, leaf hash, leaf bytes.
* ``audit_nodes`` — stored interior hashes (perfect subtrees at levels 4, 8, 12, ...), so a
  proof costs O(log n) reads at any size.
* ``audit_checkpoints`` — one signed checkpoint per tree size (primary key ``(log, size)``:
  two different checkpoints for one size cannot both exist).
* ``audit_events`` — the typed view of audit events (type, actor, subject, purpose, coarse
  time) for the DPO's questions; every value in it is also in the leaf.

Not append-only:

* ``audit_pending`` — the sequencer's queue; a row is deleted in the transaction that
  integrates it (the entry then lives in ``audit_entries``).
* ``audit_details`` — event details and their salt: personal data that must stay erasable.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from parvis.kernel.db import Base, UTCDateTime

__all__ = [
    "CheckpointRow",
    "DetailRow",
    "EntryRow",
    "EventRow",
    "LogRow",
    "NodeRow",
    "PendingRow",
]

#: A 64-bit surrogate key that is SQLite's rowid there (INTEGER PRIMARY KEY).
_SERIAL = BigInteger().with_variant(Integer(), "sqlite")


class LogRow(Base):
    __tablename__ = "audit_logs"

    id: Mapped[int] = mapped_column(_SERIAL, Identity(always=True), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    origin: Mapped[str] = mapped_column(String(255), unique=True)
    public: Mapped[bool] = mapped_column(Boolean)
    verifier_key: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Sealed: no read path serves entry bodies (migration audit_0002; ADR 0003, "Sealed logs").
    sealed: Mapped[bool] = mapped_column(Boolean, server_default=false())


class PendingRow(Base):
    __tablename__ = "audit_pending"

    id: Mapped[int] = mapped_column(_SERIAL, Identity(always=True), primary_key=True)
    log_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("audit_logs.id"))
    # No leaf hash: the sequencer hashes the bytes it integrates rather than trust a writer.
    data: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (Index("ix_audit_pending_log_id_id", "log_id", "id"),)


class EntryRow(Base):
    __tablename__ = "audit_entries"

    # No foreign key: entries are copied from audit_pending rows, whose log_id was checked
    # on the way in; a per-row check here would cost the sequencer's hot path for nothing.
    log_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    data: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (Index("ix_audit_entries_log_id_leaf_hash", "log_id", "leaf_hash"),)


class NodeRow(Base):
    __tablename__ = "audit_nodes"

    log_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class CheckpointRow(Base):
    __tablename__ = "audit_checkpoints"

    log_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("audit_logs.id"), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class EventRow(Base):
    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(_SERIAL, Identity(always=True), primary_key=True)
    log_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("audit_logs.id"))
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    event_type: Mapped[str] = mapped_column(String(128))
    actor: Mapped[str] = mapped_column(String(256))
    subject: Mapped[str | None] = mapped_column(String(256))
    purpose: Mapped[str | None] = mapped_column(String(128))
    time: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("log_id", "leaf_hash", name="uq_audit_events_log_id_leaf_hash"),
        Index("ix_audit_events_subject", "subject"),
        Index("ix_audit_events_actor", "actor"),
        Index("ix_audit_events_log_id_time", "log_id", "time"),
    )


class DetailRow(Base):
    __tablename__ = "audit_details"

    log_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    salt: Mapped[bytes] = mapped_column(LargeBinary(32))
    details: Mapped[str] = mapped_column(Text)
