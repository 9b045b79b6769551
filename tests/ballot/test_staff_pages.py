"""Staff election pages through HTTP (ADR 0006, "Definitions, platforms, CLI";
ballot/staff_pages.py), on SQLite and PostgreSQL: an officer creates a draft from an uploaded file,
sees precise errors for bad definitions (and nothing is written), edits the draft, walks the
lifecycle with a confirmation step; an agent marks a paper voter and is refused for a citizen who
holds a token; the officer enters paper totals that the results show separately. Wrong role and a
missing CSRF token are 403 pages; nothing of the ballots shows while the election is open.

Everything is real: the application, the session store, identity's citizens, the audit log.
"""

from __future__ import annotations

import ast
import html
import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient

import audit
from ballot import locale_staff_fr, staff_pages
from ballot.batches import next_boundary
from ballot.definition import parse_definition
from ballot.service import service_from
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from parvis.kernel.i18n import catalog
from parvis.kernel.principal import Citizen, Role, Staff
from tests.ballot.elections import (
    AGENT,
    GOOD_CHOICES,
    OFFICER,
    UNIQUE_OPTION,
    Voter,
    definition,
    later,
    make_citizen,
    open_election,
    session_cookie,
    setup_rule,
    voters,
)
from tests.support.auth import sign_in

#: The test client's responses (Starlette's client wraps its own httpx build).
Response = Any
HOME = "/staff/scrutins"
LIFECYCLE = [
    "ballot.election.created",
    "ballot.election.scheduled",
    "ballot.election.opened",
    "ballot.election.closed",
    "ballot.election.tallied",
    "ballot.election.published",
]


def as_staff(client: TestClient, app: FastAPI, staff: Staff) -> str:
    """Sign ``staff`` in (the client's cookie jar) and return the session's CSRF token."""
    return sign_in(client, app, staff).csrf_token


def status_of(ctx: AppContext, election_id: str) -> str:
    service = service_from(ctx)
    with ctx.db.read_session() as db:
        return service.get(db, election_id, drafts=True).status


def audited(ctx: AppContext, actor: str, prefix: str = "ballot.") -> list[str]:
    with ctx.db.read_session() as db:
        return [
            e.event_type
            for e in audit.service_from(ctx).query(db, actor=actor, limit=100)
            if e.event_type.startswith(prefix)
        ]


def new_election_id(response: Response) -> str:
    assert response.status_code == 303, response.text
    match = re.fullmatch(rf"{HOME}/([0-9a-f-]{{36}})\?fait=cree", response.headers["location"])
    assert match, response.headers["location"]
    return match.group(1)


def step(client: TestClient, election_id: str, slug: str, csrf: str, **form: str) -> Response:
    return client.post(
        f"{HOME}/{election_id}/{slug}",
        data={"csrf_token": csrf, **form},
        follow_redirects=False,
    )


def text_of(html: str) -> str:
    """The page's text without tags (French typography included)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_officer_creates_from_a_file_and_walks_the_lifecycle(
    app: FastAPI, client: TestClient, clock: FixedClock
) -> None:
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    csrf = as_staff(client, app, OFFICER)
    form = client.get(f"{HOME}/nouveau")
    assert form.status_code == 200
    assert 'enctype="multipart/form-data"' in form.text
    assert "Nouveau scrutin" in form.text  # French by default

    data = definition(clock, paper=False)
    upload = yaml.safe_dump(data, allow_unicode=True).encode()
    created = client.post(
        f"{HOME}/nouveau",
        data={"csrf_token": csrf, "definition": ""},
        files={"definition_file": ("budget.yaml", upload, "application/yaml")},
        follow_redirects=False,
    )
    election = new_election_id(created)
    assert election == data["id"]
    page = client.get(created.headers["location"])
    assert page.status_code == 200
    assert "Le brouillon du scrutin est enregistré." in page.text
    assert 'data-status="draft"' in page.text
    assert 'id="step-programmer"' in page.text
    listing = client.get(HOME)
    assert f'data-election="{election}"' in listing.text
    assert "Budget participatif 2026" in listing.text

    # Each step: the first POST only asks for confirmation; nothing changes until confirmed.
    for slug, expected in [
        ("programmer", "scheduled"),
        ("ouvrir", "open"),
        ("clore", "closed"),
        ("depouiller", "tallied"),
        ("publier", "published"),
    ]:
        before = status_of(ctx, election)
        asked = step(client, election, slug, csrf)
        assert asked.status_code == 200, asked.text
        assert "Confirmer cette étape" in asked.text
        assert 'name="confirm" value="yes"' in asked.text
        assert status_of(ctx, election) == before
        if slug == "clore":
            # Before the closing time, closing needs the explicit forced close, as in the API.
            assert 'name="force"' in asked.text
            early = step(client, election, slug, csrf, confirm="yes")
            assert early.status_code == 409
            assert "Le scrutin a refusé cette étape" in early.text
            assert "closing earlier needs force" in early.text
            assert status_of(ctx, election) == "open"
            done = step(client, election, slug, csrf, confirm="yes", force="true")
        else:
            done = step(client, election, slug, csrf, confirm="yes")
        assert done.status_code == 303, done.text
        assert done.headers["location"] == f"{HOME}/{election}?fait={slug}"
        assert status_of(ctx, election) == expected
        # A step out of order is refused with the reason, never a 500.
        again = step(client, election, slug, csrf, confirm="yes")
        assert again.status_code == 409, again.text

    page = client.get(f"{HOME}/{election}")
    assert 'data-status="published"' in page.text
    assert f'href="/scrutins/{election}/resultats"' in page.text
    assert f'href="/elections/{election}/checkpoint"' in page.text
    assert f"parvis verify-board {ctx.settings.public_url}/elections/{election}/board" in page.text
    assert client.get(f"/scrutins/{election}/resultats").status_code == 200
    # The public election page links the results; no voting right is offered once closed.
    public = client.get(f"/scrutins/{election}")
    assert public.status_code == 200
    assert f'href="/scrutins/{election}/resultats"' in public.text
    assert 'id="get-right"' not in public.text
    assert "election.js" not in public.text
    # The same audited steps as through the JSON API, with the officer as actor.
    assert [e for e in audited(ctx, OFFICER.audit_actor) if e in LIFECYCLE] == LIFECYCLE
    # Server-rendered: no page or form of these needs a script.
    for path in (HOME, f"{HOME}/{election}", f"{HOME}/nouveau"):
        assert "<script" not in client.get(path).text
    english = client.get(f"{HOME}/{election}?lang=en")
    assert "Public pages and verification" in english.text


def test_bad_definitions_are_explained_on_the_form_and_nothing_is_written(
    app: FastAPI, client: TestClient, clock: FixedClock
) -> None:
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    csrf = as_staff(client, app, OFFICER)

    def create(text: str = "", file: bytes | None = None) -> Response:
        files = {"definition_file": ("d.yaml", file, "application/yaml")} if file else None
        return client.post(
            f"{HOME}/nouveau",
            data={"csrf_token": csrf, "definition": text},
            files=files,
            follow_redirects=False,
        )

    good = definition(clock)
    backwards = {**good, "closes_at": good["opens_at"]}
    # Every reason in French (the member's name stays as written in the file).
    cases: list[tuple[Response, str]] = [
        (create("title: [unclosed"), "ni YAML ni JSON (ligne "),
        (create(""), "la définition est vide"),
        (create("- a list"), "une définition de scrutin est un objet JSON ou YAML"),
        (create(yaml.safe_dump(backwards)), "closes_at : doit être après l’ouverture"),
        (
            create(yaml.safe_dump({**good, "colour": "red"})),
            "membre(s) inconnu(s) : colour",
        ),
        (create(file=b"title: \xff\xfe"), "la définition n’est pas un texte UTF-8"),
        (create("a: &x [1]\nb: *x\n"), "les ancres (&amp;nom) ne sont pas acceptées"),
        (create("b: *x\n"), "les alias (*nom) ne sont pas acceptés (ligne 1, colonne 4)"),
        (
            create("x" * (staff_pages.MAX_DEFINITION_BYTES + 1)),
            f"la définition dépasse {staff_pages.MAX_DEFINITION_BYTES} octets",
        ),
    ]
    for response, detail in cases:
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("text/html")
        assert "La définition n’est pas valide ; rien n’a été enregistré" in response.text
        assert detail in response.text, (detail, text_of(response.text)[:600])
    # The text the officer typed comes back in the form, to be corrected.
    assert "closes_at" in cases[3][0].text
    with ctx.db.read_session() as db:
        assert service_from(ctx).elections(db, drafts=True) == []
    assert "ballot.election.created" not in audited(ctx, OFFICER.audit_actor)

    # Edit: the form shows the stored definition as YAML that reads back the same.
    election = new_election_id(create(yaml.safe_dump(good)))
    again = create(yaml.safe_dump(good))
    assert again.status_code == 422
    assert "un scrutin avec cet identifiant existe déjà" in again.text
    edit = client.get(f"{HOME}/{election}/modifier")
    assert edit.status_code == 200
    shown = re.search(r'<textarea id="definition"[^>]*>(.*?)</textarea>', edit.text, re.S)
    assert shown is not None
    reread = parse_definition(yaml.safe_load(html.unescape(shown.group(1))))
    assert reread.to_json() == parse_definition(good).to_json()

    def update(text: str) -> Response:
        return client.post(
            f"{HOME}/{election}/modifier",
            data={"csrf_token": csrf, "definition": text},
            follow_redirects=False,
        )

    bad = update(yaml.safe_dump({**good, "min_anonymity_set": 0}))
    assert bad.status_code == 422
    assert "min_anonymity_set : un nombre entier de 1 à 100000000" in bad.text
    other_id = update(yaml.safe_dump({**good, "id": "0c6d1c1e-8a5b-4bd4-9f57-0a3b7f3c2d11"}))
    assert other_id.status_code == 422
    assert "id : un scrutin garde son identifiant" in other_id.text
    service = service_from(ctx)
    with ctx.db.read_session() as db:
        assert service.definition(service.get(db, election, drafts=True)).min_anonymity_set == 1
    renamed = update(yaml.safe_dump({**good, "title": {"fr": "Consultation du parc"}}))
    assert renamed.status_code == 303
    assert renamed.headers["location"] == f"{HOME}/{election}?fait=modifie"
    assert "Consultation du parc" in client.get(f"{HOME}/{election}").text

    # Once scheduled, the definition is frozen: the edit page and the update say so.
    assert step(client, election, "programmer", csrf, confirm="yes").status_code == 303
    frozen = client.get(f"{HOME}/{election}/modifier")
    assert frozen.status_code == 409
    assert "Seul un brouillon peut être modifié." in frozen.text
    late = update(yaml.safe_dump(good))
    assert late.status_code == 409
    assert "Seul un brouillon peut être modifié." in late.text


def test_wrong_role_missing_csrf_and_no_session_are_refused(
    app: FastAPI, client: TestClient, clock: FixedClock
) -> None:
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    with ctx.db.write_session() as db:
        election = service_from(ctx).create(db, data=definition(clock), actor="staff:t").id

    # Nobody signed in (or a citizen): to the staff sign-in page, coming back here after.
    for path in (HOME, f"{HOME}/{election}", f"{HOME}/nouveau"):
        away = client.get(path, follow_redirects=False)
        assert away.status_code == 303
        assert away.headers["location"].startswith("/staff/login?next=")
    sign_in(client, app, Citizen(make_citizen(ctx)))
    posted = client.post(f"{HOME}/{election}/programmer", data={}, follow_redirects=False)
    assert posted.status_code == 303
    assert posted.headers["location"] == f"/staff/login?next=%2Fstaff%2Fscrutins%2F{election}"

    # An agent is not an election officer (and an admin is neither), exactly as in the API.
    agent_csrf = as_staff(client, app, AGENT)
    for response in (
        client.get(f"{HOME}/nouveau"),
        client.get(f"{HOME}/{election}/modifier"),
        client.get(f"{HOME}/{election}/programmer"),
        step(client, election, "programmer", agent_csrf, confirm="yes"),
        client.post(f"{HOME}/nouveau", data={"csrf_token": agent_csrf, "definition": "title: x"}),
    ):
        assert response.status_code == 403, response.text
        assert response.headers["content-type"].startswith("text/html")
        assert "Cette action demande le rôle de responsable des scrutins." in response.text
    assert status_of(ctx, election) == "draft"
    # Drafts are for election officers only, as in GET /elections.
    assert election not in client.get(HOME).text
    as_staff(client, app, Staff("admin-1", frozenset({Role.ADMIN})))
    admin = client.get(HOME)
    assert admin.status_code == 403
    assert "réservées aux responsables des scrutins et aux agents" in admin.text

    # An officer's form without the session's CSRF token: 403 page, nothing written.
    csrf = as_staff(client, app, OFFICER)
    for response in (
        step(client, election, "programmer", "", confirm="yes"),
        step(client, election, "programmer", csrf[:-1] + "x", confirm="yes"),
        client.post(f"{HOME}/nouveau", data={"definition": yaml.safe_dump(definition(clock))}),
    ):
        assert response.status_code == 403
        assert "Formulaire expiré ou falsifié" in response.text
    assert status_of(ctx, election) == "draft"
    with ctx.db.read_session() as db:
        assert len(service_from(ctx).elections(db, drafts=True)) == 1

    unknown = client.get(f"{HOME}/00000000-0000-4000-8000-000000000000")
    assert unknown.status_code == 404
    assert "Scrutin introuvable" in unknown.text
    assert client.get(f"{HOME}/{election}/recompter").status_code == 404
    assert csrf


def test_agent_marks_paper_voters_and_officer_enters_paper_totals(
    app: FastAPI, client: TestClient, clock: FixedClock
) -> None:
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    election = open_election(ctx, clock, paper=True)
    online, on_paper = voters(ctx, client, election, 2)
    online.obtain_right()
    pseudonym = _pseudonym(ctx, on_paper)

    csrf = as_staff(client, app, AGENT)
    page = client.get(f"{HOME}/{election}")
    assert page.status_code == 200
    assert 'action="/staff/scrutins/' + election + '/vote-papier"' in page.text
    assert 'id="step-' not in page.text  # no lifecycle for an agent

    def mark(citizen: str, token: str = csrf) -> Response:
        return client.post(
            f"{HOME}/{election}/vote-papier",
            data={"csrf_token": token, "citizen": citizen},
            follow_redirects=False,
        )

    done = mark(pseudonym)
    assert done.status_code == 303
    shown = client.get(done.headers["location"])
    assert "Le vote papier est enregistré" in shown.text
    assert re.search(r'id="paper-marked">1<', shown.text)
    twice = mark(pseudonym)
    assert twice.status_code == 409
    assert "Un vote papier est déjà enregistré pour cette personne" in twice.text
    with_token = mark(_pseudonym(ctx, online))
    assert with_token.status_code == 409
    assert "Refusé : un jeton de vote a déjà été délivré à cette personne" in with_token.text
    nobody = mark("no-such-citizen")
    assert nobody.status_code == 404
    assert "Aucune personne n’a cet identifiant" in nobody.text
    assert mark("").status_code == 422
    too_long = mark("x" * 300)  # explained on the page, not a JSON validation error
    assert too_long.status_code == 422
    assert "Indiquez l’identifiant de la personne (1 à 64 caractères)." in too_long.text
    assert mark(pseudonym, token="").status_code == 403
    # The paper voter gets no token now (the API's own refusal).
    refused = on_paper.request_token(b"\x01" * 256)
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("/paper-vote-recorded")
    assert audited(ctx, AGENT.audit_actor, "ballot.paper_vote") == ["ballot.paper_vote.marked"]

    online.vote(GOOD_CHOICES)
    later(clock)
    csrf = as_staff(client, app, OFFICER)
    # An officer is not an agent: no paper-voter form, and a forged post is refused.
    page = client.get(f"{HOME}/{election}")
    assert "/vote-papier" not in page.text
    assert mark(pseudonym, token=csrf).status_code == 403
    assert step(client, election, "clore", csrf, confirm="yes").status_code == 303

    # Tallying before the paper totals is refused with the service's reason.
    early = step(client, election, "depouiller", csrf, confirm="yes")
    assert early.status_code == 409
    assert "enter the paper totals first" in early.text
    totals = client.get(f"{HOME}/{election}")
    assert 'name="count.parc.tilleuls"' in totals.text
    assert re.search(r'id="voters" [^>]*value="1"', totals.text)  # the marks, as a start

    def enter(**counts: str) -> Response:
        return client.post(
            f"{HOME}/{election}/totaux-papier",
            data={"csrf_token": csrf, **counts},
            follow_redirects=False,
        )

    bad = enter(voters="1", **{"count.parc.tilleuls": "un"})
    assert bad.status_code == 422
    assert "Chaque nombre est un entier positif ou nul" in bad.text
    assert "Nom du parc — Les Tilleuls" in bad.text
    assert enter(voters="1", **{"count.parc.tilleuls": "1"}, csrf_token="").status_code == 403
    saved = enter(voters="1", **{"count.parc.tilleuls": "1", "count.budget.bancs": "1"})
    assert saved.status_code == 303
    assert re.search(r'id="paper-voters">1<', client.get(f"{HOME}/{election}").text)
    assert step(client, election, "depouiller", csrf, confirm="yes").status_code == 303
    late = enter(voters="2")
    assert late.status_code == 409
    assert "paper totals are entered after the close and before the tally" in late.text
    assert step(client, election, "publier", csrf, confirm="yes").status_code == 303

    results = client.get(f"/elections/{election}/results").json()
    assert results["paper"]["voters"] == 1
    assert results["paper"]["counts"]["parc"]["tilleuls"] == 1
    assert results["results"]["questions"]["parc"]["counts"]["tilleuls"] == 0  # online only
    assert "Bulletins papier (comptés à part)" in client.get(f"/scrutins/{election}/resultats").text
    assert "ballot.paper_totals.entered" in audited(ctx, OFFICER.audit_actor)


def test_nothing_of_the_ballots_shows_while_open(
    app: FastAPI, client: TestClient, clock: FixedClock
) -> None:
    """voting-protocol.md, "Fairness": the staff pages show the number of ballots, never
    what they say — the unusual option appears as often after everyone chose it as before."""
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    election = open_election(ctx, clock)
    cookies = {
        "officer": session_cookie(ctx, OFFICER),
        "agent": session_cookie(ctx, AGENT),
    }
    paths = [HOME, f"{HOME}/{election}", f"{HOME}/{election}/clore"]

    def snapshot() -> dict[str, str]:
        out = {}
        for who, (name, value) in cookies.items():
            for path in paths:
                response = client.get(path, headers={"Cookie": f"{name}={value}"})
                assert response.status_code == (403 if who == "agent" and "clore" in path else 200)
                out[f"{who} {path}"] = response.text
        return out

    before = snapshot()
    people: list[Voter] = list(voters(ctx, client, election, 3))
    codes = []
    for voter in people:
        voter.obtain_right()
        codes.append(voter.vote({"parc": UNIQUE_OPTION, "budget": ["fresque"]})["tracking_code"])
    waiting = snapshot()
    officer_page = waiting[f"officer {HOME}/{election}"]
    assert re.search(r'id="ballots">0<', officer_page)
    # ADR 0009: the officer sees the board's counts and when the next batch goes on it, never
    # how many ballots wait: between two boundaries no staff page moves at all.
    assert waiting == before
    assert "Bulletins sur le tableau d’affichage" in officer_page
    boundary = next_boundary(clock.now(), 600).astimezone(ZoneInfo("Europe/Paris"))
    assert f'datetime="{boundary.isoformat()}">{boundary:%H:%M}</time>' in officer_page
    assert service_from(ctx).integrate_batches(force=True) == 3  # the boundary passes
    after = snapshot()
    for key, page in after.items():
        assert page.count(UNIQUE_OPTION) == before[key].count(UNIQUE_OPTION), key
        assert page.count("fresque") == before[key].count("fresque"), key
        assert "choices" not in page
        assert not any(code in page for code in codes)
    assert re.search(r'id="ballots">3<', after[f"officer {HOME}/{election}"])
    assert re.search(r'id="ballots">0<', before[f"officer {HOME}/{election}"])


def test_every_message_of_the_staff_pages_has_a_french_text() -> None:
    """Messages chosen in Python (steps, notices, refusals) are not seen by the template
    scan of tests/kernel/test_i18n.py: each must be in the French catalogue."""
    locale_staff_fr.register()
    french = catalog("fr")
    wanted = {m for s in staff_pages.STEPS.values() for m in (s.label, s.warning, s.done)}
    wanted |= set(staff_pages.NOTICES.values())
    source = Path(staff_pages.__file__).read_text(encoding="utf-8")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") in {
            "_refusal",
            "_election_page",
        }:
            wanted |= {
                a.value
                for a in node.args
                if isinstance(a, ast.Constant) and isinstance(a.value, str)
            }
        if isinstance(node, ast.Return) and isinstance(node.value, ast.Tuple):
            wanted |= {
                e.value
                for e in node.value.elts
                if isinstance(e, ast.Constant) and isinstance(e.value, str)
            }
        if isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values, strict=True):
                if (
                    isinstance(k, ast.Constant)
                    and k.value in {"paper_error", "error_message", "totals_error"}
                    and isinstance(v, ast.Constant)
                    and isinstance(v.value, str)
                ):
                    wanted.add(v.value)
    assert len(wanted) > 30
    missing = sorted(m for m in wanted if m not in french)
    assert not missing, missing


def _pseudonym(ctx: AppContext, voter: Voter) -> str:
    with ctx.db.read_session() as db:
        loaded = ctx.sessions.load(db, voter.cookie[1])
    assert loaded is not None
    assert isinstance(loaded.principal, Citizen)
    return loaded.principal.pseudonym


def test_the_desk_lists_the_elections_agents_work_on(
    app: FastAPI, client: TestClient, clock: FixedClock
) -> None:
    """The town hall desk lists the scheduled, open and closed elections with a link to
    each one's staff page (where paper voters are recorded); never a draft."""
    ctx: AppContext = app.state.ctx
    setup_rule(ctx, paper_votes=True)
    name, value = session_cookie(ctx, AGENT)
    empty = client.get("/staff/guichet", headers={"Cookie": f"{name}={value}"})
    assert empty.status_code == 200
    assert 'id="no-elections"' in empty.text
    election = open_election(ctx, clock, paper=True)
    with ctx.db.write_session() as db:
        draft = (
            service_from(ctx)
            .create(db, data=definition(clock, paper=True), actor=OFFICER.audit_actor)
            .id
        )
    desk = client.get("/staff/guichet", headers={"Cookie": f"{name}={value}"})
    assert desk.status_code == 200
    assert f'<a href="{HOME}/{election}">' in desk.text
    assert "ouvert · votes papier enregistrés sur la page du scrutin" in desk.text
    assert draft not in desk.text
    assert 'id="no-elections"' not in desk.text


def test_the_officer_page_shows_amounts_in_euros_and_types_in_words(
    app: FastAPI, client: TestClient, clock: FixedClock
) -> None:
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    election = open_election(ctx, clock)
    name, value = session_cookie(ctx, OFFICER)
    page = client.get(f"{HOME}/{election}", headers={"Cookie": f"{name}={value}"}).text
    assert '<span class="envelope">1\u202f000\u00a0€</span>' in page
    assert '<span class="cost">400\u00a0€</span>' in page
    assert "(Budget participatif (coûts et enveloppe))" in page
    assert "(budget)" not in page
