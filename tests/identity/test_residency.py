"""Residency evidence and eligibility through the service and the pages (SQLite and
PostgreSQL): census import and CLI, the citizen page, postal-letter codes, the agent desk,
self-declaration, paper votes, stored and audited decisions."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from typer.testing import CliRunner

import audit
import identity
from identity.eligibility import Evidence, Reason, Rule, Territory
from identity.errors import AttemptsExhaustedError, CodeExpiredError, WrongCodeError
from identity.tables import CensusEntryRow, CitizenRow, DecisionRow, PostalCodeRow
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from parvis.kernel.principal import Citizen, Role, Staff
from parvis.kernel.sessions import cookie_name
from tests.identity.conftest import Flow
from tests.support.auth import sign_in as kernel_sign_in


def pseudonym(browser: TestClient, ctx: AppContext) -> str:
    with ctx.db.write_session() as db:
        session = ctx.sessions.load(db, browser.cookies.get(cookie_name(secure=False)))
    assert session is not None
    assert isinstance(session.principal, Citizen)
    return session.principal.pseudonym


def csrf(page_html: str) -> str:
    return page_html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def test_census_match_makes_the_citizen_eligible(
    seeded: AppContext, flow: Flow, browser: TestClient
) -> None:
    flow.sign_in("test")
    page = browser.get("/mon-compte")
    assert page.status_code == 200
    assert 'class="ok eligible"' in page.text
    assert "recensement ou liste électorale" in page.text  # French first
    who = pseudonym(browser, seeded)
    with seeded.db.write_session() as db:
        decision = identity.eligibility_for(
            seeded, db, citizen_pseudonym=who, rule_id="budget-participatif"
        )
    assert decision.eligible
    assert decision.evidence is Evidence.CENSUS
    with seeded.db.read_session() as db:
        assert db.scalar(select(func.count()).select_from(DecisionRow)) == 2  # page + call
    with seeded.db.read_session() as db:
        decided = audit.service_from(seeded).query(
            db, event_type="identity.eligibility.decided", subject=who
        )
    assert len(decided) == 2  # page + call, each in the real audit log
    assert decided[-1].actor == f"citizen:{who}"
    assert decided[-1].purpose == "residency-verification"
    assert decided[-1].details is not None
    assert decided[-1].details["eligible"] is True
    assert decided[-1].details["evidence"] == "census"


@pytest.mark.parametrize(("persona", "eligible"), [("test", True), ("hors_territoire", False)])
def test_check_eligibility_decides_alike_and_stores_nothing(
    seeded: AppContext, flow: Flow, browser: TestClient, persona: str, eligible: bool
) -> None:
    """The issuance check (ballot-secrecy.md §2): the same decision as ``eligibility_for``,
    without a decision row or an audit event that would time it."""
    flow.sign_in(persona)
    who = pseudonym(browser, seeded)

    def trail() -> tuple[int, int]:
        with seeded.db.read_session() as db:
            rows = db.scalar(select(func.count()).select_from(DecisionRow))
            events = audit.service_from(seeded).query(db, subject=who, limit=1000)
        return int(rows or 0), len(events)

    before = trail()
    with seeded.db.write_session() as db:
        checked = identity.check_eligibility(
            seeded, db, citizen_pseudonym=who, rule_id="budget-participatif"
        )
    assert trail() == before
    with seeded.db.write_session() as db:
        stored = identity.eligibility_for(
            seeded, db, citizen_pseudonym=who, rule_id="budget-participatif"
        )
    assert trail() == (before[0] + 1, before[1] + 1)  # the stored kind does write
    assert checked.eligible is eligible
    assert (checked.eligible, checked.reasons, checked.evidence, checked.assurance) == (
        stored.eligible,
        stored.reasons,
        stored.evidence,
        stored.assurance,
    )


def test_outsider_sees_why_and_completes_the_postal_code_path(
    seeded: AppContext, flow: Flow, browser: TestClient, clock: FixedClock
) -> None:
    flow.sign_in("hors_territoire")
    page = browser.get("/mon-compte")
    assert 'data-reason="no_residency_evidence"' in page.text
    assert "demandez ci-dessous un courrier" in page.text
    token = csrf(page.text)
    asked = browser.post(
        "/mon-compte/courrier",
        data={
            "csrf_token": token,
            "territory": "demo-city",
            "commune": "93048",
            "address": "12 rue de Paris\n93100 Montreuil",
        },
    )
    assert asked.status_code == 200, asked.text
    assert 'id="code"' in asked.text
    service = identity.service_from(seeded)
    with seeded.db.write_session() as db:
        export = service.export_letters(db, actor="staff:agent1")
    assert export.count == 1
    (letter,) = list(csv.DictReader(io.StringIO(export.csv_text)))
    assert letter["address"] == "12 rue de Paris\n93100 Montreuil"
    assert re.fullmatch(r"[A-Z2-9]{10}", letter["code"])
    with seeded.db.write_session() as db:
        assert service.export_letters(db, actor="staff:agent1").count == 0, "exported once"
    wrong = browser.post("/mon-compte/code", data={"csrf_token": token, "code": "AAAAAAAAAA"})
    assert wrong.status_code == 422
    assert "essais restants" in wrong.text
    right = browser.post(
        "/mon-compte/code",
        data={"csrf_token": token, "code": letter["code"].lower()[:5] + " " + letter["code"][5:]},
    )
    assert right.status_code == 200, right.text
    assert 'class="ok eligible"' in right.text
    assert "code reçu par courrier" in right.text


def test_account_forms_refuse_in_french(
    seeded: AppContext, flow: Flow, browser: TestClient, clock: FixedClock
) -> None:
    """The account page's refusals say what to do in the page language, never the
    service's English detail (identity.pages.ACCOUNT_ERRORS)."""
    flow.sign_in("hors_territoire")
    token = csrf(browser.get("/mon-compte").text)

    def letter(**fields: str) -> str:
        data = {"csrf_token": token, "territory": "demo-city", "commune": "93048"}
        data |= {"address": "12 rue de Paris, Montreuil", **fields}
        response = browser.post("/mon-compte/courrier", data=data)
        assert response.status_code == 422
        return response.text

    def code(value: str) -> str:
        response = browser.post("/mon-compte/code", data={"csrf_token": token, "code": value})
        assert response.status_code == 422
        return response.text

    refusals = [
        (letter(territory="atlantis"), "Ce territoire n’existe pas", "no such territory"),
        (letter(commune="75056"), "Cette commune n’est pas dans le territoire", "not in the"),
        (letter(address="x"), "L’adresse postale doit compter entre 5 et 300", "5 to 300"),
        (code("AAAAAAAAAA"), "Aucun courrier avec un code ne vous attend", "no letter is"),
    ]
    request_letter(seeded, pseudonym(browser, seeded))
    refusals.append((code("AAAAAAAAAA"), "Ce n’est pas le code imprimé", "does not match"))
    for _ in range(3):
        code("AAAAAAAAAA")
    refusals.append((code("AAAAAAAAAA"), "Trop de codes erronés", "too many wrong"))
    request_letter(seeded, pseudonym(browser, seeded))
    with seeded.db.write_session() as db:  # the letter's time ran out (not the session's)
        db.execute(update(PostalCodeRow).values(expires_at=clock.now() - timedelta(days=1)))
    refusals.append((code("AAAAAAAAAA"), "Ce code a expiré", "has expired"))
    for page, french, english in refusals:
        assert french in page
        assert english not in page
    # The same refusal in English for a visitor who chose English.
    browser.cookies.set("parvis_lang", "en")
    assert "No letter with a code is waiting for you: request a new one." in code("AAAAAAAAAA")


def request_letter(ctx: AppContext, who: str) -> str:
    service = identity.service_from(ctx)
    with ctx.db.write_session() as db:
        service.request_postal_code(
            db,
            citizen_id=who,
            territory_id="demo-city",
            commune_code="93048",
            address="1 rue Hoche, Montreuil",
        )
        export = service.export_letters(db, actor="staff:agent1")
    return next(csv.DictReader(io.StringIO(export.csv_text)))["code"]


def test_postal_code_attempts_are_limited(
    seeded: AppContext, flow: Flow, browser: TestClient
) -> None:
    flow.sign_in("hors_territoire")
    who = pseudonym(browser, seeded)
    code = request_letter(seeded, who)
    service = identity.service_from(seeded)
    for left in (4, 3, 2, 1):
        with pytest.raises(WrongCodeError) as caught:
            service.verify_postal_code(citizen_id=who, code="WRONGCODE2")
        assert caught.value.attempts_left == left
    with pytest.raises(AttemptsExhaustedError):
        service.verify_postal_code(citizen_id=who, code="WRONGCODE2")
    with pytest.raises(CodeExpiredError):
        service.verify_postal_code(citizen_id=who, code=code)


def test_postal_code_expires(
    seeded: AppContext, flow: Flow, browser: TestClient, clock: FixedClock
) -> None:
    flow.sign_in("hors_territoire")
    who = pseudonym(browser, seeded)
    code = request_letter(seeded, who)
    clock.advance(timedelta(days=45))
    with pytest.raises(CodeExpiredError):
        identity.service_from(seeded).verify_postal_code(citizen_id=who, code=code)
    with seeded.db.read_session() as db:
        assert db.scalar(select(PostalCodeRow.status)) == "expired"


def test_agent_desk_confirms_residency_without_any_document(
    seeded: AppContext, flow: Flow, browser: TestClient, app: object
) -> None:
    flow.sign_in("hors_territoire")
    page = browser.post(
        "/mon-compte/code-guichet", data={"csrf_token": csrf(browser.get("/mon-compte").text)}
    )
    desk_code = page.text.split('id="desk-code">', 1)[1].split("<", 1)[0]
    citizen_cookie = browser.cookies.get(cookie_name(secure=False))
    browser.cookies.clear()
    kernel_sign_in(browser, app, Staff("agent1", frozenset({Role.AGENT})))  # type: ignore[arg-type]
    desk = browser.get("/staff/guichet")
    assert desk.status_code == 200
    assert "Ne copiez ni ne numérisez aucun document" in desk.text
    missing_reason = browser.post(
        "/staff/guichet",
        data={
            "csrf_token": csrf(desk.text),
            "desk_code": desk_code,
            "territory_id": "demo-city",
            "commune": "93048",
            "reason": "",
        },
    )
    assert missing_reason.status_code == 422
    done = browser.post(
        "/staff/guichet",
        data={
            "csrf_token": csrf(desk.text),
            "desk_code": desk_code,
            "territory_id": "demo-city",
            "commune": "93048",
            "reason": "carte d'identité et facture présentées",
        },
    )
    assert done.status_code == 200, done.text
    reused = browser.post(
        "/staff/guichet",
        data={
            "csrf_token": csrf(desk.text),
            "desk_code": desk_code,
            "territory_id": "demo-city",
            "commune": "93048",
            "reason": "encore",
        },
    )
    assert reused.status_code == 422, "a desk code is single use"
    browser.cookies.clear()
    browser.cookies.set(cookie_name(secure=False), citizen_cookie or "")
    assert "vérification au guichet" in browser.get("/mon-compte").text


def test_self_declaration_counts_only_where_accepted(
    seeded: AppContext, flow: Flow, browser: TestClient
) -> None:
    service = identity.service_from(seeded)
    with seeded.db.write_session() as db:
        service.save_rule(
            db,
            Rule(
                id="consultation",
                name="Consultation",
                territory_id="demo-city",
                accepted_evidence=frozenset({Evidence.CENSUS, Evidence.POSTAL_CODE}),
                reference_date=seeded.clock.now().date(),
            ),
            actor="staff:admin",
        )
    flow.sign_in("hors_territoire")
    who = pseudonym(browser, seeded)
    with seeded.db.write_session() as db:
        service.self_declare(db, citizen_id=who, territory_id="demo-city", commune_code="93048")
        assert identity.eligibility_for(
            seeded, db, citizen_pseudonym=who, rule_id="budget-participatif"
        ).eligible
        strict = identity.eligibility_for(seeded, db, citizen_pseudonym=who, rule_id="consultation")
    assert strict.reasons == (Reason.EVIDENCE_NOT_ACCEPTED,)


def test_new_cog_vintage_voids_older_evidence(
    seeded: AppContext, flow: Flow, browser: TestClient
) -> None:
    flow.sign_in("test")
    who = pseudonym(browser, seeded)
    service = identity.service_from(seeded)
    with seeded.db.write_session() as db:
        service.save_territory(
            db,
            Territory(
                id="demo-city", name="Montreuil", cog_vintage=2026, communes=frozenset({"93048"})
            ),
            actor="staff:admin",
        )
        decision = identity.eligibility_for(
            seeded, db, citizen_pseudonym=who, rule_id="budget-participatif"
        )
    assert decision.reasons == (Reason.COG_VINTAGE_MISMATCH,)


def test_paper_vote_excludes_online_eligibility(
    seeded: AppContext, flow: Flow, browser: TestClient
) -> None:
    service = identity.service_from(seeded)
    with seeded.db.write_session() as db:
        service.save_rule(
            db,
            Rule(
                id="referendum",
                name="Consultation",
                territory_id="demo-city",
                accepted_evidence=frozenset(Evidence),
                reference_date=seeded.clock.now().date(),
                paper_votes=True,
            ),
            actor="staff:admin",
        )
        service.record_paper_vote(
            db,
            agent="staff:agent1",
            rule_id="referendum",
            family_name="Dubois",
            given_names="Angela, Claire, Louise",
            birthdate="24/08/1962",
            birthplace="75107",
        )
    flow.sign_in("test")
    who = pseudonym(browser, seeded)
    with seeded.db.write_session() as db:
        assert identity.eligibility_for(
            seeded, db, citizen_pseudonym=who, rule_id="referendum"
        ).reasons == (Reason.PAPER_VOTE_RECORDED,)
        assert identity.eligibility_for(
            seeded, db, citizen_pseudonym=who, rule_id="budget-participatif"
        ).eligible


def test_census_reimport_supersedes_and_reports(ctx: AppContext) -> None:
    service = identity.service_from(ctx)
    csv_text = (
        "family_name,given_names,birthdate,birthplace\n"
        "DUBOIS,Angela Claire Louise,1962-08-24,75107\n"
        "Dubois,Angela-Claire-Louise,24/08/1962,75107\n"
        "NOBODY,,1962-08-24,75107\n"
    )
    with ctx.db.write_session() as db:
        service.save_territory(
            db,
            Territory(id="t", name="T", cog_vintage=2025, communes=frozenset({"93048"})),
            actor="staff:admin",
        )
        first = service.import_census(
            db, territory_id="t", csv_text=csv_text, electoral_roll=False, actor="staff:admin"
        )
    assert (first.rows, first.accepted, first.duplicates, first.duplicate_lines) == (3, 1, 1, (3,))
    assert [(r.line, r.reason.split(":")[0]) for r in first.rejects] == [(4, "given_names")]
    with ctx.db.write_session() as db:
        service.activate_census(
            db, import_id=first.import_id, actor="staff:admin", max_rejected_percent=50
        )
        second = service.import_census(
            db,
            territory_id="t",
            csv_text=csv_text.splitlines()[0] + "\nMARTIN,Paul,1970-04-04,75107\n",
            electoral_roll=True,
            actor="staff:admin",
        )
        assert second.would_lose_census == 1
        assert db.scalar(select(func.count()).select_from(CensusEntryRow)) == 2, (
            "the active census stays until the new one is activated"
        )
        service.activate_census(db, import_id=second.import_id, actor="staff:admin")
    with ctx.db.read_session() as db:
        assert db.scalar(select(func.count()).select_from(CensusEntryRow)) == 1, (
            "old hashes deleted"
        )


def test_import_census_cli(
    ctx: AppContext, settings: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from parvis.cli import build_cli

    with ctx.db.write_session() as db:
        identity.service_from(ctx).save_territory(
            db,
            Territory(
                id="demo-city", name="Montreuil", cog_vintage=2025, communes=frozenset({"93048"})
            ),
            actor="staff:admin",
        )
    path = tmp_path / "census.csv"
    path.write_text(
        "family_name,given_names,birthdate,birthplace\nDUBOIS,Angela,1962-08-24,75107\nPETIT,Paul,1970-04-04,2C001\n",
        encoding="utf-8",
    )
    for key, value in {
        "PARVIS_MODE": "test",
        "PARVIS_DATABASE_URL": ctx.settings.database_url,
        "PARVIS_DATA_DIR": str(tmp_path),
    }.items():
        monkeypatch.setenv(key, value)
    runner = CliRunner()
    result = runner.invoke(
        build_cli(), ["territory", "import-census", "--territory", "demo-city", str(path)]
    )
    # One line of two rejected is over the activation threshold: the preview, then exit 1.
    assert result.exit_code == 1, result.output
    assert "over the 5 % threshold" in result.output
    assert "rows: 2" in result.output
    assert "accepted: 1" in result.output
    assert "line 3: birthplace" in result.output
    assert "PETIT" not in result.output
    missing = runner.invoke(
        build_cli(), ["territory", "import-census", "--territory", "nowhere", str(path)]
    )
    assert missing.exit_code == 1
    assert "no such territory" in missing.output


def test_access_request_export_and_crypto_shredding(
    seeded: AppContext, flow: Flow, browser: TestClient
) -> None:
    flow.sign_in("hors_territoire")
    who = pseudonym(browser, seeded)
    service = identity.service_from(seeded)
    with seeded.db.write_session() as db:
        service.self_declare(db, citizen_id=who, territory_id="demo-city", commune_code="93048")
        identity.eligibility_for(seeded, db, citizen_pseudonym=who, rule_id="budget-participatif")
        exported = identity.export_citizen(seeded, db, citizen_pseudonym=who)
    assert exported["pseudonym"] == who
    assert exported["attributes"] == {"birthdate": "1988-09-09"}
    assert exported["evidence"][0]["kind"] == "self_declaration"
    assert exported["decisions"][-1]["eligible"] is True
    assert exported["on_census"] is False
    with seeded.db.write_session() as db:
        service.vault.shred(db, who)
    with seeded.db.read_session() as db:
        assert service.vault.get(db, who, "birthdate") is None


def test_consent_hooks_export_erase_and_age(
    seeded: AppContext, flow: Flow, browser: TestClient
) -> None:
    """identity plugs into consent's data-subject requests: exporter, eraser, age source."""
    import consent
    from consent import hooks

    flow.sign_in("jeune")
    who = pseudonym(browser, seeded)
    with seeded.db.write_session() as db:
        exported = hooks.exporters()["identity"](consent.ExportContext(seeded, db, who, "access"))
        assert exported["birth_year"] == 2012
        assert exported["on_census"] is True
        assert (
            hooks.exporters()["identity"](consent.ExportContext(seeded, db, "unknown", "access"))
            == {}
        )
        age_source = hooks.age_source()
        assert age_source is not None
        facts = age_source(seeded, db, who)
        assert facts is not None
        assert facts.birth_year == 2012
        hooks.erasers()["identity"](consent.ErasureContext(seeded, db, who, "staff:dpo1"))
    with seeded.db.read_session() as db:
        assert db.get(CitizenRow, who) is None
        assert identity.service_from(seeded).vault.get(db, who, "birthdate") is None
