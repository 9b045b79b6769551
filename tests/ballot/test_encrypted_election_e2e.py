"""An encrypted election from its opening to its published results, through HTTP, step by
step as docs/board-format.md §10 tells it (SQLite and PostgreSQL).

The election is opened by the real ceremony (tests/ballot/encrypted.py); voters get tokens
and cast encrypted ballots over HTTP with the Python voter client; the server refuses a
replayed ciphertext and a clear ballot; the board is public while open; after the close the
tally appends the sums, trustee 2 never shows up, trustee 3's first upload is wrong and
refused with nothing appended, trustees 1 and 3 decrypt, and the results entry — published,
exported by the CLI — equals the clear choices the voters made (last ballot per token).
"""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ballot.encrypted_ballot import encrypt_ballot
from ballot.encrypted_tally import Encryption
from ballot.questions import parse_questions
from ballot.simulation import random_choices
from ballot.tally import tally
from ballot.verify import BoardVerificationError, verify_board
from parvis.cli import build_cli
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from tests.ballot.elections import (
    ALL_TYPES,
    OFFICER,
    Voter,
    integrate,
    session_cookie,
    setup_rule,
    voters,
)
from tests.ballot.encrypted import open_encrypted_election
from tests.ballot.trustees import partials_document


def _call(
    client: TestClient, ctx: AppContext, principal: Any, method: str, path: str, **kw: Any
) -> Any:
    name, value = session_cookie(ctx, principal)
    client.cookies.clear()
    return client.request(method, path, headers={"Cookie": f"{name}={value}"}, **kw)


def _cast(voter: Voter, encryption: Encryption, questions: Any, choices: dict[str, Any]) -> Any:
    """What the booth does: encrypt under the joint key with the token's vk, sign, send."""
    assert voter.right is not None
    wire = encrypt_ballot(
        questions,
        key=encryption.joint_key,
        context=encryption.ballot_context(voter.right.voter_key),
        choices=choices,
    ).to_json()
    voter.right, request = voter.right.cast(wire, encrypted=True)
    return voter.post_cast(request.to_json_bytes())


def test_encrypted_election_end_to_end(
    app: FastAPI, client: TestClient, clock: FixedClock, tmp_path: Path
) -> None:
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    opened = open_encrypted_election(ctx, clock, n=3, threshold=2, questions=ALL_TYPES)
    election = opened.election_id

    # The v2 manifest: the joint key, the threshold, each trustee's public share.
    manifest = client.get(f"/elections/{election}/manifest").json()
    assert manifest["format"] == "parvis-manifest-v2"
    encryption = Encryption.of_manifest(manifest)
    assert encryption is not None
    assert encryption.threshold == 2
    assert encryption.joint_key == opened.ceremony.group_key
    questions = parse_questions(manifest["questions"])

    # Four voters cast encrypted ballots; the first changes its mind (re-vote).
    rng = random.Random(2026)
    crowd = list(voters(ctx, client, election, 5))
    last: dict[int, dict[str, Any]] = {}
    for n, voter in enumerate(crowd[:4]):
        voter.obtain_right()
        last[n] = random_choices(questions, rng)
        response = _cast(voter, encryption, questions, last[n])
        assert response.status_code == 201, response.text
    last[0] = random_choices(questions, rng)
    assert _cast(crowd[0], encryption, questions, last[0]).status_code == 201

    # While open, the board shows every entry: ciphertexts only (§10.1).
    integrate(ctx)
    live = client.get(f"/elections/{election}/board").json()
    assert live["format"] == "parvis-board-export-v1"
    ballots = [e for e in live["entries"] if e.get("kind") == "ballot"]
    assert len(ballots) == 5
    assert all(set(e["cast"]["ballot"]) == {"election", "seq", "encrypted"} for e in ballots)
    assert not any("withheld" in e for e in live["entries"])

    # A ballot copied from the board and cast under another token fails its proofs (the
    # ballot's vk is in every proof's context): the replay is refused, naming where.
    thief = crowd[4]
    thief.obtain_right()
    assert thief.right is not None
    thief.right, request = thief.right.cast(
        ballots[0]["cast"]["ballot"]["encrypted"], encrypted=True
    )
    refused = thief.post_cast(request.to_json_bytes())
    assert refused.status_code == 422, refused.text
    assert refused.json()["type"].endswith("/invalid-ballot-proof")
    assert "question parc: cell" in refused.json()["detail"]
    # A malformed encrypted ballot (a cell missing) is refused naming the question.
    broken = copy.deepcopy(ballots[0]["cast"]["ballot"]["encrypted"])
    broken["budget"]["cells"].pop()
    thief.right, request = thief.right.cast(broken, encrypted=True)
    malformed = thief.post_cast(request.to_json_bytes())
    assert malformed.status_code == 422, malformed.text
    assert malformed.json()["type"].endswith("/malformed-cast")
    assert "budget" in malformed.json()["detail"]
    # A clear ballot has no place in an encrypted election.
    thief.right, request = thief.right.cast({"parc": "gare"})
    clear = thief.post_cast(request.to_json_bytes())
    assert clear.status_code == 422
    assert clear.json()["type"].endswith("/malformed-cast")

    # Close, then tally: the sums and the context go on the board; trustees are awaited.
    assert _call(client, ctx, OFFICER, "POST", f"/elections/{election}/close?force=true").is_success
    tallied = _call(client, ctx, OFFICER, "POST", f"/elections/{election}/tally")
    assert tallied.json()["status"] == "decrypting", tallied.text
    inputs = client.get(f"/elections/{election}/decryption").json()
    assert inputs["ballots"] == 4
    assert inputs["sums"]["format"] == "parvis-tally-sums-v1"
    assert inputs["context"]["manifest_hash"] == encryption.manifest_hash.hex()

    shares = {share.index: share for share in opened.ceremony.shares}

    def document(index: int) -> dict[str, Any]:
        share = shares[index]
        return partials_document(
            index=index,
            share=share.secret_share,
            static_key=share.static.public,
            sums=inputs["sums"],
            context=inputs["context"],
        )

    def upload(index: int, body: dict[str, Any]) -> Any:
        return _call(
            client,
            ctx,
            opened.trustees[index - 1].principal,
            "POST",
            f"/elections/{election}/partial-decryptions",
            json=body,
        )

    # Trustee 3's first upload carries trustee 1's factor for one sum: named, refused, and
    # nothing is appended.
    size = len(client.get(f"/elections/{election}/board").json()["entries"])
    wrong = copy.deepcopy(document(3))
    wrong["partials"][2]["partial"] = document(1)["partials"][2]["partial"]
    refused = upload(3, wrong)
    assert refused.status_code == 422, refused.text
    assert refused.json()["type"].endswith("/invalid-partial-decryption")
    assert "trustee 3" in refused.json()["detail"]
    assert inputs["sums"]["ciphertexts"][2]["label"] in refused.json()["detail"]
    assert len(client.get(f"/elections/{election}/board").json()["entries"]) == size

    # Trustee 1 decrypts; a second upload is refused; trustee 2 never comes.
    first = upload(1, document(1))
    assert first.status_code == 201, first.text
    assert first.json() == {
        "election": election,
        "trustee": 1,
        "partials": 1,
        "threshold": 2,
        "status": "decrypting",
    }
    assert upload(1, document(1)).status_code == 409
    second = upload(3, document(3))
    assert second.status_code == 201, second.text
    assert second.json()["status"] == "tallied"

    # Publish; the results are the clear choices' (last ballot per token).
    assert _call(client, ctx, OFFICER, "POST", f"/elections/{election}/publish").is_success
    results = client.get(f"/elections/{election}/results").json()
    assert results["publication"] == "encrypted"
    assert results["trustees"] == [1, 3]
    assert results["ballots"] == 4
    assert results["results"] == tally(questions, list(last.values()))
    page = client.get(f"/scrutins/{election}/resultats")
    assert page.status_code == 200
    assert "seulement ces totaux, par les garants numéros 1, 3." in page.text

    # The CLI exports the whole board: manifest … ballots, close, sums, partials, results.
    out = tmp_path / "board.json"
    exported = CliRunner().invoke(
        build_cli(),
        ["election", "export-board", election, "--out", str(out)],
        env={
            "PARVIS_MODE": "test",
            "PARVIS_DATABASE_URL": ctx.settings.database_url,
            "PARVIS_DATA_DIR": str(ctx.settings.data_dir),
        },
    )
    assert exported.exit_code == 0, exported.output
    kinds = [e.get("kind") for e in json.loads(out.read_text())["entries"]]
    assert kinds[-5:] == [
        "close",
        "tally-sums",
        "partial-decryption",
        "partial-decryption",
        "results",
    ]

    # The server's board and the verifier written from board-format.md §10 agree: the whole
    # export — ceremony, manifest, every proof, sums, partials, results — verifies, with
    # the board key pinned from the manifest the citizens saw.
    board = json.loads(out.read_text())
    report = verify_board(board, trusted_key=manifest["board"]["key"])
    assert report.checks
    # … and the same export with one partial decryption's trustee list changed does not.
    forged = copy.deepcopy(board)
    forged["entries"][-1]["trustees"] = [1, 2]
    with pytest.raises(BoardVerificationError):
        verify_board(forged)
