"""Alembic migration environment (one history for all domains)."""
