"""audit: the tamper-evident transparency-log engine (issue 3).

RFC 6962 Merkle trees (:mod:`audit.merkle`), C2SP signed checkpoints (:mod:`audit.note`),
append-only storage, a sequencer, and the service other domains use::

    from audit import service_from

    promise = service_from(ctx).record(
        session, event_type="consent.given", actor="citizen:<pseudonym>", subject="<pseudonym>",
        purpose="newsletter", details={"notice": 3},
    )

Everything here is exported for the other domains; anything else is internal.
"""

from audit.errors import LogConflictError, LogKeyError, UnknownLogError
from audit.promise import Promise, open_promise
from audit.service import (
    DEFAULT_LOG,
    AuditEvent,
    AuditService,
    ConsistencyProof,
    InclusionProof,
    LogEntry,
    LogInfo,
    service_from,
)

__all__ = [
    "DEFAULT_LOG",
    "AuditEvent",
    "AuditService",
    "ConsistencyProof",
    "InclusionProof",
    "LogConflictError",
    "LogEntry",
    "LogInfo",
    "LogKeyError",
    "Promise",
    "UnknownLogError",
    "open_promise",
    "service_from",
]
