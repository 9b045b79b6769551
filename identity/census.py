"""Reading a city's census or electoral-roll CSV into normalised pivots (pure core).

``parvis territory import-census --territory ID FILE.csv`` (franceconnect.md, "Residency and
eligibility") normalises (case, accents, hyphens, apostrophes, several first names —
:mod:`identity.normalise`) and stores only keyed hashes; the import report counts rows,
duplicates and rejects with their line numbers. This module decodes, parses and normalises;
the service hashes and stores.

Columns (header line required, ``,`` or ``;`` separated — :class:`csv.Sniffer` decides —
in UTF-8 with or without BOM, Windows-1252 or Latin-1, see :func:`decode_census`):
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

__all__ = [
    "REQUIRED_COLUMNS",
    "CensusFileError",
    "CensusRow",
    "Reject",
    "decode_census",
    "read_census",
]

REQUIRED_COLUMNS = ("family_name", "given_names", "birthdate", "birthplace")

#: Encodings a town hall's spreadsheet writes a CSV in, tried strictly in this order: UTF-8
#: (``utf-8-sig`` drops a BOM), then Windows-1252 (French Excel's "CSV (séparateur : point-
#: virgule)"; it has ``œ``, ``€`` and curly quotes in 0x80–0x9F), then Latin-1, which decodes
#: any byte and so only serves the five bytes Windows-1252 leaves undefined. Valid UTF-8 is
#: almost never valid-looking Windows-1252 text, so the order settles the ambiguity.
ENCODINGS = ("utf-8-sig", "cp1252", "latin-1")

_BOMS = {b"\xff\xfe": "UTF-16", b"\xfe\xff": "UTF-16"}


class CensusFileError(ValueError):
    """The file is not a census CSV Parvis can read (the message says why, on one line)."""


def decode_census(raw: bytes) -> str:
    """Decode a census file's bytes (:data:`ENCODINGS`), refusing what is not text.

    Raises :class:`CensusFileError` for an empty file, a binary file (a NUL byte, or control
    characters no spreadsheet writes) and UTF-16 (the one other encoding spreadsheets offer).
    """
    if not raw.strip():
        raise CensusFileError("the file is empty")
    for bom, name in _BOMS.items():
        if raw.startswith(bom):
            raise CensusFileError(f"the file is {name}; save it as CSV in UTF-8 or Windows-1252")
    if b"\x00" in raw:
        raise CensusFileError("the file is binary, not CSV text")
    for encoding in ENCODINGS:
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        if any(_is_control(ch) for ch in text):
            # Latin-1 maps 0x80–0x9F to C1 controls; text with those (or with C0 controls)
            # is not a spreadsheet's CSV in any of the accepted encodings.
            raise CensusFileError("the file is not CSV text in UTF-8, Windows-1252 or Latin-1")
        return text
    raise AssertionError("latin-1 decodes every byte")  # pragma: no cover


def _is_control(ch: str) -> bool:
    code = ord(ch)
    return (code < 0x20 and ch not in "\t\r\n") or 0x7F <= code <= 0x9F


def _delimiter(text: str) -> str:
    """``;`` or ``,``: :class:`csv.Sniffer` on the first lines, else the header's majority."""
    sample = "\n".join(text.splitlines()[:20])
    try:
        return csv.Sniffer().sniff(sample, delimiters=";,").delimiter
    except csv.Error:
        first_line = sample.split("\n", 1)[0]
        return ";" if first_line.count(";") > first_line.count(",") else ","


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

    Raises :class:`CensusFileError` when the header lacks a required column or no line
    follows it.
    """
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise CensusFileError("the file is empty")
    reader = csv.DictReader(io.StringIO(text), delimiter=_delimiter(text))
    header = [h.strip().lower() for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        # The header's own names are not echoed: a file without a header line would print a
        # person's name from its first line.
        raise CensusFileError(
            f"the header lacks the column(s) {', '.join(missing)}"
            f" (expected: {', '.join(REQUIRED_COLUMNS)}, optional birthcountry, commune)"
        )
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
