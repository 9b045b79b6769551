"""Two cases of an encrypted election's tally (docs/board-format.md §10.1, §10.4), through
the service on SQLite and PostgreSQL: a paper channel — the paper entry goes before the
sums and its totals into the results entry, beside the decrypted counts — and an election
that closes with no ballot, whose results (every count 0) need no trustee."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ballot.encrypted_tally import InvalidEncryptionError
from ballot.service import service_from
from ballot.simulation import random_choices
from ballot.tally import tally
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from tests.ballot.elections import OFFICER, setup_rule
from tests.ballot.encrypted import open_encrypted_election, scheduled_encrypted_election
from tests.ballot.test_encrypted_cli import _vote
from tests.ballot.trustees import partials_document


def _kinds(ctx: AppContext, election: str) -> list[str]:
    return [e.get("kind", "withheld") for e in service_from(ctx).export(election)["entries"]]


def test_paper_totals_sit_beside_the_decrypted_counts(app: FastAPI, clock: FixedClock) -> None:
    ctx: AppContext = app.state.ctx
    setup_rule(ctx, paper_votes=True)
    opened = open_encrypted_election(ctx, clock, n=2, threshold=2, paper=True)
    election = opened.election_id
    service = service_from(ctx)
    with ctx.db.read_session() as db:
        questions = service._manifest(db, election).questions
    rng = random.Random(8)
    clear = [random_choices(questions, rng) for _ in range(2)]
    for choices in clear:
        _vote(ctx, election, choices)
    service.close(election_id=election, actor=OFFICER.audit_actor, force=True)
    paper: dict[str, Any] = {"parc": {"gare": 4}, "budget": {"jardin": 1, "bancs": 2}}
    service.set_paper_totals(election_id=election, voters=5, counts=paper, actor="officer")
    assert service.tally(election_id=election, actor=OFFICER.audit_actor)["status"] == (
        "decrypting"
    )
    assert _kinds(ctx, election)[-3:] == ["close", "paper", "tally-sums"]
    inputs = service.decryption_inputs(election)
    for share in opened.ceremony.shares:
        outcome = service.add_partial_decryption(
            election_id=election,
            document=partials_document(
                index=share.index,
                share=share.secret_share,
                static_key=share.static.public,
                sums=inputs["sums"],
                context=inputs["context"],
            ),
            actor="trustee",
        )
    assert outcome["status"] == "tallied"
    service.publish(election_id=election, actor=OFFICER.audit_actor)
    with ctx.db.read_session() as db:
        results = service.results(db, election)
    assert results["results"] == tally(questions, clear)
    assert results["paper"]["voters"] == 5
    assert results["paper"]["counts"]["parc"]["gare"] == 4
    assert results["paper"]["counts"]["budget"]["bancs"] == 2
    assert results["trustees"] == [1, 2]


def test_no_ballot_no_decryption(app: FastAPI, clock: FixedClock) -> None:
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    election = open_encrypted_election(ctx, clock).election_id
    service = service_from(ctx)
    service.close(election_id=election, actor=OFFICER.audit_actor, force=True)
    assert service.tally(election_id=election, actor=OFFICER.audit_actor) == {
        "ballots": 0,
        "status": "tallied",
    }
    assert "tally-sums" not in _kinds(ctx, election)
    service.publish(election_id=election, actor=OFFICER.audit_actor)
    with ctx.db.read_session() as db:
        results = service.results(db, election)
    assert results["publication"] == "encrypted"
    assert results["trustees"] == []
    assert results["ballots"] == 0
    with ctx.db.read_session() as db:
        questions = service._manifest(db, election).questions
    assert json.dumps(results["results"], sort_keys=True) == json.dumps(
        tally(questions, []), sort_keys=True
    )


def test_the_board_of_an_encrypted_election_before_its_opening_is_a_404(
    app: FastAPI, client: TestClient, clock: FixedClock
) -> None:
    """Not a stream that breaks half-way: the board does not exist yet."""
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    election, _trustees = scheduled_encrypted_election(ctx, clock)
    response = client.get(f"/elections/{election}/board")
    assert response.status_code == 404
    assert response.json()["type"].endswith("/manifest-not-published")


def test_an_encrypted_ballot_too_big_for_the_board_is_refused_at_scheduling(
    app: FastAPI, clock: FixedClock
) -> None:
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    options = [{"id": f"o{i}", "title": f"Option {i}"} for i in range(12)]
    big = [
        {
            "id": "rang",
            "type": "ranked",
            "title": "Classez",
            "min": 1,
            "max": 12,
            "options": options,
        }
    ]
    with pytest.raises(InvalidEncryptionError, match="fewer options"):
        scheduled_encrypted_election(ctx, clock, questions=big)
