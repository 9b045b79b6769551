"""Demo elections for ``make demo`` (ADR 0006, "Definitions, platforms, CLI").

Seeds, in identity's demo city (rule ``budget-participatif``, seeded by identity before
ballot runs), two open elections with fixed ids, so that running the demo again finds them:

* a participatory budget — a budget ballot, 8 projects within a 400 000 € envelope — as an
  **encrypted** election (docs/adr/0018-encrypted-elections.md, "Demo trustees") with three
  demo trustees, any two of whom can decrypt the results;
* a consultation — a single-choice question — as a **public-ballot** election (mode
  ``public``: the server sees each choice), so that both modes are in the demo.

Both allow re-voting and publish individual ballots from 3 ballots on (fewer: aggregates
only, the minimum anonymity set at work). Idempotent: an election that exists is moved
forward to ``open`` if it is still a draft or scheduled, and left alone otherwise.

The demo trustees (demo only, never in production): three staff accounts with the trustee
role (``garant-1@demo.parvis.test`` …), and a key ceremony run by the demo itself
(:mod:`ballot.ceremony_local`) — so the three shares exist, for a moment, in one process,
which is exactly what a real ceremony avoids. Each trustee's share is then sealed as
``parvis-trustee round2`` seals it (:mod:`ballot.trustee_file`, Argon2id at libsodium's
MODERATE cost, about 3 s a file) under a random passphrase, in ``DATA_DIR/demo-trustees/``:
``share-N.sealed``, ``share-N.passphrase`` and ``garant-N.txt`` (the staff account's e-mail,
password and TOTP URI), so that ``parvis-trustee decrypt --passphrase-file …`` works at the
tally. A ceremony interrupted by a crash is abandoned and started again (a new attempt).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from parvis.kernel.context import AppContext

__all__ = [
    "BUDGET_ID",
    "CONSULTATION_ID",
    "DEMO_RULE",
    "DEMO_TRUSTEES",
    "TRUSTEE_DIR",
    "definitions",
    "seed_demo",
]

DEMO_RULE: Final = "budget-participatif"
BUDGET_ID: Final = uuid.UUID("5b1a3c2e-7d4f-4e6a-9b8c-0d1e2f3a4b5c")
CONSULTATION_ID: Final = uuid.UUID("6c2b4d3f-8e5a-4f7b-8c9d-1e2f3a4b5c6d")
_ACTOR: Final = "system:demo"
#: The participatory budget's trustees: (label, staff e-mail); any 2 of 3 decrypt.
DEMO_TRUSTEES: Final = (
    ("Mairie", "garant-1@demo.parvis.test"),
    ("Opposition municipale", "garant-2@demo.parvis.test"),
    ("Conseil citoyen", "garant-3@demo.parvis.test"),
)
DEMO_THRESHOLD: Final = 2
#: Under the data directory (``var/`` for ``make demo``).
TRUSTEE_DIR: Final = "demo-trustees"

_PROJECTS: Final = (
    ("jardins", "Jardins partagés près de la gare", "Shared gardens near the station", 45_000),
    (
        "pistes-cyclables",
        "Pistes cyclables sécurisées vers les écoles",
        "Safe cycle lanes to the schools",
        180_000,
    ),
    (
        "aire-de-jeux",
        "Aire de jeux accessible à tous au parc municipal",
        "Inclusive playground in the town park",
        120_000,
    ),
    (
        "ombrage",
        "Arbres et bancs à l’ombre sur la place du Marché",
        "Shade trees and benches on Market Square",
        60_000,
    ),
    (
        "fontaines",
        "Fontaines d’eau potable dans les quartiers",
        "Drinking fountains in every district",
        35_000,
    ),
    (
        "tiers-lieu",
        "Tiers-lieu associatif dans l’ancienne poste",
        "Community hub in the old post office",
        250_000,
    ),
    (
        "eclairage",
        "Éclairage public économe rue des Écoles",
        "Low-energy street lighting on School Street",
        90_000,
    ),
    ("composteurs", "Composteurs collectifs de quartier", "Neighbourhood compost bins", 25_000),
)


def _time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def definitions(now: datetime) -> list[dict[str, Any]]:
    """The two demo definitions (docs/ballot-api.md, DEFINITION), open from today for 60 days."""
    opens = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    closes = opens + timedelta(days=60)
    common = {
        "opens_at": _time(opens),
        "closes_at": _time(closes),
        "eligibility": {"rule": DEMO_RULE},
        "revote": True,
        "min_anonymity_set": 3,
        "paper": False,
        # One-minute batches keep the README journey short (ADR 0009; default 600 s).
        "batch_seconds": 60,
        # A fictitious city's elections are rehearsals (ballot/definition.py): `parvis
        # election simulate` may fill them, and its voters, who have no FranceConnect
        # identity, obtain rights the register marks unbound (docs/adr/0019).
        "rehearsal": True,
    }
    budget = {
        "id": str(BUDGET_ID),
        "title": {"fr": "Budget participatif 2026", "en": "Participatory budget 2026"},
        **common,
        "mode": "encrypted",
        "trustees": [{"label": label, "staff": email} for label, email in DEMO_TRUSTEES],
        "threshold": DEMO_THRESHOLD,
        "questions": [
            {
                "id": "projets",
                "type": "budget",
                "title": {
                    "fr": "Quels projets voulez-vous financer ?",
                    "en": "Which projects do you want to fund?",
                },
                "envelope": 400_000,
                "options": [
                    {"id": pid, "title": {"fr": fr, "en": en}, "cost": cost}
                    for pid, fr, en, cost in _PROJECTS
                ],
            }
        ],
    }
    consultation = {
        "id": str(CONSULTATION_ID),
        "title": {
            "fr": "Consultation : la rue du Marché piétonne le samedi ?",
            "en": "Consultation: Market Street car-free on Saturdays?",
        },
        **common,
        # A public-ballot election (docs/adr/0018-encrypted-elections.md, "Modes").
        "mode": "public",
        "questions": [
            {
                "id": "pietonnisation",
                "type": "single",
                "title": {
                    "fr": "Faut-il réserver la rue du Marché aux piétons le samedi ?",
                    "en": "Should Market Street be for pedestrians only on Saturdays?",
                },
                "options": [
                    {"id": "oui", "title": {"fr": "Oui", "en": "Yes"}},
                    {"id": "non", "title": {"fr": "Non", "en": "No"}},
                    {"id": "sans-avis", "title": {"fr": "Sans avis", "en": "No opinion"}},
                ],
            }
        ],
    }
    return [budget, consultation]


def seed_demo(ctx: AppContext) -> Iterator[str]:
    """Create and open the demo elections (idempotent); one line per step."""
    import identity
    from ballot.definition import Status
    from ballot.errors import ElectionNotFoundError
    from ballot.service import service_from

    service = service_from(ctx)
    with ctx.db.read_session() as session:
        rules = {rule.id for rule in identity.service_from(ctx).rules(session)}
    if DEMO_RULE not in rules:
        yield f"ballot: no identity rule {DEMO_RULE!r}; demo elections not created"
        return
    for definition in definitions(ctx.clock.now()):
        election_id = definition["id"]
        title = definition["title"]["fr"]
        with ctx.db.write_session() as session:
            try:
                status = Status(service.get(session, election_id, drafts=True).status)
            except ElectionNotFoundError:
                service.create(session, data=definition, actor=_ACTOR)
                status = Status.DRAFT
        if status is Status.DRAFT:
            if definition["mode"] == "encrypted":
                yield from _demo_trustees(ctx)
            service.schedule(election_id=election_id, actor=_ACTOR)
            status = Status.SCHEDULED
        if status is Status.SCHEDULED and definition["mode"] == "encrypted":
            yield from _demo_ceremony(ctx, election_id)
        if status is Status.SCHEDULED:
            service.open(election_id=election_id, actor=_ACTOR)
            yield f"ballot: opened « {title} » — booth /scrutins/{election_id}/isoloir"
        else:
            yield f"ballot: « {title} » already {status.value} — /scrutins/{election_id}/isoloir"


def _trustee_dir(ctx: AppContext) -> Path:
    directory = Path(ctx.settings.data_dir) / TRUSTEE_DIR
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    return directory


def _demo_trustees(ctx: AppContext) -> Iterator[str]:
    """The three demo trustees' staff accounts (created once; their sign-in details in
    ``DATA_DIR/demo-trustees/garant-N.txt``, mode 0600)."""
    import identity
    from ballot.trustee_file import write_atomic
    from parvis.kernel.principal import Role

    accounts = identity.staff_service_from(ctx)
    directory = _trustee_dir(ctx)
    for number, (label, email) in enumerate(DEMO_TRUSTEES, 1):
        with ctx.db.write_session() as session:
            if accounts.active_by_email(session, email=email) is not None:
                continue
            created = accounts.create(
                session, email=email, roles=frozenset({Role.TRUSTEE}), actor=_ACTOR
            )
        text = (
            f"{label}\ne-mail: {created.email}\npassword: {created.password}\n"
            f"TOTP: {created.totp_uri}\n"
        )
        write_atomic(directory / f"garant-{number}.txt", text.encode(), replace=True)
        yield f"ballot: demo trustee {number} ({label}): {directory / f'garant-{number}.txt'}"


def _demo_ceremony(ctx: AppContext, election_id: str) -> Iterator[str]:
    """Run the budget's key ceremony for the demo trustees and seal their shares
    (module docstring); nothing to do once ``dkg-complete`` is on the board."""
    import secrets

    from ballot.ceremony_local import new_static_keys, run_ceremony
    from ballot.service import service_from
    from ballot.trustee_file import seal, write_atomic

    service = service_from(ctx)
    with ctx.db.read_session() as session:
        state = service.ceremony_state(session, election_id)
    if state["step"] == "complete":
        return
    if state["step"] != "keys":  # a run interrupted mid-ceremony: start a new attempt
        service.new_attempt(election_id=election_id, actor=_ACTOR)
    statics = new_static_keys(len(DEMO_TRUSTEES))
    setup = service.start_ceremony(
        election_id=election_id,
        actor=_ACTOR,
        static_keys=[s.public.encoded.hex() for s in statics],
    )
    ceremony = run_ceremony(setup, statics)
    directory = _trustee_dir(ctx)
    # The shares are sealed before the ceremony goes on the board: an election never opens
    # with a key whose shares the demo did not keep.
    for share in ceremony.shares:
        passphrase = secrets.token_urlsafe(24)
        sealed = seal(ceremony.share_secret(share.index), passphrase)
        write_atomic(directory / f"share-{share.index}.sealed", sealed, replace=True)
        write_atomic(
            directory / f"share-{share.index}.passphrase", f"{passphrase}\n".encode(), replace=True
        )
    service.import_ceremony(election_id=election_id, document=ceremony.document, actor=_ACTOR)
    yield (
        f"ballot: key ceremony of the budget done ({DEMO_THRESHOLD} of {len(DEMO_TRUSTEES)} "
        f"demo trustees); shares sealed in {directory}"
    )
