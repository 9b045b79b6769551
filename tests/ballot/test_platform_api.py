"""Platforms delegate voting (docs/ballot-api.md, "Platform API"; ADR 0007): a participation
platform, authenticated as an API client of its controller with an OAuth 2.0 client-credentials
access token (scope ``api:ballot``; ADR 0007, the same mechanism as the consent API), creates and
edits its draft elections, reads their status, URLs and results, and gets booth links with a return
URL — and never anything that links a citizen to a ballot (SQLite and PostgreSQL)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import FastAPI
from fastapi.testclient import TestClient

from ballot.links import check_return_url
from ballot.service import service_from
from consent.clients import link_client
from consent.loader import load_document
from identity.oidc.clients import Registration
from identity.oidc.service import oidc_from
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from tests.ballot.elections import (
    GOOD_CHOICES,
    definition,
    later,
    seed_census,
    setup_rule,
    voters,
)
from tests.consent.factories import catalogue

API = "/api/ballot/v1"


@dataclass(frozen=True)
class ApiPlatform:
    """A platform's OAuth client (scope ``api:ballot``) linked to its controller."""

    client: TestClient
    client_id: str
    secret: str

    def token(self) -> str:
        """A fresh access token (RFC 6749 §4.4, client_secret_basic): the test moves the
        clock by days, far beyond a token's ten minutes."""
        response = self.client.post(
            "/token",
            data={"grant_type": "client_credentials", "scope": "api:ballot"},
            auth=(self.client_id, self.secret),
        )
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token


def _platform(ctx: AppContext, client: TestClient, client_id: str, controller: str) -> ApiPlatform:
    registration = Registration(
        client_id=client_id, name=client_id, redirect_uris=(), scopes=("api:ballot",)
    )
    with ctx.db.write_session() as db:
        secret = oidc_from(ctx).clients.create(db, registration)
        link_client(
            ctx, db, client_id=client_id, controller_id=controller, name=client_id,
            actor="staff:admin",
        )  # fmt: skip
    assert secret is not None
    return ApiPlatform(client, client_id, secret)


def keys(ctx: AppContext, client: TestClient) -> tuple[ApiPlatform, ApiPlatform]:
    doc = catalogue()
    doc["controllers"].append(catalogue(controller_id="ville-voisine")["controllers"][0])
    for purpose in doc["controllers"][1]["purposes"]:
        purpose["id"] = "voisine-" + purpose["id"]
    with ctx.db.write_session() as db:
        load_document(ctx, db, doc, actor="staff:dpo")
    ours = _platform(ctx, client, "decidim", "ville-exemple")
    theirs = _platform(ctx, client, "consul", "ville-voisine")
    return ours, theirs


def bearer(key: ApiPlatform | str) -> dict[str, str]:
    token = key if isinstance(key, str) else key.token()
    return {"Authorization": f"Bearer {token}"}


def test_a_platform_runs_its_elections_through_the_api(
    app: FastAPI, client: TestClient, clock: FixedClock
) -> None:
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    ours, theirs = keys(ctx, client)

    missing = client.get(f"{API}/elections")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == 'Bearer realm="parvis"'
    assert client.get(f"{API}/elections", headers=bearer("decidim.wrong")).status_code == 401
    assert client.get(f"{API}/elections", headers=bearer("A" * 43)).status_code == 401

    spec = definition(clock)
    created = client.post(f"{API}/elections", json=spec, headers=bearer(ours))
    assert created.status_code == 201, created.text
    status: dict[str, Any] = created.json()
    election = status["id"]
    assert status["status"] == "draft"
    assert status["links"]["booth"] == f"http://127.0.0.1:8000/scrutins/{election}/isoloir"

    spec["title"] = {"fr": "Budget participatif 2026 (révisé)"}
    edited = client.put(f"{API}/elections/{election}", json=spec, headers=bearer(ours))
    assert edited.status_code == 200
    assert edited.json()["title"]["fr"].endswith("(révisé)")
    invalid = client.put(
        f"{API}/elections/{election}", json={**spec, "questions": []}, headers=bearer(ours)
    )
    assert invalid.status_code == 422
    assert invalid.json()["type"].endswith("/invalid-election")

    # Another platform sees nothing of it; the public neither, while it is a draft.
    assert client.get(f"{API}/elections/{election}", headers=bearer(theirs)).status_code == 404
    assert client.get(f"{API}/elections", headers=bearer(theirs)).json() == {"elections": []}
    assert client.get(f"/elections/{election}").status_code == 404
    listed = client.get(f"{API}/elections", headers=bearer(ours)).json()["elections"]
    assert [e["id"] for e in listed] == [election]

    # Officers run the lifecycle; a platform cannot edit a scheduled election.
    service = service_from(ctx)
    service.schedule(election_id=election, actor="staff:officer")
    frozen = client.put(f"{API}/elections/{election}", json=spec, headers=bearer(ours))
    assert frozen.status_code == 409
    seed_census(ctx, 1000)  # the manifest counts the town's census at the opening
    service.open(election_id=election, actor="staff:officer")

    link = client.post(
        f"{API}/elections/{election}/booth-link",
        json={"return_url": "https://decidim.example.fr/processes/budget?step=3"},
        headers=bearer(ours),
    )
    assert link.status_code == 200, link.text
    url = urlsplit(link.json()["url"])
    assert url.path == f"/scrutins/{election}/isoloir"
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert (
        check_return_url(ctx, election_id=election, return_url=query["retour"], sig=query["sig"])
        == "https://decidim.example.fr/processes/budget?step=3"
    )
    assert check_return_url(
        ctx, election_id=election, return_url="https://evil.example/", sig=query["sig"]
    ) is None  # fmt: skip
    plain = client.post(
        f"{API}/elections/{election}/booth-link",
        json={"return_url": "http://decidim.example.fr/"},
        headers=bearer(ours),
    )
    assert plain.status_code == 422

    voter = next(voters(ctx, client, election, 1))
    voter.obtain_right()
    voter.vote(GOOD_CHOICES)
    open_status = client.get(f"{API}/elections/{election}", headers=bearer(ours)).json()
    assert open_status["status"] == "open"
    assert open_status["links"]["board"].endswith(f"/elections/{election}/board")
    assert client.get(f"{API}/elections/{election}/results", headers=bearer(ours)).status_code == (
        404
    )
    later(clock)
    service.close(election_id=election, actor="staff:officer")
    service.tally(election_id=election, actor="staff:officer")
    service.publish(election_id=election, actor="staff:officer")
    results = client.get(f"{API}/elections/{election}/results", headers=bearer(ours)).json()
    assert results["ballots"] == 1
    # Nothing the platform can read names a citizen or a token.
    everything = str(client.get(f"{API}/elections", headers=bearer(ours)).json()) + str(results)
    assert voter.cookie[1] not in everything
    pseudonyms = service_pseudonyms(ctx)
    assert pseudonyms
    assert not any(p in everything for p in pseudonyms)


def service_pseudonyms(ctx: AppContext) -> set[str]:
    from sqlalchemy import select

    from ballot.tables import VoterRow

    with ctx.db.read_session() as db:
        return set(db.scalars(select(VoterRow.citizen)))


def test_the_platform_api_is_in_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        f"{API}/elections",
        f"{API}/elections/{{election_id}}",
        f"{API}/elections/{{election_id}}/results",
        f"{API}/elections/{{election_id}}/booth-link",
        "/elections/{election_id}/ballots",
        "/elections/{election_id}/tokens",
        "/elections/{election_id}/board",
        "/elections/{election_id}/receipts/{tracking_code}",
    ):
        assert path in paths, path
    cast = paths["/elections/{election_id}/ballots"]["post"]
    assert cast["requestBody"]["content"]["application/json"]["schema"]["required"] == [
        "token",
        "ballot",
        "ballot_sig",
    ]
