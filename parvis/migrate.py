"""Alembic, driven from code: one migration history for every domain's tables.

``parvis db upgrade|downgrade|current`` call these functions; the application refuses to
serve a database whose schema is not at head (:func:`schema_status`), and ``/readyz`` says
so too.
"""

from __future__ import annotations

from dataclasses import dataclass

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from parvis.kernel.db import make_engine
from parvis.kernel.errors import DomainError

__all__ = [
    "SchemaAheadError",
    "SchemaBehindError",
    "SchemaStatus",
    "alembic_config",
    "downgrade",
    "schema_status",
    "upgrade",
]


class SchemaBehindError(DomainError):
    """The database schema is not the one this code expects."""

    title = "Database schema out of date"


class SchemaAheadError(SchemaBehindError):
    """The database was upgraded by a newer release: this code does not know its revisions.

    Serving it would write rows in a shape the newer schema no longer accepts (or read columns
    it has dropped); the remedy is the newer release, or a restore, never a downgrade by code
    that does not know the migrations to undo."""


@dataclass(frozen=True)
class SchemaStatus:
    """``current``: the revisions recorded in ``alembic_version``; ``applied``: those and
    every revision they descend from or depend on; ``heads``: what the code expects."""

    current: tuple[str, ...]
    heads: tuple[str, ...]
    applied: frozenset[str] = frozenset()
    #: Revisions recorded in the database that this code's migrations do not contain.
    unknown: tuple[str, ...] = ()

    @property
    def ahead(self) -> bool:
        return bool(self.unknown)

    @property
    def at_head(self) -> bool:
        # Alembic records only the tips: a head reached through another branch's
        # ``depends_on`` is applied without appearing in alembic_version.
        return not self.ahead and set(self.heads) <= (self.applied or set(self.current))

    def describe(self) -> str:
        cur = ", ".join(self.current) or "empty"
        text = f"database schema is at {cur}, this code expects {', '.join(self.heads)}"
        if self.ahead:
            text += f" (ahead: {', '.join(self.unknown)} unknown to this release)"
        return text


def alembic_config(url: str) -> Config:
    """Alembic configuration for ``url``.

    Each domain keeps its own branch (``branch_labels``) in the one ``versions/`` folder, with
    ``depends_on`` where its tables reference another domain's; "at head" means every branch
    is at its head, and ``upgrade`` defaults to ``heads``.
    """
    cfg = Config()
    cfg.set_main_option("script_location", "parvis:migrations")
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["database_url"] = url
    return cfg


def upgrade(url: str, revision: str = "heads") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "-1") -> None:
    command.downgrade(alembic_config(url), revision)


def schema_status(url: str, *, engine: Engine | None = None) -> SchemaStatus:
    """Current and expected revisions (raises the driver's error if unreachable)."""
    script = ScriptDirectory.from_config(alembic_config(url))
    own = engine is None
    engine = engine or make_engine(url)
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_heads()
    finally:
        if own:
            engine.dispose()
    known = {revision.revision for revision in script.walk_revisions()}
    unknown = tuple(r for r in current if r not in known)
    return SchemaStatus(
        current=tuple(current),
        heads=tuple(script.get_heads()),
        applied=_ancestry(script, tuple(r for r in current if r in known)),
        unknown=unknown,
    )


def _ancestry(script: ScriptDirectory, tips: tuple[str, ...]) -> frozenset[str]:
    """Every revision reachable from ``tips`` through ``down_revision`` and ``depends_on``."""
    seen: set[str] = set()
    todo = list(tips)
    while todo:
        revision = script.get_revision(todo.pop())
        if revision is None or revision.revision in seen:
            continue
        seen.add(revision.revision)
        for field in (revision.down_revision, revision.dependencies):
            if isinstance(field, str):
                todo.append(field)
            elif field:
                todo.extend(field)
    return frozenset(seen)


def require_head(url: str, *, engine: Engine | None = None) -> None:
    """Raise :class:`SchemaBehindError` naming the command to run when not at head, and
    :class:`SchemaAheadError` when a newer release has upgraded the database."""
    status = schema_status(url, engine=engine)
    if status.ahead:
        raise SchemaAheadError(
            f"{status.describe()}; run the newer release of Parvis (or restore a backup "
            "taken before its upgrade)"
        )
    if not status.at_head:
        raise SchemaBehindError(f"{status.describe()}; run `parvis db upgrade`")
