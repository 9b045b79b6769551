"""Catalogue data for the consent tests: one commune, a newsletter (consent), the
participatory budget (public task) and the electoral-roll check (legal obligation)."""

from __future__ import annotations

import copy
import io
from typing import Any

CONTROLLER: dict[str, Any] = {
    "id": "ville-exemple",
    "name": "Commune d'Exemple",
    "address": "1 place de la Mairie, 00000 Exemple",
    "siret": "21000000000018",
    "email": "mairie@exemple.fr",
    "url": "https://www.exemple.fr",
    "representative": {
        "name": "Mme la Maire",
        "email": "maire@exemple.fr",
        "phone": "01 00 00 00 00",
    },
    "dpo": {
        "name": "Délégué mutualisé",
        "organisation": "Centre de gestion",
        "email": "dpo@cdg.example.fr",
        "address": "2 rue du CDG, 00000 Exemple",
    },
}

NEWSLETTER: dict[str, Any] = {
    "id": "newsletter",
    "label": {"fr": "Lettre d'information", "en": "Newsletter"},
    "description": {
        "fr": "Envoyer la lettre d'information de la participation citoyenne.",
        "en": "Send the citizen participation newsletter.",
    },
    "dpv_purpose": "https://w3id.org/dpv#CommunicationManagement",
    "legal_basis": "consent",
    "data_subjects": ["habitants inscrits"],
    "data_categories": [
        {
            "id": "email",
            "label": {"fr": "Adresse électronique", "en": "E-mail address"},
            "retention": "P3Y",
            "retention_from": "consent_end",
            "disposition": "destruction",
        }
    ],
    "recipients": [{"name": "Service communication", "kind": "internal"}],
    "processors": [{"name": "Routeur SAS", "contract_ref": "DPA-2025-12"}],
    "security_measures": ["contrôle d'accès", "journalisation", "chiffrement"],
    "consent_validity": "P1Y",
}

PARTICIPATION: dict[str, Any] = {
    "id": "budget-participatif",
    "label": {"fr": "Budget participatif", "en": "Participatory budget"},
    "description": {
        "fr": "Organiser le budget participatif et le vote des habitants.",
        "en": "Run the participatory budget and the residents' vote.",
    },
    "dpv_purpose": "https://w3id.org/dpv#PublicRelations",
    "legal_basis": "public_task",
    "legal_basis_detail": "Délibération du conseil municipal n° 2026-01",
    "data_subjects": ["habitants"],
    "data_categories": [
        {
            "id": "eligibility",
            "label": {"fr": "Décision d'éligibilité", "en": "Eligibility decision"},
            "retention": "P1Y",
            "retention_from": "collection",
            "disposition": "tri",
        }
    ],
    "security_measures": ["pseudonymisation", "journalisation"],
    "dpia_ref": "AIPD-2026-03",
}

ROLL: dict[str, Any] = {
    "id": "listes-electorales",
    "label": {"fr": "Contrôle de la liste électorale"},
    "description": {"fr": "Vérifier l'inscription sur la liste électorale."},
    "dpv_purpose": "https://w3id.org/dpv#IdentityVerification",
    "legal_basis": "legal_obligation",
    "legal_basis_detail": "Code électoral, art. L. 16",
    "data_subjects": ["électeurs"],
    "data_categories": [
        {
            "id": "roll",
            "label": {"fr": "Inscription"},
            "retention": "P6M",
            "disposition": "destruction",
        }
    ],
    "security_measures": ["contrôle d'accès"],
}


def controller(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(CONTROLLER)
    data.update(changes)
    return data


def purpose(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(base)
    data.update(changes)
    return data


def catalogue(*, controller_id: str = "ville-exemple") -> dict[str, Any]:
    """The document `parvis consent load` reads (controllers with their purposes)."""
    return {
        "controllers": [
            {
                **controller(id=controller_id),
                "purposes": [purpose(NEWSLETTER), purpose(PARTICIPATION), purpose(ROLL)],
            }
        ]
    }


def read_ods(data: bytes) -> dict[str, list[list[str]]]:
    """Every sheet of an ODS workbook as rows of cell texts (read back with odfpy)."""
    from odf import teletype
    from odf.opendocument import load
    from odf.table import Table, TableCell, TableRow

    document = load(io.BytesIO(data))
    return {
        table.getAttribute("name"): [
            [
                "\n".join(teletype.extractText(p) for p in cell.childNodes)
                for cell in row.getElementsByType(TableCell)
            ]
            for row in table.getElementsByType(TableRow)
        ]
        for table in document.spreadsheet.getElementsByType(Table)
    }
