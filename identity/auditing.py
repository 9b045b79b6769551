"""How identity writes to the audit trail: ``audit.service_from(ctx).record``, appended in
the caller's transaction (the identity change and its audit entry commit together or not at
all).

What goes where (architecture.md, "Nothing personal in immutable logs"; audit-log.md,
"Content"):

- the **leaf** (immutable, in the Merkle tree forever) holds the event type, the actor, the
  subject and the purpose. Identity puts only pseudonyms there: ``citizen:<pseudonym>``,
  ``staff:<id>``, ``system:<job>`` or ``anonymous`` as actor; the citizen's bare pseudonym
  (the subject consent's erasure looks for) or ``staff:<id>`` as subject; a purpose id of
  the register. :func:`record` refuses anything else (an e-mail address, a name with spaces
  or accents) before it reaches the log;
- the **details** (erasable: consent's Art. 17 erasure removes every detail whose subject is
  the person) carry ids, codes, counts and keyed-hash prefixes only — never a name, an
  address, a birth date or a FranceConnect ``sub``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

import audit
from parvis.kernel.context import AppContext

__all__ = ["RESIDENCY_PURPOSE", "check_pseudonymous", "record"]

#: The register purpose of residency and age verification (public task): census, letters,
#: desk verification, eligibility decisions. :mod:`identity.register` defines it.
RESIDENCY_PURPOSE = "residency-verification"

_ACTOR = re.compile(r"^(anonymous|(system|citizen|staff|platform):[A-Za-z0-9._-]{1,64})$")
_SUBJECT = re.compile(r"^(staff:)?[A-Za-z0-9._-]{1,64}$")
_PURPOSE = re.compile(r"^[a-z0-9][a-z0-9._:-]{0,63}$")


def check_pseudonymous(*, actor: str, subject: str | None, purpose: str | None) -> None:
    """Refuse leaf fields that could carry personal data (a programming error, not input)."""
    if not _ACTOR.match(actor):
        raise ValueError("audit actor must be anonymous, system:, citizen:, staff: or platform:")
    if subject is not None and not _SUBJECT.match(subject):
        raise ValueError("audit subject must be a pseudonym or staff:<id>")
    if purpose is not None and not _PURPOSE.match(purpose):
        raise ValueError("audit purpose must be a purpose id")


def record(
    ctx: AppContext,
    session: Session,
    *,
    event_type: str,
    actor: str,
    subject: str | None = None,
    purpose: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> audit.Promise:
    """Append one identity event to the audit log in the caller's transaction."""
    check_pseudonymous(actor=actor, subject=subject, purpose=purpose)
    return audit.service_from(ctx).record(
        session,
        event_type=event_type,
        actor=actor,
        subject=subject,
        purpose=purpose,
        details=details,
    )
