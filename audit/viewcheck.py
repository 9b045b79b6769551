"""Check the typed view ``audit_events`` against the leaves it indexes (audit-log.md,
"Content"; ADR 0003).

``audit_events`` is what the DPO console queries (who did what to whom, when, for which
purpose); every value in it is also in an event leaf, which the Merkle tree and the signed
checkpoints protect. The view itself is only protected by triggers, which someone with the
database owner's rights can drop. This check makes the view as trustworthy as the log:

* every row must name a leaf of its log (integrated, or still queued in ``audit_pending``),
  and its type, actor, subject, purpose and minute must be the leaf's;
* where the erasable details remain (``audit_details``), their salted hash must be the
  leaf's commitment (:func:`audit.events.details_commitment`); erased details are fine;
* every integrated leaf that is an event leaf must have its row (a deleted row hides an
  event from the DPO's queries).

Leaves that are not event leaves (ballot boards append their own records) are not indexed
and are skipped. The check reads every row once: its cost grows with the log, like the
tree recomputation of ``parvis audit verify``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, exists, select
from sqlalchemy.orm import Session

from audit import merkle
from audit.errors import EventError
from audit.events import EventLeaf, details_commitment
from audit.tables import DetailRow, EntryRow, EventRow, PendingRow

__all__ = ["ViewMismatch", "check_events"]

_BATCH = 1000


@dataclass(frozen=True, slots=True)
class ViewMismatch:
    """One disagreement between ``audit_events`` (row ``seq``) and the log (entry ``index``)."""

    seq: int | None
    index: int | None
    reason: str

    def __str__(self) -> str:
        where = []
        if self.seq is not None:
            where.append(f"audit_events row {self.seq}")
        if self.index is not None:
            where.append(f"entry {self.index}")
        return f"{', '.join(where)}: {self.reason}"


def _compare(row: EventRow, leaf: EventLeaf) -> str | None:
    for name, mine, theirs in (
        ("event type", row.event_type, leaf.event_type),
        ("actor", row.actor, leaf.actor),
        ("subject", row.subject, leaf.subject),
        ("purpose", row.purpose, leaf.purpose),
        ("time", row.time, leaf.time),
    ):
        if mine != theirs:
            return f"{name} {mine!s} differs from the leaf's {theirs!s}"
    return None


def check_events(session: Session, *, log_id: int) -> tuple[int, list[ViewMismatch]]:
    """The number of rows checked and every mismatch between the view and log ``log_id``."""
    mismatches: list[ViewMismatch] = []
    pending = {
        merkle.leaf_hash(data)
        for data in session.scalars(select(PendingRow.data).where(PendingRow.log_id == log_id))
    }
    rows = session.execute(
        select(EventRow, EntryRow.idx, EntryRow.data, DetailRow.salt, DetailRow.details)
        .outerjoin(
            EntryRow,
            and_(EntryRow.log_id == EventRow.log_id, EntryRow.leaf_hash == EventRow.leaf_hash),
        )
        .outerjoin(
            DetailRow,
            and_(DetailRow.log_id == EventRow.log_id, DetailRow.leaf_hash == EventRow.leaf_hash),
        )
        .where(EventRow.log_id == log_id)
        .order_by(EventRow.seq, EntryRow.idx)
        .execution_options(yield_per=_BATCH)
    )
    checked = 0
    seen: set[int] = set()
    for row, idx, data, salt, details in rows:
        if row.seq in seen:  # the same leaf appended twice: the first entry is the event
            continue
        seen.add(row.seq)
        checked += 1
        if data is None:
            if bytes(row.leaf_hash) not in pending:
                mismatches.append(ViewMismatch(row.seq, None, "names no leaf of the log"))
            continue
        try:
            leaf = EventLeaf.decode(bytes(data))
        except EventError:
            mismatches.append(ViewMismatch(row.seq, idx, "its leaf is not an audit event"))
            continue
        reason = _compare(row, leaf)
        if reason is None and salt is not None and details is not None:
            commitment = details_commitment(salt=bytes(salt), canonical=details.encode("utf-8"))
            if commitment != leaf.commitment:
                reason = "its details do not hash to the leaf's commitment"
        if reason is not None:
            mismatches.append(ViewMismatch(row.seq, idx, reason))
    unindexed = session.execute(
        select(EntryRow.idx, EntryRow.data)
        .where(
            EntryRow.log_id == log_id,
            ~exists().where(
                EventRow.log_id == EntryRow.log_id, EventRow.leaf_hash == EntryRow.leaf_hash
            ),
        )
        .order_by(EntryRow.idx)
        .execution_options(yield_per=_BATCH)
    )
    for idx, data in unindexed:
        try:
            EventLeaf.decode(bytes(data))
        except EventError:
            continue  # not an event leaf: nothing to index
        mismatches.append(ViewMismatch(None, idx, "an audit event missing from audit_events"))
    return checked, mismatches
