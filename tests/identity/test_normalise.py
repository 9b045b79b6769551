"""Normalising identity pivots (case, accents, hyphens, apostrophes, several first names) and
reading census files with a report of rows, duplicates and rejects with line numbers."""

from __future__ import annotations

import pytest

from identity.census import CensusRow, Reject, read_census
from identity.normalise import (
    NormalisationError,
    normalise_birthdate,
    normalise_name,
    normalise_pivot,
    pivot_hash,
)

KEY = b"k" * 32


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("Dubois", "DUBOIS"),
        ("dubois", "DUBOIS"),
        ("Léfèvre", "LEFEVRE"),
        ("LÉFÈVRE-D'ARÇON", "LEFEVREDARCON"),
        ("Lefevre d’Arcon", "LEFEVREDARCON"),  # typographic apostrophe
        ("Jean-Pierre", "JEANPIERRE"),
        ("Jean Pierre", "JEANPIERRE"),
        ("Œdipe", "OEDIPE"),
        ("Lætitia", "LAETITIA"),
        ("Strauß", "STRAUSS"),
        ("  Thi  Minh\tAnh ", "THIMINHANH"),
        ("Thi, Minh, Anh", "THIMINHANH"),
        ("Ñúñez", "NUNEZ"),
    ],
)
def test_names(raw: str, normal: str) -> None:
    assert normalise_name(raw) == normal


def test_name_without_letters_is_refused() -> None:
    with pytest.raises(NormalisationError):
        normalise_name("-- '")


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("1962-08-24", "1962-08-24"),
        ("24/08/1962", "1962-08-24"),
        ("1948-00-00", "1948-01-01"),  # unknown month and day, encoded as FranceConnect does
        ("00/00/1948", "1948-01-01"),
        ("1948-05-00", "1948-05-01"),
    ],
)
def test_birthdates(raw: str, normal: str) -> None:
    assert normalise_birthdate(raw) == normal


@pytest.mark.parametrize(
    "raw", ["1962-13-01", "1962-02-30", "62-08-24", "24.08.1962", "1800-01-01"]
)
def test_bad_birthdates(raw: str) -> None:
    with pytest.raises(NormalisationError):
        normalise_birthdate(raw)


def pivot(**kw: str) -> str:
    values = {
        "family_name": "Léfèvre-d'Arçon",
        "given_names": "Éloïse Chloé",
        "birthdate": "2008-02-29",
        "birthplace": "13055",
        "birthcountry": "99100",
    }
    values.update(kw)
    return pivot_hash(KEY, normalise_pivot(**values))


def test_spelling_variants_give_the_same_hash() -> None:
    assert pivot() == pivot(family_name="LEFEVRE D ARCON", given_names="Eloise, Chloe")
    assert pivot() == pivot(birthdate="29/02/2008")


def test_different_people_give_different_hashes() -> None:
    assert pivot() != pivot(given_names="Éloïse")
    assert pivot() != pivot(birthplace="13056")
    assert pivot() != pivot(birthdate="2008-03-01")


def test_hash_depends_on_the_key() -> None:
    normal = normalise_pivot(
        family_name="A", given_names="B", birthdate="2000-01-01", birthplace="93048"
    )
    assert pivot_hash(KEY, normal) != pivot_hash(b"j" * 32, normal)


def test_born_abroad_uses_the_country_code() -> None:
    normal = normalise_pivot(
        family_name="Diallo",
        given_names="Aminata",
        birthdate="1995-12-03",
        birthplace="",
        birthcountry="99350",
    )
    assert normal.birthplace == "99350"
    with pytest.raises(NormalisationError, match="birthplace"):
        normalise_pivot(
            family_name="Diallo",
            given_names="Aminata",
            birthdate="1995-12-03",
            birthplace="",
            birthcountry="99100",
        )


def test_corsican_birthplace() -> None:
    assert (
        normalise_pivot(
            family_name="Orsini", given_names="Pasquale", birthdate="1955-06-15", birthplace="2a004"
        ).birthplace
        == "2A004"
    )


CSV = """family_name,given_names,birthdate,birthplace,birthcountry,commune
DUBOIS,Angela Claire Louise,1962-08-24,75107,99100,93048
Dubois,"Angela, Claire, Louise",24/08/1962,75107,99100,93048
MARTIN,Marie,1985-03-14,93048,99100,93048
,Paul,1970-04-04,75056,99100,93048
PETIT,Paul,1970-04-04,2C001,99100,93048
BERNARD,Lucas,1988-09-09,75111,99100,75111
DIALLO,Aminata,1995-12-03,,99350,93048
MOREAU,Lucien,1948-13-01,44109,99100,93048

"""


def test_census_rows_duplicates_and_rejects_with_line_numbers() -> None:
    items = list(read_census(CSV, communes=frozenset({"93048"})))
    rows = [i for i in items if isinstance(i, CensusRow)]
    rejects = [i for i in items if isinstance(i, Reject)]
    assert [r.line for r in rows] == [2, 3, 4, 8]
    assert rows[0].pivot == rows[1].pivot  # a duplicate, spelled differently
    assert [(r.line, r.reason.split(":")[0]) for r in rejects] == [
        (5, "family_name"),
        (6, "birthplace"),
        (7, "commune is not in the territory"),
        (9, "birthdate"),
    ]
    for reject in rejects:
        assert "PETIT" not in reject.reason  # no personal data in the report
        assert "1970" not in reject.reason


def test_census_semicolon_bom_and_default_commune() -> None:
    text = "\ufefffamily_name;given_names;birthdate;birthplace\nDUBOIS;Angela;1962-08-24;75107\n"
    (row,) = read_census(text, communes=frozenset({"93048"}))
    assert isinstance(row, CensusRow)
    assert row.commune == "93048"


def test_census_needs_the_commune_when_the_territory_has_several() -> None:
    text = "family_name,given_names,birthdate,birthplace\nDUBOIS,Angela,1962-08-24,75107\n"
    (reject,) = read_census(text, communes=frozenset({"93048", "93049"}))
    assert isinstance(reject, Reject)
    assert reject.line == 2


def test_census_header_must_have_the_columns() -> None:
    with pytest.raises(ValueError, match="birthplace"):
        list(read_census("family_name,given_names,birthdate\n", communes=frozenset({"93048"})))
