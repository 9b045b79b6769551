"""The root of every domain's exception tree.

House style (style.md): each domain defines its own exceptions under :class:`DomainError`,
with typed context attributes and **no HTTP status codes**. One table in the composition
root (:mod:`parvis.problems`) maps them to RFC 9457 problem types, most specific class
first. This module is pure: it imports nothing from FastAPI, Starlette or SQLAlchemy.
"""

from __future__ import annotations

__all__ = [
    "ConflictError",
    "DomainError",
    "ForbiddenError",
    "InvalidInputError",
    "NotFoundError",
    "UnauthenticatedError",
]


class DomainError(Exception):
    """Base class of every error a domain raises on purpose.

    ``title`` is a short, stable, human summary of the failure class (safe to show to a
    client); the exception message (``str(exc)``) is the precise detail, which must never
    contain personal data, secrets or key material.
    """

    title: str = "Domain error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidInputError(DomainError):
    """The caller sent something malformed, out of range or contrary to a rule."""

    title = "Invalid input"


class NotFoundError(DomainError):
    """The named object does not exist (or the caller may not know that it does)."""

    title = "Not found"


class ConflictError(DomainError):
    """The request contradicts the current state (duplicate, already done, wrong phase)."""

    title = "Conflict"


class UnauthenticatedError(DomainError):
    """No principal, or a principal that cannot be trusted any more."""

    title = "Authentication required"


class ForbiddenError(DomainError):
    """The principal is known but lacks the role or right for this operation."""

    title = "Forbidden"
