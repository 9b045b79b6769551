"""The sandbox's test citizens and their failure scenarios.

franceconnect.md, "The sandbox Parvis ships": they mirror FranceConnect's own mock identities
(columns ``login, password, family_name, preferred_username, given_name, gender, email,
phone_number, birthdate, birthplace, birthcountry``; the first one is FranceConnect's
well-known "Angela Claire Louise DUBOIS") and cover the edge cases: usage name, compound and
50+ character names, accents, several first names, Corsican birthplace, born abroad (empty
birthplace), partial birth date, invalid COG code, disabled account. Each has a postal address
(FranceConnect v2 has none; the address is what the citizen would declare for the postal-code
path) in or near the demo city. A failure scenario can be attached to any citizen.

All identities are fictitious.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = [
    "DEMO_CITY",
    "TEST_CITIZENS",
    "Scenario",
    "TestCitizen",
    "citizen_by_login",
]

#: The demo city: Montreuil (Seine-Saint-Denis), INSEE COG commune code 93048.
DEMO_CITY: dict[str, str] = {"code": "93048", "name": "Montreuil", "postcode": "93100"}


class Scenario(StrEnum):
    """What goes wrong when this citizen signs in (franceconnect.md, "failure scenarios")."""

    NONE = "none"
    CANCEL = "cancel"  #: the citizen cancels: error=access_denied back to the client
    SERVER_ERROR = "server_error"  #: the token endpoint answers 500
    TIMEOUT = "timeout"  #: the token endpoint answers only after the sandbox's delay
    MALFORMED_USERINFO = "malformed_userinfo"  #: userinfo is not a JWS at all
    UNSIGNED_USERINFO = "unsigned_userinfo"  #: userinfo is a JWT with ``alg: none``
    MISSING_CLAIMS = "missing_claims"  #: userinfo drops family_name and birthdate


@dataclass(frozen=True, slots=True)
class TestCitizen:
    """One mock identity, in FranceConnect's mock-identity columns plus the sandbox's own."""

    __test__ = False  # not a pytest test class despite the name

    login: str
    family_name: str
    given_name: str
    gender: str
    birthdate: str
    birthplace: str
    birthcountry: str
    preferred_username: str = ""
    email: str = ""
    phone_number: str = ""
    address: str = ""
    commune: str = ""
    idp: str = "sandbox-impots"
    note: str = ""
    scenario: Scenario = Scenario.NONE
    disabled: bool = False
    password: str = "123"  # noqa: S105 - FranceConnect's public mock password
    extra: dict[str, Any] = field(default_factory=dict)

    def claims(self) -> dict[str, Any]:
        """Every claim this identity can give, in FranceConnect's formats."""
        return {
            "given_name": self.given_name,
            "given_name_array": self.given_name.split(),
            "family_name": self.family_name,
            "birthdate": self.birthdate,
            "gender": self.gender,
            "birthplace": self.birthplace,
            "birthcountry": self.birthcountry,
            "email": self.email,
            "preferred_username": self.preferred_username,
            "idp_birthdate": self.birthdate,
            "idp_id": self.idp,
            "amr": ["pwd"],
        }


def _montreuil(street: str) -> str:
    return f"{street}, {DEMO_CITY['postcode']} {DEMO_CITY['name']}"


TEST_CITIZENS: tuple[TestCitizen, ...] = (
    TestCitizen(
        login="test",
        family_name="DUBOIS",
        given_name="Angela Claire Louise",
        gender="female",
        birthdate="1962-08-24",
        birthplace="75107",
        birthcountry="99100",
        email="wossewodda-3728@yopmail.com",
        phone_number="123456789",
        address=_montreuil("12 rue de Paris"),
        commune="93048",
        note="FranceConnect's reference mock identity",
    ),
    TestCitizen(
        login="nom_usage",
        family_name="MARTIN",
        preferred_username="DURAND",
        given_name="Marie",
        gender="female",
        birthdate="1985-03-14",
        birthplace="93048",
        birthcountry="99100",
        email="marie.durand@example.org",
        address=_montreuil("4 place Jean Jaurès"),
        commune="93048",
        note="usage (married) name differs from the birth name",
    ),
    TestCitizen(
        login="nom_compose",
        family_name="DE LA FONTAINE-SAINT-HILAIRE",
        given_name="Jean-Baptiste",
        gender="male",
        birthdate="1990-07-01",
        birthplace="69123",
        birthcountry="99100",
        address=_montreuil("7 avenue de la Résistance"),
        commune="93048",
        note="compound family name and compound first name",
    ),
    TestCitizen(
        login="nom_long",
        family_name="WOLFESCHLEGELSTEINHAUSENBERGERDORFF-DE-MONTMORENCY-LAVAL",
        given_name="Hubert",
        gender="male",
        birthdate="1978-11-30",
        birthplace="33063",
        birthcountry="99100",
        address=_montreuil("1 rue Marcel Sembat"),
        commune="93048",
        note="family name longer than 50 characters",
    ),
    TestCitizen(
        login="accents",
        family_name="LÉFÈVRE-D'ARÇON",
        given_name="Éloïse Chloé",
        gender="female",
        birthdate="2008-02-29",
        birthplace="13055",
        birthcountry="99100",
        address=_montreuil("22 rue Étienne Marcel"),
        commune="93048",
        note="accents, apostrophe, born on 29 February",
    ),
    TestCitizen(
        login="accents_sans",
        family_name="LEFEVRE D ARCON",
        given_name="Eloise Chloe",
        gender="female",
        birthdate="2008-02-29",
        birthplace="13055",
        birthcountry="99100",
        idp="sandbox-ameli",
        address=_montreuil("22 rue Étienne Marcel"),
        commune="93048",
        note="same person as 'accents', spelled without accents by another provider "
        "(another FranceConnect sub, the same Parvis account)",
    ),
    TestCitizen(
        login="plusieurs_prenoms",
        family_name="NGUYEN",
        given_name="Thi Minh Anh",
        gender="female",
        birthdate="2001-05-05",
        birthplace="93048",
        birthcountry="99100",
        address=_montreuil("9 rue Kléber"),
        commune="93048",
        note="several first names",
    ),
    TestCitizen(
        login="corse",
        family_name="ORSINI",
        given_name="Pasquale",
        gender="male",
        birthdate="1955-06-15",
        birthplace="2A004",
        birthcountry="99100",
        address=_montreuil("3 rue de Romainville"),
        commune="93048",
        note="born in Ajaccio (Corsican COG code 2A004)",
    ),
    TestCitizen(
        login="ne_etranger",
        family_name="DIALLO",
        given_name="Aminata",
        gender="female",
        birthdate="1995-12-03",
        birthplace="",
        birthcountry="99350",
        address=_montreuil("15 boulevard Rouget de Lisle"),
        commune="93048",
        note="born abroad (Morocco, 99350): empty birthplace",
    ),
    TestCitizen(
        login="date_partielle",
        family_name="MOREAU",
        given_name="Lucien",
        gender="male",
        birthdate="1948-01-01",
        birthplace="44109",
        birthcountry="99100",
        address=_montreuil("30 rue de Vincennes"),
        commune="93048",
        note="partially known birth date (year only, encoded YYYY-01-01)",
    ),
    TestCitizen(
        login="cog_invalide",
        family_name="PETIT",
        given_name="Paul",
        gender="male",
        birthdate="1970-04-04",
        birthplace="2C001",
        birthcountry="99100",
        address=_montreuil("5 rue Hoche"),
        commune="93048",
        note="invalid COG birthplace code",
    ),
    TestCitizen(
        login="desactive",
        family_name="BLOQUE",
        given_name="Denis",
        gender="male",
        birthdate="1980-10-10",
        birthplace="75056",
        birthcountry="99100",
        disabled=True,
        note="disabled account: the provider refuses the sign-in",
    ),
    TestCitizen(
        login="jeune",
        family_name="LEROY",
        given_name="Inès",
        gender="female",
        birthdate="2012-06-15",
        birthplace="93048",
        birthcountry="99100",
        address=_montreuil("18 rue du Capitaine Dreyfus"),
        commune="93048",
        note="a teenager (youth budgets)",
    ),
    TestCitizen(
        login="hors_territoire",
        family_name="BERNARD",
        given_name="Lucas",
        gender="male",
        birthdate="1988-09-09",
        birthplace="75111",
        birthcountry="99100",
        address="40 rue Oberkampf, 75011 Paris",
        commune="75111",
        note="lives outside the demo city: not on its census (postal-code path)",
    ),
    TestCitizen(
        login="annule",
        family_name="GIRARD",
        given_name="Claire",
        gender="female",
        birthdate="1975-02-02",
        birthplace="93048",
        birthcountry="99100",
        scenario=Scenario.CANCEL,
        note="cancels at the provider: error=access_denied",
    ),
    TestCitizen(
        login="erreur_500",
        family_name="FOURNIER",
        given_name="Marc",
        gender="male",
        birthdate="1969-03-03",
        birthplace="93048",
        birthcountry="99100",
        scenario=Scenario.SERVER_ERROR,
        note="the token endpoint answers 500",
    ),
    TestCitizen(
        login="delai",
        family_name="LAMBERT",
        given_name="Sophie",
        gender="female",
        birthdate="1982-04-04",
        birthplace="93048",
        birthcountry="99100",
        scenario=Scenario.TIMEOUT,
        note="the token endpoint does not answer in time",
    ),
    TestCitizen(
        login="userinfo_malforme",
        family_name="FONTAINE",
        given_name="Hugo",
        gender="male",
        birthdate="1991-05-05",
        birthplace="93048",
        birthcountry="99100",
        scenario=Scenario.MALFORMED_USERINFO,
        note="userinfo is not a JWT",
    ),
    TestCitizen(
        login="userinfo_non_signe",
        family_name="ROUSSEAU",
        given_name="Léa",
        gender="female",
        birthdate="1993-06-06",
        birthplace="93048",
        birthcountry="99100",
        scenario=Scenario.UNSIGNED_USERINFO,
        note="userinfo is an unsigned JWT (alg none)",
    ),
    TestCitizen(
        login="claims_manquants",
        family_name="VINCENT",
        given_name="Nina",
        gender="female",
        birthdate="1999-07-07",
        birthplace="93048",
        birthcountry="99100",
        scenario=Scenario.MISSING_CLAIMS,
        note="userinfo lacks family_name and birthdate",
    ),
)


def citizen_by_login(login: str) -> TestCitizen | None:
    """The test citizen with this login, if any."""
    return next((c for c in TEST_CITIZENS if c.login == login), None)
