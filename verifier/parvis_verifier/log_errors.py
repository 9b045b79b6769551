"""Exception tree of the transparency log (:mod:`parvis_verifier.merkle`,
:mod:`parvis_verifier.note`, and the audit engine of the server, which re-exports it).

House style (style.md): one tree per domain under
:class:`parvis_verifier.errors.DomainError`, typed context attributes, no HTTP status codes.
Everything here is an :class:`~parvis_verifier.errors.InvalidInputError`: a proof, a note or a
key that does not check out is bad input, whoever sent it. The message (``detail``) says
precisely which rule failed; it never contains key material.

Two roots, one per module:

* :class:`MerkleError` — RFC 6962 / RFC 9162 Merkle tree proofs and ranges.
* :class:`NoteError` — C2SP signed-note, tlog-checkpoint and tlog-cosignature.

The log engine (ADR 0003) adds :class:`UnknownLogError`, :class:`LogNameError`,
:class:`LogConflictError`, :class:`LogKeyError`, :class:`LogSealedError`,
:class:`LogSealError`, :class:`LogRollbackError`, :class:`EventError`,
:class:`RangeTooLargeError`, :class:`PromiseError`, :class:`StateFileError`,
:class:`StorageIntegrityError` and :class:`LogVerificationError`.
"""

from __future__ import annotations

from parvis_verifier.errors import (
    ConflictError,
    DomainError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
)

__all__ = [
    "CheckpointOriginError",
    "ConsistencyProofError",
    "CosignatureQuorumError",
    "DuplicateSignatureError",
    "EventError",
    "InclusionProofError",
    "InvalidSignatureError",
    "LogConflictError",
    "LogKeyError",
    "LogNameError",
    "LogRollbackError",
    "LogSealError",
    "LogSealedError",
    "LogVerificationError",
    "MalformedCheckpointError",
    "MalformedKeyError",
    "MalformedNoteError",
    "MerkleError",
    "NoteError",
    "PromiseError",
    "RangeTooLargeError",
    "StateFileError",
    "StorageIntegrityError",
    "TreeRangeError",
    "UnknownLogError",
    "UnverifiedNoteError",
]


# --- RFC 6962 / RFC 9162 Merkle trees -------------------------------------------------------


class MerkleError(InvalidInputError):
    """Base class of every Merkle tree failure (:mod:`parvis_verifier.merkle`)."""

    title = "Invalid Merkle tree data"


class TreeRangeError(MerkleError):
    """A proof or range was requested for indexes or sizes that do not exist.

    Raised by proof *generation* and by :class:`parvis_verifier.merkle.CompactRange`, never by
    verification (a bad size in a proof to verify is an :class:`InclusionProofError` or a
    :class:`ConsistencyProofError`).
    """

    title = "Invalid tree range"


class InclusionProofError(MerkleError):
    """An inclusion proof (RFC 9162 §2.1.3.2) does not verify.

    ``index`` and ``size`` are the leaf index and tree size the proof was checked against.
    """

    title = "Invalid inclusion proof"

    def __init__(self, detail: str, *, index: int, size: int) -> None:
        super().__init__(detail)
        self.index = index
        self.size = size


class ConsistencyProofError(MerkleError):
    """A consistency proof (RFC 9162 §2.1.4.2) does not verify.

    ``size1`` and ``size2`` are the two tree sizes the proof was checked against.
    """

    title = "Invalid consistency proof"

    def __init__(self, detail: str, *, size1: int, size2: int) -> None:
        super().__init__(detail)
        self.size1 = size1
        self.size2 = size2


# --- C2SP signed-note, tlog-checkpoint, tlog-cosignature -------------------------------------


class NoteError(InvalidInputError):
    """Base class of every signed-note, checkpoint and cosignature failure."""

    title = "Invalid signed note"


class MalformedNoteError(NoteError):
    """The note does not follow the C2SP signed-note format (syntax, not signatures)."""

    title = "Malformed signed note"


class MalformedCheckpointError(NoteError):
    """The note text is not a C2SP tlog-checkpoint body."""

    title = "Malformed checkpoint"


class MalformedKeyError(NoteError):
    """A key name, verifier key or signer key text is invalid."""

    title = "Malformed note key"


class InvalidSignatureError(NoteError):
    """A signature by a known key (matching name *and* key id) does not verify.

    C2SP signed-note: "If a signature from a known key fails to verify, clients SHOULD reject
    the whole note." We always do.
    """

    title = "Invalid note signature"

    def __init__(self, detail: str, *, key_name: str, key_id: bytes) -> None:
        super().__init__(detail)
        self.key_name = key_name
        self.key_id = key_id


class DuplicateSignatureError(NoteError):
    """Two signature lines carry the same known key (name and key id)."""

    title = "Duplicate note signature"

    def __init__(self, detail: str, *, key_name: str, key_id: bytes) -> None:
        super().__init__(detail)
        self.key_name = key_name
        self.key_id = key_id


class UnverifiedNoteError(NoteError):
    """No signature from a required or known key verified."""

    title = "Unverified signed note"


class CheckpointOriginError(NoteError):
    """The checkpoint is validly signed but belongs to another log (origin line)."""

    title = "Unexpected checkpoint origin"

    def __init__(self, detail: str, *, expected: str, found: str) -> None:
        super().__init__(detail)
        self.expected = expected
        self.found = found


class CosignatureQuorumError(NoteError):
    """Fewer valid witness cosignatures than the caller's policy requires."""

    title = "Not enough witness cosignatures"

    def __init__(self, detail: str, *, required: int, found: int) -> None:
        super().__init__(detail)
        self.required = required
        self.found = found


# --- the log engine (ADR 0003) -------------------------------------------------------------------


class UnknownLogError(NotFoundError):
    """No log of this name exists (``name`` is the log name asked for)."""

    title = "Unknown log"

    def __init__(self, detail: str, *, name: str) -> None:
        super().__init__(detail)
        self.name = name


class LogNameError(InvalidInputError):
    """A log name breaks the naming rule (it becomes part of URLs, file names and origins)."""

    title = "Invalid log name"


class LogConflictError(ConflictError):
    """A log exists already with other settings (public flag) than the ones asked for."""

    title = "Log exists with other settings"


class LogSealedError(ForbiddenError):
    """The log is sealed: its entry bodies (JSON entries, tlog-tiles entry bundles, typed
    events) are served to nobody until the domain that owns it unseals it. Hashes, tree
    heads, checkpoints and proofs stay readable: they reveal nothing of the entries
    (migration ``audit_0002``; ADR 0003, "Sealed logs"). ``name`` is the log's name."""

    title = "Log sealed"

    def __init__(self, detail: str, *, name: str) -> None:
        super().__init__(detail)
        self.name = name


class LogSealError(ConflictError):
    """A seal change the log does not allow: only a log without any entry (integrated or
    queued) may be sealed, so a seal never hides what was readable (ADR 0003)."""

    title = "Log cannot be sealed"


class LogKeyError(DomainError):
    """A log's signing key is missing, unreadable, or does not match the published key.

    A configuration problem of the installation, never the caller's fault; the message never
    contains key material.
    """

    title = "Log signing key unavailable"


class EventError(InvalidInputError):
    """An audit event field is empty, too long, or its details are not JSON data."""

    title = "Invalid audit event"


class RangeTooLargeError(InvalidInputError):
    """A read asks for more entries at once than the API serves (``limit`` is the maximum)."""

    title = "Range too large"

    def __init__(self, detail: str, *, limit: int) -> None:
        super().__init__(detail)
        self.limit = limit


class PromiseError(InvalidInputError):
    """A signed promise does not parse or does not verify under the log's key."""

    title = "Invalid log promise"


class StateFileError(InvalidInputError):
    """A verifier state file cannot be read or is not a state file of this log."""

    title = "Invalid verifier state file"


class LogVerificationError(InvalidInputError):
    """``parvis audit verify`` found a discrepancy; ``detail`` names the first one.

    ``index`` is the first entry involved when one can be named, else ``None``.
    """

    title = "Log verification failed"

    def __init__(self, detail: str, *, index: int | None = None) -> None:
        super().__init__(detail)
        self.index = index


class StorageIntegrityError(DomainError):
    """The stored log is not what the engine wrote: a row is missing or a stored hash does
    not match. Only tampering (or a corrupt database) produces this; the operator must
    investigate, and ``parvis audit verify`` names the first discrepancy."""

    title = "Log storage damaged"


class LogRollbackError(ConflictError):
    """The database holds log ``name`` behind a checkpoint this installation published
    (docs/adr/0017-rollback-detection.md): an older backup was restored, or rows were
    removed. Nothing is integrated into that log until an operator runs
    ``parvis audit acknowledge-rollback``. ``remembered_size`` and ``database_size`` are the
    two tree sizes (``database_size`` is ``None`` when the log is missing altogether)."""

    title = "Log rolled back"

    def __init__(
        self, detail: str, *, name: str, remembered_size: int, database_size: int | None
    ) -> None:
        super().__init__(detail)
        self.name = name
        self.remembered_size = remembered_size
        self.database_size = database_size
