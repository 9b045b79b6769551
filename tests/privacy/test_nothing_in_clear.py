"""While an encrypted election is open, no choice exists in clear anywhere the operator can
look (docs/board-format.md §10; ballot-secrecy.md §1): not in the database file or its
write-ahead log (SQLite), not in a dump of the database (PostgreSQL), not in the server's
log lines, not in the audit trail (it lives in the database), not in any page or JSON the
server serves.

Voters are simulated through the real HTTP path (``parvis election simulate``'s code
against a real ``parvis serve``). A choice in clear is recognised by its JSON shape in a
cast request's ``choices``: a question id followed by a string (single), a list (approval,
budget, ranked) or an object keyed by an option id (majority judgment) — which an encrypted
ballot never has (its questions map to ``{"cells": …}``), and which no definition or
manifest has either (their questions are objects with an ``id``). The same search over a
**public** election's storage finds the choices, so the test can fail.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx

from ballot.service import service_from
from ballot.simulation import simulate
from parvis.backup import find_pg_tool
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from tests.ballot.elections import ALL_TYPES, OFFICER, definition, seed_census, setup_rule
from tests.ballot.encrypted import open_encrypted_election
from tests.ballot.test_cli_and_server import context
from tests.support.server import ServerProcess

VOTERS = 6


def clear_choice_patterns() -> list[re.Pattern[bytes]]:
    """The JSON shapes of clear answers to ALL_TYPES' questions (module docstring)."""
    shapes = {
        "parc": rb'"parc"\s*:\s*"',
        "budget": rb'"budget"\s*:\s*\[',
        "quartiers": rb'"quartiers"\s*:\s*\[',
        "jugement": rb'"jugement"\s*:\s*\{\s*"(piscine|stade)"',
        "classement": rb'"classement"\s*:\s*\[',
    }
    assert set(shapes) == {q["id"] for q in ALL_TYPES}
    return [re.compile(p) for p in shapes.values()]


def found_in(data: bytes) -> list[str]:
    return [p.pattern.decode() for p in clear_choice_patterns() if p.search(data)]


def _unhex_bytea(dump: bytes) -> bytes:
    """A plain-text dump writes bytea as ``\\x…`` hex: decoded and appended, so that JSON
    stored in binary columns is searched as what it is."""
    decoded = [
        bytes.fromhex(m.group(1).decode()) for m in re.finditer(rb"\\x((?:[0-9a-f]{2})+)", dump)
    ]
    return dump + b"\n".join(decoded)


def storage_bytes(database_url: str) -> bytes:
    """Everything the database holds: the SQLite file and its WAL, or a PostgreSQL dump."""
    if database_url.startswith("sqlite"):
        path = Path(database_url.split("///", 1)[1])
        parts = [path, path.with_name(path.name + "-wal")]
        return b"".join(p.read_bytes() for p in parts if p.exists())
    dump = subprocess.run(
        [
            find_pg_tool("pg_dump"),
            "--data-only",
            "--dbname",
            database_url.replace("postgresql+psycopg://", "postgresql://"),
        ],
        check=True,
        capture_output=True,
    ).stdout
    return _unhex_bytea(dump)


def served_bytes(url: str, election: str) -> bytes:
    """What anyone (the tracker, the board, the pages) can fetch while it is open."""
    paths = [
        f"/elections/{election}",
        f"/elections/{election}/manifest",
        f"/elections/{election}/board",
        f"/elections/{election}/checkpoint",
        "/elections",
        f"/scrutins/{election}",
        f"/scrutins/{election}/isoloir",
        f"/scrutins/{election}/suivi",
        "/metrics",
    ]
    out = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for path in paths:
            response = client.get(path)
            assert response.status_code < 500, (path, response.status_code)
            out.append(response.content)
    return b"\n".join(out)


def _open_public(ctx: AppContext) -> str:
    seed_census(ctx, 1000)  # the eligible population is counted from it at the opening
    clock = FixedClock()
    spec = definition(clock, questions=ALL_TYPES)
    spec["opens_at"] = "2020-01-01T00:00:00Z"
    spec["closes_at"] = "2099-01-01T00:00:00Z"
    service = service_from(ctx)
    with ctx.db.write_session() as db:
        election = service.create(db, data=spec, actor=OFFICER.audit_actor).id
    service.schedule(election_id=election, actor=OFFICER.audit_actor)
    service.open(election_id=election, actor=OFFICER.audit_actor)
    return election


def _everything_after_voting(
    database_url: str, tmp_path: Path, opener: Callable[[AppContext], str]
) -> dict[str, bytes]:
    env = {
        "PARVIS_MODE": "test",
        "PARVIS_DATABASE_URL": database_url,
        "PARVIS_DATA_DIR": str(tmp_path / "var"),
        "PARVIS_LOG_LEVEL": "DEBUG",
    }
    ctx = context(env)
    try:
        setup_rule(ctx)
        election = opener(ctx)
        with ServerProcess(env) as server:
            report = simulate(ctx, election_id=election, voters=VOTERS, seed=5, base_url=server.url)
            assert report.cast == VOTERS, report.to_json()
            pages = served_bytes(server.url, election)
            # Half the ballots on the board (a batch boundary), half still waiting.
            service_from(ctx).integrate_batches(force=True)
            simulate(ctx, election_id=election, voters=VOTERS, seed=6, base_url=server.url)
            pages += served_bytes(server.url, election)
            status = service_from(ctx).status
            with ctx.db.read_session() as session:
                assert status(session, service_from(ctx).get(session, election))["status"] == "open"
        logs = server.stderr_path.read_bytes()
    finally:
        ctx.db.dispose()
    return {"storage": storage_bytes(database_url), "logs": logs, "pages": pages}


def test_a_public_election_holds_its_choices_in_clear_so_the_search_can_fail(
    database_url: str, tmp_path: Path
) -> None:
    """The control: a public-ballot election stores every cast as sent, choices included."""
    seen = _everything_after_voting(database_url, tmp_path, _open_public)
    assert len(found_in(seen["storage"])) == len(ALL_TYPES)
    # Its board shows only commitments while open, and nothing logs a choice.
    assert found_in(seen["pages"]) == []
    assert found_in(seen["logs"]) == []


def _open_encrypted(ctx: AppContext) -> str:
    opened = open_encrypted_election(
        ctx,
        FixedClock(),
        questions=ALL_TYPES,
        opens_at="2020-01-01T00:00:00Z",
        closes_at="2099-01-01T00:00:00Z",
    )
    return opened.election_id


def test_nothing_in_clear_while_an_encrypted_election_is_open(
    database_url: str, tmp_path: Path
) -> None:
    seen = _everything_after_voting(database_url, tmp_path, _open_encrypted)
    assert found_in(seen["storage"]) == []
    assert found_in(seen["logs"]) == []
    assert found_in(seen["pages"]) == []
    # The pages did show the ballots — as ciphertexts: the board is public (§10.1).
    assert seen["pages"].count(b'"encrypted":{"') >= VOTERS
