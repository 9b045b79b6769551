"""audit: the tamper-evident transparency-log engine (docs/design/audit-log.md, ADR 0003).

RFC 6962 Merkle trees (:mod:`audit.merkle`), C2SP signed checkpoints (:mod:`audit.note`),
append-only storage, a sequencer, and the service other domains use::

    from audit import service_from

    promise = service_from(ctx).record(
        session, event_type="consent.given", actor="citizen:<pseudonym>", subject="<pseudonym>",
        purpose="newsletter", details={"notice": 3},
    )

Everything here is exported for the other domains; anything else is internal.

The exports are loaded lazily (PEP 562 module ``__getattr__``): the pure modules
(:mod:`audit.merkle`, :mod:`audit.note`, :mod:`audit.promise`) are what the independent
board verifier needs (voting-protocol.md, "Verification anyone can run": runnable with only the
verification dependencies),
and importing them must not import :mod:`audit.service`, hence SQLAlchemy.
``from audit import service_from`` and ``audit.service_from(ctx)`` work as before; the
``TYPE_CHECKING`` imports give type checkers the same names.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
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

# Exported name -> the module that defines it (imported on first access).
_EXPORTS: Final[dict[str, str]] = {
    "LogConflictError": "audit.errors",
    "LogKeyError": "audit.errors",
    "UnknownLogError": "audit.errors",
    "Promise": "audit.promise",
    "open_promise": "audit.promise",
    "DEFAULT_LOG": "audit.service",
    "AuditEvent": "audit.service",
    "AuditService": "audit.service",
    "ConsistencyProof": "audit.service",
    "InclusionProof": "audit.service",
    "LogEntry": "audit.service",
    "LogInfo": "audit.service",
    "service_from": "audit.service",
}


def __getattr__(name: str) -> Any:
    """PEP 562: load an exported name from its module on first use, then cache it here.

    Any other name raises :class:`AttributeError`, which lets ``from audit import merkle``
    fall back to importing the submodule, as the import system specifies.
    """
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
