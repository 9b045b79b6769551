"""Ballot's audit trail fails closed (ballot/auditing.py): no reflection, no in-memory
stand-in. A ballot event reaches the audit log in the caller's transaction; an audit API
without ``service_from`` breaks the import instead of silently dropping the trail."""

from __future__ import annotations

import importlib
from collections.abc import Iterator

import pytest
from sqlalchemy import select

import audit
from audit.tables import EventRow
from ballot import auditing
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext, build_context
from parvis.kernel.settings import Settings


@pytest.fixture
def ctx(settings: Settings, clock: FixedClock) -> Iterator[AppContext]:
    context = build_context(settings, clock=clock)
    yield context
    context.db.dispose()


def test_ballot_events_are_written_to_the_audit_log(ctx: AppContext) -> None:
    with ctx.db.write_session() as session:
        auditing.record(
            ctx, session, event_type="ballot.election.opened", actor="staff:7", subject="e-1"
        )
    with ctx.db.read_session() as session:
        rows = session.scalars(select(EventRow)).all()
    assert [(r.event_type, r.actor, r.subject, r.purpose) for r in rows] == [
        ("ballot.election.opened", "staff:7", "e-1", "elections")
    ]

    # A rolled-back transaction takes its audit event with it (same transaction).
    def failing_action() -> None:
        with ctx.db.write_session() as session:
            auditing.record(ctx, session, event_type="ballot.election.closed", actor="staff:7")
            raise RuntimeError("the staff action failed")

    with pytest.raises(RuntimeError):
        failing_action()
    with ctx.db.read_session() as session:
        assert len(session.scalars(select(EventRow)).all()) == 1


def test_a_changed_audit_api_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    # The audit package as it would be if ``service_from`` were renamed or removed.
    monkeypatch.delitem(vars(audit), "service_from", raising=False)
    monkeypatch.setattr(
        audit, "_EXPORTS", {k: v for k, v in audit._EXPORTS.items() if k != "service_from"}
    )
    try:
        with pytest.raises(ImportError, match="service_from"):
            importlib.reload(auditing)
    finally:
        monkeypatch.undo()
        importlib.reload(auditing)
    assert not hasattr(auditing, "PendingAuditRecorder")
