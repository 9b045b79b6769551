"""The verifier's wire-bytes proof check accepts exactly what the reference accepts
(ballot/fast_ballot_proofs.py's argument, checked): the same cells on valid ballots, and
nothing the reference refuses among altered ones."""

from __future__ import annotations

import copy
import random
from typing import Any

import nacl.bindings as sodium
import pytest

from ballot.encrypted_ballot import EncryptedBallotError, verify_encrypted_ballot
from ballot.fast_ballot_proofs import FastProofs, floor_operations
from ballot.group import Point, Scalar
from ballot.token import b64u_decode, b64u_encode
from ballot.transcript import Context
from tests.ballot.encrypted_board import ELECTION, EncryptedBoard, build_example

P = 2**255 - 19
ORDER_TWO = (P - 1).to_bytes(32, "little")  # (0, -1): a point of order 2


@pytest.fixture(scope="module")
def example() -> EncryptedBoard:
    return build_example()


def ballots(built: EncryptedBoard) -> list[tuple[bytes, dict[str, Any]]]:
    out = []
    for entry in built.entries:
        if entry["kind"] == "ballot":
            vk = b64u_decode(entry["cast"]["token"]["msg"], field="msg")[32:64]
            out.append((vk, entry["cast"]["ballot"]["encrypted"]))
    return out


def fast(built: EncryptedBoard) -> FastProofs:
    return FastProofs(
        built.questions, key=built.joint_key, election=ELECTION, manifest_hash=built.manifest_hash
    )


def reference(built: EncryptedBoard, vk: bytes, encrypted: object) -> bytes | None:
    context = Context(ELECTION, built.manifest_hash, vk)
    try:
        verified = verify_encrypted_ballot(built.questions, built.joint_key, context, encrypted)
    except EncryptedBallotError:
        return None
    return b"".join(c.to_bytes() for q in built.questions for c in verified.questions[q.id].cells)


def test_valid_ballots_give_the_reference_cells(example: EncryptedBoard) -> None:
    proofs = fast(example)
    for vk, encrypted in ballots(example):
        cells = proofs.verified_cells(vk, encrypted)
        assert cells is not None
        assert cells == reference(example, vk, encrypted)


def test_altered_ballots_are_never_accepted_when_the_reference_refuses(
    example: EncryptedBoard,
) -> None:
    proofs = fast(example)
    rng = random.Random(11)
    vk, encrypted = ballots(example)[0]
    for _ in range(60):
        altered = copy.deepcopy(encrypted)
        question = altered[rng.choice(list(altered))]
        member = rng.choice(sorted(question))
        values = question[member] if isinstance(question[member], list) else None
        index = rng.randrange(len(values)) if values is not None else None
        text = values[index] if values is not None and index is not None else question[member]
        raw = bytearray(b64u_decode(text, field="part"))
        raw[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
        if values is not None and index is not None:
            values[index] = b64u_encode(bytes(raw))
        else:
            question[member] = b64u_encode(bytes(raw))
        accepted = proofs.verified_cells(vk, altered)
        assert accepted is None or accepted == reference(example, vk, altered)
        assert reference(example, vk, altered) is None  # a flipped bit breaks some proof


def test_a_ballot_under_another_key_is_not_accepted(example: EncryptedBoard) -> None:
    (_, encrypted), (other, _) = ballots(example)[:2]
    assert fast(example).verified_cells(other, encrypted) is None


def test_libsodium_multiplication_refuses_what_decoding_refuses() -> None:
    # The module's argument for the cells: a multiplication succeeds only on a point that
    # Point.decode accepts.
    point = Point.base_times(Scalar.of(12345)).encoded
    with_torsion = sodium.crypto_core_ed25519_add(point, ORDER_TWO)
    scalar = Scalar.of(7).encoded
    for refused in (
        with_torsion,
        ORDER_TWO,
        (1).to_bytes(32, "little"),
        (P + 26).to_bytes(32, "little"),
    ):
        assert not sodium.crypto_core_ed25519_is_valid_point(refused)
        with pytest.raises(RuntimeError):
            sodium.crypto_scalarmult_ed25519_noclamp(scalar, refused)


def test_a_commitment_with_a_torsion_component_is_refused(example: EncryptedBoard) -> None:
    vk, encrypted = ballots(example)[0]
    altered = copy.deepcopy(encrypted)
    raw = bytearray(b64u_decode(altered["parc"]["cell_proofs"][0], field="proof"))
    raw[:32] = sodium.crypto_core_ed25519_add(bytes(raw[:32]), ORDER_TWO)
    altered["parc"]["cell_proofs"][0] = b64u_encode(bytes(raw))
    assert fast(example).verified_cells(vk, altered) is None
    assert reference(example, vk, altered) is None


def test_the_floor_counts_the_multiplications_of_the_example_questions(
    example: EncryptedBoard,
) -> None:
    # parc: 2 cells (2 branches each) + sum [1, 1]; budget: 4 cells, sum [0, 4], 7 bits of
    # the envelope 100, the envelope proof, and 2 multiplications per option for D.
    branches = (2 * 2 + 1) + (4 * 2 + 5 + 7 * 2 + 1)
    assert floor_operations(example.questions) == (branches, 3 * branches + 2 * 4)
