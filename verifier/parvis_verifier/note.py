"""C2SP signed notes, transparency-log checkpoints and Ed25519 witness cosignatures.

Specifications (texts kept with the test vectors' provenance in tests/vectors/README.md):

* C2SP *signed-note* (https://c2sp.org/signed-note), sections "Format", "Signatures" and
  "Ed25519 signatures": the note layout, key names, key ids, signature lines.
* C2SP *tlog-checkpoint* (https://c2sp.org/tlog-checkpoint), section "Note text": origin,
  tree size and root hash lines, then optional extension lines.
* C2SP *tlog-cosignature* (https://c2sp.org/tlog-cosignature), sections "Format" and
  "Ed25519 signed message": signature type 0x04, ``timestamped_signature``.
* Key texts follow the Go reference implementation (``golang.org/x/mod/sumdb/note``):
  verifier key ``<name>+<8 hex key id>+<base64(type || public key)>`` and signer key
  ``PRIVATE+KEY+<name>+<8 hex key id>+<base64(type || Ed25519 seed)>``.

A signed note is::

    <text, ending in a newline>
    <empty line>
    — <key name> <base64(4-byte key id || signature)>     (one line per signature)

Verification raises a :class:`~parvis_verifier.log_errors.NoteError` subclass; successful
verification returns :class:`VerifiedNote` or :class:`VerifiedCheckpoint`, which only this module
can create. No clock and no randomness inside: times are passed in and Ed25519 is deterministic.
This module is pure: no I/O, no framework imports.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import nacl.exceptions
import nacl.signing

from parvis_verifier.log_errors import (
    CheckpointOriginError,
    CosignatureQuorumError,
    DuplicateSignatureError,
    InvalidSignatureError,
    MalformedCheckpointError,
    MalformedKeyError,
    MalformedNoteError,
    NoteError,
    UnverifiedNoteError,
)

__all__ = [
    "MAX_SIGNATURES",
    "SIG_TYPE_COSIGNATURE_V1",
    "SIG_TYPE_ED25519",
    "Checkpoint",
    "SignatureLine",
    "Signer",
    "VerifiedCheckpoint",
    "VerifiedNote",
    "VerifiedSignature",
    "VerifierKey",
    "add_signatures",
    "cosignature_message",
    "key_id",
    "open_checkpoint",
    "open_note",
    "sign_note",
]

SIG_TYPE_ED25519 = 0x01
"""signed-note "Signature types": ``0x01`` — Ed25519 signatures over the note text."""

SIG_TYPE_COSIGNATURE_V1 = 0x04
"""signed-note "Signature types": ``0x04`` — timestamped Ed25519 witness cosignatures."""

MAX_SIGNATURES = 100
"""signed-note "Format": "Verifiers SHOULD apply a maximum limit to the number of signatures
in a note ... but MUST accept at least up to 16 signatures." 100 is the Go limit."""

_SUPPORTED_TYPES = frozenset({SIG_TYPE_ED25519, SIG_TYPE_COSIGNATURE_V1})
_SIG_PREFIX = "\u2014 "  # EM DASH, SPACE
_ED25519_SIZE = 32
_ED25519_SIG_SIZE = 64
_TIMESTAMP_SIZE = 8
_MAX_TIMESTAMP = 2**63 - 1
_MAX_TREE_SIZE = 2**64 - 1
_ROOT_SIZE = 32
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
_SIZE_LINE = re.compile(r"0|[1-9][0-9]*", re.ASCII)
_KEY_ID_HEX = re.compile(r"[0-9a-f]{8}", re.ASCII)
_COSIGNATURE_HEADER = b"cosignature/v1\n"

# Only this module can create verified results (style.md: "only the verifying function
# creates it"); the dataclasses check for this sentinel.
_VERIFIED = object()


# --- helpers ---------------------------------------------------------------------------------


def _b64decode(text: str, *, what: str, error: type[NoteError]) -> bytes:
    """Standard base64 (RFC 4648 §4) with padding, in canonical form only.

    Canonical means re-encoding gives the same text: non-zero padding bits would let the
    same bytes travel under several spellings, so they are refused.
    """
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        raise error(f"{what} is not valid standard base64") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise error(f"{what} is not in canonical base64 form")
    return raw


def _b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _check_key_name(name: str, *, error: type[NoteError] = MalformedKeyError) -> None:
    """signed-note "Format": "Key names MUST be non-empty and MUST NOT contain any Unicode
    spaces or plus (U+002B) characters."

    Control characters are refused too: "Signed notes ... MUST NOT contain any ASCII control
    characters (those below U+0020) other than newline", and a newline cannot be in a name.
    """
    if not name:
        raise error("key name is empty")
    if "+" in name:
        raise error("key name contains a plus sign (U+002B)")
    if any(ch.isspace() for ch in name):
        raise error("key name contains a Unicode space")
    if _CONTROL.search(name):
        raise error("key name contains an ASCII control character")


def key_id(name: str, *, key_type: int, public_key: bytes) -> bytes:
    """``SHA-256(key name || 0x0A || signature type || public key)[:4]``.

    signed-note "Ed25519 signatures" (type 0x01) and tlog-cosignature "Format" (type 0x04:
    "The key ID for Ed25519 cosignatures MUST be computed as SHA-256(<name> || "\\n" || 0x04
    || 32-byte Ed25519 cosigner public key)[:4]").
    """
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([key_type]) + public_key).digest()[
        :4
    ]


def _check_type(key_type: int) -> None:
    if key_type not in _SUPPORTED_TYPES:
        raise MalformedKeyError(
            f"signature type 0x{key_type:02x} is not supported (only 0x01 Ed25519 and 0x04"
            " Ed25519 cosignature/v1)"
        )


def cosignature_message(body: str, *, timestamp: int) -> bytes:
    """The message an Ed25519 cosignature signs (tlog-cosignature "Ed25519 signed message").

    "The signed message MUST be two newline (U+000A) terminated lines (one header line and
    one timestamp line) followed by the whole note body of the cosigned checkpoint
    (including the final newline, but not including any signature lines)." The timestamp
    line is ``time``, a space and the timestamp "encoded as an ASCII decimal with no leading
    zeroes", which is what ``str(int)`` gives.
    """
    _check_timestamp(timestamp, error=NoteError)
    return _COSIGNATURE_HEADER + b"time %d\n" % timestamp + body.encode("utf-8")


def _check_timestamp(timestamp: int, *, error: type[NoteError]) -> None:
    """tlog-cosignature "Format": the timestamp "MUST NOT exceed 2^63 - 1"."""
    if not 0 <= timestamp <= _MAX_TIMESTAMP:
        raise error(f"cosignature timestamp {timestamp} is outside [0, 2^63 - 1]")


# --- keys ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VerifierKey:
    """A public key trusted to sign notes: name, signature type and Ed25519 public key.

    ``key_type`` is :data:`SIG_TYPE_ED25519` for a log key or :data:`SIG_TYPE_COSIGNATURE_V1`
    for a witness; ``key_id`` is derived (:func:`key_id`), never supplied.
    """

    name: str
    key_type: int
    public_key: bytes
    key_id: bytes = field(init=False)

    def __post_init__(self) -> None:
        _check_key_name(self.name)
        _check_type(self.key_type)
        if len(self.public_key) != _ED25519_SIZE:
            raise MalformedKeyError(
                f"Ed25519 public key is {len(self.public_key)} bytes, want {_ED25519_SIZE}"
            )
        object.__setattr__(
            self, "key_id", key_id(self.name, key_type=self.key_type, public_key=self.public_key)
        )

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        """Parse ``<name>+<8 hex key id>+<base64(type || public key)>``.

        Split on ``+`` at most twice: the base64 part may itself contain ``+``. The key id
        must be 8 lowercase hex digits (as the Go tools print it) and must equal the id
        computed from the name and key, so a key cannot be filed under another key's id.
        """
        parts = text.split("+", 2)
        if len(parts) != 3:
            raise MalformedKeyError("verifier key is not <name>+<key id>+<base64 key>")
        name, id_hex, key_b64 = parts
        _check_key_name(name)
        if not _KEY_ID_HEX.fullmatch(id_hex):
            raise MalformedKeyError("verifier key id is not 8 lowercase hex digits")
        raw = _b64decode(key_b64, what="verifier public key", error=MalformedKeyError)
        if not raw:
            raise MalformedKeyError("verifier public key is empty")
        key = cls(name=name, key_type=raw[0], public_key=raw[1:])
        if key.key_id.hex() != id_hex:
            raise MalformedKeyError("verifier key id does not match the key name and key")
        return key

    @property
    def text(self) -> str:
        """The verifier key text, ``<name>+<8 hex key id>+<base64(type || public key)>``."""
        raw = bytes([self.key_type]) + self.public_key
        return f"{self.name}+{self.key_id.hex()}+{_b64encode(raw)}"

    def _verify(self, text: bytes, signature: bytes) -> int | None:
        """Check ``signature`` (key id removed) over note ``text``; return the cosignature
        timestamp (``None`` for a plain Ed25519 signature). Raises InvalidSignatureError."""

        def fail(detail: str) -> InvalidSignatureError:
            return InvalidSignatureError(detail, key_name=self.name, key_id=self.key_id)

        timestamp: int | None = None
        if self.key_type == SIG_TYPE_COSIGNATURE_V1:
            # tlog-cosignature "Format": "The signature MUST be a timestamped_signature
            # structure": u64 big-endian timestamp, then the 64-byte Ed25519 signature.
            if len(signature) != _TIMESTAMP_SIZE + _ED25519_SIG_SIZE:
                raise fail(
                    f"cosignature is {len(signature)} bytes, want"
                    f" {_TIMESTAMP_SIZE + _ED25519_SIG_SIZE}"
                )
            timestamp = int.from_bytes(signature[:_TIMESTAMP_SIZE], "big")
            if timestamp > _MAX_TIMESTAMP:
                raise fail(f"cosignature timestamp {timestamp} exceeds 2^63 - 1")
            message = _COSIGNATURE_HEADER + b"time %d\n" % timestamp + text
            signature = signature[_TIMESTAMP_SIZE:]
        else:
            if len(signature) != _ED25519_SIG_SIZE:
                raise fail(f"signature is {len(signature)} bytes, want {_ED25519_SIG_SIZE}")
            message = text
        try:
            nacl.signing.VerifyKey(self.public_key).verify(message, signature)
        except nacl.exceptions.BadSignatureError:
            raise fail(f"signature by {self.name} does not verify") from None
        return timestamp


@dataclass(frozen=True, slots=True, eq=False)
class Signer:
    """A private Ed25519 key that signs notes (type 0x01) or cosigns checkpoints (0x04).

    ``seed`` is the 32-byte RFC 8032 private key. It is kept out of ``repr`` and equality
    (``eq=False``: comparing secrets with ``==`` is not constant-time).
    """

    name: str
    seed: bytes = field(repr=False)
    key_type: int = SIG_TYPE_ED25519
    verifier: VerifierKey = field(init=False)
    _signing_key: nacl.signing.SigningKey = field(init=False, repr=False)

    def __post_init__(self) -> None:
        _check_key_name(self.name)
        _check_type(self.key_type)
        if len(self.seed) != _ED25519_SIZE:
            raise MalformedKeyError(f"Ed25519 seed is {len(self.seed)} bytes, want 32")
        signing_key = nacl.signing.SigningKey(self.seed)
        object.__setattr__(self, "_signing_key", signing_key)
        object.__setattr__(
            self,
            "verifier",
            VerifierKey(
                name=self.name, key_type=self.key_type, public_key=bytes(signing_key.verify_key)
            ),
        )

    @classmethod
    def parse(cls, text: str) -> Signer:
        """Parse the Go signer key text ``PRIVATE+KEY+<name>+<key id>+<base64(type || seed)>``.

        The key id is checked against the id derived from the name and the public key.
        Error messages never repeat any part of the text (it is a secret).
        """
        parts = text.split("+", 4)
        if len(parts) != 5 or parts[0] != "PRIVATE" or parts[1] != "KEY":
            raise MalformedKeyError("signer key is not PRIVATE+KEY+<name>+<key id>+<base64>")
        _, _, name, id_hex, key_b64 = parts
        _check_key_name(name)
        if not _KEY_ID_HEX.fullmatch(id_hex):
            raise MalformedKeyError("signer key id is not 8 lowercase hex digits")
        raw = _b64decode(key_b64, what="signer private key", error=MalformedKeyError)
        if not raw:
            raise MalformedKeyError("signer private key is empty")
        signer = cls(name=name, seed=raw[1:], key_type=raw[0])
        if signer.verifier.key_id.hex() != id_hex:
            raise MalformedKeyError("signer key id does not match the key name and key")
        return signer

    def secret_text(self) -> str:
        """The signer key text (Go format). It contains the private key: handle as a secret."""
        raw = bytes([self.key_type]) + self.seed
        return f"PRIVATE+KEY+{self.name}+{self.verifier.key_id.hex()}+{_b64encode(raw)}"

    def _signature_line(self, text: str, *, timestamp: int | None) -> SignatureLine:
        message = text.encode("utf-8")
        if self.key_type == SIG_TYPE_COSIGNATURE_V1:
            if timestamp is None:
                raise NoteError(f"cosigner {self.name} needs a timestamp")
            prefix = timestamp.to_bytes(_TIMESTAMP_SIZE, "big")
            message = cosignature_message(text, timestamp=timestamp)
        else:
            prefix = b""
        signature = self._signing_key.sign(message).signature
        return SignatureLine(
            key_name=self.name, key_id=self.verifier.key_id, signature=prefix + signature
        )


# --- note syntax -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignatureLine:
    """One signature line, parsed but not verified: ``— <name> base64(key id || signature)``."""

    key_name: str
    key_id: bytes
    signature: bytes

    def __post_init__(self) -> None:
        _check_key_name(self.key_name, error=MalformedNoteError)
        if len(self.key_id) != 4:
            raise MalformedNoteError(f"key id is {len(self.key_id)} bytes, want 4")
        if not self.signature:
            raise MalformedNoteError("signature is empty")

    @property
    def text(self) -> str:
        """The line, newline included."""
        return f"{_SIG_PREFIX}{self.key_name} {_b64encode(self.key_id + self.signature)}\n"


def _check_note_text(text: str) -> None:
    """signed-note "Format": "A signed note consists of a text ending in newline (U+000A)"
    and "Signed notes MUST be valid UTF-8 and MUST NOT contain any ASCII control characters
    (those below U+0020) other than newline."
    """
    if not text:
        raise MalformedNoteError("note text is empty")
    if not text.endswith("\n"):
        raise MalformedNoteError("note text does not end with a newline")
    _check_characters(text)


def _check_characters(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedNoteError("note is not valid UTF-8") from None
    if _CONTROL.search(text):
        raise MalformedNoteError("note contains an ASCII control character other than newline")


def _decode(note: str | bytes) -> str:
    if isinstance(note, bytes):
        try:
            return note.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedNoteError("note is not valid UTF-8") from None
    return note


def _parse_signature_line(line: str) -> SignatureLine:
    """signed-note "Format": a signature line is "em dash (U+2014), space (U+0020), key name,
    space, base64-encoded signature, newline"; "Signatures are the base64 encoding of 4+n
    bytes. The first four bytes in the signature are the uint32 key ID stored in big-endian
    order."
    """
    if not line.startswith(_SIG_PREFIX):
        raise MalformedNoteError(
            "signature line does not start with an EM DASH (U+2014) followed by a space"
        )
    name, sep, sig_b64 = line[len(_SIG_PREFIX) :].partition(" ")
    if not sep:
        raise MalformedNoteError("signature line has no space between key name and signature")
    _check_key_name(name, error=MalformedNoteError)
    raw = _b64decode(sig_b64, what=f"signature of {name}", error=MalformedNoteError)
    if len(raw) < 5:
        raise MalformedNoteError(f"signature of {name} is shorter than a key id and 1 byte")
    return SignatureLine(key_name=name, key_id=raw[:4], signature=raw[4:])


def _parse_note(note: str | bytes) -> tuple[str, tuple[SignatureLine, ...]]:
    """Split a signed note into its text and its signature lines (syntax only).

    signed-note "Format": "The note text includes the final newline but not the separating
    blank line. The note text MAY contain empty lines; the text is separated from the
    signatures by the last empty line in the note."
    """
    message = _decode(note)
    _check_characters(message)
    split = message.rfind("\n\n")
    if split < 0:
        raise MalformedNoteError("note has no empty line between text and signatures")
    text, block = message[: split + 1], message[split + 2 :]
    _check_note_text(text)
    if not block:
        raise MalformedNoteError("note has no signature lines")
    if not block.endswith("\n"):
        raise MalformedNoteError("last signature line does not end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedNoteError(f"note has more than {MAX_SIGNATURES} signature lines")
    return text, tuple(_parse_signature_line(line) for line in lines)


# --- verification ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VerifiedSignature:
    """A signature line whose key is known and whose signature verified.

    ``timestamp`` is the cosignature time (POSIX seconds) for type 0x04, else ``None``.
    """

    key_name: str
    key_id: bytes
    key_type: int
    timestamp: int | None


@dataclass(frozen=True, slots=True)
class VerifiedNote:
    """A note with at least one verified signature from a known key. Made by :func:`open_note`.

    ``unverified`` holds the signature lines from unknown keys, which were ignored as the
    spec requires (identical repeated lines appear once).
    """

    text: str
    signatures: tuple[VerifiedSignature, ...]
    unverified: tuple[SignatureLine, ...]
    _token: object = field(repr=False, compare=False)

    def __post_init__(self) -> None:
        if self._token is not _VERIFIED:
            raise TypeError("VerifiedNote is created by parvis_verifier.note.open_note only")
        if not self.signatures:
            raise TypeError("a VerifiedNote has at least one verified signature")


def _known_keys(verifiers: Iterable[VerifierKey]) -> dict[tuple[str, bytes], VerifierKey]:
    known: dict[tuple[str, bytes], VerifierKey] = {}
    for v in verifiers:
        previous = known.setdefault((v.name, v.key_id), v)
        if previous != v:
            # signed-note "Signatures": "Accidental collisions of *both* key name and key ID
            # can lead to errors" — refuse the ambiguous configuration outright.
            raise MalformedKeyError(
                f"two different verifier keys share the name {v.name} and the key id"
            )
    return known


def open_note(note: str | bytes, *, verifiers: Iterable[VerifierKey]) -> VerifiedNote:
    """Parse a signed note and verify its signatures against the known ``verifiers``.

    signed-note "Signatures": "Verifiers MUST ignore signatures from unknown keys, even if
    they share a name or ID (but not both) with a known key. If the key name and ID match a
    known key, verifiers MUST verify the signature. If a signature from a known key fails to
    verify, clients SHOULD reject the whole note. If no signature from a known key verifies
    successfully, clients MUST reject the note."

    Decisions: a failing known signature always rejects the note
    (:class:`~parvis_verifier.log_errors.InvalidSignatureError`). Two lines from the same known key
    are rejected (:class:`~parvis_verifier.log_errors.DuplicateSignatureError`): the spec says every
    known signature MUST be verified and says nothing to allow repeats, and a signer never needs
    two; the Go library instead skips the repeats *unverified*, which would leave an
    unchecked line in a note we call verified. Repeated identical lines from *unknown* keys
    are ignored like every unknown line.
    """
    text, lines = _parse_note(note)
    known = _known_keys(verifiers)
    encoded = text.encode("utf-8")
    verified: list[VerifiedSignature] = []
    seen: set[tuple[str, bytes]] = set()
    unverified: list[SignatureLine] = []
    for line in lines:
        key = known.get((line.key_name, line.key_id))
        if key is None:
            if line not in unverified:
                unverified.append(line)
            continue
        if (key.name, key.key_id) in seen:
            raise DuplicateSignatureError(
                f"note has more than one signature by {key.name} {key.key_id.hex()}",
                key_name=key.name,
                key_id=key.key_id,
            )
        seen.add((key.name, key.key_id))
        timestamp = key._verify(encoded, line.signature)
        verified.append(
            VerifiedSignature(
                key_name=key.name, key_id=key.key_id, key_type=key.key_type, timestamp=timestamp
            )
        )
    if not verified:
        raise UnverifiedNoteError("no signature from a known key")
    return VerifiedNote(
        text=text, signatures=tuple(verified), unverified=tuple(unverified), _token=_VERIFIED
    )


# --- checkpoints -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A tlog-checkpoint body: origin, tree size, root hash and optional extension lines.

    Validated on construction; :meth:`parse` reads the exact text form, :attr:`text` writes
    it. Extension lines are accepted because tlog-checkpoint allows them ("Any following
    lines are extension lines, opaque and OPTIONAL. Extension lines, if any, MUST be
    non-empty."); Parvis logs write none ("The use of extension lines is NOT RECOMMENDED").
    """

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """tlog-checkpoint "Note text" 1: "The origin MUST be non-empty"; 2: the tree size
        is the decimal number of leaves; 3: the root hash is an RFC 6962 (SHA-256) root;
        4: "Extension lines, if any, MUST be non-empty."

        Beyond the spec, an origin with leading or trailing whitespace is refused: two
        origins that differ only there look identical to a person comparing them. Spaces
        inside are allowed (``go.sum database tree``).
        """
        if not self.origin:
            raise MalformedCheckpointError("checkpoint origin is empty")
        if self.origin != self.origin.strip():
            raise MalformedCheckpointError("checkpoint origin has leading or trailing spaces")
        if "\n" in self.origin or _CONTROL.search(self.origin):
            raise MalformedCheckpointError("checkpoint origin contains a control character")
        if isinstance(self.size, bool) or not 0 <= self.size <= _MAX_TREE_SIZE:
            raise MalformedCheckpointError(f"tree size {self.size} is outside [0, 2^64 - 1]")
        if len(self.root_hash) != _ROOT_SIZE:
            raise MalformedCheckpointError(
                f"root hash is {len(self.root_hash)} bytes, want {_ROOT_SIZE}"
            )
        for i, line in enumerate(self.extensions):
            if not line:
                raise MalformedCheckpointError(f"extension line {i} is empty")
            if "\n" in line or _CONTROL.search(line):
                raise MalformedCheckpointError(f"extension line {i} contains a control character")

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Parse a checkpoint body exactly.

        tlog-checkpoint "Note text": "a sequence of at least three non-empty lines,
        separated by newlines"; the tree size is "the ASCII decimal representation of the
        number of leaves in the tree, with no leading zeroes (unless the tree is empty, in
        which case the tree size is 0)"; the root hash is "the base64 encoding of the root"
        (32 bytes, canonical standard base64). No sign, no spaces, and the body ends with a
        newline (signed-note: "a text ending in newline").
        """
        if not text.endswith("\n"):
            raise MalformedCheckpointError("checkpoint body does not end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise MalformedCheckpointError(
                f"checkpoint body has {len(lines)} lines, want at least 3"
            )
        origin, size_line, root_line, *extensions = lines
        if not _SIZE_LINE.fullmatch(size_line):
            raise MalformedCheckpointError(
                "tree size line is not a decimal number without sign, spaces or leading zeros"
            )
        root_hash = _b64decode(root_line, what="root hash", error=MalformedCheckpointError)
        return cls(
            origin=origin, size=int(size_line), root_hash=root_hash, extensions=tuple(extensions)
        )

    @property
    def text(self) -> str:
        """The checkpoint body (the note text to sign), final newline included."""
        lines = [self.origin, str(self.size), _b64encode(self.root_hash), *self.extensions]
        return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class VerifiedCheckpoint:
    """A checkpoint signed by its log's key, with the witness cosignatures that verified.

    Made by :func:`open_checkpoint` only.
    """

    checkpoint: Checkpoint
    note: VerifiedNote
    cosignatures: tuple[VerifiedSignature, ...]
    _token: object = field(repr=False, compare=False)

    def __post_init__(self) -> None:
        if self._token is not _VERIFIED:
            raise TypeError(
                "VerifiedCheckpoint is created by parvis_verifier.note.open_checkpoint only"
            )


def open_checkpoint(
    note: str | bytes,
    *,
    origin: str,
    log_key: VerifierKey,
    witnesses: Iterable[VerifierKey] = (),
    witness_quorum: int = 0,
    now: int | None = None,
) -> VerifiedCheckpoint:
    """Verify a signed checkpoint of the log ``origin`` and its witness cosignatures.

    * ``log_key`` (type 0x01) MUST have a valid signature; a valid signature by a witness
      alone is not enough. Its name need not equal the origin (tlog-checkpoint: "The log's
      key name in its signature line SHOULD match the origin line" — sum.golang.org's does
      not), but the origin line must equal ``origin`` exactly.
    * ``witnesses`` are type 0x04 keys. At least ``witness_quorum`` distinct witnesses must
      have valid cosignatures. If ``now`` (POSIX seconds) is given, a cosignature dated
      after it is refused (tlog-cosignature: "verifiers MAY reject cosignatures with
      timestamps in the future").
    * The body is parsed only after a signature verified (signed-note: "The text MUST be
      ignored unless the note is signed by a trusted key and the signature has been
      verified").
    """
    if log_key.key_type != SIG_TYPE_ED25519:
        raise MalformedKeyError("the log key must be an Ed25519 (type 0x01) key")
    witness_keys = tuple(witnesses)
    for w in witness_keys:
        if w.key_type != SIG_TYPE_COSIGNATURE_V1:
            raise MalformedKeyError(f"witness key {w.name} is not a cosignature (0x04) key")
    verified = open_note(note, verifiers=(log_key, *witness_keys))
    if not any(
        s.key_name == log_key.name and s.key_id == log_key.key_id for s in verified.signatures
    ):
        raise UnverifiedNoteError(f"no signature by the log key {log_key.name}")
    checkpoint = Checkpoint.parse(verified.text)
    if checkpoint.origin != origin:
        raise CheckpointOriginError(
            "checkpoint belongs to another log", expected=origin, found=checkpoint.origin
        )
    cosignatures = tuple(s for s in verified.signatures if s.key_type == SIG_TYPE_COSIGNATURE_V1)
    if now is not None:
        for s in cosignatures:
            if s.timestamp is not None and s.timestamp > now:
                raise InvalidSignatureError(
                    f"cosignature by {s.key_name} is dated {s.timestamp}, after now ({now})",
                    key_name=s.key_name,
                    key_id=s.key_id,
                )
    if len(cosignatures) < witness_quorum:
        raise CosignatureQuorumError(
            f"{len(cosignatures)} valid witness cosignatures, policy requires {witness_quorum}",
            required=witness_quorum,
            found=len(cosignatures),
        )
    return VerifiedCheckpoint(
        checkpoint=checkpoint, note=verified, cosignatures=cosignatures, _token=_VERIFIED
    )


# --- signing ---------------------------------------------------------------------------------


def _signature_lines(
    text: str, signers: Sequence[Signer], timestamp: int | None
) -> list[SignatureLine]:
    _check_note_text(text)
    if not signers:
        raise NoteError("at least one signer is required")
    ids = [(s.name, s.verifier.key_id) for s in signers]
    if len(set(ids)) != len(ids):
        raise NoteError("the same key appears twice among the signers")
    if any(s.key_type == SIG_TYPE_COSIGNATURE_V1 for s in signers):
        # A cosignature asserts facts about a checkpoint; refuse to cosign anything else.
        Checkpoint.parse(text)
    return [s._signature_line(text, timestamp=timestamp) for s in signers]


def sign_note(text: str, *, signers: Sequence[Signer], timestamp: int | None = None) -> str:
    """Sign ``text`` with every signer and return the signed note.

    ``timestamp`` (POSIX seconds, supplied by the caller) is required when a signer is a
    cosigner (type 0x04); the text must then be a checkpoint body.
    """
    lines = _signature_lines(text, signers, timestamp)
    return text + "\n" + "".join(line.text for line in lines)


def add_signatures(note: str, *, signers: Sequence[Signer], timestamp: int | None = None) -> str:
    """Append signatures to an already signed note (e.g. a witness cosigning a checkpoint).

    Existing lines by the same keys are replaced, as the Go library does. Existing
    signatures are NOT verified here: a witness must first check the note with
    :func:`open_checkpoint` (and check consistency) before adding its cosignature.
    """
    text, existing = _parse_note(note)
    new_lines = _signature_lines(text, signers, timestamp)
    replaced = {(line.key_name, line.key_id) for line in new_lines}
    kept = [line for line in existing if (line.key_name, line.key_id) not in replaced]
    if len(kept) + len(new_lines) > MAX_SIGNATURES:
        raise NoteError(f"a note holds at most {MAX_SIGNATURES} signatures")
    return text + "\n" + "".join(line.text for line in (*kept, *new_lines))
