"""Signed webhooks delivered to real local HTTP receivers: signature, replay, retries."""

from __future__ import annotations

import json
from collections import deque
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from consent.clients import create_client
from consent.errors import (
    WebhookReplayError,
    WebhookSignatureError,
    WebhookTimestampError,
)
from consent.ledger import Actor, ActorKind, Method, Status
from consent.service import ConsentService
from consent.tables import WebhookDeliveryRow
from consent.webhooks import ReplayCache, WebhookWorker, deliver_due, subscribe, verify_webhook
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from tests.consent.receiver import Receiver


def platform(ctx: AppContext, client_id: str, url: str) -> None:
    with ctx.db.write_session() as session:
        create_client(
            ctx,
            session,
            client_id=client_id,
            controller_id="ville-exemple",
            name=client_id,
            actor="t",
        )
        subscribe(ctx, session, client_id=client_id, url=url + "/hooks")


def act(service: ConsentService, ctx: AppContext, status: Status, subject: str = "alice") -> None:
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
            interface="parvis:privacy-page",
            notice_id=notice.id if status is Status.GIVEN else None,
        )


def test_withdrawal_reaches_every_subscribed_platform_signed(
    service: ConsentService, ctx: AppContext, clock: FixedClock
) -> None:
    with Receiver() as decidim, Receiver() as consul:
        platform(ctx, "decidim", decidim.url)
        platform(ctx, "consul", consul.url)
        act(service, ctx, Status.GIVEN)
        act(service, ctx, Status.WITHDRAWN)
        report = deliver_due(ctx)
        assert report.delivered == 4
        for receiver in (decidim, consul):
            types = [json.loads(r.body)["type"] for r in receiver.received]
            assert types == ["consent.given", "consent.withdrawn"]
            seen = ReplayCache()
            for message in receiver.received:
                data = verify_webhook(
                    body=message.body,
                    headers=message.headers,
                    public_key=service.webhook_public_key,
                    now=clock.now(),
                    seen=seen,
                )
                assert data["data"]["subject"] == "alice"
                assert data["data"]["purpose"] == "newsletter"
            withdrawal = json.loads(receiver.received[1].body)["data"]
            assert withdrawal["status"] == "withdrawn"
            assert withdrawal["consented"] is False
        assert deliver_due(ctx).attempted == 0  # nothing left


def test_receiver_rejects_replay_tampering_and_stale(
    service: ConsentService, ctx: AppContext, clock: FixedClock
) -> None:
    with Receiver() as receiver:
        platform(ctx, "decidim", receiver.url)
        act(service, ctx, Status.GIVEN)
        deliver_due(ctx)
    message = receiver.received[0]
    key = service.webhook_public_key
    seen = ReplayCache()
    verify_webhook(
        body=message.body, headers=message.headers, public_key=key, now=clock.now(), seen=seen
    )
    with pytest.raises(WebhookReplayError):
        verify_webhook(
            body=message.body, headers=message.headers, public_key=key, now=clock.now(), seen=seen
        )
    tampered = message.body.replace(b'"given"', b'"withdrawn"')
    with pytest.raises(WebhookSignatureError):
        verify_webhook(
            body=tampered,
            headers=message.headers,
            public_key=key,
            now=clock.now(),
            seen=ReplayCache(),
        )
    other_id = {**message.headers, "webhook-id": "msg_other"}
    with pytest.raises(WebhookSignatureError):
        verify_webhook(
            body=message.body, headers=other_id, public_key=key, now=clock.now(), seen=ReplayCache()
        )
    with pytest.raises(WebhookTimestampError):
        verify_webhook(
            body=message.body,
            headers=message.headers,
            public_key=key,
            now=clock.now() + timedelta(minutes=10),
            seen=ReplayCache(),
        )
    with pytest.raises(WebhookSignatureError):
        verify_webhook(
            body=message.body, headers={}, public_key=key, now=clock.now(), seen=ReplayCache()
        )


def test_retries_with_backoff_keep_the_idempotency_id(
    service: ConsentService, ctx: AppContext, clock: FixedClock
) -> None:
    with Receiver(statuses=deque([500, 503])) as receiver:
        platform(ctx, "decidim", receiver.url)
        act(service, ctx, Status.GIVEN)
        first = deliver_due(ctx)
        assert (first.attempted, first.failed) == (1, 1)
        assert deliver_due(ctx).attempted == 0  # not due before the back-off
        clock.advance(timedelta(seconds=30))  # first retry after 30 s
        assert deliver_due(ctx).failed == 1
        clock.advance(timedelta(seconds=59))
        assert deliver_due(ctx).attempted == 0  # second back-off is 60 s
        clock.advance(timedelta(seconds=1))
        assert deliver_due(ctx).delivered == 1
    ids = {m.headers["webhook-id"] for m in receiver.received}
    assert len(receiver.received) == 3
    assert len(ids) == 1  # the same idempotency key on every attempt
    stamps = [int(m.headers["webhook-timestamp"]) for m in receiver.received]
    assert stamps == sorted(stamps)
    assert stamps[0] < stamps[-1]  # each attempt is signed afresh


def test_gives_up_after_max_attempts(
    service: ConsentService, ctx: AppContext, clock: FixedClock, make_settings: object
) -> None:
    with Receiver(statuses=deque([500] * 20)) as receiver:
        platform(ctx, "decidim", receiver.url)
        act(service, ctx, Status.GIVEN)
        for _ in range(ctx.settings.consent_webhook_max_attempts + 2):
            deliver_due(ctx)
            clock.advance(timedelta(hours=7))
    assert len(receiver.received) == ctx.settings.consent_webhook_max_attempts
    with ctx.db.read_session() as session:
        row = session.scalars(select(WebhookDeliveryRow)).one()
        assert row.gave_up_at is not None
        assert row.last_error == "HTTP 500"


def test_unreachable_platform_is_retried(service: ConsentService, ctx: AppContext) -> None:
    platform(ctx, "decidim", "http://127.0.0.1:9")  # discard port: connection refused
    act(service, ctx, Status.GIVEN)
    report = deliver_due(ctx)
    assert (report.attempted, report.failed) == (1, 1)
    with ctx.db.read_session() as session:
        assert session.scalars(select(WebhookDeliveryRow)).one().last_error == "ConnectError"


def test_rolled_back_event_sends_nothing(service: ConsentService, ctx: AppContext) -> None:
    with Receiver() as receiver:
        platform(ctx, "decidim", receiver.url)

        def failing_use_case() -> None:
            with ctx.db.write_session() as session:
                notice = service.current_notice(session, "ville-exemple", "fr")
                assert notice is not None
                service.record(
                    session,
                    subject="alice",
                    purpose_id="newsletter",
                    status=Status.GIVEN,
                    actor=Actor(ActorKind.SUBJECT),
                    method=Method.WEB_FORM,
                    interface="parvis:privacy-page",
                    notice_id=notice.id,
                )
                raise RuntimeError("the caller's use case fails after the consent was recorded")

        with pytest.raises(RuntimeError):
            failing_use_case()
        assert deliver_due(ctx).attempted == 0
    assert receiver.received == []


def test_background_worker_delivers(service: ConsentService, ctx: AppContext) -> None:
    with Receiver() as receiver:
        platform(ctx, "decidim", receiver.url)
        worker = WebhookWorker(ctx, poll=0.05)
        worker.start()
        try:
            act(service, ctx, Status.GIVEN)
            assert receiver.arrived.wait(timeout=10)
        finally:
            worker.stop()
    assert json.loads(receiver.received[0].body)["type"] == "consent.given"


def test_subscription_rules(ctx: AppContext, service: ConsentService) -> None:
    from consent.errors import CatalogueError

    with ctx.db.write_session() as session:
        create_client(
            ctx, session, client_id="decidim", controller_id="ville-exemple", name="d", actor="t"
        )
        with pytest.raises(CatalogueError, match="https"):
            subscribe(ctx, session, client_id="decidim", url="ftp://example.org/x")
        with pytest.raises(CatalogueError, match="unknown webhook event"):
            subscribe(
                ctx,
                session,
                client_id="decidim",
                url="https://x.example/h",
                events=frozenset({"x"}),
            )
        with pytest.raises(CatalogueError, match="no active API client"):
            subscribe(ctx, session, client_id="nope", url="https://x.example/h")
    assert datetime.now(UTC)  # keep the import honest
