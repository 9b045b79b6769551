"""Platform API clients authenticate with OAuth 2.0 client credentials (ADR 0007).

Revision ID: consent_0002
Revises: consent_0001
Create Date: 2026-11-26 10:30:00

``consent_api_clients`` keeps mapping a platform (now: its OAuth client id at identity's
OpenID provider) to its controller. The interim API key becomes optional: ``key_hash``
(NOT NULL) is replaced by ``api_key_hash`` (NULL for a platform linked without a key) and
``api_key_sunset_at``, the end of the key's deprecation period. Keys existing at the upgrade
keep working for :data:`DEPRECATION_DAYS` from the upgrade, announced to the platform by the
``Deprecation`` and ``Sunset`` headers of every answer.

Only native ``ALTER TABLE … ADD/DROP COLUMN`` is used (SQLite ≥ 3.35 has both): recreating
the table, as batch mode would, means dropping a table that ``consent_webhooks`` references
while SQLite enforces foreign keys. Downgrading restores ``key_hash`` NOT NULL; platforms
without a key get an all-zero hash, which no HMAC output matches (they cannot authenticate
on the older version: it knows no access tokens).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "consent_0002"
down_revision: str | None = "consent_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: consent.clients.DEPRECATION_DAYS at the time of this migration (ADR 0007). Copied, not
#: imported: a migration must keep doing what it did when it was written.
DEPRECATION_DAYS = 180
_NO_KEY = "0" * 64


def upgrade() -> None:
    op.add_column(
        "consent_api_clients", sa.Column("api_key_hash", sa.String(length=64), nullable=True)
    )
    op.add_column(
        "consent_api_clients",
        sa.Column("api_key_sunset_at", sa.DateTime(timezone=True), nullable=True),
    )
    sunset = datetime.now(UTC) + timedelta(days=DEPRECATION_DAYS)
    # A typed parameter, so that SQLite stores the value in SQLAlchemy's DateTime format
    # (what the ORM reads back), not in the sqlite3 module's.
    op.get_bind().execute(
        sa.text(
            "UPDATE consent_api_clients SET api_key_hash = key_hash, api_key_sunset_at = :sunset"
        ).bindparams(sa.bindparam("sunset", type_=sa.DateTime(timezone=True))),
        {"sunset": sunset},
    )
    op.drop_column("consent_api_clients", "key_hash")


def downgrade() -> None:
    # NOT NULL on existing rows needs a default; the all-zero value never verifies.
    op.add_column(
        "consent_api_clients",
        sa.Column(
            "key_hash", sa.String(length=64), nullable=False, server_default=sa.text(f"'{_NO_KEY}'")
        ),
    )
    op.execute(
        "UPDATE consent_api_clients SET key_hash = api_key_hash WHERE api_key_hash IS NOT NULL"
    )
    op.drop_column("consent_api_clients", "api_key_sunset_at")
    op.drop_column("consent_api_clients", "api_key_hash")
