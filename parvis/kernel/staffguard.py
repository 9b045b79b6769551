"""One guard for every staff page: a FastAPI dependency that returns the signed-in
:class:`~parvis.kernel.principal.Staff` holding one of the page's roles, or raises.

architecture.md, "Web" (pages French first; errors problem+json for APIs) and "The five
parts" (``consent`` and ``ballot`` read who is signed in through the kernel). The guard
raises, it never returns a response: :class:`StaffRequiredError` when nobody is signed in as
staff, :class:`StaffForbiddenError` when the staff member lacks the role. One exception handler
in the composition root (:func:`parvis.problems.install_problem_handlers`) answers both —
a browser gets a 303 to the staff sign-in page (with ``next``) or the French 401/403 page,
a script that asks for JSON gets RFC 9457 problem+json — so no page handler repeats the
check or its answer.

CSRF is not the guard's business: each form handler still checks the session's token
(:func:`parvis.kernel.web.check_csrf`), after the guard, so that a wrong role is answered
403 before a form is read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated
from urllib.parse import urlencode, urlsplit

from fastapi import Depends, Request

from parvis.kernel.errors import ForbiddenError, UnauthenticatedError
from parvis.kernel.principal import Principal, Role, Staff
from parvis.kernel.web import current_principal

__all__ = [
    "STAFF_SIGN_IN",
    "StaffAccessError",
    "StaffForbiddenError",
    "StaffRequiredError",
    "safe_next",
    "sign_in_url",
    "staff_required",
]

#: The staff sign-in page (identity's); the guard only builds links to it.
STAFF_SIGN_IN = "/staff/login"
#: Longest ``next`` kept; anything longer is dropped (no legitimate page path is that long).
MAX_NEXT = 1024

#: The default explanation of a 403 (a message id of the French catalogue).
NEEDS_ROLE = (
    "You cannot see this page with the account you are signed in with. Sign in with "
    "another account, or ask the town hall if you think you should have access."
)


def safe_next(value: object) -> str | None:
    r"""``value`` if it is a path of this site to go back to after sign-in, else None.

    Only a same-origin absolute path is accepted: one leading ``/``, printable ASCII. Refused:
    anything with a scheme or host (``https://evil.example``, ``//evil.example``), a
    backslash (browsers read ``/\evil.example`` as ``//evil.example``), control characters
    and spaces (browsers drop tabs and newlines, so ``/<TAB>/evil.example`` would become
    ``//evil.example``), and the sign-in page itself. No open redirect (OWASP Unvalidated
    Redirects and Forwards Cheat Sheet).
    """
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_NEXT:
        return None
    if not value.startswith("/") or value.startswith("//"):
        return None
    if any(not 0x21 <= ord(ch) <= 0x7E or ch == "\\" for ch in value):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or parts.path in {STAFF_SIGN_IN, STAFF_SIGN_IN + "/"}:
        return None
    return value


def sign_in_url(next_path: str | None) -> str:
    """The staff sign-in page, coming back to ``next_path`` (already checked) afterwards."""
    return f"{STAFF_SIGN_IN}?{urlencode({'next': next_path})}" if next_path else STAFF_SIGN_IN


class StaffAccessError(Exception):
    """Base of the guard's two refusals; the composition root has one handler for it."""


class StaffRequiredError(StaffAccessError, UnauthenticatedError):
    """Nobody is signed in as staff. ``next_path`` is where the sign-in should come back
    to (checked by :func:`safe_next`); ``redirect`` says whether a browser is sent to the
    sign-in page (303) or shown the 401 page that links to it, explained by ``message`` (a
    message id; None for the general one)."""

    def __init__(
        self, *, next_path: str | None, redirect: bool, message: str | None = None
    ) -> None:
        super().__init__("a signed-in staff member is required")
        self.next_path = next_path
        self.redirect = redirect
        self.message = message


class StaffForbiddenError(StaffAccessError, ForbiddenError):
    """The staff member holds none of the page's roles. ``message`` is the page's
    explanation (a message id); the problem detail names the roles."""

    title = "Forbidden"

    def __init__(self, roles: tuple[Role, ...], *, message: str = NEEDS_ROLE) -> None:
        super().__init__("this operation needs the role " + " or ".join(roles))
        self.roles = roles
        self.message = message


def staff_required(
    *roles: Role,
    form_page: str | Callable[[Request], str] | None = None,
    message: str = NEEDS_ROLE,
    redirect: bool = True,
    sign_in_message: str | None = None,
) -> Callable[..., Staff]:
    """The dependency of a staff page: the signed-in staff member holding any of ``roles``
    (any staff member when none is given).

    Not signed in as staff: :class:`StaffRequiredError`, whose ``next`` is this page (with its
    query) for a GET, and for a form's POST ``form_page`` — the page that has the form,
    a path or a function of the request — else the POST's own path. ``redirect=False``
    keeps the pages that have always answered a 401 page instead of a redirect (the DPO
    console), explained by ``sign_in_message``. A missing role: :class:`StaffForbiddenError`
    with ``message``.
    """

    def dependency(
        request: Request, principal: Annotated[Principal, Depends(current_principal)]
    ) -> Staff:
        if not isinstance(principal, Staff):
            if request.method in {"GET", "HEAD"}:
                query = request.url.query
                here = request.url.path + (f"?{query}" if query else "")
            elif callable(form_page):
                here = form_page(request)
            else:
                here = form_page or request.url.path
            raise StaffRequiredError(
                next_path=safe_next(here), redirect=redirect, message=sign_in_message
            )
        if roles and not any(principal.has(role) for role in roles):
            raise StaffForbiddenError(roles, message=message)
        return principal

    return dependency
