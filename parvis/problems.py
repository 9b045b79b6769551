"""RFC 9457 problem details for every error of Parvis's own APIs, through one table.

Domains raise :class:`~parvis.kernel.errors.DomainError` subclasses that carry no HTTP status
(style.md). :data:`PROBLEM_TABLE` maps them to a status and a problem type, most specific class
first, like httpx's ``map_exceptions``. Unexpected exceptions become a bare 500 whose body
says nothing about the internals (RFC 9457 §5: "problem details are not a debugging tool").

A domain error that carries an authentication challenge (a ``www_authenticate`` string,
e.g. every :class:`parvis.kernel.apiauth.BearerError`) is answered with it as the
``WWW-Authenticate`` header, which RFC 9110 §15.5.2 requires on a 401 and RFC 6750 §3 puts
on the bearer-token errors (401 and 403): a domain error carries no HTTP (style.md), so the
header is added here, for every route, rather than by a special route class.

OAuth/OIDC endpoints do not go through here: they keep RFC 6749 §5.2 error bodies.

A browser that asks for a page (``Accept`` weighing ``text/html`` above JSON,
:mod:`parvis.negotiation`) gets a 401, 403, 404, 405, 422 or 500 as an HTML page in its language
(architecture.md, "Web": French first, English available) with the same status and headers;
the page says what happened in words for people and, like the problem body, nothing internal.

The staff pages' guard (:mod:`parvis.kernel.staffguard`) has its own handler, the one place
that answers its refusals: a 303 to the staff sign-in page (or a 401 page where a page never
redirected), the 403 page with the page's explanation, or problem+json for a script.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from html import escape as html_escape
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from parvis.kernel import i18n
from parvis.kernel.errors import (
    ConflictError,
    DomainError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    UnauthenticatedError,
)
from parvis.kernel.settings import ConfigError
from parvis.kernel.staffguard import StaffAccessError, StaffRequiredError, sign_in_url
from parvis.kernel.web import CsrfError, UnsupportedMediaTypeError, render
from parvis.negotiation import prefers_html, prefers_json

__all__ = [
    "ERROR_PAGES",
    "EXPIRED_FORM",
    "PROBLEM_TABLE",
    "STAFF_SIGN_IN_NEEDED",
    "ProblemResponse",
    "challenge_headers",
    "error_page",
    "install_problem_handlers",
    "problem",
]

#: Problem type URIs are tag URIs (RFC 4151): stable names that never need to resolve;
#: ``docs/problems.md`` documents each one.
TYPE_PREFIX = "tag:parvis.fr,2026:problem/"

#: (exception class, HTTP status, problem type slug) — most specific class first.
#: Domains' own subclasses are added here by the composition root as they appear.
PROBLEM_TABLE: list[tuple[type[DomainError], int, str]] = [
    (UnsupportedMediaTypeError, 415, "unsupported-media-type"),
    (CsrfError, 403, "csrf"),
    (ConfigError, 500, "configuration"),
    (UnauthenticatedError, 401, "unauthenticated"),
    (ForbiddenError, 403, "forbidden"),
    (NotFoundError, 404, "not-found"),
    (ConflictError, 409, "conflict"),
    (InvalidInputError, 422, "invalid-input"),
    (DomainError, 400, "domain-error"),
]

log = logging.getLogger("parvis.errors")

#: RFC 9110 §5.5 field-value, restricted to visible ASCII and spaces: a challenge with a
#: line break or a control character would be a header injection, so it is left out.
_FIELD_VALUE = re.compile(r"^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$")


#: The statuses a browser sees as a page, with the page's heading and explanation (message
#: ids of the French catalogue, :mod:`parvis.locale_fr`). Nothing here depends on the error's
#: own detail, which is English and may name internals.
ERROR_PAGES: dict[int, tuple[str, str]] = {
    401: (
        "Sign-in required",
        "You need to sign in to see this page. Sign in, then open the page again.",
    ),
    403: (
        "Access refused",
        "You cannot see this page with the account you are signed in with. Sign in with "
        "another account, or ask the town hall if you think you should have access.",
    ),
    404: (
        "Page not found",
        "This page does not exist or has moved. Check the address, or start again from the "
        "home page.",
    ),
    405: (
        "Action not possible here",
        "This address cannot be used this way. Go back to the previous page and use its "
        "links and buttons.",
    ),
    422: (
        "Information not accepted",
        "What was sent could not be used: a field is missing or is not in the expected "
        "form. Go back, check the form and send it again.",
    ),
    500: (
        "Something went wrong",
        "The page could not be shown because of an error on our side. It has been recorded. "
        "Please try again in a few minutes.",
    ),
}

#: A form posted without its session's token (:class:`CsrfError`) is usually an old tab.
EXPIRED_FORM = (
    "Form expired",
    "This form has expired, for example because it stayed open too long. Go back, reload "
    "the page and send the form again.",
)


#: A staff page asked for without a staff session, where the page does not redirect to the
#: sign-in page itself (:class:`~parvis.kernel.staffguard.StaffRequiredError`).
STAFF_SIGN_IN_NEEDED = (
    "Sign-in required",
    "This page is for city staff. Sign in with a staff account that holds the role it needs.",
)


def _wants_page(request: Request, status: int) -> bool:
    return status in ERROR_PAGES and prefers_html(request.headers.get("accept"))


def error_page(
    request: Request,
    status: int,
    *,
    headers: dict[str, str] | None = None,
    messages: tuple[str, str] | None = None,
    link: tuple[str, str] | None = None,
) -> Response:
    """The HTML page for ``status`` in the visitor's language (:func:`render`); ``link`` is
    an extra ``(path, message id)`` to offer (the staff sign-in page).

    Rendering reads the session from the database; when that fails too (the database may be
    why there is an error at all), a bare page from the catalogue is answered instead.
    """
    heading, explanation = messages or ERROR_PAGES[status]
    try:
        response: Response = render(
            request,
            "error.html",
            {"status": status, "heading": heading, "explanation": explanation, "link": link},
            status_code=status,
        )
    except Exception as exc:
        # Type only, as for the error itself: a traceback could hold personal data.
        log.error("error page not rendered", extra={"exc_type": type(exc).__name__})  # noqa: TRY400
        lang = i18n.negotiate(
            request.query_params.get("lang") or request.cookies.get("parvis_lang"),
            request.headers.get("accept-language"),
            "fr",
        )
        text = i18n.catalog(lang)
        title, body, back = (
            html_escape(text.get(m, m)) for m in (heading, explanation, "Back to the home page")
        )
        response = HTMLResponse(
            f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
            f'<title>{title} · Parvis</title><link rel="stylesheet" href="/static/parvis.css">'
            f"</head><body><main><h1>{title}</h1>"
            f'<p>{body}</p><p><a href="/">{back}</a></p></main></body></html>',
            status_code=status,
        )
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


class ProblemResponse(JSONResponse):
    media_type = "application/problem+json"


def problem(
    status: int,
    *,
    title: str | None = None,
    detail: str | None = None,
    type_: str = "about:blank",
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> ProblemResponse:
    """Build a problem+json response (RFC 9457 §3.1 members)."""
    body: dict[str, Any] = {
        "type": type_,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if extra:
        body.update(extra)
    return ProblemResponse(body, status_code=status, headers=headers)


def challenge_headers(exc: DomainError) -> dict[str, str] | None:
    """``WWW-Authenticate`` (RFC 9110 §11.6.1) for an error that carries a challenge in its
    ``www_authenticate`` attribute, with ``Cache-Control: no-store`` (an answer about
    credentials is for this request only, like RFC 6749 §5.1's token answers); None
    otherwise."""
    challenge = getattr(exc, "www_authenticate", None)
    if not isinstance(challenge, str) or not _FIELD_VALUE.match(challenge):
        return None
    return {"WWW-Authenticate": challenge, "Cache-Control": "no-store"}


def lookup(
    exc: DomainError, table: Sequence[tuple[type[DomainError], int, str]]
) -> tuple[int, str]:
    for cls, status, slug in table:
        if isinstance(exc, cls):
            return status, slug
    return 400, "domain-error"


def install_problem_handlers(
    app: FastAPI, table: Sequence[tuple[type[DomainError], int, str]] = PROBLEM_TABLE
) -> None:
    """Register the handlers that turn every error into problem+json.

    ``table`` is the domains' entries followed by :data:`PROBLEM_TABLE` (most specific first).
    """

    async def on_domain_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DomainError)
        status, slug = lookup(exc, table)
        if _wants_page(request, status):
            expired = EXPIRED_FORM if isinstance(exc, CsrfError) else None
            return error_page(request, status, headers=challenge_headers(exc), messages=expired)
        return problem(
            status,
            title=exc.title,
            detail=exc.detail,
            type_=TYPE_PREFIX + slug,
            headers=challenge_headers(exc),
        )

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if _wants_page(request, exc.status_code):
            return error_page(request, exc.status_code, headers=dict(exc.headers or {}))
        # Starlette's own messages ("Not Found", "Method Not Allowed") carry nothing private.
        detail: str | None = exc.detail if isinstance(exc.detail, str) else None
        if detail == HTTPStatus(exc.status_code).phrase:
            detail = None
        return problem(exc.status_code, detail=detail, headers=dict(exc.headers or {}))

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        if _wants_page(request, 422):
            # The field names and pydantic's messages are English and technical: the page
            # explains in words, the form's own page shows errors next to its fields.
            return error_page(request, 422)
        # Only location, message and error type: the submitted value ("input") could be a
        # secret or personal data and is never echoed back.
        errors = [
            {
                "loc": [str(part) for part in err.get("loc", ())],
                "msg": err.get("msg", ""),
                "type": err.get("type", ""),
            }
            for err in exc.errors()
        ]
        return problem(
            422,
            title="Invalid request",
            detail=f"{len(errors)} field error(s) in the request",
            type_=TYPE_PREFIX + "validation",
            extra={"errors": errors},
        )

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        route = getattr(request.scope.get("route"), "path", "unmatched")
        # The exception type and route are enough to find the bug; the message could hold
        # personal data, so it is not logged, and nothing at all goes to the client.
        log.error("unhandled exception", extra={"route": route, "exc_type": type(exc).__name__})
        if _wants_page(request, 500):
            return error_page(request, 500)
        return problem(500, detail="An internal error occurred. It has been logged.")

    async def on_staff_access(request: Request, exc: Exception) -> Response:
        """The one answer of every staff page's guard (:mod:`parvis.kernel.staffguard`).

        Staff pages are pages: anything but a client that prefers JSON (a script) gets
        HTML — the 303 to the sign-in page, or the French 401/403 page — and a script gets
        the same problem+json as any other 401/403.
        """
        assert isinstance(exc, StaffAccessError)
        assert isinstance(exc, DomainError)
        status, slug = lookup(exc, table)
        if not prefers_json(request.headers.get("accept")):
            if isinstance(exc, StaffRequiredError):
                if exc.redirect:
                    return RedirectResponse(sign_in_url(exc.next_path), status_code=303)
                heading, explanation = STAFF_SIGN_IN_NEEDED
                return error_page(
                    request,
                    status,
                    messages=(heading, exc.message or explanation),
                    link=(sign_in_url(exc.next_path), "Staff sign-in"),
                )
            message = getattr(exc, "message", None) or ERROR_PAGES[403][1]
            return error_page(
                request,
                status,
                messages=(ERROR_PAGES[403][0], message),
                link=("/staff", "Staff"),
            )
        return problem(status, title=exc.title, detail=exc.detail, type_=TYPE_PREFIX + slug)

    app.add_exception_handler(StaffAccessError, on_staff_access)
    app.add_exception_handler(DomainError, on_domain_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(Exception, on_unexpected)
