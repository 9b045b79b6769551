"""Group commit of cast ballots: one transaction (and one disk flush) for many ballots.

Every accepted ballot must be durable before its receipt is sent, and a durable commit costs
a disk flush (SQLite ``synchronous=FULL``; PostgreSQL ``fsync``): a few milliseconds on the
machines Parvis targets, which alone would cap casting at a few hundred ballots per second.
Request handlers therefore verify their ballot (the CPU work: RSA-PSS, Ed25519, the rules)
themselves and hand it to :class:`CastCommitter`, one thread per process that takes every
ballot waiting and puts them in the ballot box in one transaction
(:meth:`ballot.service.ElectionService.cast_batch`) and asks the audit engine to integrate
them; a second thread reads the proofs and answers each handler through a future with its
receipt. While one batch commits the next one gathers, so batches grow with the load and
cost nothing when it is light.

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
from typing import TYPE_CHECKING, Any, Final

from audit import Promise
from ballot.board import tracking_code
from ballot.manifest import format_time
from ballot.token import b64u_encode
from parvis.kernel.errors import DomainError

if TYPE_CHECKING:
    from ballot.service import ElectionService, PreparedBallot

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
    """A committed batch waiting for its receipts."""

    name: str | None
    group: list[_Item]
    outcome: list[Promise | DomainError]


class CastCommitter:
    """The per-process committer; :meth:`submit` returns a future of the receipt.

    Two threads form a pipeline: the committer commits a batch and, when no sequencer runs
    in this process, asks the audit engine to integrate it (both write: one thread, so this
    process's writers never queue behind each other); the receipter reads the proofs
    through tiles and answers — while the committer already commits the next batch.
    """

    def __init__(self, service: ElectionService) -> None:
        self._service = service
        self._queue: queue.SimpleQueue[_Item | object] = queue.SimpleQueue()
        self._settled: queue.SimpleQueue[_Settled | object] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
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
        # Started on first use, so that they live in the worker process that serves, never
        # in a parent that forks.
        with self._lock:
            if self._threads and all(t.is_alive() for t in self._threads):
                return
            self._threads = [
                threading.Thread(target=self._run, name="parvis-ballot-committer", daemon=True),
                threading.Thread(
                    target=self._run_receipts, name="parvis-ballot-receipts", daemon=True
                ),
            ]
            for thread in self._threads:
                thread.start()

    def stop(self) -> None:
        with self._lock:
            threads, self._threads = self._threads, []
        if threads:
            self._queue.put(_STOP)  # the committer passes it on to the receipter
            for thread in threads:
                thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                self._settled.put(_STOP)
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
            # Without a sequencer in this process (test mode, or PARVIS_AUDIT_SEQUENCER off),
            # integrate now so that receipts carry their proofs. With one, it integrates in
            # batches anyway (audit-log.md, "Sequencing"): receipts are then the signed
            # promise unless already integrated. Integration writes too, so it is done here,
            # after the batch and once per board: this process's writers never wait for each
            # other (SQLite's busy handler would sleep milliseconds between attempts).
            boards = {s.name for batch_ in settled for s in batch_ if s.name is not None}
            if self._service.audit.run_sequencer:
                boards = set()
            for name in boards:
                try:
                    self._service.audit.integrate(log=name)
                except Exception as exc:  # receipts fall back to the promise
                    log.warning("integration failed", extra={"exc_type": type(exc).__name__})
            for batch_ in settled:
                for one in batch_:
                    self._settled.put(one)
            if stop:
                self._settled.put(_STOP)
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
            name, outcome = self._service.cast_batch(election_id, [i.ballot for i in group])
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
                    name, outcome = self._service.cast_batch(election_id, [item.ballot])
                    settled.append(_Settled(name, [item], outcome))
                except Exception as single:
                    _fail(item, single)
            return settled
        return [_Settled(name, group, outcome)]

    def _run_receipts(self) -> None:
        while True:
            first = self._settled.get()
            waiting = [first]
            while True:
                try:
                    waiting.append(self._settled.get_nowait())
                except queue.Empty:
                    break
            settled = [s for s in waiting if isinstance(s, _Settled)]
            leaves: dict[str, list[bytes]] = defaultdict(list)
            for batch in settled:
                if batch.name is None:
                    continue
                leaves[batch.name] += [
                    i.ballot.leaf
                    for i, o in zip(batch.group, batch.outcome, strict=True)
                    if isinstance(o, Promise)
                ]
            proofs: dict[bytes, dict[str, Any]] = {}
            if self._service.audit.run_sequencer:
                # The sequencer integrates in batches: the entries are pending, and the
                # receipts are the signed promises; asking the log now would only load it.
                leaves.clear()
            for name, wanted in leaves.items():
                try:
                    proofs.update(self._service.receipts(name, wanted, integrate=False))
                except Exception as exc:  # the ballots are in: the promise will do
                    log.warning("receipt proofs failed", extra={"exc_type": type(exc).__name__})
            for batch in settled:
                _answer(batch, proofs)
            if any(s is _STOP for s in waiting):
                return


def _answer(batch: _Settled, proofs: dict[bytes, dict[str, Any]]) -> None:
    for item, out in zip(batch.group, batch.outcome, strict=True):
        if isinstance(out, DomainError):
            item.future.set_exception(out)
            continue
        leaf = item.ballot.leaf
        receipt: dict[str, Any] = {
            "election": item.election_id,
            "leaf_hash": b64u_encode(leaf),
            "tracking_code": tracking_code(leaf),
            "index": None,
            "tree_size": None,
            "checkpoint": None,
            "inclusion_proof": None,
            "promise": None,
        }
        integrated = proofs.get(leaf)
        if integrated is not None:
            receipt.update(integrated)
        else:
            receipt["promise"] = {
                "leaf_hash": b64u_encode(out.leaf_hash),
                "integrate_by": format_time(out.integrate_by),
                "note": out.note,
            }
        item.future.set_result(receipt)


def _fail(item: _Item, exc: BaseException) -> None:
    if not item.future.done():
        item.future.set_exception(exc)
