"""HTTP read API of the logs (audit-log.md, "Checkpoints"; the path layout is in ADR 0003, "Read API
and C2SP tlog-tiles").

``/logs/<name>/checkpoint`` and ``/logs/<name>/tile/...`` follow C2SP tlog-tiles
(https://c2sp.org/tlog-tiles), so existing witnesses, monitors and mirrors can read a Parvis
log; the JSON endpoints (log info, entries by index range, inclusion proof by index or by
leaf hash, consistency proof) are a thin layer beside it. Logs marked public are readable by
anyone; the audit log only by a signed-in DPO (``Role.DPO``). Bad parameters become
problem+json 4xx through the problem table (rows in :mod:`audit.plugin`).
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

from fastapi import Depends, Query
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy.orm import Session

from audit.errors import RangeTooLargeError, TreeRangeError
from audit.service import MAX_ENTRIES, AuditService, LogInfo, service_from
from audit.tiles import TILE_WIDTH, parse_tile_path
from parvis.kernel.context import AppContext
from parvis.kernel.errors import InvalidInputError
from parvis.kernel.principal import Principal, Role, require_role
from parvis.kernel.web import api_router, current_principal, get_ctx

__all__ = ["router"]

router = api_router(prefix="/logs", tags=["logs"])

Ctx = Annotated[AppContext, Depends(get_ctx)]
Who = Annotated[Principal, Depends(current_principal)]
NonNegative = Annotated[int, Query(ge=0)]


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _readable(service: AuditService, session: Session, name: str, who: Principal) -> LogInfo:
    """The log, if the caller may read it: anyone for a public log, a DPO otherwise."""
    info = service.log_info(session, log=name)
    if not info.public:
        require_role(who, Role.DPO)
    return info


def _cache(info: LogInfo, *, immutable: bool) -> dict[str, str]:
    if not info.public:
        return {"Cache-Control": "private, no-store"}
    # tlog-tiles: full tiles and bundles never change; the checkpoint does.
    return {"Cache-Control": "public, max-age=31536000, immutable" if immutable else "no-cache"}


@router.get("/{name}")
def log_info(name: str, ctx: Ctx, who: Who) -> dict[str, Any]:
    """Origin, published verifier key, public flag and current size of a log."""
    service = service_from(ctx)
    with ctx.db.read_session() as session:
        info = _readable(service, session, name, who)
        size = service.head(session, log=name).size
    return {
        "name": info.name,
        "origin": info.origin,
        "verifier_key": info.verifier_key,
        "public": info.public,
        "size": size,
    }


@router.get("/{name}/key", response_class=PlainTextResponse)
def verifier_key(name: str, ctx: Ctx, who: Who) -> PlainTextResponse:
    """The verifier key text ``<origin>+<key id>+<base64 key>`` (C2SP signed-note)."""
    service = service_from(ctx)
    with ctx.db.read_session() as session:
        info = _readable(service, session, name, who)
    return PlainTextResponse(info.verifier_key + "\n", headers=_cache(info, immutable=False))


@router.get("/{name}/checkpoint", response_class=PlainTextResponse)
def checkpoint(name: str, ctx: Ctx, who: Who) -> PlainTextResponse:
    """The latest signed checkpoint (C2SP tlog-checkpoint), ``text/plain``."""
    service = service_from(ctx)
    with ctx.db.read_session() as session:
        info = _readable(service, session, name, who)
        note = service.checkpoint(session, log=name)
    return PlainTextResponse(note, headers=_cache(info, immutable=False))


@router.get("/{name}/entries")
def entries(name: str, ctx: Ctx, who: Who, start: NonNegative, end: NonNegative) -> dict[str, Any]:
    """Entries ``[start, end)`` (at most 1000), data and leaf hashes in base64."""
    if start > end:
        raise TreeRangeError(f"start {start} is after end {end}")
    if end - start > MAX_ENTRIES:
        raise RangeTooLargeError(f"at most {MAX_ENTRIES} entries per request", limit=MAX_ENTRIES)
    service = service_from(ctx)
    with ctx.db.read_session() as session:
        _readable(service, session, name, who)
        found = service.entries(session, log=name, start=start, end=end)
    return {
        "entries": [
            {"index": e.index, "leaf_hash": _b64(e.leaf_hash), "data": _b64(e.data)} for e in found
        ]
    }


def _leaf_hash_param(text: str) -> bytes:
    # Standard or URL-safe base64: "+" in a query string is easily mangled into a space.
    try:
        raw = base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
    except binascii.Error:
        raise InvalidInputError("leaf_hash is not base64") from None
    if len(raw) != 32:
        raise InvalidInputError("leaf_hash is not 32 bytes")
    return raw


@router.get("/{name}/proof/inclusion")
def inclusion(
    name: str,
    *,
    ctx: Ctx,
    who: Who,
    index: Annotated[int | None, Query(ge=0)] = None,
    leaf_hash: Annotated[str | None, Query(max_length=64)] = None,
    size: Annotated[int | None, Query(ge=1)] = None,
) -> dict[str, Any]:
    """Inclusion proof by ``index`` or by ``leaf_hash`` (base64) in the tree of ``size``
    (default: the latest checkpoint). ``{"index", "tree_size", "leaf_hash", "root",
    "proof"}``, hashes in base64."""
    if (index is None) == (leaf_hash is None):
        raise InvalidInputError("give exactly one of index and leaf_hash")
    service = service_from(ctx)
    with ctx.db.read_session() as session:
        _readable(service, session, name, who)
        if leaf_hash is not None:
            index = service.index_of(
                session, log=name, leaf_hash=_leaf_hash_param(leaf_hash), size=size
            )
        assert index is not None
        proof = service.inclusion_proof(session, log=name, index=index, size=size)
    return proof.to_json()


@router.get("/{name}/proof/consistency")
def consistency(
    name: str,
    *,
    ctx: Ctx,
    who: Who,
    first: Annotated[int, Query(ge=1)],
    second: Annotated[int, Query(ge=1)],
) -> dict[str, Any]:
    """Consistency proof between the trees of sizes ``first`` and ``second``:
    ``{"from", "to", "proof"}``."""
    if first > second:
        raise TreeRangeError(f"first size {first} is larger than second size {second}")
    service = service_from(ctx)
    with ctx.db.read_session() as session:
        _readable(service, session, name, who)
        proof = service.consistency_proof(session, log=name, first=first, second=second)
    return proof.to_json()


@router.get("/{name}/tile/{path:path}", response_class=Response)
def tile(name: str, path: str, ctx: Ctx, who: Who) -> Response:
    """C2SP tlog-tiles: ``tile/<L>/<N>[.p/<W>]`` hash tiles and ``tile/entries/<N>[.p/<W>]``
    entry bundles, for the latest tree."""
    coordinates = parse_tile_path(path)
    service = service_from(ctx)
    with ctx.db.read_session() as session:
        info = _readable(service, session, name, who)
        body = service.tile(session, log=name, tile=coordinates)
    return Response(
        body,
        media_type="application/octet-stream",
        headers=_cache(info, immutable=coordinates.width == TILE_WIDTH),
    )
