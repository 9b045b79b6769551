"""Election definitions and the lifecycle (pure), the charts' escaping and accessibility,
and the verifier on aggregate publications with withheld re-votes."""

from __future__ import annotations

import copy
import itertools
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from audit.merkle import CompactRange
from audit.note import Checkpoint, sign_note
from ballot.charts import bar_chart, stacked_chart
from ballot.definition import Status, check_transition, parse_definition
from ballot.errors import ElectionStateError, InvalidElectionError
from ballot.verify import BoardVerificationError, verify_board
from tests.ballot.elections import ALL_TYPES
from tests.support.boards import ORIGIN, BoardBuilder, build_board

BASE: dict[str, Any] = {
    "title": {"fr": "Consultation", "en": "Consultation"},
    "opens_at": "2026-03-01T08:00:00Z",
    "closes_at": "2026-03-31T20:00:00Z",
    "eligibility": {"rule": "residents-11"},
    "questions": ALL_TYPES,
}


def test_a_definition_parses_with_defaults_and_round_trips() -> None:
    fixed = uuid.UUID("0c6d1c1e-8a5b-4bd4-9f57-0a3b7f3c2d11")
    parsed = parse_definition(BASE, new_id=lambda: fixed)
    assert parsed.election_id == fixed
    assert parsed.revote
    assert not parsed.paper
    assert parsed.min_anonymity_set == 1
    assert parsed.opens_at == datetime(2026, 3, 1, 8, tzinfo=UTC)
    assert [q.type.value for q in parsed.questions] == [
        "single", "budget", "approval", "majority_judgment", "ranked",
    ]  # fmt: skip
    again = parse_definition(parsed.to_json())
    assert again == parsed
    # YAML reads an unquoted time as a datetime.
    as_yaml = {**BASE, "opens_at": datetime(2026, 3, 1, 8, tzinfo=UTC)}
    assert parse_definition(as_yaml).opens_at == parsed.opens_at


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"colour": "blue"}, "unknown member"),
        ({"title": {"en": "No French"}}, "French title"),
        ({"closes_at": "2026-03-01T08:00:00Z"}, "closes_at must be after opens_at"),
        ({"opens_at": "2026-03-01 08:00"}, "2026-03-01T08:00:00Z"),
        ({"opens_at": datetime(2026, 3, 1, 8)}, "UTC"),
        ({"eligibility": {"rule": "Résidents"}}, "eligibility.rule"),
        ({"eligibility": {"rule": "r", "voters": 10}}, "exactly {rule}"),
        ({"eligibility": {}}, "exactly {rule}"),
        ({"min_anonymity_set": 0}, "min_anonymity_set"),
        ({"revote": "yes"}, "revote: true or false"),
        ({"questions": []}, "between 1 and"),
        ({"id": "0C6D1C1E-8A5B-4BD4-9F57-0A3B7F3C2D11"}, "lowercase"),
        ({"id": "12"}, "a UUID"),
    ],
)
def test_bad_definitions_are_refused_precisely(change: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidElectionError, match=message):
        parse_definition({**BASE, **change})


def test_a_typed_population_is_read_and_ignored() -> None:
    """ballot-secrecy.md §3: the eligible population is counted when the election opens,
    never typed. A definition stored before (with a population) still parses; the number
    it typed is dropped from the canonical definition."""
    typed = {"rule": "residents-11", "population": 12000}
    legacy = parse_definition({**BASE, "eligibility": typed})
    assert legacy.to_json()["eligibility"] == {"rule": "residents-11"}
    assert "population" not in str(legacy.to_json())


def test_missing_members_and_a_changed_id() -> None:
    with pytest.raises(InvalidElectionError, match="missing member"):
        parse_definition({k: v for k, v in BASE.items() if k != "questions"})
    with pytest.raises(InvalidElectionError, match="keeps its id"):
        parse_definition({**BASE, "id": str(uuid.uuid4())}, election_id=uuid.uuid4())


def test_the_lifecycle_moves_one_step_forward_only() -> None:
    order = list(Status)
    for current, target in itertools.pairwise(order):
        check_transition(current, target)
    for current in order:
        for target in order:
            if order.index(target) != order.index(current) + 1:
                with pytest.raises(ElectionStateError):
                    check_transition(current, target)


def test_charts_escape_labels_and_describe_every_value() -> None:
    chart = str(
        bar_chart(
            chart_id="c1",
            title="<Parc>",
            labels=["<script>alert(1)</script>", "Gare & co"],
            values=[3, 0],
            unit="votes",
            highlight=[True, False],
        )
    )
    assert "<script>" not in chart
    assert "&lt;script&gt;" in chart
    assert 'role="img"' in chart
    assert 'aria-labelledby="c1-t c1-d"' in chart
    assert "Gare &amp; co: 0 votes" in chart
    assert "★" in chart
    profile = str(
        stacked_chart(
            chart_id="m", title="MJ", labels=["a"], grades=["Bien", "Mal"], distributions=[[2, 1]]
        )
    )
    assert "a: Bien 2, Mal 1" in profile


def _withhold(built: BoardBuilder, *, ballots: int) -> dict[str, Any]:
    """The board as aggregate publication gives it: ballots withheld, ``ballots`` counted."""
    from ballot import board

    export = copy.deepcopy(built.export())
    for i, entry in enumerate(export["entries"]):
        if entry.get("kind") == "ballot":
            export["entries"][i] = {"withheld": board.b64u_encode(board.entry_leaf_hash(entry))}
        if entry.get("kind") == "results":
            entry["publication"] = "aggregate"
            entry["ballots"] = ballots
    leaves = []
    for entry in export["entries"]:
        hidden = board.withheld_hash(entry)
        leaves.append(hidden if hidden is not None else board.entry_leaf_hash(entry))
    tree = CompactRange.empty().append(leaves).compact_range
    body = Checkpoint(origin=ORIGIN, size=tree.size, root_hash=tree.root()).text
    export["checkpoints"] = [sign_note(body, signers=[built.signer])]
    return export


def test_aggregate_boards_with_withheld_revotes_verify() -> None:
    built = build_board(4, revoters=2)  # 6 ballot entries, 4 counted, 4 tokens
    report = verify_board(_withhold(built, ballots=4), workers=1)
    assert report.counted_ballots == 4
    assert not report.recounted
    with pytest.raises(BoardVerificationError, match="7 ballots counted but only 4 tokens"):
        verify_board(_withhold(build_board(4, revoters=2), ballots=7), workers=1)
    with pytest.raises(BoardVerificationError, match="between 0 and 6"):
        verify_board(_withhold(build_board(4, revoters=2), ballots=-1), workers=1)
