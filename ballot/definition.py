"""Election definitions and the election lifecycle (ADR 0006, "Definitions, platforms, CLI").

Pure core. An election is defined — in a YAML or JSON file (``parvis election create FILE``),
through the staff API or by a participation platform — by the members of its future manifest
that are not keys (voting-protocol.md, "Keys and the bulletin board"; ``docs/board-format.md``
§3)::

    id: 0c6d1c1e-8a5b-4bd4-9f57-0a3b7f3c2d11      # optional: a random UUID otherwise
    title: {fr: "Budget participatif 2026", en: "Participatory budget 2026"}
    opens_at: 2026-03-01T08:00:00Z
    closes_at: 2026-03-31T20:00:00Z
    eligibility: {rule: budget-participatif}
    revote: true
    min_anonymity_set: 10
    paper: false
    batch_seconds: 600                             # board batches (ADR 0009); default 600
    questions: [...]                               # ballot/questions.py

The eligible population is not part of a definition: it is counted from the territory's
census and the rule when the election opens, and published in the manifest
(ballot-secrecy.md §3); the verifier checks #ballots ≤ #tokens issued ≤ population. A
``population`` typed in a definition written before (``eligibility: {rule, population}``)
is still read and ignored.

Lifecycle: ``draft → scheduled → open → closed → tallied → published``, one step at a time,
each by an election officer (:func:`check_transition`). Only drafts can be edited.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

from ballot.errors import ElectionStateError, InvalidElectionError
from ballot.manifest import format_time, parse_time
from ballot.questions import InvalidQuestionError, Question, parse_questions
from parvis.kernel.errors import InvalidInputError

__all__ = [
    "DEFINITION_MEMBERS",
    "ElectionDefinition",
    "Status",
    "check_transition",
    "parse_definition",
]

DEFINITION_MEMBERS: Final = frozenset(
    {
        "id",
        "title",
        "opens_at",
        "closes_at",
        "eligibility",
        "revote",
        "min_anonymity_set",
        "paper",
        "batch_seconds",
        "questions",
    }
)
_REQUIRED: Final = DEFINITION_MEMBERS - {
    "id",
    "revote",
    "paper",
    "min_anonymity_set",
    "batch_seconds",
}
_RULE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
#: Upper bound of an eligible population (France has ~68 million inhabitants).
MAX_POPULATION: Final = 100_000_000
MAX_TITLE: Final = 300
#: Board batches (docs/adr/0009-batched-boards.md): by default every 10 minutes; whole
#: minutes from one minute to one day, so that every boundary is a whole minute.
DEFAULT_BATCH_SECONDS: Final = 600
MIN_BATCH_SECONDS: Final = 60
MAX_BATCH_SECONDS: Final = 86_400


class Status(StrEnum):
    """Where an election is in its life (ADR 0006: draft → scheduled → open → closed → tallied
    → published)."""

    DRAFT = "draft"
    SCHEDULED = "scheduled"
    OPEN = "open"
    CLOSED = "closed"
    TALLIED = "tallied"
    PUBLISHED = "published"


#: The only moves: one step forward at a time.
_NEXT: Final[Mapping[Status, Status]] = {
    Status.DRAFT: Status.SCHEDULED,
    Status.SCHEDULED: Status.OPEN,
    Status.OPEN: Status.CLOSED,
    Status.CLOSED: Status.TALLIED,
    Status.TALLIED: Status.PUBLISHED,
}


def check_transition(current: Status, target: Status) -> None:
    """Raise :class:`ElectionStateError` unless ``target`` is the step after ``current``."""
    if _NEXT.get(current) is not target:
        raise ElectionStateError(
            f"an election that is {current.value} cannot become {target.value}"
            + (f" (next step: {_NEXT[current].value})" if current in _NEXT else ""),
            status=current.value,
        )


def _title(value: object) -> dict[str, str]:
    if isinstance(value, str):
        value = {"fr": value}
    if not isinstance(value, Mapping) or "fr" not in value:
        raise InvalidElectionError("title: a French title ('fr') is required, 'en' optional")
    out: dict[str, str] = {}
    for lang, text in value.items():
        if lang not in {"fr", "en"} or not isinstance(text, str) or not text.strip():
            raise InvalidElectionError("title: non-empty texts keyed 'fr' or 'en'")
        if len(text) > MAX_TITLE:
            raise InvalidElectionError(f"title: at most {MAX_TITLE} characters")
        out[str(lang)] = text.strip()
    return out


def _time(value: object, *, field: str) -> datetime:
    # YAML reads an unquoted ISO time as a datetime; JSON gives the text.
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise InvalidElectionError(f"{field}: give the time in UTC with a final Z")
        return value.astimezone(UTC).replace(microsecond=0)
    try:
        return parse_time(value, field=field)
    except InvalidInputError as exc:  # parse_time's InvalidManifestError
        raise InvalidElectionError(str(exc)) from None


def _flag(data: Mapping[str, Any], name: str, default: bool) -> bool:
    value = data.get(name, default)
    if not isinstance(value, bool):
        raise InvalidElectionError(f"{name}: true or false")
    return value


def _count(value: object, *, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidElectionError(f"{field}: an integer from {low} to {high}")
    return value


@dataclass(frozen=True, slots=True)
class ElectionDefinition:
    """A validated definition; everything the manifest needs except the keys."""

    election_id: uuid.UUID
    title: Mapping[str, str]
    opens_at: datetime
    closes_at: datetime
    eligibility_rule: str
    revote: bool
    min_anonymity_set: int
    paper: bool
    questions: tuple[Question, ...]
    batch_seconds: int = DEFAULT_BATCH_SECONDS

    def to_json(self) -> dict[str, Any]:
        """The canonical definition (the form stored and shown back to its author)."""
        return {
            "id": str(self.election_id),
            "title": dict(self.title),
            "opens_at": format_time(self.opens_at),
            "closes_at": format_time(self.closes_at),
            "eligibility": {"rule": self.eligibility_rule},
            "revote": self.revote,
            "min_anonymity_set": self.min_anonymity_set,
            "paper": self.paper,
            "batch_seconds": self.batch_seconds,
            "questions": [q.to_json() for q in self.questions],
        }


def parse_definition(
    data: object,
    *,
    new_id: Callable[[], uuid.UUID] = uuid.uuid4,
    election_id: uuid.UUID | None = None,
) -> ElectionDefinition:
    """Strictly parse a definition; unknown members are refused.

    ``election_id`` forces the id (an update keeps its election's id; a different ``id`` in
    the body is refused); otherwise the body's ``id`` or ``new_id()``.
    """
    if not isinstance(data, Mapping):
        raise InvalidElectionError("an election definition is a JSON or YAML object")
    unknown = set(data) - DEFINITION_MEMBERS
    if unknown:
        raise InvalidElectionError(f"unknown member(s): {sorted(str(u)[:40] for u in unknown)}")
    missing = _REQUIRED - set(data)
    if missing:
        raise InvalidElectionError(f"missing member(s): {sorted(missing)}")
    given = data.get("id")
    parsed_id: uuid.UUID | None = None
    if given is not None:
        try:
            parsed_id = uuid.UUID(str(given))
        except ValueError:
            raise InvalidElectionError("id: a UUID such as 0c6d1c1e-8a5b-4bd4-…") from None
        if str(parsed_id) != given:
            raise InvalidElectionError("id: the lowercase hyphenated UUID form")
    if election_id is not None and parsed_id is not None and parsed_id != election_id:
        raise InvalidElectionError("id: an election keeps its id")
    eid = election_id or parsed_id or new_id()
    eligibility = data["eligibility"]
    # A population typed by definitions written before it was counted is read and ignored
    # (ballot-secrecy.md §3: counted from the census when the election opens, never typed).
    if not isinstance(eligibility, Mapping) or set(eligibility) not in (
        {"rule"},
        {"rule", "population"},
    ):
        raise InvalidElectionError("eligibility: exactly {rule}")
    rule = eligibility["rule"]
    if not isinstance(rule, str) or not _RULE_ID.match(rule):
        raise InvalidElectionError("eligibility.rule: an identity rule id (a-z, 0-9, '-')")
    opens_at = _time(data["opens_at"], field="opens_at")
    closes_at = _time(data["closes_at"], field="closes_at")
    if closes_at <= opens_at:
        raise InvalidElectionError("closes_at must be after opens_at")
    try:
        questions = parse_questions(data["questions"])
    except InvalidQuestionError as exc:
        raise InvalidElectionError(str(exc)) from None
    return ElectionDefinition(
        election_id=eid,
        title=_title(data["title"]),
        opens_at=opens_at,
        closes_at=closes_at,
        eligibility_rule=rule,
        revote=_flag(data, "revote", True),
        min_anonymity_set=_count(
            data.get("min_anonymity_set", 1), field="min_anonymity_set", low=1, high=MAX_POPULATION
        ),
        paper=_flag(data, "paper", False),
        questions=questions,
        batch_seconds=_batch_seconds(data.get("batch_seconds", DEFAULT_BATCH_SECONDS)),
    )


def _batch_seconds(value: object) -> int:
    seconds = _count(value, field="batch_seconds", low=MIN_BATCH_SECONDS, high=MAX_BATCH_SECONDS)
    if seconds % 60:
        raise InvalidElectionError("batch_seconds: whole minutes (a multiple of 60)")
    return seconds
