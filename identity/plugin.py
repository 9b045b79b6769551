"""The identity domain's plug-in: services, routers, templates, CLI, problems, demo seed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from fastapi import HTTPException, Request
from sqlalchemy.orm import Session

import consent
import identity
from identity import cli, locale_fr, staff_pages
from identity.eligibility import Evidence, Rule, Territory
from identity.errors import (
    AttemptsExhaustedError,
    CodeExpiredError,
    DuplicateIdentityError,
    FranceConnectError,
    IdentityNotFoundError,
    IdentityRuleError,
    StaffAuthenticationError,
    WrongCodeError,
)
from identity.oidc import plugin as oidc_plugin
from identity.oidc import resource as oidc_resource
from identity.pages import citizen_router, staff_router
from identity.purposes import RESIDENCY_PURPOSE, register_residency_purpose
from identity.relying_party import FranceConnectClient, RelyingPartyConfig
from identity.sandbox import (
    DEMO_CITY,
    Sandbox,
    SandboxClient,
    sandbox_router,
)
from identity.tables import CitizenRow
from parvis.kernel.apiauth import InsufficientScopeError, InvalidTokenError, MissingTokenError
from parvis.kernel.context import AppContext, DomainPlugin
from parvis.kernel.keys import derive_key
from parvis.kernel.settings import Settings
from parvis.kernel.web import get_ctx

__all__ = ["PLUGIN", "make_franceconnect_client", "make_sandbox", "sandbox_clients"]

locale_fr.register()

#: A second sandbox client that signs with RS256 (FranceConnect chooses the alg per client).
RS256_CLIENT_ID = "parvis-demo-rs256"


def sandbox_clients(settings: Settings, *, issuer_base: str) -> list[SandboxClient]:
    """The clients a sandbox knows: Parvis's own relying party (from its settings) and an
    RS256 twin for the tests of per-client algorithms."""
    del issuer_base
    secret = settings.fc_client_secret
    own = SandboxClient(
        client_id=settings.fc_client_id,
        client_secret=secret,
        redirect_uris=(settings.fc_redirect_uri,),
        post_logout_redirect_uris=(settings.fc_post_logout_redirect_uri,),
        alg="ES256",
    )
    twin = SandboxClient(
        client_id=RS256_CLIENT_ID,
        client_secret=secret,
        redirect_uris=(settings.fc_redirect_uri,),
        post_logout_redirect_uris=(settings.fc_post_logout_redirect_uri,),
        alg="RS256",
    )
    return [own, twin]


def make_sandbox(ctx: AppContext) -> Sandbox:
    """The sandbox Parvis serves, its state in the database: every worker process of a
    demo shares it (:mod:`identity.sandbox.store`)."""
    from identity.sandbox.store import DatabaseStore

    settings = ctx.settings
    issuer = f"{settings.public_url}/fc-sandbox/api/v2"
    return Sandbox(
        issuer=issuer,
        clock=ctx.clock,
        secret=derive_key(settings.secret_key, "identity/fc-sandbox/sub/v1"),
        clients=sandbox_clients(settings, issuer_base=settings.public_url),
        store=DatabaseStore(ctx.db),
    )


def make_franceconnect_client(
    ctx: AppContext, *, http: httpx.Client | None = None
) -> FranceConnectClient:
    config = RelyingPartyConfig.from_settings(ctx.settings)
    client = http or httpx.Client(timeout=config.timeout, follow_redirects=False)
    return FranceConnectClient(config, http=client, clock=ctx.clock)


def _resolve_sandbox(request: Request) -> Sandbox:
    ctx = get_ctx(request)
    if not ctx.settings.fc_sandbox:
        raise HTTPException(status_code=404)
    return identity.sandbox_from(ctx)


def setup(ctx: AppContext) -> None:
    identity.service_from(ctx)
    consent.register_exporter("identity", _export)
    consent.register_eraser("identity", _erase)
    consent.register_age_source(_age)
    oidc_plugin.setup(ctx)
    # The platform APIs of consent and ballot check client-credentials tokens through the
    # kernel port (consent may not import identity: architecture.md, dependency rule).
    oidc_resource.install(ctx)


def _export(export: consent.ExportContext) -> dict[str, Any]:
    """Art. 15/20: what identity holds on the subject (nothing if not a citizen account)."""
    if export.session.get(CitizenRow, export.subject) is None:
        return {}
    return identity.export_citizen(export.ctx, export.session, citizen_pseudonym=export.subject)


def _erase(erasure: consent.ErasureContext) -> None:
    """Art. 17: shred identity's vault and delete the account (links, evidence, letters,
    desk codes and decisions go with it through ON DELETE CASCADE)."""
    service = identity.service_from(erasure.ctx)
    # Consent destroys the subject's data key right after its erasers (and reports it): the
    # vault's ciphertexts go here, the key there, in the same transaction.
    service.erase_citizen(
        erasure.session, citizen_pseudonym=erasure.subject, actor=erasure.actor, destroy_key=False
    )


def _age(ctx: AppContext, session: Session, subject: str) -> consent.AgeFacts | None:
    citizen = session.get(CitizenRow, subject)
    if citizen is None:
        return None
    raw = identity.service_from(ctx).vault.get(session, subject, "birthdate")
    born = date.fromisoformat(raw.decode()) if raw is not None else None
    return consent.AgeFacts(birth_year=citizen.birth_year, birth_date=born)


def _seed_purpose(ctx: AppContext, db: Session) -> str:
    """Register residency verification with the register's (first) controller, which
    consent's demo seed creates before this one runs."""
    registry = consent.service_from(ctx)
    if any(p.purpose.id == RESIDENCY_PURPOSE for p in registry.purposes(db)):
        return f"identity: purpose {RESIDENCY_PURPOSE} already in the register"
    controllers = registry.controllers(db)
    if not controllers:
        return (
            f"identity: no controller in the register, purpose {RESIDENCY_PURPOSE} not "
            "registered (letters cannot be exported until it is)"
        )
    register_residency_purpose(ctx, db, controller_id=controllers[0].id, actor="system:demo")
    return f"identity: purpose {RESIDENCY_PURPOSE} (public task) registered for {controllers[0].id}"


def seed_demo(ctx: AppContext) -> Iterator[str]:
    """The demo city, an all-ages rule and a youth rule, a census of some citizens, and the
    residency-verification purpose in the register."""
    from identity.sandbox import TEST_CITIZENS

    service = identity.service_from(ctx)
    with ctx.db.write_session() as db:
        purpose_line = _seed_purpose(ctx, db)
    yield purpose_line
    with ctx.db.write_session() as db:
        if "demo-city" in service.territories(db):
            yield "identity: demo city already seeded"
            return
        service.save_territory(
            db,
            Territory(
                id="demo-city",
                name=DEMO_CITY["name"],
                cog_vintage=2025,
                communes=frozenset({DEMO_CITY["code"]}),
            ),
            actor="system:demo",
        )
        service.save_rule(
            db,
            Rule(
                id="budget-participatif",
                name=f"Budget participatif de {DEMO_CITY['name']}",
                territory_id="demo-city",
                accepted_evidence=frozenset(Evidence),
                reference_date=date(2026, 6, 1),
                min_age=11,
            ),
            actor="system:demo",
        )
        rows = ["family_name,given_names,birthdate,birthplace,birthcountry,commune"]
        rows += [
            ",".join(
                (c.family_name, c.given_name, c.birthdate, c.birthplace, c.birthcountry, c.commune)
            )
            for c in TEST_CITIZENS
            if c.commune == DEMO_CITY["code"] and c.login != "hors_territoire"
        ]
        report = service.import_census(
            db,
            territory_id="demo-city",
            csv_text="\n".join(rows) + "\n",
            electoral_roll=False,
            actor="system:demo",
        )
        # The sandbox's ``cog_invalide`` citizen has a birthplace no census can hold: one
        # rejected line in a dozen, deliberately, so the demo accepts it.
        service.activate_census(
            db, import_id=report.import_id, actor="system:demo", max_rejected_percent=100.0
        )
    yield f"identity: demo city {DEMO_CITY['name']} ({DEMO_CITY['code']}), rule budget-participatif"
    yield f"identity: census of {report.accepted} sandbox citizens imported"
    yield "identity: sign in at /connexion with a sandbox citizen (e.g. 'test')"


PLUGIN = DomainPlugin(
    name="identity",
    setup=setup,
    stop=oidc_plugin.stop,
    routers=(
        sandbox_router(_resolve_sandbox),
        citizen_router,
        staff_router,
        staff_pages.router,
        oidc_plugin.router,
    ),
    template_dir=Path(__file__).resolve().parent / "templates",
    cli_groups={"territory": cli.territory_app, "staff": cli.staff_app, **oidc_plugin.CLI_GROUPS},
    cli_commands=(cli.fc_sandbox,),
    problems=(
        (StaffAuthenticationError, 401, "staff-authentication"),
        (DuplicateIdentityError, 409, "duplicate-identity"),
        (WrongCodeError, 422, "wrong-code"),
        (CodeExpiredError, 422, "code-expired"),
        (AttemptsExhaustedError, 403, "attempts-exhausted"),
        (FranceConnectError, 401, "franceconnect"),
        (IdentityNotFoundError, 404, "not-found"),
        (IdentityRuleError, 422, "invalid-input"),
        # RFC 6750 §3.1 failures raised by identity.oidc.resource for the platform APIs
        # (consent's own ApiClientError rows come first: consent joins before identity).
        (InsufficientScopeError, 403, "api-insufficient-scope"),
        (InvalidTokenError, 401, "api-invalid-token"),
        (MissingTokenError, 401, "api-token-required"),
    ),
    seed_demo=seed_demo,
)
