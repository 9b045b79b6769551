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
from ballot.definition_reader import read_definition
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

__all__ = ["DEFINITION_OPENAPI", "MAX_CAST_BYTES", "DefinitionBody", "cast_router", "router"]

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
#: docs/board-format.md §10.4: a trustee uploads its own partial decryption.
TrusteeStaff = Annotated[Staff, Depends(require_staff(Role.TRUSTEE))]
Agent = Annotated[Staff, Depends(require_staff(Role.AGENT))]
#: docs/adr/0018-encrypted-elections.md, "Who may upload what": trustees send their own
#: messages; the officer starts, imports and restarts; both read the ceremony's files.
Trustee = Annotated[Staff, Depends(require_staff(Role.TRUSTEE))]
CeremonyReader = Annotated[Staff, Depends(require_staff(Role.ELECTION_OFFICER, Role.TRUSTEE))]
Scrutineer = Annotated[Staff, Depends(require_staff(Role.SCRUTINEER))]
SignedInCitizen = Annotated[Citizen, Depends(signed_in_citizen)]
#: The session's CSRF token in ``X-CSRF-Token``: every state-changing call of a signed-in
#: citizen (docs/ballot-api.md). After ``SignedInCitizen`` in a signature: 401 comes first.
CsrfChecked = Annotated[None, Depends(csrf_header)]


async def definition_body(request: Request) -> object:
    """The request's definition, read by the one definition reader of pages, CLI and APIs
    (``ballot/definition_reader.py``: size, depth and duplicate-key limits), so that a
    deeply nested body is a 422 ``invalid-election``, not a parser's ``RecursionError``.
    The body is JSON (415 otherwise, as every JSON API here)."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise UnsupportedMediaTypeError(
            "this endpoint accepts application/json request bodies only"
        )
    raw = await request.body()
    # Checking up to 256 KiB character by character is work for a thread, not the event loop.
    return await run_in_threadpool(read_definition, raw, syntax="json")


#: The definition of ``POST /elections`` and ``PUT /elections/{id}`` (staff and platform
#: APIs): read from the raw body by :func:`definition_body`, declared for OpenAPI by
#: :data:`DEFINITION_OPENAPI`.
DefinitionBody = Annotated[object, Depends(definition_body)]
DEFINITION_OPENAPI: Final[dict[str, Any]] = {
    "requestBody": {
        "required": True,
        "description": "election definition (docs/ballot-api.md)",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


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


class StaticKey(BaseModel):
    model_config = ConfigDict(extra="forbid")
    static_key: str = Field(max_length=128, description="hex, from parvis-trustee keygen")


class CeremonyStart(BaseModel):
    model_config = ConfigDict(extra="forbid")
    static_keys: list[str] | None = Field(
        default=None, max_length=15, description="hex, in trustee order (else those registered)"
    )


Document = Annotated[dict[str, Any], Body(description="a parvis-trustee document (JSON)")]


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
        # An encrypted election's board is public from entry 0 (docs/board-format.md §10.1).
        if row.status != "published" and not service.is_encrypted(session, row.id):
            return service.board_view(session, election_id, start=start, limit=limit)
        # Refused here (404 before the board exists), not half-way through the stream.
        service.checkpoint(session, row.id)
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
                        "description": "choices (§4), or encrypted in an encrypted election "
                        "(§10.3)",
                        "required": ["election", "seq"],
                        "properties": {
                            "election": {"type": "string", "format": "uuid"},
                            "seq": {"type": "integer", "minimum": 1},
                            "choices": {"type": "object"},
                            "encrypted": {"type": "object"},
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
    # on a worker thread. An encrypted ballot's proofs cost tens of milliseconds: they are
    # checked on a worker thread too, so that one ballot does not hold up the others (nor
    # the committer, which never verifies anything: docs/board-format.md §10.3).
    if service.knows(election_id) and not service.encrypted_known(election_id):
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
    if proof is None and _issuance_needs_franceconnect(ctx, election):
        raise IssuanceAuthenticationRequiredError(
            "a voting right is issued on a FranceConnect authentication bound to its blinded "
            "message: POST …/issuance first"
        )
    signature = _service(ctx).issue_token(
        election_id=election, citizen=citizen.pseudonym, blinded_msg=blinded, proof=proof
    )
    return TokenResponse(blind_sig=b64u_encode(signature))


def _issuance_needs_franceconnect(ctx: AppContext, election_id: str) -> bool:
    """Whether a right without a bound FranceConnect authentication is refused
    (ballot-secrecy.md §3; docs/adr/0019): as the setting says, else always except in test
    mode and in a rehearsal (whose fictitious voters, ``parvis election simulate``, have no
    FranceConnect identity; the register marks their entries unbound, and
    ``verify-register`` refuses them — a rehearsal's register proves nothing)."""
    required = ctx.settings.ballot_issuance_franceconnect
    if required is not None:
        return required
    if ctx.settings.mode is Mode.TEST:
        return False
    return not _service(ctx).is_rehearsal(election_id)


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


@router.post(
    "/elections",
    summary="Define a draft election",
    status_code=201,
    openapi_extra=DEFINITION_OPENAPI,
)
def create_election(ctx: Ctx, staff: Officer, data: DefinitionBody) -> dict[str, Any]:
    service = _service(ctx)
    with ctx.db.write_session() as session:
        row = service.create(session, data=data, actor=staff.audit_actor)
        election_id = row.id
    return _status_of(ctx, election_id)


@router.put(
    "/elections/{election_id}", summary="Edit a draft election", openapi_extra=DEFINITION_OPENAPI
)
def update_election(
    election_id: str, ctx: Ctx, staff: Officer, data: DefinitionBody
) -> dict[str, Any]:
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


@router.get(
    "/elections/{election_id}/decryption",
    summary="What the trustees decrypt: the sums, the context, who has decrypted",
)
def decryption(election_id: str, ctx: Ctx) -> dict[str, Any]:
    return _service(ctx).decryption_inputs(election_id)


@router.get(
    "/elections/{election_id}/decryption/sums.json",
    summary="The tally-sums entry's sums: parvis-trustee decrypt --ciphertexts",
)
def decryption_sums(election_id: str, ctx: Ctx) -> dict[str, Any]:
    sums: dict[str, Any] = _service(ctx).decryption_inputs(election_id)["sums"]
    return sums


@router.get(
    "/elections/{election_id}/decryption/context.json",
    summary="The tally-sums entry's decryption context: parvis-trustee decrypt --context",
)
def decryption_context(election_id: str, ctx: Ctx) -> dict[str, Any]:
    context: dict[str, Any] = _service(ctx).decryption_inputs(election_id)["context"]
    return context


@router.post(
    "/elections/{election_id}/partial-decryptions",
    summary="A trustee's partial decryption (parvis-trustee decrypt output)",
    status_code=201,
)
def partial_decryption(
    election_id: str,
    document: Annotated[dict[str, Any], Body(description="parvis-partial-decryptions-v1")],
    ctx: Ctx,
    staff: TrusteeStaff,
) -> dict[str, Any]:
    """docs/board-format.md §10.4: verified against the trustee's public share before it is
    appended; a wrong one is refused naming the trustee and the label, a second one from the
    same trustee too. The threshold-th completes the tally (the results entry). Only the
    staff member the definition names as that trustee may upload it."""
    service = _service(ctx)
    return service.add_partial_decryption(
        election_id=election_id,
        document=document,
        actor=staff.audit_actor,
        trustee=service.trustee_index(election_id=election_id, staff=staff),
    )


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


# -- the key ceremony (docs/adr/0018-encrypted-elections.md; board-format.md §10.1) ---------


@router.get("/elections/{election_id}/ceremony", summary="Where the key ceremony stands")
def ceremony_state(election_id: str, ctx: Ctx, staff: CeremonyReader) -> dict[str, Any]:
    with ctx.db.read_session() as session:
        return _service(ctx).ceremony_state(session, election_id)


@router.post(
    "/elections/{election_id}/ceremony/static-key",
    summary="A trustee registers their static key (parvis-trustee keygen)",
)
def ceremony_static_key(
    election_id: str, body: StaticKey, ctx: Ctx, staff: Trustee
) -> dict[str, Any]:
    position = _service(ctx).register_static_key(
        election_id=election_id, staff=staff, static_key=body.static_key
    )
    return {"election": election_id, "participant": position}


@router.post(
    "/elections/{election_id}/ceremony/start",
    summary="Write dkg-setup (officer): keys, board, terms; returns setup.json",
)
def ceremony_start(
    election_id: str, ctx: Ctx, staff: Officer, body: CeremonyStart | None = None
) -> dict[str, Any]:
    return _service(ctx).start_ceremony(
        election_id=election_id,
        actor=staff.audit_actor,
        static_keys=body.static_keys if body is not None else None,
    )


@router.get("/elections/{election_id}/ceremony/setup.json", summary="The setup (dkg-setup)")
def ceremony_setup(election_id: str, ctx: Ctx, staff: CeremonyReader) -> dict[str, Any]:
    with ctx.db.read_session() as session:
        return _service(ctx).setup_of(session, election_id)


@router.post(
    "/elections/{election_id}/ceremony/round1",
    summary="A trustee's round-1 message (parvis-trustee round1), checked then appended",
)
def ceremony_round1(election_id: str, body: Document, ctx: Ctx, staff: Trustee) -> dict[str, Any]:
    position = _service(ctx).submit_round1(election_id=election_id, staff=staff, document=body)
    with ctx.db.read_session() as session:
        return {"participant": position, **_service(ctx).ceremony_state(session, election_id)}


@router.get(
    "/elections/{election_id}/ceremony/round1s.json",
    summary="The setup and every round-1 message, from the board (for round2 and round3)",
)
def ceremony_round1s(election_id: str, ctx: Ctx, staff: CeremonyReader) -> dict[str, Any]:
    with ctx.db.read_session() as session:
        return _service(ctx).round1s_of(session, election_id)


@router.post(
    "/elections/{election_id}/ceremony/signature",
    summary="A trustee's transcript signature (parvis-trustee round3), checked then appended",
)
def ceremony_signature(
    election_id: str, body: Document, ctx: Ctx, staff: Trustee
) -> dict[str, Any]:
    service = _service(ctx)
    service.submit_signature(election_id=election_id, staff=staff, document=body)
    with ctx.db.read_session() as session:
        return service.ceremony_state(session, election_id)


@router.get(
    "/elections/{election_id}/ceremony/ceremony.json",
    summary="The complete ceremony (for parvis-trustee check)",
)
def ceremony_document(election_id: str, ctx: Ctx, staff: CeremonyReader) -> dict[str, Any]:
    with ctx.db.read_session() as session:
        return _service(ctx).ceremony_document(session, election_id)


@router.post(
    "/elections/{election_id}/ceremony/import",
    summary="A complete ceremony made with parvis-trustee (officer), checked then appended",
)
def ceremony_import(election_id: str, body: Document, ctx: Ctx, staff: Officer) -> dict[str, Any]:
    service = _service(ctx)
    service.import_ceremony(election_id=election_id, document=body, actor=staff.audit_actor)
    with ctx.db.read_session() as session:
        return service.ceremony_state(session, election_id)


@router.post(
    "/elections/{election_id}/ceremony/new-attempt",
    summary="Abandon the current attempt (officer); the next setup has attempt + 1",
)
def ceremony_new_attempt(election_id: str, ctx: Ctx, staff: Officer) -> dict[str, Any]:
    service = _service(ctx)
    service.new_attempt(election_id=election_id, actor=staff.audit_actor)
    with ctx.db.read_session() as session:
        return service.ceremony_state(session, election_id)
