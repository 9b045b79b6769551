"""SQL for the log engine: reading stored hashes, integrating a batch, tiles and entries.

Every function takes the :class:`~sqlalchemy.engine.Connection` of the caller's transaction;
the service decides where transactions begin and end (ADR 0003).

Stored hashes (audit-log.md, "Sequencing": enough interior hashes for O(log n) proofs): leaf hashes
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

from sqlalchemy import Connection, func, insert, select

from audit import merkle
from audit.errors import StorageIntegrityError, TreeRangeError
from audit.note import Checkpoint, Signer, sign_note
from audit.tables import CheckpointRow, EntryRow, PendingRow
from audit.tiles import TILE_HEIGHT, TilePath, encode_bundle

__all__ = [
    "LEVEL_STEP",
    "Head",
    "RangeCache",
    "enqueue",
    "entries_range",
    "insert_checkpoint",
    "insert_rows",
    "integrate_batch",
    "latest_head",
    "leaf_index",
    "pending_logs",
    "read_nodes",
    "tile_bytes",
    "with_hashes",
]

T = TypeVar("T")

LEVEL_STEP = 4
"""Interior nodes are stored at levels that are multiples of this (ADR 0003)."""

_DUMMY = bytes(32)


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


def _read_stored(
    conn: Connection, log_id: int, ranges: list[tuple[int, int, int]]
) -> dict[tuple[int, int], bytes]:
    """Stored hashes in ``(level, first, last)`` ranges: level 0 from entries, others nodes.

    One round trip: a UNION ALL of one ``idx IN (...)`` select per level, each an index
    search on the primary key. (An OR of ranges lets SQLite's planner fall back to scanning
    the whole log once there are more than a few terms.) The statement is SQL text with
    integers formatted in (Python ints from the proof generators, never input text):
    building it through the expression language cost more than running it, and proofs are
    the hot read path.
    """
    per_level: dict[int, set[int]] = {}
    for level, lo, hi in ranges:
        per_level.setdefault(level, set()).update(range(lo, hi + 1))
    parts = []
    for level, indexes in sorted(per_level.items()):
        listed = ",".join(str(int(i)) for i in sorted(indexes))
        if level == 0:
            parts.append(
                f"SELECT 0, idx, leaf_hash FROM audit_entries "  # noqa: S608 - integers only
                f"WHERE log_id = {int(log_id)} AND idx IN ({listed})"
            )
        else:
            parts.append(
                f"SELECT level, idx, hash FROM audit_nodes "  # noqa: S608 - integers only
                f"WHERE log_id = {int(log_id)} AND level = {int(level)} AND idx IN ({listed})"
            )
    found: dict[tuple[int, int], bytes] = {}
    if parts:
        for level, idx, value in conn.exec_driver_sql(" UNION ALL ".join(parts)):
            found[(level, idx)] = bytes(value)
    return found


def read_nodes(
    conn: Connection, log_id: int, coords: Iterable[tuple[int, int]]
) -> dict[tuple[int, int], bytes]:
    """The hashes of the perfect subtrees ``(level, index)``, in one query.

    Raises :class:`StorageIntegrityError` when a stored hash is missing (a deleted row: the
    log was tampered with)."""
    wanted = set(coords)
    plan: dict[tuple[int, int], tuple[int, int, int]] = {}
    for level, index in wanted:
        base = level - level % LEVEL_STEP
        shift = level - base
        plan[(level, index)] = (base, index << shift, ((index + 1) << shift) - 1)
    stored = _read_stored(conn, log_id, list(plan.values()))
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


def insert_rows(
    conn: Connection, table: str, columns: tuple[str, ...], rows: Sequence[tuple[object, ...]]
) -> None:
    """One DBAPI ``executemany`` of plain tuples into ``table`` (a name from this package).

    The append path's hot loop: going through the expression language (a dict and a
    parameter-processing pass per row) cost more than the database's own work. Also the
    bulk-load primitive (``bench/audit_append.py`` builds its 10^6-entry log with it).
    """
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    values = ", ".join([mark] * len(columns))
    # Table and column names are this module's constants, never input.
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values})"  # noqa: S608
    conn.exec_driver_sql(sql, list(rows))


def enqueue(conn: Connection, log_id: int, data: Sequence[bytes]) -> None:
    """Queue entries for the sequencer (one ``executemany``)."""
    insert_rows(conn, "audit_pending", ("log_id", "data"), [(log_id, d) for d in data])


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
) -> tuple[int, bool]:
    """Integrate up to ``batch_size`` pending entries of one log, in the caller's transaction.

    audit-log.md, "Sequencing": the entries get the next dense indexes, the new stored nodes are
    written, the queue rows are deleted and ONE checkpoint is signed for the new size — all
    in one transaction, so a crash at any point leaves either all of it or none of it. Two
    integrators racing (which leader election normally prevents) cannot both succeed: the
    second one's entries or checkpoint collide on a primary key, and the row count below
    catches queue rows another integrator took. Returns how many entries were integrated
    and whether more are waiting.
    """
    head = latest_head(conn, log_id)
    # One row more than the batch tells whether another batch follows, without a query.
    pending = conn.exec_driver_sql(
        "SELECT id, data FROM audit_pending WHERE log_id = ? ORDER BY id LIMIT ?"
        if conn.dialect.paramstyle == "qmark"
        else "SELECT id, data FROM audit_pending WHERE log_id = %s ORDER BY id LIMIT %s",
        (log_id, batch_size + 1),
    ).all()
    more = len(pending) > batch_size
    pending = pending[:batch_size]
    if not pending:
        return 0, False
    compact = cache.get(conn, log_id, head)
    # Leaf hashes are computed here, from the bytes that become the entry, rather than
    # trusted from the writer.
    datas = [bytes(row[1]) for row in pending]
    leaf_hashes = [hashlib.sha256(b"\x00" + d).digest() for d in datas]
    result = compact.append(leaf_hashes)
    start = head.size
    insert_rows(
        conn,
        "audit_entries",
        ("log_id", "idx", "leaf_hash", "data"),
        [
            (log_id, start + i, leaf, d)
            for i, (leaf, d) in enumerate(zip(leaf_hashes, datas, strict=True))
        ],
    )
    nodes = [
        (log_id, n.level, n.index, n.hash)
        for n in result.new_nodes
        if n.level and n.level % LEVEL_STEP == 0
    ]
    if nodes:
        insert_rows(conn, "audit_nodes", ("log_id", "level", "idx", "hash"), nodes)
    ids = ",".join(str(int(row[0])) for row in pending)
    # Explicit ids, not a range: on PostgreSQL a writer may commit an id inside the range
    # after the select above; that entry must stay queued.
    deleted = conn.exec_driver_sql(
        f"DELETE FROM audit_pending WHERE id IN ({ids})"  # noqa: S608 - integers only
    ).rowcount
    if deleted != len(pending):
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
    return len(pending), more


def pending_logs(conn: Connection) -> list[int]:
    """Ids of the logs that have queued entries."""
    return list(conn.execute(select(PendingRow.log_id).distinct()).scalars())


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
