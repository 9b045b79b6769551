"""The staff election form through HTTP (ballot/election_form.py, ballot/staff_pages.py;
ADR 0006, "Definitions, platforms, CLI"), on SQLite and PostgreSQL: an officer builds an
election of the five question types with the form's buttons (no script), saves it, finds
every field filled in on the edit page and changes it; each mistake is explained in French
next to its field (several at once when they can be), and nothing is written meanwhile.

Everything is real: the application, the session store, identity's rules, the parser.
"""

from __future__ import annotations

import html
import re
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from ballot.service import service_from
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from tests.ballot.elections import OFFICER, RULE, setup_rule
from tests.support.auth import sign_in

HOME = "/staff/scrutins"
Response = Any


def base_fields() -> dict[str, str]:
    """What an officer types for a participatory budget with one question of each type
    (dates in Paris time: winter UTC+1, summer UTC+2)."""
    fields = {
        "form": "fields",
        "title.fr": "Budget participatif 2026",
        "title.en": "Participatory budget 2026",
        "opens_at": "2026-02-01T09:00",
        "closes_at": "2026-07-01T20:00",
        "eligibility.rule": RULE,
        "revote": "yes",
        "min_anonymity_set": "10",
        "batch_minutes": "15",
        "mode": "public",
        "threshold": "",
    }
    questions: list[dict[str, Any]] = [
        {"type": "single", "title": "Nom du parc", "options": ["Les Tilleuls", "Parc de la Gare"]},
        {
            "type": "approval",
            "title": "Quartiers",
            "min": "1",
            "max": "2",
            "options": ["Nord", "Sud", "Est"],
        },
        {
            "type": "budget",
            "id": "budget",
            "title": "Projets",
            "envelope": "1 000",
            "max_count": "2",
            "options": [("jardin", "Jardin partagé", "400"), ("velos", "Abri vélos", "300")],
        },
        {
            "type": "majority_judgment",
            "title": "Évaluez",
            "grades": "Très bien\r\nBien\r\nPassable",
            "options": ["Piscine", "Stade"],
        },
        {"type": "ranked", "title": "Classez", "min": "1", "max": "2", "options": ["A", "B", "C"]},
    ]
    for i, q in enumerate(questions):
        at = f"questions[{i}]"
        fields[f"{at}.type"] = q["type"]
        fields[f"{at}.title.fr"] = q["title"]
        fields[f"{at}.title.en"] = ""
        fields[f"{at}.id"] = q.get("id", "")
        for member in ("min", "max", "envelope", "max_count", "grades"):
            if member in q:
                fields[f"{at}.{member}"] = q[member]
        for j, option in enumerate(q["options"]):
            oid, title, cost = option if isinstance(option, tuple) else ("", option, None)
            fields[f"{at}.options[{j}].id"] = oid
            fields[f"{at}.options[{j}].title.fr"] = title
            fields[f"{at}.options[{j}].title.en"] = ""
            if cost is not None:
                fields[f"{at}.options[{j}].cost"] = cost
    return fields


EXPECTED_QUESTIONS = [
    {
        "id": "q1",
        "type": "single",
        "title": {"fr": "Nom du parc"},
        "options": [
            {"id": "o1", "title": {"fr": "Les Tilleuls"}},
            {"id": "o2", "title": {"fr": "Parc de la Gare"}},
        ],
    },
    {
        "id": "q2",
        "type": "approval",
        "title": {"fr": "Quartiers"},
        "options": [
            {"id": f"o{n}", "title": {"fr": t}} for n, t in ((1, "Nord"), (2, "Sud"), (3, "Est"))
        ],
        "min": 1,
        "max": 2,
    },
    {
        "id": "budget",
        "type": "budget",
        "title": {"fr": "Projets"},
        "options": [
            {"id": "jardin", "title": {"fr": "Jardin partagé"}, "cost": 400},
            {"id": "velos", "title": {"fr": "Abri vélos"}, "cost": 300},
        ],
        "envelope": 1000,
        "max_count": 2,
    },
    {
        "id": "q4",
        "type": "majority_judgment",
        "title": {"fr": "Évaluez"},
        "options": [
            {"id": "o1", "title": {"fr": "Piscine"}},
            {"id": "o2", "title": {"fr": "Stade"}},
        ],
        "grades": ["Très bien", "Bien", "Passable"],
    },
    {
        "id": "q5",
        "type": "ranked",
        "title": {"fr": "Classez"},
        "options": [{"id": f"o{n}", "title": {"fr": t}} for n, t in ((1, "A"), (2, "B"), (3, "C"))],
        "min": 1,
        "max": 2,
    },
]


def field_id(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_-]+", "-", name).strip("-")


def post(
    client: TestClient, path: str, csrf: str, fields: dict[str, str], **extra: str
) -> Response:
    return client.post(path, data={"csrf_token": csrf, **fields, **extra}, follow_redirects=False)


def stored(ctx: AppContext) -> list[dict[str, Any]]:
    service = service_from(ctx)
    with ctx.db.read_session() as db:
        return [service.definition(row).to_json() for row in service.elections(db, drafts=True)]


def error_next_to(page: str, name: str) -> str:
    """The error shown next to field ``name``: its own paragraph, inside the field's block,
    announced by the input (``aria-describedby``) and marked invalid (``aria-invalid``)."""
    fid = field_id(name)
    error = re.search(
        rf'<p class="error field-error" id="{re.escape(fid)}-error">(.*?)</p>', page, re.S
    )
    assert error is not None, f"no error next to {name}"
    control = re.search(rf'<(?:input|select|textarea) id="{re.escape(fid)}"[^>]*>', page)
    assert control is not None, f"no input {name}"
    assert 'aria-invalid="true"' in control.group(0), control.group(0)
    described = re.search(r'aria-describedby="([^"]*)"', control.group(0))
    assert described is not None
    assert f"{fid}-error" in described.group(1).split()
    # The error sits between the field's label and its input (the same block).
    label = page.rfind(f'<label for="{fid}"', 0, error.start())
    assert label != -1
    assert page.find("<label", label + 1, error.start()) == -1
    return html.unescape(error.group(1))


def test_officer_builds_saves_and_edits_an_election_with_the_form(
    app: FastAPI, client: TestClient, clock: FixedClock
) -> None:
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    csrf = sign_in(client, app, OFFICER).csrf_token

    empty = client.get(f"{HOME}/nouveau")
    assert empty.status_code == 200
    assert "<script" not in empty.text  # the buttons post the form back: no script needed
    assert f'<option value="{RULE}">Test rule ({RULE})</option>' in empty.text
    assert 'name="questions[0].title.fr"' in empty.text
    assert 'name="questions[1].title.fr"' not in empty.text
    # The first button of the form saves, so that Enter never removes anything.
    first = re.search(r"<button[^>]*>", empty.text.split('id="election-form"', 1)[1])
    assert first is not None
    assert 'value="save"' in first.group(0)
    # Encrypted by default; the public mode's weaker guarantee said next to it, in French.
    assert re.search(r'id="mode-encrypted"[^>]* value="encrypted" checked', empty.text)
    assert "Garantie plus faible : le serveur voit chaque choix" in empty.text
    assert "Les résultats qui demandent des bulletins entiers ne sont pas disponibles" in empty.text

    # The buttons: add a question, show its type's fields, add and remove options.
    start = {"form": "fields", "title.fr": "Essai", "questions[0].title.fr": "Première"}
    added = post(client, f"{HOME}/nouveau", csrf, start, action="add-question")
    assert added.status_code == 200
    assert 'value="Première"' in added.text  # what was typed stays
    assert re.search(r'id="questions-1-title-fr"[^>]* autofocus', added.text)
    as_budget = {
        **start,
        "questions[0].type": "budget",
        "questions[0].options[0].title.fr": "Jardin",
        "questions[0].options[1].title.fr": "Bancs",
    }
    shown = post(client, f"{HOME}/nouveau", csrf, as_budget, action="refresh")
    assert 'name="questions[0].envelope"' in shown.text
    assert 'name="questions[0].options[1].cost"' in shown.text
    more = post(client, f"{HOME}/nouveau", csrf, as_budget, action="add-option:0")
    assert 'name="questions[0].options[2].title.fr"' in more.text
    fewer = post(client, f"{HOME}/nouveau", csrf, as_budget, action="remove-option:0:0")
    assert 'value="Jardin"' not in fewer.text
    assert re.search(
        r'name="questions\[0\]\.options\[0\]\.title\.fr" [^>]*value="Bancs"', fewer.text
    )
    as_grades = {**start, "questions[0].type": "majority_judgment"}
    graded = post(client, f"{HOME}/nouveau", csrf, as_grades, action="refresh")
    assert "Très bien\nBien\nAssez bien\nPassable\nInsuffisant</textarea>" in graded.text
    with_trustee = post(client, f"{HOME}/nouveau", csrf, start, action="add-trustee")
    assert 'name="trustees[0].staff"' in with_trustee.text
    assert stored(ctx) == []  # no button saves anything

    # Saved: exactly the definition the officer described.
    created = post(client, f"{HOME}/nouveau", csrf, base_fields(), action="save")
    assert created.status_code == 303, created.text
    election = re.fullmatch(rf"{HOME}/([0-9a-f-]{{36}})\?fait=cree", created.headers["location"])
    assert election is not None
    (definition,) = stored(ctx)
    assert definition["id"] == election.group(1)
    assert definition["title"] == {
        "fr": "Budget participatif 2026",
        "en": "Participatory budget 2026",
    }
    assert definition["opens_at"] == "2026-02-01T08:00:00Z"  # 09:00 in Paris, winter
    assert definition["closes_at"] == "2026-07-01T18:00:00Z"  # 20:00 in Paris, summer
    assert definition["eligibility"] == {"rule": RULE}  # the population is counted, not typed
    assert (definition["revote"], definition["paper"]) == (True, False)
    assert (definition["min_anonymity_set"], definition["batch_seconds"]) == (10, 900)
    assert definition["questions"] == EXPECTED_QUESTIONS
    assert definition["mode"] == "public"

    # The edit page shows every field as saved; a change is saved in place.
    edit = client.get(f"{HOME}/{election.group(1)}/modifier")
    assert edit.status_code == 200
    for name, value in [
        ("title.en", "Participatory budget 2026"),
        ("opens_at", "2026-02-01T09:00"),
        ("closes_at", "2026-07-01T20:00"),
        ("batch_minutes", "15"),
        ("questions[2].envelope", "1000"),
        ("questions[2].options[1].cost", "300"),
        ("questions[2].options[1].id", "velos"),
        ("questions[4].max", "2"),
    ]:
        assert re.search(rf'name="{re.escape(name)}" [^>]*value="{re.escape(value)}"', edit.text), (
            name
        )
    assert "Très bien\nBien\nPassable</textarea>" in edit.text
    assert re.search(rf'<option value="{RULE}" selected>', edit.text)
    assert re.search(r'id="mode-public"[^>]* checked', edit.text)
    changed = {
        **base_fields(),
        "title.fr": "Budget participatif 2026 (quartiers)",
        "questions[2].options[1].cost": "350",
        "questions[0].id": "q1",
        "paper": "yes",
    }
    saved = post(client, f"{HOME}/{election.group(1)}/modifier", csrf, changed, action="save")
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"] == f"{HOME}/{election.group(1)}?fait=modifie"
    (after,) = stored(ctx)
    assert after["title"]["fr"] == "Budget participatif 2026 (quartiers)"
    assert after["questions"][2]["options"][1]["cost"] == 350
    assert after["paper"] is True


def test_each_mistake_is_shown_in_french_next_to_its_field(
    app: FastAPI, client: TestClient, clock: FixedClock
) -> None:
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    csrf = sign_in(client, app, OFFICER).csrf_token

    def refused(changes: dict[str, str]) -> str:
        response = post(
            client, f"{HOME}/nouveau", csrf, {**base_fields(), **changes}, action="save"
        )
        assert response.status_code == 422, response.text
        assert "Le scrutin n’est pas enregistré : corrigez les champs ci-dessous." in response.text
        return str(response.text)

    # What cannot become a definition member at all: every field at once.
    page = refused(
        {
            "title.fr": "",
            "opens_at": "demain matin",
            "eligibility.rule": "",
            "min_anonymity_set": "",
            "batch_minutes": "0",
            "questions[0].options[1].title.fr": "",
            "questions[2].envelope": "",
            "questions[2].options[0].cost": "4OO",
            "mode": "encrypted",
            "trustees[0].label": "Mairie",
            "trustees[0].staff": "pas-un-courriel",
            "threshold": "deux",
        }
    )
    expected = {
        "title.fr": "Ce champ est obligatoire.",
        "opens_at": "Une date et une heure, par exemple 2026-03-01 08:00.",
        "eligibility.rule": "Choisissez une règle.",
        "min_anonymity_set": "Ce champ est obligatoire.",
        "batch_minutes": "De 1 à 1440 minutes.",
        "questions[0].options[1].title.fr": "Ce champ est obligatoire.",
        "questions[2].envelope": "Ce champ est obligatoire.",
        "questions[2].options[0].cost": "Un nombre entier, par exemple 12 ou 1 500.",
        "trustees[0].staff": "L’adresse électronique d’un compte agent ayant le rôle de garant.",
        "threshold": "Un nombre entier, par exemple 12 ou 1 500.",
    }
    for name, message in expected.items():
        assert error_next_to(page, name) == message, name
    # Each listed at the top too, linking to its field.
    for name in expected:
        assert f'href="#{field_id(name)}"' in page
    assert 'value="demain matin"' in page  # what was typed stays, to be corrected

    # The question rules (each question is checked on its own: all shown at once).
    page = refused(
        {
            "questions[0].options[1].id": "Tilleuls!",
            "questions[1].min": "3",
            "questions[2].envelope": "100",
            "questions[3].grades": "Bien",
            "questions[4].min": "0",
        }
    )
    assert error_next_to(page, "questions[0].options[1].id").startswith(
        "les identifiants ont de 1 à 64 lettres minuscules"
    )
    assert error_next_to(page, "questions[1].min") == (
        "le minimum (3) est plus grand que le maximum (2)"
    )
    assert error_next_to(page, "questions[2].envelope") == "aucun projet ne tient dans l’enveloppe"
    assert error_next_to(page, "questions[3].grades") == (
        "les mentions sont de 2 à 10 textes différents, la meilleure d’abord"
    )
    assert error_next_to(page, "questions[4].min") == "un classement classe au moins une option"

    # The definition's own rules, one at a time as the parser finds them.
    for changes, name, message in [
        ({"closes_at": "2026-01-01T08:00"}, "closes_at", "doit être après l’ouverture"),
        ({"min_anonymity_set": "0"}, "min_anonymity_set", "un nombre entier de 1 à 100000000"),
        ({"title.fr": "x" * 301}, "title.fr", "au plus 300 caractères"),
        (
            {"questions[0].id": "parc", "questions[1].id": "parc"},
            "questions[1].id",
            "les identifiants des questions doivent être différents",
        ),
        ({"questions[1].max": "9"}, "questions[1].max", "doit être un nombre entier entre 1 et 3"),
    ]:
        assert error_next_to(refused(changes), name) == message, name
    assert stored(ctx) == []

    # Encrypted ballots (the default) are saved as such, with their trustees.
    encrypted = {
        "mode": "encrypted",
        "trustees[0].label": "Mairie",
        "trustees[0].staff": "garant@ville.example.fr",
        "threshold": "1",
    }
    saved = post(client, f"{HOME}/nouveau", csrf, {**base_fields(), **encrypted}, action="save")
    assert saved.status_code == 303, saved.text
    (definition,) = stored(ctx)
    assert definition["mode"] == "encrypted"
    assert definition["trustees"] == [{"label": "Mairie", "staff": "garant@ville.example.fr"}]
    assert definition["threshold"] == 1


def test_every_reason_the_form_can_show_has_a_french_text() -> None:
    """Each message id the parser, the reader and the form give (``_refuse(…)``,
    ``FieldError(…)``, ``message=…``) is in the French catalogue: the page translates the
    id, so a missing one would show English on a French page."""
    import ast
    from pathlib import Path

    from ballot import locale_staff_fr
    from parvis.kernel.i18n import catalog

    locale_staff_fr.register()
    french = catalog("fr")
    root = Path(__file__).resolve().parents[2] / "ballot"
    found: set[str] = set()
    for module in ("definition.py", "questions.py", "definition_reader.py", "election_form.py"):
        for node in ast.walk(ast.parse((root / module).read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            texts = [k.value for k in node.keywords if k.arg == "message"]
            if name == "FieldError" and node.args:
                texts.append(node.args[0])
            if name == "_refuse":
                texts.extend(a for a in node.args if isinstance(a, ast.Constant))
            for text in texts:
                if isinstance(text, ast.Constant) and isinstance(text.value, str):
                    found.add(text.value)
    assert len(found) > 50, "the scan found too few messages: it is broken"
    # _refuse's first arguments are member paths or None; only sentences are messages.
    messages = {m for m in found if " " in m}
    missing = sorted(m for m in messages if m not in french)
    assert not missing, missing
