"""Exception tree of the consent registry.

House style (style.md): every class derives from one of the kernel's five categories
(:mod:`parvis.kernel.errors`) and carries typed context attributes, never an HTTP status;
``consent.plugin.PLUGIN.problems`` maps each to a problem type (``docs/problems.md``).
Messages name purposes, notices and requests by their ids — never a person: a subject
pseudonym is personal data and stays out of every message.
"""

from __future__ import annotations

from parvis.kernel.errors import (
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    UnauthenticatedError,
)

__all__ = [
    "ActorError",
    "ApiClientError",
    "BackdatedEventError",
    "CatalogueError",
    "DataKeyError",
    "DeadlineError",
    "DurationError",
    "LegalBasisError",
    "MalformedReceiptError",
    "MinorConsentError",
    "NotGivenError",
    "ReceiptError",
    "ReceiptKeyError",
    "ReceiptSignatureError",
    "RequestStateError",
    "StaleNoticeError",
    "SubjectErasedError",
    "TransitionError",
    "UnknownControllerError",
    "UnknownNoticeError",
    "UnknownPurposeError",
    "UnknownReceiptError",
    "UnknownRequestError",
    "UnknownSubjectError",
    "UnlinkedApiClientError",
    "WebhookError",
    "WebhookReplayError",
    "WebhookSignatureError",
    "WebhookTimestampError",
]


# --- catalogue (Art. 30 register) -------------------------------------------------------------


class CatalogueError(InvalidInputError):
    """A controller, purpose or notice definition breaks a rule of the Art. 30 register."""

    title = "Invalid register entry"


class DurationError(CatalogueError):
    """A retention or validity period is not an ISO 8601 duration Parvis accepts."""

    title = "Invalid duration"


class UnknownControllerError(NotFoundError):
    title = "Unknown controller"

    def __init__(self, controller_id: str) -> None:
        super().__init__(f"no controller with id {controller_id!r}")
        self.controller_id = controller_id


class UnknownPurposeError(NotFoundError):
    title = "Unknown purpose"

    def __init__(self, purpose_id: str) -> None:
        super().__init__(f"no purpose with id {purpose_id!r}")
        self.purpose_id = purpose_id


class UnknownNoticeError(NotFoundError):
    title = "Unknown notice version"

    def __init__(self, notice_id: str) -> None:
        super().__init__(f"no privacy notice version {notice_id!r}")
        self.notice_id = notice_id


class UnknownSubjectError(NotFoundError):
    """The subject identifier names nobody this registry (or its resolver) knows."""

    title = "Unknown subject"


class UnknownRequestError(NotFoundError):
    title = "Unknown data-subject request"

    def __init__(self, request_id: str) -> None:
        super().__init__(f"no data-subject request {request_id!r}")
        self.request_id = request_id


class UnknownReceiptError(NotFoundError):
    title = "Unknown receipt"


# --- consent events ---------------------------------------------------------------------------


class LegalBasisError(InvalidInputError):
    """Consent was asked or recorded for a purpose whose legal basis is not consent.

    ``basis`` is the purpose's basis; ``alternative`` the right the person has instead
    (e.g. ``objection``), or None when no opposition right applies.
    """

    title = "Consent does not apply to this purpose"

    def __init__(
        self, detail: str, *, purpose_id: str, basis: str, alternative: str | None
    ) -> None:
        super().__init__(detail)
        self.purpose_id = purpose_id
        self.basis = basis
        self.alternative = alternative


class ActorError(InvalidInputError):
    """The person or system recording an event may not record that kind of event."""

    title = "Actor not allowed for this consent event"


class MinorConsentError(ActorError):
    """A child under 15 tried to consent alone (Loi 78-17 art. 45: jointly with a holder of
    parental authority)."""

    title = "Joint consent of a holder of parental authority required"


class TransitionError(ConflictError):
    """The event is not allowed from the current consent state."""

    title = "Consent state does not allow this event"

    def __init__(self, detail: str, *, current: str | None, requested: str) -> None:
        super().__init__(detail)
        self.current = current
        self.requested = requested


class NotGivenError(TransitionError):
    """Withdrawal (or expiry, renewal, revocation) of a consent that is not in force."""

    title = "No consent in force to withdraw"


class BackdatedEventError(TransitionError):
    """An event dated before the last event of the same consent (back-dating)."""

    title = "Consent event out of order"


class StaleNoticeError(ConflictError):
    """The notice shown to the person is not the one in force for the purpose."""

    title = "Privacy notice out of date"


# --- receipts ---------------------------------------------------------------------------------


class ReceiptError(InvalidInputError):
    """A consent receipt does not verify."""

    title = "Invalid consent receipt"


class MalformedReceiptError(ReceiptError):
    title = "Malformed consent receipt"


class ReceiptKeyError(ReceiptError):
    """The receipt names a signing key that is not among the trusted ones."""

    title = "Consent receipt signed by an unknown key"


class ReceiptSignatureError(ReceiptError):
    """The Ed25519 signature does not match the receipt's content (tampering)."""

    title = "Consent receipt signature mismatch"


# --- webhooks ---------------------------------------------------------------------------------


class WebhookError(InvalidInputError):
    """A webhook delivery does not verify (receiver side)."""

    title = "Invalid webhook"


class WebhookSignatureError(WebhookError):
    title = "Webhook signature mismatch"


class WebhookTimestampError(WebhookError):
    title = "Webhook timestamp outside the tolerance"


class WebhookReplayError(WebhookError):
    title = "Webhook already received"


# --- data-subject requests --------------------------------------------------------------------


class DeadlineError(InvalidInputError):
    """An Art. 12(3) rule on time limits is broken (e.g. extension notified too late)."""

    title = "Time limit rule broken"


class RequestStateError(ConflictError):
    """The data-subject request is not in a state that allows this step."""

    title = "Request state does not allow this step"


# --- keys and clients -------------------------------------------------------------------------


class SubjectErasedError(ConflictError):
    """The subject's data key was destroyed (erasure): nothing can be stored or read."""

    title = "Subject erased"


class DataKeyError(InvalidInputError):
    """A ciphertext does not decrypt under the subject's key (tampered or foreign)."""

    title = "Undecryptable data"


class ApiClientError(UnauthenticatedError):
    """A platform's interim API key (ADR 0007: deprecated) is malformed, unknown, revoked or
    past its sunset: an RFC 6750 §3.1 ``invalid_token`` failure like any bearer token's.

    (Not a :class:`parvis.kernel.apiauth.BearerError`: this module is imported by consent's
    pure cores, which must not reach the web layer; the application's problem handler reads
    ``www_authenticate`` from any error.)
    """

    title = "Invalid API client credentials"
    www_authenticate = 'Bearer realm="parvis", error="invalid_token"'


class UnlinkedApiClientError(ForbiddenError):
    """A valid access token of an OAuth client that no controller has registered as its API
    client (``parvis consent add-client``): the platform is known to the authorization
    server, but acts for no controller here."""

    title = "Platform not linked to a controller"
