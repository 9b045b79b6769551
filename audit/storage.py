"""SQL for the log engine: reading stored hashes, integrating a batch, tiles and entries.

Every function takes the :class:`~sqlalchemy.engine.Connection` of the caller's transaction;
the service decides where transactions begin and end (ADR 0003).

Stored hashes (issue 3, item 4: "the stored hashes needed for O(log n) proofs"): leaf hashes
live in ``audit_entries``; interior nodes are stored at every level that is a multiple of
:data:`LEVEL_STEP` (4, 8, 12, ...), as emitted by :meth:`audit.merkle.CompactRange.append`.
Any other perfect subtree is folded from at most ``2**(LEVEL_STEP - 1) = 8`` stored hashes
one level-group below. This stores ~0.07 node rows per entry instead of ~1, and the tile
levels of C2SP tlog-tiles (tree levels 0, 8, 16, ...) are all stored, so a tile is one range
read. A proof asks :func:`with_hashes` for its nodes, which reads them in two queries (one
for leaf hashes, one for nodes) whatever the tree size.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Connection, and_, delete, func, insert, or_, select

from audit import merkle
from audit.errors import StorageIntegrityError, TreeRangeError
from audit.note import Checkpoint, Signer, sign_note
from audit.tables import CheckpointRow, EntryRow, NodeRow, PendingRow
from audit.tiles import TILE_HEIGHT, TilePath, encode_bundle

__all__ = [
    "LEVEL_STEP",
    "Head",
    "RangeCache",
    "enqueue",
    "entries_range",
    "insert_checkpoint",
    "integrate_batch",
    "latest_head",
    "leaf_index",
    "tile_bytes",
    "with_hashes",
]

T = TypeVar("T")

LEVEL_STEP = 4
"""Interior nodes are stored at levels that are multiples of this (ADR 0003)."""

_DUMMY = bytes(32)
_MAX_TERMS = 200  # OR terms per query: keeps statements small on both engines


@dataclass(frozen=True, slots=True)
class Head:
    """The latest checkpoint of a log: size, root hash and the signed note."""

    size: int
    root_hash: bytes
    note: str


def latest_head(conn: Connection, log_id: int) -> Head:
    """The checkpoint with the largest size (every log has one, from size 0)."""
    row = conn.execute(
        select(CheckpointRow.size, CheckpointRow.root_hash, CheckpointRow.note)
        .where(CheckpointRow.log_id == log_id)
        .order_by(CheckpointRow.size.desc())
        .limit(1)
    ).one_or_none()
    if row is None:
        raise StorageIntegrityError(f"log {log_id} has no checkpoint, not even of size 0")
    return Head(size=row.size, root_hash=bytes(row.root_hash), note=row.note)


def insert_checkpoint(
    conn: Connection,
    *,
    log_id: int,
    origin: str,
    size: int,
    root_hash: bytes,
    signer: Signer,
    now: datetime,
) -> str:
    """Sign and store the checkpoint of ``size``; the primary key ``(log, size)`` refuses a
    second, different checkpoint for the same size."""
    body = Checkpoint(origin=origin, size=size, root_hash=root_hash).text
    note = sign_note(body, signers=[signer])
    conn.execute(
        insert(CheckpointRow),
        {"log_id": log_id, "size": size, "root_hash": root_hash, "note": note, "created_at": now},
    )
    return note


def _merge(ranges: Iterable[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Merge overlapping or adjacent ``(level, first, last)`` ranges."""
    merged: list[tuple[int, int, int]] = []
    for level, lo, hi in sorted(set(ranges)):
        if merged and merged[-1][0] == level and lo <= merged[-1][2] + 1:
            merged[-1] = (level, merged[-1][1], max(hi, merged[-1][2]))
        else:
            merged.append((level, lo, hi))
    return merged


def _read_stored(
    conn: Connection, log_id: int, ranges: list[tuple[int, int, int]]
) -> dict[tuple[int, int], bytes]:
    """Stored hashes in ``(level, first, last)`` ranges: level 0 from entries, others nodes."""
    found: dict[tuple[int, int], bytes] = {}
    leaves = [(lo, hi) for level, lo, hi in ranges if level == 0]
    nodes = [r for r in ranges if r[0] > 0]
    for start in range(0, len(leaves), _MAX_TERMS):
        chunk = leaves[start : start + _MAX_TERMS]
        rows = conn.execute(
            select(EntryRow.idx, EntryRow.leaf_hash).where(
                EntryRow.log_id == log_id, or_(*(EntryRow.idx.between(lo, hi) for lo, hi in chunk))
            )
        )
        for idx, leaf in rows:
            found[(0, idx)] = bytes(leaf)
    for start in range(0, len(nodes), _MAX_TERMS):
        node_chunk = nodes[start : start + _MAX_TERMS]
        node_rows = conn.execute(
            select(NodeRow.level, NodeRow.idx, NodeRow.hash).where(
                NodeRow.log_id == log_id,
                or_(
                    *(
                        and_(NodeRow.level == level, NodeRow.idx.between(lo, hi))
                        for level, lo, hi in node_chunk
                    )
                ),
            )
        )
        for level, idx, value in node_rows:
            found[(level, idx)] = bytes(value)
    return found


def read_nodes(
    conn: Connection, log_id: int, coords: Iterable[tuple[int, int]]
) -> dict[tuple[int, int], bytes]:
    """The hashes of the perfect subtrees ``(level, index)``, in at most two queries
    (for up to 200 distinct ranges each). Raises :class:`StorageIntegrityError` when a stored
    hash is missing (a deleted row: the log was tampered with)."""
    wanted = set(coords)
    plan: dict[tuple[int, int], tuple[int, int, int]] = {}
    for level, index in wanted:
        base = level - level % LEVEL_STEP
        shift = level - base
        plan[(level, index)] = (base, index << shift, ((index + 1) << shift) - 1)
    stored = _read_stored(conn, log_id, _merge(plan.values()))
    result: dict[tuple[int, int], bytes] = {}
    for coord, (base, lo, hi) in plan.items():
        try:
            hashes = [stored[(base, i)] for i in range(lo, hi + 1)]
        except KeyError as missing:
            level, index = missing.args[0]
            raise StorageIntegrityError(
                f"stored hash (level {level}, index {index}) is missing"
            ) from None
        # 2**shift stored hashes of one perfect subtree: merkle.root folds them exactly as
        # the subtree's own root (a power-of-two count pairs up without carries).
        result[coord] = hashes[0] if len(hashes) == 1 else merkle.root(hashes)
    return result


def with_hashes(conn: Connection, log_id: int, compute: Callable[[merkle.NodeSource], T]) -> T:
    """Run ``compute(source)`` with a node source that reads storage in bulk.

    ``compute`` runs twice: first against a recording source (any 32 bytes will do: the
    proof generators' choice of nodes depends on sizes and indexes, never on hash values),
    then against the hashes read in one go. O(log n) nodes, two queries.
    """
    wanted: list[tuple[int, int]] = []

    def record(level: int, index: int) -> bytes:
        wanted.append((level, index))
        return _DUMMY

    compute(record)
    hashes = read_nodes(conn, log_id, wanted)
    return compute(lambda level, index: hashes[(level, index)])


def enqueue(conn: Connection, log_id: int, data: Sequence[bytes]) -> None:
    """Queue entries for the sequencer (one multi-row insert)."""
    conn.execute(insert(PendingRow), [{"log_id": log_id, "data": d} for d in data])


@dataclass
class RangeCache:
    """The compact range after the last batch this process integrated, per log.

    Only a hint: it is used when the latest checkpoint in the database still has the same
    size and root, otherwise the range is rebuilt from storage.
    """

    ranges: dict[int, merkle.CompactRange]

    def get(self, conn: Connection, log_id: int, head: Head) -> merkle.CompactRange:
        cached = self.ranges.get(log_id)
        if cached is not None and cached.size == head.size and cached.root() == head.root_hash:
            return cached
        rebuilt = with_hashes(
            conn, log_id, lambda source: merkle.CompactRange.from_source(head.size, source)
        )
        if rebuilt.root() != head.root_hash:
            raise StorageIntegrityError(
                f"stored hashes of log {log_id} do not give the root of its checkpoint {head.size}"
            )
        return rebuilt


def integrate_batch(
    conn: Connection,
    *,
    log_id: int,
    origin: str,
    signer: Signer,
    batch_size: int,
    now: datetime,
    cache: RangeCache,
) -> int:
    """Integrate up to ``batch_size`` pending entries of one log, in the caller's transaction.

    Issue 3, item 5: the entries get the next dense indexes, the new stored nodes are
    written, the queue rows are deleted and ONE checkpoint is signed for the new size — all
    in one transaction, so a crash at any point leaves either all of it or none of it. Two
    integrators racing (which leader election normally prevents) cannot both succeed: the
    second one's entries or checkpoint collide on a primary key, and the row counts below
    catch queue rows another integrator took. Returns the number integrated.
    """
    head = latest_head(conn, log_id)
    pending = conn.execute(
        select(PendingRow.id, PendingRow.data)
        .where(PendingRow.log_id == log_id)
        .order_by(PendingRow.id)
        .limit(batch_size)
    ).all()
    if not pending:
        return 0
    compact = cache.get(conn, log_id, head)
    # Leaf hashes are computed here, from the bytes that become the entry, rather than
    # trusted from the writer.
    leaf_hashes = [hashlib.sha256(b"\x00" + bytes(row.data)).digest() for row in pending]
    result = compact.append(leaf_hashes)
    start = head.size
    conn.execute(
        insert(EntryRow),
        [
            {"log_id": log_id, "idx": start + i, "leaf_hash": leaf, "data": row.data}
            for i, (row, leaf) in enumerate(zip(pending, leaf_hashes, strict=True))
        ],
    )
    nodes = [
        {"log_id": log_id, "level": n.level, "idx": n.index, "hash": n.hash}
        for n in result.new_nodes
        if n.level and n.level % LEVEL_STEP == 0
    ]
    if nodes:
        conn.execute(insert(NodeRow), nodes)
    ids = [row.id for row in pending]
    deleted = conn.execute(delete(PendingRow).where(PendingRow.id.in_(ids))).rowcount
    if deleted != len(ids):
        raise StorageIntegrityError("queue rows vanished during integration (another integrator?)")
    new_range = result.compact_range
    insert_checkpoint(
        conn,
        log_id=log_id,
        origin=origin,
        size=new_range.size,
        root_hash=new_range.root(),
        signer=signer,
        now=now,
    )
    cache.ranges[log_id] = new_range
    return len(pending)


def pending_logs(conn: Connection) -> list[int]:
    """Ids of the logs that have queued entries."""
    return list(conn.execute(select(PendingRow.log_id).distinct()).scalars())


def pending_count(conn: Connection, log_id: int) -> int:
    return int(
        conn.execute(
            select(func.count()).select_from(PendingRow).where(PendingRow.log_id == log_id)
        ).scalar_one()
    )


def leaf_index(conn: Connection, log_id: int, leaf_hash: bytes, size: int) -> int | None:
    """The first index below ``size`` whose leaf hash is ``leaf_hash``."""
    return conn.execute(
        select(func.min(EntryRow.idx)).where(
            EntryRow.log_id == log_id, EntryRow.leaf_hash == leaf_hash, EntryRow.idx < size
        )
    ).scalar_one_or_none()


def entries_range(
    conn: Connection, log_id: int, start: int, end: int
) -> list[tuple[int, bytes, bytes]]:
    """``(index, leaf hash, data)`` for indexes ``[start, end)``, all of them or raise."""
    rows = conn.execute(
        select(EntryRow.idx, EntryRow.leaf_hash, EntryRow.data)
        .where(EntryRow.log_id == log_id, EntryRow.idx >= start, EntryRow.idx < end)
        .order_by(EntryRow.idx)
    ).all()
    result = [(row.idx, bytes(row.leaf_hash), bytes(row.data)) for row in rows]
    for expected, (idx, _leaf, _data) in enumerate(result, start=start):
        if idx != expected:
            raise StorageIntegrityError(f"entry {expected} is missing")
    if len(result) != end - start:
        raise StorageIntegrityError(f"entry {start + len(result)} is missing")
    return result


def tile_bytes(conn: Connection, log_id: int, tile: TilePath, size: int) -> bytes:
    """A C2SP tlog-tiles tile (concatenated hashes) or the entries of an entry bundle.

    The tile must lie inside the tree of ``size``: at its tree level there are
    ``size >> tree_level`` complete nodes; a full tile needs 256 of them from its first, a
    partial one exactly ``width`` (tlog-tiles: partial tiles exist for the sizes where the
    level's last tile is incomplete; we serve any width that is complete in ``size``).
    """
    available = size >> tile.tree_level
    if tile.first + tile.width > available:
        raise TreeRangeError(f"{tile.path} is not complete in the tree of size {size}")
    last = tile.first + tile.width - 1
    if tile.level is None:
        entries = entries_range(conn, log_id, tile.first, last + 1)
        return encode_bundle(d for _i, _l, d in entries)
    stored = _read_stored(conn, log_id, [(tile.tree_level, tile.first, last)])
    try:
        return b"".join(stored[(tile.tree_level, i)] for i in range(tile.first, last + 1))
    except KeyError:
        raise StorageIntegrityError(f"a stored hash of {tile.path} is missing") from None


# Tile levels (tree levels 0, 8, 16, ...) must be stored levels for one-read tiles.
assert TILE_HEIGHT % LEVEL_STEP == 0
