"""Reading a city's census or electoral-roll CSV into normalised pivots (pure core).

franceconnect.md, "Residency and eligibility" (census match): ``parvis territory import-census
--territory ID FILE.csv`` normalises (case, accents, hyphens, apostrophes, several first names —
:mod:`identity.normalise`) and stores only keyed hashes; the import report counts rows, duplicates
and rejects with their line numbers. This module parses and normalises; the service hashes and
stores.

Columns (header line required, ``,`` or ``;`` separated, UTF-8 with or without BOM):
``family_name``, ``given_names`` (every first name, spaces or commas), ``birthdate``
(``YYYY-MM-DD`` or ``DD/MM/YYYY``, ``00`` for an unknown part), ``birthplace`` (COG commune
code, empty when born abroad), ``birthcountry`` (COG country code, needed when born abroad),
``commune`` (COG code of the commune of residence; optional when the territory has exactly
one commune).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass

from identity.normalise import NormalisationError, NormalisedPivot, normalise_pivot

__all__ = ["REQUIRED_COLUMNS", "CensusRow", "Reject", "read_census"]

REQUIRED_COLUMNS = ("family_name", "given_names", "birthdate", "birthplace")


@dataclass(frozen=True, slots=True)
class CensusRow:
    line: int
    pivot: NormalisedPivot
    commune: str


@dataclass(frozen=True, slots=True)
class Reject:
    """A refused line; ``reason`` names the column, never the value (no personal data)."""

    line: int
    reason: str


def read_census(text: str, *, communes: frozenset[str]) -> Iterator[CensusRow | Reject]:
    """Yield one :class:`CensusRow` or :class:`Reject` per data line, in file order.

    Raises ``ValueError`` when the header lacks a required column.
    """
    text = text.removeprefix("\ufeff")
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    header = [h.strip().lower() for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ValueError(f"the header lacks the column(s) {', '.join(missing)}")
    reader.fieldnames = header
    default_commune = next(iter(communes)) if len(communes) == 1 else None
    for raw in reader:
        line = reader.line_num
        row = {k: (v or "").strip() for k, v in raw.items() if k is not None}
        if not any(row.values()):
            continue
        commune = row.get("commune", "").upper() or default_commune
        if not commune:
            yield Reject(line, "commune is empty (the territory has several communes)")
            continue
        if commune not in communes:
            yield Reject(line, "commune is not in the territory")
            continue
        try:
            pivot = normalise_pivot(
                family_name=row["family_name"],
                given_names=row["given_names"],
                birthdate=row["birthdate"],
                birthplace=row["birthplace"],
                birthcountry=row.get("birthcountry", ""),
            )
        except NormalisationError as exc:
            yield Reject(line, str(exc))
            continue
        yield CensusRow(line, pivot, commune)
