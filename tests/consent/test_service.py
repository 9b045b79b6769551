"""Consent events through the service, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from consent.auditing import audit_of
from consent.catalogue import Purpose
from consent.errors import (
    LegalBasisError,
    MinorConsentError,
    NotGivenError,
    StaleNoticeError,
    UnknownNoticeError,
    UnknownPurposeError,
)
from consent.hooks import AgeFacts, register_age_source
from consent.ledger import Actor, ActorKind, Method, Status, fold
from consent.receipts import verify_receipt
from consent.service import ConsentService
from consent.tables import ConsentEventRow, ConsentStateRow, ReceiptRow
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from tests.consent.conftest import DPO
from tests.consent.factories import NEWSLETTER, purpose

SUBJECT = Actor(ActorKind.SUBJECT)


def notice_id(service: ConsentService, ctx: AppContext, lang: str = "fr") -> str:
    with ctx.db.read_session() as session:
        notice = service.current_notice(session, "ville-exemple", lang)
        assert notice is not None
        return notice.id


def record(
    service: ConsentService,
    ctx: AppContext,
    status: Status,
    *,
    subject: str = "alice",
    purpose_id: str = "newsletter",
    notice: str | None = None,
    actor: Actor = SUBJECT,
) -> object:
    with ctx.db.write_session() as session:
        return service.record(
            session,
            subject=subject,
            purpose_id=purpose_id,
            status=status,
            actor=actor,
            method=Method.WEB_FORM,
            interface="parvis:privacy-page",
            notice_id=notice,
        )


def counts(ctx: AppContext) -> tuple[int, int, int]:
    with ctx.db.read_session() as session:
        return (
            session.scalar(select(func.count()).select_from(ConsentEventRow)) or 0,
            session.scalar(select(func.count()).select_from(ConsentStateRow)) or 0,
            session.scalar(select(func.count()).select_from(ReceiptRow)) or 0,
        )


def test_give_check_withdraw_with_receipts_and_audit(
    service: ConsentService, ctx: AppContext, clock: FixedClock
) -> None:
    nid = notice_id(service, ctx)
    record(service, ctx, Status.GIVEN, notice=nid)
    with ctx.db.read_session() as session:
        check = service.check(session, "alice", "newsletter")
        assert check.in_force
        assert check.valid_until == clock.now() + timedelta(days=365)
    clock.advance(timedelta(days=3))
    record(service, ctx, Status.WITHDRAWN)
    with ctx.db.read_session() as session:
        assert not service.check(session, "alice", "newsletter").in_force
        receipts = service.receipts(session, "alice")
        assert [r.status for r in receipts] == ["withdrawn", "given"]
        for row in receipts:
            doc = service.receipt_document(session, "alice", row.id)
            verified = verify_receipt(doc, trusted=[service.receipt_key])
            assert verified.event_type == row.status
        entries = audit_of(ctx).query(session, subject="alice")
        assert [e.event_type for e in entries] == ["consent.given", "consent.withdrawn"]
        assert entries[0].purpose == "newsletter"
    assert counts(ctx) == (2, 1, 2)


def test_errors_leave_no_partial_state(service: ConsentService, ctx: AppContext) -> None:
    nid = notice_id(service, ctx)
    before = counts(ctx)
    with pytest.raises(NotGivenError):
        record(service, ctx, Status.WITHDRAWN)
    with pytest.raises(LegalBasisError, match=r"object \(Art. 21\(1\)\)"):
        record(service, ctx, Status.GIVEN, purpose_id="budget-participatif", notice=nid)
    with pytest.raises(UnknownPurposeError):
        record(service, ctx, Status.GIVEN, purpose_id="nope", notice=nid)
    with pytest.raises(UnknownNoticeError):
        record(service, ctx, Status.GIVEN, notice="00000000-0000-0000-0000-000000000000")
    with pytest.raises(UnknownNoticeError):
        record(service, ctx, Status.GIVEN, notice=None)
    assert counts(ctx) == before
    with ctx.db.read_session() as session:
        assert audit_of(ctx).query(session, subject="alice") == []


def test_material_change_re_asks_consent(service: ConsentService, ctx: AppContext) -> None:
    old = notice_id(service, ctx)
    record(service, ctx, Status.GIVEN, notice=old)
    wider = Purpose.from_dict(
        purpose(NEWSLETTER, recipients=[{"name": "Partenaire", "kind": "external"}]),
        controller_id="ville-exemple",
    )
    with ctx.db.write_session() as session:
        assert service.save_purpose(session, wider, actor=DPO, reason="new recipient").version == 2
    with ctx.db.read_session() as session:
        check = service.check(session, "alice", "newsletter")
        assert not check.in_force
        assert "changed materially" in check.reason
        assert service.needs_renewal(session, "alice", "newsletter")
    # The old notice can no longer collect consent, and the register changed after it.
    with pytest.raises(StaleNoticeError, match="publish a new notice"):
        record(service, ctx, Status.RENEWED, notice=old)
    with ctx.db.write_session() as session:
        new = service.publish_notice(
            session, controller_id="ville-exemple", language="fr", text="v2", actor=DPO
        )
    assert new.version == 2
    with pytest.raises(StaleNoticeError, match="no longer the one in force"):
        record(service, ctx, Status.GIVEN, subject="bob", notice=old)
    record(service, ctx, Status.RENEWED, notice=new.id)
    with ctx.db.read_session() as session:
        assert service.check(session, "alice", "newsletter").in_force
        published = audit_of(ctx).query(session, event_type="consent.notice.published")
        assert published[-1].details["material_purposes"] == ["newsletter"]


def test_editorial_change_keeps_consent(service: ConsentService, ctx: AppContext) -> None:
    record(service, ctx, Status.GIVEN, notice=notice_id(service, ctx))
    editorial = Purpose.from_dict(
        purpose(NEWSLETTER, security_measures=["chiffrement", "MFA"]),
        controller_id="ville-exemple",
    )
    with ctx.db.write_session() as session:
        service.save_purpose(session, editorial, actor=DPO)
        service.publish_notice(
            session, controller_id="ville-exemple", language="fr", text="reworded", actor=DPO
        )
    with ctx.db.read_session() as session:
        assert service.check(session, "alice", "newsletter").in_force
        assert [v.version for v in service.purpose_history(session, "newsletter")] == [1, 2]


def test_notices_are_immutable_and_idempotent(service: ConsentService, ctx: AppContext) -> None:
    with ctx.db.write_session() as session:
        first = service.current_notice(session, "ville-exemple", "fr")
        again = service.publish_notice(
            session,
            controller_id="ville-exemple",
            language="fr",
            text="Notice en français.",
            actor=DPO,
        )
    assert first is not None
    assert again.id == first.id
    assert again.version == 1


def test_minor_under_15_needs_parental_authority(service: ConsentService, ctx: AppContext) -> None:
    register_age_source(
        lambda _ctx, _s, subject: AgeFacts(birth_year=2014) if subject == "kid" else None
    )
    try:
        nid = notice_id(service, ctx)
        with pytest.raises(MinorConsentError):
            record(service, ctx, Status.GIVEN, subject="kid", notice=nid)
        joint = Actor(ActorKind.PARENTAL, guardian="parent-1", agent="staff:desk-1")
        record(service, ctx, Status.GIVEN, subject="kid", notice=nid, actor=joint)
        record(service, ctx, Status.WITHDRAWN, subject="kid")  # the minor alone may withdraw
        with ctx.db.read_session() as session:
            given = audit_of(ctx).query(session, subject="kid", event_type="consent.given")
            assert given[0].details["joint_with"] == "citizen:parent-1"
            events = service.history(session, "kid")
            assert events[0].actor == joint
    finally:
        register_age_source(lambda *_: None)


def test_expiry_sweep_records_expired_events(
    service: ConsentService, ctx: AppContext, clock: FixedClock
) -> None:
    record(service, ctx, Status.GIVEN, notice=notice_id(service, ctx))
    with ctx.db.write_session() as session:
        assert service.expire_due(session) == 0
    clock.advance(timedelta(days=366))
    with ctx.db.write_session() as session:
        assert service.expire_due(session) == 1
    with ctx.db.write_session() as session:
        assert service.expire_due(session) == 0
        state = service.state(session, "alice", "newsletter")
        assert state is not None
        assert state.status is Status.EXPIRED
        assert fold(service.history(session, "alice", "newsletter")) == state


def test_receipt_is_sealed_under_the_subject_key(service: ConsentService, ctx: AppContext) -> None:
    record(service, ctx, Status.GIVEN, notice=notice_id(service, ctx))
    with ctx.db.read_session() as session:
        row = session.scalars(select(ReceiptRow)).one()
        assert b"alice" not in row.sealed
        assert b"newsletter" not in row.sealed
        doc = json.loads(service.receipt_document(session, "alice", row.id))
        assert doc["record"]["pii_principal_id"] == "alice"
        with pytest.raises(Exception, match="no such receipt"):
            service.receipt_document(session, "mallory", row.id)


def test_platform_check_answers_exactly_like_check(
    service: ConsentService, ctx: AppContext, clock: FixedClock
) -> None:
    """The API's one-query fast path and the general check agree in every state."""
    from consent.errors import UnknownSubjectError

    def both(subject: str, purpose_id: str = "newsletter") -> None:
        with ctx.db.read_session() as session:
            slow = service.check(session, subject, purpose_id)
            fast = service.platform_check(
                session, controller_id="ville-exemple", subject=subject, purpose_id=purpose_id
            )
        assert fast == slow

    nid = notice_id(service, ctx)
    record(service, ctx, Status.GIVEN, subject="given", notice=nid)
    record(service, ctx, Status.GIVEN, subject="gone", notice=nid)
    record(service, ctx, Status.WITHDRAWN, subject="gone")
    record(service, ctx, Status.REFUSED, subject="no", notice=nid)
    record(service, ctx, Status.GIVEN, subject="other-purpose-only", notice=nid)
    for subject in ("given", "gone", "no"):
        both(subject)
    clock.advance(timedelta(days=400))  # lapsed, expiry not yet recorded
    both("given")
    record(service, ctx, Status.GIVEN, subject="fresh", notice=nid)
    wider = Purpose.from_dict(
        purpose(NEWSLETTER, recipients=[{"name": "X", "kind": "external"}]),
        controller_id="ville-exemple",
    )
    with ctx.db.write_session() as session:
        service.save_purpose(session, wider, actor=DPO)
    both("fresh")  # given under a notice that no longer says what the register says
    with ctx.db.read_session() as session:
        with pytest.raises(LegalBasisError):
            service.platform_check(
                session,
                controller_id="ville-exemple",
                subject="given",
                purpose_id="budget-participatif",
            )
        with pytest.raises(UnknownPurposeError):
            service.platform_check(
                session, controller_id="ville-voisine", subject="given", purpose_id="newsletter"
            )
        with pytest.raises(UnknownSubjectError):
            service.platform_check(
                session, controller_id="ville-exemple", subject="nobody", purpose_id="newsletter"
            )
