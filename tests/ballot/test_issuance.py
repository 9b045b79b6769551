"""Token issuance (voting-protocol.md, "Token issuance"): eligibility, one token per citizen,
paper votes, rate limits, keys sealed at rest, the tagging defence, and a voter list that
shares nothing with the ballot box (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from ballot import rsabssa
from ballot.client import begin_issuance
from ballot.errors import UncommittedKeyError
from ballot.keys import KeyDecryptionError, open_rsa_key
from ballot.service import service_from
from ballot.tables import BallotRow, BoardRow, CommitmentRow, ElectionKeyRow, VoterRow
from consent import ExportContext
from consent.hooks import exporters
from parvis.app import create_app
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from parvis.kernel.principal import Citizen
from parvis.tables import metadata
from tests.ballot.elections import (
    AGENT,
    GOOD_CHOICES,
    Voter,
    later,
    make_citizen,
    open_election,
    session_cookie,
    setup_rule,
    signed_in,
    voters,
)


def slug(response: Any) -> str:
    return str(response.json()["type"]).rsplit("/", 1)[-1]


def test_only_eligible_citizens_get_one_token_while_open(
    app: FastAPI, client: TestClient, clock: FixedClock
) -> None:
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    service = service_from(ctx)
    with ctx.db.write_session() as db:
        from tests.ballot.elections import definition

        scheduled = service.create(db, data=definition(clock), actor="staff:t").id
    service.schedule(election_id=scheduled, actor="staff:t")
    election = open_election(ctx, clock)

    outsider = Voter(client, election, *signed_in(ctx, _citizen(make_citizen(ctx, eligible=False))))
    status = client.get(
        f"/elections/{election}/eligibility",
        headers={"Cookie": f"{outsider.cookie[0]}={outsider.cookie[1]}"},
    ).json()
    assert status == {
        "eligible": False,
        "reasons": ["no_residency_evidence"],
        "token_issued": False,
        "paper_vote": False,
    }
    refused = outsider.request_token(b"\x01" * 256)
    assert refused.status_code == 403
    assert slug(refused) == "not-eligible"
    assert "no_residency_evidence" in refused.json()["detail"]

    voter: Voter = next(voters(ctx, client, election, 1))
    early = Voter(client, scheduled, voter.cookie, voter.csrf).request_token(b"\x01" * 256)
    assert early.status_code == 409
    assert slug(early) == "election-state"
    voter.obtain_right()
    again = voter.request_token(b"\x01" * 256)
    assert again.status_code == 409
    assert slug(again) == "token-already-issued"
    status = client.get(
        f"/elections/{election}/eligibility",
        headers={"Cookie": f"{voter.cookie[0]}={voter.cookie[1]}"},
    ).json()
    assert status["token_issued"]
    assert not status["eligible"]

    # The board publishes the running count of tokens issued (coarse: a day, a count).
    assert service.publish_issuance(force=True) == 1
    assert service.publish_issuance(force=True) == 0  # nothing new
    board = client.get(f"/elections/{election}/board").json()
    assert board["tokens_issued"] == 1
    later(clock)
    late = next(voters(ctx, client, election, 1)).request_token(b"\x01" * 256)
    assert late.status_code == 409
    assert slug(late) == "election-state"


def _citizen(pseudonym: str) -> Citizen:
    return Citizen(pseudonym)


def test_paper_votes_and_tokens_exclude_each_other(
    app: FastAPI, client: TestClient, clock: FixedClock
) -> None:
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    election = open_election(ctx, clock, paper=True)
    agent = session_cookie(ctx, AGENT)
    online, on_paper = voters(ctx, client, election, 2)
    online.obtain_right()

    def mark(citizen: str) -> Any:
        return client.post(
            f"/elections/{election}/paper-voters",
            json={"citizen": citizen},
            headers={"Cookie": f"{agent[0]}={agent[1]}"},
        )

    pseudonym = _pseudonym(ctx, on_paper)
    assert mark(pseudonym).status_code == 201
    assert slug(mark(pseudonym)) == "paper-vote-recorded"
    refused = on_paper.request_token(b"\x01" * 256)
    assert refused.status_code == 409
    assert slug(refused) == "paper-vote-recorded"
    already = mark(_pseudonym(ctx, online))
    assert already.status_code == 409
    assert slug(already) == "token-already-issued"
    no_role = client.post(f"/elections/{election}/paper-voters", json={"citizen": pseudonym})
    assert no_role.status_code == 401

    # After the close an officer enters the paper totals; they appear separately.
    online.vote(GOOD_CHOICES)
    later(clock)
    service = service_from(ctx)
    service.close(election_id=election, actor="staff:t")
    officer = session_cookie(ctx, _officer())
    bad = client.put(
        f"/elections/{election}/paper-totals",
        json={"voters": 1, "counts": {"parc": {"piscine": 1}}},
        headers={"Cookie": f"{officer[0]}={officer[1]}"},
    )
    assert bad.status_code == 422
    assert slug(bad) == "paper-totals"
    good = client.put(
        f"/elections/{election}/paper-totals",
        json={"voters": 1, "counts": {"parc": {"tilleuls": 1}, "budget": {"bancs": 1}}},
        headers={"Cookie": f"{officer[0]}={officer[1]}"},
    )
    assert good.status_code == 200, good.text
    service.tally(election_id=election, actor="staff:t")
    service.publish(election_id=election, actor="staff:t")
    results = client.get(f"/elections/{election}/results").json()
    assert results["paper"]["voters"] == 1
    assert results["paper"]["counts"]["parc"] == {"tilleuls": 1, "gare": 0, "option-zq7": 0}
    assert results["results"]["questions"]["parc"]["counts"]["tilleuls"] == 0  # online only
    page = client.get(f"/scrutins/{election}/resultats")
    assert "Bulletins papier" in page.text


def _officer() -> Any:
    from tests.ballot.elections import OFFICER

    return OFFICER


def _pseudonym(ctx: AppContext, voter: Voter) -> str:
    with ctx.db.read_session() as db:
        loaded = ctx.sessions.load(db, voter.cookie[1])
    assert loaded is not None
    assert isinstance(loaded.principal, Citizen)
    return loaded.principal.pseudonym


def test_token_requests_are_rate_limited(make_settings: Any, clock: FixedClock) -> None:
    app = create_app(make_settings(ballot_token_attempts=2), clock=clock)
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    election = open_election(ctx, clock)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        voter: Voter = next(voters(ctx, client, election, 1))
        assert voter.request_token(b"\x01").status_code == 422
        assert voter.request_token(b"\x01").status_code == 422
        limited = voter.request_token(b"\x01")
        assert limited.status_code == 429
        assert slug(limited) == "rate-limited"


def test_keys_are_sealed_and_the_client_refuses_other_keys(
    app: FastAPI, client: TestClient, clock: FixedClock
) -> None:
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    election = open_election(ctx, clock)
    voter: Voter = next(voters(ctx, client, election, 1))
    manifest = voter.manifest()

    # Sealed at rest: the stored bytes hold neither the PKCS #8 key nor its prime factors,
    # and they open only under the master secret, for this election.
    with ctx.db.read_session() as db:
        sealed = db.scalars(select(ElectionKeyRow.rsa_key)).one()
    key = open_rsa_key(ctx.settings.sealing_secret, election_id=election, sealed=sealed)
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    numbers = key.private_numbers()
    for secret in (der[40:80], numbers.p.to_bytes(128, "big")[:32]):
        assert secret not in sealed
    assert rsabssa.key_id(key.public_key()) == manifest.issuer_key_id
    with pytest.raises(KeyDecryptionError):
        open_rsa_key("another-master-secret-of-32-characters!", election_id=election, sealed=sealed)
    with pytest.raises(KeyDecryptionError):
        open_rsa_key(ctx.settings.sealing_secret, election_id=str(uuid.uuid4()), sealed=sealed)

    # Tagging defence: a personal key (not the manifest's) is refused before blinding.
    personal = rsabssa.generate_key(2048)
    with pytest.raises(UncommittedKeyError):
        begin_issuance(
            personal.public_key(),
            election_id=manifest.election_id,
            committed_key_id=manifest.issuer_key_id,
        )
    voter.obtain_right()  # with the committed key, issuance completes


def test_the_voter_list_shares_nothing_with_the_ballot_box(
    app: FastAPI, client: TestClient, clock: FixedClock
) -> None:
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    election = open_election(ctx, clock)
    voter: Voter = next(voters(ctx, client, election, 1))
    manifest = voter.manifest()
    pending = begin_issuance(
        manifest.public_key(),
        election_id=manifest.election_id,
        committed_key_id=manifest.issuer_key_id,
    )
    response = voter.request_token(pending.blinded_msg)
    assert response.status_code == 200
    from ballot.token import b64u_decode

    voter.right = pending.finish(b64u_decode(response.json()["blind_sig"], field="s"))
    voter.vote(GOOD_CHOICES)

    voter_columns = set(VoterRow.__table__.columns.keys())
    box_columns = set(BallotRow.__table__.columns.keys()) | set(
        CommitmentRow.__table__.columns.keys()
    )
    assert voter_columns & box_columns == {"election_id"}
    assert "day" in voter_columns
    assert not {"time", "created_at"} & voter_columns
    # Nothing Parvis stores holds the blinded message, or the pseudonym next to a ballot.
    pseudonym = _pseudonym(ctx, voter)
    with ctx.db.read_session() as db:
        for table in metadata.sorted_tables:
            for row in db.execute(select(table)):
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        assert pending.blinded_msg not in bytes(value), table.name
                    if (
                        isinstance(value, str)
                        and table.name.startswith("ballot_")
                        and (table.name != "ballot_voters")
                    ):
                        assert pseudonym not in value, table.name

    # Art. 15: the ballot exporter says whether a token was issued, nothing more.
    with ctx.db.read_session() as db:
        exported = exporters()["ballot"](
            ExportContext(ctx=ctx, session=db, subject=pseudonym, scope="access")
        )
    assert exported == {
        "voting": [
            {
                "election": election,
                "title": "Budget participatif 2026",
                "token_issued": True,
                "paper_vote": False,
            }
        ]
    }


def test_issuance_stops_at_the_eligible_population(
    app: FastAPI, client: TestClient, clock: FixedClock
) -> None:
    """voting-protocol.md, "Verification": #tokens issued ≤ eligible population. The server
    holds it: once the manifest's population got tokens, the next citizen is refused before
    anything is recorded or signed, and the count published at close agrees."""
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    election = open_election(ctx, clock, population=2)
    crowd = list(voters(ctx, client, election, 3))
    for voter in crowd[:2]:
        voter.obtain_right()
    last = crowd[2]
    cookie = {"Cookie": f"{last.cookie[0]}={last.cookie[1]}"}
    status = client.get(f"/elections/{election}/eligibility", headers=cookie).json()
    assert status["eligible"] is False
    assert status["reasons"] == ["eligible_population_reached"]
    refused = last.request_token(b"\x01" * 256)
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["title"] == "Eligible population reached"
    assert refused.json()["type"] == "tag:parvis.fr,2026:problem/eligible-population-reached"
    assert "eligible population (2)" in refused.json()["detail"]
    service = service_from(ctx)
    with ctx.db.read_session() as db:
        voters_listed = db.scalars(select(VoterRow.citizen)).all()
        assert db.get(BoardRow, election).tokens_issued == 2  # type: ignore[union-attr]
    assert len(voters_listed) == 2
    assert all(v.right is not None for v in crowd[:2])
    later(clock)
    service.close(election_id=election, actor="staff:t")
    service.tally(election_id=election, actor="staff:t")
    assert service.export(election)["entries"][-1]["tokens_issued"] == 2
