"""Benchmark of the consent registry, with baselines measured in the same run.

1. **Consent check over HTTP** — ``GET /api/consent/v1/subjects/{s}/consents/{p}`` against a
   real ``parvis serve`` (one worker, SQLite in a temporary directory). The platform is an
   OAuth client with the scope ``api:consent`` (registered like ``parvis client create``,
   linked to its controller like ``parvis consent add-client``; ADR 0007) and calls with one
   access token of the client-credentials grant, fetched from the server's ``POST /token``
   (RFC 6749 §4.4, ``client_secret_basic``) before the measurement and valid 10 minutes:
   the path measured is the token check (token, client and link), subject and purpose
   look-ups, the fold's projection and the notice-currency check, then the access record.
   Reported: requests/s and p50/p99 latency, and the ratio to the same server's ``/healthz``
   measured in interleaved repetitions at the same concurrency (target ≥ 0.5). Two
   workloads: 200 people checked over and over (a platform checking on every page view:
   one access record per person and minute, the rest are reads), and *first reads* —
   every request a new person, so every request writes its access record to the audit log
   and commits. The server process's CPU time per request is reported too
   (from ``/proc``): a ratio of costs that other load on the machine does not distort.
2. **Art. 15 export** of a subject with 1,000 consent events (and their 1,000 sealed
   receipts, decrypted and included): wall time of ``build_export``.
3. **Register export** (CNIL layout) of a controller with 200 purposes, CSV and JSON.

Medians over the repetitions are reported. Not a test: it never fails on a figure.

Usage: ``python bench/consent.py [--quick] [--reps N] [--requests N] [--concurrency C]``.
``--quick`` runs in well under a minute. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from consent import requests as dsr
from consent import service_from
from consent.clients import CONSENT_SCOPE, link_client
from consent.ledger import Actor, ActorKind, Method, Status
from consent.loader import load_document
from consent.pages import export_register
from identity.oidc.admin import register_client
from identity.oidc.clients import Registration
from identity.plugin import setup as identity_setup
from parvis import migrate
from parvis.kernel.context import AppContext, build_context
from parvis.kernel.settings import load_settings
from tests.consent.factories import NEWSLETTER, catalogue, controller
from tests.support.server import ServerProcess

SUBJECTS = 200
#: The platform's OAuth client id at the provider, also its API client id at consent.
PLATFORM = "bench-platform"
EXPORT_EVENTS = 1000
REGISTER_PURPOSES = 200


def prepare(ctx: AppContext, *, first: int) -> str:
    """The register, a platform (an OAuth client with the scope ``api:consent`` linked to
    the controller; returns its client secret), and consents for SUBJECTS + ``first``
    people (the ``first`` ones are each checked exactly once)."""
    doc = catalogue()
    doc["controllers"][0]["notices"] = [{"language": "fr", "text": "Notice."}]
    big = controller(id="grande-ville", name="Grande Ville")
    purposes = []
    for n in range(REGISTER_PURPOSES):
        p = copy.deepcopy(NEWSLETTER)
        p["id"] = f"activite-{n:03d}"
        p["label"] = {"fr": f"Activité {n}", "en": f"Activity {n}"}
        purposes.append(p)
    big["purposes"] = purposes
    doc["controllers"].append(big)
    service = service_from(ctx)
    with ctx.db.write_session() as session:
        load_document(ctx, session, doc, actor="system:bench")
        # What `parvis client create bench-platform --name … --scope api:consent` does: no
        # redirect URI (the platform signs nobody in here), client_secret_basic.
        registration = Registration(
            client_id=PLATFORM, name="Bench platform", redirect_uris=(), scopes=(CONSENT_SCOPE,)
        )
        secret = register_client(ctx, session, registration, actor="system:bench")
        assert secret is not None
        # `parvis consent add-client --controller ville-exemple --id bench-platform`.
        link_client(
            ctx,
            session,
            client_id=PLATFORM,
            controller_id="ville-exemple",
            name="Bench platform",
            actor="system:bench",
        )
    with ctx.db.write_session() as session:
        notice = service.current_notice(session, "ville-exemple", "fr")
        assert notice is not None
        for n in range(SUBJECTS):
            give(service, session, f"subject-{n:04d}", notice.id)
        for n in range(first):
            give(service, session, f"first-{n:05d}", notice.id)
    return secret


def access_token(base: str, secret: str) -> str:
    """One access token of the client-credentials grant (RFC 6749 §4.4.2), the client
    authenticated with HTTP Basic (``client_secret_basic``, RFC 6749 §2.3.1)."""
    response = httpx.post(
        base + "/token",
        data={"grant_type": "client_credentials", "scope": CONSENT_SCOPE},
        auth=(PLATFORM, secret),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["token_type"] == "Bearer", body
    assert body["scope"] == CONSENT_SCOPE, body
    token: str = body["access_token"]
    return token


def give(service: Any, session: Any, subject: str, notice_id: str | None) -> None:
    service.record(
        session,
        subject=subject,
        purpose_id="newsletter",
        status=Status.GIVEN if notice_id else Status.WITHDRAWN,
        actor=Actor(ActorKind.SUBJECT),
        method=Method.WEB_FORM,
        interface="parvis:bench",
        notice_id=notice_id,
    )


def load(
    base: str,
    paths: list[str],
    *,
    count: int,
    concurrency: int,
    headers: dict[str, str],
    once: bool = False,
) -> dict[str, float]:
    """``count`` GETs spread over ``concurrency`` keep-alive clients: rate and latencies
    (``once``: each path is requested exactly once)."""
    latencies: list[float] = []
    lock = threading.Lock()

    def worker(index: int) -> None:
        mine: list[float] = []
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            for i in range(count // concurrency):
                if once:
                    path = paths[index * (count // concurrency) + i]
                else:
                    path = paths[(index * 7919 + i) % len(paths)]
                start = time.perf_counter()
                response = client.get(path)
                mine.append(time.perf_counter() - start)
                assert response.status_code == 200, response.text
        with lock:
            latencies.extend(mine)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(worker, range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "rate": len(latencies) / elapsed,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), to compare server-side costs
    independently of what else the machine runs."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(pid: int, run: Any) -> dict[str, float]:
    before = cpu_seconds(pid)
    result: dict[str, float] = run()
    result["cpu_ms"] = 1000 * (cpu_seconds(pid) - before)
    return result


def median_of(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="a short run (well under a minute)")
    parser.add_argument("--reps", type=int, default=None, help="interleaved repetitions")
    parser.add_argument("--requests", type=int, default=None, help="requests per measurement")
    parser.add_argument("--concurrency", type=int, default=4, help="parallel HTTP clients")
    args = parser.parse_args()
    reps = args.reps or (3 if args.quick else 7)
    count = args.requests or (800 if args.quick else 4000)
    first = 400 if args.quick else 2000
    concurrency = args.concurrency

    with tempfile.TemporaryDirectory(prefix="parvis-bench-consent-") as tmp:
        url = f"sqlite:///{tmp}/parvis.sqlite3"
        env = {
            "PARVIS_MODE": "demo",
            "PARVIS_DATA_DIR": tmp,
            "PARVIS_DATABASE_URL": url,
            "PARVIS_LOG_LEVEL": "WARNING",
            "PARVIS_CONSENT_WEBHOOK_WORKER": "false",
        }
        migrate.upgrade(url)
        settings = load_settings(mode="demo", database_url=url, data_dir=tmp)
        ctx = build_context(settings)
        identity_setup(ctx)
        secret = prepare(ctx, first=first)
        ctx.db.dispose()

        checks = [
            f"/api/consent/v1/subjects/subject-{n:04d}/consents/newsletter" for n in range(SUBJECTS)
        ]
        health_runs: list[dict[str, float]] = []
        check_runs: list[dict[str, float]] = []
        with ServerProcess(env):
            pass  # start-up cost paid once outside the measurement (imports cached)
        with ServerProcess(env) as server:
            auth = {"authorization": f"Bearer {access_token(server.url, secret)}"}
            probe = httpx.get(server.url + checks[0], headers=auth, timeout=30)
            # The token path, not a deprecated key's (which answers with Deprecation).
            assert probe.status_code == 200, probe.text
            assert "Deprecation" not in probe.headers
            load(server.url, checks, count=200, concurrency=concurrency, headers=auth)  # warm-up
            load(server.url, ["/healthz"], count=200, concurrency=concurrency, headers={})
            assert server.proc is not None
            pid = server.proc.pid
            for rep in range(reps):
                health = measured(
                    pid,
                    lambda: load(
                        server.url, ["/healthz"], count=count, concurrency=concurrency, headers={}
                    ),
                )
                check = measured(
                    pid,
                    lambda: load(
                        server.url, checks, count=count, concurrency=concurrency, headers=auth
                    ),
                )
                health_runs.append(health)
                check_runs.append(check)
                print(
                    f"rep {rep + 1}/{reps}: /healthz {health['rate']:.0f}/s "
                    f"(p99 {health['p99_ms']:.1f} ms), consent check {check['rate']:.0f}/s "
                    f"(p99 {check['p99_ms']:.1f} ms), ratio {check['rate'] / health['rate']:.3f}; "
                    f"server CPU per request {health['cpu_ms'] / count:.2f} vs "
                    f"{check['cpu_ms'] / count:.2f} ms"
                )
            # Every check of a new subject writes its access record (an audit entry and a
            # commit): the path a platform's first look at a person takes.
            firsts = [
                f"/api/consent/v1/subjects/first-{n:05d}/consents/newsletter" for n in range(first)
            ]
            health_first = measured(
                pid,
                lambda: load(
                    server.url, ["/healthz"], count=first, concurrency=concurrency, headers={}
                ),
            )
            check_first = measured(
                pid,
                lambda: load(
                    server.url,
                    firsts,
                    count=first,
                    concurrency=concurrency,
                    headers=auth,
                    once=True,
                ),
            )
            print(
                f"first reads: /healthz {health_first['rate']:.0f}/s, consent check "
                f"{check_first['rate']:.0f}/s (p99 {check_first['p99_ms']:.1f} ms), ratio "
                f"{check_first['rate'] / health_first['rate']:.3f}"
            )
        ratios = [c["rate"] / h["rate"] for c, h in zip(check_runs, health_runs, strict=True)]

        # Art. 15 export of a subject with 1,000 events (in-process, same database).
        ctx = build_context(settings)
        service = service_from(ctx)
        with ctx.db.write_session() as session:
            notice = service.current_notice(session, "ville-exemple", "fr")
            assert notice is not None
            for n in range(EXPORT_EVENTS):
                give(service, session, "heavy-subject", notice.id if n % 2 == 0 else None)
        export_times = []
        for _ in range(reps):
            with ctx.db.read_session() as session:
                start = time.perf_counter()
                export = dsr.build_export(ctx, session, "heavy-subject", scope="access")
                export_times.append(time.perf_counter() - start)
        assert len(export["consent"]["events"]) == EXPORT_EVENTS
        size = len(json.dumps(export))

        register_csv, register_json = [], []
        for _ in range(reps):
            start = time.perf_counter()
            text, _ = export_register(ctx, "grande-ville", "csv")
            register_csv.append(time.perf_counter() - start)
            start = time.perf_counter()
            export_register(ctx, "grande-ville", "json")
            register_json.append(time.perf_counter() - start)
        rows = text.count("\n")
        ctx.db.dispose()

    result = {
        "benchmark": "consent",
        "quick": args.quick,
        "reps": reps,
        "requests": count,
        "concurrency": concurrency,
        "check_per_s": round(median_of(check_runs, "rate"), 1),
        "check_p50_ms": round(median_of(check_runs, "p50_ms"), 2),
        "check_p99_ms": round(median_of(check_runs, "p99_ms"), 2),
        "healthz_per_s": round(median_of(health_runs, "rate"), 1),
        "healthz_p99_ms": round(median_of(health_runs, "p99_ms"), 2),
        "check_to_healthz_ratio": round(statistics.median(ratios), 3),
        "server_cpu_ms_per_healthz": round(median_of(health_runs, "cpu_ms") / count, 3),
        "server_cpu_ms_per_check": round(median_of(check_runs, "cpu_ms") / count, 3),
        "check_to_healthz_cpu_ratio": round(
            median_of(health_runs, "cpu_ms") / median_of(check_runs, "cpu_ms"), 3
        ),
        "first_read_check_per_s": round(check_first["rate"], 1),
        "first_read_check_p99_ms": round(check_first["p99_ms"], 2),
        "first_read_to_healthz_ratio": round(check_first["rate"] / health_first["rate"], 3),
        "first_read_to_healthz_cpu_ratio": round(health_first["cpu_ms"] / check_first["cpu_ms"], 3),
        "target_ratio": 0.5,
        "export_1000_events_ms": round(1000 * statistics.median(export_times), 1),
        "export_bytes": size,
        "register_200_purposes_csv_ms": round(1000 * statistics.median(register_csv), 1),
        "register_200_purposes_json_ms": round(1000 * statistics.median(register_json), 1),
        "register_csv_rows": rows,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
    }
    print(
        f"consent check {result['check_per_s']}/s vs /healthz {result['healthz_per_s']}/s: "
        f"ratio {result['check_to_healthz_ratio']} (target 0.5); export of 1,000 events "
        f"{result['export_1000_events_ms']} ms; register of 200 purposes "
        f"{result['register_200_purposes_csv_ms']} ms (CSV), "
        f"{result['register_200_purposes_json_ms']} ms (JSON)"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
