"""Consent registry use cases: the catalogue, notices, consent events, receipts, checks.

Every method takes the caller's :class:`~sqlalchemy.orm.Session` and works inside the
caller's transaction, so a use case that spans domains (identity recording a consent at sign-
up) commits everything or nothing. The audit entry of each change is appended in the same
transaction (:mod:`consent.auditing`), and so are the webhook deliveries (an outbox): a
consent event, its projection, its receipt, its audit entry and its notifications commit
together, or none of them does.

Times come from the context's clock — the server's, never the caller's — so an event cannot
be back-dated through the API.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import nacl.signing
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from audit import AuditService
from consent.auditing import audit_of
from consent.bases import LegalBasis
from consent.catalogue import Controller, Purpose
from consent.datakeys import DataKeys
from consent.deadlines import local_date
from consent.errors import (
    CatalogueError,
    StaleNoticeError,
    UnknownControllerError,
    UnknownNoticeError,
    UnknownPurposeError,
    UnknownReceiptError,
    UnknownSubjectError,
)
from consent.hooks import age_source
from consent.ledger import (
    ACTIVE,
    Actor,
    ActorKind,
    ConsentEvent,
    ConsentState,
    Method,
    Status,
    apply,
    check_minor,
    require_consent_basis,
    under_15,
)
from consent.notices import build_notice, changed_purposes
from consent.receipts import NoticeRef, ReceiptKey, ReceiptSigner, build_receipt
from consent.tables import (
    ConsentEventRow,
    ConsentStateRow,
    ControllerRow,
    DataKeyRow,
    NoticeRow,
    PurposeRow,
    PurposeVersionRow,
    ReceiptRow,
    RequestRow,
)
from parvis.kernel.context import AppContext
from parvis.kernel.keys import derive_key

__all__ = [
    "ConsentCheck",
    "ConsentService",
    "NoticeRecord",
    "PurposeRecord",
    "Recorded",
]

NOTICE_STATUSES = frozenset({Status.GIVEN, Status.RENEWED, Status.REFUSED})


@dataclass(frozen=True, slots=True)
class PurposeRecord:
    purpose: Purpose
    version: int
    fingerprint: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class NoticeRecord:
    id: str
    controller_id: str
    language: str
    version: int
    effective_at: datetime
    content_hash: str
    content: Mapping[str, Any]
    purpose_fingerprints: Mapping[str, str]

    def covers(self, purpose: PurposeRecord) -> bool:
        return self.purpose_fingerprints.get(purpose.purpose.id) == purpose.fingerprint


@dataclass(frozen=True, slots=True)
class Recorded:
    """The outcome of recording one consent event."""

    event: ConsentEvent
    state: ConsentState
    receipt_id: str


@dataclass(frozen=True, slots=True)
class ConsentCheck:
    """May processing rely on consent right now? ``reason`` says why not."""

    purpose_id: str
    status: str | None
    in_force: bool
    valid_until: datetime | None
    notice_id: str | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {
            "purpose": self.purpose_id,
            "status": self.status or "none",
            "consented": self.in_force,
            "valid_until": self.valid_until.isoformat() if self.valid_until else None,
            "notice": self.notice_id,
            "reason": self.reason,
        }


def _event_from_row(row: ConsentEventRow) -> ConsentEvent:
    return ConsentEvent(
        event_id=row.event_id,
        subject=row.subject,
        purpose_id=row.purpose_id,
        status=Status(row.status),
        time=row.time,
        actor=Actor.from_dict(json.loads(row.actor)),
        method=Method(row.method),
        interface=row.interface,
        notice_id=row.notice_id,
        valid_until=row.valid_until,
    )


def _state_from_row(row: ConsentStateRow) -> ConsentState:
    return ConsentState(
        subject=row.subject,
        purpose_id=row.purpose_id,
        status=Status(row.status),
        since=row.since,
        last_event_id=row.last_event_id,
        events=row.events,
        notice_id=row.notice_id,
        given_at=row.given_at,
        valid_until=row.valid_until,
    )


def _notice_from_row(row: NoticeRow) -> NoticeRecord:
    return NoticeRecord(
        id=row.id,
        controller_id=row.controller_id,
        language=row.language,
        version=row.version,
        effective_at=row.effective_at,
        content_hash=row.content_hash,
        content=json.loads(row.content),
        purpose_fingerprints=json.loads(row.purpose_fingerprints),
    )


@functools.lru_cache(maxsize=4096)
def _parse_purpose(definition: str, controller_id: str) -> Purpose:
    # A stored definition is immutable text (a new version is new text), so parsing and
    # validating it once per process is enough: the platform API reads purposes constantly.
    return Purpose.from_dict(json.loads(definition), controller_id=controller_id)


def _purpose_from_row(row: PurposeRow) -> PurposeRecord:
    return PurposeRecord(
        purpose=_parse_purpose(row.definition, row.controller_id),
        version=row.version,
        fingerprint=row.fingerprint,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


@functools.cache
def _platform_check_statement() -> Any:
    """Built once: building table aliases per call costs more than running the query."""
    state = ConsentStateRow.__table__.alias("s")
    seen = ConsentStateRow.__table__.alias("seen")
    return (
        select(
            PurposeRow.controller_id,
            PurposeRow.legal_basis,
            PurposeRow.fingerprint,
            PurposeRow.active,
            state.c.status,
            state.c.valid_until,
            state.c.notice_id,
            select(seen.c.subject)
            .where(seen.c.subject == bindparam("subject"))
            .limit(1)
            .scalar_subquery()
            .label("seen"),
        )
        .select_from(PurposeRow)
        .outerjoin(
            state,
            (state.c.purpose_id == PurposeRow.id) & (state.c.subject == bindparam("subject")),
        )
        .where(PurposeRow.id == bindparam("purpose"))
    )


class ConsentService:
    """The registry's use cases for one :class:`AppContext`."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.clock = ctx.clock
        secret = ctx.settings.secret_key
        self.keys = DataKeys(master_secret=ctx.settings.sealing_secret, clock=ctx.clock)
        self._notice_fps: dict[str, dict[str, str]] = {}
        self.receipt_signer = ReceiptSigner(derive_key(secret, "consent/receipt-signing/v1"))
        self.webhook_signing_key = nacl.signing.SigningKey(
            derive_key(secret, "consent/webhook-signing/v1")
        )

    @property
    def audit(self) -> AuditService:
        return audit_of(self.ctx)

    @property
    def receipt_key(self) -> ReceiptKey:
        return self.receipt_signer.verifier

    @property
    def webhook_public_key(self) -> bytes:
        return bytes(self.webhook_signing_key.verify_key)

    def today(self) -> date:
        return local_date(self.clock.now(), self.ctx.settings.consent_timezone)

    # --- catalogue ------------------------------------------------------------------------

    def save_controller(self, session: Session, controller: Controller, *, actor: str) -> int:
        """Create or update a controller; returns its version (unchanged → same version)."""
        now = self.clock.now()
        definition = json.dumps(controller.to_dict(), sort_keys=True, ensure_ascii=False)
        row = session.get(ControllerRow, controller.id, with_for_update=True)
        if row is not None and row.definition == definition:
            return row.version
        if row is None:
            row = ControllerRow(
                id=controller.id, definition=definition, version=1, created_at=now, updated_at=now
            )
            session.add(row)
        else:
            row.definition, row.version, row.updated_at = definition, row.version + 1, now
        session.flush()
        self.audit.record(
            session,
            event_type="consent.controller.saved",
            actor=actor,
            details={"controller": controller.id, "version": row.version},
        )
        return row.version

    def controller(self, session: Session, controller_id: str) -> Controller:
        row = session.get(ControllerRow, controller_id)
        if row is None:
            raise UnknownControllerError(controller_id)
        return Controller.from_dict(json.loads(row.definition))

    def controllers(self, session: Session) -> list[Controller]:
        rows = session.scalars(select(ControllerRow).order_by(ControllerRow.id))
        return [Controller.from_dict(json.loads(r.definition)) for r in rows]

    def save_purpose(
        self, session: Session, purpose: Purpose, *, actor: str, reason: str = ""
    ) -> PurposeRecord:
        """Create or update a purpose: a new version in the history, audited.

        An update that changes nothing keeps the version; a change of controller is refused
        (it would be another processing activity).
        """
        if session.get(ControllerRow, purpose.controller_id) is None:
            raise UnknownControllerError(purpose.controller_id)
        now = self.clock.now()
        definition = json.dumps(purpose.to_dict(), sort_keys=True, ensure_ascii=False)
        fingerprint = purpose.fingerprint()
        row = session.get(PurposeRow, purpose.id, with_for_update=True)
        if row is not None:
            if row.controller_id != purpose.controller_id:
                raise CatalogueError(
                    f"purpose {purpose.id} belongs to controller {row.controller_id}; a purpose "
                    "cannot move to another controller"
                )
            if row.definition == definition:
                return _purpose_from_row(row)
            material = row.fingerprint != fingerprint
            row.version += 1
            row.definition, row.fingerprint = definition, fingerprint
            row.legal_basis, row.active, row.updated_at = (
                purpose.legal_basis.value,
                purpose.active,
                now,
            )
        else:
            material = True
            row = PurposeRow(
                id=purpose.id,
                controller_id=purpose.controller_id,
                version=1,
                legal_basis=purpose.legal_basis.value,
                definition=definition,
                fingerprint=fingerprint,
                active=purpose.active,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
        session.flush()
        session.add(
            PurposeVersionRow(
                purpose_id=purpose.id,
                version=row.version,
                definition=definition,
                fingerprint=fingerprint,
                changed_at=now,
                changed_by=actor,
                reason=reason[:2000],
            )
        )
        self.audit.record(
            session,
            event_type="consent.purpose.saved",
            actor=actor,
            purpose=purpose.id,
            details={
                "purpose": purpose.id,
                "version": row.version,
                "fingerprint": fingerprint,
                "material": material,
            },
        )
        return _purpose_from_row(row)

    def purpose(self, session: Session, purpose_id: str) -> PurposeRecord:
        row = session.get(PurposeRow, purpose_id) if len(purpose_id) <= 64 else None
        if row is None:
            raise UnknownPurposeError(purpose_id[:64])
        return _purpose_from_row(row)

    def purposes(
        self, session: Session, *, controller_id: str | None = None, active_only: bool = False
    ) -> list[PurposeRecord]:
        query = select(PurposeRow).order_by(PurposeRow.controller_id, PurposeRow.id)
        if controller_id is not None:
            query = query.where(PurposeRow.controller_id == controller_id)
        if active_only:
            query = query.where(PurposeRow.active.is_(True))
        return [_purpose_from_row(r) for r in session.scalars(query)]

    def purpose_history(self, session: Session, purpose_id: str) -> list[PurposeVersionRow]:
        self.purpose(session, purpose_id)
        return list(
            session.scalars(
                select(PurposeVersionRow)
                .where(PurposeVersionRow.purpose_id == purpose_id)
                .order_by(PurposeVersionRow.version)
            )
        )

    # --- notices --------------------------------------------------------------------------

    def publish_notice(
        self,
        session: Session,
        *,
        controller_id: str,
        language: str,
        text: str,
        actor: str,
        effective_at: datetime | None = None,
    ) -> NoticeRecord:
        """Publish a new notice version built from the live register (idempotent: the same
        content as the latest version of that language publishes nothing)."""
        controller = self.controller(session, controller_id)
        purposes = [r.purpose for r in self.purposes(session, controller_id=controller_id)]
        content = build_notice(
            controller,
            purposes,
            language=language,
            text=text,
            withdrawal_method=f"{self.ctx.settings.public_url}/mes-donnees",
        )
        latest = session.scalars(
            select(NoticeRow)
            .where(NoticeRow.controller_id == controller_id, NoticeRow.language == language)
            .order_by(NoticeRow.version.desc())
            .limit(1)
        ).first()
        if latest is not None and latest.content_hash == content.content_hash:
            return _notice_from_row(latest)
        previous = self._latest_notice_any_language(session, controller_id)
        now = self.clock.now()
        row = NoticeRow(
            id=str(uuid.uuid4()),
            controller_id=controller_id,
            language=language,
            version=(latest.version + 1) if latest is not None else 1,
            effective_at=effective_at or now,
            content=json.dumps(content.content, sort_keys=True, ensure_ascii=False),
            content_hash=content.content_hash,
            purpose_fingerprints=json.dumps(dict(content.purpose_fingerprints), sort_keys=True),
            created_at=now,
            created_by=actor,
        )
        session.add(row)
        session.flush()
        material = sorted(
            changed_purposes(
                previous.purpose_fingerprints if previous else None, content.purpose_fingerprints
            )
        )
        self.audit.record(
            session,
            event_type="consent.notice.published",
            actor=actor,
            details={
                "notice": row.id,
                "controller": controller_id,
                "language": language,
                "version": row.version,
                "content_hash": row.content_hash,
                "material_purposes": material,
            },
        )
        return _notice_from_row(row)

    def _latest_notice_any_language(
        self, session: Session, controller_id: str
    ) -> NoticeRecord | None:
        row = session.scalars(
            select(NoticeRow)
            .where(NoticeRow.controller_id == controller_id)
            .order_by(NoticeRow.created_at.desc(), NoticeRow.version.desc())
            .limit(1)
        ).first()
        return _notice_from_row(row) if row is not None else None

    def notice(self, session: Session, notice_id: str) -> NoticeRecord:
        row = session.get(NoticeRow, notice_id) if len(notice_id) <= 64 else None
        if row is None:
            raise UnknownNoticeError(notice_id[:64])
        return _notice_from_row(row)

    def current_notice(
        self, session: Session, controller_id: str, language: str
    ) -> NoticeRecord | None:
        """The notice in force for ``language`` (or, failing that, the other language)."""
        now = self.clock.now()
        for lang in (language, "fr" if language == "en" else "en"):
            row = session.scalars(
                select(NoticeRow)
                .where(
                    NoticeRow.controller_id == controller_id,
                    NoticeRow.language == lang,
                    NoticeRow.effective_at <= now,
                )
                .order_by(NoticeRow.version.desc())
                .limit(1)
            ).first()
            if row is not None:
                return _notice_from_row(row)
        return None

    def notices(self, session: Session, controller_id: str) -> list[NoticeRecord]:
        rows = session.scalars(
            select(NoticeRow)
            .where(NoticeRow.controller_id == controller_id)
            .order_by(NoticeRow.language, NoticeRow.version)
        )
        return [_notice_from_row(r) for r in rows]

    # --- consent events -------------------------------------------------------------------

    def _check_notice(
        self, session: Session, purpose: PurposeRecord, notice_id: str | None
    ) -> NoticeRecord:
        if not notice_id:
            raise UnknownNoticeError("(none)")
        notice = self.notice(session, notice_id)
        pid = purpose.purpose.id
        if notice.controller_id != purpose.purpose.controller_id or pid not in (
            notice.purpose_fingerprints
        ):
            raise StaleNoticeError(f"notice {notice.id} does not cover purpose {pid!r}")
        current = self.current_notice(session, notice.controller_id, notice.language)
        if current is None or current.id != notice.id:
            shown = f"version {current.version} ({current.id})" if current else "none"
            raise StaleNoticeError(
                f"notice {notice.id} (version {notice.version}) is no longer the one in force; "
                f"the one to show is {shown}"
            )
        if not notice.covers(purpose):
            raise StaleNoticeError(
                f"the register entry of purpose {pid!r} changed after notice version "
                f"{notice.version} was published: publish a new notice before asking consent"
            )
        return notice

    def _minor(self, session: Session, subject: str) -> bool | None:
        source = age_source()
        facts = source(self.ctx, session, subject) if source is not None else None
        if facts is None:
            return None
        return under_15(on=self.today(), birth_date=facts.birth_date, birth_year=facts.birth_year)

    def record(
        self,
        session: Session,
        *,
        subject: str,
        purpose_id: str,
        status: Status,
        actor: Actor,
        method: Method,
        interface: str,
        notice_id: str | None = None,
        lang: str = "fr",
    ) -> Recorded:
        """Append one consent event (with receipt, audit entry and webhooks).

        Raises: UnknownPurposeError, LegalBasisError (not a consent purpose), UnknownNoticeError
        or StaleNoticeError (notice shown is not the one in force for the purpose),
        MinorConsentError (under 15 without a holder of parental authority), TransitionError
        (e.g. NotGivenError: withdrawing what is not in force). Nothing is written on error.
        """
        purpose = self.purpose(session, purpose_id)
        require_consent_basis(purpose.purpose.id, purpose.purpose.legal_basis)
        notice: NoticeRecord | None = None
        if status in NOTICE_STATUSES:
            if not purpose.purpose.active:
                raise StaleNoticeError(f"purpose {purpose_id!r} is closed: consent is not asked")
            notice = self._check_notice(session, purpose, notice_id)
        check_minor(status, actor, minor=self._minor(session, subject))
        now = self.clock.now()
        row = session.get(ConsentStateRow, (subject, purpose_id), with_for_update=True)
        state = _state_from_row(row) if row is not None else None
        validity = purpose.purpose.consent_validity
        event = ConsentEvent(
            event_id=str(uuid.uuid4()),
            subject=subject,
            purpose_id=purpose_id,
            status=status,
            time=now,
            actor=actor,
            method=method,
            interface=interface,
            notice_id=notice.id if notice else (state.notice_id if state else None),
            valid_until=validity.after(now) if status in ACTIVE and validity else None,
        )
        new_state = apply(state, event)
        receipt_id = str(uuid.uuid4())
        session.add(
            ConsentEventRow(
                event_id=event.event_id,
                subject=subject,
                purpose_id=purpose_id,
                status=status.value,
                time=now,
                actor=json.dumps(actor.to_dict(), sort_keys=True),
                method=method.value,
                interface=interface,
                notice_id=event.notice_id,
                valid_until=event.valid_until,
                receipt_id=receipt_id,
            )
        )
        self._project(session, row, new_state)
        self._store_receipt(session, event, purpose, receipt_id=receipt_id, lang=lang)
        details: dict[str, Any] = {
            "event": event.event_id,
            "status": status.value,
            "notice": event.notice_id,
            "interface": interface,
            "method": method.value,
            "receipt": receipt_id,
        }
        if actor.kind is ActorKind.PARENTAL:
            details["joint_with"] = f"citizen:{actor.guardian}"
        if actor.agent and actor.kind not in {ActorKind.AGENT, ActorKind.CONTROLLER}:
            details["recorded_by"] = actor.agent
        if actor.mandate:
            details["mandate"] = actor.mandate
        self.audit.record(
            session,
            event_type=f"consent.{status.value}",
            actor=actor.audit_actor(subject),
            subject=subject,
            purpose=purpose_id,
            details=details,
        )
        from consent import webhooks

        webhooks.enqueue_consent_event(
            self.ctx, session, controller_id=purpose.purpose.controller_id, state=new_state
        )
        return Recorded(event=event, state=new_state, receipt_id=receipt_id)

    @staticmethod
    def _project(session: Session, row: ConsentStateRow | None, state: ConsentState) -> None:
        values = {
            "status": state.status.value,
            "since": state.since,
            "last_event_id": state.last_event_id,
            "events": state.events,
            "notice_id": state.notice_id,
            "given_at": state.given_at,
            "valid_until": state.valid_until,
        }
        if row is None:
            session.add(
                ConsentStateRow(subject=state.subject, purpose_id=state.purpose_id, **values)
            )
        else:
            for key, value in values.items():
                setattr(row, key, value)
        session.flush()

    def _store_receipt(
        self,
        session: Session,
        event: ConsentEvent,
        purpose: PurposeRecord,
        *,
        receipt_id: str,
        lang: str,
    ) -> None:
        controller = self.controller(session, purpose.purpose.controller_id)
        notice = self.notice(session, event.notice_id) if event.notice_id else None
        if notice is None:
            notice = self.current_notice(session, controller.id, lang)
        public = self.ctx.settings.public_url
        ref = NoticeRef(
            notice_id=notice.id if notice else "none",
            version=notice.version if notice else 0,
            language=notice.language if notice else lang,
            url=f"{public}/mes-donnees/information/{notice.id}"
            if notice
            else f"{public}/mes-donnees",
            content_hash=notice.content_hash if notice else "",
        )
        document = self.receipt_signer.sign(
            build_receipt(
                receipt_id=receipt_id,
                event=event,
                purpose=purpose.purpose,
                controller=controller,
                notice=ref,
                withdrawal_method=f"{public}/mes-donnees",
                public_key=self.receipt_key,
            )
        )
        raw = json.dumps(document, ensure_ascii=False, sort_keys=True).encode("utf-8")
        session.add(
            ReceiptRow(
                id=receipt_id,
                subject=event.subject,
                purpose_id=event.purpose_id,
                event_id=event.event_id,
                status=event.status.value,
                created_at=event.time,
                sealed=self.keys.encrypt_for(session, event.subject, raw, f"receipt/{receipt_id}"),
            )
        )

    def state(self, session: Session, subject: str, purpose_id: str) -> ConsentState | None:
        row = session.get(ConsentStateRow, (subject, purpose_id))
        return _state_from_row(row) if row is not None else None

    def states(self, session: Session, subject: str) -> list[ConsentState]:
        rows = session.scalars(
            select(ConsentStateRow)
            .where(ConsentStateRow.subject == subject)
            .order_by(ConsentStateRow.purpose_id)
        )
        return [_state_from_row(r) for r in rows]

    def history(
        self, session: Session, subject: str, purpose_id: str | None = None
    ) -> list[ConsentEvent]:
        query = select(ConsentEventRow).where(ConsentEventRow.subject == subject)
        if purpose_id is not None:
            query = query.where(ConsentEventRow.purpose_id == purpose_id)
        rows = session.scalars(query.order_by(ConsentEventRow.purpose_id, ConsentEventRow.seq))
        return [_event_from_row(r) for r in rows]

    def check(
        self,
        session: Session,
        subject: str,
        purpose_id: str,
        *,
        purpose: PurposeRecord | None = None,
    ) -> ConsentCheck:
        """Whether processing for ``purpose_id`` may rely on ``subject``'s consent now."""
        purpose = purpose or self.purpose(session, purpose_id)
        if purpose.purpose.legal_basis is not LegalBasis.CONSENT:
            require_consent_basis(purpose.purpose.id, purpose.purpose.legal_basis)
        state = self.state(session, subject, purpose_id)
        now = self.clock.now()
        if state is None:
            return ConsentCheck(purpose_id, None, False, None, None, "never asked")
        if not state.in_force(now):
            reason = "validity period ended" if state.lapsed(now) else f"consent {state.status}"
            return ConsentCheck(
                purpose_id, state.status.value, False, None, state.notice_id, reason
            )
        notice_fp = self._notice_fingerprint(session, state.notice_id, purpose_id)
        if notice_fp != purpose.fingerprint or not purpose.purpose.active:
            return ConsentCheck(
                purpose_id,
                state.status.value,
                False,
                state.valid_until,
                state.notice_id,
                "the information given changed materially: consent must be renewed",
            )
        return ConsentCheck(
            purpose_id, state.status.value, True, state.valid_until, state.notice_id, "in force"
        )

    def _notice_fingerprint(
        self, session: Session, notice_id: str | None, purpose_id: str
    ) -> str | None:
        if notice_id is None:
            return None
        # Notices are immutable: their fingerprints can be kept for the life of the process.
        cache = self._notice_fps
        if notice_id not in cache:
            fps = session.scalar(
                select(NoticeRow.purpose_fingerprints).where(NoticeRow.id == notice_id)
            )
            if fps is None:
                return None
            if len(cache) > 10_000:
                cache.clear()
            cache[notice_id] = json.loads(fps)
        return cache[notice_id].get(purpose_id)

    def platform_check(
        self,
        session: Session,
        *,
        controller_id: str,
        subject: str,
        purpose_id: str,
        known: bool | None = None,
    ) -> ConsentCheck:
        """:meth:`check` for the platform API's hot path: one query for the purpose, the
        state and whether the subject is known, without parsing the register entry.

        Raises UnknownPurposeError (also for another controller's purpose),
        UnknownSubjectError (``known`` False, or None and never seen by the registry) and
        LegalBasisError. Returns exactly what :meth:`check` returns (tested).
        """
        if len(purpose_id) > 64 or len(subject) > 64:
            raise UnknownPurposeError(purpose_id[:64])
        row = session.execute(
            _platform_check_statement(), {"subject": subject, "purpose": purpose_id}
        ).first()
        if row is None or row.controller_id != controller_id:
            raise UnknownPurposeError(purpose_id)
        if known is None:
            known = row.seen is not None or self.is_known(session, subject)
        if not known:
            raise UnknownSubjectError("no person with this identifier for this platform")
        basis = LegalBasis(row.legal_basis)
        if basis is not LegalBasis.CONSENT:
            require_consent_basis(purpose_id, basis)
        if row.status is None:
            return ConsentCheck(purpose_id, None, False, None, None, "never asked")
        status = Status(row.status)
        valid_until = row.valid_until
        now = self.clock.now()
        in_force = status in ACTIVE and (valid_until is None or now < valid_until)
        if not in_force:
            lapsed = status in ACTIVE
            reason = "validity period ended" if lapsed else f"consent {status}"
            return ConsentCheck(purpose_id, status.value, False, None, row.notice_id, reason)
        fingerprint = self._notice_fingerprint(session, row.notice_id, purpose_id)
        if fingerprint != row.fingerprint or not row.active:
            return ConsentCheck(
                purpose_id,
                status.value,
                False,
                valid_until,
                row.notice_id,
                "the information given changed materially: consent must be renewed",
            )
        return ConsentCheck(purpose_id, status.value, True, valid_until, row.notice_id, "in force")

    def needs_renewal(self, session: Session, subject: str, purpose_id: str) -> bool:
        state = self.state(session, subject, purpose_id)
        return (
            state is not None
            and state.in_force(self.clock.now())
            and not self.check(session, subject, purpose_id).in_force
        )

    def is_known(self, session: Session, subject: str) -> bool:
        """Whether the registry has ever seen ``subject`` (events, requests or a data key)."""
        if not subject or len(subject) > 64:
            return False
        for column in (ConsentStateRow.subject, RequestRow.subject, DataKeyRow.subject):
            if session.scalar(select(column).where(column == subject).limit(1)) is not None:
                return True
        return False

    # --- receipts -------------------------------------------------------------------------

    def receipts(self, session: Session, subject: str) -> list[ReceiptRow]:
        return list(
            session.scalars(
                select(ReceiptRow)
                .where(ReceiptRow.subject == subject)
                .order_by(ReceiptRow.created_at.desc(), ReceiptRow.id)
            )
        )

    def receipt_document(self, session: Session, subject: str, receipt_id: str) -> bytes:
        """The signed receipt (JSON bytes) — only to its own subject."""
        row = session.get(ReceiptRow, receipt_id) if len(receipt_id) <= 64 else None
        if row is None or row.subject != subject:
            raise UnknownReceiptError("no such receipt for this person")
        return self.keys.decrypt_for(session, subject, row.sealed, f"receipt/{row.id}")

    # --- expiry ---------------------------------------------------------------------------

    def expire_due(self, session: Session, *, limit: int = 500) -> int:
        """Record an ``expired`` event for every consent whose validity period has ended."""
        now = self.clock.now()
        due = session.execute(
            select(ConsentStateRow.subject, ConsentStateRow.purpose_id)
            .where(
                ConsentStateRow.status.in_([s.value for s in ACTIVE]),
                ConsentStateRow.valid_until <= now,
            )
            .limit(limit)
        ).all()
        for subject, purpose_id in due:
            self.record(
                session,
                subject=subject,
                purpose_id=purpose_id,
                status=Status.EXPIRED,
                actor=Actor(ActorKind.SYSTEM),
                method=Method.AUTOMATIC,
                interface="parvis:system",
            )
        return len(due)

    # --- DPO views ------------------------------------------------------------------------

    def statistics(self, session: Session, purpose_id: str) -> dict[str, Any]:
        """Current states by status, and events per month and status (consent over time)."""
        current = Counter(
            dict(
                session.execute(
                    select(ConsentStateRow.status, func.count())
                    .where(ConsentStateRow.purpose_id == purpose_id)
                    .group_by(ConsentStateRow.status)
                ).all()
            )
        )
        months: dict[str, Counter[str]] = {}
        rows = session.execute(
            select(ConsentEventRow.time, ConsentEventRow.status).where(
                ConsentEventRow.purpose_id == purpose_id
            )
        )
        for time, status in rows:
            months.setdefault(time.strftime("%Y-%m"), Counter())[status] += 1
        return {
            "current": dict(sorted(current.items())),
            "by_month": {m: dict(sorted(c.items())) for m, c in sorted(months.items())},
        }

    def upcoming_expiries(
        self, session: Session, *, within: timedelta = timedelta(days=30), limit: int = 200
    ) -> list[ConsentState]:
        now = self.clock.now()
        rows = session.scalars(
            select(ConsentStateRow)
            .where(
                ConsentStateRow.status.in_([s.value for s in ACTIVE]),
                ConsentStateRow.valid_until > now,
                ConsentStateRow.valid_until <= now + within,
            )
            .order_by(ConsentStateRow.valid_until)
            .limit(limit)
        )
        return [_state_from_row(r) for r in rows]

    def purposes_for(self, session: Session, subject: str) -> list[PurposeRecord]:
        """Every active purpose (of every controller) with the subject's inactive ones that
        still hold a state, for the privacy page."""
        active = self.purposes(session, active_only=True)
        seen = {r.purpose.id for r in active}
        extra = [
            self.purpose(session, s.purpose_id)
            for s in self.states(session, subject)
            if s.purpose_id not in seen
        ]
        return active + extra

    def subjects_with_events(self, session: Session, purpose_ids: Iterable[str]) -> Sequence[str]:
        ids = list(purpose_ids)
        return list(
            session.scalars(
                select(ConsentStateRow.subject)
                .where(ConsentStateRow.purpose_id.in_(ids))
                .distinct()
            )
        )
