"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) and the citizen's list of
platforms, where revoking one ends its sessions through OpenID Connect Back-Channel Logout 1.0
(issue 8, items 3 and 6)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from identity.oidc.claims import CLAIM_GROUPS
from identity.oidc.service import oidc_from
from identity.oidc.starlette import read_request
from identity.oidc.web import error_page
from parvis.kernel.context import AppContext
from parvis.kernel.principal import Citizen
from parvis.kernel.web import check_csrf, get_ctx, render, web_session

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
CtxDep = Annotated[AppContext, Depends(get_ctx)]


# -- RP-initiated logout -------------------------------------------------------------------


async def _logout(request: Request, ctx: CtxDep) -> Response:
    """OpenID Connect RP-Initiated Logout 1.0 §2–§3: ``id_token_hint`` names the client
    and citizen; ``post_logout_redirect_uri`` must be registered (exact match). Parvis
    ends the platforms' sessions (back-channel logout), then the FranceConnect session
    through identity's sign-out, then returns to the platform."""
    from joserfc import jwt
    from joserfc.errors import JoseError

    oauth = await read_request(request)
    data = oauth.payload.data
    service = oidc_from(ctx)
    hint, target = data.get("id_token_hint", ""), data.get("post_logout_redirect_uri", "")
    client_id = data.get("client_id", "")
    citizen: str | None = None
    with ctx.db.write_session() as db:
        if hint:
            try:
                token = jwt.decode(
                    hint, service.keys.public_keyset(db), algorithms=["RS256", "ES256"]
                )
            except (JoseError, ValueError):
                return error_page(request, "This sign-out request is not valid.")
            if token.claims.get("iss") != service.provider.issuer:
                return error_page(request, "This sign-out request is not valid.")
            aud = token.claims.get("aud")
            client_id = aud if isinstance(aud, str) else (aud[0] if aud else "")
            sid = token.claims.get("sid")
            from identity.oidc.tables import OidcSessionRow

            srow = db.get(OidcSessionRow, sid) if isinstance(sid, str) else None
            citizen = srow.citizen if srow is not None else None
        client = service.clients.get(db, client_id) if client_id else None
        if target and (client is None or target not in client.post_logout_redirect_uris):
            return error_page(request, "This sign-out request is not valid.")
        session = web_session(request, ctx)
        if (
            session is not None
            and isinstance(session.principal, Citizen)
            and (citizen is None or citizen == session.principal.pseudonym)
        ):
            citizen = session.principal.pseudonym
        notices = service.end_sessions(db, citizen=citizen, skip=client_id) if citizen else []
        if citizen:
            service.end_web_sessions_tokens(db, citizen)
    await run_in_threadpool(service.deliver, notices)
    back = target
    if back and data.get("state"):
        back += ("&" if "?" in back else "?") + urlencode({"state": data["state"]})
    session = web_session(request, ctx)
    if session is not None and isinstance(session.principal, Citizen):
        # identity's sign-out ends the FranceConnect session too (/session/end), then
        # brings the browser back here (after_sign_out).
        response = render(
            request,
            "identity/oidc/logout.html",
            {"after": back, "client": client},
        )
        session.extra["after_sign_out"] = back or "/"
        with ctx.db.write_session() as db:
            ctx.sessions.save(db, session)
        return response
    if back:
        return RedirectResponse(back, status_code=303)
    return render(request, "identity/logged_out.html", {"confirmed": False})


router.add_api_route("/logout", _logout, methods=["GET", "POST"])


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
    service.deliver(notices)
    return RedirectResponse("/mon-compte/plateformes", status_code=303)
