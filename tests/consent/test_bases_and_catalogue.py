"""Lawful bases, the rights they open, and Art. 30 register entries (pure core)."""

from __future__ import annotations

import re

import pytest

from consent.bases import BASES, LegalBasis, Right, assess_right, rights_for
from consent.catalogue import Controller, Purpose, parse_purposes
from consent.errors import CatalogueError, DurationError
from tests.consent.factories import CONTROLLER, NEWSLETTER, PARTICIPATION, ROLL, purpose


def test_every_right_is_either_open_or_excluded_with_its_provision() -> None:
    for basis, info in BASES.items():
        assert set(info.rights) | set(info.excluded) == set(Right), basis
        assert not set(info.rights) & set(info.excluded), basis
        assert info.dpv_gdpr.startswith("https://w3id.org/dpv/legal/eu/gdpr#A6-1-")
        assert info.dpv_concept.startswith("https://w3id.org/dpv#")


@pytest.mark.parametrize(
    ("right", "basis", "applies", "cites"),
    [
        (Right.ERASURE, LegalBasis.PUBLIC_TASK, False, "Art. 17(3)(b)"),
        (Right.PORTABILITY, LegalBasis.PUBLIC_TASK, False, "Art. 20(3)"),
        (Right.OBJECTION, LegalBasis.PUBLIC_TASK, True, "Art. 21"),
        (Right.OBJECTION, LegalBasis.LEGAL_OBLIGATION, False, "Art. 21(1)"),
        (Right.ERASURE, LegalBasis.LEGAL_OBLIGATION, False, "Art. 17(3)(b)"),
        (Right.PORTABILITY, LegalBasis.CONSENT, True, "Art. 20"),
        (Right.OBJECTION, LegalBasis.CONSENT, False, "withdraw consent instead"),
        (Right.PORTABILITY, LegalBasis.LEGITIMATE_INTERESTS, False, "Art. 20(1)(a)"),
    ],
)
def test_assessment_cites_the_provision(
    right: Right, basis: LegalBasis, applies: bool, cites: str
) -> None:
    result = assess_right(right, basis)
    assert result.applies is applies
    assert cites in result.reason


def test_cnil_sheet_15_table() -> None:
    assert rights_for(LegalBasis.CONSENT) >= {Right.WITHDRAWAL, Right.PORTABILITY, Right.ERASURE}
    assert rights_for(LegalBasis.PUBLIC_TASK) == {
        Right.ACCESS,
        Right.RECTIFICATION,
        Right.RESTRICTION,
        Right.OBJECTION,
    }
    assert rights_for(LegalBasis.LEGAL_OBLIGATION) == {
        Right.ACCESS,
        Right.RECTIFICATION,
        Right.RESTRICTION,
    }


def test_purposes_parse_and_round_trip() -> None:
    purposes = parse_purposes([NEWSLETTER, PARTICIPATION, ROLL], controller_id="ville-exemple")
    for p in purposes:
        again = Purpose.from_dict(p.to_dict(), controller_id="ville-exemple")
        assert again == p
        assert again.fingerprint() == p.fingerprint()
    controller = Controller.from_dict(CONTROLLER)
    assert Controller.from_dict(controller.to_dict()) == controller


@pytest.mark.parametrize(
    ("base", "changes", "message"),
    [
        (NEWSLETTER, {"consent_validity": None}, "consent_validity"),
        (PARTICIPATION, {"consent_validity": "P1Y"}, "only to consent-based"),
        (PARTICIPATION, {"legal_basis_detail": ""}, "Art. 6(3)"),
        (NEWSLETTER, {"legal_basis": "goodwill"}, "legal_basis: one of consent"),
        (NEWSLETTER, {"security_measures": []}, "Art. 30(1)(g)"),
        (NEWSLETTER, {"data_categories": []}, "Art. 30(1)(c)"),
        (NEWSLETTER, {"data_subjects": []}, "Art. 30(1)(c)"),
        (NEWSLETTER, {"id": "Bad Id"}, "purpose id"),
        (NEWSLETTER, {"dpv_purpose": "CommunicationManagement"}, "IRI"),
        (
            NEWSLETTER,
            {"transfers": [{"recipient": "X", "country": "DE", "safeguard": "n/a"}]},
            "not a transfer outside",
        ),
        (
            NEWSLETTER,
            {"transfers": [{"recipient": "X", "country": "US", "safeguard": " "}]},
            "transfers.safeguard",
        ),
        (
            NEWSLETTER,
            {
                "data_categories": [
                    {**NEWSLETTER["data_categories"][0], "special": True},
                ]
            },
            "Art. 9(2) condition",
        ),
        (
            NEWSLETTER,
            {"data_categories": [{**NEWSLETTER["data_categories"][0], "disposition": "burn"}]},
            "disposition one of",
        ),
    ],
)
def test_invalid_entries_are_refused_with_the_rule(
    base: dict[str, object], changes: dict[str, object], message: str
) -> None:
    with pytest.raises(CatalogueError, match=re.escape(message)):
        Purpose.from_dict(purpose(base, **changes), controller_id="ville-exemple")


def test_bad_durations() -> None:
    for text in ("P", "1Y", "PT1H", "P1.5Y", "P-1D", "P1Y2"):
        with pytest.raises(DurationError):
            Purpose.from_dict(purpose(NEWSLETTER, consent_validity=text), controller_id="c")


def test_fingerprint_is_material_only() -> None:
    base = Purpose.from_dict(NEWSLETTER, controller_id="ville-exemple")
    editorial = Purpose.from_dict(
        purpose(NEWSLETTER, security_measures=["autre mesure"], dpia_ref="AIPD-9"),
        controller_id="ville-exemple",
    )
    assert editorial.fingerprint() == base.fingerprint()
    for change in (
        {"recipients": [{"name": "Partenaire", "kind": "external"}]},
        {"consent_validity": "P2Y"},
        {"description": {"fr": "Autre chose."}},
        {
            "data_categories": [
                {**NEWSLETTER["data_categories"][0], "retention": "P5Y"},
            ]
        },
    ):
        changed = Purpose.from_dict(purpose(NEWSLETTER, **change), controller_id="ville-exemple")
        assert changed.fingerprint() != base.fingerprint(), change


def test_warnings_for_public_authorities() -> None:
    p = Purpose.from_dict(
        purpose(NEWSLETTER, legal_basis="legitimate_interests", consent_validity=None),
        controller_id="c",
    )
    assert any("second subparagraph" in w for w in p.warnings())


def test_controller_needs_reachable_dpo() -> None:
    data = dict(CONTROLLER, dpo={"name": "Quelqu'un"})
    with pytest.raises(CatalogueError, match=r"Art. 37\(7\)"):
        Controller.from_dict(data)
