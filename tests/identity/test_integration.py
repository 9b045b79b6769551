"""Identity wired to audit and consent (architecture.md, "The five parts"), on SQLite and
PostgreSQL:

- every eligibility decision, staff sign-in, census import, letter export and desk
  verification lands in the real audit log, with pseudonyms only in the immutable leaf;
- identity's attributes are sealed under consent's per-subject data keys, so an erasure
  granted through consent's data-subject requests crypto-shreds them;
- the letter export is an access record under the registered residency-verification purpose;
- the migration that moves the vault onto consent's keys.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pyotp
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, inspect, select, text

import audit
import consent
import identity
from consent import requests as dsr
from consent.bases import LegalBasis, Right
from consent.errors import SubjectErasedError
from identity.auditing import check_pseudonymous
from identity.errors import PurposeNotRegisteredError, StaffAuthenticationError
from identity.plugin import seed_demo
from identity.purposes import RESIDENCY_PURPOSE
from identity.sandbox import Sandbox
from identity.service import LETTER_FIELDS
from identity.tables import CitizenRow, PostalCodeRow, VaultAttributeRow
from parvis import migrate
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from parvis.kernel.db import make_engine
from parvis.kernel.principal import Role, Staff
from tests.identity.conftest import PUBLIC_URL, Flow
from tests.identity.test_residency import csrf, pseudonym
from tests.support.auth import sign_in as kernel_sign_in

ADDRESS = "12 rue de Paris\n93100 Montreuil"
STAFF_EMAIL = "Agent@Ville.example"
PASSWORD = "correct horse battery staple"


def events(ctx: AppContext, **filters: str) -> list[audit.AuditEvent]:
    with ctx.db.read_session() as db:
        return audit.service_from(ctx).query(db, limit=1000, **filters)


def ask_for_letter(ctx: AppContext, who: str) -> None:
    with ctx.db.write_session() as db:
        identity.service_from(ctx).request_postal_code(
            db, citizen_id=who, territory_id="demo-city", commune_code="93048", address=ADDRESS
        )


def agent_browser(app: FastAPI) -> TestClient:
    client = TestClient(app, base_url=PUBLIC_URL, follow_redirects=False)
    kernel_sign_in(client, app, Staff("agent1", frozenset({Role.AGENT})))
    return client


# -- audit -------------------------------------------------------------------------------------


def test_eligibility_census_desk_and_letters_are_in_the_audit_log(
    seeded: AppContext, flow: Flow, browser: TestClient, app: FastAPI
) -> None:
    imported = events(seeded, event_type="identity.census.imported")
    assert [(e.actor, e.subject, e.purpose) for e in imported] == [
        ("system:demo", None, RESIDENCY_PURPOSE)
    ]
    assert imported[0].details is not None
    assert imported[0].details["accepted"] >= 1

    flow.sign_in("hors_territoire")
    who = pseudonym(browser, seeded)
    page = browser.get("/mon-compte")
    assert 'data-reason="no_residency_evidence"' in page.text
    (decided,) = events(seeded, event_type="identity.eligibility.decided", subject=who)
    assert (decided.actor, decided.purpose) == (f"citizen:{who}", RESIDENCY_PURPOSE)
    assert decided.details == {
        "rule": "budget-participatif",
        "eligible": False,
        "reasons": ["no_residency_evidence"],
        "evidence": None,
        "assurance": 0,
    }

    ask_for_letter(seeded, who)
    with agent_browser(app) as agent:
        desk = agent.get("/staff/guichet")
        exported = agent.post("/staff/courriers.csv", data={"csrf_token": csrf(desk.text)})
    assert exported.status_code == 200, exported.text
    (letter,) = list(csv.DictReader(io.StringIO(exported.text)))
    assert letter["address"] == ADDRESS
    (summary,) = events(seeded, event_type="identity.postal.exported")
    assert (summary.actor, summary.purpose, summary.details) == (
        "staff:agent1",
        RESIDENCY_PURPOSE,
        {"letters": 1},
    )
    with seeded.db.read_session() as db:
        (read,) = consent.access_records(seeded, db, subject=who)
    assert (read.actor, read.purpose, read.fields) == (
        "staff:agent1",
        RESIDENCY_PURPOSE,
        tuple(sorted(LETTER_FIELDS)),
    )

    service = identity.service_from(seeded)
    with seeded.db.write_session() as db:
        code = service.new_desk_code(db, citizen_id=who)
    with seeded.db.write_session() as db:
        service.record_in_person(
            db,
            agent="staff:agent1",
            desk_code=code,
            territory_id="demo-city",
            commune_code="93048",
            reason="facture présentée",
        )
    desk_events = [
        e
        for e in events(seeded, event_type="identity.evidence.recorded", subject=who)
        if e.details is not None and e.details["kind"] == "in_person"
    ]
    assert [(e.actor, e.purpose) for e in desk_events] == [("staff:agent1", RESIDENCY_PURPOSE)]


def test_staff_sign_in_is_audited_by_id_never_by_email(ctx: AppContext, clock: FixedClock) -> None:
    service = identity.staff_service_from(ctx)
    with ctx.db.write_session() as db:
        staff = service.create(
            db,
            email=STAFF_EMAIL,
            roles=frozenset({Role.AGENT}),
            actor="system:test",
            password=PASSWORD,
        )
    code = pyotp.parse_uri(staff.totp_uri).at(clock.now())
    for email, password in (("nobody@ville.example", PASSWORD), (staff.email, "wrong password!")):
        with pytest.raises(StaffAuthenticationError):
            service.authenticate(email=email, password=password, totp_code=code)
    service.authenticate(email=staff.email, password=PASSWORD, totp_code=code)

    (signed_in,) = events(ctx, event_type="identity.staff.signed_in")
    assert (signed_in.actor, signed_in.subject) == (
        f"staff:{staff.staff_id}",
        f"staff:{staff.staff_id}",
    )
    failed = events(ctx, event_type="identity.staff.sign_in_failed")
    assert [(e.actor, e.subject) for e in failed] == [
        ("anonymous", None),
        ("anonymous", f"staff:{staff.staff_id}"),
    ]
    assert [e.details["reason"] for e in failed if e.details] == ["unknown_account", "password"]
    for event in failed:
        assert event.details is not None
        assert len(event.details["account"]) == 16  # a prefix of the keyed hash
    everything = json.dumps([(e.actor, e.subject, e.purpose, e.details) for e in events(ctx)])
    assert "ville.example" not in everything.lower()


def test_leaves_and_details_hold_no_personal_data(
    seeded: AppContext, flow: Flow, browser: TestClient, sandbox: Sandbox, app: FastAPI
) -> None:
    """After sign-in, eligibility, a letter and its export, the log's leaves (integrated
    into the Merkle tree) and the erasable details carry pseudonyms and codes only."""
    flow.sign_in("test")
    who = pseudonym(browser, seeded)
    browser.get("/mon-compte")
    ask_for_letter(seeded, who)
    with agent_browser(app) as agent:
        desk = agent.get("/staff/guichet")
        assert agent.post("/staff/courriers.csv", data={"csrf_token": csrf(desk.text)}).is_success
    log = audit.service_from(seeded)
    assert log.integrate() > 0
    with seeded.db.read_session() as db:
        size = log.head(db, log="audit").size
        leaves = b"\n".join(e.data for e in log.entries(db, log="audit", start=0, end=size))
        mine = log.query(db, subject=who, limit=1000)
    assert mine
    assert all(e.index is not None for e in mine), "integrated into the tree"
    details = json.dumps([e.details for e in events(seeded)], ensure_ascii=False)
    citizen = sandbox.citizens["test"]
    sub = sandbox.pairwise_sub(sandbox.clients[seeded.settings.fc_client_id], citizen)
    for secret in ("DUBOIS", "Angela", "1962-08-24", "75107", "rue de Paris", sub[:64]):
        assert secret.encode() not in leaves, f"{secret!r} in a leaf"
        assert secret not in details, f"{secret!r} in the details"
    assert who.encode() in leaves  # the pseudonym is what the leaves carry


def test_leaf_fields_refuse_anything_but_pseudonyms() -> None:
    check_pseudonymous(actor="staff:agent1", subject="0123abcd", purpose=RESIDENCY_PURPOSE)
    for bad in (
        {"actor": "staff:agent@ville.example", "subject": None, "purpose": None},
        {"actor": "anonymous", "subject": "Angela DUBOIS", "purpose": None},
        {"actor": "anonymous", "subject": "agent@ville.example", "purpose": None},
        {"actor": "Angela", "subject": None, "purpose": None},
        {"actor": "anonymous", "subject": None, "purpose": "Vérification"},
    ):
        with pytest.raises(ValueError, match="audit"):
            check_pseudonymous(**bad)


# -- consent: data keys, erasure, purpose, access records ----------------------------------


def test_erasure_through_consent_crypto_shreds_identity_attributes(
    seeded: AppContext, flow: Flow, browser: TestClient
) -> None:
    flow.sign_in("hors_territoire")
    who = pseudonym(browser, seeded)
    ask_for_letter(seeded, who)
    vault = identity.service_from(seeded).vault
    keys = consent.data_keys(seeded)
    with seeded.db.read_session() as db:
        # a copy of the ciphertexts, as a backup of identity's table would hold them
        copies = {
            row.name: row.ciphertext
            for row in db.scalars(
                select(VaultAttributeRow).where(VaultAttributeRow.citizen_id == who)
            )
        }
        assert {name.split(":")[0] for name in copies} == {"birthdate", "letter"}
        assert vault.get(db, who, "birthdate") == b"1988-09-09"
        # sealed under consent's key of this citizen, bound to the attribute's name
        assert keys.decrypt_for(db, who, copies["birthdate"], "identity/birthdate") == b"1988-09-09"

    with seeded.db.write_session() as db:
        request = dsr.open_request(
            seeded,
            db,
            subject=who,
            controller_id="ville-demo",
            right=Right.ERASURE,
            opened_by=f"citizen:{who}",
            channel="privacy_page",
            identity_method="FranceConnect session",
        )
    with seeded.db.write_session() as db:
        dsr.complete(
            seeded, db, request.id, outcome=dsr.Outcome.GRANTED, motivation="", actor="staff:dpo1"
        )

    with seeded.db.read_session() as db:
        assert keys.is_shredded(db, who)
        for name, sealed in copies.items():
            with pytest.raises(SubjectErasedError):
                keys.decrypt_for(db, who, sealed, f"identity/{name}")
        assert vault.get(db, who, "birthdate") is None
        assert vault.export(db, who) == {}
        assert db.get(CitizenRow, who) is None
        left = select(func.count()).where(VaultAttributeRow.citizen_id == who)
        assert db.scalar(left) == 0
    (erased,) = events(seeded, event_type="consent.subject.erased", subject=who)
    assert erased.details is not None
    assert "identity" in erased.details["erasers"]
    # consent also erased the details of identity's audit events about the citizen
    requested = events(seeded, event_type="identity.postal.requested", subject=who)
    assert requested
    assert all(e.details is None for e in requested)


def test_demo_seed_registers_the_purpose_as_public_task(seeded: AppContext) -> None:
    with seeded.db.read_session() as db:
        record = consent.service_from(seeded).purpose(db, RESIDENCY_PURPOSE)
    assert record.purpose.legal_basis is LegalBasis.PUBLIC_TASK
    assert record.purpose.controller_id == "ville-demo"
    again = list(seed_demo(seeded))
    assert f"identity: purpose {RESIDENCY_PURPOSE} already in the register" in again
    with seeded.db.read_session() as db:
        assert consent.service_from(seeded).purpose(db, RESIDENCY_PURPOSE).version == 1


def test_letters_wait_until_the_purpose_is_in_the_register(
    ctx: AppContext, flow: Flow, browser: TestClient, app: FastAPI
) -> None:
    lines = list(seed_demo(ctx))  # identity alone: no controller, so no purpose
    assert any("not registered" in line for line in lines)
    flow.sign_in("hors_territoire")
    who = pseudonym(browser, ctx)
    ask_for_letter(ctx, who)
    service = identity.service_from(ctx)
    with pytest.raises(PurposeNotRegisteredError), ctx.db.write_session() as db:
        service.export_letters(db, actor="staff:agent1")
    with agent_browser(app) as agent:
        desk = agent.get("/staff/guichet")
        refused = agent.post("/staff/courriers.csv", data={"csrf_token": csrf(desk.text)})
    assert refused.status_code == 409
    assert RESIDENCY_PURPOSE in refused.text
    assert "rue de Paris" not in refused.text
    with ctx.db.read_session() as db:
        letter_id = db.scalar(select(PostalCodeRow.id))
        assert db.scalar(select(PostalCodeRow.exported_at)) is None
        assert consent.access_records(ctx, db, subject=who) == []
        assert service.vault.get(db, who, f"letter:{letter_id}") is not None, "still waiting"


# -- the migration -------------------------------------------------------------------------


def test_migration_moves_the_vault_onto_consent_keys(empty_database_url: str) -> None:
    url = empty_database_url
    migrate.upgrade(url, "identity_0001")
    engine = make_engine(url)
    now = datetime(2026, 1, 15, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO identity_citizens (id, pivot_hash, birth_year, acr, created_at, "
                "last_sign_in_at) VALUES ('c1', :h, 1962, 'eidas1', :t, :t)"
            ),
            {"h": "a" * 64, "t": now},
        )
        conn.execute(
            text(
                "INSERT INTO identity_territories (id, name, cog_vintage, created_at) "
                "VALUES ('t', 'T', 2025, :t)"
            ),
            {"t": now},
        )
        conn.execute(
            text(
                "INSERT INTO identity_vault_keys (citizen_id, wrapped_key, created_at) "
                "VALUES ('c1', :k, :t)"
            ),
            {"k": b"k" * 72, "t": now},
        )
        conn.execute(
            text(
                "INSERT INTO identity_vault_attributes (citizen_id, name, ciphertext, updated_at) "
                "VALUES ('c1', 'birthdate', :c, :t)"
            ),
            {"c": b"c" * 50, "t": now},
        )
        for letter, exported in (("waiting", None), ("sent", now)):
            conn.execute(
                text(
                    "INSERT INTO identity_postal_codes (id, citizen_id, territory_id, "
                    "commune_code, cog_vintage, code_hash, attempts, status, created_at, "
                    "expires_at, exported_at) VALUES (:id, 'c1', 't', '93048', 2025, :h, 0, "
                    "'pending', :t, :t, :e)"
                ),
                {"id": letter, "h": "b" * 64, "t": now, "e": exported},
            )
    migrate.upgrade(url)
    assert migrate.schema_status(url).at_head
    inspector = inspect(engine)
    assert "identity_vault_keys" not in inspector.get_table_names()
    (fk,) = inspector.get_foreign_keys("identity_vault_attributes")
    assert fk["referred_table"] == "identity_citizens"
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM identity_vault_attributes")) == 0
        statuses = dict(conn.execute(text("SELECT id, status FROM identity_postal_codes")).all())
    assert statuses == {"waiting": "void", "sent": "pending"}, "an exported code still works"
    migrate.downgrade(url, "identity_0001")
    assert "identity_vault_keys" in inspect(engine).get_table_names()
    migrate.upgrade(url)
    engine.dispose()
