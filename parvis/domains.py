"""The list of domains the composition root wires in (one line per domain).

Each domain exposes a :class:`~parvis.kernel.context.DomainPlugin` named ``PLUGIN`` in its
``plugin`` module. Order matters only for ``seed_demo`` and ``start`` (dependencies first).
"""

from __future__ import annotations

from parvis.kernel.context import DomainPlugin

__all__ = ["plugins"]


def plugins() -> list[DomainPlugin]:
    """The domain plug-ins, dependencies first (audit → consent → identity → ballot)."""
    found: list[DomainPlugin] = []
    # Domains add their import here as they land, e.g.:
    #   from audit.plugin import PLUGIN as audit_plugin; found.append(audit_plugin)
    from audit.plugin import PLUGIN as AUDIT
    from ballot.plugin import PLUGIN as BALLOT
    from consent.plugin import PLUGIN as CONSENT
    from identity.plugin import PLUGIN as IDENTITY

    found.append(AUDIT)
    found.append(CONSENT)
    found.append(IDENTITY)
    found.append(BALLOT)
    return found
