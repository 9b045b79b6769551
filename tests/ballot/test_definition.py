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
from ballot.definition import Mode, Status, check_transition, parse_definition
from ballot.errors import ElectionStateError, InvalidElectionError
from ballot.verify import BoardVerificationError, verify_board
from tests.ballot.elections import ALL_TYPES
from tests.support.boards import ORIGIN, BoardBuilder, build_board

BASE: dict[str, Any] = {
    "mode": "public",
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
    """Public elections go closed → tallied; encrypted ones detour through decrypting
    (docs/board-format.md §10.4). Nothing else moves."""
    public = [s for s in Status if s is not Status.DECRYPTING]
    encrypted = list(Status)
    allowed = set(itertools.pairwise(public)) | set(itertools.pairwise(encrypted))
    for current, target in allowed:
        check_transition(current, target)
    for current in Status:
        for target in Status:
            if (current, target) not in allowed:
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


# -- modes (docs/adr/0018-encrypted-elections.md) -----------------------------------------

TRUSTEES: list[dict[str, str]] = [
    {"label": "Mairie", "staff": "maire@ville.test"},
    {"label": "Opposition", "staff": "opposition@ville.test"},
    {"label": "Société civile", "staff": "asso@ville.test"},
]
ENCRYPTED: dict[str, Any] = {
    **{k: v for k, v in BASE.items() if k != "mode"},
    "trustees": TRUSTEES,
    "threshold": 2,
}


def test_a_new_definition_is_encrypted_by_default_and_round_trips() -> None:
    parsed = parse_definition(ENCRYPTED)
    assert parsed.mode is Mode.ENCRYPTED
    assert parsed.encrypted
    assert [t.label for t in parsed.trustees] == ["Mairie", "Opposition", "Société civile"]
    assert parsed.threshold == 2
    stored = parsed.to_json()
    assert stored["mode"] == "encrypted"
    assert stored["trustees"] == TRUSTEES
    assert parse_definition(stored) == parsed
    # Every question type is allowed in an encrypted election (board-format.md §10.2).
    assert {q.type.value for q in parsed.questions} == {
        "single", "budget", "approval", "majority_judgment", "ranked",
    }  # fmt: skip
    # E-mails are compared in lower case, as staff accounts store them.
    shouted = [{**t, "staff": t["staff"].upper()} for t in TRUSTEES]
    assert parse_definition({**ENCRYPTED, "trustees": shouted}).trustees == parsed.trustees


def test_a_stored_definition_without_mode_reads_as_public() -> None:
    """Definitions stored before modes existed (no ``mode``) keep their meaning."""
    legacy = {k: v for k, v in BASE.items() if k != "mode"}
    assert parse_definition(legacy, stored=True).mode is Mode.PUBLIC
    with pytest.raises(InvalidElectionError, match="names its trustees"):
        parse_definition(legacy)  # submitted now: encrypted, so it needs trustees
    public = parse_definition(BASE)
    assert public.mode is Mode.PUBLIC
    assert public.to_json()["mode"] == "public"
    assert "trustees" not in public.to_json()
    assert "threshold" not in public.to_json()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"mode": "secret"}, "mode: 'encrypted' or 'public'"),
        ({"trustees": None}, "a list of 1 to 15"),
        ({"trustees": []}, "a list of 1 to 15"),
        ({"trustees": [TRUSTEES[0]] * 16}, "a list of 1 to 15"),
        ({"trustees": [{"label": "A"}]}, r"trustees\[0\]: exactly \{label, staff\}"),
        ({"trustees": [{"label": " ", "staff": "a@b.test"}]}, r"trustees\[0\].label"),
        ({"trustees": [{"label": "x" * 65, "staff": "a@b.test"}]}, "at most 64"),
        ({"trustees": [{"label": "A", "staff": "nobody"}]}, r"trustees\[0\].staff"),
        ({"trustees": [{"label": "A", "staff": 7}]}, r"trustees\[0\].staff"),
        ({"trustees": [TRUSTEES[0], {**TRUSTEES[1], "label": "Mairie"}]}, "same label"),
        ({"trustees": [TRUSTEES[0], {**TRUSTEES[1], "staff": "MAIRE@ville.test"}]}, "twice"),
        ({"threshold": 0}, "threshold: an integer from 1 to 3"),
        ({"threshold": 4}, "threshold: an integer from 1 to 3"),
        ({"threshold": True}, "threshold"),
        ({"threshold": "2"}, "threshold"),
    ],
)
def test_bad_encrypted_definitions_are_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidElectionError, match=message):
        parse_definition({**ENCRYPTED, **change})


@pytest.mark.parametrize("missing", ["trustees", "threshold"])
def test_an_encrypted_definition_needs_trustees_and_threshold(missing: str) -> None:
    with pytest.raises(InvalidElectionError, match="names its trustees and threshold"):
        parse_definition({k: v for k, v in ENCRYPTED.items() if k != missing})


@pytest.mark.parametrize("extra", [{"trustees": TRUSTEES}, {"threshold": 1}])
def test_a_public_definition_refuses_trustees(extra: dict[str, Any]) -> None:
    with pytest.raises(InvalidElectionError, match="only for an encrypted election"):
        parse_definition({**BASE, **extra})


def test_one_trustee_and_fifteen_are_the_bounds() -> None:
    one = parse_definition({**ENCRYPTED, "trustees": TRUSTEES[:1], "threshold": 1})
    assert len(one.trustees) == 1
    many = [{"label": f"T{i}", "staff": f"t{i}@ville.test"} for i in range(15)]
    assert parse_definition({**ENCRYPTED, "trustees": many, "threshold": 15}).threshold == 15
