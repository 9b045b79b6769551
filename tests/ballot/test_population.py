"""The eligible population of an election is counted from the census when it opens, never
typed (ballot-secrecy.md §3), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

import identity
from ballot.service import service_from
from identity.eligibility import Evidence, Rule
from identity.tables import CensusEntryRow
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from tests.ballot.elections import (
    COMMUNE,
    Voter,
    make_citizen,
    open_election,
    seed_census,
    setup_rule,
)


def test_the_manifest_counts_the_census_and_the_other_evidence_holders(
    app: FastAPI, client: TestClient, clock: FixedClock
) -> None:
    """Census people, plus citizens with other accepted evidence of the territory; the
    typed population of an old definition plays no part."""
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    make_citizen(ctx)  # self-declared in the town
    make_citizen(ctx)
    make_citizen(ctx, eligible=False)  # no evidence: not counted
    election = open_election(
        ctx, clock, population=7, eligibility={"rule": "ballot-test", "population": 12000}
    )
    manifest = Voter(client, election, ("x", "y")).manifest()
    assert manifest.eligible_population == 7 + 2
    with ctx.db.read_session() as db:
        assert identity.eligible_population(ctx, db, rule_id="ballot-test") == 9
        stored = service_from(ctx).get(db, election).definition
    assert "12000" not in stored


def test_a_citizen_in_the_census_with_other_evidence_counts_once(
    app: FastAPI, clock: FixedClock
) -> None:
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    seed_census(ctx, 3)
    service = identity.service_from(ctx)
    with ctx.db.read_session() as db:
        census_hash = db.scalars(select(CensusEntryRow.pivot_hash)).first()
    assert census_hash is not None
    with ctx.db.write_session() as db:
        citizen = service.create_citizen(
            db, pivot_hash_value=census_hash, acr="eidas1", birth_year=1980
        )
        service.self_declare(
            db, citizen_id=citizen.id, territory_id="ballot-town", commune_code=COMMUNE
        )
    with ctx.db.read_session() as db:
        assert identity.eligible_population(ctx, db, rule_id="ballot-test") == 3


def test_an_electoral_roll_rule_counts_only_the_roll(app: FastAPI, clock: FixedClock) -> None:
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    seed_census(ctx, 4)  # a census, not the electoral roll
    make_citizen(ctx)
    service = identity.service_from(ctx)
    with ctx.db.write_session() as db:
        service.save_rule(
            db,
            Rule(
                id="roll-only",
                name="Consultation des électeurs",
                territory_id="ballot-town",
                accepted_evidence=frozenset({Evidence.CENSUS}),
                reference_date=date(2026, 6, 1),
                electoral_roll=True,
            ),
            actor="system:test",
        )
    with ctx.db.read_session() as db:
        assert identity.eligible_population(ctx, db, rule_id="roll-only") == 0
        assert identity.eligible_population(ctx, db, rule_id="ballot-test") == 5
