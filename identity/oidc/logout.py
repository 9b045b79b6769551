"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) and the citizen's list of
platforms, where revoking one ends its sessions through OpenID Connect Back-Channel Logout 1.0
(docs/oidc-integration.md §7; ADR 0013)."""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from identity.oidc.claims import CLAIM_GROUPS
from identity.oidc.clients import Client
from identity.oidc.service import OidcService, oidc_from
from identity.oidc.starlette import FormBodyError, read_request
from identity.oidc.web import SIDS_KEY, error_page
from parvis.kernel.context import AppContext
from parvis.kernel.principal import Citizen
from parvis.kernel.web import check_csrf, get_ctx, render, web_session

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
CtxDep = Annotated[AppContext, Depends(get_ctx)]


# -- RP-initiated logout -------------------------------------------------------------------

#: ``session.extra`` keys: the pending request (platform to skip, where to return), and the
#: registered URI to return to once identity's sign-out (and FranceConnect's) is done.
PENDING_KEY = "oidc_logout"
RETURN_KEY = "oidc_after_logout"
RETURN_PATH = "/logout/retour"
INVALID = "This sign-out request is not valid."


@dataclass(frozen=True, slots=True)
class _Request:
    client_id: str | None
    back: str | None
    hint_sid: str | None


def _check(ctx: AppContext, data: dict[str, str]) -> _Request | None:  # noqa: PLR0911 - one per §2/§3 check
    """RP-Initiated Logout 1.0 §2: validate ``id_token_hint`` (our signature and ``iss``;
    an expired hint is accepted, §4), ``client_id`` (must match the hint's ``aud``) and
    ``post_logout_redirect_uri`` (registered for that client, exact string match, §3; with
    neither hint nor ``client_id``, the one platform that registered it).
    None when the request is invalid: nothing is redirected anywhere."""
    from joserfc import jwt
    from joserfc.errors import JoseError

    service = oidc_from(ctx)
    hint = data.get("id_token_hint", "")
    target = data.get("post_logout_redirect_uri", "")
    client_id = data.get("client_id", "") or None
    sid: str | None = None
    with ctx.db.read_session() as db:
        if hint:
            try:
                token = jwt.decode(
                    hint, service.keys.public_keyset(db), algorithms=["RS256", "ES256"]
                )
            except (JoseError, ValueError):
                return None
            claims = token.claims
            aud = claims.get("aud")
            audience = aud if isinstance(aud, str) else (aud[0] if isinstance(aud, list) else "")
            if claims.get("iss") != service.provider.issuer or not audience:
                return None
            if client_id is not None and client_id != audience:
                return None
            client_id = audience
            sid = claims.get("sid") if isinstance(claims.get("sid"), str) else None
        client = service.clients.get(db, client_id) if client_id else None
        if client_id is None and target:
            client = _owner_of(service, db, target)
            client_id = client.client_id if client is not None else None
    if client_id is not None and client is None:
        return None
    if target:
        if client is None or not any(
            hmac.compare_digest(target, uri) for uri in client.post_logout_redirect_uris
        ):
            return None
        state = data.get("state", "")
        back = target + (("&" if "?" in target else "?") + urlencode({"state": state}))
        return _Request(client_id, back if state else target, sid)
    return _Request(client_id, None, sid)


def _owner_of(service: OidcService, db: Session, target: str) -> Client | None:
    """The one platform that registered ``target`` as a post-logout redirect URI.

    RP-Initiated Logout 1.0 §3 only requires the URI to be registered; some RP libraries
    send it alone (omniauth_openid_connect, used by Decidim and CONSUL, sends neither
    ``id_token_hint`` nor ``client_id``). Exact string match; a URI registered by several
    platforms names none of them (the request is refused)."""
    owners = [
        row.client_id
        for row in service.clients.all(db)
        if row.disabled_at is None
        and any(
            hmac.compare_digest(target, uri) for uri in json.loads(row.post_logout_redirect_uris)
        )
    ]
    return service.clients.get(db, owners[0]) if len(owners) == 1 else None


async def _logout(request: Request, ctx: CtxDep) -> Response:
    """OpenID Connect RP-Initiated Logout 1.0 §2–§3 (GET or form POST).

    The platform named by a valid ``id_token_hint`` ends its own session at once. A citizen
    still signed in to Parvis is then asked to confirm (§2: the OP "MUST ask the End-User"
    unless the hint matches the current session; asking always also stops a cross-site page
    from signing citizens out of every platform): the confirmation ends the other platforms'
    sessions (Back-Channel Logout 1.0), the Parvis and FranceConnect sessions (identity's
    sign-out, through FranceConnect's ``/session/end``), and comes back to the platform's
    registered ``post_logout_redirect_uri`` with its ``state``."""
    try:
        oauth = await read_request(request)
    except FormBodyError:
        # A browser-facing endpoint: the citizen sees the logout error page, not JSON.
        return error_page(request, INVALID)
    data = {k: v for k, v in oauth.payload.data.items() if isinstance(v, str)}
    checked = await run_in_threadpool(_check, ctx, data)
    if checked is None:
        return error_page(request, INVALID)
    service = oidc_from(ctx)
    if checked.hint_sid is not None and checked.client_id is not None:
        with ctx.db.write_session() as db:
            service.end_initiating_session(db, checked.hint_sid, checked.client_id)
    session = web_session(request, ctx)
    if session is not None and isinstance(session.principal, Citizen):
        session.extra[PENDING_KEY] = {"skip": checked.client_id, "back": checked.back}
        with ctx.db.write_session() as db:
            ctx.sessions.save(db, session)
        # RP-Initiated Logout 1.0 §2: the End-User may decline the OP's logout; the way
        # back is the platform's registered URI (validated by _check), never the request's.
        values = {"action": CONFIRM_PATH, "back": checked.back}
        return render(request, "identity/oidc/logout.html", values)
    if checked.back:
        return RedirectResponse(checked.back, status_code=303)
    return render(request, "identity/logged_out.html", {"confirmed": False})


router.add_api_route("/logout", _logout, methods=["GET", "POST"])

CONFIRM_PATH = "/logout/confirmer"


@router.post(CONFIRM_PATH)
def confirm_logout(
    request: Request, ctx: CtxDep, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    """The citizen confirmed: end the platform sessions started from this browser (logout
    tokens sent in the background once committed) and their access tokens (ADR 0013),
    then identity's sign-out (Parvis,
    then FranceConnect's ``/session/end``), which comes back through :data:`RETURN_PATH`."""
    from identity.pages import sign_out

    check_csrf(request, csrf_token)
    session = web_session(request, ctx)
    if session is None or not isinstance(session.principal, Citizen):
        return RedirectResponse("/", status_code=303)
    pending = session.extra.pop(PENDING_KEY, None)
    pending = pending if isinstance(pending, dict) else {}
    skip, back = pending.get("skip"), pending.get("back")
    service = oidc_from(ctx)
    citizen = session.principal.pseudonym
    # ADR 0013: the sign-out of this browser ends the platform sessions started from it,
    # and only those; the citizen's other browsers stay signed in to Parvis and to theirs.
    known = session.extra.pop(SIDS_KEY, None)
    sids = [v for v in known.values() if isinstance(v, str)] if isinstance(known, dict) else []
    with ctx.db.write_session() as db:
        notices = service.end_sessions(
            db, citizen=citizen, skip=skip if isinstance(skip, str) else None, sids=sids
        )
        service.revoke_session_tokens(db, citizen, sids)
        if isinstance(back, str) and back:
            # identity's continuation accepts local paths only (no open redirect): the
            # registered URI waits in the session and RETURN_PATH sends the browser there.
            session.extra[RETURN_KEY] = back
            session.extra["after_sign_out"] = RETURN_PATH
        ctx.sessions.save(db, session)
    service.deliver(notices)
    response = sign_out(request, ctx, csrf_token)
    if isinstance(back, str) and back and response.headers.get("location") == "/":
        # Signed in without FranceConnect (no /session/end to go through): straight back.
        response.headers["location"] = RETURN_PATH
    return response


@router.get(RETURN_PATH)
def return_to_platform(request: Request, ctx: CtxDep) -> Response:
    """The end of a confirmed RP-initiated logout: back to the platform's registered
    ``post_logout_redirect_uri`` (set by :func:`confirm_logout`, never taken from the URL)."""
    session = web_session(request, ctx)
    target = session.extra.pop(RETURN_KEY, None) if session is not None else None
    if session is None or not isinstance(target, str):
        return RedirectResponse("/", status_code=303)
    with ctx.db.write_session() as db:
        ctx.sessions.save(db, session)
    return RedirectResponse(target, status_code=303)


# -- the citizen's platforms -----------------------------------------------------------------


@router.get("/mon-compte/plateformes", response_class=HTMLResponse)
def platforms_page(request: Request, ctx: CtxDep) -> Response:
    session = web_session(request, ctx)
    if session is None or not isinstance(session.principal, Citizen):
        return RedirectResponse("/connexion", status_code=303)
    service = oidc_from(ctx)
    with ctx.db.read_session() as db:
        items = service.platforms(db, session.principal.pseudonym)
    return render(request, "identity/oidc/platforms.html", {"items": items, "groups": CLAIM_GROUPS})


@router.post("/mon-compte/plateformes/revoquer")
def revoke_platform(
    request: Request,
    ctx: CtxDep,
    client_id: Annotated[str, Form()],
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(request, csrf_token)
    session = web_session(request, ctx)
    if session is None or not isinstance(session.principal, Citizen):
        return RedirectResponse("/connexion", status_code=303)
    service = oidc_from(ctx)
    with ctx.db.write_session() as db:
        notices = service.revoke_platform(
            db, citizen=session.principal.pseudonym, client_id=client_id
        )
    # After the commit, in the background: the citizen's page does not wait for platforms.
    service.deliver(notices)
    return RedirectResponse("/mon-compte/plateformes", status_code=303)
