"""Question definitions and ballot rules (voting-protocol.md, "Ballot types")."""

from __future__ import annotations

from typing import Any

import pytest

from ballot.questions import (
    BallotType,
    InvalidChoiceError,
    InvalidQuestionError,
    check_choices,
    parse_questions,
)

OPTIONS = [{"id": f"p{i}", "title": {"fr": f"Projet {i}"}} for i in range(1, 5)]
BUDGET_OPTIONS = [{**o, "cost": c} for o, c in zip(OPTIONS, [400, 300, 200, 150], strict=True)]

QUESTIONS: list[dict[str, Any]] = [
    {"id": "single", "type": "single", "title": "Nom du parc ?", "options": OPTIONS},
    {
        "id": "approval",
        "type": "approval",
        "title": "Vos projets",
        "options": OPTIONS,
        "min": 1,
        "max": 2,
    },
    {
        "id": "exactly",
        "type": "approval",
        "title": "Trois projets",
        "options": OPTIONS,
        "exactly": 3,
    },
    {
        "id": "budget",
        "type": "budget",
        "title": {"fr": "Budget", "en": "Budget"},
        "options": BUDGET_OPTIONS,
        "envelope": 600,
        "max_count": 3,
    },
    {
        "id": "mj",
        "type": "majority_judgment",
        "title": "Jugez",
        "options": OPTIONS[:2],
        "grades": ["Très bien", "Bien", "Passable", "À rejeter"],
    },
    {"id": "ranked", "type": "ranked", "title": "Classez", "options": OPTIONS, "max": 3},
]

VALID = {
    "single": "p2",
    "approval": ["p1", "p3"],
    "exactly": ["p1", "p2", "p4"],
    "budget": ["p2", "p3"],
    "mj": {"p1": 0, "p2": 3},
    "ranked": ["p3", "p1"],
}


@pytest.fixture(scope="module")
def questions() -> Any:
    return parse_questions(QUESTIONS)


def test_definitions_parse_and_round_trip(questions: Any) -> None:
    assert [q.type for q in questions] == [
        BallotType.SINGLE,
        BallotType.APPROVAL,
        BallotType.APPROVAL,
        BallotType.BUDGET,
        BallotType.MAJORITY_JUDGMENT,
        BallotType.RANKED,
    ]
    assert (questions[2].min, questions[2].max) == (3, 3)
    assert parse_questions([q.to_json() for q in questions]) == questions


def test_valid_ballot_passes(questions: Any) -> None:
    check_choices(questions, VALID)


@pytest.mark.parametrize(
    ("question", "choice", "message"),
    [
        ("single", "p9", "choose exactly one"),
        ("single", ["p1"], "choose exactly one"),
        ("approval", [], "between 1 and 2"),
        ("approval", ["p1", "p2", "p3"], "between 1 and 2"),
        ("approval", ["p3", "p1"], "in the order of the question"),
        ("approval", ["p1", "p1"], "appears twice"),
        ("approval", ["zz"], "unknown option"),
        ("approval", "p1", "must be a list"),
        ("exactly", ["p1", "p2"], "between 3 and 3"),
        ("budget", ["p1", "p2"], "cost 700, over the envelope of 600"),
        ("budget", ["p1", "p2", "p3"], "cost 900, over the envelope"),
        ("mj", {"p1": 0}, "one grade to every option"),
        ("mj", {"p1": 0, "p2": 4}, "grade of p2 must be 0 to 3"),
        ("mj", {"p1": True, "p2": 1}, "grade of p1"),
        ("ranked", [], "rank between 1 and 3"),
        ("ranked", ["p1", "p2", "p3", "p4"], "rank between 1 and 3"),
        ("ranked", ["p1", "p1"], "appears twice"),
    ],
)
def test_rule_violations_are_named(
    questions: Any, question: str, choice: Any, message: str
) -> None:
    ballot = {**VALID, question: choice}
    with pytest.raises(InvalidChoiceError, match=message) as caught:
        check_choices(questions, ballot)
    assert caught.value.question == question


def test_ballot_must_answer_exactly_the_questions(questions: Any) -> None:
    with pytest.raises(InvalidChoiceError, match="no answer for question"):
        check_choices(questions, {k: v for k, v in VALID.items() if k != "mj"})
    with pytest.raises(InvalidChoiceError, match="unknown question"):
        check_choices(questions, {**VALID, "extra": "p1"})
    with pytest.raises(InvalidChoiceError, match="must be an object"):
        check_choices(questions, ["p1"])


def test_budget_max_count() -> None:
    (question,) = parse_questions([{**QUESTIONS[3], "envelope": 10_000, "max_count": 2}])
    with pytest.raises(InvalidChoiceError, match="between 0 and 2"):
        check_choices([question], {"budget": ["p1", "p2", "p3"]})


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        ({**QUESTIONS[0], "type": "borda"}, "type must be one of"),
        ({**QUESTIONS[0], "id": "Bad Id"}, "ids are 1–64"),
        ({**QUESTIONS[0], "options": []}, "between 1 and 500 options"),
        ({**QUESTIONS[0], "options": [OPTIONS[0], OPTIONS[0]]}, "option ids must be unique"),
        ({**QUESTIONS[0], "min": 1}, "unknown member"),
        ({**QUESTIONS[1], "min": 3, "max": 2}, r"min \(3\) is greater than max \(2\)"),
        ({**QUESTIONS[1], "max": 9}, "between 1 and 4"),
        ({**QUESTIONS[2], "min": 1}, "either exactly or min/max"),
        ({**QUESTIONS[3], "envelope": 100}, "no project fits"),
        ({**QUESTIONS[3], "envelope": 10.5}, "envelope: must be an integer"),
        ({**QUESTIONS[3], "options": OPTIONS}, "cost: must be an integer"),
        ({**QUESTIONS[0], "options": BUDGET_OPTIONS}, "cost only for budget"),
        ({**QUESTIONS[4], "grades": ["Bien"]}, "2 to 10 distinct labels"),
        ({**QUESTIONS[4], "grades": ["Bien", "Bien"]}, "2 to 10 distinct labels"),
        ({**QUESTIONS[5], "min": 0}, "ranks at least one"),
        ({**QUESTIONS[0], "title": {"de": "Name"}}, "at least a French text"),
    ],
)
def test_bad_definitions_are_refused(definition: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidQuestionError, match=message):
        parse_questions([definition])


def test_question_list_rules() -> None:
    with pytest.raises(InvalidQuestionError, match="between 1 and 50 questions"):
        parse_questions([])
    with pytest.raises(InvalidQuestionError, match="question ids must be unique"):
        parse_questions([QUESTIONS[0], QUESTIONS[0]])
    with pytest.raises(InvalidQuestionError, match="must be a list"):
        parse_questions({"id": "x"})
