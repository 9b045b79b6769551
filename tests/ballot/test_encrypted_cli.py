"""An encrypted election's tally from the command line, with the real trustee tool
(docs/board-format.md §10.4; docs/trustee-tool.md, "Decrypting the results"):
``parvis election tally`` puts the sums on the board, ``parvis election sums`` writes the
files the trustees read, two of three trustees run ``parvis-trustee decrypt`` on their
sealed shares, ``parvis election partial`` appends each output (a wrong or repeated one is
refused in one line, nothing appended), and the results — published, exported — equal the
clear choices. Both databases."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

from ballot.client import obtain_voting_right
from ballot.encrypted_ballot import encrypt_ballot
from ballot.encrypted_tally import Encryption
from ballot.service import service_from
from ballot.simulation import random_choices
from ballot.tally import tally
from ballot.trustee_file import seal, write_atomic
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from tests.ballot.elections import make_citizen, setup_rule
from tests.ballot.encrypted import open_encrypted_election
from tests.ballot.test_cli_and_server import context, one_line_error, run
from tests.support.server import REPO

PASSPHRASE = "correct horse battery staple"


def _vote(ctx: AppContext, election: str, choices: dict[str, Any]) -> None:
    """A citizen's journey without HTTP (the HTTP path has its own tests): token, then an
    encrypted ballot through the service and the committer."""
    service = service_from(ctx)
    citizen = make_citizen(ctx)
    with ctx.db.read_session() as db:
        manifest = service._manifest(db, election)
    encryption = Encryption.of_manifest(manifest.to_json())
    assert encryption is not None
    right = obtain_voting_right(
        manifest.public_key(),
        election_id=manifest.election_id,
        committed_key_id=manifest.issuer_key_id,
        transport=lambda blinded: service.issue_token(
            election_id=election, citizen=citizen, blinded_msg=blinded
        ),
    )
    wire = encrypt_ballot(
        manifest.questions,
        key=encryption.joint_key,
        context=encryption.ballot_context(right.voter_key),
        choices=choices,
    ).to_json()
    _right, request = right.cast(wire, encrypted=True)
    service.committer.cast(election, service.prepare_cast(election, request.to_json()))


def _decrypt(tmp_path: Path, secret: dict[str, Any], sums: Path) -> Path:
    """Trustee ``index`` runs ``parvis-trustee decrypt`` on its sealed share."""
    index = secret["index"]
    share = tmp_path / f"share-{index}.sealed"
    write_atomic(share, seal(secret, PASSPHRASE))
    phrase = tmp_path / f"passphrase-{index}"
    phrase.write_text(PASSPHRASE + "\n", encoding="utf-8")
    out = tmp_path / f"partials-{index}.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ballot.trustee",
            "--passphrase-file",
            str(phrase),
            "decrypt",
            "--share",
            str(share),
            "--ciphertexts",
            str(sums / "sums.json"),
            "--context",
            str(sums / "context.json"),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return out


def test_tally_with_two_of_three_trustees_from_the_command_line(
    database_url: str, tmp_path: Path
) -> None:
    env = {
        "PARVIS_MODE": "test",
        "PARVIS_DATABASE_URL": database_url,
        "PARVIS_DATA_DIR": str(tmp_path / "var"),
    }
    ctx = context(env)
    try:
        setup_rule(ctx)
        opened = open_encrypted_election(
            ctx, FixedClock(), opens_at="2020-01-01T00:00:00Z", closes_at="2099-01-01T00:00:00Z"
        )
        election = opened.election_id
        with ctx.db.read_session() as db:
            questions = service_from(ctx)._manifest(db, election).questions
        rng = random.Random(4)
        clear = [random_choices(questions, rng) for _ in range(3)]
        for choices in clear:
            _vote(ctx, election, choices)
    finally:
        ctx.db.dispose()

    assert run(["election", "close", election, "--force"], env).exit_code == 0
    tallied = run(["election", "tally", election], env)
    assert tallied.exit_code == 0, tallied.output
    assert f"election {election}: decrypting" in tallied.output
    assert "ballots counted: 3" in tallied.output
    sums = tmp_path / "sums"
    written = run(["election", "sums", election, "--out", str(sums)], env)
    assert written.exit_code == 0, written.output
    assert "0 of the 2 partial decryptions needed" in written.output

    # Trustees 2 and 3 decrypt; trustee 1 never does.
    second = _decrypt(tmp_path, opened.ceremony.share_secret(2), sums)
    third = _decrypt(tmp_path, opened.ceremony.share_secret(3), sums)
    wrong = tmp_path / "wrong.json"
    document = json.loads(third.read_text())
    document["partials"][0]["partial"] = json.loads(second.read_text())["partials"][0]["partial"]
    wrong.write_text(json.dumps(document))
    error = one_line_error(run(["election", "partial", election, str(wrong)], env))
    assert "trustee 3" in error
    assert document["partials"][0]["label"] in error

    appended = run(["election", "partial", election, str(second)], env)
    assert appended.exit_code == 0, appended.output
    assert "trustee 2's partial decryption is on the board (1 of 2 needed)" in appended.output
    assert "already on the board" in one_line_error(
        run(["election", "partial", election, str(second)], env)
    )
    completed = run(["election", "partial", election, str(third)], env)
    assert completed.exit_code == 0, completed.output
    assert f"election {election}: tallied" in completed.output

    assert run(["election", "publish", election], env).exit_code == 0
    out = tmp_path / "board.json"
    assert run(["election", "export-board", election, "--out", str(out)], env).exit_code == 0
    entries = json.loads(out.read_text())["entries"]
    kinds = [e.get("kind") for e in entries]
    # The wrong upload left nothing: one partial per trustee that decrypted.
    assert kinds.count("partial-decryption") == 2
    results = entries[-1]
    assert results["kind"] == "results"
    assert results["publication"] == "encrypted"
    assert results["trustees"] == [2, 3]
    assert results["results"] == tally(questions, clear)
    # Each partial on the board is the trustee's file, member for member.
    on_board = [e["partials"] for e in entries if e.get("kind") == "partial-decryption"]
    assert on_board == [json.loads(second.read_text()), json.loads(third.read_text())]
