"""A cast's receipt is the board's signed promise; the proof comes from the receipt endpoint
once the batch went on the board at its boundary (ADR 0009) and the audit sequencer — here
leading in another process — integrated it.

PostgreSQL only by nature: the sequencer leader holds an advisory lock (SQLite has a single
writer and always integrates at once). The test holds that lock itself, as a leader in
another process would.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from audit import open_promise
from audit.sequencer import LOCK_KEY
from ballot.service import service_from
from ballot.token import b64u_decode
from parvis.app import create_app
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from parvis.kernel.settings import load_settings
from tests.ballot.elections import GOOD_CHOICES, check_receipt, open_election, setup_rule, voters
from tests.conftest import fresh_database
from tests.support.postgres import TempPostgres


@pytest.fixture
def pg_app(
    request: pytest.FixtureRequest, pg_server: TempPostgres, tmp_path: object, clock: FixedClock
) -> Iterator[FastAPI]:
    url = fresh_database(request, "postgresql", migrated=True)
    app = create_app(
        load_settings(mode="test", database_url=url, data_dir=str(tmp_path)), clock=clock
    )
    yield app
    service_from(app.state.ctx).committer.stop()
    app.state.ctx.db.dispose()


def test_a_receipt_is_a_promise_until_the_sequencer_integrates(
    pg_app: FastAPI, pg_server: TempPostgres, clock: FixedClock
) -> None:
    ctx: AppContext = pg_app.state.ctx
    setup_rule(ctx)
    election = open_election(ctx, clock)
    client = TestClient(pg_app, base_url="http://127.0.0.1")
    voter = next(voters(ctx, client, election, 1))
    voter.obtain_right()
    manifest = voter.manifest()
    database = ctx.db.engine.url.database
    with psycopg.connect(
        host="127.0.0.1", port=pg_server.port, user="postgres", dbname=database, autocommit=True
    ) as leader:
        assert leader.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone() == (True,)
        receipt = voter.vote(GOOD_CHOICES)
        assert receipt["index"] is None
        assert receipt["inclusion_proof"] is None
        promise = receipt["promise"]
        body = open_promise(
            promise["note"],
            log_key=manifest.verifier_key(),
            origin=manifest.board_origin,
            leaf_hash=b64u_decode(receipt["leaf_hash"], field="leaf"),
        )
        assert body.integrate_by > 0
        pending = client.get(f"/elections/{election}/receipts/{receipt['tracking_code']}")
        assert pending.status_code == 200
        assert pending.json()["status"] == "pending"
        assert pending.json()["appears_at"] == receipt["appears_at"]
        # The boundary passes: the batch is queued for the board, but the leader elsewhere
        # has not integrated it yet — still pending, now due at the boundary just passed.
        assert service_from(ctx).integrate_batches(force=True) == 1
        queued = client.get(f"/elections/{election}/receipts/{receipt['tracking_code']}")
        assert queued.json()["status"] == "pending"
        leader.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
    assert service_from(ctx).audit.integrate() >= 1
    found = client.get(f"/elections/{election}/receipts/{receipt['tracking_code']}")
    assert found.status_code == 200
    check_receipt(found.json(), manifest)
