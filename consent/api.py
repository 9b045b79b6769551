"""The platform API (JSON): current consent, a subject's consents, consent events, keys.

Platforms authenticate with an OAuth 2.0 access token of the client-credentials grant with
the scope ``api:consent`` (``Authorization: Bearer <token>``, RFC 6750; ADR 0007), act for
the controller their client is linked to (:mod:`consent.clients`) and see only that
controller's purposes: a purpose of another
controller is answered exactly like an unknown one. Subjects are named by the platform's own
identifier of the person (mapped by identity when it registers its mapper). Every answer
that discloses a person's consent is preceded by its access record
(:func:`consent.access.record_read`: written and committed before the answer leaves).
Errors are RFC 9457 problem details (``docs/problems.md``); authentication failures also
carry RFC 6750's ``WWW-Authenticate`` challenge. Answers to a deprecated API key carry the
``Deprecation`` and ``Sunset`` headers.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends, Header, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from consent import service_from
from consent.access import record_read
from consent.clients import ApiClient, authenticate
from consent.errors import UnknownPurposeError, UnknownSubjectError
from consent.hooks import subject_mapper
from consent.ledger import Actor, ActorKind, Method, Status
from consent.service import ConsentService, PurposeRecord
from parvis.kernel.context import AppContext
from parvis.kernel.errors import DomainError
from parvis.kernel.web import api_router, get_ctx

__all__ = ["BodyTooLargeError", "router"]

router = api_router(prefix="/api/consent/v1", tags=["consent"])

CtxDep = Annotated[AppContext, Depends(get_ctx)]
AuthorizationHeader = Annotated[
    str | None,
    Header(description="Bearer <access token> (client credentials, scope api:consent)"),
]
MAX_EVENT_BYTES = 8192


class BodyTooLargeError(DomainError):
    title = "Request body too large"


def _small_body(request: Request) -> None:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_EVENT_BYTES:
        raise BodyTooLargeError(f"consent events are at most {MAX_EVENT_BYTES} bytes of JSON")


def _subject(ctx: AppContext, session: Session, client: ApiClient, subject: str) -> str:
    mapper = subject_mapper()
    if mapper is not None:
        pseudonym = mapper.from_platform(ctx, session, client_id=client.id, subject=subject)
    else:
        pseudonym = subject if service_from(ctx).is_known(session, subject) else None
    if pseudonym is None:
        raise UnknownSubjectError("no person with this identifier for this platform")
    return pseudonym


def _own_purpose(
    service: ConsentService, session: Session, client: ApiClient, purpose_id: str
) -> PurposeRecord:
    record = service.purpose(session, purpose_id)
    if record.purpose.controller_id != client.controller_id:
        raise UnknownPurposeError(purpose_id)
    return record


class ConsentOut(BaseModel):
    """The current consent of a person for one purpose."""

    subject: str
    purpose: str
    status: str = Field(description="none, given, refused, withdrawn, expired, renewed, …")
    consented: bool = Field(description="processing may rely on consent right now")
    valid_until: str | None
    notice: str | None = Field(description="the notice version the consent was given under")
    reason: str


@router.get("/keys", summary="Public keys of receipts and webhooks")
def keys(ctx: CtxDep) -> dict[str, Any]:
    """The Ed25519 keys to verify consent receipts and webhook signatures offline."""
    service = service_from(ctx)
    import base64

    return {
        "receipts": service.receipt_key.to_dict(),
        "webhooks": {
            "alg": "Ed25519",
            "scheme": "standard-webhooks v1a",
            "public_key": base64.b64encode(service.webhook_public_key).decode("ascii"),
        },
    }


@router.get("/purposes", summary="The controller's purposes and notices in force")
def purposes(
    ctx: CtxDep, response: Response, authorization: AuthorizationHeader = None
) -> dict[str, Any]:
    service = service_from(ctx)
    with ctx.db.read_session() as session:
        client = authenticate(ctx, session, authorization)
        response.headers.update(client.deprecation_headers())
        out = []
        for record in service.purposes(session, controller_id=client.controller_id):
            p = record.purpose
            notices = {
                lang: notice.id
                for lang in ("fr", "en")
                if (notice := service.current_notice(session, p.controller_id, lang))
                and notice.language == lang
                and notice.covers(record)
            }
            out.append(
                {
                    "id": p.id,
                    "label": p.label.to_dict(),
                    "legal_basis": p.legal_basis.value,
                    "legal_basis_iri": p.basis.dpv_gdpr,
                    "consent": p.legal_basis.value == "consent",
                    "active": p.active,
                    "version": record.version,
                    "notices": notices,
                }
            )
    return {"controller": client.controller_id, "purposes": out}


@router.get(
    "/subjects/{subject}/consents/{purpose_id}",
    summary="Current consent for one purpose",
    response_model=ConsentOut,
    response_class=JSONResponse,
)
def check(
    subject: str,
    purpose_id: str,
    ctx: CtxDep,
    authorization: AuthorizationHeader = None,
) -> JSONResponse:
    """Whether the platform may process data for ``purpose_id`` on the basis of consent.

    ``consented`` is true only if consent is in force *and* was given under a notice that
    still says what the register says.
    """
    service = service_from(ctx)
    with ctx.db.read_session() as session:
        client = authenticate(ctx, session, authorization)
        mapper = subject_mapper()
        pseudonym = subject
        known = None
        if mapper is not None:
            mapped = mapper.from_platform(ctx, session, client_id=client.id, subject=subject)
            pseudonym, known = (mapped, True) if mapped is not None else (subject, False)
        result = service.platform_check(
            session,
            controller_id=client.controller_id,
            subject=pseudonym,
            purpose_id=purpose_id,
            known=known,
        )
    record_read(
        ctx,
        actor=client.audit_actor,
        subject=pseudonym,
        fields=["consent.status"],
        purpose=purpose_id,
    )
    # The hot path of the platform API: the body is built here and returned as is (the
    # response model documents it in OpenAPI without re-validating every answer).
    return JSONResponse(
        {"subject": subject, **result.to_json()}, headers=client.deprecation_headers()
    )


@router.get("/subjects/{subject}/consents", summary="A subject's consents")
def list_consents(
    subject: str, ctx: CtxDep, response: Response, authorization: AuthorizationHeader = None
) -> dict[str, Any]:
    service = service_from(ctx)
    with ctx.db.read_session() as session:
        client = authenticate(ctx, session, authorization)
        response.headers.update(client.deprecation_headers())
        pseudonym = _subject(ctx, session, client, subject)
        own = {
            r.purpose.id
            for r in service.purposes(session, controller_id=client.controller_id)
            if r.purpose.legal_basis.value == "consent"
        }
        consents = [
            service.check(session, pseudonym, state.purpose_id).to_json()
            for state in service.states(session, pseudonym)
            if state.purpose_id in own
        ]
    for item in consents:
        record_read(
            ctx,
            actor=client.audit_actor,
            subject=pseudonym,
            fields=["consent.status"],
            purpose=item["purpose"],
        )
    return {"subject": subject, "consents": consents}


class EventIn(BaseModel):
    """A consent event collected in the platform's own interface."""

    model_config = ConfigDict(extra="forbid")

    subject: str = Field(min_length=1, max_length=128)
    purpose: str = Field(min_length=1, max_length=64)
    status: Literal["given", "refused", "withdrawn", "renewed", "revoked", "invalidated"]
    notice: str | None = Field(
        default=None, max_length=64, description="notice version shown (given/refused/renewed)"
    )


@router.post(
    "/events",
    status_code=201,
    summary="Record a consent event collected by the platform",
    dependencies=[Depends(_small_body)],
)
def record_event(
    event: EventIn, ctx: CtxDep, response: Response, authorization: AuthorizationHeader = None
) -> dict[str, Any]:
    """The person acted in the platform's interface (given, refused, withdrawn, renewed), or
    the platform ends a consent it can no longer rely on (revoked, invalidated)."""
    service = service_from(ctx)
    status = Status(event.status)
    with ctx.db.write_session() as session:
        client = authenticate(ctx, session, authorization)
        response.headers.update(client.deprecation_headers())
        _own_purpose(service, session, client, event.purpose)
        pseudonym = _subject(ctx, session, client, event.subject)
        by_platform = status in {Status.REVOKED, Status.INVALIDATED}
        actor = (
            Actor(ActorKind.CONTROLLER, agent=client.audit_actor)
            if by_platform
            else Actor(ActorKind.SUBJECT, agent=client.audit_actor)
        )
        recorded = service.record(
            session,
            subject=pseudonym,
            purpose_id=event.purpose,
            status=status,
            actor=actor,
            method=Method.PLATFORM,
            interface=client.audit_actor,
            notice_id=event.notice,
        )
    state = recorded.state
    return {
        "subject": event.subject,
        "purpose": event.purpose,
        "event": recorded.event.event_id,
        "status": state.status.value,
        "valid_until": state.valid_until.isoformat() if state.valid_until else None,
        "receipt": recorded.receipt_id,
    }
