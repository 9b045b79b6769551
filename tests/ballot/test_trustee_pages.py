"""The key ceremony's staff pages (ballot/trustee_pages.py; docs/adr/0018-encrypted-elections.md,
"Who may upload what"), on SQLite and PostgreSQL: trustees see their elections, register
their key, upload their files; the officer starts the ceremony; a wrong file is explained on
the page and nothing is appended; other staff, other trustees and forms without the CSRF
token are refused."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from ballot import locale_staff_fr, trustee_pages
from ballot.ceremony_local import new_static_keys, run_ceremony
from ballot.service import service_from
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from parvis.kernel.i18n import catalog
from parvis.kernel.principal import Staff
from tests.ballot.elections import AGENT, OFFICER, setup_rule
from tests.ballot.encrypted import make_trustees, scheduled_encrypted_election
from tests.support.auth import sign_in

HOME = "/staff/garants"
#: The test client's response (Starlette's TestClient may wrap another httpx than ours).
Response = Any


def as_staff(client: TestClient, app: FastAPI, staff: Staff) -> str:
    client.cookies.clear()
    return sign_in(client, app, staff).csrf_token


def upload(client: TestClient, election: str, slug: str, csrf: str, document: object) -> Response:
    return client.post(
        f"{HOME}/{election}/{slug}",
        data={"csrf_token": csrf},
        files={"document": ("f.json", json.dumps(document).encode(), "application/json")},
        follow_redirects=False,
    )


def done(response: Response, election: str, notice: str) -> None:
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"{HOME}/{election}?fait={notice}"


def test_trustees_and_the_officer_run_the_ceremony_from_the_pages(
    app: FastAPI, client: TestClient, clock: FixedClock
) -> None:
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    election, trustees = scheduled_encrypted_election(ctx, clock, n=2, threshold=2)
    statics = new_static_keys(2)

    # A trustee's list and page, in French.
    csrf = as_staff(client, app, trustees[0].principal)
    listing = client.get(HOME)
    assert listing.status_code == 200
    assert f'data-election="{election}"' in listing.text
    assert "Cérémonies des clés" in listing.text
    page = client.get(f"{HOME}/{election}")
    assert 'data-step="keys"' in page.text
    assert "parvis-trustee keygen --election " + election in page.text
    refused = client.post(
        f"{HOME}/{election}/cle",
        data={"static_key": statics[0].public.encoded.hex()},
        follow_redirects=False,
    )
    assert refused.status_code == 403  # no CSRF token
    bad = client.post(
        f"{HOME}/{election}/cle",
        data={"csrf_token": csrf, "static_key": "00" * 32},
        follow_redirects=False,
    )
    assert bad.status_code == 422
    assert "static key is the 32-byte lowercase hex key" in bad.text
    for account, static in zip(trustees, statics, strict=True):
        csrf = as_staff(client, app, account.principal)
        sent = client.post(
            f"{HOME}/{election}/cle",
            data={"csrf_token": csrf, "static_key": static.public.encoded.hex()},
            follow_redirects=False,
        )
        done(sent, election, "cle")
    assert "Votre clé statique est enregistrée." in client.get(sent.headers["location"]).text

    # A trustee cannot start the ceremony; the officer can.
    assert client.post(f"{HOME}/{election}/demarrer", data={"csrf_token": csrf}).status_code == 403
    csrf = as_staff(client, app, OFFICER)
    officer_page = client.get(f"{HOME}/{election}")
    assert 'id="start"' in officer_page.text
    assert " disabled" not in officer_page.text.split('id="start"')[1][:20]
    done(
        client.post(
            f"{HOME}/{election}/demarrer", data={"csrf_token": csrf}, follow_redirects=False
        ),
        election,
        "demarre",
    )
    with ctx.db.read_session() as db:
        setup = service_from(ctx).setup_of(db, election)
    ceremony = run_ceremony(setup, statics)
    round1, signatures = ceremony.document["round1"], ceremony.document["signatures"]

    # Round 1: a wrong file is explained, nothing is appended; another's file is refused.
    csrf = as_staff(client, app, trustees[0].principal)
    page = client.get(f"{HOME}/{election}")
    assert f'href="/elections/{election}/ceremony/setup.json"' in page.text
    assert client.get(f"/elections/{election}/ceremony/setup.json").json() == setup
    wrong = {**round1[0], "signature": "00" * 64}
    refused = upload(client, election, "tour1", csrf, wrong)
    assert refused.status_code == 422
    assert "participant 1: the round-1 envelope signature does not verify" in refused.text
    refused = upload(client, election, "tour1", csrf, round1[1])
    assert refused.status_code == 422
    assert "only their own" in refused.text
    refused = client.post(
        f"{HOME}/{election}/tour1",
        data={"csrf_token": csrf},
        files={"document": ("f.json", b"not json", "application/json")},
        follow_redirects=False,
    )
    assert refused.status_code == 422
    assert "choose the JSON file" in refused.text
    with ctx.db.read_session() as db:
        assert service_from(ctx).ceremony_state(db, election)["trustees"][0]["round1"] is False
    done(upload(client, election, "tour1", csrf, round1[0]), election, "tour1")
    csrf = as_staff(client, app, trustees[1].principal)
    done(upload(client, election, "tour1", csrf, round1[1]), election, "tour1")

    # Signatures.
    page = client.get(f"{HOME}/{election}")
    assert 'data-step="signatures"' in page.text
    assert "round1s.json" in page.text
    done(upload(client, election, "signature", csrf, signatures[1]), election, "signature")
    csrf = as_staff(client, app, trustees[0].principal)
    done(upload(client, election, "signature", csrf, signatures[0]), election, "signature")
    page = client.get(f"{HOME}/{election}")
    assert 'data-step="complete"' in page.text
    assert "parvis-trustee check --ceremony ceremony.json" in page.text
    service_from(ctx).open(election_id=election, actor=OFFICER.audit_actor)


def test_other_staff_cannot_see_or_act(app: FastAPI, client: TestClient, clock: FixedClock) -> None:
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    election, _ = scheduled_encrypted_election(ctx, clock, n=2, threshold=1)
    outsider = make_trustees(ctx, 1)[0]
    csrf = as_staff(client, app, outsider.principal)
    assert f'data-election="{election}"' not in client.get(HOME).text
    page = client.get(f"{HOME}/{election}")
    assert page.status_code == 403
    key = new_static_keys(1)[0].public.encoded.hex()
    refused = client.post(
        f"{HOME}/{election}/cle",
        data={"csrf_token": csrf, "static_key": key},
        follow_redirects=False,
    )
    assert refused.status_code == 403
    as_staff(client, app, AGENT)
    assert client.get(HOME).status_code == 403
    client.cookies.clear()
    assert client.get(HOME, follow_redirects=False).status_code == 303  # to the sign-in page


def test_every_message_of_the_trustee_pages_has_a_french_text() -> None:
    """Messages chosen in Python are not seen by the template scan (tests/kernel/test_i18n.py)."""
    locale_staff_fr.register()
    french = catalog("fr")
    wanted = set(trustee_pages.NOTICES.values())
    source = Path(trustee_pages.__file__).read_text(encoding="utf-8")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "_refusal":
            wanted |= {
                a.value
                for a in node.args
                if isinstance(a, ast.Constant) and isinstance(a.value, str)
            }
        if isinstance(node, ast.IfExp):
            wanted |= {
                e.value
                for e in (node.body, node.orelse)
                if isinstance(e, ast.Constant) and isinstance(e.value, str)
            }
    assert len(wanted) > 8
    missing = sorted(m for m in wanted if m not in french)
    assert not missing, missing
