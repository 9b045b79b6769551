"""What other domains plug into the registry: exporters, erasers, subject mapping, age.

Domains that import ``consent`` (identity, ballot) register here from their plug-in
``setup``; consent never imports them (architecture.md, dependency rule).

* **Exporters** (Art. 15 access, Art. 20 portability): ``register_exporter(name, fn)``. Each
  returns what its domain holds on *one* subject as JSON-compatible data. ``ballot`` may only
  say *whether* a voting token was issued — never anything about a ballot.
* **Erasers** (Art. 17): ``register_eraser(name, fn)``, run before the subject's data key is
  destroyed, for rows that are not already sealed under that key.
* **Subject mapping**: platforms know a person by a pairwise identifier, not by Parvis's
  internal pseudonym; identity registers the mapping. Until then, the identity mapping is
  used and a subject is "known" once the registry has seen it.
* **Retention**: ``register_retention_handler(category_id, fn)`` — the domain holding a data
  category purges it when the purge job reaches that category's retention.
* **Age**: identity keeps the birth year; the registry asks it whether a person may be under
  15 (Loi 78-17 art. 45).

Registries are per process and keyed by name, so registering again (a second app in the same
process, a test) replaces the previous entry instead of adding a duplicate.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from parvis.kernel.context import AppContext

__all__ = [
    "AgeFacts",
    "Eraser",
    "ErasureContext",
    "ExportContext",
    "Exporter",
    "RetentionContext",
    "SubjectMapper",
    "age_source",
    "erasers",
    "exporters",
    "register_age_source",
    "register_eraser",
    "register_exporter",
    "register_retention_handler",
    "register_subject_mapper",
    "retention_handlers",
    "subject_mapper",
]

Scope = Literal["access", "portability"]


@dataclass(frozen=True, slots=True)
class ExportContext:
    """What an exporter receives: one subject, the scope, and the caller's transaction."""

    ctx: AppContext
    session: Session
    subject: str
    scope: Scope


@dataclass(frozen=True, slots=True)
class ErasureContext:
    ctx: AppContext
    session: Session
    subject: str
    actor: str


@dataclass(frozen=True, slots=True)
class RetentionContext:
    """One purge step: delete (or, when ``dry_run``, count) the rows of ``category_id``
    processed for ``purpose_id`` whose retention period ended before ``cutoff``, measured
    from ``retention_from`` (collection, consent_end or last_activity)."""

    ctx: AppContext
    session: Session
    purpose_id: str
    category_id: str
    retention_from: str
    cutoff: datetime
    dry_run: bool


Exporter = Callable[[ExportContext], Mapping[str, Any]]
RetentionHandler = Callable[[RetentionContext], int]
Eraser = Callable[[ErasureContext], None]


@dataclass(frozen=True, slots=True)
class AgeFacts:
    """What is known of a person's age (identity keeps the birth year only)."""

    birth_year: int | None = None
    birth_date: date | None = None


class SubjectMapper(Protocol):
    """Maps a platform's identifier of a person to Parvis's pseudonym and back."""

    def from_platform(
        self, ctx: AppContext, session: Session, *, client_id: str, subject: str
    ) -> str | None: ...

    def to_platform(
        self, ctx: AppContext, session: Session, *, client_id: str, pseudonym: str
    ) -> str: ...


_exporters: dict[str, Exporter] = {}
_erasers: dict[str, Eraser] = {}
_retention: dict[str, RetentionHandler] = {}
_mapper: list[SubjectMapper] = []
_age: list[Callable[[AppContext, Session, str], AgeFacts | None]] = []


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError("a registry name is 1 to 64 letters, digits, '.', '-' or '_'")


def register_exporter(name: str, fn: Exporter) -> None:
    """Add (or replace) the exporter called ``name``; its output lands under that key."""
    _check_name(name)
    _exporters[name] = fn


def register_eraser(name: str, fn: Eraser) -> None:
    _check_name(name)
    _erasers[name] = fn


def register_retention_handler(category_id: str, fn: RetentionHandler) -> None:
    """The domain that stores data category ``category_id`` purges it with ``fn``
    (idempotent; returns how many records it deleted, or would delete on a dry run)."""
    _check_name(category_id)
    _retention[category_id] = fn


def retention_handlers() -> dict[str, RetentionHandler]:
    return dict(_retention)


def register_subject_mapper(mapper: SubjectMapper) -> None:
    _mapper[:] = [mapper]


def register_age_source(fn: Callable[[AppContext, Session, str], AgeFacts | None]) -> None:
    _age[:] = [fn]


def exporters() -> dict[str, Exporter]:
    return dict(sorted(_exporters.items()))


def erasers() -> dict[str, Eraser]:
    return dict(sorted(_erasers.items()))


def subject_mapper() -> SubjectMapper | None:
    return _mapper[0] if _mapper else None


def age_source() -> Callable[[AppContext, Session, str], AgeFacts | None] | None:
    return _age[0] if _age else None
