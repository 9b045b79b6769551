"""Hypothesis state machine: the stored consent state always equals the fold of the events.

Random sequences of gives, refusals, withdrawals, renewals, revocations, expiries, time
jumps and notice changes run against the real service and database (SQLite and
PostgreSQL). After every step, for every subject: the projection row equals ``fold`` of the
stored events, equals an independent reference model, and a refused step wrote nothing.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from hypothesis import Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import func, select

from consent.catalogue import Purpose
from consent.deadlines import Duration
from consent.errors import TransitionError
from consent.ledger import ACTIVE, Actor, ActorKind, Method, Status, fold
from consent.service import ConsentService
from consent.tables import ConsentEventRow
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from tests.consent.conftest import DPO
from tests.consent.factories import NEWSLETTER, purpose

YEAR = Duration.parse("P1Y")  # the newsletter's consent_validity (calendar year)
SUBJECTS = st.integers(min_value=0, max_value=2)
SUBJECT_ACTOR = Actor(ActorKind.SUBJECT)
CONTROLLER_ACTOR = Actor(ActorKind.CONTROLLER, agent=DPO)


def test_projection_always_equals_the_fold(
    service: ConsentService, ctx: AppContext, clock: FixedClock
) -> None:
    class Ledger(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.prefix = uuid.uuid4().hex[:8]
            # reference model: subject -> (status, valid_until)
            self.model: dict[str, tuple[Status, object]] = {}

        def subject(self, n: int) -> str:
            return f"{self.prefix}-{n}"

        def events(self) -> int:
            with ctx.db.read_session() as session:
                return (
                    session.scalar(
                        select(func.count())
                        .select_from(ConsentEventRow)
                        .where(ConsentEventRow.subject.like(f"{self.prefix}-%"))
                    )
                    or 0
                )

        def attempt(self, n: int, status: Status, actor: Actor = SUBJECT_ACTOR) -> None:
            subject = self.subject(n)
            now = clock.now()
            current = self.model.get(subject)
            in_force_by_status = current is not None and current[0] in ACTIVE
            lapsed = in_force_by_status and current is not None and now >= current[1]  # type: ignore[operator]
            in_force = in_force_by_status and not lapsed
            allowed = {
                Status.GIVEN: not in_force,
                Status.REFUSED: not in_force,
                Status.RENEWED: in_force,
                Status.WITHDRAWN: in_force_by_status,
                Status.REVOKED: in_force_by_status,
            }[status]
            before = self.events()
            with ctx.db.read_session() as session:
                notice = service.current_notice(session, "ville-exemple", "fr")
            try:
                with ctx.db.write_session() as session:
                    service.record(
                        session,
                        subject=subject,
                        purpose_id="newsletter",
                        status=status,
                        actor=actor,
                        method=Method.WEB_FORM,
                        interface="parvis:test",
                        notice_id=notice.id if notice else None,
                    )
            except TransitionError:
                assert not allowed, (status, current)
                assert self.events() == before  # nothing half-written
                return
            assert allowed, (status, current)
            valid_until = YEAR.after(now) if status in ACTIVE else None
            self.model[subject] = (status, valid_until)

        @rule(n=SUBJECTS)
        def give(self, n: int) -> None:
            self.attempt(n, Status.GIVEN)

        @rule(n=SUBJECTS)
        def refuse(self, n: int) -> None:
            self.attempt(n, Status.REFUSED)

        @rule(n=SUBJECTS)
        def withdraw(self, n: int) -> None:
            self.attempt(n, Status.WITHDRAWN)

        @rule(n=SUBJECTS)
        def renew(self, n: int) -> None:
            self.attempt(n, Status.RENEWED)

        @rule(n=SUBJECTS)
        def revoke(self, n: int) -> None:
            self.attempt(n, Status.REVOKED, CONTROLLER_ACTOR)

        @rule(days=st.integers(min_value=1, max_value=400))
        def time_passes(self, days: int) -> None:
            clock.advance(timedelta(days=days))

        @rule()
        def expiry_sweep(self) -> None:
            now = clock.now()
            with ctx.db.write_session() as session:
                service.expire_due(session)
            for subject, (status, until) in list(self.model.items()):
                if status in ACTIVE and until is not None and now >= until:  # type: ignore[operator]
                    self.model[subject] = (Status.EXPIRED, None)

        @rule(recipient=st.sampled_from(["A", "B", "C"]))
        def notice_changes(self, recipient: str) -> None:
            changed = Purpose.from_dict(
                purpose(NEWSLETTER, recipients=[{"name": recipient, "kind": "external"}]),
                controller_id="ville-exemple",
            )
            with ctx.db.write_session() as session:
                service.save_purpose(session, changed, actor=DPO)
                service.publish_notice(
                    session, controller_id="ville-exemple", language="fr", text="t", actor=DPO
                )

        @invariant()
        def projection_equals_fold_and_model(self) -> None:
            with ctx.db.read_session() as session:
                for n in range(3):
                    subject = self.subject(n)
                    stored = service.state(session, subject, "newsletter")
                    folded = fold(service.history(session, subject, "newsletter"))
                    assert stored == folded
                    expected = self.model.get(subject)
                    if expected is None:
                        assert stored is None
                    else:
                        assert stored is not None
                        assert stored.status is expected[0]
                        assert stored.valid_until == expected[1]

    # Generation only: the database and the clock outlive one example, so a shrinking replay
    # would not see the same world; the failing sequence is printed as generated.
    run_state_machine_as_test(
        Ledger,
        settings=settings(
            max_examples=12, stateful_step_count=18, deadline=None, phases=[Phase.generate]
        ),
    )
