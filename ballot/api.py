"""The ballot JSON API (``docs/ballot-api.md``): public board views, the citizen's token,
anonymous casting, staff lifecycle and paper votes.

Adapters only: parse, call :class:`~ballot.service.ElectionService`, render. Errors are
domain exceptions that the composition root turns into problem+json (rows in
:mod:`ballot.plugin`).

The casting endpoint is anonymous by construction: it has no dependency that reads the
session cookie, it sets none, and nothing here logs a request's address. Neither it nor the
token endpoint leaves an access-log line at all (``parvis.middleware.QUIET_ROUTES``,
ballot-secrecy.md §2): they are counted in ``/metrics`` only.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Final

from fastapi import Body, Depends, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

import identity
from ballot import register
from ballot.errors import (
    BallotTooLargeError,
    BlindInputError,
    IssuanceAuthenticationRequiredError,
)
from ballot.records import canonical_id
from ballot.service import ElectionService, IssuanceProof, service_from
from ballot.token import b64u_decode, b64u_encode
from parvis.kernel.context import AppContext
from parvis.kernel.errors import DomainError
from parvis.kernel.principal import Citizen, Principal, Role, Staff
from parvis.kernel.settings import Mode
from parvis.kernel.web import (
    UnsupportedMediaTypeError,
    api_router,
    csrf_header,
    current_principal,
    get_ctx,
    require_staff,
    signed_in_citizen,
    web_session,
)

__all__ = ["MAX_CAST_BYTES", "cast_router", "router"]

#: Largest cast request accepted: a ballot of 50 questions of 500 options fits easily.
MAX_CAST_BYTES: Final = 65_536

router = api_router(tags=["elections"])
#: The cast route alone, matched before every other route of the application (it is the
#: hot path of an election; ``DomainPlugin.hot_routers``).
cast_router = api_router(tags=["elections"])

Ctx = Annotated[AppContext, Depends(get_ctx)]
Who = Annotated[Principal, Depends(current_principal)]
#: ADR 0006, "Definitions, platforms, CLI": each transition by an election officer; paper
#: voters are marked by an agent (franceconnect.md, "An election's rule says").
Officer = Annotated[Staff, Depends(require_staff(Role.ELECTION_OFFICER))]
Agent = Annotated[Staff, Depends(require_staff(Role.AGENT))]
Scrutineer = Annotated[Staff, Depends(require_staff(Role.SCRUTINEER))]
SignedInCitizen = Annotated[Citizen, Depends(signed_in_citizen)]
#: The session's CSRF token in ``X-CSRF-Token``: every state-changing call of a signed-in
#: citizen (docs/ballot-api.md). After ``SignedInCitizen`` in a signature: 401 comes first.
CsrfChecked = Annotated[None, Depends(csrf_header)]
Definition = Annotated[dict[str, Any], Body(description="election definition (docs/ballot-api.md)")]


def _service(ctx: AppContext) -> ElectionService:
    return service_from(ctx)


def _sees_drafts(who: Principal) -> bool:
    return isinstance(who, Staff) and who.has(Role.ELECTION_OFFICER)


class TokenRequest(BaseModel):
    """RFC 9474 ``Blind`` output."""

    model_config = ConfigDict(extra="forbid")
    blinded_msg: str = Field(max_length=2048, description="B64U, modulus length bytes")


class TokenResponse(BaseModel):
    blind_sig: str = Field(description="B64U RFC 9474 BlindSign output")


class PaperVoter(BaseModel):
    model_config = ConfigDict(extra="forbid")
    citizen: str = Field(min_length=1, max_length=64, description="the citizen's pseudonym")


class PaperTotals(BaseModel):
    model_config = ConfigDict(extra="forbid")
    voters: int = Field(ge=0)
    counts: dict[str, dict[str, int]]


# -- public -----------------------------------------------------------------------------


@router.get("/elections", summary="Elections (drafts for election officers only)")
def list_elections(ctx: Ctx, who: Who) -> dict[str, Any]:
    service = _service(ctx)
    with ctx.db.read_session() as session:
        rows = service.elections(session, drafts=_sees_drafts(who))
        return {"elections": [service.status(session, row) for row in rows]}


@router.get("/elections/{election_id}", summary="An election's status")
def election_status(election_id: str, ctx: Ctx, who: Who) -> dict[str, Any]:
    service = _service(ctx)
    with ctx.db.read_session() as session:
        row = service.get(session, election_id, drafts=_sees_drafts(who))
        return service.status(session, row)


@router.get("/elections/{election_id}/manifest", summary="The election manifest (entry 0)")
def manifest(election_id: str, ctx: Ctx) -> dict[str, Any]:
    with ctx.db.read_session() as session:
        return _service(ctx).manifest(session, election_id)


@router.get(
    "/elections/{election_id}/board",
    summary="The bulletin board: commitments while not published, then the full export",
    response_model=None,
)
def board(
    election_id: str,
    ctx: Ctx,
    start: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 100_000,
) -> dict[str, Any] | Response:
    service = _service(ctx)
    with ctx.db.read_session() as session:
        row = service.get(session, election_id)
        if row.status != "published":
            return service.board_view(session, election_id, start=start, limit=limit)
    return StreamingResponse(service.export_chunks(election_id), media_type="application/json")


@router.get(
    "/elections/{election_id}/checkpoint",
    summary="The board's latest signed checkpoint (C2SP tlog-checkpoint)",
    response_class=PlainTextResponse,
)
def checkpoint(election_id: str, ctx: Ctx) -> str:
    with ctx.db.read_session() as session:
        return _service(ctx).checkpoint(session, election_id)


@router.get(
    "/elections/{election_id}/receipts/{tracking_code}",
    summary="A receipt by tracking code, with a fresh inclusion proof",
)
def receipt(election_id: str, tracking_code: str, ctx: Ctx) -> dict[str, Any]:
    with ctx.db.read_session() as session:
        return _service(ctx).receipt(session, election_id, tracking_code[:64])


@router.get("/elections/{election_id}/results", summary="Published results")
def results(election_id: str, ctx: Ctx) -> dict[str, Any]:
    with ctx.db.read_session() as session:
        return _service(ctx).results(session, election_id)


_CAST_SCHEMA: Final = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "description": "cast request (docs/board-format.md §4)",
                "required": ["token", "ballot", "ballot_sig"],
                "additionalProperties": False,
                "properties": {
                    "token": {
                        "type": "object",
                        "required": ["msg_prefix", "msg", "sig"],
                        "properties": {
                            "msg_prefix": {"type": "string"},
                            "msg": {"type": "string"},
                            "sig": {"type": "string"},
                        },
                    },
                    "ballot": {
                        "type": "object",
                        "required": ["election", "seq", "choices"],
                        "properties": {
                            "election": {"type": "string", "format": "uuid"},
                            "seq": {"type": "integer", "minimum": 1},
                            "choices": {"type": "object"},
                        },
                    },
                    "ballot_sig": {"type": "string"},
                },
            }
        }
    },
}


@cast_router.post(
    "/elections/{election_id}/ballots",
    summary="Cast a ballot (anonymous: no cookie, no authentication)",
    status_code=201,
    openapi_extra={"requestBody": _CAST_SCHEMA},
    response_model=None,
)
async def cast_ballot(election_id: str, request: Request) -> JSONResponse:
    """voting-protocol.md, "Casting". Verification runs here; the ballot box and the board
    are written by the process's committer in batches (:mod:`ballot.casting`)."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/json":
        raise UnsupportedMediaTypeError("cast requests are application/json")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_CAST_BYTES:
        raise BallotTooLargeError(f"a cast request is at most {MAX_CAST_BYTES} bytes")
    body = await request.body()
    if len(body) > MAX_CAST_BYTES:
        raise BallotTooLargeError(f"a cast request is at most {MAX_CAST_BYTES} bytes")
    service = _service(get_ctx(request))
    # Verification is CPU work (RSA-PSS, Ed25519, canonical JSON: about half a
    # millisecond) and runs here, on the event loop: spread over many threads it would only
    # fight for the GIL with the committer, whose latency sets the throughput. Only the
    # first ballot of an election in this process reads the manifest from the database,
    # on a worker thread.
    if service.knows(election_id):
        prepared = service.prepare_cast(election_id, body)
    else:
        prepared = await run_in_threadpool(service.prepare_cast, election_id, body)
    receipt = await asyncio.wrap_future(service.committer.submit(election_id, prepared))
    return JSONResponse(receipt, status_code=201)


# -- the signed-in citizen ----------------------------------------------------------------


@router.get(
    "/elections/{election_id}/eligibility", summary="Would a token be issued to me now, and why"
)
def eligibility(election_id: str, ctx: Ctx, citizen: SignedInCitizen) -> dict[str, Any]:
    return _service(ctx).eligibility(election_id=election_id, citizen=citizen.pseudonym)


class IssuanceRequest(TokenRequest):
    """The blinded message, and the page FranceConnect's round trip comes back to."""

    return_to: str | None = Field(
        default=None, max_length=300, description="a path of this site (default: the booth)"
    )


class IssuanceStart(BaseModel):
    authorize_url: str = Field(description="FranceConnect's authorization URL to go to")
    nonce: str = Field(description="B64U(SHA-256('parvis-issuance-v1' ‖ id ‖ SHA-256(blinded)))")


def _blinded(body: TokenRequest) -> bytes:
    try:
        return b64u_decode(body.blinded_msg, field="blinded_msg")
    except DomainError as exc:
        raise BlindInputError(str(exc)) from None


@router.post(
    "/elections/{election_id}/issuance",
    summary="Start the FranceConnect authentication that backs one token (send the blinded "
    "message first)",
)
def start_issuance(
    election_id: str,
    body: IssuanceRequest,
    ctx: Ctx,
    citizen: SignedInCitizen,
    _csrf: CsrfChecked,
    response: Response,
) -> IssuanceStart:
    """ballot-secrecy.md §3: the booth sends its blinded message, gets FranceConnect's URL
    with ``nonce = B64U(SHA-256("parvis-issuance-v1" ‖ election id ‖ SHA-256(blinded)))``;
    after the round trip, ``POST …/tokens`` with the same blinded message gets the
    signature. A citizen who would be refused is refused here, before FranceConnect."""
    blinded = _blinded(body)
    service = _service(ctx)
    election = service.voters.check_issuable(election_id=election_id, citizen=citizen.pseudonym)
    nonce = register.issuance_nonce(election, register.blinded_hash(blinded))
    url = identity.issuance_authorization(
        ctx,
        response,
        nonce=nonce,
        # identity keeps only a same-origin path (anything else: the booth).
        return_to=body.return_to or f"/scrutins/{election}/isoloir",
    )
    return IssuanceStart(authorize_url=url, nonce=nonce)


@router.post(
    "/elections/{election_id}/tokens",
    summary="Get the election key's blind signature (RFC 9474 BlindSign)",
)
def issue_token(
    election_id: str,
    body: TokenRequest,
    request: Request,
    ctx: Ctx,
    citizen: SignedInCitizen,
    _csrf: CsrfChecked,
) -> TokenResponse:
    """The blind signature, on the session's FranceConnect authentication whose nonce binds
    this election and this blinded message (``POST …/issuance`` first; ballot-secrecy.md
    §3); the ID token goes into the issuance register with the token."""
    blinded = _blinded(body)
    election = canonical_id(election_id)
    nonce = register.issuance_nonce(election, register.blinded_hash(blinded))
    taken = identity.take_issuance_authentication(ctx, web_session(request, ctx), nonce=nonce)
    proof = IssuanceProof(id_token=taken[0], jwk=taken[1]) if taken is not None else None
    required = ctx.settings.ballot_issuance_franceconnect
    if proof is None and (required if required is not None else ctx.settings.mode is not Mode.TEST):
        raise IssuanceAuthenticationRequiredError(
            "a voting right is issued on a FranceConnect authentication bound to its blinded "
            "message: POST …/issuance first"
        )
    signature = _service(ctx).issue_token(
        election_id=election, citizen=citizen.pseudonym, blinded_msg=blinded, proof=proof
    )
    return TokenResponse(blind_sig=b64u_encode(signature))


# -- staff ---------------------------------------------------------------------------------


@router.get(
    "/elections/{election_id}/register",
    summary="The issuance register, for scrutineers (ballot-secrecy.md §3)",
)
def issuance_register(election_id: str, ctx: Ctx, staff: Scrutineer) -> dict[str, Any]:
    """Every entry of the election's issuance register under its latest checkpoint
    (``parvis election verify-register`` checks it). Scrutineers only: the entries are
    FranceConnect ID tokens, personal data; each download is an audit event."""
    return _service(ctx).export_register(election_id, actor=staff.audit_actor)


def _status_of(ctx: AppContext, election_id: str) -> dict[str, Any]:
    service = _service(ctx)
    with ctx.db.read_session() as session:
        return service.status(session, service.get(session, election_id, drafts=True))


@router.post("/elections", summary="Define a draft election", status_code=201)
def create_election(data: Definition, ctx: Ctx, staff: Officer) -> dict[str, Any]:
    service = _service(ctx)
    with ctx.db.write_session() as session:
        row = service.create(session, data=data, actor=staff.audit_actor)
        election_id = row.id
    return _status_of(ctx, election_id)


@router.put("/elections/{election_id}", summary="Edit a draft election")
def update_election(election_id: str, data: Definition, ctx: Ctx, staff: Officer) -> dict[str, Any]:
    with ctx.db.write_session() as session:
        _service(ctx).update(session, election_id=election_id, data=data, actor=staff.audit_actor)
    return _status_of(ctx, election_id)


@router.post("/elections/{election_id}/schedule", summary="draft → scheduled")
def schedule(election_id: str, ctx: Ctx, staff: Officer) -> dict[str, Any]:
    _service(ctx).schedule(election_id=election_id, actor=staff.audit_actor)
    return _status_of(ctx, election_id)


@router.post("/elections/{election_id}/open", summary="scheduled → open (keys, manifest)")
def open_election(election_id: str, ctx: Ctx, staff: Officer) -> dict[str, Any]:
    _service(ctx).open(election_id=election_id, actor=staff.audit_actor)
    return _status_of(ctx, election_id)


@router.post("/elections/{election_id}/close", summary="open → closed (close entry)")
def close_election(
    election_id: str,
    ctx: Ctx,
    staff: Officer,
    force: Annotated[bool, Query(description="close before the closing time")] = False,
) -> dict[str, Any]:
    _service(ctx).close(election_id=election_id, actor=staff.audit_actor, force=force)
    return _status_of(ctx, election_id)


@router.post("/elections/{election_id}/tally", summary="closed → tallied (results entry)")
def tally_election(election_id: str, ctx: Ctx, staff: Officer) -> dict[str, Any]:
    _service(ctx).tally(election_id=election_id, actor=staff.audit_actor)
    return _status_of(ctx, election_id)


@router.post("/elections/{election_id}/publish", summary="tallied → published")
def publish_election(election_id: str, ctx: Ctx, staff: Officer) -> dict[str, Any]:
    _service(ctx).publish(election_id=election_id, actor=staff.audit_actor)
    return _status_of(ctx, election_id)


@router.post(
    "/elections/{election_id}/paper-voters",
    summary="Record that a citizen voted on paper (agent)",
    status_code=201,
)
def paper_voter(election_id: str, body: PaperVoter, ctx: Ctx, staff: Agent) -> dict[str, Any]:
    _service(ctx).mark_paper_voter(
        election_id=election_id, citizen=body.citizen, actor=staff.audit_actor
    )
    return {"election": election_id, "citizen": body.citizen, "channel": "paper"}


@router.put("/elections/{election_id}/paper-totals", summary="Enter the paper-ballot totals")
def paper_totals(election_id: str, body: PaperTotals, ctx: Ctx, staff: Officer) -> dict[str, Any]:
    return _service(ctx).set_paper_totals(
        election_id=election_id, voters=body.voters, counts=body.counts, actor=staff.audit_actor
    )
