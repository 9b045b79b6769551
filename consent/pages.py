"""HTML pages: the citizen's privacy page and the DPO console.

Adapters only: parse the form, call the service, render. Every form carries the session's
CSRF token and works without JavaScript; a successful post redirects (303) to the page with
a status message, a refused one re-renders the page with the reason (``role="alert"``).
Art. 7(3): giving and withdrawing consent are the same single button on the same page.

Staff pages record an access record (:func:`consent.record_access`) when they show a
person's request or the access records about them.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from consent import requests as dsr
from consent import service_from
from consent.access import access_records, record_access
from consent.auditing import checkpoint_status
from consent.bases import BASES, RIGHT_ARTICLES, LegalBasis, Right
from consent.catalogue import Disposition, Purpose, RetentionStart
from consent.errors import LegalBasisError, MinorConsentError, StaleNoticeError
from consent.ledger import Actor, ActorKind, Method, Status
from consent.register import RegisterEntry, register_csv, register_json
from consent.register_form import RECIPIENT_KINDS, RECIPIENT_ROWS, apply_fields, duration_parts
from consent.register_ods import MEDIA_TYPE as ODS_MEDIA_TYPE
from consent.register_ods import register_ods
from parvis.kernel.context import AppContext
from parvis.kernel.errors import DomainError, ForbiddenError, UnauthenticatedError
from parvis.kernel.principal import Citizen, Principal, Role, Staff
from parvis.kernel.staffguard import staff_required
from parvis.kernel.web import check_csrf, current_principal, ensure_session, get_ctx, render

__all__ = ["citizen_router", "desk_router", "dpo_router"]

citizen_router = APIRouter(prefix="/mes-donnees", include_in_schema=False)
dpo_router = APIRouter(prefix="/dpo", include_in_schema=False)

CtxDep = Annotated[AppContext, Depends(get_ctx)]
PrincipalDep = Annotated[Principal, Depends(current_principal)]
CsrfField = Annotated[str, Form()]
DSR_PURPOSE = "parvis:data-subject-requests"


def _page(
    request: Request,
    template: str,
    values: dict[str, Any] | None = None,
    *,
    status: int = 200,
    form: bool = True,
) -> Response:
    """Render with a session (for the CSRF token), sending its cookie when new.

    A page without a form (``form=False``) creates no session: an anonymous visit then
    writes no database row (GDPR Art. 5(1)(e), storage limitation).
    """
    if not form:
        return render(request, template, values, status_code=status)
    holder = Response()
    ensure_session(request, holder)
    response = render(request, template, values, status_code=status)
    for key, value in holder.raw_headers:
        if key == b"set-cookie":
            response.raw_headers.append((key, value))
    return response


def _sign_in(request: Request, *, staff: bool) -> Response:
    return _page(request, "consent/sign_in_needed.html", {"staff": staff}, status=401, form=False)


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _basis(basis: LegalBasis, lang: str) -> dict[str, str]:
    info = BASES[basis]
    return {
        "label": info.label_fr if lang == "fr" else info.label_en,
        "article": info.article,
        "iri": info.dpv_gdpr,
    }


def _error_text(exc: DomainError) -> str:
    """A message id for the page (translated in the template), precise for the common cases."""
    if isinstance(exc, MinorConsentError):
        return (
            "You are under 15: consent must be given together with a holder of parental "
            "authority (Loi 78-17 art. 45). Come to the town hall desk with them."
        )
    if isinstance(exc, LegalBasisError):
        return "Consent does not apply to this processing: see its legal basis and your rights."
    if isinstance(exc, StaleNoticeError):
        return "The information has changed since this page was displayed: read it again."
    return exc.title


# --- citizen privacy page --------------------------------------------------------------------


def _privacy_values(
    ctx: AppContext, session: Session, citizen: Citizen, lang: str
) -> dict[str, Any]:
    service = service_from(ctx)
    now = ctx.clock.now()
    controllers = {c.id: c for c in service.controllers(session)}
    states = {s.purpose_id: s for s in service.states(session, citizen.pseudonym)}
    groups: dict[str, dict[str, Any]] = {}
    for record in service.purposes_for(session, citizen.pseudonym):
        p = record.purpose
        controller = controllers[p.controller_id]
        group = groups.setdefault(
            p.controller_id,
            {
                "controller": controller,
                "notice": service.current_notice(session, p.controller_id, lang),
                "items": [],
            },
        )
        state = states.get(p.id)
        check = (
            service.check(session, citizen.pseudonym, p.id)
            if p.legal_basis is LegalBasis.CONSENT
            else None
        )
        notice = group["notice"]
        group["items"].append(
            {
                "purpose": p,
                "record": record,
                "basis": _basis(p.legal_basis, lang),
                "rights": [
                    {"right": r.value, "article": RIGHT_ARTICLES[r]}
                    for r in Right
                    if r in p.basis.rights
                ],
                "consent": p.legal_basis is LegalBasis.CONSENT,
                "state": state,
                "in_force": bool(check and check.in_force),
                "needs_renewal": bool(
                    state and state.in_force(now) and check and not check.in_force
                ),
                "askable": p.active and notice is not None and notice.covers(record),
            }
        )
    receipts = [
        {"row": r, "purpose": r.purpose_id} for r in service.receipts(session, citizen.pseudonym)
    ]
    return {
        "groups": list(groups.values()),
        "receipts": receipts,
        "requests": dsr.requests_of(ctx, session, citizen.pseudonym),
        "rights": list(dsr.REQUESTABLE),
        "right_articles": RIGHT_ARTICLES,
        "controllers": list(controllers.values()),
        "today": service.today(),
    }


def _privacy(
    request: Request,
    ctx: AppContext,
    citizen: Citizen,
    *,
    notice: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    lang = request.query_params.get("lang") or request.cookies.get("parvis_lang") or "fr"
    with ctx.db.read_session() as session:
        values = _privacy_values(ctx, session, citizen, "en" if lang == "en" else "fr")
    values.update(notice=notice, error=error)
    return _page(request, "consent/privacy.html", values, status=status)


_DONE = {
    "given": "Your consent has been recorded. Your receipt is below.",
    "withdrawn": "Your consent has been withdrawn. Your receipt is below.",
    "refused": "Your refusal has been recorded.",
    "renewed": "Your consent has been renewed.",
    "request": "Your request has been registered. Its deadline is shown below.",
}


@citizen_router.get("", response_class=HTMLResponse)
def privacy_page(request: Request, ctx: CtxDep, principal: PrincipalDep) -> Response:
    if not isinstance(principal, Citizen):
        return _sign_in(request, staff=False)
    done = request.query_params.get("done")
    return _privacy(request, ctx, principal, notice=_DONE.get(done or ""))


@citizen_router.post("/consentements/{purpose_id}")
def consent_action(
    purpose_id: str,
    *,
    request: Request,
    ctx: CtxDep,
    principal: PrincipalDep,
    csrf_token: CsrfField,
    action: Annotated[str, Form()],
    notice: Annotated[str, Form()] = "",
) -> Response:
    """Give, refuse, renew or withdraw — one button each, the same effort (Art. 7(3))."""
    if not isinstance(principal, Citizen):
        return _sign_in(request, staff=False)
    check_csrf(request, csrf_token)
    statuses = {
        "give": Status.GIVEN,
        "refuse": Status.REFUSED,
        "renew": Status.RENEWED,
        "withdraw": Status.WITHDRAWN,
    }
    if action not in statuses:
        return _privacy(request, ctx, principal, error="Unknown action.", status=422)
    status = statuses[action]
    lang = "en" if request.cookies.get("parvis_lang") == "en" else "fr"
    try:
        with ctx.db.write_session() as session:
            service_from(ctx).record(
                session,
                subject=principal.pseudonym,
                purpose_id=purpose_id[:64],
                status=status,
                actor=Actor(ActorKind.SUBJECT),
                method=Method.WEB_FORM,
                interface="parvis:privacy-page",
                notice_id=notice or None,
                lang=lang,
            )
    except DomainError as exc:
        code = 403 if isinstance(exc, MinorConsentError) else 409
        return _privacy(request, ctx, principal, error=_error_text(exc), status=code)
    return _redirect(f"/mes-donnees?done={status.value}#consent-{purpose_id}")


@citizen_router.get("/recus/{receipt_id}.json")
def download_receipt(receipt_id: str, ctx: CtxDep, principal: PrincipalDep) -> Response:
    if not isinstance(principal, Citizen):
        raise UnauthenticatedError("sign in to download your receipts")
    with ctx.db.read_session() as session:
        raw = service_from(ctx).receipt_document(session, principal.pseudonym, receipt_id)
    return Response(
        raw,
        media_type="application/json",
        headers={
            "content-disposition": (
                f'attachment; filename="recu-consentement-{receipt_id[:8]}.json"'
            ),
            "cache-control": "no-store",
        },
    )


@citizen_router.get("/information/{notice_id}", response_class=HTMLResponse)
def notice_page(notice_id: str, request: Request, ctx: CtxDep) -> Response:
    """A notice version as published (public: anyone may read what people were told)."""
    service = service_from(ctx)
    with ctx.db.read_session() as session:
        notice = service.notice(session, notice_id)
        current = service.current_notice(session, notice.controller_id, notice.language)
    return _page(
        request,
        "consent/notice.html",
        {
            "n": notice,
            "items": notice.content["items"],
            "text": notice.content["text"],
            "superseded": current is not None and current.id != notice.id,
            "current": current,
        },
        form=False,
    )


@citizen_router.post("/demandes")
def open_request(
    *,
    request: Request,
    ctx: CtxDep,
    principal: PrincipalDep,
    csrf_token: CsrfField,
    right: Annotated[str, Form()],
    controller: Annotated[str, Form()],
    purpose: Annotated[str, Form()] = "",
    note: Annotated[str, Form(max_length=dsr.MAX_NOTE)] = "",
) -> Response:
    if not isinstance(principal, Citizen):
        return _sign_in(request, staff=False)
    check_csrf(request, csrf_token)
    try:
        chosen = Right(right)
        with ctx.db.write_session() as session:
            dsr.open_request(
                ctx,
                session,
                subject=principal.pseudonym,
                controller_id=controller[:64],
                right=chosen,
                purpose_id=purpose[:64] or None,
                opened_by=principal.audit_actor,
                channel="privacy_page",
                identity_method="signed-in session",
                note=note,
            )
    except ValueError:
        return _privacy(request, ctx, principal, error="Unknown request type.", status=422)
    except DomainError as exc:
        return _privacy(request, ctx, principal, error=_error_text(exc), status=422)
    return _redirect("/mes-donnees?done=request#requests")


@citizen_router.get("/demandes/{request_id}/export.json")
def download_export(request_id: str, ctx: CtxDep, principal: PrincipalDep) -> Response:
    if not isinstance(principal, Citizen):
        raise UnauthenticatedError("sign in to download your data")
    with ctx.db.read_session() as session:
        raw = dsr.request_artefact(ctx, session, request_id, subject=principal.pseudonym)
    return Response(
        raw,
        media_type="application/json",
        headers={
            "content-disposition": f'attachment; filename="mes-donnees-{request_id[:8]}.json"',
            "cache-control": "no-store",
        },
    )


# --- DPO console -----------------------------------------------------------------------------


#: The DPO console answers a 401 page (no redirect) to anyone not signed in as staff.
_DPO_SIGN_IN = (
    "This page is for the data protection officer. Sign in with a staff account that "
    "holds this role."
)
DpoDep = Annotated[
    Staff, Depends(staff_required(Role.DPO, redirect=False, sign_in_message=_DPO_SIGN_IN))
]
DpoOrAdminDep = Annotated[
    Staff,
    Depends(staff_required(Role.DPO, Role.ADMIN, redirect=False, sign_in_message=_DPO_SIGN_IN)),
]


def _dpo_values(ctx: AppContext, session: Session) -> dict[str, Any]:
    service = service_from(ctx)
    register = []
    for controller in service.controllers(session):
        purposes = service.purposes(session, controller_id=controller.id)
        notices = {
            lang: service.current_notice(session, controller.id, lang) for lang in ("fr", "en")
        }
        stale = any(
            p.purpose.active and not (notices["fr"] and notices["fr"].covers(p)) for p in purposes
        )
        register.append(
            {"controller": controller, "purposes": purposes, "notices": notices, "stale": stale}
        )
    return {
        "register": register,
        "queue": dsr.queue(ctx, session),
        "expiries": service.upcoming_expiries(session),
        "audit": checkpoint_status(ctx, session),
        "today": service.today(),
    }


@dpo_router.get("", response_class=HTMLResponse)
def dpo_home(request: Request, ctx: CtxDep, staff: DpoDep) -> Response:
    with ctx.db.write_session() as session:  # the audit log is created on first use
        values = _dpo_values(ctx, session)
    values["notice"] = {
        "saved": "The register entry was saved.",
        "published": "The notice was published.",
        "completed": "The request was closed.",
    }.get(request.query_params.get("done") or "")
    return _page(request, "consent/dpo_home.html", values)


@dpo_router.get("/registre/{controller_id}.{fmt}")
def register_export(controller_id: str, fmt: str, ctx: CtxDep, staff: DpoOrAdminDep) -> Response:
    if fmt not in EXPORT_FORMATS:
        raise ForbiddenError("the register is exported as csv, json or ods")
    content, media = export_register(ctx, controller_id, fmt)
    return Response(
        content,
        media_type=media,
        headers={"content-disposition": f'attachment; filename="registre-{controller_id}.{fmt}"'},
    )


#: The register's export formats (consent.register, consent.register_ods).
EXPORT_FORMATS = ("csv", "json", "ods")


def export_register(ctx: AppContext, controller_id: str, fmt: str) -> tuple[str | bytes, str]:
    """The register of one controller as (text or, for ODS, bytes; media type) — shared
    with the CLI."""
    service = service_from(ctx)
    with ctx.db.read_session() as session:
        controller = service.controller(session, controller_id)
        entries = [
            RegisterEntry(r.purpose, r.version, r.created_at, r.updated_at)
            for r in service.purposes(session, controller_id=controller_id)
        ]
    now = ctx.clock.now()
    if fmt == "csv":
        return register_csv(controller, entries, generated_at=now), "text/csv; charset=utf-8"
    if fmt == "ods":
        return register_ods(controller, entries, generated_at=now), ODS_MEDIA_TYPE
    document = register_json(controller, entries, generated_at=now)
    return json.dumps(document, ensure_ascii=False, indent=2), "application/json"


def _purpose_values(
    ctx: AppContext, session: Session, purpose_id: str, lang: str
) -> dict[str, Any]:
    service = service_from(ctx)
    record = service.purpose(session, purpose_id)
    return {
        "record": record,
        "p": record.purpose,
        "basis": _basis(record.purpose.legal_basis, lang),
        "history": service.purpose_history(session, purpose_id),
        "stats": service.statistics(session, purpose_id),
        "warnings": record.purpose.warnings(),
        "definition": yaml.safe_dump(record.purpose.to_dict(), allow_unicode=True, sort_keys=False),
        "statuses": [s.value for s in Status],
        "fields": _fields_of(record.purpose),
        "field_errors": {},
        "bases": [b.value for b in LegalBasis],
        "starts": [(s.value, _STARTS[s]) for s in RetentionStart],
        "dispositions": [(d.value, _DISPOSITIONS[d]) for d in Disposition],
        "recipient_kinds": [(k, _KINDS[k]) for k in RECIPIENT_KINDS],
        "recipient_rows": len(record.purpose.recipients) + RECIPIENT_ROWS,
    }


#: The form's choices in words (message ids of the French catalogue).
_STARTS = {
    RetentionStart.COLLECTION: "from collection",
    RetentionStart.CONSENT_END: "from the end of consent",
    RetentionStart.LAST_ACTIVITY: "from the person's last activity",
}
_DISPOSITIONS = {
    Disposition.DESTRUCTION: "destruction",
    Disposition.VERSEMENT: "transfer to the public archives",
    Disposition.TRI: "selection (a sample kept in the public archives)",
}
_KINDS = {
    "internal": "internal service",
    "external": "external organisation",
    "authority": "public authority",
}


def _fields_of(purpose: Purpose) -> dict[str, str]:
    """The field-by-field form's values for ``purpose`` (names as :mod:`consent.register_form`
    reads them back)."""
    fields = {
        "label.fr": purpose.label.fr,
        "label.en": purpose.label.en,
        "description.fr": purpose.description.fr,
        "description.en": purpose.description.en,
        "legal_basis": purpose.legal_basis.value,
        "legal_basis_detail": purpose.legal_basis_detail,
    }
    validity = str(purpose.consent_validity) if purpose.consent_validity else None
    for unit, n in duration_parts(validity).items():
        fields[f"consent_validity.{unit}"] = str(n) if n else ""
    for i, c in enumerate(purpose.data_categories):
        for unit, n in duration_parts(str(c.retention)).items():
            fields[f"category.{i}.retention.{unit}"] = str(n) if n else ""
        fields[f"category.{i}.retention_from"] = c.retention_from.value
        fields[f"category.{i}.disposition"] = c.disposition.value
    for i, r in enumerate(purpose.recipients):
        fields[f"recipient.{i}.name"] = r.name
        fields[f"recipient.{i}.kind"] = r.kind
    return fields


@dpo_router.get("/finalites/{purpose_id}", response_class=HTMLResponse)
def purpose_page(purpose_id: str, request: Request, ctx: CtxDep, staff: DpoOrAdminDep) -> Response:
    with ctx.db.read_session() as session:
        values = _purpose_values(ctx, session, purpose_id, _lang(request))
    return _page(request, "consent/dpo_purpose.html", values)


def _lang(request: Request) -> str:
    return "en" if request.cookies.get("parvis_lang") == "en" else "fr"


def _same_id(data: object, purpose_id: str) -> None:
    if not isinstance(data, dict) or data.get("id") != purpose_id:
        raise ValueError("the definition must keep the purpose's id")


@dpo_router.post("/finalites/{purpose_id}")
def purpose_edit(
    purpose_id: str,
    *,
    request: Request,
    ctx: CtxDep,
    staff: DpoOrAdminDep,
    csrf_token: CsrfField,
    definition: Annotated[str, Form(max_length=100_000)],
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Save a new version of a register entry (the YAML form of the purpose)."""
    check_csrf(request, csrf_token)
    service = service_from(ctx)
    try:
        data = yaml.safe_load(definition)
        _same_id(data, purpose_id)
        with ctx.db.write_session() as session:
            current = service.purpose(session, purpose_id)
            purpose = Purpose.from_dict(data, controller_id=current.purpose.controller_id)
            service.save_purpose(session, purpose, actor=staff.audit_actor, reason=reason)
    except (yaml.YAMLError, ValueError, DomainError) as exc:
        with ctx.db.read_session() as session:
            values = _purpose_values(ctx, session, purpose_id, _lang(request))
        values.update(
            definition=definition,
            error=str(exc) if isinstance(exc, DomainError | ValueError) else "invalid YAML",
        )
        return _page(request, "consent/dpo_purpose.html", values, status=422)
    return _redirect(f"/dpo/finalites/{purpose_id}?done=saved")


@dpo_router.post("/finalites/{purpose_id}/champs")
async def purpose_edit_fields(
    purpose_id: str, request: Request, ctx: CtxDep, staff: DpoOrAdminDep
) -> Response:
    """Save a new version of a register entry from its field-by-field form (Art. 30(1)):
    errors are shown next to their field and nothing is saved until every field is right."""
    form = await request.form()
    posted = {k: v for k, v in form.items() if isinstance(v, str)}
    check_csrf(request, posted.get("csrf_token", ""))
    reason = posted.get("reason", "")[:2000]
    service = service_from(ctx)
    lang = _lang(request)
    with ctx.db.read_session() as session:
        current = service.purpose(session, purpose_id).purpose
    data, errors = apply_fields(current.to_dict(), posted)
    if not errors:
        try:
            purpose = Purpose.from_dict(data, controller_id=current.controller_id)
            with ctx.db.write_session() as session:
                service.save_purpose(session, purpose, actor=staff.audit_actor, reason=reason)
        except (ValueError, DomainError):
            # The catalogue's own checks (e.g. a consent basis with a special category's
            # condition missing) name internals in English: the page says it in words.
            errors["form"] = (
                "These values do not make a valid register entry. Check the legal basis "
                "and the periods."
            )
    if errors:
        with ctx.db.read_session() as session:
            values = _purpose_values(ctx, session, purpose_id, lang)
        values.update(fields=posted, field_errors=errors, reason=reason)
        return _page(request, "consent/dpo_purpose.html", values, status=422)
    return _redirect(f"/dpo/finalites/{purpose_id}?done=saved")


@dpo_router.post("/responsables/{controller_id}/information")
def publish_notice(
    controller_id: str,
    *,
    request: Request,
    ctx: CtxDep,
    staff: DpoOrAdminDep,
    csrf_token: CsrfField,
    language: Annotated[str, Form()],
    text: Annotated[str, Form(max_length=100_000)] = "",
) -> Response:
    check_csrf(request, csrf_token)
    with ctx.db.write_session() as session:
        service_from(ctx).publish_notice(
            session,
            controller_id=controller_id[:64],
            language="en" if language == "en" else "fr",
            text=text,
            actor=staff.audit_actor,
        )
    return _redirect("/dpo?done=published")


def _request_values(
    ctx: AppContext, session: Session, request_id: str, staff: Staff
) -> dict[str, Any]:
    view = dsr.get(ctx, session, request_id)
    record_access(
        ctx,
        session,
        actor=staff.audit_actor,
        subject=view.subject,
        fields=["request", "request.note"],
        purpose=DSR_PURPOSE,  # the DPO reads it to handle the request (Art. 12-22)
    )
    return {
        "r": view,
        "note": dsr.request_note(ctx, session, request_id),
        "outcomes": [o.value for o in dsr.Outcome],
        "service": service_from(ctx),
    }


@dpo_router.get("/demandes/{request_id}", response_class=HTMLResponse)
def request_page(request_id: str, request: Request, ctx: CtxDep, staff: DpoDep) -> Response:
    with ctx.db.write_session() as session:
        values = _request_values(ctx, session, request_id, staff)
    values["notice"] = {
        "identity": "The identity check was recorded.",
        "extended": "The extension was recorded; the person sees its reasons on their page.",
    }.get(request.query_params.get("done") or "")
    return _page(request, "consent/dpo_request.html", values)


@dpo_router.post("/demandes/{request_id}")
def request_action(
    request_id: str,
    *,
    request: Request,
    ctx: CtxDep,
    staff: DpoDep,
    csrf_token: CsrfField,
    action: Annotated[str, Form()],
    method: Annotated[str, Form(max_length=200)] = "",
    months: Annotated[int, Form()] = 0,
    reasons: Annotated[str, Form(max_length=dsr.MAX_NOTE)] = "",
    outcome: Annotated[str, Form()] = "",
    motivation: Annotated[str, Form(max_length=dsr.MAX_NOTE)] = "",
    recipients: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Identity check, Art. 12(3) extension, or completion with outcome and motivation."""
    check_csrf(request, csrf_token)
    actor = staff.audit_actor
    try:
        with ctx.db.write_session() as session:
            if action == "identity":
                dsr.check_identity(ctx, session, request_id, actor=actor, method=method)
                done = f"/dpo/demandes/{request_id}?done=identity"
            elif action == "extend":
                dsr.extend(ctx, session, request_id, months=months, reasons=reasons, actor=actor)
                done = f"/dpo/demandes/{request_id}?done=extended"
            elif action == "complete":
                dsr.complete(
                    ctx,
                    session,
                    request_id,
                    outcome=dsr.Outcome(outcome),
                    motivation=motivation,
                    actor=actor,
                    recipients=[r for r in recipients.splitlines() if r.strip()],
                )
                done = "/dpo?done=completed#queue"
            else:
                raise ValueError("unknown action")  # noqa: TRY301 - same handling as the others
    except (DomainError, ValueError) as exc:
        with ctx.db.write_session() as session:
            values = _request_values(ctx, session, request_id, staff)
        values["error"] = exc.detail if isinstance(exc, DomainError) else str(exc)
        return _page(request, "consent/dpo_request.html", values, status=422)
    return _redirect(done)


def _day(value: str | None, *, end: bool = False) -> datetime | None:
    if not value:
        return None
    day = date.fromisoformat(value)
    moment = datetime.combine(day, time.min, tzinfo=UTC)
    return moment + timedelta(days=1) if end else moment


@dpo_router.get("/acces", response_class=HTMLResponse)
def access_page(
    *,
    request: Request,
    ctx: CtxDep,
    staff: DpoDep,
    subject: Annotated[str, Query(max_length=64)] = "",
    actor: Annotated[str, Query(max_length=80)] = "",
    purpose: Annotated[str, Query(max_length=64)] = "",
    since: Annotated[str, Query(max_length=10)] = "",
    until: Annotated[str, Query(max_length=10)] = "",
) -> Response:
    """Who read this person's data, when and why — and which platforms received what."""
    searched = any((subject, actor, purpose, since, until))
    records: list[Any] = []
    error = None
    if searched:
        try:
            with ctx.db.write_session() as session:
                records = access_records(
                    ctx,
                    session,
                    subject=subject or None,
                    actor=actor or None,
                    purpose=purpose or None,
                    since=_day(since),
                    until=_day(until, end=True),
                    limit=500,
                )
                if subject:
                    record_access(
                        ctx,
                        session,
                        actor=staff.audit_actor,
                        subject=subject,
                        fields=["access_records"],
                        purpose=DSR_PURPOSE,
                    )
        except ValueError:
            error = "Dates are written YYYY-MM-DD."
    return _page(
        request,
        "consent/dpo_access.html",
        {
            "records": records,
            "searched": searched,
            "error": error,
            "q": {
                "subject": subject,
                "actor": actor,
                "purpose": purpose,
                "since": since,
                "until": until,
            },
        },
    )


# --- town hall desk: a minor's joint consent, a request made on someone's behalf ---------------

desk_router = APIRouter(prefix="/staff/guichet/donnees", include_in_schema=False)

DeskDep = Annotated[
    Staff, Depends(staff_required(Role.AGENT, Role.ADMIN, form_page="/staff/guichet/donnees"))
]

#: What an agent records for a minor and their parent (Loi 78-17 art. 45: given jointly;
#: refusal and withdrawal are open to either).
_JOINT_CHOICES = {"give": Status.GIVEN, "refuse": Status.REFUSED, "withdraw": Status.WITHDRAWN}
_DESK_METHODS = {"in_person": Method.IN_PERSON, "paper_form": Method.PAPER}
_DESK_CHANNELS = ("desk", "post", "email")
_DESK_FAILED = (
    "Nothing was recorded: check the pseudonyms, the processing and the choice, then try again."
)


def _desk_values(ctx: AppContext, session: Session) -> dict[str, Any]:
    service = service_from(ctx)
    purposes = [
        r.purpose
        for r in service.purposes(session, active_only=True)
        if r.purpose.legal_basis is LegalBasis.CONSENT
    ]
    return {
        "consent_purposes": purposes,
        "controllers": service.controllers(session),
        "all_purposes": [r.purpose for r in service.purposes(session, active_only=True)],
        "rights": [r.value for r in dsr.REQUESTABLE],
        "channels": _DESK_CHANNELS,
        "posted": {},
    }


def _desk_page(
    request: Request, ctx: AppContext, extra: dict[str, Any] | None = None, *, status: int = 200
) -> Response:
    with ctx.db.read_session() as session:
        values = _desk_values(ctx, session)
    values.update(extra or {})
    values["notice"] = {
        "joint": "The joint consent was recorded.",
        "request": "The request was registered; its deadline runs from today.",
    }.get(request.query_params.get("done") or "")
    return _page(request, "consent/desk.html", values, status=status)


@desk_router.get("", response_class=HTMLResponse)
def desk_page(request: Request, ctx: CtxDep, staff: DeskDep) -> Response:
    """The desk's forms for what a person cannot do alone on their privacy page."""
    return _desk_page(request, ctx)


@desk_router.post("/consentement-conjoint")
def desk_joint_consent(
    *,
    request: Request,
    ctx: CtxDep,
    staff: DeskDep,
    csrf_token: CsrfField,
    subject: Annotated[str, Form(max_length=64)] = "",
    guardian: Annotated[str, Form(max_length=64)] = "",
    purpose: Annotated[str, Form(max_length=64)] = "",
    choice: Annotated[str, Form(max_length=16)] = "",
    method: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """A minor's consent given, refused or withdrawn jointly with a holder of parental
    authority (Loi 78-17 art. 45), recorded by the agent who saw them both."""
    check_csrf(request, csrf_token)
    posted = {
        "subject": subject.strip(),
        "guardian": guardian.strip(),
        "purpose": purpose,
        "choice": choice,
        "method": method,
    }
    errors: dict[str, str] = {}
    for name in ("subject", "guardian"):
        if not posted[name]:
            errors[name] = "This field is required."
    if posted["subject"] and posted["subject"] == posted["guardian"]:
        errors["guardian"] = "The holder of parental authority is another person than the minor."
    if choice not in _JOINT_CHOICES:
        errors["choice"] = "Choose what the minor and their parent decided."
    if method not in _DESK_METHODS:
        errors["method"] = "Choose how they expressed it."
    if not errors:
        service = service_from(ctx)
        try:
            with ctx.db.write_session() as session:
                record = service.purpose(session, purpose)
                current = service.current_notice(session, record.purpose.controller_id, "fr")
                service.record(
                    session,
                    subject=posted["subject"],
                    purpose_id=purpose,
                    status=_JOINT_CHOICES[choice],
                    actor=Actor(
                        ActorKind.PARENTAL, guardian=posted["guardian"], agent=staff.audit_actor
                    ),
                    method=_DESK_METHODS[method],
                    interface="parvis:desk",
                    notice_id=current.id if current is not None else None,
                )
        except DomainError as exc:
            errors["form"] = (
                _error_text(exc)
                if isinstance(exc, LegalBasisError | StaleNoticeError)
                else _DESK_FAILED
            )
    if errors:
        return _desk_page(request, ctx, {"joint_errors": errors, "posted": posted}, status=422)
    return _redirect("/staff/guichet/donnees?done=joint")


@desk_router.post("/demande")
def desk_request(
    *,
    request: Request,
    ctx: CtxDep,
    staff: DeskDep,
    csrf_token: CsrfField,
    subject: Annotated[str, Form(max_length=64)] = "",
    right: Annotated[str, Form(max_length=32)] = "",
    controller: Annotated[str, Form(max_length=64)] = "",
    purpose: Annotated[str, Form(max_length=64)] = "",
    channel: Annotated[str, Form(max_length=16)] = "",
    identity_method: Annotated[str, Form(max_length=300)] = "",
    mandate: Annotated[str, Form(max_length=300)] = "",
    note: Annotated[str, Form(max_length=dsr.MAX_NOTE)] = "",
) -> Response:
    """A data-subject request brought by someone acting for the person (a mandate holder, a
    legal representative), at the desk, by post or by e-mail (GDPR Art. 12; the mandate is
    kept, sealed, with the request's text)."""
    check_csrf(request, csrf_token)
    posted = {
        "subject": subject.strip(),
        "right": right,
        "controller": controller,
        "purpose": purpose,
        "channel": channel,
        "identity_method": identity_method.strip(),
        "mandate": mandate.strip(),
        "note": note,
    }
    errors: dict[str, str] = {}
    for name in ("subject", "mandate", "identity_method"):
        if not posted[name]:
            errors[name] = "This field is required."
    if right not in {r.value for r in dsr.REQUESTABLE}:
        errors["right"] = "Choose the right the person exercises."
    if channel not in _DESK_CHANNELS:
        errors["channel"] = "Choose how the request arrived."
    if not errors:
        text = f"Mandat : {posted['mandate']}" + (f"\n\n{note.strip()}" if note.strip() else "")
        try:
            with ctx.db.write_session() as session:
                dsr.open_request(
                    ctx,
                    session,
                    subject=posted["subject"],
                    controller_id=controller,
                    right=Right(right),
                    purpose_id=purpose or None,
                    opened_by=staff.audit_actor,
                    channel=channel,
                    identity_method=posted["identity_method"],
                    note=text[: dsr.MAX_NOTE],
                )
        except DomainError:
            errors["form"] = (
                "Nothing was recorded: check the pseudonym, the controller and the processing "
                "(an objection names the processing it objects to)."
            )
    if errors:
        return _desk_page(request, ctx, {"request_errors": errors, "posted": posted}, status=422)
    return _redirect("/staff/guichet/donnees?done=request")
