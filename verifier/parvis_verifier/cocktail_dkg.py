"""C2SP COCKTAIL-DKG, ciphersuite ``COCKTAIL(Ed25519, SHA-512)``: the trustees' key ceremony.

Specification: https://c2sp.org/cocktail-dkg (v0.2.1);
vectors: C2SP/CCTV ``cocktail-dkg/cocktail-dkg-ed25519-sha512.json`` (v0.2.0, copied in
``tests/vectors/c2sp/``). Where the two differ this module follows the vectors; ADR 0012 says
exactly where (the ECDH shared-secret encoding) and how the ceremony is carried.

Pure core (architecture.md, "Inside a domain"): no I/O, no clock, randomness injected
(``rng=``). Sections of the spec, in order:

- *Setup* — :class:`Configuration` (``t``, the ordered static keys ``P_1..P_n``, the
  ``context``) and :func:`derive_context`, the RECOMMENDED context construction.
- *Round 1* — :func:`round1`: polynomial, VSS commitment, ephemeral key, proof of
  possession (*Schnorr Signature Scheme*, deterministic nonce), encrypted shares; the
  message :class:`Round1Message` and its wire form ``msg_{1|i}`` (*Protocol Messages*).
- *Round 2* — :func:`round2`: commitment lengths, every PoP, decryption and VSS check of
  every share, then ``x_i``, ``Y`` and every ``Y_m`` (:class:`DkgOutput`).
- *Round 3* — :func:`transcript`, :func:`sign_transcript`, :func:`verify_certificate`.
- *Application-Specific Extensions* — :func:`payload_extension`.
- *Share Recovery* — :class:`Transcript` (parsing ``T``), :func:`encode_bundle`,
  :func:`recover`.

Group strategy (b) of the ciphersuite definition, "raw Edwards with subgroup check": points
are :class:`parvis_verifier.group.Point`, whose decoding refuses anything but canonical,
non-identity points of the prime-order subgroup; the RFC 8032 encoding is the wire and output
encoding. Hash SHA-512 (hashlib), AEAD XChaCha20-Poly1305 and the group operations are libsodium
through PyNaCl; what is written here is the protocol only (hashing layouts, the Schnorr
scheme of the spec, Feldman VSS arithmetic, framing).

Every verification raises. A failure attributable to a participant raises a
:class:`ParticipantFaultError` subclass whose ``participant`` is the faulty index (1-based), as
*Error Handling* / *Blame-Finding and Reporting* require.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

import nacl.bindings as sodium
import nacl.exceptions

from parvis_verifier.group import GroupError, Point, Scalar

__all__ = [
    "CIPHERSUITE_ID",
    "MAX_CIPHERTEXT_SIZE",
    "MIN_CIPHERTEXT_SIZE",
    "Configuration",
    "DkgError",
    "DkgOutput",
    "InvalidCommitmentError",
    "InvalidProofOfPossessionError",
    "InvalidShareError",
    "InvalidTranscriptSignatureError",
    "MalformedMessageError",
    "ParticipantFaultError",
    "RecoveryError",
    "Round1Message",
    "SchnorrTrace",
    "SetupError",
    "ShareDecryptionError",
    "SignatureError",
    "SigningAbortedError",
    "Transcript",
    "derive_context",
    "encode_bundle",
    "payload_extension",
    "recover",
    "round1",
    "round2",
    "schnorr_sign",
    "schnorr_trace",
    "schnorr_verify",
    "seal_share",
    "share_key_and_nonce",
    "sign_transcript",
    "transcript",
    "transcript_hash",
    "verify_certificate",
]

#: *Ciphersuite Definitions*: the canonical ``ciphersuite_id`` byte string.
CIPHERSUITE_ID: Final = b"COCKTAIL(Ed25519, SHA-512)"
_H6_PREFIX: Final = b"COCKTAIL-DKG-Ed25519-SHA512-H6"
_H7_PREFIX: Final = b"COCKTAIL-DKG-Ed25519-SHA512-H7"
_NONCE_PREFIX: Final = b"COCKTAIL-DKG-Ed25519-SHA512-NONCE"
_CONTEXT_PREFIX: Final = b"COCKTAIL-DKG-CONTEXT"

_POINT_SIZE: Final = 32
_SCALAR_SIZE: Final = 32
_SIGNATURE_SIZE: Final = _POINT_SIZE + _SCALAR_SIZE
_TAG_SIZE: Final = 16  # Poly1305
_FRAME_PREFIX: Final = 8  # uint64_be length of a framed ciphertext
_MAX_PARTICIPANTS: Final = 2**32 - 1

#: A zero-payload share: scalar plus AEAD tag. Smaller ciphertexts MUST be refused.
MIN_CIPHERTEXT_SIZE: Final = _SCALAR_SIZE + _TAG_SIZE
#: *Protocol Messages*: an implementation MUST bound each ciphertext and SHOULD allow at least
#: 64 KiB; Parvis allows exactly that (its payloads, if any, are small).
MAX_CIPHERTEXT_SIZE: Final = 65_536


# --- errors -------------------------------------------------------------------------------


class DkgError(ValueError):
    """The ceremony must abort (*Error Handling*). A ``ValueError``, like
    :class:`parvis_verifier.group.GroupError`, so that the trustee tool needs no server code."""


class SetupError(DkgError):
    """*Setup* is invalid: ``t``/``n`` out of range, duplicate or invalid static keys, a
    static secret that is not the participant's, the wrong number of messages."""


class SigningAbortedError(DkgError):
    """*Schnorr Sign* step 3: the deterministic nonce is zero; the session is locally failed
    (probability about 2^-252) and must be retried under a fresh context."""


class SignatureError(DkgError):
    """A Schnorr signature of the spec does not verify (*Schnorr Verify Algorithm*)."""


class RecoveryError(DkgError):
    """*Recovery Algorithm*: the recovery material is unusable (certificate, bundle, index)."""


class ParticipantFaultError(DkgError):
    """A failure attributed to one participant; ``participant`` is its 1-based index."""

    def __init__(self, participant: int, reason: str) -> None:
        super().__init__(f"participant {participant}: {reason}")
        self.participant = participant
        self.reason = reason


class MalformedMessageError(ParticipantFaultError):
    """*Error Categories* 1: a message does not parse (length, point, framing). A malformed
    ciphertext frame is only locally attributable: the PoP does not sign ciphertexts."""


class InvalidCommitmentError(ParticipantFaultError):
    """*Round 2* step 1: the VSS commitment does not hold exactly ``t`` valid group points
    (the threshold-elevation check) — publicly verifiable."""


class InvalidProofOfPossessionError(ParticipantFaultError):
    """*Round 2* step 2: ``PoP_j`` does not verify over ``context || C_j || E_j`` under
    ``C_{j,0}`` — publicly verifiable."""


class ShareDecryptionError(ParticipantFaultError):
    """*Round 2* step 3.2: ``c_{j,i}`` does not decrypt. Attributable by the recipient only
    (the key derives from its static secret), not publicly verifiable."""


class InvalidShareError(ParticipantFaultError):
    """*Round 2* steps 3.3–3.4: the decrypted share is not a canonical scalar, or fails
    ``s_{j,i}·B = Σ_k i^k·C_{j,k}``. ``share`` (when it parsed) is the blame evidence a third
    party checks against the public commitment (*Blame-Finding and Reporting*)."""

    def __init__(self, participant: int, reason: str, *, share: Scalar | None = None) -> None:
        super().__init__(participant, reason)
        self.share = share


class InvalidTranscriptSignatureError(ParticipantFaultError):
    """*Round 3* step 4: ``sig_j`` does not verify on the transcript under ``P_j``."""


# --- setup --------------------------------------------------------------------------------


def _u64be(value: int) -> bytes:
    return value.to_bytes(8, "big")


def _u64le(value: int) -> bytes:
    return value.to_bytes(8, "little")


def _u32le(value: int) -> bytes:
    return value.to_bytes(4, "little")


def _valid_point(point: Point) -> bool:
    """Whether ``point`` would pass strict decoding (a :class:`Point` built directly from
    bytes skips it); the identity is of small order and fails."""
    try:
        Point.decode(point.encoded)
    except GroupError:
        return False
    return True


def derive_context(*, session_id: bytes, static_keys: Sequence[Point]) -> bytes:
    """*Setup*, the RECOMMENDED ``context``: SHA-512 of ``"COCKTAIL-DKG-CONTEXT" ||
    uint64_be(len(session_id)) || session_id || uint64_be(len(ciphersuite_id)) ||
    ciphersuite_id || uint32_le(n) || P_1 || … || P_n`` — unique per session, binding the
    ordered participant set and the ciphersuite."""
    digest = hashlib.sha512(_CONTEXT_PREFIX)
    digest.update(_u64be(len(session_id)) + session_id)
    digest.update(_u64be(len(CIPHERSUITE_ID)) + CIPHERSUITE_ID)
    digest.update(_u32le(len(static_keys)))
    for key in static_keys:
        digest.update(key.encoded)
    return digest.digest()


@dataclass(frozen=True, slots=True)
class Configuration:
    """What every participant agrees on before round 1 (*Setup*): the threshold ``t``, the
    ordered static public keys ``P_1..P_n`` (participant ``i`` is ``static_keys[i-1]``) and
    the ``context``. Invalid setups cannot be constructed: "``t > n``, ``t = 0``, ``n = 0``
    […] are invalid setups and participants MUST abort before Round 1"; "All ``P_j`` MUST be
    distinct, valid prime-order subgroup points"."""

    threshold: int
    static_keys: tuple[Point, ...]
    context: bytes

    def __post_init__(self) -> None:
        n = len(self.static_keys)
        if not 1 <= self.threshold <= n <= _MAX_PARTICIPANTS:
            raise SetupError("the setup needs 1 <= t <= n <= 2^32 - 1")
        if not all(_valid_point(key) for key in self.static_keys):
            raise SetupError("a static public key is not a point of the prime-order group")
        if len(set(self.static_keys)) != n:
            raise SetupError("the static public keys are not distinct")
        if not isinstance(self.context, bytes) or not self.context:
            raise SetupError("the context is a non-empty byte string")

    @classmethod
    def for_session(
        cls, *, session_id: bytes, threshold: int, static_keys: Sequence[Point]
    ) -> Configuration:
        """A configuration whose context is :func:`derive_context`."""
        keys = tuple(static_keys)
        return cls(threshold, keys, derive_context(session_id=session_id, static_keys=keys))

    @property
    def n(self) -> int:
        return len(self.static_keys)

    def key_of(self, index: int) -> Point:
        """``P_index``; indices are the contiguous integers 1..n (never 0: the zero-share
        attack)."""
        if not 1 <= index <= self.n:
            raise SetupError("participant indices run from 1 to n")
        return self.static_keys[index - 1]


# --- Schnorr signatures of the spec ---------------------------------------------------------


def _hash_to_scalar(data: bytes) -> Scalar:
    """*Schnorr Hash-to-Scalar Reduction*, SHA-512: 64 bytes, little-endian, wide-reduced."""
    return Scalar.from_wide(hashlib.sha512(data).digest())


@dataclass(frozen=True, slots=True)
class SchnorrTrace:
    """Every intermediate value of *Schnorr Sign* (what the vectors' ``pop_intermediate``
    lists): ``nonce_input = prefix_nonce || encode(sk) || m``, ``k``, ``R = k·B``,
    ``challenge_input = prefix_H7 || R || pk || m``, ``c``, and the signature ``R || z``."""

    nonce_input: bytes
    nonce: Scalar
    nonce_commitment: Point
    challenge_input: bytes
    challenge: Scalar
    signature: bytes


def schnorr_trace(secret: Scalar, message: bytes) -> SchnorrTrace:
    """*Schnorr Sign Algorithm* with its intermediate values (deterministic nonce). The trace
    holds the nonce ``k``, which with the signature gives away ``sk``: it exists to check the
    vectors' ``pop_intermediate`` and must never leave the signer."""
    public = Point.base_times(secret)
    nonce_input = _NONCE_PREFIX + secret.encoded + message
    nonce = _hash_to_scalar(nonce_input)
    if nonce.value == 0:
        # Step 3: a zero nonce would give z = c·sk and leak the key; abort, reveal nothing.
        raise SigningAbortedError("the deterministic Schnorr nonce is zero")
    commitment = Point.base_times(nonce)
    challenge_input = _H7_PREFIX + commitment.encoded + public.encoded + message
    challenge = _hash_to_scalar(challenge_input)
    response = nonce + challenge * secret
    return SchnorrTrace(
        nonce_input=nonce_input,
        nonce=nonce,
        nonce_commitment=commitment,
        challenge_input=challenge_input,
        challenge=challenge,
        signature=commitment.encoded + response.encoded,
    )


def schnorr_sign(secret: Scalar, message: bytes) -> bytes:
    """*Schnorr Sign Algorithm*: the 64-byte signature ``R || z``."""
    return schnorr_trace(secret, message).signature


def schnorr_verify(public: Point, message: bytes, signature: bytes) -> None:
    """*Schnorr Verify Algorithm*; raises :class:`SignatureError`. "Reject if ``z`` does not
    decode to a canonical scalar", "Reject if ``R`` does not decode to a valid prime-order
    subgroup point that is not the identity"."""
    if not isinstance(signature, bytes) or len(signature) != _SIGNATURE_SIZE:
        raise SignatureError("a signature is 64 bytes")
    try:
        response = Scalar(signature[_POINT_SIZE:])
        commitment = Point.decode(signature[:_POINT_SIZE])
    except GroupError as exc:
        raise SignatureError("the signature does not decode") from exc
    challenge = _hash_to_scalar(_H7_PREFIX + commitment.encoded + public.encoded + message)
    if Point.base_times(response) != commitment + public * challenge:
        raise SignatureError("the signature does not verify")


# --- Feldman VSS --------------------------------------------------------------------------


def _evaluate(coefficients: Sequence[Scalar], index: int) -> Scalar:
    """``f(index) mod q`` by Horner's rule."""
    x = Scalar.of(index)
    result = Scalar.of(0)
    for coefficient in reversed(coefficients):
        result = result * x + coefficient
    return result


def _commitment_at(commitment: Sequence[Point], index: int) -> Point:
    """``Σ_k index^k · C_k`` by Horner's rule (t − 1 variable-base multiplications)."""
    x = Scalar.of(index)
    result = commitment[-1]
    for point in reversed(commitment[:-1]):
        result = result * x + point
    return result


# --- share encryption ---------------------------------------------------------------------


def share_key_and_nonce(
    *,
    ephemeral_dh: Point,
    static_dh: Point,
    ephemeral_key: Point,
    sender_key: Point,
    recipient_key: Point,
    context: bytes,
) -> tuple[bytes, bytes]:
    """*Round 1* step 5.2 / *Round 2* step 3.1 for a 64-byte hash: ``tmp = H6(S^e || S^d, E,
    P_s, P_r, context)``, key ``tmp[0:32]``, XChaCha20 nonce ``tmp[32:56]``, where ``H6(x,
    E, P_s, P_r, extra) = SHA-512(prefix || x || E || P_s || P_r || uint64_le(len(extra)) ||
    extra)``. The sender computes ``S^e = e_i·P_j``, ``S^d = d_i·P_j``; the recipient the
    same points as ``d_j·E_i``, ``d_j·P_i``.

    ECDH points are fed to H6 in their RFC 8032 encoding, as the v0.2.0 vectors do; the
    v0.2.1 text asks for the Ristretto255 encoding here (ADR 0012)."""
    digest = hashlib.sha512(_H6_PREFIX)
    for part in (ephemeral_dh, static_dh, ephemeral_key, sender_key, recipient_key):
        digest.update(part.encoded)
    digest.update(_u64le(len(context)) + context)
    tmp = digest.digest()
    return tmp[:32], tmp[32:56]


def seal_share(*, key: bytes, nonce: bytes, share: Scalar, payload: bytes = b"") -> bytes:
    """*Round 1* steps 5.3–5.4: ``c_{i,j} = Enc(s_{i,j} || payload_{i,j}, k_{i,j}, iv_{i,j})``
    with XChaCha20-Poly1305 (libsodium's IETF construction, no associated data)."""
    ciphertext: bytes = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
        share.encoded + payload, None, nonce, key
    )
    if len(ciphertext) > MAX_CIPHERTEXT_SIZE:
        raise SetupError("a payload makes a ciphertext exceed MAX_CIPHERTEXT_SIZE")
    return ciphertext


def _frame(ciphertext: bytes) -> bytes:
    return _u64be(len(ciphertext)) + ciphertext


def _read_frames(data: bytes, offset: int, count: int) -> tuple[list[bytes], int]:
    """``count`` length-framed ciphertexts from ``offset``; raises ``ValueError`` with the
    reason (callers attribute it). Bounds per *Protocol Messages* and *Recovery* step 5."""
    frames: list[bytes] = []
    for _ in range(count):
        if len(data) - offset < _FRAME_PREFIX:
            raise ValueError("the data ends inside a ciphertext length")
        length = int.from_bytes(data[offset : offset + _FRAME_PREFIX], "big")
        offset += _FRAME_PREFIX
        if length > MAX_CIPHERTEXT_SIZE:
            raise ValueError("a ciphertext length exceeds MAX_CIPHERTEXT_SIZE")
        if length < MIN_CIPHERTEXT_SIZE:
            raise ValueError("a ciphertext is shorter than a share and its tag")
        if len(data) - offset < length:
            raise ValueError("the data ends inside a ciphertext")
        frames.append(data[offset : offset + length])
        offset += length
    return frames, offset


# --- round 1 ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Round1Message:
    """``msg_{1|i}`` of participant ``sender`` (*Protocol Messages* 1): ``C_i``, ``PoP_i``,
    ``E_i`` and ``c_{i,1..n}`` (the self-share included). Points are re-checked on
    construction, so a message naming an invalid point cannot exist; the commitment
    *length* is checked against ``t`` in round 2, where ``t`` is known."""

    sender: int
    commitment: tuple[Point, ...]
    proof_of_possession: bytes
    ephemeral_key: Point
    ciphertexts: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if not self.commitment or not all(_valid_point(p) for p in self.commitment):
            raise InvalidCommitmentError(self.sender, "a commitment point is not in the group")
        if not _valid_point(self.ephemeral_key):
            raise MalformedMessageError(self.sender, "the ephemeral key is not in the group")
        if len(self.proof_of_possession) != _SIGNATURE_SIZE:
            raise MalformedMessageError(self.sender, "the proof of possession is not 64 bytes")
        for ciphertext in self.ciphertexts:
            if not MIN_CIPHERTEXT_SIZE <= len(ciphertext) <= MAX_CIPHERTEXT_SIZE:
                raise MalformedMessageError(self.sender, "a ciphertext has an invalid size")

    def pop_message(self, context: bytes) -> bytes:
        """What ``PoP_i`` signs: ``context || C_{i,0} || … || C_{i,t-1} || E_i``."""
        return context + b"".join(p.encoded for p in self.commitment) + self.ephemeral_key.encoded

    def encode(self) -> bytes:
        """``C_i || PoP_i || E_i || ~c_{i,1} || … || ~c_{i,n}`` (64-bit big-endian frames)."""
        return (
            b"".join(p.encoded for p in self.commitment)
            + self.proof_of_possession
            + self.ephemeral_key.encoded
            + b"".join(_frame(c) for c in self.ciphertexts)
        )

    @classmethod
    def decode(cls, data: bytes, *, sender: int, config: Configuration) -> Round1Message:
        """Parse ``msg_{1|sender}`` exactly (no trailing bytes), naming ``sender`` on error.
        The commitment is read as exactly ``t`` points: a longer one leaves bytes that do
        not frame, a shorter one runs out."""
        t, n = config.threshold, config.n
        fixed = t * _POINT_SIZE + _SIGNATURE_SIZE + _POINT_SIZE
        if len(data) < fixed:
            raise MalformedMessageError(sender, "the message is shorter than its fixed part")
        try:
            commitment = tuple(
                Point.decode(data[k * _POINT_SIZE : (k + 1) * _POINT_SIZE]) for k in range(t)
            )
        except GroupError as exc:
            raise InvalidCommitmentError(sender, "a commitment point does not decode") from exc
        offset = t * _POINT_SIZE
        pop = data[offset : offset + _SIGNATURE_SIZE]
        offset += _SIGNATURE_SIZE
        try:
            ephemeral = Point.decode(data[offset : offset + _POINT_SIZE])
        except GroupError as exc:
            raise MalformedMessageError(sender, "the ephemeral key does not decode") from exc
        try:
            frames, end = _read_frames(data, offset + _POINT_SIZE, n)
        except ValueError as exc:
            raise MalformedMessageError(sender, str(exc)) from exc
        if end != len(data):
            raise MalformedMessageError(sender, "trailing bytes after the last ciphertext")
        return cls(sender, commitment, pop, ephemeral, tuple(frames))


def _nonzero(rng: Callable[[], Scalar]) -> Scalar:
    """A scalar from ``rng``, resampled while zero (*Round 1* steps 1 and 3 MUST)."""
    while (value := rng()).value == 0:
        pass
    return value


def round1(
    *,
    config: Configuration,
    index: int,
    static_secret: Scalar,
    payloads: Sequence[bytes] | None = None,
    rng: Callable[[], Scalar] = Scalar.random,
) -> Round1Message:
    """*Round 1* for participant ``index``: ``t`` coefficients then the ephemeral secret are
    drawn from ``rng`` (in that order; zeros resampled), ``C_i``, ``PoP_i`` over ``context ||
    C_i || E_i`` under ``a_{i,0}``, and ``c_{i,j} = Enc(s_{i,j} || payload_{i,j})`` for every
    ``j`` including ``i``. ``payloads`` (one per recipient, default empty) are optional
    application payloads (*Optional Application Payloads*). Secrets are not returned: after
    this round a participant needs only its static secret."""
    own_key = config.key_of(index)
    if Point.base_times(static_secret) != own_key:
        raise SetupError("the static secret is not this participant's key")
    chosen = tuple(payloads) if payloads is not None else (b"",) * config.n
    if len(chosen) != config.n:
        raise SetupError("one payload per participant, or none")
    coefficients = tuple(_nonzero(rng) for _ in range(config.threshold))
    ephemeral_secret = _nonzero(rng)
    ephemeral_key = Point.base_times(ephemeral_secret)
    commitment = tuple(Point.base_times(a) for a in coefficients)
    pop_message = config.context + b"".join(p.encoded for p in commitment) + ephemeral_key.encoded
    pop = schnorr_sign(coefficients[0], pop_message)
    ciphertexts = []
    for j, (recipient, payload) in enumerate(zip(config.static_keys, chosen, strict=True), 1):
        key, nonce = share_key_and_nonce(
            ephemeral_dh=recipient * ephemeral_secret,
            static_dh=recipient * static_secret,
            ephemeral_key=ephemeral_key,
            sender_key=own_key,
            recipient_key=recipient,
            context=config.context,
        )
        share = _evaluate(coefficients, j)
        ciphertexts.append(seal_share(key=key, nonce=nonce, share=share, payload=payload))
    return Round1Message(index, commitment, pop, ephemeral_key, tuple(ciphertexts))


# --- round 2 ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DkgOutput:
    """*Round 2* step 4 (and *Recovery* steps 7–8): participant ``index``'s secret share
    ``x_i``, every verification share ``Y_1..Y_n``, the group public key ``Y``, and the
    application payloads ``payload_{j,i}`` received (in sender order)."""

    index: int
    secret_share: Scalar
    verification_shares: tuple[Point, ...]
    group_public_key: Point
    payloads: tuple[bytes, ...]

    @property
    def verification_share(self) -> Point:
        """``Y_i`` of this participant."""
        return self.verification_shares[self.index - 1]


def _open_shares(
    *,
    config: Configuration,
    index: int,
    static_secret: Scalar,
    ephemeral_keys: Sequence[Point],
    commitments: Sequence[Sequence[Point]],
    ciphertexts: Sequence[bytes],
) -> DkgOutput:
    """*Round 2* steps 3–4 (shared with *Recovery* steps 4–8): decrypt ``c_{j,i}`` for every
    ``j``, parse and VSS-check ``s_{j,i}``, then sum."""
    own_key = config.key_of(index)
    shares: list[Scalar] = []
    payloads: list[bytes] = []
    for j, (sender_key, ephemeral, commitment, ciphertext) in enumerate(
        zip(config.static_keys, ephemeral_keys, commitments, ciphertexts, strict=True), 1
    ):
        key, nonce = share_key_and_nonce(
            ephemeral_dh=ephemeral * static_secret,
            static_dh=sender_key * static_secret,
            ephemeral_key=ephemeral,
            sender_key=sender_key,
            recipient_key=own_key,
            context=config.context,
        )
        try:
            plaintext = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
                ciphertext, None, nonce, key
            )
        except nacl.exceptions.CryptoError as exc:
            raise ShareDecryptionError(
                j, f"the share for participant {index} does not decrypt"
            ) from exc
        try:
            share = Scalar(plaintext[:_SCALAR_SIZE])
        except GroupError as exc:
            raise InvalidShareError(j, "the decrypted share is not a canonical scalar") from exc
        if Point.base_times(share) != _commitment_at(commitment, index):
            raise InvalidShareError(
                j, f"the share for participant {index} fails the VSS check", share=share
            )
        shares.append(share)
        payloads.append(plaintext[_SCALAR_SIZE:])
    secret_share = Scalar.of(0)
    for share in shares:
        secret_share = secret_share + share
    group_public_key = commitments[0][0]
    for commitment in commitments[1:]:
        group_public_key = group_public_key + commitment[0]
    aggregated = list(commitments[0])
    for commitment in commitments[1:]:
        aggregated = [a + c for a, c in zip(aggregated, commitment, strict=True)]
    verification_shares = tuple(_commitment_at(aggregated, m) for m in range(1, config.n + 1))
    # Step 4.4, defence in depth: guaranteed by the VSS checks above unless this code is wrong.
    if Point.base_times(secret_share) != verification_shares[index - 1]:
        raise DkgError("x_i·B differs from Y_i: an implementation fault")
    return DkgOutput(index, secret_share, verification_shares, group_public_key, tuple(payloads))


def _check_messages(config: Configuration, messages: Sequence[Round1Message]) -> None:
    """*Round 2* steps 1–2: one message per participant in order, exactly ``t`` commitment
    points each (threshold elevation), ``n`` ciphertexts each, every PoP valid."""
    if len(messages) != config.n:
        raise SetupError("round 2 needs exactly one round-1 message per participant")
    for j, message in enumerate(messages, 1):
        if message.sender != j:
            raise SetupError("round-1 messages must be in participant order")
        if len(message.commitment) != config.threshold:
            raise InvalidCommitmentError(j, "the VSS commitment does not have exactly t points")
        if len(message.ciphertexts) != config.n:
            raise MalformedMessageError(j, "the message does not carry n ciphertexts")
    for j, message in enumerate(messages, 1):
        try:
            schnorr_verify(
                message.commitment[0],
                message.pop_message(config.context),
                message.proof_of_possession,
            )
        except SignatureError as exc:
            raise InvalidProofOfPossessionError(j, "the proof of possession is invalid") from exc


def round2(
    *,
    config: Configuration,
    index: int,
    static_secret: Scalar,
    messages: Sequence[Round1Message],
) -> DkgOutput:
    """*Round 2* for participant ``index`` over the broadcast list of every ``msg_{1|j}``:
    validate commitments, verify all PoPs, decrypt and verify every share, compute ``x_i``,
    ``Y`` and the verification shares. Raises a :class:`ParticipantFaultError` naming the first
    faulty participant."""
    if Point.base_times(static_secret) != config.key_of(index):
        raise SetupError("the static secret is not this participant's key")
    _check_messages(config, messages)
    return _open_shares(
        config=config,
        index=index,
        static_secret=static_secret,
        ephemeral_keys=[m.ephemeral_key for m in messages],
        commitments=[m.commitment for m in messages],
        ciphertexts=[m.ciphertexts[index - 1] for m in messages],
    )


# --- round 3 ------------------------------------------------------------------------------


def transcript(
    *, config: Configuration, messages: Sequence[Round1Message], extension: bytes = b""
) -> bytes:
    """*Round 3* step 1, the canonical transcript ``T``: ``uint64_le(len(cs_id)) || cs_id ||
    uint64_le(len(context)) || context || uint32_le(n) || uint32_le(t) || P_1..P_n ||
    C_1..C_n || PoP_1..PoP_n || E_1..E_n || uint64_le(len(ext)) || ext``. Ciphertexts are
    not in it (*Differences from ChillDKG* 5)."""
    _check_messages(config, messages)
    return Transcript(
        context=config.context,
        threshold=config.threshold,
        static_keys=config.static_keys,
        commitments=tuple(m.commitment for m in messages),
        proofs_of_possession=tuple(m.proof_of_possession for m in messages),
        ephemeral_keys=tuple(m.ephemeral_key for m in messages),
        extension=extension,
    ).encode()


def transcript_hash(data: bytes) -> bytes:
    """SHA-512 of the transcript, the short form the vectors publish (``transcript_hash``)."""
    return hashlib.sha512(data).digest()


def sign_transcript(*, static_secret: Scalar, transcript: bytes) -> bytes:
    """*Round 3* step 2: ``sig_i`` = Schnorr ``Sign(d_i, T)``."""
    return schnorr_sign(static_secret, transcript)


def verify_certificate(
    *, config: Configuration, transcript: bytes, signatures: Sequence[bytes]
) -> None:
    """*Round 3* step 4: every ``sig_j`` verifies on ``T`` under ``P_j``; otherwise
    :class:`InvalidTranscriptSignatureError` names ``j``. ``T`` and the ``n`` signatures are
    the success certificate."""
    if len(signatures) != config.n:
        raise SetupError("the certificate holds exactly one signature per participant")
    for j, (key, signature) in enumerate(zip(config.static_keys, signatures, strict=True), 1):
        try:
            schnorr_verify(key, transcript, signature)
        except SignatureError as exc:
            raise InvalidTranscriptSignatureError(j, "the transcript signature is invalid") from exc


def payload_extension(payloads: Sequence[bytes]) -> bytes:
    """*Deriving Extensions from Payloads*: ``ext = SHA-512(uint64_le(n) ||
    uint64_le(len(payload_1)) || payload_1 || … )`` over each participant's broadcast
    payload, in participant order."""
    digest = hashlib.sha512(_u64le(len(payloads)))
    for payload in payloads:
        digest.update(_u64le(len(payload)) + payload)
    return digest.digest()


# --- recovery -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Transcript:
    """The parsed transcript ``T`` (*Round 3* step 1; *Recovery* step 1)."""

    context: bytes
    threshold: int
    static_keys: tuple[Point, ...]
    commitments: tuple[tuple[Point, ...], ...]
    proofs_of_possession: tuple[bytes, ...]
    ephemeral_keys: tuple[Point, ...]
    extension: bytes

    @property
    def config(self) -> Configuration:
        return Configuration(self.threshold, self.static_keys, self.context)

    def encode(self) -> bytes:
        parts = [
            _u64le(len(CIPHERSUITE_ID)),
            CIPHERSUITE_ID,
            _u64le(len(self.context)),
            self.context,
            _u32le(len(self.static_keys)),
            _u32le(self.threshold),
            *(p.encoded for p in self.static_keys),
            *(p.encoded for c in self.commitments for p in c),
            *self.proofs_of_possession,
            *(p.encoded for p in self.ephemeral_keys),
            _u64le(len(self.extension)),
            self.extension,
        ]
        return b"".join(parts)

    @classmethod
    def parse(cls, data: bytes) -> Transcript:
        """Parse ``T`` exactly; the ciphersuite identifier must be this one ("mismatch
        indicates the wrong recovery codepath and MUST abort"). Raises
        :class:`RecoveryError`."""
        reader = _Reader(data)
        try:
            if reader.take(reader.u64le()) != CIPHERSUITE_ID:
                raise RecoveryError("the transcript is not for COCKTAIL(Ed25519, SHA-512)")
            context = reader.take(reader.u64le())
            n = int.from_bytes(reader.take(4), "little")
            t = int.from_bytes(reader.take(4), "little")
            if not 1 <= t <= n:
                raise RecoveryError("the transcript's t and n are invalid")
            keys = tuple(reader.point() for _ in range(n))
            commitments = tuple(tuple(reader.point() for _ in range(t)) for _ in range(n))
            pops = tuple(reader.take(_SIGNATURE_SIZE) for _ in range(n))
            ephemeral = tuple(reader.point() for _ in range(n))
            extension = reader.take(reader.u64le())
        except (ValueError, GroupError) as exc:
            if isinstance(exc, RecoveryError):
                raise
            raise RecoveryError("the transcript does not parse") from exc
        if not reader.at_end():
            raise RecoveryError("trailing bytes after the transcript")
        return cls(context, t, keys, commitments, pops, ephemeral, extension)


class _Reader:
    """A bounds-checked cursor over bytes (raises ``ValueError`` when data runs out)."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._offset = 0

    def take(self, size: int) -> bytes:
        if size > len(self._data) - self._offset:
            raise ValueError("the data ends early")
        chunk = self._data[self._offset : self._offset + size]
        self._offset += size
        return chunk

    def u64le(self) -> int:
        return int.from_bytes(self.take(8), "little")

    def point(self) -> Point:
        return Point.decode(self.take(_POINT_SIZE))

    def at_end(self) -> bool:
        return self._offset == len(self._data)


def encode_bundle(ciphertexts: Sequence[bytes]) -> bytes:
    """*Recovery Data*: ``C^rec_i = ~c_{1,i} || … || ~c_{n,i}`` (64-bit big-endian frames)."""
    return b"".join(_frame(c) for c in ciphertexts)


def recover(
    *, static_secret: Scalar, transcript: bytes, signatures: Sequence[bytes], bundle: bytes
) -> DkgOutput:
    """*Recovery Algorithm*: from ``d_i``, ``T``, the success certificate and ``C^rec_i``,
    rebuild ``x_i``, ``Y`` and ``Y_1..Y_n``. Steps: parse ``T`` (ciphersuite first), verify
    every signature, find the unique ``i`` with ``P_i = d_i·B``, parse the bundle exactly
    (``n`` frames, bounds, no trailing bytes), decrypt and VSS-check every share, sum."""
    parsed = Transcript.parse(transcript)
    try:
        config = parsed.config
    except SetupError as exc:
        raise RecoveryError(f"the transcript's setup is invalid: {exc}") from exc
    try:
        verify_certificate(config=config, transcript=transcript, signatures=signatures)
    except (InvalidTranscriptSignatureError, SetupError) as exc:
        raise RecoveryError(f"the success certificate is invalid: {exc}") from exc
    own_key = Point.base_times(static_secret)
    matches = [i for i, key in enumerate(config.static_keys, 1) if key == own_key]
    if len(matches) != 1:
        raise RecoveryError("the static secret matches no single participant")
    try:
        ciphertexts, end = _read_frames(bundle, 0, config.n)
    except ValueError as exc:
        raise RecoveryError(f"the share bundle does not parse: {exc}") from exc
    if end != len(bundle):
        raise RecoveryError("trailing bytes after the share bundle")
    return _open_shares(
        config=config,
        index=matches[0],
        static_secret=static_secret,
        ephemeral_keys=parsed.ephemeral_keys,
        commitments=parsed.commitments,
        ciphertexts=ciphertexts,
    )
