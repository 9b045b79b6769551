"""The server's side of an encrypted election's tally, in the board's encodings
(ballot/encrypted_tally.py; docs/board-format.md §10.3, §10.4).

Voters encrypt random valid ballots under a v2 manifest's joint key with their own ``vk``;
the server checks every proof in the manifest's context, sums the cells into a
``parvis-tally-sums-v1`` document, checks each trustee's ``parvis-partial-decryptions-v1``
against the manifest's public shares, and any two of three trustees give the counts whose
results equal ballot/tally.py's on the same ballots in clear. Replayed ciphertexts, wrong
or smuggling partial decryptions are refused, naming what is wrong.
"""

from __future__ import annotations

import copy
import random
import uuid
from typing import Any

import pytest

from ballot.encrypted_ballot import BallotProofError, encrypt_ballot, parse_encrypted_ballot
from ballot.encrypted_tally import (
    Encryption,
    WrongPartialDecryptionError,
    context_document,
    decrypt_counts,
    parse_sums_document,
    sums_document,
)
from ballot.homomorphic_tally import cell_sums, results_from_counts
from ballot.tally import tally
from tests.ballot.encrypted_questions import QUESTIONS, random_choices
from tests.ballot.trustees import DealtTrustees, deal

ELECTION = str(uuid.UUID(int=7))
TRUSTEES = deal(seed=3)


def _manifest(trustees: DealtTrustees = TRUSTEES) -> dict[str, Any]:
    return {
        "format": "parvis-manifest-v2",
        "election": ELECTION,
        "questions": [q.to_json() for q in QUESTIONS],
        "encryption": trustees.encryption_member(),
    }


ENCRYPTION = Encryption.of_manifest(_manifest())
assert ENCRYPTION is not None


def _vk(n: int) -> bytes:
    return bytes([n % 251 + 1]) * 32


def _cast(choices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each voter's wire form, made with its own ``vk`` in the context."""
    assert ENCRYPTION is not None
    return [
        encrypt_ballot(
            QUESTIONS,
            key=ENCRYPTION.joint_key,
            context=ENCRYPTION.ballot_context(_vk(n)),
            choices=c,
        ).to_json()
        for n, c in enumerate(choices)
    ]


RNG = random.Random(11)
CHOICES = [random_choices(RNG) for _ in range(5)]
WIRE = _cast(CHOICES)
SUMS = sums_document(
    ELECTION, QUESTIONS, cell_sums(QUESTIONS, [parse_encrypted_ballot(QUESTIONS, w) for w in WIRE])
)
CONTEXT = context_document(ELECTION, ENCRYPTION.manifest_hash)


def test_a_public_manifest_has_no_encryption() -> None:
    assert Encryption.of_manifest({"format": "parvis-manifest-v1", "election": ELECTION}) is None


def test_every_ballot_verifies_under_its_own_vk_and_a_replayed_one_fails() -> None:
    assert ENCRYPTION is not None
    for n, wire in enumerate(WIRE):
        ENCRYPTION.verify_ballot(QUESTIONS, vk=_vk(n), data=wire)
    # The same ciphertexts and proofs cast under another token's vk (ballot copying).
    with pytest.raises(BallotProofError, match=r"question maire: cell"):
        ENCRYPTION.verify_ballot(QUESTIONS, vk=_vk(99), data=WIRE[0])


def test_the_sums_document_is_what_the_trustee_tool_reads() -> None:
    labels = [item["label"] for item in SUMS["ciphertexts"]]
    assert SUMS["format"] == "parvis-tally-sums-v1"
    assert labels[0] == "maire/0"
    assert len(labels) == len(set(labels))
    assert {
        "format": "parvis-decryption-context-v1",
        "election": ELECTION,
        "manifest_hash": ENCRYPTION.manifest_hash.hex(),
    } == CONTEXT
    assert sums_document(ELECTION, QUESTIONS, parse_sums_document(QUESTIONS, SUMS)) == SUMS


@pytest.mark.parametrize("pair", [(1, 2), (1, 3), (2, 3)])
def test_any_two_trustees_give_the_clear_results(pair: tuple[int, int]) -> None:
    assert ENCRYPTION is not None
    partials = {}
    for index in pair:
        checked, points = ENCRYPTION.check_partials(
            TRUSTEES.partials(index, sums=SUMS, context=CONTEXT), sums=SUMS
        )
        assert checked == index
        partials[index] = points
    counts = decrypt_counts(QUESTIONS, sums=SUMS, partials=partials, ballots=len(CHOICES))
    assert results_from_counts(QUESTIONS, counts, ballots=len(CHOICES)) == tally(QUESTIONS, CHOICES)


def _tampered(change: Any) -> dict[str, Any]:
    document = copy.deepcopy(TRUSTEES.partials(2, sums=SUMS, context=CONTEXT))
    change(document)
    return document


def _other_partial(document: dict[str, Any]) -> None:
    # Trustee 3's factor for the second sum, in trustee 2's document.
    other = TRUSTEES.partials(3, sums=SUMS, context=CONTEXT)
    document["partials"][1]["partial"] = other["partials"][1]["partial"]


def _smuggled(document: dict[str, Any]) -> None:
    document["choices"] = {"maire": "p0"}


def _another_manifest(document: dict[str, Any]) -> None:
    document["manifest_hash"] = "00" * 32


def _wrong_key(document: dict[str, Any]) -> None:
    document["trustee_key"] = TRUSTEES.static_key(1).encoded.hex()


def _missing_cell(document: dict[str, Any]) -> None:
    document["partials"].pop()


def _unknown_trustee(document: dict[str, Any]) -> None:
    document["trustee"] = 4


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_other_partial, r"trustee 2: the partial decryption of 'maire/1' is refused"),
        (_smuggled, r"exactly \["),
        (_another_manifest, r"trustee 2: made for another manifest"),
        (_wrong_key, r"trustee 2: the trustee key is not the manifest's"),
        (_missing_cell, r"trustee 2: a list of \d+ partials"),
        (_unknown_trustee, r"there is no trustee 4"),
    ],
)
def test_a_wrong_partial_decryption_is_refused_naming_the_trustee(
    change: Any, message: str
) -> None:
    assert ENCRYPTION is not None
    ENCRYPTION.check_partials(TRUSTEES.partials(2, sums=SUMS, context=CONTEXT), sums=SUMS)
    with pytest.raises(WrongPartialDecryptionError, match=message):
        ENCRYPTION.check_partials(_tampered(change), sums=SUMS)
