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
    mode: encrypted                                # or public (docs/adr/0018); default encrypted
    trustees:                                      # encrypted only: 1 to 15, in participant order
      - {label: "Mairie", staff: "maire@ville.fr"} # staff: e-mail of a staff account (trustee role)
      - {label: "Opposition", staff: "opp@ville.fr"}
    threshold: 2                                   # encrypted only: 1 ≤ t ≤ n trustees decrypt
    rehearsal: false                               # a rehearsal (below); default false
    questions: [...]                               # ballot/questions.py

``mode`` (docs/adr/0018-encrypted-elections.md, board-format.md §10): ``encrypted`` — ballots
are ElGamal ciphertexts to the trustees' joint key, made in a key ceremony before the
opening — or ``public`` — the server sees each choice (board-format.md §1–§9). A definition
submitted without ``mode`` is encrypted; a definition **stored** before modes existed has
none and reads as public (:func:`parse_definition` ``stored=True``), so that the elections of
an existing database keep their meaning without a migration.

``rehearsal: true`` marks a dress rehearsal: an election run only to try the service out
(staff training, a load test before the real vote). It is the only kind of election that
``parvis election simulate`` may fill with fictitious voters in production. The flag is part
of the definition only (frozen at scheduling, shown in the status document); it says nothing
on the board, whose results a rehearsal should never be mistaken for — give it a title that
says so.

The eligible population is not part of a definition: it is counted from the territory's
census and the rule when the election opens, and published in the manifest
(ballot-secrecy.md §3); the verifier checks #ballots ≤ #tokens issued ≤ population. A
``population`` typed in a definition written before (``eligibility: {rule, population}``)
is still read and ignored.

Lifecycle: ``draft → scheduled → open → closed → tallied → published``, one step at a time,
each by an election officer (:func:`check_transition`). An encrypted election passes through
``decrypting`` between ``closed`` and ``tallied``: its tally appends the homomorphic sums
and waits for the trustees' partial decryptions (docs/board-format.md §10.4); the results
entry that completes it comes with the threshold-th partial decryption. Only drafts can be
edited.
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
from ballot.manifest import Manifest, format_time, parse_time
from ballot.questions import InvalidQuestionError, Question, parse_questions
from parvis.kernel.errors import InvalidInputError

__all__ = [
    "DEFINITION_MEMBERS",
    "MAX_TRUSTEES",
    "ElectionDefinition",
    "Mode",
    "Status",
    "TrusteeSpec",
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
        "rehearsal",
        "questions",
        "mode",
        "trustees",
        "threshold",
    }
)
_REQUIRED: Final = DEFINITION_MEMBERS - {
    "id",
    "revote",
    "paper",
    "min_anonymity_set",
    "batch_seconds",
    "rehearsal",
    "mode",
    "trustees",
    "threshold",
}
_RULE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
#: What identity's staff accounts accept (identity/staff.py): one "@" inside, ≤ 254.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
#: Upper bound of an eligible population (France has ~68 million inhabitants).
MAX_POPULATION: Final = 100_000_000
MAX_TITLE: Final = 300
#: Board batches (docs/adr/0009-batched-boards.md): by default every 10 minutes; whole
#: minutes from one minute to one day, so that every boundary is a whole minute.
DEFAULT_BATCH_SECONDS: Final = 600
MIN_BATCH_SECONDS: Final = 60
MAX_BATCH_SECONDS: Final = 86_400
#: Trustees of an encrypted election (docs/adr/0018-encrypted-elections.md, "Modes"): at
#: least one, at most 15 — every trustee must take part in the whole ceremony (ADR 0012,
#: "Consequences"), and each more trustee is one more person to gather on the day; a
#: council's groups and a few independent figures fit well under 15.
MAX_TRUSTEES: Final = 15
MAX_TRUSTEE_LABEL: Final = 64


class Mode(StrEnum):
    """How ballots are kept (board-format.md §10): encrypted to the trustees' joint key, or
    public to the server (the weaker, explicit choice)."""

    ENCRYPTED = "encrypted"
    PUBLIC = "public"


@dataclass(frozen=True, slots=True)
class TrusteeSpec:
    """One trustee of the definition: a public label (on the board and in the manifest) and
    the e-mail of the staff account (trustee role) that acts for them. The e-mail stays in
    the definition: it never goes on the board."""

    label: str
    staff: str


class Status(StrEnum):
    """Where an election is in its life (ADR 0006: draft → scheduled → open → closed → tallied
    → published)."""

    DRAFT = "draft"
    SCHEDULED = "scheduled"
    OPEN = "open"
    CLOSED = "closed"
    #: An encrypted election's sums are on the board; waiting for the trustees (§10.4).
    DECRYPTING = "decrypting"
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
#: The encrypted election's detour: closed → decrypting → tallied (§10.4).
_ALSO: Final[Mapping[Status, Status]] = {
    Status.CLOSED: Status.DECRYPTING,
    Status.DECRYPTING: Status.TALLIED,
}


def check_transition(current: Status, target: Status) -> None:
    """Raise :class:`ElectionStateError` unless ``target`` is the step after ``current``."""
    if _NEXT.get(current) is not target and _ALSO.get(current) is not target:
        raise ElectionStateError(
            f"an election that is {current.value} cannot become {target.value}"
            + (
                f" (next step: {(_NEXT.get(current) or _ALSO[current]).value})"
                if current in _NEXT or current in _ALSO
                else ""
            ),
            status=current.value,
        )


def _refuse(field: str | None, message: str, **params: object) -> InvalidElectionError:
    """The error for ``message`` about the member at ``field``; the English detail is
    ``"<field>: <reason>"`` as clients have always read it."""
    reason = message % params if params else message
    return InvalidElectionError(
        f"{field}: {reason}" if field else reason, field=field, message=message, params=params
    )


def _title(value: object) -> dict[str, str]:
    if isinstance(value, str):
        value = {"fr": value}
    if not isinstance(value, Mapping) or "fr" not in value:
        raise _refuse("title", "a French title ('fr') is required, 'en' optional")
    out: dict[str, str] = {}
    for lang, text in value.items():
        at = f"title.{lang}" if lang in {"fr", "en"} else "title"
        if lang not in {"fr", "en"} or not isinstance(text, str) or not text.strip():
            raise _refuse(at, "non-empty texts keyed 'fr' or 'en'")
        if len(text) > MAX_TITLE:
            raise _refuse(at, "at most %(max)s characters", max=MAX_TITLE)
        out[str(lang)] = text.strip()
    return out


def _time(value: object, *, field: str) -> datetime:
    # YAML reads an unquoted ISO time as a datetime; JSON gives the text.
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise _refuse(field, "give the time in UTC with a final Z")
        return value.astimezone(UTC).replace(microsecond=0)
    try:
        return parse_time(value, field=field)
    except InvalidInputError as exc:  # parse_time's InvalidManifestError
        raise InvalidElectionError(
            str(exc), field=field, message="must look like 2026-03-01T08:00:00Z"
        ) from None


def _flag(data: Mapping[str, Any], name: str, default: bool) -> bool:
    value = data.get(name, default)
    if not isinstance(value, bool):
        raise _refuse(name, "true or false")
    return value


def _count(value: object, *, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _refuse(field, "an integer from %(low)s to %(high)s", low=low, high=high)
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
    mode: Mode = Mode.PUBLIC
    trustees: tuple[TrusteeSpec, ...] = ()
    threshold: int | None = None
    rehearsal: bool = False

    @property
    def encrypted(self) -> bool:
        return self.mode is Mode.ENCRYPTED

    def manifest(
        self, *, issuer_spki: bytes, board_origin: str, board_key: str, population: int
    ) -> Manifest:
        """The manifest of these terms (board-format.md §3; an encrypted election's terms
        before its ``encryption``, §10.2), with the election's keys, its board and the
        eligible population counted from the census (ballot-secrecy.md §3)."""
        return Manifest(
            election_id=self.election_id.bytes,
            title=dict(self.title),
            questions=self.questions,
            opens_at=self.opens_at,
            closes_at=self.closes_at,
            eligibility_rule=self.eligibility_rule,
            eligible_population=population,
            issuer_spki=issuer_spki,
            board_origin=board_origin,
            board_key=board_key,
            revote=self.revote,
            min_anonymity_set=self.min_anonymity_set,
            paper=self.paper,
            batch_seconds=self.batch_seconds,
        )

    def to_json(self) -> dict[str, Any]:
        """The canonical definition (the form stored and shown back to its author);
        ``rehearsal`` only when true, so definitions stored before it read back the same."""
        out: dict[str, Any] = {
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
            "mode": self.mode.value,
        }
        if self.encrypted:
            out["trustees"] = [{"label": t.label, "staff": t.staff} for t in self.trustees]
            out["threshold"] = self.threshold
        if self.rehearsal:
            out["rehearsal"] = True
        return out


def parse_definition(
    data: object,
    *,
    new_id: Callable[[], uuid.UUID] = uuid.uuid4,
    election_id: uuid.UUID | None = None,
    stored: bool = False,
) -> ElectionDefinition:
    """Strictly parse a definition; unknown members are refused.

    ``election_id`` forces the id (an update keeps its election's id; a different ``id`` in
    the body is refused); otherwise the body's ``id`` or ``new_id()``. Without ``mode`` a
    submitted definition is encrypted, a ``stored`` one (written before modes existed) public.
    """
    if not isinstance(data, Mapping):
        raise _refuse(None, "an election definition is a JSON or YAML object")
    unknown = set(data) - DEFINITION_MEMBERS
    if unknown:
        raise _refuse(
            None, "unknown member(s): %(members)s", members=sorted(str(u)[:40] for u in unknown)
        )
    missing = _REQUIRED - set(data)
    if missing:
        first = min(missing)
        raise InvalidElectionError(
            f"missing member(s): {sorted(missing)}",
            field=first if len(missing) == 1 else None,
            message="missing member(s): %(members)s",
            params={"members": sorted(missing)},
        )
    given = data.get("id")
    parsed_id: uuid.UUID | None = None
    if given is not None:
        try:
            parsed_id = uuid.UUID(str(given))
        except ValueError:
            raise _refuse("id", "a UUID such as 0c6d1c1e-8a5b-4bd4-…") from None
        if str(parsed_id) != given:
            raise _refuse("id", "the lowercase hyphenated UUID form")
    if election_id is not None and parsed_id is not None and parsed_id != election_id:
        raise _refuse("id", "an election keeps its id")
    eid = election_id or parsed_id or new_id()
    eligibility = data["eligibility"]
    # A population typed by definitions written before it was counted is read and ignored
    # (ballot-secrecy.md §3: counted from the census when the election opens, never typed).
    if not isinstance(eligibility, Mapping) or set(eligibility) not in (
        {"rule"},
        {"rule", "population"},
    ):
        raise _refuse("eligibility", "exactly {rule}")
    rule = eligibility["rule"]
    if not isinstance(rule, str) or not _RULE_ID.match(rule):
        raise _refuse("eligibility.rule", "an identity rule id (a-z, 0-9, '-')")
    opens_at = _time(data["opens_at"], field="opens_at")
    closes_at = _time(data["closes_at"], field="closes_at")
    if closes_at <= opens_at:
        raise InvalidElectionError(
            "closes_at must be after opens_at",
            field="closes_at",
            message="must be after opens_at",
        )
    try:
        questions = parse_questions(data["questions"])
    except InvalidQuestionError as exc:
        raise InvalidElectionError(
            str(exc), field=exc.field, message=exc.message, params=exc.params
        ) from None
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
        rehearsal=_flag(data, "rehearsal", False),
        **_mode(data, default=Mode.PUBLIC if stored else Mode.ENCRYPTED),
    )


def _mode(data: Mapping[str, Any], *, default: Mode) -> dict[str, Any]:
    """``mode``, ``trustees`` and ``threshold`` (docs/adr/0018-encrypted-elections.md)."""
    given = data.get("mode", default.value)
    if given not in {m.value for m in Mode}:
        raise _refuse("mode", "'encrypted' or 'public'")
    mode = Mode(given)
    if mode is Mode.PUBLIC:
        extra = sorted({"trustees", "threshold"} & set(data))
        if extra:
            raise _refuse(extra[0], "only for an encrypted election")
        return {"mode": mode}
    if "trustees" not in data or "threshold" not in data:
        raise _refuse(
            "trustees" if "trustees" not in data else "threshold",
            "an encrypted election names its trustees and threshold "
            "(or say mode: public for a public-ballot election)",
        )
    trustees = data["trustees"]
    if not isinstance(trustees, list) or not 1 <= len(trustees) <= MAX_TRUSTEES:
        raise _refuse("trustees", "a list of 1 to %(max)s trustees", max=MAX_TRUSTEES)
    parsed: list[TrusteeSpec] = []
    for position, item in enumerate(trustees, 1):
        where = f"trustees[{position - 1}]"
        if not isinstance(item, Mapping) or set(item) != {"label", "staff"}:
            raise _refuse(where, "exactly {label, staff}")
        label, staff = item["label"], item["staff"]
        if not isinstance(label, str) or not label.strip():
            raise _refuse(f"{where}.label", "a non-empty text")
        if len(label.strip()) > MAX_TRUSTEE_LABEL:
            raise _refuse(f"{where}.label", "at most %(max)s characters", max=MAX_TRUSTEE_LABEL)
        if (
            not isinstance(staff, str)
            or len(staff.strip()) > 254
            or not _EMAIL.match(staff.strip().lower())
        ):
            raise _refuse(f"{where}.staff", "the e-mail of a staff account")
        parsed.append(TrusteeSpec(label.strip(), staff.strip().lower()))
    if len({t.label for t in parsed}) != len(parsed):
        raise _refuse("trustees", "two trustees have the same label")
    if len({t.staff for t in parsed}) != len(parsed):
        raise _refuse("trustees", "one staff account is named twice")
    threshold = _count(data["threshold"], field="threshold", low=1, high=len(parsed))
    return {"mode": mode, "trustees": tuple(parsed), "threshold": threshold}


def _batch_seconds(value: object) -> int:
    seconds = _count(value, field="batch_seconds", low=MIN_BATCH_SECONDS, high=MAX_BATCH_SECONDS)
    if seconds % 60:
        raise _refuse("batch_seconds", "whole minutes (a multiple of 60)")
    return seconds
