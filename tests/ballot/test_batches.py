"""Batched boards (docs/adr/0009-batched-boards.md): ballots wait in a durable pool and go on
the board at wall-clock boundaries, in a random order, under one checkpoint — on SQLite and
PostgreSQL, under concurrency and across a crash.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

import audit
from ballot import box
from ballot.batches import board_order, boundary_at_or_before, next_boundary, shuffled
from ballot.service import board_log_name, service_from
from ballot.tables import BallotRow, CommitmentRow, PendingBallotRow
from ballot.verify import verify_board
from parvis import migrate
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from parvis.kernel.principal import Citizen
from tests.ballot.elections import (
    GOOD_CHOICES,
    Voter,
    check_receipt,
    fetch_receipt,
    later,
    make_citizen,
    open_election,
    post_anonymously,
    setup_rule,
    signed_in,
    voters,
)
from tests.ballot.test_cli_and_server import context
from tests.support.server import ServerProcess

# -- the pure core --------------------------------------------------------------------------


def test_boundaries_are_wall_clock_multiples_of_the_batch() -> None:
    moment = datetime(2026, 3, 1, 8, 7, 31, 250_000, tzinfo=UTC)
    assert boundary_at_or_before(moment, 600) == datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    assert next_boundary(moment, 600) == datetime(2026, 3, 1, 8, 10, tzinfo=UTC)
    assert next_boundary(moment, 60) == datetime(2026, 3, 1, 8, 8, tzinfo=UTC)
    exact = datetime(2026, 3, 1, 8, 10, tzinfo=UTC)
    assert boundary_at_or_before(exact, 600) == exact
    assert next_boundary(exact, 600) == exact + timedelta(minutes=10)
    # Any time zone: the boundary is the same instant.
    paris = moment.astimezone(timezone(timedelta(hours=1)))
    assert next_boundary(paris, 600) == next_boundary(moment, 600)


def test_the_shuffle_is_uniform() -> None:
    """Every order of three ballots comes out about as often (6,000 draws, each of the six
    orders expected 1,000 times; below 800 or above 1,200 has probability < 1e-10)."""
    counts = Counter(tuple(shuffled("abc")) for _ in range(6000))
    assert set(counts) == set(itertools.permutations("abc"))
    assert all(800 < n < 1200 for n in counts.values()), counts


def test_re_votes_of_one_token_keep_increasing_seq_at_random_positions() -> None:
    items = [("x", 3), ("y", 1), ("x", 1), ("z", 1), ("x", 2)]
    positions: Counter[int] = Counter()
    for _ in range(3000):
        order = board_order(items, token=lambda i: i[0], seq=lambda i: i[1])
        assert sorted(order) == sorted(items)
        assert [i[1] for i in order if i[0] == "x"] == [1, 2, 3]
        positions[order.index(("y", 1))] += 1
    # The other ballots still take every position about equally often (600 each).
    assert all(450 < positions[p] < 750 for p in range(5)), positions


# -- the service ----------------------------------------------------------------------------


def _counts(ctx: AppContext, election: str) -> tuple[int, int, int]:
    with ctx.db.read_session() as db:
        pending = db.scalar(
            select(func.count())
            .select_from(PendingBallotRow)
            .where(PendingBallotRow.election_id == election)
        )
        committed = db.scalar(
            select(func.count())
            .select_from(CommitmentRow)
            .where(CommitmentRow.election_id == election)
        )
        head = audit.service_from(ctx).head(db, log=board_log_name(election))
    return int(pending or 0), int(committed or 0), head.size


def test_ballots_appear_only_at_the_boundary_under_one_checkpoint(
    app: FastAPI, client: TestClient, clock: FixedClock
) -> None:
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    service = service_from(ctx)
    election = open_election(ctx, clock, batch_seconds=600)
    crowd = list(voters(ctx, client, election, 5))
    manifest = crowd[0].manifest()
    assert manifest.batch_seconds == 600
    receipts = []
    for voter in crowd:
        voter.obtain_right()
        receipts.append(voter.vote(GOOD_CHOICES))
    due = next_boundary(clock.now(), 600)
    for receipt in receipts:
        check_receipt(receipt, manifest)
        assert receipt["appears_at"] == due.strftime("%Y-%m-%dT%H:%M:%SZ")
    status = client.get(f"/elections/{election}").json()
    assert status["ballots"] == 0
    assert status["batch_seconds"] == 600
    # Before the boundary nothing moves, however often the publisher looks.
    assert service.integrate_batches() == 0  # the boundary at or before "now" is done
    assert _counts(ctx, election) == (5, 0, 1)
    clock.current = due - timedelta(seconds=1)
    assert service.integrate_batches() == 0
    clock.current = due
    assert service.integrate_batches() == 5
    assert service.integrate_batches() == 0  # once per boundary
    # Manifest, the issuance register's size and root (ballot-secrecy.md §3), five ballots.
    assert _counts(ctx, election) == (0, 5, 7)
    included = [fetch_receipt(client, election, r["tracking_code"]) for r in receipts]
    assert {r["tree_size"] for r in included} == {7}  # one checkpoint for the batch
    for receipt in included:
        check_receipt(receipt, manifest)
    assert client.get(f"/elections/{election}").json()["ballots"] == 5


def test_a_close_puts_the_last_batch_before_the_close_entry(
    app: FastAPI, client: TestClient, clock: FixedClock
) -> None:
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    service = service_from(ctx)
    election = open_election(ctx, clock, min_anonymity_set=1)
    voter = next(voters(ctx, client, election, 1))
    voter.obtain_right()
    first = voter.vote(GOOD_CHOICES)
    assert service.integrate_batches(force=True) == 1
    second = voter.vote({"parc": "tilleuls", "budget": []})
    third = voter.vote({"parc": "gare", "budget": []})
    later(clock)
    service.close(election_id=election, actor="staff:t")
    assert _counts(ctx, election)[0] == 0
    service.tally(election_id=election, actor="staff:t")
    service.publish(election_id=election, actor="staff:t")
    export = service.export(election)
    kinds = [e.get("kind") for e in export["entries"]]
    assert kinds[:6] == ["manifest", "register", "ballot", "ballot", "ballot", "close"]
    leaves = {
        fetch_receipt(client, election, r["tracking_code"])["index"] for r in (first, second, third)
    }
    assert leaves == {2, 3, 4}
    report = verify_board(export, workers=1)
    assert report.counted_ballots == 1
    assert report.recounted


def test_parallel_casts_across_a_boundary_each_appear_once(
    app: FastAPI, client: TestClient, clock: FixedClock
) -> None:
    """Casts from many threads while the publisher integrates boundary after boundary:
    every acknowledged ballot ends on the board exactly once, none is lost or doubled."""
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    service = service_from(ctx)
    election = open_election(ctx, clock, batch_seconds=60)
    crowd = list(voters(ctx, client, election, 24))
    for voter in crowd:
        voter.obtain_right()
    bodies = [voter.cast_request(GOOD_CHOICES) for voter in crowd]
    start = threading.Barrier(7)
    done = threading.Event()
    integrated: list[int] = []

    def publisher() -> None:
        start.wait()
        while not done.is_set():
            clock.advance(timedelta(seconds=20))
            integrated.append(service.integrate_batches())

    def cast(i: int) -> list[httpx.Response]:
        mine = TestClient(app, base_url="http://127.0.0.1")
        start.wait()
        return [post_anonymously(mine, election, body) for body in bodies[i::6]]

    with ThreadPoolExecutor(7) as pool:
        runner = pool.submit(publisher)
        responses = [r for chunk in pool.map(cast, range(6)) for r in chunk]
        done.set()
        runner.result()
    assert [r.status_code for r in responses] == [201] * len(bodies)
    integrated.append(service.integrate_batches(force=True))
    assert sum(integrated) == len(bodies)
    # Manifest, the issuance register's size and root (ballot-secrecy.md §3), the ballots.
    assert _counts(ctx, election) == (0, len(bodies), len(bodies) + 2)
    with ctx.db.read_session() as db:
        assert db.scalar(select(func.count()).select_from(BallotRow)) == len(bodies)
    indexes = [
        fetch_receipt(client, election, r.json()["tracking_code"])["index"] for r in responses
    ]
    # After the manifest and the register's size and root (ballot-secrecy.md §3).
    assert sorted(indexes) == list(range(2, len(bodies) + 2))


def test_an_acknowledged_ballot_survives_a_crash_before_its_boundary(tmp_path: Path) -> None:
    """A real server acknowledges ballots and is killed (SIGKILL) before any boundary: the
    pool is durable, so the next integration puts every acknowledged ballot on the board.
    (SQLite: the embedded database a killed process leaves behind.)"""
    env = {
        "PARVIS_MODE": "test",
        "PARVIS_DATA_DIR": str(tmp_path / "var"),
        "PARVIS_DATABASE_URL": f"sqlite:///{tmp_path}/parvis.sqlite3",
    }
    migrate.upgrade(env["PARVIS_DATABASE_URL"])
    ctx = context(env)
    setup_rule(ctx)
    election = open_election(ctx, FixedClock(ctx.clock.now()))
    receipts: list[dict[str, Any]] = []
    server = ServerProcess(env)
    with server:
        with httpx.Client(base_url=server.url, timeout=30) as browser:
            for _ in range(3):
                cookie, csrf = signed_in(ctx, Citizen(make_citizen(ctx)))
                voter = Voter(browser, election, cookie, csrf)
                voter.obtain_right()
                receipts.append(voter.vote(GOOD_CHOICES))
        assert server.proc is not None
        server.proc.kill()  # no shutdown, no flush beyond what each commit made durable
        server.proc.wait()
    assert all(r["status"] == "pending" for r in receipts)
    assert _counts(ctx, election)[:2] == (3, 0)
    service = service_from(ctx)
    assert service.integrate_batches(force=True) == 3
    assert _counts(ctx, election) == (0, 3, 5)  # with the register's size and root
    with ctx.db.read_session() as db:
        for receipt in receipts:
            found = service.receipt(db, election, receipt["tracking_code"])
            assert found["status"] == "included"
    service.committer.stop()
    ctx.db.dispose()


def test_the_manifest_declares_the_batch(
    app: FastAPI, client: TestClient, clock: FixedClock
) -> None:
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    election = open_election(ctx, clock, batch_seconds=120)
    manifest = client.get(f"/elections/{election}/manifest").json()
    assert manifest["batch_seconds"] == 120
    assert client.get(f"/elections/{election}").json()["batch_seconds"] == 120


def test_a_receipt_says_when_a_later_ballot_of_its_token_replaced_it(
    app: FastAPI, client: TestClient, clock: FixedClock
) -> None:
    """docs/ballot-api.md, receipts: ``superseded`` once a later ballot of the same token is
    on the board, and only then (a re-vote waiting for its batch counts for nothing yet)."""
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    service = service_from(ctx)
    election = open_election(ctx, clock)
    voter, other = voters(ctx, client, election, 2)
    voter.obtain_right()
    other.obtain_right()
    first = voter.vote(GOOD_CHOICES)["tracking_code"]
    bystander = other.vote(GOOD_CHOICES)["tracking_code"]
    assert fetch_receipt(client, election, first)["superseded"] is False  # pending
    assert service.integrate_batches(force=True) == 2
    assert fetch_receipt(client, election, first)["superseded"] is False
    second = voter.vote({"parc": "tilleuls", "budget": []})["tracking_code"]
    waiting = fetch_receipt(client, election, second)
    assert (waiting["status"], waiting["superseded"]) == ("pending", False)
    assert fetch_receipt(client, election, first)["superseded"] is False
    assert service.integrate_batches(force=True) == 1
    replaced = fetch_receipt(client, election, first)
    assert (replaced["status"], replaced["superseded"]) == ("included", True)
    assert fetch_receipt(client, election, second)["superseded"] is False
    assert fetch_receipt(client, election, bystander)["superseded"] is False


def test_a_batch_larger_than_one_statement_is_read_in_chunks(
    app: FastAPI, client: TestClient, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL binds at most 65,535 parameters per statement: the batch's tokens are
    looked up in chunks (here of 2, so that 5 ballots and a re-vote take several)."""
    monkeypatch.setattr(box, "_CHUNK", 2)
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    service = service_from(ctx)
    election = open_election(ctx, clock)
    crowd = list(voters(ctx, client, election, 5))
    for voter in crowd:
        voter.obtain_right()
        voter.vote(GOOD_CHOICES)
    assert service.integrate_batches(force=True) == 5
    crowd[0].vote({"parc": "tilleuls", "budget": []})
    assert service.integrate_batches(force=True) == 1
    with ctx.db.read_session() as db:
        rows = db.execute(select(BallotRow.seq).where(BallotRow.election_id == election)).all()
    assert sorted(seq for (seq,) in rows) == [1, 1, 1, 1, 2]
