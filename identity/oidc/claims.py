"""Which claims a platform may receive: scopes, claim groups, and the claims computed for
them (OpenID Connect Core 1.0 §5.4 and §5.5, and Parvis's own minimal claims).

Minimal by design (ADR 0008): the birth date is never released, only
``age_over_NN`` booleans computed at the time of the request; eligibility releases the
decision (rule, territory, assurance, validity), never its evidence; ``residence`` is the
INSEE commune code and, like ``profile`` and ``email``, needs the citizen's explicit consent.
``profile`` (``given_name``: every first name; ``family_name``: the birth name, as
FranceConnect gives them) and ``email`` (the address of the citizen's FranceConnect account,
``email_verified`` false: Parvis verifies none) are read from the vault, where they are kept
only as ADR 0008 says.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from identity.franceconnect import ACR_ORDER, acr_satisfies

__all__ = [
    "AGE_THRESHOLDS",
    "CLAIM_GROUPS",
    "SCOPES",
    "ClaimGroup",
    "UnmetAcrError",
    "acr_to_release",
    "age_over",
    "claims_for",
    "groups_for_scopes",
    "requested_claim_names",
]

AGE_THRESHOLDS = (11, 15, 16, 18)


@dataclass(frozen=True, slots=True)
class ClaimGroup:
    """A scope whose claims are released together.

    ``needs_consent``: released only after the citizen said yes on the consent screen;
    otherwise the group rests on public task (listed on the screen, released without
    consent)."""

    scope: str
    claims: tuple[str, ...]
    needs_consent: bool
    label: str


CLAIM_GROUPS: dict[str, ClaimGroup] = {
    g.scope: g
    for g in (
        ClaimGroup(
            "eligibility",
            ("eligibility",),
            needs_consent=False,
            label="The votes and consultations you can take part in now (not how this was proven)",
        ),
        ClaimGroup(
            "age",
            tuple(f"age_over_{n}" for n in AGE_THRESHOLDS),
            needs_consent=False,
            label="Whether you are over 11, 15, 16 and 18 (never your date of birth)",
        ),
        ClaimGroup(
            "residence",
            ("residence",),
            needs_consent=True,
            label="The INSEE code of the commune where you live",
        ),
        ClaimGroup(
            "profile",
            ("given_name", "family_name"),
            needs_consent=True,
            label="Your first names and birth name",
        ),
        ClaimGroup(
            "email",
            ("email", "email_verified"),
            needs_consent=True,
            label="The e-mail address of your FranceConnect account",
        ),
    )
}

#: Every scope the provider understands (discovery ``scopes_supported``).
SCOPES = ("openid", *CLAIM_GROUPS)


def groups_for_scopes(scopes: Iterable[str]) -> tuple[ClaimGroup, ...]:
    wanted = set(scopes)
    return tuple(g for s, g in CLAIM_GROUPS.items() if s in wanted)


def requested_claim_names(claims_parameter: Mapping[str, Any] | None) -> frozenset[str]:
    """Names asked for in the ``claims`` request parameter (Core §5.5). They are honoured
    only inside the granted scopes: asking for a claim never widens what is released."""
    if not claims_parameter:
        return frozenset()
    names: set[str] = set()
    for member in ("userinfo", "id_token"):
        part = claims_parameter.get(member)
        if isinstance(part, Mapping):
            names.update(str(k) for k in part)
    return frozenset(names)


def age_over(
    threshold: int, *, birth: date | None, birth_year: int | None, on: date
) -> bool | None:
    """Whether the citizen is at least ``threshold`` years old ``on`` that day; ``None``
    when unknown (a birth year alone decides only away from the boundary year)."""
    if birth is not None:
        had_birthday = (on.month, on.day) >= (birth.month, birth.day)
        return on.year - birth.year - (0 if had_birthday else 1) >= threshold
    if birth_year is None:
        return None
    years = on.year - birth_year
    if years > threshold:
        return True
    if years < threshold:
        return False
    return None


def claims_for(
    *,
    scopes: Iterable[str],
    granted: Iterable[str],
    facts: Mapping[str, Any],
) -> dict[str, Any]:
    """The claims released: those of the scopes asked for, limited to groups that rest on
    public task or were ``granted`` by the citizen, with values taken from ``facts``
    (absent facts are left out). The ``claims`` request parameter (Core §5.5) is accepted
    but cannot add a claim outside these groups: escalation is ignored, not an error."""
    allowed_groups = set(granted)
    out: dict[str, Any] = {}
    for group in groups_for_scopes(scopes):
        if group.needs_consent and group.scope not in allowed_groups:
            continue
        for name in group.claims:
            if name in facts and facts[name] is not None:
                out[name] = facts[name]
    return out


class UnmetAcrError(ValueError):
    """An essential ``acr`` that the sign-in did not reach (Core §5.5.1.1)."""


def acr_to_release(claims_parameter: Mapping[str, Any] | None, achieved: str | None) -> str | None:
    """The ``acr`` to put in the ID token, given the ``claims`` request parameter.

    `Core §5.5.1.1 <https://openid.net/specs/openid-connect-core-1_0.html#acrSemantics>`_:
    "If the acr Claim was requested as an Essential Claim … with a values parameter …, the
    Authorization Server MUST return an acr Claim Value that matches one of the requested
    values. The Authorization Server MAY ask the End-User to re-authenticate with
    additional factors to meet this requirement. If this is an Essential Claim and the
    requirement cannot be met, then the Authorization Server MUST treat that outcome as a
    failed authentication attempt."

    Parvis's choice: no re-authentication. Parvis asks FranceConnect for one configured
    level (``PARVIS_FC_ACR``) and every sign-in already reaches it, so signing in again
    cannot raise the level: an essential ``acr`` above the one obtained raises
    :class:`UnmetAcrError` (a failed authentication). When the level obtained satisfies a
    requested one (eIDAS levels are ordered), the highest such requested value is returned
    — true, and among the values asked for. A voluntary request (``acr_values``, or a
    non-essential claim) is answered with the level actually obtained (§3.1.2.1: "the
    Authorization Server MAY return an acr value that is not among the requested
    values")."""
    part = claims_parameter.get("id_token") if claims_parameter else None
    request = part.get("acr") if isinstance(part, Mapping) else None
    if not isinstance(request, Mapping) or request.get("essential") is not True:
        return achieved
    values = request.get("values")
    if values is None and "value" in request:
        values = [request["value"]]
    wanted = [v for v in values if isinstance(v, str)] if isinstance(values, list) else []
    if not wanted:
        return achieved  # essential without values: any acr answers it
    if achieved in wanted:
        return achieved
    met = [v for v in wanted if v in ACR_ORDER and acr_satisfies(achieved, v)]
    if not met:
        raise UnmetAcrError("the essential acr asked for was not reached")
    return max(met, key=ACR_ORDER.index)
