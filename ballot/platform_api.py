"""The platform API (``/api/ballot/v1``): participation platforms delegate voting to Parvis.

A platform authenticates as an API client of its controller exactly as at the consent API
(ADR 0007: the same client mechanism as the consent API;
:func:`consent.clients.authenticate`): an OAuth 2.0 access token of the client-credentials
grant (RFC 6749 §4.4), here with the scope ``api:ballot``, sent as ``Authorization: Bearer
<token>`` (RFC 6750; ADR 0007). Deprecated API keys still work until their sunset, with the
``Deprecation`` and ``Sunset`` headers. It can create and edit
its draft elections, read their status, results and board URLs, and get booth links that
bring the citizen back to the platform. It sees only the elections it created, and nothing
here ever names a citizen: the platform cannot link anyone to a ballot, or even to a token.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Header, Response
from pydantic import BaseModel, ConfigDict, Field

from ballot.api import DEFINITION_OPENAPI, DefinitionBody
from ballot.links import booth_link
from ballot.service import service_from
from consent.clients import ApiClient, authenticate
from parvis.kernel.context import AppContext
from parvis.kernel.web import api_router, get_ctx

__all__ = ["router"]

router = api_router(prefix="/api/ballot/v1", tags=["ballot platform API"])
#: The scope of the ballot platform API (identity.oidc.clients.API_SCOPES).
BALLOT_SCOPE = "api:ballot"

Ctx = Annotated[AppContext, Depends(get_ctx)]


def platform(
    ctx: Ctx,
    response: Response,
    authorization: Annotated[
        str | None,
        Header(description="Bearer <access token> (client credentials, scope api:ballot)"),
    ] = None,
) -> ApiClient:
    with ctx.db.read_session() as session:
        client = authenticate(ctx, session, authorization, scope=BALLOT_SCOPE)
    # FastAPI merges the headers set on a dependency's Response into the answer.
    response.headers.update(client.deprecation_headers())
    return client


Platform = Annotated[ApiClient, Depends(platform)]


class BoothLinkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    return_url: str = Field(max_length=2000)


def _absolute(ctx: AppContext, status: dict[str, Any]) -> dict[str, Any]:
    base = ctx.settings.public_url
    status["links"] = {
        name: (base + value if isinstance(value, str) else None)
        for name, value in status["links"].items()
    }
    return status


def _status(ctx: AppContext, election_id: str, client: ApiClient) -> dict[str, Any]:
    service = service_from(ctx)
    with ctx.db.read_session() as session:
        row = service.get(session, election_id, owner_client=client.id)
        return _absolute(ctx, service.status(session, row))


@router.get("/elections", summary="The platform's elections")
def list_elections(ctx: Ctx, client: Platform) -> dict[str, Any]:
    service = service_from(ctx)
    with ctx.db.read_session() as session:
        rows = service.elections(session, owner_client=client.id)
        return {"elections": [_absolute(ctx, service.status(session, r)) for r in rows]}


@router.post(
    "/elections",
    summary="Create a draft election",
    status_code=201,
    openapi_extra=DEFINITION_OPENAPI,
)
def create_election(ctx: Ctx, client: Platform, data: DefinitionBody) -> dict[str, Any]:
    with ctx.db.write_session() as session:
        row = service_from(ctx).create(
            session, data=data, actor=client.audit_actor, owner_client=client.id
        )
        election_id = row.id
    return _status(ctx, election_id, client)


@router.get(
    "/elections/{election_id}", summary="Status and URLs of one of the platform's elections"
)
def election_status(election_id: str, ctx: Ctx, client: Platform) -> dict[str, Any]:
    return _status(ctx, election_id, client)


@router.put(
    "/elections/{election_id}", summary="Edit a draft election", openapi_extra=DEFINITION_OPENAPI
)
def update_election(
    election_id: str, ctx: Ctx, client: Platform, data: DefinitionBody
) -> dict[str, Any]:
    with ctx.db.write_session() as session:
        service_from(ctx).update(
            session,
            election_id=election_id,
            data=data,
            actor=client.audit_actor,
            owner_client=client.id,
        )
    return _status(ctx, election_id, client)


@router.get("/elections/{election_id}/results", summary="Published results")
def results(election_id: str, ctx: Ctx, client: Platform) -> dict[str, Any]:
    service = service_from(ctx)
    with ctx.db.read_session() as session:
        service.get(session, election_id, owner_client=client.id)
        return service.results(session, election_id)


@router.post(
    "/elections/{election_id}/booth-link",
    summary="A booth URL that brings the citizen back to the platform",
)
def booth(election_id: str, body: BoothLinkRequest, ctx: Ctx, client: Platform) -> dict[str, str]:
    with ctx.db.read_session() as session:
        row = service_from(ctx).get(session, election_id, owner_client=client.id)
    return {"url": booth_link(ctx, election_id=row.id, return_url=body.return_url)}
