"""Shared material for the encrypted-ballot tests: one small question of each type, a key,
a ballot context, and a generator of random valid clear choices."""

from __future__ import annotations

import random
from typing import Any

from ballot.group import Point, Scalar
from ballot.questions import BallotType, Question, check_choice, parse_questions
from ballot.transcript import Context


def _options(n: int, *, costs: list[int] | None = None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"id": f"p{i}", "title": f"Projet {i}"} for i in range(n)]
    for option, cost in zip(out, costs or [], strict=False):
        option["cost"] = cost
    return out


QUESTIONS: tuple[Question, ...] = parse_questions(
    [
        {"id": "maire", "type": "single", "title": "Maire", "options": _options(3)},
        {
            "id": "parcs",
            "type": "approval",
            "title": "Parcs",
            "min": 1,
            "max": 3,
            "options": _options(4),
        },
        {
            "id": "budget",
            "type": "budget",
            "title": "Budget participatif",
            "envelope": 100_000,
            "max_count": 3,
            "options": _options(5, costs=[30_000, 45_000, 20_000, 60_000, 80_000]),
        },
        {
            "id": "jugement",
            "type": "majority_judgment",
            "title": "Jugement",
            "grades": ["très bien", "bien", "passable"],
            "options": _options(3),
        },
        {
            "id": "classement",
            "type": "ranked",
            "title": "Classement",
            "min": 1,
            "max": 3,
            "options": _options(4),
        },
    ]
)
BY_TYPE: dict[BallotType, Question] = {q.type: q for q in QUESTIONS}

SECRET = Scalar.of(0x5EC12E7)
KEY = Point.base_times(SECRET)
CONTEXT = Context("budget-2026", bytes(range(32)), b"\x11" * 32)


def random_choice(question: Question, rng: random.Random) -> Any:
    """A uniformly drawn valid answer to ``question`` (checked by questions.py)."""
    ids = list(question.option_ids)
    if question.type is BallotType.SINGLE:
        choice: Any = rng.choice(ids)
    elif question.type is BallotType.APPROVAL:
        picked = set(rng.sample(ids, rng.randint(question.min, question.max)))
        choice = [o for o in ids if o in picked]
    elif question.type is BallotType.BUDGET:
        assert question.envelope is not None
        left, picked = question.envelope, set()
        for option in rng.sample(ids, rng.randint(0, len(ids))):
            if len(picked) < question.max and question.cost_of(option) <= left:
                picked.add(option)
                left -= question.cost_of(option)
        choice = [o for o in ids if o in picked]
    elif question.type is BallotType.MAJORITY_JUDGMENT:
        choice = {o: rng.randrange(len(question.grades)) for o in ids}
    else:
        choice = rng.sample(ids, rng.randint(question.min, question.max))
    check_choice(question, choice)
    return choice


def random_choices(rng: random.Random) -> dict[str, Any]:
    return {q.id: random_choice(q, rng) for q in QUESTIONS}
