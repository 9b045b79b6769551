"""FastAPI glue every domain's adapters use: dependencies, JSON routes, pages, CSRF.

The composition root stores one :class:`AppContext` in ``app.state.ctx``; the dependencies
below read it, so domains never import the composition root (architecture.md, dependency
rule).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.orm import Session
from starlette.responses import HTMLResponse

from parvis.kernel import i18n
from parvis.kernel.context import AppContext
from parvis.kernel.errors import DomainError, ForbiddenError
from parvis.kernel.principal import Citizen as CitizenPrincipal
from parvis.kernel.principal import Principal, Role, Staff, require_citizen, require_role
from parvis.kernel.sessions import WebSession, cookie_name
from parvis.kernel.settings import Settings

__all__ = [
    "CsrfError",
    "JSONRoute",
    "UnsupportedMediaTypeError",
    "api_router",
    "check_csrf",
    "csrf_header",
    "current_principal",
    "db_session",
    "get_ctx",
    "principal_to_json",
    "render",
    "require_staff",
    "signed_in_citizen",
    "start_session",
    "web_session",
]

KERNEL_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


class UnsupportedMediaTypeError(DomainError):
    """A JSON API was sent a body that is not ``application/json`` (RFC 9110 §15.5.16)."""

    title = "Unsupported media type"


class CsrfError(ForbiddenError):
    """A form was posted without the session's CSRF token."""

    title = "Form expired or forged"


def make_templates(extra_dirs: list[Path]) -> Environment:
    """One Jinja2 environment over the kernel's layout and every domain's templates."""
    env = Environment(
        loader=FileSystemLoader([str(KERNEL_TEMPLATES), *map(str, extra_dirs)]),
        autoescape=select_autoescape(("html", "xml", "svg")),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


def get_ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


Ctx = Annotated[AppContext, Depends(get_ctx)]


def db_session(ctx: Ctx) -> Iterator[Session]:
    """A session per request; handlers open transactions with ``session.begin()``."""
    with ctx.db.session() as session:
        yield session


def web_session(request: Request, ctx: Ctx) -> WebSession | None:
    """The caller's server-side session, if the cookie names a live one (cached per request)."""
    if hasattr(request.state, "web_session"):
        cached: WebSession | None = request.state.web_session
        return cached
    cookie = request.cookies.get(cookie_name(secure=ctx.settings.secure_cookies))
    loaded: WebSession | None = None
    if cookie:
        with ctx.db.write_session() as db:
            loaded = ctx.sessions.load(db, cookie)
    request.state.web_session = loaded
    return loaded


def current_principal(
    session: Annotated[WebSession | None, Depends(web_session)],
) -> Principal:
    from parvis.kernel.principal import Anonymous

    return session.principal if session is not None else Anonymous()


def principal_to_json(principal: Principal) -> dict[str, Any]:
    """The principal as a JSON-able dict (pseudonyms and roles only)."""
    from parvis.kernel.principal import principal_to_dict

    return principal_to_dict(principal)


def signed_in_citizen(
    principal: Annotated[Principal, Depends(current_principal)],
) -> CitizenPrincipal:
    return require_citizen(principal)


def require_staff(*roles: Role) -> Callable[..., Staff]:
    """Dependency factory: the signed-in staff member holding any of ``roles``."""

    def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Staff:
        return require_role(principal, *roles)

    return dependency


def set_session_cookie(response: Response, session: WebSession, settings: Settings) -> None:
    """Send the new session id: HttpOnly, SameSite=Lax, Secure outside the local demo."""
    assert session.cookie is not None, "only a new or rotated session has a cookie to send"
    response.set_cookie(
        cookie_name(secure=settings.secure_cookies),
        session.cookie,
        max_age=settings.session_absolute_seconds,
        path="/",
        secure=settings.secure_cookies,
        httponly=True,
        samesite="lax",
    )


def start_session(request: Request, response: Response, principal: Principal) -> WebSession:
    """Sign ``principal`` in (or out, with :class:`Anonymous`), rotating the session id."""
    ctx = get_ctx(request)
    old = web_session(request, ctx)
    with ctx.db.write_session() as db:
        new = ctx.sessions.rotate(db, old, principal)
    request.state.web_session = new
    set_session_cookie(response, new, ctx.settings)
    return new


def ensure_session(request: Request, response: Response) -> WebSession:
    """The caller's session, creating an anonymous one (for a CSRF token) if needed."""
    ctx = get_ctx(request)
    existing = web_session(request, ctx)
    if existing is not None:
        return existing
    with ctx.db.write_session() as db:
        new = ctx.sessions.create(db)
    request.state.web_session = new
    set_session_cookie(response, new, ctx.settings)
    return new


def check_csrf(request: Request, submitted: str | None) -> None:
    """Raise :class:`CsrfError` unless ``submitted`` is the session's CSRF token."""
    session = web_session(request, get_ctx(request))
    if session is None or not session.check_csrf(submitted):
        raise CsrfError("the form's security token is missing or does not match the session")


#: The request header in which a script (the booth) sends the session's CSRF token.
CSRF_HEADER = "X-CSRF-Token"


def csrf_header(request: Request) -> None:
    """Dependency of a JSON endpoint that changes state for a signed-in session: the
    session's CSRF token must come in the ``X-CSRF-Token`` header, as it comes in a form's
    ``csrf_token`` field (:func:`check_csrf`). A cross-site page can make the browser send
    the cookie, but cannot read the token from our page to set the header.

    Declare it after the principal's dependency, so that an anonymous call is still
    answered 401 before 403.
    """
    session = web_session(request, get_ctx(request))
    if session is None or not session.check_csrf(request.headers.get(CSRF_HEADER)):
        raise CsrfError(
            f"the {CSRF_HEADER} header is missing or does not match the session's token"
        )


def page_language(request: Request, settings: Settings) -> str:
    return i18n.negotiate(
        request.query_params.get("lang") or request.cookies.get("parvis_lang"),
        request.headers.get("accept-language"),
        settings.default_locale,
    )


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """Render a page in the negotiated language with the base layout's variables."""
    ctx = get_ctx(request)
    lang = page_language(request, ctx.settings)
    gettext, ngettext = i18n.gettext_for(lang)
    session = web_session(request, ctx)
    values: dict[str, Any] = {
        "request": request,
        "lang": lang,
        "principal": session.principal if session else None,
        "csrf_token": session.csrf_token if session else "",
        "_": gettext,
        "gettext": gettext,
        "ngettext": ngettext,
        **(context or {}),
    }
    assert ctx.templates is not None, "the composition root sets the templates"
    html = ctx.templates.get_template(template).render(values)
    response = HTMLResponse(html, status_code=status_code)
    if request.query_params.get("lang") in i18n.LANGUAGES:
        response.set_cookie("parvis_lang", lang, samesite="lax", httponly=True, path="/")
    return response


class JSONRoute(APIRoute):
    """An API route that refuses non-JSON request bodies with 415 instead of guessing."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        expects_json = self.body_field is not None and not _is_form(self)

        async def route_handler(request: Request) -> Response:
            if expects_json and request.method in {"POST", "PUT", "PATCH"}:
                media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
                if media != "application/json" and not media.endswith("+json"):
                    raise UnsupportedMediaTypeError(
                        "this endpoint accepts application/json request bodies only"
                    )
            return await handler(request)

        return route_handler


def _is_form(route: APIRoute) -> bool:
    from fastapi.params import Form

    field_info = getattr(route.body_field, "field_info", None)
    return isinstance(field_info, Form)


def api_router(**kwargs: Any) -> APIRouter:
    """An :class:`APIRouter` whose routes use :class:`JSONRoute`."""
    return APIRouter(route_class=JSONRoute, **kwargs)
