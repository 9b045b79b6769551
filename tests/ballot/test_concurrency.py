"""Double spending and re-vote ordering under concurrency, on SQLite and PostgreSQL.

Two application instances on one database stand for two worker processes (each with its own
committer thread); threads cast at the same instant through both, over HTTP. A second test
drives the ballot box directly from many threads, one transaction each, so that the database
itself arbitrates (UNIQUE nullifier, conditional update to a higher ``seq``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from ballot.errors import StaleRevoteError, TokenAlreadyUsedError
from ballot.service import PreparedBallot, service_from
from ballot.tables import BallotRow, CommitmentRow
from ballot.verify import verify_board
from parvis.app import create_app
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from parvis.kernel.settings import Settings
from tests.ballot.elections import Voter, later, open_election, setup_rule, voters

PARALLEL = 12


@pytest.fixture
def twin(settings: Settings, clock: FixedClock) -> Iterator[FastAPI]:
    """A second instance of the application on the same database (a second worker)."""
    other = create_app(settings, clock=clock)
    yield other
    ctx: AppContext = other.state.ctx
    service_from(ctx).committer.stop()
    ctx.db.dispose()


def choices(i: int) -> dict[str, Any]:
    return {"parc": ["gare", "tilleuls"][i % 2], "budget": [["jardin"], ["velos"], []][i % 3]}


def cast_together(apps: list[FastAPI], election: str, bodies: list[bytes]) -> list[Any]:
    """POST every body at the same instant, alternating between the app instances."""
    start = threading.Barrier(len(bodies))

    def post(i: int) -> Any:
        client = TestClient(apps[i % len(apps)], base_url="http://127.0.0.1")
        start.wait()
        return client.post(
            f"/elections/{election}/ballots",
            content=bodies[i],
            headers={"Content-Type": "application/json"},
        )

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return list(pool.map(post, range(len(bodies))))


def test_one_token_casts_once_whatever_the_concurrency(
    app: FastAPI, twin: FastAPI, client: TestClient, clock: FixedClock
) -> None:
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    election = open_election(ctx, clock, revote=False)
    voter: Voter = next(voters(ctx, client, election, 1))
    voter.obtain_right()
    # Twelve different ballots on one token (seq 1..12), cast at once through two workers.
    bodies = [voter.cast_request(choices(i)) for i in range(PARALLEL)]
    responses = cast_together([app, twin], election, bodies)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * (PARALLEL - 1), [r.text for r in responses]
    refused = [r.json()["type"] for r in responses if r.status_code == 409]
    assert all(t.endswith("/token-already-used") for t in refused)
    with ctx.db.read_session() as db:
        assert db.scalar(select(func.count()).select_from(BallotRow)) == 1
        assert db.scalar(select(func.count()).select_from(CommitmentRow)) == 1


def test_the_database_arbitrates_parallel_transactions(
    app: FastAPI, client: TestClient, clock: FixedClock
) -> None:
    """Without the committer: one transaction per thread, all at once."""
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    service = service_from(ctx)
    election = open_election(ctx, clock, revote=True)
    voter: Voter = next(voters(ctx, client, election, 1))
    voter.obtain_right()
    # The same ballot twice and twelve re-votes: seq 1 (twice), then 2..12.
    prepared: list[PreparedBallot] = [
        service.prepare_cast(election, voter.cast_request(choices(i), seq=i + 1))
        for i in range(PARALLEL)
    ]
    prepared.insert(0, service.prepare_cast(election, prepared[0].verified.request.to_json()))
    start = threading.Barrier(len(prepared))

    def put(ballot: PreparedBallot) -> Any:
        start.wait()
        return service.cast_batch(election, [ballot])[1][0]

    with ThreadPoolExecutor(max_workers=len(prepared)) as pool:
        outcomes = list(pool.map(put, prepared))
    accepted = [b for b, o in zip(prepared, outcomes, strict=True) if not isinstance(o, Exception)]
    refused = [o for o in outcomes if isinstance(o, Exception)]
    assert all(isinstance(o, StaleRevoteError) for o in refused), refused
    # The highest seq always wins; a copy of seq 1 never counts twice.
    assert max(b.verified.seq for b in accepted) == PARALLEL
    assert sum(b.verified.seq == 1 for b in accepted) <= 1
    with ctx.db.read_session() as db:
        row = db.scalars(select(BallotRow)).one()
    assert row.seq == PARALLEL
    # The board holds the accepted ballots in increasing seq: the verifier agrees.
    later(clock)
    service.close(election_id=election, actor="staff:t")
    service.tally(election_id=election, actor="staff:t")
    export = service.export(election, reveal=True)
    seqs = [e["cast"]["ballot"]["seq"] for e in export["entries"] if e.get("kind") == "ballot"]
    assert seqs == sorted(seqs)
    assert len(seqs) == len(accepted)
    report = verify_board(export, workers=1)
    assert report.counted_ballots == 1


def test_without_revoting_a_second_seq_is_refused_even_later(
    app: FastAPI, client: TestClient, clock: FixedClock
) -> None:
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    election = open_election(ctx, clock, revote=False)
    voter: Voter = next(voters(ctx, client, election, 1))
    voter.obtain_right()
    voter.vote(choices(0))
    again = voter.post_cast(voter.cast_request(choices(1)))
    assert again.status_code == 409
    assert again.json()["type"].endswith("/token-already-used")
    outcome = service_from(ctx).cast_batch(
        election, [service_from(ctx).prepare_cast(election, voter.cast_request(choices(2)))]
    )[1][0]
    assert isinstance(outcome, TokenAlreadyUsedError)
