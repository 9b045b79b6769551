"""A board checked against a checkpoint kept from earlier (board-format.md §7 and §8.2):
``parvis-verify … --prev-checkpoint FILE`` and ``parvis verify-board … --prev-checkpoint
FILE`` accept a board that extends it and refuse one whose history was rewritten and
re-signed with the real key — which every other check accepts — or a checkpoint of another
log. The server's export carries every checkpoint the board's log signed.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from typer.testing import CliRunner, Result

from audit.merkle import CompactRange
from audit.note import Checkpoint, Signer, sign_note
from ballot import board
from ballot.service import service_from
from ballot.tally import tally
from parvis.cli import build_cli
from parvis_verifier.verify import main as parvis_verify
from tests.ballot.elections import definition, seed_census, setup_rule
from tests.ballot.test_cli_and_server import context, vote_through_service
from tests.support.boards import ORIGIN, BoardBuilder, build_board

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_V2 = ROOT / "docs" / "examples" / "board-example-v2.json"


def verify(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = parvis_verify([*args, "--workers", "1"])
    out, err = capsys.readouterr()
    return code, out, err


def cli(*args: str) -> Result:
    return CliRunner().invoke(build_cli(), ["verify-board", *args, "--workers", "1"], env={})


@pytest.fixture(scope="module")
def history() -> tuple[BoardBuilder, str, BoardBuilder]:
    """A closed board with the checkpoint an auditor kept after its eighth ballot, and the
    same election rewritten by its operator: the third ballot dropped, the results recounted
    and every checkpoint signed again with the board's real key."""
    built = build_board(8)
    entries = built.entries
    kept = signed_prefix(built, 9)  # the manifest and eight ballots, signed when they were all

    dropped = [e for i, e in enumerate(entries) if i != 3]
    rewritten = BoardBuilder(
        key=built.key, signer=built.signer, manifest=built.manifest, entries=[]
    )
    counted = [e["cast"]["ballot"]["choices"] for e in dropped if e.get("kind") == "ballot"]
    results: dict[str, Any] = copy.deepcopy(dropped[-1])
    results["ballots"] = len(counted)
    results["results"] = tally(built.manifest.questions, counted)
    rewritten.entries = [*dropped[:-1], results]
    rewritten.checkpoints = [signed_prefix(rewritten, size) for size in (1, 8)]
    rewritten.checkpoint()
    return built, kept, rewritten


def another_key(note: str) -> str:
    """The same checkpoint body signed by a key of the same name that is not the board's."""
    body = note.split("\n\n", maxsplit=1)[0] + "\n"
    origin = Checkpoint.parse(body).origin
    return sign_note(body, signers=[Signer(name=origin, seed=b"\x08" * 32)])


def signed_prefix(builder: BoardBuilder, size: int) -> str:
    """The checkpoint the board's key signs over its first ``size`` entries."""
    leaves = [board.entry_leaf_hash(e) for e in builder.entries[:size]]
    tree = CompactRange.empty().append(leaves).compact_range
    body = Checkpoint(origin=ORIGIN, size=size, root_hash=tree.root()).text
    return sign_note(body, signers=[builder.signer])


def test_a_board_that_extends_the_kept_checkpoint_is_accepted(
    history: tuple[BoardBuilder, str, BoardBuilder],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    built, kept, _ = history
    board = tmp_path / "board.json"
    board.write_text(json.dumps(built.export()))
    previous = tmp_path / "kept.checkpoint"
    previous.write_text(kept)

    code, out, err = verify(capsys, str(board), "--prev-checkpoint", str(previous))

    assert code == 0, err
    assert "ok  the board extends the previous checkpoint (its first 9 entries unchanged)" in (
        out.splitlines()
    )
    # The export's own last checkpoint: the board is that tree.
    previous.write_text(built.checkpoints[-1])
    assert verify(capsys, str(board), "--prev-checkpoint", str(previous))[0] == 0
    checked = cli(str(board), "--prev-checkpoint", str(previous))
    assert checked.exit_code == 0, checked.output
    assert "the board extends the previous checkpoint" in checked.stdout


def test_a_rewritten_and_re_signed_board_is_refused_given_the_kept_checkpoint(
    history: tuple[BoardBuilder, str, BoardBuilder],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, kept, rewritten = history
    board = tmp_path / "rewritten.json"
    board.write_text(json.dumps(rewritten.export()))
    previous = tmp_path / "kept.checkpoint"
    previous.write_text(kept)

    # Alone, the rewritten board is self-consistent: every check passes.
    alone = verify(capsys, str(board))
    assert alone[0] == 0, alone[2]
    assert "7 ballot(s) counted" in alone[1]

    code, out, err = verify(capsys, str(board), "--prev-checkpoint", str(previous))

    assert code == 1
    assert out == ""
    assert err.splitlines() == [
        "FAILED: the board does not extend the previous checkpoint: the root of its first 9 "
        "entries differs from the root signed then (the history was rewritten: an entry "
        "removed, altered or reordered, and the board re-signed)"
    ]
    refused = cli(str(board), "--prev-checkpoint", str(previous))
    assert refused.exit_code == 1
    assert "error: the board does not extend the previous checkpoint" in refused.stderr


def test_a_board_shorter_than_the_kept_checkpoint_is_refused(
    history: tuple[BoardBuilder, str, BoardBuilder],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    built, _, rewritten = history
    board = tmp_path / "rewritten.json"
    board.write_text(json.dumps(rewritten.export()))
    previous = tmp_path / "last.checkpoint"
    previous.write_text(built.checkpoints[-1])  # 11 entries; the rewritten board has 10

    code, _, err = verify(capsys, str(board), "--prev-checkpoint", str(previous))

    assert code == 1
    assert err.splitlines() == [
        "FAILED: the board does not extend the previous checkpoint: it covered 11 entries, "
        "the export has 10 (the board shrank)"
    ]


def test_a_checkpoint_of_another_log_is_refused(
    history: tuple[BoardBuilder, str, BoardBuilder],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    built, kept, _ = history
    board = tmp_path / "board.json"
    board.write_text(json.dumps(built.export()))
    previous = tmp_path / "other.checkpoint"

    # Another log's checkpoint: the same origin and tree, signed by another key.
    previous.write_text(another_key(kept))
    code, _, err = verify(capsys, str(board), "--prev-checkpoint", str(previous))
    assert code == 1
    [line] = err.splitlines()
    assert line.startswith("FAILED: the previous checkpoint is not this board's: ")

    # This board's key, another origin.
    body = Checkpoint.parse(kept.split("\n\n")[0] + "\n")
    other = Checkpoint(origin=ORIGIN + "-other", size=body.size, root_hash=body.root_hash)
    previous.write_text(sign_note(other.text, signers=[built.signer]))
    code, _, err = verify(capsys, str(board), "--prev-checkpoint", str(previous))
    assert code == 1
    [line] = err.splitlines()
    assert line.startswith("FAILED: the previous checkpoint is not this board's: ")
    assert line.endswith(": checkpoint belongs to another log")

    previous.write_text("not a checkpoint\n")
    assert "not this board's" in cli(str(board), "--prev-checkpoint", str(previous)).stderr
    missing = cli(str(board), "--prev-checkpoint", str(tmp_path / "none"))
    assert missing.exit_code == 1
    assert "No such file" in missing.stderr


def test_an_encrypted_board_against_a_kept_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = json.loads(EXAMPLE_V2.read_text())
    previous = tmp_path / "kept.checkpoint"
    previous.write_text(export["checkpoints"][0])

    code, out, err = verify(capsys, str(EXAMPLE_V2), "--prev-checkpoint", str(previous))
    assert code == 0, err
    assert "the board extends the previous checkpoint" in out

    previous.write_text(another_key(export["checkpoints"][0]))
    code, _, err = verify(capsys, str(EXAMPLE_V2), "--prev-checkpoint", str(previous))
    assert code == 1
    assert any(
        line.startswith("FAILED: the previous checkpoint is not this board's: ")
        for line in err.splitlines()
    )


def test_the_server_exports_every_checkpoint_of_the_board(
    database_url: str, tmp_path: Path
) -> None:
    # board-format.md §7: every checkpoint the board's log signed, not a selection; a
    # checkpoint kept from the open election's export is one of them, and the final board
    # extends it.
    env = {
        "PARVIS_MODE": "test",
        "PARVIS_DATABASE_URL": database_url,
        "PARVIS_DATA_DIR": str(tmp_path / "var"),
    }
    ctx = context(env)
    setup_rule(ctx)
    seed_census(ctx, 100)
    from parvis.kernel.clock import FixedClock

    clock = FixedClock()
    spec = definition(clock, questions=definition(clock)["questions"])
    spec["opens_at"] = "2020-01-01T00:00:00Z"
    spec["closes_at"] = "2099-01-01T00:00:00Z"
    source = tmp_path / "election.json"
    source.write_text(json.dumps(spec))
    election = spec["id"]
    runner = CliRunner()

    def run(*args: str) -> Result:
        result = runner.invoke(build_cli(), list(args), env=env)
        assert result.exit_code == 0, result.output
        return result

    from tests.ballot.elections import GOOD_CHOICES

    run("election", "create", str(source), "--schedule")
    run("election", "open", election)
    for _ in range(3):  # one batch each, under its own checkpoint (ADR 0009)
        vote_through_service(ctx, election, GOOD_CHOICES)
        service_from(ctx).integrate_batches(force=True)
    early = tmp_path / "early.json"
    run("election", "export-board", election, "--out", str(early))
    kept = tmp_path / "kept.checkpoint"
    kept.write_text(json.loads(early.read_text())["checkpoints"][-1])
    run("election", "close", election, "--force")
    run("election", "tally", election)
    run("election", "publish", election)
    final = tmp_path / "board.json"
    run("election", "export-board", election, "--out", str(final))

    export = json.loads(final.read_text())
    with ctx.db.read_session() as session:
        signed = session.execute(
            text(
                "SELECT c.note FROM audit_checkpoints c JOIN audit_logs l ON l.id = c.log_id "
                "JOIN ballot_boards b ON b.log = l.name "
                "WHERE b.election_id = :election AND c.size > 0 ORDER BY c.size"
            ),
            {"election": election},
        ).scalars()
        assert export["checkpoints"] == list(signed)
    # More than the three kept for the manifest, the close and the results.
    assert len(export["checkpoints"]) >= 6
    assert kept.read_text() in export["checkpoints"]
    checked = run("verify-board", str(final), "--prev-checkpoint", str(kept))
    assert "the board extends the previous checkpoint" in checked.stdout

    service_from(ctx).committer.stop()
    ctx.db.dispose()
