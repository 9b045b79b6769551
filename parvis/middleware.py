"""ASGI middleware of the composition root: body limit, security headers, access log, metrics.

Written as plain ASGI (not ``BaseHTTPMiddleware``) so that the cost per request stays a few
microseconds: the casting endpoint must sustain hundreds of ballots per second.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from parvis.kernel.settings import Settings

__all__ = [
    "QUIET_ROUTES",
    "BodyLimitMiddleware",
    "NoStoreMiddleware",
    "ObservabilityMiddleware",
    "security_headers",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

access_log = logging.getLogger("parvis.access")

#: (method, route template) of the requests that leave no access-log line, whatever their
#: status: getting a voting token and casting a ballot. A timed line for each would let
#: whoever reads the logs pair a citizen's issuance with the ballot cast just after
#: (ballot-secrecy.md §2: nothing on the two paths carries a time finer than the day).
QUIET_ROUTES: Final = frozenset(
    {
        ("POST", "/elections/{election_id}/tokens"),
        ("POST", "/elections/{election_id}/issuance"),
        ("POST", "/elections/{election_id}/ballots"),
    }
)

#: Strict CSP (architecture.md, "Web"): only our own scripts, styles and images; no
#: inline script, no framing, forms post only to us. Pages that need more say so explicitly.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)


def security_headers(settings: Settings) -> list[tuple[bytes, bytes]]:
    """Headers sent on every response, pages and APIs alike."""
    headers = [
        (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
    ]
    if settings.behind_tls:
        headers.append(
            (
                b"strict-transport-security",
                f"max-age={settings.hsts_max_age}; includeSubDomains".encode(),
            )
        )
    return headers


def _problem_bytes(status: int, title: str, detail: str) -> bytes:
    return json.dumps(
        {"type": "about:blank", "title": title, "status": status, "detail": detail}
    ).encode()


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with 413 before the application sees them.

    A declared ``Content-Length`` over the limit is refused at once; otherwise the body is
    read (at most ``max_bytes`` + 1) and replayed, so a lying or chunked client is stopped
    too and the application never holds a partial body.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, extra_headers: list[tuple[bytes, bytes]]):
        self.app = app
        self.max_bytes = max_bytes
        self.extra_headers = extra_headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in {"GET", "HEAD", "OPTIONS"}:
            await self.app(scope, receive, send)
            return
        declared = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await self._reject(send, 400, "Bad Request", "invalid Content-Length header")
                    return
        if declared is not None and declared > self.max_bytes:
            await self._too_large(send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, send: Send) -> None:
        await self._reject(
            send,
            413,
            "Content Too Large",
            f"request bodies are limited to {self.max_bytes} bytes",
        )

    async def _reject(self, send: Send, status: int, title: str, detail: str) -> None:
        body = _problem_bytes(status, title, detail)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                    *self.extra_headers,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _WithoutCreated(Collector):
    """The wrapped metrics without their ``_created`` samples.

    prometheus_client exposes, per label set, the Unix time (to the microsecond) at which
    the set was first used: for ``route="/elections/{election_id}/tokens", status="200"``
    that is the time of the first token issued since the process started. Counts and
    histograms say how many and how long, cumulatively; that sample alone would say when.
    """

    def __init__(self, *metrics: Counter | Histogram) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        for metric in self._metrics:
            for family in metric.collect():
                family.samples = [s for s in family.samples if not s.name.endswith("_created")]
                yield family


class ObservabilityMiddleware:
    """Adds the security headers, counts requests for ``/metrics`` and writes the access log.

    The access log holds the route template, method, status and duration only: never the
    query string, headers, cookies, body or the client address.

    **Quiet routes** (:data:`QUIET_ROUTES`: the token and cast routes; ballot-secrecy.md
    §2) write **no** access-log line, not even on a failure (status ≥ 500). A failure line
    without its duration would still be timed: the JSON formatter (:mod:`parvis.logs`)
    stamps every record to the millisecond, and a coarser stamp would not help, because the
    line's place among the other routes' timed lines dates it as well. Their requests are
    counted in ``/metrics`` instead, by method, route and status (failures included), and
    their durations go to the latency histogram like every route's:

    * the counter and the histogram are cumulative and only read when scraped, so they
      date a request no finer than the scrape interval — the same for both — and hold no
      per-request record; the histogram's buckets and sum are durations, not times of
      day. Dropping the quiet routes from it would lose the hot path's latency for no
      secrecy gain;
    * the one sample that would date a request, ``_created`` (the first use of a label
      set, to the microsecond), is left out of every metric of this middleware
      (:class:`_WithoutCreated`).

    An unhandled exception is still logged by the exception handler (``parvis.errors``:
    its type and route, no duration; :mod:`parvis.problems`), with the formatter's time:
    such a request's transaction was, as a rule, rolled back (no token recorded, no ballot
    stored), so the line dates nothing that a ballot could be linked to, and without it the
    cause of a failing hot path could not be found.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        headers: list[tuple[bytes, bytes]],
        registry: CollectorRegistry,
        quiet_routes: frozenset[tuple[str, str]] = QUIET_ROUTES,
    ) -> None:
        self.app = app
        self.headers = headers
        self.quiet_routes = quiet_routes
        # Registered through _WithoutCreated, not directly (registry=None).
        self.requests = Counter(
            "parvis_http_requests",
            "HTTP requests",
            ["method", "route", "status"],
            registry=None,
        )
        self.latency = Histogram(
            "parvis_http_request_duration_seconds",
            "HTTP request duration",
            ["route"],
            registry=None,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        registry.register(_WithoutCreated(self.requests, self.latency))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        headers = self.headers

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                present = {name for name, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (k, v) for k, v in headers if k not in present
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            elapsed = time.perf_counter() - start
            route_obj = scope.get("route")
            route = getattr(route_obj, "path", None) or "unmatched"
            method = scope.get("method", "")
            self.requests.labels(method, route, str(status)).inc()
            self.latency.labels(route).observe(elapsed)
            if (method, route) not in self.quiet_routes and access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    "request",
                    extra={
                        "method": method,
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                    },
                )


#: Cookies that carry a session (parvis.kernel.sessions.cookie_name, both forms) or a
#: sign-in in progress (parvis.kernel.signin_state.cookie_name, both forms).
_PRIVATE_COOKIES: Final = (
    b"parvis_session=",
    b"__Host-parvis_session=",
    b"parvis_sign_in=",
    b"__Host-parvis_sign_in=",
)


class NoStoreMiddleware:
    """``Cache-Control: no-store`` (RFC 9111 §5.2.2.5) on every response that may hold
    personal data, so that neither a shared cache nor the browser's history and back button
    on a shared computer keeps a citizen's account, consents, exports or a staff console.

    A response may hold personal data when its request names a session or an access token
    (a session cookie, an ``Authorization`` header) or when it starts one (``Set-Cookie``):
    deciding per request rather than per route leaves no page forgotten — every page a
    signed-in citizen or staff member sees, every JSON API called with a token. A response
    that chose its own ``Cache-Control`` keeps it; static assets are left cacheable.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope.get("path", "")).startswith("/static/"):
            await self.app(scope, receive, send)
            return
        private = False
        for name, value in scope["headers"]:
            if name == b"authorization" or (
                name == b"cookie" and any(c in value for c in _PRIVATE_COOKIES)
            ):
                private = True
                break

        async def send_no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                if b"cache-control" not in names and (private or b"set-cookie" in names):
                    headers.append((b"cache-control", b"no-store"))
                    message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_no_store)
