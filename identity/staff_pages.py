"""Staff accounts in pages (docs/operations.md, "Staff accounts"): the administrators' list
(create, disable, enable, reset), the staff member's own account (password, second factor,
recovery codes), and the steps a sign-in with a one-time password must finish first.

**Before anything else.** A sign-in whose password is a one-time password, or whose second
factor is not enrolled, does not sign the staff member in: the session stays anonymous and
carries, sealed (:mod:`parvis.kernel.sessions`), only the account id and the steps left
(:data:`identity.pages.PENDING`). No staff page, API or guard accepts that session; the
change-password and enrolment pages below are the only ones that read it, and the staff
principal is written into a rotated session when the last step is done.

**Shown once.** One-time passwords and recovery codes are shown in the response that
creates them, with ``Cache-Control: no-store``, and kept nowhere in clear.

Adapters only: every form carries the session's CSRF token, every page works without
JavaScript, every change goes through :class:`identity.staff.StaffService` (audited there).
"""

from __future__ import annotations

from typing import Annotated, Any

import pyotp
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

import identity
from identity.errors import IdentityError, StaffAuthenticationError
from identity.pages import (
    ENROLMENT,
    PENDING,
    STAFF_LOGIN,
    _page,
    _redirect,
    forget_pending,
)
from identity.staff import ISSUER_NAME, MIN_PASSWORD_LENGTH, SignIn, qr_svg
from parvis.kernel import i18n
from parvis.kernel.context import AppContext
from parvis.kernel.principal import Anonymous, Role, Staff
from parvis.kernel.sessions import WebSession
from parvis.kernel.staffguard import safe_next, sign_in_url, staff_required
from parvis.kernel.web import check_csrf, get_ctx, page_language, start_session, web_session

__all__ = ["begin_pending", "landing_page", "pending_step", "router"]

router = APIRouter(prefix="/staff", include_in_schema=False)
CtxDep = Annotated[AppContext, Depends(get_ctx)]
StaffDep = Annotated[Staff, Depends(staff_required())]
AdminDep = Annotated[Staff, Depends(staff_required(Role.ADMIN, form_page="/staff/comptes"))]

ACCOUNTS = "/staff/comptes"
OWN_ACCOUNT = "/staff/compte"
ONE_TIME_CHANGE = "/staff/mot-de-passe"
ENROL = "/staff/double-facteur"

#: Where each role's work is, most specific duty first for a member holding several roles:
#: the administrator manages accounts, the DPO has the console, election officers (and, for
#: now, trustees and scrutineers) the elections, agents the desk.
LANDING: tuple[tuple[Role, str], ...] = (
    (Role.ADMIN, ACCOUNTS),
    (Role.DPO, "/dpo"),
    (Role.ELECTION_OFFICER, "/staff/scrutins"),
    (Role.AGENT, "/staff/guichet"),
    (Role.TRUSTEE, "/staff/scrutins"),
    (Role.SCRUTINEER, "/staff/scrutins"),
)

#: How the pages name each role (message ids).
ROLE_LABELS = {
    Role.ADMIN: "Administrator",
    Role.AGENT: "Desk agent",
    Role.DPO: "Data protection officer",
    Role.ELECTION_OFFICER: "Election officer",
    Role.TRUSTEE: "Trustee",
    Role.SCRUTINEER: "Scrutineer",
}

#: What the pages say for the service's refusals (message ids of the French catalogue); a
#: refusal not listed is shown as :data:`REFUSED`.
ERRORS = {
    "a staff account with this e-mail exists": "A staff account with this e-mail exists.",
    "not an e-mail address": "This is not an e-mail address.",
    "a staff member needs at least one role": "Choose at least one role.",
    f"passwords have at least {MIN_PASSWORD_LENGTH} characters": (
        "The password must have at least 12 characters."
    ),
    "passwords have at most 1024 characters": "The password is too long.",
    "the new password must differ from the current one": (
        "The new password must differ from the current one."
    ),
    "the current password is not correct": "The current password is not correct.",
    "you cannot disable your own account": "You cannot disable your own account.",
    "the last active administrator cannot be disabled": (
        "The last active administrator cannot be disabled."
    ),
    "change your own password on your account page": (
        "Change your own password on your account page."
    ),
    "this code does not match: scan the QR code again": (
        "This code does not match. Scan the QR code again and enter the code shown."
    ),
    "no staff account with this id or e-mail": "There is no such staff account.",
}
REFUSED = "The change was refused: check what you entered and try again."
MISMATCH = "The two new passwords differ."
QR_TITLE = "QR code for your authenticator app"


def _error(exc: IdentityError) -> str:
    return ERRORS.get(exc.detail or "", REFUSED)


def landing_page(staff: Staff) -> str:
    """The page with the staff member's work (docs/operations.md, "Staff accounts")."""
    for role, path in LANDING:
        if staff.has(role):
            return path
    return "/staff"


def _no_store(response: Response) -> Response:
    response.headers["cache-control"] = "no-store"
    return response


# -- an unfinished sign-in -----------------------------------------------------------------


def begin_pending(
    request: Request, ctx: AppContext, result: SignIn, target: str | None
) -> Response:
    """The sign-in succeeded but steps come first: an anonymous, rotated session carrying
    the account id and the steps, and a redirect to the first step."""
    response = _redirect(ONE_TIME_CHANGE if result.must_change_password else ENROL)
    session = start_session(request, response, Anonymous())
    forget_pending(session)
    session.extra[PENDING] = {
        "staff_id": result.principal.staff_id,
        "password": result.must_change_password,
        "totp": result.must_enrol,
        "tag": result.tag,
        "next": target or "",
    }
    with ctx.db.write_session() as db:
        ctx.sessions.save(db, session)
    return response


def _pending(request: Request, ctx: AppContext) -> tuple[WebSession, dict[str, Any]] | None:
    session = web_session(request, ctx)
    if session is None or not isinstance(session.principal, Anonymous):
        return None
    pending = session.extra.get(PENDING)
    if not isinstance(pending, dict) or not isinstance(pending.get("staff_id"), str):
        return None
    return session, pending


def _abandon(ctx: AppContext, session: WebSession) -> Response:
    """The account changed under an unfinished sign-in (reset, disabled, password changed
    elsewhere): forget it and start again at the sign-in page."""
    if forget_pending(session):
        with ctx.db.write_session() as db:
            ctx.sessions.save(db, session)
    return _redirect(STAFF_LOGIN)


def pending_step(request: Request, ctx: AppContext) -> str | None:
    """The page of the next unfinished step of this session's sign-in, if any."""
    found = _pending(request, ctx)
    if found is None:
        return None
    return ONE_TIME_CHANGE if found[1].get("password") else ENROL


def _finish(request: Request, ctx: AppContext, pending: dict[str, Any]) -> tuple[Response, str]:
    """Every step done: sign the staff member in (a rotated session with the principal).
    Returns a response holding the new session's cookie, and the page to continue to."""
    with ctx.db.read_session() as db:
        principal = identity.staff_service_from(ctx).principal(db, pending["staff_id"])
    holder = Response()
    session = start_session(request, holder, principal)
    forget_pending(session)
    with ctx.db.write_session() as db:
        ctx.sessions.save(db, session)
    return holder, safe_next(pending.get("next")) or landing_page(principal)


def _with_cookies(holder: Response, response: Response) -> Response:
    for key, value in holder.raw_headers:
        if key == b"set-cookie":
            response.raw_headers.append((key, value))
    return response


# -- forced change of a one-time password ------------------------------------------------


@router.get("/mot-de-passe", response_class=HTMLResponse)
def forced_password_page(request: Request, ctx: CtxDep) -> Response:
    found = _pending(request, ctx)
    if found is None or not found[1].get("password"):
        return _redirect(OWN_ACCOUNT if _signed_in(request, ctx) else STAFF_LOGIN)
    return _no_store(_page(request, "identity/staff_password.html", {"forced": True}))


def _signed_in(request: Request, ctx: AppContext) -> bool:
    session = web_session(request, ctx)
    return session is not None and isinstance(session.principal, Staff)


@router.post("/mot-de-passe")
def forced_password(
    request: Request,
    *,
    ctx: CtxDep,
    new_password: Annotated[str, Form(max_length=1024)],
    confirm_password: Annotated[str, Form(max_length=1024)],
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(request, csrf_token)
    found = _pending(request, ctx)
    if found is None or not found[1].get("password"):
        return _redirect(STAFF_LOGIN)
    session, pending = found
    if new_password != confirm_password:
        return _page(
            request, "identity/staff_password.html", {"forced": True, "error": MISMATCH}, status=422
        )
    try:
        with ctx.db.write_session() as db:
            pending["tag"] = identity.staff_service_from(ctx).change_password(
                db,
                pending["staff_id"],
                current=None,
                new=new_password,
                keep_session=session.id_hash,
                pending_tag=str(pending.get("tag", "")),
            )
    except StaffAuthenticationError:
        return _abandon(ctx, session)
    except IdentityError as exc:
        return _page(
            request,
            "identity/staff_password.html",
            {"forced": True, "error": _error(exc)},
            status=422,
        )
    pending["password"] = False
    if pending.get("totp"):
        session.extra[PENDING] = pending
        with ctx.db.write_session() as db:
            ctx.sessions.save(db, session)
        return _redirect(ENROL)
    holder, after = _finish(request, ctx, pending)
    return _with_cookies(holder, _redirect(after))


# -- enrolment of the second factor --------------------------------------------------------


def _enrolling(request: Request, ctx: AppContext) -> tuple[WebSession, str, dict[str, Any] | None]:
    """The session, account and unfinished sign-in (or None) enrolling: a signed-in staff
    member, or an unfinished sign-in whose password is already changed. Raises
    :class:`LookupError` for anyone else (the callers send them to the sign-in page)."""
    session = web_session(request, ctx)
    if session is not None and isinstance(session.principal, Staff):
        return session, session.principal.staff_id, None
    found = _pending(request, ctx)
    if found is not None and not found[1].get("password") and found[1].get("totp"):
        return found[0], found[1]["staff_id"], found[1]
    raise LookupError


def _totp_page(
    request: Request,
    ctx: AppContext,
    session: WebSession,
    *,
    secret: str,
    uri: str,
    error: str | None = None,
    status: int = 200,
) -> Response:
    """The QR code of ``uri`` and, for a phone that cannot scan, the secret in groups of
    four; the form asks for the password too unless this ends a sign-in."""
    lang = page_language(request, ctx.settings)
    title = i18n.catalog(lang).get(QR_TITLE, QR_TITLE)
    values = {
        # segno's SVG of our own URI, escaped by segno (the title included): markup to keep.
        "qr": Markup(qr_svg(uri, title=title)),  # noqa: S704
        "secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        "error": error,
        "first": PENDING in session.extra,
    }
    return _no_store(_page(request, "identity/staff_totp.html", values, status=status))


def _enrol_page(request: Request, ctx: AppContext, session: WebSession, staff_id: str) -> Response:
    """A new secret for each showing, kept sealed in the session until a code confirms it."""
    try:
        with ctx.db.read_session() as db:
            enrolment = identity.staff_service_from(ctx).begin_enrolment(db, staff_id)
    except StaffAuthenticationError:
        return _abandon(ctx, session)
    session.extra[ENROLMENT] = enrolment.secret
    with ctx.db.write_session() as db:
        ctx.sessions.save(db, session)
    return _totp_page(request, ctx, session, secret=enrolment.secret, uri=enrolment.uri)


@router.get("/double-facteur", response_class=HTMLResponse)
def enrol_page(request: Request, ctx: CtxDep) -> Response:
    try:
        session, staff_id, _pending_values = _enrolling(request, ctx)
    except LookupError:
        return _redirect(sign_in_url(ENROL))
    return _enrol_page(request, ctx, session, staff_id)


@router.post("/double-facteur")
def enrol(
    request: Request,
    *,
    ctx: CtxDep,
    code: Annotated[str, Form(max_length=16)],
    current_password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Confirm the secret shown with a code; a signed-in staff member also gives their
    password (a session left open must not let someone replace the second factor)."""
    check_csrf(request, csrf_token)
    try:
        session, staff_id, pending = _enrolling(request, ctx)
    except LookupError:
        return _redirect(STAFF_LOGIN)
    secret = session.extra.get(ENROLMENT)
    if not isinstance(secret, str):
        return _redirect(ENROL)
    try:
        with ctx.db.write_session() as db:
            codes = identity.staff_service_from(ctx).confirm_enrolment(
                db,
                staff_id,
                secret=secret,
                code=code,
                current=None if pending is not None else current_password,
                pending_tag=None if pending is None else str(pending.get("tag", "")),
            )
    except StaffAuthenticationError:
        return _abandon(ctx, session)
    except IdentityError as exc:
        return _enrol_again(
            request, ctx, session, staff_id=staff_id, secret=secret, error=_error(exc)
        )
    session.extra.pop(ENROLMENT, None)
    if pending is not None:
        holder, after = _finish(request, ctx, pending)
    else:
        with ctx.db.write_session() as db:
            ctx.sessions.save(db, session)
        holder, after = Response(), OWN_ACCOUNT
    response = _page(
        request,
        "identity/staff_recovery_codes.html",
        {"codes": codes, "after": after, "enrolled": True},
    )
    return _no_store(_with_cookies(holder, response))


def _enrol_again(
    request: Request,
    ctx: AppContext,
    session: WebSession,
    *,
    staff_id: str,
    secret: str,
    error: str,
) -> Response:
    """The same secret again after a refused code: the phone may already hold it."""
    with ctx.db.read_session() as db:
        email = identity.staff_service_from(ctx).find(db, staff_id).email
    uri = pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER_NAME)
    return _totp_page(request, ctx, session, secret=secret, uri=uri, error=error, status=422)


# -- the staff member's own account --------------------------------------------------------


def _own_values(ctx: AppContext, staff: Staff) -> dict[str, Any]:
    service = identity.staff_service_from(ctx)
    with ctx.db.read_session() as db:
        account = service.find(db, staff.staff_id)
        left = service.recovery_codes_left(db, staff.staff_id)
    return {"account": account, "codes_left": left, "role_labels": ROLE_LABELS}


@router.get("/compte", response_class=HTMLResponse)
def own_account(request: Request, ctx: CtxDep, staff: StaffDep) -> Response:
    notice = {"mot-de-passe": "Your password is changed."}.get(request.query_params.get("fait", ""))
    return _page(
        request, "identity/staff_account.html", {**_own_values(ctx, staff), "notice": notice}
    )


@router.post("/compte/mot-de-passe")
def change_own_password(
    request: Request,
    *,
    ctx: CtxDep,
    staff: Annotated[Staff, Depends(staff_required(form_page=OWN_ACCOUNT))],
    current_password: Annotated[str, Form(max_length=1024)],
    new_password: Annotated[str, Form(max_length=1024)],
    confirm_password: Annotated[str, Form(max_length=1024)],
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """A new password (the current one first); the account's other sessions end."""
    check_csrf(request, csrf_token)
    values = _own_values(ctx, staff)
    if new_password != confirm_password:
        return _page(
            request, "identity/staff_account.html", {**values, "error": MISMATCH}, status=422
        )
    session = web_session(request, ctx)
    try:
        with ctx.db.write_session() as db:
            identity.staff_service_from(ctx).change_password(
                db,
                staff.staff_id,
                current=current_password,
                new=new_password,
                keep_session=session.id_hash if session else None,
            )
    except IdentityError as exc:
        return _page(
            request, "identity/staff_account.html", {**values, "error": _error(exc)}, status=422
        )
    return _redirect(f"{OWN_ACCOUNT}?fait=mot-de-passe")


@router.post("/compte/codes-de-secours")
def new_recovery_codes(
    request: Request,
    *,
    ctx: CtxDep,
    staff: Annotated[Staff, Depends(staff_required(form_page=OWN_ACCOUNT))],
    current_password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Ten new recovery codes, shown once, after the password; the previous ones stop
    working."""
    check_csrf(request, csrf_token)
    try:
        with ctx.db.write_session() as db:
            codes = identity.staff_service_from(ctx).new_recovery_codes(
                db, staff.staff_id, current=current_password
            )
    except IdentityError as exc:
        values = _own_values(ctx, staff)
        return _page(
            request, "identity/staff_account.html", {**values, "error": _error(exc)}, status=422
        )
    return _no_store(
        _page(
            request,
            "identity/staff_recovery_codes.html",
            {"codes": codes, "after": OWN_ACCOUNT, "enrolled": False},
        )
    )


# -- administrators: every account -----------------------------------------------------------


def _accounts_page(
    request: Request,
    ctx: AppContext,
    staff: Staff,
    extra: dict[str, Any] | None = None,
    *,
    status: int = 200,
) -> Response:
    with ctx.db.read_session() as db:
        accounts = identity.staff_service_from(ctx).accounts(db)
    values = {
        "accounts": accounts,
        "roles": list(Role),
        "role_labels": ROLE_LABELS,
        "me": staff.staff_id,
        **(extra or {}),
    }
    response = _page(request, "identity/staff_accounts.html", values, status=status)
    return _no_store(response) if extra and extra.get("one_time") else response


@router.get("/comptes", response_class=HTMLResponse)
def accounts_page(request: Request, ctx: CtxDep, staff: AdminDep) -> Response:
    notice = {
        "desactive": "The account is disabled and its sessions are ended.",
        "active": "The account is enabled.",
    }.get(request.query_params.get("fait", ""))
    return _accounts_page(request, ctx, staff, {"notice": notice})


@router.post("/comptes")
def create_account(
    request: Request,
    *,
    ctx: CtxDep,
    staff: AdminDep,
    email: Annotated[str, Form(max_length=254)],
    roles: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies form defaults
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """A new account with a one-time password, shown once; the staff member enrols the
    second factor with the QR code at the first sign-in."""
    check_csrf(request, csrf_token)
    try:
        chosen = frozenset(Role(r) for r in roles)
    except ValueError:
        return _accounts_page(request, ctx, staff, {"error": REFUSED}, status=422)
    try:
        with ctx.db.write_session() as db:
            created = identity.staff_service_from(ctx).create(
                db,
                email=email,
                roles=chosen,
                actor=staff.audit_actor,
                enrolled=False,
                one_time=True,
            )
    except IdentityError as exc:
        return _accounts_page(request, ctx, staff, {"error": _error(exc)}, status=422)
    return _accounts_page(
        request,
        ctx,
        staff,
        {
            "notice": "The account is created. Give its one-time password to its holder.",
            "one_time": {"email": created.email, "password": created.password},
        },
        status=201,
    )


@router.post("/comptes/{staff_id}/desactiver")
def disable_account(
    request: Request,
    staff_id: str,
    *,
    ctx: CtxDep,
    staff: AdminDep,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Disable: no more sign-in, every session of the account ends at once."""
    return _set_active(request, ctx, staff, staff_id, csrf_token, active=False)


@router.post("/comptes/{staff_id}/activer")
def enable_account(
    request: Request,
    staff_id: str,
    *,
    ctx: CtxDep,
    staff: AdminDep,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    return _set_active(request, ctx, staff, staff_id, csrf_token, active=True)


def _set_active(
    request: Request, ctx: AppContext, staff: Staff, staff_id: str, token: str, *, active: bool
) -> Response:
    check_csrf(request, token)
    try:
        with ctx.db.write_session() as db:
            identity.staff_service_from(ctx).set_active(
                db, staff_id, active=active, actor=staff.audit_actor
            )
    except IdentityError as exc:
        status = 404 if exc.detail == "no staff account with this id or e-mail" else 409
        return _accounts_page(request, ctx, staff, {"error": _error(exc)}, status=status)
    return _redirect(f"{ACCOUNTS}?fait={'active' if active else 'desactive'}")


@router.post("/comptes/{staff_id}/reinitialiser")
def reset_account(
    request: Request,
    staff_id: str,
    *,
    ctx: CtxDep,
    staff: AdminDep,
    second_factor: Annotated[bool, Form()] = False,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """A one-time password (shown once) that the next sign-in must change; the account's
    sessions end; with ``second_factor`` the next sign-in enrols a new one."""
    check_csrf(request, csrf_token)
    try:
        with ctx.db.write_session() as db:
            reset = identity.staff_service_from(ctx).reset(
                db, staff_id, actor=staff.audit_actor, second_factor=second_factor
            )
    except IdentityError as exc:
        status = 404 if exc.detail == "no staff account with this id or e-mail" else 409
        return _accounts_page(request, ctx, staff, {"error": _error(exc)}, status=status)
    return _accounts_page(
        request,
        ctx,
        staff,
        {
            "notice": "The account is reset. Give its one-time password to its holder.",
            "one_time": {
                "email": reset.email,
                "password": reset.password,
                "expires_at": reset.expires_at,
            },
        },
    )
