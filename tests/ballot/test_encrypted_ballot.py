"""Encrypted ballots (ballot/encrypted_ballot.py; ballot-secrecy.md §1, the table of cells
and proofs per question type).

Each type is checked both ways: an honest ballot survives its JSON wire form and verifies,
its cells decrypt to the design's encoding; every tampering — a cell, a proof's response, a
sum proof, a budget bit or the envelope proof, the context's ``vk`` — is refused with the
question and the part named; malformed wire forms are refused precisely; and the honest
prover cannot prove a ballot that breaks a rule (too many options, over the budget, a grade
row that is not one grade, a ranking with a gap), nor does a cheating prover's proof pass.
"""

from __future__ import annotations

import dataclasses
import json
import random
from typing import Any

import pytest

from ballot.elgamal import Ciphertext, decrypt_to_point, dlog, encrypt
from ballot.encrypted_ballot import (
    BallotProofError,
    EncryptedQuestion,
    MalformedEncryptedBallotError,
    _encrypt_question,
    _envelope_statement,
    cell_labels,
    cell_values,
    encrypt_ballot,
    envelope_bits,
    sum_ranges,
    verify_encrypted_ballot,
)
from ballot.group import BASE, ORDER, Point, Scalar
from ballot.questions import BallotType, InvalidChoiceError, Question
from ballot.range_proof import _prove
from ballot.token import b64u_decode_or_none, b64u_encode
from ballot.zeroone import prove_zero_one
from tests.ballot.encrypted_questions import (
    BY_TYPE,
    CONTEXT,
    KEY,
    QUESTIONS,
    SECRET,
    random_choice,
    random_choices,
)

TYPES = list(BallotType)

#: One fixed answer per type, with a budget that leaves a remainder of 100 000 − 50 000.
CHOICES: dict[BallotType, Any] = {
    BallotType.SINGLE: "p1",
    BallotType.APPROVAL: ["p0", "p3"],
    BallotType.BUDGET: ["p0", "p2"],
    BallotType.MAJORITY_JUDGMENT: {"p0": 0, "p1": 2, "p2": 1},
    BallotType.RANKED: ["p3", "p0"],
}


def _wire(question: Question, choice: Any) -> dict[str, Any]:
    ballot = encrypt_ballot([question], key=KEY, context=CONTEXT, choices={question.id: choice})
    # Through JSON text, as the booth sends it.
    wire: dict[str, Any] = json.loads(json.dumps(ballot.to_json()))
    return wire


def _decrypt(ciphertext: Ciphertext, bound: int = 1) -> int:
    return dlog(decrypt_to_point(ciphertext, ciphertext.alpha * SECRET), bound)


@pytest.fixture(scope="module")
def wires() -> dict[BallotType, dict[str, Any]]:
    return {kind: _wire(BY_TYPE[kind], CHOICES[kind]) for kind in TYPES}


# -- round trips -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", TYPES, ids=str)
def test_a_ballot_round_trips_and_its_cells_follow_the_design(
    kind: BallotType, wires: dict[BallotType, dict[str, Any]]
) -> None:
    question = BY_TYPE[kind]
    wire = wires[kind]
    ballot = verify_encrypted_ballot([question], KEY, CONTEXT, wire)
    assert ballot.to_json() == wire
    encrypted = ballot.questions[question.id]
    assert [_decrypt(c) for c in encrypted.cells] == cell_values(question, CHOICES[kind])
    assert len(encrypted.sum_proofs) == len(sum_ranges(question))
    if kind is BallotType.BUDGET:
        bits = [_decrypt(c) for c in encrypted.bits]
        assert len(bits) == envelope_bits(question) == 17  # ⌈log2(100 001)⌉
        assert sum(b << j for j, b in enumerate(bits)) == 100_000 - 30_000 - 20_000
    else:
        assert set(wire[question.id]) == {"cells", "cell_proofs", "sum_proofs"}


def test_the_cell_layouts_are_those_of_the_design() -> None:
    single = BY_TYPE[BallotType.SINGLE]
    assert cell_values(single, "p2") == [0, 0, 1]
    assert [(r.lo, r.hi) for r in sum_ranges(single)] == [(1, 1)]
    approval = BY_TYPE[BallotType.APPROVAL]
    assert [(r.lo, r.hi) for r in sum_ranges(approval)] == [(1, 3)]
    budget = BY_TYPE[BallotType.BUDGET]
    assert [(r.lo, r.hi) for r in sum_ranges(budget)] == [(0, 3)]
    judgment = BY_TYPE[BallotType.MAJORITY_JUDGMENT]
    assert cell_values(judgment, {"p0": 0, "p1": 2, "p2": 1}) == [1, 0, 0, 0, 0, 1, 0, 1, 0]
    assert [(r.name, r.plus, r.lo, r.hi) for r in sum_ranges(judgment)] == [
        ("row p0", (0, 1, 2), 1, 1),
        ("row p1", (3, 4, 5), 1, 1),
        ("row p2", (6, 7, 8), 1, 1),
    ]
    ranked = BY_TYPE[BallotType.RANKED]  # 4 options × 3 positions
    assert cell_values(ranked, ["p3", "p0"]) == [0, 1, 0] + [0] * 6 + [1, 0, 0]
    assert cell_labels(ranked)[:2] == ("p0 position 1", "p0 position 2")
    names = [(r.name, r.plus, r.minus, r.lo, r.hi) for r in sum_ranges(ranked)]
    assert names[:4] == [(f"row p{i}", (3 * i, 3 * i + 1, 3 * i + 2), (), 0, 1) for i in range(4)]
    assert names[4] == ("column 1", (0, 3, 6, 9), (), 0, 1)  # the others are implied
    assert names[5:7] == [
        ("columns 1-2", (0, 3, 6, 9), (1, 4, 7, 10), 0, 1),
        ("columns 2-3", (1, 4, 7, 10), (2, 5, 8, 11), 0, 1),
    ]
    assert names[7] == ("total", tuple(range(12)), (), 1, 3)
    assert len(names) == 8


def test_random_valid_ballots_of_every_type_verify() -> None:
    rng = random.Random(2026)
    for _ in range(3):
        choices = random_choices(rng)
        ballot = encrypt_ballot(QUESTIONS, key=KEY, context=CONTEXT, choices=choices)
        verify_encrypted_ballot(QUESTIONS, KEY, CONTEXT, json.loads(json.dumps(ballot.to_json())))


# -- tampering ---------------------------------------------------------------------------------


def _replace(wire: dict[str, Any], qid: str, member: str, index: int | None, text: str) -> Any:
    tampered = json.loads(json.dumps(wire))
    if index is None:
        tampered[qid][member] = text
    else:
        tampered[qid][member][index] = text
    return tampered


def _bump_response(text: str, branch: int = 0) -> str:
    """The same proof with one branch's response ``z`` plus one (still a canonical scalar)."""
    data = bytearray(b64u_decode_or_none(text) or b"")
    start = branch * 128 + 96
    z = (int.from_bytes(data[start : start + 32], "little") + 1) % ORDER
    data[start : start + 32] = z.to_bytes(32, "little")
    return b64u_encode(bytes(data))


@pytest.mark.parametrize("kind", TYPES, ids=str)
def test_a_replaced_cell_is_refused_and_named(
    kind: BallotType, wires: dict[BallotType, dict[str, Any]]
) -> None:
    question = BY_TYPE[kind]
    # Another honest encryption of the same bit: a valid ciphertext whose proofs are not its.
    value = cell_values(question, CHOICES[kind])[1]
    other = b64u_encode(encrypt(value, KEY, nonce=Scalar.random()).to_bytes())
    tampered = _replace(wires[kind], question.id, "cells", 1, other)
    with pytest.raises(BallotProofError) as caught:
        verify_encrypted_ballot([question], KEY, CONTEXT, tampered)
    assert caught.value.question == question.id
    assert caught.value.part == f"cell {cell_labels(question)[1]}"


@pytest.mark.parametrize("kind", TYPES, ids=str)
@pytest.mark.parametrize("branch", [0, 1])
def test_a_cell_proof_response_changed_is_refused(
    kind: BallotType, branch: int, wires: dict[BallotType, dict[str, Any]]
) -> None:
    question = BY_TYPE[kind]
    wire = wires[kind]
    text = _bump_response(wire[question.id]["cell_proofs"][0], branch)
    with pytest.raises(BallotProofError, match=f"question {question.id}: cell "):
        verify_encrypted_ballot(
            [question], KEY, CONTEXT, _replace(wire, question.id, "cell_proofs", 0, text)
        )


@pytest.mark.parametrize("kind", TYPES, ids=str)
def test_every_sum_proof_changed_is_refused_and_named(
    kind: BallotType, wires: dict[BallotType, dict[str, Any]]
) -> None:
    question = BY_TYPE[kind]
    wire = wires[kind]
    for index, proof in enumerate(sum_ranges(question)):
        text = _bump_response(wire[question.id]["sum_proofs"][index])
        with pytest.raises(BallotProofError) as caught:
            verify_encrypted_ballot(
                [question], KEY, CONTEXT, _replace(wire, question.id, "sum_proofs", index, text)
            )
        assert caught.value.part == proof.name


def test_a_budget_bit_or_the_envelope_proof_changed_is_refused(
    wires: dict[BallotType, dict[str, Any]],
) -> None:
    question = BY_TYPE[BallotType.BUDGET]
    wire = wires[BallotType.BUDGET]
    other_bit = b64u_encode(encrypt(0, KEY, nonce=Scalar.random()).to_bytes())
    cases = [
        ("bits", 4, other_bit, "bit 4"),
        ("bit_proofs", 4, _bump_response(wire["budget"]["bit_proofs"][4], 1), "bit 4"),
        ("envelope_proof", None, _bump_response(wire["budget"]["envelope_proof"]), "envelope"),
    ]
    for member, index, text, part in cases:
        with pytest.raises(BallotProofError) as caught:
            verify_encrypted_ballot(
                [question], KEY, CONTEXT, _replace(wire, "budget", member, index, text)
            )
        assert caught.value.part == part


@pytest.mark.parametrize("kind", TYPES, ids=str)
def test_a_ballot_under_another_vk_election_or_key_is_refused(
    kind: BallotType, wires: dict[BallotType, dict[str, Any]]
) -> None:
    """The Helios ballot-copying attack: the same ciphertexts and proofs cast under another
    voting token's key fail (strong Fiat–Shamir binds ``vk``)."""
    question = BY_TYPE[kind]
    for context in (
        dataclasses.replace(CONTEXT, vk=b"\x22" * 32),
        dataclasses.replace(CONTEXT, election_id="budget-2027"),
        dataclasses.replace(CONTEXT, manifest_hash=b"\x00" * 32),
    ):
        with pytest.raises(BallotProofError, match="cell p0"):
            verify_encrypted_ballot([question], KEY, context, wires[kind])
    with pytest.raises(BallotProofError):
        verify_encrypted_ballot([question], KEY + BASE, CONTEXT, wires[kind])


# -- strict parsing ----------------------------------------------------------------------------


def test_malformed_wire_forms_are_refused_with_the_place_named(
    wires: dict[BallotType, dict[str, Any]],
) -> None:
    question = BY_TYPE[BallotType.MAJORITY_JUDGMENT]
    wire = wires[BallotType.MAJORITY_JUDGMENT]
    cell = wire["jugement"]["cells"][4]
    not_canonical = bytes.fromhex("ed" + "ff" * 30 + "7f")  # y = p: not canonical
    cases: list[tuple[Any, str]] = [
        ([], "an object keyed by question"),
        ({}, r"no answer for question\(s\): \['jugement'\]"),
        ({**wire, "autre": {}}, r"unknown question\(s\): \['autre'\]"),
        ({"jugement": {**wire["jugement"], "bits": []}}, "exactly the members"),
        (_replace(wire, "jugement", "cells", None, wire["jugement"]["cells"][:8]), "list of 9"),
        (_replace(wire, "jugement", "cells", 4, cell + "="), "cell p1 grade 1: not canonical"),
        (_replace(wire, "jugement", "cells", 4, cell[:-2]), "cell p1 grade 1: 64 bytes expected"),
        (
            _replace(wire, "jugement", "cells", 4, b64u_encode(not_canonical + BASE.encoded)),
            "cell p1 grade 1: ciphertext α: not a canonical point",
        ),
        (
            _replace(wire, "jugement", "sum_proofs", 2, wire["jugement"]["cell_proofs"][0]),
            "row p2 proof: 128 bytes expected, got 256",
        ),
        (
            _replace(wire, "jugement", "cell_proofs", 0, b64u_encode(b"\xff" * 256)),
            "cell p0 grade 0 proof: branch 0 commitment a",
        ),
    ]
    for data, message in cases:
        with pytest.raises(MalformedEncryptedBallotError, match=message):
            verify_encrypted_ballot([question], KEY, CONTEXT, data)


def test_a_question_whose_range_is_too_wide_is_refused_by_name() -> None:
    wide = dataclasses.replace(
        BY_TYPE[BallotType.APPROVAL],
        options=tuple(
            dataclasses.replace(BY_TYPE[BallotType.APPROVAL].options[0], id=f"o{i}")
            for i in range(300)
        ),
        min=0,
        max=300,
    )
    with pytest.raises(InvalidChoiceError, match="question parcs: the sum range"):
        sum_ranges(wide)


# -- false statements --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "values", "refusal"),
    [
        (BallotType.SINGLE, [1, 1, 0], r"not in \[1, 1\]"),  # two candidates
        (BallotType.SINGLE, [0, 0, 0], r"not in \[1, 1\]"),  # blank: questions.py has none
        (BallotType.APPROVAL, [1, 1, 1, 1], r"not in \[1, 3\]"),  # four of at most three
        (BallotType.BUDGET, [0, 1, 0, 1, 0], "more than the envelope"),  # 105 000 > 100 000
        (BallotType.BUDGET, [1, 0, 1, 0, 0, 0], "5 cells expected"),  # a sixth cell
        (BallotType.MAJORITY_JUDGMENT, [1, 1, 0, 0, 0, 1, 0, 1, 0], r"not in \[1, 1\]"),
        (BallotType.RANKED, [1, 0, 0] + [0] * 6 + [0, 0, 1], r"not in \[0, 1\]"),  # a gap
        (BallotType.RANKED, [1, 0, 0] + [1, 0, 0] + [0] * 6, r"not in \[0, 1\]"),  # two first
        (BallotType.RANKED, [1, 1, 0] + [0] * 9, r"not in \[0, 1\]"),  # one option twice
        # Two options second (column 2 = 2 > column 1 = 1): refused by the order proof.
        (BallotType.RANKED, [1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0], r"not in \[0, 1\]"),
        (BallotType.APPROVAL, [2, 0, 0, 0], r"not in \[0, 1\]"),  # a cell that is not a bit
    ],
)
def test_the_honest_prover_cannot_prove_a_broken_rule(
    kind: BallotType, values: list[int], refusal: str
) -> None:
    with pytest.raises(ValueError, match=refusal):
        _encrypt_question(BY_TYPE[kind], key=KEY, context=CONTEXT, values=values, rng=Scalar.random)


def test_encrypting_invalid_choices_is_refused_before_any_proof() -> None:
    budget = BY_TYPE[BallotType.BUDGET]
    with pytest.raises(InvalidChoiceError, match="over the envelope"):
        encrypt_ballot([budget], key=KEY, context=CONTEXT, choices={"budget": ["p1", "p3"]})


def _cheating_sum(
    question: Question, values: list[int], *, claimed: int
) -> tuple[EncryptedQuestion, list[Scalar]]:
    """Honest cells, then the honest range-proof algorithm run on a false sum."""
    nonces = [Scalar.random() for _ in values]
    cells = tuple(encrypt(v, KEY, nonce=n) for v, n in zip(values, nonces, strict=True))
    cell_proofs = tuple(
        prove_zero_one(CONTEXT, key=KEY, ciphertext=c, bit=v, nonce=n)
        for c, v, n in zip(cells, values, nonces, strict=True)
    )
    (r,) = sum_ranges(question)
    total = cells[0]
    for cell in cells[1:]:
        total = total + cell
    nonce = Scalar.of(sum(n.value for n in nonces))
    proof = _prove(
        CONTEXT,
        kind="range",
        key=KEY,
        ciphertext=total,
        nonce=nonce,
        claimed=claimed,
        lo=r.lo,
        hi=r.hi,
        rng=Scalar.random,
    )
    return EncryptedQuestion(cells, cell_proofs, (proof,)), nonces


def test_a_cheating_prover_cannot_pass_too_many_options() -> None:
    approval = BY_TYPE[BallotType.APPROVAL]
    encrypted, _ = _cheating_sum(approval, [1, 1, 1, 1], claimed=3)
    wire = {"parcs": encrypted.to_json()}
    with pytest.raises(BallotProofError) as caught:
        verify_encrypted_ballot([approval], KEY, CONTEXT, wire)
    assert caught.value.part == "sum"


def test_a_cheating_prover_cannot_pass_an_over_budget_ballot() -> None:
    """Projects 1 and 3 cost 105 000 of 100 000: the remainder is −5 000. The cheat encrypts
    the bits of −5 000 mod 2^17 and "proves" the envelope statement with the honest
    algorithm anyway; the count proof is honest (two projects)."""
    budget = BY_TYPE[BallotType.BUDGET]
    values = [0, 1, 0, 1, 0]
    honest, nonces = _cheating_sum(budget, values, claimed=2)
    width = envelope_bits(budget)
    remainder = (-5_000) % (1 << width)
    bit_nonces = [Scalar.random() for _ in range(width)]
    bit_values = [(remainder >> j) & 1 for j in range(width)]
    bits = tuple(encrypt(b, KEY, nonce=n) for b, n in zip(bit_values, bit_nonces, strict=True))
    bit_proofs = tuple(
        prove_zero_one(CONTEXT, key=KEY, ciphertext=c, bit=b, nonce=n)
        for c, b, n in zip(bits, bit_values, bit_nonces, strict=True)
    )
    nonce = Scalar.of(
        sum((1 << j) * n.value for j, n in enumerate(bit_nonces))
        + sum((o.cost or 0) * n.value for o, n in zip(budget.options, nonces, strict=True))
    )
    statement = _envelope_statement(budget, honest.cells, bits)
    envelope = _prove(
        CONTEXT,
        kind="range",
        key=KEY,
        ciphertext=statement,
        nonce=nonce,
        claimed=0,
        lo=0,
        hi=0,
        rng=Scalar.random,
    )
    cheat = dataclasses.replace(honest, bits=bits, bit_proofs=bit_proofs, envelope_proof=envelope)
    with pytest.raises(BallotProofError) as caught:
        verify_encrypted_ballot([budget], KEY, CONTEXT, {"budget": cheat.to_json()})
    assert caught.value.part == "envelope"
    # The statement really encrypts 2^17 − 5 000 − ... ≠ 0: it is 2^17 (the wrap-around).
    assert decrypt_to_point(statement, statement.alpha * SECRET) == Point.base_times(
        Scalar.of(1 << width)
    )


def test_random_choices_are_valid_for_every_type() -> None:
    rng = random.Random(7)
    for question in QUESTIONS:
        for _ in range(20):
            random_choice(question, rng)
