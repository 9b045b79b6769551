"""Bad ballots and bad token requests get precise 4xx problems (docs/ballot-api.md slugs),
on every ballot type, and none of them leaves anything in the ballot box."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from ballot.tables import BallotRow
from ballot.token import b64u_decode, b64u_encode
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from tests.ballot.elections import (
    ALL_TYPES,
    GOOD_ALL,
    Voter,
    open_election,
    post_anonymously,
    setup_rule,
    voters,
)

PROBLEM = "tag:parvis.fr,2026:problem/"


def problem(response: Any, status: int, slug: str) -> str:
    assert response.status_code == status, (slug, response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"] == PROBLEM + slug, body
    assert body["status"] == status
    detail: str = body.get("detail", "")
    return detail


def with_choice(**changes: Any) -> dict[str, Any]:
    return {**GOOD_ALL, **changes}


def test_bad_ballots_get_precise_problems(
    app: FastAPI, client: TestClient, clock: FixedClock
) -> None:
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    election = open_election(ctx, clock, questions=ALL_TYPES)
    other = open_election(ctx, clock, questions=ALL_TYPES)
    voter, stranger = voters(ctx, client, election, 2)
    voter.obtain_right()
    outsider: Voter = Voter(client, other, stranger.cookie, stranger.csrf)
    outsider.obtain_right()

    rule_breaks = {
        "wrong type (single given a list)": with_choice(parc=["gare"]),
        "unknown option": with_choice(parc="piscine-olympique"),
        "over budget": with_choice(budget=["jardin", "velos", "fresque"]),
        "approval: not exactly 2": with_choice(quartiers=["nord", "sud", "est"]),
        "approval: out of option order": with_choice(quartiers=["est", "nord"]),
        "majority judgment: a grade missing": with_choice(jugement={"piscine": 1}),
        "majority judgment: grade out of scale": with_choice(jugement={"piscine": 0, "stade": 9}),
        "ranked: an option twice": with_choice(classement=["a", "a"]),
        "unknown question": {**GOOD_ALL, "mairie": "oui"},
        "missing question": {k: v for k, v in GOOD_ALL.items() if k != "budget"},
    }
    for case, choices in rule_breaks.items():
        detail = problem(voter.post_cast(voter.cast_request(choices)), 422, "invalid-ballot")
        assert detail, case
    assert "over the envelope of 1000" in problem(
        voter.post_cast(voter.cast_request(with_choice(budget=["jardin", "velos", "fresque"]))),
        422,
        "invalid-ballot",
    )

    good = json.loads(voter.cast_request(GOOD_ALL))

    def altered(path: tuple[str, ...], value: Any) -> bytes:
        copy = json.loads(json.dumps(good))
        target = copy
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        return json.dumps(copy).encode()

    msg = b64u_decode(good["token"]["msg"], field="msg")
    sig = bytearray(b64u_decode(good["token"]["sig"], field="sig"))
    sig[-1] ^= 1
    short_msg = b64u_encode(msg[:40])
    foreign_msg = b64u_encode(b"x" * 16 + msg[16:])
    forged = b64u_encode(bytes(sig))
    cases: list[tuple[str, bytes, int, str]] = [
        ("not JSON", b"{", 422, "malformed-cast"),
        ("duplicate member", b'{"token": 1, "token": 2}', 422, "malformed-cast"),
        ("missing member", altered(("ballot_sig",), None)[:-1] + b"}", 422, "malformed-cast"),
        ("short token message", altered(("token", "msg"), short_msg), 422, "malformed-cast"),
        ("other protocol", altered(("token", "msg"), foreign_msg), 422, "malformed-cast"),
        ("padded base64", altered(("token", "sig"), good["token"]["sig"] + "=="), 422,
         "malformed-cast"),
        ("seq zero", altered(("ballot", "seq"), 0), 422, "malformed-cast"),
        ("forged token signature", altered(("token", "sig"), forged), 403, "invalid-token"),
        ("choices changed after signing", altered(("ballot", "choices", "parc"), "tilleuls"),
         403, "invalid-ballot-signature"),
        ("another election", altered(("ballot", "election"), other), 422, "wrong-election"),
        ("huge payload", altered(("ballot", "choices", "parc"), "x" * 70_000), 413,
         "ballot-too-large"),
    ]  # fmt: skip
    for case, body, status, slug in cases:
        assert problem(post_anonymously(client, election, body), status, slug) is not None, case

    # A token of another election, presented here.
    foreign = outsider.cast_request(GOOD_ALL)
    problem(post_anonymously(client, election, foreign), 422, "wrong-election")
    # Neither JSON media type nor a known election.
    plain = client.post(
        f"/elections/{election}/ballots", content=b"{}", headers={"Content-Type": "text/plain"}
    )
    problem(plain, 415, "unsupported-media-type")
    problem(
        post_anonymously(client, "not-a-uuid", voter.cast_request(GOOD_ALL)),
        404,
        "election-not-found",
    )
    nowhere = "00000000-0000-4000-8000-000000000000"
    problem(
        post_anonymously(client, nowhere, voter.cast_request(GOOD_ALL)), 404, "election-not-found"
    )
    # Over the server's body limit: refused before any parsing (about:blank problem).
    big = client.post(
        f"/elections/{election}/ballots",
        content=b" " * 1_100_000,
        headers={"Content-Type": "application/json"},
    )
    assert big.status_code == 413

    with ctx.db.read_session() as db:
        assert db.scalar(select(func.count()).select_from(BallotRow)) == 0
    # The voter's right is intact: the good ballot is still accepted.
    assert voter.post_cast(voter.cast_request(GOOD_ALL)).status_code == 201


def test_bad_token_requests_get_precise_problems(
    app: FastAPI, client: TestClient, clock: FixedClock
) -> None:
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    election = open_election(ctx, clock)
    voter: Voter = next(voters(ctx, client, election, 1))
    path = f"/elections/{election}/tokens"
    no_csrf = {"Cookie": f"{voter.cookie[0]}={voter.cookie[1]}"}
    assert voter.csrf is not None
    cookie = {**no_csrf, "X-CSRF-Token": voter.csrf}
    problem(client.post(path, json={"blinded_msg": "AAAA"}), 401, "unauthenticated")
    # A signed-in citizen's state-changing call carries the session's CSRF token
    # (docs/ballot-api.md): without it, or with another, nothing is checked or signed.
    problem(client.post(path, json={"blinded_msg": "AAAA"}, headers=no_csrf), 403, "csrf")
    forged = {**no_csrf, "X-CSRF-Token": voter.csrf + "x"}
    problem(client.post(path, json={"blinded_msg": "AAAA"}, headers=forged), 403, "csrf")
    problem(client.post(path, json={"blinded_msg": "AAAA"}, headers=cookie), 422, "blind-input")
    problem(client.post(path, json={"blinded_msg": "###"}, headers=cookie), 422, "blind-input")
    too_big = b64u_encode(b"\xff" * 256)  # ≥ n: out of range
    problem(client.post(path, json={"blinded_msg": too_big}, headers=cookie), 422, "blind-input")
    extra = client.post(path, json={"blinded_msg": "AAAA", "more": 1}, headers=cookie)
    assert extra.status_code == 422
    # None of these recorded a token: the voter still gets one.
    voter.obtain_right()
