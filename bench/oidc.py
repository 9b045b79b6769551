"""Benchmark of the OpenID provider over HTTP against a real server, as ratios to the same
server's ``/healthz`` measured in the same run (docs/oidc-integration.md; architecture.md, "Scale
figures to design for").

It starts ``parvis serve`` as a real process in demo mode (2 workers on a durable
PostgreSQL, ``fsync`` on, as ``bench/cast.py`` does; 1 worker with ``--db sqlite``, which
``parvis serve`` requires), registers a confidential platform (``client_secret_basic``,
RS256 ID tokens, scopes ``openid eligibility age``) and creates citizens with a signed-in
Parvis session each and a remembered grant for the platform (no consent screen: the
returning citizen's case). Then, ``--runs`` times (medians reported):

1. ``/healthz`` at ``--concurrency`` over keep-alive connections: the baseline;
2. **round trips** — the full authorization-code flow of a signed-in citizen:
   ``GET /authorize`` (session lookup, client and redirect URI checks, PKCE S256, a code
   and a platform session stored) → 302 with ``code``, ``state`` and ``iss`` → ``POST
   /token`` (client authentication, code checked and marked used, PKCE verified, access
   token stored, ID token signed) → 200. Reported as round trips/s (two requests each);
3. **token exchanges** — codes obtained just before (not counted) are exchanged: ``POST
   /token`` alone, reported as exchanges/s.

Each rate is divided by the ``/healthz`` rate of the same run. Not a test: it never fails
on a figure (it does fail when a response is wrong).

Usage: ``python bench/oidc.py [--quick] [--runs R] [--flows N] [--concurrency C]
[--db postgresql|sqlite]``. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import platform
import secrets
import statistics
import sys
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from bench.cast import Phase, bench_database, context_for, percentile, timed_requests
from parvis import migrate
from parvis.kernel.context import AppContext
from parvis.kernel.principal import Citizen
from tests.support.server import ServerProcess

CLIENT_ID = "bench-platform"
REDIRECT = "https://platform.example.org/users/auth/parvis/callback"
SCOPE = "openid eligibility age"

Job = Callable[[httpx.Client], httpx.Response]


def register_platform(ctx: AppContext) -> str:
    from identity.oidc.clients import Registration
    from identity.oidc.service import oidc_from

    registration = Registration(
        client_id=CLIENT_ID,
        name="Bench platform",
        redirect_uris=(REDIRECT,),
        scopes=("openid", "eligibility", "age"),
    )
    with ctx.db.write_session() as db:
        secret = oidc_from(ctx).clients.create(db, registration)
    assert secret is not None
    return secret


def citizens(ctx: AppContext, count: int) -> list[str]:
    """``count`` citizens signed in to Parvis who already agreed to the platform: the
    ``Cookie`` header of each."""
    import identity
    from identity.oidc.service import oidc_from
    from parvis.kernel.sessions import cookie_name

    service = identity.service_from(ctx)
    oidc = oidc_from(ctx)
    name = cookie_name(secure=ctx.settings.secure_cookies)
    out = []
    with ctx.db.write_session() as db:
        client = oidc.clients.get(db, CLIENT_ID)
        assert client is not None
        for _ in range(count):
            citizen = service.create_citizen(
                db, pivot_hash_value=secrets.token_hex(32), acr="eidas1", birth_year=1980
            )
            oidc.decide(
                db,
                citizen=citizen.id,
                client=client,
                scopes=set(SCOPE.split()),
                allowed=True,
                lang="fr",
            )
            session = ctx.sessions.create(db, Citizen(citizen.id))
            assert session.cookie is not None
            out.append(f"{name}={session.cookie}")
    return out


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class Flows:
    """The platform's and the browser's requests, checked as they come."""

    def __init__(self, secret: str, cookies: list[str], issuer: str) -> None:
        self.auth = (CLIENT_ID, secret)
        self.cookies = cookies
        self.issuer = issuer

    def authorize(self, client: httpx.Client, i: int) -> tuple[str, str]:
        """``GET /authorize`` as citizen ``i``: the code and its PKCE verifier."""
        verifier, challenge = pkce()
        state = secrets.token_urlsafe(16)
        response = client.get(
            "/authorize",
            params={
                "response_type": "code",
                "client_id": CLIENT_ID,
                "redirect_uri": REDIRECT,
                "scope": SCOPE,
                "state": state,
                "nonce": secrets.token_urlsafe(16),
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            },
            headers={"Cookie": self.cookies[i % len(self.cookies)]},
        )
        assert response.status_code == 302, (response.status_code, response.text[:300])
        query = {k: v[0] for k, v in parse_qs(urlsplit(response.headers["location"]).query).items()}
        assert query["state"] == state
        assert query["iss"] == self.issuer
        return query["code"], verifier

    def exchange(self, client: httpx.Client, code: str, verifier: str) -> httpx.Response:
        response = client.post(
            "/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT,
                "code_verifier": verifier,
            },
            auth=self.auth,
        )
        assert response.status_code == 200, (response.status_code, response.text[:300])
        body = response.json()
        assert body["token_type"].lower() == "bearer"
        assert body["id_token"].count(".") == 2
        return response

    def round_trip(self, i: int) -> Job:
        def job(client: httpx.Client) -> httpx.Response:
            code, verifier = self.authorize(client, i)
            return self.exchange(client, code, verifier)

        return job

    def code_into(self, codes: list[tuple[str, str]], i: int) -> Job:
        """A job that obtains a code (and its verifier) for a later exchange."""

        def job(client: httpx.Client) -> httpx.Response:
            codes.append(self.authorize(client, i))
            return httpx.Response(200)

        return job

    def token_only(self, code: str, verifier: str) -> Job:
        return lambda client: self.exchange(client, code, verifier)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="a short run (about a minute)")
    parser.add_argument("--runs", type=int, default=None, help="measurements (at least 3)")
    parser.add_argument("--flows", type=int, default=None, help="round trips per run")
    parser.add_argument("--concurrency", type=int, default=4, help="parallel clients")
    parser.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    args = parser.parse_args()
    runs = max(3, args.runs or (3 if args.quick else 5))
    flows = args.flows or (60 if args.quick else 400)
    health = 300 if args.quick else 2000
    warmup = 20

    with ExitStack() as stack:
        tmp, url, workers, _ = bench_database(args.db, stack, "oidc")
        env = {
            "PARVIS_MODE": "demo",
            "PARVIS_DATA_DIR": tmp,
            "PARVIS_DATABASE_URL": url,
            "PARVIS_LOG_LEVEL": "WARNING",
        }
        server = ServerProcess(env, workers=workers, startup_timeout=600)
        env["PARVIS_PUBLIC_URL"] = server.env["PARVIS_PUBLIC_URL"] = server.url
        migrate.upgrade(url)
        ctx = context_for(env)
        secret = register_platform(ctx)
        cookies = citizens(ctx, 50)
        ctx.db.dispose()
        flows_of = Flows(secret, cookies, server.url)

        server.__enter__()
        stack.callback(server.stop)  # stopped before the temporary directory goes
        with ExitStack() as connections:
            assert server.proc is not None
            pid = server.proc.pid
            clients = [
                connections.enter_context(httpx.Client(base_url=server.url, timeout=60))
                for _ in range(args.concurrency)
            ]

            def healthz(count: int) -> list[Job]:
                return [lambda c: c.get("/healthz")] * count

            timed_requests(clients, healthz(health))  # connects every client
            timed_requests(clients, [flows_of.round_trip(i) for i in range(warmup)])  # keys, caches
            results: list[dict[str, Any]] = []
            trip_latencies: list[float] = []
            token_latencies: list[float] = []
            for _run in range(runs):
                with Phase(pid) as base:
                    _lat, statuses = timed_requests(clients, healthz(health))
                assert set(statuses) == {200}, statuses
                with Phase(pid) as trips:
                    lat, _ = timed_requests(clients, [flows_of.round_trip(i) for i in range(flows)])
                trip_latencies += lat
                # Codes for the exchanges, made just before (they live 60 s), not counted.
                codes: list[tuple[str, str]] = []
                timed_requests(clients, [flows_of.code_into(codes, i) for i in range(flows)])
                with Phase(pid) as tokens:
                    lat, _ = timed_requests(clients, [flows_of.token_only(*c) for c in codes])
                token_latencies += lat
                health_rate = health / base.wall
                results.append(
                    {
                        "healthz_per_s": round(health_rate, 1),
                        "round_trips_per_s": round(flows / trips.wall, 1),
                        "round_trip_ratio": round(flows / trips.wall / health_rate, 4),
                        "token_exchanges_per_s": round(flows / tokens.wall, 1),
                        "token_ratio": round(flows / tokens.wall / health_rate, 4),
                        "healthz": base.per_request_ms(health),
                        "round_trip": trips.per_request_ms(flows),
                        "token": tokens.per_request_ms(flows),
                    }
                )
                print(
                    f"run {_run + 1}: /healthz {health_rate:.0f}/s; round trips "
                    f"{flows / trips.wall:.1f}/s (ratio {flows / trips.wall / health_rate:.4f}); "
                    f"token exchanges {flows / tokens.wall:.1f}/s "
                    f"(ratio {flows / tokens.wall / health_rate:.4f})"
                )

    def median(key: str) -> float:
        return round(float(statistics.median(float(r[key]) for r in results)), 4)

    summary = {
        "benchmark": "oidc",
        "db": args.db,
        "workers": workers,
        "concurrency": args.concurrency,
        "runs": runs,
        "flows_per_run": flows,
        "healthz_per_s": median("healthz_per_s"),
        "round_trips_per_s": median("round_trips_per_s"),
        "round_trip_ratio_to_healthz": median("round_trip_ratio"),
        "token_exchanges_per_s": median("token_exchanges_per_s"),
        "token_ratio_to_healthz": median("token_ratio"),
        "round_trip_ms": {
            "p50": round(1000 * percentile(trip_latencies, 0.5), 1),
            "p99": round(1000 * percentile(trip_latencies, 0.99), 1),
        },
        "token_ms": {
            "p50": round(1000 * percentile(token_latencies, 0.5), 1),
            "p99": round(1000 * percentile(token_latencies, 0.99), 1),
        },
        "per_run": results,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
