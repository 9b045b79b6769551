"""Register export in the CNIL model layout and notice content (pure core)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from consent.catalogue import Controller, Purpose, parse_purposes
from consent.notices import build_notice, changed_purposes
from consent.register import RegisterEntry, register_csv, register_json
from tests.consent.factories import CONTROLLER, NEWSLETTER, PARTICIPATION, ROLL, purpose

T0 = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)


def entries() -> tuple[Controller, list[RegisterEntry]]:
    controller = Controller.from_dict(CONTROLLER)
    purposes = parse_purposes([NEWSLETTER, PARTICIPATION, ROLL], controller_id=controller.id)
    return controller, [RegisterEntry(p, 1, T0, T0) for p in purposes]


def test_json_front_page_and_one_sheet_per_activity() -> None:
    controller, items = entries()
    doc = register_json(controller, items, generated_at=T0)
    assert doc["format"] == "parvis-art30-register/v1"
    front = doc["front_page"]
    assert front["organisation"]["name"] == "Commune d'Exemple"
    assert front["dpo"]["organisation"] == "Centre de gestion"
    assert [a["reference"] for a in front["activities"]] == [
        "budget-participatif",
        "listes-electorales",
        "newsletter",
    ]
    activity = {a["reference"]: a for a in doc["activities"]}["budget-participatif"]
    assert activity["purpose"]["legal_basis_article"] == "Art. 6(1)(e)"
    assert activity["data_categories"][0]["disposition"] == "tri"
    assert activity["dpia_ref"] == "AIPD-2026-03"


def test_csv_layout_sheets_sections_fields() -> None:
    controller, items = entries()
    text = register_csv(controller, items, generated_at=T0)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == ["feuille", "rubrique", "élément", "champ", "valeur"]
    sheets = {r["feuille"] for r in rows}
    assert sheets == {
        "Registre des activités de traitement",
        "Fiche budget-participatif",
        "Fiche listes-electorales",
        "Fiche newsletter",
    }
    sheet = [r for r in rows if r["feuille"] == "Fiche newsletter"]
    by_field = {(r["rubrique"], r["champ"]): r["valeur"] for r in sheet}
    assert by_field[("Finalité(s) du traitement effectué", "Base légale")] == (
        "consentement (Art. 6(1)(a))"
    )
    assert by_field[("Catégories de données personnelles concernées", "Durée de conservation")] == (
        "P3Y à compter de la fin du consentement"
    )
    assert by_field[("Sous-traitants", "Contrat")] == "DPA-2025-12"
    # A spreadsheet can open it: every row has the 5 columns.
    assert all(len(r) == 5 for r in csv.reader(io.StringIO(text)))


def test_notice_hash_and_material_changes() -> None:
    controller = Controller.from_dict(CONTROLLER)
    purposes = parse_purposes([NEWSLETTER, PARTICIPATION], controller_id=controller.id)
    v1 = build_notice(controller, purposes, language="fr", text="Texte", withdrawal_method="u")
    again = build_notice(controller, purposes, language="fr", text="Texte", withdrawal_method="u")
    assert v1.content_hash == again.content_hash
    items = v1.items
    assert items["complaint"]["name"].startswith("Commission nationale")
    assert items["dpo"]["email"] == "dpo@cdg.example.fr"
    budget = next(p for p in items["purposes"] if p["id"] == "budget-participatif")
    assert {r["right"] for r in budget["rights"]} == {
        "access",
        "rectification",
        "restriction",
        "objection",
    }
    english = build_notice(controller, purposes, language="en", text="Text", withdrawal_method="u")
    assert english.content_hash != v1.content_hash
    assert english.purpose_fingerprints == v1.purpose_fingerprints  # language-independent
    reworded = build_notice(
        controller, purposes, language="fr", text="Texte revu", withdrawal_method="u"
    )
    assert changed_purposes(v1.purpose_fingerprints, reworded.purpose_fingerprints) == set()
    wider = Purpose.from_dict(
        purpose(NEWSLETTER, recipients=[{"name": "Partenaire", "kind": "external"}]),
        controller_id=controller.id,
    )
    v2 = build_notice(
        controller, [wider, purposes[1]], language="fr", text="Texte", withdrawal_method="u"
    )
    assert changed_purposes(v1.purpose_fingerprints, v2.purpose_fingerprints) == {"newsletter"}
