"""No time trail on the token and cast paths (ballot-secrecy.md §2), on SQLite and
PostgreSQL: no access-log line for the two routes (their counts in ``/metrics``, with no
``_created`` time), and an issuance that stores no timed eligibility decision and no audit
event finer than the day."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, or_, select

from audit.tables import EntryRow, EventRow, PendingRow
from identity.tables import DecisionRow
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from parvis.kernel.principal import Citizen
from tests.ballot.elections import (
    Voter,
    make_citizen,
    open_election,
    setup_rule,
    signed_in,
)

TOKENS = "/elections/{election_id}/tokens"
BALLOTS = "/elections/{election_id}/ballots"


def _leaves_about(ctx: AppContext, citizen: str) -> list[dict[str, Any]]:
    """Every audit leaf (pending or integrated, any log) naming the citizen."""
    with ctx.db.read_session() as db:
        datas = [*db.scalars(select(PendingRow.data)), *db.scalars(select(EntryRow.data))]
    found = []
    for data in datas:
        try:
            leaf = json.loads(data)
        except ValueError:
            continue
        if isinstance(leaf, dict) and (
            leaf.get("subject") == citizen or leaf.get("actor") == f"citizen:{citizen}"
        ):
            found.append(leaf)
    return found


def _events_about(ctx: AppContext, citizen: str) -> list[tuple[int, str, datetime]]:
    with ctx.db.read_session() as db:
        rows = db.execute(
            select(EventRow.seq, EventRow.event_type, EventRow.time).where(
                or_(EventRow.subject == citizen, EventRow.actor == f"citizen:{citizen}")
            )
        )
        return [(seq, kind, when) for seq, kind, when in rows]


def test_issuance_stores_no_timed_decision_and_no_timed_audit_event(
    app: FastAPI, client: TestClient, clock: FixedClock
) -> None:
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    election = open_election(ctx, clock)
    make_citizen(ctx)  # someone else's history in the same tables
    # An hour and a second that a timed record would give away.
    clock.advance(timedelta(hours=3, minutes=17, seconds=23))
    citizen = make_citizen(ctx)
    voter = Voter(client, election, *signed_in(ctx, Citizen(citizen)))
    with ctx.db.read_session() as db:
        decisions_before = db.scalar(
            select(func.count()).select_from(DecisionRow).where(DecisionRow.citizen_id == citizen)
        )
    events_before = _events_about(ctx, citizen)
    leaves_before = _leaves_about(ctx, citizen)

    asked = client.get(
        f"/elections/{election}/eligibility",
        headers={"Cookie": f"{voter.cookie[0]}={voter.cookie[1]}"},
    )
    assert asked.status_code == 200
    assert asked.json()["eligible"]
    voter.obtain_right()

    with ctx.db.read_session() as db:
        decisions = db.scalars(select(DecisionRow).where(DecisionRow.citizen_id == citizen)).all()
    assert decisions_before == 0
    assert decisions == []  # no decision row at all: the voter list keeps the day
    new_events = [e for e in _events_about(ctx, citizen) if e not in events_before]
    timed = [e for e in new_events if (e[2].hour, e[2].minute, e[2].second) != (0, 0, 0)]
    assert timed == []
    new_leaves = [leaf for leaf in _leaves_about(ctx, citizen) if leaf not in leaves_before]
    assert [leaf for leaf in new_leaves if not str(leaf.get("time", "")).endswith("T00:00Z")] == []
