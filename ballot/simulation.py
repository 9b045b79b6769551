"""``parvis election simulate``: fictitious voters cast random valid ballots through the real
HTTP path, exactly as booths do (docs/ballot-api.md, "Simulated voting").

For each of ``N`` voters: a fictitious identity (born abroad, of an age the rule accepts)
signs in as FranceConnect's return does (identity's ``sign_in_citizen``: a pseudonymous
account, the birth date sealed), gets the residency evidence the election's rule accepts
(self-declaration, else an in-person confirmation recorded by ``system:simulate``) and a
session in the real session store — the sandbox's own sign-in knows only its dozen test
identities, one account each — then, over
HTTP: the token request (``POST /elections/{id}/tokens`` with the session cookie and its
CSRF token: RFC 9474 blinding and finalisation by :mod:`ballot.client`), and the cast
(``POST /elections/{id}/ballots``, no cookie), with clear choices in a public-ballot
election and, in an encrypted one, the ballot encrypted under the manifest's joint key with
every proof bound to the token's ``vk`` (docs/board-format.md §10.3) — what the booth does.

Choices are drawn from ``seed`` (reproducible); every secret (blinding, nonces, ballot keys)
comes from the operating system. The voters talk to a running Parvis on the same database
(``parvis serve`` or ``parvis demo``): ``base_url``, by default ``http://127.0.0.1:PORT``
with the configured ``PARVIS_PORT``.

Refused in production unless the election's definition says ``rehearsal: true``
(ballot/definition.py): fictitious voters must never mix with real ones.
"""

from __future__ import annotations

import random
import secrets
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

import identity
from ballot.client import begin_issuance
from ballot.definition import Status
from ballot.encrypted_ballot import encrypt_ballot
from ballot.encrypted_tally import Encryption
from ballot.errors import ElectionStateError
from ballot.questions import BallotType, Question, check_choice, parse_questions
from ballot.service import service_from
from ballot.token import b64u_decode, b64u_encode
from identity.eligibility import Evidence
from identity.franceconnect import IdentityPivot
from parvis.kernel.context import AppContext
from parvis.kernel.errors import ForbiddenError, InvalidInputError
from parvis.kernel.principal import Citizen
from parvis.kernel.sessions import cookie_name
from parvis.kernel.settings import Mode

__all__ = ["SimulationReport", "random_choices", "simulate"]

ACTOR = "system:simulate"
#: A COG country code other than France's (99100): a fictitious voter born abroad needs no
#: birthplace commune (identity/franceconnect.py, ``IdentityPivot``).
_ABROAD = "99109"
#: Most voters one run creates (a rehearsal's load test; a bigger one runs several times).
MAX_VOTERS = 100_000
#: Most voters at a time.
MAX_CONCURRENCY = 64


def random_choice(question: Question, rng: random.Random) -> Any:
    """A uniformly drawn valid answer to ``question`` (checked by ballot/questions.py)."""
    ids = list(question.option_ids)
    if question.type is BallotType.SINGLE:
        choice: Any = rng.choice(ids)
    elif question.type is BallotType.APPROVAL:
        picked = set(rng.sample(ids, rng.randint(question.min, question.max)))
        choice = [o for o in ids if o in picked]
    elif question.type is BallotType.BUDGET:
        assert question.envelope is not None
        left, chosen = question.envelope, set[str]()
        for option in rng.sample(ids, rng.randint(0, len(ids))):
            if len(chosen) < question.max and question.cost_of(option) <= left:
                chosen.add(option)
                left -= question.cost_of(option)
        choice = [o for o in ids if o in chosen]
        if len(choice) < question.min:
            choice = ids[: question.min]
    elif question.type is BallotType.MAJORITY_JUDGMENT:
        choice = {o: rng.randrange(len(question.grades)) for o in ids}
    else:
        choice = rng.sample(ids, rng.randint(question.min, question.max))
    check_choice(question, choice)
    return choice


def random_choices(questions: Sequence[Question], rng: random.Random) -> dict[str, Any]:
    return {q.id: random_choice(q, rng) for q in questions}


@dataclass
class SimulationReport:
    """What the last line of the command prints (JSON)."""

    election: str
    mode: str
    voters: int
    seed: int
    tokens: int = 0
    cast: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    encrypt_seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "election": self.election,
            "mode": self.mode,
            "voters": self.voters,
            "seed": self.seed,
            "tokens": self.tokens,
            "cast": self.cast,
            "refused": dict(sorted(self.refused.items())),
            "seconds": round(self.seconds, 3),
            "encrypt_seconds": round(self.encrypt_seconds, 3),
            "ballots_per_second": round(self.cast / self.seconds, 2) if self.seconds else None,
        }


def _evidence(ctx: AppContext, rule_id: str) -> tuple[Any, str, str, date, str]:
    """How a fictitious voter satisfies the rule: evidence kind, territory, commune, birth
    date, acr."""
    service = identity.service_from(ctx)
    with ctx.db.read_session() as session:
        rule = service.rule(session, rule_id)
        territory = service.territory(session, rule.territory_id)
    if rule.electoral_roll:
        raise InvalidInputError(
            "the election's rule requires the electoral roll: fictitious voters cannot be on it"
        )
    if Evidence.SELF_DECLARATION in rule.accepted_evidence:
        kind = Evidence.SELF_DECLARATION
    elif Evidence.IN_PERSON in rule.accepted_evidence:
        kind = Evidence.IN_PERSON
    else:
        raise InvalidInputError(
            "the election's rule accepts neither self-declaration nor in-person evidence: "
            "fictitious voters cannot satisfy it"
        )
    low = rule.min_age if rule.min_age is not None else 18
    high = rule.max_age if rule.max_age is not None else max(low, 70)
    age = (low + high) // 2
    # Half a year past that birthday on the rule's reference date: clear of either bound.
    reference: date = rule.reference_date
    born = reference.replace(year=reference.year - age, day=1) - timedelta(days=183)
    return kind, territory.id, sorted(territory.communes)[0], born, rule.min_acr


def _citizen_session(
    ctx: AppContext, evidence: tuple[Any, str, str, date, str]
) -> tuple[tuple[str, str], str]:
    """A new eligible pseudonymous account, signed in as FranceConnect's return does it
    (identity's ``sign_in_citizen`` with a fictitious identity pivot born abroad), with the
    residency evidence; then a session: ((cookie name, value), CSRF token)."""
    kind, territory, commune, born, acr = evidence
    service = identity.service_from(ctx)
    pivot = IdentityPivot(
        family_name="SIMULATION",
        given_name=f"Votant {secrets.token_hex(8)}",
        birthdate=born.isoformat(),
        birthplace="",
        birthcountry=_ABROAD,
    )
    with ctx.db.write_session() as db:
        citizen = service.sign_in_citizen(
            db, sub=f"simulated-{secrets.token_hex(16)}", acr=acr, pivot=pivot
        )
        if kind is Evidence.SELF_DECLARATION:
            service.self_declare(
                db, citizen_id=citizen, territory_id=territory, commune_code=commune
            )
        else:
            code = service.new_desk_code(db, citizen_id=citizen)
            service.record_in_person(
                db,
                agent=ACTOR,
                desk_code=code,
                territory_id=territory,
                commune_code=commune,
                reason="fictitious voter of a rehearsal (parvis election simulate)",
            )
        web = ctx.sessions.create(db, Citizen(citizen))
    assert web.cookie is not None
    return (cookie_name(secure=ctx.settings.secure_cookies), web.cookie), web.csrf_token


def _problem(response: httpx.Response) -> str:
    try:
        kind = response.json().get("type", "")
    except ValueError:
        kind = ""
    return str(kind).rsplit("/", 1)[-1] or f"http-{response.status_code}"


@dataclass(frozen=True, slots=True)
class _Election:
    """What every voter needs of the manifest (as ``GET …/manifest`` serves it)."""

    id: str
    key: rsa.RSAPublicKey
    key_id: bytes
    questions: tuple[Question, ...]
    encryption: Encryption | None

    @classmethod
    def fetch(cls, url: str, election_id: str) -> _Election:
        """``GET /elections/{id}/manifest``, as the booth reads it."""
        with httpx.Client(base_url=url, timeout=60) as client:
            manifest = client.get(f"/elections/{election_id}/manifest")
        if manifest.status_code != 200:
            raise ElectionStateError(
                f"GET manifest answered {manifest.status_code}", status=Status.OPEN.value
            )
        document = manifest.json()
        key = serialization.load_der_public_key(
            b64u_decode(document["issuer"]["spki"], field="issuer.spki")
        )
        assert isinstance(key, rsa.RSAPublicKey)
        return cls(
            id=election_id,
            key=key,
            key_id=b64u_decode(document["issuer"]["key_id"], field="issuer.key_id"),
            questions=parse_questions(document["questions"]),
            encryption=Encryption.of_manifest(document),
        )


def _vote(
    ctx: AppContext,
    client: httpx.Client,
    election: _Election,
    evidence: tuple[Any, str, str, date, str],
    choices: dict[str, Any],
) -> tuple[str | None, float]:
    """One voter, as a booth: token over HTTP, then the cast (encrypted when the election
    is). Returns the refusal (``"token:<problem>"``, ``"cast:<problem>"``) or None, and the
    seconds spent encrypting."""
    cookie, csrf = _citizen_session(ctx, evidence)
    pending = begin_issuance(
        election.key, election_id=uuid.UUID(election.id), committed_key_id=election.key_id
    )
    issued = client.post(
        f"/elections/{election.id}/tokens",
        json={"blinded_msg": b64u_encode(pending.blinded_msg)},
        headers={"Cookie": f"{cookie[0]}={cookie[1]}", "X-CSRF-Token": csrf},
    )
    client.cookies.clear()
    if issued.status_code != 200:
        return f"token:{_problem(issued)}", 0.0
    right = pending.finish(b64u_decode(issued.json()["blind_sig"], field="blind_sig"))
    encrypting = 0.0
    if election.encryption is not None:
        began = time.monotonic()
        answers = encrypt_ballot(
            election.questions,
            key=election.encryption.joint_key,
            context=election.encryption.ballot_context(right.voter_key),
            choices=choices,
        ).to_json()
        encrypting = time.monotonic() - began
        _right, request = right.cast(answers, encrypted=True)
    else:
        _right, request = right.cast(choices)
    # No cookie at all: the cast is anonymous (a fresh jar, as the booth's credentials: omit).
    cast = client.post(
        f"/elections/{election.id}/ballots",
        content=request.to_json_bytes(),
        headers={"Content-Type": "application/json"},
    )
    if cast.status_code != 201:
        return f"cast:{_problem(cast)}", encrypting
    return None, encrypting


def _check_room(ctx: AppContext, election_id: str, voters: int) -> None:
    """No more simulated voters than the manifest's eligible population leaves room for."""
    service = service_from(ctx)
    with ctx.db.read_session() as session:
        manifest = service.box.manifest(session, election_id)
        population = int(manifest["eligibility"]["population"])
        room = population - service.voters.tokens_issued(session, election_id)
    if voters > room:
        raise InvalidInputError(
            f"--voters: only {room} more token(s) can be issued (eligible population {population})"
        )


def simulate(
    ctx: AppContext,
    *,
    election_id: str,
    voters: int,
    seed: int | None = None,
    base_url: str | None = None,
    concurrency: int = 1,
) -> SimulationReport:
    """Cast ``voters`` random valid ballots in the open election through HTTP, from
    ``concurrency`` voters at a time."""
    if not 1 <= voters <= MAX_VOTERS:
        raise InvalidInputError(f"--voters: from 1 to {MAX_VOTERS}")
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise InvalidInputError(f"--concurrency: from 1 to {MAX_CONCURRENCY}")
    service = service_from(ctx)
    with ctx.db.read_session() as session:
        row = service.get(session, election_id)
        definition = service.definition(row)
        status = row.status
    if ctx.settings.mode is Mode.PRODUCTION and not definition.rehearsal:
        raise ForbiddenError(
            "simulated voters are refused in production except in a rehearsal "
            "(an election defined with rehearsal: true)"
        )
    if status != Status.OPEN:
        raise ElectionStateError("simulated voters vote in an open election", status=status)
    _check_room(ctx, row.id, voters)
    seed = secrets.randbits(32) if seed is None else seed
    evidence = _evidence(ctx, definition.eligibility_rule)
    url = (base_url or f"http://127.0.0.1:{ctx.settings.port}").rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise InvalidInputError("--url: an http(s) URL of a Parvis server on this database")
    election = _Election.fetch(url, row.id)
    # Reproducible choices only, drawn in voter order whatever the concurrency; every secret
    # comes from the OS (module docstring).
    rng = random.Random(seed)  # noqa: S311 - draws choices, never a secret
    choices = [random_choices(election.questions, rng) for _ in range(voters)]
    report = SimulationReport(
        election=row.id,
        mode="encrypted" if election.encryption is not None else "public",
        voters=voters,
        seed=seed,
    )
    local = threading.local()
    clients: list[httpx.Client] = []
    lock = threading.Lock()

    def one(index: int) -> tuple[str | None, float]:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(base_url=url, timeout=60)
            with lock:
                clients.append(client)
        return _vote(ctx, client, election, evidence, choices[index])

    started = time.monotonic()
    try:
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            for refusal, encrypting in pool.map(one, range(voters)):
                report.encrypt_seconds += encrypting
                if refusal is None:
                    report.tokens += 1
                    report.cast += 1
                else:
                    report.tokens += not refusal.startswith("token:")
                    report.refused[refusal] += 1
    finally:
        for client in clients:
            client.close()
    report.seconds = time.monotonic() - started
    return report
