"""Rate limits shared by every worker and host, and the trusted-proxy client address
(ADR 0014; README, ``PARVIS_TRUSTED_PROXIES``), on SQLite and PostgreSQL.

Two app instances on one database stand for two workers (or two hosts): what one counts,
the other sees. The staff sign-in limit is keyed by client address, taken from
X-Forwarded-For only when the peer is a trusted proxy; the token limit is keyed by the
citizen's pseudonym, whatever the address.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

import identity.pages
from parvis.app import create_app
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from parvis.kernel.keys import derive_key, keyed_hash
from parvis.kernel.ratelimit import KEY_PURPOSE, RateLimitRow, SharedRateLimiter
from parvis.kernel.settings import ConfigError, Settings, load_settings
from tests.ballot.elections import open_election, setup_rule, voters

PROXY = ("10.0.0.7", 40000)
STRANGER = ("192.0.2.9", 40000)


@contextmanager
def browsers(app: FastAPI, *clients: tuple[str, int]) -> Iterator[list[TestClient]]:
    with ExitStack() as stack:
        yield [
            stack.enter_context(
                TestClient(app, base_url="http://127.0.0.1:8000", follow_redirects=False, client=c)
            )
            for c in clients
        ]


def sign_in(browser: TestClient, forwarded_for: str | None = None) -> int:
    """One failed staff sign-in attempt; its status (401 refused, 429 rate-limited)."""
    page = browser.get("/staff/login")
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    form = {"csrf_token": token, "email": "x@ville.example", "password": "nope", "code": "0"}
    return browser.post("/staff/login", data=form, headers=headers).status_code


def test_two_app_instances_share_the_sign_in_limit(
    settings: Settings, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(identity.pages, "STAFF_LOGIN_ATTEMPTS_PER_MINUTE", 2)
    first, second = create_app(settings, clock=clock), create_app(settings, clock=clock)
    with browsers(first, STRANGER) as [a], browsers(second, STRANGER) as [b]:
        assert [sign_in(a), sign_in(b), sign_in(a), sign_in(b)] == [401, 401, 429, 429]


def test_two_app_instances_share_the_token_limit_of_a_citizen(
    make_settings: Any, clock: FixedClock
) -> None:
    settings = make_settings(ballot_token_attempts=2)
    first, second = create_app(settings, clock=clock), create_app(settings, clock=clock)
    ctx: AppContext = first.state.ctx
    setup_rule(ctx)
    election = open_election(ctx, clock)
    with (
        TestClient(first, base_url="http://127.0.0.1") as a,
        TestClient(second, base_url="http://127.0.0.1") as b,
    ):
        voter, neighbour = voters(ctx, a, election, 2)
        on_b = dataclasses.replace(voter, client=b)
        statuses = [voter.request_token(b"\x01"), on_b.request_token(b"\x01")]
        assert [r.status_code for r in statuses] == [422, 422]  # counted, then refused
        assert on_b.request_token(b"\x01").status_code == 429
        assert voter.request_token(b"\x01").status_code == 429
        # Keyed by pseudonym: another citizen from the same address is not limited.
        assert neighbour.request_token(b"\x01").status_code == 422


def test_forwarded_for_is_believed_only_from_trusted_proxies(
    make_settings: Any, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(identity.pages, "STAFF_LOGIN_ATTEMPTS_PER_MINUTE", 2)
    app = create_app(make_settings(trusted_proxies="10.0.0.0/24"), clock=clock)
    with browsers(app, PROXY, STRANGER) as [proxy, stranger]:
        # Behind the trusted proxy each citizen has a limit of their own...
        citizen = [sign_in(proxy, "203.0.113.5") for _ in range(3)]
        assert citizen == [401, 401, 429]
        assert sign_in(proxy, "203.0.113.6") == 401
        # ...and a client cannot pick its address with the header through the proxy:
        # uvicorn's middleware takes the rightmost untrusted hop.
        assert sign_in(proxy, "198.51.100.1, 203.0.113.5") == 429
        # Anyone else's X-Forwarded-For is ignored: rotating it does not escape the limit.
        spoofed = [sign_in(stranger, f"198.51.100.{i}") for i in range(3)]
        assert spoofed == [401, 401, 429]


def test_without_trusted_proxies_the_header_is_ignored(
    settings: Settings, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(identity.pages, "STAFF_LOGIN_ATTEMPTS_PER_MINUTE", 2)
    app = create_app(settings, clock=clock)
    with browsers(app, PROXY) as [proxy]:
        assert [sign_in(proxy, f"203.0.113.{i}") for i in range(3)] == [401, 401, 429]


def test_trusted_proxies_setting_is_validated() -> None:
    loaded = load_settings(mode="test", trusted_proxies=" 10.0.0.2, fd00::/64 ")
    assert loaded.trusted_proxy_list == ["10.0.0.2", "fd00::/64"]
    assert load_settings(mode="test").trusted_proxy_list == []
    for bad in ("*", "proxy.example", "10.0.0.0/33"):
        with pytest.raises(ConfigError, match=r"PARVIS_TRUSTED_PROXIES: .* is not an IP address"):
            load_settings(mode="test", trusted_proxies=bad)


def test_sliding_window_and_purge(settings: Settings, clock: FixedClock) -> None:
    app = create_app(settings, clock=clock)
    ctx: AppContext = app.state.ctx
    limiter = SharedRateLimiter.create(
        db=ctx.db, clock=clock, master_secret="x" * 32, scope="test", limit=3, window=60
    )
    clock.current = clock.current.replace(second=0)
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("b"), "keys are independent"
    clock.current += timedelta(seconds=90)  # half of the previous window still counts: 2 + 1
    assert limiter.allow("a")
    assert not limiter.allow("a")
    clock.current += timedelta(seconds=120)
    assert limiter.allow("a")
    with ctx.db.read_session() as session:
        rows = session.execute(select(RateLimitRow.key_hash, RateLimitRow.hits)).all()
        assert session.scalar(select(func.count()).select_from(RateLimitRow)) == 1
    assert rows[0].hits == 1
    # Only a keyed hash of the key is stored (scope and key, under the derived key).
    secret = derive_key("x" * 32, KEY_PURPOSE)
    assert rows[0].key_hash == keyed_hash(secret, b"test\x00a")
    ctx.db.dispose()
