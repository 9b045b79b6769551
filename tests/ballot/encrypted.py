"""Helpers of the encrypted-election tests (docs/adr/0018-encrypted-elections.md): trustee
staff accounts, an encrypted definition, and :func:`open_encrypted_election`, which takes an
election through the real service from creation to opening — create → schedule → start
the ceremony (dkg-setup) → every trustee's rounds in memory (:mod:`ballot.ceremony_local`)
→ import the ceremony (dkg-round1 ×n, dkg-signature ×n, dkg-complete) → open (v2
manifest). The returned :class:`EncryptedElection` holds each trustee's secret share, for
tally tests.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import identity
from ballot.ceremony_local import LocalCeremony, StaticKey, new_static_keys, run_ceremony
from ballot.service import service_from
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from parvis.kernel.principal import Role, Staff
from tests.ballot.elections import OFFICER, definition, seed_census

LABELS = ("Mairie", "Opposition", "Société civile", "Conseil des jeunes", "Habitants")


@dataclass(frozen=True)
class TrusteeAccount:
    """A staff account with the trustee role, named in a definition by ``email``."""

    email: str
    principal: Staff


@dataclass(frozen=True)
class EncryptedElection:
    """An open encrypted election, its trustees and the ceremony that made its key."""

    election_id: str
    trustees: tuple[TrusteeAccount, ...]
    statics: tuple[StaticKey, ...]
    ceremony: LocalCeremony
    threshold: int


def make_trustees(
    ctx: AppContext, n: int, *, roles: frozenset[Role] | None = None
) -> list[TrusteeAccount]:
    """``n`` new staff accounts with the trustee role (real identity service)."""
    accounts = identity.staff_service_from(ctx)
    out = []
    with ctx.db.write_session() as db:
        for _ in range(n):
            email = f"trustee-{secrets.token_hex(4)}@ville.test"
            created = accounts.create(
                db, email=email, roles=roles or frozenset({Role.TRUSTEE}), actor="system:test"
            )
            out.append(
                TrusteeAccount(email, Staff(created.staff_id, roles or frozenset({Role.TRUSTEE})))
            )
    return out


def encrypted_definition(
    clock: FixedClock, trustees: list[TrusteeAccount], *, threshold: int, **overrides: Any
) -> dict[str, Any]:
    """:func:`tests.ballot.elections.definition` in encrypted mode with these trustees."""
    data = definition(clock, **overrides)
    data["mode"] = "encrypted"
    data["trustees"] = [{"label": LABELS[i], "staff": t.email} for i, t in enumerate(trustees)]
    data["threshold"] = threshold
    return data


def scheduled_encrypted_election(
    ctx: AppContext, clock: FixedClock, *, n: int = 3, threshold: int = 2, **overrides: Any
) -> tuple[str, list[TrusteeAccount]]:
    """Create and schedule an encrypted election with ``n`` new trustees."""
    service = service_from(ctx)
    trustees = make_trustees(ctx, n)
    with ctx.db.write_session() as db:
        election_id = service.create(
            db,
            data=encrypted_definition(clock, trustees, threshold=threshold, **overrides),
            actor=OFFICER.audit_actor,
        ).id
    service.schedule(election_id=election_id, actor=OFFICER.audit_actor)
    return election_id, trustees


def open_encrypted_election(
    ctx: AppContext,
    clock: FixedClock,
    *,
    n: int = 3,
    threshold: int = 2,
    population: int = 1000,
    **overrides: Any,
) -> EncryptedElection:
    """An encrypted election opened through the service (create → schedule → start the
    ceremony → import the whole ceremony → open), after making ``population`` fictitious
    residents the town's census: the eligible population is counted from it when the
    ceremony fixes the terms (docs/adr/0018-encrypted-elections.md). Needs
    ``setup_rule(ctx)`` first."""
    seed_census(ctx, population)
    service = service_from(ctx)
    election_id, trustees = scheduled_encrypted_election(
        ctx, clock, n=n, threshold=threshold, **overrides
    )
    statics = new_static_keys(n)
    setup = service.start_ceremony(
        election_id=election_id,
        actor=OFFICER.audit_actor,
        static_keys=[s.public.encoded.hex() for s in statics],
    )
    ceremony = run_ceremony(setup, statics)
    service.import_ceremony(
        election_id=election_id, document=ceremony.document, actor=OFFICER.audit_actor
    )
    service.open(election_id=election_id, actor=OFFICER.audit_actor)
    return EncryptedElection(election_id, tuple(trustees), tuple(statics), ceremony, threshold)
