"""Privacy notices: the Art. 13/14 information as structured, hashed, immutable content.

A notice version is built from the controller and its purposes as they stand, so it cannot
drift from the register. Its items follow GDPR Art. 13(1)–(2) and 14(1)–(2):

* 13(1)(a) identity and contact details of the controller and its representative;
* 13(1)(b) contact details of the DPO;
* 13(1)(c) purposes and lawful basis; 13(1)(d) the legitimate interests pursued;
* 13(1)(e) recipients (processors included); 13(1)(f) transfers and their safeguards;
* 13(2)(a) retention; 13(2)(b) the rights; 13(2)(c) the right to withdraw consent;
* 13(2)(d) the right to lodge a complaint with the CNIL; 13(2)(f) automated decisions;
* 14(1)(d) categories of data and 14(2)(f) their source when not collected from the person.

``content_hash`` is SHA-256 over the RFC 8785 form of the whole content: a version can be
re-checked at any time and is never edited (a change is a new version). Each purpose also
gets its language-independent :meth:`~consent.catalogue.Purpose.fingerprint`; a consent given
under a notice stays valid only while the notice in force carries the same fingerprint for
its purpose — so any change of what the person was told re-asks consent, and staff cannot
mark a material change as editorial. Pure module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from consent.bases import BASES, RIGHT_ARTICLES, Right
from consent.catalogue import Controller, Purpose, fingerprint
from consent.errors import CatalogueError

__all__ = ["CNIL", "NoticeContent", "build_notice", "changed_purposes"]

#: Art. 13(2)(d) / Art. 77: the French supervisory authority.
CNIL: Mapping[str, str] = {
    "name": "Commission nationale de l'informatique et des libertés (CNIL)",
    "address": "3 place de Fontenoy, TSA 80715, 75334 Paris Cedex 07",
    "url": "https://www.cnil.fr/fr/plaintes",
}

_RIGHT_LABELS = {
    "fr": {
        Right.ACCESS: "droit d'accès",
        Right.RECTIFICATION: "droit de rectification",
        Right.ERASURE: "droit à l'effacement",
        Right.RESTRICTION: "droit à la limitation",
        Right.PORTABILITY: "droit à la portabilité",
        Right.OBJECTION: "droit d'opposition",
        Right.WITHDRAWAL: "droit de retirer son consentement à tout moment",
    },
    "en": {
        Right.ACCESS: "right of access",
        Right.RECTIFICATION: "right to rectification",
        Right.ERASURE: "right to erasure",
        Right.RESTRICTION: "right to restriction of processing",
        Right.PORTABILITY: "right to data portability",
        Right.OBJECTION: "right to object",
        Right.WITHDRAWAL: "right to withdraw consent at any time",
    },
}


@dataclass(frozen=True, slots=True)
class NoticeContent:
    """The immutable content of one notice version in one language."""

    controller_id: str
    language: str
    items: Mapping[str, Any]
    text: str
    purpose_fingerprints: Mapping[str, str]

    @property
    def content(self) -> dict[str, Any]:
        return {"language": self.language, "items": dict(self.items), "text": self.text}

    @property
    def content_hash(self) -> str:
        return fingerprint(self.content)


def _rights(purpose: Purpose, lang: str) -> list[dict[str, str]]:
    return [
        {
            "right": right.value,
            "article": RIGHT_ARTICLES[right],
            "label": _RIGHT_LABELS[lang][right],
        }
        for right in Right
        if right in purpose.basis.rights
    ]


def _purpose_items(purpose: Purpose, lang: str) -> dict[str, Any]:
    info = BASES[purpose.legal_basis]
    return {
        "id": purpose.id,
        "label": purpose.label.get(lang),
        "description": purpose.description.get(lang),
        "dpv_purpose": purpose.dpv_purpose,
        "legal_basis": {
            "basis": purpose.legal_basis.value,
            "article": info.article,
            "label": info.label_fr if lang == "fr" else info.label_en,
            "iri": info.dpv_gdpr,
            "detail": purpose.legal_basis_detail,
        },
        "data_categories": [
            {
                "id": c.id,
                "label": c.label.get(lang),
                "special": c.special,
                "retention": str(c.retention),
                "retention_from": c.retention_from.value,
                "source": c.source,
            }
            for c in purpose.data_categories
        ],
        "recipients": [r.to_dict() for r in purpose.recipients]
        + [{"name": p.name, "kind": "processor"} for p in purpose.processors],
        "transfers": [t.to_dict() for t in purpose.transfers],
        "rights": _rights(purpose, lang),
        "consent_validity": str(purpose.consent_validity) if purpose.consent_validity else None,
        "fingerprint": purpose.fingerprint(),
    }


def build_notice(
    controller: Controller,
    purposes: Sequence[Purpose],
    *,
    language: str,
    text: str,
    withdrawal_method: str,
) -> NoticeContent:
    """The notice of ``controller`` covering its active ``purposes``, in ``language``."""
    if language not in {"fr", "en"}:
        raise CatalogueError("a notice is written in fr or en")
    if len(text) > 100_000:
        raise CatalogueError("notice text: at most 100,000 characters")
    active = sorted((p for p in purposes if p.active), key=lambda p: p.id)
    foreign = [p.id for p in active if p.controller_id != controller.id]
    if foreign:
        raise CatalogueError(f"purposes {foreign} belong to another controller")
    if not active:
        raise CatalogueError(f"controller {controller.id} has no active purpose to inform about")
    items: dict[str, Any] = {
        "controller": {  # Art. 13(1)(a)
            "id": controller.id,
            "name": controller.name,
            "representative": controller.representative.to_dict(),
            "address": controller.address,
            "email": controller.email,
            "url": controller.url,
        },
        "dpo": controller.dpo.to_dict(),  # Art. 13(1)(b)
        "purposes": [_purpose_items(p, language) for p in active],  # 13(1)(c)-(f), 13(2)(a)-(b)
        "withdrawal": {  # Art. 13(2)(c), Art. 7(3)
            "method": withdrawal_method,
            "without_affecting_prior_processing": True,
        },
        "complaint": dict(CNIL),  # Art. 13(2)(d)
        "automated_decisions": None,  # Art. 13(2)(f): Parvis takes no Art. 22 decision
    }
    return NoticeContent(
        controller_id=controller.id,
        language=language,
        items=items,
        text=text,
        purpose_fingerprints={p.id: p.fingerprint() for p in active},
    )


def changed_purposes(previous: Mapping[str, str] | None, current: Mapping[str, str]) -> set[str]:
    """Purposes whose information changed materially (new, or a different fingerprint)."""
    previous = previous or {}
    return {pid for pid, fp in current.items() if previous.get(pid) != fp}
