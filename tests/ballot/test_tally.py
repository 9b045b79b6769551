"""Tallies against small, obviously-correct reference implementations (Hypothesis)."""

from __future__ import annotations

import functools
import itertools
from collections import Counter
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ballot.questions import Question, check_choices, parse_question
from ballot.tally import majority_value, tally, tally_question

# ---------------------------------------------------------------- reference implementations


def ref_counts(question: Question, answers: list[Any]) -> dict[str, int]:
    flat: list[str] = []
    for a in answers:
        flat.extend([a] if isinstance(a, str) else a)
    counted = Counter(flat)
    return {o: counted[o] for o in question.option_ids}


def ref_budget_funded(question: Question, answers: list[Any]) -> list[str]:
    counts = ref_counts(question, answers)
    # Rank by votes desc, then cost asc, then position — spelled out as tuples.
    keyed = [(-counts[o.id], o.cost, i, o.id) for i, o in enumerate(question.options)]
    keyed.sort()
    funded: list[str] = []
    budget = question.envelope or 0
    for neg_votes, cost, _, option in keyed:
        if neg_votes == 0:
            continue
        if question.max_count is not None and len(funded) == question.max_count:
            continue
        assert cost is not None
        if sum(question.cost_of(f) for f in funded) + cost <= budget:
            funded.append(option)
    return funded


def ref_lower_median(grades: list[int]) -> int:
    """Grades as indexes, 0 = best: the lower median is the worse of the two middles."""
    ordered = sorted(grades)  # best first
    return ordered[len(ordered) // 2]


def ref_mj_compare(a: list[int], b: list[int]) -> int:
    """-1 if a beats b: compare medians, removing one median grade each time."""
    a, b = sorted(a), sorted(b)
    while a and b:
        ma, mb = ref_lower_median(a), ref_lower_median(b)
        if ma != mb:
            return -1 if ma < mb else 1
        a.remove(ma)
        b.remove(mb)
    return 0


def ref_borda(question: Question, answers: list[list[str]]) -> dict[str, int]:
    n = len(question.options)
    points = dict.fromkeys(question.option_ids, 0)
    for ranking in answers:
        for position, option in enumerate(ranking, start=1):
            points[option] += n - position
    return points


# ---------------------------------------------------------------- strategies


@st.composite
def budget_case(draw: st.DrawFn) -> tuple[Question, list[list[str]]]:
    n = draw(st.integers(1, 7))
    costs = draw(st.lists(st.integers(1, 50), min_size=n, max_size=n))
    envelope = draw(st.integers(min(costs), 200))
    max_count = draw(st.one_of(st.none(), st.integers(1, n)))
    q = parse_question(
        {
            "id": "b",
            "type": "budget",
            "title": "B",
            "envelope": envelope,
            "options": [{"id": f"o{i}", "title": "x", "cost": c} for i, c in enumerate(costs)],
            **({"max_count": max_count} if max_count else {}),
        }
    )
    ballots = draw(st.lists(st.lists(st.sampled_from(q.option_ids), unique=True), max_size=25))
    valid: list[list[str]] = []
    for b in ballots:
        chosen = sorted(b, key=q.option_ids.index)
        if sum(q.cost_of(o) for o in chosen) <= envelope and len(chosen) <= q.max:
            valid.append(chosen)
    return q, valid


@st.composite
def mj_case(draw: st.DrawFn) -> tuple[Question, list[dict[str, int]]]:
    n = draw(st.integers(1, 5))
    g = draw(st.integers(2, 6))
    q = parse_question(
        {
            "id": "m",
            "type": "majority_judgment",
            "title": "M",
            "options": [{"id": f"o{i}", "title": "x"} for i in range(n)],
            "grades": [f"g{i}" for i in range(g)],
        }
    )
    ballots = draw(
        st.lists(
            st.fixed_dictionaries({o: st.integers(0, g - 1) for o in q.option_ids}),
            min_size=1,
            max_size=30,
        )
    )
    return q, ballots


@st.composite
def ranked_case(draw: st.DrawFn) -> tuple[Question, list[list[str]]]:
    n = draw(st.integers(1, 6))
    q = parse_question(
        {
            "id": "r",
            "type": "ranked",
            "title": "R",
            "options": [{"id": f"o{i}", "title": "x"} for i in range(n)],
        }
    )
    ballots = draw(
        st.lists(
            st.permutations(q.option_ids).flatmap(
                lambda p: st.integers(1, len(p)).map(lambda k: list(p[:k]))
            ),
            max_size=30,
        )
    )
    return q, ballots


# ---------------------------------------------------------------- properties


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 6).flatmap(
        lambda n: st.tuples(st.just(n), st.lists(st.integers(0, n - 1), max_size=40))
    )
)
def test_single_choice_counts(case: tuple[int, list[int]]) -> None:
    n, picks = case
    q = parse_question(
        {
            "id": "s",
            "type": "single",
            "title": "S",
            "options": [{"id": f"o{i}", "title": "x"} for i in range(n)],
        }
    )
    answers = [f"o{i}" for i in picks]
    result = tally_question(q, answers)
    assert result["counts"] == ref_counts(q, answers)
    assert sum(result["counts"].values()) == len(answers)
    if answers:
        top = max(result["counts"].values())
        assert set(result["winners"]) == {o for o, c in result["counts"].items() if c == top}
    else:
        assert result["winners"] == []


@settings(max_examples=300, deadline=None)
@given(budget_case())
def test_budget_matches_reference(case: tuple[Question, list[list[str]]]) -> None:
    q, ballots = case
    for b in ballots:
        check_choices([q], {"b": b})
    result = tally_question(q, ballots)
    assert result["counts"] == ref_counts(q, ballots)
    assert result["funded"] == ref_budget_funded(q, ballots)
    assert result["spent"] == sum(q.cost_of(o) for o in result["funded"]) <= (q.envelope or 0)


@settings(max_examples=300, deadline=None)
@given(mj_case())
def test_majority_judgment_matches_reference(case: tuple[Question, list[dict[str, int]]]) -> None:
    q, ballots = case
    result = tally_question(q, ballots)
    grades = {o: [b[o] for b in ballots] for o in q.option_ids}
    for option in q.option_ids:
        assert result["majority_grade"][option] == ref_lower_median(grades[option])
    ranking = result["ranking"]
    for better, worse in itertools.pairwise(ranking):
        assert ref_mj_compare(grades[better], grades[worse]) <= 0
    expected_order = sorted(
        q.option_ids, key=functools.cmp_to_key(lambda a, b: ref_mj_compare(grades[a], grades[b]))
    )
    assert [ref_lower_median(grades[o]) for o in ranking] == [
        ref_lower_median(grades[o]) for o in expected_order
    ]


@settings(max_examples=300, deadline=None)
@given(ranked_case())
def test_ranked_matches_reference(case: tuple[Question, list[list[str]]]) -> None:
    q, ballots = case
    result = tally_question(q, ballots)
    assert result["borda"] == ref_borda(q, ballots)
    for option in q.option_ids:
        assert sum(result["rank_counts"][option]) == sum(option in b for b in ballots)
        assert result["rank_counts"][option][0] == sum(bool(b) and b[0] == option for b in ballots)


def test_budget_worked_example() -> None:
    """Rennes-style: the most voted project that does not fit is skipped, the walk goes on."""
    q = parse_question(
        {
            "id": "b",
            "type": "budget",
            "title": "B",
            "envelope": 1000,
            "options": [
                {"id": "a", "title": "A", "cost": 600},
                {"id": "b", "title": "B", "cost": 500},
                {"id": "c", "title": "C", "cost": 300},
                {"id": "d", "title": "D", "cost": 200},
            ],
        }
    )
    ballots = [["a"], ["a", "c"], ["b", "c"], ["b"], ["b"], ["a", "d"], ["c"], ["a"]]
    result = tally_question(q, ballots)
    assert result["counts"] == {"a": 4, "b": 3, "c": 3, "d": 1}
    assert result["ranking"] == ["a", "c", "b", "d"]  # c before b: same votes, cheaper
    assert result["funded"] == ["a", "c"]  # b (500) no longer fits in the 100 left; d neither
    assert result["spent"] == 900


def test_majority_judgment_worked_example() -> None:
    """Two options with the same majority grade; the tie-break removes medians."""
    q = parse_question(
        {
            "id": "m",
            "type": "majority_judgment",
            "title": "M",
            "options": [{"id": "x", "title": "X"}, {"id": "y", "title": "Y"}],
            "grades": ["Très bien", "Bien", "Passable", "Insuffisant"],
        }
    )
    ballots = [{"x": 1, "y": 0}, {"x": 1, "y": 1}, {"x": 1, "y": 1}, {"x": 2, "y": 3}]
    result = tally_question(q, ballots)
    assert result["majority_grade"] == {"x": 1, "y": 1}
    # Successive lower medians (grade indexes, 0 = best): x → Bien, Bien, Passable, Bien;
    # y → Bien, Bien, Insuffisant, Très bien. They differ first at the third step: x wins.
    assert result["ranking"] == ["x", "y"]
    assert majority_value([0, 3, 1, 0]) > majority_value([1, 2, 0, 1])


def test_tally_of_an_election() -> None:
    q = parse_question(
        {
            "id": "s",
            "type": "single",
            "title": "S",
            "options": [{"id": "a", "title": "A"}, {"id": "b", "title": "B"}],
        }
    )
    result = tally([q], [{"s": "a"}, {"s": "b"}, {"s": "b"}])
    assert result == {
        "ballots": 3,
        "questions": {
            "s": {
                "type": "single",
                "counts": {"a": 1, "b": 2},
                "ranking": ["b", "a"],
                "winners": ["b"],
            }
        },
    }
