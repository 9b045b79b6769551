"""``parvis demo decrypt ID``: the demo trustees' part of an encrypted demo election's tally
(docs/board-format.md §10.4; docs/trustee-tool.md, "Decrypting the results").

The demo seeds its trustees' shares sealed under random passphrases in
``DATA_DIR/demo-trustees/`` (``share-N.sealed``, ``share-N.passphrase``: ballot/demo.py).
After the close this does, for the demo, what each trustee does with their own tool: the
election's sums go on the board if they are not yet (the tally), then trustee after trustee
runs ``parvis-trustee decrypt`` — the tool itself, :func:`ballot.trustee.main` — on the
published ``sums.json`` and ``context.json``, and its output is uploaded as any trustee's
would be (verified, then appended), until the threshold is reached and the results entry
completes the tally. Demo only: a real election's shares are never in one place.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from ballot.definition import Status
from ballot.demo import TRUSTEE_DIR
from ballot.errors import ElectionStateError
from ballot.service import service_from
from ballot.trustee import main as trustee_tool
from parvis.kernel.context import AppContext
from parvis.kernel.errors import InvalidInputError

__all__ = ["TRUSTEE_DIR", "decrypt_demo"]

ACTOR: Final = "system:demo"


def decrypt_demo(ctx: AppContext, election_id: str) -> Iterator[str]:
    """Tally a closed encrypted demo election with its demo trustees; one line per step."""
    service = service_from(ctx)
    with ctx.db.read_session() as session:
        row = service.get(session, election_id)
        status = Status(row.status)
        encrypted = service.definition(row).encrypted
    if not encrypted:
        raise ElectionStateError("this election is not encrypted: tally it as usual", status=status)
    if status is Status.CLOSED:
        outcome = service.tally(election_id=row.id, actor=ACTOR)
        yield f"ballot: sums of {outcome['ballots']} ballot(s) on the board"
        status = Status(outcome["status"])
    if status is not Status.DECRYPTING:
        raise ElectionStateError(
            "demo trustees decrypt a closed (or decrypting) encrypted election",
            status=status.value,
        )
    directory = Path(ctx.settings.data_dir) / TRUSTEE_DIR
    inputs = service.decryption_inputs(row.id)
    work = directory / f"tally-{row.id}"
    work.mkdir(mode=0o700, parents=True, exist_ok=True)
    sums, context = work / "sums.json", work / "context.json"
    sums.write_text(json.dumps(inputs["sums"]), encoding="utf-8")
    context.write_text(json.dumps(inputs["context"]), encoding="utf-8")
    for trustee in inputs["trustees"]:
        if trustee["decrypted"]:
            continue
        index = trustee["index"]
        share = directory / f"share-{index}.sealed"
        passphrase = directory / f"share-{index}.passphrase"
        if not share.exists() or not passphrase.exists():
            yield f"ballot: demo trustee {index} has no sealed share in {directory}: skipped"
            continue
        out = work / f"partials-{index}.json"
        said = io.StringIO()
        with contextlib.redirect_stdout(said), contextlib.redirect_stderr(said):
            code = trustee_tool(
                [
                    "--passphrase-file",
                    str(passphrase),
                    "decrypt",
                    "--share",
                    str(share),
                    "--ciphertexts",
                    str(sums),
                    "--context",
                    str(context),
                    "--out",
                    str(out),
                ]
            )
        if code != 0:
            raise InvalidInputError(
                f"demo trustee {index}: parvis-trustee decrypt failed: {said.getvalue().strip()}"
            )
        outcome = service.add_partial_decryption(
            election_id=row.id,
            document=json.loads(out.read_text(encoding="utf-8")),
            actor=ACTOR,
        )
        yield (
            f"ballot: demo trustee {index} ({trustee['label']}) decrypted "
            f"({outcome['partials']} of {outcome['threshold']} needed)"
        )
        if outcome["status"] == Status.TALLIED:
            yield f"ballot: election {row.id} tallied; publish it with parvis election publish"
            return
    raise ElectionStateError(
        "not enough demo trustees could decrypt: the election is still decrypting",
        status=Status.DECRYPTING.value,
    )
