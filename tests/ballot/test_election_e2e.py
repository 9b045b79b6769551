"""The voting protocol end to end through HTTP, step by step as voting-protocol.md tells it,
with the Python voter client (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

import audit
from ballot.board import tracking_code
from ballot.manifest import Manifest
from ballot.token import b64u_decode, b64u_encode
from ballot.verify import verify_board
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from tests.ballot.elections import (
    AGENT,
    OFFICER,
    Voter,
    check_receipt,
    definition,
    fetch_receipt,
    integrate,
    later,
    seed_census,
    session_cookie,
    setup_rule,
    voters,
)


def staff_call(client: TestClient, ctx: AppContext, method: str, path: str, **kw: Any) -> Any:
    name, value = session_cookie(ctx, OFFICER)
    response = client.request(method, path, headers={"Cookie": f"{name}={value}"}, **kw)
    assert response.status_code in {200, 201}, response.text
    return response.json()


def test_protocol_end_to_end(app: FastAPI, client: TestClient, clock: FixedClock) -> None:
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    # The town's census: 1000 residents (the manifest counts them when the election opens).
    seed_census(ctx, 1000)

    # An election officer defines the election, schedules it and opens it.
    draft = staff_call(client, ctx, "POST", "/elections", json=definition(clock))
    election = draft["id"]
    assert draft["status"] == "draft"
    assert draft["key_id"] is None
    assert client.get(f"/elections/{election}").status_code == 404  # drafts are not public
    assert staff_call(client, ctx, "POST", f"/elections/{election}/schedule")["status"] == (
        "scheduled"
    )
    assert client.get(f"/elections/{election}/manifest").status_code == 404
    agent_name, agent_cookie = session_cookie(ctx, AGENT)
    refused = client.post(
        f"/elections/{election}/open", headers={"Cookie": f"{agent_name}={agent_cookie}"}
    )
    assert refused.status_code == 403  # only an election officer moves an election on
    opened = staff_call(client, ctx, "POST", f"/elections/{election}/open")
    assert opened["status"] == "open"

    # Manifest first: entry 0 of the board, checkpointed, with the key id the booth checks.
    manifest = Manifest.from_json(client.get(f"/elections/{election}/manifest").json())
    assert opened["key_id"] == b64u_encode(manifest.issuer_key_id)
    assert manifest.eligible_population == 1000  # counted from the census, never typed
    assert manifest.revote
    board = client.get(f"/elections/{election}/board").json()
    assert board["size"] >= 1
    assert board["commitments"] == []

    # Three citizens obtain voting rights (blind signatures) and cast anonymously.
    alice, bob, carol = voters(ctx, client, election, 3)
    for voter in (alice, bob, carol):
        voter.obtain_right()
    again = alice.request_token(b"\x01" * 256)
    assert again.status_code == 409
    assert again.json()["type"].endswith("/token-already-issued")

    first = alice.vote({"parc": "gare", "budget": ["jardin", "bancs"]})
    bob.vote({"parc": "tilleuls", "budget": ["velos"]})
    carol.vote({"parc": "gare", "budget": []})
    for receipt in (first, *bob.receipts, *carol.receipts):
        # Answered at once, before the board takes the batch (ADR 0009): a signed promise.
        assert receipt["status"] == "pending"
        assert receipt["promise"] is not None
        assert receipt["tracking_code"] == tracking_code(
            b64u_decode(receipt["leaf_hash"], field="l")
        )
        check_receipt(receipt, manifest)

    # Alice re-votes (higher seq); an older seq is refused.
    assert alice.right is not None
    stale = alice.post_cast(alice.cast_request({"parc": "tilleuls", "budget": []}, seq=5))
    assert stale.status_code == 201
    replay = alice.right.cast({"parc": "gare", "budget": []}, seq=6)[1]
    older = alice.right.__class__(
        election_id=alice.right.election_id,
        token=alice.right.token,
        signing_key_seed=alice.right.signing_key_seed,
        last_seq=2,
    ).cast({"parc": "gare", "budget": []}, seq=3)[1]
    refused = alice.post_cast(older.to_json_bytes())
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("/stale-revote")
    final = alice.post_cast(replay.to_json_bytes())
    assert final.status_code == 201

    # Nothing on the board before the boundary: counts and commitments move only there.
    waiting = client.get(f"/elections/{election}/board").json()
    assert waiting["ballots"] == 0
    assert waiting["commitments"] == []
    pending = fetch_receipt(client, election, first["tracking_code"])
    assert pending["status"] == "pending"
    assert pending["appears_at"] == first["appears_at"]
    assert integrate(ctx) == 5

    # While open: commitments only (leaf hash and hash of the nullifier), and counts.
    board = client.get(f"/elections/{election}/board").json()
    assert board["status"] == "open"
    assert board["ballots"] == 5
    leaves = {c["leaf_hash"] for c in board["commitments"]}
    assert first["leaf_hash"] in leaves
    nullifier_hash = b64u_encode(
        hashlib.sha256(hashlib.sha256(alice.right.token.msg).digest()).digest()
    )
    assert sum(c["nullifier_hash"] == nullifier_hash for c in board["commitments"]) == 3
    assert all(set(c) == {"index", "leaf_hash", "nullifier_hash"} for c in board["commitments"])

    # A receipt can be looked up by tracking code (case and look-alikes forgiven).
    looked = client.get(
        f"/elections/{election}/receipts/{first['tracking_code'].lower().replace('O', '0')}"
    )
    assert looked.status_code == 200, looked.text
    check_receipt(looked.json(), manifest)
    assert looked.json()["status"] == "included"
    assert looked.json()["leaf_hash"] == first["leaf_hash"]

    # The close: ballots and tokens are refused from then on.
    later(clock)
    late_voter = next(voters(ctx, client, election, 1))
    closed = staff_call(client, ctx, "POST", f"/elections/{election}/close")
    assert closed["status"] == "closed"
    assert late_voter.request_token(b"\x01" * 256).status_code == 409
    late = bob.post_cast(bob.cast_request({"parc": "gare", "budget": []}))
    assert late.status_code == 409
    assert late.json()["type"].endswith("/election-state")

    # Tally and publication.
    staff_call(client, ctx, "POST", f"/elections/{election}/tally")
    assert client.get(f"/elections/{election}/results").status_code == 404
    staff_call(client, ctx, "POST", f"/elections/{election}/publish")
    results = client.get(f"/elections/{election}/results").json()
    assert results["ballots"] == 3
    assert results["tokens_issued"] == 3
    parc = results["results"]["questions"]["parc"]
    assert parc["counts"] == {"tilleuls": 1, "gare": 2, "option-zq7": 0}  # alice's last: gare
    assert results["publication"] == "individual"

    # Anyone re-verifies the published board, and finds Carol's receipt on it.
    export = client.get(f"/elections/{election}/board").json()
    report = verify_board(
        export, trusted_key=manifest.board_key, receipt=carol.receipts[0]["tracking_code"]
    )
    assert report.counted_ballots == 3
    assert report.recounted
    carol_now = fetch_receipt(client, election, carol.receipts[0]["tracking_code"])
    assert report.receipt_index == carol_now["index"] is not None

    # Every step was audited, with the officer as actor.
    with ctx.db.read_session() as db:
        steps = [
            e.event_type
            for e in audit.service_from(ctx).query(db, actor=OFFICER.audit_actor, limit=100)
            if e.event_type.startswith("ballot.election.")
        ]
    assert steps == [
        "ballot.election.created",
        "ballot.election.scheduled",
        "ballot.election.opened",
        "ballot.election.closed",
        "ballot.election.tallied",
        "ballot.election.published",
    ]

    page = client.get(f"/scrutins/{election}/resultats")
    assert page.status_code == 200
    assert '<svg class="chart"' in page.text
    assert "<table>" in page.text
    assert 'role="img"' in page.text
    assert "<desc" in page.text
    # Amounts as people read them (French: narrow no-break space between thousands, no-break
    # space before €), and each question's rule in words (board-format.md §6).
    assert "sur une enveloppe de 1\u202f000\u00a0€" in page.text
    assert "<td>400\u00a0€</td>" in page.text
    assert "le moins cher passe d’abord" in page.text
    assert "elles l’emportent toutes" in page.text


def test_aggregate_publication_below_the_anonymity_set(
    app: FastAPI, client: TestClient, clock: FixedClock
) -> None:
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    from tests.ballot.elections import open_election

    election = open_election(ctx, clock, min_anonymity_set=3)
    voter: Voter = next(voters(ctx, client, election, 1))
    voter.obtain_right()
    voter.vote({"parc": "gare", "budget": ["velos"]})
    voter.vote({"parc": "tilleuls", "budget": ["velos"]})
    manifest = voter.manifest()
    later(clock)
    from ballot.service import service_from

    service = service_from(ctx)
    service.close(election_id=election, actor="staff:t")
    service.tally(election_id=election, actor="staff:t")
    service.publish(election_id=election, actor="staff:t")
    export = client.get(f"/elections/{election}/board").json()
    assert not any(e.get("kind") == "ballot" for e in export["entries"])
    withheld = [e for e in export["entries"] if set(e) == {"withheld"}]
    assert len(withheld) == 2
    results = client.get(f"/elections/{election}/results").json()
    assert results["publication"] == "aggregate"
    assert results["ballots"] == 1
    report = verify_board(export, trusted_key=manifest.board_key)
    assert report.counted_ballots == 1
    assert not report.recounted
