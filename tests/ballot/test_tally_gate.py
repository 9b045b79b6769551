"""A tally checks before it records, and publication waits for a tally that passed
(ADR 0010; voting-protocol.md, "Verification"): through the HTTP API and the CLI, on
SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select

from audit.tables import EventRow
from ballot.service import service_from
from ballot.tables import BoardRow, ElectionRow, TallyFailureRow, VoterRow
from ballot.verify import verify_board
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from tests.ballot.elections import (
    GOOD_CHOICES,
    OFFICER,
    definition,
    later,
    open_election,
    seed_census,
    session_cookie,
    setup_rule,
    voters,
)
from tests.ballot.test_cli_and_server import context, one_line_error, run, vote_through_service

PROBLEM = "tag:parvis.fr,2026:problem/"


def _officer(client: TestClient, ctx: AppContext, path: str) -> Any:
    name, value = session_cookie(ctx, OFFICER)
    return client.post(path, headers={"Cookie": f"{name}={value}"})


def _remove_one_voter(ctx: AppContext, election: str) -> VoterRow:
    """Plant the fault: one token of the voter list disappears after the close, so the
    board holds more ballots than tokens issued."""
    with ctx.db.write_session() as db:
        row = db.scalars(select(VoterRow).where(VoterRow.election_id == election)).first()
        assert row is not None
        kept = VoterRow(
            election_id=row.election_id, citizen=row.citizen, channel=row.channel, day=row.day
        )
        db.execute(
            delete(VoterRow).where(
                VoterRow.election_id == election, VoterRow.citizen == row.citizen
            )
        )
    return kept


def _trace(ctx: AppContext, election: str) -> tuple[str, bytes | None, int, int, str | None]:
    """What a tally may change: status, results entry, board entries, tally audit events,
    and the remembered failure."""
    service = service_from(ctx)
    with ctx.db.read_session() as db:
        row = db.get(ElectionRow, election)
        board = db.get(BoardRow, election)
        assert row is not None
        assert board is not None
        size = len(service.export(election, reveal=True)["entries"])
        tallied = db.scalar(
            select(func.count())
            .select_from(EventRow)
            .where(
                EventRow.event_type.in_(["ballot.election.tallied", "ballot.election.published"])
            )
        )
        failure = db.get(TallyFailureRow, election)
        return (
            row.status,
            board.results_hash,
            size,
            int(tallied or 0),
            (failure.reason if failure is not None else None),
        )


def test_a_failed_tally_records_nothing_and_publication_waits(
    app: FastAPI, client: TestClient, clock: FixedClock
) -> None:
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    election = open_election(ctx, clock)
    for voter in voters(ctx, client, election, 2):
        voter.obtain_right()
        voter.vote(GOOD_CHOICES)
    later(clock)
    service = service_from(ctx)
    service.close(election_id=election, actor=OFFICER.audit_actor)
    closed = _trace(ctx, election)
    assert closed[0] == "closed"
    assert closed[1] is None
    assert closed[4] is None
    removed = _remove_one_voter(ctx, election)

    refused = _officer(client, ctx, f"/elections/{election}/tally")
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    problem = refused.json()
    assert problem["type"] == PROBLEM + "tally-check-failed"
    assert problem["detail"] == (
        "tally refused, nothing recorded: 1 online voters on the voter list, "
        "2 tokens in the register"
    )
    assert "\n" not in problem["detail"]
    # Nothing recorded — no entry, no status change, no audit event — but the reason.
    status, results_hash, size, events, failure = _trace(ctx, election)
    assert (status, results_hash, size, events) == closed[:4]
    assert failure == "1 online voters on the voter list, 2 tokens in the register"

    blocked = _officer(client, ctx, f"/elections/{election}/publish")
    assert blocked.status_code == 409, blocked.text
    assert blocked.json()["type"] == PROBLEM + "tally-check-failed"
    assert blocked.json()["detail"] == (
        "publication refused: the last tally failed its check: "
        "1 online voters on the voter list, 2 tokens in the register"
    )
    assert _trace(ctx, election)[:4] == closed[:4]

    # Once the voter list is whole again, a tally passes, forgets the failure, and the
    # election publishes a board that verifies.
    with ctx.db.write_session() as db:
        db.add(removed)
    tallied = _officer(client, ctx, f"/elections/{election}/tally")
    assert tallied.status_code == 200, tallied.text
    assert tallied.json()["status"] == "tallied"
    assert _trace(ctx, election)[4] is None
    published = _officer(client, ctx, f"/elections/{election}/publish")
    assert published.status_code == 200, published.text
    assert published.json()["status"] == "published"
    report = verify_board(service.export(election))
    assert report.counted_ballots == 2
    assert report.tokens_issued == 2


def test_the_tally_refuses_tokens_unlike_the_close_entry(
    app: FastAPI, client: TestClient, clock: FixedClock
) -> None:
    """A voter-list row written after the close without its register entry (the voter
    list changed under the board) disagrees with the issuance register: refused too."""
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    election = open_election(ctx, clock)
    voter = next(voters(ctx, client, election, 1))
    voter.obtain_right()
    voter.vote(GOOD_CHOICES)
    later(clock)
    service_from(ctx).close(election_id=election, actor=OFFICER.audit_actor)
    with ctx.db.write_session() as db:
        db.add(
            VoterRow(election_id=election, citizen="late", channel="online", day=clock.now().date())
        )
    refused = _officer(client, ctx, f"/elections/{election}/tally")
    assert refused.status_code == 409, refused.text
    assert refused.json()["detail"].endswith(
        "2 online voters on the voter list, 1 tokens in the register"
    )
    assert _trace(ctx, election)[0] == "closed"


def test_the_cli_says_why_in_one_line(database_url: str, tmp_path: Path) -> None:
    env = {
        "PARVIS_MODE": "test",
        "PARVIS_DATABASE_URL": database_url,
        "PARVIS_DATA_DIR": str(tmp_path / "var"),
    }
    ctx = context(env)
    setup_rule(ctx)
    seed_census(ctx, 1000)
    service = service_from(ctx)
    spec = definition(FixedClock())
    spec["opens_at"] = "2020-01-01T00:00:00Z"
    spec["closes_at"] = "2099-01-01T00:00:00Z"
    with ctx.db.write_session() as db:
        election = service.create(db, data=spec, actor=OFFICER.audit_actor).id
    service.schedule(election_id=election, actor=OFFICER.audit_actor)
    service.open(election_id=election, actor=OFFICER.audit_actor)
    for _ in range(2):
        vote_through_service(ctx, election, GOOD_CHOICES)
    assert run(["election", "close", election, "--force"], env).exit_code == 0
    _remove_one_voter(ctx, election)

    tallied = run(["election", "tally", election], env)
    assert one_line_error(tallied) == (
        "error: tally refused, nothing recorded: 1 online voters on the voter list, "
        "2 tokens in the register"
    )
    assert tallied.stdout == ""
    published = run(["election", "publish", election], env)
    assert one_line_error(published) == (
        "error: publication refused: the last tally failed its check: "
        "1 online voters on the voter list, 2 tokens in the register"
    )
    assert published.stdout == ""
    with ctx.db.read_session() as db:
        row = db.get(ElectionRow, election)
        assert row is not None
        assert row.status == "closed"
    service.committer.stop()
    ctx.db.dispose()
