"""The ballot box of an election: casting, the pending pool, batches onto the bulletin
board, receipts, the board's public views and the count (voting-protocol.md, "Casting";
docs/adr/0009-batched-boards.md).

It knows no citizen and cannot import the voter side (:mod:`ballot.voters`:
import-linter contracts). Where to look:

* the double-vote check — :meth:`BallotBox.cast_batch` (the nullifier's primary key and the
  conditional re-vote update);
* the pending pool and batches — :meth:`BallotBox.integrate_batches`;
* what the board shows while open and after — :meth:`BallotBox.board_view`,
  :meth:`BallotBox.export_chunks`, with :func:`ballot.publication.decide_publication`.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, cast

from sqlalchemy import Table, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from audit import Promise
from audit.errors import TreeRangeError
from audit.merkle import leaf_hash
from audit.tiles import TILE_WIDTH, TilePath
from ballot.batches import board_order, boundary_at_or_before, next_boundary
from ballot.board import (
    EXPORT_FORMAT,
    entry_bytes,
    normalise_tracking_code,
    tracking_code,
)
from ballot.casting import CastCommitter
from ballot.definition import Status
from ballot.errors import (
    BallotTooLargeError,
    ElectionNotFoundError,
    ElectionStateError,
    MalformedCastError,
    ResultsNotPublishedError,
    StaleRevoteError,
    TokenAlreadyUsedError,
    UnknownReceiptError,
)
from ballot.manifest import format_time
from ballot.publication import decide_publication
from ballot.questions import check_choices
from ballot.records import ElectionRecords, board_log_name, canonical_id
from ballot.tables import (
    BallotRow,
    BoardRow,
    CommitmentRow,
    ElectionRow,
    PendingBallotRow,
)
from ballot.tiles import TileCache, TileReader
from ballot.token import VerifiedCast, b64u_decode, b64u_encode, verify_cast
from ballot.token import nullifier as nullifier_of
from parvis.kernel.context import AppContext
from parvis.kernel.errors import DomainError

__all__ = ["BALLOT_PREFIX", "MAX_PAGE", "BallotBox", "PreparedBallot"]

#: The leaf bytes of every ballot entry start with this (RFC 8785 sorts "cast" < "kind"):
#: the export recognises ballots without parsing them.
BALLOT_PREFIX: Final = b'{"cast":'
#: Largest board entry (C2SP tlog-tiles: an entry's length fits in 16 bits).
MAX_ENTRY_BYTES: Final = 0xFFFF
#: Most commitments one board page lists.
MAX_PAGE: Final = 100_000
_CHUNK: Final = 1000


@dataclass(frozen=True, slots=True)
class PreparedBallot:
    """A verified cast and its board entry, ready for the ballot box."""

    verified: VerifiedCast
    data: bytes
    leaf: bytes

    @classmethod
    def of(cls, verified: VerifiedCast) -> PreparedBallot:
        data = entry_bytes({"kind": "ballot", "cast": verified.request.to_json()})
        if len(data) > MAX_ENTRY_BYTES:
            # Refused here, alone: in the pool it would make its whole batch fail to go on
            # the board (an entry of a C2SP tlog-tiles log is at most 65,535 bytes).
            raise BallotTooLargeError(
                f"the ballot's board entry would exceed {MAX_ENTRY_BYTES} bytes"
            )
        return cls(verified=verified, data=data, leaf=leaf_hash(data))


# Statements of the casting path (ADR 0006, "Casting"), built once per process: building
# and compiling them again for every batch was most of the committer's time in SQLAlchemy
# (a profile of `bench/cast.py`). Core columns of the tables, not mapped attributes, so that
# executing them skips the ORM's result machinery; values are bound parameters.


@functools.cache
def _election_for_cast() -> Any:
    """Status and definition of the election ``:election_id``, ``FOR SHARE``: a close
    (``FOR UPDATE``) waits for the casts in flight, and a cast that starts after the close
    sees it."""
    table = cast(Table, ElectionRow.__table__)
    return (
        select(table.c.status, table.c.definition)
        .where(table.c.id == bindparam("election_id"))
        .with_for_update(read=True)
    )


@functools.cache
def _box_seqs() -> Any:
    """``(nullifier, seq)`` on the board of ``:election_id`` for the tokens among
    ``:nullifiers`` (an expanding list)."""
    table = cast(Table, BallotRow.__table__)
    return select(table.c.nullifier, table.c.seq).where(
        table.c.election_id == bindparam("election_id"),
        table.c.nullifier.in_(bindparam("nullifiers", expanding=True)),
    )


@functools.cache
def _pending_seqs() -> Any:
    """``(nullifier, highest seq)`` waiting in the pool of ``:election_id`` for the tokens
    among ``:nullifiers``."""
    table = cast(Table, PendingBallotRow.__table__)
    return (
        select(table.c.nullifier, func.max(table.c.seq))
        .where(
            table.c.election_id == bindparam("election_id"),
            table.c.nullifier.in_(bindparam("nullifiers", expanding=True)),
        )
        .group_by(table.c.nullifier)
    )


@functools.cache
def _insert_pending(dialect: str) -> Any:
    """Accepted ballots into the pending pool, ``ON CONFLICT DO NOTHING RETURNING
    leaf_hash`` for the dialect named: only the rows it inserted come back (one multi-row
    statement)."""
    make = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        make(cast(Table, PendingBallotRow.__table__))
        .on_conflict_do_nothing()
        .returning(PendingBallotRow.__table__.c.leaf_hash)
    )


@functools.cache
def _revote() -> Any:
    """A token's newer ballot on the board: ``UPDATE … SET seq = :new_seq WHERE seq <
    :new_seq``. (Parameter names differ from the columns: SQLAlchemy reserves the column
    names for the SET clause.)"""
    table = cast(Table, BallotRow.__table__)
    return (
        update(table)
        .where(
            table.c.election_id == bindparam("election"),
            table.c.nullifier == bindparam("key"),
            table.c.seq < bindparam("new_seq"),
        )
        .values(seq=bindparam("new_seq"), leaf_hash=bindparam("new_leaf"))
    )


def _stale(seq: int) -> StaleRevoteError:
    return StaleRevoteError(
        "a ballot with this seq or a higher one was already cast with this token", seq=seq
    )


class BallotBox(ElectionRecords):
    """The box side's use cases for one process."""

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self.committer = CastCommitter(self)
        # Boards take a whole batch under one checkpoint (ADR 0009), in whichever process
        # leads the audit sequencer: every process registers it.
        self.audit.integrate_whole(board_log_name(""))
        self._tiles = TileCache()

    def counted(self, session: Session, election_id: str) -> int:
        """Ballots counted (one per nullifier: the ballot box's primary key)."""
        return int(
            session.scalar(
                select(func.count())
                .select_from(BallotRow)
                .where(BallotRow.election_id == election_id)
            )
            or 0
        )

    def _entries(self, session: Session, name: str, *, start: int, end: int) -> Iterator[Any]:
        # reveal_sealed: ballot owns the board and applies its own publication rules to
        # what it reads (commitments while open, ballots withheld below the threshold).
        for first in range(start, end, _CHUNK):
            yield from self.audit.entries(
                session, log=name, start=first, end=min(end, first + _CHUNK), reveal_sealed=True
            )

    def count(self, session: Session, name: str, *, end: int) -> dict[bytes, Any]:
        """The counted ballots' choices by nullifier: per token, the highest ``seq`` — the
        ``choices`` object, or for an encrypted election the ``encrypted`` one (its proofs
        were checked before the cast was acknowledged).

        The ballot box accepted a re-vote only with a higher ``seq`` (conditional update),
        so on the board a token's last ballot is its highest; this is the verifier's own
        resolution (ballot/verify.py), repeated on the stored entries.
        """
        counted: dict[bytes, tuple[int, Any]] = {}
        for entry in self._entries(session, name, start=1, end=end):
            if not entry.data.startswith(BALLOT_PREFIX):
                continue
            request = json.loads(entry.data)["cast"]
            nullifier = nullifier_of(b64u_decode(request["token"]["msg"], field="msg"))
            seq = request["ballot"]["seq"]
            earlier = counted.get(nullifier)
            if earlier is None or seq > earlier[0]:
                ballot = request["ballot"]
                counted[nullifier] = (seq, ballot.get("choices", ballot.get("encrypted")))
        return {n: choices for n, (_seq, choices) in counted.items()}

    # -- casting (the voter is unknown here) --------------------------------------------

    def knows(self, election_id: str) -> bool:
        """Whether this process has the election's manifest in memory (no I/O to verify)."""
        with self._lock:
            return election_id in self._public_keys

    def encrypted_known(self, election_id: str) -> bool:
        """Whether this process knows the election to be encrypted (its manifest in memory)."""
        with self._lock:
            return self._encryptions.get(election_id) is not None

    def prepare_cast(self, election_id: str, body: bytes | Mapping[str, object]) -> PreparedBallot:
        """Verify a cast request against the election's manifest (no database write):
        token signature, election id, ballot signature (``verify_cast``), then the ballot
        rules (``check_choices``) or, in an encrypted election, every proof of the encrypted
        ballot (docs/board-format.md §10.3) — the cheap checks first, so that a forged
        token costs no proof verification. Whether the election is open is checked at
        commit, by the committer, which never verifies a proof."""
        election_id = canonical_id(election_id)
        with self._lock:
            manifest = self._manifests.get(election_id)
            public_key = self._public_keys.get(election_id)
        if manifest is None or public_key is None:
            with self.ctx.db.read_session() as session:
                self.manifest(session, election_id)
            with self._lock:
                manifest = self._manifests[election_id]
                public_key = self._public_keys[election_id]
        with self._lock:
            encryption = self._encryptions.get(election_id)
        verified = verify_cast(public_key, expected_election_id=manifest.election_id, cast=body)
        if encryption is None:
            if verified.ballot.encrypted:
                raise MalformedCastError(
                    "this election's ballots carry clear choices, not an encrypted ballot",
                    field="ballot.encrypted",
                )
            check_choices(manifest.questions, verified.choices)
        else:
            if not verified.ballot.encrypted:
                # A clear ballot in an encrypted election would put choices on the board.
                raise MalformedCastError(
                    "this election is encrypted: its ballots carry encrypted, not choices",
                    field="ballot.choices",
                )
            encryption.verify_ballot(
                manifest.questions, vk=verified.voter_key, data=verified.choices
            )
        return PreparedBallot.of(verified)

    def cast_batch(
        self, election_id: str, ballots: Sequence[PreparedBallot]
    ) -> tuple[datetime | None, list[Promise | DomainError]]:
        """Put verified ballots in the pending pool, in one transaction — the double-vote
        check.

        A token counts once (voting-protocol.md, "Casting"): a ballot is accepted if its
        token has no ballot yet — neither on the board (:class:`~ballot.tables.BallotRow`)
        nor waiting — or, when re-voting is allowed, if its ``seq`` is above every ballot
        of the token so far. Concurrent casts are arbitrated by the pool's UNIQUE slot
        (``INSERT … ON CONFLICT DO NOTHING``): without re-voting exactly one ballot of a
        token wins, with re-voting one per ``seq``; a batch integration, which locks the
        election row, never runs between the reads and the insert of a cast (``FOR SHARE``).
        Accepted ballots wait for the next batch boundary, when the board takes them in a
        random order (:meth:`integrate_batches`; ADR 0009). Returns that boundary and, per
        ballot, the board's signed promise (by the boundary plus the audit engine's delay)
        or the refusal.
        """
        election_id = canonical_id(election_id)
        with self.ctx.db.write_session() as session:
            # FOR SHARE: a close or a batch integration (FOR UPDATE) waits for the casts in
            # flight, and a cast that starts after them sees what they wrote.
            found = session.execute(_election_for_cast(), {"election_id": election_id}).first()
            if found is None:
                raise ElectionNotFoundError("no such election")
            status, text = found
            definition = self._definition_of(election_id, text)
            now = self.now
            if status != Status.OPEN or not definition.opens_at <= now < definition.closes_at:
                refusal = ElectionStateError(
                    "ballots are accepted only while the election is open", status=status
                )
                return None, [refusal] * len(ballots)
            revote = definition.revote
            keys = {
                "election_id": election_id,
                "nullifiers": [b.verified.nullifier for b in ballots],
            }
            # The highest seq of each token so far: on the board, then waiting.
            highest: dict[bytes, int] = {
                bytes(n): int(q) for n, q in session.execute(_box_seqs(), keys)
            }
            for n, q in session.execute(_pending_seqs(), keys):
                highest[bytes(n)] = max(highest.get(bytes(n), 0), int(q))
            outcome: list[PreparedBallot | DomainError] = []
            for ballot in ballots:
                nullifier, seq = ballot.verified.nullifier, ballot.verified.seq
                before = highest.get(nullifier)
                if before is not None and not revote:
                    outcome.append(TokenAlreadyUsedError("this token has already cast its ballot"))
                elif before is not None and seq <= before:
                    outcome.append(_stale(seq))
                else:
                    highest[nullifier] = seq
                    outcome.append(ballot)
            accepted = {o.leaf: o for o in outcome if isinstance(o, PreparedBallot)}
            if accepted:
                inserted = {
                    bytes(leaf)
                    for leaf in session.scalars(
                        _insert_pending(session.get_bind().dialect.name),
                        [
                            {
                                "election_id": election_id,
                                "leaf_hash": b.leaf,
                                "code": tracking_code(b.leaf).replace("-", ""),
                                "nullifier": b.verified.nullifier,
                                "seq": b.verified.seq,
                                "slot": b.verified.seq if revote else 0,
                                "data": b.data,
                            }
                            for b in accepted.values()
                        ],
                    )
                }
                # Taken meanwhile by a concurrent cast of the same token (or the very same
                # ballot sent twice): refused as that cast's rival.
                for i, item in enumerate(outcome):
                    if isinstance(item, PreparedBallot) and item.leaf not in inserted:
                        outcome[i] = (
                            _stale(item.verified.seq)
                            if revote
                            else TokenAlreadyUsedError("this token has already cast its ballot")
                        )
            appears_at = next_boundary(now, definition.batch_seconds)
            name = board_log_name(election_id)
            integrate_by = appears_at + self.audit.max_delay
            result: list[Promise | DomainError] = [
                self.audit.promise(
                    session, log=name, leaf_hash=item.leaf, integrate_by=integrate_by
                )
                if isinstance(item, PreparedBallot)
                else item
                for item in outcome
            ]
        return appears_at, result

    # -- batches (ADR 0009) ---------------------------------------------------------------

    def integrate_batches(
        self,
        *,
        force: bool = False,
        before: Callable[[Session, str], Mapping[str, Any] | None] | None = None,
    ) -> int:
        """Put each open election's waiting ballots on its board, once per boundary.

        Run by the publisher inside ``parvis serve`` (every second; only a passed boundary
        does anything) and by tests and the CLI. For each open election whose last
        integrated boundary is behind the current one — or every open election with
        ``force`` — the pending pool goes on the board in a uniformly random order under one
        checkpoint (:meth:`_move_pending`). Several processes may run it: the board row's
        lock and ``batched_through`` make each boundary integrate once.
        ``before(session, election id)`` may give an entry that goes on the board first, in
        the batch's transaction (the issuance register's size and root, ballot-secrecy.md
        §3). Returns how many ballots went on boards.
        """
        now = self.now
        with self.ctx.db.read_session() as session:
            candidates = session.execute(
                select(ElectionRow.id, ElectionRow.definition, BoardRow.batched_through)
                .join(BoardRow, BoardRow.election_id == ElectionRow.id)
                .where(ElectionRow.status == Status.OPEN.value)
            ).all()
        total = 0
        for election_id, text, through in candidates:
            boundary = boundary_at_or_before(
                now, self._definition_of(election_id, text).batch_seconds
            )
            if force or through is None or through < boundary:
                total += self._integrate_batch(
                    election_id, boundary=boundary, force=force, before=before
                )
        return total

    def _integrate_batch(
        self,
        election_id: str,
        *,
        boundary: datetime,
        force: bool,
        before: Callable[[Session, str], Mapping[str, Any] | None] | None = None,
    ) -> int:
        with self.ctx.db.write_session() as session:
            # FOR UPDATE on the election: the casts in flight (FOR SHARE) finish first and
            # the next ones wait for the batch (a fraction of a second), so a cast's
            # double-vote check never sees a token half-way between pool and board. The
            # board row serialises integrators and the close.
            status = self._row(session, election_id, lock=True).status
            board = self._board(session, election_id, lock=True)
            through = board.batched_through
            if status != Status.OPEN or (not force and through is not None and through >= boundary):
                return 0
            first = before(session, election_id) if before is not None else None
            if first is not None:
                self.audit.append(session, log=board.log, data=entry_bytes(first))
            moved = self.move_pending(session, election_id, board.log)
            board.batched_through = boundary
            name = board.log
        if moved or first is not None:
            # Integrate now when this process may (no sequencer leader elsewhere); otherwise
            # the leader integrates the batch whole within its delay (integrate_whole).
            self.audit.integrate(log=name)
            # SQLite's write-ahead log holds the casts' pages in the order they arrived:
            # emptied once they are on the board.
            self.ctx.db.truncate_wal()
        return moved

    def move_pending(self, session: Session, election_id: str, name: str) -> int:
        """Append every waiting ballot of the election to its board in a uniformly random
        order, with their commitments, record each token's highest ``seq`` in the ballot box
        in that order, and empty the pool — in the caller's transaction, so a crash leaves
        the ballots either waiting or on the board, never lost or doubled.

        The caller holds the election row ``FOR UPDATE`` (no cast in flight). Rows are
        written in the batch's random order, so neither the board nor the tables' layout
        keeps the order in which ballots arrived.
        """
        waiting = session.execute(
            select(
                PendingBallotRow.leaf_hash,
                PendingBallotRow.code,
                PendingBallotRow.nullifier,
                PendingBallotRow.seq,
                PendingBallotRow.data,
            ).where(PendingBallotRow.election_id == election_id)
        ).all()
        if not waiting:
            return 0
        batch = board_order(
            waiting, token=lambda row: bytes(row.nullifier), seq=lambda row: row.seq
        )
        self.audit.append_many(session, log=name, data=[bytes(row.data) for row in batch])
        session.execute(
            insert(CommitmentRow),
            [
                {
                    "election_id": election_id,
                    "leaf_hash": bytes(row.leaf_hash),
                    "code": row.code,
                    "nullifier_hash": hashlib.sha256(bytes(row.nullifier)).digest(),
                }
                for row in batch
            ],
        )
        self._count_tokens(session, election_id, batch)
        leaves = [bytes(row.leaf_hash) for row in batch]
        for first in range(0, len(leaves), _CHUNK):
            session.execute(
                delete(PendingBallotRow).where(
                    PendingBallotRow.election_id == election_id,
                    PendingBallotRow.leaf_hash.in_(leaves[first : first + _CHUNK]),
                )
            )
        return len(batch)

    def _count_tokens(self, session: Session, election_id: str, batch: Sequence[Any]) -> None:
        """Each token's highest ``seq`` and its leaf into :class:`BallotRow`, first
        appearances in the batch's order."""
        last: dict[bytes, Any] = {}
        for row in batch:  # board order: a token's seqs increase
            last[bytes(row.nullifier)] = row
        tokens = list(last)
        known: dict[bytes, int] = {}
        # In chunks: PostgreSQL binds at most 65,535 parameters per statement, and a batch
        # may hold more ballots than that.
        for first in range(0, len(tokens), _CHUNK):
            known.update(
                (bytes(n), int(q))
                for n, q in session.execute(
                    _box_seqs(),
                    {"election_id": election_id, "nullifiers": tokens[first : first + _CHUNK]},
                )
            )
        fresh = [
            {
                "election_id": election_id,
                "nullifier": n,
                "seq": r.seq,
                "leaf_hash": bytes(r.leaf_hash),
            }
            for n, r in last.items()
            if n not in known
        ]
        if fresh:
            session.execute(insert(BallotRow), fresh)
        moved = [
            {"election": election_id, "key": n, "new_seq": r.seq, "new_leaf": bytes(r.leaf_hash)}
            for n, r in last.items()
            if n in known and r.seq > known[n]
        ]
        if moved:
            session.execute(_revote(), moved)

    def _proofs(
        self, name: str, leaves: Sequence[bytes], *, fresh: bool
    ) -> dict[bytes, dict[str, Any]]:
        found: dict[bytes, dict[str, Any]] = {}
        with self.ctx.db.read_session() as session:
            head = self.audit.head(session, log=name)
            if head.size == 0:
                return found
            reader = TileReader(self.audit, session, log=name, size=head.size, cache=self._tiles)
            indexes = reader.find(leaves, tiles=2)
            for leaf in leaves:
                if leaf not in indexes and not fresh:
                    try:
                        indexes[leaf] = self.audit.index_of(
                            session, log=name, leaf_hash=leaf, size=head.size
                        )
                    except TreeRangeError:
                        continue
            for leaf, index in indexes.items():
                found[leaf] = {
                    "index": index,
                    "tree_size": head.size,
                    "checkpoint": head.note,
                    "inclusion_proof": [b64u_encode(p) for p in reader.proof(index)],
                }
        return found

    # -- public board views -------------------------------------------------------------

    def _leaves(
        self, session: Session, name: str, *, start: int, end: int, size: int
    ) -> list[bytes]:
        """Leaf hashes ``[start, end)`` from level-0 tiles (C2SP tlog-tiles) of ``size``."""
        out: list[bytes] = []
        if start >= end:
            return out
        first_tile = start // TILE_WIDTH
        for index in range(first_tile, (end - 1) // TILE_WIDTH + 1):
            width = min(TILE_WIDTH, size - index * TILE_WIDTH)
            data = self.audit.tile(
                session, log=name, tile=TilePath(level=0, index=index, width=width)
            )
            out.extend(data[i : i + 32] for i in range(0, len(data), 32))
        offset = start - first_tile * TILE_WIDTH
        return out[offset : offset + end - start]

    def board_view(
        self, session: Session, election_id: str, *, start: int = 0, limit: int = MAX_PAGE
    ) -> dict[str, Any]:
        """The open board (voting-protocol.md, "Fairness"): commitments only, plus counts."""
        row = self._row(session, election_id)
        board = self._board(session, row.id)
        head = self.audit.head(session, log=board.log)
        limit = max(1, min(limit, MAX_PAGE))
        start = max(0, start)
        end = min(head.size, start + limit)
        leaves = self._leaves(session, board.log, start=start, end=end, size=head.size)
        known: dict[bytes, bytes] = {}
        for first in range(0, len(leaves), 500):
            chunk = leaves[first : first + 500]
            known.update(
                (bytes(leaf), bytes(nullifier_hash))
                for leaf, nullifier_hash in session.execute(
                    select(CommitmentRow.leaf_hash, CommitmentRow.nullifier_hash).where(
                        CommitmentRow.election_id == row.id, CommitmentRow.leaf_hash.in_(chunk)
                    )
                )
            )
        commitments = [
            {
                "index": start + i,
                "leaf_hash": b64u_encode(leaf),
                "nullifier_hash": b64u_encode(known[leaf]),
            }
            for i, leaf in enumerate(leaves)
            if leaf in known
        ]
        return {
            "election": row.id,
            "origin": board.origin,
            "status": row.status,
            "tokens_issued": board.issued_published,
            "ballots": session.scalar(
                select(func.count())
                .select_from(CommitmentRow)
                .where(CommitmentRow.election_id == row.id)
            ),
            "size": head.size,
            "commitments": commitments,
            "checkpoint": head.note,
            "next": end if end < head.size else None,
        }

    def checkpoint(self, session: Session, election_id: str) -> str:
        row = self._row(session, election_id)
        return self.audit.checkpoint(session, log=self._board(session, row.id).log)

    def receipt(self, session: Session, election_id: str, code: str) -> dict[str, Any]:
        """A receipt by tracking code (``board-format.md`` §5): ``included`` with a fresh
        inclusion proof, or ``pending`` with the boundary at which it will appear (ADR 0009).

        Only the holder of the code learns anything: the code is the ballot's, never in a
        request that carries a session (the tracker fetches without credentials).
        """
        row = self._row(session, election_id)
        board = self._board(session, row.id)
        try:
            wanted = normalise_tracking_code(code)
        except DomainError:
            raise UnknownReceiptError("no ballot on this board has this tracking code") from None
        compact = wanted.replace("-", "")
        on_board = session.execute(
            select(CommitmentRow.leaf_hash, CommitmentRow.nullifier_hash).where(
                CommitmentRow.election_id == row.id, CommitmentRow.code == compact
            )
        ).first()
        leaf = on_board.leaf_hash if on_board is not None else None
        waiting = (
            session.scalars(
                select(PendingBallotRow.leaf_hash).where(
                    PendingBallotRow.election_id == row.id, PendingBallotRow.code == compact
                )
            ).first()
            if leaf is None
            else None
        )
        known = leaf if leaf is not None else waiting
        if known is None or not hmac.compare_digest(tracking_code(known), wanted):
            raise UnknownReceiptError("no ballot on this board has this tracking code")
        found = self._proofs(board.log, [known], fresh=False).get(known) if leaf else None
        base = {
            "election": row.id,
            "tracking_code": wanted,
            "leaf_hash": b64u_encode(known),
            "superseded": on_board is not None
            and self._superseded(session, row.id, known, on_board.nullifier_hash),
        }
        if found is None:
            # Waiting for its boundary, or (briefly) for the sequencer's checkpoint of the
            # batch it went into.
            batch_seconds = self.definition(row).batch_seconds
            appears_at = (
                next_boundary(self.now, batch_seconds)
                if leaf is None
                else (board.batched_through or self.now)
            )
            return {
                **base,
                "status": "pending",
                "appears_at": format_time(appears_at),
                "index": None,
                "tree_size": None,
                "checkpoint": None,
                "inclusion_proof": None,
            }
        return {**base, "status": "included", "appears_at": None, **found}

    @staticmethod
    def _superseded(session: Session, election_id: str, leaf: bytes, nullifier_hash: bytes) -> bool:
        """Whether a later ballot of the same token is the one counted: the token's
        :class:`BallotRow` (its highest ``seq`` on the board) holds another leaf.

        The token is found through the commitments' ``nullifier_hash``, which the public
        board already shows beside every leaf (``board-format.md`` §5): anyone holding the
        code could already see that the token voted again, so the receipt tells nothing new.
        A later ballot still waiting for its batch does not count yet, so it supersedes
        nothing yet (ADR 0009).
        """
        counted = session.scalars(
            select(BallotRow.leaf_hash)
            .join(
                CommitmentRow,
                (CommitmentRow.election_id == BallotRow.election_id)
                & (CommitmentRow.leaf_hash == BallotRow.leaf_hash),
            )
            .where(
                BallotRow.election_id == election_id,
                CommitmentRow.nullifier_hash == nullifier_hash,
            )
        ).first()
        return counted is not None and counted != leaf

    def export_chunks(self, election_id: str, *, reveal: bool | None = None) -> Iterator[bytes]:
        """The board export (``board-format.md`` §7), as JSON text in pieces.

        ``reveal`` says whether ballot entries are shown; by default only when the election
        is published and at least ``min_anonymity_set`` ballots were counted. Otherwise
        ballot entries are withheld (their leaf hash only) — except in an encrypted
        election, whose entries are all shown at every stage (§10.1). Entries up to the latest
        checkpoint; every checkpoint the log signed up to it, the latest last.
        """
        with self.ctx.db.read_session() as session:
            row = self._row(session, election_id)
            board = self._board(session, row.id)
            head = self.audit.head(session, log=board.log)
            definition = self.definition(row)
            counted = self.counted(session, row.id)
            if reveal is None:
                reveal = row.status == Status.PUBLISHED
            reveal = (
                reveal
                and decide_publication(
                    counted=counted, min_anonymity_set=definition.min_anonymity_set
                ).individual
            )
            # An encrypted election's board is public from entry 0: every ballot is a
            # ciphertext, only sums are ever decrypted (docs/board-format.md §10.1).
            reveal = reveal or definition.encrypted
            # Every checkpoint the board's log signed, up to the head (§7): a verifier
            # holding any one of them can check that this export extends it (§8.2).
            notes = self.audit.checkpoints(session, log=board.log, end=head.size) or [head.note]
            yield (
                json.dumps({"format": EXPORT_FORMAT, "origin": board.origin, "checkpoints": notes})[
                    :-1
                ]
                + ', "entries": ['
            ).encode()
            for entry in self._entries(session, board.log, start=0, end=head.size):
                data = entry.data
                if not reveal and data.startswith(BALLOT_PREFIX):
                    data = b'{"withheld":"' + b64u_encode(entry.leaf_hash).encode() + b'"}'
                yield (b"," if entry.index else b"") + data
            yield b"]}"

    def export(self, election_id: str, *, reveal: bool | None = None) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(
            b"".join(self.export_chunks(election_id, reveal=reveal))
        )
        return result

    def results(self, session: Session, election_id: str) -> dict[str, Any]:
        """The published results entry, with its index on the board."""
        row = self._row(session, election_id)
        if row.status != Status.PUBLISHED:
            raise ResultsNotPublishedError("the results are not published yet")
        board = self._board(session, row.id)
        assert board.results_hash is not None
        index = self.audit.index_of(session, log=board.log, leaf_hash=board.results_hash)
        entry = json.loads(
            self.audit.entries(
                session, log=board.log, start=index, end=index + 1, reveal_sealed=True
            )[0].data
        )
        entry.pop("kind")
        return {"election": row.id, **entry, "index": index}
