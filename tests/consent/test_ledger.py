"""The consent ledger: transitions, actors, minors, legal bases, fold (pure core)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent.bases import LegalBasis
from consent.errors import (
    ActorError,
    BackdatedEventError,
    LegalBasisError,
    MinorConsentError,
    NotGivenError,
    TransitionError,
)
from consent.ledger import (
    ACTIVE,
    Actor,
    ActorKind,
    ConsentEvent,
    ConsentState,
    Method,
    Status,
    apply,
    check_minor,
    fold,
    require_consent_basis,
    under_15,
)

T0 = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
YEAR = timedelta(days=365)
_ids = itertools.count()

SUBJECT = Actor(ActorKind.SUBJECT)
ACTOR_FOR = {
    Status.EXPIRED: Actor(ActorKind.SYSTEM),
    Status.REVOKED: Actor(ActorKind.CONTROLLER, agent="staff:dpo-1"),
    Status.INVALIDATED: Actor(ActorKind.CONTROLLER, agent="staff:dpo-1"),
}


def event(status: Status, at: datetime, *, actor: Actor | None = None) -> ConsentEvent:
    return ConsentEvent(
        event_id=f"e{next(_ids)}",
        subject="subject-a",
        purpose_id="newsletter",
        status=status,
        time=at,
        actor=actor or ACTOR_FOR.get(status, SUBJECT),
        method=Method.AUTOMATIC if status is Status.EXPIRED else Method.WEB_FORM,
        interface="parvis:privacy-page",
        notice_id="n1" if status in {Status.GIVEN, Status.RENEWED, Status.REFUSED} else None,
        valid_until=at + YEAR if status in ACTIVE else None,
    )


def test_give_withdraw_give_again() -> None:
    state = fold([event(Status.GIVEN, T0)])
    assert state is not None
    assert state.in_force(T0 + timedelta(days=1))
    state = apply(state, event(Status.WITHDRAWN, T0 + timedelta(days=2)))
    assert state.status is Status.WITHDRAWN
    assert not state.in_force(T0 + timedelta(days=2))
    state = apply(state, event(Status.GIVEN, T0 + timedelta(days=3)))
    assert state.in_force(T0 + timedelta(days=3))
    assert state.events == 3


def test_withdrawal_of_something_never_given_is_an_error() -> None:
    with pytest.raises(NotGivenError, match="never given"):
        fold([event(Status.WITHDRAWN, T0)])
    refused = fold([event(Status.REFUSED, T0)])
    with pytest.raises(NotGivenError):
        apply(refused, event(Status.WITHDRAWN, T0 + timedelta(seconds=1)))
    withdrawn = fold([event(Status.GIVEN, T0), event(Status.WITHDRAWN, T0)])
    with pytest.raises(NotGivenError):
        apply(withdrawn, event(Status.WITHDRAWN, T0))


def test_no_double_give_and_no_refusal_while_in_force() -> None:
    given_ = fold([event(Status.GIVEN, T0)])
    with pytest.raises(TransitionError, match="renew it instead"):
        apply(given_, event(Status.GIVEN, T0 + timedelta(days=1)))
    with pytest.raises(TransitionError, match="withdraw it instead"):
        apply(given_, event(Status.REFUSED, T0 + timedelta(days=1)))


def test_expiry_only_after_the_validity_period() -> None:
    given_ = fold([event(Status.GIVEN, T0)])
    assert given_ is not None
    with pytest.raises(TransitionError, match="not ended yet"):
        apply(given_, event(Status.EXPIRED, T0 + YEAR - timedelta(seconds=1)))
    expired = apply(given_, event(Status.EXPIRED, T0 + YEAR))
    assert expired.status is Status.EXPIRED
    # A lapsed consent (expiry not yet recorded) is not in force and can be given afresh.
    assert not given_.in_force(T0 + YEAR)
    assert apply(given_, event(Status.GIVEN, T0 + YEAR)).in_force(T0 + YEAR)
    with pytest.raises(NotGivenError, match="renew"):
        apply(given_, event(Status.RENEWED, T0 + YEAR))


def test_events_cannot_be_backdated() -> None:
    given_ = fold([event(Status.GIVEN, T0)])
    with pytest.raises(BackdatedEventError):
        apply(given_, event(Status.WITHDRAWN, T0 - timedelta(seconds=1)))


@pytest.mark.parametrize(
    ("status", "actor"),
    [
        (Status.REVOKED, SUBJECT),
        (Status.EXPIRED, SUBJECT),
        (Status.GIVEN, Actor(ActorKind.CONTROLLER, agent="platform:x")),
        (Status.WITHDRAWN, Actor(ActorKind.SYSTEM)),
    ],
)
def test_actor_must_fit_the_event(status: Status, actor: Actor) -> None:
    with pytest.raises(ActorError):
        event(status, T0, actor=actor)


def test_actor_shapes() -> None:
    with pytest.raises(ActorError, match="mandate"):
        Actor(ActorKind.AGENT, agent="staff:1")
    with pytest.raises(ActorError, match="parental authority"):
        Actor(ActorKind.PARENTAL)
    with pytest.raises(ActorError):
        Actor(ActorKind.SUBJECT, guardian="g")
    joint = Actor(ActorKind.PARENTAL, guardian="parent-1", agent="staff:desk-2")
    assert Actor.from_dict(joint.to_dict()) == joint
    assert joint.audit_actor("kid") == "citizen:kid"


def test_minors_under_15_consent_jointly() -> None:
    with pytest.raises(MinorConsentError, match=r"art\. 45"):
        check_minor(Status.GIVEN, SUBJECT, minor=True)
    with pytest.raises(MinorConsentError):
        check_minor(Status.RENEWED, Actor(ActorKind.AGENT, agent="x:1", mandate="m"), minor=True)
    check_minor(Status.GIVEN, Actor(ActorKind.PARENTAL, guardian="parent-1"), minor=True)
    check_minor(Status.WITHDRAWN, SUBJECT, minor=True)  # withdrawing alone is always possible
    check_minor(Status.GIVEN, SUBJECT, minor=False)


@pytest.mark.parametrize(
    ("on", "kwargs", "expected"),
    [
        (date(2026, 6, 1), {"birth_date": date(2011, 6, 1)}, False),  # 15 today
        (date(2026, 5, 31), {"birth_date": date(2011, 6, 1)}, True),  # 14 until tomorrow
        (date(2026, 12, 31), {"birth_year": 2011}, True),  # turns 15 in 2026: not provable
        (date(2027, 1, 1), {"birth_year": 2011}, False),
        (date(2026, 1, 1), {}, None),
    ],
)
def test_under_15(on: date, kwargs: dict[str, object], expected: bool | None) -> None:
    assert under_15(on=on, **kwargs) is expected  # type: ignore[arg-type]


def test_consent_refused_for_public_task_names_objection() -> None:
    with pytest.raises(LegalBasisError) as info:
        require_consent_basis("budget-participatif", LegalBasis.PUBLIC_TASK)
    message = str(info.value)
    assert "public task or official authority (Art. 6(1)(e))" in message
    assert "object (Art. 21(1))" in message
    assert info.value.alternative == "objection"


def test_consent_refused_for_legal_obligation_says_no_objection() -> None:
    with pytest.raises(LegalBasisError) as info:
        require_consent_basis("listes-electorales", LegalBasis.LEGAL_OBLIGATION)
    assert "cannot object" in str(info.value)
    assert info.value.alternative is None
    require_consent_basis("newsletter", LegalBasis.CONSENT)


@given(
    st.lists(
        st.tuples(st.sampled_from(list(Status)), st.integers(min_value=0, max_value=500)),
        max_size=25,
    )
)
def test_fold_matches_a_reference_model(steps: list[tuple[Status, int]]) -> None:
    """Random histories: accepted events fold to the same state; invariants hold."""
    state: ConsentState | None = None
    accepted: list[ConsentEvent] = []
    now = T0
    for status, days in steps:
        now = now + timedelta(days=days)
        candidate = event(status, now)
        # Reference model, written independently of ledger.apply.
        active = state is not None and state.status in ACTIVE
        lapsed = (
            active
            and state is not None
            and state.valid_until is not None
            and now >= state.valid_until
        )
        in_force = active and not lapsed
        expect_ok = {
            Status.GIVEN: not in_force,
            Status.REFUSED: not in_force,
            Status.RENEWED: in_force,
            Status.WITHDRAWN: active,
            Status.REVOKED: active,
            Status.INVALIDATED: active,
            Status.EXPIRED: lapsed,
        }[status]
        try:
            state = apply(state, candidate)
        except TransitionError:
            assert not expect_ok, (status, state)
            continue
        assert expect_ok, (status, state)
        accepted.append(candidate)
        assert state.status is status
        assert state.events == len(accepted)
    assert fold(accepted) == state
