"""Residency and age eligibility: territories, rules, evidence and the decision.

franceconnect.md, "Residency and eligibility". A territory is a set of INSEE COG commune
codes of one COG vintage (never postcodes), optionally with sub-territories. Evidence of
residency, from strongest: census / electoral-roll match, postal-letter code, in-person
verification by an agent, self-declaration. A rule says: territory, accepted evidence, the
minimum identity assurance (FranceConnect ``acr``), minimum and optional maximum age on a
reference date, whether the electoral roll is required (formal "consultation des électeurs",
CGCT L1112-15) and whether paper votes exist (then a paper voter gets no online token).

Decisions are conservative where the facts are uncertain, and say why:

- **29 February**: a person born on 29 February has their birthday on 1 March in common
  years (the age is the number of (month, day) anniversaries passed, compared as tuples);
- **presumed dates**: a birth date with an unknown month or day could be any date of the
  year or month; the minimum age is checked against the *latest* possible date and the
  maximum age against the *earliest*, so nobody is admitted who might not qualify;
- **COG vintage**: evidence recorded against another COG vintage than the territory's
  current one does not count (communes merge and split between vintages): re-verify.

Pure core: no I/O; ``now`` is passed in.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from identity.franceconnect import ACR_ORDER, acr_satisfies, is_cog_commune

__all__ = [
    "ASSURANCE",
    "BirthDate",
    "CitizenFacts",
    "EligibilityDecision",
    "Evidence",
    "Reason",
    "ResidencyEvidence",
    "Rule",
    "Territory",
    "age_on",
    "decide",
]

_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


class Evidence(StrEnum):
    """Kinds of residency evidence (franceconnect.md, strongest first)."""

    CENSUS = "census"
    POSTAL_CODE = "postal_code"
    IN_PERSON = "in_person"
    SELF_DECLARATION = "self_declaration"


#: Assurance of each kind of evidence, in franceconnect.md's order (higher is stronger).
ASSURANCE: Mapping[Evidence, int] = {
    Evidence.CENSUS: 4,
    Evidence.POSTAL_CODE: 3,
    Evidence.IN_PERSON: 2,
    Evidence.SELF_DECLARATION: 1,
}


class Reason(StrEnum):
    """Why a citizen is not eligible (each maps to a "what to do" on the citizen page)."""

    BIRTHDATE_UNKNOWN = "birthdate_unknown"
    TOO_YOUNG = "too_young"
    TOO_OLD = "too_old"
    ASSURANCE_TOO_LOW = "assurance_too_low"
    NO_RESIDENCY_EVIDENCE = "no_residency_evidence"
    OUTSIDE_TERRITORY = "outside_territory"
    COG_VINTAGE_MISMATCH = "cog_vintage_mismatch"
    EVIDENCE_NOT_ACCEPTED = "evidence_not_accepted"
    EVIDENCE_EXPIRED = "evidence_expired"
    ELECTORAL_ROLL_REQUIRED = "electoral_roll_required"
    PAPER_VOTE_RECORDED = "paper_vote_recorded"


def _check_id(value: str, what: str) -> None:
    if not _ID.match(value):
        raise ValueError(f"{what} id must be 1–64 lower-case letters, digits or hyphens")


@dataclass(frozen=True, slots=True)
class Territory:
    """A set of COG commune codes of one vintage; ``parent_id`` for a sub-territory."""

    id: str
    name: str
    cog_vintage: int
    communes: frozenset[str]
    parent_id: str | None = None

    def __post_init__(self) -> None:
        _check_id(self.id, "territory")
        if not self.name.strip():
            raise ValueError("territory name is empty")
        if not 1943 <= self.cog_vintage <= 2100:
            raise ValueError("COG vintage must be a year (the COG exists since 1943)")
        if not self.communes:
            raise ValueError("a territory needs at least one commune code")
        bad = sorted(c for c in self.communes if not is_cog_commune(c))
        if bad:
            raise ValueError(f"not COG commune codes: {', '.join(bad[:5])}")
        if self.parent_id == self.id:
            raise ValueError("a territory cannot be its own parent")


def covered_communes(territory_id: str, territories: Mapping[str, Territory]) -> frozenset[str]:
    """The communes of a territory and of all its sub-territories."""
    result: set[str] = set()
    pending = [territory_id]
    seen: set[str] = set()
    while pending:
        current = pending.pop()
        if current in seen or current not in territories:
            continue
        seen.add(current)
        result |= territories[current].communes
        pending.extend(t.id for t in territories.values() if t.parent_id == current)
    return frozenset(result)


@dataclass(frozen=True, slots=True)
class Rule:
    """An eligibility rule (franceconnect.md, "An election's rule says")."""

    id: str
    name: str
    territory_id: str
    accepted_evidence: frozenset[Evidence]
    reference_date: date
    min_age: int | None = None
    max_age: int | None = None
    min_acr: str = "eidas1"
    electoral_roll: bool = False
    paper_votes: bool = False

    def __post_init__(self) -> None:
        _check_id(self.id, "rule")
        if not self.accepted_evidence:
            raise ValueError("a rule accepts at least one kind of evidence")
        if self.electoral_roll and Evidence.CENSUS not in self.accepted_evidence:
            raise ValueError("a rule requiring the electoral roll must accept census evidence")
        for age in (self.min_age, self.max_age):
            if age is not None and not 0 <= age <= 130:
                raise ValueError("ages are between 0 and 130")
        if self.min_age is not None and self.max_age is not None and self.min_age > self.max_age:
            raise ValueError("minimum age above maximum age")
        if self.min_acr not in ACR_ORDER:
            raise ValueError(f"min_acr must be one of {', '.join(ACR_ORDER)}")


@dataclass(frozen=True, slots=True)
class BirthDate:
    """A birth date, possibly presumed (unknown month, or unknown day)."""

    year: int
    month: int | None = None
    day: int | None = None

    def __post_init__(self) -> None:
        if self.month is None and self.day is not None:
            raise ValueError("a day without a month")
        date(self.year, self.month or 1, self.day or 1)  # raises on an impossible date

    @property
    def presumed(self) -> bool:
        return self.month is None or self.day is None

    def earliest(self) -> date:
        return date(self.year, self.month or 1, self.day or 1)

    def latest(self) -> date:
        month = self.month or 12
        day = self.day or calendar.monthrange(self.year, month)[1]
        return date(self.year, month, day)


def age_on(birth: date, reference: date) -> int:
    """Completed years on ``reference``. On the birthday itself the new age is reached; a
    29 February birthday falls on 1 March in common years ((2, 28) < (2, 29))."""
    before_birthday = (reference.month, reference.day) < (birth.month, birth.day)
    return reference.year - birth.year - int(before_birthday)


@dataclass(frozen=True, slots=True)
class ResidencyEvidence:
    """One piece of residency evidence, as the decision needs it (no personal data)."""

    kind: Evidence
    territory_id: str
    commune_code: str
    cog_vintage: int
    electoral_roll: bool = False
    valid_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class CitizenFacts:
    """What is known of a citizen when deciding."""

    birth: BirthDate | None
    acr: str
    evidence: tuple[ResidencyEvidence, ...] = ()
    paper_vote: bool = False


@dataclass(frozen=True, slots=True)
class EligibilityDecision:
    """The answer to "is this principal eligible for rule R now, and why not"."""

    rule_id: str
    territory_id: str
    eligible: bool
    reasons: tuple[Reason, ...]
    evidence: Evidence | None
    assurance: int
    decided_at: datetime
    valid_until: datetime | None = None
    details: Mapping[str, str] = field(default_factory=dict)


def _evidence_problem(
    item: ResidencyEvidence,
    rule: Rule,
    territories: Mapping[str, Territory],
    covered: frozenset[str],
    now: datetime,
) -> Reason | None:
    if item.kind not in rule.accepted_evidence:
        return Reason.EVIDENCE_NOT_ACCEPTED
    if item.commune_code not in covered:
        return Reason.OUTSIDE_TERRITORY
    if item.cog_vintage != territories[rule.territory_id].cog_vintage:
        return Reason.COG_VINTAGE_MISMATCH
    if item.valid_until is not None and now >= item.valid_until:
        return Reason.EVIDENCE_EXPIRED
    if rule.electoral_roll and not (item.kind is Evidence.CENSUS and item.electoral_roll):
        return Reason.ELECTORAL_ROLL_REQUIRED
    return None


def decide(
    rule: Rule,
    territories: Mapping[str, Territory],
    facts: CitizenFacts,
    *,
    now: datetime,
) -> EligibilityDecision:
    """Decide ``rule`` for ``facts`` at ``now``; every failed condition is listed."""
    if rule.territory_id not in territories:
        raise ValueError(f"rule {rule.id} names an unknown territory")
    reasons: list[Reason] = []
    if not acr_satisfies(facts.acr, rule.min_acr):
        reasons.append(Reason.ASSURANCE_TOO_LOW)
    if rule.min_age is not None or rule.max_age is not None:
        if facts.birth is None:
            reasons.append(Reason.BIRTHDATE_UNKNOWN)
        else:
            if (
                rule.min_age is not None
                and age_on(facts.birth.latest(), rule.reference_date) < rule.min_age
            ):
                reasons.append(Reason.TOO_YOUNG)
            if (
                rule.max_age is not None
                and age_on(facts.birth.earliest(), rule.reference_date) > rule.max_age
            ):
                reasons.append(Reason.TOO_OLD)
    covered = covered_communes(rule.territory_id, territories)
    usable: list[ResidencyEvidence] = []
    problems: list[Reason] = []
    for item in facts.evidence:
        problem = _evidence_problem(item, rule, territories, covered, now)
        if problem is None:
            usable.append(item)
        elif problem not in problems:
            problems.append(problem)
    best = max(usable, key=lambda e: ASSURANCE[e.kind], default=None)
    if best is None:
        reasons.extend(problems or [Reason.NO_RESIDENCY_EVIDENCE])
    if rule.paper_votes and facts.paper_vote:
        reasons.append(Reason.PAPER_VOTE_RECORDED)
    return EligibilityDecision(
        rule_id=rule.id,
        territory_id=rule.territory_id,
        eligible=not reasons,
        reasons=tuple(reasons),
        evidence=best.kind if best is not None else None,
        assurance=ASSURANCE[best.kind] if best is not None else 0,
        decided_at=now,
        valid_until=best.valid_until if best is not None else None,
    )


def parse_evidence_list(values: Iterable[str]) -> frozenset[Evidence]:
    """Evidence kinds from their names (raises ValueError on an unknown name)."""
    return frozenset(Evidence(v.strip()) for v in values if v.strip())
