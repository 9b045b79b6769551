"""Benchmark of end-to-end casting (and token issuance) over HTTP against a real server, as
ratios to baselines measured in the same run (issue 7, "Benchmark").

For each database (SQLite, then a durable PostgreSQL: ``fsync`` on), it starts ``parvis
serve`` as a real process in demo mode (the audit sequencer runs, as in production), opens
an election, and then:

1. **issuance** — ``--ballots`` citizens (eligible, signed in, created beforehand) each ask
   for a token: ``POST /elections/{id}/tokens`` with a blinded message prepared beforehand
   (session lookup, eligibility decision, voter-list record, RFC 9474 ``BlindSign`` with
   its output check, commit). Reported as requests/s and as a ratio to the bare
   ``blind_sign`` rate of the same key measured in this process, single-threaded;
2. **casting** — the voters finalise their tokens and sign their ballots beforehand; then
   every ballot is cast at once by ``--concurrency`` clients (``POST
   /elections/{id}/ballots`` without cookies: verification, ballot box, board append,
   group commit, receipt). Reported: ballots/s, p50 and p99 latency, and how many receipts
   carried their proof rather than the signed promise (in demo and production modes the
   audit sequencer integrates in batches, so most receipts are promises);
3. **baseline** — the same server's ``/healthz`` at the same concurrency, before and after
   casting (mean of both). Ratio = ballots/s ÷ /healthz requests/s (target ≥ 0.4).

Workers: 2 on PostgreSQL; 1 on SQLite (``parvis serve`` refuses several workers on SQLite,
which has one writer). Clients run on the same 2-core machine as the server, for the
baseline as for the casts. Not a test: it never fails on a figure.

Usage: ``python bench/cast.py [--quick] [--ballots N] [--concurrency C] [--db sqlite|postgresql]``.
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from ballot import rsabssa
from ballot.client import PendingIssuance, begin_issuance
from ballot.manifest import Manifest
from ballot.service import service_from
from ballot.token import b64u_decode, b64u_encode
from parvis import migrate
from parvis.cli import cli_context
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from parvis.kernel.principal import Citizen
from parvis.kernel.settings import load_settings
from tests.ballot.elections import QUESTIONS, definition, setup_rule
from tests.support.postgres import TempPostgres
from tests.support.server import ServerProcess

CHOICES = ({"parc": "gare", "budget": ["jardin", "bancs"]}, {"parc": "tilleuls", "budget": []})


def citizens(ctx: AppContext, count: int) -> list[tuple[str, str]]:
    """``count`` eligible citizens with a signed-in session each: (cookie name, value)."""
    import secrets

    import identity
    from parvis.kernel.sessions import cookie_name

    service = identity.service_from(ctx)
    name = cookie_name(secure=ctx.settings.secure_cookies)
    out = []
    with ctx.db.write_session() as db:
        for _ in range(count):
            citizen = service.create_citizen(
                db, pivot_hash_value=secrets.token_hex(32), acr="eidas1", birth_year=1980
            )
            service.self_declare(
                db, citizen_id=citizen.id, territory_id="ballot-town", commune_code="35238"
            )
            session = ctx.sessions.create(db, Citizen(citizen.id))
            assert session.cookie is not None
            out.append((name, session.cookie))
    return out


def timed_requests(
    base: str, jobs: list[Callable[[httpx.Client], httpx.Response]], concurrency: int
) -> tuple[float, list[float], list[int]]:
    """Run every job over ``concurrency`` keep-alive clients; wall time, latencies, statuses."""
    latencies: list[float] = []
    statuses: list[int] = []
    lock = threading.Lock()
    cursor = iter(jobs)

    def worker(_: int) -> None:
        with httpx.Client(base_url=base, timeout=60) as client:
            while True:
                with lock:
                    job = next(cursor, None)
                if job is None:
                    return
                started = time.perf_counter()
                response = job(client)
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    statuses.append(response.status_code)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(worker, range(concurrency)))
    return time.perf_counter() - started, latencies, statuses


def healthz(base: str, count: int, concurrency: int) -> float:
    wall, _lat, statuses = timed_requests(base, [lambda c: c.get("/healthz")] * count, concurrency)
    assert set(statuses) == {200}, statuses
    return count / wall


def blind_sign_rate(key: Any, blinded: list[bytes], seconds: float) -> float:
    backend = rsabssa.get_backend()  # type: ignore[attr-defined]
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        rsabssa.blind_sign(key, blinded[done % len(blinded)], backend=backend)
        done += 1
    return done / (time.perf_counter() - started)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_database(kind: str, args: argparse.Namespace, stack: ExitStack) -> dict[str, Any]:
    tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix=f"parvis-bench-cast-{kind}-"))
    if kind == "sqlite":
        url, workers = f"sqlite:///{tmp}/parvis.sqlite3", 1
    else:
        server_pg = stack.enter_context(TempPostgres(durable=True))
        server_pg.psql("CREATE DATABASE bench")
        url, workers = server_pg.url_for("bench"), 2
    env = {
        "PARVIS_MODE": "demo",
        "PARVIS_DATA_DIR": tmp,
        "PARVIS_DATABASE_URL": url,
        "PARVIS_LOG_LEVEL": "WARNING",
        "PARVIS_BALLOT_SIGNATURES_PER_SECOND": "100000",
    }
    migrate.upgrade(url)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        ctx = cli_context(load_settings())
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    setup_rule(ctx)
    service = service_from(ctx)
    spec = definition(FixedClock(ctx.clock.now()), questions=QUESTIONS)
    with ctx.db.write_session() as db:
        election = service.create(db, data=spec, actor="system:bench").id
    service.schedule(election_id=election, actor="system:bench")
    service.open(election_id=election, actor="system:bench")
    with ctx.db.read_session() as db:
        manifest = Manifest.from_json(service.manifest(db, election))
        key = service._private_key(db, election)
    cookies = citizens(ctx, args.ballots)
    pending: list[PendingIssuance] = [
        begin_issuance(
            manifest.public_key(),
            election_id=manifest.election_id,
            committed_key_id=manifest.issuer_key_id,
        )
        for _ in cookies
    ]
    bare_sign = blind_sign_rate(key, [p.blinded_msg for p in pending[:50]], args.seconds)

    result: dict[str, Any] = {"workers": workers}
    with ServerProcess(env, workers=workers) as server:
        base = server.url
        healthz(base, 200, args.concurrency)  # warm-up

        blind_sigs: dict[int, bytes] = {}

        def issue(i: int) -> Callable[[httpx.Client], httpx.Response]:
            def job(client: httpx.Client) -> httpx.Response:
                name, value = cookies[i]
                response = client.post(
                    f"/elections/{election}/tokens",
                    json={"blinded_msg": b64u_encode(pending[i].blinded_msg)},
                    headers={"Cookie": f"{name}={value}"},
                )
                if response.status_code == 200:
                    blind_sigs[i] = b64u_decode(response.json()["blind_sig"], field="s")
                return response

            return job

        health_before = healthz(base, args.health, args.concurrency)
        wall, _lat, statuses = timed_requests(
            base, [issue(i) for i in range(len(cookies))], args.concurrency
        )
        assert statuses.count(200) == len(cookies), {s: statuses.count(s) for s in set(statuses)}
        issuance_rate = len(cookies) / wall

        bodies = []
        for i, p in enumerate(pending):
            right = p.finish(blind_sigs[i])
            _right, request = right.cast(CHOICES[i % 2])
            bodies.append(request.to_json_bytes())

        receipts: list[dict[str, Any]] = []

        def cast(body: bytes) -> Callable[[httpx.Client], httpx.Response]:
            def job(client: httpx.Client) -> httpx.Response:
                response = client.post(
                    f"/elections/{election}/ballots",
                    content=body,
                    headers={"Content-Type": "application/json"},
                )
                if response.status_code == 201:
                    receipts.append(response.json())
                return response

            return job

        wall, latencies, statuses = timed_requests(
            base, [cast(b) for b in bodies], args.concurrency
        )
        assert statuses.count(201) == len(bodies), {s: statuses.count(s) for s in set(statuses)}
        cast_rate = len(bodies) / wall
        with_proof = sum(1 for receipt in receipts if receipt["inclusion_proof"] is not None)
        health_after = healthz(base, args.health, args.concurrency)
        health_rate = statistics.mean([health_before, health_after])
        board = httpx.get(f"{base}/elections/{election}/board?limit=1", timeout=60).json()
        assert board["ballots"] == len(bodies)

    service.committer.stop()
    ctx.db.dispose()
    result.update(
        {
            "ballots": len(bodies),
            "ballots_per_s": round(cast_rate, 1),
            "p50_ms": round(1000 * statistics.median(latencies), 1),
            "p99_ms": round(1000 * percentile(latencies, 0.99), 1),
            "receipts_with_proof": with_proof,
            "receipts_with_promise": len(bodies) - with_proof,
            "healthz_per_s": round(health_rate, 1),
            "ratio_to_healthz": round(cast_rate / health_rate, 3),
            "issuance_per_s": round(issuance_rate, 1),
            "blind_sign_per_s": round(bare_sign, 1),
            "issuance_ratio_to_blind_sign": round(issuance_rate / bare_sign, 3),
        }
    )
    print(
        f"{kind} ({workers} worker{'s' if workers > 1 else ''}): "
        f"{cast_rate:.0f} ballots/s (p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms), "
        f"/healthz {health_rate:.0f}/s, ratio {result['ratio_to_healthz']}; "
        f"receipts: {with_proof} with proof, {len(bodies) - with_proof} promises; "
        f"issuance {issuance_rate:.0f}/s vs blind_sign {bare_sign:.0f}/s, "
        f"ratio {result['issuance_ratio_to_blind_sign']}",
        flush=True,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="a short run (about a minute)")
    parser.add_argument("--ballots", type=int, default=None, help="voters (tokens and ballots)")
    parser.add_argument("--concurrency", type=int, default=16, help="parallel HTTP clients")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), action="append")
    args = parser.parse_args()
    args.ballots = args.ballots or (300 if args.quick else 3000)
    args.health = 1000 if args.quick else 5000
    args.seconds = 1.0 if args.quick else 3.0
    kinds = args.db or ["sqlite", "postgresql"]
    results: dict[str, Any] = {}
    for kind in kinds:
        with ExitStack() as stack:
            results[kind] = run_database(kind, args, stack)
    print(
        json.dumps(
            {
                "benchmark": "cast",
                "ballots": args.ballots,
                "concurrency": args.concurrency,
                "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
                **results,
            }
        )
    )


if __name__ == "__main__":
    main()
