"""Normalising an identity pivot so that the same person gives the same keyed hash.

franceconnect.md, "Residency and eligibility": Parvis keeps only keyed hashes of the
normalised identity pivot (family name, first names, birth date, birthplace) and matches the
FranceConnect identity against a city's census or electoral roll with them. The same hash
serves uniqueness across accounts and re-linking when FranceConnect's ``sub`` changes after a
spelling correction (franceconnect.md, "Residency and eligibility"; ADR 0004).

Rules (each has a test in ``tests/identity/test_normalise.py``):

- names: Unicode NFKD, combining marks dropped (accents), ligatures expanded (Œ→OE, Æ→AE,
  ß→SS), upper case, then **every** character that is not A–Z removed, so hyphens,
  apostrophes, spaces and commas never matter ("Jean-Pierre" = "JEAN PIERRE",
  "d'Artagnan" = "DARTAGNAN");
- first names: all of them, in order (FranceConnect sends every first name separated by
  spaces; rolls list them with spaces or commas);
- birth date: ``YYYY-MM-DD`` with unknown parts encoded as FranceConnect does (``00`` month
  or day becomes ``01``); ``DD/MM/YYYY`` is accepted;
- birthplace: the COG commune code (upper case, ``2A``/``2B``), or for a person born abroad
  the COG country code (FranceConnect sends an empty birthplace then).

Pure core: no I/O; the hashing key is passed in.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from identity.franceconnect import BIRTHCOUNTRY_FRANCE, IdentityPivot, is_cog_commune
from parvis.kernel.keys import keyed_hash

__all__ = [
    "NormalisationError",
    "NormalisedPivot",
    "normalise_birthdate",
    "normalise_name",
    "normalise_pivot",
    "pivot_from_franceconnect",
    "pivot_hash",
]

_LIGATURES = str.maketrans({"Œ": "OE", "œ": "OE", "Æ": "AE", "æ": "AE", "ß": "SS"})
_NOT_LETTER = re.compile(r"[^A-Z]")
_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_FRENCH = re.compile(r"^(\d{2})/(\d{2})/(\d{4})$")


class NormalisationError(ValueError):
    """A pivot field cannot be normalised (the message names the field, not its value)."""


def normalise_name(value: str) -> str:
    """Upper-case A–Z only: accents, ligatures, hyphens, apostrophes and spaces removed."""
    folded = unicodedata.normalize("NFKD", value.translate(_LIGATURES))
    letters = "".join(ch for ch in folded if not unicodedata.combining(ch))
    result = _NOT_LETTER.sub("", letters.translate(_LIGATURES).upper())
    if not result:
        raise NormalisationError("name has no letter")
    return result


def normalise_birthdate(value: str) -> str:
    """``YYYY-MM-DD`` (or ``DD/MM/YYYY``), ``00`` parts encoded ``01`` as FranceConnect does."""
    value = value.strip()
    iso = _ISO.match(value)
    french = _FRENCH.match(value)
    if iso:
        year, month, day = iso.groups()
    elif french:
        day, month, year = french.groups()
    else:
        raise NormalisationError("birth date is neither YYYY-MM-DD nor DD/MM/YYYY")
    if month == "00":
        month, day = "01", "01"
    elif day == "00":
        day = "01"
    if not (1 <= int(month) <= 12 and 1 <= int(day) <= 31) or int(year) < 1850:
        raise NormalisationError("birth date out of range")
    try:
        date(int(year), int(month), int(day))
    except ValueError as exc:
        raise NormalisationError("birth date is not a calendar date") from exc
    return f"{year}-{month}-{day}"


@dataclass(frozen=True, slots=True)
class NormalisedPivot:
    """The four normalised fields; only :func:`pivot_hash` of it is ever stored."""

    family_name: str
    given_names: str
    birthdate: str
    birthplace: str

    def canonical(self) -> bytes:
        # Unit separator (0x1F) cannot occur in normalised fields: no ambiguity.
        return "\x1f".join(
            ("v1", self.family_name, self.given_names, self.birthdate, self.birthplace)
        ).encode("ascii")


def normalise_pivot(
    *, family_name: str, given_names: str, birthdate: str, birthplace: str, birthcountry: str = ""
) -> NormalisedPivot:
    """Normalise raw fields (census rows, FranceConnect claims)."""
    place = birthplace.strip().upper()
    country = birthcountry.strip()
    if place:
        if not is_cog_commune(place):
            raise NormalisationError("birthplace: not a COG commune code")
    elif country and country != BIRTHCOUNTRY_FRANCE and re.fullmatch(r"99\d{3}", country):
        place = country
    else:
        raise NormalisationError(
            "birthplace: empty, and birthcountry is not a foreign COG country code"
        )
    try:
        family = normalise_name(family_name)
    except NormalisationError as exc:
        raise NormalisationError(f"family_name: {exc}") from None
    try:
        given = normalise_name(given_names)
    except NormalisationError as exc:
        raise NormalisationError(f"given_names: {exc}") from None
    try:
        born = normalise_birthdate(birthdate)
    except NormalisationError as exc:
        raise NormalisationError(f"birthdate: {exc}") from None
    return NormalisedPivot(family_name=family, given_names=given, birthdate=born, birthplace=place)


def pivot_from_franceconnect(pivot: IdentityPivot) -> NormalisedPivot:
    """The normalised pivot of a verified FranceConnect identity."""
    return normalise_pivot(
        family_name=pivot.family_name,
        given_names=pivot.given_name,
        birthdate=pivot.birthdate,
        birthplace=pivot.birthplace,
        birthcountry=pivot.birthcountry,
    )


def pivot_hash(key: bytes, pivot: NormalisedPivot) -> str:
    """HMAC-SHA-256 of the canonical pivot under ``key`` (hex): the only stored form."""
    return keyed_hash(key, pivot.canonical())
