"""Fixtures of the consent tests: a context on a migrated database with the register loaded."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from consent import service_from
from consent.loader import load_document
from consent.service import ConsentService
from consent.webhooks import close_http
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext, build_context
from parvis.kernel.settings import Settings
from tests.consent.factories import catalogue

DPO = "staff:dpo-1"


@pytest.fixture
def ctx(settings: Settings, clock: FixedClock) -> Iterator[AppContext]:
    context = build_context(settings, clock=clock)
    yield context
    close_http(context)
    context.db.dispose()


@pytest.fixture
def service(ctx: AppContext) -> ConsentService:
    doc = catalogue()
    doc["controllers"][0]["notices"] = [
        {"language": "fr", "text": "Notice en français."},
        {"language": "en", "text": "Notice in English."},
    ]
    with ctx.db.write_session() as session:
        load_document(ctx, session, doc, actor=DPO)
    return service_from(ctx)
