"""Build complete, correctly signed bulletin boards in memory (tests and bench/verify.py).

Everything goes through the real code: RSA blind signatures (:mod:`ballot.rsabssa`), the
voter client (:mod:`ballot.client`), canonical entries (:mod:`ballot.board`), the Merkle tree
(:mod:`audit.merkle`) and C2SP signed checkpoints (:mod:`audit.note`).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from audit.merkle import CompactRange
from audit.note import Checkpoint, Signer, sign_note
from ballot import board, rsabssa
from ballot.client import VotingRight, obtain_voting_right
from ballot.manifest import Manifest
from ballot.questions import parse_questions
from ballot.tally import tally

ORIGIN = "parvis.test/board/demo"

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
        "envelope": 1000,
        "options": [
            {"id": "jardin", "title": "Jardin partagé", "cost": 400},
            {"id": "velos", "title": "Abri vélos", "cost": 300},
            {"id": "bancs", "title": "Bancs", "cost": 200},
            {"id": "fresque", "title": "Fresque", "cost": 600},
        ],
    },
]


def random_choices(rng: random.Random) -> dict[str, Any]:
    projects = ["jardin", "velos", "bancs", "fresque"]
    costs = {"jardin": 400, "velos": 300, "bancs": 200, "fresque": 600}
    chosen: list[str] = []
    for p in rng.sample(projects, rng.randint(0, 4)):
        if sum(costs[c] for c in chosen) + costs[p] <= 1000:
            chosen.append(p)
    return {"parc": rng.choice(["tilleuls", "gare"]), "budget": sorted(chosen, key=projects.index)}


@dataclass
class BoardBuilder:
    """An election with its keys; ``cast`` voters, then ``close`` and ``export``."""

    key: rsa.RSAPrivateKey
    signer: Signer
    manifest: Manifest
    entries: list[dict[str, Any]] = field(default_factory=list)
    checkpoints: list[str] = field(default_factory=list)
    tokens_issued: int = 0
    counted: dict[bytes, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def create(
        cls,
        *,
        key: rsa.RSAPrivateKey | None = None,
        revote: bool = True,
        population: int = 1000,
        min_anonymity_set: int = 1,
        seed: bytes = b"\x07" * 32,
    ) -> BoardBuilder:
        key = key or rsabssa.generate_key(2048)
        signer = Signer(name=ORIGIN, seed=seed)
        manifest = Manifest(
            election_id=uuid.UUID("0c6d1c1e-8a5b-4bd4-9f57-0a3b7f3c2d11").bytes,
            title={"fr": "Budget participatif 2026", "en": "Participatory budget 2026"},
            questions=parse_questions(QUESTIONS),
            opens_at=datetime(2026, 3, 1, 8, tzinfo=UTC),
            closes_at=datetime(2026, 3, 31, 20, tzinfo=UTC),
            eligibility_rule="residents-11",
            eligible_population=population,
            issuer_spki=key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
            board_origin=ORIGIN,
            board_key=signer.verifier.text,
            revote=revote,
            min_anonymity_set=min_anonymity_set,
            paper=False,
        )
        builder = cls(key=key, signer=signer, manifest=manifest)
        builder.entries.append(board.manifest_entry(manifest))
        builder.checkpoint()
        return builder

    def voting_right(self) -> VotingRight:
        self.tokens_issued += 1
        return obtain_voting_right(
            self.manifest.public_key(),
            election_id=self.manifest.election_id,
            committed_key_id=self.manifest.issuer_key_id,
            transport=lambda blinded: rsabssa.blind_sign(self.key, blinded),
        )

    def cast(self, right: VotingRight, choices: dict[str, Any]) -> VotingRight:
        right, request = right.cast(choices)
        self.entries.append(board.ballot_entry(request))
        self.counted[right.token.msg] = choices
        return right

    def checkpoint(self) -> str:
        leaves = [board.entry_leaf_hash(e) for e in self.entries]
        tree = CompactRange.empty().append(leaves).compact_range
        body = Checkpoint(origin=ORIGIN, size=tree.size, root_hash=tree.root()).text
        note = sign_note(body, signers=[self.signer])
        self.checkpoints.append(note)
        return note

    def close(self) -> None:
        self.entries.append(
            board.close_entry(closed_at="2026-03-31T20:00:00Z", tokens_issued=self.tokens_issued)
        )
        results = tally(self.manifest.questions, list(self.counted.values()))
        self.entries.append(
            board.results_entry(
                tokens_issued=self.tokens_issued,
                ballots=len(self.counted),
                individual=True,
                results=results,
                paper=None,
            )
        )
        self.checkpoint()

    def export(self) -> dict[str, Any]:
        return board.export(origin=ORIGIN, entries=self.entries, checkpoints=self.checkpoints)


def build_board(
    voters: int,
    *,
    seed: int = 1,
    revoters: int = 0,
    key: rsa.RSAPrivateKey | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> BoardBuilder:
    """A closed election with ``voters`` ballots (the first ``revoters`` vote twice)."""
    rng = random.Random(seed)
    builder = BoardBuilder.create(key=key, population=2 * voters)
    rights: Sequence[VotingRight] = [builder.voting_right() for _ in range(voters)]
    for i, right in enumerate(rights):
        updated = builder.cast(right, random_choices(rng))
        if i < revoters:
            builder.cast(updated, random_choices(rng))
        if on_progress is not None:
            on_progress(i)
        if i % 50 == 0:
            builder.checkpoint()
    builder.close()
    return builder
