"""Demo elections for ``make demo`` (ADR 0006, "Definitions, platforms, CLI").

Seeds, in identity's demo city (rule ``budget-participatif``, seeded by identity before
ballot runs), two open elections with fixed ids, so that running the demo again finds them:

* a participatory budget — a budget ballot, 8 projects within a 400 000 € envelope;
* a consultation — a single-choice question.

Both allow re-voting and publish individual ballots from 3 ballots on (fewer: aggregates
only, the minimum anonymity set at work). Idempotent: an election that exists is moved
forward to ``open`` if it is still a draft or scheduled, and left alone otherwise.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from parvis.kernel.context import AppContext

__all__ = ["BUDGET_ID", "CONSULTATION_ID", "DEMO_RULE", "definitions", "seed_demo"]

DEMO_RULE: Final = "budget-participatif"
BUDGET_ID: Final = uuid.UUID("5b1a3c2e-7d4f-4e6a-9b8c-0d1e2f3a4b5c")
CONSULTATION_ID: Final = uuid.UUID("6c2b4d3f-8e5a-4f7b-8c9d-1e2f3a4b5c6d")
_ACTOR: Final = "system:demo"

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
    }
    budget = {
        "id": str(BUDGET_ID),
        "title": {"fr": "Budget participatif 2026", "en": "Participatory budget 2026"},
        **common,
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
            service.schedule(election_id=election_id, actor=_ACTOR)
            status = Status.SCHEDULED
        if status is Status.SCHEDULED:
            service.open(election_id=election_id, actor=_ACTOR)
            yield f"ballot: opened « {title} » — booth /scrutins/{election_id}/isoloir"
        else:
            yield f"ballot: « {title} » already {status.value} — /scrutins/{election_id}/isoloir"
