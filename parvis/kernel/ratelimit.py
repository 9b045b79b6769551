"""Rate limits shared by every worker and every host: counters in the database (ADR 0014).

A limit counted in one process's memory is ``N`` times higher with ``N`` workers and resets
on every restart; a limit counted per host is as many times higher as there are hosts. Every
Parvis process already shares one database, so the counters live there, in
``kernel_rate_limits``.

The window is the sliding-window approximation of two fixed windows (the previous window's
count, weighted by how much of it still overlaps the sliding window, plus the current
window's count): one row per key and window, an atomic ``INSERT … ON CONFLICT DO UPDATE …
RETURNING`` (PostgreSQL and SQLite ≥ 3.35) per hit, so concurrent workers never lose a
count. Every attempt counts, refused ones included: a client that keeps hammering stays
refused until its rate drops.

Keys (client addresses, pseudonyms) are stored only as HMAC-SHA-256 under a key derived from
the master secret (:func:`parvis.kernel.keys.derive_key`), and a row is deleted two windows
after its window began: the table is no access log. The limiter's transaction is its own and
commits even when the request it guards then fails (that is what a limit counts).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from parvis.kernel.clock import Clock
from parvis.kernel.db import Base, Database
from parvis.kernel.keys import derive_key, keyed_hash

__all__ = ["KEY_PURPOSE", "RateLimitRow", "SharedRateLimiter"]

#: HKDF purpose of the key that hashes limiter keys (never the raw address or pseudonym).
KEY_PURPOSE = "kernel/rate-limit/v1"


class RateLimitRow(Base):
    """One counter: hits of one key (hashed) in one fixed window of one limit (``scope``)."""

    __tablename__ = "kernel_rate_limits"

    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: The fixed window: Unix seconds // window length.
    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hits: Mapped[int] = mapped_column(Integer)
    #: Unix seconds after which the row counts for nothing (two windows after its start).
    expires: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_kernel_rate_limits_expires", "expires"),)


@dataclass(frozen=True, slots=True)
class SharedRateLimiter:
    """At most ``limit`` hits per sliding ``window`` seconds for each key of ``scope``,
    counted in the database for every worker and host."""

    db: Database
    clock: Clock
    secret: bytes
    scope: str
    limit: int
    window: int

    def __post_init__(self) -> None:
        if self.limit < 1 or self.window < 1:
            raise ValueError("a rate limit needs limit ≥ 1 and window ≥ 1 second")
        if not 0 < len(self.scope) <= 64:
            raise ValueError("a rate-limit scope is 1 to 64 characters")

    @classmethod
    def create(
        cls, *, db: Database, clock: Clock, master_secret: str, scope: str, limit: int, window: int
    ) -> SharedRateLimiter:
        """A limiter whose key hashes use the key derived from ``master_secret``."""
        secret = derive_key(master_secret, KEY_PURPOSE)
        return cls(db=db, clock=clock, secret=secret, scope=scope, limit=limit, window=window)

    def _upsert(self, dialect: str) -> Any:
        module: Any = postgresql if dialect == "postgresql" else sqlite
        return module.insert(RateLimitRow)

    def allow(self, key: str) -> bool:
        """Count a hit for ``key``; False when it is over the limit."""
        moment = self.clock.now().timestamp()
        current = int(moment // self.window)
        overlap = 1.0 - (moment - current * self.window) / self.window
        key_hash = keyed_hash(self.secret, f"{self.scope}\x00{key}".encode())
        with self.db.write_session() as session:
            stmt = self._upsert(session.get_bind().dialect.name)
            stmt = stmt.values(
                scope=self.scope,
                key_hash=key_hash,
                bucket=current,
                hits=1,
                expires=(current + 2) * self.window,
            )
            stmt = stmt.on_conflict_do_update(
                index_elements=["scope", "key_hash", "bucket"],
                set_={"hits": RateLimitRow.hits + 1},
            ).returning(RateLimitRow.hits)
            hits = int(session.execute(stmt).scalar_one())
            previous = session.execute(
                select(RateLimitRow.hits).where(
                    RateLimitRow.scope == self.scope,
                    RateLimitRow.key_hash == key_hash,
                    RateLimitRow.bucket == current - 1,
                )
            ).scalar_one_or_none()
            if hits == 1:
                # A key's first hit in a window purges every expired counter (all scopes):
                # at most once per key and window, and the table holds no stale key.
                session.execute(delete(RateLimitRow).where(RateLimitRow.expires <= moment))
        return (previous or 0) * overlap + hits <= self.limit
