"""Signed webhooks to platforms: an outbox written with the event, a worker that delivers it.

Format: Standard Webhooks (https://www.standardwebhooks.com, "Signature scheme", asymmetric
``v1a``) — the headers ``webhook-id`` (the idempotency key: the same on every retry of one
delivery), ``webhook-timestamp`` (Unix seconds of the attempt) and ``webhook-signature:
v1a,<base64 Ed25519 signature>`` over ``"<id>.<timestamp>.<body>"``. The signature covers the
body, the id and the time, so a receiver that checks the timestamp against a tolerance and
remembers the ids it has seen (:func:`verify_webhook`) rejects forgeries, replays and
stale deliveries. The public key is published at ``/api/consent/v1/keys``.

Delivery: deliveries are rows written in the transaction of the consent event (an outbox),
so a withdrawal that commits is always delivered to every subscribed platform of the
controller and a rolled-back one never is. A background worker (started by the plug-in's
``start``) claims due rows with a lease — safe with several web workers — posts them, and on
failure retries with exponential back-off (``consent_webhook_backoff_seconds`` doubling,
capped at 6 hours) up to ``consent_webhook_max_attempts``.

Payloads carry the platform's own identifier of the person (through the subject mapper),
the purpose, the new status and times — never a name — and ``sequence``, the number of
events of that consent so far: deliveries go out in event order, but a retried delivery can
arrive after a later one, so a receiver keeps the highest sequence it has seen per (subject,
purpose), or asks the check endpoint for the authoritative state.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import logging
import ssl
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import nacl.exceptions
import nacl.signing
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from consent.errors import (
    CatalogueError,
    UnknownControllerError,
    WebhookReplayError,
    WebhookSignatureError,
    WebhookTimestampError,
)
from consent.hooks import subject_mapper
from consent.ledger import ConsentState
from consent.tables import (
    ApiClientRow,
    ControllerRow,
    WebhookDeliveryRow,
    WebhookSubscriptionRow,
)
from parvis.kernel.context import AppContext
from parvis.kernel.settings import Mode

__all__ = [
    "EVENT_TYPES",
    "ReplayCache",
    "WebhookWorker",
    "close_http",
    "deliver_due",
    "enqueue",
    "enqueue_consent_event",
    "sign_delivery",
    "subscribe",
    "verify_webhook",
]

log = logging.getLogger("parvis.consent.webhooks")

EVENT_TYPES = frozenset(
    {
        "consent.given",
        "consent.renewed",
        "consent.refused",
        "consent.withdrawn",
        "consent.expired",
        "consent.revoked",
        "consent.invalidated",
        "subject.rectified",
        "subject.erased",
        "subject.restricted",
    }
)
MAX_BACKOFF = timedelta(hours=6)
LEASE = timedelta(seconds=60)
DEFAULT_TOLERANCE = 300


def _service(ctx: AppContext) -> Any:
    from consent import service_from

    return service_from(ctx)


def subscribe(
    ctx: AppContext,
    session: Session,
    *,
    client_id: str,
    url: str,
    events: frozenset[str] | None = None,
) -> int:
    """Subscribe a platform (API client) to event types; returns the subscription id."""
    client = session.get(ApiClientRow, client_id)
    if client is None or client.revoked_at is not None:
        raise CatalogueError(f"no active API client {client_id!r}")
    chosen = events or EVENT_TYPES
    unknown = set(chosen) - EVENT_TYPES
    if unknown:
        raise CatalogueError(f"unknown webhook event types {sorted(unknown)}")
    production = ctx.settings.mode is Mode.PRODUCTION
    if not url.startswith("https://") and (production or not url.startswith("http://")):
        raise CatalogueError("a webhook URL must be https:// (http:// only outside production)")
    if len(url) > 2000:
        raise CatalogueError("a webhook URL is at most 2000 characters")
    row = WebhookSubscriptionRow(
        client_id=client_id,
        url=url,
        events=",".join(sorted(chosen)),
        active=True,
        created_at=ctx.clock.now(),
    )
    session.add(row)
    session.flush()
    return row.id


def enqueue(
    ctx: AppContext,
    session: Session,
    *,
    controller_id: str,
    event_type: str,
    payload_for: Callable[[str], Mapping[str, Any]],
) -> list[str]:
    """Write one delivery per active subscription of the controller's platforms.

    ``payload_for(client_id)`` builds the body for one platform (its own subject id).
    Returns the client ids notified (for Art. 19 records).
    """
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    if session.get(ControllerRow, controller_id) is None:
        raise UnknownControllerError(controller_id)
    subscriptions = session.execute(
        select(WebhookSubscriptionRow.id, WebhookSubscriptionRow.events, ApiClientRow.id)
        .join(ApiClientRow, ApiClientRow.id == WebhookSubscriptionRow.client_id)
        .where(
            ApiClientRow.controller_id == controller_id,
            ApiClientRow.revoked_at.is_(None),
            WebhookSubscriptionRow.active.is_(True),
        )
        .order_by(WebhookSubscriptionRow.id)
    ).all()
    now = ctx.clock.now()
    notified: list[str] = []
    for sub_id, events, client_id in subscriptions:
        if event_type not in events.split(","):
            continue
        delivery_id = "msg_" + uuid.uuid4().hex
        body = {
            "id": delivery_id,
            "type": event_type,
            "timestamp": now.isoformat(),
            "data": dict(payload_for(client_id)),
        }
        session.add(
            WebhookDeliveryRow(
                id=delivery_id,
                subscription_id=sub_id,
                event_type=event_type,
                payload=json.dumps(body, sort_keys=True, separators=(",", ":")),
                created_at=now,
                attempts=0,
                next_attempt_at=now,
            )
        )
        if client_id not in notified:
            notified.append(client_id)
    return notified


def platform_subject(ctx: AppContext, session: Session, client_id: str, pseudonym: str) -> str:
    mapper = subject_mapper()
    if mapper is None:
        return pseudonym
    return mapper.to_platform(ctx, session, client_id=client_id, pseudonym=pseudonym)


def enqueue_consent_event(
    ctx: AppContext, session: Session, *, controller_id: str, state: ConsentState
) -> list[str]:
    """Notify the controller's platforms of a consent state change."""

    def payload(client_id: str) -> dict[str, Any]:
        return {
            "subject": platform_subject(ctx, session, client_id, state.subject),
            "purpose": state.purpose_id,
            "status": state.status.value,
            "consented": state.in_force(state.since),
            "valid_until": state.valid_until.isoformat() if state.valid_until else None,
            "event": state.last_event_id,
            "sequence": state.events,
            "occurred_at": state.since.isoformat(),
        }

    return enqueue(
        ctx,
        session,
        controller_id=controller_id,
        event_type=f"consent.{state.status.value}",
        payload_for=payload,
    )


def sign_delivery(
    signer: nacl.signing.SigningKey, *, delivery_id: str, timestamp: int, body: bytes
) -> str:
    """The ``webhook-signature`` header value (Standard Webhooks ``v1a``)."""
    message = f"{delivery_id}.{timestamp}.".encode() + body
    return "v1a," + base64.b64encode(signer.sign(message).signature).decode("ascii")


@dataclass
class DeliveryReport:
    attempted: int = 0
    delivered: int = 0
    failed: int = 0
    gave_up: int = 0


def _claim(ctx: AppContext, *, limit: int) -> list[tuple[str, str, str]]:
    """Lease up to ``limit`` due deliveries; returns (id, url, payload) of those we own."""
    now = ctx.clock.now()
    claimed: list[tuple[str, str, str]] = []
    with ctx.db.write_session() as session:
        due = session.execute(
            select(WebhookDeliveryRow.id, WebhookSubscriptionRow.url, WebhookDeliveryRow.payload)
            .join(
                WebhookSubscriptionRow,
                WebhookSubscriptionRow.id == WebhookDeliveryRow.subscription_id,
            )
            .where(
                WebhookDeliveryRow.delivered_at.is_(None),
                WebhookDeliveryRow.gave_up_at.is_(None),
                WebhookDeliveryRow.next_attempt_at <= now,
                or_(
                    WebhookDeliveryRow.lease_until.is_(None),
                    WebhookDeliveryRow.lease_until < now,
                ),
            )
            .order_by(WebhookDeliveryRow.next_attempt_at, WebhookDeliveryRow.seq)
            .limit(limit)
        ).all()
        for delivery_id, url, payload in due:
            taken = session.execute(
                update(WebhookDeliveryRow)
                .where(
                    WebhookDeliveryRow.id == delivery_id,
                    or_(
                        WebhookDeliveryRow.lease_until.is_(None),
                        WebhookDeliveryRow.lease_until < now,
                    ),
                )
                .values(lease_until=now + LEASE)
            )
            if getattr(taken, "rowcount", 0) == 1:
                claimed.append((delivery_id, url, payload))
    return claimed


def deliver_due(
    ctx: AppContext, *, client: httpx.Client | None = None, limit: int = 50
) -> DeliveryReport:
    """Deliver every due webhook once (the worker's step; tests call it directly)."""
    signer = _service(ctx).webhook_signing_key
    report = DeliveryReport()
    http = client or ctx.extension("consent.webhook_http", http_client)
    for delivery_id, url, payload in _claim(ctx, limit=limit):
        report.attempted += 1
        body = payload.encode("utf-8")
        timestamp = int(ctx.clock.now().timestamp())
        headers = {
            "content-type": "application/json",
            "webhook-id": delivery_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign_delivery(
                signer, delivery_id=delivery_id, timestamp=timestamp, body=body
            ),
            "user-agent": "Parvis-Webhooks/1",
        }
        error = ""
        try:
            response = http.post(url, content=body, headers=headers)
            if not 200 <= response.status_code < 300:
                error = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            error = type(exc).__name__
        _settle(ctx, delivery_id, error, report)
    return report


@functools.cache
def _tls() -> ssl.SSLContext:
    # The system trust store (where operators add their own CAs), built once per process:
    # building a fresh context per client costs a quarter of a second.
    return ssl.create_default_context()


def http_client(ctx: AppContext) -> httpx.Client:
    """A client for webhook deliveries: TLS verified, no redirects followed, short timeout."""
    return httpx.Client(
        timeout=ctx.settings.consent_webhook_timeout_seconds,
        verify=_tls(),
        follow_redirects=False,
    )


def close_http(ctx: AppContext) -> None:
    """Close the HTTP client :func:`deliver_due` keeps in the context (plug-in ``stop``)."""
    client = ctx.extensions.pop("consent.webhook_http", None)
    if client is not None:
        client.close()


def _settle(ctx: AppContext, delivery_id: str, error: str, report: DeliveryReport) -> None:
    now = ctx.clock.now()
    settings = ctx.settings
    with ctx.db.write_session() as session:
        row = session.scalars(
            select(WebhookDeliveryRow).where(WebhookDeliveryRow.id == delivery_id)
        ).first()
        if row is None:  # purged meanwhile
            return
        row.attempts += 1
        row.lease_until = None
        if not error:
            row.delivered_at = now
            row.last_error = ""
            report.delivered += 1
            return
        row.last_error = error[:200]
        report.failed += 1
        if row.attempts >= settings.consent_webhook_max_attempts:
            row.gave_up_at = now
            report.gave_up += 1
            log.warning("webhook abandoned", extra={"attempts": row.attempts, "error": error})
            return
        delay = timedelta(seconds=settings.consent_webhook_backoff_seconds) * (
            2 ** (row.attempts - 1)
        )
        row.next_attempt_at = now + min(delay, MAX_BACKOFF)


class WebhookWorker:
    """Background thread of a web process: delivers webhooks, records expiries."""

    EXPIRY_EVERY = 60.0

    def __init__(self, ctx: AppContext, *, poll: float | None = None) -> None:
        self.ctx = ctx
        self.poll = poll or ctx.settings.consent_webhook_poll_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="consent-webhooks", daemon=True)
        self._client = http_client(ctx)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._client.close()

    def _run(self) -> None:
        poll = self.poll
        since_expiry = self.EXPIRY_EVERY
        while not self._stop.is_set():
            try:
                if since_expiry >= self.EXPIRY_EVERY:
                    since_expiry = 0.0
                    with self.ctx.db.write_session() as session:
                        _service(self.ctx).expire_due(session)
                while deliver_due(self.ctx, client=self._client).attempted:
                    if self._stop.is_set():
                        break
            except Exception as exc:  # the worker must survive a database hiccup
                # No traceback: exception messages can hold personal data (payloads, URLs).
                log.error(  # noqa: TRY400
                    "webhook worker step failed", extra={"exc_type": type(exc).__name__}
                )
            self._stop.wait(poll)
            since_expiry += poll


class ReplayCache:
    """The ids a receiver has accepted (bounded, oldest forgotten first)."""

    def __init__(self, size: int = 100_000) -> None:
        self.size = size
        self._seen: OrderedDict[str, None] = OrderedDict()

    def add(self, delivery_id: str) -> None:
        if delivery_id in self._seen:
            raise WebhookReplayError(
                f"webhook {delivery_id[:40]!r} was already received (replay or retry of a "
                "delivery that succeeded): process it once"
            )
        self._seen[delivery_id] = None
        while len(self._seen) > self.size:
            self._seen.popitem(last=False)


def verify_webhook(
    *,
    body: bytes,
    headers: Mapping[str, str],
    public_key: bytes,
    now: datetime,
    seen: ReplayCache,
    tolerance: int = DEFAULT_TOLERANCE,
) -> dict[str, Any]:
    """Receiver side: verify a Parvis webhook and return its parsed body; raise otherwise.

    Order: signature (any bad byte fails), then timestamp within ``tolerance`` seconds of
    ``now``, then the id is new for ``seen``.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    delivery_id = lower.get("webhook-id", "")
    stamp = lower.get("webhook-timestamp", "")
    if not delivery_id or not stamp.isdigit():
        raise WebhookSignatureError("webhook-id and webhook-timestamp headers are required")
    message = f"{delivery_id}.{stamp}.".encode() + body
    verify_key = nacl.signing.VerifyKey(public_key)
    valid = False
    for part in lower.get("webhook-signature", "").split():
        version, _, value = part.partition(",")
        if version != "v1a":
            continue
        try:
            verify_key.verify(message, base64.b64decode(value, validate=True))
            valid = True
            break
        except (binascii.Error, ValueError, nacl.exceptions.BadSignatureError):
            continue
    if not valid:
        raise WebhookSignatureError("no valid v1a signature over the id, timestamp and body")
    if abs(now.timestamp() - int(stamp)) > tolerance:
        raise WebhookTimestampError(
            f"the webhook timestamp is more than {tolerance} s away from now (replayed or delayed)"
        )
    seen.add(delivery_id)
    data: dict[str, Any] = json.loads(body)
    return data
