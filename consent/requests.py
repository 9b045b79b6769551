"""Data-subject requests (GDPR Art. 15-22): open, check identity, extend, complete.

* Art. 12(3): answer within one month of receipt; an extension of up to two further months
  only with the reasons told to the person within that first month
  (:mod:`consent.deadlines`).
* Art. 12(6): when in reasonable doubt about identity, the controller may ask for more
  information; a request opened by a signed-in citizen is checked by their session, one
  opened at the desk or by post waits for an agent to record the check. Nothing is
  completed before the check.
* Art. 12(4): every request gets an answer; a refusal carries its motivation (e.g. erasure
  refused under Art. 17(3)(b) for public-task processing — :func:`consent.bases.assess_right`
  pre-fills it).
* Art. 15 / Art. 20: the export gathers what every domain holds on the subject through the
  exporters registered in :mod:`consent.hooks`; it is stored sealed under the subject's data
  key and downloadable by the subject only.
* Art. 17: erasure revokes the consents in force, runs the registered erasers, erases the
  subject's audit details (the log's leaves remain) and destroys the subject's data key.
* Art. 19: rectification, erasure and restriction are notified to the controller's platforms
  (signed webhooks) and to the recipients the DPO lists.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.access import access_records
from consent.bases import Assessment, Right, assess_right
from consent.deadlines import days_left, extended_due, local_date, response_due
from consent.errors import (
    CatalogueError,
    DeadlineError,
    RequestStateError,
    SubjectErasedError,
    UnknownRequestError,
)
from consent.hooks import ErasureContext, ExportContext, erasers, exporters
from consent.ledger import Actor, ActorKind, Method, Status
from consent.service import ConsentService
from consent.tables import RequestRow
from consent.webhooks import enqueue, platform_subject
from parvis.kernel.context import AppContext
from parvis.kernel.errors import InvalidInputError

__all__ = [
    "REQUESTABLE",
    "ErasureReport",
    "Outcome",
    "RequestView",
    "build_export",
    "check_identity",
    "complete",
    "erase_subject",
    "extend",
    "get",
    "open_request",
    "queue",
    "request_artefact",
    "requests_of",
]

#: Rights a request can invoke (withdrawal is done directly on the privacy page, Art. 7(3)).
REQUESTABLE = (
    Right.ACCESS,
    Right.RECTIFICATION,
    Right.ERASURE,
    Right.RESTRICTION,
    Right.PORTABILITY,
    Right.OBJECTION,
)
CHANNELS = ("privacy_page", "desk", "post", "email")
MAX_NOTE = 4000
EXPORT_FORMAT = "parvis-subject-export/v1"


class Outcome(StrEnum):
    GRANTED = "granted"
    PARTIAL = "partially_granted"
    REFUSED = "refused"


_ART19 = {
    Right.RECTIFICATION: "subject.rectified",
    Right.ERASURE: "subject.erased",
    Right.RESTRICTION: "subject.restricted",
}


@dataclass(frozen=True, slots=True)
class RequestView:
    id: str
    subject: str
    controller_id: str
    purpose_id: str | None
    right: Right
    channel: str
    received_at: datetime
    received_on: date
    original_due_on: date
    due_on: date
    days_left: int
    identity_checked: bool
    identity_method: str
    extension_months: int
    extension_reasons: str
    extension_notified_on: date | None
    status: str
    outcome: str | None
    motivation: str
    recipients_notified: tuple[str, ...]
    completed_at: datetime | None
    has_artefact: bool
    assessment: Assessment | None

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "controller": self.controller_id,
            "purpose": self.purpose_id,
            "right": self.right.value,
            "channel": self.channel,
            "received_on": self.received_on.isoformat(),
            "due_on": self.due_on.isoformat(),
            "days_left": self.days_left if self.is_open else None,
            "identity_checked": self.identity_checked,
            "extension": {
                "months": self.extension_months,
                "reasons": self.extension_reasons,
                "notified_on": self.extension_notified_on.isoformat()
                if self.extension_notified_on
                else None,
            }
            if self.extension_months
            else None,
            "status": self.status,
            "outcome": self.outcome,
            "motivation": self.motivation,
            "recipients_notified": list(self.recipients_notified),
            "completed_at": self.completed_at.isoformat() if self.completed_at else None,
        }


def _service(ctx: AppContext) -> ConsentService:
    from consent import service_from

    return service_from(ctx)


def _view(ctx: AppContext, session: Session, row: RequestRow) -> RequestView:
    service = _service(ctx)
    assessment = None
    if row.purpose_id is not None:
        purpose = service.purpose(session, row.purpose_id).purpose
        assessment = assess_right(Right(row.right), purpose.legal_basis)
    return RequestView(
        id=row.id,
        subject=row.subject,
        controller_id=row.controller_id,
        purpose_id=row.purpose_id,
        right=Right(row.right),
        channel=row.channel,
        received_at=row.received_at,
        received_on=row.received_on,
        original_due_on=response_due(row.received_on),
        due_on=row.due_on,
        days_left=days_left(row.due_on, service.today()),
        identity_checked=row.identity_checked_at is not None,
        identity_method=row.identity_method,
        extension_months=row.extension_months,
        extension_reasons=row.extension_reasons,
        extension_notified_on=row.extension_notified_on,
        status=row.status,
        outcome=row.outcome,
        motivation=row.motivation,
        recipients_notified=tuple(json.loads(row.recipients_notified)),
        completed_at=row.completed_at if row.completed_at else None,
        has_artefact=row.artefact_sealed is not None,
        assessment=assessment,
    )


def _row(session: Session, request_id: str, *, lock: bool = False) -> RequestRow:
    row = (
        session.get(RequestRow, request_id, with_for_update=lock) if len(request_id) <= 64 else None
    )
    if row is None:
        raise UnknownRequestError(request_id[:64])
    return row


def open_request(
    ctx: AppContext,
    session: Session,
    *,
    subject: str,
    controller_id: str,
    right: Right,
    opened_by: str,
    channel: str,
    purpose_id: str | None = None,
    identity_method: str | None = None,
    note: str = "",
) -> RequestView:
    """Register a request; ``identity_method`` set means identity is already checked."""
    service = _service(ctx)
    service.controller(session, controller_id)
    if right not in REQUESTABLE:
        raise InvalidInputError(
            f"{right.value} is not a request: withdraw consent directly on the privacy page"
        )
    if channel not in CHANNELS:
        raise InvalidInputError(f"channel must be one of {', '.join(CHANNELS)}")
    if purpose_id:
        purpose = service.purpose(session, purpose_id).purpose
        if purpose.controller_id != controller_id:
            raise CatalogueError(f"purpose {purpose_id!r} belongs to another controller")
    elif right is Right.OBJECTION:
        raise InvalidInputError("an objection (Art. 21) names the processing it objects to")
    if len(note) > MAX_NOTE:
        raise InvalidInputError(f"the request text is at most {MAX_NOTE} characters")
    if service.keys.is_shredded(session, subject):
        raise SubjectErasedError("this person's data was erased; a new request cannot be linked")
    now = ctx.clock.now()
    received = local_date(now, ctx.settings.consent_timezone)
    request_id = str(uuid.uuid4())
    row = RequestRow(
        id=request_id,
        subject=subject,
        controller_id=controller_id,
        purpose_id=purpose_id or None,
        right=right.value,
        channel=channel,
        opened_by=opened_by,
        received_at=now,
        received_on=received,
        due_on=response_due(received),
        identity_checked_at=now if identity_method else None,
        identity_method=identity_method or "",
        extension_months=0,
        extension_reasons="",
        status="open",
        motivation="",
        recipients_notified="[]",
        note_sealed=service.keys.encrypt_for(
            session, subject, note.encode("utf-8"), f"request/{request_id}/note"
        )
        if note.strip()
        else None,
    )
    session.add(row)
    session.flush()
    service.audit.record(
        session,
        event_type="consent.request.opened",
        actor=opened_by,
        subject=subject,
        purpose=purpose_id,
        details={
            "request": request_id,
            "right": right.value,
            "channel": channel,
            "due_on": row.due_on.isoformat(),
            "identity_checked": identity_method is not None,
        },
    )
    return _view(ctx, session, row)


def get(ctx: AppContext, session: Session, request_id: str) -> RequestView:
    return _view(ctx, session, _row(session, request_id))


def request_note(ctx: AppContext, session: Session, request_id: str) -> str:
    row = _row(session, request_id)
    if row.note_sealed is None:
        return ""
    keys = _service(ctx).keys
    try:
        return keys.decrypt_for(
            session, row.subject, row.note_sealed, f"request/{row.id}/note"
        ).decode("utf-8")
    except SubjectErasedError:
        return ""


def requests_of(ctx: AppContext, session: Session, subject: str) -> list[RequestView]:
    rows = session.scalars(
        select(RequestRow)
        .where(RequestRow.subject == subject)
        .order_by(RequestRow.received_at.desc(), RequestRow.id)
    )
    return [_view(ctx, session, r) for r in rows]


def queue(
    ctx: AppContext,
    session: Session,
    *,
    controller_id: str | None = None,
    include_closed: bool = False,
) -> list[RequestView]:
    """The DPO's queue: open requests first, by due date (the most urgent first)."""
    query = select(RequestRow)
    if controller_id:
        query = query.where(RequestRow.controller_id == controller_id)
    if not include_closed:
        query = query.where(RequestRow.status == "open")
    rows = session.scalars(query.order_by(RequestRow.due_on, RequestRow.received_at))
    views = [_view(ctx, session, r) for r in rows]
    return sorted(views, key=lambda v: (not v.is_open, v.due_on, v.received_at))


def _open_row(session: Session, request_id: str) -> RequestRow:
    row = _row(session, request_id, lock=True)
    if row.status != "open":
        raise RequestStateError(f"request {request_id} is already {row.status}")
    return row


def check_identity(
    ctx: AppContext, session: Session, request_id: str, *, actor: str, method: str
) -> RequestView:
    """Record that the requester's identity was checked (Art. 12(6)) and how."""
    row = _open_row(session, request_id)
    if row.identity_checked_at is not None:
        raise RequestStateError(f"request {request_id}: identity already checked")
    if not method.strip() or len(method) > 200:
        raise InvalidInputError("say how identity was checked (e.g. identity card at the desk)")
    row.identity_checked_at = ctx.clock.now()
    row.identity_method = method.strip()
    _service(ctx).audit.record(
        session,
        event_type="consent.request.identity_checked",
        actor=actor,
        subject=row.subject,
        details={"request": row.id, "method": row.identity_method},
    )
    return _view(ctx, session, row)


def extend(
    ctx: AppContext,
    session: Session,
    request_id: str,
    *,
    months: int,
    reasons: str,
    actor: str,
    notified_on: date | None = None,
) -> RequestView:
    """Art. 12(3) extension by 1 or 2 months, notified with reasons within the first month."""
    row = _open_row(session, request_id)
    if row.extension_months:
        raise RequestStateError(f"request {request_id} was already extended")
    today = _service(ctx).today()
    notified = notified_on or today
    if notified > today:
        raise DeadlineError("an extension cannot be recorded as notified in the future")
    if len(reasons) > MAX_NOTE:
        raise InvalidInputError(f"reasons are at most {MAX_NOTE} characters")
    row.due_on = extended_due(
        received=row.received_on, months=months, notified=notified, reasons=reasons
    )
    row.extension_months = months
    row.extension_reasons = reasons.strip()
    row.extension_notified_on = notified
    _service(ctx).audit.record(
        session,
        event_type="consent.request.extended",
        actor=actor,
        subject=row.subject,
        details={
            "request": row.id,
            "months": months,
            "due_on": row.due_on.isoformat(),
            "notified_on": notified.isoformat(),
        },
    )
    return _view(ctx, session, row)


def complete(
    ctx: AppContext,
    session: Session,
    request_id: str,
    *,
    outcome: Outcome,
    motivation: str,
    actor: str,
    recipients: Sequence[str] = (),
) -> RequestView:
    """Close a request with its outcome; carry out access, portability and erasure."""
    row = _open_row(session, request_id)
    if row.identity_checked_at is None:
        raise RequestStateError(
            f"request {request_id}: check the requester's identity first (Art. 12(6))"
        )
    if outcome is not Outcome.GRANTED and not motivation.strip():
        raise InvalidInputError(
            "a refusal or partial answer states its reasons and the right to complain to the "
            "CNIL (Art. 12(4))"
        )
    if len(motivation) > MAX_NOTE or any(len(r) > 200 for r in recipients):
        raise InvalidInputError("motivation or recipient names too long")
    service = _service(ctx)
    right = Right(row.right)
    now = ctx.clock.now()
    notified = [r.strip() for r in recipients if r.strip()]
    if outcome is not Outcome.REFUSED:
        if right in {Right.ACCESS, Right.PORTABILITY}:
            export = build_export(
                ctx,
                session,
                row.subject,
                scope="portability" if right is Right.PORTABILITY else "access",
            )
            raw = json.dumps(export, ensure_ascii=False, sort_keys=True, indent=1).encode("utf-8")
            row.artefact_sealed = service.keys.encrypt_for(
                session, row.subject, raw, f"request/{row.id}/artefact"
            )
        if right in _ART19:
            subject = row.subject

            def payload(client_id: str) -> dict[str, Any]:
                return {
                    "subject": platform_subject(ctx, session, client_id, subject),
                    "request": row.id,
                    "right": right.value,
                    "purpose": row.purpose_id,
                }

            notified += [
                f"platform:{c}"
                for c in enqueue(
                    ctx,
                    session,
                    controller_id=row.controller_id,
                    event_type=_ART19[right],
                    payload_for=payload,
                )
            ]
    row.status = "completed"
    row.outcome = outcome.value
    row.motivation = motivation.strip()
    row.completed_at = now
    row.completed_by = actor
    row.recipients_notified = json.dumps(sorted(set(notified)))
    service.audit.record(
        session,
        event_type="consent.request.completed",
        actor=actor,
        subject=row.subject,
        purpose=row.purpose_id,
        details={
            "request": row.id,
            "right": right.value,
            "outcome": outcome.value,
            "recipients_notified": sorted(set(notified)),
            "late": service.today() > row.due_on,
        },
    )
    view = _view(ctx, session, row)
    if right is Right.ERASURE and outcome is not Outcome.REFUSED:
        erase_subject(ctx, session, row.subject, actor=actor)
    return view


def request_artefact(ctx: AppContext, session: Session, request_id: str, *, subject: str) -> bytes:
    """The export of a completed access or portability request — to its subject only."""
    row = _row(session, request_id)
    if row.subject != subject or row.artefact_sealed is None:
        raise UnknownRequestError(request_id[:64])
    return _service(ctx).keys.decrypt_for(
        session, subject, row.artefact_sealed, f"request/{row.id}/artefact"
    )


def build_export(
    ctx: AppContext, session: Session, subject: str, *, scope: str = "access"
) -> dict[str, Any]:
    """Everything Parvis holds on ``subject`` (Art. 15), or what they provided (Art. 20).

    Only this subject's rows are read: every query is keyed by the subject pseudonym, and
    the other domains receive nothing but that pseudonym.
    """
    if scope not in {"access", "portability"}:
        raise InvalidInputError("scope is access or portability")
    service = _service(ctx)
    states = service.states(session, subject)
    purposes = {s.purpose_id: service.purpose(session, s.purpose_id).purpose for s in states}
    portable = {
        pid for pid, p in purposes.items() if p.legal_basis.value in {"consent", "contract"}
    }
    events = [
        e
        for e in service.history(session, subject)
        if scope == "access" or e.purpose_id in portable
    ]
    consent_part: dict[str, Any] = {
        "states": [
            {
                "purpose": s.purpose_id,
                "status": s.status.value,
                "since": s.since.isoformat(),
                "valid_until": s.valid_until.isoformat() if s.valid_until else None,
                "notice": s.notice_id,
            }
            for s in states
            if scope == "access" or s.purpose_id in portable
        ],
        "events": [
            {
                "event": e.event_id,
                "purpose": e.purpose_id,
                "status": e.status.value,
                "time": e.time.isoformat(),
                "actor": e.actor.to_dict(),
                "method": e.method.value,
                "interface": e.interface,
                "notice": e.notice_id,
                "valid_until": e.valid_until.isoformat() if e.valid_until else None,
            }
            for e in events
        ],
    }
    export: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "scope": scope,
        "subject": subject,
        "generated_at": ctx.clock.now().isoformat(),
        "consent": consent_part,
    }
    if scope == "access":
        consent_part["receipts"] = [
            json.loads(service.receipt_document(session, subject, r.id))
            for r in service.receipts(session, subject)
        ]
        consent_part["requests"] = [v.to_json() for v in requests_of(ctx, session, subject)]
        records: list[dict[str, Any]] = []
        offset = 0
        while True:
            page = access_records(ctx, session, subject=subject, limit=1000, offset=offset)
            records += [r.to_json() for r in page if r.subject == subject]
            if len(page) < 1000:
                break
            offset += 1000
        export["access_records"] = records
        export["processing"] = [
            {
                "purpose": p.id,
                "controller": p.controller_id,
                "label": p.label.fr,
                "legal_basis": p.legal_basis.value,
                "recipients": [r.name for r in p.recipients] + [x.name for x in p.processors],
                "retention": {c.id: str(c.retention) for c in p.data_categories},
            }
            for p in purposes.values()
        ]
    domains: dict[str, Any] = {}
    for name, exporter in exporters().items():
        part = exporter(ExportContext(ctx=ctx, session=session, subject=subject, scope=scope))  # type: ignore[arg-type]
        domains[name] = json.loads(json.dumps(dict(part), default=str))
    export["domains"] = domains
    return export


@dataclass(frozen=True, slots=True)
class ErasureReport:
    revoked: int
    audit_details_erased: int
    erasers: tuple[str, ...]
    key_destroyed: bool


def erase_subject(ctx: AppContext, session: Session, subject: str, *, actor: str) -> ErasureReport:
    """Art. 17 erasure through crypto-shredding, in the caller's transaction."""
    service = _service(ctx)
    now = ctx.clock.now()
    revoked = 0
    for state in service.states(session, subject):
        if state.status.value in {"given", "renewed"}:
            service.record(
                session,
                subject=subject,
                purpose_id=state.purpose_id,
                status=Status.REVOKED,
                actor=Actor(ActorKind.CONTROLLER, agent=actor),
                method=Method.WEB_FORM,
                interface="parvis:erasure",
            )
            revoked += 1
    ran = []
    for name, eraser in erasers().items():
        eraser(ErasureContext(ctx=ctx, session=session, subject=subject, actor=actor))
        ran.append(name)
    erased = service.audit.erase_subject_details(session, subject=subject)
    destroyed = service.keys.shred(session, subject)
    service.audit.record(
        session,
        event_type="consent.subject.erased",
        actor=actor,
        subject=subject,
        details={"revoked": revoked, "erasers": ran, "at": now.isoformat()},
    )
    return ErasureReport(
        revoked=revoked, audit_details_erased=erased, erasers=tuple(ran), key_destroyed=destroyed
    )
