"""HTML pages of the identity domain: FranceConnect sign-in and sign-out, the citizen's
eligibility page, staff sign-in, territories, rules, census imports, letters and the agent desk.

Adapters only: parse the form, call the service, render. Every form carries the session's
CSRF token (``csrf_token``) and works without JavaScript. FranceConnect failures are shown as
a page that says what happened and what to do, never as a stack trace or JSON.
"""

from __future__ import annotations

import hmac
import json
import secrets
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

import identity
from identity.census import CensusFileError, decode_census
from identity.eligibility import Evidence, Reason, Rule, Territory
from identity.errors import (
    FranceConnectError,
    FranceConnectRefusedError,
    IdentityError,
    IssuanceCitizenMismatchError,
    ProviderUnavailableError,
    StaffAuthenticationError,
    StateMismatchError,
)
from identity.franceconnect import ACR_ORDER
from identity.tables import PostalCodeRow
from parvis.kernel.context import AppContext
from parvis.kernel.keys import derive_key
from parvis.kernel.principal import Anonymous, Citizen, Principal, Role, Staff
from parvis.kernel.ratelimit import SharedRateLimiter
from parvis.kernel.sessions import WebSession
from parvis.kernel.signin_state import KEY_PURPOSE as SIGN_IN_STATE_KEY
from parvis.kernel.signin_state import LIFETIME as SIGN_IN_LIFETIME
from parvis.kernel.signin_state import SignInStateSealer
from parvis.kernel.signin_state import cookie_name as sign_in_cookie_name
from parvis.kernel.staffguard import STAFF_SIGN_IN, safe_next, staff_required
from parvis.kernel.web import (
    check_csrf,
    current_principal,
    ensure_session,
    get_ctx,
    page_language,
    render,
    start_session,
    web_session,
)

__all__ = [
    "SESSION_ACR",
    "citizen_router",
    "safe_next",
    "session_acr",
    "staff_router",
]

citizen_router = APIRouter(include_in_schema=False)
staff_router = APIRouter(prefix="/staff", include_in_schema=False)

#: Staff sign-in attempts per client address and minute (the per-account lockout is separate).
STAFF_LOGIN_ATTEMPTS_PER_MINUTE = 20


def staff_login_limiter(ctx: AppContext) -> SharedRateLimiter:
    """Sign-in attempts per client address, counted in the database for every worker and
    host (ADR 0014). The address is the peer's, or the one a trusted proxy forwarded
    (``PARVIS_TRUSTED_PROXIES``); it slows one client trying many accounts, beside the
    per-account lockout of :mod:`identity.staff`."""
    return ctx.extension(
        "identity.staff_login_limit",
        lambda c: SharedRateLimiter.create(
            db=c.db,
            clock=c.clock,
            master_secret=c.settings.secret_key,
            scope="identity.staff-login",
            limit=STAFF_LOGIN_ATTEMPTS_PER_MINUTE,
            window=60,
        ),
    )


CtxDep = Annotated[AppContext, Depends(get_ctx)]
PrincipalDep = Annotated[Principal, Depends(current_principal)]

#: What the citizen reads for each FranceConnect failure (message ids, translated).
FC_MESSAGES = {
    "access_denied": "You cancelled the sign-in at FranceConnect. You can try again.",
    "state": "This sign-in request has expired or did not start in this browser. Please "
    "start again.",
    "unavailable": "FranceConnect is not answering properly right now. Please try again in a "
    "few minutes.",
    "claims": "FranceConnect did not send the identity details Parvis needs (name, first "
    "names, date and place of birth). Contact your town hall.",
    "duplicate": "This identity is already linked to another Parvis account. Contact your "
    "town hall.",
    "rejected": "FranceConnect's answer could not be verified, so you were not signed in. "
    "Please try again.",
    "refused": "FranceConnect refused the sign-in request. Please try again later.",
    "other_citizen": "FranceConnect authenticated another person than the one signed in here: "
    "no voting right was issued. Sign in again as yourself.",
}

#: What to do, per reason a citizen is not eligible.
NEXT_STEPS = {
    Reason.BIRTHDATE_UNKNOWN: "Your date of birth is unknown: sign in again with FranceConnect.",
    Reason.TOO_YOUNG: "You are below the minimum age on the reference date of this vote.",
    Reason.TOO_OLD: "You are above the maximum age on the reference date of this vote.",
    Reason.ASSURANCE_TOO_LOW: "This vote needs a stronger FranceConnect sign-in.",
    Reason.NO_RESIDENCY_EVIDENCE: "We have no proof that you live in the territory: ask for "
    "a letter with a code below, or go to the town hall desk.",
    Reason.OUTSIDE_TERRITORY: "Your proof of residence is for a commune outside this territory.",
    Reason.COG_VINTAGE_MISMATCH: "The territory's list of communes changed since your proof "
    "of residence was recorded: please prove your residence again.",
    Reason.EVIDENCE_NOT_ACCEPTED: "This vote does not accept the kind of proof of residence "
    "you gave: ask for a letter with a code, or go to the town hall desk.",
    Reason.EVIDENCE_EXPIRED: "Your proof of residence has expired: please prove it again.",
    Reason.ELECTORAL_ROLL_REQUIRED: "This consultation is open to registered voters only; you "
    "were not found on the electoral roll.",
    Reason.PAPER_VOTE_RECORDED: "You already voted on paper for this vote.",
}


#: The citizen's account forms (residence proofs) refused: the service's detail, which is
#: English and written for developers, to a message id of the French catalogue that says
#: what to do (architecture.md, "Web": French first). Keyed by the service's detail text;
#: a refusal not listed here gets :data:`ACCOUNT_REFUSED`, never the English detail.
ACCOUNT_ERRORS = {
    "no such territory": "This territory does not exist: choose one from the list.",
    "this commune is not in the territory": (
        "This commune is not in the territory you chose: check its INSEE code."
    ),
    "the address must be 5 to 300 characters": (
        "The postal address must be between 5 and 300 characters long."
    ),
    "no letter is waiting for a code; request a new one": (
        "No letter with a code is waiting for you: request a new one."
    ),
    "this code has expired; request a new letter": ("This code has expired: request a new letter."),
    "too many wrong codes; request a new letter": (
        "Too many wrong codes: this letter can no longer be used. Request a new letter."
    ),
    "the code does not match": "This is not the code printed on your letter.",
}
ACCOUNT_REFUSED = "Your request could not be recorded: check what you entered and try again."


def _account_error(exc: IdentityError) -> str:
    return ACCOUNT_ERRORS.get(exc.detail or "", ACCOUNT_REFUSED)


def _page(
    request: Request,
    template: str,
    values: dict[str, Any] | None = None,
    *,
    status: int = 200,
    form: bool = True,
) -> Response:
    """Render with a session (for the CSRF token), sending its cookie when new.

    A page without a form (``form=False``) uses the caller's session if there is one and
    creates none: an anonymous visit then writes no database row.
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


def _redirect(url: str, *, form_target: str | None = None) -> RedirectResponse:
    response = RedirectResponse(url, status_code=303)
    if form_target:
        # A form posted here is redirected to FranceConnect: form-action must allow it
        # (browsers check form-action on redirects too).
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(form_target))
        response.headers["content-security-policy"] = (
            f"default-src 'none'; form-action 'self' {origin}; frame-ancestors 'none'"
        )
    return response


# -- FranceConnect sign-in and sign-out ----------------------------------------------------


@citizen_router.get("/connexion", response_class=HTMLResponse)
def sign_in_page(request: Request, ctx: CtxDep) -> Response:
    return _page(
        request, "identity/sign_in.html", {"sandbox": bool(ctx.settings.fc_sandbox)}, form=False
    )


def _sign_in_state(ctx: AppContext) -> SignInStateSealer:
    return ctx.extension(
        "identity.sign_in_state",
        lambda c: SignInStateSealer(
            key=derive_key(c.settings.sealing_secret, SIGN_IN_STATE_KEY), clock=c.clock
        ),
    )


def _set_sign_in_state(response: Response, ctx: AppContext, values: dict[str, str]) -> None:
    secure = ctx.settings.secure_cookies
    response.set_cookie(
        sign_in_cookie_name(secure=secure),
        _sign_in_state(ctx).seal(values),
        max_age=int(SIGN_IN_LIFETIME.total_seconds()),
        path="/",
        secure=secure,
        httponly=True,
        # Lax: FranceConnect sends the browser back with a top-level GET from its origin.
        samesite="lax",
    )


def _forget_sign_in_state(response: Response, ctx: AppContext) -> None:
    secure = ctx.settings.secure_cookies
    response.delete_cookie(
        sign_in_cookie_name(secure=secure), path="/", secure=secure, httponly=True, samesite="lax"
    )


@citizen_router.get("/auth/franceconnect/login")
def franceconnect_login(request: Request, ctx: CtxDep) -> Response:
    """Start a sign-in: ``state`` and ``nonce`` go to the browser in a sealed cookie
    (:mod:`parvis.kernel.signin_state`), not to a session row."""
    try:
        auth = identity.franceconnect_client(ctx).begin(
            prompt="login" if request.query_params.get("again") else None
        )
    except FranceConnectError as exc:
        return _fc_error(request, exc)
    response = _redirect(auth.url)
    _set_sign_in_state(response, ctx, {"state": auth.state, "nonce": auth.nonce})
    return response


def _fc_error(request: Request, exc: IdentityError) -> Response:
    if isinstance(exc, FranceConnectRefusedError):
        key = "access_denied" if exc.error == "access_denied" else "refused"
        status = 401
    elif isinstance(exc, StateMismatchError):
        key, status = "state", 400
    elif isinstance(exc, ProviderUnavailableError):
        key, status = "unavailable", 502
    elif isinstance(exc, IssuanceCitizenMismatchError):
        key, status = "other_citizen", 403
    elif isinstance(exc, FranceConnectError) and exc.reason.startswith("claim"):
        key, status = "claims", 422
    elif isinstance(exc, FranceConnectError):
        key, status = "rejected", 401
    else:
        key, status = "duplicate", 409
    code = getattr(exc, "reason", "duplicate")
    return _page(
        request,
        "identity/fc_error.html",
        {"message": FC_MESSAGES[key], "code": code, "kind": key},
        status=status,
        form=False,
    )


def _local(target: object) -> str | None:
    """A same-origin path to continue to after sign-in/out (the OpenID provider sets it);
    anything else is ignored — the same rules as the staff ``next`` (:func:`safe_next`:
    ``//host``, ``/\\host``, control characters and schemes are refused)."""
    return safe_next(target)


#: The web session's record of the ``acr`` FranceConnect returned for *this* sign-in (an
#: eIDAS level, franceconnect.md "ID token claims"). The citizen record keeps the level of
#: the latest sign-in on any device; a session vouches only for its own authentication
#: (OpenID Connect Core §2: ``acr`` is the class "that the authentication performed
#: satisfied"), so the OpenID provider reads it from here (:func:`session_acr`).
SESSION_ACR = "fc_acr"


def session_acr(session: WebSession) -> str | None:
    """The eIDAS level of this session's FranceConnect sign-in, or None (a session signed
    in otherwise, or before the level was recorded in sessions)."""
    if not isinstance(session.principal, Citizen):
        return None
    value = session.extra.get(SESSION_ACR)
    return value if isinstance(value, str) and value in ACR_ORDER else None


#: The web session's key for the FranceConnect authentication of an issuance in progress
#: (ballot-secrecy.md §3): JSON ``{"nonce", "id_token", "jwk"}``, consumed by the token
#: request whose blinded message the nonce binds (:func:`take_issuance_authentication`).
SESSION_ISSUANCE = "fc_issuance"
#: The sign-in-state value that marks an issuance's round trip (not a sign-in).
ISSUANCE_PURPOSE = "issuance"


def issuance_authorization(
    ctx: AppContext, response: Response, *, nonce: str, return_to: str
) -> str:
    """Where to send the booth for the FranceConnect authentication of one issuance, its
    ``state`` and ``nonce`` sealed in the sign-in cookie set on ``response``
    (ballot-secrecy.md §3). No ``prompt``: FranceConnect's single sign-on makes the round
    trip a pair of redirects while its session lasts (franceconnect.md, "Lifetimes")."""
    auth = identity.franceconnect_client(ctx).begin(nonce=nonce)
    _set_sign_in_state(
        response,
        ctx,
        {
            "state": auth.state,
            "nonce": auth.nonce,
            "purpose": ISSUANCE_PURPOSE,
            "return_to": _local(return_to) or "/scrutins",
        },
    )
    return auth.url


def take_issuance_authentication(
    ctx: AppContext, session: WebSession | None, *, nonce: str
) -> tuple[str, dict[str, Any]] | None:
    """The verified ID token and signing key of this session's issuance authentication
    when its nonce is ``nonce``; removed from the session either way (single use)."""
    if session is None or SESSION_ISSUANCE not in session.extra:
        return None
    raw = session.extra.pop(SESSION_ISSUANCE)
    with ctx.db.write_session() as db:
        ctx.sessions.save(db, session)
    kept = json.loads(raw) if isinstance(raw, str) else None
    if not isinstance(kept, dict) or not hmac.compare_digest(
        str(kept.get("nonce", "")).encode(), nonce.encode()
    ):
        return None
    return str(kept["id_token"]), dict(kept["jwk"])


def _issuance_callback(
    request: Request, ctx: AppContext, session: WebSession | None, pending: dict[str, str]
) -> Response:
    """The FranceConnect callback of an issuance (ballot-secrecy.md §3): the ID token is
    verified as at sign-in (signature, ``iss``, ``aud``, ``exp``, ``acr``, and the nonce
    that binds the election and the blinded message); its ``sub`` must be the signed-in
    citizen's. Nothing is written but the session's note of the verified token: no sign-in
    row, no audit event — the register entry written with the token is the record."""
    client = identity.franceconnect_client(ctx)
    try:
        if session is None or not isinstance(session.principal, Citizen):
            raise IssuanceCitizenMismatchError(
                "no citizen is signed in in this browser", reason="issuance:no-session"
            )
        result = client.finish(
            dict(request.query_params), state=pending["state"], nonce=pending["nonce"]
        )
        with ctx.db.read_session() as db:
            owner = identity.service_from(ctx).citizen_for_sub(db, sub=result.sub)
        if owner is None or not hmac.compare_digest(
            owner.encode(), session.principal.pseudonym.encode()
        ):
            raise IssuanceCitizenMismatchError(
                "FranceConnect authenticated another citizen", reason="issuance:other-citizen"
            )
        jwk = client.signing_jwk(result.id_token)
    except IdentityError as exc:
        failed = _fc_error(request, exc)
        _forget_sign_in_state(failed, ctx)
        return failed
    session.extra[SESSION_ISSUANCE] = json.dumps(
        {"nonce": pending["nonce"], "id_token": result.id_token, "jwk": jwk}
    )
    with ctx.db.write_session() as db:
        ctx.sessions.save(db, session)
    response = _redirect(_local(pending.get("return_to")) or "/scrutins")
    _forget_sign_in_state(response, ctx)
    return response


@citizen_router.get("/auth/franceconnect/callback")
def franceconnect_callback(request: Request, ctx: CtxDep) -> Response:
    session = web_session(request, ctx)
    extra = session.extra if session is not None else {}
    pending = _sign_in_state(ctx).open(
        request.cookies.get(sign_in_cookie_name(secure=ctx.settings.secure_cookies))
    )
    if pending and pending.get("purpose") == ISSUANCE_PURPOSE:
        return _issuance_callback(request, ctx, session, pending)
    state, nonce = (pending["state"], pending["nonce"]) if pending else ("", "")
    client = identity.franceconnect_client(ctx)
    try:
        result = client.finish(dict(request.query_params), state=state, nonce=nonce)
        with ctx.db.write_session() as db:
            pseudonym = identity.service_from(ctx).sign_in_citizen(
                db, sub=result.sub, acr=result.acr, pivot=result.pivot
            )
    except IdentityError as exc:
        failed = _fc_error(request, exc)
        # A state is single use, whatever the outcome.
        _forget_sign_in_state(failed, ctx)
        return failed
    response = _redirect(_local(extra.get("after_sign_in")) or "/mon-compte")
    _forget_sign_in_state(response, ctx)
    new = start_session(request, response, Citizen(pseudonym))
    new.extra.pop("after_sign_in", None)
    new.extra["fc_id_token"] = result.id_token
    new.extra[SESSION_ACR] = result.acr
    with ctx.db.write_session() as db:
        ctx.sessions.save(db, new)
    return response


@citizen_router.post("/auth/logout")
def sign_out(request: Request, ctx: CtxDep, csrf_token: Annotated[str, Form()] = "") -> Response:
    """Sign out locally, then at FranceConnect through ``/session/end`` when signed in
    with it (franceconnect.md: all three parameters required)."""
    check_csrf(request, csrf_token)
    session = web_session(request, ctx)
    id_token = str(session.extra.get("fc_id_token", "")) if session else ""
    if id_token:
        state = secrets.token_urlsafe(32)
        url = identity.franceconnect_client(ctx).logout_url(id_token=id_token, state=state)
        response = _redirect(url, form_target=url)
    else:
        response = _redirect("/")
    new = start_session(request, response, Anonymous())
    new.extra.pop("fc_id_token", None)
    new.extra.pop(SESSION_ACR, None)
    if id_token:
        new.extra["fc_logout_state"] = state
    with ctx.db.write_session() as db:
        if session is not None and isinstance(session.principal, Citizen):
            # ADR 0008: attributes held for this sign-in go with it (a grant's stay).
            identity.service_from(ctx).forget_sign_in_attributes(db, session.principal.pseudonym)
        ctx.sessions.save(db, new)
    return response


@citizen_router.get("/auth/franceconnect/logged-out", response_class=HTMLResponse)
def logged_out(request: Request, ctx: CtxDep) -> Response:
    session = web_session(request, ctx)
    expected = str(session.extra.get("fc_logout_state", "")) if session else ""
    returned = request.query_params.get("state", "")
    confirmed = bool(expected) and secrets.compare_digest(expected, returned)
    if session is not None and confirmed:
        session.extra.pop("fc_logout_state", None)
        after = _local(session.extra.pop("after_sign_out", None))
        with ctx.db.write_session() as db:
            ctx.sessions.save(db, session)
        if after:
            return _redirect(after)
    return _page(request, "identity/logged_out.html", {"confirmed": confirmed}, form=False)


# -- the citizen's page --------------------------------------------------------------------


def _account_values(ctx: AppContext, pseudonym: str) -> dict[str, Any]:
    service = identity.service_from(ctx)
    with ctx.db.write_session() as db:
        territories = service.territories(db)
        rules = service.rules(db)
        decisions = [
            (rule, service.eligibility(db, citizen_pseudonym=pseudonym, rule_id=rule.id))
            for rule in rules
        ]
        letter: PostalCodeRow | None = service.postal_status(db, pseudonym)
        letter_status = letter.status if letter is not None else None
        letter_exported = letter is not None and letter.exported_at is not None
    return {
        "decisions": decisions,
        "territories": list(territories.values()),
        "next_steps": NEXT_STEPS,
        "letter_status": letter_status,
        "letter_exported": letter_exported,
        "self_declaration_territories": sorted(
            {r.territory_id for r in rules if Evidence.SELF_DECLARATION in r.accepted_evidence}
        ),
        # ballot-secrecy.md §3: the citizen sees every right issued in their name, by day.
        "voting_rights": identity.voting_rights_of(ctx, pseudonym),
    }


def _account(
    request: Request,
    ctx: CtxDep,
    principal: Principal,
    extra: dict[str, Any] | None = None,
    *,
    status: int = 200,
) -> Response:
    if not isinstance(principal, Citizen):
        return _redirect("/connexion")
    values = _account_values(ctx, principal.pseudonym)
    values.update(extra or {})
    return _page(request, "identity/account.html", values, status=status)


@citizen_router.get("/mon-compte", response_class=HTMLResponse)
def account(request: Request, ctx: CtxDep, principal: PrincipalDep) -> Response:
    return _account(request, ctx, principal)


def _citizen_form(
    request: Request, ctx: CtxDep, principal: Principal, csrf_token: str
) -> Citizen | Response:
    check_csrf(request, csrf_token)
    if not isinstance(principal, Citizen):
        return _redirect("/connexion")
    return principal


@citizen_router.post("/mon-compte/declaration")
def self_declaration(
    request: Request,
    *,
    ctx: CtxDep,
    principal: PrincipalDep,
    territory: Annotated[str, Form()],
    commune: Annotated[str, Form()],
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    citizen = _citizen_form(request, ctx, principal, csrf_token)
    if isinstance(citizen, Response):
        return citizen
    try:
        with ctx.db.write_session() as db:
            identity.service_from(ctx).self_declare(
                db,
                citizen_id=citizen.pseudonym,
                territory_id=territory,
                commune_code=commune.strip().upper(),
            )
    except IdentityError as exc:
        return _account(request, ctx, principal, {"error": _account_error(exc)}, status=422)
    return _account(request, ctx, principal, {"notice": "Your declaration is recorded."})


@citizen_router.post("/mon-compte/courrier")
def request_letter(
    request: Request,
    *,
    ctx: CtxDep,
    principal: PrincipalDep,
    territory: Annotated[str, Form()],
    commune: Annotated[str, Form()],
    address: Annotated[str, Form()],
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    citizen = _citizen_form(request, ctx, principal, csrf_token)
    if isinstance(citizen, Response):
        return citizen
    try:
        with ctx.db.write_session() as db:
            identity.service_from(ctx).request_postal_code(
                db,
                citizen_id=citizen.pseudonym,
                territory_id=territory,
                commune_code=commune.strip().upper(),
                address=address,
            )
    except IdentityError as exc:
        return _account(request, ctx, principal, {"error": _account_error(exc)}, status=422)
    return _account(
        request, ctx, principal, {"notice": "A letter with a code will be sent to your address."}
    )


@citizen_router.post("/mon-compte/code")
def enter_code(
    request: Request,
    ctx: CtxDep,
    principal: PrincipalDep,
    code: Annotated[str, Form()],
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    citizen = _citizen_form(request, ctx, principal, csrf_token)
    if isinstance(citizen, Response):
        return citizen
    try:
        identity.service_from(ctx).verify_postal_code(citizen_id=citizen.pseudonym, code=code)
    except IdentityError as exc:
        values: dict[str, Any] = {"error": _account_error(exc)}
        if hasattr(exc, "attempts_left"):
            values["attempts_left"] = exc.attempts_left
        return _account(request, ctx, principal, values, status=422)
    return _account(
        request, ctx, principal, {"notice": "Your code is correct: your residence is confirmed."}
    )


@citizen_router.post("/mon-compte/code-guichet")
def desk_code(
    request: Request,
    ctx: CtxDep,
    principal: PrincipalDep,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    citizen = _citizen_form(request, ctx, principal, csrf_token)
    if isinstance(citizen, Response):
        return citizen
    with ctx.db.write_session() as db:
        code = identity.service_from(ctx).new_desk_code(db, citizen_id=citizen.pseudonym)
    return _account(request, ctx, principal, {"desk_code": code})


# -- staff -----------------------------------------------------------------------------------

STAFF_LOGIN = STAFF_SIGN_IN


def _staff_login_form(
    request: Request, ctx: AppContext, values: dict[str, Any], *, status: int = 200
) -> Response:
    """The staff sign-in form. Its CSRF token (login CSRF: OWASP CSRF Prevention Cheat Sheet,
    "Login CSRF") is the session's when the browser has one; otherwise a random token kept
    in the browser's sealed sign-in cookie (:mod:`parvis.kernel.signin_state`), so that an
    anonymous visit writes no session row."""
    if web_session(request, ctx) is not None:
        return _page(request, "identity/staff_login.html", values, status=status)
    cookie = sign_in_cookie_name(secure=ctx.settings.secure_cookies)
    sealer = _sign_in_state(ctx)
    pending = sealer.open(request.cookies.get(cookie)) or {}
    token = pending.get("csrf") or secrets.token_urlsafe(24)
    response = render(
        request, "identity/staff_login.html", {**values, "csrf_token": token}, status_code=status
    )
    _set_sign_in_state(response, ctx, {**pending, "csrf": token})
    return response


def _check_staff_login_csrf(request: Request, ctx: AppContext, submitted: str) -> None:
    """The session's CSRF token, or the one :func:`_staff_login_form` sealed in the cookie."""
    if web_session(request, ctx) is not None:
        check_csrf(request, submitted)
        return
    pending = _sign_in_state(ctx).open(
        request.cookies.get(sign_in_cookie_name(secure=ctx.settings.secure_cookies))
    )
    expected = (pending or {}).get("csrf", "")
    if not (expected and submitted and secrets.compare_digest(expected, submitted)):
        check_csrf(request, None)  # raises the kernel's CSRF error


#: Keys of a session's sealed ``extra`` that belong to an unfinished staff sign-in (the
#: forced password change and the second factor's enrolment, :mod:`identity.staff_pages`).
PENDING = "staff_pending"
ENROLMENT = "staff_totp_enrolment"


def forget_pending(session: WebSession) -> bool:
    """Drop an unfinished staff sign-in from ``session`` (a new sign-in, a sign-out, its
    completion); True if there was one (the caller saves the session)."""
    found = [key for key in (PENDING, ENROLMENT) if key in session.extra]
    for key in found:
        session.extra.pop(key)
    return bool(found)


@staff_router.get("/login", response_class=HTMLResponse)
def staff_login_page(request: Request, ctx: CtxDep) -> Response:
    from identity.staff_pages import pending_step

    step = pending_step(request, ctx)
    if step is not None:
        # Signed in with a one-time password, steps unfinished: they come first.
        return _redirect(step)
    return _staff_login_form(request, ctx, {"next": safe_next(request.query_params.get("next"))})


@staff_router.post("/login")
def staff_login(
    request: Request,
    *,
    ctx: CtxDep,
    email: Annotated[str, Form(max_length=254)],
    password: Annotated[str, Form(max_length=1024)],
    code: Annotated[str, Form(max_length=16)] = "",
    csrf_token: Annotated[str, Form()] = "",
    next_path: Annotated[str, Form(alias="next")] = "",
) -> Response:
    """Password and second factor; then the page of the staff member's work
    (:func:`identity.staff_pages.landing_page`) or ``next``. An account with a one-time
    password or no second factor yet is not signed in: the session only carries what the
    forced steps need (:func:`identity.staff_pages.begin_pending`)."""
    from identity.staff_pages import begin_pending, landing_page

    _check_staff_login_csrf(request, ctx, csrf_token)
    target = safe_next(next_path)
    client = request.client.host if request.client else "unknown"
    if not staff_login_limiter(ctx).allow(client):
        return _staff_login_form(
            request,
            ctx,
            {
                "error": "Too many attempts from this device. Wait a minute and try again.",
                "next": target,
            },
            status=429,
        )
    try:
        result = identity.staff_service_from(ctx).sign_in(email=email, password=password, code=code)
    except StaffAuthenticationError as exc:
        return _staff_login_form(request, ctx, {"error": exc.detail, "next": target}, status=401)
    if result.pending:
        return begin_pending(request, ctx, result, target)
    response = _redirect(target or landing_page(result.principal))
    new = start_session(request, response, result.principal)
    if forget_pending(new):
        with ctx.db.write_session() as db:
            ctx.sessions.save(db, new)
    return response


@staff_router.post("/logout")
def staff_logout(
    request: Request, ctx: CtxDep, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    check_csrf(request, csrf_token)
    response = _redirect(STAFF_LOGIN)
    new = start_session(request, response, Anonymous())
    if forget_pending(new):
        with ctx.db.write_session() as db:
            ctx.sessions.save(db, new)
    return response


StaffDep = Annotated[Staff, Depends(staff_required())]


@staff_router.get("", response_class=HTMLResponse)
def staff_home(request: Request, staff: StaffDep) -> Response:
    return _page(request, "identity/staff_home.html", {"staff": staff, "Role": Role})


def _admin_values(ctx: AppContext) -> dict[str, Any]:
    service = identity.service_from(ctx)
    with ctx.db.read_session() as db:
        return {
            "territories": list(service.territories(db).values()),
            "rules": service.rules(db),
            "imports": service.census_imports(db),
            "evidence_kinds": list(Evidence),
        }


def _admin_page(
    request: Request,
    ctx: AppContext,
    template: str,
    extra: dict[str, Any] | None = None,
    *,
    status: int = 200,
) -> Response:
    values = _admin_values(ctx)
    values.update(extra or {})
    return _page(request, template, values, status=status)


AdminDep = Annotated[Staff, Depends(staff_required(Role.ADMIN))]
RulesDep = Annotated[Staff, Depends(staff_required(Role.ADMIN, Role.ELECTION_OFFICER))]
AgentDep = Annotated[Staff, Depends(staff_required(Role.AGENT, Role.ADMIN))]
#: The desk's forms post to paths without a page of their own: back to the desk.
DeskFormDep = Annotated[
    Staff, Depends(staff_required(Role.AGENT, Role.ADMIN, form_page="/staff/guichet"))
]


@staff_router.get("/territoires", response_class=HTMLResponse)
def territories_page(request: Request, ctx: CtxDep, staff: AdminDep) -> Response:
    return _admin_page(request, ctx, "identity/staff_territories.html")


@staff_router.post("/territoires")
def save_territory(
    request: Request,
    *,
    ctx: CtxDep,
    staff: AdminDep,
    territory_id: Annotated[str, Form()],
    name: Annotated[str, Form()],
    cog_vintage: Annotated[int, Form()],
    communes: Annotated[str, Form()],
    parent_id: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(request, csrf_token)
    try:
        territory = Territory(
            id=territory_id.strip(),
            name=name.strip(),
            cog_vintage=cog_vintage,
            communes=frozenset(c.strip().upper() for c in communes.replace(",", " ").split()),
            parent_id=parent_id.strip() or None,
        )
        with ctx.db.write_session() as db:
            identity.service_from(ctx).save_territory(db, territory, actor=staff.audit_actor)
    except (ValueError, IdentityError) as exc:
        detail = exc.detail if isinstance(exc, IdentityError) else str(exc)
        return _admin_page(
            request, ctx, "identity/staff_territories.html", {"error": detail}, status=422
        )
    return _admin_page(
        request, ctx, "identity/staff_territories.html", {"notice": "Territory saved."}
    )


@staff_router.get("/regles", response_class=HTMLResponse)
def rules_page(request: Request, ctx: CtxDep, staff: RulesDep) -> Response:
    return _admin_page(request, ctx, "identity/staff_rules.html")


@staff_router.post("/regles")
def save_rule(
    request: Request,
    *,
    ctx: CtxDep,
    staff: RulesDep,
    rule_id: Annotated[str, Form()],
    name: Annotated[str, Form()],
    territory_id: Annotated[str, Form()],
    reference_date: Annotated[date, Form()],
    evidence: Annotated[list[str], Form()],
    min_age: Annotated[str, Form()] = "",
    max_age: Annotated[str, Form()] = "",
    electoral_roll: Annotated[bool, Form()] = False,
    paper_votes: Annotated[bool, Form()] = False,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(request, csrf_token)
    try:
        rule = Rule(
            id=rule_id.strip(),
            name=name.strip(),
            territory_id=territory_id,
            accepted_evidence=frozenset(Evidence(e) for e in evidence),
            reference_date=reference_date,
            min_age=int(min_age) if min_age.strip() else None,
            max_age=int(max_age) if max_age.strip() else None,
            electoral_roll=electoral_roll,
            paper_votes=paper_votes,
        )
        with ctx.db.write_session() as db:
            identity.service_from(ctx).save_rule(db, rule, actor=staff.audit_actor)
    except (ValueError, IdentityError) as exc:
        detail = exc.detail if isinstance(exc, IdentityError) else str(exc)
        return _admin_page(request, ctx, "identity/staff_rules.html", {"error": detail}, status=422)
    return _admin_page(request, ctx, "identity/staff_rules.html", {"notice": "Rule saved."})


@staff_router.get("/recensement", response_class=HTMLResponse)
def census_page(request: Request, ctx: CtxDep, staff: AdminDep) -> Response:
    return _admin_page(request, ctx, "identity/staff_census.html")


@staff_router.post("/recensement")
async def census_upload(
    request: Request,
    *,
    ctx: CtxDep,
    staff: AdminDep,
    territory_id: Annotated[str, Form()],
    file: Annotated[UploadFile, File()],
    electoral_roll: Annotated[bool, Form()] = False,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(request, csrf_token)
    raw = await file.read()
    actor = staff.audit_actor

    def work() -> Response:
        try:
            text = decode_census(raw)
            with ctx.db.write_session() as db:
                report = identity.service_from(ctx).import_census(
                    db,
                    territory_id=territory_id,
                    csv_text=text,
                    electoral_roll=electoral_roll,
                    actor=actor,
                )
        except CensusFileError as exc:
            return _admin_page(
                request,
                ctx,
                "identity/staff_census.html",
                {"error": f"census file: {exc}"},
                status=422,
            )
        except IdentityError as exc:
            return _admin_page(
                request, ctx, "identity/staff_census.html", {"error": exc.detail}, status=422
            )
        return _admin_page(request, ctx, "identity/staff_census.html", {"report": report})

    return await run_in_threadpool(work)


@staff_router.post("/recensement/{import_id}/activer")
def census_activate(
    request: Request,
    import_id: str,
    *,
    ctx: CtxDep,
    staff: AdminDep,
    confirm: Annotated[bool, Form()] = False,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Activate a pending import: a separate, confirmed step (the preview comes first)."""
    check_csrf(request, csrf_token)
    if not confirm:
        return _admin_page(
            request,
            ctx,
            "identity/staff_census.html",
            {"error": "Tick the box to confirm the activation."},
            status=422,
        )
    try:
        with ctx.db.write_session() as db:
            identity.service_from(ctx).activate_census(
                db, import_id=import_id, actor=staff.audit_actor
            )
    except IdentityError as exc:
        return _admin_page(
            request, ctx, "identity/staff_census.html", {"error": exc.detail}, status=422
        )
    return _admin_page(
        request, ctx, "identity/staff_census.html", {"notice": "Census import activated."}
    )


@staff_router.post("/courriers.csv")
def export_letters(
    request: Request, ctx: CtxDep, staff: DeskFormDep, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    """The letters to send, as CSV; each address read is an access record (consent)."""
    check_csrf(request, csrf_token)
    try:
        with ctx.db.write_session() as db:
            export = identity.service_from(ctx).export_letters(db, actor=staff.audit_actor)
    except IdentityError as exc:
        return _desk_page(request, ctx, {"error": exc.detail}, status=409)
    return Response(
        export.csv_text,
        media_type="text/csv; charset=utf-8",
        headers={
            "content-disposition": 'attachment; filename="courriers-parvis.csv"',
            "cache-control": "no-store",
        },
    )


def _desk_page(
    request: Request,
    ctx: AppContext,
    extra: dict[str, Any] | None = None,
    *,
    status: int = 200,
) -> Response:
    """The desk with the elections agents work on beside its forms."""
    elections = identity.desk_elections_of(ctx, page_language(request, ctx.settings))
    return _admin_page(
        request,
        ctx,
        "identity/staff_desk.html",
        {"elections": elections, **(extra or {})},
        status=status,
    )


@staff_router.get("/guichet", response_class=HTMLResponse)
def desk_page(request: Request, ctx: CtxDep, staff: AgentDep) -> Response:
    return _desk_page(request, ctx)


@staff_router.post("/guichet")
def desk_verify(
    request: Request,
    *,
    ctx: CtxDep,
    staff: AgentDep,
    desk_code: Annotated[str, Form()],
    territory_id: Annotated[str, Form()],
    commune: Annotated[str, Form()],
    reason: Annotated[str, Form()],
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(request, csrf_token)
    try:
        with ctx.db.write_session() as db:
            identity.service_from(ctx).record_in_person(
                db,
                agent=staff.audit_actor,
                desk_code=desk_code,
                territory_id=territory_id,
                commune_code=commune.strip().upper(),
                reason=reason,
            )
    except IdentityError as exc:
        return _desk_page(request, ctx, {"error": exc.detail}, status=422)
    return _desk_page(request, ctx, {"notice": "Residence confirmed."})


@staff_router.post("/guichet/vote-papier")
def desk_paper_vote(
    request: Request,
    *,
    ctx: CtxDep,
    staff: DeskFormDep,
    rule_id: Annotated[str, Form()],
    family_name: Annotated[str, Form()],
    given_names: Annotated[str, Form()],
    birthdate: Annotated[str, Form()],
    birthplace: Annotated[str, Form()] = "",
    birthcountry: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(request, csrf_token)
    try:
        with ctx.db.write_session() as db:
            identity.service_from(ctx).record_paper_vote(
                db,
                agent=staff.audit_actor,
                rule_id=rule_id,
                family_name=family_name,
                given_names=given_names,
                birthdate=birthdate,
                birthplace=birthplace,
                birthcountry=birthcountry,
            )
    except IdentityError as exc:
        return _desk_page(request, ctx, {"error": exc.detail}, status=422)
    return _desk_page(request, ctx, {"notice": "Paper vote recorded."})
