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

from parvis_verifier.errors import InvalidInputError

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
    """A question definition (election file, manifest) is malformed or inconsistent.

    As :class:`parvis_verifier.ballot_errors.InvalidElectionError`: ``field`` is the path of the
    member at fault (``"questions[1].options[0].cost"``), ``message`` and ``params`` the reason as a
    message id and its ``%``-parameters, ``detail`` the English sentence.
    """

    title = "Invalid question definition"

    def __init__(
        self,
        detail: str,
        *,
        field: str | None = None,
        message: str | None = None,
        params: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(detail)
        self.field = field
        self.message = message if message is not None else detail
        self.params: Mapping[str, object] = dict(params or {})


def _refuse(
    where: str | None, path: str | None, message: str, **params: object
) -> InvalidQuestionError:
    """The error for ``message`` about the member at ``path`` (``where`` names it in the
    English detail, as clients have always read it)."""
    reason = message % params if params else message
    return InvalidQuestionError(
        f"{where}: {reason}" if where else reason, field=path, message=message, params=params
    )


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


def _labels(value: object, *, where: str, path: str) -> dict[str, str]:
    if isinstance(value, str) and value:
        return {"fr": value}
    if not isinstance(value, Mapping) or "fr" not in value:
        raise _refuse(where, path, "a title needs at least a French text ('fr')")
    out: dict[str, str] = {}
    for lang, text in value.items():
        if lang not in {"fr", "en"} or not isinstance(text, str) or not text.strip():
            at = f"{path}.{lang}" if lang in {"fr", "en"} else path
            raise _refuse(where, at, "titles are non-empty texts keyed 'fr' or 'en'")
        out[str(lang)] = text
    return out


def _int(value: object, *, where: str, path: str, low: int = 0, high: int = MAX_AMOUNT) -> int:
    # bool is an int subclass in Python; a JSON true is not a count.
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _refuse(
            where, path, "must be an integer between %(low)s and %(high)s", low=low, high=high
        )
    return value


def _id(value: object, *, where: str, path: str) -> str:
    if not isinstance(value, str) or not _ID.match(value):
        raise _refuse(
            where,
            path,
            "ids are 1–64 lowercase letters, digits, '-' or '_' (first a letter/digit)",
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


def _parse_options(
    data: Mapping[str, Any], kind: BallotType, *, where: str, path: str
) -> tuple[Option, ...]:
    raw_options = data.get("options")
    if not isinstance(raw_options, Sequence) or isinstance(raw_options, str):
        raise _refuse(where, f"{path}.options", "options must be a list")
    if not 1 <= len(raw_options) <= MAX_OPTIONS:
        raise _refuse(where, f"{path}.options", "between 1 and %(max)s options", max=MAX_OPTIONS)
    options: list[Option] = []
    for i, raw in enumerate(raw_options):
        at, at_path = f"{where}.options[{i}]", f"{path}.options[{i}]"
        if not isinstance(raw, Mapping) or set(raw) - {"id", "title", "cost"}:
            raise _refuse(at, at_path, "members are id, title, cost")
        cost = raw.get("cost")
        if kind is BallotType.BUDGET:
            cost = _int(cost, where=f"{at}.cost", path=f"{at_path}.cost", low=1)
        elif cost is not None:
            raise _refuse(at, f"{at_path}.cost", "cost only for budget questions")
        options.append(
            Option(
                id=_id(raw.get("id"), where=f"{at}.id", path=f"{at_path}.id"),
                title=_labels(raw.get("title"), where=f"{at}.title", path=f"{at_path}.title"),
                cost=cost,
            )
        )
    seen: set[str] = set()
    for i, option in enumerate(options):
        if option.id in seen:
            raise _refuse(where, f"{path}.options[{i}].id", "option ids must be unique")
        seen.add(option.id)
    return tuple(options)


def _count_bounds(
    data: Mapping[str, Any], kind: BallotType, n: int, *, where: str, path: str
) -> dict[str, Any]:
    """``min``/``max`` (or ``exactly``) of approval and ranked questions."""
    if "exactly" in data:
        if "min" in data or "max" in data:
            raise _refuse(where, f"{path}.exactly", "give either exactly or min/max")
        k = _int(data["exactly"], where=f"{where}.exactly", path=f"{path}.exactly", low=1, high=n)
        low, high = k, k
    else:
        default_min = 1 if kind is BallotType.RANKED else 0
        low = _int(data.get("min", default_min), where=f"{where}.min", path=f"{path}.min", high=n)
        high = _int(data.get("max", n), where=f"{where}.max", path=f"{path}.max", low=1, high=n)
    if low > high:
        raise _refuse(
            where, f"{path}.min", "min (%(low)s) is greater than max (%(high)s)", low=low, high=high
        )
    if kind is BallotType.RANKED and low < 1:
        raise _refuse(where, f"{path}.min", "a ranking ranks at least one option")
    return {"min": low, "max": high}


def _budget_fields(
    data: Mapping[str, Any], options: Sequence[Option], *, where: str, path: str
) -> dict[str, Any]:
    envelope = _int(data.get("envelope"), where=f"{where}.envelope", path=f"{path}.envelope", low=1)
    max_count = data.get("max_count")
    if max_count is not None:
        max_count = _int(
            max_count,
            where=f"{where}.max_count",
            path=f"{path}.max_count",
            low=1,
            high=len(options),
        )
    if min(o.cost or 0 for o in options) > envelope:
        raise _refuse(where, f"{path}.envelope", "no project fits in the envelope")
    return {
        "min": 0,
        "max": max_count or len(options),
        "envelope": envelope,
        "max_count": max_count,
    }


def _grade_fields(data: Mapping[str, Any], n: int, *, where: str, path: str) -> dict[str, Any]:
    grades = data.get("grades")
    if (
        not isinstance(grades, Sequence)
        or isinstance(grades, str)
        or not 2 <= len(grades) <= 10
        or not all(isinstance(g, str) and g.strip() for g in grades)
        or len(set(grades)) != len(grades)
    ):
        raise _refuse(where, f"{path}.grades", "grades are 2 to 10 distinct labels, best first")
    return {"min": n, "max": n, "grades": tuple(grades)}


def parse_question(data: object, *, where: str = "question") -> Question:
    """Parse one question definition, refusing unknown members and impossible rules."""
    path = where  # the member's place in the definition ("questions[2]"), for forms
    if not isinstance(data, Mapping):
        raise _refuse(where, path, "must be an object")
    qid = _id(data.get("id"), where=f"{where}.id", path=f"{path}.id")
    where = f"question {qid}"
    try:
        kind = BallotType(str(data.get("type")))
    except ValueError:
        raise _refuse(
            where,
            f"{path}.type",
            "type must be one of %(types)s",
            types=", ".join(t.value for t in BallotType),
        ) from None
    unknown = set(data) - _FIELDS[kind]
    if unknown:
        raise _refuse(
            where,
            path,
            "unknown member(s) %(members)s for %(type)s",
            members=sorted(unknown),
            type=kind,
        )
    options = _parse_options(data, kind, where=where, path=path)
    if kind is BallotType.SINGLE:
        fields: dict[str, Any] = {"min": 1, "max": 1}
    elif kind in {BallotType.APPROVAL, BallotType.RANKED}:
        fields = _count_bounds(data, kind, len(options), where=where, path=path)
    elif kind is BallotType.BUDGET:
        fields = _budget_fields(data, options, where=where, path=path)
    else:
        fields = _grade_fields(data, len(options), where=where, path=path)
    return Question(
        id=qid,
        type=kind,
        title=_labels(data.get("title"), where=f"{where}.title", path=f"{path}.title"),
        options=options,
        **fields,
    )


def parse_questions(data: object) -> tuple[Question, ...]:
    """Parse the question list of an election; ids must be unique."""
    if not isinstance(data, Sequence) or isinstance(data, str):
        raise _refuse(None, "questions", "questions must be a list")
    if not 1 <= len(data) <= MAX_QUESTIONS:
        raise _refuse(
            None, "questions", "an election has between 1 and %(max)s questions", max=MAX_QUESTIONS
        )
    questions = tuple(parse_question(q, where=f"questions[{i}]") for i, q in enumerate(data))
    seen: set[str] = set()
    for i, question in enumerate(questions):
        if question.id in seen:
            raise _refuse(None, f"questions[{i}].id", "question ids must be unique")
        seen.add(question.id)
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
