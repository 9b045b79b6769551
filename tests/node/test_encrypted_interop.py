"""The booth's encrypted ballots (web/src/lib, TypeScript over @noble/curves) against ballot/.

The booth encrypts and proves in the citizen's browser; the server and every verifier check
those proofs with ballot/ (Python over PyNaCl). Both must agree on every byte
(ballot-secrecy.md §1; ADR 0011). ``web/src/lib`` is bundled for Node with esbuild and driven
through ``tests/node/encrypted_units.mjs``:

* hash to scalar on arbitrary parts, and strict decoding of points (canonical, on the curve,
  prime-order subgroup, not small order) and scalars: both sides accept and refuse the same
  encodings — the torsion points, a point with a torsion component, non-canonical ``y``, random
  strings;
* proofs made in Node (CSPRNG nonces and randomness, as the booth makes them) verify in
  Python, and proofs made in Python verify in Node: 0/1 cell proofs and range proofs, on a
  homomorphic sum too;
* with the same seeded randomness both provers produce the same bytes (same transcript, same
  order of random draws);
* each side refuses a tampered proof from the other: one byte of a response flipped, a
  challenge moved between branches, another ballot key ``vk`` (the Helios replay) or another
  election in the context.

These tests fail, never skip, when Node.js or ``web/node_modules`` is missing (run
``make node-deps``).
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nacl.bindings as sodium
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ballot.elgamal import Ciphertext, encrypt, sum_ciphertexts
from ballot.group import BASE, ORDER, GroupError, Point, Scalar, hash_to_scalar
from ballot.range_proof import DisjunctiveProof, prove_range, verify_range
from ballot.token import b64u_decode, b64u_encode
from ballot.transcript import Context, ProofError
from ballot.zeroone import decode_zero_one, prove_zero_one, verify_zero_one
from tests.support.node import NodeDriver, start_node

pytestmark = pytest.mark.node

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "node" / "encrypted_units.mjs"

CONTEXT = Context("budget-2026", bytes(range(32)), b"\x11" * 32)
#: The same ballot seen under another voting token's key (the Helios ballot-copying attack).
OTHER_VK = dataclasses.replace(CONTEXT, vk=b"\x22" * 32)
OTHER_ELECTION = dataclasses.replace(CONTEXT, election_id="budget-2027")

#: The eight points of small order, as @noble/curves lists them (ED25519_TORSION_SUBGROUP),
#: including the non-canonical encodings of x = 0 with the sign bit set.
TORSION = [
    bytes.fromhex(h)
    for h in (
        "0100000000000000000000000000000000000000000000000000000000000000",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "0000000000000000000000000000000000000000000000000000000000000080",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
        "0000000000000000000000000000000000000000000000000000000000000000",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    )
]
_P = 2**255 - 19


Node = NodeDriver


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    driver = start_node(tmp_path_factory.mktemp("encrypted"), SCRIPT, needs="@noble/curves")
    try:
        yield driver
    finally:
        driver.close()


def b64u(data: bytes) -> str:
    return b64u_encode(data)


def unb64u(text: str) -> bytes:
    return b64u_decode(text, field="node answer")


def wire_context(context: Context) -> dict[str, str]:
    return {
        "election": context.election_id,
        "manifest": b64u(context.manifest_hash),
        "vk": b64u(context.vk),
    }


def election_key() -> Point:
    return Point.base_times(Scalar.random())


def seeded(seed: bytes) -> Callable[[], Scalar]:
    """The deterministic prover's randomness of tests/ballot/test_proofs.py (and the driver)."""
    counter = iter(range(1 << 30))
    return lambda: hash_to_scalar(b"test rng", seed, next(counter).to_bytes(4, "big"))


def flip_response(proof: bytes, branch: int) -> bytes:
    """Flip the low bit of the first byte of a branch's response (still a canonical scalar:
    the response is below L, and L is odd, so only L − 1 could overflow, with odds 2^-252)."""
    data = bytearray(proof)
    data[branch * 128 + 96] ^= 0x01
    return bytes(data)


def move_challenge(proof: bytes) -> bytes:
    """Shift one unit of challenge from branch 0 to branch 1: the sum still matches the hash,
    only the per-branch equations can catch it."""
    first = int.from_bytes(proof[64:96], "little")
    second = int.from_bytes(proof[192:224], "little")
    data = bytearray(proof)
    data[64:96] = ((first - 1) % ORDER).to_bytes(32, "little")
    data[192:224] = ((second + 1) % ORDER).to_bytes(32, "little")
    return bytes(data)


def node_verifies(
    node: Node,
    context: Context,
    *,
    key: Point,
    ciphertext: bytes,
    proof: bytes,
    kind: str,
    lo: int = 0,
    hi: int = 1,
) -> dict[str, Any]:
    return node(
        "verify",
        context=wire_context(context),
        key=b64u(key.encoded),
        ciphertext=b64u(ciphertext),
        proof=b64u(proof),
        kind=kind,
        lo=lo,
        hi=hi,
    )


# -- the group --------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(max_size=80), max_size=6))
def test_hash_to_scalar_is_byte_identical(node: Node, parts: list[bytes]) -> None:
    answer = node.ok("hash_to_scalar", parts=[b64u(p) for p in parts])
    assert unb64u(answer["scalar"]) == hash_to_scalar(*parts).encoded


def python_decodes(data: bytes) -> bytes | None:
    try:
        return Point.decode(data).encoded
    except GroupError:
        return None


def node_decodes(node: Node, encodings: list[bytes]) -> list[bytes | None]:
    results = node.ok("decode_points", points=[b64u(e) for e in encodings])["results"]
    return [
        unb64u(r) if isinstance(r, str) else (None if r["name"] == "GroupError" else r)
        for r in results
    ]


def test_points_are_decoded_as_strictly_as_libsodium(node: Node) -> None:
    generator = BASE.encoded
    mixed = [sodium.crypto_core_ed25519_add(generator, t) for t in TORSION[1:]]
    # y ≥ p (non-canonical), both signs: y = p + k for every k with p + k < 2^255. None of the
    # y = k (k < 19) is a point of the prime-order subgroup, so on Ed25519 a non-canonical
    # encoding never names a group element and the subgroup check alone refuses them too; they
    # are here because libsodium refuses them first, and the booth must as well.
    non_canonical = [
        ((_P + k) | (sign << 255)).to_bytes(32, "little") for k in range(19) for sign in (0, 1)
    ]
    valid = [Point.base_times(Scalar.random()).encoded for _ in range(8)] + [generator]
    encodings = TORSION + mixed + non_canonical + valid
    expected = [python_decodes(e) for e in encodings]
    # The fixed cases mean what they say on the Python side, so agreement below is not vacuous.
    assert expected[: len(TORSION) + len(mixed) + len(non_canonical)] == [None] * (
        len(TORSION) + len(mixed) + len(non_canonical)
    )
    assert expected[-len(valid) :] == valid
    assert node_decodes(node, encodings) == expected


def test_random_strings_decode_alike(node: Node) -> None:
    # Half of all strings are off the curve and 7/8 of the rest outside the subgroup: both
    # refusals occur among 400 strings (valid points are added), and the sides must agree on each.
    encodings = [secrets.token_bytes(32) for _ in range(400)]
    encodings += [Point.base_times(Scalar.random()).encoded for _ in range(20)]
    expected = [python_decodes(e) for e in encodings]
    assert None in expected
    assert any(e is not None for e in expected)
    assert node_decodes(node, encodings) == expected


@pytest.mark.parametrize(
    ("value", "accepted"),
    [(0, True), (ORDER - 1, True), (ORDER, False), (ORDER + 1, False), (2**256 - 1, False)],
)
def test_scalars_are_canonical_on_both_sides(node: Node, value: int, accepted: bool) -> None:
    data = value.to_bytes(32, "little")
    answer = node("decode_scalar", scalar=b64u(data))
    python_accepts = True
    try:
        Scalar(data)
    except GroupError:
        python_accepts = False
    assert python_accepts is accepted
    assert ("error" not in answer) is accepted
    if not accepted:
        assert answer["name"] == "GroupError"


def test_fixed_base_multiplication_agrees(node: Node) -> None:
    for value in [1, 2, ORDER - 1, *(secrets.randbelow(ORDER) for _ in range(10))]:
        scalar = Scalar.of(value)
        answer = node.ok("base_times", scalar=b64u(scalar.encoded))
        assert unb64u(answer["point"]) == Point.base_times(scalar).encoded


# -- proofs made in Node, checked in Python -------------------------------------------------------


@pytest.mark.parametrize("bit", [0, 1])
def test_a_cell_encrypted_and_proved_in_node_verifies_in_python(node: Node, bit: int) -> None:
    key = election_key()
    answer = node.ok(
        "encrypt_and_prove",
        context=wire_context(CONTEXT),
        key=b64u(key.encoded),
        message=bit,
        kind="zero-one",
    )
    ciphertext = Ciphertext.from_bytes(unb64u(answer["ciphertext"]))
    proof_bytes = unb64u(answer["proof"])
    assert len(proof_bytes) == 256
    verify_zero_one(CONTEXT, key=key, ciphertext=ciphertext, proof=decode_zero_one(proof_bytes))

    for branch in (0, 1):
        tampered = decode_zero_one(flip_response(proof_bytes, branch))
        with pytest.raises(ProofError):
            verify_zero_one(CONTEXT, key=key, ciphertext=ciphertext, proof=tampered)
    with pytest.raises(ProofError):
        verify_zero_one(
            CONTEXT,
            key=key,
            ciphertext=ciphertext,
            proof=decode_zero_one(move_challenge(proof_bytes)),
        )
    for context in (OTHER_VK, OTHER_ELECTION):
        with pytest.raises(ProofError):
            verify_zero_one(
                context, key=key, ciphertext=ciphertext, proof=decode_zero_one(proof_bytes)
            )
    # A cell proof is not a range proof over [0, 1]: the transcript kinds differ.
    with pytest.raises(ProofError):
        verify_range(
            CONTEXT, key=key, ciphertext=ciphertext, proof=decode_zero_one(proof_bytes), lo=0, hi=1
        )


@pytest.mark.parametrize(("lo", "hi", "message"), [(0, 3, 2), (1, 8, 8), (-2, 2, -1), (5, 5, 5)])
def test_a_range_proved_in_node_verifies_in_python(
    node: Node, lo: int, hi: int, message: int
) -> None:
    key = election_key()
    answer = node.ok(
        "encrypt_and_prove",
        context=wire_context(CONTEXT),
        key=b64u(key.encoded),
        message=message,
        kind="range",
        lo=lo,
        hi=hi,
    )
    ciphertext = Ciphertext.from_bytes(unb64u(answer["ciphertext"]))
    proof_bytes = unb64u(answer["proof"])
    values = hi - lo + 1
    proof = DisjunctiveProof.from_bytes(proof_bytes, values=values)
    verify_range(CONTEXT, key=key, ciphertext=ciphertext, proof=proof, lo=lo, hi=hi)
    tampered = DisjunctiveProof.from_bytes(flip_response(proof_bytes, values - 1), values=values)
    with pytest.raises(ProofError):
        verify_range(CONTEXT, key=key, ciphertext=ciphertext, proof=tampered, lo=lo, hi=hi)
    with pytest.raises(ProofError):
        verify_range(OTHER_VK, key=key, ciphertext=ciphertext, proof=proof, lo=lo, hi=hi)


def test_node_refuses_to_prove_a_false_statement(node: Node) -> None:
    key = election_key()
    answer = node(
        "encrypt_and_prove",
        context=wire_context(CONTEXT),
        key=b64u(key.encoded),
        message=2,
        kind="zero-one",
    )
    assert answer.get("name") == "RangeError"


@pytest.mark.parametrize(("message", "claimed"), [(2, 1), (2, 0), (-1, 0)])
def test_a_cheating_booth_cannot_prove_a_cell_outside_zero_one(
    node: Node, message: int, claimed: int
) -> None:
    """The booth's prover without its honesty check (proveClaimed, what encryptCell uses),
    run on a false claim, yields a proof Python refuses: the check is not what keeps a cell a
    0/1 cell, the proof is."""
    key = election_key()
    answer = node.ok(
        "prove_claimed",
        context=wire_context(CONTEXT),
        key=b64u(key.encoded),
        message=message,
        claimed=claimed,
        kind="zero-one",
        lo=0,
        hi=1,
    )
    ciphertext = Ciphertext.from_bytes(unb64u(answer["ciphertext"]))
    proof = decode_zero_one(unb64u(answer["proof"]))
    with pytest.raises(ProofError):
        verify_zero_one(CONTEXT, key=key, ciphertext=ciphertext, proof=proof)


# -- proofs made in Python, checked in Node -------------------------------------------------------


@pytest.mark.parametrize("bit", [0, 1])
def test_a_cell_proved_in_python_verifies_in_node(node: Node, bit: int) -> None:
    key = election_key()
    nonce = Scalar.random()
    ciphertext = encrypt(bit, key, nonce=nonce)
    proof = prove_zero_one(CONTEXT, key=key, ciphertext=ciphertext, bit=bit, nonce=nonce)
    cell = ciphertext.to_bytes()
    wire = proof.to_bytes()

    assert node_verifies(node, CONTEXT, key=key, ciphertext=cell, proof=wire, kind="zero-one") == {
        "ok": True
    }
    for tampered in (flip_response(wire, 0), flip_response(wire, 1), move_challenge(wire)):
        answer = node_verifies(
            node, CONTEXT, key=key, ciphertext=cell, proof=tampered, kind="zero-one"
        )
        assert answer["name"] == "ProofError", answer
    for context in (OTHER_VK, OTHER_ELECTION):
        answer = node_verifies(node, context, key=key, ciphertext=cell, proof=wire, kind="zero-one")
        assert answer["name"] == "ProofError", answer
        assert "challenges do not add up" in answer["error"]
    answer = node_verifies(node, CONTEXT, key=key, ciphertext=cell, proof=wire, kind="range")
    assert answer["name"] == "ProofError"


def test_node_refuses_malformed_proofs_with_a_named_field(node: Node) -> None:
    key = election_key()
    nonce = Scalar.random()
    ciphertext = encrypt(1, key, nonce=nonce)
    wire = prove_zero_one(CONTEXT, key=key, ciphertext=ciphertext, bit=1, nonce=nonce).to_bytes()
    cell = ciphertext.to_bytes()
    cases = {
        "branch 1 response": wire[:224] + ORDER.to_bytes(32, "little"),
        "branch 0 commitment a": TORSION[1] + wire[32:],
        "branch 1 commitment b": wire[:160] + TORSION[4] + wire[192:],
        "256 bytes": wire[:-1],
    }
    for field, proof in cases.items():
        answer = node_verifies(
            node, CONTEXT, key=key, ciphertext=cell, proof=proof, kind="zero-one"
        )
        assert answer["name"] == "GroupError", answer
        assert field in answer["error"], answer
        with pytest.raises(GroupError, match=field):
            decode_zero_one(proof)
    answer = node_verifies(
        node, CONTEXT, key=key, ciphertext=TORSION[1] + cell[32:], proof=wire, kind="zero-one"
    )
    assert answer["name"] == "GroupError"
    assert "ciphertext α" in answer["error"]


def test_a_range_on_a_homomorphic_sum_of_node_cells_is_checked_by_both(node: Node) -> None:
    """An approval question's extra proof: the booth's cells add up (in Python and in Node to
    the same bytes) and Python's range proof on the sum verifies in Node, and the tampered one
    does not."""
    key = election_key()
    bits = [1, 0, 1, 1, 0]
    nonces = [Scalar.random() for _ in bits]
    cells = [encrypt(b, key, nonce=r) for b, r in zip(bits, nonces, strict=True)]
    total = sum_ciphertexts(cells)
    answer = node.ok("sum", ciphertexts=[b64u(c.to_bytes()) for c in cells])
    assert unb64u(answer["ciphertext"]) == total.to_bytes()
    nonce = Scalar.of(sum(r.value for r in nonces))
    proof = prove_range(
        CONTEXT, key=key, ciphertext=total, message=sum(bits), nonce=nonce, lo=1, hi=4
    ).to_bytes()
    summed = total.to_bytes()

    def node_checks(context: Context, proof: bytes) -> dict[str, Any]:
        return node_verifies(
            node, context, key=key, ciphertext=summed, proof=proof, kind="range", lo=1, hi=4
        )

    assert node_checks(CONTEXT, proof) == {"ok": True}
    assert node_checks(CONTEXT, flip_response(proof, 2))["name"] == "ProofError"
    answer = node_checks(OTHER_VK, proof)
    assert answer["name"] == "ProofError"


# -- the same randomness gives the same bytes -----------------------------------------------------


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.binary(min_size=8, max_size=8),
    st.sampled_from([("zero-one", 0, 1, 0), ("zero-one", 0, 1, 1), ("range", -1, 3, 2)]),
)
def test_seeded_provers_produce_identical_bytes(
    node: Node, seed: bytes, statement: tuple[str, int, int, int]
) -> None:
    kind, lo, hi, message = statement
    key = election_key()
    nonce = Scalar.random()
    ciphertext = encrypt(message, key, nonce=nonce)
    if kind == "zero-one":
        proof = prove_zero_one(
            CONTEXT, key=key, ciphertext=ciphertext, bit=message, nonce=nonce, rng=seeded(seed)
        )
    else:
        proof = prove_range(
            CONTEXT,
            key=key,
            ciphertext=ciphertext,
            message=message,
            nonce=nonce,
            lo=lo,
            hi=hi,
            rng=seeded(seed),
        )
    answer = node.ok(
        "prove_seeded",
        context=wire_context(CONTEXT),
        key=b64u(key.encoded),
        nonce=b64u(nonce.encoded),
        message=message,
        kind=kind,
        lo=lo,
        hi=hi,
        seed=b64u(seed),
    )
    assert unb64u(answer["ciphertext"]) == ciphertext.to_bytes()
    assert unb64u(answer["proof"]) == proof.to_bytes()
