"""HTTP adapters of the OpenID provider: discovery, JWKS, authorization (with the consent
screen), token, userinfo, revocation and introspection (logout is in
:mod:`identity.oidc.logout`). OAuth endpoints answer RFC 6749 error objects, never problem+json."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from authlib.oauth2 import OAuth2Error
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from identity.oidc import locale_fr  # noqa: F401 - registers the French catalogue
from identity.oidc.claims import CLAIM_GROUPS, SCOPES, UnmetAcrError, acr_to_release
from identity.oidc.clients import API_SCOPES, Client
from identity.oidc.keystore import JWKS_MAX_AGE
from identity.oidc.provider import (
    CURRENT_DB,
    ID_TOKEN_SECONDS,
    EndUser,
    Provider,
    claims_request,
    digest,
)
from identity.oidc.service import oidc_from
from identity.oidc.starlette import (
    FormBodyError,
    OAuthResponse,
    StarletteOAuth2Request,
    read_request,
    to_response,
)
from identity.pages import session_acr
from parvis.kernel import i18n
from parvis.kernel.context import AppContext
from parvis.kernel.principal import Citizen
from parvis.kernel.web import (
    check_csrf,
    ensure_session,
    get_ctx,
    page_language,
    render,
    web_session,
)

__all__ = ["error_page", "router"]

router = APIRouter(include_in_schema=False)
CtxDep = Annotated[AppContext, Depends(get_ctx)]

AUTHORIZE_PARAMS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "prompt",
    "max_age",
    "acr_values",
    "claims",
    "ui_locales",
    "code_challenge",
    "code_challenge_method",
    "login_hint",
)


def discovery(ctx: AppContext) -> dict[str, Any]:
    base = ctx.settings.public_url
    return {
        "issuer": base,
        "authorization_endpoint": f"{base}/authorize",
        "token_endpoint": f"{base}/token",
        "userinfo_endpoint": f"{base}/userinfo",
        "jwks_uri": f"{base}/jwks.json",
        "revocation_endpoint": f"{base}/revoke",
        "introspection_endpoint": f"{base}/introspect",
        "end_session_endpoint": f"{base}/logout",
        "scopes_supported": [*SCOPES, *API_SCOPES],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "client_credentials"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "userinfo_signing_alg_values_supported": ["RS256", "ES256"],
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
            "none",
        ],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256", "PS256"],
        "revocation_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
        ],
        "introspection_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
        ],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "acr",
            "sid",
            *sorted({c for g in CLAIM_GROUPS.values() for c in g.claims}),
        ],
        "claims_parameter_supported": True,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "prompt_values_supported": ["none", "login", "consent"],
        "acr_values_supported": ["eidas1", "eidas2", "eidas3"],
        "ui_locales_supported": ["fr", "en"],
        "claim_types_supported": ["normal"],
        "authorization_response_iss_parameter_supported": True,
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "frontchannel_logout_supported": False,
    }


@router.get("/.well-known/openid-configuration")
def openid_configuration(ctx: CtxDep) -> JSONResponse:
    return JSONResponse(discovery(ctx), headers={"Cache-Control": "public, max-age=300"})


@router.get("/jwks.json")
def jwks(ctx: CtxDep) -> JSONResponse:
    service = oidc_from(ctx)
    with ctx.db.write_session() as db:
        service.keys.ensure(db)
        keys = service.keys.jwks(db)
    # The same constant sets how long a next key is published before it signs
    # (keystore.NEXT_KEY_MIN_PUBLISHED): the cache and the rotation delay cannot drift.
    return JSONResponse(keys, headers={"Cache-Control": f"public, max-age={JWKS_MAX_AGE}"})


def _run(ctx: AppContext, work: Any) -> Any:
    """Run Authlib inside one write transaction (``BEGIN IMMEDIATE`` on SQLite, so concurrent
    authorizations queue for the write lock instead of failing to upgrade a read
    transaction); an exception rolls back, a returned answer (a flagged replay included)
    commits."""
    with ctx.db.write_session() as db:
        token = CURRENT_DB.set(db)
        try:
            result = work()
            db.info.pop("commit_on_error", None)
            return result
        finally:
            CURRENT_DB.reset(token)


def ui_language(request: Request, ctx: AppContext, ui_locales: str | None) -> dict[str, Any]:
    """The page language asked by the platform (OpenID Connect Core §3.1.2.1 ``ui_locales``:
    "End-User's preferred languages and scripts for the user interface … in order of
    preference"): the first supported one (fr, en; a region subtag is ignored), unless the
    citizen chose a language on the page itself (``?lang=``). Returned as template values
    that override the layout's negotiated language for this page only (no cookie is set:
    the platform's hint is not the citizen's lasting choice)."""
    if request.query_params.get("lang") in i18n.LANGUAGES or not ui_locales:
        return {}
    tags = ",".join(ui_locales.split()[:10])
    lang = i18n.negotiate(None, tags, "")
    if not lang:
        return {}
    gettext, ngettext = i18n.gettext_for(lang)
    return {"lang": lang, "_": gettext, "gettext": gettext, "ngettext": ngettext}


def error_page(
    request: Request,
    message: str,
    status: int = 400,
    *,
    ui_locales: str | None = None,
    detail: str | None = None,
) -> Response:
    """An error shown to the citizen instead of a redirect (RFC 6749 §4.1.2.1: with an
    invalid client or redirect URI the server "MUST NOT automatically redirect"). ``message``
    is a translated message id; ``detail`` the protocol's description, for the platform's
    developers (English, as the OAuth error descriptions are)."""
    ctx = get_ctx(request)
    values = {"message": message, "detail": detail, **ui_language(request, ctx, ui_locales)}
    return render(request, "identity/oidc/error.html", values, status_code=status)


def _page_message(error: OAuth2Error) -> str:
    """The citizen's words for an authorization request that cannot be redirected."""
    if error.error == "invalid_client":
        return "This platform is not registered with Parvis."
    if "redirect_uri" in (error.description or ""):
        return "The platform asked to send you back to an address it has not registered."
    return "The platform's sign-in request is not valid."


def _end_user(ctx: AppContext, request: Request) -> EndUser | None:
    """The signed-in citizen, with the time and the ``acr`` of *this* session's sign-in
    (OpenID Connect Core §2: ``auth_time`` and ``acr`` describe the authentication of the
    End-User behind this request — not the latest sign-in on another device, which the
    citizen record keeps)."""
    session = web_session(request, ctx)
    if session is None or not isinstance(session.principal, Citizen):
        return None
    return EndUser(
        pseudonym=session.principal.pseudonym,
        auth_time=int(session.created_at.timestamp()),
        acr=session_acr(session),
    )


def _request_digest(params: dict[str, str]) -> str:
    return digest(urlencode(sorted(params.items())))


def _fresh_for(session: Any, params: dict[str, str]) -> bool:
    """Whether the session's sign-in happened after *this* request sent the citizen to sign
    in. The marker names the request (a digest of its parameters, ``state`` included), so
    a marker left by an abandoned sign-in never stands in for the fresh authentication
    that a later ``prompt=login`` or ``max_age`` asks for."""
    marker = str(session.extra.get("oidc_login_after") or "")
    at, _, request = marker.partition("|")
    if not at or not hmac.compare_digest(request.encode(), _request_digest(params).encode()):
        return False
    return bool(session.created_at >= datetime.fromisoformat(at))


def _needs_login(ctx: AppContext, request: Request, params: dict[str, str]) -> bool:
    """OpenID Connect Core §3.1.2.1: ``prompt=login`` "SHOULD prompt the End-User for
    reauthentication"; ``max_age``: when the last authentication is older, the OP "MUST
    attempt to actively re-authenticate the End-User"."""
    session = web_session(request, ctx)
    if session is None or not isinstance(session.principal, Citizen):
        return True
    now = ctx.clock.now()
    if "login" in params.get("prompt", "").split():
        return not _fresh_for(session, params)
    max_age = params.get("max_age", "")
    if max_age.isdigit() and (now - session.created_at).total_seconds() > int(max_age):
        return not _fresh_for(session, params)
    return False


def _send_to_login(ctx: AppContext, request: Request, params: dict[str, str]) -> Response:
    response = RedirectResponse("/auth/franceconnect/login?again=1", status_code=303)
    session = ensure_session(request, response)
    session.extra["after_sign_in"] = "/authorize?" + urlencode(params)
    session.extra["oidc_login_after"] = f"{ctx.clock.now().isoformat()}|{_request_digest(params)}"
    with ctx.db.write_session() as db:
        ctx.sessions.save(db, session)
    return response


async def _authorize(  # noqa: PLR0911 - one return per OpenID Connect Core §3.1.2 outcome
    request: Request, ctx: CtxDep, oauth: StarletteOAuth2Request
) -> Response:
    service = oidc_from(ctx)
    provider = service.provider
    params = {k: v for k, v in oauth.payload.data.items() if k in AUTHORIZE_PARAMS}
    user = _end_user(ctx, request)
    decision = oauth.form.get("decision") if request.method == "POST" else None
    ui_locales = params.get("ui_locales")
    if decision is not None:
        check_csrf(request, oauth.form.get("csrf_token"))
        if user is None:
            return error_page(
                request, "Your session has ended. Please start again.", ui_locales=ui_locales
            )

    def work() -> Any:
        try:
            grant = provider.get_consent_grant(oauth, end_user=user)
        except OAuth2Error as error:
            if getattr(error, "redirect_uri", None):
                return _with_iss(ctx, provider.handle_error_response(oauth, error))
            return ("page", error, None)
        return ("grant", grant, None)

    kind, grant, _ = await run_in_threadpool(_run_grant, ctx, work)
    if kind == "page":
        return error_page(
            request, _page_message(grant), ui_locales=ui_locales, detail=grant.description
        )
    if isinstance(kind, int):
        return to_response((kind, grant, _))
    prompts = set(params.get("prompt", "").split())
    if user is None or _needs_login(ctx, request, params):
        if "none" in prompts:
            return _redirect_error(ctx, grant, "login_required")
        return _send_to_login(ctx, request, params)
    client = grant.request.client
    # RFC 6749 §3.3: only the scopes registered for the client (Authlib's request.scope);
    # the consent screen and the decision use this set, without the groups Parvis cannot
    # obtain from FranceConnect (never asked for, never granted).
    scopes = service.obtainable(set(client.get_allowed_scope(grant.request.payload.scope).split()))
    try:
        acr = acr_to_release(claims_request(params.get("claims", "")), user.acr)
    except UnmetAcrError:
        # Core §5.5.1.1: a failed authentication; the error code is the one of OpenID
        # Connect Core Unmet Authentication Requirements 1.0.
        return _redirect_error(ctx, grant, "unmet_authentication_requirements")
    session = web_session(request, ctx)
    if session is not None and session.extra.pop("oidc_login_after", None) is not None:
        with ctx.db.write_session() as db:
            ctx.sessions.save(db, session)
    with ctx.db.read_session() as db:
        missing = service.missing_consent(db, user.pseudonym, client, scopes)
    if decision is None and (missing or "consent" in prompts):
        if "none" in prompts:
            return _redirect_error(ctx, grant, "consent_required")
        return _consent_page(request, ctx, client, scopes, params)
    if decision is not None:
        lang = page_language(request, ctx.settings)
        with ctx.db.write_session() as db:
            service.decide(
                db,
                citizen=user.pseudonym,
                client=client,
                scopes=scopes,
                allowed=decision == "allow",
                lang=lang,
            )
        if decision != "allow":
            result = await run_in_threadpool(
                _run, ctx, lambda: provider.create_authorization_response(oauth, None, grant)
            )
            return to_response(result)
    end_user = EndUser(
        pseudonym=user.pseudonym,
        auth_time=user.auth_time,
        acr=acr,
        sid=_browser_sid(ctx, request, client.client_id),
        sector=client.sector,
    )
    result = await run_in_threadpool(
        _run, ctx, lambda: provider.create_authorization_response(oauth, end_user, grant)
    )
    return to_response(result)


#: ``session.extra`` key: the ``sid`` of each platform session started from this browser,
#: by client id; a sign-out in this browser ends those and no other (ADR 0013).
SIDS_KEY = "oidc_sids"


def _browser_sid(ctx: AppContext, request: Request, client_id: str) -> str:
    """The platform session of this browser at ``client_id`` (one ``sid`` per browser and
    platform, Back-Channel Logout 1.0 §2.1), remembered in the Parvis session so that a
    sign-out in this browser can name it (ADR 0013)."""
    session = web_session(request, ctx)
    assert session is not None, "called for a signed-in citizen only"
    known = session.extra.get(SIDS_KEY)
    sids: dict[str, str] = dict(known) if isinstance(known, dict) else {}
    with ctx.db.write_session() as db:
        sid = oidc_from(ctx).browser_sid(db, sids.get(client_id))
        if sids.get(client_id) != sid:
            sids[client_id] = sid
            session.extra[SIDS_KEY] = sids
            ctx.sessions.save(db, session)
    return sid


def _with_iss(ctx: AppContext, result: Any) -> Any:
    """RFC 9207 §2: ``iss`` on error responses too (Authlib adds it to successes only)."""
    status, body, headers = result
    out = []
    for key, value in headers:
        if key.lower() == "location" and "iss=" not in value:
            sep = "&" if "?" in value else "?"
            out.append((key, value + sep + urlencode({"iss": ctx.settings.public_url})))
        else:
            out.append((key, value))
    return status, body, out


def _run_grant(ctx: AppContext, work: Any) -> Any:
    """Like :func:`_run` (one write transaction) for the consent screen's grant steps."""
    with ctx.db.write_session() as db:
        token = CURRENT_DB.set(db)
        try:
            return work()
        finally:
            CURRENT_DB.reset(token)


def _redirect_error(ctx: AppContext, grant: Any, error: str) -> Response:
    params = {"error": error, "iss": ctx.settings.public_url}
    if grant.request.payload.state:
        params["state"] = grant.request.payload.state
    uri = grant.request.payload.redirect_uri
    sep = "&" if "?" in uri else "?"
    return RedirectResponse(uri + sep + urlencode(params), status_code=302)


def _consent_page(
    request: Request, ctx: AppContext, client: Any, scopes: set[str], params: dict[str, str]
) -> Response:
    groups = [g for s, g in CLAIM_GROUPS.items() if s in scopes]
    purposes: dict[str, Any] = {}
    import consent

    registry = consent.service_from(ctx)
    with ctx.db.read_session() as db:
        for group in groups:
            pid = client.purposes.get(group.scope)
            if pid:
                try:
                    purposes[group.scope] = registry.purpose(db, pid).purpose
                except Exception:
                    purposes[group.scope] = None
    holder = Response()
    ensure_session(request, holder)
    response = render(
        request,
        "identity/oidc/consent.html",
        {
            "client": client,
            "groups": groups,
            "purposes": purposes,
            "params": params,
            **ui_language(request, ctx, params.get("ui_locales")),
        },
    )
    for key, value in holder.raw_headers:
        if key == b"set-cookie":
            response.raw_headers.append((key, value))
    origins = " ".join(
        sorted({"{0.scheme}://{0.netloc}".format(urlsplit(u)) for u in client.redirect_uris})
    )
    response.headers["content-security-policy"] = (
        f"default-src 'self'; form-action 'self' {origins}; frame-ancestors 'none'"
    )
    return response


async def _authorize_request(request: Request, ctx: AppContext) -> Response:
    try:
        oauth = await read_request(request)
    except FormBodyError as exc:
        # The parameters could not be read, so neither can the redirect URI: shown to the
        # citizen, never redirected (RFC 6749 §4.1.2.1).
        return error_page(
            request,
            "The platform's sign-in request is not valid.",
            detail=exc.oauth_error().description,
        )
    return await _authorize(request, ctx, oauth)


@router.get("/authorize")
async def authorize_get(request: Request, ctx: CtxDep) -> Response:
    return await _authorize_request(request, ctx)


@router.post("/authorize")
async def authorize_post(request: Request, ctx: CtxDep) -> Response:
    return await _authorize_request(request, ctx)


async def _endpoint(
    request: Request,
    ctx: AppContext,
    respond: Callable[[Provider, StarletteOAuth2Request], OAuthResponse],
) -> Response:
    """An RFC 6749 endpoint: the request read, ``respond(provider, oauth)`` run in one
    transaction; a form over the parser's limits is §5.2 ``invalid_request`` JSON."""
    try:
        oauth = await read_request(request)
    except FormBodyError as exc:
        return exc.oauth_response()
    provider = oidc_from(ctx).provider
    return to_response(await run_in_threadpool(_run, ctx, lambda: respond(provider, oauth)))


@router.post("/token")
async def token(request: Request, ctx: CtxDep) -> Response:
    return await _endpoint(request, ctx, lambda p, oauth: p.create_token_response(oauth))


@router.post("/revoke")
async def revoke(request: Request, ctx: CtxDep) -> Response:
    return await _endpoint(
        request, ctx, lambda p, oauth: p.create_endpoint_response("revocation", oauth)
    )


@router.post("/introspect")
async def introspect(request: Request, ctx: CtxDep) -> Response:
    return await _endpoint(
        request, ctx, lambda p, oauth: p.create_endpoint_response("introspection", oauth)
    )


def signed_userinfo_claims(provider: Provider, client: Client) -> dict[str, Any]:
    """The registered claims of a signed userinfo response. OpenID Connect Core §5.3.2: "If
    signed, the UserInfo Response MUST contain the Claims iss (issuer) and aud (audience) …
    The iss value MUST be the OP's Issuer Identifier URL. The aud value MUST be or include
    the RP's Client ID value." ``iat`` and ``exp`` (RFC 7519 §4.1.4, §4.1.6) bound the
    life of the signed copy like the ID token's (:data:`ID_TOKEN_SECONDS`): without them a
    captured userinfo JWT would verify for as long as the signing key is published."""
    now = int(provider.clock.now().timestamp())
    return {
        "iss": provider.issuer,
        "aud": client.client_id,
        "iat": now,
        "exp": now + ID_TOKEN_SECONDS,
    }


def _bearer_error(error: str, status: int = 401) -> Response:
    return Response(
        status_code=status,
        headers={"WWW-Authenticate": f'Bearer error="{error}"', "Cache-Control": "no-store"},
    )


async def _userinfo(request: Request, ctx: CtxDep) -> Response:
    try:
        oauth = await read_request(request)
    except FormBodyError:
        # RFC 6750 §3.1: "invalid_request … The request is … otherwise malformed" (400).
        return _bearer_error("invalid_request", 400)
    scheme, _, value = oauth.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        value = oauth.form.get("access_token", "") if request.method == "POST" else ""
    if not value:
        return Response(status_code=401, headers={"WWW-Authenticate": "Bearer"})
    service = oidc_from(ctx)

    def work() -> Response:
        with ctx.db.write_session() as db:
            row = service.provider.bearer(db, value.strip())
            if row is None or row.citizen is None or "openid" not in row.scope.split():
                return _bearer_error("invalid_token")
            client = service.clients.get(db, row.client_id)
            if client is None:
                return _bearer_error("invalid_token")
            claims = service.userinfo(db, row, client)
            alg = client.userinfo_signed_response_alg
            if alg:
                claims.update(signed_userinfo_claims(service.provider, client))
                jwt_value = service.provider.sign(db, claims, alg=alg)
                return Response(
                    jwt_value, media_type="application/jwt", headers={"Cache-Control": "no-store"}
                )
        return JSONResponse(claims, headers={"Cache-Control": "no-store"})

    response: Response = await run_in_threadpool(work)
    return response


router.add_api_route("/userinfo", _userinfo, methods=["GET", "POST"])
