"""The register purpose identity processes residents' data for: residency verification.

Census matching, postal letters, desk verification and eligibility decisions serve one
processing activity of the controller (the commune): checking that a participant lives in
the territory and has the required age. Its lawful basis is the performance of a task in the
public interest (GDPR Art. 6(1)(e)), resting on the council's deliberation that opens the
participation.

Consent's access records (:func:`consent.record_access`) accept only purposes of the
register, so the controller's register must contain this one before staff can export the
letters. The demo seed registers it (:func:`register_residency_purpose`); a real controller's
DPO adds it to the register file loaded with ``parvis consent load`` —
:data:`RESIDENCY_PURPOSE_DEFINITION` is the starting point, to adapt (the deliberation, the
retention periods).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

import consent
from identity.auditing import RESIDENCY_PURPOSE
from identity.errors import PurposeNotRegisteredError
from parvis.kernel.context import AppContext

__all__ = [
    "RESIDENCY_PURPOSE",
    "RESIDENCY_PURPOSE_DEFINITION",
    "register_residency_purpose",
    "require_residency_purpose",
]

RESIDENCY_PURPOSE_DEFINITION: dict[str, Any] = {
    "id": RESIDENCY_PURPOSE,
    "label": {"fr": "Vérification de la résidence", "en": "Residency verification"},
    "description": {
        "fr": "Vérifier que les personnes qui participent habitent le territoire et ont l’âge "
        "requis : recensement ou liste électorale, courrier avec un code, vérification au "
        "guichet de la mairie.",
        "en": "Check that participants live in the territory and have the required age: "
        "census or electoral roll, letter with a code, verification at the town hall desk.",
    },
    "dpv_purpose": "https://w3id.org/dpv#IdentityVerification",
    "legal_basis": "public_task",
    "legal_basis_detail": "Délibération du conseil municipal ouvrant la participation "
    "(démonstration)",
    "data_subjects": ["habitants"],
    "data_categories": [
        {
            "id": "residency-evidence",
            "label": {
                "fr": "Justificatif de résidence et décision d’éligibilité",
                "en": "Proof of residence and eligibility decision",
            },
            "retention": "P1Y",
            "disposition": "destruction",
        },
        {
            "id": "postal-address",
            "label": {"fr": "Adresse postale déclarée", "en": "Declared postal address"},
            "retention": "P45D",
            "disposition": "destruction",
        },
    ],
    "recipients": [{"name": "Agents d’accueil de la mairie", "kind": "internal"}],
    "security_measures": [
        "pseudonymisation",
        "chiffrement par personne (effacement cryptographique)",
        "journal d’audit signé et registre des accès",
    ],
}


def register_residency_purpose(
    ctx: AppContext, session: Session, *, controller_id: str, actor: str
) -> int:
    """Add (or keep) the purpose in ``controller_id``'s register; returns its version.
    Idempotent: an unchanged definition keeps its version."""
    purpose = consent.Purpose.from_dict(RESIDENCY_PURPOSE_DEFINITION, controller_id=controller_id)
    record = consent.service_from(ctx).save_purpose(
        session, purpose, actor=actor, reason="identity: residency verification"
    )
    return record.version


def require_residency_purpose(ctx: AppContext, session: Session) -> None:
    """Raise :class:`PurposeNotRegisteredError` unless the register contains the purpose."""
    if not any(
        p.purpose.id == RESIDENCY_PURPOSE for p in consent.service_from(ctx).purposes(session)
    ):
        raise PurposeNotRegisteredError(
            f"the register has no purpose {RESIDENCY_PURPOSE!r}: ask the DPO to add it "
            "(residency verification, public task) before exporting letters"
        )
