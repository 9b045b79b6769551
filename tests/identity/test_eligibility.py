"""Eligibility core: ages on a reference date (birthday, 29 February, presumed dates, maximum
age), territories and sub-territories, COG vintage, evidence kinds, electoral roll, paper votes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from identity.eligibility import (
    ASSURANCE,
    BirthDate,
    CitizenFacts,
    Evidence,
    Reason,
    ResidencyEvidence,
    Rule,
    Territory,
    age_on,
    decide,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CITY = Territory(id="city", name="Montreuil", cog_vintage=2025, communes=frozenset({"93048"}))
DISTRICT = Territory(
    id="north", name="Nord", cog_vintage=2025, communes=frozenset({"93049"}), parent_id="city"
)
PARIS = Territory(id="paris", name="Paris", cog_vintage=2025, communes=frozenset({"75056"}))
TERRITORIES = {t.id: t for t in (CITY, DISTRICT, PARIS)}


def rule(**kw: object) -> Rule:
    values: dict[str, object] = {
        "id": "budget",
        "name": "Budget",
        "territory_id": "city",
        "accepted_evidence": frozenset(Evidence),
        "reference_date": date(2026, 6, 1),
    }
    values.update(kw)
    return Rule(**values)  # type: ignore[arg-type]


def census(commune: str = "93048", *, vintage: int = 2025, roll: bool = False) -> ResidencyEvidence:
    return ResidencyEvidence(Evidence.CENSUS, "city", commune, vintage, electoral_roll=roll)


ADULT = BirthDate(1990, 5, 5)


def facts(
    birth: BirthDate | None = ADULT, *evidence: ResidencyEvidence, **kw: object
) -> CitizenFacts:
    return CitizenFacts(birth=birth, acr="eidas1", evidence=evidence or (census(),), **kw)  # type: ignore[arg-type]


def test_eligible_with_census() -> None:
    decision = decide(rule(), TERRITORIES, facts(), now=NOW)
    assert decision.eligible
    assert decision.reasons == ()
    assert decision.evidence is Evidence.CENSUS
    assert decision.assurance == ASSURANCE[Evidence.CENSUS]


@pytest.mark.parametrize(
    ("born", "reference", "age"),
    [
        (date(2010, 6, 1), date(2026, 6, 1), 16),  # birthday on the reference date: reached
        (date(2010, 6, 2), date(2026, 6, 1), 15),  # the day after: not yet
        (date(2008, 2, 29), date(2026, 2, 28), 17),  # 29 February, common year: not on 28 Feb
        (date(2008, 2, 29), date(2026, 3, 1), 18),  # ... but on 1 March
        (date(2008, 2, 29), date(2028, 2, 29), 20),  # leap year: on the day
        (date(2000, 1, 1), date(2000, 1, 1), 0),
    ],
)
def test_age_on(born: date, reference: date, age: int) -> None:
    assert age_on(born, reference) == age


def test_birthday_on_the_reference_date_counts() -> None:
    r = rule(min_age=16)
    assert decide(r, TERRITORIES, facts(BirthDate(2010, 6, 1)), now=NOW).eligible
    young = decide(r, TERRITORIES, facts(BirthDate(2010, 6, 2)), now=NOW)
    assert young.reasons == (Reason.TOO_YOUNG,)


def test_born_on_29_february() -> None:
    common = rule(min_age=18, reference_date=date(2026, 2, 28))
    assert decide(common, TERRITORIES, facts(BirthDate(2008, 2, 29)), now=NOW).reasons == (
        Reason.TOO_YOUNG,
    )
    assert decide(
        rule(min_age=18, reference_date=date(2026, 3, 1)),
        TERRITORIES,
        facts(BirthDate(2008, 2, 29)),
        now=NOW,
    ).eligible


def test_maximum_age_inclusive() -> None:
    youth = rule(min_age=11, max_age=25)
    assert decide(youth, TERRITORIES, facts(BirthDate(2001, 6, 2)), now=NOW).eligible  # 24
    assert decide(youth, TERRITORIES, facts(BirthDate(2000, 6, 2)), now=NOW).eligible  # 25
    assert decide(youth, TERRITORIES, facts(BirthDate(2000, 6, 1)), now=NOW).reasons == (
        Reason.TOO_OLD,
    )  # 26 that day


def test_presumed_dates_are_decided_conservatively() -> None:
    # Born "in 2010": 16 on 2026-06-01 only if born by 1 June; the latest possible date rules.
    assert BirthDate(2010).presumed
    assert decide(rule(min_age=16), TERRITORIES, facts(BirthDate(2010)), now=NOW).reasons == (
        Reason.TOO_YOUNG,
    )
    assert decide(
        rule(min_age=16, reference_date=date(2027, 1, 1)),
        TERRITORIES,
        facts(BirthDate(2010)),
        now=NOW,
    ).eligible
    # Born "in May 2010": the latest possible date is 31 May, before the reference date.
    assert decide(rule(min_age=16), TERRITORIES, facts(BirthDate(2010, 5)), now=NOW).eligible
    # Maximum age: the earliest possible date rules (1 January 2000 is 26 on 2026-06-01).
    assert decide(rule(max_age=25), TERRITORIES, facts(BirthDate(2000)), now=NOW).reasons == (
        Reason.TOO_OLD,
    )
    assert decide(rule(max_age=25), TERRITORIES, facts(BirthDate(2000, 12)), now=NOW).eligible
    assert BirthDate(2000, 2).latest() == date(2000, 2, 29)


def test_unknown_birth_date_only_matters_with_an_age_limit() -> None:
    assert decide(rule(), TERRITORIES, facts(None), now=NOW).eligible
    assert decide(rule(min_age=16), TERRITORIES, facts(None), now=NOW).reasons == (
        Reason.BIRTHDATE_UNKNOWN,
    )


def test_cog_vintage_mismatch_does_not_count() -> None:
    decision = decide(
        rule(), TERRITORIES, facts(BirthDate(1990, 1, 1), census(vintage=2024)), now=NOW
    )
    assert decision.reasons == (Reason.COG_VINTAGE_MISMATCH,)
    assert decision.evidence is None


def test_outside_territory() -> None:
    paris = ResidencyEvidence(Evidence.CENSUS, "paris", "75056", 2025)
    assert decide(rule(), TERRITORIES, facts(BirthDate(1990, 1, 1), paris), now=NOW).reasons == (
        Reason.OUTSIDE_TERRITORY,
    )


def test_sub_territory_communes_are_covered_by_the_parent() -> None:
    north = ResidencyEvidence(Evidence.POSTAL_CODE, "north", "93049", 2025)
    assert decide(rule(), TERRITORIES, facts(BirthDate(1990, 1, 1), north), now=NOW).eligible
    assert decide(rule(territory_id="north"), TERRITORIES, facts(), now=NOW).reasons == (
        Reason.OUTSIDE_TERRITORY,
    )


def test_no_evidence() -> None:
    decision = decide(rule(), TERRITORIES, CitizenFacts(birth=None, acr="eidas1"), now=NOW)
    assert decision.reasons == (Reason.NO_RESIDENCY_EVIDENCE,)


def test_evidence_kind_not_accepted_and_expired() -> None:
    declared = ResidencyEvidence(
        Evidence.SELF_DECLARATION, "city", "93048", 2025, valid_until=NOW + timedelta(days=1)
    )
    strict = rule(accepted_evidence=frozenset({Evidence.CENSUS, Evidence.POSTAL_CODE}))
    assert decide(strict, TERRITORIES, facts(BirthDate(1990, 1, 1), declared), now=NOW).reasons == (
        Reason.EVIDENCE_NOT_ACCEPTED,
    )
    assert decide(rule(), TERRITORIES, facts(BirthDate(1990, 1, 1), declared), now=NOW).eligible
    later = NOW + timedelta(days=1)
    assert decide(
        rule(), TERRITORIES, facts(BirthDate(1990, 1, 1), declared), now=later
    ).reasons == (Reason.EVIDENCE_EXPIRED,)


def test_strongest_usable_evidence_is_chosen() -> None:
    declared = ResidencyEvidence(Evidence.SELF_DECLARATION, "city", "93048", 2025)
    postal = ResidencyEvidence(
        Evidence.POSTAL_CODE, "city", "93048", 2025, valid_until=NOW + timedelta(days=300)
    )
    decision = decide(rule(), TERRITORIES, facts(BirthDate(1990, 1, 1), declared, postal), now=NOW)
    assert decision.evidence is Evidence.POSTAL_CODE
    assert decision.valid_until == NOW + timedelta(days=300)


def test_electoral_roll_required() -> None:
    roll = rule(electoral_roll=True)
    assert decide(roll, TERRITORIES, facts(BirthDate(1990, 1, 1), census()), now=NOW).reasons == (
        Reason.ELECTORAL_ROLL_REQUIRED,
    )
    assert decide(
        roll, TERRITORIES, facts(BirthDate(1990, 1, 1), census(roll=True)), now=NOW
    ).eligible


def test_paper_vote_excludes_only_where_paper_votes_exist() -> None:
    voted = facts(BirthDate(1990, 1, 1), census(), paper_vote=True)
    assert decide(rule(paper_votes=True), TERRITORIES, voted, now=NOW).reasons == (
        Reason.PAPER_VOTE_RECORDED,
    )
    assert decide(rule(), TERRITORIES, voted, now=NOW).eligible


def test_assurance_level() -> None:
    low = CitizenFacts(birth=BirthDate(1990, 1, 1), acr="eidas1", evidence=(census(),))
    assert decide(rule(min_acr="eidas2"), TERRITORIES, low, now=NOW).reasons == (
        Reason.ASSURANCE_TOO_LOW,
    )


def test_every_failed_condition_is_listed() -> None:
    decision = decide(
        rule(min_age=18),
        TERRITORIES,
        CitizenFacts(birth=BirthDate(2012, 6, 15), acr="eidas1"),
        now=NOW,
    )
    assert decision.reasons == (Reason.TOO_YOUNG, Reason.NO_RESIDENCY_EVIDENCE)
    assert not decision.eligible


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_age": 18, "max_age": 16}, "minimum age above maximum"),
        ({"accepted_evidence": frozenset()}, "at least one"),
        (
            {"electoral_roll": True, "accepted_evidence": frozenset({Evidence.POSTAL_CODE})},
            "electoral roll",
        ),
        ({"id": "Bad Id"}, "rule id"),
        ({"min_age": 200}, "between 0 and 130"),
        ({"min_acr": "eidas9"}, "min_acr"),
    ],
)
def test_invalid_rules_cannot_exist(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rule(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"communes": frozenset({"93100"})}, None),  # a postcode is 5 digits too: accepted format
        ({"communes": frozenset({"9304"})}, "not COG commune codes"),
        ({"communes": frozenset({"2C001"})}, "not COG commune codes"),
        ({"communes": frozenset()}, "at least one commune"),
        ({"cog_vintage": 1900}, "COG vintage"),
        ({"parent_id": "city"}, "own parent"),
    ],
)
def test_territory_validation(kwargs: dict[str, object], message: str | None) -> None:
    values: dict[str, object] = {
        "id": "city",
        "name": "Montreuil",
        "cog_vintage": 2025,
        "communes": frozenset({"93048"}),
    }
    values.update(kwargs)
    if message is None:
        Territory(**values)  # type: ignore[arg-type]
        return
    with pytest.raises(ValueError, match=message):
        Territory(**values)  # type: ignore[arg-type]


def test_corsican_codes_are_commune_codes() -> None:
    assert Territory(id="ajaccio", name="Ajaccio", cog_vintage=2025, communes=frozenset({"2A004"}))


def test_impossible_birth_dates() -> None:
    with pytest.raises(ValueError):
        BirthDate(2001, 2, 29)
    with pytest.raises(ValueError, match="day without a month"):
        BirthDate(2001, None, 3)
