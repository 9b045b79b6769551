"""The independent verifier accepts a good board and names the first discrepancy of each
kind of tampering (issue 7, "the verifier catches each tampering")."""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from typing import Any

import pytest

from audit.merkle import CompactRange
from audit.note import Checkpoint, Signer, sign_note
from ballot import board, rsabssa
from ballot.verify import BoardVerificationError, main, verify_board
from tests.support.boards import ORIGIN, BoardBuilder, build_board, random_choices

Export = dict[str, Any]


@pytest.fixture(scope="module")
def built() -> BoardBuilder:
    return build_board(12, revoters=3)


@pytest.fixture
def export(built: BoardBuilder) -> Export:
    return copy.deepcopy(built.export())


def resign(export: Export, built: BoardBuilder, *, signer: Signer | None = None) -> Export:
    """What an operator holding the board key can do: re-sign one checkpoint of the
    (tampered) entries, dropping every earlier checkpoint that would contradict it."""
    leaves = []
    for entry in export["entries"]:
        hidden = board.withheld_hash(entry)
        leaves.append(hidden if hidden is not None else board.entry_leaf_hash(entry))
    tree = CompactRange.empty().append(leaves).compact_range
    body = Checkpoint(origin=ORIGIN, size=tree.size, root_hash=tree.root()).text
    export["checkpoints"] = [sign_note(body, signers=[signer or built.signer])]
    return export


def ballot_indexes(export: Export) -> list[int]:
    return [i for i, e in enumerate(export["entries"]) if e.get("kind") == "ballot"]


def test_a_good_board_verifies(export: Export, built: BoardBuilder) -> None:
    report = verify_board(export, trusted_key=built.signer.verifier.text, workers=1)
    assert report.entries == len(export["entries"])
    assert report.ballots_on_board == 15  # 12 voters, 3 of whom re-voted
    assert report.counted_ballots == 12
    assert report.tokens_issued == 12
    assert report.recounted
    assert report.checkpoints == len(built.checkpoints) > 1


def test_receipt_tracking_code_is_found(export: Export) -> None:
    index = ballot_indexes(export)[4]
    code = board.tracking_code(board.entry_leaf_hash(export["entries"][index]))
    report = verify_board(export, receipt=code.lower().replace("-", " "), workers=1)
    assert report.receipt_index == index
    with pytest.raises(BoardVerificationError, match="no ballot on the board has the tracking"):
        verify_board(export, receipt="AAAA-AAAA-AAAA-AAAA", workers=1)


def test_parallel_and_serial_verification_agree(built: BoardBuilder) -> None:
    big = build_board(40, seed=9, key=built.key)
    serial = verify_board(big.export(), workers=1)
    parallel = verify_board(big.export(), workers=2, chunk=6)  # 7 batches over 2 processes
    assert (serial.counted_ballots, serial.checks) == (parallel.counted_ballots, parallel.checks)


def test_untrusted_board_key_is_refused(export: Export) -> None:
    other = Signer(name=ORIGIN, seed=b"\x09" * 32)
    with pytest.raises(BoardVerificationError, match="not the key you trust"):
        verify_board(export, trusted_key=other.verifier.text, workers=1)


# Each tampering: (name, change, expected message). `change` may re-sign like an operator.
def removed(export: Export, built: BoardBuilder) -> Export:
    del export["entries"][ballot_indexes(export)[2]]
    return export


def altered(export: Export, built: BoardBuilder) -> Export:
    entry = export["entries"][ballot_indexes(export)[0]]
    entry["cast"]["ballot"]["choices"]["parc"] = (
        "gare" if entry["cast"]["ballot"]["choices"]["parc"] == "tilleuls" else "tilleuls"
    )
    return export


def altered_and_resigned(export: Export, built: BoardBuilder) -> Export:
    return resign(altered(export, built), built)


def duplicated(export: Export, built: BoardBuilder) -> Export:
    entries = export["entries"]
    i = ballot_indexes(export)[-1]
    entries.insert(i + 1, copy.deepcopy(entries[i]))
    return resign(export, built)


def reordered(export: Export, built: BoardBuilder) -> Export:
    entries = export["entries"]
    a, b = ballot_indexes(export)[1], ballot_indexes(export)[5]
    entries[a], entries[b] = entries[b], entries[a]
    return export


def revote_reordered(export: Export, built: BoardBuilder) -> Export:
    # voter 0 cast seq 1 then seq 2 (entries 1 and 2): put the re-vote first
    entries = export["entries"]
    a, b = ballot_indexes(export)[0], ballot_indexes(export)[1]
    entries[a], entries[b] = entries[b], entries[a]
    return resign(export, built)


def foreign_key(export: Export, built: BoardBuilder) -> Export:
    # same election id, another issuer key: a token the manifest's key never signed
    stranger = BoardBuilder.create(key=rsabssa.generate_key(2048))
    right = stranger.voting_right()
    _, request = right.cast(random_choices(random.Random(3)))
    entries = export["entries"]
    entries.insert(ballot_indexes(export)[-1] + 1, board.ballot_entry(request))
    return resign(export, built)


def broken_consistency(export: Export, built: BoardBuilder) -> Export:
    # an early checkpoint replaced by one of another tree of the same size, properly signed
    first = Checkpoint.parse(export["checkpoints"][1].split("\n\n")[0] + "\n")
    forged = Checkpoint(origin=ORIGIN, size=first.size, root_hash=b"\x01" * 32).text
    export["checkpoints"][1] = sign_note(forged, signers=[built.signer])
    return export


def wrong_tally(export: Export, built: BoardBuilder) -> Export:
    results = export["entries"][-1]["results"]["questions"]["parc"]["counts"]
    results["gare"] += 1
    return resign(export, built)


def more_ballots_than_tokens(export: Export, built: BoardBuilder) -> Export:
    for entry in export["entries"]:
        if entry.get("kind") in {"close", "results"}:
            entry["tokens_issued"] = 10
    return resign(export, built)


def manifest_not_first(export: Export, built: BoardBuilder) -> Export:
    entries = export["entries"]
    entries[0], entries[1] = entries[1], entries[0]
    return resign(export, built)


def ballot_after_close(export: Export, built: BoardBuilder) -> Export:
    entries = export["entries"]
    entries.append(copy.deepcopy(entries[ballot_indexes(export)[0]]))
    return resign(export, built)


def forged_checkpoint(export: Export, built: BoardBuilder) -> Export:
    return resign(altered(export, built), built, signer=Signer(name=ORIGIN, seed=b"\x05" * 32))


def truncated(export: Export, built: BoardBuilder) -> Export:
    export["entries"] = export["entries"][:-1]
    return export


def results_withheld_wrongly(export: Export, built: BoardBuilder) -> Export:
    i = ballot_indexes(export)[-1]  # the last voter did not re-vote
    export["entries"][i] = {
        "withheld": board.b64u_encode(board.entry_leaf_hash(export["entries"][i]))
    }
    return export


TAMPERINGS: list[tuple[Callable[[Export, BoardBuilder], Export], str]] = [
    (removed, "is not the root of the entries|covers 18 entries but the export has 17"),
    (altered, "root for size .* is not the root of the entries"),
    (altered_and_resigned, "ballot signature"),
    (duplicated, "a re-vote with seq 1 after seq 1"),
    (reordered, "root for size .* is not the root of the entries"),
    (revote_reordered, "a re-vote with seq 1 after seq 2"),
    (foreign_key, "signature"),
    (broken_consistency, "checkpoint 1: its root for size"),
    (wrong_tally, "published tally differs from the recount"),
    (more_ballots_than_tokens, "12 ballots counted but only 10 tokens issued"),
    (manifest_not_first, "entry 0 must be the manifest"),
    (ballot_after_close, "a ballot after the close entry"),
    (forged_checkpoint, "checkpoint 0"),
    (truncated, "covers .* entries but the export has"),
    (results_withheld_wrongly, "ballots withheld but publication is not aggregate"),
]


@pytest.mark.parametrize(("tamper", "message"), TAMPERINGS, ids=[t.__name__ for t, _ in TAMPERINGS])
def test_tampering_is_caught(
    export: Export,
    built: BoardBuilder,
    tamper: Callable[[Export, BoardBuilder], Export],
    message: str,
) -> None:
    with pytest.raises(BoardVerificationError, match=message):
        verify_board(tamper(export, built), workers=1)


def test_no_revote_board_refuses_a_second_ballot() -> None:
    builder = BoardBuilder.create(revote=False)
    right = builder.voting_right()
    right = builder.cast(right, {"parc": "gare", "budget": []})
    builder.cast(right, {"parc": "tilleuls", "budget": []})
    builder.close()
    with pytest.raises(BoardVerificationError, match="re-voting is not allowed"):
        verify_board(builder.export(), workers=1)


def test_more_tokens_than_eligible_population() -> None:
    builder = BoardBuilder.create(population=1)
    for _ in range(2):
        builder.cast(builder.voting_right(), {"parc": "gare", "budget": ["bancs"]})
    builder.close()
    with pytest.raises(
        BoardVerificationError, match="2 tokens issued for an eligible population of 1"
    ):
        verify_board(builder.export(), workers=1)


def test_command_line(tmp_path: Any, export: Export, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    good = tmp_path / "board.json"
    good.write_text(json.dumps(export))
    assert main([str(good), "--workers", "1"]) == 0
    assert "verified: election" in capsys.readouterr().out
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(wrong_tally(copy.deepcopy(export), BoardBuilder.create())))
    assert main([str(bad), "--workers", "1"]) == 1
    assert "FAILED" in capsys.readouterr().err
