"""The consent domain's plug-in: service, routers, pages, CLI, problems, worker, demo seed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from consent import locale_fr, service_from
from consent.api import BodyTooLargeError, router
from consent.cli import consent_app
from consent.errors import (
    ActorError,
    ApiClientError,
    BackdatedEventError,
    CatalogueError,
    DataKeyError,
    DeadlineError,
    DurationError,
    LegalBasisError,
    MalformedReceiptError,
    MinorConsentError,
    NotGivenError,
    ReceiptKeyError,
    ReceiptSignatureError,
    RequestStateError,
    StaleNoticeError,
    SubjectErasedError,
    TransitionError,
    UnknownControllerError,
    UnknownNoticeError,
    UnknownPurposeError,
    UnknownReceiptError,
    UnknownRequestError,
    UnknownSubjectError,
    UnlinkedApiClientError,
    WebhookReplayError,
    WebhookSignatureError,
    WebhookTimestampError,
)
from consent.metrics import WebhookCollector
from consent.pages import citizen_router, desk_router, dpo_router
from parvis.kernel.context import AppContext, DomainPlugin
from parvis.kernel.settings import Mode

__all__ = ["PLUGIN"]

locale_fr.register()

HERE = Path(__file__).resolve().parent
WORKER = "consent.webhook_worker"

#: (exception, HTTP status, problem slug), most specific first — documented in docs/problems.md.
PROBLEMS = (
    (LegalBasisError, 422, "consent-not-applicable"),
    (MinorConsentError, 403, "consent-minor"),
    (ActorError, 422, "consent-actor"),
    (BackdatedEventError, 409, "consent-out-of-order"),
    (NotGivenError, 409, "consent-not-given"),
    (TransitionError, 409, "consent-transition"),
    (StaleNoticeError, 409, "consent-stale-notice"),
    (UnknownPurposeError, 404, "consent-unknown-purpose"),
    (UnknownNoticeError, 404, "consent-unknown-notice"),
    (UnknownSubjectError, 404, "consent-unknown-subject"),
    (UnknownControllerError, 404, "consent-unknown-controller"),
    (UnknownRequestError, 404, "consent-unknown-request"),
    (UnknownReceiptError, 404, "consent-unknown-receipt"),
    (ReceiptSignatureError, 422, "consent-receipt-signature"),
    (ReceiptKeyError, 422, "consent-receipt-key"),
    (MalformedReceiptError, 422, "consent-receipt-malformed"),
    (WebhookReplayError, 409, "consent-webhook-replayed"),
    (WebhookTimestampError, 422, "consent-webhook-timestamp"),
    (WebhookSignatureError, 422, "consent-webhook-signature"),
    (DeadlineError, 422, "consent-deadline"),
    (RequestStateError, 409, "consent-request-state"),
    (SubjectErasedError, 409, "consent-subject-erased"),
    (DataKeyError, 422, "consent-undecryptable"),
    (DurationError, 422, "consent-duration"),
    (CatalogueError, 422, "consent-register-entry"),
    (UnlinkedApiClientError, 403, "consent-api-client-unlinked"),
    (ApiClientError, 401, "consent-api-client"),
    (BodyTooLargeError, 413, "consent-body-too-large"),
)


def setup(ctx: AppContext) -> None:
    service_from(ctx)


def start(ctx: AppContext) -> None:
    """Start the webhook and expiry worker (on by default; in test mode only if asked)."""
    wanted = ctx.settings.consent_webhook_worker
    if wanted is None:
        wanted = ctx.settings.mode is not Mode.TEST
    if wanted and WORKER not in ctx.extensions:
        from consent.webhooks import WebhookWorker

        worker = WebhookWorker(ctx)
        ctx.extensions[WORKER] = worker
        worker.start()


def stop(ctx: AppContext) -> None:
    from consent.webhooks import close_http

    worker = ctx.extensions.pop(WORKER, None)
    if worker is not None:
        worker.stop()
    close_http(ctx)


DEMO_REGISTER = {
    "controllers": [
        {
            "id": "ville-demo",
            "name": "Commune de démonstration",
            "address": "Place de la Mairie",
            "email": "mairie@demo.invalid",
            "representative": {"name": "M. le Maire"},
            "dpo": {
                "name": "Délégué à la protection des données mutualisé",
                "organisation": "Centre de gestion de démonstration",
                "email": "dpo@demo.invalid",
            },
            "purposes": [
                {
                    "id": "budget-participatif",
                    "label": {"fr": "Budget participatif", "en": "Participatory budget"},
                    "description": {
                        "fr": "Organiser le budget participatif et le vote des habitants.",
                        "en": "Run the participatory budget and the residents' vote.",
                    },
                    "dpv_purpose": "https://w3id.org/dpv#PublicRelations",
                    "legal_basis": "public_task",
                    "legal_basis_detail": "Délibération du conseil municipal (démonstration)",
                    "data_subjects": ["habitants"],
                    "data_categories": [
                        {
                            "id": "eligibility",
                            "label": {"fr": "Décision d'éligibilité", "en": "Eligibility"},
                            "retention": "P1Y",
                            "disposition": "destruction",
                        }
                    ],
                    "security_measures": ["pseudonymisation", "journal d'audit signé"],
                },
                {
                    "id": "lettre-information",
                    "label": {"fr": "Lettre d'information", "en": "Newsletter"},
                    "description": {
                        "fr": "Recevoir la lettre d'information de la participation citoyenne.",
                        "en": "Receive the citizen participation newsletter.",
                    },
                    "dpv_purpose": "https://w3id.org/dpv#CommunicationManagement",
                    "legal_basis": "consent",
                    "data_subjects": ["habitants inscrits"],
                    "data_categories": [
                        {
                            "id": "email",
                            "label": {"fr": "Adresse électronique", "en": "E-mail address"},
                            "retention": "P3Y",
                            "retention_from": "consent_end",
                            "disposition": "destruction",
                        }
                    ],
                    "security_measures": ["contrôle d'accès", "chiffrement"],
                    "consent_validity": "P1Y",
                },
            ],
            "notices": [
                {"language": "fr", "text": "Information de démonstration."},
                {"language": "en", "text": "Demonstration notice."},
            ],
        }
    ]
}


def seed_demo(ctx: AppContext) -> Iterator[str]:
    """A demo controller with a public-task and a consent purpose, and their notices."""
    from consent.loader import load_document

    with ctx.db.write_session() as session:
        report = load_document(ctx, session, DEMO_REGISTER, actor="system:demo")
    yield f"consent: register of ville-demo ({len(report.purposes)} purposes, notices fr/en)"
    yield "consent: citizens see /mes-donnees; the DPO console is at /dpo"


PLUGIN = DomainPlugin(
    name="consent",
    setup=setup,
    routers=(router, citizen_router, dpo_router, desk_router),
    template_dir=HERE / "templates",
    static_dir=HERE / "static",
    cli_groups={"consent": consent_app},
    problems=PROBLEMS,
    seed_demo=seed_demo,
    start=start,
    stop=stop,
    metrics=WebhookCollector,
)
