"""The ``profile`` and ``email`` claims (docs/oidc-integration.md §3; ADR 0008), on both databases.

Released only with the citizen's explicit consent on the consent screen; the names and the
address come from the FranceConnect sandbox's sign-in, are held encrypted for that sign-in
only, retained encrypted in the vault while a grant needs them, deleted with the last such
grant, crypto-shredded on erasure, and never written in clear anywhere else (tables, logs,
audit entries)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from joserfc import jwk, jwt
from sqlalchemy import select

import consent
import identity
from consent import requests as dsr
from consent.bases import Right
from consent.errors import SubjectErasedError
from consent.ledger import Actor, ActorKind, Method, Status
from identity.oidc import locale_fr as oidc_fr
from identity.oidc.admin import disable_client
from identity.oidc.claims import CLAIM_GROUPS
from identity.oidc.service import oidc_from
from identity.oidc.tables import OidcGrantRow
from identity.relying_party import email_of
from identity.service import HELD_PREFIX
from identity.tables import VaultAttributeRow
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from parvis.kernel.db import Base
from parvis.kernel.settings import Settings
from tests.identity.conftest import Flow, query
from tests.identity.oidc.conftest import CodeFlow, bearer, register, tokens
from tests.identity.oidc.test_logout import forms
from tests.identity.test_residency import pseudonym

#: The sandbox's reference citizen (identity/sandbox/citizens.py, login "test").
GIVEN, FAMILY, EMAIL = "Angela Claire Louise", "DUBOIS", "wossewodda-3728@yopmail.com"
#: What must never appear in clear outside the vault's ciphertexts and the claims.
NEEDLES = ("Angela", "DUBOIS", "wossewodda")
WIDE = ("openid", "age", "profile", "email")


@pytest.fixture
def settings(make_settings: Any) -> Settings:
    """Parvis asks FranceConnect for the e-mail address too (ADR 0008: an operator adds
    ``email`` to ``PARVIS_FC_SCOPES`` once a platform is registered for it)."""
    result: Settings = make_settings(
        fc_scopes="openid given_name family_name birthdate birthplace birthcountry email"
    )
    return result


def vault_names(ctx: AppContext, who: str) -> set[str]:
    with ctx.db.read_session() as db:
        return set(
            db.scalars(select(VaultAttributeRow.name).where(VaultAttributeRow.citizen_id == who))
        )


def userinfo(browser: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    response = bearer(browser, body["access_token"])
    assert response.status_code == 200, response.text
    claims: dict[str, Any] = response.json()
    return claims


def id_token_claims(browser: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    keys = jwk.KeySet.import_key_set(browser.get("/jwks.json").json())
    return dict(jwt.decode(body["id_token"], keys).claims)


def revoke(browser: TestClient, client_id: str) -> None:
    """Disconnect a platform from the citizen's page, as the citizen does."""
    page = browser.get("/mon-compte/plateformes")
    assert page.status_code == 200
    by_client = {fields["client_id"]: (action, fields) for action, fields in forms(page.text)}
    action, fields = by_client[client_id]
    assert browser.post(action, data=fields).status_code == 303


def test_with_consent_the_platform_receives_the_sign_ins_names_and_address(
    code_flow: CodeFlow, ctx: AppContext, browser: TestClient
) -> None:
    wide = register(ctx, scopes=WIDE)
    page = code_flow.page(wide, scope="openid age profile email", ui_locales="fr")
    assert 'data-scope="profile"' in page.text
    assert 'data-scope="email"' in page.text
    # In plain French: what the platform will receive.
    assert "Vos prénoms et votre nom de naissance" in page.text
    assert "L&#39;adresse électronique de votre compte FranceConnect" in page.text
    who = pseudonym(browser, ctx)
    # Signed in, not yet consented: held for this sign-in only, nothing retained.
    assert vault_names(ctx, who) == {"birthdate", "sign-in:profile", "sign-in:email"}
    response = code_flow.consent(page)
    assert response.status_code == 302, response.text
    code = query(response.headers["location"])["code"]
    body = code_flow.exchange(wide, code).json()
    assert set(body["scope"].split()) == set(WIDE)
    info = userinfo(browser, body)
    assert (info["given_name"], info["family_name"]) == (GIVEN, FAMILY)
    assert info["email"] == EMAIL
    assert info["email_verified"] is False  # Parvis verified no address
    # The ID token says who and which session; the claims of the scopes are at userinfo.
    assert not {"given_name", "family_name", "email", "email_verified"} & set(
        id_token_claims(browser, body)
    )
    # Consented: retained (encrypted) under the grant; the sign-in's copy is gone.
    assert vault_names(ctx, who) == {"birthdate", "profile", "email"}


def test_without_consent_no_name_is_released_or_retained(
    code_flow: CodeFlow, ctx: AppContext, browser: TestClient
) -> None:
    wide = register(ctx, scopes=WIDE)
    page = code_flow.page(wide, scope="openid age profile email")
    refused = code_flow.consent(page, decision="deny")
    assert query(refused.headers["location"])["error"] == "access_denied"
    who = pseudonym(browser, ctx)
    assert not {"profile", "email"} & vault_names(ctx, who)
    # The same platform asking only for what rests on public task: no names either.
    body = tokens(code_flow, wide, scope="openid age")
    info = userinfo(browser, body)
    assert info["age_over_18"] is True
    assert not {"given_name", "family_name", "email", "email_verified"} & set(info)


def test_a_grant_to_one_platform_releases_nothing_to_another(
    code_flow: CodeFlow, ctx: AppContext, browser: TestClient
) -> None:
    first = register(ctx, scopes=WIDE)
    body = tokens(code_flow, first, scope="openid profile")
    assert userinfo(browser, body)["family_name"] == FAMILY
    # The first platform with a token for public-task scopes only: no names.
    body = tokens(code_flow, first, scope="openid age")
    assert "family_name" not in userinfo(browser, body)
    other = register(
        ctx,
        client_id="consul",
        name="CONSUL",
        redirect_uris=("https://consul.example.net/auth/cb",),
        post_logout_redirect_uris=(),
        scopes=("openid", "age"),
    )
    body = tokens(code_flow, other, scope="openid age profile email")
    assert not {"given_name", "family_name", "email"} & set(userinfo(browser, body))


def test_revoking_the_last_platform_that_needs_them_deletes_them(
    code_flow: CodeFlow, ctx: AppContext, browser: TestClient, flow: Flow, clock: FixedClock
) -> None:
    first = register(ctx, scopes=WIDE)
    second = register(
        ctx,
        client_id="consul",
        name="CONSUL",
        redirect_uris=("https://consul.example.net/auth/cb",),
        post_logout_redirect_uris=(),
        scopes=("openid", "profile"),
    )
    tokens(code_flow, first, scope="openid profile email")
    kept = tokens(code_flow, second, scope="openid profile")
    who = pseudonym(browser, ctx)
    assert {"profile", "email"} <= vault_names(ctx, who)

    revoke(browser, "decidim")
    # The other platform still has a grant for profile, none has one for email.
    assert vault_names(ctx, who) == {"birthdate", "profile"}
    assert userinfo(browser, kept)["given_name"] == GIVEN

    # A new FranceConnect sign-in refreshes what a grant needs, and only that.
    clock.advance(timedelta(minutes=5))
    flow.callback(flow.choose(flow.authorize(flow.start(again=True)), "test"))
    service = identity.service_from(ctx)
    with ctx.db.read_session() as db:
        assert service.vault.written_at(db, who, "profile") == clock.now()
    # email: no grant, but a registered platform may ask for it, so held for this sign-in.
    assert vault_names(ctx, who) == {"birthdate", "profile", "sign-in:email"}

    revoke(browser, "consul")
    assert vault_names(ctx, who) == {"birthdate"}
    with ctx.db.read_session() as db:
        assert service.released(db, who, "profile") == {}


def test_held_values_last_only_as_long_as_the_sign_in(
    code_flow: CodeFlow, ctx: AppContext, browser: TestClient, flow: Flow, clock: FixedClock
) -> None:
    register(ctx, scopes=WIDE)
    flow.sign_in("test")
    who = pseudonym(browser, ctx)
    assert {"sign-in:profile", "sign-in:email"} <= vault_names(ctx, who)
    service = identity.service_from(ctx)

    clock.advance(service.held_for)
    # A consent after the sign-in's end finds nothing to retain (and drops the stale copy).
    with ctx.db.write_session() as db:
        service.retain_released(db, who, {"profile"})
    assert vault_names(ctx, who) == {"birthdate", "sign-in:email"}

    # Another citizen's sign-in purges every expired held value.
    flow.sign_in("nom_usage")
    assert pseudonym(browser, ctx) != who
    assert vault_names(ctx, who) == {"birthdate"}


def test_signing_out_drops_what_was_held_for_the_sign_in(
    ctx: AppContext, browser: TestClient, flow: Flow
) -> None:
    register(ctx, scopes=WIDE)
    flow.sign_in("test")
    who = pseudonym(browser, ctx)
    assert {"sign-in:profile", "sign-in:email"} <= vault_names(ctx, who)
    page = browser.get("/mon-compte").text
    csrf = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    assert browser.post("/auth/logout", data={"csrf_token": csrf}).status_code == 303
    assert vault_names(ctx, who) == {"birthdate"}


def test_nothing_is_held_when_no_platform_may_ask_for_it(
    ctx: AppContext, browser: TestClient, flow: Flow
) -> None:
    register(ctx)  # openid eligibility age residence: no profile, no email
    flow.sign_in("test")
    assert vault_names(ctx, pseudonym(browser, ctx)) == {"birthdate"}


def test_withdrawal_in_the_registry_stops_the_release(
    seeded: AppContext, code_flow: CodeFlow, browser: TestClient
) -> None:
    # The demo register's consent purpose stands in for the platform's profile purpose.
    wide = register(seeded, scopes=WIDE, purposes={"profile": "lettre-information"})
    body = tokens(code_flow, wide, scope="openid profile")
    assert userinfo(browser, body)["family_name"] == FAMILY
    who = pseudonym(browser, seeded)
    registry = consent.service_from(seeded)
    with seeded.db.read_session() as db:
        state = registry.state(db, who, "lettre-information")
    assert state is not None
    assert state.status is Status.GIVEN
    with seeded.db.write_session() as db:
        registry.record(
            db,
            subject=who,
            purpose_id="lettre-information",
            status=Status.WITHDRAWN,
            actor=Actor(kind=ActorKind.SUBJECT),
            method=Method.WEB_FORM,
            interface="privacy-page",
        )
    assert "family_name" not in userinfo(browser, body)
    # Asked again, the platform meets the consent screen (prompt=none: consent_required).
    again = code_flow.authorize(wide, scope="openid profile", prompt="none")
    assert query(again.headers["location"])["error"] == "consent_required"


def test_erasure_shreds_the_names(
    seeded: AppContext, code_flow: CodeFlow, browser: TestClient
) -> None:
    wide = register(seeded, scopes=WIDE)
    body = tokens(code_flow, wide, scope="openid profile email")
    who = pseudonym(browser, seeded)
    keys = consent.data_keys(seeded)
    with seeded.db.read_session() as db:
        copies = {
            row.name: row.ciphertext
            for row in db.scalars(
                select(VaultAttributeRow).where(VaultAttributeRow.citizen_id == who)
            )
        }
    assert {"profile", "email"} <= set(copies)
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
    assert vault_names(seeded, who) == set()
    with seeded.db.read_session() as db:
        for name in ("profile", "email"):
            # A backup's copy of the ciphertext is unreadable: the key is destroyed.
            with pytest.raises(SubjectErasedError):
                keys.decrypt_for(db, who, copies[name], f"identity/{name}")
    assert bearer(browser, body["access_token"]).status_code == 401


def _everything_stored(ctx: AppContext) -> list[tuple[str, bytes]]:
    """Every value of every table, as bytes (what a dump of the database would show)."""
    out = []
    with ctx.db.read_session() as db:
        for table in Base.metadata.sorted_tables:
            for row in db.execute(select(table)):
                for value in row:
                    if isinstance(value, bytes | bytearray | memoryview):
                        out.append((table.name, bytes(value)))
                    elif value is not None:
                        out.append((table.name, str(value).encode()))
    return out


def test_names_are_never_in_clear_in_tables_logs_or_audit(
    code_flow: CodeFlow,
    ctx: AppContext,
    browser: TestClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    # SQL statements and their parameters: a name written anywhere in clear would show.
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    wide = register(ctx, scopes=WIDE)
    body = tokens(code_flow, wide, scope="openid age profile email")
    info = userinfo(browser, body)
    assert info["family_name"] == FAMILY  # the flow did release them
    who = pseudonym(browser, ctx)
    stored = _everything_stored(ctx)
    revoke(browser, "decidim")
    stored += _everything_stored(ctx)

    assert any(r.name.startswith("sqlalchemy.engine") for r in caplog.records)
    logged = "\n".join([r.getMessage() for r in caplog.records] + [caplog.text])
    for needle in NEEDLES:
        assert needle not in logged
        leaks = {table for table, value in stored if needle.encode() in value}
        assert leaks == set(), needle
    # the vault did hold them, sealed (so the check above looked at real ciphertexts)
    assert any(table == "identity_vault_attributes" for table, _ in stored)
    with ctx.db.read_session() as db:
        events = audit_rows(ctx, db, who)
    assert events  # sign-in, consent and revocation were audited …
    for needle in NEEDLES:  # … with pseudonyms and ids only
        assert all(needle not in repr(e) for e in events)


def audit_rows(ctx: AppContext, db: Any, who: str) -> list[Any]:
    import audit

    return list(audit.service_from(ctx).query(db, subject=who, limit=1000))


def test_every_claim_group_label_is_translated() -> None:
    """The consent screen shows ``_(group.label)``, which the template scan of
    tests/identity/test_i18n.py cannot see."""
    assert [g.label for g in CLAIM_GROUPS.values() if g.label not in oidc_fr.MESSAGES] == []


@pytest.mark.parametrize(
    ("claim", "kept"),
    [
        (EMAIL, EMAIL),
        ("", ""),
        (None, ""),
        (42, ""),
        ("no-at-sign", ""),
        ("a@b@c", ""),
        ("with space@example.org", ""),
        ("ctrl\x07@example.org", ""),
        ("x" * 250 + "@e.fr", ""),
    ],
)
def test_only_a_usable_address_is_kept(claim: object, kept: str) -> None:
    assert email_of({"email": claim}) == kept


def test_only_consented_groups_are_retained(
    code_flow: CodeFlow, ctx: AppContext, browser: TestClient
) -> None:
    wide = register(ctx, scopes=WIDE)
    tokens(code_flow, wide, scope="openid profile")
    who = pseudonym(browser, ctx)
    assert vault_names(ctx, who) == {"birthdate", "profile", HELD_PREFIX + "email"}
    with ctx.db.read_session() as db:
        facts = oidc_from(ctx).facts(db, who, {"profile", "email"})
    # email was not consented to: held for the sign-in, never a claim value
    assert facts == {"given_name": GIVEN, "family_name": FAMILY}


def grant_groups(ctx: AppContext, who: str, client_id: str) -> set[str]:
    with ctx.db.read_session() as db:
        row = db.get(OidcGrantRow, (who, client_id))
        assert row is not None
        return set(row.groups.split())


def withdraw(ctx: AppContext, who: str, purpose: str) -> None:
    """Withdraw in the registry itself (the consent pages, the API), not on the platforms
    page: the platform's grant row stays."""
    with ctx.db.write_session() as db:
        consent.service_from(ctx).record(
            db,
            subject=who,
            purpose_id=purpose,
            status=Status.WITHDRAWN,
            actor=Actor(kind=ActorKind.SUBJECT),
            method=Method.WEB_FORM,
            interface="privacy-page",
        )


def test_disabling_a_platform_deletes_what_only_it_needed(
    code_flow: CodeFlow, ctx: AppContext, browser: TestClient, flow: Flow, clock: FixedClock
) -> None:
    first = register(ctx, scopes=WIDE)
    second = register(
        ctx,
        client_id="consul",
        name="CONSUL",
        redirect_uris=("https://consul.example.net/auth/cb",),
        post_logout_redirect_uris=(),
        scopes=("openid", "profile"),
    )
    tokens(code_flow, first, scope="openid profile email")
    kept = tokens(code_flow, second, scope="openid profile")
    who = pseudonym(browser, ctx)
    assert vault_names(ctx, who) == {"birthdate", "profile", "email"}

    # The admin's disabling (pages and CLI), in one transaction with the pruning.
    with ctx.db.write_session() as db:
        disable_client(ctx, db, first.client_id, actor="staff:admin")
    # Only the disabled platform needed the address; the other still needs the names.
    assert vault_names(ctx, who) == {"birthdate", "profile"}
    assert userinfo(browser, kept)["given_name"] == GIVEN

    with ctx.db.write_session() as db:
        oidc_from(ctx).clients.disable(db, second.client_id)
    assert vault_names(ctx, who) == {"birthdate"}
    # The grants stay (enabling lifts only the flag); they count again once enabled, and
    # the next FranceConnect sign-in refreshes what they need.
    assert grant_groups(ctx, who, first.client_id) == {"profile", "email"}
    with ctx.db.write_session() as db:
        assert oidc_from(ctx).clients.enable(db, first.client_id) is True
    clock.advance(timedelta(minutes=5))
    flow.callback(flow.choose(flow.authorize(flow.start(again=True)), "test"))
    assert vault_names(ctx, who) == {"birthdate", "profile", "email"}


def test_disabling_a_platform_without_name_grants_deletes_nothing(
    code_flow: CodeFlow, ctx: AppContext, browser: TestClient
) -> None:
    wide = register(ctx, scopes=WIDE)
    other = register(
        ctx,
        client_id="consul",
        name="CONSUL",
        redirect_uris=("https://consul.example.net/auth/cb",),
        post_logout_redirect_uris=(),
        scopes=("openid", "age"),
    )
    tokens(code_flow, wide, scope="openid profile email")
    tokens(code_flow, other, scope="openid age")
    who = pseudonym(browser, ctx)
    with ctx.db.write_session() as db:
        pruned = identity.service_from(ctx).prune_released_for_client(db, other.client_id)
        done = oidc_from(ctx).clients.disable(db, other.client_id)
    assert (pruned, done.already) == (0, False)
    assert vault_names(ctx, who) == {"birthdate", "profile", "email"}


def test_withdrawal_in_the_registry_deletes_the_names_at_the_next_userinfo(
    seeded: AppContext, code_flow: CodeFlow, browser: TestClient, flow: Flow, clock: FixedClock
) -> None:
    wide = register(seeded, scopes=WIDE, purposes={"profile": "lettre-information"})
    body = tokens(code_flow, wide, scope="openid profile email")
    who = pseudonym(browser, seeded)
    assert {"profile", "email"} <= vault_names(seeded, who)
    withdraw(seeded, who, "lettre-information")
    # No in-process hook on consent events: the values stay until the provider next
    # looks (ADR 0008), which UserInfo does.
    assert "profile" in vault_names(seeded, who)
    info = userinfo(browser, body)
    assert "family_name" not in info
    assert info["email"] == EMAIL  # email has no purpose here: its grant stands
    assert grant_groups(seeded, who, wide.client_id) == {"email"}
    assert vault_names(seeded, who) == {"birthdate", "email"}
    # A later sign-in no longer retains the names for that grant (held for a consent).
    clock.advance(timedelta(minutes=5))
    flow.callback(flow.choose(flow.authorize(flow.start(again=True)), "test"))
    assert vault_names(seeded, who) == {"birthdate", "email", HELD_PREFIX + "profile"}


def test_consenting_again_after_a_withdrawal_keeps_releasing(
    seeded: AppContext, code_flow: CodeFlow, browser: TestClient
) -> None:
    wide = register(seeded, scopes=WIDE, purposes={"profile": "lettre-information"})
    tokens(code_flow, wide, scope="openid profile")
    who = pseudonym(browser, seeded)
    withdraw(seeded, who, "lettre-information")
    # The screen asks again; consenting before any UserInfo keeps the retained values.
    body = tokens(code_flow, wide, scope="openid profile")
    assert userinfo(browser, body)["family_name"] == FAMILY
    assert grant_groups(seeded, who, wide.client_id) == {"profile"}
    assert "profile" in vault_names(seeded, who)


def test_refusing_after_a_withdrawal_deletes_the_names(
    seeded: AppContext, code_flow: CodeFlow, browser: TestClient
) -> None:
    wide = register(seeded, scopes=WIDE, purposes={"profile": "lettre-information"})
    tokens(code_flow, wide, scope="openid profile")
    who = pseudonym(browser, seeded)
    withdraw(seeded, who, "lettre-information")
    page = code_flow.page(wide, scope="openid profile")
    refused = code_flow.consent(page, decision="deny")
    assert query(refused.headers["location"])["error"] == "access_denied"
    assert grant_groups(seeded, who, wide.client_id) == set()
    assert not {"profile", HELD_PREFIX + "profile"} & vault_names(seeded, who)
