"""Demo data for ``parvis demo`` (idempotent: running it twice seeds once).

Each domain's plug-in contributes a ``seed_demo`` step (sandbox citizens, a demo city,
elections); they run in dependency order.
"""

from __future__ import annotations

from collections.abc import Iterator

from parvis.domains import plugins
from parvis.kernel.context import AppContext

__all__ = ["seed_demo"]


def seed_demo(ctx: AppContext) -> Iterator[str]:
    """Seed what the demo needs; yields one human-readable line per step."""
    yield f"database ready at {ctx.settings.database_url}"
    for plugin in plugins():
        if plugin.seed_demo is not None:
            yield from plugin.seed_demo(ctx)
    ctx.db.dispose()
