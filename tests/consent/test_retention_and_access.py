"""Retention purge (idempotent, reported, audited) and access records."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from consent import register_retention_handler
from consent.access import access_records, record_access
from consent.auditing import audit_of
from consent.errors import UnknownPurposeError
from consent.hooks import RetentionContext, _retention
from consent.ledger import Actor, ActorKind, Method, Status
from consent.retention import purge
from consent.service import ConsentService
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from parvis.kernel.errors import InvalidInputError

DAY = timedelta(days=1)


@pytest.fixture(autouse=True)
def clean_registry() -> Iterator[None]:
    yield
    _retention.pop("email", None)


def act(service: ConsentService, ctx: AppContext, subject: str, status: Status) -> None:
    with ctx.db.write_session() as session:
        notice = service.current_notice(session, "ville-exemple", "fr")
        assert notice is not None
        service.record(
            session,
            subject=subject,
            purpose_id="newsletter",
            status=status,
            actor=Actor(ActorKind.SUBJECT),
            method=Method.WEB_FORM,
            interface="parvis:test",
            notice_id=notice.id if status is Status.GIVEN else None,
        )


def test_purge_by_purpose_and_category_is_idempotent_and_audited(
    service: ConsentService, ctx: AppContext, clock: FixedClock
) -> None:
    emails = {"old": clock.now(), "recent": clock.now() + 1500 * DAY}
    calls: list[RetentionContext] = []

    def purge_emails(step: RetentionContext) -> int:
        calls.append(step)
        doomed = [k for k, when in emails.items() if when < step.cutoff]
        if not step.dry_run:
            for key in doomed:
                del emails[key]
        return len(doomed)

    register_retention_handler("email", purge_emails)
    act(service, ctx, "ended", Status.GIVEN)
    act(service, ctx, "ended", Status.WITHDRAWN)
    act(service, ctx, "active", Status.GIVEN)
    clock.advance(365 * 5 * DAY + 2 * DAY)  # five years and a bit later
    act(service, ctx, "active", Status.WITHDRAWN)  # ends now: kept for five more years
    act(service, ctx, "active", Status.GIVEN)
    with ctx.db.write_session() as session:
        dry = purge(ctx, session, dry_run=True)
    assert dry.dry_run
    assert [e["count"] for e in dry.consent_evidence] == [1]
    assert emails.keys() == {"old", "recent"}  # a dry run changes nothing
    with ctx.db.write_session() as session:
        report = purge(ctx, session, dry_run=False, actor="system:test")
    email = next(c for c in report.categories if c["category"] == "email")
    assert email["count"] == 1
    assert email["retention"] == "P3Y"
    assert email["from"] == "consent_end"
    assert calls[-1].purpose_id == "newsletter"
    assert emails.keys() == {"recent"}
    unhandled = next(c for c in report.categories if c["category"] == "eligibility")
    assert unhandled["count"] is None
    assert unhandled["handler"].startswith("none")
    assert report.consent_evidence == [
        {"purpose": "newsletter", "cutoff": report.consent_evidence[0]["cutoff"], "count": 1}
    ]
    with ctx.db.read_session() as session:
        assert service.history(session, "ended") == []
        assert service.receipts(session, "ended") == []
        assert service.state(session, "ended", "newsletter") is None
        assert len(service.history(session, "active")) == 3  # in force: never purged
        entries = audit_of(ctx).query(session, event_type="consent.retention.purge")
        assert len(entries) == 1
        assert entries[0].details["total"] == report.total
        assert "ended" not in str(entries[0].details)  # counts, never people
    with ctx.db.write_session() as session:
        again = purge(ctx, session, dry_run=False)
    assert again.total == 0


def test_access_records_answer_who_read_what_and_why(
    service: ConsentService, ctx: AppContext, clock: FixedClock
) -> None:
    with ctx.db.write_session() as session:
        record_access(
            ctx,
            session,
            actor="staff:agent-1",
            subject="alice",
            fields=["email"],
            purpose="newsletter",
        )
    clock.advance(DAY)
    with ctx.db.write_session() as session:
        record_access(
            ctx,
            session,
            actor="platform:decidim",
            subject="alice",
            fields=["given_name", "email", "email"],
            purpose="newsletter",
        )
        record_access(
            ctx,
            session,
            actor="staff:agent-2",
            subject="bob",
            fields=["eligibility"],
            purpose="budget-participatif",
        )
    with ctx.db.read_session() as session:
        alice = access_records(ctx, session, subject="alice")
        assert [(r.actor, r.fields) for r in alice] == [
            ("staff:agent-1", ("email",)),
            ("platform:decidim", ("email", "given_name")),
        ]
        platforms = access_records(ctx, session, actor="platform:decidim")
        assert [r.subject for r in platforms] == ["alice"]
        since = access_records(ctx, session, since=clock.now() - timedelta(hours=1))
        assert {r.subject for r in since} == {"alice", "bob"}
        assert len(since) == 2
        assert [r.actor for r in access_records(ctx, session, purpose="budget-participatif")] == [
            "staff:agent-2"
        ]


def test_access_record_validation(service: ConsentService, ctx: AppContext) -> None:
    """Each malformed record is refused and nothing is written."""
    cases: list[tuple[dict[str, object], type[Exception]]] = [
        ({"actor": "someone"}, InvalidInputError),
        ({"fields": []}, InvalidInputError),
        ({"fields": ["Given Name"]}, InvalidInputError),
        ({"subject": ""}, InvalidInputError),
        ({"purpose": "unregistered"}, UnknownPurposeError),
    ]
    for kwargs, error in cases:
        values: dict[str, object] = {
            "actor": "staff:agent-1",
            "subject": "alice",
            "fields": ["email"],
            "purpose": "newsletter",
            **kwargs,
        }
        with pytest.raises(error), ctx.db.write_session() as session:
            record_access(ctx, session, **values)  # type: ignore[arg-type]
    with ctx.db.read_session() as session:
        assert access_records(ctx, session) == []
