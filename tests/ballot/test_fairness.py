"""Fairness (voting-protocol.md, "Fairness: nothing readable before the close"): walk every
public GET endpoint and page of the application while an election is open, before and after
every voter chose the same unusual option, and find no ballot content and no running total.

The option's id is in the manifest, so it is public; what must not change when people vote
is how often it appears anywhere. Ballot signatures, token messages and the word ``choices``
must appear nowhere at all. The audit read API must refuse the board's raw log to anyone.
"""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import Mount

from ballot.service import board_log_name
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from tests.ballot.elections import UNIQUE_OPTION, open_election, setup_rule, voters

PARAM = re.compile(r"{([a-z_]+)(?::path)?}")
VOTERS = 4


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


def snapshot(client: TestClient, paths: list[str]) -> dict[str, str]:
    """Each page as an anonymous visitor sees it (per-session CSRF tokens blanked)."""
    out = {}
    for path in paths:
        client.cookies.clear()
        out[path] = CSRF.sub(r'\1=""', client.get(path).text)
    return out


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

    secrets: list[str] = []
    for voter in crowd:
        receipt = voter.vote({"parc": UNIQUE_OPTION, "budget": ["fresque"]})
        assert voter.right is not None
        token = voter.right.token.to_json()
        secrets += [str(token["msg"]), str(token["sig"]), str(token["msg_prefix"])]
        values["tracking_code"] = receipt["tracking_code"]
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
    # Results and the full export wait for publication.
    assert client.get(f"/elections/{election}/results").status_code == 404
    assert client.get(f"/scrutins/{election}/resultats").status_code == 404
    board = client.get(f"/elections/{election}/board").json()
    assert board["ballots"] == VOTERS
    assert "entries" not in board
