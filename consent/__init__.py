"""consent: the GDPR registry of Parvis.

Purposes and their lawful bases (the Art. 30 register), versioned privacy notices, consent
events with signed receipts, data-subject requests with their Art. 12(3) deadlines,
retention and purge, and the access records of personal-data reads.

Public surface for the other domains (identity, ballot) and the composition root:

* ``service_from(ctx)`` — the :class:`~consent.service.ConsentService` of a context;
  ``Purpose`` (a register entry, e.g. ``Purpose.from_dict(…)``) for its ``save_purpose``;
* ``data_keys(ctx)`` — per-subject data keys: ``encrypt_for(session, subject, plaintext)``,
  ``decrypt_for(session, subject, ciphertext)``, ``shred(session, subject)``;
* ``record_access(ctx, session, actor=…, subject=…, fields=…, purpose=…)`` — call it whenever
  staff or a platform reads personal data; ``record_read(ctx, …)`` for a platform's frequent
  reads (its own transaction, once per minute); ``access_records(ctx, session, …)`` queries;
* ``register_exporter(name, fn)``, ``register_eraser(name, fn)``,
  ``register_retention_handler(category_id, fn)``, ``register_subject_mapper(mapper)``,
  ``register_age_source(fn)`` — what a domain plugs into requests, retention and consent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from consent.access import access_records, record_access, record_read
from consent.catalogue import Purpose
from consent.hooks import (
    AgeFacts,
    ErasureContext,
    ExportContext,
    RetentionContext,
    SubjectMapper,
    register_age_source,
    register_eraser,
    register_exporter,
    register_retention_handler,
    register_subject_mapper,
)

if TYPE_CHECKING:
    from consent.datakeys import DataKeys
    from consent.service import ConsentService
    from parvis.kernel.context import AppContext

__all__ = [
    "AgeFacts",
    "ErasureContext",
    "ExportContext",
    "Purpose",
    "RetentionContext",
    "SubjectMapper",
    "access_records",
    "data_keys",
    "record_access",
    "record_read",
    "register_age_source",
    "register_eraser",
    "register_exporter",
    "register_retention_handler",
    "register_subject_mapper",
    "service_from",
]


def service_from(ctx: AppContext) -> ConsentService:
    """The consent service of ``ctx`` (created on first use)."""
    from consent.service import ConsentService

    return ctx.extension("consent", ConsentService)


def data_keys(ctx: AppContext) -> DataKeys:
    """The per-subject data keys (crypto-shredding) every domain seals personal data with."""
    return service_from(ctx).keys
