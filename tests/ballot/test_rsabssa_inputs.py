"""Malformed, out-of-range and wrong-length inputs raise the specific errors."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ballot import rsabssa
from ballot.errors import (
    BlindingError,
    InvalidKeyError,
    InvalidLengthError,
    InvalidSignatureError,
    MessageTooLongError,
    OutOfRangeError,
)

from .conftest import VECTORS

PSS = rsabssa.Variant.RSABSSA_SHA384_PSS_RANDOMIZED
PSS_DET = rsabssa.Variant.RSABSSA_SHA384_PSS_DETERMINISTIC
VECTOR = VECTORS[0]


@pytest.fixture(scope="module")
def key_1024() -> rsa.RSAPrivateKey:
    # Made with cryptography directly: generate_key refuses this size, as it must.
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)


@pytest.mark.parametrize("bits", [512, 1024, 2047, 2304, 8192])
def test_generate_key_refuses_sizes_outside_policy(bits: int) -> None:
    with pytest.raises(InvalidKeyError) as info:
        rsabssa.generate_key(bits)
    assert info.value.bits == bits


def test_generate_key_default_is_2048() -> None:
    key = rsabssa.generate_key()
    assert key.key_size == 2048
    assert key.public_key().public_numbers().e == 65537


def test_every_operation_refuses_a_small_key(key_1024: rsa.RSAPrivateKey) -> None:
    public_key = key_1024.public_key()
    k = 128
    with pytest.raises(InvalidKeyError):
        rsabssa.key_id(public_key)
    with pytest.raises(InvalidKeyError):
        rsabssa.blind(public_key, b"m", variant=PSS_DET)
    with pytest.raises(InvalidKeyError):
        rsabssa.blind_sign(key_1024, b"\x01" * k)
    with pytest.raises(InvalidKeyError):
        rsabssa.finalize(public_key, b"m", blind_sig=b"\x01" * k, inv=b"\x01" * k, variant=PSS_DET)
    with pytest.raises(InvalidKeyError):
        rsabssa.verify(public_key, b"m", sig=b"\x01" * k, variant=PSS_DET)


def test_non_rsa_keys_are_refused(key_2048: rsa.RSAPrivateKey) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(InvalidKeyError):
        rsabssa.blind(ec_key.public_key(), b"m", variant=PSS_DET)  # type: ignore[arg-type]
    with pytest.raises(InvalidKeyError):
        rsabssa.blind_sign(ec_key, b"\x01" * 256)  # type: ignore[arg-type]
    with pytest.raises(InvalidKeyError):
        rsabssa.verify(key_2048, b"m", sig=b"\x01" * 256, variant=PSS_DET)  # type: ignore[arg-type]


def test_key_id_is_sha256_of_spki(key_2048: rsa.RSAPrivateKey) -> None:
    import hashlib

    from cryptography.hazmat.primitives import serialization

    spki = key_2048.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert rsabssa.key_id(key_2048.public_key()) == hashlib.sha256(spki).digest()


# ---- Prepare ---------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 31, 33])
def test_prepare_refuses_a_wrong_prefix_length(size: int) -> None:
    with pytest.raises(InvalidLengthError) as info:
        rsabssa.prepare(b"m", PSS, msg_prefix=b"\x00" * size)
    assert (info.value.field, info.value.expected, info.value.actual) == ("msg_prefix", 32, size)


def test_prepare_refuses_a_prefix_for_deterministic_variants() -> None:
    with pytest.raises(InvalidLengthError):
        rsabssa.prepare(b"m", PSS_DET, msg_prefix=b"\x00" * 32)


def test_prepare_refuses_a_short_rng() -> None:
    with pytest.raises(InvalidLengthError):
        rsabssa.prepare(b"m", PSS, rng=lambda n: b"\x00" * (n - 1))


def test_prepare_refuses_text() -> None:
    with pytest.raises(InvalidLengthError):
        rsabssa.prepare("m", PSS)  # type: ignore[arg-type]


# ---- Blind -----------------------------------------------------------------------------


def test_blind_refuses_a_wrong_salt_length(key_2048: rsa.RSAPrivateKey) -> None:
    with pytest.raises(InvalidLengthError):
        rsabssa.blind(key_2048.public_key(), b"m", variant=PSS, salt=b"\x00" * 47)
    with pytest.raises(InvalidLengthError):
        rsabssa.blind(
            key_2048.public_key(),
            b"m",
            variant=rsabssa.Variant.RSABSSA_SHA384_PSSZERO_RANDOMIZED,
            salt=b"\x00" * 48,
        )


@pytest.mark.parametrize("which", ["r", "inv"])
def test_blind_refuses_out_of_range_factors(key_2048: rsa.RSAPrivateKey, which: str) -> None:
    n = key_2048.public_key().public_numbers().n
    for bad in (0, n, n + 1):
        with pytest.raises(OutOfRangeError):
            rsabssa.blind(key_2048.public_key(), b"m", variant=PSS_DET, **{which: bad})  # type: ignore[arg-type]


def test_blind_refuses_a_non_invertible_factor(key_2048: rsa.RSAPrivateKey) -> None:
    p = key_2048.private_numbers().p
    with pytest.raises(BlindingError):
        rsabssa.blind(key_2048.public_key(), b"m", variant=PSS_DET, r=p)


def test_blind_refuses_both_r_and_inv(key_2048: rsa.RSAPrivateKey) -> None:
    with pytest.raises(BlindingError):
        rsabssa.blind(key_2048.public_key(), b"m", variant=PSS_DET, r=2, inv=2)


def test_blind_refuses_an_rng_that_never_lands_below_n(key_2048: rsa.RSAPrivateKey) -> None:
    with pytest.raises(BlindingError):
        rsabssa.blind(key_2048.public_key(), b"m", variant=PSS_DET, rng=lambda n: b"\xff" * n)


def test_emsa_pss_encode_refuses_a_too_short_encoding() -> None:
    # RFC 8017 §9.1.1 step 3: emLen < hLen + sLen + 2 is an encoding error.
    with pytest.raises(MessageTooLongError):
        rsabssa.emsa_pss_encode(b"m", em_bits=8 * (48 + 48 + 1), salt=b"\x00" * 48)
    assert len(rsabssa.emsa_pss_encode(b"m", em_bits=8 * (48 + 48 + 2), salt=b"\x00" * 48)) == 98


# ---- BlindSign -------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 255, 257, 512])
def test_blind_sign_refuses_wrong_lengths(key_2048: rsa.RSAPrivateKey, size: int) -> None:
    with pytest.raises(InvalidLengthError) as info:
        rsabssa.blind_sign(key_2048, b"\x01" * size)
    assert (info.value.field, info.value.expected) == ("blinded_msg", 256)


def test_blind_sign_refuses_representatives_out_of_range(key_2048: rsa.RSAPrivateKey) -> None:
    n = key_2048.public_key().public_numbers().n
    for value in (0, n, n + 1, 2**2048 - 1):
        with pytest.raises(OutOfRangeError):
            rsabssa.blind_sign(key_2048, value.to_bytes(256, "big"))
    # n - 1 is in range: the boundary itself is accepted.
    assert len(rsabssa.blind_sign(key_2048, (n - 1).to_bytes(256, "big"))) == 256


# ---- Finalize and verify -----------------------------------------------------------------


def test_finalize_refuses_wrong_lengths() -> None:
    public_key = VECTOR.private_key.public_key()
    for blind_sig, inv in (
        (VECTOR.blind_sig[1:], VECTOR.inv),
        (b"\x00" + VECTOR.blind_sig, VECTOR.inv),
        (VECTOR.blind_sig, VECTOR.inv[1:]),
        (VECTOR.blind_sig, VECTOR.inv + b"\x00"),
    ):
        with pytest.raises(InvalidLengthError):
            rsabssa.finalize(
                public_key, VECTOR.input_msg, blind_sig=blind_sig, inv=inv, variant=VECTOR.variant
            )


def test_finalize_refuses_out_of_range_values() -> None:
    public_key = VECTOR.private_key.public_key()
    n = public_key.public_numbers().n
    k = len(VECTOR.blind_sig)
    for value in (0, n, 2 ** (8 * k) - 1):
        bad = value.to_bytes(k, "big")
        with pytest.raises(OutOfRangeError):
            rsabssa.finalize(
                public_key, VECTOR.input_msg, blind_sig=bad, inv=VECTOR.inv, variant=VECTOR.variant
            )
        with pytest.raises(OutOfRangeError):
            rsabssa.finalize(
                public_key,
                VECTOR.input_msg,
                blind_sig=VECTOR.blind_sig,
                inv=bad,
                variant=VECTOR.variant,
            )


def test_verify_refuses_a_signature_without_its_leading_zero_bytes() -> None:
    """The same integer in fewer bytes is not the signature (RFC 8017 §8.1.2 step 1).

    PSSZERO-Deterministic signatures are deterministic; with the vector key, this message
    (found by counting) has a signature whose first byte is zero.
    """
    variant = rsabssa.Variant.RSABSSA_SHA384_PSSZERO_DETERMINISTIC
    private_key = VECTOR.private_key
    public_key = private_key.public_key()
    msg = b"leading zero 68"
    blinded, inv = rsabssa.blind(public_key, msg, variant=variant)
    blind_sig = rsabssa.blind_sign(private_key, blinded)
    sig = rsabssa.finalize(public_key, msg, blind_sig=blind_sig, inv=inv, variant=variant)
    assert sig[0] == 0
    rsabssa.verify(public_key, msg, sig=sig, variant=variant)
    with pytest.raises(InvalidSignatureError):
        rsabssa.verify(public_key, msg, sig=sig[1:], variant=variant)
