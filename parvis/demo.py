"""Demo data for ``parvis demo`` (idempotent: running it twice seeds once).

Each domain adds its seed step here as it lands (sandbox citizens, a demo city, elections).
"""

from __future__ import annotations

from collections.abc import Iterator

from parvis.kernel.settings import Settings

__all__ = ["seed_demo"]


def seed_demo(settings: Settings) -> Iterator[str]:
    """Seed what the demo needs; yields one human-readable line per step."""
    yield f"database ready at {settings.database_url}"
