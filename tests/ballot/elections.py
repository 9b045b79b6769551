"""Helpers of the election tests: a territory and rule, eligible citizens, election
definitions of every ballot type, and a voter who talks HTTP with the Python voter client.

Everything goes through real code: identity's service for citizens and eligibility, the
ballot service or its HTTP API for elections, :mod:`ballot.client` for the voter's side of
RFC 9474 (blinding, finalisation, Ed25519 ballot signatures).
"""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

import identity
from audit import open_promise
from audit.merkle import verify_inclusion
from audit.note import VerifierKey, open_checkpoint
from ballot.client import VotingRight, begin_issuance
from ballot.manifest import Manifest, format_time, parse_time
from ballot.service import service_from
from ballot.token import b64u_decode, b64u_encode
from identity.eligibility import Evidence, Rule, Territory
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from parvis.kernel.principal import Citizen, Role, Staff
from parvis.kernel.sessions import cookie_name

RULE = "ballot-test"
COMMUNE = "35238"
OFFICER = Staff("officer-1", frozenset({Role.ELECTION_OFFICER}))
AGENT = Staff("agent-1", frozenset({Role.AGENT}))
#: A choice no voter would make by accident: the fairness test looks for any trace of it.
UNIQUE_OPTION = "option-zq7"

QUESTIONS: list[dict[str, Any]] = [
    {
        "id": "parc",
        "type": "single",
        "title": {"fr": "Nom du parc", "en": "Park name"},
        "options": [
            {"id": "tilleuls", "title": "Les Tilleuls"},
            {"id": "gare", "title": "Parc de la Gare"},
            {"id": UNIQUE_OPTION, "title": "Zéphyr"},
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

ALL_TYPES: list[dict[str, Any]] = [
    *QUESTIONS,
    {
        "id": "quartiers",
        "type": "approval",
        "title": "Quartiers prioritaires",
        "exactly": 2,
        "options": [{"id": x, "title": x} for x in ("nord", "sud", "est", "ouest")],
    },
    {
        "id": "jugement",
        "type": "majority_judgment",
        "title": "Évaluez les projets",
        "grades": ["Très bien", "Bien", "Passable", "À rejeter"],
        "options": [{"id": x, "title": x} for x in ("piscine", "stade")],
    },
    {
        "id": "classement",
        "type": "ranked",
        "title": "Classez",
        "min": 1,
        "max": 3,
        "options": [{"id": x, "title": x} for x in ("a", "b", "c")],
    },
]

GOOD_CHOICES: dict[str, Any] = {"parc": "gare", "budget": ["jardin", "bancs"]}
GOOD_ALL: dict[str, Any] = {
    **GOOD_CHOICES,
    "quartiers": ["nord", "est"],
    "jugement": {"piscine": 0, "stade": 2},
    "classement": ["b", "a"],
}


def definition(clock: FixedClock, **overrides: Any) -> dict[str, Any]:
    """A public-ballot definition that opens now and closes in a week (encrypted ones:
    tests/ballot/encrypted.py)."""
    data: dict[str, Any] = {
        "mode": "public",
        "id": str(uuid.uuid4()),
        "title": {"fr": "Budget participatif 2026", "en": "Participatory budget 2026"},
        "opens_at": format_time(clock.now()),
        "closes_at": format_time(clock.now() + timedelta(days=7)),
        "eligibility": {"rule": RULE},
        "revote": True,
        "min_anonymity_set": 1,
        "paper": False,
        "questions": QUESTIONS,
    }
    data.update(overrides)
    return data


def setup_rule(ctx: AppContext, *, paper_votes: bool = False) -> None:
    """A territory of one commune and a rule that accepts self-declaration."""
    service = identity.service_from(ctx)
    with ctx.db.write_session() as db:
        if "ballot-town" not in service.territories(db):
            service.save_territory(
                db,
                Territory(
                    id="ballot-town",
                    name="Ville de test",
                    cog_vintage=2025,
                    communes=frozenset({COMMUNE}),
                ),
                actor="system:test",
            )
        service.save_rule(
            db,
            Rule(
                id=RULE,
                name="Test rule",
                territory_id="ballot-town",
                accepted_evidence=frozenset(Evidence),
                reference_date=date(2026, 6, 1),
                paper_votes=paper_votes,
            ),
            actor="system:test",
        )


def make_citizen(ctx: AppContext, *, eligible: bool = True) -> str:
    """A pseudonymous account; eligible through a self-declaration in the test commune."""
    service = identity.service_from(ctx)
    with ctx.db.write_session() as db:
        citizen = service.create_citizen(
            db, pivot_hash_value=secrets.token_hex(32), acr="eidas1", birth_year=1980
        )
        if eligible:
            service.self_declare(
                db, citizen_id=citizen.id, territory_id="ballot-town", commune_code=COMMUNE
            )
        return citizen.id


def session_cookie(ctx: AppContext, principal: Citizen | Staff) -> tuple[str, str]:
    """(cookie name, value) of a new session for ``principal`` (the real session store)."""
    return signed_in(ctx, principal)[0]


def signed_in(ctx: AppContext, principal: Citizen | Staff) -> tuple[tuple[str, str], str]:
    """((cookie name, value), CSRF token) of a new session for ``principal``: what the
    booth holds (the cookie, and the token its page carries in ``data-csrf``)."""
    with ctx.db.write_session() as db:
        session = ctx.sessions.create(db, principal)
    assert session.cookie is not None
    return (cookie_name(secure=ctx.settings.secure_cookies), session.cookie), session.csrf_token


def _letters(n: int) -> str:
    """A distinct name per number (normalisation keeps letters, not digits)."""
    out = ""
    while True:
        n, rest = divmod(n, 26)
        out += chr(ord("a") + rest)
        if not n:
            return out


def seed_census(ctx: AppContext, people: int) -> None:
    """Make ``people`` fictitious residents the active census of the test town (replacing
    the one before): what the eligible population of an election opened next counts
    (ballot-secrecy.md §3), besides the citizens holding other evidence."""
    lines = ["family_name;given_names;birthdate;birthplace"]
    lines += [f"Habitant {_letters(n)};Camille;1980-01-01;{COMMUNE}" for n in range(people)]
    service = identity.service_from(ctx)
    with ctx.db.write_session() as db:
        if not people:
            return
        report = service.import_census(
            db,
            territory_id="ballot-town",
            csv_text="\n".join(lines) + "\n",
            electoral_roll=False,
            actor="system:test",
        )
        service.activate_census(db, import_id=report.import_id, actor="system:test")


def open_election(
    ctx: AppContext, clock: FixedClock, *, population: int = 1000, **overrides: Any
) -> str:
    """Create, schedule and open an election through the service (as an officer), after
    making ``population`` fictitious residents the town's census: the manifest's eligible
    population is counted from it (plus the citizens holding other evidence) when the
    election opens."""
    seed_census(ctx, population)
    service = service_from(ctx)
    with ctx.db.write_session() as db:
        election_id = service.create(
            db, data=definition(clock, **overrides), actor=OFFICER.audit_actor
        ).id
    service.schedule(election_id=election_id, actor=OFFICER.audit_actor)
    service.open(election_id=election_id, actor=OFFICER.audit_actor)
    return election_id


def public_key(manifest_json: dict[str, Any]) -> rsa.RSAPublicKey:
    key = serialization.load_der_public_key(b64u_decode(manifest_json["issuer"]["spki"], field="k"))
    assert isinstance(key, rsa.RSAPublicKey)
    return key


@dataclass
class Voter:
    """A citizen with a browser session for issuance; casting goes out without cookies."""

    client: httpx.Client | TestClient
    election_id: str
    cookie: tuple[str, str]
    #: The session's CSRF token, sent as ``X-CSRF-Token`` with the token request (None:
    #: a request without the header, which the server refuses).
    csrf: str | None = None
    right: VotingRight | None = None
    receipts: list[dict[str, Any]] = field(default_factory=list)

    def manifest(self) -> Manifest:
        response = self.client.get(f"/elections/{self.election_id}/manifest")
        assert response.status_code == 200, response.text
        return Manifest.from_json(response.json())

    def request_token(self, blinded: bytes) -> httpx.Response:
        headers = {"Cookie": f"{self.cookie[0]}={self.cookie[1]}"}
        if self.csrf is not None:
            headers["X-CSRF-Token"] = self.csrf
        return self.client.post(
            f"/elections/{self.election_id}/tokens",
            json={"blinded_msg": b64u_encode(blinded)},
            headers=headers,
        )

    def obtain_right(self) -> VotingRight:
        """Protocol steps 1-5 with the committed key only (the client refuses any other)."""
        manifest = self.manifest()
        pending = begin_issuance(
            manifest.public_key(),
            election_id=manifest.election_id,
            committed_key_id=manifest.issuer_key_id,
        )
        response = self.request_token(pending.blinded_msg)
        assert response.status_code == 200, response.text
        self.right = pending.finish(b64u_decode(response.json()["blind_sig"], field="blind_sig"))
        return self.right

    def cast_request(self, choices: dict[str, Any], *, seq: int | None = None) -> bytes:
        assert self.right is not None
        self.right, request = self.right.cast(choices, seq=seq)
        return request.to_json_bytes()

    def post_cast(self, body: bytes) -> httpx.Response:
        """POST a cast request with no cookie at all (a fresh cookie jar)."""
        return post_anonymously(self.client, self.election_id, body)

    def vote(self, choices: dict[str, Any], *, seq: int | None = None) -> dict[str, Any]:
        response = self.post_cast(self.cast_request(choices, seq=seq))
        assert response.status_code == 201, response.text
        receipt: dict[str, Any] = response.json()
        self.receipts.append(receipt)
        return receipt


def post_anonymously(
    client: httpx.Client | TestClient, election_id: str, body: bytes
) -> httpx.Response:
    client.cookies.clear()
    return client.post(
        f"/elections/{election_id}/ballots",
        content=body,
        headers={"Content-Type": "application/json"},
    )


def voters(
    ctx: AppContext, client: httpx.Client | TestClient, election_id: str, count: int
) -> Iterator[Voter]:
    for _ in range(count):
        pseudonym = make_citizen(ctx)
        cookie, csrf = signed_in(ctx, Citizen(pseudonym))
        yield Voter(client, election_id, cookie, csrf)


def check_receipt(receipt: dict[str, Any], manifest: Manifest) -> None:
    """A pending receipt carries the board's signed promise for its leaf and a boundary
    (ADR 0009); an included one a checkpoint signed by the board key and a proof to its
    root."""
    leaf = b64u_decode(receipt["leaf_hash"], field="leaf")
    if receipt["status"] == "pending":
        assert receipt["index"] is None
        assert receipt["inclusion_proof"] is None
        appears_at = parse_time(receipt["appears_at"], field="appears_at")
        assert appears_at.second == 0
        assert manifest.batch_seconds is not None
        assert int(appears_at.timestamp()) % manifest.batch_seconds == 0
        if receipt.get("promise") is not None:
            body = open_promise(
                receipt["promise"]["note"],
                log_key=manifest.verifier_key(),
                origin=manifest.board_origin,
                leaf_hash=leaf,
            )
            assert body.integrate_by >= int(appears_at.timestamp())
        return
    assert receipt["status"] == "included"
    verified = open_checkpoint(
        receipt["checkpoint"],
        origin=manifest.board_origin,
        log_key=VerifierKey.parse(manifest.board_key),
    )
    assert verified.checkpoint.size == receipt["tree_size"]
    verify_inclusion(
        leaf_hash=leaf,
        index=receipt["index"],
        size=receipt["tree_size"],
        proof=[b64u_decode(p, field="p") for p in receipt["inclusion_proof"]],
        root=verified.checkpoint.root_hash,
    )


def integrate(ctx: AppContext) -> int:
    """What the publisher does at a batch boundary, now (ADR 0009)."""
    return service_from(ctx).integrate_batches(force=True)


def fetch_receipt(client: httpx.Client | TestClient, election_id: str, code: str) -> dict[str, Any]:
    """The receipt of ``code`` as the tracker fetches it (no cookie)."""
    client.cookies.clear()
    response = client.get(f"/elections/{election_id}/receipts/{code}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def later(clock: FixedClock, days: int = 8) -> datetime:
    clock.advance(timedelta(days=days))
    return clock.now()
