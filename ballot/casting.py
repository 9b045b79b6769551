"""Group commit of cast ballots: one transaction (and one disk flush) for many ballots.

Every accepted ballot must be durable before its receipt is sent, and a durable commit costs
a disk flush (SQLite ``synchronous=FULL``; PostgreSQL ``fsync``): a few milliseconds on the
machines Parvis targets, which alone would cap casting at a few hundred ballots per second.
Request handlers therefore verify their ballot (the CPU work: RSA-PSS, Ed25519, the rules)
themselves and hand it to :class:`CastCommitter`, one thread per process that takes every
ballot waiting and puts them in the ballot box and the pending pool in one transaction
(:meth:`ballot.service.ElectionService.cast_batch`), then answers each handler through a
future with its receipt: the tracking code, the board's signed promise and the boundary at
which the ballot will appear (the board takes the pool in a random order at each boundary:
docs/adr/0009-batched-boards.md). While one batch commits the next one gathers, so batches
grow with the load and cost nothing when it is light.

One bad ballot cannot sink a batch: refusals (used token, stale ``seq``) are per ballot; if
the batch transaction itself fails, each ballot is retried alone.

Nothing here logs a ballot, a token or a client address.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import defaultdict
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from audit import Promise
from ballot.board import tracking_code
from ballot.manifest import format_time
from ballot.token import b64u_encode
from parvis.kernel.errors import DomainError

if TYPE_CHECKING:
    from ballot.box import BallotBox, PreparedBallot

__all__ = ["CastCommitter"]

log = logging.getLogger("parvis.ballot.casting")

#: Most ballots in one transaction.
MAX_BATCH: Final = 256
#: Longest wait for more ballots before a commit (seconds), and the size of the last batch
#: from which casts count as concurrent (see :meth:`CastCommitter._gather`).
GATHER_MAX_WAIT: Final = 0.010
GATHER_SIBLINGS: Final = 2
_STOP: Final = object()


@dataclass(frozen=True, slots=True)
class _Item:
    election_id: str
    ballot: PreparedBallot
    future: Future[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class _Settled:
    """A committed batch: per ballot its promise or refusal, and when it will appear."""

    appears_at: datetime | None
    group: list[_Item]
    outcome: list[Promise | DomainError]


class CastCommitter:
    """The per-process committer; :meth:`submit` returns a future of the receipt.

    One thread commits a batch of ballots and answers them; the ballots reach the board
    later, at their batch boundary, so a receipt needs no proof read here.
    """

    def __init__(self, service: BallotBox) -> None:
        self._service = service
        self._queue: queue.SimpleQueue[_Item | object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._last_commit = 0.0
        self._last_size = 0
        # Measured (bench/cast.py): on SQLite, gathering cut the server's CPU per cast by a
        # sixth; on PostgreSQL, with a committer per worker, it saved nothing. SQLite only.
        self._gathering = service.ctx.db.is_sqlite
        #: Batches committed and ballots in them, for the benchmark and tests.
        self.batches = 0
        self.ballots = 0

    def submit(self, election_id: str, ballot: PreparedBallot) -> Future[dict[str, Any]]:
        """Queue a verified ballot; the future gives the receipt or raises the refusal."""
        self._ensure_started()
        future: Future[dict[str, Any]] = Future()
        self._queue.put(_Item(election_id, ballot, future))
        return future

    def cast(self, election_id: str, ballot: PreparedBallot) -> dict[str, Any]:
        """Submit and wait (CLI, tests, synchronous callers)."""
        return self.submit(election_id, ballot).result()

    def _ensure_started(self) -> None:
        # Started on first use, so that it lives in the worker process that serves, never
        # in a parent that forks.
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(
                target=self._run, name="parvis-ballot-committer", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(_STOP)
            thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = self._gather(first)
            stop = any(item is _STOP for item in batch)
            items = [item for item in batch if isinstance(item, _Item)]
            by_election: dict[str, list[_Item]] = defaultdict(list)
            for item in items:
                by_election[item.election_id].append(item)
            started = time.monotonic()
            settled = [self._commit(eid, group) for eid, group in by_election.items()]
            self._last_commit = time.monotonic() - started
            self._last_size = len(items)
            self.batches += 1
            self.ballots += len(items)
            for batch_ in settled:
                for one in batch_:
                    _answer(one)
            if stop:
                return

    def _gather(self, first: _Item | object) -> list[_Item | object]:
        """The next batch: every ballot waiting and, when casts are arriving concurrently,
        those that arrive within a short wait (group commit, like PostgreSQL's
        ``commit_delay``/``commit_siblings``).

        A batch costs a transaction, a durable flush and a fixed CPU share (statements,
        begin and commit) whatever its size; under load, ballots keep arriving while one
        commits, and waiting a little for them halves the batches' count and cost. The
        wait is bounded by the duration of the last commit (never more than
        ``GATHER_MAX_WAIT``) and happens only if the last batch held several ballots: a lone
        voter never waits. SQLite only (see ``_gathering``).
        """
        batch = [first]
        self._drain(batch)
        if (
            not self._gathering
            or any(item is _STOP for item in batch)
            or self._last_size < GATHER_SIBLINGS
        ):
            return batch
        deadline = time.monotonic() + min(self._last_commit, GATHER_MAX_WAIT)
        while len(batch) < MAX_BATCH:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                item = self._queue.get(timeout=remaining)
            except queue.Empty:
                break
            batch.append(item)
            if item is _STOP:
                break
            self._drain(batch)
        return batch

    def _drain(self, batch: list[_Item | object]) -> None:
        while len(batch) < MAX_BATCH:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                return

    def _commit(self, election_id: str, group: list[_Item]) -> list[_Settled]:
        try:
            appears_at, outcome = self._service.cast_batch(election_id, [i.ballot for i in group])
        except Exception as exc:  # the batch transaction failed: retry one by one
            if len(group) == 1:
                _fail(group[0], exc)
                return []
            log.warning(
                "cast batch failed; retrying singly", extra={"exc_type": type(exc).__name__}
            )
            settled = []
            for item in group:
                try:
                    appears_at, outcome = self._service.cast_batch(election_id, [item.ballot])
                    settled.append(_Settled(appears_at, [item], outcome))
                except Exception as single:
                    _fail(item, single)
            return settled
        return [_Settled(appears_at, group, outcome)]


def _answer(batch: _Settled) -> None:
    for item, out in zip(batch.group, batch.outcome, strict=True):
        if isinstance(out, DomainError):
            item.future.set_exception(out)
            continue
        leaf = item.ballot.leaf
        assert batch.appears_at is not None  # accepted ballots have a boundary
        try:
            note = out.note  # signs the promise with the board's key
        except Exception as exc:  # the ballot is in; without a key there is no promise
            _fail(item, exc)
            continue
        item.future.set_result(
            {
                "election": item.election_id,
                "leaf_hash": b64u_encode(leaf),
                "tracking_code": tracking_code(leaf),
                "status": "pending",
                "appears_at": format_time(batch.appears_at),
                "index": None,
                "tree_size": None,
                "checkpoint": None,
                "inclusion_proof": None,
                "promise": {
                    "leaf_hash": b64u_encode(out.leaf_hash),
                    "integrate_by": format_time(out.integrate_by),
                    "note": note,
                },
            }
        )


def _fail(item: _Item, exc: BaseException) -> None:
    if not item.future.done():
        item.future.set_exception(exc)
