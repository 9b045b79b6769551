"""The voting booth's pure functions (web/src/lib, TypeScript) against Parvis's Python.

The booth runs in the citizen's browser; whatever it computes must be byte-for-byte what
the server and any verifier compute. ``web/src/lib`` is bundled for Node with esbuild (as
the booth is for the browser) and driven through ``tests/node/booth_units.mjs``:

* RFC 8785 JCS against ``ballot.jcs.canonical`` on generated JSON values;
* the token message layout and nullifier against ``ballot.token``;
* RFC 9162 inclusion proofs against ``audit.merkle`` (every position of trees up to 40
  leaves, tampered proofs) and the transparency-dev probe suite;
* C2SP checkpoint signatures against ``audit.note`` (and the published vectors);
* ballot rules against ``ballot.questions.check_choices`` on generated answers;
* issuance end to end: the booth blinds, Python's ``blind_sign`` signs, the booth
  finalizes; the right is readable by ``ballot.client.VotingRight`` and the cast request
  verifies in ``ballot.token.verify_cast``; leaf hash and tracking code match
  ``ballot.board``; a key that is not the committed one is refused.

These tests fail, never skip, when Node.js or ``web/node_modules`` is missing (run
``make node-deps``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nacl.signing
import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit import merkle
from audit.errors import InclusionProofError
from audit.note import Checkpoint, Signer, open_checkpoint, sign_note
from audit.promise import PromiseBody, open_promise
from ballot import rsabssa
from ballot.board import ballot_entry, entry_leaf_hash, tracking_code
from ballot.client import VotingRight, obtain_voting_right
from ballot.encrypted_ballot import BallotProofError, verify_encrypted_ballot
from ballot.group import Point, Scalar
from ballot.jcs import canonical
from ballot.questions import InvalidChoiceError, check_choices, parse_questions
from ballot.token import TokenMessage, b64u_decode, b64u_encode, nullifier, parse_cast, verify_cast
from ballot.transcript import Context
from tests.audit.vectors import load_inclusion_probes
from tests.support.node import NodeDriver, start_node

pytestmark = pytest.mark.node

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "node" / "booth_units.mjs"
ELECTION = uuid.UUID("0c6d1c1e-8a5b-4bd4-9f57-0a3b7f3c2d11")
VARIANT = "RSABSSA-SHA384-PSS-Randomized"


Node = NodeDriver


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    driver = start_node(tmp_path_factory.mktemp("booth"), SCRIPT, needs="@cloudflare/blindrsa-ts")
    try:
        yield driver
    finally:
        driver.close()


def b64u(data: bytes) -> str:
    return b64u_encode(data)


# --- RFC 8785 ---------------------------------------------------------------------------

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=JSON_VALUES)
def test_jcs_equals_python(node: Node, value: Any) -> None:
    # text() may produce lone surrogates, which are not JSON (I-JSON): both sides refuse.
    try:
        expected: str | None = canonical(value).decode("utf-8")
    except (UnicodeEncodeError, ValueError, TypeError):
        expected = None
    answer = node("jcs_json", json=json.dumps(value))
    if expected is None:
        assert "error" in answer
    else:
        assert answer.get("text") == expected


@pytest.mark.parametrize(
    "value",
    [
        {"b": 1, "a": [3, 2, 1], "é": '\u0000\u001f\u007f"\\/', "\U0001f600": "astral"},
        {"\u20ac": 1, "\r": 2, "\U0001f600": 3, "\ufb33": 4, "1": 5, "10": 6, "2": 7},
        [1e21, 1e-7, -0.0, 0.1, 2**53 - 1, -(2**53) + 1, 5e-324, 1.7976931348623157e308],
        {"choices": {"budget": ["jardin", "velos"], "parc": "gare"}, "seq": 1},
    ],
)
def test_jcs_edge_cases(node: Node, value: Any) -> None:
    assert node.ok("jcs_json", json=json.dumps(value))["text"] == canonical(value).decode()


def test_jcs_refuses_what_is_not_i_json(node: Node) -> None:
    assert "error" in node("jcs_json", json='"\\ud800"')
    assert "error" in node("jcs_json", json='{"\\udc00": 1}')


def test_board_format_example_ballot(node: Node) -> None:
    ballot = {
        "election": str(ELECTION),
        "seq": 1,
        "choices": {"budget": ["jardin", "velos"], "parc": "gare"},
    }
    text = node.ok("jcs", value=ballot)["text"]
    assert text == (
        '{"choices":{"budget":["jardin","velos"],"parc":"gare"},'
        '"election":"0c6d1c1e-8a5b-4bd4-9f57-0a3b7f3c2d11","seq":1}'
    )


# --- encodings, token message, tracking codes -------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 2, 3, 31, 32, 33, 96])
def test_base64_round_trips_and_is_canonical(node: Node, size: int) -> None:
    data = hashlib.sha512(bytes([size])).digest()[: size % 64] + bytes(max(0, size - 64))
    assert node.ok("b64u", text=b64u(data))["bytes"] == b64u(data)
    std = base64.b64encode(data).decode()
    assert node.ok("b64", text=std)["bytes"] == b64u(data)


@pytest.mark.parametrize("text", ["QQ=", "QR", "Q", "A+B", "AA==", " AA", "QUJD\n"])
def test_base64url_refuses_non_canonical_text(node: Node, text: str) -> None:
    assert "error" in node("b64u", text=text)


@pytest.mark.parametrize("text", ["QQ", "QR==", "QQ=", "A_8=", "QUJD\n"])
def test_base64_refuses_non_canonical_text(node: Node, text: str) -> None:
    assert "error" in node("b64", text=text)


def test_token_message_layout_and_nullifier(node: Node) -> None:
    for i in range(20):
        vk = bytes(nacl.signing.SigningKey(hashlib.sha256(b"vk%d" % i).digest()).verify_key)
        nonce = hashlib.sha256(b"nonce%d" % i).digest()
        election = uuid.UUID(bytes=hashlib.sha256(b"e%d" % i).digest()[:16], version=4)
        answer = node.ok("token_message", election=str(election), vk=b64u(vk), nonce=b64u(nonce))
        msg = TokenMessage(election_id=election.bytes, voter_key=vk, nonce=nonce).to_bytes()
        assert answer["msg"] == b64u(msg)
        assert answer["vk"] == b64u(vk)
        assert answer["nullifier"] == b64u(nullifier(msg))
        assert b64u_decode(answer["msg"], field="msg")[:16] == b"parvis-ballot-v1"


@pytest.mark.parametrize(
    "text",
    [
        "0C6D1C1E-8A5B-4BD4-9F57-0A3B7F3C2D11",
        "0c6d1c1e8a5b4bd49f570a3b7f3c2d11",
        "{0c6d1c1e-8a5b-4bd4-9f57-0a3b7f3c2d11}",
        "0c6d1c1e-8a5b-4bd4-9f57-0a3b7f3c2d1",
    ],
)
def test_election_ids_must_be_canonical(node: Node, text: str) -> None:
    assert "error" in node("election_id", text=text)


def test_tracking_codes_equal_python(node: Node) -> None:
    for i in range(50):
        leaf = hashlib.sha256(b"leaf%d" % i).digest()
        code = tracking_code(leaf)
        assert node.ok("tracking_code", leaf=b64u(leaf))["code"] == code
        messy = code.lower().replace("-", " ").replace("o", "0").replace("i", "1")
        assert node.ok("normalise", input=messy)["code"] == code
    # board-format.md §9
    example = bytes.fromhex("6864c72139b659aa04c01cb14a211a6bdd37bbcc54d45048ebbdbc7304ffaa52")
    assert node.ok("tracking_code", leaf=b64u(example))["code"] == "NBSM-OIJZ-WZM2-UBGA"
    assert node.ok("normalise", input="nbsm 0ijz wzm2 ubga")["code"] == "NBSM-OIJZ-WZM2-UBGA"
    for bad in ("NBSM-OIJZ-WZM2", "NBSM-OIJZ-WZM2-UBG9", ""):
        assert node.ok("normalise", input=bad)["code"] is None


# --- RFC 9162 inclusion proofs --------------------------------------------------------------


def test_inclusion_proofs_from_audit_merkle_verify(node: Node) -> None:
    leaves = [merkle.leaf_hash(b"entry %d" % i) for i in range(40)]
    cases, roots = [], []
    for size in range(1, 41):
        root = merkle.root(leaves[:size])
        for index in range(size):
            proof = merkle.inclusion_proof(leaves, index=index, size=size)
            cases.append(
                {
                    "leaf": b64u(leaves[index]),
                    "index": index,
                    "size": size,
                    "proof": [b64u(p) for p in proof],
                }
            )
            roots.append(b64u(root))
    results = node.ok("inclusion_many", cases=cases)["results"]
    assert results == roots


def test_tampered_inclusion_proofs_fail_like_python(node: Node) -> None:
    leaves = [merkle.leaf_hash(b"entry %d" % i) for i in range(13)]
    root = merkle.root(leaves)
    proof = merkle.inclusion_proof(leaves, index=6, size=13)
    flipped = [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]
    variants = {
        "flipped": (leaves[6], 6, 13, flipped),
        "wrong index": (leaves[6], 7, 13, proof),
        "wrong size": (leaves[6], 6, 12, proof),
        "too long": (leaves[6], 6, 13, [*proof, proof[0]]),
        "too short": (leaves[6], 6, 13, proof[:-1]),
        "index past size": (leaves[6], 13, 13, proof),
        "other leaf": (leaves[5], 6, 13, proof),
    }
    refused = []
    for name, (leaf, index, size, path) in variants.items():
        try:
            merkle.verify_inclusion(leaf_hash=leaf, index=index, size=size, proof=path, root=root)
            python_refuses = False
        except InclusionProofError:
            python_refuses = True
        answer = node(
            "inclusion",
            leaf=b64u(leaf),
            index=index,
            size=size,
            proof=[b64u(p) for p in path],
            root=b64u(root),
        )
        assert ("error" in answer) == python_refuses, name
        if python_refuses:
            refused.append(name)
    # "wrong size" passes on both sides: this proof's shape is the same for 12 and 13
    # leaves, which is why the tracker takes the size from the signed checkpoint.
    assert refused == [name for name in variants if name != "wrong size"]
    assert node.ok(
        "inclusion",
        leaf=b64u(leaves[6]),
        index=6,
        size=13,
        proof=[b64u(p) for p in proof],
        root=b64u(root),
    )["ok"]


def test_rfc6962_probe_suite(node: Node) -> None:
    probes = load_inclusion_probes()
    assert len(probes) == 98
    for probe in probes:
        answer = node(
            "inclusion",
            leaf=b64u(probe.leaf_hash),
            index=probe.index,
            size=probe.size,
            proof=[b64u(p) for p in probe.proof],
            root=b64u(probe.root),
        )
        assert ("error" in answer) == probe.want_err, probe.path


# --- C2SP signed notes ----------------------------------------------------------------------

ORIGIN = "parvis.test/board/0c6d1c1e"


def _signer(label: bytes, name: str = ORIGIN) -> Signer:
    return Signer(name=name, seed=hashlib.sha256(label).digest())


def test_checkpoints_signed_by_audit_note_verify(node: Node) -> None:
    signer = _signer(b"board")
    for size in (0, 1, 7, 2**40):
        body = Checkpoint(origin=ORIGIN, size=size, root_hash=hashlib.sha256(b"%d" % size).digest())
        note = sign_note(body.text, signers=[signer])
        open_checkpoint(note, origin=ORIGIN, log_key=signer.verifier)  # Python agrees
        answer = node.ok("checkpoint", note=note, origin=ORIGIN, key=signer.verifier.text)
        assert answer == {"origin": ORIGIN, "size": size, "root": b64u(body.root_hash)}


def test_key_ids_equal_audit_note(node: Node) -> None:
    for i in range(10):
        signer = _signer(b"k%d" % i, name=f"example.org/log{i}")
        answer = node.ok("verifier_key", text=signer.verifier.text)
        assert answer["key_id"] == b64u(signer.verifier.key_id)
        assert answer["public_key"] == b64u(signer.verifier.public_key)


def test_checkpoint_rejections(node: Node) -> None:
    signer, other = _signer(b"board"), _signer(b"impostor")
    body = Checkpoint(origin=ORIGIN, size=5, root_hash=bytes(32)).text
    note = sign_note(body, signers=[signer])
    key = signer.verifier.text
    cases = {
        "altered size": note.replace("\n5\n", "\n6\n", 1),
        "signed by another key of the same name": sign_note(body, signers=[other]),
        "no signature line": body + "\n",
        "truncated signature": note[:-10] + "\n",
        "twice the board key": note + note.split("\n\n", 1)[1],
    }
    for name, text in cases.items():
        assert "error" in node("checkpoint", note=text, origin=ORIGIN, key=key), name
    other_origin = sign_note(
        Checkpoint(origin="elsewhere", size=5, root_hash=bytes(32)).text, signers=[signer]
    )
    assert "error" in node("checkpoint", note=other_origin, origin=ORIGIN, key=key)
    # A signature by an unknown key is ignored (signed-note "Signatures").
    witness = _signer(b"w", name="witness.example")
    cosigned = sign_note(body, signers=[signer, witness])
    assert node.ok("checkpoint", note=cosigned, origin=ORIGIN, key=key)["size"] == 5
    bad_id = key.replace("+", "+0", 1)
    assert "error" in node("verifier_key", text=bad_id)


def test_promises_signed_by_audit_promise_verify(node: Node) -> None:
    signer = _signer(b"board")
    board = {"origin": ORIGIN, "key": signer.verifier.text}
    leaf = merkle.leaf_hash(b"ballot")
    note = PromiseBody(origin=ORIGIN, leaf_hash=leaf, integrate_by=1_700_000_060).sign(signer)
    open_promise(note, log_key=signer.verifier, origin=ORIGIN, leaf_hash=leaf)  # Python agrees
    assert node.ok("promise", note=note, board=board, leaf=b64u(leaf)) == {
        "integrate_by": 1_700_000_060
    }
    other_leaf = merkle.leaf_hash(b"other")
    assert node("promise", note=note, board=board, leaf=b64u(other_leaf))["reason"] == "promise"
    impostor = {**board, "key": _signer(b"impostor").verifier.text}
    assert node("promise", note=note, board=impostor, leaf=b64u(leaf))["reason"] == "promise"
    elsewhere = PromiseBody(origin="elsewhere", leaf_hash=leaf, integrate_by=1).sign(
        Signer(name=ORIGIN, seed=hashlib.sha256(b"board").digest())
    )
    assert "error" in node("promise", note=elsewhere, board=board, leaf=b64u(leaf))
    # A checkpoint is not a promise, and a promise is not a checkpoint.
    checkpoint = sign_note(Checkpoint(origin=ORIGIN, size=1, root_hash=leaf).text, signers=[signer])
    assert "error" in node("promise", note=checkpoint, board=board, leaf=b64u(leaf))
    assert "error" in node("checkpoint", note=note, origin=ORIGIN, key=signer.verifier.text)


def test_published_go_checksum_database_checkpoint(node: Node) -> None:
    note = (
        "go.sum database tree\n65664258\nWVVNVD2qx+fTq31zkj6UAqxT5X6HvGphGM+o8Thnbsg=\n\n"
        "\u2014 sum.golang.org Az3grligJmgX7KGyGPKybykNTh3VgsbLvUuvOwrM5zLVlulmFp2wdvbxOw74/"
        "gcNxURShXEpb7RXcs3+BYflYN+w0gQ=\n"
    )
    key = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
    answer = node.ok("checkpoint", note=note, origin="go.sum database tree", key=key)
    assert answer["size"] == 65664258


# --- ballot rules ---------------------------------------------------------------------------

QUESTIONS = [
    {
        "id": "parc",
        "type": "single",
        "title": {"fr": "Parc"},
        "options": [{"id": "gare", "title": "Gare"}, {"id": "lac", "title": "Lac"}],
    },
    {
        "id": "pref",
        "type": "approval",
        "title": "Préférences",
        "min": 1,
        "max": 2,
        "options": [{"id": o, "title": o} for o in ("a", "b", "c")],
    },
    {
        "id": "budget",
        "type": "budget",
        "title": "Budget",
        "envelope": 1000,
        "max_count": 2,
        "options": [
            {"id": "jardin", "title": "J", "cost": 400},
            {"id": "velos", "title": "V", "cost": 500},
            {"id": "bancs", "title": "B", "cost": 200},
        ],
    },
    {
        "id": "mj",
        "type": "majority_judgment",
        "title": "MJ",
        "grades": ["Très bien", "Bien", "Passable"],
        "options": [{"id": "x", "title": "X"}, {"id": "y", "title": "Y"}],
    },
    {
        "id": "rank",
        "type": "ranked",
        "title": "Rang",
        "min": 1,
        "max": 2,
        "options": [{"id": o, "title": o} for o in ("p", "q", "r")],
    },
]
PARSED = parse_questions(QUESTIONS)
MANIFEST_QUESTIONS = [q.to_json() for q in PARSED]
OPTION_LISTS = {
    "pref": st.lists(st.sampled_from(["a", "b", "c", "z"]), max_size=4),
    "budget": st.lists(st.sampled_from(["jardin", "velos", "bancs"]), max_size=4),
    "rank": st.lists(st.sampled_from(["p", "q", "r"]), max_size=4),
}
CHOICES = st.fixed_dictionaries(
    {
        "parc": st.sampled_from(["gare", "lac", "mer"]) | st.just(["gare"]),
        **OPTION_LISTS,
        "mj": st.dictionaries(st.sampled_from(["x", "y", "w"]), st.integers(-1, 3), max_size=3),
    }
).flatmap(
    lambda full: st.sets(st.sampled_from(sorted(full)), max_size=1).map(
        lambda dropped: {k: v for k, v in full.items() if k not in dropped}
    )
)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(choices=CHOICES)
def test_rules_agree_with_python(node: Node, choices: dict[str, Any]) -> None:
    try:
        check_choices(PARSED, choices)
        python_ok = True
    except InvalidChoiceError:
        python_ok = False
    problems = node.ok("rules", questions=MANIFEST_QUESTIONS, choices=choices)["problems"]
    assert (problems == []) == python_ok, problems


def test_rule_problems_name_the_rule(node: Node) -> None:
    base = {
        "parc": "gare",
        "pref": ["a"],
        "budget": ["jardin"],
        "mj": {"x": 0, "y": 1},
        "rank": ["q"],
    }
    assert node.ok("rules", questions=MANIFEST_QUESTIONS, choices=base)["problems"] == []

    def problems(**change: Any) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = node.ok(
            "rules", questions=MANIFEST_QUESTIONS, choices={**base, **change}
        )["problems"]
        return result

    assert problems(budget=["jardin", "velos", "bancs"]) == [
        {"question": "budget", "code": "too_many", "max": 2},
        {"question": "budget", "code": "over_budget", "total": 1100, "envelope": 1000},
    ]
    assert problems(budget=["velos", "jardin"])[0]["code"] == "invalid"  # not in option order
    assert problems(pref=[]) == [{"question": "pref", "code": "too_few", "min": 1}]
    assert problems(mj={"x": 0}) == [{"question": "mj", "code": "grade_missing", "options": ["y"]}]
    assert problems(rank=[]) == [{"question": "rank", "code": "rank_too_few", "min": 1}]
    assert problems(rank=["r", "q", "p"]) == [
        {"question": "rank", "code": "rank_too_many", "max": 2}
    ]
    assert problems(parc="mer") == [{"question": "parc", "code": "choose_one"}]


# --- issuance and casting, end to end with the Python side ------------------------------------


@pytest.fixture(scope="module")
def issuer() -> Any:
    return rsabssa.generate_key(2048)


def _manifest(key: Any, **change: Any) -> dict[str, Any]:
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    manifest = {
        "format": "parvis-manifest-v1",
        "election": str(ELECTION),
        "issuer": {
            "spki": b64u(spki),
            "key_id": b64u(hashlib.sha256(spki).digest()),
            "variant": VARIANT,
        },
        "board": {"origin": ORIGIN, "key": _signer(b"board").verifier.text},
        "revote": True,
    }
    manifest.update(change)
    return manifest


def test_the_booth_refuses_a_key_that_is_not_committed(node: Node, issuer: Any) -> None:
    manifest = _manifest(issuer)
    key_id = manifest["issuer"]["key_id"]
    spki = node.ok("committed_key", manifest=manifest, election=str(ELECTION), page_key_id=key_id)[
        "spki"
    ]
    assert spki == manifest["issuer"]["spki"]
    # a per-voter key served with a matching manifest but not the page's key id
    tagged = _manifest(rsabssa.generate_key(2048))
    assert "error" in node(
        "committed_key", manifest=tagged, election=str(ELECTION), page_key_id=key_id
    )
    # a manifest whose key id does not hash its key
    forged = _manifest(issuer, issuer={**manifest["issuer"], "key_id": tagged["issuer"]["key_id"]})
    assert "error" in node(
        "committed_key",
        manifest=forged,
        election=str(ELECTION),
        page_key_id=tagged["issuer"]["key_id"],
    )
    other = _manifest(issuer, election=str(uuid.uuid4()))
    assert "error" in node(
        "committed_key", manifest=other, election=str(ELECTION), page_key_id=key_id
    )
    pss_zero = _manifest(
        issuer, issuer={**manifest["issuer"], "variant": "RSABSSA-SHA384-PSSZERO-Randomized"}
    )
    assert "error" in node(
        "committed_key", manifest=pss_zero, election=str(ELECTION), page_key_id=key_id
    )


def test_issuance_and_casting_interoperate_with_python(node: Node, issuer: Any) -> None:
    manifest = _manifest(issuer)
    public_key = issuer.public_key()
    begun = node.ok("begin", spki=manifest["issuer"]["spki"], election=str(ELECTION))
    blind_sig = rsabssa.blind_sign(issuer, b64u_decode(begun["blinded_msg"], field="b"))
    right = node.ok("finish", handle=begun["handle"], blind_sig=b64u(blind_sig))["right"]
    assert right["last_seq"] == 0
    # The stored form is the Python client's: it loads, and its token verifies.
    python_right = VotingRight.from_json(json.dumps(right))
    python_right.check(public_key)
    assert node.ok("verify_token", spki=manifest["issuer"]["spki"], right=right)["valid"]

    choices = {"budget": ["jardin", "velos"], "parc": "gare"}
    signed = node.ok("sign", right=right, choices=choices)
    request = signed["request"]
    assert request["ballot"] == {"election": str(ELECTION), "seq": 1, "choices": choices}
    assert signed["right"]["last_seq"] == 1
    verified = verify_cast(public_key, expected_election_id=ELECTION, cast=json.dumps(request))
    assert verified.seq == 1
    leaf = entry_leaf_hash(ballot_entry(parse_cast(request)))
    assert signed["leaf_hash"] == b64u(leaf)

    # Re-vote: the next ballot on the same token carries seq 2 and the same nullifier.
    again = node.ok("sign", right=signed["right"], choices={"budget": [], "parc": "lac"})
    second = verify_cast(
        public_key, expected_election_id=ELECTION, cast=json.dumps(again["request"])
    )
    assert second.seq == 2
    assert second.nullifier == verified.nullifier

    # The receipt check: leaf, tracking code, checkpoint signature and inclusion proof.
    leaves = [merkle.leaf_hash(b"manifest"), merkle.leaf_hash(b"x"), leaf, merkle.leaf_hash(b"y")]
    signer = _signer(b"board")
    note = sign_note(
        Checkpoint(origin=ORIGIN, size=4, root_hash=merkle.root(leaves)).text, signers=[signer]
    )
    proof = [b64u(p) for p in merkle.inclusion_proof(leaves, index=2, size=4)]
    board = manifest["board"]
    receipt = {
        "leaf": b64u(leaf),
        "receipt_leaf": b64u(leaf),
        "code": tracking_code(leaf),
        "index": 2,
        "tree_size": 4,
        "proof": proof,
        "checkpoint": note,
        "board": board,
    }
    assert node.ok("receipt", **receipt)["size"] == 4
    wrong = {
        "leaf": {**receipt, "receipt_leaf": b64u(leaves[1])},
        "code": {**receipt, "code": tracking_code(leaves[1])},
        "proof": {**receipt, "index": 1},
        "size": {**receipt, "tree_size": 5},
        "checkpoint": {**receipt, "board": {**board, "key": _signer(b"x").verifier.text}},
    }
    for reason, request_ in wrong.items():
        assert node("receipt", **request_)["reason"] == reason


def test_a_python_right_is_usable_by_the_booth(node: Node, issuer: Any) -> None:
    public_key = issuer.public_key()
    right = obtain_voting_right(
        public_key,
        election_id=ELECTION,
        committed_key_id=rsabssa.key_id(public_key),
        transport=lambda blinded: rsabssa.blind_sign(issuer, blinded),
    )
    stored = json.loads(right.to_json())
    assert node.ok("parse_right", right=stored, election=str(ELECTION))["right"] == stored
    signed = node.ok("sign", right=stored, choices={"parc": "lac"})
    verify_cast(public_key, expected_election_id=ELECTION, cast=json.dumps(signed["request"]))
    # Tampered stored rights are refused rather than used to sign.
    other_key = b64u(hashlib.sha256(b"other").digest())
    for bad in (
        {**stored, "signing_key": other_key},
        {**stored, "election": str(uuid.uuid4())},
        {**stored, "format": "v0"},
        {**stored, "last_seq": -1},
        {**stored, "extra": 1},
    ):
        assert "error" in node("parse_right", right=bad, election=str(ELECTION))


def test_the_booth_takes_the_issuer_key_of_an_encrypted_election(node: Node, issuer: Any) -> None:
    """A v2 manifest (docs/board-format.md §10.2) carries the same issuer member as v1."""
    manifest = _manifest(issuer, format="parvis-manifest-v2")
    key_id = manifest["issuer"]["key_id"]
    answer = node.ok("committed_key", manifest=manifest, election=str(ELECTION), page_key_id=key_id)
    assert answer["spki"] == manifest["issuer"]["spki"]
    unknown = _manifest(issuer, format="parvis-manifest-v3")
    assert "error" in node(
        "committed_key", manifest=unknown, election=str(ELECTION), page_key_id=key_id
    )


def test_an_encrypted_ballot_is_signed_like_a_clear_one(node: Node, issuer: Any) -> None:
    """§10.3: the ballot carries ``encrypted`` instead of ``choices``; ``ballot_sig`` is the
    token's vk's Ed25519 signature over JCS(ballot), and the leaf hash is the board's."""
    public_key = issuer.public_key()
    right = obtain_voting_right(
        public_key,
        election_id=ELECTION,
        committed_key_id=rsabssa.key_id(public_key),
        transport=lambda blinded: rsabssa.blind_sign(issuer, blinded),
    )
    stored = json.loads(right.to_json())
    encrypted = {"parc": {"cells": ["AA"], "cell_proofs": [], "sum_proofs": []}}
    signed = node.ok("sign", right=stored, encrypted=encrypted)
    request = signed["request"]
    assert request["ballot"] == {"election": str(ELECTION), "seq": 1, "encrypted": encrypted}
    assert request["token"] == stored["token"]
    vk = TokenMessage.from_bytes(b64u_decode(request["token"]["msg"], field="msg")).voter_key
    nacl.signing.VerifyKey(vk).verify(
        canonical(request["ballot"]), b64u_decode(request["ballot_sig"], field="sig")
    )
    leaf = merkle.leaf_hash(canonical({"kind": "ballot", "cast": request}))
    assert signed["leaf_hash"] == b64u(leaf)


def _encrypted_manifest(issuer: Any, joint_key: bytes) -> dict[str, Any]:
    questions = parse_questions(
        [
            {
                "id": "budget",
                "type": "budget",
                "title": {"fr": "Budget"},
                "envelope": 1000,
                "options": [
                    {"id": "jardin", "title": {"fr": "Jardin"}, "cost": 400},
                    {"id": "velos", "title": {"fr": "Vélos"}, "cost": 500},
                    {"id": "bancs", "title": {"fr": "Bancs"}, "cost": 200},
                ],
            },
            {
                "id": "parc",
                "type": "single",
                "title": {"fr": "Parc"},
                "options": [
                    {"id": "gare", "title": {"fr": "Gare"}},
                    {"id": "lac", "title": {"fr": "Lac"}},
                ],
            },
        ]
    )
    return _manifest(
        issuer,
        format="parvis-manifest-v2",
        questions=[q.to_json() for q in questions],
        encryption={"group": "ed25519", "joint_key": b64u(joint_key), "threshold": 1},
    )


def test_the_booth_casts_an_encrypted_ballot_python_verifies(node: Node, issuer: Any) -> None:
    """docs/board-format.md §10.3, the booth's whole step: the joint key and
    SHA-256(JCS(manifest)) from the v2 manifest, the choices encrypted with the right's vk in
    every proof's context, the ballot signed; Python checks the signature and every proof
    under the context it builds itself, and refuses the same cells under another right."""
    public_key = issuer.public_key()

    def new_right() -> dict[str, Any]:
        right = obtain_voting_right(
            public_key,
            election_id=ELECTION,
            committed_key_id=rsabssa.key_id(public_key),
            transport=lambda blinded: rsabssa.blind_sign(issuer, blinded),
        )
        stored: dict[str, Any] = json.loads(right.to_json())
        return stored

    key = Point.base_times(Scalar.random())
    manifest = _encrypted_manifest(issuer, key.encoded)
    questions = parse_questions(manifest["questions"])
    right = new_right()
    choices = {"budget": ["jardin", "bancs"], "parc": "lac"}
    signed = node.ok("sign_encrypted", manifest=manifest, right=right, choices=choices)
    request = signed["request"]
    assert set(request["ballot"]) == {"election", "seq", "encrypted"}
    assert signed["right"]["last_seq"] == 1
    vk = TokenMessage.from_bytes(b64u_decode(request["token"]["msg"], field="msg")).voter_key
    nacl.signing.VerifyKey(vk).verify(
        canonical(request["ballot"]), b64u_decode(request["ballot_sig"], field="sig")
    )
    context = Context(str(ELECTION), hashlib.sha256(canonical(manifest)).digest(), vk)
    verify_encrypted_ballot(questions, key, context, request["ballot"]["encrypted"])
    assert signed["leaf_hash"] == b64u(
        merkle.leaf_hash(canonical({"kind": "ballot", "cast": request}))
    )
    other_vk = TokenMessage.from_bytes(
        b64u_decode(new_right()["token"]["msg"], field="m")
    ).voter_key
    with pytest.raises(BallotProofError):
        verify_encrypted_ballot(
            questions,
            key,
            Context(str(ELECTION), context.manifest_hash, other_vk),
            request["ballot"]["encrypted"],
        )
    # Another manifest (here another title) is another hash: every proof fails under it.
    retitled = hashlib.sha256(canonical({**manifest, "title": {"fr": "Autre"}})).digest()
    with pytest.raises(BallotProofError):
        verify_encrypted_ballot(
            questions, key, Context(str(ELECTION), retitled, vk), request["ballot"]["encrypted"]
        )


@pytest.mark.parametrize(
    "joint_key",
    [
        bytes([1]) + bytes(31),  # the identity: ballots would be readable by anyone
        bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
        ((2**255 - 19) + 1).to_bytes(32, "little"),  # non-canonical
    ],
)
def test_the_booth_refuses_an_unusable_joint_key(node: Node, issuer: Any, joint_key: bytes) -> None:
    manifest = _encrypted_manifest(issuer, joint_key)
    right = {"format": "x"}
    answer = node("sign_encrypted", manifest=manifest, right=right, choices={})
    assert answer["error"].startswith("EncryptedBallotError: encryption.joint_key"), answer
