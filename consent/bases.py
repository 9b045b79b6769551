"""The six lawful bases of GDPR Art. 6(1) and the data-subject rights each one opens.

Sources: GDPR Art. 6(1)(a)–(f); Art. 7(3) (withdrawal); Art. 17(3)(b) (no erasure as of right
for legal obligation or public task); Art. 20(1)(a) and 20(3) (portability only for consent or
contract, never for public task); Art. 21(1) (objection only for 6(1)(e) or (f)); the CNIL's
developer guide, sheet 15 ("Respecter les droits des personnes"). Consent is the exception
for a local authority, not the rule (Recital 43; EDPB Guidelines 05/2020 §3.1.1).

IRIs come from the W3C Data Privacy Vocabulary: the core concept (``https://w3id.org/dpv#``)
and the GDPR extension's article concept (``https://w3id.org/dpv/legal/eu/gdpr#A6-1-x``).

Pure module: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

__all__ = [
    "BASES",
    "Assessment",
    "BasisInfo",
    "LegalBasis",
    "Right",
    "assess_right",
    "rights_for",
]

DPV = "https://w3id.org/dpv#"
DPV_GDPR = "https://w3id.org/dpv/legal/eu/gdpr#"


class LegalBasis(StrEnum):
    """GDPR Art. 6(1) points (a) to (f)."""

    CONSENT = "consent"
    CONTRACT = "contract"
    LEGAL_OBLIGATION = "legal_obligation"
    VITAL_INTERESTS = "vital_interests"
    PUBLIC_TASK = "public_task"
    LEGITIMATE_INTERESTS = "legitimate_interests"


class Right(StrEnum):
    """Data-subject rights of GDPR Chapter III that a request can invoke (plus withdrawal)."""

    ACCESS = "access"  # Art. 15
    RECTIFICATION = "rectification"  # Art. 16
    ERASURE = "erasure"  # Art. 17
    RESTRICTION = "restriction"  # Art. 18
    PORTABILITY = "portability"  # Art. 20
    OBJECTION = "objection"  # Art. 21
    WITHDRAWAL = "withdrawal"  # Art. 7(3)


RIGHT_ARTICLES: Mapping[Right, str] = MappingProxyType(
    {
        Right.ACCESS: "Art. 15",
        Right.RECTIFICATION: "Art. 16",
        Right.ERASURE: "Art. 17",
        Right.RESTRICTION: "Art. 18",
        Right.PORTABILITY: "Art. 20",
        Right.OBJECTION: "Art. 21",
        Right.WITHDRAWAL: "Art. 7(3)",
    }
)


@dataclass(frozen=True, slots=True)
class BasisInfo:
    """One lawful basis: its article, its DPV IRIs, its labels and the rights it opens.

    ``excluded`` maps each right that does *not* apply to the provision that excludes it.
    """

    basis: LegalBasis
    article: str
    dpv_concept: str
    dpv_gdpr: str
    label_en: str
    label_fr: str
    rights: frozenset[Right]
    excluded: Mapping[Right, str]

    @property
    def alternative_to_consent(self) -> Right | None:
        """The right a person has *instead of* withdrawing consent, if any (Art. 21)."""
        return Right.OBJECTION if Right.OBJECTION in self.rights else None


_CORE = frozenset({Right.ACCESS, Right.RECTIFICATION, Right.RESTRICTION})
_NO_OBJECTION = "Art. 21(1) gives a right to object only to processing based on Art. 6(1)(e) or (f)"
_NO_WITHDRAWAL = "consent is not the legal basis, so there is no consent to withdraw (Art. 7(3))"
_NO_PORTABILITY = "Art. 20(1)(a): portability covers only processing based on consent or contract"

BASES: Mapping[LegalBasis, BasisInfo] = MappingProxyType(
    {
        LegalBasis.CONSENT: BasisInfo(
            basis=LegalBasis.CONSENT,
            article="Art. 6(1)(a)",
            dpv_concept=DPV + "Consent",
            dpv_gdpr=DPV_GDPR + "A6-1-a",
            label_en="consent",
            label_fr="consentement",
            rights=_CORE | {Right.ERASURE, Right.PORTABILITY, Right.WITHDRAWAL},
            excluded=MappingProxyType(
                {
                    Right.OBJECTION: _NO_OBJECTION
                    + "; withdraw consent instead, as easily as it was given (Art. 7(3))",
                }
            ),
        ),
        LegalBasis.CONTRACT: BasisInfo(
            basis=LegalBasis.CONTRACT,
            article="Art. 6(1)(b)",
            dpv_concept=DPV + "Contract",
            dpv_gdpr=DPV_GDPR + "A6-1-b",
            label_en="performance of a contract",
            label_fr="exécution d'un contrat",
            rights=_CORE | {Right.ERASURE, Right.PORTABILITY},
            excluded=MappingProxyType(
                {Right.OBJECTION: _NO_OBJECTION, Right.WITHDRAWAL: _NO_WITHDRAWAL}
            ),
        ),
        LegalBasis.LEGAL_OBLIGATION: BasisInfo(
            basis=LegalBasis.LEGAL_OBLIGATION,
            article="Art. 6(1)(c)",
            dpv_concept=DPV + "LegalObligation",
            dpv_gdpr=DPV_GDPR + "A6-1-c",
            label_en="legal obligation",
            label_fr="obligation légale",
            rights=_CORE,
            excluded=MappingProxyType(
                {
                    Right.ERASURE: "Art. 17(3)(b): erasure does not apply to processing "
                    "necessary for compliance with a legal obligation",
                    Right.PORTABILITY: _NO_PORTABILITY,
                    Right.OBJECTION: _NO_OBJECTION,
                    Right.WITHDRAWAL: _NO_WITHDRAWAL,
                }
            ),
        ),
        LegalBasis.VITAL_INTERESTS: BasisInfo(
            basis=LegalBasis.VITAL_INTERESTS,
            article="Art. 6(1)(d)",
            dpv_concept=DPV + "VitalInterest",
            dpv_gdpr=DPV_GDPR + "A6-1-d",
            label_en="vital interests",
            label_fr="sauvegarde des intérêts vitaux",
            rights=_CORE | {Right.ERASURE},
            excluded=MappingProxyType(
                {
                    Right.PORTABILITY: _NO_PORTABILITY,
                    Right.OBJECTION: _NO_OBJECTION,
                    Right.WITHDRAWAL: _NO_WITHDRAWAL,
                }
            ),
        ),
        LegalBasis.PUBLIC_TASK: BasisInfo(
            basis=LegalBasis.PUBLIC_TASK,
            article="Art. 6(1)(e)",
            dpv_concept=DPV + "PublicInterest",
            dpv_gdpr=DPV_GDPR + "A6-1-e",
            label_en="public task or official authority",
            label_fr="mission d'intérêt public ou exercice de l'autorité publique",
            rights=_CORE | {Right.OBJECTION},
            excluded=MappingProxyType(
                {
                    Right.ERASURE: "Art. 17(3)(b): erasure does not apply to processing "
                    "necessary for a task carried out in the public interest or in the "
                    "exercise of official authority",
                    Right.PORTABILITY: "Art. 20(3): portability does not apply to processing "
                    "necessary for a task carried out in the public interest",
                    Right.WITHDRAWAL: _NO_WITHDRAWAL,
                }
            ),
        ),
        LegalBasis.LEGITIMATE_INTERESTS: BasisInfo(
            basis=LegalBasis.LEGITIMATE_INTERESTS,
            article="Art. 6(1)(f)",
            dpv_concept=DPV + "LegitimateInterest",
            dpv_gdpr=DPV_GDPR + "A6-1-f",
            label_en="legitimate interests",
            label_fr="intérêt légitime",
            rights=_CORE | {Right.ERASURE, Right.OBJECTION},
            excluded=MappingProxyType(
                {Right.PORTABILITY: _NO_PORTABILITY, Right.WITHDRAWAL: _NO_WITHDRAWAL}
            ),
        ),
    }
)


def rights_for(basis: LegalBasis) -> frozenset[Right]:
    """The rights a person has over processing based on ``basis`` (CNIL sheet 15)."""
    return BASES[basis].rights


@dataclass(frozen=True, slots=True)
class Assessment:
    """Whether ``right`` applies as of right to processing based on ``basis``, and why."""

    right: Right
    basis: LegalBasis
    applies: bool
    reason: str

    @property
    def article(self) -> str:
        return RIGHT_ARTICLES[self.right]


def assess_right(right: Right, basis: LegalBasis) -> Assessment:
    """Pre-assessment shown to the DPO: a request is always answered (Art. 12(4)), but a right
    excluded by the text is refused with the provision as motivation."""
    info = BASES[basis]
    if right in info.rights:
        return Assessment(
            right=right,
            basis=basis,
            applies=True,
            reason=f"{RIGHT_ARTICLES[right]} applies to processing based on {info.article}",
        )
    return Assessment(right=right, basis=basis, applies=False, reason=info.excluded[right])
