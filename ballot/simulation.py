"""``parvis election simulate``: fictitious voters cast random valid ballots through the real
HTTP path, exactly as booths do (docs/ballot-api.md, "Simulated voting").

For each of ``N`` voters: a pseudonymous account is created with the residency evidence the
election's rule accepts (self-declaration, else an in-person confirmation recorded by
``system:simulate``) and signed in through the real session store — the sandbox's
FranceConnect sign-in knows only its dozen test identities, one account each — then, over
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
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
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
from parvis.kernel.context import AppContext
from parvis.kernel.errors import ForbiddenError, InvalidInputError
from parvis.kernel.principal import Citizen
from parvis.kernel.sessions import cookie_name
from parvis.kernel.settings import Mode

__all__ = ["SimulationReport", "random_choices", "simulate"]

ACTOR = "system:simulate"
#: Most voters one run creates (a rehearsal's load test; a bigger one runs several times).
MAX_VOTERS = 100_000


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


def _evidence(ctx: AppContext, rule_id: str) -> tuple[Any, str, str, int, str]:
    """How a fictitious voter satisfies the rule: evidence kind, territory, commune, birth
    year, acr."""
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
    # A birth year in the middle of the allowed ages, a year clear of either bound.
    age = (low + high) // 2 if high - low >= 2 else low
    reference: date = rule.reference_date
    birth_year = reference.year - age - (1 if age == low else 0)
    return kind, territory.id, sorted(territory.communes)[0], birth_year, rule.min_acr


def _citizen_session(
    ctx: AppContext, evidence: tuple[Any, str, str, int, str]
) -> tuple[tuple[str, str], str]:
    """A new eligible pseudonymous account, signed in: ((cookie name, value), CSRF token)."""
    kind, territory, commune, birth_year, acr = evidence
    service = identity.service_from(ctx)
    with ctx.db.write_session() as db:
        citizen = service.create_citizen(
            db, pivot_hash_value=secrets.token_hex(32), acr=acr, birth_year=birth_year
        )
        if kind is Evidence.SELF_DECLARATION:
            service.self_declare(
                db, citizen_id=citizen.id, territory_id=territory, commune_code=commune
            )
        else:
            code = service.new_desk_code(db, citizen_id=citizen.id)
            service.record_in_person(
                db,
                agent=ACTOR,
                desk_code=code,
                territory_id=territory,
                commune_code=commune,
                reason="fictitious voter of a rehearsal (parvis election simulate)",
            )
        web = ctx.sessions.create(db, Citizen(citizen.id))
    assert web.cookie is not None
    return (cookie_name(secure=ctx.settings.secure_cookies), web.cookie), web.csrf_token


def _problem(response: httpx.Response) -> str:
    try:
        kind = response.json().get("type", "")
    except ValueError:
        kind = ""
    return str(kind).rsplit("/", 1)[-1] or f"http-{response.status_code}"


def simulate(  # noqa: PLR0915 - one voter's protocol, step by step
    ctx: AppContext,
    *,
    election_id: str,
    voters: int,
    seed: int | None = None,
    base_url: str | None = None,
) -> SimulationReport:
    """Cast ``voters`` random valid ballots in the open election through HTTP."""
    if not 1 <= voters <= MAX_VOTERS:
        raise InvalidInputError(f"--voters: from 1 to {MAX_VOTERS}")
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
    with ctx.db.read_session() as session:
        room = definition.eligible_population - service.voters.tokens_issued(session, row.id)
    if voters > room:
        raise InvalidInputError(
            f"--voters: only {room} more token(s) can be issued (eligible population "
            f"{definition.eligible_population})"
        )
    seed = secrets.randbits(32) if seed is None else seed
    # Reproducible choices only; every secret comes from the OS (module docstring).
    rng = random.Random(seed)  # noqa: S311 - draws choices, never a secret
    evidence = _evidence(ctx, definition.eligibility_rule)
    url = base_url or f"http://127.0.0.1:{ctx.settings.port}"
    if not url.startswith(("http://", "https://")):
        raise InvalidInputError("--url: an http(s) URL of a Parvis server on this database")
    with httpx.Client(base_url=url.rstrip("/"), timeout=60) as client:
        manifest = client.get(f"/elections/{row.id}/manifest")
        if manifest.status_code != 200:
            raise ElectionStateError(f"GET manifest answered {manifest.status_code}", status=status)
        document = manifest.json()
        encryption = Encryption.of_manifest(document)
        questions = parse_questions(document["questions"])
        key = serialization.load_der_public_key(
            b64u_decode(document["issuer"]["spki"], field="issuer.spki")
        )
        assert isinstance(key, rsa.RSAPublicKey)
        key_id = b64u_decode(document["issuer"]["key_id"], field="issuer.key_id")
        report = SimulationReport(
            election=row.id,
            mode="encrypted" if encryption is not None else "public",
            voters=voters,
            seed=seed,
        )
        started = time.monotonic()
        for _ in range(voters):
            cookie, csrf = _citizen_session(ctx, evidence)
            pending = begin_issuance(key, election_id=uuid.UUID(row.id), committed_key_id=key_id)
            client.cookies.clear()
            issued = client.post(
                f"/elections/{row.id}/tokens",
                json={"blinded_msg": b64u_encode(pending.blinded_msg)},
                headers={"Cookie": f"{cookie[0]}={cookie[1]}", "X-CSRF-Token": csrf},
            )
            if issued.status_code != 200:
                report.refused[f"token:{_problem(issued)}"] += 1
                continue
            right = pending.finish(b64u_decode(issued.json()["blind_sig"], field="blind_sig"))
            report.tokens += 1
            choices = random_choices(questions, rng)
            if encryption is not None:
                began = time.monotonic()
                answers = encrypt_ballot(
                    questions,
                    key=encryption.joint_key,
                    context=encryption.ballot_context(right.voter_key),
                    choices=choices,
                ).to_json()
                report.encrypt_seconds += time.monotonic() - began
                _right, request = right.cast(answers, encrypted=True)
            else:
                _right, request = right.cast(choices)
            client.cookies.clear()
            cast = client.post(
                f"/elections/{row.id}/ballots",
                content=request.to_json_bytes(),
                headers={"Content-Type": "application/json"},
            )
            if cast.status_code == 201:
                report.cast += 1
            else:
                report.refused[f"cast:{_problem(cast)}"] += 1
        report.seconds = time.monotonic() - started
    return report
