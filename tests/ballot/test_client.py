"""The voter client, read as the protocol: issuance, storage, casting, re-voting."""

from __future__ import annotations

import json
import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from ballot import rsabssa
from ballot.client import PendingIssuance, VotingRight, begin_issuance, obtain_voting_right
from ballot.errors import (
    InvalidSignatureError,
    MalformedCastError,
    OutOfRangeError,
    UncommittedKeyError,
)
from ballot.token import TOKEN_VARIANT, TokenMessage, b64u_decode, b64u_encode, verify_cast

ELECTION = uuid.UUID("3c0f6f63-8a7e-4f4e-9f0c-2b1d5e6a7c89")


class CountingRng:
    """Deterministic randomness: a counter expanded into bytes (tests only)."""

    def __init__(self, seed: int) -> None:
        self.state = seed

    def __call__(self, size: int) -> bytes:
        import hashlib

        out = b""
        while len(out) < size:
            self.state += 1
            out += hashlib.sha512(self.state.to_bytes(8, "big")).digest()
        return out[:size]


def test_end_to_end_as_in_the_protocol(key_2048: rsa.RSAPrivateKey) -> None:
    public_key = key_2048.public_key()
    # The manifest, entry 0 of the board, commits the election key by its key id.
    committed_key_id = rsabssa.key_id(public_key)

    # 1-3. The device makes vk, a nonce and the token message, prepares and blinds.
    pending = begin_issuance(public_key, election_id=ELECTION, committed_key_id=committed_key_id)
    message = TokenMessage.from_bytes(pending.msg)
    assert message.election_id == ELECTION.bytes
    # The issuer sees only the blinded message: neither msg nor the prefix occur in it.
    assert pending.msg not in pending.blinded_msg
    assert len(pending.blinded_msg) == 256

    # 4. The issuer signs blindly (and checks its own output).
    blind_sig = rsabssa.blind_sign(key_2048, pending.blinded_msg)

    # 5. The device finalizes: an ordinary RSA-PSS signature over msg_prefix ‖ msg.
    right = pending.finish(blind_sig)
    right.check(public_key)
    rsabssa.verify(
        public_key,
        right.token.msg_prefix + right.token.msg,
        sig=right.token.sig,
        variant=TOKEN_VARIANT,
    )

    # The voting right survives storage.
    stored = right.to_json()
    assert VotingRight.from_json(stored) == right

    # Casting: anonymous, verified against the manifest key and the election id.
    right, request = right.cast({"budget": ["p1", "p4"]})
    verified = verify_cast(public_key, expected_election_id=ELECTION, cast=request.to_json_bytes())
    assert verified.seq == 1
    assert verified.choices == {"budget": ["p1", "p4"]}

    # Re-voting: same token, same nullifier, a higher seq, also after reloading.
    reloaded = VotingRight.from_json(right.to_json())
    assert reloaded.last_seq == 1
    _right, second = reloaded.cast({"budget": ["p2"]})
    reverified = verify_cast(public_key, expected_election_id=ELECTION, cast=second.to_json())
    assert reverified.seq == 2
    assert reverified.nullifier == verified.nullifier


def test_the_client_refuses_a_key_that_is_not_committed(
    key_2048: rsa.RSAPrivateKey, key_3072: rsa.RSAPrivateKey
) -> None:
    """A per-voter ("tagging") key is refused before anything is blinded or sent."""
    sent: list[bytes] = []
    committed = rsabssa.key_id(key_3072.public_key())
    with pytest.raises(UncommittedKeyError):
        obtain_voting_right(
            key_2048.public_key(),
            election_id=ELECTION,
            committed_key_id=committed,
            transport=lambda blinded: sent.append(blinded) or b"",  # type: ignore[func-returns-value]
        )
    assert sent == []


@pytest.mark.parametrize("committed", [b"", b"\x00" * 31, b"\x00" * 32, "ab" * 16])
def test_the_client_refuses_a_malformed_or_wrong_key_id(
    key_2048: rsa.RSAPrivateKey, committed: object
) -> None:
    with pytest.raises(UncommittedKeyError):
        begin_issuance(key_2048.public_key(), election_id=ELECTION, committed_key_id=committed)  # type: ignore[arg-type]


def test_a_wrong_blind_signature_is_detected(
    key_2048: rsa.RSAPrivateKey, key_3072: rsa.RSAPrivateKey
) -> None:
    public_key = key_2048.public_key()
    pending = begin_issuance(
        public_key, election_id=ELECTION, committed_key_id=rsabssa.key_id(public_key)
    )
    n = public_key.public_numbers().n
    # A signature from the right key over another blinded message...
    other = begin_issuance(
        public_key, election_id=ELECTION, committed_key_id=rsabssa.key_id(public_key)
    )
    with pytest.raises(InvalidSignatureError):
        pending.finish(rsabssa.blind_sign(key_2048, other.blinded_msg))
    # ... random bytes, and values out of range.
    with pytest.raises(InvalidSignatureError):
        pending.finish((12345).to_bytes(256, "big"))
    with pytest.raises(OutOfRangeError):
        pending.finish(n.to_bytes(256, "big"))


def test_injected_randomness_makes_issuance_reproducible(key_2048: rsa.RSAPrivateKey) -> None:
    public_key = key_2048.public_key()
    kid = rsabssa.key_id(public_key)
    first = begin_issuance(
        public_key, election_id=ELECTION, committed_key_id=kid, rng=CountingRng(7)
    )
    second = begin_issuance(
        public_key, election_id=ELECTION, committed_key_id=kid, rng=CountingRng(7)
    )
    third = begin_issuance(
        public_key, election_id=ELECTION, committed_key_id=kid, rng=CountingRng(8)
    )
    assert first == second
    assert first.blinded_msg != third.blinded_msg


def test_pending_issuance_and_voting_right_hide_secrets_in_repr(
    key_2048: rsa.RSAPrivateKey,
) -> None:
    public_key = key_2048.public_key()
    pending = begin_issuance(
        public_key, election_id=ELECTION, committed_key_id=rsabssa.key_id(public_key)
    )
    text = repr(pending)
    for secret in (pending.inv, pending.signing_key_seed, pending.msg_prefix):
        assert repr(secret)[2:-1] not in text
    right = pending.finish(rsabssa.blind_sign(key_2048, pending.blinded_msg))
    assert repr(right.signing_key_seed)[2:-1] not in repr(right)
    assert isinstance(pending, PendingIssuance)


def test_seq_must_increase(key_2048: rsa.RSAPrivateKey) -> None:
    public_key = key_2048.public_key()
    right = obtain_voting_right(
        public_key,
        election_id=ELECTION,
        committed_key_id=rsabssa.key_id(public_key),
        transport=lambda b: rsabssa.blind_sign(key_2048, b),
    )
    right, _ = right.cast({}, seq=5)
    assert right.last_seq == 5
    for seq in (5, 4, 0):
        with pytest.raises(MalformedCastError):
            right.cast({}, seq=seq)
    right, request = right.cast({})
    assert request.ballot.seq == 6


def test_voting_right_json_is_strict(key_2048: rsa.RSAPrivateKey) -> None:
    public_key = key_2048.public_key()
    right = obtain_voting_right(
        public_key,
        election_id=ELECTION,
        committed_key_id=rsabssa.key_id(public_key),
        transport=lambda b: rsabssa.blind_sign(key_2048, b),
    )
    document = json.loads(right.to_json())

    def with_(**changes: object) -> str:
        return json.dumps({**document, **changes})

    other_seed = b64u_encode(b"\x05" * 32)
    bad_documents = [
        with_(format="parvis-voting-right-v2"),
        with_(election=str(uuid.uuid4())),  # token issued for another election
        with_(signing_key=other_seed),  # key does not match vk in the token
        with_(last_seq=-1),
        with_(last_seq="1"),
        with_(extra=True),
        json.dumps({k: v for k, v in document.items() if k != "token"}),
        "[]",
        "{",
    ]
    for text in bad_documents:
        with pytest.raises(MalformedCastError):
            VotingRight.from_json(text)
    assert b64u_decode(document["signing_key"], field="k") == right.signing_key_seed
