"""Inclusion proofs read through tiles (ballot/tiles.py) equal the audit engine's own proofs,
at sizes with full tiles, partial tiles and a level-8 tile (SQLite and PostgreSQL)."""

from __future__ import annotations

import random

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import audit
from ballot.tiles import TileCache, TileReader
from parvis.kernel.context import AppContext

LOG = "board-tiles-test"


def test_tile_proofs_equal_the_audit_engines(app: FastAPI, client: TestClient) -> None:
    del client  # its lifespan closes the database pool at the end
    ctx: AppContext = app.state.ctx
    service = audit.service_from(ctx)
    with ctx.db.write_session() as db:
        service.ensure_log(db, name=LOG, public=False)
        service.append_many(db, log=LOG, data=[b"entry %d" % i for i in range(700)])
    assert service.integrate(log=LOG) == 700
    rng = random.Random(7)
    cache = TileCache()
    with ctx.db.read_session() as db:
        for size in (1, 2, 255, 256, 257, 513, 700):
            reader = TileReader(service, db, log=LOG, size=size, cache=cache)
            for index in {0, size - 1, rng.randrange(size), rng.randrange(size)}:
                expected = service.inclusion_proof(db, log=LOG, index=index, size=size)
                assert reader.proof(index) == list(expected.proof), (size, index)
        reader = TileReader(service, db, log=LOG, size=700, cache=cache)
        leaves = {
            service.inclusion_proof(db, log=LOG, index=i, size=700).leaf_hash: i
            for i in (699, 650, 300)
        }
        assert reader.find(leaves) == leaves
        with pytest.raises(LookupError):
            reader.tile(0, 3)
