"""docs/board-format.md's worked example is a real board, and the values the document quotes
are the ones a verifier computes from it."""

from __future__ import annotations

import json
from pathlib import Path

from audit.merkle import root
from ballot import board
from ballot.verify import verify_board

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_worked_example_verifies_and_matches_the_document() -> None:
    export = json.loads((DOCS / "examples" / "board-example.json").read_text())
    text = (DOCS / "board-format.md").read_text()
    report = verify_board(export, workers=1)
    assert (report.entries, report.counted_ballots, report.checkpoints) == (6, 2, 3)
    leaves = [board.entry_leaf_hash(e) for e in export["entries"]]
    assert root(leaves).hex() in text
    assert leaves[0].hex() in text
    assert leaves[1].hex() in text
    assert board.tracking_code(leaves[1]) in text
    assert export["checkpoints"][-1].strip() in text
    assert export["entries"][0]["manifest"]["board"]["key"] in text
