"""RFC 9474 "RSA Blind Signatures" (RSABSSA), all four SHA-384 variants.

Specification: https://www.rfc-editor.org/rfc/rfc9474 — §4.1 ``Prepare``, §4.2 ``Blind``,
§4.3 ``BlindSign``, §4.4 ``Finalize``, §4.5 verification, §5 the variants
(RSABSSA-SHA384-PSS-Randomized, -PSSZERO-Randomized, -PSS-Deterministic,
-PSSZERO-Deterministic). Encoding and primitives: RFC 8017 "PKCS #1 v2.2", §9.1.1
EMSA-PSS-ENCODE, Appendix B.2.1 MGF1, §5.2 RSASP1/RSAVP1.

Public names (``__all__``): ``Variant``, ``DEFAULT_VARIANT``, ``MIN_MODULUS_BITS``,
``MAX_MODULUS_BITS``, ``PREFIX_LENGTH``, ``Rng``, ``generate_key``, ``key_id``,
``modulus_length``, ``prepare``, ``emsa_pss_encode``, ``blind``, ``blind_sign``,
``finalize``, ``verify``.

What is hand-written and why: EMSA-PSS-ENCODE and MGF1 (RFC 8017 §9.1.1, B.2.1), because
``Blind`` must PSS-encode a message *without* signing it and ``cryptography`` exposes no
encoder. Everything else uses libraries: ``cryptography`` for key generation, key
serialisation and the final RSASSA-PSS verification (``verify`` and ``Finalize`` step 5);
the private-key operation goes through :mod:`parvis_verifier.rsa_backends` (OpenSSL by default).

Key sizes: every operation accepts moduli of ``MIN_MODULUS_BITS`` (2048) to
``MAX_MODULUS_BITS`` (8192) bits. The RFC 9474 Appendix A vectors use a 4096-bit key, so
no exception for smaller test keys is needed; :func:`generate_key` creates 2048, 3072 or
4096-bit keys only (architecture.md).

Randomness is injectable (``rng=``, or the exact ``msg_prefix=``, ``salt=``, ``r=``/``inv=``)
so that the RFC vectors replay bit for bit; the default is :func:`secrets.token_bytes`.
"""

from __future__ import annotations

import enum
import hashlib
import math
import secrets
from collections.abc import Callable
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from parvis_verifier.ballot_errors import (
    BlindingError,
    InvalidKeyError,
    InvalidLengthError,
    InvalidSignatureError,
    MessageTooLongError,
    OutOfRangeError,
    SigningFailureError,
)
from parvis_verifier.rsa_backends import RSABackend, get_backend

__all__ = [
    "DEFAULT_VARIANT",
    "MAX_MODULUS_BITS",
    "MIN_MODULUS_BITS",
    "PREFIX_LENGTH",
    "Rng",
    "Variant",
    "blind",
    "blind_sign",
    "emsa_pss_encode",
    "finalize",
    "generate_key",
    "key_id",
    "modulus_length",
    "prepare",
    "verify",
]

#: Smallest modulus any function here accepts (and the smallest ``generate_key`` makes).
MIN_MODULUS_BITS: Final = 2048
#: Largest modulus accepted: bounds the work an attacker-chosen key can cause.
MAX_MODULUS_BITS: Final = 8192
#: Sizes ``generate_key`` creates (architecture.md: 2048 default, 3072/4096 allowed).
GENERATED_KEY_BITS: Final = (2048, 3072, 4096)
#: Length of the randomized variants' message prefix (RFC 9474 §4.1).
PREFIX_LENGTH: Final = 32

_HASH_LEN: Final = 48  # SHA-384
_PUBLIC_EXPONENT: Final = 65537

#: A source of random bytes: ``rng(n)`` returns exactly ``n`` bytes.
Rng = Callable[[int], bytes]


class Variant(enum.StrEnum):
    """The four RSABSSA variants of RFC 9474 §5; the value is the RFC's name."""

    RSABSSA_SHA384_PSS_RANDOMIZED = "RSABSSA-SHA384-PSS-Randomized"
    RSABSSA_SHA384_PSSZERO_RANDOMIZED = "RSABSSA-SHA384-PSSZERO-Randomized"
    RSABSSA_SHA384_PSS_DETERMINISTIC = "RSABSSA-SHA384-PSS-Deterministic"
    RSABSSA_SHA384_PSSZERO_DETERMINISTIC = "RSABSSA-SHA384-PSSZERO-Deterministic"

    @property
    def salt_length(self) -> int:
        """PSS salt length in bytes: 48 (hash length) for PSS, 0 for PSSZERO."""
        return 0 if "PSSZERO" in self.value else _HASH_LEN

    @property
    def randomized(self) -> bool:
        """Whether ``Prepare`` prepends a 32-byte random prefix (RFC 9474 §4.1)."""
        return self.value.endswith("-Randomized")


#: The variant Parvis uses for ballot tokens (voting-protocol.md).
DEFAULT_VARIANT: Final = Variant.RSABSSA_SHA384_PSS_RANDOMIZED

# One padding object per variant, built once: ``verify`` is on the hot path of casting.
_PSS_PADDING: Final = {
    variant: padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=variant.salt_length)
    for variant in Variant
}
_SHA384: Final = hashes.SHA384()

try:  # gmpy2 makes the signer's output check ~6x cheaper than Python's pow (ADR 0002).
    import gmpy2 as _gmpy2

    def _rsavp1(s: int, e: int, n: int) -> int:
        return int(_gmpy2.powmod(s, e, n))

except ImportError:  # pragma: no cover - exercised only where gmpy2 is absent

    def _rsavp1(s: int, e: int, n: int) -> int:
        return pow(s, e, n)


def _default_rng(size: int) -> bytes:
    return secrets.token_bytes(size)


def _random(rng: Rng, size: int, field: str) -> bytes:
    data = rng(size)
    if not isinstance(data, bytes) or len(data) != size:
        raise InvalidLengthError(
            f"rng returned the wrong number of bytes for {field}",
            field=field,
            expected=size,
            actual=len(data) if isinstance(data, bytes) else -1,
        )
    return data


def _require_bytes(value: object, field: str) -> bytes:
    if not isinstance(value, bytes):
        raise InvalidLengthError(
            f"{field} must be bytes, not {type(value).__name__}",
            field=field,
            expected=-1,
            actual=-1,
        )
    return value


def _check_bits(bits: int) -> None:
    if not MIN_MODULUS_BITS <= bits <= MAX_MODULUS_BITS:
        raise InvalidKeyError(
            f"RSA modulus of {bits} bits is outside [{MIN_MODULUS_BITS}, {MAX_MODULUS_BITS}]",
            bits=bits,
        )


def _public_numbers(public_key: object) -> tuple[int, int, int]:
    """Return ``(n, e, modulus_len)`` of an accepted RSA public key."""
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise InvalidKeyError("an RSA public key is required", bits=0)
    _check_bits(public_key.key_size)
    numbers = public_key.public_numbers()
    return numbers.n, numbers.e, (numbers.n.bit_length() + 7) // 8


def _check_length(value: bytes, *, field: str, expected: int) -> None:
    if len(value) != expected:
        raise InvalidLengthError(
            f"{field} must be {expected} bytes, got {len(value)}",
            field=field,
            expected=expected,
            actual=len(value),
        )


def generate_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    """Generate an election signing key (``e = 65537``) with ``cryptography``.

    Refuses anything but 2048, 3072 or 4096 bits (architecture.md; < 2048 is never
    allowed). RFC 9474 §6.2: a server signing key "MUST NOT be reused for any other
    protocol beyond RSABSSA" and "MUST NOT be reused for different RSABSSA encoding
    options" — Parvis creates one key per election and uses it with one variant only.
    """
    if bits not in GENERATED_KEY_BITS:
        raise InvalidKeyError(
            f"refusing to generate a {bits}-bit key; allowed: {GENERATED_KEY_BITS}",
            bits=bits,
        )
    return rsa.generate_private_key(public_exponent=_PUBLIC_EXPONENT, key_size=bits)


def key_id(public_key: rsa.RSAPublicKey) -> bytes:
    """Return the key id committed in the election manifest: SHA-256 of the SPKI DER."""
    _public_numbers(public_key)
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).digest()


def modulus_length(public_key: rsa.RSAPublicKey) -> int:
    """Return ``modulus_len`` (RFC 9474 §3): the byte length of ``n``."""
    return _public_numbers(public_key)[2]


def prepare(
    msg: bytes,
    variant: Variant,
    *,
    rng: Rng | None = None,
    msg_prefix: bytes | None = None,
) -> bytes:
    """RFC 9474 §4.1 ``Prepare``: return ``input_msg``.

    Randomized variants return ``msg_prefix ‖ msg`` with a fresh 32-byte ``msg_prefix``
    ("msg_prefix = random(32)"); pass ``msg_prefix=`` only to replay vectors.
    Deterministic variants return ``msg`` unchanged and refuse a prefix.
    """
    msg = _require_bytes(msg, "msg")
    variant = Variant(variant)
    if not variant.randomized:
        if msg_prefix is not None:
            _check_length(_require_bytes(msg_prefix, "msg_prefix"), field="msg_prefix", expected=0)
        return msg
    if msg_prefix is None:
        msg_prefix = _random(rng or _default_rng, PREFIX_LENGTH, "msg_prefix")
    msg_prefix = _require_bytes(msg_prefix, "msg_prefix")
    _check_length(msg_prefix, field="msg_prefix", expected=PREFIX_LENGTH)
    return msg_prefix + msg


def _mgf1_sha384(seed: bytes, length: int) -> bytes:
    """MGF1 with SHA-384 (RFC 8017 Appendix B.2.1). Hand-written: no public API exists."""
    # Step 1 ("If maskLen > 2^32 hLen, output 'mask too long'") cannot trigger: length is
    # below the 8192-bit modulus cap.
    out = bytearray()
    counter = 0
    while len(out) < length:
        out += hashlib.sha384(seed + counter.to_bytes(4, "big")).digest()
        counter += 1
    return bytes(out[:length])


def emsa_pss_encode(message: bytes, *, em_bits: int, salt: bytes) -> bytes:
    """EMSA-PSS-ENCODE with SHA-384 and MGF1-SHA-384 (RFC 8017 §9.1.1), hand-written.

    RFC 8017 §9.1.1 step 3: "If emLen < hLen + sLen + 2, output 'encoding error' and
    stop." (raised as :class:`MessageTooLongError`). Step 1's "message too long" limit
    (2^125 - 1 bytes for SHA-384) cannot be reached by a Python ``bytes`` object, so it
    is deliberately not checked.
    """
    message = _require_bytes(message, "message")
    salt = _require_bytes(salt, "salt")
    em_len = (em_bits + 7) // 8
    if em_len < _HASH_LEN + len(salt) + 2:
        raise MessageTooLongError("encoding error: emLen < hLen + sLen + 2")
    m_hash = hashlib.sha384(message).digest()
    h = hashlib.sha384(b"\x00" * 8 + m_hash + salt).digest()
    db = b"\x00" * (em_len - len(salt) - _HASH_LEN - 2) + b"\x01" + salt
    mask = _mgf1_sha384(h, em_len - _HASH_LEN - 1)
    masked = bytearray(a ^ b for a, b in zip(db, mask, strict=True))
    # Step 11: clear the leftmost 8 emLen - emBits bits so that EM < 2^emBits <= n.
    masked[0] &= 0xFF >> (8 * em_len - em_bits)
    return bytes(masked) + h + b"\xbc"


def _uniform_below(n: int, *, rng: Rng, size: int) -> int:
    """``random_integer_uniform(1, n)`` (RFC 9474 §3) by rejection sampling."""
    excess = 8 * size - n.bit_length()
    # Each draw succeeds with probability > 1/2; 128 failures mean a broken rng.
    for _ in range(128):
        candidate = int.from_bytes(_random(rng, size, "r"), "big") >> excess
        if 0 < candidate < n:
            return candidate
    raise BlindingError("rng produced no value in [1, n) after 128 draws")


def blind(
    public_key: rsa.RSAPublicKey,
    prepared_msg: bytes,
    *,
    variant: Variant,
    rng: Rng | None = None,
    salt: bytes | None = None,
    r: int | None = None,
    inv: int | None = None,
) -> tuple[bytes, bytes]:
    """RFC 9474 §4.2 ``Blind``: return ``(blinded_msg, inv)``, both ``modulus_len`` bytes.

    §4.2 step 5: "If c is false, raise an 'invalid input' error and stop" (the encoded
    message is not coprime with ``n``: :class:`OutOfRangeError`). Step 8: "If
    inverse_mod fails, raise a 'blinding error' error and stop" (:class:`BlindingError`).
    EMSA-PSS-ENCODE uses ``emBits = bit_len(n) - 1`` as RSASSA-PSS does (RFC 8017
    §8.1.1), so that the finalized signature verifies as ordinary RSA-PSS; the RFC's
    pseudocode writes ``bit_len(n)``, but its Appendix A vectors and other
    implementations (blindrsa-ts, CIRCL) use ``bit_len(n) - 1``, and so do we.

    ``salt=`` (48 bytes for PSS, empty for PSSZERO) and one of ``r=``/``inv=`` replace
    the random choices, to replay the RFC vectors only. RFC 9474 §7 ("PSS Salt Choice"):
    "the salt MUST be generated from a cryptographically secure random number
    generator" and implementations "SHOULD NOT allow clients to provide the salt
    directly" — :mod:`ballot.client` never passes ``salt=``, ``r=`` or ``inv=``.
    """
    n, e, k = _public_numbers(public_key)
    prepared_msg = _require_bytes(prepared_msg, "prepared_msg")
    variant = Variant(variant)
    rng = rng or _default_rng
    if salt is None:
        salt = _random(rng, variant.salt_length, "salt") if variant.salt_length else b""
    _check_length(_require_bytes(salt, "salt"), field="salt", expected=variant.salt_length)

    encoded = emsa_pss_encode(prepared_msg, em_bits=n.bit_length() - 1, salt=salt)
    m = int.from_bytes(encoded, "big")
    if math.gcd(m, n) != 1:
        raise OutOfRangeError("invalid input: encoded message is not coprime with n", field="m")

    if r is not None and inv is not None:
        raise BlindingError("pass r or inv, not both")
    field = "r" if inv is None else "inv"
    known = inv if inv is not None else r
    if known is None:
        known = _uniform_below(n, rng=rng, size=k)
    elif not 0 < known < n:
        raise OutOfRangeError(f"{field} must be in [1, n)", field=field)
    try:
        other = pow(known, -1, n)
    except ValueError as exc:
        raise BlindingError("blinding error: factor is not invertible modulo n") from exc
    r, inv = (known, other) if field == "r" else (other, known)

    z = m * _rsavp1(r, e, n) % n
    return z.to_bytes(k, "big"), inv.to_bytes(k, "big")


def blind_sign(
    private_key: rsa.RSAPrivateKey,
    blinded_msg: bytes,
    *,
    backend: RSABackend | None = None,
) -> bytes:
    """RFC 9474 §4.3 ``BlindSign``: return ``blind_sig`` (``modulus_len`` bytes).

    RFC 8017 §5.2.1 (RSASP1, §4.3 step 2): "If the message representative m is not
    between 0 and n - 1, output 'message representative out of range'" — and ``m = 0``
    is refused too, since it is never a blinded encoding (:class:`OutOfRangeError`).
    §4.3 steps 3-4: "m' = RSAVP1(pk, s)"; "If m != m', raise a 'signing failure' error
    and stop" (:class:`SigningFailureError`): a wrong RSA-CRT result would reveal a
    factor of ``n`` (fault attacks, §7), so it is never returned.

    ``backend`` defaults to ``get_backend("auto")`` (OpenSSL where present).
    """
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise InvalidKeyError("an RSA private key is required", bits=0)
    n, e, k = _public_numbers(private_key.public_key())
    blinded_msg = _require_bytes(blinded_msg, "blinded_msg")
    _check_length(blinded_msg, field="blinded_msg", expected=k)
    m = int.from_bytes(blinded_msg, "big")
    if not 0 < m < n:
        raise OutOfRangeError("message representative out of range", field="blinded_msg")

    backend = backend or get_backend()
    blind_sig = backend.private_op(private_key, blinded_msg)
    # The check is done here, with an independent public-key computation, for every
    # backend: a faulty or hostile backend cannot bypass it.
    if (
        not isinstance(blind_sig, bytes)
        or len(blind_sig) != k
        or _rsavp1(int.from_bytes(blind_sig, "big"), e, n) != m
    ):
        raise SigningFailureError(
            "signing failure: the blind signature does not verify", backend=backend.name
        )
    return blind_sig


def finalize(
    public_key: rsa.RSAPublicKey,
    prepared_msg: bytes,
    *,
    blind_sig: bytes,
    inv: bytes,
    variant: Variant,
) -> bytes:
    """RFC 9474 §4.4 ``Finalize``: unblind and verify; return ``sig`` (``modulus_len`` bytes).

    §4.4 step 1: "If len(blind_sig) != modulus_len, raise an 'unexpected input size'
    error and stop" (:class:`InvalidLengthError`; ``inv`` is held to the same length).
    Step 6: "If result = 'valid signature', output sig, else raise an 'invalid
    signature' error and stop" (:class:`InvalidSignatureError`). ``blind_sig`` and
    ``inv`` must also lie in ``(0, n)`` (:class:`OutOfRangeError`).
    """
    n, _e, k = _public_numbers(public_key)
    prepared_msg = _require_bytes(prepared_msg, "prepared_msg")
    blind_sig = _require_bytes(blind_sig, "blind_sig")
    inv = _require_bytes(inv, "inv")
    _check_length(blind_sig, field="blind_sig", expected=k)
    _check_length(inv, field="inv", expected=k)
    z = int.from_bytes(blind_sig, "big")
    inv_int = int.from_bytes(inv, "big")
    if not 0 < z < n:
        raise OutOfRangeError("blind_sig out of range", field="blind_sig")
    if not 0 < inv_int < n:
        raise OutOfRangeError("inv out of range", field="inv")
    sig = (z * inv_int % n).to_bytes(k, "big")
    verify(public_key, prepared_msg, sig=sig, variant=variant)
    return sig


def verify(
    public_key: rsa.RSAPublicKey,
    prepared_msg: bytes,
    *,
    sig: bytes,
    variant: Variant,
) -> None:
    """RFC 9474 §4.5: RSASSA-PSS-VERIFY (RFC 8017 §8.1.2) of ``sig`` over ``prepared_msg``.

    An ordinary RSA-PSS verification (SHA-384, MGF1-SHA-384, salt length 48 or 0 as the
    variant says) done by ``cryptography``; raises :class:`InvalidSignatureError`, never
    returns ``False``. RFC 8017 §8.1.2 step 1: "If the length of the signature S is not
    k octets, output 'invalid signature' and stop" — checked here explicitly, because
    OpenSSL would also accept a signature with its leading zero bytes stripped.
    """
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise InvalidKeyError("an RSA public key is required", bits=0)
    bits = public_key.key_size
    _check_bits(bits)
    if not isinstance(sig, bytes) or len(sig) != (bits + 7) // 8:
        raise InvalidSignatureError("invalid signature: wrong length")
    prepared_msg = _require_bytes(prepared_msg, "prepared_msg")
    try:
        public_key.verify(sig, prepared_msg, _PSS_PADDING[Variant(variant)], _SHA384)
    except InvalidSignature as exc:
        raise InvalidSignatureError("invalid signature") from exc
