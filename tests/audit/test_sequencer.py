"""The sequencer (audit-log.md, "Sequencing"): crashes lose nothing and never fork; one leader at a
time.

* A process killed in the middle of integrating a batch (after its entries, nodes and queue
  deletions, just before its checkpoint) leaves the log exactly as before the batch, and the
  next integration gives the same entries the same indexes.
* Two integrators racing without the leader lock still cannot produce two checkpoints for
  one size, nor integrate an entry twice.
* On PostgreSQL a second process takes the lead when the first one dies (SIGKILL).
* On both engines the background thread integrates within the batch delay.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from audit import AuditService, merkle, service_from
from audit.note import open_checkpoint
from audit.tables import CheckpointRow, EntryRow, PendingRow
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext, build_context
from parvis.kernel.db import Database
from parvis.kernel.settings import Settings, load_settings
from tests.audit.conftest import record_many
from tests.conftest import fresh_database
from tests.support.server import REPO

CRASH_SCRIPT = textwrap.dedent(
    """
    import os, sys
    from sqlalchemy import event
    from audit import service_from
    from parvis.kernel.context import build_context
    from parvis.kernel.settings import load_settings

    ctx = build_context(load_settings())
    service = service_from(ctx)

    @event.listens_for(ctx.db.engine, "before_cursor_execute")
    def crash(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(sys.argv[1]):
            os._exit(137)  # like SIGKILL: no rollback, no cleanup, the connection just dies

    service.integrate()
    sys.exit(0)  # not reached when the crash point is hit
    """
)


LEADER_SCRIPT = textwrap.dedent(
    """
    import time
    from audit import service_from
    from parvis.kernel.context import build_context
    from parvis.kernel.settings import load_settings

    service = service_from(build_context(load_settings()))
    thread = service.start_sequencer()
    while not thread.leading.wait(0.05):
        pass
    print("leading", flush=True)
    while True:  # until the test kills this process
        time.sleep(1)
    """
)


def state(ctx: AppContext) -> tuple[list[int], int, int]:
    """(checkpoint sizes, entry count, pending count)."""
    with ctx.db.read_session() as session:
        sizes = list(
            session.execute(select(CheckpointRow.size).order_by(CheckpointRow.size)).scalars()
        )
        entries = session.execute(select(func.count()).select_from(EntryRow)).scalar_one()
        pending = session.execute(select(func.count()).select_from(PendingRow)).scalar_one()
    return sizes, entries, pending


def check_tree(service: AuditService, ctx: AppContext) -> int:
    with ctx.db.read_session() as session:
        key = service.verifier(session, log="audit")
        checkpoint = open_checkpoint(
            service.checkpoint(session, log="audit"), origin=key.name, log_key=key
        ).checkpoint
        entries = service.entries(session, log="audit", start=0, end=checkpoint.size)
    assert merkle.root([merkle.leaf_hash(e.data) for e in entries]) == checkpoint.root_hash
    assert len({e.data for e in entries}) == checkpoint.size  # nothing integrated twice
    return checkpoint.size


def env_for(settings: Settings, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "PARVIS_MODE": "test",
        "PARVIS_DATABASE_URL": settings.database_url,
        "PARVIS_DATA_DIR": str(settings.data_dir),
        **extra,
    }


def test_crash_in_the_middle_of_a_batch_loses_nothing(
    ctx: AppContext, service: AuditService, settings: Settings
) -> None:
    # The last statement of the batch: entries, nodes and queue deletions are all done.
    crash_at = "INSERT INTO AUDIT_CHECKPOINTS"
    record_many(service, ctx, 10)
    assert service.integrate() == 10
    record_many(service, ctx, 5)  # acknowledged: committed in the writer's transaction
    assert state(ctx) == ([0, 10], 10, 5)

    crashed = subprocess.run(
        [sys.executable, "-c", CRASH_SCRIPT, crash_at],
        env=env_for(settings),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert crashed.returncode == 137, crashed.stderr[-2000:]
    # The batch's entries, nodes and queue deletions died with its transaction.
    assert state(ctx) == ([0, 10], 10, 5)

    assert service.integrate() == 5
    assert state(ctx) == ([0, 10, 15], 15, 0)
    assert check_tree(service, ctx) == 15


def test_racing_integrators_cannot_fork_the_log(
    ctx: AppContext, service: AuditService, settings: Settings
) -> None:
    record_many(service, ctx, 10)
    service.integrate()
    record_many(service, ctx, 6)
    # Two processes' worth of sequencer, each with its own engine, started together and
    # without the leader lock (integrate_on is what runs once the lock is held).
    others = [build_context(settings, clock=FixedClock()) for _ in range(2)]
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def race(other: AppContext) -> None:
        with other.db.engine.connect() as plain:
            conn = plain.execution_options(sqlite_begin="IMMEDIATE")  # ignored by PostgreSQL
            barrier.wait()
            try:
                outcomes.append(service_from(other).integrate_on(conn))
            except Exception as exc:  # the loser's transaction fails on a primary key
                outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=race, args=(o,)) for o in others]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(map(str, outcomes)) in (["0", "6"], ["6", "IntegrityError"])
    assert state(ctx) == ([0, 10, 16], 16, 0)  # one checkpoint per size, no entry twice
    assert check_tree(service, ctx) == 16
    for other in others:
        other.db.dispose()


def wait_for(condition: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_background_sequencer_integrates_within_the_delay(
    make_settings: Callable[..., Settings], clock: FixedClock
) -> None:
    ctx = build_context(make_settings(audit_batch_delay_ms=50), clock=clock)
    service = service_from(ctx)
    thread = service.start_sequencer()
    try:
        wait_for(thread.leading.is_set)
        record_many(service, ctx, 3)
        wait_for(lambda: state(ctx)[1] == 3, timeout=10)
        assert check_tree(service, ctx) == 3
    finally:
        service.stop_sequencer()
        ctx.db.dispose()
    assert not thread.leading.is_set()


@pytest.mark.postgres
def test_second_process_takes_the_lead_when_the_first_dies(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = fresh_database(request, "postgresql", migrated=True)
    settings = load_settings(
        mode="test", database_url=url, data_dir=tmp_path / "var", audit_batch_delay_ms=50
    )
    ctx = build_context(settings, clock=FixedClock(), database=Database(url))
    service = service_from(ctx)
    record_many(service, ctx, 1)  # creates the log (and its key file) first
    first = subprocess.Popen(
        [sys.executable, "-c", LEADER_SCRIPT],
        env=env_for(settings, PARVIS_AUDIT_BATCH_DELAY_MS="50"),
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert first.stdout is not None
        assert first.stdout.readline().strip() == "leading"
        wait_for(lambda: state(ctx)[1] == 1)  # the first process integrated it
        follower = service.start_sequencer()
        time.sleep(1.5)  # longer than a follower's retry interval
        assert not follower.leading.is_set()
        record_many(service, ctx, 2)
        wait_for(lambda: state(ctx)[1] == 3)
        assert follower.integrated == 0  # the leader did it
        first.send_signal(signal.SIGKILL)  # no shutdown: its database session just ends
        first.wait(10)
        wait_for(follower.leading.is_set)
        record_many(service, ctx, 2)
        wait_for(lambda: state(ctx)[1] == 5)
        # The counter moves once the batch is committed AND remembered outside the database
        # (docs/adr/0017-rollback-detection.md): a moment after the checkpoint is visible.
        wait_for(lambda: follower.integrated == 2)
    finally:
        service.stop_sequencer()
        if first.poll() is None:
            first.kill()
            first.wait()
        if first.stdout is not None:
            first.stdout.close()
    assert check_tree(service, ctx) == 5
    ctx.db.dispose()
