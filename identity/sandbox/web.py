"""HTTP adapter of the FranceConnect sandbox (request in, status/body/headers out).

Served by Parvis under ``/fc-sandbox/api/v2`` (demo and tests) and on its own by
``parvis fc-sandbox --port P`` (:func:`standalone_app`). OAuth endpoints keep RFC 6749 error
formats (§5.2 JSON bodies for ``/token``, §4.1.2.1 redirects for ``/authorize``, RFC 6750 §3
``WWW-Authenticate`` for ``/userinfo``), never problem+json.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import Response

from identity.sandbox.citizens import Scenario
from identity.sandbox.provider import IDPS, Sandbox, SandboxOAuthError

__all__ = ["PREFIX", "SESSION_COOKIE", "sandbox_router", "standalone_app"]

PREFIX = "/fc-sandbox/api/v2"
SESSION_COOKIE = "fc_sandbox_session"
_TEMPLATES = Environment(
    loader=FileSystemLoader(str(Path(__file__).resolve().parent / "templates")),
    autoescape=select_autoescape(("html",)),
)
_CSS = (Path(__file__).resolve().parent / "templates" / "sandbox.css").read_text()
_NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _page(
    template: str, *, status: int = 200, form_targets: str = "", **values: Any
) -> HTMLResponse:
    html = _TEMPLATES.get_template(template).render(prefix=PREFIX, **values)
    # The login form posts here and is then redirected to the client's callback, which may
    # be another origin when the sandbox runs alone: form-action names it explicitly.
    csp = (
        "default-src 'none'; style-src 'self'; img-src 'self'; "
        f"form-action 'self' {form_targets}".rstrip()
        + "; base-uri 'none'; frame-ancestors 'none'"
    )
    return HTMLResponse(html, status_code=status, headers={"content-security-policy": csp})


def _error_page(exc: SandboxOAuthError) -> HTMLResponse:
    return _page("error.html", status=400, error=exc.error, description=exc.description)


def _oauth_json_error(exc: SandboxOAuthError) -> JSONResponse:
    status = 401 if exc.error == "invalid_client" else 400
    return JSONResponse(
        {"error": exc.error, "error_description": exc.description}, status, headers=_NO_STORE
    )


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def sandbox_router(resolve: Callable[[Request], Sandbox]) -> APIRouter:  # noqa: PLR0915 - route table
    """The sandbox's endpoints; ``resolve`` finds the :class:`Sandbox` for a request (and
    raises a 404 when the sandbox is switched off)."""
    router = APIRouter(prefix=PREFIX, tags=["FranceConnect sandbox"], include_in_schema=False)

    @router.get("/.well-known/openid-configuration")
    def discovery(request: Request) -> JSONResponse:
        return JSONResponse(resolve(request).discovery())

    @router.get("/jwks")
    def jwks(request: Request) -> JSONResponse:
        return JSONResponse(resolve(request).keys.jwks())

    @router.get("/assets/sandbox.css")
    def css() -> Response:
        return Response(_CSS, media_type="text/css")

    def _sso_or_login(request: Request, sandbox: Sandbox, authorization: Any) -> Response:
        session_id = request.cookies.get(SESSION_COOKIE)
        citizen = sandbox.sso_citizen(authorization, session_id)
        if citizen is not None:
            location, _ = sandbox.login(authorization, citizen.login, session_id=session_id)
            return _redirect(location)
        idps = [(k, v) for k, v in IDPS.items() if authorization.idp_hint in (None, k)]
        return _page(
            "login.html",
            form_targets=_origin(authorization.redirect_uri),
            authorization=authorization,
            idps=idps,
            citizens=sandbox.citizens_for(authorization),
        )

    @router.get("/authorize")
    def authorize(request: Request) -> Response:
        sandbox = resolve(request)
        params = dict(request.query_params)
        try:
            authorization = sandbox.authorize(params)
        except SandboxOAuthError as exc:
            if not exc.redirect:
                return _error_page(exc)
            return _redirect(
                sandbox.error_redirect(
                    params["redirect_uri"], exc.error, exc.description, params.get("state", "")
                )
            )
        return _sso_or_login(request, sandbox, authorization)

    @router.post("/interaction/{interaction_id}/login")
    async def login(request: Request, interaction_id: str) -> Response:
        sandbox = resolve(request)
        form = await request.form()
        try:
            authorization = sandbox.interaction(interaction_id)
            location, session_id = sandbox.login(
                authorization,
                str(form.get("login", "")),
                session_id=request.cookies.get(SESSION_COOKIE),
            )
        except SandboxOAuthError as exc:
            return _error_page(exc)
        response = _redirect(location)
        if session_id:
            response.set_cookie(
                SESSION_COOKIE, session_id, path=PREFIX, httponly=True, samesite="lax"
            )
        return response

    @router.post("/interaction/{interaction_id}/cancel")
    def cancel(request: Request, interaction_id: str) -> Response:
        sandbox = resolve(request)
        try:
            authorization = sandbox.interaction(interaction_id)
        except SandboxOAuthError as exc:
            return _error_page(exc)
        return _redirect(sandbox.cancel(authorization))

    @router.post("/token")
    async def token(request: Request) -> Response:
        sandbox = resolve(request)
        form = {k: str(v) for k, v in (await request.form()).items()}
        scenario = sandbox.code_scenario(form)
        if scenario is Scenario.SERVER_ERROR:
            return PlainTextResponse("Internal Server Error", status_code=500)
        if scenario is Scenario.TIMEOUT:
            await anyio.sleep(sandbox.timeout_delay)
        try:
            body = sandbox.token(form)
        except SandboxOAuthError as exc:
            return _oauth_json_error(exc)
        return JSONResponse(body, headers=_NO_STORE)

    @router.get("/userinfo")
    def userinfo(request: Request) -> Response:
        sandbox = resolve(request)
        try:
            scenario, claims, client = sandbox.userinfo(request.headers.get("authorization"))
        except SandboxOAuthError as exc:
            return PlainTextResponse(
                "",
                status_code=401,
                headers={"www-authenticate": f'Bearer error="{exc.error}"'},
            )
        if scenario is Scenario.MALFORMED_USERINFO:
            body = "ceci-n-est-pas-un-jwt"
        elif scenario is Scenario.UNSIGNED_USERINFO:
            body = _unsigned(claims)
        else:
            body = sandbox.sign(client, claims)
        return Response(body, media_type="application/jwt", headers=_NO_STORE)

    @router.get("/session/end")
    def end_session(request: Request) -> Response:
        sandbox = resolve(request)
        try:
            location = sandbox.end_session(
                dict(request.query_params), request.cookies.get(SESSION_COOKIE)
            )
        except SandboxOAuthError as exc:
            return _error_page(exc)
        response = _redirect(location)
        response.delete_cookie(SESSION_COOKIE, path=PREFIX)
        return response

    return router


def _unsigned(claims: dict[str, Any]) -> str:
    """An ``alg: none`` JWT (RFC 7519 §6): what a forger would send."""

    def b64(data: dict[str, Any]) -> str:
        raw = json.dumps(data, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."


def standalone_app(sandbox: Sandbox) -> FastAPI:
    """The sandbox alone (``parvis fc-sandbox``): its endpoints and ``/healthz``."""
    app = FastAPI(title="FranceConnect sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(sandbox_router(lambda _request: sandbox))

    @app.get("/healthz", response_class=PlainTextResponse)
    def healthz() -> str:
        return "ok"

    app.state.sandbox = sandbox
    return app
