"""Batch boundaries of a bulletin board, and the order a batch goes on it.

Pure core (docs/adr/0009-batched-boards.md; design: ballot secrecy, "No time or order
trail"). A cast ballot waits in the pending pool until the next **boundary** — a multiple of
the election's ``batch_seconds`` since the Unix epoch, so every boundary is a public,
whole-minute wall-clock time that says nothing about any one ballot — and then goes on the
board with every other ballot of its batch in a uniformly random order. What the board,
its checkpoints and its public counts show therefore moves only at boundaries, and the
position of a ballot inside its batch is independent of when it arrived.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Hashable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TypeVar

__all__ = ["board_order", "boundary_at_or_before", "next_boundary", "shuffled"]

T = TypeVar("T")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: The operating system's CSPRNG: the order of a batch must not be predictable or
#: reproducible by anyone, the operator included (a seeded PRNG could be replayed).
_RANDOM = secrets.SystemRandom()


def _seconds(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("boundaries are computed on aware UTC times")
    return int((moment.astimezone(UTC) - _EPOCH) // timedelta(seconds=1))


def boundary_at_or_before(moment: datetime, batch_seconds: int) -> datetime:
    """The last boundary at or before ``moment``."""
    if batch_seconds <= 0:
        raise ValueError("batch_seconds must be positive")
    return _EPOCH + timedelta(seconds=_seconds(moment) // batch_seconds * batch_seconds)


def next_boundary(moment: datetime, batch_seconds: int) -> datetime:
    """The first boundary strictly after ``moment``: when a ballot accepted at ``moment``
    appears on the board."""
    return boundary_at_or_before(moment, batch_seconds) + timedelta(seconds=batch_seconds)


def shuffled(items: Sequence[T]) -> list[T]:
    """A uniformly random permutation of ``items`` (Fisher–Yates over the OS CSPRNG)."""
    out = list(items)
    _RANDOM.shuffle(out)
    return out


def board_order(
    items: Sequence[T], *, token: Callable[[T], Hashable], seq: Callable[[T], int]
) -> list[T]:
    """The order a batch goes on the board: uniformly random, except that the ballots of
    one token (a re-vote within the batch) keep increasing ``seq`` among the positions
    they drew — the rule every verifier checks (docs/board-format.md, "re-votes").

    The positions of each token's ballots are random like every other ballot's; only
    which of them takes which position follows ``seq``, which the ballots show anyway.
    ``seq`` is read only for tokens with several ballots in the batch.
    """
    order = shuffled(items)
    positions: dict[Hashable, list[int]] = {}
    for index, item in enumerate(order):
        positions.setdefault(token(item), []).append(index)
    for places in positions.values():
        if len(places) > 1:
            for place, item in zip(
                places, sorted((order[p] for p in places), key=seq), strict=True
            ):
                order[place] = item
    return order
