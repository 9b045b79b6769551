"""Data-subject requests: deadlines, identity, extension, outcomes, exports and erasure."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from consent import data_keys, register_eraser, register_exporter
from consent import requests as dsr
from consent.access import access_records, record_access
from consent.auditing import audit_of
from consent.bases import Right
from consent.clients import create_client
from consent.errors import (
    DataKeyError,
    DeadlineError,
    RequestStateError,
    SubjectErasedError,
    UnknownRequestError,
)
from consent.hooks import ErasureContext, ExportContext, _erasers, _exporters
from consent.ledger import Actor, ActorKind, Method, Status
from consent.service import ConsentService
from consent.tables import ReceiptRow, WebhookDeliveryRow
from consent.webhooks import subscribe
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from parvis.kernel.errors import InvalidInputError
from tests.consent.conftest import DPO


@pytest.fixture(autouse=True)
def clean_registries() -> Iterator[None]:
    yield
    _exporters.pop("identity", None)
    _exporters.pop("ballot", None)
    _erasers.pop("identity", None)


def give(service: ConsentService, ctx: AppContext, subject: str) -> None:
    with ctx.db.write_session() as session:
        notice = service.current_notice(session, "ville-exemple", "fr")
        assert notice is not None
        service.record(
            session,
            subject=subject,
            purpose_id="newsletter",
            status=Status.GIVEN,
            actor=Actor(ActorKind.SUBJECT),
            method=Method.WEB_FORM,
            interface="parvis:privacy-page",
            notice_id=notice.id,
        )


def open_(ctx: AppContext, subject: str, right: Right, **kw: Any) -> dsr.RequestView:
    with ctx.db.write_session() as session:
        return dsr.open_request(
            ctx,
            session,
            subject=subject,
            controller_id="ville-exemple",
            right=right,
            opened_by=f"citizen:{subject}",
            channel=kw.pop("channel", "privacy_page"),
            identity_method=kw.pop("identity_method", "signed-in session"),
            **kw,
        )


def test_deadline_extension_and_its_limits(
    service: ConsentService, ctx: AppContext, clock: FixedClock
) -> None:
    view = open_(ctx, "alice", Right.ACCESS)
    assert view.received_on == date(2026, 1, 15)
    assert view.due_on == date(2026, 2, 15)
    assert view.days_left == 31
    clock.advance(timedelta(days=31))  # 15 February: still within the first month
    with ctx.db.write_session() as session:
        with pytest.raises(DeadlineError, match="1 or 2"):
            dsr.extend(ctx, session, view.id, months=3, reasons="x", actor=DPO)
        extended = dsr.extend(ctx, session, view.id, months=2, reasons="Complexe.", actor=DPO)
    assert extended.due_on == date(2026, 4, 15)
    with pytest.raises(RequestStateError, match="already"), ctx.db.write_session() as session:
        dsr.extend(ctx, session, view.id, months=1, reasons="x", actor=DPO)
    late = open_(ctx, "bob", Right.ACCESS)
    clock.advance(timedelta(days=32))
    with pytest.raises(DeadlineError, match="too late"), ctx.db.write_session() as session:
        dsr.extend(ctx, session, late.id, months=1, reasons="x", actor=DPO)
    with ctx.db.read_session() as session:
        queue = dsr.queue(ctx, session)
        assert [v.id for v in queue] == [late.id, view.id]  # most urgent first
        assert queue[0].days_left < 0  # overdue and shown as such


def test_identity_check_before_completion(service: ConsentService, ctx: AppContext) -> None:
    view = open_(ctx, "alice", Right.ACCESS, channel="desk", identity_method=None)
    assert not view.identity_checked
    with pytest.raises(RequestStateError, match="identity"), ctx.db.write_session() as session:
        dsr.complete(ctx, session, view.id, outcome=dsr.Outcome.GRANTED, motivation="", actor=DPO)
    with ctx.db.write_session() as session:
        dsr.check_identity(ctx, session, view.id, actor=DPO, method="carte d'identité au guichet")
        done = dsr.complete(
            ctx, session, view.id, outcome=dsr.Outcome.GRANTED, motivation="", actor=DPO
        )
    assert done.status == "completed"
    assert done.has_artefact
    with pytest.raises(RequestStateError, match="completed"), ctx.db.write_session() as session:
        dsr.check_identity(ctx, session, view.id, actor=DPO, method="x")


def test_erasure_of_public_task_processing_is_refused_with_motivation(
    service: ConsentService, ctx: AppContext
) -> None:
    view = open_(ctx, "alice", Right.ERASURE, purpose_id="budget-participatif")
    assert view.assessment is not None
    assert not view.assessment.applies
    assert "Art. 17(3)(b)" in view.assessment.reason
    with pytest.raises(InvalidInputError, match="reasons"), ctx.db.write_session() as session:
        dsr.complete(ctx, session, view.id, outcome=dsr.Outcome.REFUSED, motivation=" ", actor=DPO)
    with ctx.db.write_session() as session:
        done = dsr.complete(
            ctx,
            session,
            view.id,
            outcome=dsr.Outcome.REFUSED,
            motivation=view.assessment.reason + "; you may complain to the CNIL.",
            actor=DPO,
        )
        assert done.outcome == "refused"
        assert not data_keys(ctx).is_shredded(session, "alice")


def test_objection_needs_a_purpose_and_withdrawal_is_not_a_request(
    service: ConsentService, ctx: AppContext
) -> None:
    with pytest.raises(InvalidInputError, match="names the processing"):
        open_(ctx, "alice", Right.OBJECTION)
    with pytest.raises(InvalidInputError, match="privacy page"):
        open_(ctx, "alice", Right.WITHDRAWAL)
    view = open_(ctx, "alice", Right.OBJECTION, purpose_id="budget-participatif")
    assert view.assessment is not None
    assert view.assessment.applies


def test_access_export_gathers_every_domain_and_only_this_subject(
    service: ConsentService, ctx: AppContext
) -> None:
    def identity_exporter(export: ExportContext) -> Mapping[str, Any]:
        return {"account": {"pseudonym": export.subject, "birth_year": 1980}}

    def ballot_exporter(export: ExportContext) -> Mapping[str, Any]:
        # ballot may only say whether a token was issued, never anything about a ballot
        return {"voting_token_issued": {"budget-2026": export.subject == "alice"}}

    register_exporter("identity", identity_exporter)
    register_exporter("ballot", ballot_exporter)
    give(service, ctx, "alice")
    give(service, ctx, "bob")
    with ctx.db.write_session() as session:
        record_access(
            ctx,
            session,
            actor="staff:agent-1",
            subject="alice",
            fields=["email"],
            purpose="newsletter",
        )
        record_access(
            ctx,
            session,
            actor="staff:agent-1",
            subject="bob",
            fields=["email"],
            purpose="newsletter",
        )
    view = open_(ctx, "alice", Right.ACCESS, note="tout")
    with ctx.db.write_session() as session:
        dsr.complete(ctx, session, view.id, outcome=dsr.Outcome.GRANTED, motivation="", actor=DPO)
    with ctx.db.read_session() as session:
        raw = dsr.request_artefact(ctx, session, view.id, subject="alice")
        with pytest.raises(UnknownRequestError):
            dsr.request_artefact(ctx, session, view.id, subject="bob")
    export = json.loads(raw)
    assert "bob" not in raw.decode()  # nothing of another person
    assert export["domains"]["identity"]["account"]["pseudonym"] == "alice"
    assert export["domains"]["ballot"] == {"voting_token_issued": {"budget-2026": True}}
    assert [a["actor"] for a in export["access_records"]] == ["staff:agent-1"]
    assert export["access_records"][0]["fields"] == ["email"]
    assert len(export["consent"]["receipts"]) == 1
    assert export["consent"]["requests"][0]["right"] == "access"
    assert {p["purpose"] for p in export["processing"]} == {"newsletter"}


def test_portability_is_limited_to_consent_and_contract(
    service: ConsentService, ctx: AppContext
) -> None:
    give(service, ctx, "alice")
    with ctx.db.read_session() as session:
        export = dsr.build_export(ctx, session, "alice", scope="portability")
    assert "access_records" not in export
    assert "receipts" not in export["consent"]
    assert [s["purpose"] for s in export["consent"]["states"]] == ["newsletter"]


def test_erasure_shreds_the_key_erases_audit_details_and_notifies(
    service: ConsentService, ctx: AppContext
) -> None:
    erased: list[str] = []
    register_eraser("identity", lambda e: erased.append(e.subject))
    give(service, ctx, "alice")
    give(service, ctx, "bob")
    with ctx.db.write_session() as session:
        sealed = data_keys(ctx).encrypt_for(
            session, "alice", b"1 rue des Lilas", "identity/address"
        )
        record_access(
            ctx,
            session,
            actor="staff:agent-1",
            subject="alice",
            fields=["address"],
            purpose="newsletter",
        )
    with ctx.db.write_session() as session:
        create_client(
            ctx, session, client_id="decidim", controller_id="ville-exemple", name="d", actor=DPO
        )
        subscribe(ctx, session, client_id="decidim", url="http://127.0.0.1:9/hooks")
    view = open_(ctx, "alice", Right.ERASURE, note="effacez tout")
    with ctx.db.write_session() as session:
        done = dsr.complete(
            ctx,
            session,
            view.id,
            outcome=dsr.Outcome.GRANTED,
            motivation="",
            actor=DPO,
            recipients=["Routeur SAS"],
        )
    assert erased == ["alice"]
    # Art. 19: the platform is told (signed webhooks queued in the same transaction)
    assert done.recipients_notified == ("Routeur SAS", "platform:decidim")
    with ctx.db.read_session() as session:
        sent = [
            (row.event_type, json.loads(row.payload)["data"]["subject"])
            for row in session.scalars(select(WebhookDeliveryRow).order_by(WebhookDeliveryRow.seq))
        ]
    assert sent == [("subject.erased", "alice"), ("consent.revoked", "alice")]
    with ctx.db.read_session() as session:
        keys = data_keys(ctx)
        assert keys.is_shredded(session, "alice")
        with pytest.raises(SubjectErasedError):
            keys.decrypt_for(session, "alice", sealed, "identity/address")
        for row in session.scalars(select(ReceiptRow).where(ReceiptRow.subject == "alice")):
            with pytest.raises(SubjectErasedError):
                service.receipt_document(session, "alice", row.id)
        assert dsr.request_note(ctx, session, view.id) == ""
        # consent ended: platforms must not rely on it any more
        state = service.state(session, "alice", "newsletter")
        assert state is not None
        assert state.status is Status.REVOKED
        # the audit log keeps its entries (leaves) but the details of alice are gone
        entries = audit_of(ctx).query(session, subject="alice")
        before_erasure = [e for e in entries if e.event_type != "consent.subject.erased"]
        assert before_erasure
        assert all(e.details is None for e in before_erasure[:3])
        reads = access_records(ctx, session, subject="alice")
        assert reads[0].erased
        # bob is untouched
        assert service.check(session, "bob", "newsletter").in_force
        assert access_records(ctx, session, subject="bob") == []
    with pytest.raises(SubjectErasedError), ctx.db.write_session() as session:
        data_keys(ctx).encrypt_for(session, "alice", b"again")
    with pytest.raises(SubjectErasedError):
        open_(ctx, "alice", Right.ACCESS)


def test_data_keys_bind_subject_and_context(service: ConsentService, ctx: AppContext) -> None:
    keys = data_keys(ctx)
    with ctx.db.write_session() as session:
        sealed = keys.encrypt_for(session, "alice", b"secret", "identity/given_name")
        assert keys.decrypt_for(session, "alice", sealed, "identity/given_name") == b"secret"
        assert b"secret" not in sealed
        with pytest.raises(DataKeyError):
            keys.decrypt_for(session, "alice", sealed, "identity/family_name")
        keys.encrypt_for(session, "bob", b"x")
        with pytest.raises(DataKeyError):
            keys.decrypt_for(session, "bob", sealed, "identity/given_name")
        tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
        with pytest.raises(DataKeyError):
            keys.decrypt_for(session, "alice", tampered, "identity/given_name")
        with pytest.raises(DataKeyError, match="ever sealed"):
            keys.decrypt_for(session, "carol", sealed)
        assert keys.shred(session, "alice") is True
        assert keys.shred(session, "alice") is False  # idempotent


def test_erasure_hook_errors_leave_everything(service: ConsentService, ctx: AppContext) -> None:
    def failing(_: ErasureContext) -> None:
        raise InvalidInputError("identity cannot erase an account with a pending vote")

    register_eraser("identity", failing)
    give(service, ctx, "alice")
    view = open_(ctx, "alice", Right.ERASURE)
    with pytest.raises(InvalidInputError, match="pending vote"), ctx.db.write_session() as session:
        dsr.complete(ctx, session, view.id, outcome=dsr.Outcome.GRANTED, motivation="", actor=DPO)
    with ctx.db.read_session() as session:
        assert not data_keys(ctx).is_shredded(session, "alice")
        assert dsr.get(ctx, session, view.id).status == "open"
        assert service.check(session, "alice", "newsletter").in_force
