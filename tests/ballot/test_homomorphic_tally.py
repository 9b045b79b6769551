"""The tally of encrypted ballots (ballot/homomorphic_tally.py; ballot-secrecy.md §1, "Tally").

The end-to-end test reads like the protocol: three trustees share the election secret with
threshold two (a Shamir dealer stands in for the key ceremony, whose own tests are
tests/ballot/test_cocktail_dkg.py: only the shares' algebra matters here), voters encrypt
random valid ballots, the cells are summed, trustees decrypt with proofs, any two combine,
and the results equal ballot/tally.py's on the same ballots in clear. A missing trustee
below the threshold does not block; a wrong partial decryption is refused with its trustee
named, even when enough good ones are present.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ballot.decryption_proof import _prove as _prove_decryption
from ballot.encrypted_ballot import EncryptedBallot, encrypt_ballot, verify_encrypted_ballot
from ballot.group import BASE, Point, Scalar
from ballot.homomorphic_tally import (
    CellSums,
    PartialDecryption,
    WrongPartialError,
    cell_sums,
    combine,
    decrypt_counts,
    lagrange_at_zero,
    partial_decrypt,
    results_from_counts,
)
from ballot.tally import tally
from ballot.token import b64u_decode_or_none, b64u_encode
from ballot.transcript import Context
from tests.ballot.encrypted_questions import QUESTIONS, random_choices

ELECTION = Context("budget-2026", bytes(range(32)), b"\x00" * 32)
THRESHOLD = 2
TRUSTEES = (1, 2, 3)


@dataclasses.dataclass(frozen=True)
class Trustees:
    key: Point
    shares: dict[int, Scalar]
    public_shares: dict[int, Point]
    contexts: dict[int, Context]


def _deal(seed: int) -> Trustees:
    """Shamir's dealer: ``f(x) = a_0 + a_1·x``, share ``i`` is ``f(i)``, key ``a_0·G``."""
    rng = random.Random(seed)
    coefficients = [Scalar.of(rng.getrandbits(256)) for _ in range(THRESHOLD)]
    shares = {}
    for i in TRUSTEES:
        value = Scalar.of(0)
        for coefficient in reversed(coefficients):
            value = value * Scalar.of(i) + coefficient
        shares[i] = value
    return Trustees(
        key=Point.base_times(coefficients[0]),
        shares=shares,
        public_shares={i: Point.base_times(s) for i, s in shares.items()},
        # Each trustee's proofs are bound to its own signing key.
        contexts={i: dataclasses.replace(ELECTION, vk=bytes([i]) * 32) for i in TRUSTEES},
    )


TRUSTEE_SET = _deal(1)


def _cast(trustees: Trustees, choices: list[dict[str, Any]]) -> list[EncryptedBallot]:
    """Each voter encrypts under its own ballot key; the box keeps what verifies from the
    JSON wire form, as it will receive it."""
    ballots = []
    for n, choice in enumerate(choices):
        context = dataclasses.replace(ELECTION, vk=bytes([0x40 + n % 64]) * 32)
        sent = encrypt_ballot(QUESTIONS, key=trustees.key, context=context, choices=choice)
        wire = json.loads(json.dumps(sent.to_json()))
        ballots.append(verify_encrypted_ballot(QUESTIONS, trustees.key, context, wire))
    return ballots


def _partials(trustees: Trustees, sums: CellSums, who: tuple[int, ...]) -> list[PartialDecryption]:
    return [
        partial_decrypt(trustees.contexts[i], trustee=i, share=trustees.shares[i], sums=sums)
        for i in who
    ]


def _counts(
    trustees: Trustees, sums: CellSums, ballots: int, partials: list[PartialDecryption]
) -> dict[str, tuple[int, ...]]:
    return decrypt_counts(
        QUESTIONS,
        sums=sums,
        ballots=ballots,
        partials=partials,
        public_shares=trustees.public_shares,
        contexts=trustees.contexts,
        threshold=THRESHOLD,
    )


@settings(max_examples=3, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(min_value=1, max_value=7))
def test_the_homomorphic_tally_equals_the_clear_tally(rng: random.Random, voters: int) -> None:
    choices = [random_choices(rng) for _ in range(voters)]
    ballots = _cast(TRUSTEE_SET, choices)
    sums = cell_sums(QUESTIONS, ballots)
    # Trustee 1 never shows up: 2 and 3 are the threshold.
    partials = _partials(TRUSTEE_SET, sums, (2, 3))
    counts = _counts(TRUSTEE_SET, sums, len(ballots), partials)
    assert results_from_counts(QUESTIONS, counts, ballots=len(ballots)) == tally(QUESTIONS, choices)


@pytest.fixture(scope="module")
def election() -> tuple[list[dict[str, Any]], CellSums, list[PartialDecryption]]:
    rng = random.Random(13)
    choices = [random_choices(rng) for _ in range(5)]
    sums = cell_sums(QUESTIONS, _cast(TRUSTEE_SET, choices))
    return choices, sums, _partials(TRUSTEE_SET, sums, TRUSTEES)


def test_any_threshold_of_trustees_gives_the_same_counts(
    election: tuple[list[dict[str, Any]], CellSums, list[PartialDecryption]],
) -> None:
    choices, sums, partials = election
    expected = tally(QUESTIONS, choices)
    for pair in itertools.combinations(partials, THRESHOLD):
        counts = _counts(TRUSTEE_SET, sums, len(choices), list(pair))
        assert results_from_counts(QUESTIONS, counts, ballots=len(choices)) == expected
    counts = _counts(TRUSTEE_SET, sums, len(choices), partials)  # all three: also fine
    assert results_from_counts(QUESTIONS, counts, ballots=len(choices)) == expected


def test_fewer_partials_than_the_threshold_are_refused(
    election: tuple[list[dict[str, Any]], CellSums, list[PartialDecryption]],
) -> None:
    _, sums, partials = election
    with pytest.raises(ValueError, match="1 valid partial decryption"):
        _counts(TRUSTEE_SET, sums, 5, partials[2:])


def test_a_wrong_partial_is_named_and_refused(
    election: tuple[list[dict[str, Any]], CellSums, list[PartialDecryption]],
) -> None:
    """Trustee 2 runs the honest prover on a false statement (its partial for one cell is
    ``(s_2 + 1)·α``); the tally refuses it by name even though 1 and 3 would suffice."""
    _, sums, partials = election
    total = sums["budget"][3]
    wrong_factor = total.alpha * (TRUSTEE_SET.shares[2] + Scalar.of(1))
    wrong_proof = _prove_decryption(
        TRUSTEE_SET.contexts[2],
        share=TRUSTEE_SET.shares[2],
        public_share=TRUSTEE_SET.public_shares[2],
        ciphertext=total,
        partial=wrong_factor,
        rng=Scalar.random,
    )
    budget = list(partials[1].parts["budget"])
    budget[3] = (wrong_factor, wrong_proof)
    wrong = dataclasses.replace(partials[1], parts={**partials[1].parts, "budget": tuple(budget)})
    with pytest.raises(WrongPartialError, match="trustee 2: question budget: cell 3") as caught:
        _counts(TRUSTEE_SET, sums, 5, [partials[0], wrong, partials[2]])
    assert caught.value.trustee == 2
    assert caught.value.question == "budget"
    # Without it, trustees 1 and 3 decrypt.
    _counts(TRUSTEE_SET, sums, 5, [partials[0], partials[2]])


def test_a_partial_under_another_trustee_s_index_or_context_is_refused(
    election: tuple[list[dict[str, Any]], CellSums, list[PartialDecryption]],
) -> None:
    _, sums, partials = election
    stolen = dataclasses.replace(partials[2], trustee=1)  # trustee 3's work claimed as 1's
    with pytest.raises(WrongPartialError, match="trustee 1:") as caught:
        _counts(TRUSTEE_SET, sums, 5, [stolen, partials[1]])
    assert caught.value.trustee == 1
    stranger = dataclasses.replace(partials[2], trustee=4)
    with pytest.raises(WrongPartialError, match="trustee 4 is not a trustee"):
        _counts(TRUSTEE_SET, sums, 5, [stranger, partials[1]])
    with pytest.raises(ValueError, match="one partial decryption per trustee"):
        _counts(TRUSTEE_SET, sums, 5, [partials[1], partials[1]])
    missing_question = dataclasses.replace(
        partials[0], parts={k: v for k, v in partials[0].parts.items() if k != "maire"}
    )
    with pytest.raises(WrongPartialError, match="exactly the questions"):
        _counts(TRUSTEE_SET, sums, 5, [missing_question, partials[1]])


def test_a_count_above_the_number_of_ballots_is_refused(
    election: tuple[list[dict[str, Any]], CellSums, list[PartialDecryption]],
) -> None:
    """The dlog is bounded by the number of ballots: the same sums declared as from fewer
    ballots than some cell's count do not decrypt."""
    _, sums, partials = election
    with pytest.raises(ValueError, match=r"not m·G for any m in \[0, 1\]"):
        _counts(TRUSTEE_SET, sums, 1, partials)


def test_no_ballot_gives_zero_counts_and_the_clear_results() -> None:
    sums = cell_sums(QUESTIONS, [])
    counts = _counts(TRUSTEE_SET, sums, 0, [])
    assert all(set(c) == {0} for c in counts.values())
    assert results_from_counts(QUESTIONS, counts, ballots=0) == tally(QUESTIONS, [])


def test_lagrange_coefficients_recombine_the_secret() -> None:
    weights = lagrange_at_zero([1, 3])
    combined = Point.base_times(
        weights[1] * TRUSTEE_SET.shares[1] + weights[3] * TRUSTEE_SET.shares[3]
    )
    assert combined == TRUSTEE_SET.key
    assert combined != TRUSTEE_SET.key + BASE
    with pytest.raises(ValueError, match="distinct"):
        lagrange_at_zero([1, 1])
    with pytest.raises(ValueError, match="at least 1"):
        lagrange_at_zero([0, 2])


def test_combine_needs_a_threshold(
    election: tuple[list[dict[str, Any]], CellSums, list[PartialDecryption]],
) -> None:
    _, sums, partials = election
    with pytest.raises(ValueError, match="threshold is at least 1"):
        combine(
            sums=sums,
            partials=partials,
            public_shares=TRUSTEE_SET.public_shares,
            contexts=TRUSTEE_SET.contexts,
            threshold=0,
        )


def test_a_partial_decryption_round_trips_its_wire_form_and_is_parsed_strictly(
    election: tuple[list[dict[str, Any]], CellSums, list[PartialDecryption]],
) -> None:
    choices, sums, partials = election
    wire = json.loads(json.dumps(partials[2].to_json()))
    assert PartialDecryption.from_json(wire, sums=sums) == partials[2]
    parsed = [PartialDecryption.from_json(p.to_json(), sums=sums) for p in partials[:2]]
    counts = _counts(TRUSTEE_SET, sums, len(choices), parsed)
    assert results_from_counts(QUESTIONS, counts, ballots=len(choices)) == tally(QUESTIONS, choices)
    part = wire["parts"]["jugement"][4]
    order_two = bytes.fromhex("ec" + "ff" * 30 + "7f")
    raw = b64u_decode_or_none(part)
    assert raw is not None
    cases: list[tuple[object, str]] = [
        ({**wire, "trustee": True}, "names its trustee"),
        ({**wire, "extra": 1}, "trustee 3: the members are exactly"),
        (
            {**wire, "parts": {"maire": wire["parts"]["maire"]}},
            "trustee 3: .* exactly the questions",
        ),
        (_with_part(wire, "jugement", 4, part + "="), "question jugement: cell 4: 128 bytes"),
        (
            _with_part(wire, "jugement", 4, b64u_encode(order_two + raw[32:])),
            "question jugement: cell 4: partial: not a canonical point",
        ),
        (
            _with_part(wire, "jugement", 4, b64u_encode(raw[:96] + b"\xff" * 32)),
            "question jugement: cell 4: decryption proof response",
        ),
    ]
    for data, message in cases:
        with pytest.raises(WrongPartialError, match=message):
            PartialDecryption.from_json(data, sums=sums)


def _with_part(wire: dict[str, Any], qid: str, cell: int, text: str) -> dict[str, Any]:
    tampered: dict[str, Any] = json.loads(json.dumps(wire))
    tampered["parts"][qid][cell] = text
    return tampered
