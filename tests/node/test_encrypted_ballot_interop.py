"""Whole encrypted ballots: the booth's (web/src/lib/encrypted_ballot.ts) against ballot/.

docs/board-format.md §10.3: the booth encrypts and proves every question of a ballot in the
citizen's browser, the server and every verifier check it with ballot/encrypted_ballot.py,
and the booth can check the server's (and Python's) ballots as well. Both sides must agree on
the layout (cells row-major, proofs on sums in the same order, the budget's envelope bits) and
on the wire form, for the five question types of §3:

* a ballot made in Node verifies in Python, and one made in Python verifies in Node;
* with the same seeded randomness both produce the same wire form, byte for byte;
* each side refuses a tampered proof (a cell, a sum, a bit, the envelope) and a ballot whose
  cells were copied under another token's ``vk`` (the Helios ballot-copying attack), naming
  the same question and part; each refuses the same malformed wire forms;
* the booth refuses to encrypt choices that break the question rules.

These tests fail, never skip, when Node.js or ``web/node_modules`` is missing
(``make node-deps``).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ballot.demo import definitions
from ballot.encrypted_ballot import (
    BallotProofError,
    EncryptedBallotError,
    MalformedEncryptedBallotError,
    encrypt_ballot,
    verify_encrypted_ballot,
)
from ballot.group import Point, Scalar, hash_to_scalar
from ballot.jcs import canonical
from ballot.questions import Question, parse_questions
from ballot.token import b64u_decode, b64u_encode
from ballot.transcript import Context
from tests.support.node import NodeDriver, start_node

pytestmark = pytest.mark.node

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "node" / "encrypted_units.mjs"
ELECTION = "5b1a3c2e-7d4f-4e6a-9b8c-0d1e2f3a4b5c"
CONTEXT = Context(ELECTION, bytes(range(32)), b"\x11" * 32)
OTHER_VK = dataclasses.replace(CONTEXT, vk=b"\x22" * 32)

_OPTIONS = [{"id": f"o{i}", "title": {"fr": f"Option {i}"}} for i in range(4)]
QUESTIONS: dict[str, Question] = {
    q.id: q
    for q in parse_questions(
        [
            {"id": "single", "type": "single", "title": {"fr": "Un"}, "options": _OPTIONS[:3]},
            {
                "id": "approval",
                "type": "approval",
                "title": {"fr": "Plusieurs"},
                "options": _OPTIONS,
                "min": 1,
                "max": 3,
            },
            # The demo's participatory budget: 8 projects, an envelope of 400,000 (ballot/demo.py).
            definitions(datetime(2026, 1, 1, tzinfo=UTC))[0]["questions"][0],
            {
                "id": "judgment",
                "type": "majority_judgment",
                "title": {"fr": "Jugement"},
                "options": _OPTIONS[:3],
                "grades": ["Très bien", "Bien", "Passable", "Insuffisant"],
            },
            {
                "id": "ranked",
                "type": "ranked",
                "title": {"fr": "Classement"},
                "options": _OPTIONS,
                "min": 1,
                "max": 3,
            },
        ]
    )
}
CHOICES: dict[str, Any] = {
    "single": "o1",
    "approval": ["o0", "o2", "o3"],
    "projets": ["jardins", "pistes-cyclables", "composteurs"],
    "judgment": {"o0": 0, "o1": 3, "o2": 1},
    "ranked": ["o2", "o0"],
}
KINDS = list(QUESTIONS)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeDriver]:
    driver = start_node(tmp_path_factory.mktemp("ballots"), SCRIPT, needs="@noble/curves")
    try:
        yield driver
    finally:
        driver.close()


def wire_context(context: Context) -> dict[str, str]:
    return {
        "election": context.election_id,
        "manifest": b64u_encode(context.manifest_hash),
        "vk": b64u_encode(context.vk),
    }


def seeded(seed: bytes) -> Callable[[], Scalar]:
    """The seeded randomness of encrypted_units.mjs (and tests/ballot/test_proofs.py)."""
    counter = iter(range(1 << 30))
    return lambda: hash_to_scalar(b"test rng", seed, next(counter).to_bytes(4, "big"))


def pick(*ids: str) -> tuple[list[Question], dict[str, Any]]:
    return [QUESTIONS[i] for i in ids], {i: CHOICES[i] for i in ids}


def node_encrypts(
    node: NodeDriver,
    questions: list[Question],
    choices: dict[str, Any],
    key: Point,
    *,
    seed: bytes | None = None,
) -> dict[str, Any]:
    request: dict[str, Any] = {
        "questions": [q.to_json() for q in questions],
        "choices": choices,
        "context": wire_context(CONTEXT),
        "key": b64u_encode(key.encoded),
    }
    if seed is not None:
        request["seed"] = b64u_encode(seed)
    encrypted: dict[str, Any] = node.ok("encrypt_ballot", **request)["encrypted"]
    return encrypted


def node_verifies(
    node: NodeDriver,
    questions: list[Question],
    key: Point,
    encrypted: object,
    context: Context = CONTEXT,
) -> dict[str, Any]:
    return node(
        "verify_ballot",
        questions=[q.to_json() for q in questions],
        key=b64u_encode(key.encoded),
        context=wire_context(context),
        encrypted=encrypted,
    )


def python_refusal(
    questions: list[Question], key: Point, encrypted: object, context: Context = CONTEXT
) -> EncryptedBallotError:
    with pytest.raises(EncryptedBallotError) as caught:
        verify_encrypted_ballot(questions, key, context, encrypted)
    return caught.value


def flip_response(text: str) -> str:
    """Flip the low bit of the last branch's response (still a canonical scalar, below L)."""
    data = bytearray(b64u_decode(text, field="proof"))
    data[len(data) - 32] ^= 0x01
    return b64u_encode(bytes(data))


def election_key() -> Point:
    return Point.base_times(Scalar.random())


# -- ballots made in Node verify in Python, and the other way round --------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_a_ballot_encrypted_in_node_verifies_in_python(node: NodeDriver, kind: str) -> None:
    questions, choices = pick(kind)
    key = election_key()
    encrypted = node_encrypts(node, questions, choices, key)
    ballot = verify_encrypted_ballot(questions, key, CONTEXT, encrypted)
    # The wire form is exactly Python's: parsed and written again, the same JSON.
    assert ballot.to_json() == encrypted
    assert python_refusal(questions, key, encrypted, OTHER_VK).question == kind


def test_a_ballot_of_every_type_verifies_on_both_sides(node: NodeDriver) -> None:
    questions, choices = pick(*KINDS)
    key = election_key()
    from_node = node_encrypts(node, questions, choices, key)
    assert list(from_node) == KINDS
    verify_encrypted_ballot(questions, key, CONTEXT, from_node)
    from_python = encrypt_ballot(questions, key=key, context=CONTEXT, choices=choices).to_json()
    assert node_verifies(node, questions, key, from_python) == {"ok": True}
    assert node_verifies(node, questions, key, from_node) == {"ok": True}


@pytest.mark.parametrize("kind", KINDS)
def test_a_ballot_encrypted_in_python_verifies_in_node(node: NodeDriver, kind: str) -> None:
    questions, choices = pick(kind)
    key = election_key()
    encrypted = encrypt_ballot(questions, key=key, context=CONTEXT, choices=choices).to_json()
    assert node_verifies(node, questions, key, encrypted) == {"ok": True}


@pytest.mark.parametrize("kind", KINDS)
def test_seeded_ballots_are_identical_on_both_sides(node: NodeDriver, kind: str) -> None:
    """Same cells, same order of proofs, same envelope bits, same random draws: same bytes."""
    questions, choices = pick(kind)
    key = election_key()
    seed = b"ballot-" + kind.encode()
    python = encrypt_ballot(
        questions, key=key, context=CONTEXT, choices=choices, rng=seeded(seed)
    ).to_json()
    assert node_encrypts(node, questions, choices, key, seed=seed) == python


def test_the_budget_envelope_is_proved_at_its_limits(node: NodeDriver) -> None:
    """Nothing chosen (the remainder is the whole envelope) and a remainder of exactly 0."""
    budget = QUESTIONS["projets"]
    exact = parse_questions(
        [{**budget.to_json(), "envelope": sum(o.cost or 0 for o in budget.options[:3])}]
    )[0]
    key = election_key()
    for question, chosen in ((budget, []), (exact, list(exact.option_ids[:3]))):
        encrypted = node_encrypts(node, [question], {"projets": chosen}, key)
        verify_encrypted_ballot([question], key, CONTEXT, encrypted)
        assert len(encrypted["projets"]["bits"]) == (question.envelope or 0).bit_length()


# -- tampering is refused on both sides, naming the same part ------------------------------------


def _tamper(encrypted: dict[str, Any], qid: str, member: str, index: int | None) -> dict[str, Any]:
    tampered = copy.deepcopy(encrypted)
    if index is None:
        tampered[qid][member] = flip_response(tampered[qid][member])
    else:
        tampered[qid][member][index] = flip_response(tampered[qid][member][index])
    return tampered


@pytest.mark.parametrize(
    ("qid", "member", "index", "part"),
    [
        ("single", "cell_proofs", 2, "cell o2"),
        ("single", "sum_proofs", 0, "sum"),
        ("approval", "sum_proofs", 0, "sum"),
        ("projets", "cell_proofs", 7, "cell composteurs"),
        ("projets", "bit_proofs", 3, "bit 3"),
        ("projets", "envelope_proof", None, "envelope"),
        ("judgment", "sum_proofs", 1, "row o1"),
        ("ranked", "cell_proofs", 4, "cell o1 position 2"),
        ("ranked", "sum_proofs", 4, "column 1"),
        ("ranked", "sum_proofs", 6, "columns 2-3"),
        ("ranked", "sum_proofs", 7, "total"),
    ],
)
def test_a_tampered_proof_is_refused_by_both(
    node: NodeDriver, qid: str, member: str, index: int | None, part: str
) -> None:
    questions, choices = pick(*KINDS)
    key = election_key()
    for encrypted in (
        node_encrypts(node, questions, choices, key),
        encrypt_ballot(questions, key=key, context=CONTEXT, choices=choices).to_json(),
    ):
        tampered = _tamper(encrypted, qid, member, index)
        refused = python_refusal(questions, key, tampered)
        assert isinstance(refused, BallotProofError)
        assert (refused.question, refused.part) == (qid, part)
        answer = node_verifies(node, questions, key, tampered)
        assert answer["name"] == "BallotProofError", answer
        assert (answer["question"], answer["part"]) == (qid, part)


def test_cells_copied_under_another_vk_are_refused_by_both(node: NodeDriver) -> None:
    """The Helios ballot-copying attack: the same cells and proofs cast under another voting
    token's key fail, because that key is in every proof's transcript."""
    questions, choices = pick(*KINDS)
    key = election_key()
    from_node = node_encrypts(node, questions, choices, key)
    from_python = encrypt_ballot(questions, key=key, context=CONTEXT, choices=choices).to_json()
    for encrypted in (from_node, from_python):
        refused = python_refusal(questions, key, encrypted, OTHER_VK)
        assert isinstance(refused, BallotProofError)
        answer = node_verifies(node, questions, key, encrypted, OTHER_VK)
        assert answer["name"] == "BallotProofError", answer
        assert (answer["question"], answer["part"]) == (refused.question, refused.part)
    # One cell of another ballot (another vk) pasted into ours: refused at that cell.
    other = encrypt_ballot(questions, key=key, context=OTHER_VK, choices=choices).to_json()
    mixed = copy.deepcopy(from_node)
    mixed["approval"]["cells"][1] = other["approval"]["cells"][1]
    mixed["approval"]["cell_proofs"][1] = other["approval"]["cell_proofs"][1]
    refused = python_refusal(questions, key, mixed)
    assert (refused.question, refused.part) == ("approval", "cell o1")
    answer = node_verifies(node, questions, key, mixed)
    assert (answer["name"], answer["question"], answer["part"]) == (
        "BallotProofError",
        "approval",
        "cell o1",
    )


def _malformed(encrypted: dict[str, Any]) -> list[tuple[str, Any]]:
    cell = encrypted["single"]["cells"][0]
    cases: list[tuple[str, Any]] = []

    def case(name: str, change: Callable[[dict[str, Any]], None]) -> None:
        mutated = copy.deepcopy(encrypted)
        change(mutated)
        cases.append((name, mutated))

    case("missing question", lambda e: e.pop("ranked"))
    case("extra question", lambda e: e.update(autre=e["single"]))
    case("extra member", lambda e: e["single"].update(bits=[]))
    case("missing budget member", lambda e: e["projets"].pop("envelope_proof"))
    case("one cell too few", lambda e: e["approval"]["cells"].pop())
    case("one bit too many", lambda e: e["projets"]["bits"].append(cell))
    case("padded base64url", lambda e: e["single"]["cells"].__setitem__(0, cell + "="))
    case("short cell", lambda e: e["single"]["cells"].__setitem__(0, cell[:-4]))
    case("a number for a cell", lambda e: e["single"]["cells"].__setitem__(0, 7))
    identity = b64u_encode(b"\x01" + bytes(31) + b64u_decode(cell, field="cell")[32:])
    case("identity α", lambda e: e["single"]["cells"].__setitem__(0, identity))
    wrong_size = encrypted["projets"]["envelope_proof"] + "AAAA"
    case("envelope proof size", lambda e: e["projets"].__setitem__("envelope_proof", wrong_size))
    case("not an object", lambda e: e.__setitem__("judgment", []))
    return cases


def test_the_same_malformed_wire_forms_are_refused_by_both(node: NodeDriver) -> None:
    questions, choices = pick(*KINDS)
    key = election_key()
    encrypted = node_encrypts(node, questions, choices, key)
    for name, mutated in [*_malformed(encrypted), ("a list", [encrypted])]:
        with pytest.raises(MalformedEncryptedBallotError) as caught:
            verify_encrypted_ballot(questions, key, CONTEXT, mutated)
        answer = node_verifies(node, questions, key, mutated)
        assert answer["name"] == "MalformedEncryptedBallotError", (name, answer)
        assert (answer["question"], answer["part"]) == (caught.value.question, caught.value.part), (
            name,
            answer,
            str(caught.value),
        )


# -- the booth checks the rules first ------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "choice"),
    [
        ("single", "o9"),
        ("approval", []),
        ("projets", [o.id for o in QUESTIONS["projets"].options]),  # over the envelope
        ("judgment", {"o0": 0, "o1": 1}),
        ("ranked", ["o0", "o1", "o2", "o3"]),
    ],
)
def test_node_refuses_to_encrypt_choices_that_break_the_rules(
    node: NodeDriver, kind: str, choice: Any
) -> None:
    questions, _ = pick(kind)
    answer = node(
        "encrypt_ballot",
        questions=[q.to_json() for q in questions],
        choices={kind: choice},
        context=wire_context(CONTEXT),
        key=b64u_encode(election_key().encoded),
    )
    assert answer["name"] == "InvalidChoicesError", answer


def test_the_manifest_hash_is_sha256_of_its_canonical_json(node: NodeDriver) -> None:
    manifest = {
        "format": "parvis-manifest-v2",
        "election": ELECTION,
        "title": {"fr": "Budget é", "en": "Budget"},
        "questions": [q.to_json() for q in QUESTIONS.values()],
        "encryption": {"group": "ed25519", "joint_key": b64u_encode(election_key().encoded)},
    }
    answer = node.ok("manifest_hash", manifest=manifest)
    assert b64u_decode(answer["hash"], field="hash") == hashlib.sha256(canonical(manifest)).digest()
