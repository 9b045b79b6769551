"""The casting fast path (``ballot/casting.py``): group commit that gathers concurrent casts,
without giving up any rule of voting-protocol.md, "Casting".

On SQLite and PostgreSQL: concurrent casts are committed in shared batches and each gets its
own correct receipt; copies of one token in one gathered batch count once (or the highest
``seq``); a lone voter never waits for company; and the anonymous route reads no session.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select

from ballot import casting
from ballot.board import tracking_code
from ballot.casting import CastCommitter
from ballot.errors import StaleRevoteError, TokenAlreadyUsedError
from ballot.service import PreparedBallot, service_from
from ballot.tables import BallotRow
from ballot.token import b64u_decode
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from tests.ballot.elections import (
    GOOD_CHOICES,
    Voter,
    check_receipt,
    fetch_receipt,
    integrate,
    open_election,
    post_anonymously,
    setup_rule,
    voters,
)

PARALLEL = 12


class _RecordingQueue(queue.SimpleQueue[Any]):
    """The committer's real queue, noting each blocking ``get`` (a wait for more ballots)."""

    def __init__(self) -> None:
        super().__init__()
        self.waits = 0

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        if block and timeout is not None:
            self.waits += 1
        return super().get(block, timeout)


@pytest.fixture
def committer(app: FastAPI) -> CastCommitter:
    """A committer of the real service whose threads are not started: ``_gather`` is
    called directly."""
    one = CastCommitter(service_from(app.state.ctx))
    # Gathering is on for SQLite only (measured); its mechanism is tested on both.
    assert one._gathering is app.state.ctx.db.is_sqlite
    one._gathering = True
    one._queue = _RecordingQueue()
    return one


def _item(n: int) -> casting._Item:
    return casting._Item(election_id=f"e{n}", ballot=None, future=Future())  # type: ignore[arg-type]


def test_a_lone_voter_never_waits_for_company(committer: CastCommitter) -> None:
    committer._last_size = 1
    committer._last_commit = 3600.0  # would be a long wait, were there one
    first = _item(0)
    assert committer._gather(first) == [first]
    recording = committer._queue
    assert isinstance(recording, _RecordingQueue)
    assert recording.waits == 0


def test_under_load_the_batch_waits_for_the_next_cast(
    committer: CastCommitter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a batch of several, the committer waits (up to the last commit's duration) for
    ballots still arriving; a full batch ends the wait at once."""
    monkeypatch.setattr(casting, "MAX_BATCH", 3)
    monkeypatch.setattr(casting, "GATHER_MAX_WAIT", 3600.0)
    committer._last_size = 5
    committer._last_commit = 3600.0
    waiting = _item(1)
    committer._queue.put(waiting)
    late = _item(2)
    arrived = threading.Event()

    def arrive() -> None:
        recording = committer._queue
        assert isinstance(recording, _RecordingQueue)
        while recording.waits == 0:  # once the committer waits for it
            threading.Event().wait(0.001)
        committer._queue.put(late)
        arrived.set()

    thread = threading.Thread(target=arrive)
    thread.start()
    first = _item(0)
    batch = committer._gather(first)
    thread.join()
    assert arrived.is_set()
    assert batch == [first, waiting, late]


def test_stop_ends_the_wait(committer: CastCommitter, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(casting, "GATHER_MAX_WAIT", 3600.0)
    committer._last_size = 5
    committer._last_commit = 3600.0
    threading.Timer(0.01, committer._queue.put, args=(casting._STOP,)).start()
    first = _item(0)
    batch = committer._gather(first)
    assert batch == [first, casting._STOP]


def _ready_voters(ctx: AppContext, client: TestClient, election: str, count: int) -> list[Voter]:
    out = list(voters(ctx, client, election, count))
    for voter in out:
        voter.obtain_right()
    return out


def test_concurrent_casts_share_batches_and_each_gets_its_own_receipt(
    app: FastAPI, client: TestClient, clock: FixedClock
) -> None:
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    election = open_election(ctx, clock)
    service = service_from(ctx)
    crowd = _ready_voters(ctx, client, election, PARALLEL * 3)
    manifest = crowd[0].manifest()
    bodies = [voter.cast_request(GOOD_CHOICES) for voter in crowd]
    before = (service.committer.batches, service.committer.ballots)
    start = threading.Barrier(PARALLEL)

    def cast(i: int) -> list[Any]:
        mine = TestClient(app, base_url="http://127.0.0.1")
        start.wait()
        return [post_anonymously(mine, election, body) for body in bodies[i::PARALLEL]]

    with ThreadPoolExecutor(PARALLEL) as pool:
        responses = [r for chunk in pool.map(cast, range(PARALLEL)) for r in chunk]
    assert [r.status_code for r in responses] == [201] * len(bodies)
    receipts = [r.json() for r in responses]
    for receipt in receipts:
        check_receipt(receipt, manifest)  # pending until the boundary, with the promise
        leaf = b64u_decode(receipt["leaf_hash"], field="leaf_hash")
        assert receipt["tracking_code"] == tracking_code(leaf)
    assert integrate(ctx) == len(bodies)
    included = [fetch_receipt(client, election, r["tracking_code"]) for r in receipts]
    for receipt in included:
        check_receipt(receipt, manifest)
    assert len({r["index"] for r in included}) == len(bodies)
    # One checkpoint for the whole batch: every receipt names the same tree.
    # The manifest, the issuance register's size and root (ballot-secrecy.md §3), the ballots.
    assert {r["tree_size"] for r in included} == {len(bodies) + 2}
    batches = service.committer.batches - before[0]
    assert service.committer.ballots - before[1] == len(bodies)
    assert 1 <= batches <= len(bodies)
    with ctx.db.read_session() as db:
        counted = db.scalar(select(func.count()).where(BallotRow.election_id == election))
    assert counted == len(bodies)


def _prepared(app: FastAPI, election: str, bodies: list[bytes]) -> list[PreparedBallot]:
    service = service_from(app.state.ctx)
    return [service.prepare_cast(election, body) for body in bodies]


def _submit_together(
    committer: CastCommitter, election: str, ballots: list[PreparedBallot]
) -> list[Future[dict[str, Any]]]:
    """Queue every ballot before the committer thread runs, so that they form one batch."""
    futures: list[Future[dict[str, Any]]] = []
    for ballot in ballots:
        future: Future[dict[str, Any]] = Future()
        committer._queue.put(casting._Item(election, ballot, future))
        futures.append(future)
    committer._ensure_started()
    return futures


@pytest.mark.parametrize("revote", [False, True])
def test_copies_of_one_token_in_one_batch_count_once(
    app: FastAPI, client: TestClient, clock: FixedClock, revote: bool
) -> None:
    """voting-protocol.md, "Casting": nullifier UNIQUE; with re-voting, the highest ``seq``
    wins. Here the copies meet inside one gathered batch, beside other voters' ballots."""
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    election = open_election(ctx, clock, revote=revote)
    service = service_from(ctx)
    one, *others = _ready_voters(ctx, client, election, 4)
    assert one.right is not None
    # Four casts of one token, as four devices holding the same voting right would make.
    copies = [one.right.cast(GOOD_CHOICES, seq=seq)[1].to_json_bytes() for seq in (2, 5, 3, 5)]
    bodies = copies + [voter.cast_request(GOOD_CHOICES) for voter in others]
    committer = CastCommitter(service)
    try:
        futures = _submit_together(committer, election, _prepared(app, election, bodies))
        outcomes: list[dict[str, Any] | BaseException] = []
        for future in futures:
            try:
                outcomes.append(future.result(timeout=60))
            except (TokenAlreadyUsedError, StaleRevoteError) as refused:
                outcomes.append(refused)
    finally:
        committer.stop()
    assert committer.batches == 1  # the copies met inside one batch
    accepted = [i for i, o in enumerate(outcomes[:4]) if isinstance(o, dict)]
    refusal = StaleRevoteError if revote else TokenAlreadyUsedError
    # As if cast one after the other in batch order: seq 2, then 5 (higher: a re-vote),
    # then 3 and 5 again (not higher); without re-voting, the first only.
    assert accepted == ([0, 1] if revote else [0])
    assert all(isinstance(outcomes[i], refusal) for i in range(4) if i not in accepted)
    assert all(isinstance(o, dict) for o in outcomes[4:])
    winner = outcomes[accepted[-1]]
    assert isinstance(winner, dict)
    # The ballot box records each token's counted ballot when the batch goes on the board.
    assert service.integrate_batches(force=True) == len(accepted) + len(others)
    with ctx.db.read_session() as db:
        found = db.execute(
            select(BallotRow.seq, BallotRow.leaf_hash).where(BallotRow.election_id == election)
        )
        rows = {(seq, leaf) for seq, leaf in found}
    assert len(rows) == 1 + len(others)
    assert (5 if revote else 2, b64u_decode(winner["leaf_hash"], field="leaf")) in rows


def test_the_anonymous_route_reads_no_session(
    app: FastAPI, client: TestClient, clock: FixedClock
) -> None:
    """voting-protocol.md, "Casting": no cookie read or set. Even with a valid session cookie on the
    request, casting runs no statement on the session table and sets no cookie."""
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    election = open_election(ctx, clock)
    voter = _ready_voters(ctx, client, election, 1)[0]
    body = voter.cast_request(GOOD_CHOICES)
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(ctx.db.engine, "before_cursor_execute", record)
    try:
        response = client.post(
            f"/elections/{election}/ballots",
            content=body,
            headers={
                "Content-Type": "application/json",
                "Cookie": f"{voter.cookie[0]}={voter.cookie[1]}",
            },
        )
    finally:
        event.remove(ctx.db.engine, "before_cursor_execute", record)
    assert response.status_code == 201, response.text
    assert "set-cookie" not in response.headers
    assert statements  # the ballot box was written
    assert not [s for s in statements if "web_sessions" in s]
    with ctx.db.read_session() as db:  # the citizen's session is still there
        assert ctx.sessions.load(db, voter.cookie[1]) is not None


def test_the_cast_route_is_matched_first(app: FastAPI) -> None:
    """Starlette tries routes in order: the hot path comes before every other route of the
    application, so a cast is not compared with all of them first
    (``DomainPlugin.hot_routers``)."""

    def paths(route: Any) -> list[str]:
        # FastAPI keeps an included router as one entry (``original_router``) whose routes
        # it tries in order; plain routes have a path.
        inner = getattr(route, "original_router", None)
        if inner is not None:
            return [p for r in inner.routes for p in paths(r)]
        return [route.path] if hasattr(route, "path") else []

    flat = [p for route in app.routes for p in paths(route)]
    cast = flat.index("/elections/{election_id}/ballots")
    # Only FastAPI's own documentation routes (exact paths) come before it.
    assert set(flat[:cast]) <= {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
    assert flat.count("/elections/{election_id}/ballots") == 1
    assert len(flat) > 50  # every other route was seen
