"""The consent domain through HTTP: platform API, privacy page, DPO console, problem+json."""

from __future__ import annotations

import csv
import html
import io
import json
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from consent import requests as dsr
from consent import service_from
from consent.access import access_records
from consent.auditing import audit_of
from consent.clients import create_client, link_client
from consent.loader import load_document
from consent.receipts import ReceiptKey, verify_receipt
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from parvis.kernel.principal import Citizen, Role, Staff
from tests.consent.factories import catalogue, read_ods
from tests.support.auth import sign_in

PROBLEM = "tag:parvis.fr,2026:problem/"
ALICE = Citizen("alice-pseudo")
DPO = Staff("dpo-1", frozenset({Role.DPO}))


@pytest.fixture
def loaded(app: FastAPI) -> AppContext:
    ctx: AppContext = app.state.ctx
    doc = catalogue()
    doc["controllers"][0]["notices"] = [
        {"language": "fr", "text": "Notice."},
        {"language": "en", "text": "Notice."},
    ]
    other = catalogue(controller_id="ville-voisine")["controllers"][0]
    for p in other["purposes"]:
        p["id"] = "voisine-" + p["id"]
    other["notices"] = [{"language": "fr", "text": "Voisine."}]
    doc["controllers"].append(other)
    with ctx.db.write_session() as session:
        load_document(ctx, session, doc, actor="staff:dpo-1")
    return ctx


@pytest.fixture
def api_key(loaded: AppContext) -> str:
    """A deprecated interim API key (ADR 0007), for the tests of the deprecation period."""
    with loaded.db.write_session() as session:
        return create_client(
            loaded,
            session,
            client_id="decidim",
            controller_id="ville-exemple",
            name="Decidim",
            actor="staff:admin",
        )


@pytest.fixture
def access_token(client: TestClient, loaded: AppContext) -> str:
    """The platform as it authenticates now (ADR 0007): an OAuth client with the scope
    ``api:consent`` at the OpenID provider, linked to its controller by consent, and an
    access token from the client-credentials grant (RFC 6749 §4.4)."""
    from identity.oidc.clients import Registration
    from identity.oidc.service import oidc_from

    registration = Registration(
        client_id="decidim", name="Decidim", redirect_uris=(), scopes=("api:consent",)
    )
    with loaded.db.write_session() as session:
        secret = oidc_from(loaded).clients.create(session, registration)
        link_client(
            loaded,
            session,
            client_id="decidim",
            controller_id="ville-exemple",
            name="Decidim",
            actor="staff:admin",
        )
    assert secret is not None
    response = client.post(
        "/token",
        data={"grant_type": "client_credentials", "scope": "api:consent"},
        auth=("decidim", secret),
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


@pytest.fixture
def citizen(client: TestClient, app: FastAPI, loaded: AppContext) -> str:
    session = sign_in(client, app, ALICE)
    return session.csrf_token


def problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"] == PROBLEM + slug, body
    return body


def notice_id(ctx: AppContext, lang: str = "fr") -> str:
    with ctx.db.read_session() as session:
        notice = service_from(ctx).current_notice(session, "ville-exemple", lang)
        assert notice is not None
        return notice.id


def give(
    client: TestClient, csrf: str, ctx: AppContext, purpose: str = "newsletter"
) -> httpx.Response:
    return client.post(
        f"/mes-donnees/consentements/{purpose}",
        data={"csrf_token": csrf, "action": "give", "notice": notice_id(ctx)},
        follow_redirects=False,
    )


def test_privacy_page_needs_a_citizen(client: TestClient, loaded: AppContext) -> None:
    response = client.get("/mes-donnees")
    assert response.status_code == 401
    assert "/connexion" in response.text


def test_give_download_receipt_withdraw(
    client: TestClient, citizen: str, loaded: AppContext
) -> None:
    page = client.get("/mes-donnees")
    assert page.status_code == 200
    assert "Lettre d'information" in html.unescape(page.text)
    assert "mission d'intérêt public" in html.unescape(page.text)  # public task and its basis
    response = give(client, citizen, loaded)
    assert response.status_code == 303
    page = client.get(response.headers["location"])
    assert "Votre consentement est enregistré" in page.text
    link = page.text.split('href="/mes-donnees/recus/')[1].split('"')[0]
    receipt = client.get(f"/mes-donnees/recus/{link}")
    assert receipt.status_code == 200
    assert "attachment" in receipt.headers["content-disposition"]
    keys = client.get("/api/consent/v1/keys").json()
    verified = verify_receipt(
        receipt.content, trusted=[ReceiptKey.parse(json.dumps(keys["receipts"]))]
    )
    assert verified.event_type == "given"
    withdrawn = client.post(
        "/mes-donnees/consentements/newsletter",
        data={"csrf_token": citizen, "action": "withdraw"},
        follow_redirects=False,
    )
    assert withdrawn.status_code == 303
    with loaded.db.read_session() as session:
        assert not service_from(loaded).check(session, ALICE.pseudonym, "newsletter").in_force


def test_forms_need_the_csrf_token(client: TestClient, citizen: str, loaded: AppContext) -> None:
    response = client.post(
        "/mes-donnees/consentements/newsletter",
        data={"csrf_token": "forged", "action": "give", "notice": notice_id(loaded)},
    )
    problem(response, 403, "csrf")
    with loaded.db.read_session() as session:
        assert service_from(loaded).states(session, ALICE.pseudonym) == []


def test_page_refusals_are_explained(client: TestClient, citizen: str, loaded: AppContext) -> None:
    again = client.post(
        "/mes-donnees/consentements/newsletter",
        data={"csrf_token": citizen, "action": "withdraw"},
    )
    assert again.status_code == 409
    assert 'role="alert"' in again.text
    public_task = give(client, citizen, loaded, purpose="budget-participatif")
    assert public_task.status_code == 409
    assert "Le consentement ne s’applique pas à ce traitement" in public_task.text


def test_platform_api_check_list_and_events(
    client: TestClient, citizen: str, loaded: AppContext, access_token: str, clock: FixedClock
) -> None:
    auth = {"authorization": f"Bearer {access_token}"}
    give(client, citizen, loaded)
    url = f"/api/consent/v1/subjects/{ALICE.pseudonym}/consents/newsletter"
    body = client.get(url, headers=auth).json()
    assert body["consented"] is True
    assert body["status"] == "given"
    listing = client.get(f"/api/consent/v1/subjects/{ALICE.pseudonym}/consents", headers=auth)
    assert [c["purpose"] for c in listing.json()["consents"]] == ["newsletter"]
    purposes = client.get("/api/consent/v1/purposes", headers=auth).json()
    assert {p["id"] for p in purposes["purposes"]} == {
        "newsletter",
        "budget-participatif",
        "listes-electorales",
    }
    created = client.post(
        "/api/consent/v1/events",
        json={"subject": ALICE.pseudonym, "purpose": "newsletter", "status": "withdrawn"},
        headers=auth,
    )
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "withdrawn"
    assert client.get(url, headers=auth).json()["consented"] is False
    # Each disclosure to the platform has its access record; identical reads within the
    # audit log's one-minute resolution are recorded once.
    with loaded.db.read_session() as session:
        reads = access_records(loaded, session, actor="platform:decidim")
    assert len(reads) == 1
    assert reads[0].fields == ("consent.status",)
    assert reads[0].subject == ALICE.pseudonym
    clock.advance(timedelta(minutes=1))
    client.get(url, headers=auth)
    with loaded.db.read_session() as session:
        assert len(access_records(loaded, session, actor="platform:decidim")) == 2


def test_platform_api_bad_input(
    client: TestClient, citizen: str, loaded: AppContext, access_token: str
) -> None:
    auth = {"authorization": f"Bearer {access_token}"}
    give(client, citizen, loaded)
    base = f"/api/consent/v1/subjects/{ALICE.pseudonym}/consents"
    problem(client.get(f"{base}/nope", headers=auth), 404, "consent-unknown-purpose")
    # another controller's purpose is answered like an unknown one
    problem(client.get(f"{base}/voisine-newsletter", headers=auth), 404, "consent-unknown-purpose")
    problem(
        client.get("/api/consent/v1/subjects/nobody/consents/newsletter", headers=auth),
        404,
        "consent-unknown-subject",
    )
    body = problem(
        client.get(f"{base}/budget-participatif", headers=auth), 422, "consent-not-applicable"
    )
    assert "object" in body["detail"]
    missing = problem(client.get(f"{base}/newsletter"), 401, "api-token-required")
    assert missing.get("detail", "").endswith("`Authorization: Bearer <token>`")
    problem(
        client.get(f"{base}/newsletter", headers={"authorization": "Bearer decidim.wrong"}),
        401,
        "consent-api-client",
    )
    events = "/api/consent/v1/events"
    send = {"subject": ALICE.pseudonym, "purpose": "newsletter"}
    problem(
        client.post(
            events, json={**send, "status": "given", "notice": notice_id(loaded)}, headers=auth
        ),
        409,
        "consent-transition",
    )  # already given
    client.post(events, json={**send, "status": "withdrawn"}, headers=auth)
    problem(
        client.post(events, json={**send, "status": "withdrawn"}, headers=auth),
        409,
        "consent-not-given",
    )
    problem(
        client.post(events, json={**send, "status": "given", "notice": "nope"}, headers=auth),
        404,
        "consent-unknown-notice",
    )
    problem(
        client.post(
            events, json={**send, "status": "given", "purpose": "budget-participatif"}, headers=auth
        ),
        422,
        "consent-not-applicable",
    )
    problem(client.post(events, json={**send, "status": "maybe"}, headers=auth), 422, "validation")
    problem(
        client.post(events, json={**send, "status": "given", "extra": 1}, headers=auth),
        422,
        "validation",
    )
    malformed = client.post(
        events, content=b'{"subject": ', headers={**auth, "content-type": "application/json"}
    )
    problem(malformed, 422, "validation")
    big = client.post(
        events,
        content=json.dumps({**send, "status": "given", "notice": "x" * 9000}),
        headers={**auth, "content-type": "application/json"},
    )
    problem(big, 413, "consent-body-too-large")
    wrong_type = client.post(
        events,
        content=b"status=given",
        headers={**auth, "content-type": "application/x-www-form-urlencoded"},
    )
    problem(wrong_type, 415, "unsupported-media-type")
    with loaded.db.read_session() as session:
        history = service_from(loaded).history(session, ALICE.pseudonym)
    assert [e.status.value for e in history] == ["given", "withdrawn"]


def test_access_request_deadline_extension_completion_export(
    client: TestClient, app: FastAPI, citizen: str, loaded: AppContext, clock: FixedClock
) -> None:
    give(client, citizen, loaded)
    opened = client.post(
        "/mes-donnees/demandes",
        data={
            "csrf_token": citizen,
            "right": "access",
            "controller": "ville-exemple",
            "note": "Tout, svp.",
        },
        follow_redirects=False,
    )
    assert opened.status_code == 303
    page = client.get("/mes-donnees")
    assert "2026-02-15" in page.text  # received 2026-01-15 (Paris), due one month later
    request_id = page.text.split('data-request="')[1].split('"')[0]
    dpo = TestClient(app, base_url="http://127.0.0.1")
    dpo_session = sign_in(dpo, app, DPO)
    console = dpo.get("/dpo")
    assert console.status_code == 200
    assert request_id in console.text
    assert "2026-02-15" in console.text
    assert dpo.get(f"/dpo/demandes/{request_id}").status_code == 200
    with loaded.db.read_session() as session:  # the DPO's read of the request is recorded
        reads = access_records(loaded, session, subject=ALICE.pseudonym, actor="staff:dpo-1")
    assert [(r.fields, r.purpose) for r in reads] == [
        (("request", "request.note"), "parvis:data-subject-requests")
    ]
    clock.advance(timedelta(days=10))  # sessions expire meanwhile: sign in again
    dpo_session = sign_in(dpo, app, DPO)
    sign_in(client, app, ALICE)
    extended = dpo.post(
        f"/dpo/demandes/{request_id}",
        data={
            "csrf_token": dpo_session.csrf_token,
            "action": "extend",
            "months": "2",
            "reasons": "Demandes nombreuses.",
        },
        follow_redirects=False,
    )
    assert extended.status_code == 303
    assert "2026-04-15" in client.get("/mes-donnees").text
    done = dpo.post(
        f"/dpo/demandes/{request_id}",
        data={
            "csrf_token": dpo_session.csrf_token,
            "action": "complete",
            "outcome": "granted",
            "motivation": "",
        },
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    export = client.get(f"/mes-donnees/demandes/{request_id}/export.json")
    assert export.status_code == 200
    data = export.json()
    assert data["subject"] == ALICE.pseudonym
    assert [s["purpose"] for s in data["consent"]["states"]] == ["newsletter"]
    assert data["consent"]["receipts"][0]["record"]["pii_principal_id"] == ALICE.pseudonym
    # Only the subject may download it.
    other = TestClient(app, base_url="http://127.0.0.1")
    sign_in(other, app, Citizen("mallory"))
    problem(
        other.get(f"/mes-donnees/demandes/{request_id}/export.json"), 404, "consent-unknown-request"
    )


def test_dpo_pages_need_the_dpo_role(client: TestClient, app: FastAPI, loaded: AppContext) -> None:
    assert client.get("/dpo").status_code == 401
    for principal, status in ((Staff("agent-1", frozenset({Role.AGENT})), 403), (ALICE, 401)):
        with TestClient(app, base_url="http://127.0.0.1") as other:
            sign_in(other, app, principal)
            assert other.get("/dpo").status_code == status


def test_register_export_and_edit(client: TestClient, app: FastAPI, loaded: AppContext) -> None:
    session = sign_in(client, app, DPO)
    csv_text = client.get("/dpo/registre/ville-exemple.csv")
    assert csv_text.status_code == 200
    assert csv_text.text.startswith("feuille,rubrique,élément,champ,valeur")
    as_json = client.get("/dpo/registre/ville-exemple.json").json()
    assert len(as_json["activities"]) == 3
    workbook = client.get("/dpo/registre/ville-exemple.ods")
    assert workbook.status_code == 200
    assert workbook.headers["content-type"] == "application/vnd.oasis.opendocument.spreadsheet"
    assert 'filename="registre-ville-exemple.ods"' in workbook.headers["content-disposition"]
    assert workbook.content[:2] == b"PK"
    assert workbook.content[30:38] == b"mimetype"  # ODF 1.2 §3.3: first, uncompressed
    sheets = read_ods(workbook.content)
    csv_rows = list(csv.reader(io.StringIO(csv_text.text)))[1:]
    assert list(sheets) == list(dict.fromkeys(r[0] for r in csv_rows))
    assert len(sheets) == 1 + 3  # the front page, then one sheet per activity
    for name, rows in sheets.items():
        assert rows[1:] == [r[1:] for r in csv_rows if r[0] == name]
    page = client.get("/dpo/finalites/newsletter")
    assert page.status_code == 200
    definition = page.text.split('class="definition" rows="30" spellcheck="false">')[1].split(
        "</textarea>"
    )[0]
    text = html.unescape(definition).replace("P1Y", "P2Y")
    saved = client.post(
        "/dpo/finalites/newsletter",
        data={"csrf_token": session.csrf_token, "definition": text, "reason": "durée"},
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    page = client.get("/dpo/finalites/newsletter?done=saved")
    assert "P2Y" in page.text
    bad = client.post(
        "/dpo/finalites/newsletter",
        data={
            "csrf_token": session.csrf_token,
            "definition": text.replace("consent_validity: P2Y", "consent_validity: forever"),
        },
    )
    assert bad.status_code == 422
    assert "forever" in bad.text
    console = client.get("/dpo")
    assert "publiez une nouvelle version" in console.text  # the notice no longer covers it


def test_dpo_console_shows_a_verified_audit_checkpoint(
    client: TestClient, app: FastAPI, citizen: str, loaded: AppContext
) -> None:
    give(client, citizen, loaded)
    integrated = audit_of(loaded).integrate()
    assert integrated > 0
    with TestClient(app, base_url="http://127.0.0.1") as dpo:
        sign_in(dpo, app, DPO)
        page = html.unescape(dpo.get("/dpo").text)
    status = page.split('id="audit-status">')[1].split("</p>")[0]
    assert "est vérifié avec la clé publiée" in status
    assert f"Entrées : {integrated}" in status
    assert "— " in page.split('<pre class="checkpoint">')[1]  # the signature line of the note


def test_dpo_console_flags_an_edited_audit_view(
    client: TestClient, app: FastAPI, citizen: str, loaded: AppContext
) -> None:
    """Someone with the database owner's rights edits the typed view the console queries;
    the console says its answers cannot be trusted and names the row."""
    from tests.audit.test_cli import operator

    give(client, citizen, loaded)
    audit_of(loaded).integrate()
    with TestClient(app, base_url="http://127.0.0.1") as dpo:
        sign_in(dpo, app, DPO)
        assert 'id="audit-view"' not in dpo.get("/dpo").text
        operator(loaded, "UPDATE audit_events SET actor = 'staff:intruder' WHERE seq = 1")
        page = html.unescape(dpo.get("/dpo").text)
    flag = page.split('id="audit-view">')[1].split("</p>")[0]
    assert "ne correspond pas au journal d’audit" in flag
    assert "audit_events row 1, entry 0: actor staff:intruder differs" in flag


def test_dpo_console_flags_a_rolled_back_log_until_acknowledged(
    request: pytest.FixtureRequest,
    client: TestClient,
    app: FastAPI,
    citizen: str,
    loaded: AppContext,
) -> None:
    """An older copy of the database is put back after the audit log moved on: the console
    says which log is behind which published checkpoint, until an operator acknowledges it
    (docs/adr/0017-rollback-detection.md)."""
    from tests.audit.conftest import record_many
    from tests.audit.test_rollback import snapshot_of

    service = audit_of(loaded)
    give(client, citizen, loaded)
    service.integrate()
    put_back = snapshot_of(request, loaded)
    record_many(service, loaded, 2)
    service.integrate()
    with TestClient(app, base_url="http://127.0.0.1") as dpo:
        sign_in(dpo, app, DPO)
        assert 'id="audit-rollback"' not in dpo.get("/dpo").text
        put_back()
        sign_in(dpo, app, DPO)  # the session was made after the copy: it is gone too
        page = html.unescape(dpo.get("/dpo").text)
        flag = page.split('id="audit-rollback">')[1].split("</div>")[0]
        assert "en retard sur des points de contrôle qu’ils ont déjà publiés" in flag
        assert "log audit has" in flag
        assert "acknowledge-rollback audit" in flag
        service.acknowledge_rollback(log="audit", reason="restore drill", actor="staff:ops")
        assert 'id="audit-rollback"' not in dpo.get("/dpo").text


def test_api_keys_are_stored_as_keyed_hashes_and_revocable(
    client: TestClient, loaded: AppContext, api_key: str
) -> None:
    from sqlalchemy import select

    from consent.clients import revoke_client
    from consent.tables import ApiClientRow

    secret = api_key.split(".", 1)[1]
    with loaded.db.read_session() as session:
        stored = session.scalars(select(ApiClientRow)).one()
    assert stored.api_key_hash is not None
    assert secret not in stored.api_key_hash
    assert len(stored.api_key_hash) == 64
    auth = {"authorization": f"Bearer {api_key}"}
    answer = client.get("/api/consent/v1/purposes", headers=auth)
    assert answer.status_code == 200
    assert "sunset" in answer.headers  # deprecated (ADR 0007)
    with loaded.db.write_session() as session:
        revoke_client(loaded, session, client_id="decidim", actor="staff:admin")
    problem(client.get("/api/consent/v1/purposes", headers=auth), 401, "consent-api-client")


class _FormReader(HTMLParser):
    """The fields a browser would send for the form ``form_id`` of a page, as rendered."""

    def __init__(self, form_id: str) -> None:
        super().__init__()
        self.form_id = form_id
        self.inside = False
        self.fields: dict[str, str] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.inside = a.get("id") == self.form_id
        if not self.inside:
            return
        if tag == "input" and "name" in a:
            self.fields[a["name"]] = a.get("value", "")
        elif tag == "select":
            self._select = a["name"]
        elif tag == "option" and self._select is not None:
            if "selected" in a or self._select not in self.fields:
                self.fields[self._select] = a["value"]
        elif tag == "textarea":
            self._textarea = a["name"]
            self.fields[a["name"]] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self.fields[self._textarea] += data


def _read_form(page: str, form_id: str) -> dict[str, str]:
    reader = _FormReader(form_id)
    reader.feed(page)
    return reader.fields


def _fields(page: str) -> dict[str, str]:
    return _read_form(page, "fields-form")


def test_register_entry_edited_field_by_field(
    client: TestClient, app: FastAPI, loaded: AppContext
) -> None:
    """Art. 30(1): the DPO changes the purpose's text, its legal basis details, a retention
    period and the recipients in a form, without YAML; each save is a new version."""
    session = sign_in(client, app, DPO)
    fields = _fields(client.get("/dpo/finalites/newsletter").text)
    assert fields["legal_basis"] == "consent"
    assert fields["consent_validity.years"] == "1"
    assert fields["category.0.retention_from"]
    fields.update(
        {
            "description.fr": "Lettre d’information mensuelle de la ville",
            "legal_basis_detail": "Consentement recueilli sur le site de la ville",
            "consent_validity.years": "2",
            "category.0.retention.years": "",
            "category.0.retention.months": "13",
            "category.0.disposition": "destruction",
            "reason": "durées revues",
        }
    )
    empty_row = next(
        k for k, v in fields.items() if k.startswith("recipient.") and k.endswith(".name") and not v
    )
    fields[empty_row] = "Service communication"
    fields[empty_row.replace(".name", ".kind")] = "internal"
    with loaded.db.read_session() as db:
        before = len(service_from(loaded).purpose_history(db, "newsletter"))
    saved = client.post("/dpo/finalites/newsletter/champs", data=fields, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    with loaded.db.read_session() as db:
        record = service_from(loaded).purpose(db, "newsletter")
        history = service_from(loaded).purpose_history(db, "newsletter")
    purpose = record.purpose
    assert purpose.description.fr == "Lettre d’information mensuelle de la ville"
    assert purpose.legal_basis_detail == "Consentement recueilli sur le site de la ville"
    assert str(purpose.consent_validity) == "P2Y"
    assert str(purpose.data_categories[0].retention) == "P13M"
    assert ("Service communication", "internal") in [(r.name, r.kind) for r in purpose.recipients]
    assert len(history) == before + 1
    assert "durées revues" in [v.reason for v in history]
    assert session.csrf_token == fields["csrf_token"]


def test_register_form_errors_are_french_and_next_to_their_field(
    client: TestClient, app: FastAPI, loaded: AppContext
) -> None:
    sign_in(client, app, DPO)
    fields = _fields(client.get("/dpo/finalites/newsletter").text)
    with loaded.db.read_session() as db:
        version = service_from(loaded).purpose(db, "newsletter").version
    fields.update(
        {
            "label.fr": "",
            "category.0.retention.years": "beaucoup",
            "consent_validity.years": "",
            "consent_validity.months": "",
            "consent_validity.days": "",
            "legal_basis": "whim",
        }
    )
    refused = client.post(
        "/dpo/finalites/newsletter/champs",
        data=fields,
        headers={"Accept-Language": "fr"},
        follow_redirects=False,
    )
    assert refused.status_code == 422
    text = html.unescape(refused.text)
    assert 'id="err-label-fr">Ce champ est obligatoire.' in text
    assert (
        'id="err-category-0-retention">Indiquez des nombres entiers d’années, de mois et de jours.'
        in text
    )
    assert 'id="err-legal_basis">Choisissez l’une des six bases légales.' in text
    assert "La fiche du registre n’a pas été enregistrée" in text
    assert 'value="beaucoup"' in text  # what was typed stays in the form
    with loaded.db.read_session() as db:
        assert service_from(loaded).purpose(db, "newsletter").version == version


AGENT = Staff("agent-1", frozenset({Role.AGENT}))


def test_desk_records_a_minors_joint_consent(
    client: TestClient, app: FastAPI, loaded: AppContext
) -> None:
    """Loi 78-17 art. 45: the agent records a consent given jointly by a minor and a holder
    of parental authority, in a form (not JSON); a missing parent is refused in French."""
    sign_in(client, app, AGENT)
    desk = client.get("/staff/guichet/donnees")
    assert desk.status_code == 200
    fields = _read_form(desk.text, "joint-form")
    assert fields["purpose"] == "newsletter"
    refused = client.post(
        "/staff/guichet/donnees/consentement-conjoint",
        data={**fields, "subject": "mineur-1", "choice": "give"},
        follow_redirects=False,
    )
    assert refused.status_code == 422
    assert 'id="joint-err-guardian">Ce champ est obligatoire.' in html.unescape(refused.text)
    saved = client.post(
        "/staff/guichet/donnees/consentement-conjoint",
        data={**fields, "subject": "mineur-1", "guardian": "parent-1", "choice": "give"},
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    assert "Le consentement conjoint est enregistré." in client.get(saved.headers["location"]).text
    with loaded.db.read_session() as db:
        state = service_from(loaded).check(db, "mineur-1", "newsletter").to_json()
        events = audit_of(loaded).query(db, subject="mineur-1")
    assert state["status"] == "given"
    assert any(e.details.get("joint_with") == "citizen:parent-1" for e in events), events


def test_desk_registers_a_request_made_on_someones_behalf(
    client: TestClient, app: FastAPI, loaded: AppContext
) -> None:
    sign_in(client, app, AGENT)
    fields = _read_form(client.get("/staff/guichet/donnees").text, "behalf-form")
    refused = client.post(
        "/staff/guichet/donnees/demande",
        data={**fields, "subject": "alice", "identity_method": "carte d’identité"},
        follow_redirects=False,
    )
    assert refused.status_code == 422
    assert 'id="behalf-err-mandate">Ce champ est obligatoire.' in html.unescape(refused.text)
    saved = client.post(
        "/staff/guichet/donnees/demande",
        data={
            **fields,
            "subject": "alice",
            "right": "access",
            "channel": "post",
            "identity_method": "carte d’identité du mandataire et de la personne",
            "mandate": "Mandat écrit de Mme B., réf. M-2026-14",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    with loaded.db.read_session() as db:
        opened = [r for r in dsr.queue(loaded, db) if r.subject == "alice"]
    assert [(r.right.value, r.channel, r.identity_checked) for r in opened] == [
        ("access", "post", True)
    ]
