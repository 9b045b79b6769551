"""The trustees' decryption from their staff page (ballot/trustee_pages.py,
``/staff/garants/{id}/dechiffrement``; docs/board-format.md §10.4), on SQLite and PostgreSQL:
once the sums are on the board the page offers ``sums.json`` and ``context.json`` and an
upload form; a wrong file is explained on the page and nothing is appended; another
trustee's file is refused; the threshold-th upload completes the tally."""

from __future__ import annotations

import json
import random
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from ballot.service import service_from
from ballot.simulation import random_choices
from ballot.tally import tally
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from tests.ballot.elections import OFFICER, setup_rule
from tests.ballot.encrypted import open_encrypted_election
from tests.ballot.test_encrypted_cli import _vote
from tests.ballot.test_trustee_pages import HOME, as_staff, done, upload
from tests.ballot.trustees import partials_document


def test_trustees_decrypt_from_their_page(
    app: FastAPI, client: TestClient, clock: FixedClock
) -> None:
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    opened = open_encrypted_election(ctx, clock, n=3, threshold=2)
    election = opened.election_id
    service = service_from(ctx)
    with ctx.db.read_session() as db:
        questions = service._manifest(db, election).questions
    rng = random.Random(1)
    clear = [random_choices(questions, rng) for _ in range(2)]
    for choices in clear:
        _vote(ctx, election, choices)
    service.close(election_id=election, actor=OFFICER.audit_actor, force=True)
    service.tally(election_id=election, actor=OFFICER.audit_actor)

    # The election's pages while it waits for the trustees: its status, in words.
    as_staff(client, app, OFFICER)
    staff_page = client.get(f"/staff/scrutins/{election}")
    assert staff_page.status_code == 200
    assert "en cours de déchiffrement" in staff_page.text
    client.cookies.clear()
    public_page = client.get(f"/scrutins/{election}")
    assert public_page.status_code == 200
    assert "en cours de déchiffrement" in public_page.text

    csrf = as_staff(client, app, opened.trustees[0].principal)
    page = client.get(f"{HOME}/{election}")
    assert page.status_code == 200
    assert "Déchiffrer les résultats" in page.text
    sums = client.get(f"/elections/{election}/decryption/sums.json").json()
    context = client.get(f"/elections/{election}/decryption/context.json").json()
    assert f'href="/elections/{election}/decryption/sums.json"' in page.text
    shares = {s.index: s for s in opened.ceremony.shares}

    def document(index: int) -> dict[str, Any]:
        share = shares[index]
        return partials_document(
            index=index,
            share=share.secret_share,
            static_key=share.static.public,
            sums=sums,
            context=context,
        )

    # Trustee 1 sends trustee 2's file: refused (403), nothing appended.
    other = upload(client, election, "dechiffrement", csrf, document(2))
    assert other.status_code == 403
    # A wrong file: explained on the page (422), nothing appended.
    wrong = document(1)
    wrong["partials"][0]["partial"] = document(2)["partials"][0]["partial"]
    refused = upload(client, election, "dechiffrement", csrf, wrong)
    assert refused.status_code == 422
    assert "trustee 1" in refused.text
    assert service.decryption_inputs(election)["trustees"][0]["decrypted"] is False

    done(upload(client, election, "dechiffrement", csrf, document(1)), election, "dechiffrement")
    assert 'id="decrypted"' in client.get(f"{HOME}/{election}").text
    csrf = as_staff(client, app, opened.trustees[2].principal)
    done(upload(client, election, "dechiffrement", csrf, document(3)), election, "dechiffrement")
    assert "Les résultats sont déchiffrés." in client.get(f"{HOME}/{election}").text

    service.publish(election_id=election, actor=OFFICER.audit_actor)
    with ctx.db.read_session() as db:
        results = service.results(db, election)
    assert results["trustees"] == [1, 3]
    assert results["results"] == tally(questions, clear)
    assert json.loads(json.dumps(results))["publication"] == "encrypted"
