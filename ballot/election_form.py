"""The staff election form: form fields ⇄ election definition (ADR 0006, "Definitions,
platforms, CLI"; the definition is ``ballot/definition.py``'s, the questions
``ballot/questions.py``'s, ``mode``/``trustees``/``threshold`` those of
``docs/board-format.md`` §10 and ``docs/adr/0018-encrypted-elections.md``).

Pure core. The form never decides what a valid election is: it turns the submitted fields
into a definition, and :func:`ballot.definition.parse_definition` (through
``ElectionService.create``/``update``) judges it, exactly as for a file or the API. The form
only refuses what cannot be turned into a definition member at all (a count that is not a
whole number, a date that is not a date), so that several such mistakes are shown at once,
and it asks the question parser about each question separately for the same reason.

Field names are the definition's member paths (``title.fr``, ``eligibility.rule``,
``questions[0].options[2].cost``, ``trustees[1].staff``), so that an error's ``field``
(:class:`ballot.errors.InvalidElectionError`) names the input to show it next to
(:func:`field_of`). Two inputs differ from their member: the dates, typed in the city's
time zone (``datetime-local``), and ``batch_minutes`` (``batch_seconds`` / 60).

Questions, options and trustees are added and removed with buttons that post the form back
(:func:`apply`): no script is needed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any, Final

from ballot.definition import DEFAULT_BATCH_SECONDS, MAX_BATCH_SECONDS
from ballot.errors import InvalidElectionError
from ballot.questions import BallotType, InvalidQuestionError, parse_question

__all__ = [
    "MODES",
    "QUESTION_TYPES",
    "ElectionForm",
    "FieldError",
    "OptionForm",
    "QuestionForm",
    "TrusteeForm",
    "apply",
    "error_of",
    "field_of",
    "fill_defaults",
    "form_from_definition",
    "form_from_fields",
    "to_definition",
]

QUESTION_TYPES: Final = tuple(t.value for t in BallotType)
#: ``mode`` (board-format.md §10): encrypted by default; public is an explicit choice.
MODES: Final = ("encrypted", "public")
#: What a page may add through the buttons (the parsers hold the real limits).
MAX_FORM_QUESTIONS: Final = 50
MAX_FORM_OPTIONS: Final = 100
MAX_FORM_TRUSTEES: Final = 20
#: Default grades of a new majority-judgment question (best first, as the parser wants).
DEFAULT_GRADES: Final = ("Très bien", "Bien", "Assez bien", "Passable", "Insuffisant")
_DATE_FORMATS: Final = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}$")
_INDEX = re.compile(r"^(questions|trustees)\[(\d{1,3})\](?:\.options\[(\d{1,3})\])?\.")


@dataclass(frozen=True, slots=True)
class FieldError:
    """A reason to show next to a field: a message id (English, translated by the page's
    catalogue) and its ``%``-parameters."""

    message: str
    params: Mapping[str, object] = field(default_factory=dict)


@dataclass(slots=True)
class OptionForm:
    id: str = ""
    title_fr: str = ""
    title_en: str = ""
    cost: str = ""


@dataclass(slots=True)
class QuestionForm:
    id: str = ""
    type: str = "single"
    title_fr: str = ""
    title_en: str = ""
    min: str = ""
    max: str = ""
    envelope: str = ""
    max_count: str = ""
    grades: str = ""
    options: list[OptionForm] = field(default_factory=lambda: [OptionForm(), OptionForm()])


@dataclass(slots=True)
class TrusteeForm:
    label: str = ""
    staff: str = ""


@dataclass(slots=True)
class ElectionForm:
    """What the form shows: every input as the text typed (or as read from a definition)."""

    id: str = ""
    title_fr: str = ""
    title_en: str = ""
    opens_at: str = ""
    closes_at: str = ""
    rule: str = ""
    revote: bool = True
    paper: bool = False
    min_anonymity_set: str = "1"
    batch_minutes: str = str(DEFAULT_BATCH_SECONDS // 60)
    mode: str = "encrypted"
    threshold: str = ""
    trustees: list[TrusteeForm] = field(default_factory=list)
    questions: list[QuestionForm] = field(default_factory=lambda: [QuestionForm()])


# -- reading the form -------------------------------------------------------------------


@dataclass(slots=True)
class _Counts:
    questions: int = 0
    trustees: int = 0
    options: dict[int, int] = field(default_factory=dict)


def _counts(fields: Mapping[str, Any]) -> _Counts:
    """How many questions, trustees and options per question the field names hold (one
    pass: a large form has thousands of fields)."""
    counts = _Counts()
    for name in fields:
        match = _INDEX.match(str(name))
        if match is None:
            continue
        group, index, option = match.groups()
        i = int(index)
        if group == "trustees":
            counts.trustees = max(counts.trustees, i + 1)
        elif option is None:
            counts.questions = max(counts.questions, i + 1)
        else:
            counts.questions = max(counts.questions, i + 1)
            counts.options[i] = max(counts.options.get(i, 0), int(option) + 1)
    return counts


def form_from_fields(fields: Mapping[str, Any]) -> ElectionForm:
    """The form as posted (``fields``: name → text; a missing checkbox is unchecked)."""

    def text(name: str) -> str:
        value = fields.get(name, "")
        return value.strip() if isinstance(value, str) else ""

    counts = _counts(fields)
    questions = []
    for i in range(min(counts.questions, MAX_FORM_QUESTIONS)):
        q = f"questions[{i}]"
        options = [
            OptionForm(
                id=text(f"{q}.options[{j}].id"),
                title_fr=text(f"{q}.options[{j}].title.fr"),
                title_en=text(f"{q}.options[{j}].title.en"),
                cost=text(f"{q}.options[{j}].cost"),
            )
            for j in range(min(counts.options.get(i, 0), MAX_FORM_OPTIONS))
        ]
        kind = text(f"{q}.type")
        questions.append(
            QuestionForm(
                id=text(f"{q}.id"),
                type=kind if kind in QUESTION_TYPES else "single",
                title_fr=text(f"{q}.title.fr"),
                title_en=text(f"{q}.title.en"),
                min=text(f"{q}.min"),
                max=text(f"{q}.max"),
                envelope=text(f"{q}.envelope"),
                max_count=text(f"{q}.max_count"),
                grades=text(f"{q}.grades"),
                options=options,
            )
        )
    trustees = [
        TrusteeForm(label=text(f"trustees[{i}].label"), staff=text(f"trustees[{i}].staff"))
        for i in range(min(counts.trustees, MAX_FORM_TRUSTEES))
    ]
    mode = text("mode")
    return ElectionForm(
        id=text("id"),
        title_fr=text("title.fr"),
        title_en=text("title.en"),
        opens_at=text("opens_at"),
        closes_at=text("closes_at"),
        rule=text("eligibility.rule"),
        revote=text("revote") == "yes",
        paper=text("paper") == "yes",
        min_anonymity_set=text("min_anonymity_set"),
        batch_minutes=text("batch_minutes"),
        mode=mode if mode in MODES else "encrypted",
        threshold=text("threshold"),
        trustees=trustees,
        questions=questions,
    )


def _local(value: object, zone: tzinfo) -> str:
    if not isinstance(value, str):
        return ""
    try:
        moment = datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return ""
    return moment.astimezone(zone).strftime("%Y-%m-%dT%H:%M")


def _label(value: object, lang: str) -> str:
    if isinstance(value, str):
        return value if lang == "fr" else ""
    if isinstance(value, Mapping):
        text = value.get(lang, "")
        return text if isinstance(text, str) else ""
    return ""


def _text(value: object) -> str:
    return "" if value is None or isinstance(value, bool) else str(value)


def form_from_definition(definition: Mapping[str, Any], *, zone: tzinfo) -> ElectionForm:
    """The form filled in from a stored definition (``ElectionDefinition.to_json()``)."""
    eligibility = definition.get("eligibility") or {}
    questions = []
    for q in definition.get("questions") or []:
        options = [
            OptionForm(
                id=_text(o.get("id")),
                title_fr=_label(o.get("title"), "fr"),
                title_en=_label(o.get("title"), "en"),
                cost=_text(o.get("cost")),
            )
            for o in q.get("options") or []
        ]
        kind = q.get("type")
        bounded = kind in {"approval", "ranked"}
        questions.append(
            QuestionForm(
                id=_text(q.get("id")),
                type=kind if kind in QUESTION_TYPES else "single",
                title_fr=_label(q.get("title"), "fr"),
                title_en=_label(q.get("title"), "en"),
                min=_text(q.get("min")) if bounded else "",
                max=_text(q.get("max")) if bounded else "",
                envelope=_text(q.get("envelope")),
                max_count=_text(q.get("max_count")),
                grades="\n".join(str(g) for g in q.get("grades") or []),
                options=options,
            )
        )
    # A stored definition without ``mode`` predates encrypted elections: its ballots are
    # public (board-format.md §10: version 1 is the public-ballot format).
    mode = definition.get("mode", "public")
    return ElectionForm(
        id=_text(definition.get("id")),
        title_fr=_label(definition.get("title"), "fr"),
        title_en=_label(definition.get("title"), "en"),
        opens_at=_local(definition.get("opens_at"), zone),
        closes_at=_local(definition.get("closes_at"), zone),
        rule=_text(eligibility.get("rule")),
        revote=definition.get("revote", True) is True,
        paper=definition.get("paper", False) is True,
        min_anonymity_set=_text(definition.get("min_anonymity_set", 1)),
        batch_minutes=str(int(definition.get("batch_seconds", DEFAULT_BATCH_SECONDS)) // 60),
        mode=mode if mode in MODES else "encrypted",
        threshold=_text(definition.get("threshold")),
        trustees=[
            TrusteeForm(label=_text(t.get("label")), staff=_text(t.get("staff")))
            for t in definition.get("trustees") or []
            if isinstance(t, Mapping)
        ],
        questions=questions or [QuestionForm()],
    )


# -- the buttons ------------------------------------------------------------------------

_ACTION = re.compile(
    r"^(refresh|add-question|add-trustee|remove-question|add-option|remove-trustee|remove-option)"
    r"(?::(\d{1,3}))?(?::(\d{1,3}))?$"
)


def apply(form: ElectionForm, action: str) -> str | None:  # noqa: PLR0911 - one return per button
    """Carry out an add/remove button on ``form`` (in place); the id of the input to focus
    afterwards, or ``None`` when ``action`` is not a button of the form (e.g. "save")."""
    match = _ACTION.match(action)
    if match is None:
        return None
    verb, first, second = match.groups()
    i = int(first) if first is not None else -1
    j = int(second) if second is not None else -1
    if verb == "add-question" and len(form.questions) < MAX_FORM_QUESTIONS:
        form.questions.append(QuestionForm())
        return f"questions[{len(form.questions) - 1}].title.fr"
    if verb == "remove-question" and 0 <= i < len(form.questions) and len(form.questions) > 1:
        del form.questions[i]
        return "questions"
    if verb == "add-trustee" and len(form.trustees) < MAX_FORM_TRUSTEES:
        form.trustees.append(TrusteeForm())
        return f"trustees[{len(form.trustees) - 1}].label"
    if verb == "remove-trustee" and 0 <= i < len(form.trustees):
        del form.trustees[i]
        return "trustees"
    if verb == "refresh":
        return "questions"
    if 0 <= i < len(form.questions):
        options = form.questions[i].options
        if verb == "add-option" and len(options) < MAX_FORM_OPTIONS:
            options.append(OptionForm())
            return f"questions[{i}].options[{len(options) - 1}].title.fr"
        if verb == "remove-option" and 0 <= j < len(options) and len(options) > 1:
            del options[j]
            return f"questions[{i}].options"
    return "questions"


# -- to a definition --------------------------------------------------------------------


def _whole(
    value: str, name: str, errors: dict[str, FieldError], *, required: bool = False
) -> int | None:
    """A whole number typed with or without spaces between thousands (``1 000``)."""
    compact = re.sub(r"[\s\u202f\u00a0]", "", value)
    if not compact:
        if required:
            errors[name] = FieldError("This field is required.")
        return None
    if not compact.isdigit() or len(compact) > 13:
        errors[name] = FieldError("A whole number, such as 12 or 1 500.")
        return None
    return int(compact)


def _moment(value: str, name: str, zone: tzinfo, errors: dict[str, FieldError]) -> str | None:
    if not value:
        errors[name] = FieldError("This field is required.")
        return None
    for pattern in _DATE_FORMATS:
        try:
            local = datetime.strptime(value, pattern)
        except ValueError:
            continue
        return local.replace(tzinfo=zone).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    errors[name] = FieldError("A date and time, such as 2026-03-01 08:00.")
    return None


def _titles(fr: str, en: str) -> dict[str, str]:
    return {"fr": fr, **({"en": en} if en else {})}


def _question(
    q: QuestionForm, i: int, errors: dict[str, FieldError], used: set[str]
) -> dict[str, Any]:
    path = f"questions[{i}]"
    qid = q.id or _free_id("q", i + 1, used)
    used.add(qid)
    out: dict[str, Any] = {"id": qid, "type": q.type}
    if q.title_fr:
        out["title"] = _titles(q.title_fr, q.title_en)
    else:
        errors[f"{path}.title.fr"] = FieldError("This field is required.")
    option_ids: set[str] = {o.id for o in q.options if o.id}
    options = []
    for j, o in enumerate(q.options):
        at = f"{path}.options[{j}]"
        oid = o.id or _free_id("o", j + 1, option_ids)
        option_ids.add(oid)
        option: dict[str, Any] = {"id": oid}
        if o.title_fr:
            option["title"] = _titles(o.title_fr, o.title_en)
        else:
            errors[f"{at}.title.fr"] = FieldError("This field is required.")
        if q.type == "budget":
            option["cost"] = _whole(o.cost, f"{at}.cost", errors, required=True)
        options.append(option)
    out["options"] = options
    if q.type in {"approval", "ranked"}:
        for bound in ("min", "max"):
            number = _whole(getattr(q, bound), f"{path}.{bound}", errors)
            if number is not None:
                out[bound] = number
    elif q.type == "budget":
        out["envelope"] = _whole(q.envelope, f"{path}.envelope", errors, required=True)
        max_count = _whole(q.max_count, f"{path}.max_count", errors)
        if max_count is not None:
            out["max_count"] = max_count
    elif q.type == "majority_judgment":
        out["grades"] = [g.strip() for g in q.grades.splitlines() if g.strip()]
    return out


def _free_id(prefix: str, n: int, used: set[str]) -> str:
    """``q1``, ``o2``…: the first of that form not already taken (blank ids are generated)."""
    while f"{prefix}{n}" in used:
        n += 1
    return f"{prefix}{n}"


def to_definition(
    form: ElectionForm,
    *,
    zone: tzinfo,
    election_id: str | None = None,
) -> tuple[dict[str, Any], dict[str, FieldError]]:
    """The definition the form describes, and the fields that could not become members.

    Each question is also
    checked on its own by :func:`ballot.questions.parse_question`, so that mistakes in
    several questions are all shown; the definition as a whole is for ``parse_definition``.
    """
    errors: dict[str, FieldError] = {}
    data: dict[str, Any] = {}
    if election_id is not None:
        data["id"] = election_id
    if form.title_fr:
        data["title"] = _titles(form.title_fr, form.title_en)
    else:
        errors["title.fr"] = FieldError("This field is required.")
    data["opens_at"] = _moment(form.opens_at, "opens_at", zone, errors)
    data["closes_at"] = _moment(form.closes_at, "closes_at", zone, errors)
    if not form.rule:
        errors["eligibility.rule"] = FieldError("Choose a rule.")
    # The eligible population is counted from the census when the election opens
    # (ballot-secrecy.md §3), never typed.
    data["eligibility"] = {"rule": form.rule}
    data["revote"] = form.revote
    data["paper"] = form.paper
    anonymity = _whole(form.min_anonymity_set, "min_anonymity_set", errors, required=True)
    data["min_anonymity_set"] = anonymity
    minutes = _whole(form.batch_minutes, "batch_minutes", errors, required=True)
    if minutes is not None and not 1 <= minutes <= MAX_BATCH_SECONDS // 60:
        errors["batch_minutes"] = FieldError("From 1 to 1440 minutes.")
    elif minutes is not None:
        data["batch_seconds"] = minutes * 60
    used: set[str] = {q.id for q in form.questions if q.id}
    data["questions"] = [_question(q, i, errors, used) for i, q in enumerate(form.questions)]
    _encryption(form, data, errors)
    if not errors:
        _check_questions(data["questions"], errors)
    return data, errors


def _encryption(
    form: ElectionForm,
    data: dict[str, Any],
    errors: dict[str, FieldError],
) -> None:
    """``mode``, ``trustees`` (label and a staff account's email) and ``threshold``."""
    data["mode"] = form.mode
    if form.mode != "encrypted":
        return
    trustees = []
    for i, t in enumerate(form.trustees):
        if not t.label:
            errors[f"trustees[{i}].label"] = FieldError("This field is required.")
        if not _EMAIL.match(t.staff):
            errors[f"trustees[{i}].staff"] = FieldError(
                "The email address of a staff account with the trustee role."
            )
        trustees.append({"label": t.label, "staff": t.staff.lower()})
    threshold = _whole(form.threshold, "threshold", errors)
    data["trustees"] = trustees
    if threshold is not None:
        data["threshold"] = threshold


def _check_questions(questions: list[dict[str, Any]], errors: dict[str, FieldError]) -> None:
    seen: set[str] = set()
    for i, question in enumerate(questions):
        try:
            parse_question(question, where=f"questions[{i}]")
        except InvalidQuestionError as exc:
            errors[field_of(exc.field)] = FieldError(exc.message, exc.params)
        if question["id"] in seen:
            errors[f"questions[{i}].id"] = FieldError("question ids must be unique")
        seen.add(question["id"])


# -- errors back to fields --------------------------------------------------------------

_RENAMED: Final[Mapping[str, str]] = {
    "title": "title.fr",
    "eligibility": "eligibility.rule",
    "batch_seconds": "batch_minutes",
    "id": "",
}


def field_of(path: str | None) -> str:
    """The input (form field name) that shows an error about definition member ``path``;
    ``""`` for the form as a whole."""
    if not path:
        return ""
    if path in _RENAMED:
        return _RENAMED[path]
    path = re.sub(r"\.exactly$", ".min", path)
    if path.endswith(".title"):
        return f"{path}.fr"
    return path


def error_of(exc: InvalidElectionError) -> tuple[str, FieldError]:
    """``(field name, error)`` for a refusal of the parser or the service."""
    return field_of(exc.field), FieldError(exc.message, exc.params)


def fill_defaults(form: ElectionForm) -> None:
    """After a button (not on saving): a majority-judgment question without grades gets the
    usual scale, which the officer can then change."""
    for q in form.questions:
        if q.type == "majority_judgment" and not q.grades:
            q.grades = "\n".join(DEFAULT_GRADES)
