"""Tallies for every ballot type (voting-protocol.md, "Ballot types" and "Tallies").

Pure core: from the list of counted ballots' choices to a results object that the results
entry of the bulletin board publishes and that ``parvis verify-board`` recomputes.

Methods, with their tie-breaks (documented in ``docs/board-format.md``):

* **single** (plurality) and **approval**: votes per option; ``ranking`` by votes, ties by
  the question's option order; ``winners`` = every option with the top count.
* **budget** (Rennes, CONSUL): projects ranked by votes (ties: cheaper first, then option
  order); going down the ranking, a project is funded if its cost fits in what is left of the
  envelope, otherwise skipped, and the walk continues; a ``max_count`` caps how many are
  funded. Projects with no vote are never funded.
* **majority judgment** (Balinski & Laraki): each option's majority grade is the *lower*
  median of its grades; ties are broken by the majority value — repeatedly remove one
  median grade from each tied option and compare the next medians.
* **ranked**: counts per rank and a Borda count (an option ranked ``r``-th, 1-based, among
  ``n`` options scores ``n - r``; unranked options score 0); ``ranking`` by points, ties by
  first-rank counts, then option order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from parvis_verifier.questions import BallotType, Question

__all__ = [
    "budget_results",
    "majority_judgment_results",
    "majority_value",
    "plurality_results",
    "ranked_results",
    "tally",
    "tally_question",
]


def _order_key(question: Question) -> dict[str, int]:
    return {option: i for i, option in enumerate(question.option_ids)}


def _counts(question: Question, answers: Iterable[Any]) -> dict[str, int]:
    counts = dict.fromkeys(question.option_ids, 0)
    for answer in answers:
        for option in [answer] if isinstance(answer, str) else answer:
            counts[option] += 1
    return counts


def plurality_results(question: Question, counts: Mapping[str, int]) -> dict[str, Any]:
    """Single and approval results from the votes per option (clear or homomorphic)."""
    counts = {option: counts[option] for option in question.option_ids}
    order = _order_key(question)
    ranking = sorted(question.option_ids, key=lambda o: (-counts[o], order[o]))
    top = max(counts.values())
    winners = [o for o in ranking if counts[o] == top] if top > 0 else []
    return {"type": question.type.value, "counts": counts, "ranking": ranking, "winners": winners}


def budget_results(question: Question, counts: Mapping[str, int]) -> dict[str, Any]:
    """Budget results (the greedy fill) from the votes per project (clear or homomorphic)."""
    counts = {option: counts[option] for option in question.option_ids}
    order = _order_key(question)
    ranking = sorted(question.option_ids, key=lambda o: (-counts[o], question.cost_of(o), order[o]))
    assert question.envelope is not None
    left = question.envelope
    funded: list[str] = []
    for option in ranking:
        if counts[option] == 0:
            break
        if question.max_count is not None and len(funded) >= question.max_count:
            break
        cost = question.cost_of(option)
        if cost <= left:
            funded.append(option)
            left -= cost
    return {
        "type": question.type.value,
        "counts": counts,
        "ranking": ranking,
        "funded": funded,
        "spent": question.envelope - left,
        "envelope": question.envelope,
    }


def majority_value(distribution: Sequence[int]) -> tuple[int, ...]:
    """The majority value of a grade distribution (``distribution[g]`` = votes for grade
    ``g``, 0 = best): successive lower medians, each time removing one vote of the median
    grade. Returned as *qualities* (higher is better) so tuples compare directly."""
    worst = len(distribution) - 1
    grades = sorted(
        (worst - g for g, n in enumerate(distribution) for _ in range(n))
    )  # qualities, ascending
    sequence: list[int] = []
    while grades:
        median = (len(grades) - 1) // 2  # the lower middlemost when the count is even
        sequence.append(grades.pop(median))
    return tuple(sequence)


def _majority_judgment(question: Question, answers: Sequence[Any]) -> dict[str, Any]:
    size = len(question.grades)
    distribution = {option: [0] * size for option in question.option_ids}
    for answer in answers:
        for option, grade in answer.items():
            distribution[option][grade] += 1
    return majority_judgment_results(question, distribution, ballots=len(answers))


def majority_judgment_results(
    question: Question, distribution: Mapping[str, Sequence[int]], *, ballots: int
) -> dict[str, Any]:
    """Majority judgment results from the grade counts per option (``distribution[o][g]``
    ballots gave option ``o`` grade ``g``) of ``ballots`` ballots (clear or homomorphic)."""
    size = len(question.grades)
    distribution = {o: list(distribution[o]) for o in question.option_ids}
    values = {o: majority_value(d) for o, d in distribution.items()}
    order = _order_key(question)
    # Higher majority value first; equal values (identical distributions) by option order.
    ranking = sorted(question.option_ids, key=lambda o: order[o])
    ranking.sort(key=lambda o: values[o], reverse=True)
    majority_grade = {
        o: (size - 1 - values[o][0]) if values[o] else None for o in question.option_ids
    }
    return {
        "type": question.type.value,
        "distribution": distribution,
        "majority_grade": majority_grade,
        "ranking": ranking,
        "winners": [r for r in ranking if values[r] == values[ranking[0]]] if ballots else [],
    }


def _ranked(question: Question, answers: Sequence[Any]) -> dict[str, Any]:
    rank_counts = {option: [0] * question.max for option in question.option_ids}
    for answer in answers:
        for rank, option in enumerate(answer):
            rank_counts[option][rank] += 1
    return ranked_results(question, rank_counts, ballots=len(answers))


def ranked_results(
    question: Question, rank_counts: Mapping[str, Sequence[int]], *, ballots: int
) -> dict[str, Any]:
    """Ranked results (Borda) from the positional counts (``rank_counts[o][r]`` ballots
    ranked option ``o`` at position ``r + 1``) of ``ballots`` ballots (clear or homomorphic)."""
    n = len(question.options)
    rank_counts = {o: list(rank_counts[o]) for o in question.option_ids}
    points = {
        o: sum(count * (n - 1 - rank) for rank, count in enumerate(rank_counts[o]))
        for o in question.option_ids
    }
    order = _order_key(question)
    ranking = sorted(question.option_ids, key=lambda o: (-points[o], -rank_counts[o][0], order[o]))
    top = points[ranking[0]]
    return {
        "type": question.type.value,
        "rank_counts": rank_counts,
        "borda": points,
        "ranking": ranking,
        "winners": [o for o in ranking if points[o] == top] if ballots else [],
    }


def tally_question(question: Question, answers: Sequence[Any]) -> dict[str, Any]:
    """Results of one question from its (already validated) answers."""
    if question.type in {BallotType.SINGLE, BallotType.APPROVAL}:
        return plurality_results(question, _counts(question, answers))
    if question.type is BallotType.BUDGET:
        return budget_results(question, _counts(question, answers))
    if question.type is BallotType.MAJORITY_JUDGMENT:
        return _majority_judgment(question, answers)
    return _ranked(question, answers)


def tally(questions: Sequence[Question], ballots: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Results of an election from the counted ballots' ``choices`` (one per nullifier)."""
    return {
        "ballots": len(ballots),
        "questions": {q.id: tally_question(q, [b[q.id] for b in ballots]) for q in questions},
    }
