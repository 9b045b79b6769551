"""Double spending, re-vote ordering and the issuance cap under concurrency, on SQLite and
PostgreSQL.

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
from sqlalchemy import func, select, update

from ballot.client import begin_issuance
from ballot.errors import EligiblePopulationReachedError, StaleRevoteError, TokenAlreadyUsedError
from ballot.service import PreparedBallot, service_from
from ballot.tables import BallotRow, BoardRow, CommitmentRow, PendingBallotRow, VoterRow
from ballot.verify import verify_board
from parvis.app import create_app
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from parvis.kernel.settings import Settings
from tests.ballot.elections import (
    Voter,
    later,
    make_citizen,
    open_election,
    setup_rule,
    voters,
)

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
        # Waiting for the boundary: in the pool only (the pool's UNIQUE slot held).
        assert db.scalar(select(func.count()).select_from(PendingBallotRow)) == 1
        assert db.scalar(select(func.count()).select_from(BallotRow)) == 0
        assert db.scalar(select(func.count()).select_from(CommitmentRow)) == 0
    assert service_from(ctx).integrate_batches(force=True) == 1
    with ctx.db.read_session() as db:
        assert db.scalar(select(func.count()).select_from(PendingBallotRow)) == 0
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
    assert service.integrate_batches(force=True) == len(accepted)
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


def test_parallel_issuance_never_passes_the_eligible_population(
    app: FastAPI, twin: FastAPI, client: TestClient, clock: FixedClock
) -> None:
    """Twelve eligible citizens ask at the same instant, through two workers, for tokens of
    an election whose manifest states a population of five: exactly five get one."""
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    election = open_election(ctx, clock, population=5)
    crowd = list(voters(ctx, client, election, PARALLEL))
    manifest = crowd[0].manifest()
    blinded = [
        begin_issuance(
            manifest.public_key(),
            election_id=manifest.election_id,
            committed_key_id=manifest.issuer_key_id,
        ).blinded_msg
        for _ in crowd
    ]
    start = threading.Barrier(PARALLEL)

    def ask(i: int) -> Any:
        worker = TestClient([app, twin][i % 2], base_url="http://127.0.0.1")
        start.wait()
        return Voter(worker, election, crowd[i].cookie, crowd[i].csrf).request_token(blinded[i])

    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        responses = list(pool.map(ask, range(PARALLEL)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 5 + [409] * (PARALLEL - 5), [r.text for r in responses]
    refused = [r.json()["title"] for r in responses if r.status_code == 409]
    assert set(refused) == {"Eligible population reached"}
    with ctx.db.read_session() as db:
        assert db.scalar(select(func.count()).select_from(VoterRow)) == 5
        assert db.scalar(select(BoardRow.tokens_issued)) == 5


def test_the_cap_holds_when_a_concurrent_issuer_commits_last(
    app: FastAPI, client: TestClient, clock: FixedClock, db_kind: str
) -> None:
    """The cheap check passes while another issuer's increment is not yet committed; the
    conditional update then waits for its row lock and, re-evaluated (PostgreSQL, READ
    COMMITTED), refuses. On SQLite the writer waits at BEGIN IMMEDIATE and the check
    refuses. Either way: nothing recorded, nothing returned."""
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    service = service_from(ctx)
    election = open_election(ctx, clock, population=1)
    citizen = make_citizen(ctx)
    manifest = Voter(client, election, ("x", "y")).manifest()
    blinded = begin_issuance(
        manifest.public_key(),
        election_id=manifest.election_id,
        committed_key_id=manifest.issuer_key_id,
    ).blinded_msg
    other = ctx.db.engine.connect()
    other.begin()
    # The other issuer: its increment to the cap holds the row until it commits.
    other.execute(
        update(BoardRow)
        .where(BoardRow.election_id == election)
        .values(tokens_issued=BoardRow.tokens_issued + 1)
    )
    with ThreadPoolExecutor(max_workers=1) as pool:
        outcome = pool.submit(
            service.issue_token, election_id=election, citizen=citizen, blinded_msg=blinded
        )
        if db_kind == "postgresql":
            # Wait (no timing threshold) until the issuer blocks on the board row's lock:
            # it passed the cheap check and signed already.
            with ctx.db.engine.connect() as probe:
                while not probe.exec_driver_sql(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                ).scalar_one():
                    probe.rollback()
                    threading.Event().wait(0.01)
        other.commit()
        other.close()
        with pytest.raises(EligiblePopulationReachedError):
            outcome.result()
    with ctx.db.read_session() as db:
        assert db.scalar(select(func.count()).select_from(VoterRow)) == 0
        assert db.scalar(select(BoardRow.tokens_issued)) == 1
