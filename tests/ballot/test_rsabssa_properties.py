"""Property tests: every variant round-trips at 2048 and 3072 bits, and tampering fails.

Pairs "the valid one verifies" with "any tampering fails" (style.md). Keys come from the
session fixtures; example counts are small because each example costs an RSA private
operation (a few milliseconds).
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ballot import rsabssa
from ballot.errors import InvalidSignatureError, OutOfRangeError

VARIANTS = list(rsabssa.Variant)
SETTINGS = settings(
    max_examples=12,
    deadline=None,  # two shared cores: timings are noise, not failures
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 0x80 >> (bit % 8)
    return bytes(out)


def issue(
    private_key: rsa.RSAPrivateKey, msg: bytes, variant: rsabssa.Variant
) -> tuple[bytes, bytes, bytes, bytes, bytes]:
    """Run the protocol; return (prepared, blinded, inv, blind_sig, sig)."""
    public_key = private_key.public_key()
    prepared = rsabssa.prepare(msg, variant)
    blinded, inv = rsabssa.blind(public_key, prepared, variant=variant)
    blind_sig = rsabssa.blind_sign(private_key, blinded)
    sig = rsabssa.finalize(public_key, prepared, blind_sig=blind_sig, inv=inv, variant=variant)
    return prepared, blinded, inv, blind_sig, sig


@pytest.mark.parametrize("bits", [2048, 3072])
@pytest.mark.parametrize("variant", VARIANTS, ids=str)
@SETTINGS
@given(msg=st.binary(max_size=200))
def test_round_trip(
    keys: dict[int, rsa.RSAPrivateKey], bits: int, variant: rsabssa.Variant, msg: bytes
) -> None:
    private_key = keys[bits]
    prepared, blinded, _inv, _blind_sig, sig = issue(private_key, msg, variant)
    assert len(sig) == len(blinded) == bits // 8
    assert prepared.endswith(msg)
    assert len(prepared) == len(msg) + (32 if variant.randomized else 0)
    rsabssa.verify(private_key.public_key(), prepared, sig=sig, variant=variant)
    # The signer only ever saw `blinded`: it is unrelated to the final signature.
    assert blinded != sig


@pytest.mark.parametrize("variant", VARIANTS, ids=str)
@SETTINGS
@given(msg=st.binary(min_size=1, max_size=64), data=st.data())
def test_flipped_bit_in_message_or_signature_fails(
    key_2048: rsa.RSAPrivateKey, variant: rsabssa.Variant, msg: bytes, data: st.DataObject
) -> None:
    public_key = key_2048.public_key()
    prepared, *_rest, sig = issue(key_2048, msg, variant)
    # The prefix (randomized variants) is the first 32 bytes of `prepared`; the message
    # follows. Flipping anywhere in either must break the signature.
    bit = data.draw(st.integers(0, 8 * len(prepared) - 1), label="prepared bit")
    with pytest.raises(InvalidSignatureError):
        rsabssa.verify(public_key, flip(prepared, bit), sig=sig, variant=variant)
    bit = data.draw(st.integers(0, 8 * len(sig) - 1), label="sig bit")
    with pytest.raises(InvalidSignatureError):
        rsabssa.verify(public_key, prepared, sig=flip(sig, bit), variant=variant)


@pytest.mark.parametrize("variant", VARIANTS[:1], ids=str)
@SETTINGS
@given(data=st.data())
def test_flipped_bit_in_prefix_fails(
    key_2048: rsa.RSAPrivateKey, variant: rsabssa.Variant, data: st.DataObject
) -> None:
    prepared, *_rest, sig = issue(key_2048, b"parvis", variant)
    bit = data.draw(st.integers(0, 8 * rsabssa.PREFIX_LENGTH - 1), label="prefix bit")
    with pytest.raises(InvalidSignatureError):
        rsabssa.verify(key_2048.public_key(), flip(prepared, bit), sig=sig, variant=variant)


@pytest.mark.parametrize("variant", VARIANTS, ids=str)
@SETTINGS
@given(data=st.data())
def test_flipped_bit_in_blinded_msg_or_inv_fails(
    key_2048: rsa.RSAPrivateKey, variant: rsabssa.Variant, data: st.DataObject
) -> None:
    public_key = key_2048.public_key()
    prepared = rsabssa.prepare(b"ballot token", variant)
    blinded, inv = rsabssa.blind(public_key, prepared, variant=variant)

    bit = data.draw(st.integers(0, 8 * len(blinded) - 1), label="blinded bit")

    # A flip may push the value past n (refused at BlindSign) or give a signature on
    # another value (refused at Finalize); either way no token comes out.
    def sign_and_finalize(blinded_msg: bytes) -> bytes:
        blind_sig = rsabssa.blind_sign(key_2048, blinded_msg)
        return rsabssa.finalize(public_key, prepared, blind_sig=blind_sig, inv=inv, variant=variant)

    with pytest.raises((InvalidSignatureError, OutOfRangeError)):
        sign_and_finalize(flip(blinded, bit))

    blind_sig = rsabssa.blind_sign(key_2048, blinded)
    bit = data.draw(st.integers(0, 8 * len(inv) - 1), label="inv bit")
    with pytest.raises((InvalidSignatureError, OutOfRangeError)):
        rsabssa.finalize(
            public_key, prepared, blind_sig=blind_sig, inv=flip(inv, bit), variant=variant
        )
    bit = data.draw(st.integers(0, 8 * len(blind_sig) - 1), label="blind_sig bit")
    with pytest.raises((InvalidSignatureError, OutOfRangeError)):
        rsabssa.finalize(
            public_key, prepared, blind_sig=flip(blind_sig, bit), inv=inv, variant=variant
        )
    # And the untampered values still finalize: the failures above are the flips' doing.
    rsabssa.finalize(public_key, prepared, blind_sig=blind_sig, inv=inv, variant=variant)


def test_blinding_is_fresh_each_time(key_2048: rsa.RSAPrivateKey) -> None:
    """Two blindings of the same prepared message look unrelated to the signer."""
    variant = rsabssa.Variant.RSABSSA_SHA384_PSS_DETERMINISTIC
    public_key = key_2048.public_key()
    first = rsabssa.blind(public_key, b"same", variant=variant)
    second = rsabssa.blind(public_key, b"same", variant=variant)
    assert first[0] != second[0]
    assert first[1] != second[1]


def test_signature_of_one_message_does_not_verify_another(key_2048: rsa.RSAPrivateKey) -> None:
    """One signing per blinded message gives exactly one valid token (one-more forgery)."""
    variant = rsabssa.DEFAULT_VARIANT
    public_key = key_2048.public_key()
    prepared, *_rest, sig = issue(key_2048, b"token A", variant)
    other = rsabssa.prepare(b"token B", variant)
    rsabssa.verify(public_key, prepared, sig=sig, variant=variant)
    with pytest.raises(InvalidSignatureError):
        rsabssa.verify(public_key, other, sig=sig, variant=variant)
