"""Exceptions raised by the ballot domain's token and cast-request code.

House style (style.md): one exception class per failure class, derived from the kernel's
:class:`~parvis_verifier.errors.DomainError` tree, with typed context attributes and no HTTP
status codes. The composition root maps them to RFC 9457 problem types, most specific class
first. Messages never contain key material, tokens or personal data: only field names and
sizes.

The RFC 9474 error names ("message too long", "invalid input", "blinding error",
"message representative out of range", "signing failure", "unexpected input size",
"invalid signature") each map to one class below; their docstrings say which.
"""

from __future__ import annotations

from collections.abc import Mapping

from parvis_verifier.errors import (
    ConflictError,
    DomainError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    UnauthenticatedError,
)

__all__ = [
    "BackendUnavailableError",
    "BallotTooLargeError",
    "BlindInputError",
    "BlindingError",
    "CeremonyStateError",
    "ElectionNotFoundError",
    "ElectionStateError",
    "EligiblePopulationReachedError",
    "InvalidBallotSignatureError",
    "InvalidCeremonyMessageError",
    "InvalidElectionError",
    "InvalidKeyError",
    "InvalidLengthError",
    "InvalidPaperTotalsError",
    "InvalidSignatureError",
    "IssuanceAuthenticationRequiredError",
    "MalformedCastError",
    "MalformedTokenError",
    "ManifestNotPublishedError",
    "MessageTooLongError",
    "NotATrusteeError",
    "NotEligibleError",
    "OutOfRangeError",
    "PaperVoteRecordedError",
    "RateLimitedError",
    "ResultsNotPublishedError",
    "SigningFailureError",
    "StaleRevoteError",
    "TallyCheckError",
    "TokenAlreadyIssuedError",
    "TokenAlreadyUsedError",
    "UncommittedKeyError",
    "UnknownBackendError",
    "UnknownReceiptError",
    "WrongElectionError",
]


class InvalidKeyError(InvalidInputError):
    """An RSA key is unusable here (modulus size outside the accepted range, wrong type).

    ``bits`` is the modulus size that was refused (0 when the object is not an RSA key).
    """

    title = "Invalid key"

    def __init__(self, detail: str, *, bits: int) -> None:
        super().__init__(detail)
        self.bits = bits


class InvalidLengthError(InvalidInputError):
    """A byte string has the wrong length (RFC 9474 "unexpected input size").

    ``field`` names the input, ``expected`` and ``actual`` are lengths in bytes.
    """

    title = "Unexpected input size"

    def __init__(self, detail: str, *, field: str, expected: int, actual: int) -> None:
        super().__init__(detail)
        self.field = field
        self.expected = expected
        self.actual = actual


class OutOfRangeError(InvalidInputError):
    """An integer representative is outside its range.

    RFC 9474 "message representative out of range" (``BlindSign``, ``m`` not in
    ``(0, n)``) and "invalid input" (``Blind``, encoded message not coprime with ``n``),
    and the same checks on ``inv`` and ``blind_sig`` in ``Finalize``. ``field`` names the
    input.
    """

    title = "Value out of range"

    def __init__(self, detail: str, *, field: str) -> None:
        super().__init__(detail)
        self.field = field


class MessageTooLongError(InvalidInputError):
    """EMSA-PSS-ENCODE refused its input (RFC 8017 §9.1.1 "message too long" or
    "encoding error")."""

    title = "Message too long"


class BlindingError(InvalidInputError):
    """The blinding factor has no inverse modulo ``n`` (RFC 9474 §4.2 "blinding error")."""

    title = "Blinding error"


class InvalidSignatureError(InvalidInputError):
    """An RSA-PSS signature (a token, or a finalized blind signature) does not verify.

    RFC 9474 §4.4 "invalid signature".
    """

    title = "Invalid signature"


class InvalidBallotSignatureError(InvalidSignatureError):
    """The Ed25519 ballot signature does not verify under the key inside the token."""

    title = "Invalid ballot signature"


class SigningFailureError(DomainError):
    """The signer's own output check failed (RFC 9474 §4.3 "signing failure").

    Derived from :class:`DomainError`, not :class:`InvalidInputError`: the composition
    root should map it to a 500, like the two backend errors below (configuration).

    This is a fault on the signer's side (hardware fault, broken backend), never the
    client's: the signature is withheld because a faulty RSA-CRT result can reveal a
    factor of ``n``. ``backend`` names the backend that produced the wrong value.
    """

    title = "Signing failure"

    def __init__(self, detail: str, *, backend: str) -> None:
        super().__init__(detail)
        self.backend = backend


class MalformedTokenError(InvalidInputError):
    """A token message does not have the ``parvis-ballot-v1`` layout."""

    title = "Malformed token"


class MalformedCastError(InvalidInputError):
    """A cast request (or a stored voting right) is not exactly the documented structure.

    ``field`` is the dotted path of the offending member (``""`` for the whole object).
    """

    title = "Malformed cast request"

    def __init__(self, detail: str, *, field: str) -> None:
        super().__init__(detail)
        self.field = field


class WrongElectionError(InvalidInputError):
    """A token or ballot names another election than the one it is presented to."""

    title = "Wrong election"


class UncommittedKeyError(InvalidInputError):
    """The issuer offered a public key whose key id is not the one in the election manifest.

    Blinding against it could tag the voter with a personal key, so the client refuses.
    """

    title = "Key not committed in the election manifest"


class UnknownBackendError(DomainError):
    """``PARVIS_RSA_BACKEND`` (or ``get_backend(name)``) names no backend that exists."""

    title = "Unknown RSA backend"

    def __init__(self, detail: str, *, name: str) -> None:
        super().__init__(detail)
        self.name = name


class BackendUnavailableError(DomainError):
    """The named RSA backend exists but cannot run here (library missing)."""

    title = "RSA backend unavailable"

    def __init__(self, detail: str, *, name: str) -> None:
        super().__init__(detail)
        self.name = name


# --------------------------------------------------------------------------------------
# Elections, issuance and casting (the service layer; docs/ballot-api.md lists the slugs)
# --------------------------------------------------------------------------------------


class ElectionNotFoundError(NotFoundError):
    """No such election, or a draft the caller may not see (answered alike)."""

    title = "Election not found"


class ElectionStateError(ConflictError):
    """The election's status (or the time) does not allow this step.

    ``status`` is the election's current status.
    """

    title = "Not possible in the election's current status"

    def __init__(self, detail: str, *, status: str) -> None:
        super().__init__(detail)
        self.status = status


class CeremonyStateError(ConflictError):
    """The key ceremony is not at the step this message or action belongs to (not started,
    already complete, a duplicate, a round-1 message after the signatures began…;
    docs/adr/0018-encrypted-elections.md, "The ceremony in the lifecycle")."""

    title = "Not possible at this step of the key ceremony"


class InvalidCeremonyMessageError(InvalidInputError):
    """A ceremony message fails its check (board-format.md §10.1; ADR 0012 decision 4);
    nothing was appended. ``participant`` is the participant it names or comes from, when
    known. The detail names the fault (envelope signature, sender, context, transcript…)."""

    title = "Invalid key ceremony message"

    def __init__(self, detail: str, *, participant: int | None = None) -> None:
        super().__init__(detail)
        self.participant = participant


class NotATrusteeError(ForbiddenError):
    """The signed-in staff member is not one of this election's trustees (or acts for
    another participant than their own)."""

    title = "Not a trustee of this election"


class InvalidElectionError(InvalidInputError):
    """An election definition (file, staff or platform API) breaks a rule.

    ``field`` is the path of the member at fault in the definition (``"title"``,
    ``"eligibility.population"``, ``"questions[0].options[2].cost"``; ``None`` for the
    definition as a whole), so that a form can show the reason next to the field.
    ``message`` and ``params`` are the reason without the path, as a message id and its
    ``%``-parameters (a page translates the id, then fills it in); ``detail`` stays the
    English sentence every client already reads.
    """

    title = "Invalid election definition"

    def __init__(
        self,
        detail: str,
        *,
        field: str | None = None,
        message: str | None = None,
        params: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(detail)
        self.field = field
        self.message = message if message is not None else detail
        self.params: Mapping[str, object] = dict(params or {})


class ManifestNotPublishedError(NotFoundError):
    """The manifest exists only once the election is open."""

    title = "Manifest not published yet"


class ResultsNotPublishedError(NotFoundError):
    """Results are public only once the election is published."""

    title = "Results not published yet"


class NotEligibleError(ForbiddenError):
    """The citizen is not eligible under the election's rule now; ``reasons`` says why
    (identity's reason codes, no personal data)."""

    title = "Not eligible for this election"

    def __init__(self, detail: str, *, reasons: tuple[str, ...]) -> None:
        super().__init__(detail)
        self.reasons = reasons


class TokenAlreadyIssuedError(ConflictError):
    """A token was already issued to this citizen for this election (voting-protocol.md,
    issuance step 4: "has no token yet"); also refuses a paper mark after issuance."""

    title = "Voting token already issued"


class IssuanceAuthenticationRequiredError(UnauthenticatedError):
    """A voting right is issued only on a fresh FranceConnect authentication whose nonce
    binds the election and the blinded message (ballot-secrecy.md §3): none was found in
    the session for this blinded message."""

    title = "FranceConnect authentication required for this voting right"


class EligiblePopulationReachedError(ConflictError):
    """As many tokens were issued as the manifest's eligible population: no more
    (voting-protocol.md, "Verification": #tokens issued ≤ eligible population).
    ``population`` is that number, which the manifest publishes."""

    title = "Eligible population reached"

    def __init__(self, detail: str, *, population: int) -> None:
        super().__init__(detail)
        self.population = population


class PaperVoteRecordedError(ConflictError):
    """The citizen voted on paper for this election: no online token."""

    title = "Paper vote recorded"


class RateLimitedError(DomainError):
    """Too many token requests (per citizen, or for this process's signer)."""

    title = "Too many requests"


class BlindInputError(InvalidInputError):
    """``blinded_msg`` has the wrong length or is out of range (RFC 9474 §4.3 inputs)."""

    title = "Invalid blinded message"


class TokenAlreadyUsedError(ConflictError):
    """The token already cast a ballot and the election does not allow re-voting
    (voting-protocol.md, "Casting": the nullifier is UNIQUE)."""

    title = "Token already used"


class TallyCheckError(ConflictError):
    """The tally's own check failed, or the election's last tally did (ADR 0010).

    The check is voting-protocol.md's "Verification" on what the board will state:
    #ballots counted ≤ #tokens issued ≤ eligible population, and the tokens counted now are
    the close entry's. A failed tally records nothing but its ``reason`` (one line, counts
    only); ``publish`` refuses the election until a tally passes.
    """

    title = "Tally check failed"

    def __init__(self, detail: str, *, reason: str) -> None:
        super().__init__(detail)
        self.reason = reason


class StaleRevoteError(ConflictError):
    """A re-vote whose ``seq`` is not above the last accepted ballot of its token."""

    title = "Re-vote with a stale sequence number"

    def __init__(self, detail: str, *, seq: int) -> None:
        super().__init__(detail)
        self.seq = seq


class BallotTooLargeError(DomainError):
    """A cast request larger than the casting endpoint accepts."""

    title = "Cast request too large"


class UnknownReceiptError(NotFoundError):
    """No ballot on the board has this tracking code."""

    title = "Unknown tracking code"


class InvalidPaperTotalsError(InvalidInputError):
    """Paper totals name unknown questions or options, or hold impossible counts."""

    title = "Invalid paper totals"
