"""The zero-knowledge proofs of encrypted ballots: strong Fiat–Shamir transcripts
(ballot/transcript.py), CDS94 0/1 and range proofs (ballot/zeroone.py, ballot/range_proof.py)
and Chaum–Pedersen decryption proofs (ballot/decryption_proof.py).

Each proof is checked both ways (electionguard-python's property tests): the honest proof
verifies on random inputs, and every tampering — a commitment, a challenge, a response, the
statement, the context, the ballot's key — makes verification raise. A false statement (an
encryption of 2 "proved" to be 0 or 1 by the honest algorithm) never verifies.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ballot.decryption_proof import DecryptionProof, prove_decryption, verify_decryption
from ballot.decryption_proof import _prove as _prove_decryption
from ballot.elgamal import Ciphertext, encrypt
from ballot.group import BASE, IDENTITY, ORDER, GroupError, Point, Scalar, hash_to_scalar
from ballot.range_proof import (
    MAX_VALUES,
    Branch,
    DisjunctiveProof,
    _prove,
    prove_range,
    verify_range,
)
from ballot.transcript import PROTOCOL, Context, ProofError, Transcript
from ballot.zeroone import decode_zero_one, prove_zero_one, verify_zero_one

CONTEXT = Context("budget-2026", bytes(range(32)), b"\x11" * 32)
#: The same ballot's proofs seen under another voting token's key (the Helios replay).
OTHER_VK = dataclasses.replace(CONTEXT, vk=b"\x22" * 32)
OTHER_ELECTION = dataclasses.replace(CONTEXT, election_id="budget-2027")
OTHER_MANIFEST = dataclasses.replace(CONTEXT, manifest_hash=b"\x00" * 32)

nonzero_scalars = st.integers(min_value=1, max_value=ORDER - 1).map(Scalar.of)
seeds = st.binary(min_size=8, max_size=8)
NON_CANONICAL_POINT = bytes.fromhex(
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"
)
ORDER_TWO = bytes.fromhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")


def seeded(seed: bytes) -> Callable[[], Scalar]:
    """A deterministic prover's randomness, so Hypothesis replays a failing example."""
    counter: Iterator[int] = iter(range(1 << 30))
    return lambda: hash_to_scalar(b"test rng", seed, next(counter).to_bytes(4, "big"))


def _key() -> tuple[Scalar, Point]:
    secret = Scalar.random()
    return secret, Point.base_times(secret)


# -- transcripts -----------------------------------------------------------------------------


def test_contexts_are_checked_when_built() -> None:
    with pytest.raises(ValueError, match="election id"):
        Context("", b"\x00" * 32, b"\x00" * 32)
    with pytest.raises(ValueError, match="manifest hash is 32 bytes"):
        Context("e", b"\x00" * 31, b"\x00" * 32)
    with pytest.raises(ValueError, match="vk is a 32-byte"):
        Context("e", b"\x00" * 32, b"\x00" * 33)


def test_every_part_of_a_transcript_changes_the_challenge() -> None:
    points = [BASE, BASE + BASE]

    def challenge(context: Context, kind: str = "zero-one", label: str = "c") -> Scalar:
        return Transcript(context, kind).points(label, points).integers("r", [0, 1]).challenge()

    reference = challenge(CONTEXT)
    assert challenge(CONTEXT) == reference
    variants = {
        challenge(OTHER_VK),
        challenge(OTHER_ELECTION),
        challenge(OTHER_MANIFEST),
        challenge(CONTEXT, kind="range"),
        challenge(CONTEXT, label="d"),
        Transcript(CONTEXT, "zero-one").points("c", points).integers("r", [0, 2]).challenge(),
        Transcript(CONTEXT, "zero-one").points("c", points[:1]).integers("r", [0, 1]).challenge(),
    }
    assert reference not in variants
    assert len(variants) == 7


def test_the_transcript_encoding_is_length_prefixed_and_labelled() -> None:
    """Moving a point from one labelled list to the next changes the hash (injectivity)."""
    one, two = BASE, BASE + BASE
    split = Transcript(CONTEXT, "k").points("a", [one, two]).points("b", []).challenge()
    moved = Transcript(CONTEXT, "k").points("a", [one]).points("b", [two]).challenge()
    assert split != moved
    expected = hash_to_scalar(
        PROTOCOL,
        b"kind",
        b"k",
        b"election",
        b"budget-2026",
        b"manifest",
        CONTEXT.manifest_hash,
        b"vk",
        CONTEXT.vk,
        b"a",
        one.encoded + two.encoded,
        b"b",
        b"",
    )
    assert split == expected


# -- 0/1 proofs ------------------------------------------------------------------------------


@settings(max_examples=12, deadline=None)
@given(nonzero_scalars, nonzero_scalars, st.integers(min_value=0, max_value=1), seeds)
def test_zero_one_proofs_verify(secret: Scalar, nonce: Scalar, bit: int, seed: bytes) -> None:
    key = Point.base_times(secret)
    ciphertext = encrypt(bit, key, nonce=nonce)
    proof = prove_zero_one(
        CONTEXT, key=key, ciphertext=ciphertext, bit=bit, nonce=nonce, rng=seeded(seed)
    )
    verify_zero_one(CONTEXT, key=key, ciphertext=ciphertext, proof=proof)
    decoded = decode_zero_one(proof.to_bytes())
    assert decoded == proof
    verify_zero_one(CONTEXT, key=key, ciphertext=ciphertext, proof=decoded)


def _tamperings(proof: DisjunctiveProof) -> Iterator[tuple[str, DisjunctiveProof]]:
    """Every single-field change of every branch, each to another valid group element."""
    one = Scalar.of(1)
    for index, branch in enumerate(proof.branches):
        changes = {
            "commitment a": {"commitment_g": branch.commitment_g + BASE},
            "commitment b": {"commitment_h": branch.commitment_h + BASE},
            "challenge": {"challenge": branch.challenge + one},
            "response": {"response": branch.response + one},
        }
        for name, change in changes.items():
            branches = list(proof.branches)
            branches[index] = dataclasses.replace(branch, **change)  # type: ignore[arg-type]
            yield f"branch {index} {name}", DisjunctiveProof(tuple(branches))


def _outcome(check: Callable[[], None]) -> str:
    """``"verified"`` or the :class:`ProofError`'s message (so a failure names the case)."""
    try:
        check()
    except ProofError as error:
        return str(error)
    return "verified"


@pytest.mark.parametrize("bit", [0, 1])
def test_any_tampering_of_a_zero_one_proof_fails(bit: int) -> None:
    secret, key = _key()
    nonce = Scalar.random()
    ciphertext = encrypt(bit, key, nonce=nonce)
    proof = prove_zero_one(CONTEXT, key=key, ciphertext=ciphertext, bit=bit, nonce=nonce)
    verify_zero_one(CONTEXT, key=key, ciphertext=ciphertext, proof=proof)

    outcomes = {
        name: _outcome(
            functools.partial(verify_zero_one, CONTEXT, key=key, ciphertext=ciphertext, proof=bad)
        )
        for name, bad in _tamperings(proof)
    }
    assert len(outcomes) == 8
    assert {name: o for name, o in outcomes.items() if not o.startswith("zero-one proof")} == {}

    # Swapping the two branches (challenge and response move with their commitments).
    swapped = DisjunctiveProof(proof.branches[::-1])
    with pytest.raises(ProofError):
        verify_zero_one(CONTEXT, key=key, ciphertext=ciphertext, proof=swapped)

    # The statement: another ciphertext of the same bit, the other bit, another key, the
    # ciphertext's halves swapped.
    statements = [
        (key, encrypt(bit, key, nonce=Scalar.random())),
        (key, encrypt(1 - bit, key, nonce=nonce)),
        (Point.base_times(secret + Scalar.of(1)), ciphertext),
        (key, Ciphertext(ciphertext.beta, ciphertext.alpha)),
    ]
    for other_key, other_ciphertext in statements:
        with pytest.raises(ProofError):
            verify_zero_one(CONTEXT, key=other_key, ciphertext=other_ciphertext, proof=proof)

    # The context: another ballot key (the Helios replay), election or manifest.
    for context in (OTHER_VK, OTHER_ELECTION, OTHER_MANIFEST):
        with pytest.raises(ProofError, match="do not add up"):
            verify_zero_one(context, key=key, ciphertext=ciphertext, proof=proof)

    # The kind: a cell's proof is not a range proof over [0, 1], and conversely.
    with pytest.raises(ProofError):
        verify_range(CONTEXT, key=key, ciphertext=ciphertext, proof=proof, lo=0, hi=1)


def test_a_copied_ballot_cell_fails_under_another_voting_key() -> None:
    """The ballot-copying attack on Helios: an attacker re-casts someone's ciphertext and
    proof under its own token. The proof binds the first ballot's ``vk``, so it fails."""
    _, key = _key()
    nonce = Scalar.random()
    ciphertext = encrypt(1, key, nonce=nonce)
    proof = prove_zero_one(CONTEXT, key=key, ciphertext=ciphertext, bit=1, nonce=nonce)
    copied = Ciphertext.from_bytes(ciphertext.to_bytes())
    copied_proof = decode_zero_one(proof.to_bytes())
    verify_zero_one(CONTEXT, key=key, ciphertext=copied, proof=copied_proof)
    with pytest.raises(ProofError, match="challenges do not add up"):
        verify_zero_one(OTHER_VK, key=key, ciphertext=copied, proof=copied_proof)


def test_the_honest_prover_cannot_prove_an_encryption_of_two() -> None:
    _, key = _key()
    nonce = Scalar.random()
    two = encrypt(2, key, nonce=nonce)
    with pytest.raises(ValueError, match=r"not in \[0, 1\]"):
        prove_zero_one(CONTEXT, key=key, ciphertext=two, bit=2, nonce=nonce)
    # Claiming the ciphertext holds 1 (or 0) while it holds 2 is refused before proving...
    for claim in (0, 1):
        with pytest.raises(ValueError, match="not Enc"):
            prove_zero_one(CONTEXT, key=key, ciphertext=two, bit=claim, nonce=nonce)
    # ...and running the prover's algorithm anyway, answering either branch "truthfully",
    # yields proofs that do not verify: the real branch's check against β fails.
    for claim in (0, 1):
        forged = _prove(
            CONTEXT,
            kind="zero-one",
            key=key,
            ciphertext=two,
            nonce=nonce,
            claimed=claim,
            lo=0,
            hi=1,
            rng=Scalar.random,
        )
        with pytest.raises(ProofError, match=f"branch {claim} fails its check against β"):
            verify_zero_one(CONTEXT, key=key, ciphertext=two, proof=forged)


def test_a_ciphertext_whose_alpha_does_not_match_its_nonce_cannot_be_proved() -> None:
    """β = 1·G + r·H with α ≠ r·G decrypts to garbage (1 − s·δ); the honest algorithm, run
    with the nonce behind β, passes every check against β but fails the one against α."""
    _, key = _key()
    nonce = Scalar.random()
    honest = encrypt(1, key, nonce=nonce)
    skewed = Ciphertext(honest.alpha + BASE, honest.beta)
    forged = _prove(
        CONTEXT,
        kind="zero-one",
        key=key,
        ciphertext=skewed,
        nonce=nonce,
        claimed=1,
        lo=0,
        hi=1,
        rng=Scalar.random,
    )
    with pytest.raises(ProofError, match="branch 1 fails its check against α"):
        verify_zero_one(CONTEXT, key=key, ciphertext=skewed, proof=forged)


def test_the_zero_one_transcript_is_the_documented_one() -> None:
    """The challenges add up to the hash of exactly the encoding ADR 0011 documents."""
    _, key = _key()
    nonce = Scalar.random()
    ciphertext = encrypt(0, key, nonce=nonce)
    proof = prove_zero_one(CONTEXT, key=key, ciphertext=ciphertext, bit=0, nonce=nonce)
    commitments = b"".join(
        branch.commitment_g.encoded + branch.commitment_h.encoded for branch in proof.branches
    )
    expected = hash_to_scalar(
        b"parvis-ballot-v2",
        b"kind",
        b"zero-one",
        b"election",
        CONTEXT.election_id.encode(),
        b"manifest",
        CONTEXT.manifest_hash,
        b"vk",
        CONTEXT.vk,
        b"key",
        key.encoded,
        b"ciphertext",
        ciphertext.to_bytes(),
        b"range",
        (0).to_bytes(8, "big") + (1).to_bytes(8, "big"),
        b"commitments",
        commitments,
    )
    assert proof.branches[0].challenge + proof.branches[1].challenge == expected


# -- range proofs ----------------------------------------------------------------------------


@st.composite
def ranges(draw: st.DrawFn) -> tuple[int, int, int]:
    lo = draw(st.integers(min_value=-2, max_value=4))
    hi = draw(st.integers(min_value=lo, max_value=lo + 6))
    return lo, hi, draw(st.integers(min_value=lo, max_value=hi))


@settings(max_examples=12, deadline=None)
@given(nonzero_scalars, nonzero_scalars, ranges(), seeds)
def test_range_proofs_verify(
    secret: Scalar, nonce: Scalar, bounds: tuple[int, int, int], seed: bytes
) -> None:
    lo, hi, message = bounds
    key = Point.base_times(secret)
    ciphertext = encrypt(message, key, nonce=nonce)
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
    assert len(proof.branches) == hi - lo + 1
    verify_range(CONTEXT, key=key, ciphertext=ciphertext, proof=proof, lo=lo, hi=hi)
    decoded = DisjunctiveProof.from_bytes(proof.to_bytes(), values=hi - lo + 1)
    verify_range(CONTEXT, key=key, ciphertext=ciphertext, proof=decoded, lo=lo, hi=hi)


def test_a_range_proof_on_a_homomorphic_sum_and_its_tamperings() -> None:
    """An approval question's sum of cells, proved in [min, max] = [1, 3] with the sum of
    the cells' nonces; every tampering, other bounds and other contexts fail."""
    _, key = _key()
    bits = [1, 0, 1, 1, 0]
    nonces = [Scalar.random() for _ in bits]
    cells = [encrypt(bit, key, nonce=nonce) for bit, nonce in zip(bits, nonces, strict=True)]
    total = cells[0] + cells[1] + cells[2] + cells[3] + cells[4]
    nonce = Scalar.of(sum(n.value for n in nonces))
    proof = prove_range(CONTEXT, key=key, ciphertext=total, message=3, nonce=nonce, lo=1, hi=3)
    verify_range(CONTEXT, key=key, ciphertext=total, proof=proof, lo=1, hi=3)

    outcomes = {
        name: _outcome(
            functools.partial(
                verify_range, CONTEXT, key=key, ciphertext=total, proof=bad, lo=1, hi=3
            )
        )
        for name, bad in _tamperings(proof)
    }
    assert len(outcomes) == 12
    assert {name: o for name, o in outcomes.items() if not o.startswith("range proof")} == {}
    for context in (OTHER_VK, OTHER_ELECTION, OTHER_MANIFEST):
        with pytest.raises(ProofError):
            verify_range(context, key=key, ciphertext=total, proof=proof, lo=1, hi=3)
    # Shifted bounds of the same width: the statement includes the bounds.
    with pytest.raises(ProofError):
        verify_range(CONTEXT, key=key, ciphertext=total, proof=proof, lo=2, hi=4)
    with pytest.raises(ProofError, match="4 branches expected"):
        verify_range(CONTEXT, key=key, ciphertext=total, proof=proof, lo=0, hi=3)
    with pytest.raises(ProofError):  # the sum minus one cell is another statement
        verify_range(CONTEXT, key=key, ciphertext=total + cells[0], proof=proof, lo=1, hi=3)


def test_a_count_outside_the_range_cannot_be_proved() -> None:
    _, key = _key()
    nonce = Scalar.random()
    six = encrypt(6, key, nonce=nonce)
    with pytest.raises(ValueError, match=r"not in \[1, 5\]"):
        prove_range(CONTEXT, key=key, ciphertext=six, message=6, nonce=nonce, lo=1, hi=5)
    for claim in range(1, 6):
        forged = _prove(
            CONTEXT,
            kind="range",
            key=key,
            ciphertext=six,
            nonce=nonce,
            claimed=claim,
            lo=1,
            hi=5,
            rng=Scalar.random,
        )
        with pytest.raises(ProofError, match=f"branch {claim - 1} fails its check against β"):
            verify_range(CONTEXT, key=key, ciphertext=six, proof=forged, lo=1, hi=5)


def test_ranges_are_bounded() -> None:
    _, key = _key()
    nonce = Scalar.random()
    ciphertext = encrypt(0, key, nonce=nonce)
    with pytest.raises(ValueError, match="lo ≤ hi"):
        prove_range(CONTEXT, key=key, ciphertext=ciphertext, message=0, nonce=nonce, lo=1, hi=0)
    with pytest.raises(ValueError, match=f"at most {MAX_VALUES}"):
        prove_range(
            CONTEXT, key=key, ciphertext=ciphertext, message=0, nonce=nonce, lo=0, hi=MAX_VALUES
        )
    proof = prove_zero_one(CONTEXT, key=key, ciphertext=ciphertext, bit=0, nonce=nonce)
    with pytest.raises(ValueError, match="identity"):
        verify_zero_one(CONTEXT, key=IDENTITY, ciphertext=ciphertext, proof=proof)


def test_disjunctive_proofs_decode_strictly() -> None:
    _, key = _key()
    nonce = Scalar.random()
    ciphertext = encrypt(1, key, nonce=nonce)
    encoded = prove_zero_one(CONTEXT, key=key, ciphertext=ciphertext, bit=1, nonce=nonce).to_bytes()
    assert len(encoded) == 256

    def patched(offset: int, value: bytes) -> bytes:
        return encoded[:offset] + value + encoded[offset + len(value) :]

    too_big = ORDER.to_bytes(32, "little")
    cases = [
        (patched(0, NON_CANONICAL_POINT), "branch 0 commitment a: not a canonical point"),
        (patched(128 + 32, ORDER_TWO), "branch 1 commitment b: not a canonical point"),
        (patched(64, too_big), "branch 0 challenge: a scalar is 32 little-endian bytes"),
        (patched(128 + 96, b"\xff" * 32), "branch 1 response: a scalar is 32"),
        (encoded[:-1], "a disjunctive proof of 2 branches is 256 bytes"),
        (encoded + b"\x00" * 128, "a disjunctive proof of 2 branches is 256 bytes"),
    ]
    for data, message in cases:
        with pytest.raises(GroupError, match=f"^{message}"):
            decode_zero_one(data)
    with pytest.raises(GroupError, match=f"1 to {MAX_VALUES} branches"):
        DisjunctiveProof.from_bytes(b"", values=0)
    assert (
        Branch.to_bytes(DisjunctiveProof.from_bytes(encoded, values=2).branches[1])
        == (encoded[128:])
    )


# -- decryption proofs -----------------------------------------------------------------------

TRUSTEE = dataclasses.replace(CONTEXT, vk=b"\x33" * 32)


@settings(max_examples=12, deadline=None)
@given(nonzero_scalars, nonzero_scalars, st.integers(min_value=0, max_value=50), seeds)
def test_decryption_proofs_verify(share: Scalar, nonce: Scalar, message: int, seed: bytes) -> None:
    ciphertext = encrypt(message, Point.base_times(share), nonce=nonce)
    partial, proof = prove_decryption(TRUSTEE, share=share, ciphertext=ciphertext, rng=seeded(seed))
    assert partial == ciphertext.alpha * share
    public_share = Point.base_times(share)
    verify_decryption(
        TRUSTEE, public_share=public_share, ciphertext=ciphertext, partial=partial, proof=proof
    )
    decoded = DecryptionProof.from_bytes(proof.to_bytes())
    assert decoded == proof
    verify_decryption(
        TRUSTEE, public_share=public_share, ciphertext=ciphertext, partial=partial, proof=decoded
    )


def test_any_tampering_of_a_decryption_proof_fails() -> None:
    share = Scalar.random()
    public_share = Point.base_times(share)
    key = Point.base_times(share + Scalar.random())  # the joint key: other trustees too
    ciphertext = encrypt(5, key, nonce=Scalar.random())
    partial, proof = prove_decryption(TRUSTEE, share=share, ciphertext=ciphertext)
    verify_decryption(
        TRUSTEE, public_share=public_share, ciphertext=ciphertext, partial=partial, proof=proof
    )

    one = Scalar.of(1)
    bad_proofs = [
        dataclasses.replace(proof, commitment_g=proof.commitment_g + BASE),
        dataclasses.replace(proof, commitment_alpha=proof.commitment_alpha + BASE),
        dataclasses.replace(proof, response=proof.response + one),
    ]
    for bad in bad_proofs:
        with pytest.raises(ProofError, match="decryption proof"):
            verify_decryption(
                TRUSTEE,
                public_share=public_share,
                ciphertext=ciphertext,
                partial=partial,
                proof=bad,
            )

    # A wrong partial decryption (another share's, or shifted by G to move the count by one).
    wrong_partials = [ciphertext.alpha * (share + one), partial + BASE, partial - BASE]
    for wrong in wrong_partials:
        with pytest.raises(ProofError):
            verify_decryption(
                TRUSTEE,
                public_share=public_share,
                ciphertext=ciphertext,
                partial=wrong,
                proof=proof,
            )
    # Another trustee's share, another ciphertext, another context (trustee key, election).
    with pytest.raises(ProofError):
        verify_decryption(
            TRUSTEE,
            public_share=public_share + BASE,
            ciphertext=ciphertext,
            partial=partial,
            proof=proof,
        )
    other = encrypt(5, key, nonce=Scalar.random())
    with pytest.raises(ProofError):
        verify_decryption(
            TRUSTEE, public_share=public_share, ciphertext=other, partial=partial, proof=proof
        )
    same_alpha = Ciphertext(ciphertext.alpha, ciphertext.beta + BASE)
    with pytest.raises(ProofError):  # β is in the statement too
        verify_decryption(
            TRUSTEE, public_share=public_share, ciphertext=same_alpha, partial=partial, proof=proof
        )
    for context in (CONTEXT, OTHER_ELECTION):
        with pytest.raises(ProofError):
            verify_decryption(
                context,
                public_share=public_share,
                ciphertext=ciphertext,
                partial=partial,
                proof=proof,
            )


def test_a_trustee_cannot_prove_a_wrong_partial_decryption() -> None:
    """The honest algorithm on a false statement: a partial decryption made with another
    scalar, proved with it against the real public share (fails the check against the
    share), or made wrong and proved with the real share (fails the check against α)."""
    share = Scalar.random()
    public_share = Point.base_times(share)
    ciphertext = encrypt(3, public_share, nonce=Scalar.random())
    other = share + Scalar.of(1)
    wrong = ciphertext.alpha * other
    with_other = _prove_decryption(
        TRUSTEE,
        share=other,
        public_share=public_share,
        ciphertext=ciphertext,
        partial=wrong,
        rng=Scalar.random,
    )
    with pytest.raises(ProofError, match="against the share"):
        verify_decryption(
            TRUSTEE,
            public_share=public_share,
            ciphertext=ciphertext,
            partial=wrong,
            proof=with_other,
        )
    with_real = _prove_decryption(
        TRUSTEE,
        share=share,
        public_share=public_share,
        ciphertext=ciphertext,
        partial=wrong,
        rng=Scalar.random,
    )
    with pytest.raises(ProofError, match="against α"):
        verify_decryption(
            TRUSTEE,
            public_share=public_share,
            ciphertext=ciphertext,
            partial=wrong,
            proof=with_real,
        )


def test_the_decryption_transcript_is_the_documented_one() -> None:
    share = Scalar.random()
    ciphertext = encrypt(3, Point.base_times(share), nonce=Scalar.random())
    partial, proof = prove_decryption(TRUSTEE, share=share, ciphertext=ciphertext)
    challenge = hash_to_scalar(
        b"parvis-ballot-v2",
        b"kind",
        b"decryption",
        b"election",
        TRUSTEE.election_id.encode(),
        b"manifest",
        TRUSTEE.manifest_hash,
        b"vk",
        TRUSTEE.vk,
        b"share",
        Point.base_times(share).encoded,
        b"ciphertext",
        ciphertext.to_bytes(),
        b"partial",
        partial.encoded,
        b"commitments",
        proof.commitment_g.encoded + proof.commitment_alpha.encoded,
    )
    assert Point.base_times(proof.response) == proof.commitment_g + Point.base_times(
        share * challenge
    )


def test_decryption_proofs_decode_strictly() -> None:
    share = Scalar.random()
    ciphertext = encrypt(1, Point.base_times(share), nonce=Scalar.random())
    _, proof = prove_decryption(TRUSTEE, share=share, ciphertext=ciphertext)
    encoded = proof.to_bytes()
    assert DecryptionProof.from_bytes(encoded) == proof
    with pytest.raises(GroupError, match=r"^a decryption proof is 96 bytes"):
        DecryptionProof.from_bytes(encoded[:95])
    with pytest.raises(GroupError, match=r"^decryption proof commitment a: not a canonical"):
        DecryptionProof.from_bytes(NON_CANONICAL_POINT + encoded[32:])
    with pytest.raises(GroupError, match=r"^decryption proof commitment b: not a canonical"):
        DecryptionProof.from_bytes(encoded[:32] + ORDER_TWO + encoded[64:])
    with pytest.raises(GroupError, match=r"^decryption proof response: a scalar"):
        DecryptionProof.from_bytes(encoded[:64] + ORDER.to_bytes(32, "little"))
