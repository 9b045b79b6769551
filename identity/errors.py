"""The identity domain's exception tree (style.md: typed context, no HTTP status codes).

One opaque error per failure class goes to the citizen; the precise ``reason`` goes to the
audit trail and the logs (Fernet's ``InvalidToken`` habit). Messages carry no personal data.
"""

from __future__ import annotations

from parvis.kernel.errors import (
    ConflictError,
    DomainError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    UnauthenticatedError,
)

__all__ = [
    "AttemptsExhaustedError",
    "ClaimError",
    "CodeExpiredError",
    "DuplicateIdentityError",
    "FranceConnectError",
    "FranceConnectRefusedError",
    "IdentityError",
    "IdentityNotFoundError",
    "IdentityRuleError",
    "IssuanceCitizenMismatchError",
    "ProviderUnavailableError",
    "PurposeNotRegisteredError",
    "StaffAccountError",
    "StaffAuthenticationError",
    "StateMismatchError",
    "TokenValidationError",
    "UserinfoError",
    "WrongCodeError",
]


class IdentityError(DomainError):
    """Base of every error the identity domain raises on purpose."""

    title = "Identity error"


class FranceConnectError(IdentityError, UnauthenticatedError):
    """Signing in with FranceConnect failed; ``reason`` is a short machine code."""

    title = "FranceConnect sign-in failed"

    def __init__(self, detail: str, *, reason: str) -> None:
        super().__init__(detail)
        self.reason = reason


class FranceConnectRefusedError(FranceConnectError):
    """FranceConnect came back with an OAuth ``error`` (RFC 6749 §4.1.2.1), e.g.
    ``access_denied`` when the citizen cancelled. ``error`` is FranceConnect's code."""

    title = "FranceConnect did not sign you in"

    def __init__(self, detail: str, *, error: str) -> None:
        super().__init__(detail, reason=error)
        self.error = error


class StateMismatchError(FranceConnectError):
    """The callback's ``state`` is missing, unknown, already used or not this browser's."""

    title = "Sign-in request expired or forged"


class TokenValidationError(FranceConnectError):
    """An ID token failed a check of OpenID Connect Core §3.1.3.7 or a FranceConnect rule."""

    title = "FranceConnect answer rejected"


class UserinfoError(FranceConnectError):
    """The userinfo response is not a valid JWT signed by FranceConnect for this subject."""

    title = "FranceConnect answer rejected"


class ClaimError(FranceConnectError):
    """A claim FranceConnect must send is missing or not in FranceConnect's format."""

    title = "Identity data incomplete"


class ProviderUnavailableError(FranceConnectError):
    """FranceConnect answered an error status, an unexpected body, or not in time."""

    title = "FranceConnect unavailable"


class IssuanceCitizenMismatchError(FranceConnectError):
    """The FranceConnect authentication of an issuance is another citizen's than the one
    signed in (ballot-secrecy.md §3): no voting right is issued on it."""

    title = "Another citizen authenticated"


class DuplicateIdentityError(IdentityError, ConflictError):
    """The verified identity already belongs to another account (one person, one account)."""

    title = "Identity already linked to another account"


class IdentityNotFoundError(IdentityError, NotFoundError):
    """The named citizen, territory, rule, import or staff member does not exist."""

    title = "Not found"


class IdentityRuleError(IdentityError, InvalidInputError):
    """A territory, rule, census file or declaration breaks a rule (the detail says which)."""

    title = "Invalid input"


class PurposeNotRegisteredError(IdentityError, ConflictError):
    """Personal data would be read for a purpose the controller's register does not contain
    (consent's access records need one): the DPO must add it first."""

    title = "Purpose not in the register"


class WrongCodeError(IdentityError, InvalidInputError):
    """A postal-letter code does not match; ``attempts_left`` says how many tries remain."""

    title = "Wrong code"

    def __init__(self, detail: str, *, attempts_left: int) -> None:
        super().__init__(detail)
        self.attempts_left = attempts_left


class CodeExpiredError(IdentityError, InvalidInputError):
    """The postal-letter code has expired or was already used."""

    title = "Code expired"


class AttemptsExhaustedError(IdentityError, ForbiddenError):
    """Too many wrong codes: the letter is void, a new one must be requested."""

    title = "Too many attempts"


class StaffAuthenticationError(IdentityError, UnauthenticatedError):
    """Staff sign-in failed. The same message for an unknown e-mail, a wrong password, a
    wrong second factor and a locked account, so that none of them can be told apart."""

    title = "Sign-in failed"


class StaffAccountError(IdentityError, ConflictError):
    """A change to a staff account that its state refuses: disabling one's own account or
    the last active administrator, resetting one's own account, a code that does not
    confirm the enrolment."""

    title = "Staff account change refused"
