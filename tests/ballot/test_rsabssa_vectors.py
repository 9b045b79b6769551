"""RFC 9474 Appendix A: the four variants replay bit for bit, every intermediate checked."""

from __future__ import annotations

import pytest

from ballot import rsabssa
from ballot.errors import InvalidSignatureError
from ballot.rsa_backends import RSABackend

from .conftest import VECTORS, Vector

ids = [v.name for v in VECTORS]


def test_the_file_holds_the_four_variants() -> None:
    assert sorted(v.variant for v in VECTORS) == sorted(rsabssa.Variant)
    # The vector key is 4096 bits: inside the accepted range, no test-only exception.
    assert {v.private_key.key_size for v in VECTORS} == {4096}


@pytest.mark.parametrize("vector", VECTORS, ids=ids)
def test_prepare(vector: Vector) -> None:
    assert rsabssa.prepare(vector.msg, vector.variant, msg_prefix=vector.msg_prefix) == (
        vector.input_msg
    )


@pytest.mark.parametrize("vector", VECTORS, ids=ids)
def test_prepare_draws_the_prefix_from_rng(vector: Vector) -> None:
    def rng(size: int) -> bytes:
        assert vector.msg_prefix is not None
        assert size == len(vector.msg_prefix)
        return vector.msg_prefix

    if vector.variant.randomized:
        assert rsabssa.prepare(vector.msg, vector.variant, rng=rng) == vector.input_msg
    else:
        assert rsabssa.prepare(vector.msg, vector.variant, rng=rng) == vector.msg


@pytest.mark.parametrize("vector", [v for v in VECTORS if v.encoded_msg], ids=lambda v: v.name)
def test_emsa_pss_encode(vector: Vector) -> None:
    em_bits = vector.private_key.key_size - 1
    assert rsabssa.emsa_pss_encode(vector.input_msg, em_bits=em_bits, salt=vector.salt) == (
        vector.encoded_msg
    )


@pytest.mark.parametrize("vector", VECTORS, ids=ids)
def test_blind_with_inv(vector: Vector) -> None:
    blinded, inv = rsabssa.blind(
        vector.private_key.public_key(),
        vector.input_msg,
        variant=vector.variant,
        salt=vector.salt,
        inv=int.from_bytes(vector.inv, "big"),
    )
    assert blinded == vector.blinded_msg
    assert inv == vector.inv


@pytest.mark.parametrize("vector", VECTORS, ids=ids)
def test_blind_with_r_and_rng(vector: Vector) -> None:
    """The same vector through the other injection points: ``r=`` and ``rng`` for the salt."""
    n = vector.private_key.public_key().public_numbers().n
    r = pow(int.from_bytes(vector.inv, "big"), -1, n)

    def rng(size: int) -> bytes:
        assert size == len(vector.salt)
        return vector.salt

    blinded, inv = rsabssa.blind(
        vector.private_key.public_key(), vector.input_msg, variant=vector.variant, rng=rng, r=r
    )
    assert (blinded, inv) == (vector.blinded_msg, vector.inv)


@pytest.mark.parametrize("vector", VECTORS, ids=ids)
def test_blind_sign_every_backend(vector: Vector, backend: RSABackend) -> None:
    assert rsabssa.blind_sign(vector.private_key, vector.blinded_msg, backend=backend) == (
        vector.blind_sig
    )


@pytest.mark.parametrize("vector", VECTORS, ids=ids)
def test_blind_sign_default_backend(vector: Vector) -> None:
    assert rsabssa.blind_sign(vector.private_key, vector.blinded_msg) == vector.blind_sig


@pytest.mark.parametrize("vector", VECTORS, ids=ids)
def test_finalize(vector: Vector) -> None:
    sig = rsabssa.finalize(
        vector.private_key.public_key(),
        vector.input_msg,
        blind_sig=vector.blind_sig,
        inv=vector.inv,
        variant=vector.variant,
    )
    assert sig == vector.sig


@pytest.mark.parametrize("vector", VECTORS, ids=ids)
def test_verify(vector: Vector) -> None:
    rsabssa.verify(
        vector.private_key.public_key(), vector.input_msg, sig=vector.sig, variant=vector.variant
    )


@pytest.mark.parametrize("vector", VECTORS, ids=ids)
def test_sig_does_not_verify_under_the_other_salt_length(vector: Vector) -> None:
    """PSS (48-byte salt) and PSSZERO signatures are not interchangeable."""
    name = vector.variant.value
    swapped = (
        name.replace("PSSZERO", "PSS") if "PSSZERO" in name else name.replace("PSS", "PSSZERO")
    )
    other = rsabssa.Variant(swapped)
    assert other.salt_length != vector.variant.salt_length
    with pytest.raises(InvalidSignatureError):
        rsabssa.verify(
            vector.private_key.public_key(), vector.input_msg, sig=vector.sig, variant=other
        )
