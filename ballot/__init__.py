"""ballot: elections, RFC 9474 blind-token issuance, anonymous casting, bulletin boards,
tallies, receipts and the independent verifier (docs/design/voting-protocol.md,
ADR 0006).

Public surface for the composition root and other code:

- :func:`service_from` — the :class:`~ballot.service.ElectionService` of a context
  (imported lazily: ``python -m ballot.verify`` needs no database or web stack).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ballot.service import ElectionService
    from parvis.kernel.context import AppContext

__all__ = ["service_from"]


def service_from(ctx: AppContext) -> ElectionService:
    """The election service of ``ctx`` (created on first use)."""
    from ballot.service import service_from as _service_from

    return _service_from(ctx)
