"""Benchmark of complete citizen sign-ins through the FranceConnect sandbox, against a real
server, as a ratio to the same server's ``/healthz`` rate measured in the same run.

One sign-in is what a browser and Parvis do together (franceconnect.md, "The sandbox Parvis ships"):
``/auth/franceconnect/login`` → sandbox ``/authorize`` (login page) → sandbox login
(one click) → ``/auth/franceconnect/callback`` (Parvis calls the sandbox's ``/token``,
``/jwks`` and ``/userinfo`` over real HTTP, verifies both JWTs, finds or creates the
pseudonymous account, rotates the session) → ``/mon-compte`` (an eligibility decision
against the census, stored and audited). Each sign-in uses a fresh cookie jar (a new
browser: no FranceConnect session to reuse).

The server is ``parvis serve`` (one worker, SQLite in a temporary directory, demo data
seeded) started as a real process. Reported: sign-ins/s and the wall time per sign-in at
concurrency 1 and at ``--concurrency`` clients, ``/healthz`` requests/s at the same
concurrency, and their ratio. Not a test: it never fails on a figure.

Usage: ``python bench/login.py [--quick] [--signins N] [--concurrency C]``. The last line
printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from parvis import migrate
from parvis.cli import cli_context
from parvis.demo import seed_demo
from parvis.kernel.settings import load_settings
from tests.support.server import ServerProcess

LOGINS = ("test", "nom_usage", "nom_compose", "plusieurs_prenoms", "corse", "ne_etranger", "jeune")
ACTION = re.compile(r'action="([^"]+/login)"')


def sign_in(base: str, login: str) -> None:
    """One complete sign-in in a fresh browser; raises if any step misbehaves."""
    with httpx.Client(base_url=base, follow_redirects=False, timeout=30) as browser:
        start = browser.get("/auth/franceconnect/login")
        assert start.status_code == 303, start.text
        page = browser.get(start.headers["location"])
        assert page.status_code == 200, page.text
        action = ACTION.search(page.text)
        assert action is not None
        back = browser.post(action.group(1), data={"login": login})
        assert back.status_code == 303, back.text
        done = browser.get(back.headers["location"])
        assert done.status_code == 303, done.text
        assert done.headers["location"] == "/mon-compte"
        account = browser.get("/mon-compte")
        assert account.status_code == 200
        assert 'class="ok eligible"' in account.text, "every benchmark citizen is on the census"


def run_signins(base: str, count: int, concurrency: int) -> float:
    """Seconds for ``count`` sign-ins with ``concurrency`` clients."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(lambda i: sign_in(base, LOGINS[i % len(LOGINS)]), range(count)))
    return time.perf_counter() - started


def run_healthz(base: str, count: int, concurrency: int) -> float:
    def hit(_: int) -> None:
        with httpx.Client(base_url=base, timeout=30) as client:
            for _ in range(count // concurrency):
                assert client.get("/healthz").status_code == 200

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(hit, range(concurrency)))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="a short run (well under a minute)")
    parser.add_argument("--signins", type=int, default=None, help="sign-ins per measurement")
    parser.add_argument("--concurrency", type=int, default=4, help="parallel browsers")
    args = parser.parse_args()
    signins = args.signins or (30 if args.quick else 300)
    health = 300 if args.quick else 3000

    with tempfile.TemporaryDirectory(prefix="parvis-bench-login-") as tmp:
        env = {
            "PARVIS_MODE": "demo",
            "PARVIS_DATA_DIR": tmp,
            "PARVIS_DATABASE_URL": f"sqlite:///{tmp}/parvis.sqlite3",
            "PARVIS_LOG_LEVEL": "WARNING",
        }
        server = ServerProcess(env)
        server.env["PARVIS_PUBLIC_URL"] = server.url  # redirect URIs and the sandbox issuer
        saved = {k: os.environ.get(k) for k in (*env, "PARVIS_PUBLIC_URL")}
        os.environ.update({**env, "PARVIS_PUBLIC_URL": server.url})
        try:
            settings = load_settings()
            migrate.upgrade(settings.database_url)
            for _line in seed_demo(cli_context(settings)):
                pass
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        with server:
            sign_in(server.url, "test")  # warm-up: discovery, JWKS, first account
            results: dict[str, Any] = {}
            for concurrency in sorted({1, args.concurrency}):
                health_s = run_healthz(server.url, health, concurrency)
                login_s = run_signins(server.url, signins, concurrency)
                health_rate = health / health_s
                login_rate = signins / login_s
                results[f"c{concurrency}"] = {
                    "signins_per_s": round(login_rate, 2),
                    "ms_per_signin": round(1000 * login_s / signins * concurrency, 1),
                    "healthz_per_s": round(health_rate, 1),
                    "ratio_to_healthz": round(login_rate / health_rate, 4),
                }
                print(
                    f"concurrency {concurrency}: {login_rate:.1f} sign-ins/s "
                    f"({1000 * login_s / signins * concurrency:.0f} ms each), "
                    f"/healthz {health_rate:.0f}/s, ratio {login_rate / health_rate:.4f}"
                )
    print(
        json.dumps(
            {
                "benchmark": "login",
                "signins": signins,
                "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
                **results,
            }
        )
    )


if __name__ == "__main__":
    main()
