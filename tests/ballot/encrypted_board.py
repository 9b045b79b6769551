"""Deterministic encrypted (version 2) boards, built per docs/board-format.md §10 from the
pure modules only: the key ceremony (:mod:`ballot.cocktail_dkg`, the trustee documents of
:mod:`ballot.trustee`), RFC 9474 tokens (:mod:`ballot.client`, :mod:`ballot.rsabssa`),
encrypted ballots (:mod:`ballot.encrypted_ballot`), partial decryptions
(:mod:`ballot.decryption_proof`), the tally (:mod:`ballot.homomorphic_tally`), canonical
entries and C2SP checkpoints (:mod:`ballot.board`, :mod:`audit.merkle`, :mod:`audit.note`).

Every random value comes from one SHA-512 stream seeded by ``seed``, the election's RSA key
is the RFC 9474 test-vector key, so the same arguments give the same bytes. Run as
``python -m tests.ballot.encrypted_board`` from the repository root to rewrite
``docs/examples/board-example-v2.json`` (board-format.md §10.6).
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nacl.signing
import rfc8785
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from audit.merkle import CompactRange, leaf_hash
from audit.note import Checkpoint, Signer, sign_note
from ballot import board, cocktail_dkg, rsabssa, trustee
from ballot.client import VotingRight, obtain_voting_right
from ballot.decryption_proof import prove_decryption
from ballot.elgamal import Ciphertext, decrypt_to_point, dlog
from ballot.encrypted_ballot import EncryptedBallot, encrypt_ballot
from ballot.group import IDENTITY, Point, Scalar
from ballot.homomorphic_tally import cell_sums, lagrange_at_zero, results_from_counts
from ballot.jcs import canonical
from ballot.manifest import Manifest
from ballot.questions import parse_questions
from ballot.token import b64u_decode, b64u_encode
from ballot.transcript import Context

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "board-example-v2.json"
ORIGIN = "parvis.test/board/encrypted"
ELECTION = "5e1f3a2b-7c4d-4e8f-9a0b-1c2d3e4f5a6b"

QUESTIONS: list[dict[str, Any]] = [
    {
        "id": "parc",
        "type": "single",
        "title": {"fr": "Nom du parc", "en": "Park name"},
        "options": [
            {"id": "tilleuls", "title": "Les Tilleuls"},
            {"id": "gare", "title": "Parc de la Gare"},
        ],
    },
    {
        "id": "budget",
        "type": "budget",
        "title": "Budget participatif",
        "envelope": 100,
        "options": [
            {"id": "jardin", "title": "Jardin partagé", "cost": 40},
            {"id": "velos", "title": "Abri vélos", "cost": 30},
            {"id": "bancs", "title": "Bancs", "cost": 20},
            {"id": "fresque", "title": "Fresque", "cost": 60},
        ],
    },
]
PROJECTS = {"jardin": 40, "velos": 30, "bancs": 20, "fresque": 60}


def random_choices(rng: random.Random) -> dict[str, Any]:
    """A valid answer to :data:`QUESTIONS`."""
    chosen: list[str] = []
    for project in rng.sample(list(PROJECTS), rng.randint(0, 4)):
        if sum(PROJECTS[c] for c in chosen) + PROJECTS[project] <= 100:
            chosen.append(project)
    return {
        "parc": rng.choice(["tilleuls", "gare"]),
        "budget": sorted(chosen, key=list(PROJECTS).index),
    }


class Stream:
    """Deterministic randomness: SHA-512 of ``seed ‖ counter``, as bytes or scalars."""

    def __init__(self, seed: bytes) -> None:
        self.seed, self.counter, self.buffer = seed, 0, b""

    def bytes(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self.buffer += hashlib.sha512(self.seed + self.counter.to_bytes(8, "big")).digest()
            self.counter += 1
        out, self.buffer = self.buffer[:size], self.buffer[size:]
        return out

    def scalar(self) -> Scalar:
        return Scalar.from_wide(self.bytes(64))


def vector_key() -> rsa.RSAPrivateKey:
    """The RFC 9474 test-vector RSA-2048 key (tests/vectors/rfc9474): fixed, public."""
    vectors = json.loads((ROOT / "tests/vectors/rfc9474/test_vectors_rfc9474.json").read_text())
    v = vectors[0]
    p, q, n, e, d = (int(v[k], 16) for k in ("p", "q", "n", "e", "d"))
    return rsa.RSAPrivateNumbers(
        p=p,
        q=q,
        d=d,
        dmp1=rsa.rsa_crt_dmp1(d, p),
        dmq1=rsa.rsa_crt_dmq1(d, q),
        iqmp=rsa.rsa_crt_iqmp(p, q),
        public_numbers=rsa.RSAPublicNumbers(e, n),
    ).private_key()


@dataclass
class Voter:
    right: VotingRight
    seq: int = 0


@dataclass
class EncryptedBoard:
    """An encrypted election being built; the entries in board order."""

    stream: Stream
    key: rsa.RSAPrivateKey
    signer: Signer
    terms: dict[str, Any]
    manifest: dict[str, Any] = field(default_factory=dict)
    entries: list[dict[str, Any]] = field(default_factory=list)
    checkpoints: list[str] = field(default_factory=list)
    static_secrets: list[Scalar] = field(default_factory=list)
    shares: list[Scalar] = field(default_factory=list)
    tokens_issued: int = 0
    voters: list[Voter] = field(default_factory=list)
    counted: dict[bytes, tuple[int, EncryptedBallot]] = field(default_factory=dict)

    # -- set-up -----------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        *,
        seed: bytes = b"parvis board-example-v2",
        trustees: Sequence[str] = ("Mairie", "Opposition", "Association des habitants"),
        threshold: int = 2,
        population: int = 10,
        failed_attempts: int = 0,
        paper: bool = False,
    ) -> EncryptedBoard:
        stream = Stream(seed)
        key = vector_key()
        signer = Signer(name=ORIGIN, seed=hashlib.sha256(seed + b"board").digest())
        terms = Manifest(
            election_id=bytes.fromhex(ELECTION.replace("-", "")),
            title={"fr": "Budget participatif chiffré", "en": "Encrypted participatory budget"},
            questions=parse_questions(QUESTIONS),
            opens_at=datetime(2026, 3, 1, 8, tzinfo=UTC),
            closes_at=datetime(2026, 3, 31, 20, tzinfo=UTC),
            eligibility_rule="residents-16",
            eligible_population=population,
            issuer_spki=key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
            board_origin=ORIGIN,
            board_key=signer.verifier.text,
            revote=True,
            min_anonymity_set=1,
            paper=paper,
        ).to_json()
        terms["format"] = "parvis-manifest-v2"
        built = cls(stream=stream, key=key, signer=signer, terms=terms)
        for attempt in range(1, failed_attempts + 1):
            built._failed_attempt(attempt, trustees, threshold)
        built._ceremony(failed_attempts + 1, trustees, threshold)
        return built

    def _setup(self, attempt: int, labels: Sequence[str], threshold: int) -> dict[str, Any]:
        self.static_secrets = [self.stream.scalar() for _ in labels]
        return {
            "format": trustee.SETUP_FORMAT,
            "election": ELECTION,
            "attempt": attempt,
            "threshold": threshold,
            "manifest_hash": hashlib.sha256(rfc8785.dumps(self.terms)).hexdigest(),
            "participants": [
                {"label": label, "static_key": Point.base_times(s).encoded.hex()}
                for label, s in zip(labels, self.static_secrets, strict=True)
            ],
        }

    def _round1(self, setup: trustee.Setup, index: int) -> dict[str, Any]:
        secret = self.static_secrets[index - 1]
        message = cocktail_dkg.round1(
            config=setup.config, index=index, static_secret=secret, rng=self.stream.scalar
        ).encode()
        envelope = trustee.ROUND1_ENVELOPE + setup.config.context + message
        return {
            "format": trustee.ROUND1_FORMAT,
            "context": setup.config.context.hex(),
            "sender": index,
            "message": message.hex(),
            "signature": cocktail_dkg.schnorr_sign(secret, envelope).hex(),
        }

    def _failed_attempt(self, attempt: int, labels: Sequence[str], threshold: int) -> None:
        """A setup and the round-1 messages of all but the last trustee, who never came."""
        document = self._setup(attempt, labels, threshold)
        setup = trustee.Setup.parse(document, "setup")
        self.entries.append({"kind": "dkg-setup", "setup": document})
        for index in range(1, len(labels)):
            self.entries.append({"kind": "dkg-round1", "round1": self._round1(setup, index)})

    def _ceremony(self, attempt: int, labels: Sequence[str], threshold: int) -> None:
        document = self._setup(attempt, labels, threshold)
        setup = trustee.Setup.parse(document, "setup")
        self.entries.append({"kind": "dkg-setup", "setup": document})
        round1 = [self._round1(setup, i) for i in range(1, len(labels) + 1)]
        # Round-1 messages reach the board in the order trustees send them (§10.1).
        for item in reversed(round1):
            self.entries.append({"kind": "dkg-round1", "round1": item})
        ceremony = trustee.verify_ceremony(
            {"format": trustee.CEREMONY_FORMAT, "setup": document, "round1": round1},
            where="ceremony",
            certified=False,
        )
        digest = cocktail_dkg.transcript_hash(ceremony.transcript)
        for index, secret in enumerate(self.static_secrets, 1):
            output = cocktail_dkg.round2(
                config=setup.config, index=index, static_secret=secret, messages=ceremony.messages
            )
            self.shares.append(output.secret_share)
            signature = cocktail_dkg.sign_transcript(
                static_secret=secret, transcript=ceremony.transcript
            )
            self.entries.append(
                {
                    "kind": "dkg-signature",
                    "signature": {
                        "format": trustee.SIGNATURE_FORMAT,
                        "context": setup.config.context.hex(),
                        "signer": index,
                        "transcript_sha512": digest.hex(),
                        "signature": signature.hex(),
                    },
                }
            )
        self.entries.append(
            {
                "kind": "dkg-complete",
                "attempt": attempt,
                "group_key": ceremony.group_key.encoded.hex(),
                "verification_shares": [p.encoded.hex() for p in ceremony.verification_shares],
                "transcript_sha512": digest.hex(),
            }
        )
        self.manifest = {
            **self.terms,
            "encryption": {
                "group": "ed25519",
                "ceremony": "COCKTAIL(Ed25519, SHA-512)",
                "joint_key": b64u_encode(ceremony.group_key.encoded),
                "threshold": threshold,
                "attempt": attempt,
                "transcript_sha512": b64u_encode(digest),
                "trustees": [
                    {
                        "label": label,
                        "static_key": b64u_encode(key.encoded),
                        "public_share": b64u_encode(share.encoded),
                    }
                    for label, key, share in zip(
                        labels,
                        setup.config.static_keys,
                        ceremony.verification_shares,
                        strict=True,
                    )
                ],
            },
        }
        self.entries.append({"kind": "manifest", "manifest": self.manifest})
        self.checkpoint()

    # -- the election ---------------------------------------------------------------------

    @property
    def manifest_hash(self) -> bytes:
        return hashlib.sha256(rfc8785.dumps(self.manifest)).digest()

    @property
    def joint_key(self) -> Point:
        return Point.decode(b64u_decode(self.manifest["encryption"]["joint_key"], field="k"))

    @property
    def questions(self) -> tuple[Any, ...]:
        return parse_questions(QUESTIONS)

    def voting_right(self) -> Voter:
        self.tokens_issued += 1
        spki = self.key.public_key()
        right = obtain_voting_right(
            spki,
            election_id=bytes.fromhex(ELECTION.replace("-", "")),
            committed_key_id=hashlib.sha256(
                spki.public_bytes(
                    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
                )
            ).digest(),
            transport=lambda blinded: rsabssa.blind_sign(self.key, blinded),
            rng=self.stream.bytes,
        )
        voter = Voter(right)
        self.voters.append(voter)
        return voter

    def ballot_entry(self, voter: Voter, encrypted: dict[str, Any], seq: int) -> dict[str, Any]:
        """A cast entry (§10.3) signed by ``voter``'s key."""
        ballot: dict[str, Any] = {"election": ELECTION, "seq": seq, "encrypted": encrypted}
        signature = (
            nacl.signing.SigningKey(voter.right.signing_key_seed)
            .sign(rfc8785.dumps(ballot))
            .signature
        )
        return {
            "kind": "ballot",
            "cast": {
                "token": voter.right.token.to_json(),
                "ballot": ballot,
                "ballot_sig": b64u_encode(bytes(signature)),
            },
        }

    def encrypt(self, voter: Voter, choices: dict[str, Any]) -> EncryptedBallot:
        context = Context(ELECTION, self.manifest_hash, voter.right.token.message.voter_key)
        return encrypt_ballot(
            self.questions,
            key=self.joint_key,
            context=context,
            choices=choices,
            rng=self.stream.scalar,
        )

    def cast(self, voter: Voter, choices: dict[str, Any]) -> dict[str, Any]:
        voter.seq += 1
        encrypted = self.encrypt(voter, choices)
        entry = self.ballot_entry(voter, encrypted.to_json(), voter.seq)
        self.entries.append(entry)
        self.counted[voter.right.token.msg] = (voter.seq, encrypted)
        return entry

    def issuance(self, day: str) -> None:
        self.entries.append(board.issuance_entry(day=day, tokens_issued=self.tokens_issued))

    def close(
        self,
        *,
        decrypting: Sequence[int] = (1, 3),
        paper: tuple[int, dict[str, dict[str, int]]] | None = None,
    ) -> None:
        """Close, publish the ``paper`` ballots (voters, counts) if any, the sums, the
        partial decryptions of ``decrypting`` and the results combined from them."""
        self.entries.append(
            board.close_entry(closed_at="2026-03-31T20:00:00Z", tokens_issued=self.tokens_issued)
        )
        if paper is not None:
            self.entries.append(board.paper_entry(voters=paper[0], counts=paper[1]))
        questions = self.questions
        ballots = [ballot for _, ballot in self.counted.values()]
        counts: dict[str, list[int]] = {q.id: [] for q in questions}
        if ballots:
            sums = cell_sums(questions, ballots)
            flat = [
                (f"{q.id}/{k}", ciphertext)
                for q in questions
                for k, ciphertext in enumerate(sums[q.id])
            ]
            self.entries.append(
                {
                    "kind": "tally-sums",
                    "ballots": len(ballots),
                    "sums": {
                        "format": trustee.SUMS_FORMAT,
                        "election": ELECTION,
                        "ciphertexts": [
                            {"label": label, "ciphertext": c.to_bytes().hex()} for label, c in flat
                        ],
                    },
                    "context": {
                        "format": trustee.CONTEXT_FORMAT,
                        "election": ELECTION,
                        "manifest_hash": self.manifest_hash.hex(),
                    },
                }
            )
            factors: dict[int, list[Point]] = {}
            for index in decrypting:
                document, points = self.partials(index, flat)
                factors[index] = points
                self.entries.append({"kind": "partial-decryption", "partials": document})
            weights = lagrange_at_zero(sorted(decrypting))
            position = 0
            for question in questions:
                for ciphertext in sums[question.id]:
                    factor = IDENTITY
                    for index in decrypting:
                        factor = factor + factors[index][position] * weights[index]
                    point = decrypt_to_point(ciphertext, factor)
                    counts[question.id].append(dlog(point, len(ballots)))
                    position += 1
        else:
            for question in questions:
                counts[question.id] = [0] * len(cell_sums([question], [])[question.id])
        self.entries.append(
            {
                "kind": "results",
                "tokens_issued": self.tokens_issued,
                "ballots": len(ballots),
                "publication": "encrypted",
                "results": results_from_counts(questions, counts, ballots=len(ballots)),
                "paper": {"voters": paper[0], "counts": paper[1]} if paper else None,
                "trustees": sorted(decrypting) if ballots else [],
            }
        )
        self.checkpoint()

    def partials(
        self, index: int, sums: Sequence[tuple[str, Ciphertext]]
    ) -> tuple[dict[str, Any], list[Point]]:
        """Trustee ``index``'s ``parvis-trustee decrypt`` document over ``sums``."""
        share = self.shares[index - 1]
        static_key = Point.base_times(self.static_secrets[index - 1])
        context = Context(ELECTION, self.manifest_hash, static_key.encoded)
        items, points = [], []
        for label, ciphertext in sums:
            partial, proof = prove_decryption(
                context, share=share, ciphertext=ciphertext, rng=self.stream.scalar
            )
            points.append(partial)
            items.append(
                {
                    "label": label,
                    "ciphertext": ciphertext.to_bytes().hex(),
                    "partial": partial.encoded.hex(),
                    "proof": proof.to_bytes().hex(),
                }
            )
        document = {
            "format": trustee.PARTIALS_FORMAT,
            "election": ELECTION,
            "manifest_hash": self.manifest_hash.hex(),
            "trustee": index,
            "trustee_key": static_key.encoded.hex(),
            "public_share": Point.base_times(share).encoded.hex(),
            "partials": items,
        }
        return document, points

    # -- the board --------------------------------------------------------------------------

    def checkpoint(self) -> str:
        note = sign_checkpoint(self.signer, self.entries)
        self.checkpoints.append(note)
        return note

    def export(self) -> dict[str, Any]:
        return board.export(origin=ORIGIN, entries=self.entries, checkpoints=self.checkpoints)

    def resigned(self, entries: list[dict[str, Any]]) -> dict[str, Any]:
        """``entries`` (altered) under one fresh checkpoint signed by the board key: what an
        operator who rewrote the board would publish, so only the other checks can tell."""
        return board.export(
            origin=ORIGIN, entries=entries, checkpoints=[sign_checkpoint(self.signer, entries)]
        )

    def resign_ballot(self, entry: dict[str, Any], voter: Voter) -> None:
        """Re-sign an altered ballot entry with its voter's key (a voter cheating)."""
        ballot = entry["cast"]["ballot"]
        signature = (
            nacl.signing.SigningKey(voter.right.signing_key_seed)
            .sign(rfc8785.dumps(ballot))
            .signature
        )
        entry["cast"]["ballot_sig"] = b64u_encode(bytes(signature))


def sign_checkpoint(signer: Signer, entries: Sequence[dict[str, Any]]) -> str:
    leaves = [leaf_hash(canonical(e)) for e in entries]
    tree = CompactRange.empty().append(leaves).compact_range
    body = Checkpoint(origin=ORIGIN, size=tree.size, root_hash=tree.root()).text
    return sign_note(body, signers=[signer])


def build_example() -> EncryptedBoard:
    """The worked example of board-format.md §10.6: three voters, the first re-votes; three
    trustees, threshold 2, trustees 1 and 3 decrypt."""
    built = EncryptedBoard.create()
    first = built.voting_right()
    second = built.voting_right()
    built.issuance("2026-03-01")
    built.cast(first, {"parc": "gare", "budget": ["jardin", "velos"]})
    built.cast(second, {"parc": "tilleuls", "budget": ["bancs", "fresque"]})
    built.checkpoint()
    third = built.voting_right()
    built.cast(first, {"parc": "tilleuls", "budget": ["jardin", "velos", "bancs"]})  # re-vote
    built.cast(third, {"parc": "gare", "budget": ["velos", "bancs"]})
    built.close()
    return built


def build_board(voters: int, *, revoters: int = 0, seed: bytes = b"bench") -> EncryptedBoard:
    """``voters`` random ballots (and ``revoters`` re-votes) for tests and the benchmark."""
    rng = random.Random(seed)
    built = EncryptedBoard.create(seed=seed, population=voters + 10)
    rights = [built.voting_right() for _ in range(voters)]
    for voter in rights:
        built.cast(voter, random_choices(rng))
    for voter in rights[:revoters]:
        built.cast(voter, random_choices(rng))
    built.close()
    return built


def main() -> int:
    built = build_example()
    EXAMPLE.write_text(json.dumps(built.export(), indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {EXAMPLE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
