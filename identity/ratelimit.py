"""A small in-memory sliding-window rate limiter (per process), for sign-in forms.

Complements the per-account lockout of :mod:`identity.staff` (which is in the database and
shared by every worker): this one slows a single client trying many accounts. Keys are kept
in memory only, for the window's length, and are never logged.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["RateLimiter"]


class RateLimiter:
    """At most ``limit`` hits per ``window`` seconds for each key."""

    def __init__(
        self, *, limit: int, window: float, now: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self.now = now
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        """Record a hit for ``key``; False when the key is over its limit."""
        now = self.now()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and now - hits[0] >= self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            if len(self._hits) > 10_000:  # bound memory: forget idle keys
                for stale in [k for k, v in self._hits.items() if not v][:5_000]:
                    del self._hits[stale]
            return True
