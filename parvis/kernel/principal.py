"""Who is making a request: anonymous, a citizen pseudonym, or a staff member with roles.

``identity`` decides who is signed in and writes the principal into the server-side session;
``consent`` and ``ballot`` read it through this module without importing ``identity``
(architecture.md, "The five parts"). Principals carry pseudonyms only, never names.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

from parvis.kernel.errors import ForbiddenError, InvalidInputError, UnauthenticatedError

__all__ = [
    "Anonymous",
    "Citizen",
    "Principal",
    "Role",
    "Staff",
    "principal_from_dict",
    "principal_to_dict",
    "require_citizen",
    "require_role",
]


class Role(StrEnum):
    """Staff roles (architecture.md, "The five parts": admins, agents, election officers, DPOs;
    ballot-secrecy.md §1 and §3: trustees hold a share of an encrypted election's key,
    scrutineers — outside the city's IT — read an election's issuance register)."""

    ADMIN = "admin"
    AGENT = "agent"
    DPO = "dpo"
    ELECTION_OFFICER = "election_officer"
    TRUSTEE = "trustee"
    SCRUTINEER = "scrutineer"


@dataclass(frozen=True, slots=True)
class Anonymous:
    """Nobody signed in."""

    kind: ClassVar[str] = "anonymous"

    @property
    def audit_actor(self) -> str:
        return "anonymous"


@dataclass(frozen=True, slots=True)
class Citizen:
    """A signed-in citizen, known only by Parvis's internal random pseudonym."""

    pseudonym: str
    kind: ClassVar[str] = "citizen"

    def __post_init__(self) -> None:
        if not self.pseudonym or len(self.pseudonym) > 64:
            raise InvalidInputError("citizen pseudonym must be 1 to 64 characters")

    @property
    def audit_actor(self) -> str:
        return f"citizen:{self.pseudonym}"


@dataclass(frozen=True, slots=True)
class Staff:
    """A staff member (staff accounts are not pseudonymous: they act for the controller)."""

    staff_id: str
    roles: frozenset[Role]
    kind: ClassVar[str] = "staff"

    def __post_init__(self) -> None:
        if not self.staff_id:
            raise InvalidInputError("staff id must not be empty")

    @property
    def audit_actor(self) -> str:
        return f"staff:{self.staff_id}"

    def has(self, role: Role) -> bool:
        return role in self.roles


Principal = Anonymous | Citizen | Staff


def require_citizen(principal: Principal) -> Citizen:
    """Return the citizen or raise :class:`UnauthenticatedError`."""
    if not isinstance(principal, Citizen):
        raise UnauthenticatedError("a signed-in citizen is required")
    return principal


def require_role(principal: Principal, *roles: Role) -> Staff:
    """Return the staff principal if it holds any of ``roles``; raise otherwise."""
    if not isinstance(principal, Staff):
        raise UnauthenticatedError("a signed-in staff member is required")
    if not any(principal.has(role) for role in roles):
        raise ForbiddenError("this operation needs the role " + " or ".join(roles))
    return principal


def principal_to_dict(principal: Principal) -> dict[str, Any]:
    """Serialise for the session store."""
    if isinstance(principal, Citizen):
        return {"kind": "citizen", "pseudonym": principal.pseudonym}
    if isinstance(principal, Staff):
        return {"kind": "staff", "staff_id": principal.staff_id, "roles": sorted(principal.roles)}
    return {"kind": "anonymous"}


def principal_from_dict(data: dict[str, Any]) -> Principal:
    """Inverse of :func:`principal_to_dict`; unknown shapes become :class:`Anonymous`."""
    kind = data.get("kind")
    if kind == "citizen" and isinstance(data.get("pseudonym"), str):
        return Citizen(data["pseudonym"])
    if kind == "staff" and isinstance(data.get("staff_id"), str):
        roles = frozenset(Role(r) for r in data.get("roles", []) if r in Role.__members__.values())
        return Staff(data["staff_id"], roles)
    return Anonymous()
