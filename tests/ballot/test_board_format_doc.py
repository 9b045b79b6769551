"""docs/board-format.md's worked examples (§9, and §10.6 for encrypted elections) are real
boards, and the values the document quotes are the ones a verifier computes from them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import rfc8785

from audit.merkle import leaf_hash, root
from ballot import board
from ballot.jcs import canonical
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


def test_worked_example_v2_verifies_and_matches_the_document() -> None:
    export = json.loads((DOCS / "examples" / "board-example-v2.json").read_text())
    text = (DOCS / "board-format.md").read_text()
    section = text[text.index("### 10.6 Worked example v2") :]
    report = verify_board(export, workers=1)
    assert (report.entries, report.counted_ballots, report.checkpoints) == (19, 3, 3)
    entries = export["entries"]
    leaves = [leaf_hash(canonical(e)) for e in entries]
    manifest = entries[8]["manifest"]
    terms = {k: v for k, v in manifest.items() if k != "encryption"}
    assert [e["kind"] for e in entries[:9]] == [
        "dkg-setup",
        *["dkg-round1"] * 3,
        *["dkg-signature"] * 3,
        "dkg-complete",
        "manifest",
    ]
    assert [e["round1"]["sender"] for e in entries[1:4]] == [3, 2, 1]
    assert "the three `dkg-round1` in the order 3, 2, 1" in section
    assert manifest["election"] in section
    assert entries[0]["setup"]["manifest_hash"] == hashlib.sha256(canonical(terms)).hexdigest()
    assert entries[0]["setup"]["manifest_hash"] in section
    assert manifest["encryption"]["joint_key"] in section
    assert entries[7]["group_key"] in section
    assert hashlib.sha256(rfc8785.dumps(manifest)).hexdigest() in section
    assert board.tracking_code(leaves[10]) in section
    assert entries[12]["cast"]["ballot"]["seq"] == 2
    assert entries[12]["cast"]["token"] == entries[10]["cast"]["token"]
    assert entries[-1]["trustees"] == [1, 3]
    assert '`"trustees": [1, 3]`' in section
    results = entries[-1]["results"]["questions"]
    assert results["parc"]["counts"] == {"tilleuls": 2, "gare": 1}
    assert results["budget"]["funded"] == ["bancs", "velos", "jardin"]
    assert results["budget"]["spent"] == 90
    assert root(leaves).hex() in section
    assert export["checkpoints"][-1].strip() in section
