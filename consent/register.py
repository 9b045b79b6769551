"""Export of the Art. 30 register in the layout of the CNIL's model register.

The CNIL's "modèle de registre" (https://www.cnil.fr/fr/RGDP-le-registre-des-activites-de-
traitement) is a workbook: a front page (*Registre des activités de traitement*: the
organisation, its representative, its DPO, and the list of activities) and one sheet per
activity (*Fiche de registre*: description, actors, purposes, security measures, categories
of data with their retention, data subjects, recipients, transfers outside the EU). Parvis
writes the same content:

* JSON (``parvis-art30-register/v1``): ``front_page`` and one object per activity in
  ``activities``, with stable English keys;
* CSV (RFC 4180, UTF-8): one row per field with the columns ``feuille, rubrique, élément,
  champ, valeur`` — the sheet, the section and the row label of the CNIL model — so that a
  spreadsheet (LibreOffice, Excel) can filter it back into one sheet per activity;
* ODS (OpenDocument spreadsheet, ISO/IEC 26300; :mod:`consent.register_ods`): the same rows,
  one sheet per ``feuille`` as in the CNIL's workbook.

Both are generated from the live catalogue, so they cannot disagree with it. Pure module.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from consent.bases import BASES
from consent.catalogue import Controller, Disposition, Purpose, RetentionStart

__all__ = ["COLUMNS", "FORMAT", "RegisterEntry", "register_csv", "register_json", "register_rows"]

#: The columns of the CSV export (the ODS export has one sheet per ``feuille``).
COLUMNS = ("feuille", "rubrique", "élément", "champ", "valeur")

FORMAT = "parvis-art30-register/v1"

_DISPOSITION_FR = {
    Disposition.DESTRUCTION: "destruction",
    Disposition.VERSEMENT: "versement aux archives publiques",
    Disposition.TRI: "tri (conservation partielle aux archives)",
}
_START_FR = {
    RetentionStart.COLLECTION: "à compter de la collecte",
    RetentionStart.CONSENT_END: "à compter de la fin du consentement",
    RetentionStart.LAST_ACTIVITY: "à compter de la dernière activité",
}


@dataclass(frozen=True, slots=True)
class RegisterEntry:
    """One activity of the register with its catalogue metadata."""

    purpose: Purpose
    version: int
    created_at: datetime
    updated_at: datetime


def _date(moment: datetime) -> str:
    return moment.date().isoformat()


def register_json(
    controller: Controller, entries: Sequence[RegisterEntry], *, generated_at: datetime
) -> dict[str, Any]:
    """The register as one JSON object (front page + activities)."""
    ordered = sorted(entries, key=lambda e: e.purpose.id)
    return {
        "format": FORMAT,
        "generated_at": generated_at.isoformat(),
        "front_page": {
            "organisation": {
                "id": controller.id,
                "name": controller.name,
                "address": controller.address,
                "siret": controller.siret,
                "email": controller.email,
                "url": controller.url,
            },
            "representative": controller.representative.to_dict(),
            "dpo": controller.dpo.to_dict(),
            "activities": [
                {
                    "reference": e.purpose.id,
                    "name": e.purpose.label.fr,
                    "created": _date(e.created_at),
                    "updated": _date(e.updated_at),
                    "version": e.version,
                    "active": e.purpose.active,
                }
                for e in ordered
            ],
        },
        "activities": [_activity(controller, e) for e in ordered],
    }


def _activity(controller: Controller, entry: RegisterEntry) -> dict[str, Any]:
    p = entry.purpose
    info = BASES[p.legal_basis]
    return {
        "reference": p.id,
        "name": p.label.to_dict(),
        "created": _date(entry.created_at),
        "updated": _date(entry.updated_at),
        "version": entry.version,
        "active": p.active,
        "actors": {
            "controller": controller.name,
            "representative": controller.representative.name,
            "dpo": controller.dpo.to_dict(),
            "joint_controllers": [],
        },
        "purpose": {
            "description": p.description.to_dict(),
            "dpv_purpose": p.dpv_purpose,
            "legal_basis": p.legal_basis.value,
            "legal_basis_article": info.article,
            "legal_basis_iri": info.dpv_gdpr,
            "legal_basis_detail": p.legal_basis_detail,
        },
        "security_measures": list(p.security_measures),
        "data_categories": [
            {
                "id": c.id,
                "label": c.label.to_dict(),
                "special": c.special,
                "special_condition": c.special_condition,
                "source": c.source,
                "retention": str(c.retention),
                "retention_from": c.retention_from.value,
                "disposition": c.disposition.value,
            }
            for c in p.data_categories
        ],
        "data_subjects": list(p.data_subjects),
        "recipients": [r.to_dict() for r in p.recipients],
        "processors": [x.to_dict() for x in p.processors],
        "transfers": [t.to_dict() for t in p.transfers],
        "dpia_ref": p.dpia_ref,
        "consent_validity": str(p.consent_validity) if p.consent_validity else None,
    }


def register_csv(
    controller: Controller, entries: Sequence[RegisterEntry], *, generated_at: datetime
) -> str:
    """The register as CSV rows ``feuille, rubrique, élément, champ, valeur``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows(register_rows(controller, entries, generated_at=generated_at))
    return out.getvalue()


def register_rows(
    controller: Controller, entries: Sequence[RegisterEntry], *, generated_at: datetime
) -> list[tuple[str, str, str, str, str]]:
    """Every field of the register as ``(feuille, rubrique, élément, champ, valeur)``: the
    front page's, then each activity's sheet (the CNIL model's order)."""
    rows: list[tuple[str, str, str, str, str]] = []
    front = "Registre des activités de traitement"

    def row(sheet: str, section: str, item: str, name: str, value: object) -> None:
        rows.append((sheet, section, item, name, "" if value is None else str(value)))

    row(front, "Document", "", "Date d'édition", generated_at.isoformat())
    row(front, "Organisme", "", "Nom", controller.name)
    row(front, "Organisme", "", "Identifiant", controller.id)
    row(front, "Organisme", "", "Adresse", controller.address)
    row(front, "Organisme", "", "SIRET", controller.siret)
    row(front, "Organisme", "", "Courriel", controller.email)
    row(
        front, "Responsable du traitement", "", "Représentant légal", controller.representative.name
    )
    row(front, "Responsable du traitement", "", "Courriel", controller.representative.email)
    row(front, "Responsable du traitement", "", "Téléphone", controller.representative.phone)
    dpo = controller.dpo
    row(front, "Délégué à la protection des données", "", "Nom", dpo.name)
    row(front, "Délégué à la protection des données", "", "Organisme", dpo.organisation)
    row(front, "Délégué à la protection des données", "", "Adresse", dpo.address)
    row(front, "Délégué à la protection des données", "", "Courriel", dpo.email)
    row(front, "Délégué à la protection des données", "", "Téléphone", dpo.phone)
    ordered = sorted(entries, key=lambda e: e.purpose.id)
    for n, entry in enumerate(ordered, 1):
        p = entry.purpose
        item = f"Activité {n}"
        row(front, "Activités", item, "Référence", p.id)
        row(front, "Activités", item, "Désignation", p.label.fr)
        row(front, "Activités", item, "Date de création", _date(entry.created_at))
        row(front, "Activités", item, "Mise à jour", _date(entry.updated_at))
    for entry in ordered:
        _activity_rows(row, controller, entry)
    return rows


def _activity_rows(row: Any, controller: Controller, entry: RegisterEntry) -> None:
    p = entry.purpose
    info = BASES[p.legal_basis]
    sheet = f"Fiche {p.id}"
    row(sheet, "Description du traitement", "", "Nom / sigle", p.label.fr)
    row(sheet, "Description du traitement", "", "N° / référence", p.id)
    row(sheet, "Description du traitement", "", "Date de création", _date(entry.created_at))
    row(sheet, "Description du traitement", "", "Mise à jour", _date(entry.updated_at))
    row(sheet, "Description du traitement", "", "Version", entry.version)
    row(sheet, "Description du traitement", "", "Actif", "oui" if p.active else "non")
    row(sheet, "Acteurs", "", "Responsable du traitement", controller.name)
    row(sheet, "Acteurs", "", "Représentant", controller.representative.name)
    row(sheet, "Acteurs", "", "Délégué à la protection des données", controller.dpo.name)
    row(sheet, "Acteurs", "", "Responsables conjoints", "")
    row(sheet, "Finalité(s) du traitement effectué", "", "Finalité principale", p.description.fr)
    row(sheet, "Finalité(s) du traitement effectué", "", "Finalité (DPV)", p.dpv_purpose)
    row(
        sheet,
        "Finalité(s) du traitement effectué",
        "",
        "Base légale",
        f"{info.label_fr} ({info.article})",
    )
    row(sheet, "Finalité(s) du traitement effectué", "", "Base légale (IRI)", info.dpv_gdpr)
    row(sheet, "Finalité(s) du traitement effectué", "", "Fondement", p.legal_basis_detail)
    if p.consent_validity:
        row(
            sheet,
            "Finalité(s) du traitement effectué",
            "",
            "Durée du consentement",
            str(p.consent_validity),
        )
    for n, measure in enumerate(p.security_measures, 1):
        row(sheet, "Mesures de sécurité", f"Mesure {n}", "Description", measure)
    for c in p.data_categories:
        item = c.label.fr
        section = "Catégories de données personnelles concernées"
        if c.special:
            section = "Données sensibles"
            row(sheet, section, item, "Condition (art. 9.2)", c.special_condition)
        row(sheet, section, item, "Identifiant", c.id)
        row(
            sheet,
            section,
            item,
            "Source",
            "la personne concernée" if c.source == "subject" else c.source,
        )
        row(
            sheet,
            section,
            item,
            "Durée de conservation",
            f"{c.retention} {_START_FR[c.retention_from]}",
        )
        row(sheet, section, item, "Sort final", _DISPOSITION_FR[c.disposition])
    for n, subject in enumerate(p.data_subjects, 1):
        row(sheet, "Catégories de personnes concernées", f"Catégorie {n}", "Description", subject)
    for r in p.recipients:
        kind = {"internal": "interne", "external": "externe", "authority": "autorité"}[r.kind]
        row(sheet, "Destinataires", r.name, "Type de destinataire", kind)
    for x in p.processors:
        row(sheet, "Sous-traitants", x.name, "Contrat", x.contract_ref)
    for t in p.transfers:
        section = "Transferts hors UE"
        row(sheet, section, t.recipient, "Pays", t.country)
        row(sheet, section, t.recipient, "Garanties", t.safeguard)
        row(sheet, section, t.recipient, "Documentation", t.documentation)
    row(sheet, "Analyse d'impact (AIPD)", "", "Référence", p.dpia_ref or "non requise")
