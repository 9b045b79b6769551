"""The consent ledger: append-only events and the state they fold into.

Each consent event records one DPV consent status (W3C Data Privacy Vocabulary, "Consent
Status" concepts: ``dpv:ConsentGiven``, ``dpv:ConsentRefused``, ``dpv:ConsentWithdrawn``,
``dpv:ConsentExpired``, ``dpv:RenewedConsentGiven``, ``dpv:ConsentRevoked``,
``dpv:ConsentInvalidated``) for one subject and one purpose, bound to the notice version that
was shown, the interface or platform, the actor and a validity period. The **current state**
is :func:`fold` of the events — the events are the source of truth, any stored state is a
projection that must always equal the fold (tested with a Hypothesis state machine).

Rules enforced here (every one raises, nothing returns False):

* GDPR Art. 7(1): the controller must be able to demonstrate consent — every given or renewed
  consent names the notice shown and lasts a stated period;
* Art. 7(3): withdrawal is possible whenever consent is in force, and only then (withdrawing
  what was never given is an error, not a silent no-op);
* events of one consent are in time order: an event dated before the previous one is
  refused (no back-dating);
* consent only for purposes whose lawful basis is consent (Art. 6(1)(a)); otherwise the
  error names the basis and the right the person has instead (Art. 21 objection, or none);
* Loi n° 78-17 du 6 janvier 1978, art. 45 (GDPR Art. 8(1) as set by France): "un mineur peut
  consentir seul à un traitement de données à caractère personnel en ce qui concerne l'offre
  directe de services de la société de l'information à compter de l'âge de quinze ans.
  Lorsque le mineur est âgé de moins de quinze ans, le traitement n'est licite que si le
  consentement est donné conjointement par le mineur concerné et le ou les titulaires de
  l'autorité parentale à l'égard de ce mineur."

Pure module: no I/O; times are passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from consent.bases import BASES, RIGHT_ARTICLES, LegalBasis, Right
from consent.errors import (
    ActorError,
    BackdatedEventError,
    LegalBasisError,
    MinorConsentError,
    NotGivenError,
    TransitionError,
)

__all__ = [
    "ACTIVE",
    "DPV_STATUS",
    "MINOR_AGE",
    "Actor",
    "ActorKind",
    "ConsentEvent",
    "ConsentState",
    "Method",
    "Status",
    "apply",
    "check_minor",
    "fold",
    "require_consent_basis",
    "under_15",
]

#: Loi 78-17 art. 45: the age from which a minor consents alone.
MINOR_AGE = 15
MAX_ID = 64


class Status(StrEnum):
    """The consent status an event records (DPV consent status concepts)."""

    GIVEN = "given"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"
    RENEWED = "renewed"
    REVOKED = "revoked"
    INVALIDATED = "invalidated"


DPV_STATUS: Mapping[Status, str] = MappingProxyType(
    {
        Status.GIVEN: "https://w3id.org/dpv#ConsentGiven",
        Status.REFUSED: "https://w3id.org/dpv#ConsentRefused",
        Status.WITHDRAWN: "https://w3id.org/dpv#ConsentWithdrawn",
        Status.EXPIRED: "https://w3id.org/dpv#ConsentExpired",
        Status.RENEWED: "https://w3id.org/dpv#RenewedConsentGiven",
        Status.REVOKED: "https://w3id.org/dpv#ConsentRevoked",
        Status.INVALIDATED: "https://w3id.org/dpv#ConsentInvalidated",
    }
)

#: Statuses under which processing may rely on consent (DPV: "valid for processing").
ACTIVE = frozenset({Status.GIVEN, Status.RENEWED})


class ActorKind(StrEnum):
    """Who brings an event about."""

    SUBJECT = "subject"  #: the person themself
    PARENTAL = "subject_and_parental_authority"  #: a minor jointly with a parent (art. 45)
    AGENT = "agent"  #: someone acting on the person's behalf under a mandate
    CONTROLLER = "controller"  #: the controller or its platform (revocation, invalidation)
    SYSTEM = "system"  #: Parvis itself (expiry at the end of the validity period)


class Method(StrEnum):
    """How the person indicated their choice (ISO/IEC TS 27560 ``collection_method``)."""

    WEB_FORM = "web_form"  #: an explicit button on a Parvis page
    PLATFORM = "platform_api"  #: a platform's interface, reported through the API
    IN_PERSON = "in_person"  #: at the town hall desk, recorded by an agent
    PAPER = "paper_form"  #: a signed paper form, recorded by an agent
    AUTOMATIC = "automatic"  #: no indication: a system event (expiry)


#: Which actors may record which statuses.
_ACTORS: Mapping[Status, frozenset[ActorKind]] = MappingProxyType(
    {
        Status.GIVEN: frozenset({ActorKind.SUBJECT, ActorKind.PARENTAL, ActorKind.AGENT}),
        Status.RENEWED: frozenset({ActorKind.SUBJECT, ActorKind.PARENTAL, ActorKind.AGENT}),
        Status.REFUSED: frozenset({ActorKind.SUBJECT, ActorKind.PARENTAL, ActorKind.AGENT}),
        Status.WITHDRAWN: frozenset({ActorKind.SUBJECT, ActorKind.PARENTAL, ActorKind.AGENT}),
        Status.REVOKED: frozenset({ActorKind.CONTROLLER}),
        Status.INVALIDATED: frozenset({ActorKind.CONTROLLER}),
        Status.EXPIRED: frozenset({ActorKind.SYSTEM}),
    }
)


def _check_ref(value: str, what: str) -> None:
    if not value or len(value) > MAX_ID or any(c.isspace() for c in value):
        raise ActorError(f"{what}: 1 to {MAX_ID} characters without spaces")


@dataclass(frozen=True, slots=True)
class Actor:
    """The actor of an event.

    ``guardian`` is the pseudonym of the holder of parental authority (kind ``PARENTAL``);
    ``agent`` the acting staff member, platform or mandate holder (``staff:<id>``,
    ``platform:<client>``) — required for ``AGENT`` and ``CONTROLLER``, and optional for the
    others to note who recorded the event at a desk; ``mandate`` the reference of the
    mandate an agent holds.
    """

    kind: ActorKind
    guardian: str = ""
    agent: str = ""
    mandate: str = ""

    def __post_init__(self) -> None:
        if self.kind is ActorKind.PARENTAL:
            _check_ref(self.guardian, "holder of parental authority")
        elif self.guardian:
            raise ActorError("only a joint parental consent names a holder of parental authority")
        if self.kind in {ActorKind.AGENT, ActorKind.CONTROLLER}:
            _check_ref(self.agent, f"{self.kind.value} reference")
        elif self.agent:
            _check_ref(self.agent, "recording agent")
        if self.kind is ActorKind.AGENT:
            if not self.mandate.strip() or len(self.mandate) > 200:
                raise ActorError("an agent acting for the person needs the mandate's reference")
        elif self.mandate:
            raise ActorError("only an agent acting for the person holds a mandate")

    def to_dict(self) -> dict[str, str]:
        out = {"kind": self.kind.value}
        for key in ("guardian", "agent", "mandate"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Actor:
        try:
            kind = ActorKind(str(data.get("kind")))
        except ValueError:
            raise ActorError(
                f"actor kind must be one of {', '.join(k.value for k in ActorKind)}"
            ) from None
        return cls(
            kind=kind,
            guardian=str(data.get("guardian", "")),
            agent=str(data.get("agent", "")),
            mandate=str(data.get("mandate", "")),
        )

    def audit_actor(self, subject: str) -> str:
        """The audit log's actor string (``citizen:…``, ``staff:…``, ``platform:…``)."""
        if self.kind in {ActorKind.AGENT, ActorKind.CONTROLLER}:
            return self.agent
        if self.kind is ActorKind.SYSTEM:
            return "system"
        return f"citizen:{subject}"


@dataclass(frozen=True, slots=True)
class ConsentEvent:
    """One append-only consent event (validated on construction)."""

    event_id: str
    subject: str
    purpose_id: str
    status: Status
    time: datetime
    actor: Actor
    method: Method
    interface: str
    notice_id: str | None = None
    valid_until: datetime | None = None

    def __post_init__(self) -> None:
        for value, what in (
            (self.event_id, "event id"),
            (self.subject, "subject"),
            (self.purpose_id, "purpose id"),
            (self.interface, "interface"),
        ):
            if not value or len(value) > MAX_ID:
                raise ValueError(f"{what}: 1 to {MAX_ID} characters")
        if self.time.tzinfo is None:
            raise ValueError("event time must be an aware datetime")
        if self.actor.kind not in _ACTORS[self.status]:
            raise ActorError(
                f"a {self.status.value} event cannot be recorded by a {self.actor.kind.value} actor"
            )
        if self.status in {Status.GIVEN, Status.RENEWED, Status.REFUSED} and not self.notice_id:
            raise ValueError(
                f"a {self.status.value} event must name the notice version shown (Art. 7(1))"
            )
        if self.status in ACTIVE:
            if self.valid_until is None or self.valid_until <= self.time:
                raise ValueError("a given or renewed consent needs a validity end after its time")
        elif self.valid_until is not None:
            raise ValueError(f"a {self.status.value} event has no validity period")
        if (self.status is Status.EXPIRED) != (self.method is Method.AUTOMATIC):
            raise ValueError("only an expiry is automatic, and it always is")


@dataclass(frozen=True, slots=True)
class ConsentState:
    """The fold of one subject's events for one purpose.

    ``notice_id``, ``given_at`` and ``valid_until`` describe the consent in force (or the
    last one given, once it has ended: ``valid_until`` is then None).
    """

    subject: str
    purpose_id: str
    status: Status
    since: datetime
    last_event_id: str
    events: int
    notice_id: str | None
    given_at: datetime | None
    valid_until: datetime | None

    def lapsed(self, now: datetime) -> bool:
        """In force by status, but its validity period has ended (expiry not yet recorded)."""
        return self.status in ACTIVE and self.valid_until is not None and now >= self.valid_until

    def in_force(self, now: datetime) -> bool:
        """Processing may rely on this consent at ``now`` (notice currency aside)."""
        return self.status in ACTIVE and not self.lapsed(now)


def apply(state: ConsentState | None, event: ConsentEvent) -> ConsentState:
    """The state after ``event``; raises :class:`TransitionError` if it is not allowed."""
    if state is not None:
        if (state.subject, state.purpose_id) != (event.subject, event.purpose_id):
            raise ValueError("an event can only be applied to its own subject and purpose")
        if event.time < state.since:
            raise BackdatedEventError(
                f"a {event.status.value} event cannot be dated before the previous event "
                "of the same consent",
                current=state.status.value,
                requested=event.status.value,
            )
    current = state.status if state is not None else None
    in_force = state is not None and state.in_force(event.time)
    status = event.status

    def refuse(detail: str, error: type[TransitionError] = TransitionError) -> TransitionError:
        return error(detail, current=current.value if current else None, requested=status.value)

    if status is Status.GIVEN and in_force:
        raise refuse("consent is already in force for this purpose; renew it instead")
    if status is Status.REFUSED and in_force:
        raise refuse("consent is in force for this purpose; withdraw it instead of refusing")
    if status is Status.RENEWED and not in_force:
        raise refuse("there is no consent in force to renew; give it again", NotGivenError)
    if status in {Status.WITHDRAWN, Status.REVOKED, Status.INVALIDATED} and (current not in ACTIVE):
        raise refuse(
            f"there is no consent in force to mark {status.value}: it was never given, or "
            "has already ended",
            NotGivenError,
        )
    if status is Status.EXPIRED:
        if current not in ACTIVE:
            raise refuse("there is no consent in force to expire", NotGivenError)
        assert state is not None
        if not state.lapsed(event.time):
            raise refuse("the consent's validity period has not ended yet")

    count = state.events + 1 if state is not None else 1
    if status in ACTIVE:
        return ConsentState(
            subject=event.subject,
            purpose_id=event.purpose_id,
            status=status,
            since=event.time,
            last_event_id=event.event_id,
            events=count,
            notice_id=event.notice_id,
            given_at=event.time,
            valid_until=event.valid_until,
        )
    return ConsentState(
        subject=event.subject,
        purpose_id=event.purpose_id,
        status=status,
        since=event.time,
        last_event_id=event.event_id,
        events=count,
        notice_id=event.notice_id
        if status is Status.REFUSED
        else getattr(state, "notice_id", None),
        given_at=None,
        valid_until=None,
    )


def fold(events: Iterable[ConsentEvent]) -> ConsentState | None:
    """The current state of a consent: every event applied in order (None: no event)."""
    state: ConsentState | None = None
    for event in events:
        state = apply(state, event)
    return state


def under_15(
    *, on: date, birth_date: date | None = None, birth_year: int | None = None
) -> bool | None:
    """Whether the person may be under 15 on ``on`` (None: age unknown).

    With only a birth year (what ``identity`` keeps, by minimisation), the answer is
    conservative: a person who turns 15 during ``on``'s year counts as under 15 until the
    next 1 January, because nothing shows they have already had their birthday.
    """
    if birth_date is not None:
        had_birthday = (on.month, on.day) >= (birth_date.month, birth_date.day)
        return on.year - birth_date.year - (0 if had_birthday else 1) < MINOR_AGE
    if birth_year is not None:
        return on.year - birth_year <= MINOR_AGE
    return None


def check_minor(status: Status, actor: Actor, *, minor: bool | None) -> None:
    """Loi 78-17 art. 45: under 15, consent is given jointly with a holder of parental
    authority. Withdrawal and refusal stay open to the minor alone — they only reduce
    processing, and Art. 7(3) wants withdrawal as easy as giving."""
    if minor and status in ACTIVE and actor.kind is not ActorKind.PARENTAL:
        raise MinorConsentError(
            "the person is under 15: under Loi 78-17 art. 45 consent must be given jointly "
            "by the minor and a holder of parental authority"
        )


def require_consent_basis(purpose_id: str, basis: LegalBasis) -> None:
    """Refuse consent for a purpose whose lawful basis is not consent, saying which basis
    applies and which right the person has instead (CNIL developer guide, sheet 15)."""
    if basis is LegalBasis.CONSENT:
        return
    info = BASES[basis]
    rights = ", ".join(
        f"{right.value} ({RIGHT_ARTICLES[right]})"
        for right in (Right.ACCESS, Right.RECTIFICATION, Right.ERASURE, Right.RESTRICTION)
        if right in info.rights
    )
    alternative = info.alternative_to_consent
    if alternative is not None:
        instead = (
            f"Instead of consenting or withdrawing, the person can object "
            f"({RIGHT_ARTICLES[alternative]}(1)); they also have the rights of {rights}."
        )
    else:
        instead = (
            f"The person cannot object to it ({info.excluded[Right.OBJECTION]}); they have "
            f"the rights of {rights}."
        )
    raise LegalBasisError(
        f"purpose {purpose_id!r} rests on {info.label_en} ({info.article}), not on consent: "
        f"consent is neither asked nor recorded for it. {instead}",
        purpose_id=purpose_id,
        basis=basis.value,
        alternative=alternative.value if alternative else None,
    )
