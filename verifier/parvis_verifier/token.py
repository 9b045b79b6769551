"""Ballot tokens and cast requests (Parvis voting protocol, ``parvis-ballot-v1``).

Specifications:

* the protocol, ``docs/design/voting-protocol.md`` ("Token issuance", "Casting");
* RFC 9474 "RSA Blind Signatures", §4.5 (a token is an ordinary RSASSA-PSS signature,
  variant RSABSSA-SHA384-PSS-Randomized, §5) — through :mod:`parvis_verifier.rsabssa`;
* RFC 8785 "JSON Canonicalization Scheme (JCS)" for the signed ballot (``rfc8785``);
* RFC 8032 "Edwards-Curve Digital Signature Algorithm (EdDSA)", §5.1 Ed25519, for ballot
  signatures (PyNaCl / libsodium);
* RFC 4648 "The Base16, Base32, and Base64 Data Encodings", §5 base64url, *without*
  padding (§3.2), for every binary field;
* RFC 9562 "Universally Unique IDentifiers (UUIDs)", §4 string form, for election ids.

Formats (strict: anything else is refused)::

    token message  = "parvis-ballot-v1" ‖ election_id (16) ‖ vk (32) ‖ nonce (32)   96 bytes
    nullifier      = SHA-256(token message)
    cast request   = {"token": {"msg_prefix": B64, "msg": B64, "sig": B64},
                      "ballot": {"election": UUID, "seq": INT, "choices": OBJECT},
                      "ballot_sig": B64}
    encrypted ballot = {"election": UUID, "seq": INT, "encrypted": OBJECT}
                      (docs/board-format.md §10.3: an encrypted election's ballot)
    ballot_sig     = Ed25519(sk, JCS(ballot))

``B64`` is base64url without padding, in its one canonical form (re-encoding the decoded
bytes gives the same text). ``UUID`` is the 16-byte election id in RFC 9562 lowercase
hyphenated form (``str(uuid.UUID(bytes=election_id))``). ``seq`` is an integer in
``[1, 2^53 - 1]`` (RFC 8785 §3.2.2.3 integers must be exact IEEE doubles). JSON objects
have exactly the listed members, no duplicates. ``choices`` (or ``encrypted``) is any JSON
object: its validity under the ballot rules, or its proofs, are checked elsewhere.

Public names (``__all__``): ``TOKEN_DOMAIN``, ``TOKEN_MESSAGE_LENGTH``, ``TOKEN_VARIANT``,
``MAX_SEQ``, ``JSONValue``, ``TokenMessage``, ``Token``, ``Ballot``, ``CastRequest``,
``VerifiedCast``, ``b64u_encode``, ``b64u_decode``, ``b64u_decode_or_none``,
``election_id_text``,
``parse_election_id``, ``nullifier``, ``sign_ballot``, ``verify_ballot_signature``,
``parse_cast``, ``verify_cast``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, TypeAlias

import nacl.bindings
import nacl.exceptions
import nacl.signing
import rfc8785
from cryptography.hazmat.primitives.asymmetric import rsa

from parvis_verifier import rsabssa
from parvis_verifier.ballot_errors import (
    InvalidBallotSignatureError,
    MalformedCastError,
    MalformedTokenError,
    WrongElectionError,
)
from parvis_verifier.jcs import canonical

__all__ = [
    "MAX_SEQ",
    "TOKEN_DOMAIN",
    "TOKEN_MESSAGE_LENGTH",
    "TOKEN_VARIANT",
    "Ballot",
    "CastRequest",
    "JSONValue",
    "Token",
    "TokenMessage",
    "VerifiedCast",
    "b64u_decode",
    "b64u_decode_or_none",
    "b64u_encode",
    "election_id_text",
    "nullifier",
    "parse_cast",
    "parse_election_id",
    "sign_ballot",
    "verify_ballot_signature",
    "verify_cast",
]

#: The 16-byte domain-separation label that starts every token message.
TOKEN_DOMAIN: Final = b"parvis-ballot-v1"
ELECTION_ID_LENGTH: Final = 16
VOTER_KEY_LENGTH: Final = 32
NONCE_LENGTH: Final = 32
TOKEN_MESSAGE_LENGTH: Final = (
    len(TOKEN_DOMAIN) + ELECTION_ID_LENGTH + VOTER_KEY_LENGTH + NONCE_LENGTH
)
BALLOT_SIGNATURE_LENGTH: Final = 64
#: The RFC 9474 variant of every Parvis token (voting-protocol.md, step 3).
TOKEN_VARIANT: Final = rsabssa.Variant.RSABSSA_SHA384_PSS_RANDOMIZED
#: Largest ``seq``: the largest integer RFC 8785 (I-JSON, RFC 7493 §2.2) represents exactly.
MAX_SEQ: Final = 2**53 - 1
# RSA signatures are at most MAX_MODULUS_BITS long; longer base64 is refused unread.
_MAX_SIG_LENGTH: Final = rsabssa.MAX_MODULUS_BITS // 8

JSONValue: TypeAlias = "bool | int | float | str | list[JSONValue] | dict[str, JSONValue] | None"

_B64U = re.compile(r"[A-Za-z0-9_-]*")
_URL_TO_STANDARD: Final = bytes.maketrans(b"-_+/=", b"+/!!!")
_PADDING: Final = (b"", b"===", b"==", b"=")


# --------------------------------------------------------------------------------------
# Encodings
# --------------------------------------------------------------------------------------


def b64u_encode(data: bytes) -> str:
    """base64url without padding (RFC 4648 §5, §3.2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64u_decode(text: object, *, field: str) -> bytes:
    """Decode canonical unpadded base64url; refuse padding, other alphabets, stray bits.

    RFC 4648 §3.5: implementations "MAY choose to reject an encoding if the pad bits have
    not been set to zero" — we do, so each byte string has exactly one text form.
    """
    if not isinstance(text, str) or not _B64U.fullmatch(text):
        raise MalformedCastError(f"{field} must be unpadded base64url", field=field)
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise MalformedCastError(f"{field} is not valid base64url", field=field) from exc
    if b64u_encode(data) != text:
        raise MalformedCastError(f"{field} is not canonical base64url", field=field)
    return data


def b64u_decode_or_none(text: object) -> bytes | None:
    """:func:`b64u_decode` for hot loops (the board verifier): the bytes, or ``None``
    wherever :func:`b64u_decode` raises.

    The text's ``-_`` become ``+/``, its ``+/=`` (not base64url) become ``!`` so that the
    strict decoder (RFC 4648 §4 alphabet only, padding only at the end) refuses them, and
    the padding is added; the result is accepted only if re-encoding gives it back, which
    also refuses non-zero pad bits (RFC 4648 §3.5) and a length of 1 modulo 4.
    """
    if type(text) is not str:
        return None
    try:
        standard = text.encode("ascii").translate(_URL_TO_STANDARD) + _PADDING[len(text) & 3]
        data = binascii.a2b_base64(standard, strict_mode=True)
    except ValueError:  # binascii.Error, UnicodeEncodeError
        return None
    return data if binascii.b2a_base64(data, newline=False) == standard else None


def election_id_text(election_id: bytes) -> str:
    """The JSON form of an election id: RFC 9562 lowercase hyphenated UUID text."""
    return str(uuid.UUID(bytes=_election_id_bytes(election_id)))


def parse_election_id(text: object, *, field: str = "ballot.election") -> bytes:
    """Parse the canonical UUID text of an election id (no braces, URN or upper case)."""
    if not isinstance(text, str):
        raise MalformedCastError(f"{field} must be a string", field=field)
    try:
        value = uuid.UUID(text)
    except ValueError as exc:
        raise MalformedCastError(f"{field} is not a UUID", field=field) from exc
    if str(value) != text:
        raise MalformedCastError(f"{field} is not in canonical UUID form", field=field)
    return value.bytes


def _election_id_bytes(election_id: bytes | uuid.UUID) -> bytes:
    if isinstance(election_id, uuid.UUID):
        return election_id.bytes
    if not isinstance(election_id, bytes) or len(election_id) != ELECTION_ID_LENGTH:
        raise MalformedTokenError("an election id is exactly 16 bytes")
    return election_id


def nullifier(msg: bytes) -> bytes:
    """The ballot box's uniqueness key for a token: SHA-256 of the token message."""
    return hashlib.sha256(msg).digest()


# --------------------------------------------------------------------------------------
# Token message
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TokenMessage:
    """``"parvis-ballot-v1" ‖ election_id ‖ vk ‖ nonce``: what the election key blind-signs.

    ``voter_key`` must be a canonical Ed25519 point of prime order (libsodium's
    ``crypto_core_ed25519_is_valid_point``): a small-order key would let one signature
    verify several ballots. Casting refuses any other key here; the board verifier relies
    on libsodium's signature check instead, which refuses small-order and non-canonical
    keys itself (the argument is at ``parvis_verifier.verify._check_fast``).
    """

    election_id: bytes
    voter_key: bytes
    nonce: bytes

    def __post_init__(self) -> None:
        for name, value, size in (
            ("election_id", self.election_id, ELECTION_ID_LENGTH),
            ("voter_key", self.voter_key, VOTER_KEY_LENGTH),
            ("nonce", self.nonce, NONCE_LENGTH),
        ):
            if not isinstance(value, bytes) or len(value) != size:
                raise MalformedTokenError(f"token {name} must be {size} bytes")
        if not nacl.bindings.crypto_core_ed25519_is_valid_point(self.voter_key):
            raise MalformedTokenError("token voter key is not a valid Ed25519 public key")

    def to_bytes(self) -> bytes:
        return TOKEN_DOMAIN + self.election_id + self.voter_key + self.nonce

    @classmethod
    def from_bytes(cls, data: object) -> TokenMessage:
        """Parse exactly 96 bytes starting with ``parvis-ballot-v1``."""
        if not isinstance(data, bytes) or len(data) != TOKEN_MESSAGE_LENGTH:
            raise MalformedTokenError(f"a token message is exactly {TOKEN_MESSAGE_LENGTH} bytes")
        domain_end = len(TOKEN_DOMAIN)
        if not hmac.compare_digest(data[:domain_end], TOKEN_DOMAIN):
            raise MalformedTokenError("token message does not start with parvis-ballot-v1")
        key_start = domain_end + ELECTION_ID_LENGTH
        nonce_start = key_start + VOTER_KEY_LENGTH
        return cls(
            election_id=data[domain_end:key_start],
            voter_key=data[key_start:nonce_start],
            nonce=data[nonce_start:],
        )


@dataclass(frozen=True, slots=True)
class Token:
    """A finalized token: RSA-PSS ``sig`` over ``msg_prefix ‖ msg`` by the election key."""

    msg_prefix: bytes
    msg: bytes
    sig: bytes
    message: TokenMessage = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.msg_prefix, bytes) or len(self.msg_prefix) != rsabssa.PREFIX_LENGTH:
            raise MalformedCastError(
                f"token.msg_prefix must be {rsabssa.PREFIX_LENGTH} bytes",
                field="token.msg_prefix",
            )
        if not isinstance(self.sig, bytes) or not 0 < len(self.sig) <= _MAX_SIG_LENGTH:
            raise MalformedCastError("token.sig has an impossible length", field="token.sig")
        object.__setattr__(self, "message", TokenMessage.from_bytes(self.msg))

    @property
    def prepared_msg(self) -> bytes:
        """The RFC 9474 ``input_msg`` that ``sig`` signs."""
        return self.msg_prefix + self.msg

    def to_json(self) -> dict[str, JSONValue]:
        return {
            "msg_prefix": b64u_encode(self.msg_prefix),
            "msg": b64u_encode(self.msg),
            "sig": b64u_encode(self.sig),
        }

    @classmethod
    def from_json(cls, obj: object, *, path: str = "token") -> Token:
        members = _exact_object(obj, ("msg_prefix", "msg", "sig"), path=path)
        # A badly laid-out message raises MalformedTokenError from __post_init__.
        return cls(
            msg_prefix=b64u_decode(members["msg_prefix"], field=f"{path}.msg_prefix"),
            msg=b64u_decode(members["msg"], field=f"{path}.msg"),
            sig=b64u_decode(members["sig"], field=f"{path}.sig"),
        )

    def verify(self, public_key: rsa.RSAPublicKey) -> None:
        """RFC 9474 §4.5: RSASSA-PSS verification of the token under the election key."""
        rsabssa.verify(public_key, self.prepared_msg, sig=self.sig, variant=TOKEN_VARIANT)


# --------------------------------------------------------------------------------------
# Ballot
# --------------------------------------------------------------------------------------


def _exact_object(obj: object, names: tuple[str, ...], *, path: str) -> dict[str, object]:
    if not isinstance(obj, Mapping):
        raise MalformedCastError(f"{path or 'request'} must be a JSON object", field=path)
    keys = set(obj)
    if keys != set(names):
        extra = sorted(str(k) for k in keys - set(names))
        missing = sorted(set(names) - keys)
        raise MalformedCastError(
            f"{path or 'request'} must have exactly {list(names)}; "
            f"missing {missing}, unexpected {extra}",
            field=path,
        )
    return {name: obj[name] for name in names}


def _canonical(value: JSONValue, *, field: str) -> bytes:
    try:
        return canonical(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError, RecursionError) as exc:
        raise MalformedCastError(
            f"{field} is not canonicalizable JSON: {exc}", field=field
        ) from exc


def _safe_int(text: str) -> int:
    """Parse an integer of canonical JSON, refusing magnitudes of 2^53 and more.

    RFC 8785 writes an integral double such as ``1e16`` as ``10000000000000000``; read
    back, that is an integer outside the range RFC 8785 (I-JSON, RFC 7493 §2.2) can
    serialise again, so such a ballot could not be re-canonicalised. Refused up front.
    """
    value = int(text)
    if abs(value) > MAX_SEQ:
        raise MalformedCastError(
            "ballot.choices holds a number outside the I-JSON exact range", field="ballot.choices"
        )
    return value


@dataclass(frozen=True, slots=True)
class Ballot:
    """``{"election", "seq", "choices"}``, or ``{"election", "seq", "encrypted"}`` for an
    encrypted election (docs/board-format.md §10.3); the object that ``ballot_sig`` signs
    (JCS).

    ``choices`` holds the answer object whichever member carries it: the clear choices, or,
    with ``encrypted``, the encrypted ballot's wire form (ballot/encrypted_ballot.py). It is
    stored as its own deep copy (through its canonical form), so the ballot cannot change
    after it was signed or verified.
    """

    election_id: bytes
    seq: int
    choices: dict[str, JSONValue]
    encrypted: bool = False
    _choices_jcs: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.election_id, bytes) or len(self.election_id) != 16:
            raise MalformedCastError("ballot.election must be 16 bytes", field="ballot.election")
        # bool is an int subclass; "seq": true is not a sequence number.
        if type(self.seq) is not int or not 1 <= self.seq <= MAX_SEQ:
            raise MalformedCastError(
                f"ballot.seq must be an integer in [1, {MAX_SEQ}]", field="ballot.seq"
            )
        if not isinstance(self.encrypted, bool):
            raise MalformedCastError("ballot.encrypted is a flag", field="ballot")
        member = self.member
        if not isinstance(self.choices, dict):
            raise MalformedCastError(
                f"ballot.{member} must be a JSON object", field=f"ballot.{member}"
            )
        choices_jcs = _canonical(self.choices, field=f"ballot.{member}")
        object.__setattr__(self, "_choices_jcs", choices_jcs)
        object.__setattr__(self, "choices", json.loads(choices_jcs, parse_int=_safe_int))

    @property
    def member(self) -> str:
        """The member that carries the answers: ``choices`` or ``encrypted``."""
        return "encrypted" if self.encrypted else "choices"

    def to_json(self) -> dict[str, JSONValue]:
        return {
            "election": election_id_text(self.election_id),
            "seq": self.seq,
            self.member: json.loads(self._choices_jcs),
        }

    def canonical_bytes(self) -> bytes:
        """RFC 8785 canonical JSON of the ballot: the bytes ``ballot_sig`` signs.

        Assembled from the canonical answers computed once at construction: RFC 8785
        §3.2.3 sorts members by UTF-16 code units ("choices" < "election" < "encrypted" <
        "seq"), the UUID text needs no escaping, and §3.2.2.3 writes an integer below 2^53
        as its plain decimal digits. A test compares this with ``rfc8785.dumps(to_json())``.
        """
        election = b'"election":"' + election_id_text(self.election_id).encode("ascii") + b'"'
        seq = b'"seq":' + str(self.seq).encode("ascii")
        if self.encrypted:
            return b"{" + election + b',"encrypted":' + self._choices_jcs + b"," + seq + b"}"
        return b'{"choices":' + self._choices_jcs + b"," + election + b"," + seq + b"}"

    @classmethod
    def from_json(cls, obj: object, *, path: str = "ballot") -> Ballot:
        encrypted = isinstance(obj, Mapping) and "encrypted" in obj
        member = "encrypted" if encrypted else "choices"
        members = _exact_object(obj, ("election", "seq", member), path=path)
        choices = members[member]
        if not isinstance(choices, dict):
            raise MalformedCastError(
                f"{path}.{member} must be a JSON object", field=f"{path}.{member}"
            )
        seq = members["seq"]
        if type(seq) is not int:
            raise MalformedCastError(f"{path}.seq must be an integer", field=f"{path}.seq")
        return cls(
            election_id=parse_election_id(members["election"], field=f"{path}.election"),
            seq=seq,
            choices=choices,
            encrypted=encrypted,
        )


def sign_ballot(signing_key_seed: bytes, ballot: Ballot) -> bytes:
    """Ed25519-sign the ballot's canonical JSON with the voter's ephemeral key (64 bytes)."""
    key = nacl.signing.SigningKey(signing_key_seed)
    return bytes(key.sign(ballot.canonical_bytes()).signature)


def verify_ballot_signature(voter_key: bytes, ballot: Ballot, signature: bytes) -> None:
    """Verify ``ballot_sig`` under the token's ``vk``; raise, never return False."""
    if not isinstance(signature, bytes) or len(signature) != BALLOT_SIGNATURE_LENGTH:
        raise InvalidBallotSignatureError("ballot_sig must be 64 bytes")
    try:
        nacl.signing.VerifyKey(voter_key).verify(ballot.canonical_bytes(), signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError) as exc:
        raise InvalidBallotSignatureError("ballot signature does not verify") from exc


# --------------------------------------------------------------------------------------
# Cast request
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CastRequest:
    """The body of ``POST /elections/{id}/ballots``, parsed but not yet verified."""

    token: Token
    ballot: Ballot
    ballot_sig: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.token, Token) or not isinstance(self.ballot, Ballot):
            raise MalformedCastError("cast request needs a Token and a Ballot", field="")
        if (
            not isinstance(self.ballot_sig, bytes)
            or len(self.ballot_sig) != BALLOT_SIGNATURE_LENGTH
        ):
            raise MalformedCastError("ballot_sig must be 64 bytes", field="ballot_sig")

    def to_json(self) -> dict[str, JSONValue]:
        return {
            "token": self.token.to_json(),
            "ballot": self.ballot.to_json(),
            "ballot_sig": b64u_encode(self.ballot_sig),
        }

    def to_json_bytes(self) -> bytes:
        """The request body, in canonical JSON (any JSON form would parse)."""
        return canonical(self.to_json())


def _reject_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            raise MalformedCastError(f"duplicate member {key!r}", field=key)
        result[key] = value
    return result


def _reject_constant(name: str) -> object:
    raise MalformedCastError(f"{name} is not JSON", field="")


def _load_json(data: bytes | str) -> object:
    """``json.loads`` minus its extensions: no duplicate members, no NaN/Infinity."""
    try:
        return json.loads(
            data, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant
        )
    except (ValueError, RecursionError) as exc:
        raise MalformedCastError("cast request is not valid JSON", field="") from exc


def parse_cast(data: bytes | str | Mapping[str, object]) -> CastRequest:
    """Strictly parse a cast request from its JSON text or an already decoded object."""
    obj = _load_json(data) if isinstance(data, bytes | str) else data
    members = _exact_object(obj, ("token", "ballot", "ballot_sig"), path="")
    return CastRequest(
        token=Token.from_json(members["token"]),
        ballot=Ballot.from_json(members["ballot"]),
        ballot_sig=b64u_decode(members["ballot_sig"], field="ballot_sig"),
    )


@dataclass(frozen=True, slots=True)
class VerifiedCast:
    """A cast request whose token and ballot signature verified. Only
    :func:`verify_cast` creates these; ballot *rules* are still to be checked."""

    election_id: bytes
    nullifier: bytes
    voter_key: bytes
    seq: int
    ballot: Ballot
    request: CastRequest

    @property
    def choices(self) -> dict[str, JSONValue]:
        return self.ballot.choices


def verify_cast(
    manifest_public_key: rsa.RSAPublicKey,
    *,
    expected_election_id: bytes | uuid.UUID,
    cast: CastRequest | bytes | str | Mapping[str, object],
) -> VerifiedCast:
    """Verify a cast request for one election; raise on the first failure.

    Checks, in order: the structure (:func:`parse_cast`); the election id inside the
    token message and ``ballot.election`` both equal ``expected_election_id``
    (:class:`WrongElectionError`); the token is a valid RSA-PSS signature under the
    manifest key (RFC 9474 §4.5, :class:`~parvis_verifier.ballot_errors.InvalidSignatureError`); and
    ``ballot_sig`` verifies under the ``vk`` inside the token message
    (:class:`InvalidBallotSignatureError`). Nullifier uniqueness and ballot rules are
    the caller's (storage and rules) to enforce.
    """
    expected = _election_id_bytes(expected_election_id)
    request = cast if isinstance(cast, CastRequest) else parse_cast(cast)
    message = request.token.message
    if not hmac.compare_digest(message.election_id, expected):
        raise WrongElectionError("the token was issued for another election")
    if not hmac.compare_digest(request.ballot.election_id, expected):
        raise WrongElectionError("the ballot names another election")
    request.token.verify(manifest_public_key)
    verify_ballot_signature(message.voter_key, request.ballot, request.ballot_sig)
    return VerifiedCast(
        election_id=expected,
        nullifier=nullifier(request.token.msg),
        voter_key=message.voter_key,
        seq=request.ballot.seq,
        ballot=request.ballot,
        request=request,
    )
