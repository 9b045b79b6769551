"""Questions, ballot types and their rules (voting-protocol.md, "Ballot types").

Pure core: parses a question definition strictly (as it appears in the election manifest)
and checks a ballot's ``choices`` against it. The five types of French participatory
practice:

===================  ===============================================  =========================
type                 rule                                             choice for the question
===================  ===============================================  =========================
``single``           exactly one option                               ``"p1"``
``approval``         between ``min`` and ``max`` options              ``["p1", "p3"]``
``budget``           total cost ≤ ``envelope``, at most ``max_count`` ``["p1", "p2"]``
``majority_judgment`` one grade per option from the scale             ``{"p1": 0, "p2": 3}``
``ranked``           a strict order of ``min_rank`` to ``max_rank``   ``["p3", "p1"]``
===================  ===============================================  =========================

Option lists (approval, budget) are given in ascending option order so that one ballot has
one canonical form (RFC 8785 does not sort arrays); grades are indexes into ``grades``, best
first. A ballot answers every question of the election, with no extra member. Costs and
envelopes are integers (euros): binary floating point has no place in a budget.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from parvis.kernel.errors import InvalidInputError

__all__ = [
    "BallotType",
    "InvalidChoiceError",
    "InvalidQuestionError",
    "Option",
    "Question",
    "check_choices",
    "parse_questions",
]

_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
MAX_OPTIONS = 500
MAX_QUESTIONS = 50
MAX_AMOUNT = 10**12


class InvalidQuestionError(InvalidInputError):
    """A question definition (election file, manifest) is malformed or inconsistent."""

    title = "Invalid question definition"


class InvalidChoiceError(InvalidInputError):
    """A ballot's choices break the rules of a question."""

    title = "Invalid ballot"

    def __init__(self, detail: str, *, question: str | None = None) -> None:
        super().__init__(detail)
        self.question = question


class BallotType(StrEnum):
    SINGLE = "single"
    APPROVAL = "approval"
    BUDGET = "budget"
    MAJORITY_JUDGMENT = "majority_judgment"
    RANKED = "ranked"


def _labels(value: object, *, where: str) -> dict[str, str]:
    if isinstance(value, str) and value:
        return {"fr": value}
    if not isinstance(value, Mapping) or "fr" not in value:
        raise InvalidQuestionError(f"{where}: a title needs at least a French text ('fr')")
    out: dict[str, str] = {}
    for lang, text in value.items():
        if lang not in {"fr", "en"} or not isinstance(text, str) or not text.strip():
            raise InvalidQuestionError(f"{where}: titles are non-empty texts keyed 'fr' or 'en'")
        out[str(lang)] = text
    return out


def _int(value: object, *, where: str, low: int = 0, high: int = MAX_AMOUNT) -> int:
    # bool is an int subclass in Python; a JSON true is not a count.
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidQuestionError(f"{where}: must be an integer between {low} and {high}")
    return value


def _id(value: object, *, where: str) -> str:
    if not isinstance(value, str) or not _ID.match(value):
        raise InvalidQuestionError(
            f"{where}: ids are 1–64 lowercase letters, digits, '-' or '_' (first a letter/digit)"
        )
    return value


@dataclass(frozen=True, slots=True)
class Option:
    id: str
    title: Mapping[str, str]
    cost: int | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "title": dict(self.title)}
        if self.cost is not None:
            out["cost"] = self.cost
        return out


@dataclass(frozen=True, slots=True)
class Question:
    """One question; only the fields of its type are set (validated in :func:`parse_question`)."""

    id: str
    type: BallotType
    title: Mapping[str, str]
    options: tuple[Option, ...]
    min: int = 0
    max: int = 0
    envelope: int | None = None
    max_count: int | None = None
    grades: tuple[str, ...] = ()

    @property
    def option_ids(self) -> tuple[str, ...]:
        return tuple(o.id for o in self.options)

    def cost_of(self, option_id: str) -> int:
        for option in self.options:
            if option.id == option_id:
                return option.cost or 0
        raise KeyError(option_id)

    def to_json(self) -> dict[str, Any]:
        """The manifest form (inverse of :func:`parse_question`)."""
        out: dict[str, Any] = {
            "id": self.id,
            "type": self.type.value,
            "title": dict(self.title),
            "options": [o.to_json() for o in self.options],
        }
        if self.type in {BallotType.APPROVAL, BallotType.RANKED}:
            out["min"], out["max"] = self.min, self.max
        if self.type is BallotType.BUDGET:
            out["envelope"] = self.envelope
            if self.max_count is not None:
                out["max_count"] = self.max_count
        if self.type is BallotType.MAJORITY_JUDGMENT:
            out["grades"] = list(self.grades)
        return out


_FIELDS = {
    BallotType.SINGLE: {"id", "type", "title", "options"},
    BallotType.APPROVAL: {"id", "type", "title", "options", "min", "max", "exactly"},
    BallotType.BUDGET: {"id", "type", "title", "options", "envelope", "max_count"},
    BallotType.MAJORITY_JUDGMENT: {"id", "type", "title", "options", "grades"},
    BallotType.RANKED: {"id", "type", "title", "options", "min", "max"},
}


def _parse_options(data: Mapping[str, Any], kind: BallotType, *, where: str) -> tuple[Option, ...]:
    raw_options = data.get("options")
    if not isinstance(raw_options, Sequence) or isinstance(raw_options, str):
        raise InvalidQuestionError(f"{where}: options must be a list")
    if not 1 <= len(raw_options) <= MAX_OPTIONS:
        raise InvalidQuestionError(f"{where}: between 1 and {MAX_OPTIONS} options")
    options: list[Option] = []
    for i, raw in enumerate(raw_options):
        at = f"{where}.options[{i}]"
        if not isinstance(raw, Mapping) or set(raw) - {"id", "title", "cost"}:
            raise InvalidQuestionError(f"{at}: members are id, title, cost")
        cost = raw.get("cost")
        if kind is BallotType.BUDGET:
            cost = _int(cost, where=f"{at}.cost", low=1)
        elif cost is not None:
            raise InvalidQuestionError(f"{at}: cost only for budget questions")
        options.append(
            Option(
                id=_id(raw.get("id"), where=f"{at}.id"),
                title=_labels(raw.get("title"), where=f"{at}.title"),
                cost=cost,
            )
        )
    if len({o.id for o in options}) != len(options):
        raise InvalidQuestionError(f"{where}: option ids must be unique")
    return tuple(options)


def _count_bounds(
    data: Mapping[str, Any], kind: BallotType, n: int, *, where: str
) -> dict[str, Any]:
    """``min``/``max`` (or ``exactly``) of approval and ranked questions."""
    if "exactly" in data:
        if "min" in data or "max" in data:
            raise InvalidQuestionError(f"{where}: give either exactly or min/max")
        k = _int(data["exactly"], where=f"{where}.exactly", low=1, high=n)
        low, high = k, k
    else:
        default_min = 1 if kind is BallotType.RANKED else 0
        low = _int(data.get("min", default_min), where=f"{where}.min", high=n)
        high = _int(data.get("max", n), where=f"{where}.max", low=1, high=n)
    if low > high:
        raise InvalidQuestionError(f"{where}: min ({low}) is greater than max ({high})")
    if kind is BallotType.RANKED and low < 1:
        raise InvalidQuestionError(f"{where}: a ranking ranks at least one option")
    return {"min": low, "max": high}


def _budget_fields(
    data: Mapping[str, Any], options: Sequence[Option], *, where: str
) -> dict[str, Any]:
    envelope = _int(data.get("envelope"), where=f"{where}.envelope", low=1)
    max_count = data.get("max_count")
    if max_count is not None:
        max_count = _int(max_count, where=f"{where}.max_count", low=1, high=len(options))
    if min(o.cost or 0 for o in options) > envelope:
        raise InvalidQuestionError(f"{where}: no project fits in the envelope")
    return {
        "min": 0,
        "max": max_count or len(options),
        "envelope": envelope,
        "max_count": max_count,
    }


def _grade_fields(data: Mapping[str, Any], n: int, *, where: str) -> dict[str, Any]:
    grades = data.get("grades")
    if (
        not isinstance(grades, Sequence)
        or isinstance(grades, str)
        or not 2 <= len(grades) <= 10
        or not all(isinstance(g, str) and g.strip() for g in grades)
        or len(set(grades)) != len(grades)
    ):
        raise InvalidQuestionError(f"{where}: grades are 2 to 10 distinct labels, best first")
    return {"min": n, "max": n, "grades": tuple(grades)}


def parse_question(data: object, *, where: str = "question") -> Question:
    """Parse one question definition, refusing unknown members and impossible rules."""
    if not isinstance(data, Mapping):
        raise InvalidQuestionError(f"{where}: must be an object")
    qid = _id(data.get("id"), where=f"{where}.id")
    where = f"question {qid}"
    try:
        kind = BallotType(str(data.get("type")))
    except ValueError:
        raise InvalidQuestionError(
            f"{where}: type must be one of {', '.join(t.value for t in BallotType)}"
        ) from None
    unknown = set(data) - _FIELDS[kind]
    if unknown:
        raise InvalidQuestionError(f"{where}: unknown member(s) {sorted(unknown)} for {kind}")
    options = _parse_options(data, kind, where=where)
    if kind is BallotType.SINGLE:
        fields: dict[str, Any] = {"min": 1, "max": 1}
    elif kind in {BallotType.APPROVAL, BallotType.RANKED}:
        fields = _count_bounds(data, kind, len(options), where=where)
    elif kind is BallotType.BUDGET:
        fields = _budget_fields(data, options, where=where)
    else:
        fields = _grade_fields(data, len(options), where=where)
    return Question(
        id=qid,
        type=kind,
        title=_labels(data.get("title"), where=f"{where}.title"),
        options=options,
        **fields,
    )


def parse_questions(data: object) -> tuple[Question, ...]:
    """Parse the question list of an election; ids must be unique."""
    if not isinstance(data, Sequence) or isinstance(data, str):
        raise InvalidQuestionError("questions must be a list")
    if not 1 <= len(data) <= MAX_QUESTIONS:
        raise InvalidQuestionError(f"an election has between 1 and {MAX_QUESTIONS} questions")
    questions = tuple(parse_question(q, where=f"questions[{i}]") for i, q in enumerate(data))
    if len({q.id for q in questions}) != len(questions):
        raise InvalidQuestionError("question ids must be unique")
    return questions


def _option_list(question: Question, value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidChoiceError(
            f"question {question.id}: the choice must be a list of option ids",
            question=question.id,
        )
    known = set(question.option_ids)
    for option in value:
        if option not in known:
            raise InvalidChoiceError(
                f"question {question.id}: unknown option {option[:64]!r}", question=question.id
            )
    if len(set(value)) != len(value):
        raise InvalidChoiceError(
            f"question {question.id}: an option appears twice", question=question.id
        )
    return value


def check_choice(question: Question, value: object) -> None:
    """Raise :class:`InvalidChoiceError` unless ``value`` is a valid answer to ``question``."""
    qid = question.id
    if question.type is BallotType.SINGLE:
        if not isinstance(value, str) or value not in question.option_ids:
            raise InvalidChoiceError(
                f"question {qid}: choose exactly one of the listed options", question=qid
            )
        return
    if question.type is BallotType.MAJORITY_JUDGMENT:
        if not isinstance(value, Mapping) or set(value) != set(question.option_ids):
            raise InvalidChoiceError(
                f"question {qid}: give one grade to every option", question=qid
            )
        for option, grade in value.items():
            if (
                isinstance(grade, bool)
                or not isinstance(grade, int)
                or not (0 <= grade < len(question.grades))
            ):
                raise InvalidChoiceError(
                    f"question {qid}: the grade of {option} must be 0 to "
                    f"{len(question.grades) - 1}",
                    question=qid,
                )
        return
    chosen = _option_list(question, value)
    if question.type is BallotType.RANKED:
        if not question.min <= len(chosen) <= question.max:
            raise InvalidChoiceError(
                f"question {qid}: rank between {question.min} and {question.max} options",
                question=qid,
            )
        return
    if chosen != sorted(chosen, key=question.option_ids.index):
        raise InvalidChoiceError(
            f"question {qid}: list the options in the order of the question", question=qid
        )
    if not question.min <= len(chosen) <= question.max:
        raise InvalidChoiceError(
            f"question {qid}: choose between {question.min} and {question.max} options",
            question=qid,
        )
    if question.type is BallotType.BUDGET:
        total = sum(question.cost_of(o) for o in chosen)
        assert question.envelope is not None
        if total > question.envelope:
            raise InvalidChoiceError(
                f"question {qid}: the chosen projects cost {total}, over the envelope of "
                f"{question.envelope}",
                question=qid,
            )


def check_choices(questions: Sequence[Question], choices: object) -> None:
    """A ballot answers every question exactly once and each answer follows its rules."""
    if not isinstance(choices, Mapping):
        raise InvalidChoiceError("choices must be an object keyed by question id")
    expected = {q.id for q in questions}
    extra = set(choices) - expected
    if extra:
        raise InvalidChoiceError(f"unknown question(s): {sorted(str(e)[:64] for e in extra)}")
    missing = expected - set(choices)
    if missing:
        raise InvalidChoiceError(f"no answer for question(s): {sorted(missing)}")
    for question in questions:
        check_choice(question, choices[question.id])
