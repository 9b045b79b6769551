"""identity: FranceConnect relying party and sandbox, pseudonymous citizen accounts,
residency and age eligibility, staff accounts and roles
(docs/design/franceconnect.md, ADR 0004).

Public surface for other domains (architecture.md: "a domain talks to another only through
that domain's public surface"):

- :func:`eligibility_for` — "is this citizen eligible for rule R now, and why not", the
  decision stored and audited;
- :func:`check_eligibility` — the same decision, neither stored nor audited (the ballot
  domain calls it before issuing a token: ballot-secrecy.md §2);
- :func:`eligible_population` — how many may vote under a rule, counted when an election
  opens (ballot-secrecy.md §3);
- :func:`service_from` — the :class:`~identity.service.IdentityService` of a context;
- the eligibility vocabulary: :class:`EligibilityDecision`, :class:`Reason`,
  :class:`Evidence`, :class:`Rule`, :class:`Territory`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from identity.eligibility import EligibilityDecision, Evidence, Reason, Rule, Territory

if TYPE_CHECKING:
    import httpx
    from sqlalchemy.orm import Session
    from starlette.responses import Response

    from identity.relying_party import FranceConnectClient
    from identity.sandbox import Sandbox
    from identity.service import IdentityService
    from identity.staff import StaffService
    from parvis.kernel.context import AppContext
    from parvis.kernel.sessions import WebSession

__all__ = [
    "EligibilityDecision",
    "Evidence",
    "Reason",
    "Rule",
    "Territory",
    "check_eligibility",
    "desk_elections_of",
    "eligibility_for",
    "eligible_population",
    "export_citizen",
    "franceconnect_client",
    "issuance_authorization",
    "register_desk_elections",
    "register_voting_rights",
    "sandbox_from",
    "service_from",
    "staff_service_from",
    "take_issuance_authentication",
    "use_franceconnect_http",
    "voting_rights_of",
]


def service_from(ctx: AppContext) -> IdentityService:
    """The identity service of ``ctx`` (created on first use)."""
    from identity.service import IdentityService

    return ctx.extension("identity", IdentityService)


def staff_service_from(ctx: AppContext) -> StaffService:
    from identity.staff import StaffService

    return ctx.extension("identity.staff", StaffService)


def eligibility_for(
    ctx: AppContext, session: Session, *, citizen_pseudonym: str, rule_id: str
) -> EligibilityDecision:
    """Decide now whether the citizen is eligible for ``rule_id``; the decision (and why
    not) is stored and audited in the caller's transaction."""
    return service_from(ctx).eligibility(
        session, citizen_pseudonym=citizen_pseudonym, rule_id=rule_id
    )


def check_eligibility(
    ctx: AppContext, session: Session, *, citizen_pseudonym: str, rule_id: str
) -> EligibilityDecision:
    """Decide now whether the citizen is eligible for ``rule_id``, storing **no** decision
    row and recording **no** audit event.

    For token issuance (ballot-secrecy.md §2, "no eligibility-decision row with a
    timestamp for the issuance check"): the voter register is the record of issuance and
    keeps the day only; a timed decision row or audit event written at that moment would
    time the issuance, and so help pair the citizen with the ballot cast just after.
    """
    return service_from(ctx).check_eligibility(
        session, citizen_pseudonym=citizen_pseudonym, rule_id=rule_id
    )


def eligible_population(ctx: AppContext, session: Session, *, rule_id: str) -> int:
    """How many people may hold a voting right under ``rule_id`` now, counted from the
    territory's census and the other residency evidence the rule accepts (ballot-secrecy.md
    §3): what an election's manifest publishes when it opens."""
    return service_from(ctx).eligible_population(session, rule_id=rule_id)


def export_citizen(ctx: AppContext, session: Session, *, citizen_pseudonym: str) -> dict[str, Any]:
    """Identity's part of an Art. 15 access request (the consent exporter registry calls it)."""
    return service_from(ctx).export_citizen(session, citizen_pseudonym=citizen_pseudonym)


def issuance_authorization(
    ctx: AppContext, response: Response, *, nonce: str, return_to: str
) -> str:
    """The FranceConnect URL of one issuance's authentication, bound to ``nonce``
    (ballot-secrecy.md §3); its state goes in a sealed cookie on ``response``. The callback
    verifies the ID token, checks it is the signed-in citizen's and keeps it in the session
    until :func:`take_issuance_authentication`; then the browser goes to ``return_to``."""
    from identity.pages import issuance_authorization as authorize

    return authorize(ctx, response, nonce=nonce, return_to=return_to)


def take_issuance_authentication(
    ctx: AppContext, session: WebSession | None, *, nonce: str
) -> tuple[str, dict[str, Any]] | None:
    """The ID token (as received) and the public JWK that signed it, of this session's
    issuance authentication whose nonce is ``nonce``; None otherwise. Single use."""
    from identity.pages import take_issuance_authentication as take

    return take(ctx, session, nonce=nonce)


#: A domain's list of the voting rights issued to a citizen, for the account page:
#: ``provider(ctx, pseudonym) -> [{"election": ID, "title": TEXT, "day": "YYYY-MM-DD"}]``.
VotingRights = Callable[["AppContext", str], list[dict[str, str]]]


def register_voting_rights(ctx: AppContext, provider: VotingRights) -> None:
    """Let the account page list the elections where a voting right was issued to the
    citizen, and on which day (ballot-secrecy.md §3: so that a right issued without them
    is noticed). The ballot domain registers its voter list here at setup."""
    ctx.extensions["identity.voting_rights"] = provider


def voting_rights_of(ctx: AppContext, pseudonym: str) -> list[dict[str, str]]:
    """What the registered provider lists for this citizen (none without a provider)."""
    provider = ctx.extensions.get("identity.voting_rights")
    return list(provider(ctx, pseudonym)) if provider is not None else []


#: ``(ctx, language) -> [{"id", "title", "status", "paper", "href"}]``.
DeskElections = Callable[["AppContext", str], list[dict[str, Any]]]


def register_desk_elections(ctx: AppContext, provider: DeskElections) -> None:
    """Let the town hall desk list the elections an agent works on (scheduled, open or
    closed: where paper voters are recorded and totals entered). The ballot domain
    registers its list here at setup, as for :func:`register_voting_rights`."""
    ctx.extensions["identity.desk_elections"] = provider


def desk_elections_of(ctx: AppContext, lang: str) -> list[dict[str, Any]]:
    """What the registered provider lists for the desk (none without a provider)."""
    provider = ctx.extensions.get("identity.desk_elections")
    return list(provider(ctx, lang)) if provider is not None else []


def sandbox_from(ctx: AppContext) -> Sandbox:
    """The built-in FranceConnect sandbox of ``ctx`` (demo and test modes)."""
    from identity.plugin import make_sandbox

    return ctx.extension("identity.sandbox", make_sandbox)


def use_franceconnect_http(ctx: AppContext, client: httpx.Client) -> None:
    """Send the relying party's calls to FranceConnect through ``client`` (tests pass a
    client bound to the app itself; production keeps the default real HTTP client)."""
    from identity.plugin import make_franceconnect_client

    ctx.extensions["identity.fc_client"] = make_franceconnect_client(ctx, http=client)


def franceconnect_client(ctx: AppContext) -> FranceConnectClient:
    from identity.plugin import make_franceconnect_client

    return ctx.extension("identity.fc_client", make_franceconnect_client)
