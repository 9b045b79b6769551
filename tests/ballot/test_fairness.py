"""Fairness (voting-protocol.md, "Fairness: nothing readable before the close"): walk every
public GET endpoint and page of the application while an election is open, before and after
every voter chose the same unusual option, and find no ballot content and no running total.

The option's id is in the manifest, so it is public; what must not change when people vote
is how often it appears anywhere. Ballot signatures, token messages and the word ``choices``
must appear nowhere at all. The audit read API must refuse the board's raw log to anyone —
a DPO included: the board is a sealed audit log until the close, so its entries and entry
bundles are served to nobody and ``parvis audit`` reads none, while its hashes, checkpoints
and proofs stay readable. A DPO walks every GET route too, and the audit trail itself.
"""

from __future__ import annotations

import base64
import re

from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import Mount
from typer.testing import CliRunner

import audit
from ballot.register import register_log_name
from ballot.service import board_log_name, service_from
from parvis.cli import build_cli
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from parvis.kernel.principal import Role, Staff
from parvis.kernel.sessions import cookie_name
from tests.ballot.elections import (
    OFFICER,
    UNIQUE_OPTION,
    later,
    open_election,
    session_cookie,
    setup_rule,
    voters,
)

PARAM = re.compile(r"{([a-z_]+)(?::path)?}")
VOTERS = 4
DPO = Staff("dpo-1", frozenset({Role.DPO}))


def routes(app: FastAPI) -> list[tuple[str, set[str]]]:
    """(path, methods) of every route, also those of included routers."""
    found: list[tuple[str, set[str]]] = []
    for route in app.routes:
        if isinstance(route, Mount):
            continue
        contexts = getattr(route, "effective_route_contexts", None)
        if contexts is not None:  # FastAPI's included routers
            found += [(c.path, set(c.methods or ())) for c in contexts()]
        elif getattr(route, "path", None):
            found.append((route.path, set(getattr(route, "methods", None) or ())))  # type: ignore[attr-defined]
    return found


def public_paths(app: FastAPI, values: dict[str, str]) -> list[str]:
    """Every GET route whose path parameters we can fill, with ours filled in."""
    paths: list[str] = []
    for path, methods in routes(app):
        if "GET" not in methods:
            continue
        names = PARAM.findall(path)
        if any(name not in values for name in names):
            continue
        paths.append(PARAM.sub(lambda m: values[m.group(1)], path))
    return sorted(set(paths))


CSRF = re.compile(r'(data-csrf|name="csrf_token" value)="[^"]*"')


def snapshot(
    client: TestClient, paths: list[str], cookie: tuple[str, str] | None = None
) -> dict[str, str]:
    """Each page as an anonymous visitor (or the holder of ``cookie``) sees it (per-session
    CSRF tokens blanked)."""
    out = {}
    for path in paths:
        client.cookies.clear()
        if cookie is not None:
            client.cookies.set(*cookie)
        out[path] = CSRF.sub(r'\1=""', client.get(path).text)
    return out


def audit_paths(log: str, size: int) -> list[str]:
    """The audit read API of a log of ``size`` entries: bodies, hashes, checkpoint, proofs."""
    return [
        f"/logs/{log}",
        f"/logs/{log}/key",
        f"/logs/{log}/checkpoint",
        f"/logs/{log}/entries?start=0&end={size}",
        f"/logs/{log}/tile/entries/000.p/{size}",
        f"/logs/{log}/tile/0/000.p/{size}",
        f"/logs/{log}/proof/inclusion?index={size - 1}",
        f"/logs/{log}/proof/consistency?first=1&second={size}",
    ]


def forms(data: bytes) -> list[str]:
    """``data`` as it could appear in a response: text, base64, base64url."""
    return [
        data.decode(),
        base64.b64encode(data).decode(),
        base64.urlsafe_b64encode(data).decode().rstrip("="),
    ]


def test_nothing_about_ballots_is_readable_while_open(
    app: FastAPI, client: TestClient, clock: FixedClock
) -> None:
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    election = open_election(ctx, clock)
    crowd = list(voters(ctx, client, election, VOTERS))
    for voter in crowd:
        voter.obtain_right()
    log = board_log_name(election)

    values = {
        "election_id": election,
        "name": log,
        "tracking_code": "AAAA-AAAA-AAAA-AAAA",
        "path": "entries/000.p/1",
    }
    paths = public_paths(app, values)
    paths += [f"/logs/{log}/entries?start=0&end=1", f"/elections/{election}/board?start=0"]
    assert f"/elections/{election}/board" in paths
    assert "/scrutins" in paths
    assert f"/scrutins/{election}/isoloir" in paths
    assert f"/logs/{log}/checkpoint" in paths
    before = snapshot(client, paths)
    dpo = session_cookie(ctx, DPO)
    assert dpo[0] == cookie_name(secure=ctx.settings.secure_cookies)
    service = audit.service_from(ctx)
    with ctx.db.read_session() as db:
        size_before = service.head(db, log=log).size
    staff_before = snapshot(client, paths + audit_paths(log, size_before), dpo)

    secrets: list[str] = []
    for voter in crowd:
        receipt = voter.vote({"parc": UNIQUE_OPTION, "budget": ["fresque"]})
        assert voter.right is not None
        token = voter.right.token.to_json()
        secrets += [str(token["msg"]), str(token["sig"]), str(token["msg_prefix"])]
        values["tracking_code"] = receipt["tracking_code"]
    # The boundary passes: the batch goes on the (sealed) board.
    assert service_from(ctx).integrate_batches(force=True) == VOTERS
    paths = sorted(set(paths) | set(public_paths(app, values)))
    after = snapshot(client, paths)
    # What may change when people vote: counts of ballots and the board's commitments and
    # checkpoints (the tree grows), the receipt now found, the metrics' request counters.
    changing = {
        f"/elections/{election}",
        "/elections",
        f"/elections/{election}/board",
        f"/elections/{election}/board?start=0",
        f"/elections/{election}/checkpoint",
        f"/elections/{election}/receipts/{values['tracking_code']}",
        f"/logs/{log}",
        f"/logs/{log}/checkpoint",
        "/metrics",
        "/scrutins",
    }

    for path, text in after.items():
        for secret in secrets:
            assert secret not in text, path
        if text == before.get(path):
            continue  # unchanged by the votes: it cannot say anything about them
        assert path in changing, path
        assert '"choices"' not in text, path
        assert '"ballot_sig"' not in text, path
        assert text.count(UNIQUE_OPTION) == before.get(path, "").count(UNIQUE_OPTION), path
        assert text.count("fresque") == before.get(path, "").count("fresque"), path
    # The raw board log is closed to the public in the audit read API.
    for path in (f"/logs/{log}/entries?start=0&end=1", f"/logs/{log}/tile/entries/000.p/1"):
        assert client.get(path).status_code in {401, 403}, path

    # A DPO may read non-public logs, but not a sealed one: every GET route and the audit
    # read API of the board (entries, bundles, hashes, proofs) and of the audit trail.
    service.integrate()
    with ctx.db.read_session() as db:
        size = service.head(db, log=log).size
        trail = service.head(db, log=audit.DEFAULT_LOG).size
        board = service.entries(db, log=log, start=0, end=size, reveal_sealed=True)
    ballots = [e.data for e in board if e.data.startswith(b'{"cast":')]
    assert len(ballots) == VOTERS
    staff_paths = sorted(
        set(paths) | set(audit_paths(log, size)) | set(audit_paths(audit.DEFAULT_LOG, trail))
    )
    staff_after = snapshot(client, staff_paths, dpo)
    for path in (
        f"/logs/{log}/entries?start=0&end={size}",
        f"/logs/{log}/tile/entries/000.p/{size}",
    ):
        assert '"title":"Log sealed"' in staff_after[path], path
    assert '"entries"' in staff_after[f"/logs/audit/entries?start=0&end={trail}"]
    for path, text in staff_after.items():
        for secret in secrets:
            assert secret not in text, path
        for ballot in ballots:
            assert all(form not in text for form in forms(ballot)), path
        previous = staff_before.get(path)
        if text == previous:
            continue
        assert '"choices"' not in text, path
        assert '"ballot_sig"' not in text, path
        assert text.count(UNIQUE_OPTION) == (previous or "").count(UNIQUE_OPTION), path
    # The audit trail's entries, decoded, hold no ballot either (ballot never writes one).
    client.cookies.clear()
    client.cookies.set(*dpo)
    entries = client.get(f"/logs/audit/entries?start=0&end={trail}").json()["entries"]
    for entry in entries:
        data = base64.b64decode(entry["data"]).decode()
        assert UNIQUE_OPTION not in data
        assert all(secret not in data for secret in secrets)

    # ``parvis audit`` on the same database reads no entry of the sealed board.
    env = {
        "PARVIS_MODE": "test",
        "PARVIS_DATABASE_URL": ctx.settings.database_url,
        "PARVIS_DATA_DIR": str(ctx.settings.data_dir),
    }
    runner = CliRunner()
    for args, code in (
        (["verify"], 1),
        (["checkpoint"], 0),
        (["key"], 0),
        (["proof", "--index", str(size - 1)], 0),
        (["proof", "--consistency", "1", str(size)], 0),
    ):
        result = runner.invoke(build_cli(), ["audit", *args, "--log", log], env=env)
        assert result.exit_code == code, (args, result.output)
        if code:
            assert "sealed" in result.output
        for ballot in ballots:
            assert all(form not in result.output for form in forms(ballot)), args
        assert all(secret not in result.output for secret in secrets), args
    # Results and the full export wait for publication.
    assert client.get(f"/elections/{election}/results").status_code == 404
    assert client.get(f"/scrutins/{election}/resultats").status_code == 404
    board = client.get(f"/elections/{election}/board").json()
    assert board["ballots"] == VOTERS
    assert "entries" not in board


def test_the_board_is_unsealed_at_the_close_only_from_the_anonymity_set(
    app: FastAPI, client: TestClient, clock: FixedClock
) -> None:
    """Sealed before the manifest (the seal is audited with the opening officer), unsealed
    by the close when enough ballots were cast; below the minimum anonymity set it stays
    sealed for good — individual ballots are never to be read, only aggregates — while the
    tally and the export still work."""
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    service = service_from(ctx)
    trail = audit.service_from(ctx)
    enough = open_election(ctx, clock, min_anonymity_set=1)
    few = open_election(ctx, clock, min_anonymity_set=3)
    for election in (enough, few):
        voter = next(voters(ctx, client, election, 1))
        voter.obtain_right()
        voter.vote({"parc": UNIQUE_OPTION, "budget": []})
    later(clock)
    for election in (enough, few):
        service.close(election_id=election, actor=OFFICER.audit_actor)
        service.tally(election_id=election, actor=OFFICER.audit_actor)
        service.publish(election_id=election, actor=OFFICER.audit_actor)
    with ctx.db.read_session() as db:
        assert trail.log_info(db, log=board_log_name(enough)).sealed is False
        assert trail.log_info(db, log=board_log_name(few)).sealed is True
        changes = [
            (e.event_type, e.actor, (e.details or {})["log"])
            for e in trail.query(db, event_type="audit.log.sealed")
            + trail.query(db, event_type="audit.log.unsealed")
        ]
    # Each election's issuance register is sealed at the opening too, and stays so: its
    # entries are for scrutineers only (ballot-secrecy.md §3).
    assert changes == [
        ("audit.log.sealed", OFFICER.audit_actor, board_log_name(enough)),
        ("audit.log.sealed", OFFICER.audit_actor, register_log_name(enough)),
        ("audit.log.sealed", OFFICER.audit_actor, board_log_name(few)),
        ("audit.log.sealed", OFFICER.audit_actor, register_log_name(few)),
        ("audit.log.unsealed", OFFICER.audit_actor, board_log_name(enough)),
    ]
    sign_in_dpo = session_cookie(ctx, DPO)
    for election, status in ((enough, 200), (few, 403)):
        client.cookies.clear()
        client.cookies.set(*sign_in_dpo)
        response = client.get(f"/logs/{board_log_name(election)}/entries?start=0&end=2")
        assert response.status_code == status, response.text
    # Below the threshold, results are aggregates and the export withholds the ballot.
    results = client.get(f"/elections/{few}/results").json()
    assert results["publication"] == "aggregate"
    exported = service.export(few)["entries"]
    assert not any("cast" in entry for entry in exported)
    assert sum("withheld" in entry for entry in exported) == 1
