"""Benchmark of end-to-end casting (and token issuance) over HTTP against a real server, as
ratios to baselines measured in the same run (architecture.md, "Scale figures to design for").

For each database (SQLite, then a durable PostgreSQL: ``fsync`` on), it starts ``parvis
serve`` as a real process in demo mode (the audit sequencer runs, as in production), opens
an election, and then:

1. **issuance** — every voter of the run (eligible, signed in, created beforehand) asks for
   a token: ``POST /elections/{id}/tokens`` with a blinded message prepared beforehand
   (session lookup, eligibility decision, voter-list record, the issuance register's entry
   (ballot-secrecy.md §3, ADR 0019), RFC 9474 ``BlindSign`` with its output check,
   commit). The FranceConnect round trip is the provider's time, not measured here.
   Reported as requests/s and as a ratio to the bare ``blind_sign`` rate of the same key
   measured in this process, single-threaded;
2. **warm-up** — ``/healthz`` and ``--warmup`` casts (first manifest load, statement
   caches, connection pool), not counted;
3. **runs** — ``--runs`` times (at least 3): ``/healthz`` then casting, both at the same
   ``--concurrency`` over keep-alive connections. Casting: the voters finalised their tokens
   and signed their ballots beforehand; each run casts ``--ballots`` of them (``POST
   /elections/{id}/ballots`` without cookies: verification, ballot box, board append, group
   commit, receipt). Each run's ratio is its ballots/s ÷ the /healthz requests/s measured
   just before it (target ≥ 0.4); reported are the medians over the runs, p50 and p99 latency
   of every counted cast, and how many receipts carried their proof rather than the signed
   promise (in demo and production modes the audit sequencer integrates in batches, so most
   receipts are promises);
4. **batch integration** — casts now wait in the pending pool until the election's next
   batch boundary (docs/adr/0009-batched-boards.md): at the end, every ballot of the runs
   goes on the board at once (``integrate_batches(force=True)``, timed); then, in this
   process on a fresh database of the same kind, a batch of ``--batch`` ballots (10,000 by
   default) is put in the pool and its integration timed — shuffle, board append,
   commitments, pool deletion and the Merkle tree under one checkpoint — against the
   baseline of a raw ``executemany`` INSERT of the same entry bytes into a scratch table of
   the same database, measured just before.

Alongside, the CPU time the server's processes (``/proc``) and this client process used per
request in each phase: on this 2-core machine the clients compete with the server for the
CPU, and these figures tell which side bounds a rate.

Workers: 2 on PostgreSQL; 1 on SQLite (``parvis serve`` refuses several workers on SQLite,
which has one writer). The /healthz baseline is always the same server. Not a test: it never
fails on a figure.

Usage: ``python bench/cast.py [--quick] [--ballots N] [--runs R] [--warmup W]
[--concurrency C] [--db sqlite|postgresql]``. The last line printed is one JSON object.
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
from ballot.token import JSONValue, b64u_decode, b64u_encode
from parvis import migrate
from parvis.cli import cli_context
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from parvis.kernel.principal import Citizen
from parvis.kernel.settings import load_settings
from tests.ballot.elections import QUESTIONS, RULE, definition, seed_census, setup_rule
from tests.support.postgres import TempPostgres
from tests.support.server import ServerProcess

CHOICES: tuple[dict[str, JSONValue], ...] = (
    {"parc": "gare", "budget": ["jardin", "bancs"]},
    {"parc": "tilleuls", "budget": []},
)


def citizens(ctx: AppContext, count: int) -> list[tuple[str, str, str]]:
    """``count`` eligible citizens with a signed-in session each: (cookie name, value,
    CSRF token — the token request sends it in ``X-CSRF-Token``, as the booth does)."""
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
            out.append((name, session.cookie, session.csrf_token))
    return out


def process_tree_cpu(root: int | None) -> tuple[float, float]:
    """CPU seconds (user, system) used so far by ``root`` and its descendants (Linux)."""
    if root is None:
        return 0.0, 0.0
    parents: dict[int, int] = {}
    times: dict[int, tuple[float, float]] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = (int(fields[11]) / tick, int(fields[12]) / tick)
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        children = [child for child, parent in parents.items() if parent == pid]
        tree.update(children)
        frontier.extend(children)
    used = [times.get(pid, (0.0, 0.0)) for pid in tree]
    return sum(u for u, _ in used), sum(s for _, s in used)


class Phase:
    """Wall time and CPU time over one phase: the server's processes (user and system),
    the database server's (PostgreSQL) and this client process's."""

    def __init__(self, server_pid: int, database_pid: int | None = None) -> None:
        self.server_pid = server_pid
        self.database_pid = database_pid

    def _sample(self) -> tuple[float, float, float, float]:
        user, system = process_tree_cpu(self.server_pid)
        database = sum(process_tree_cpu(self.database_pid))
        return user, system, database, time.process_time()

    def __enter__(self) -> Phase:
        self.started = time.perf_counter()
        self._start = self._sample()
        return self

    def __exit__(self, *_: object) -> None:
        self.wall = time.perf_counter() - self.started
        end = self._sample()
        self.user, self.system, self.database, self.client = (
            b - a for a, b in zip(self._start, end, strict=True)
        )

    def per_request_ms(self, count: int) -> dict[str, float]:
        return {
            "server_cpu_ms": round(1000 * (self.user + self.system) / count, 3),
            "server_system_cpu_ms": round(1000 * self.system / count, 3),
            "database_cpu_ms": round(1000 * self.database / count, 3),
            "client_cpu_ms": round(1000 * self.client / count, 3),
        }


def timed_requests(
    clients: list[httpx.Client], jobs: list[Callable[[httpx.Client], httpx.Response]]
) -> tuple[list[float], list[int]]:
    """Run every job over the keep-alive ``clients``, one thread each; latencies, statuses.

    The clients are made (an ``httpx.Client`` builds a TLS context: tens of milliseconds of
    CPU) and connected once, before any phase: what is measured is requests, for /healthz
    and casting alike.
    """
    latencies: list[float] = []
    statuses: list[int] = []
    lock = threading.Lock()
    cursor = iter(jobs)

    def worker(client: httpx.Client) -> None:
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

    with ThreadPoolExecutor(max_workers=len(clients)) as pool:
        list(pool.map(worker, clients))
    return latencies, statuses


def connect(clients: list[httpx.Client]) -> None:
    """One /healthz per client, in parallel, before a timed phase: every client holds a
    fresh keep-alive connection when the clock starts."""
    with ThreadPoolExecutor(max_workers=len(clients)) as pool:
        for response in pool.map(lambda c: c.get("/healthz"), clients):
            response.raise_for_status()


def blind_sign_rate(key: Any, blinded: list[bytes], seconds: float) -> float:
    backend = rsabssa.get_backend()  # type: ignore[attr-defined]
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        rsabssa.blind_sign(key, blinded[done % len(blinded)], backend=backend)
        done += 1
    return done / (time.perf_counter() - started)


def machine() -> dict[str, Any]:
    """What a benchmark's JSON line says of the machine it ran on (2 shared cores here)."""
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bench_database(kind: str, stack: ExitStack, bench: str) -> tuple[str, str, int, int | None]:
    """A temporary data directory and database for one benchmark: ``(data dir, URL, server
    workers, PID of the database server)``. SQLite runs inside the server (one worker, no
    PID); PostgreSQL is a durable server started here, served by two workers."""
    tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix=f"parvis-bench-{bench}-{kind}-"))
    if kind == "sqlite":
        return tmp, f"sqlite:///{tmp}/parvis.sqlite3", 1, None
    server_pg = stack.enter_context(TempPostgres(durable=True))
    server_pg.psql("CREATE DATABASE bench")
    pid = int((server_pg.data / "postmaster.pid").read_text().split()[0])
    return tmp, server_pg.url_for("bench"), 2, pid


def context_for(env: dict[str, str]) -> AppContext:
    """An application context built from ``env`` (the server's settings), without leaving
    ``env`` in this process's environment."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        ctx: AppContext = cli_context(load_settings())
        return ctx
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def open_bench_election(
    env: dict[str, str], url: str, *, population: int
) -> tuple[AppContext, str, Manifest, Any]:
    """Migrate ``url`` and open an election for ``population`` voters: ``(context, election
    id, manifest, the election's private key)``.

    The eligible population bounds the tokens issued (voting-protocol.md, "Verification").
    Boundaries are a day apart, so a run is one batch: casting is measured alone and the
    batch integrated, and timed, when the benchmark says so (ADR 0009).
    """
    migrate.upgrade(url)
    ctx = context_for(env)
    setup_rule(ctx)
    # The population is counted from the census when the election opens (ballot-secrecy.md
    # §3): a census of as many residents as voters.
    seed_census(ctx, population)
    service = service_from(ctx)
    spec = definition(
        FixedClock(ctx.clock.now()),
        questions=QUESTIONS,
        eligibility={"rule": RULE},
        batch_seconds=86_400,
    )
    with ctx.db.write_session() as db:
        election = service.create(db, data=spec, actor="system:bench").id
    service.schedule(election_id=election, actor="system:bench")
    service.open(election_id=election, actor="system:bench")
    with ctx.db.read_session() as db:
        manifest = Manifest.from_json(service.manifest(db, election))
        key = service.voters._private_key(db, election)
    return ctx, election, manifest, key


def run_database(kind: str, args: argparse.Namespace, stack: ExitStack) -> dict[str, Any]:
    tmp, url, workers, database_pid = bench_database(kind, stack, "cast")
    env = {
        "PARVIS_MODE": "demo",
        "PARVIS_DATA_DIR": tmp,
        "PARVIS_DATABASE_URL": url,
        "PARVIS_LOG_LEVEL": "WARNING",
        "PARVIS_BALLOT_SIGNATURES_PER_SECOND": "100000",
        # The issuance register is in place (each token writes its entry, moved into the
        # register at the boundary); the FranceConnect round trip is not part of what this
        # server does per token, and the benchmark's citizens have no FranceConnect identity:
        # the token route takes the session alone and the entry is marked unbound.
        "PARVIS_BALLOT_ISSUANCE_FRANCECONNECT": "false",
    }
    voters = args.warmup + args.runs * args.ballots
    ctx, election, manifest, election_key = open_bench_election(env, url, population=voters)
    service = service_from(ctx)
    cookies = citizens(ctx, voters)
    pending: list[PendingIssuance] = [
        begin_issuance(
            manifest.public_key(),
            election_id=manifest.election_id,
            committed_key_id=manifest.issuer_key_id,
        )
        for _ in cookies
    ]
    bare_sign = blind_sign_rate(election_key, [p.blinded_msg for p in pending[:50]], args.seconds)

    def healthz_jobs(count: int) -> list[Callable[[httpx.Client], httpx.Response]]:
        return [lambda c: c.get("/healthz")] * count

    result: dict[str, Any] = {"workers": workers}
    with ServerProcess(env, workers=workers) as server, ExitStack() as connections:
        assert server.proc is not None
        base, pid = server.url, server.proc.pid
        clients = [
            # Idle connections are dropped before uvicorn's 5 s keep-alive timeout closes
            # them (reusing one the server is closing ends in "connection reset").
            connections.enter_context(
                httpx.Client(base_url=base, timeout=60, limits=httpx.Limits(keepalive_expiry=2.0))
            )
            for _ in range(args.concurrency)
        ]
        timed_requests(clients, healthz_jobs(args.health))  # warm-up, connects every client

        blind_sigs: dict[int, bytes] = {}

        def issue(i: int) -> Callable[[httpx.Client], httpx.Response]:
            def job(client: httpx.Client) -> httpx.Response:
                name, value, csrf = cookies[i]
                response = client.post(
                    f"/elections/{election}/tokens",
                    json={"blinded_msg": b64u_encode(pending[i].blinded_msg)},
                    headers={"Cookie": f"{name}={value}", "X-CSRF-Token": csrf},
                )
                if response.status_code == 200:
                    blind_sigs[i] = b64u_decode(response.json()["blind_sig"], field="s")
                return response

            return job

        connect(clients)
        with Phase(pid, database_pid) as issuance:
            _lat, statuses = timed_requests(clients, [issue(i) for i in range(voters)])
        assert statuses.count(200) == voters, {s: statuses.count(s) for s in set(statuses)}
        issuance_rate = voters / issuance.wall

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

        def cast_all(chunk: list[bytes]) -> tuple[list[float], list[int]]:
            lat, statuses = timed_requests(clients, [cast(b) for b in chunk])
            assert statuses.count(201) == len(chunk), {s: statuses.count(s) for s in set(statuses)}
            return lat, statuses

        connect(clients)
        cast_all(bodies[: args.warmup])  # warm-up
        runs: list[dict[str, Any]] = []
        latencies: list[float] = []
        for run in range(args.runs):
            connect(clients)
            with Phase(pid, database_pid) as health:
                _lat, statuses = timed_requests(clients, healthz_jobs(args.health))
            assert set(statuses) == {200}, statuses
            start = args.warmup + run * args.ballots
            connect(clients)
            with Phase(pid, database_pid) as casting:
                lat, _statuses = cast_all(bodies[start : start + args.ballots])
            latencies += lat
            runs.append(
                {
                    "healthz_per_s": round(args.health / health.wall, 1),
                    "ballots_per_s": round(args.ballots / casting.wall, 1),
                    "ratio_to_healthz": round(
                        (args.ballots / casting.wall) / (args.health / health.wall), 3
                    ),
                    "p50_ms": round(1000 * statistics.median(lat), 1),
                    "healthz": health.per_request_ms(args.health),
                    "cast": casting.per_request_ms(args.ballots),
                }
            )
        with_proof = sum(1 for receipt in receipts if receipt["inclusion_proof"] is not None)
        started = time.perf_counter()
        integrated = service.integrate_batches(force=True)
        run_batch_ms = 1000 * (time.perf_counter() - started)
        deadline = time.monotonic() + 60
        while True:  # the server's sequencer leads: it integrates the batch whole
            board = httpx.get(f"{base}/elections/{election}/board?limit=1", timeout=60).json()
            if board["ballots"] == len(bodies) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert board["ballots"] == len(bodies), (board["ballots"], integrated)

    service.committer.stop()
    ctx.db.dispose()

    def median(field: str, part: str | None = None) -> float:
        values: list[float] = [r[field] if part is None else r[part][field] for r in runs]
        return round(statistics.median(values), 3)

    result.update(
        {
            "ballots": args.ballots,
            "runs": args.runs,
            "ballots_per_s": median("ballots_per_s"),
            "healthz_per_s": median("healthz_per_s"),
            "ratio_to_healthz": median("ratio_to_healthz"),
            "p50_ms": round(1000 * statistics.median(latencies), 1),
            "p99_ms": round(1000 * percentile(latencies, 0.99), 1),
            "cast_server_cpu_ms": median("server_cpu_ms", "cast"),
            "cast_server_system_cpu_ms": median("server_system_cpu_ms", "cast"),
            "cast_database_cpu_ms": median("database_cpu_ms", "cast"),
            "cast_client_cpu_ms": median("client_cpu_ms", "cast"),
            "healthz_server_cpu_ms": median("server_cpu_ms", "healthz"),
            "healthz_server_system_cpu_ms": median("server_system_cpu_ms", "healthz"),
            "healthz_client_cpu_ms": median("client_cpu_ms", "healthz"),
            "receipts_with_proof": with_proof,
            "receipts_with_promise": len(receipts) - with_proof,
            "issuance_per_s": round(issuance_rate, 1),
            "issuance": issuance.per_request_ms(voters),
            "blind_sign_per_s": round(bare_sign, 1),
            "issuance_ratio_to_blind_sign": round(issuance_rate / bare_sign, 3),
            "runs_batch": {"ballots": len(bodies), "queue_ms": round(run_batch_ms, 1)},
            "per_run": runs,
        }
    )
    print(
        f"{kind} ({workers} worker{'s' if workers > 1 else ''}), median of {args.runs} runs: "
        f"{result['ballots_per_s']:.0f} ballots/s (p50 {result['p50_ms']} ms, "
        f"p99 {result['p99_ms']} ms), /healthz {result['healthz_per_s']:.0f}/s, "
        f"ratio {result['ratio_to_healthz']} (runs: "
        f"{', '.join(str(r['ratio_to_healthz']) for r in runs)}); server CPU per request: "
        f"cast {result['cast_server_cpu_ms']} ms (system {result['cast_server_system_cpu_ms']}, "
        f"database {result['cast_database_cpu_ms']}), /healthz {result['healthz_server_cpu_ms']} "
        f"ms (system {result['healthz_server_system_cpu_ms']}); "
        f"client CPU: cast {result['cast_client_cpu_ms']} ms, "
        f"/healthz {result['healthz_client_cpu_ms']} ms; "
        f"receipts: {with_proof} with proof, {len(receipts) - with_proof} promises; "
        f"issuance {issuance_rate:.0f}/s vs blind_sign {bare_sign:.0f}/s, "
        f"ratio {result['issuance_ratio_to_blind_sign']}",
        flush=True,
    )
    return result


def batch_integration(kind: str, size: int, stack: ExitStack) -> dict[str, Any]:
    """Time the integration of one batch of ``size`` pending ballots (test mode: no
    sequencer, so the batch is appended and integrated in the timed call), and a raw
    ``executemany`` INSERT of the same entry bytes into a scratch table as the baseline."""
    tmp, url, _workers, _pid = bench_database(kind, stack, "batch")
    env = {"PARVIS_MODE": "test", "PARVIS_DATA_DIR": tmp, "PARVIS_DATABASE_URL": url}
    ctx, election, manifest, key = open_bench_election(env, url, population=size)
    service = service_from(ctx)
    # Tokens signed straight with the election key: the box checks tokens, not the register.
    prepared = []
    for i in range(size):
        issuance = begin_issuance(
            manifest.public_key(),
            election_id=manifest.election_id,
            committed_key_id=manifest.issuer_key_id,
        )
        right = issuance.finish(rsabssa.blind_sign(key, issuance.blinded_msg))
        _right, request = right.cast(CHOICES[i % 2])
        prepared.append(service.prepare_cast(election, request.to_json_bytes()))
    for first in range(0, size, 256):
        service.cast_batch(election, prepared[first : first + 256])
    datas = [p.data for p in prepared]
    with ctx.db.engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE bench_scratch (k BIGINT, data BYTEA)".replace(
                "BYTEA", "BLOB" if kind == "sqlite" else "BYTEA"
            )
        )
    started = time.perf_counter()
    with ctx.db.engine.begin() as conn:
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        conn.exec_driver_sql(
            f"INSERT INTO bench_scratch (k, data) VALUES ({mark}, {mark})",
            list(enumerate(datas)),
        )
    raw = time.perf_counter() - started
    started = time.perf_counter()
    moved = service.integrate_batches(force=True)
    integration = time.perf_counter() - started
    assert moved == size, moved
    with ctx.db.read_session() as db:
        assert service.board_view(db, election, limit=1)["ballots"] == size
    service.committer.stop()
    ctx.db.dispose()
    result = {
        "ballots": size,
        "integration_ms": round(1000 * integration, 1),
        "per_ballot_us": round(1e6 * integration / size, 1),
        "raw_insert_ms": round(1000 * raw, 1),
        "ratio_raw_insert_to_integration": round(raw / integration, 3),
    }
    print(
        f"{kind}: a batch of {size} ballots integrated in {result['integration_ms']} ms "
        f"({result['per_ballot_us']} µs per ballot; raw INSERT of the same bytes "
        f"{result['raw_insert_ms']} ms, ratio {result['ratio_raw_insert_to_integration']})",
        flush=True,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="a short run (about a minute)")
    parser.add_argument("--ballots", type=int, default=None, help="ballots cast per run")
    parser.add_argument("--runs", type=int, default=3, help="measured runs (at least 3)")
    parser.add_argument("--warmup", type=int, default=None, help="casts before the runs")
    parser.add_argument("--concurrency", type=int, default=16, help="parallel HTTP clients")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), action="append")
    parser.add_argument("--batch", type=int, default=10_000, help="ballots in the timed batch")
    args = parser.parse_args()
    if args.runs < 3:
        parser.error("--runs: at least 3 (the figures are medians)")
    args.ballots = args.ballots or (200 if args.quick else 1000)
    args.warmup = args.warmup if args.warmup is not None else (50 if args.quick else 200)
    args.health = 500 if args.quick else 2000
    args.seconds = 1.0 if args.quick else 3.0
    kinds = args.db or ["sqlite", "postgresql"]
    results: dict[str, Any] = {}
    for kind in kinds:
        with ExitStack() as stack:
            results[kind] = run_database(kind, args, stack)
        with ExitStack() as stack:
            results[kind]["batch_integration"] = batch_integration(kind, args.batch, stack)
    print(
        json.dumps(
            {
                "benchmark": "cast",
                "ballots_per_run": args.ballots,
                "runs": args.runs,
                "warmup": args.warmup,
                "concurrency": args.concurrency,
                "healthz_per_run": args.health,
                "machine": machine(),
                **results,
            }
        )
    )


if __name__ == "__main__":
    main()
