"""C2SP tlog-tiles coordinates and entry bundles (the static read API of every log).

Specification: C2SP *tlog-tiles* (https://c2sp.org/tlog-tiles), sections "Merkle Tree",
"Log Entries" and "Paths".

* A tile at level ``L``, index ``N`` lists up to 256 consecutive hashes of tree level
  ``8 * L``, starting at node ``N * 256``; it holds only complete (perfect) subtrees. A full
  tile has 256 hashes, a partial one ``W < 256`` (path suffix ``.p/<W>``).
* ``N`` "is encoded as a zero-padded 3-digit path element. If the index is greater than 999,
  it is split into 3-digit path elements, where all but the last are prefixed with x":
  1234067 is ``x001/x234/067``.
* Entry bundles ``tile/entries/<N>[.p/<W>]`` hold the entries ``N * 256`` onwards, each
  "prefixed by its length as a big-endian uint16".

How Parvis serves them from the database is in ADR 0003. This module is pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from audit.errors import TreeRangeError

__all__ = [
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "TilePath",
    "decode_bundle",
    "encode_bundle",
    "parse_tile_path",
]

TILE_HEIGHT = 8
"""tlog-tiles: tiles have height 8, so a tile at level ``L`` holds tree level ``8 * L``."""

TILE_WIDTH = 1 << TILE_HEIGHT
"""256 hashes (or entries) in a full tile (or bundle)."""

_MAX_LEVEL = 63
_MAX_ENTRY = 0xFFFF
_ELEMENT = re.compile(r"x[0-9]{3}", re.ASCII)
_LAST = re.compile(r"[0-9]{3}", re.ASCII)
_LEVEL = re.compile(r"0|[1-9][0-9]?", re.ASCII)
_WIDTH = re.compile(r"[1-9][0-9]{0,2}", re.ASCII)


@dataclass(frozen=True, slots=True)
class TilePath:
    """A tile (``level`` 0-63) or an entry bundle (``level`` ``None``), index and width."""

    level: int | None
    index: int
    width: int = TILE_WIDTH

    def __post_init__(self) -> None:
        if self.level is not None and not 0 <= self.level <= _MAX_LEVEL:
            raise TreeRangeError(f"tile level {self.level} is outside 0..{_MAX_LEVEL}")
        if self.index < 0:
            raise TreeRangeError(f"tile index {self.index} is negative")
        if not 1 <= self.width <= TILE_WIDTH:
            raise TreeRangeError(f"tile width {self.width} is outside 1..{TILE_WIDTH}")

    @property
    def path(self) -> str:
        """``tile/<L>/<N>[.p/<W>]`` or ``tile/entries/<N>[.p/<W>]``."""
        digits = f"{self.index:03d}"
        # Split into 3-digit groups from the right; all but the last get the x prefix.
        head, last = digits[:-3], digits[-3:]
        groups = [head[max(0, i - 3) : i] for i in range(len(head), 0, -3)][::-1]
        elements = [f"x{int(g):03d}" for g in groups] + [last]
        level = "entries" if self.level is None else str(self.level)
        suffix = f".p/{self.width}" if self.width < TILE_WIDTH else ""
        return f"tile/{level}/{'/'.join(elements)}{suffix}"

    @property
    def tree_level(self) -> int:
        """The Merkle tree level whose hashes this tile lists (0 for entry bundles)."""
        return 0 if self.level is None else self.level * TILE_HEIGHT

    @property
    def first(self) -> int:
        """Index, at :attr:`tree_level`, of the first hash (or entry) in the tile."""
        return self.index * TILE_WIDTH


def parse_tile_path(path: str) -> TilePath:
    """Parse the part of a tile URL after ``tile/``: ``<L or entries>/<N>[.p/<W>]``.

    Strict: the canonical encoding only (no leading zeros in ``L`` or ``W``, groups of
    exactly three digits, ``x`` on all but the last, no ``x000`` first group, a partial
    width below 256), so each tile has exactly one URL. Raises
    :class:`~audit.errors.TreeRangeError`.
    """
    parts = path.split("/")
    if len(parts) < 2:
        raise TreeRangeError("tile path is not <level>/<index>")
    level_text, *index_parts = parts
    width = TILE_WIDTH
    if len(index_parts) >= 2 and index_parts[-2].endswith(".p"):
        if not _WIDTH.fullmatch(index_parts[-1]) or int(index_parts[-1]) >= TILE_WIDTH:
            raise TreeRangeError("partial tile width is not a number from 1 to 255")
        width = int(index_parts[-1])
        index_parts = [*index_parts[:-2], index_parts[-2][:-2]]
    if level_text == "entries":
        level: int | None = None
    elif _LEVEL.fullmatch(level_text):
        level = int(level_text)
    else:
        raise TreeRangeError("tile level is not 'entries' or a decimal number")
    *heads, last = index_parts
    if not _LAST.fullmatch(last) or not all(_ELEMENT.fullmatch(h) for h in heads):
        raise TreeRangeError("tile index is not in x000/.../000 form")
    if heads and heads[0] == "x000":
        raise TreeRangeError("tile index has a leading zero group")
    index = int("".join(h[1:] for h in heads) + last)
    return TilePath(level=level, index=index, width=width)


def encode_bundle(entries: Iterable[bytes]) -> bytes:
    """An entry bundle: each entry prefixed with its length as a big-endian uint16."""
    out = bytearray()
    for i, entry in enumerate(entries):
        if len(entry) > _MAX_ENTRY:
            raise TreeRangeError(f"entry {i} of the bundle is longer than 65535 bytes")
        out += len(entry).to_bytes(2, "big") + entry
    return bytes(out)


def decode_bundle(data: bytes) -> list[bytes]:
    """Split an entry bundle; raise :class:`~audit.errors.TreeRangeError` if truncated."""
    entries: list[bytes] = []
    pos = 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise TreeRangeError("entry bundle ends inside a length prefix")
        length = int.from_bytes(data[pos : pos + 2], "big")
        pos += 2
        if pos + length > len(data):
            raise TreeRangeError("entry bundle ends inside an entry")
        entries.append(data[pos : pos + length])
        pos += length
    return entries
