"""Staff pages of the key ceremony (docs/adr/0018-encrypted-elections.md, "Who may upload
what"): a trustee sees the encrypted elections that name them, what to download, what to run
with ``parvis-trustee`` (docs/trustee-tool.md) and where to upload each file; the election
officer sees the same state and starts, imports or restarts the ceremony.

Adapters only, like :mod:`ballot.staff_pages`: each form calls the same
:class:`~ballot.service.ElectionService` method as the JSON API (``/elections/{id}/ceremony/…``)
with the staff member's ``audit_actor``. Pages work without JavaScript and every POST form
carries the session's CSRF token. A refused file re-renders the page with the reason and the
status the JSON API would give; nothing is appended.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from ballot.errors import ElectionNotFoundError, InvalidCeremonyMessageError, NotATrusteeError
from ballot.service import service_from
from ballot.staff_pages import _csrf, _label, _refusal, _status_of
from parvis.kernel.context import AppContext
from parvis.kernel.errors import DomainError, ForbiddenError
from parvis.kernel.principal import Role, Staff
from parvis.kernel.staffguard import staff_required
from parvis.kernel.web import get_ctx, page_language, render

__all__ = ["HOME", "NOTICES", "router"]

router = APIRouter(prefix="/staff/garants", include_in_schema=False)
HOME: Final = "/staff/garants"
Ctx = Annotated[AppContext, Depends(get_ctx)]
#: Trustees upload their own messages; the election officer starts and follows the ceremony
#: (docs/adr/0018-encrypted-elections.md, "Who may upload what").
TrusteeOrOfficer = Annotated[
    Staff,
    Depends(
        staff_required(
            Role.TRUSTEE,
            Role.ELECTION_OFFICER,
            form_page=lambda request: request.url.path.rsplit("/", 1)[0],
            message="These pages are for trustees and election officers.",
        )
    ),
]
Upload = Annotated[UploadFile | None, File()]
Text = Annotated[str, Form()]
#: A ceremony file is small (a round-1 message of 15 trustees is a few KiB; a whole
#: ceremony of 15, under 100 KiB).
MAX_FILE_BYTES: Final = 262_144

#: Notices shown after a redirect (``?fait=…``): fixed keys only, nothing is echoed back.
NOTICES: Final[Mapping[str, str]] = {
    "cle": "Your static key is registered.",
    "tour1": "Your round-1 message is checked and on the bulletin board.",
    "signature": "Your signature is checked and on the bulletin board.",
    "demarre": "The ceremony has started: the setup is on the bulletin board.",
    "importe": "The ceremony is checked and on the bulletin board.",
    "tentative": "A new attempt begins: each trustee makes and registers a fresh static key.",
    "dechiffrement": "Your partial decryption is checked and on the bulletin board.",
}


@router.get("", response_class=HTMLResponse)
def trustee_home(request: Request, ctx: Ctx, staff: TrusteeOrOfficer) -> Response:
    """The encrypted elections that name this trustee, with where each ceremony stands."""
    service = service_from(ctx)
    lang = page_language(request, ctx.settings)
    with ctx.db.read_session() as session:
        items = [
            {
                "id": row.id,
                "label": _label(service.definition(row).title, lang),
                "status": row.status,
                "position": position,
                "step": service.ceremony_state(session, row.id)["step"],
            }
            for row, position in service.trustee_elections(session, staff)
        ]
    return render(request, "ballot/staff/trustee_list.html", {"elections": items})


def _values(request: Request, ctx: AppContext, staff: Staff, election_id: str) -> dict[str, Any]:
    service = service_from(ctx)
    lang = page_language(request, ctx.settings)
    with ctx.db.read_session() as session:
        row = service.get(session, election_id, drafts=staff.has(Role.ELECTION_OFFICER))
        definition = service.definition(row)
        state = service.ceremony_state(session, row.id)
        try:
            position: int | None = service.trustee_position(session, definition, staff)
        except NotATrusteeError:
            position = None
    if position is None and not staff.has(Role.ELECTION_OFFICER):
        raise NotATrusteeError("you are not a trustee of this election")
    # After the tally: the sums to decrypt and who has (docs/board-format.md §10.4).
    decryption = (
        service.decryption_inputs(row.id)
        if row.status in {"decrypting", "tallied", "published"}
        else None
    )
    api = f"/elections/{row.id}/ceremony"
    return {
        "election_id": row.id,
        "label": _label(definition.title, lang),
        "status": row.status,
        "state": state,
        "position": position,
        "mine": state["trustees"][position - 1] if position is not None else None,
        "officer": staff.has(Role.ELECTION_OFFICER),
        "all_keys": all(t["static_key"] for t in state["trustees"]),
        "files": {
            "setup": f"{api}/setup.json",
            "round1s": f"{api}/round1s.json",
            "ceremony": f"{api}/ceremony.json",
            "sums": f"/elections/{row.id}/decryption/sums.json",
            "context": f"/elections/{row.id}/decryption/context.json",
        },
        "decryption": decryption,
        "decrypted": bool(
            decryption is not None
            and position is not None
            and decryption["trustees"][position - 1]["decrypted"]
        ),
    }


def _page(
    request: Request,
    ctx: AppContext,
    staff: Staff,
    election_id: str,
    extra: dict[str, Any] | None = None,
    *,
    status: int = 200,
) -> Response:
    try:
        values = _values(request, ctx, staff, election_id)
    except ElectionNotFoundError:
        return _refusal(request, 404, "Election not found", "There is no election at this address.")
    except DomainError as exc:  # a public election, or not this trustee's
        code = _status_of(exc)
        return _refusal(request, code, "Key ceremony", "This page is not available.", exc.detail)
    notice = NOTICES.get(request.query_params.get("fait", ""))
    values.update({"notice": notice, **(extra or {})})
    return render(request, "ballot/staff/ceremony.html", values, status_code=status)


@router.get("/{election_id}", response_class=HTMLResponse)
def ceremony_page(
    request: Request, election_id: str, ctx: Ctx, staff: TrusteeOrOfficer
) -> Response:
    return _page(request, ctx, staff, election_id)


async def _read(upload: UploadFile | None) -> object:
    if upload is None or not upload.filename:
        return None
    data: bytes = await upload.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        return None
    try:
        document: object = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return document


def _done(election_id: str, notice: str) -> Response:
    return RedirectResponse(f"{HOME}/{election_id}?{urlencode({'fait': notice})}", status_code=303)


async def _act(
    request: Request,
    *,
    ctx: AppContext,
    staff: Staff,
    election_id: str,
    csrf_token: str,
    notice: str,
    action: Any,
    role: Role,
) -> Response:
    refused = _csrf(request, csrf_token)
    if refused is not None:
        return refused
    if not staff.has(role):
        message = (
            "This action needs the trustee role."
            if role is Role.TRUSTEE
            else "This action needs the election officer role."
        )
        return _refusal(request, 403, "Access refused", message)

    def work() -> Response:
        try:
            action(service_from(ctx), staff)
        except ElectionNotFoundError:
            return _refusal(
                request, 404, "Election not found", "There is no election at this address."
            )
        except (DomainError, ForbiddenError) as exc:
            return _page(
                request, ctx, staff, election_id, {"error": exc.detail}, status=_status_of(exc)
            )
        return _done(election_id, notice)

    return await run_in_threadpool(work)


def _file_missing(_service: Any, _staff: Staff) -> None:
    """The action of a form sent without a readable JSON file: refused like a bad file."""
    raise InvalidCeremonyMessageError(
        f"choose the JSON file parvis-trustee wrote (at most {MAX_FILE_BYTES} bytes)"
    )


async def _act_on_file(
    request: Request,
    *,
    ctx: AppContext,
    staff: Staff,
    election_id: str,
    csrf_token: str,
    document: UploadFile | None,
    notice: str,
    role: Role,
    submit: Callable[[Any, Staff, object], None],
) -> Response:
    """:func:`_act` for a form that uploads a ``parvis-trustee`` file: ``submit(service,
    staff, document)`` once the file reads as JSON, else the refusal of a missing file."""
    data = await _read(document)

    def action(service: Any, who: Staff) -> None:
        if data is None:
            _file_missing(service, who)
        submit(service, who, data)

    return await _act(
        request,
        ctx=ctx,
        staff=staff,
        election_id=election_id,
        csrf_token=csrf_token,
        notice=notice,
        action=action,
        role=role,
    )


@router.post("/{election_id}/cle")
async def register_key(
    request: Request,
    *,
    election_id: str,
    ctx: Ctx,
    staff: TrusteeOrOfficer,
    static_key: Text = "",
    csrf_token: Text = "",
) -> Response:
    key = static_key.strip()

    def action(service: Any, who: Staff) -> None:
        service.register_static_key(election_id=election_id, staff=who, static_key=key)

    return await _act(
        request,
        ctx=ctx,
        staff=staff,
        election_id=election_id,
        csrf_token=csrf_token,
        notice="cle",
        action=action,
        role=Role.TRUSTEE,
    )


@router.post("/{election_id}/tour1")
async def upload_round1(
    request: Request,
    *,
    election_id: str,
    ctx: Ctx,
    staff: TrusteeOrOfficer,
    document: Upload = None,
    csrf_token: Text = "",
) -> Response:

    def submit(service: Any, who: Staff, data: object) -> None:
        service.submit_round1(election_id=election_id, staff=who, document=data)

    return await _act_on_file(
        request,
        ctx=ctx,
        staff=staff,
        election_id=election_id,
        csrf_token=csrf_token,
        document=document,
        notice="tour1",
        role=Role.TRUSTEE,
        submit=submit,
    )


@router.post("/{election_id}/signature")
async def upload_signature(
    request: Request,
    *,
    election_id: str,
    ctx: Ctx,
    staff: TrusteeOrOfficer,
    document: Upload = None,
    csrf_token: Text = "",
) -> Response:

    def submit(service: Any, who: Staff, data: object) -> None:
        service.submit_signature(election_id=election_id, staff=who, document=data)

    return await _act_on_file(
        request,
        ctx=ctx,
        staff=staff,
        election_id=election_id,
        csrf_token=csrf_token,
        document=document,
        notice="signature",
        role=Role.TRUSTEE,
        submit=submit,
    )


@router.post("/{election_id}/demarrer")
async def start(
    request: Request, election_id: str, ctx: Ctx, staff: TrusteeOrOfficer, csrf_token: Text = ""
) -> Response:
    def action(service: Any, who: Staff) -> None:
        service.start_ceremony(election_id=election_id, actor=who.audit_actor)

    return await _act(
        request,
        ctx=ctx,
        staff=staff,
        election_id=election_id,
        csrf_token=csrf_token,
        notice="demarre",
        action=action,
        role=Role.ELECTION_OFFICER,
    )


@router.post("/{election_id}/importer")
async def import_ceremony(
    request: Request,
    *,
    election_id: str,
    ctx: Ctx,
    staff: TrusteeOrOfficer,
    document: Upload = None,
    csrf_token: Text = "",
) -> Response:

    def submit(service: Any, who: Staff, data: object) -> None:
        service.import_ceremony(election_id=election_id, document=data, actor=who.audit_actor)

    return await _act_on_file(
        request,
        ctx=ctx,
        staff=staff,
        election_id=election_id,
        csrf_token=csrf_token,
        document=document,
        notice="importe",
        role=Role.ELECTION_OFFICER,
        submit=submit,
    )


@router.post("/{election_id}/nouvelle-tentative")
async def new_attempt(
    request: Request, election_id: str, ctx: Ctx, staff: TrusteeOrOfficer, csrf_token: Text = ""
) -> Response:
    def action(service: Any, who: Staff) -> None:
        service.new_attempt(election_id=election_id, actor=who.audit_actor)

    return await _act(
        request,
        ctx=ctx,
        staff=staff,
        election_id=election_id,
        csrf_token=csrf_token,
        notice="tentative",
        action=action,
        role=Role.ELECTION_OFFICER,
    )


@router.post("/{election_id}/dechiffrement")
async def upload_partials(
    request: Request,
    *,
    election_id: str,
    ctx: Ctx,
    staff: TrusteeOrOfficer,
    document: Upload = None,
    csrf_token: Text = "",
) -> Response:
    """A trustee's ``parvis-trustee decrypt`` output (docs/board-format.md §10.4): checked
    against its public share and the published sums, then appended; the threshold-th
    completes the tally."""

    def submit(service: Any, who: Staff, data: object) -> None:
        service.add_partial_decryption(
            election_id=election_id,
            document=data,
            actor=who.audit_actor,
            trustee=service.trustee_index(election_id=election_id, staff=who),
        )

    return await _act_on_file(
        request,
        ctx=ctx,
        staff=staff,
        election_id=election_id,
        csrf_token=csrf_token,
        document=document,
        notice="dechiffrement",
        role=Role.TRUSTEE,
        submit=submit,
    )
