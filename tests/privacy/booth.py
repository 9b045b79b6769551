"""A polling day through the real HTTP server, with the booth's timing on an injected clock.

ballot-secrecy.md §2 ("No time or order trail between issuance and casting"): the booth
obtains the voting right when the citizen opens the election, the citizen fills the ballot,
and the booth casts after a random delay, without cookies. This module plays that day:

- the app (``parvis.app.create_app`` with a :class:`~parvis.kernel.clock.FixedClock`) is
  served by uvicorn on a free loopback port, in a thread of the test process, with the app's
  own JSON log configuration (:func:`parvis.logs.uvicorn_log_config`) writing to a file;
  log records are stamped with the injected clock (the simulated wall clock) instead of the
  test machine's, so that the log's times are the times of the simulated day;
- every citizen signs in through the built-in FranceConnect sandbox over HTTP (authorize,
  login form, callback), opens the booth page (its CSRF token), asks for its eligibility,
  reads the manifest and obtains the voting right (``POST /tokens`` with the session cookie
  and ``X-CSRF-Token``; blinding and finalisation by :mod:`ballot.client`), fills the ballot,
  and casts with no cookie at all; some re-vote later from the same device;
- events run in time order; whenever the clock passes a batch boundary (multiples of
  ``batch_seconds`` since the epoch), the test calls ``integrate_batches()`` as the
  publisher thread of ``parvis serve`` would (when the service has it).

The ground truth (which pseudonym holds which nullifier) is recorded on the client side only.
"""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import logging
import logging.config
import random
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import uvicorn

import identity
from ballot.client import VotingRight, begin_issuance
from ballot.manifest import Manifest
from ballot.service import ElectionService, service_from
from ballot.token import b64u_decode, b64u_encode
from identity.sandbox.citizens import TEST_CITIZENS
from parvis.app import create_app
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from parvis.kernel.principal import Citizen
from parvis.kernel.sessions import cookie_name
from parvis.kernel.settings import load_settings
from parvis.logs import uvicorn_log_config
from tests.ballot.elections import COMMUNE, OFFICER, definition, setup_rule
from tests.support.server import free_port

__all__ = ["Day", "PollingDay", "Profile", "run_polling_day"]

#: The choices every voter makes: the ballot's content must not help the operator.
CHOICES: dict[str, Any] = {"parc": "gare", "budget": ["jardin", "bancs"]}


@dataclass(frozen=True)
class Profile:
    """The booth's timing (ballot-secrecy.md §2)."""

    voters: int = 60
    per_hour: float = 240.0
    #: Sign-in to opening the election (the right is obtained at once on opening).
    open_after: tuple[float, float] = (2.0, 10.0)
    fill: tuple[float, float] = (30.0, 300.0)
    delay: tuple[float, float] = (1.0, 5.0)
    revote_share: float = 0.1
    revote_after: tuple[float, float] = (300.0, 1800.0)
    batch_seconds: int = 3600
    seed: int = 12


@dataclass
class Day:
    """What the simulation knows (the ground truth) and what the operator gets."""

    election_id: str
    batch_seconds: int
    #: nullifier (32 bytes) -> the pseudonym that cast it (client side only).
    truth: dict[bytes, str]
    #: pseudonyms of the citizens who obtained a right on the day, in no meaningful order.
    citizens: list[str]
    database: Path
    wal: Path | None
    log: Path
    export: dict[str, Any]
    batched: bool
    #: nullifier -> when its first ballot was cast (ground truth, for the batches).
    first_cast: dict[bytes, datetime] = field(default_factory=dict)
    integrations: list[tuple[datetime, int]] = field(default_factory=list)


@dataclass
class _Voter:
    index: int
    login: str
    http: httpx.Client
    pseudonym: str = ""
    right: VotingRight | None = None


class ServerOnly(logging.Filter):
    """Drop the voters' own HTTP client lines: the voters run in the test's main thread,
    and their devices' logs are not the server's (the server's back-channel to the
    FranceConnect sandbox runs in its worker threads and stays)."""

    def filter(self, record: logging.LogRecord) -> bool:
        voter_side = record.thread == threading.main_thread().ident
        return not (voter_side and record.name.startswith(("httpx", "httpcore")))


class ThreadServer:
    """uvicorn serving ``app`` in a thread of this process, logging JSON to ``log_path``."""

    def __init__(self, app: Any, port: int, log_path: Path) -> None:
        config = uvicorn_log_config("INFO")
        config["handlers"]["stderr"] = {
            "class": "logging.FileHandler",
            "formatter": "json",
            "filename": str(log_path),
            "encoding": "utf-8",
            "filters": ["server_only"],
        }
        config["filters"] = {"server_only": {"()": "tests.privacy.booth.ServerOnly"}}
        self.server = uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=port,
                access_log=False,  # as `parvis serve`: the app's middleware writes its own
                log_config=config,
                lifespan="on",
            )
        )
        self.thread = threading.Thread(target=self.server.run, name="privacy-server")

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@contextlib.contextmanager
def _logging_restored() -> Iterator[None]:
    """uvicorn's dictConfig rewires the root logger: put pytest's handlers back after."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    named = {
        name: (lg.handlers[:], lg.level, lg.propagate, lg.disabled)
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        for lg in [logging.getLogger(name)]
    }
    factory = logging.getLogRecordFactory()
    try:
        yield
    finally:
        logging.setLogRecordFactory(factory)
        for handler in root.handlers:
            if handler not in saved[0]:
                handler.close()
        root.handlers[:], root.level = saved
        for name, (handlers, level, propagate, disabled) in named.items():
            lg = logging.getLogger(name)
            lg.handlers[:], lg.level, lg.propagate, lg.disabled = (
                handlers,
                level,
                propagate,
                disabled,
            )


def _stamp_records_with(clock: FixedClock) -> None:
    """Log records carry the simulated wall clock (the injected clock), not the test's."""
    base = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = base(*args, **kwargs)
        record.created = clock.now().timestamp()
        record.msecs = (record.created - int(record.created)) * 1000
        return record

    logging.setLogRecordFactory(factory)


def _path_and_query(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _sign_in(voter: _Voter) -> None:
    """The FranceConnect sandbox flow, one redirect at a time, as a browser walks it."""
    http = voter.http
    start = http.get("/auth/franceconnect/login")
    assert start.status_code == 303, start.text
    page = http.get(_path_and_query(start.headers["location"]))
    if page.status_code == 200:
        action = re.search(r'action="([^"]+/login)"', page.text)
        assert action, page.text
        back = http.post(_path_and_query(action.group(1)), data={"login": voter.login})
    else:
        back = page
    assert back.status_code == 303, back.text
    done = http.get(_path_and_query(back.headers["location"]))
    assert done.status_code == 303, done.text


def _pseudonym(ctx: AppContext, voter: _Voter) -> str:
    """Ground truth only (the test, not the operator): whose session this browser holds."""
    name = cookie_name(secure=ctx.settings.secure_cookies)
    with ctx.db.write_session() as db:
        session = ctx.sessions.load(db, voter.http.cookies.get(name))
    assert session is not None
    assert isinstance(session.principal, Citizen)
    return session.principal.pseudonym


def _open_and_obtain_right(voter: _Voter, election_id: str) -> None:
    """Open the election in the booth and obtain the voting right at once."""
    http = voter.http
    booth = http.get(f"/scrutins/{election_id}/isoloir")
    assert booth.status_code == 200, booth.text
    csrf = re.search(r'data-csrf="([^"]*)"', booth.text)
    assert csrf, "the booth page carries the session's CSRF token"
    assert csrf.group(1), "the booth page carries the session's CSRF token"
    eligible = http.get(f"/elections/{election_id}/eligibility")
    assert eligible.status_code == 200, eligible.text
    manifest = Manifest.from_json(http.get(f"/elections/{election_id}/manifest").json())
    pending = begin_issuance(
        manifest.public_key(),
        election_id=manifest.election_id,
        committed_key_id=manifest.issuer_key_id,
    )
    response = http.post(
        f"/elections/{election_id}/tokens",
        json={"blinded_msg": b64u_encode(pending.blinded_msg)},
        headers={"X-CSRF-Token": csrf.group(1)},
    )
    assert response.status_code == 200, response.text
    voter.right = pending.finish(b64u_decode(response.json()["blind_sig"], field="blind_sig"))


def _cast(base_url: str, voter: _Voter, election_id: str) -> bytes:
    """Cast from a fresh client with no cookie at all; return the token's nullifier."""
    assert voter.right is not None
    voter.right, request = voter.right.cast(CHOICES)
    with httpx.Client(base_url=base_url) as anonymous:
        response = anonymous.post(
            f"/elections/{election_id}/ballots",
            content=request.to_json_bytes(),
            headers={"Content-Type": "application/json"},
        )
    assert response.status_code == 201, response.text
    return hashlib.sha256(voter.right.token.msg).digest()


def _boundary_after(moment: datetime, seconds: int) -> datetime:
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp((epoch // seconds + 1) * seconds, UTC)


class PollingDay:
    """Sets up the app, the election and the citizens, then plays the day's events."""

    def __init__(self, tmp: Path, profile: Profile, *, plant: Callable[[AppContext], None] | None):
        self.tmp = tmp
        self.profile = profile
        self.plant = plant
        self.rng = random.Random(profile.seed)
        self.clock = FixedClock(datetime(2026, 1, 14, 10, 0, tzinfo=UTC))

    def run(self) -> Day:
        profile = self.profile
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        database = self.tmp / "parvis.sqlite3"
        shutil.copyfile(self.tmp / "template.sqlite3", database)
        settings = load_settings(
            mode="test",
            database_url=f"sqlite:///{database}",
            data_dir=self.tmp / "var",
            public_url=base_url,
        )
        app = create_app(settings, clock=self.clock)
        ctx: AppContext = app.state.ctx
        log_path = self.tmp / "server.log"
        back_channel = httpx.Client()
        identity.use_franceconnect_http(ctx, back_channel)
        with _logging_restored(), back_channel, ThreadServer(app, port, log_path):
            _stamp_records_with(self.clock)
            service = service_from(ctx)
            batched = hasattr(service, "integrate_batches")
            if self.plant is not None:
                self.plant(ctx)
            voters = self._register(ctx, base_url)
            election_id = self._open_election(ctx, batched=batched)
            truth, first_cast, integrations = self._play(
                ctx, service, base_url, voters, election_id
            )
            self.clock.current = _boundary_after(self.clock.now(), profile.batch_seconds)
            if batched:
                integrations.append((self.clock.now(), service.integrate_batches()))
            service.close(election_id=election_id, actor=OFFICER.audit_actor, force=True)
            self.clock.advance(timedelta(minutes=5))
            service.tally(election_id=election_id, actor=OFFICER.audit_actor)
            service.publish(election_id=election_id, actor=OFFICER.audit_actor)
            with httpx.Client(base_url=base_url) as public:
                export = public.get(f"/elections/{election_id}/board").json()
            # The operator's copy, taken while the server runs (the WAL is still there).
            snapshot = self.tmp / "operator"
            snapshot.mkdir()
            db_copy = snapshot / database.name
            wal = database.with_name(database.name + "-wal")
            wal_copy = snapshot / wal.name if wal.exists() else None
            shutil.copyfile(database, db_copy)
            if wal_copy is not None:
                shutil.copyfile(wal, wal_copy)
            for voter in voters:
                voter.http.close()
        return Day(
            election_id=election_id,
            batch_seconds=profile.batch_seconds,
            truth=truth,
            citizens=sorted(truth.values()),
            database=db_copy,
            wal=wal_copy,
            log=log_path,
            export=export,
            batched=batched,
            first_cast=first_cast,
            integrations=integrations,
        )

    def _register(self, ctx: AppContext, base_url: str) -> list[_Voter]:
        """The day before: each citizen's first FranceConnect sign-in and self-declaration,
        in an order unrelated to the voting order."""
        setup_rule(ctx)
        sandbox = identity.sandbox_from(ctx)
        template = TEST_CITIZENS[0]
        voters = []
        for n in range(self.profile.voters):
            login = f"electeur{n:03d}"
            letters = "".join(chr(ord("A") + (n // 26**k) % 26) for k in range(3))
            sandbox.citizens[login] = replace(
                template, login=login, family_name=f"DUBOIS{letters}", email=""
            )
            voters.append(_Voter(n, login, httpx.Client(base_url=base_url)))
        service = identity.service_from(ctx)
        for voter in self.rng.sample(voters, len(voters)):
            self.clock.advance(timedelta(seconds=self.rng.uniform(20, 120)))
            _sign_in(voter)
            voter.pseudonym = _pseudonym(ctx, voter)
            with ctx.db.write_session() as db:
                service.self_declare(
                    db, citizen_id=voter.pseudonym, territory_id="ballot-town", commune_code=COMMUNE
                )
            voter.http.cookies.clear()
        return voters

    def _open_election(self, ctx: AppContext, *, batched: bool) -> str:
        self.clock.current = datetime(2026, 1, 15, 8, 0, tzinfo=UTC)
        extra: dict[str, Any] = {"batch_seconds": self.profile.batch_seconds} if batched else {}
        service = service_from(ctx)
        data = definition(self.clock, **extra)
        data["closes_at"] = "2026-01-15T20:00:00Z"
        with ctx.db.write_session() as db:
            election_id = service.create(db, data=data, actor=OFFICER.audit_actor).id
        service.schedule(election_id=election_id, actor=OFFICER.audit_actor)
        service.open(election_id=election_id, actor=OFFICER.audit_actor)
        return election_id

    def _play(
        self,
        ctx: AppContext,
        service: ElectionService,
        base_url: str,
        voters: list[_Voter],
        election_id: str,
    ) -> tuple[dict[bytes, str], dict[bytes, datetime], list[tuple[datetime, int]]]:
        profile, rng = self.profile, self.rng
        start = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
        events: list[tuple[float, int, str, int]] = []
        arrival = 0.0
        for order, voter in enumerate(rng.sample(voters, len(voters))):
            arrival += rng.expovariate(profile.per_hour / 3600)
            opened = arrival + rng.uniform(*profile.open_after)
            cast_at = opened + rng.uniform(*profile.fill) + rng.uniform(*profile.delay)
            heapq.heappush(events, (arrival, 3 * order, "sign-in", voter.index))
            heapq.heappush(events, (opened, 3 * order + 1, "open", voter.index))
            heapq.heappush(events, (cast_at, 3 * order + 2, "cast", voter.index))
            if rng.random() < profile.revote_share:
                again = cast_at + rng.uniform(*profile.revote_after) + rng.uniform(*profile.delay)
                heapq.heappush(events, (again, 3 * order + 2, "revote", voter.index))
        truth: dict[bytes, str] = {}
        first_cast: dict[bytes, datetime] = {}
        integrations: list[tuple[datetime, int]] = []
        integrate = getattr(service, "integrate_batches", None)
        self.clock.current = start
        boundary = _boundary_after(start, profile.batch_seconds)
        while events:
            offset, _, kind, index = heapq.heappop(events)
            moment = start + timedelta(seconds=offset)
            while moment >= boundary:
                self.clock.current = boundary
                if integrate is not None:
                    integrations.append((boundary, integrate()))
                boundary += timedelta(seconds=profile.batch_seconds)
            self.clock.current = moment
            voter = voters[index]
            if kind == "sign-in":
                _sign_in(voter)
                assert _pseudonym(ctx, voter) == voter.pseudonym
            elif kind == "open":
                _open_and_obtain_right(voter, election_id)
            else:
                nullifier = _cast(base_url, voter, election_id)
                truth[nullifier] = voter.pseudonym
                first_cast.setdefault(nullifier, moment)
        return truth, first_cast, integrations


def run_polling_day(
    tmp: Path, profile: Profile, *, plant: Callable[[AppContext], None] | None = None
) -> Day:
    return PollingDay(tmp, profile, plant=plant).run()
