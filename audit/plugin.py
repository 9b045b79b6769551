"""The audit domain's plug-in: service, read API, CLI, problem types, the sequencer thread.

CONTRIBUTING, "How a domain joins the application". ``start`` runs the sequencer leader loop
in web processes (unless ``PARVIS_AUDIT_SEQUENCER`` says otherwise; off by default in test
mode); CLI commands integrate synchronously instead.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError

from audit.api import router
from audit.cli import audit_app
from audit.errors import (
    EventError,
    LogConflictError,
    LogKeyError,
    LogNameError,
    LogRollbackError,
    LogSealedError,
    LogSealError,
    PromiseError,
    RangeTooLargeError,
    StorageIntegrityError,
    TreeRangeError,
    UnknownLogError,
)
from audit.metrics import AuditCollector
from audit.service import service_from
from parvis.kernel.context import AppContext, DomainPlugin
from parvis.kernel.errors import DomainError

__all__ = ["PLUGIN"]

_log = logging.getLogger("parvis.audit")


def _setup(ctx: AppContext) -> None:
    service_from(ctx)


def _start(ctx: AppContext) -> None:
    service = service_from(ctx)
    # docs/adr/0017-rollback-detection.md: say it at start-up, not only at the first append.
    try:
        with ctx.db.read_session() as session:
            alarms = service.rollbacks(session)
    except DomainError as exc:
        # A damaged memory file: the process serves; integrating that log fails the same way.
        _log.error("audit rollback check failed", extra={"reason": exc.detail})
        alarms = []
    except SQLAlchemyError as exc:
        # The database is down: /readyz says so; the sequencer checks before each batch.
        _log.warning("audit rollback check failed", extra={"exc_type": type(exc).__name__})
        alarms = []
    for alarm in alarms:
        _log.error(
            "audit log rolled back: integration refused",
            extra={"log": alarm.name, "reason": alarm.detail},
        )
    if service.run_sequencer:
        service.start_sequencer()


def _stop(ctx: AppContext) -> None:
    service_from(ctx).stop_sequencer()


PLUGIN = DomainPlugin(
    name="audit",
    setup=_setup,
    routers=(router,),
    cli_groups={"audit": audit_app},
    problems=(
        (UnknownLogError, 404, "audit-unknown-log"),
        (LogNameError, 422, "audit-log-name"),
        (LogSealedError, 403, "audit-log-sealed"),
        (LogSealError, 409, "audit-log-seal"),
        (LogRollbackError, 409, "audit-log-rollback"),
        (LogConflictError, 409, "audit-log-conflict"),
        (LogKeyError, 500, "audit-log-key"),
        (StorageIntegrityError, 500, "audit-storage-integrity"),
        (RangeTooLargeError, 422, "audit-range-too-large"),
        (TreeRangeError, 422, "audit-tree-range"),
        (EventError, 422, "audit-event"),
        (PromiseError, 422, "audit-promise"),
    ),
    start=_start,
    stop=_stop,
    metrics=AuditCollector,
)
