"""The operator cannot tie a counted ballot to a citizen better than chance within a batch
(ballot-secrecy.md §2: "The operator's best linkage must be chance within a batch. The suite
measures it.").

**What runs.** :mod:`tests.privacy.booth` drives 60 citizens through the real HTTP server
(uvicorn in a thread, the app on an injected ``FixedClock``, SQLite file database, the app's
JSON log configuration): FranceConnect sandbox sign-in over HTTP, the booth page, eligibility,
the voting right at once (``POST /tokens`` with cookie and ``X-CSRF-Token``), 30 s – 5 min of
filling, a 1–5 s delay, a cookie-less cast; arrivals at 240 an hour; about 10 % re-vote
later. :mod:`tests.privacy.operator` then attacks with the database file and its WAL, the
log file and the public board export only, and outputs per counted nullifier a set of
candidate citizens.

**The measure, and why it is not flaky.** The score is the attacker's expected correct
matches when it picks uniformly within its candidate set (a tie counts 1/|set|), summed over
the counted nullifiers. The only randomness that differs from run to run on a correct server
is the server's own (the shuffle of a batch, random keys): the voters' timing comes from a
seeded ``random.Random`` and every time the server writes comes from the injected clock.
When the server leaks no time or order finer than the batch, every ballot of a batch reaches
the attacker's matching with identical evidence, so the attack (deterministic, row-wise
identical arithmetic) gives all of them the same candidate set ``S``; the batch then scores
``|S ∩ voters of the batch| / |S| ≤ 1`` — exactly, not in expectation. Chance is one
expected match per batch (a uniform guess within a batch of k ballots is right 1/k of the
time, k times), and the test asserts the score is at most 1.5 × the number of batches. A
shuffle cannot push a correct server over the bound, so the test cannot fail by bad luck; a
trail that orders or times ballots inside a batch shows up as a higher score.

**Batch length.** The election uses ``batch_seconds = 3600``: the whole wave (60 arrivals
at 240/h, about 15 minutes, plus filling) falls in one batch, so chance is one match and the
bound 1.5. With the voting right obtained on opening, even exact issuance and cast times
link only some ballots (the 30 s – 5 min of filling spreads them; about 4–8 of 60 in our
runs), so a short batch (many batches, a large bound) would hide such a trail; one long
batch keeps the bound below what a timed trail gives.

The second test plants microsecond times on both paths (an SQLAlchemy listener writes the
clock's time, and the cast's nullifier on the cast path, into a table of its own) and checks
that the same attack then goes well over the bound: the test has teeth.

SQLite only: the attack reads SQLite's files (rowids, B-tree pages, WAL frames); PostgreSQL
keeps the same rows, so the logical trails it finds apply to both.
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text

from parvis.kernel.context import AppContext
from tests.privacy.booth import Day, Profile, run_polling_day
from tests.privacy.operator import Attack, attack

PROFILE = Profile()
BOUND = 1.5


def _batches(day: Day) -> Counter[int]:
    seconds = day.batch_seconds
    return Counter(int(moment.timestamp()) // seconds for moment in day.first_cast.values())


def _attack(day: Day) -> Attack:
    return attack(
        database=day.database,
        wal=day.wal,
        log=day.log,
        export=day.export,
        election_id=day.election_id,
    )


def _report(day: Day, result: Attack) -> str:
    score = result.expected_correct(day.truth)
    batches = _batches(day)
    return (
        f"expected correct matches {score:.2f} of {len(day.truth)} counted ballots; "
        f"batches {sorted(batches.values())} (chance {len(batches)}, bound "
        f"{BOUND * len(batches):.1f}); batched backend: {day.batched}; "
        f"citizen times from {sorted(result.evidence.citizen_times)}; "
        f"ballot times from {sorted(result.evidence.ballot_times)}; "
        f"orders used {result.evidence.orders}; log zips {result.evidence.log_zips}"
    )


@pytest.fixture
def polling_tmp(tmp_path: Path, sqlite_template: Path) -> Path:
    shutil.copyfile(sqlite_template, tmp_path / "template.sqlite3")
    return tmp_path


def test_operator_links_no_better_than_chance_within_a_batch(polling_tmp: Path) -> None:
    day = run_polling_day(polling_tmp, PROFILE)
    assert len(day.truth) >= 60
    result = _attack(day)
    assert set(result.candidates) == set(day.truth), "one guess per counted nullifier"
    score = result.expected_correct(day.truth)
    print(_report(day, result))
    assert day.batched, "the backend integrates ballots in batches (integrate_batches)"
    assert score <= BOUND * len(_batches(day)), _report(day, result)


def _plant(ctx: AppContext) -> None:
    """A regression to catch: the token path and the cast path write a microsecond time
    (the register insert, and the pending ballot's insert with its leaf hash)."""
    engine = ctx.db.engine
    with engine.begin() as connection:
        connection.execute(
            text("CREATE TABLE planted_times (id INTEGER PRIMARY KEY, at TEXT, what BLOB)")
        )

    @event.listens_for(engine, "after_cursor_execute")
    def stamp(conn: Any, _cursor: Any, statement: str, params: Any, *rest: Any) -> None:
        many = bool(rest[-1])  # (context, executemany)
        lowered = statement.lower()
        if not lowered.startswith("insert into ballot_"):
            return
        at = ctx.clock.now().isoformat(timespec="microseconds")
        # A cursor of its own: the statement's cursor may still hold its result.
        cursor = conn.connection.dbapi_connection.cursor()
        if lowered.startswith("insert into ballot_voters"):
            cursor.execute("INSERT INTO planted_times (at) VALUES (?)", (at,))
        elif lowered.startswith("insert into ballot_pending"):
            # One multi-row statement; every 32-byte value (bytes, or the memoryview that
            # SQLite's binary binding gives) is a leaf hash or a nullifier.
            for row in params if many else [params]:
                values = row.values() if isinstance(row, dict) else row
                for value in values:
                    if isinstance(value, bytes | memoryview) and len(value) == 32:
                        cursor.execute(
                            "INSERT INTO planted_times (at, what) VALUES (?, ?)", (at, bytes(value))
                        )
        cursor.close()


def test_a_planted_timed_field_links_above_the_bound(polling_tmp: Path) -> None:
    day = run_polling_day(polling_tmp, PROFILE, plant=_plant)
    result = _attack(day)
    score = result.expected_correct(day.truth)
    print(_report(day, result))
    assert "planted_times" in result.evidence.ballot_times, _report(day, result)
    assert score > 2 * BOUND * len(_batches(day)), _report(day, result)
