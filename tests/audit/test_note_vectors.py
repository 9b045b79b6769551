"""C2SP signed-note, tlog-checkpoint and tlog-cosignature against tests/vectors/c2sp/."""

from __future__ import annotations

import base64

import pytest

from audit.merkle import leaf_hash, root
from audit.note import (
    SIG_TYPE_COSIGNATURE_V1,
    SIG_TYPE_ED25519,
    Checkpoint,
    Signer,
    VerifierKey,
    add_signatures,
    key_id,
    open_checkpoint,
    open_note,
    sign_note,
)
from tests.audit.vectors import STANDARD_LEAVES, load_note_examples

EXAMPLES = load_note_examples()


def test_all_examples_were_loaded() -> None:
    assert sorted(EXAMPLES) == [1, 2, 3]
    assert all(e.note.count("\n\n") >= 1 for e in EXAMPLES.values())


@pytest.mark.parametrize("number", [1, 2, 3])
def test_every_example_verifies_with_its_keys(number: int) -> None:
    example = EXAMPLES[number]
    keys = [VerifierKey.parse(text) for text in example.verifier_keys.values()]
    assert keys
    verified = open_note(example.note, verifiers=keys)
    assert {s.key_name for s in verified.signatures} == {k.name for k in keys}
    assert verified.unverified == ()
    assert example.note.startswith(verified.text)


def test_example_1_key_id_and_public_key() -> None:
    example = EXAMPLES[1]
    key = VerifierKey.parse(example.verifier_keys["verifier key"])
    public_key = bytes.fromhex(example.hex_values["public key (hex)"])
    assert key.public_key == public_key
    assert key.key_type == SIG_TYPE_ED25519
    assert key.key_id == bytes.fromhex("530d903a")
    assert key_id("example.com/foo", key_type=0x01, public_key=public_key).hex() == "530d903a"
    assert key.text == example.verifier_keys["verifier key"]
    verified = open_note(example.note, verifiers=[key])
    assert verified.text == "This is an example message.\n"


def test_example_2_real_sum_golang_org_checkpoint() -> None:
    example = EXAMPLES[2]
    key = VerifierKey.parse(example.verifier_keys["verifier key"])
    # The base64 key contains '+': the text is split on '+' at most twice.
    assert "+" in example.verifier_keys["verifier key"].split("+", 2)[2]
    result = open_checkpoint(example.note, origin="go.sum database tree", log_key=key)
    checkpoint = result.checkpoint
    assert checkpoint.origin == "go.sum database tree"
    assert checkpoint.size == 65664258
    assert checkpoint.root_hash == base64.b64decode("WVVNVD2qx+fTq31zkj6UAqxT5X6HvGphGM+o8Thnbsg=")
    assert checkpoint.extensions == ()
    assert result.cosignatures == ()
    assert checkpoint.text + "\n" == example.note.split("\u2014", 1)[0]


def test_example_3_self_made_checkpoint_reproduces_byte_for_byte() -> None:
    example = EXAMPLES[3]
    log = Signer(name="example.com/audit-log", seed=bytes.fromhex(example.secrets["Log key"]))
    witness = Signer(
        name="witness.example.com/w1",
        seed=bytes.fromhex(example.secrets["Witness key"]),
        key_type=SIG_TYPE_COSIGNATURE_V1,
    )
    assert log.verifier.text == example.verifier_keys["log verifier key"]
    assert witness.verifier.text == example.verifier_keys["witness verifier key"]

    tree_root = root([leaf_hash(d) for d in STANDARD_LEAVES])
    assert tree_root.hex().startswith("5dc9da79")
    body = Checkpoint(origin="example.com/audit-log", size=8, root_hash=tree_root).text
    signed = sign_note(body, signers=[log])
    assert example.cosignature_time == 1700000000
    cosigned = add_signatures(signed, signers=[witness], timestamp=example.cosignature_time)
    assert cosigned == example.note

    result = open_checkpoint(
        example.note,
        origin="example.com/audit-log",
        log_key=log.verifier,
        witnesses=[witness.verifier],
        witness_quorum=1,
        now=example.cosignature_time,
    )
    assert result.checkpoint.root_hash == tree_root
    [cosignature] = result.cosignatures
    assert cosignature.key_name == "witness.example.com/w1"
    assert cosignature.timestamp == 1700000000
    # "witness signature bytes = key id (4) || uint64 big-endian time (8) || signature (64)"
    raw = base64.b64decode(example.note.rstrip("\n").rsplit(" ", 1)[1])
    assert len(raw) == 4 + 8 + 64
    assert raw[:4] == witness.verifier.key_id
    assert int.from_bytes(raw[4:12], "big") == 1700000000
