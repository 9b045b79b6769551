"""``parvis client …`` and ``parvis keys rotate``: the provider's administration commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from parvis.kernel.context import AppContext, build_context
from parvis.kernel.settings import Mode, load_settings

__all__ = ["client_app", "keys_app"]

client_app = typer.Typer(help="OpenID clients (participation platforms)", no_args_is_help=True)
keys_app = typer.Typer(help="The OpenID provider's signing keys", no_args_is_help=True)


def _ctx() -> AppContext:
    from identity.plugin import setup

    ctx = build_context(load_settings())
    setup(ctx)
    return ctx


@client_app.command("create")
def create(  # noqa: PLR0917 - typer maps each parameter to a CLI option
    client_id: str,
    name: Annotated[str, typer.Option(help="name shown to citizens")],
    redirect_uri: Annotated[list[str], typer.Option(help="exact redirect URI (repeat)")] = [],  # noqa: B006 - typer's idiom
    post_logout_redirect_uri: Annotated[list[str], typer.Option()] = [],  # noqa: B006
    scope: Annotated[list[str], typer.Option(help="allowed scope (repeat)")] = [],  # noqa: B006
    auth_method: Annotated[str, typer.Option()] = "client_secret_basic",
    id_token_alg: Annotated[str, typer.Option()] = "RS256",  # noqa: S107 - an algorithm name
    userinfo_alg: Annotated[str | None, typer.Option()] = None,
    sector_identifier: Annotated[str | None, typer.Option()] = None,
    backchannel_logout_uri: Annotated[str | None, typer.Option()] = None,
    jwks_file: Annotated[str | None, typer.Option(help="public JWKS for private_key_jwt")] = None,
    purpose: Annotated[list[str], typer.Option(help="GROUP=PURPOSE_ID (repeat)")] = [],  # noqa: B006
) -> None:
    """Register a platform; prints its secret once."""
    from identity.oidc.clients import Registration
    from identity.oidc.service import oidc_from

    ctx = _ctx()
    registration = Registration(
        client_id=client_id,
        name=name,
        redirect_uris=tuple(redirect_uri),
        post_logout_redirect_uris=tuple(post_logout_redirect_uri),
        scopes=tuple(scope) or ("openid", "eligibility", "age"),
        auth_method=auth_method,
        id_token_alg=id_token_alg,
        userinfo_alg=userinfo_alg,
        sector_identifier=sector_identifier,
        backchannel_logout_uri=backchannel_logout_uri,
        jwks=json.loads(Path(jwks_file).read_text(encoding="utf-8")) if jwks_file else None,
        purposes=dict(p.split("=", 1) for p in purpose),
        allow_loopback_http=ctx.settings.mode is not Mode.PRODUCTION,
    )
    with ctx.db.write_session() as db:
        secret = oidc_from(ctx).clients.create(db, registration)
    typer.echo(f"client_id: {client_id}")
    if secret:
        typer.echo(f"client_secret: {secret}")
        typer.echo("(shown once: store it in the platform's settings now)")


@client_app.command("rotate-secret")
def rotate_secret(client_id: str) -> None:
    from identity.oidc.service import oidc_from

    ctx = _ctx()
    with ctx.db.write_session() as db:
        secret = oidc_from(ctx).clients.rotate_secret(db, client_id)
    typer.echo(f"client_secret: {secret}")


@client_app.command("list")
def list_clients() -> None:
    from identity.oidc.service import oidc_from

    ctx = _ctx()
    with ctx.db.read_session() as db:
        for row in oidc_from(ctx).clients.all(db):
            state = "disabled" if row.disabled_at else "active"
            typer.echo(f"{row.client_id}\t{row.auth_method}\t{state}\t{row.name}")


@keys_app.command("rotate")
def rotate() -> None:
    """next → active, active → retired (published until its tokens expire), new next."""
    from identity.oidc.service import oidc_from

    ctx = _ctx()
    service = oidc_from(ctx)
    with ctx.db.write_session() as db:
        active = service.keys.rotate(db, keep_retired_for=service.retire_after())
    typer.echo("active keys: " + ", ".join(active))
