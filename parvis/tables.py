"""Every table of every domain, imported so that the shared metadata is complete.

Used by the migration environment and the schema-drift test. The composition root may
import the domains; domains never import this module.
"""

from __future__ import annotations

import audit.tables  # noqa: F401 - registers audit's tables in the metadata
import ballot.tables  # noqa: F401 - registers ballot's tables in the metadata
import consent.tables  # noqa: F401 - registers consent's tables in the metadata
import identity.oidc.tables
import identity.tables  # noqa: F401 - registers identity's tables in the metadata
from parvis.kernel.db import Base
from parvis.kernel.ratelimit import RateLimitRow
from parvis.kernel.sessions import WebSessionRow

__all__ = ["RateLimitRow", "WebSessionRow", "metadata"]

metadata = Base.metadata
