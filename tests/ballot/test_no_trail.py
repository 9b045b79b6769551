"""No time trail on the token and cast paths (ballot-secrecy.md §2), on SQLite and
PostgreSQL: no access-log line for the two routes (their counts in ``/metrics``, with no
``_created`` time), and an issuance that stores no timed eligibility decision and no audit
event finer than the day."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, or_, select

from audit.tables import EntryRow, EventRow, PendingRow
from ballot.service import ElectionService
from identity.tables import DecisionRow
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from parvis.kernel.principal import Citizen
from tests.ballot.elections import (
    GOOD_CHOICES,
    Voter,
    make_citizen,
    open_election,
    setup_rule,
    signed_in,
    voters,
)

TOKENS = "/elections/{election_id}/tokens"
BALLOTS = "/elections/{election_id}/ballots"


def _access_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str, int]]:
    return [
        (r.__dict__["method"], r.__dict__["route"], r.__dict__["status"])
        for r in caplog.records
        if r.name == "parvis.access"
    ]


def test_token_and_cast_routes_write_no_access_line(
    app: FastAPI, client: TestClient, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    election = open_election(ctx, clock)
    caplog.set_level(logging.INFO, logger="parvis.access")
    voter, other = voters(ctx, client, election, 2)
    voter.obtain_right()  # GET manifest, POST tokens
    receipt = voter.vote(GOOD_CHOICES)  # POST ballots
    assert other.request_token(b"\xff" * 256).status_code == 422  # refused: still quiet
    assert client.post(f"/elections/{election}/ballots", content=b"{}").status_code == 415
    with TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False) as failing:

        def broken(*_args: Any) -> Any:
            raise RuntimeError("planted failure")

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(ElectionService, "prepare_cast", broken)
            crashed = failing.post(
                f"/elections/{election}/ballots",
                content=voter.cast_request(GOOD_CHOICES),
                headers={"Content-Type": "application/json"},
            )
    assert crashed.status_code == 500
    looked = client.get(f"/elections/{election}/receipts/{receipt['tracking_code']}")
    assert looked.status_code == 200

    lines = _access_lines(caplog)
    # Other routes still log, the manifest and receipt lookups of this very journey included.
    assert ("GET", "/elections/{election_id}/manifest", 200) in lines
    assert ("GET", "/elections/{election_id}/receipts/{tracking_code}", 200) in lines
    # Not one line for the token and cast routes: successes, refusals and the failure.
    assert [line for line in lines if line[1] in {TOKENS, BALLOTS}] == []

    # Their counts are in /metrics, by status; no sample dates a first request.
    metrics = client.get("/metrics").text
    for method, route, status in (
        ("POST", TOKENS, 200),
        ("POST", TOKENS, 422),
        ("POST", BALLOTS, 201),
        ("POST", BALLOTS, 415),
        ("POST", BALLOTS, 500),
    ):
        labels = f'method="{method}",route="{route}",status="{status}"'
        line = next(
            m
            for m in metrics.splitlines()
            if m.startswith(f"parvis_http_requests_total{{{labels}}}")
        )
        assert float(line.rsplit(" ", 1)[1]) >= 1
    assert f'parvis_http_request_duration_seconds_count{{route="{BALLOTS}"}}' in metrics
    assert "_created" not in metrics


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
