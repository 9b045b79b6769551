"""Inclusion proofs of board entries read through C2SP tlog-tiles (the audit log's read API).

A receipt needs the RFC 9162 inclusion proof of its entry (voting-protocol.md, "Casting").
The audit engine answers one proof per call; a batch of receipts (the casting committer's)
would then cost several queries per ballot. Tiles are shared instead: every hash an
inclusion proof holds is a perfect subtree, whose root is either in a tile (tree levels 0,
8, 16, …: one tile of 256 hashes per read) or folded from at most 128 hashes of the tile
level below it (RFC 6962 §2.1: node = SHA-256(0x01 ‖ left ‖ right)). One batch of proofs
near the right edge of the tree then reads a handful of tiles, whatever its size.

Full tiles never change (tlog-tiles: "full tiles are immutable"), so they are cached per
process; partial tiles (the right edge) are read at the width complete in the tree size the
proof is for, which does not change either. The proofs are checked by the callers' clients
against signed checkpoints: a wrong hash here would give a receipt that does not verify,
never a false one.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Final

from sqlalchemy.orm import Session

from audit import AuditService
from audit.merkle import inclusion_proof
from audit.tiles import TILE_HEIGHT, TILE_WIDTH, TilePath

__all__ = ["TileCache", "TileReader"]

_HASH: Final = 32
_CACHE_TILES: Final = 4096


class TileCache:
    """Full tiles of every board, per process (each is 8 KiB; at most ``_CACHE_TILES``)."""

    def __init__(self) -> None:
        self._tiles: OrderedDict[tuple[str, int, int], tuple[bytes, ...]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, int, int]) -> tuple[bytes, ...] | None:
        with self._lock:
            found = self._tiles.get(key)
            if found is not None:
                self._tiles.move_to_end(key)
            return found

    def put(self, key: tuple[str, int, int], hashes: tuple[bytes, ...]) -> None:
        with self._lock:
            self._tiles[key] = hashes
            while len(self._tiles) > _CACHE_TILES:
                self._tiles.popitem(last=False)


class TileReader:
    """The tree of one board at one size, as a :data:`audit.merkle.NodeSource` over tiles."""

    def __init__(
        self, audit: AuditService, session: Session, *, log: str, size: int, cache: TileCache
    ) -> None:
        self._audit = audit
        self._session = session
        self._log = log
        self.size = size
        self._cache = cache
        self._partial: dict[tuple[int, int], tuple[bytes, ...]] = {}
        self._nodes: dict[tuple[int, int], bytes] = {}

    def tile(self, tile_level: int, index: int) -> tuple[bytes, ...]:
        """The hashes of tile ``index`` at ``tile_level`` complete in the tree of ``size``."""
        available = self.size >> (tile_level * TILE_HEIGHT)
        width = min(TILE_WIDTH, available - index * TILE_WIDTH)
        if width <= 0:
            raise LookupError(f"tile {tile_level}/{index} is empty at size {self.size}")
        if width == TILE_WIDTH:
            cached = self._cache.get((self._log, tile_level, index))
            if cached is not None:
                return cached
        elif (tile_level, index) in self._partial:
            return self._partial[(tile_level, index)]
        data = self._audit.tile(
            self._session, log=self._log, tile=TilePath(level=tile_level, index=index, width=width)
        )
        hashes = tuple(data[i : i + _HASH] for i in range(0, len(data), _HASH))
        if width == TILE_WIDTH:
            self._cache.put((self._log, tile_level, index), hashes)
        else:
            self._partial[(tile_level, index)] = hashes
        return hashes

    def node(self, level: int, index: int) -> bytes:
        """Root of the perfect subtree over leaves ``[index·2^level, (index+1)·2^level)``."""
        tile_level, below = divmod(level, TILE_HEIGHT)
        if below == 0:
            return self.tile(tile_level, index // TILE_WIDTH)[index % TILE_WIDTH]
        folded = self._nodes.get((level, index))
        if folded is not None:  # proofs of one batch share their upper nodes
            return folded
        first = index << below
        hashes = [
            self.tile(tile_level, (first + i) // TILE_WIDTH)[(first + i) % TILE_WIDTH]
            for i in range(1 << below)
        ]
        while len(hashes) > 1:
            hashes = [
                hashlib.sha256(b"\x01" + hashes[i] + hashes[i + 1]).digest()
                for i in range(0, len(hashes), 2)
            ]
        self._nodes[(level, index)] = hashes[0]
        return hashes[0]

    def proof(self, index: int) -> list[bytes]:
        """RFC 6962 ``PATH(index, D[size])``."""
        return inclusion_proof(self.node, index=index, size=self.size)

    def find(self, leaves: Iterable[bytes], *, tiles: int = 16) -> dict[bytes, int]:
        """Indexes of ``leaves`` among the last ``tiles`` level-0 tiles (recent entries)."""
        wanted = set(leaves)
        found: dict[bytes, int] = {}
        last = (self.size - 1) // TILE_WIDTH if self.size else -1
        for index in range(last, max(-1, last - tiles), -1):
            for offset, leaf in enumerate(self.tile(0, index)):
                if leaf in wanted and leaf not in found:
                    found[leaf] = index * TILE_WIDTH + offset
            if len(found) == len(wanted):
                break
        return found
