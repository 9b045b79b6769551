"""HTTP read API (ADR 0003, "Read API and C2SP tlog-tiles"): public logs for anyone, the audit log
for DPOs; C2SP tlog-tiles paths; bad parameters answered with problem+json 4xx."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from audit import AuditService, merkle, service_from
from audit.note import VerifierKey, open_checkpoint
from audit.tiles import decode_bundle
from parvis.kernel.context import AppContext
from parvis.kernel.principal import Citizen, Role, Staff
from tests.audit.conftest import record_many
from tests.support.auth import sign_in

BOARD = [f'{{"ballot":{i}}}'.encode() for i in range(300)]
LEAVES = [merkle.leaf_hash(d) for d in BOARD]
PROBLEM = "tag:parvis.fr,2026:problem/"


@pytest.fixture
def ctx(app: FastAPI) -> AppContext:
    context: AppContext = app.state.ctx
    return context


@pytest.fixture
def filled(client: TestClient, ctx: AppContext) -> AuditService:
    service = service_from(ctx)
    with ctx.db.write_session() as session:
        service.ensure_log(session, name="board", public=True)
        service.append_many(session, log="board", data=BOARD)
    record_many(service, ctx, 3)
    service.integrate()
    return service


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def checkpoint_of(client: TestClient, log: str) -> tuple[int, bytes]:
    info = client.get(f"/logs/{log}").json()
    key = VerifierKey.parse(info["verifier_key"])
    response = client.get(f"/logs/{log}/checkpoint")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    checkpoint = open_checkpoint(response.text, origin=info["origin"], log_key=key).checkpoint
    return checkpoint.size, checkpoint.root_hash


def test_public_log_is_readable_by_anyone(client: TestClient, filled: AuditService) -> None:
    info = client.get("/logs/board").json()
    assert info == {
        "name": "board",
        "origin": "127.0.0.1:8000/board",
        "verifier_key": info["verifier_key"],
        "public": True,
        "size": 300,
    }
    assert client.get("/logs/board/key").text == info["verifier_key"] + "\n"
    size, root = checkpoint_of(client, "board")
    assert (size, root) == (300, merkle.root(LEAVES))

    entries = client.get("/logs/board/entries", params={"start": 298, "end": 300}).json()
    assert [base64.b64decode(e["data"]) for e in entries["entries"]] == BOARD[298:]

    by_index = client.get("/logs/board/proof/inclusion", params={"index": 17}).json()
    url_safe = base64.urlsafe_b64encode(LEAVES[17]).decode()
    by_hash = client.get(
        "/logs/board/proof/inclusion", params={"leaf_hash": url_safe, "size": 300}
    ).json()
    assert by_index == by_hash
    assert set(by_index) == {"index", "tree_size", "leaf_hash", "root", "proof"}
    merkle.verify_inclusion(
        leaf_hash=LEAVES[17],
        index=17,
        size=300,
        proof=[base64.b64decode(p) for p in by_index["proof"]],
        root=root,
    )
    consistency = client.get(
        "/logs/board/proof/consistency", params={"first": 100, "second": 300}
    ).json()
    assert (consistency["from"], consistency["to"]) == (100, 300)
    merkle.verify_consistency(
        size1=100,
        size2=300,
        root1=merkle.root(LEAVES[:100]),
        root2=root,
        proof=[base64.b64decode(p) for p in consistency["proof"]],
    )


def test_tiles_and_entry_bundles(client: TestClient, filled: AuditService) -> None:
    full = client.get("/logs/board/tile/0/000")
    assert full.headers["content-type"] == "application/octet-stream"
    assert "immutable" in full.headers["cache-control"]
    assert full.content == b"".join(LEAVES[:256])
    partial = client.get("/logs/board/tile/0/001.p/44")
    assert partial.content == b"".join(LEAVES[256:300])
    # Level 1 lists tree level 8: the root of the first 256 leaves (a stored node).
    assert client.get("/logs/board/tile/1/000.p/1").content == merkle.root(LEAVES[:256])
    bundle = client.get("/logs/board/tile/entries/001.p/44").content
    assert decode_bundle(bundle) == BOARD[256:]
    assert client.get("/logs/board/checkpoint").headers["cache-control"] == "no-cache"


def test_audit_log_is_for_dpos_only(client: TestClient, app: FastAPI, filled: AuditService) -> None:
    anonymous = client.get("/logs/audit/checkpoint")
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    sign_in(client, app, Citizen("abc"))
    assert client.get("/logs/audit/entries", params={"start": 0, "end": 1}).status_code == 401
    sign_in(client, app, Staff("agent-1", frozenset({Role.AGENT})))
    assert client.get("/logs/audit/tile/0/000.p/3").status_code == 403
    sign_in(client, app, Staff("dpo-1", frozenset({Role.DPO})))
    size, _root = checkpoint_of(client, "audit")
    assert size == 3
    response = client.get("/logs/audit/tile/0/000.p/3")
    assert response.headers["cache-control"] == "private, no-store"


#: (path, query parameters, status, problem slug): negative, beyond the size, from > to,
#: too large, malformed, unknown.
BAD_REQUESTS: list[tuple[str, dict[str, Any], int, str]] = [
    ("/logs/board/entries", {"start": -1, "end": 2}, 422, "validation"),
    ("/logs/board/entries", {"start": 5, "end": 2}, 422, "audit-tree-range"),
    ("/logs/board/entries", {"start": 0, "end": 301}, 422, "audit-tree-range"),
    ("/logs/board/entries", {"start": 0, "end": 1001}, 422, "audit-range-too-large"),
    ("/logs/board/entries", {"start": "x", "end": 1}, 422, "validation"),
    ("/logs/board/proof/inclusion", {"index": 300}, 422, "audit-tree-range"),
    ("/logs/board/proof/inclusion", {"index": 3, "size": 301}, 422, "audit-tree-range"),
    ("/logs/board/proof/inclusion", {"index": 3, "size": 2}, 422, "audit-tree-range"),
    ("/logs/board/proof/inclusion", {"index": -3}, 422, "validation"),
    ("/logs/board/proof/inclusion", {}, 422, "invalid-input"),
    ("/logs/board/proof/inclusion", {"leaf_hash": "%%%"}, 422, "invalid-input"),
    ("/logs/board/proof/inclusion", {"leaf_hash": b64(bytes(32))}, 422, "audit-tree-range"),
    ("/logs/board/proof/consistency", {"first": 9, "second": 3}, 422, "audit-tree-range"),
    ("/logs/board/proof/consistency", {"first": 0, "second": 3}, 422, "validation"),
    ("/logs/board/proof/consistency", {"first": 1, "second": 10**6}, 422, "audit-tree-range"),
    ("/logs/board/tile/0/001", {}, 422, "audit-tree-range"),
    ("/logs/board/tile/2/000.p/1", {}, 422, "audit-tree-range"),
    ("/logs/board/tile/0/0001", {}, 422, "audit-tree-range"),
    ("/logs/board/tile/entries/001.p/45", {}, 422, "audit-tree-range"),
    ("/logs/nope/checkpoint", {}, 404, "audit-unknown-log"),
    ("/logs/Bad..Name/checkpoint", {}, 422, "audit-log-name"),
]


def test_bad_parameters_get_problem_details(client: TestClient, filled: AuditService) -> None:
    # One database for all cases: each request is read-only.
    wrong = []
    for path, params, status, slug in BAD_REQUESTS:
        response = client.get(path, params=params)
        problem = (
            response.json().get("type")
            if response.headers.get("content-type") == "application/problem+json"
            else response.text
        )
        if (response.status_code, problem) != (status, PROBLEM + slug):
            wrong.append((path, params, response.status_code, problem))
    assert wrong == []
