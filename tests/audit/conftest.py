"""Fixtures of the log engine's tests: a context and its audit service on each database.

``app_role_url`` connects to the test's PostgreSQL database as a login role that is only a
member of ``parvis_audit_writer`` — the limited application role of audit-log.md — so the
tests prove what the application itself can and cannot do.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from audit import AuditService, service_from
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext, build_context
from parvis.kernel.settings import Settings
from tests.support.postgres import TempPostgres

APP_ROLE = "parvis_audit_test_app"


@pytest.fixture
def ctx(settings: Settings, clock: FixedClock) -> Iterator[AppContext]:
    context = build_context(settings, clock=clock)
    yield context
    context.db.dispose()


@pytest.fixture
def service(ctx: AppContext) -> AuditService:
    return service_from(ctx)


def app_role_url(request: pytest.FixtureRequest, database_url: str) -> str:
    """``database_url`` with the limited application role instead of the superuser."""
    server: TempPostgres = request.getfixturevalue("pg_server")
    # Cluster-wide role, created once and idempotently (parallel databases share it).
    server.psql(
        f"DO $$ BEGIN CREATE ROLE {APP_ROLE} LOGIN; "
        "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
    )
    server.psql(f"GRANT parvis_audit_writer TO {APP_ROLE}")
    return database_url.replace("://postgres@", f"://{APP_ROLE}@")


def record_many(service: AuditService, ctx: AppContext, count: int, **fields: Any) -> None:
    with ctx.db.write_session() as session:
        for i in range(count):
            service.record(
                session,
                event_type=fields.get("event_type", "test.event"),
                actor=fields.get("actor", "system"),
                subject=fields.get("subject", f"subject-{i % 3}"),
                details={"i": i},
            )
