"""The kernel: what every domain may import.

Settings, the database engine and session, the clock, the :class:`Principal`, the
server-side session store, the :class:`DomainError` base and the base page layout
(architecture.md, "The five parts"). Nothing here holds domain logic.

This package's ``__init__`` deliberately imports nothing heavy: pure-core modules of the
domains import :mod:`parvis.kernel.errors` and must not drag in FastAPI or SQLAlchemy.
"""
