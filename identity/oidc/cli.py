"""``parvis client …`` and ``parvis keys rotate``: the provider's administration commands.

Each command fails with one line on standard error (:func:`parvis.kernel.cli.one_line_errors`)
and writes its change to the audit log as ``system:cli``, through the same use cases as the
staff pages (:mod:`identity.oidc.admin`). ``client enable`` lifts a disabling; what the
disabling ended (access tokens, sign-in sessions) stays ended.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from parvis.kernel.cli import one_line_errors
from parvis.kernel.context import AppContext, build_context
from parvis.kernel.settings import Mode, load_settings

__all__ = ["client_app", "keys_app"]

client_app = typer.Typer(help="OpenID clients (participation platforms)", no_args_is_help=True)
keys_app = typer.Typer(help="The OpenID provider's signing keys", no_args_is_help=True)
ACTOR = "system:cli"


@contextmanager
def _ctx() -> Iterator[AppContext]:
    """The command's context; its connection pool is closed when the command ends."""
    from identity.plugin import setup

    ctx = build_context(load_settings())
    try:
        setup(ctx)
        yield ctx
    finally:
        ctx.db.dispose()


@client_app.command("create")
@one_line_errors
def create(  # noqa: PLR0917 - typer maps each parameter to a CLI option
    client_id: Annotated[
        str, typer.Argument(help="3 to 48 lowercase letters, digits or '-'", show_default=False)
    ],
    name: Annotated[str, typer.Option(help="name shown to citizens on the consent screen")],
    redirect_uri: Annotated[
        list[str],
        typer.Option(
            help="redirect URI, compared by exact string match; https only (http on "
            "loopback outside production), no fragment, no wildcard (repeat)"
        ),
    ] = [],  # noqa: B006 - typer's idiom
    post_logout_redirect_uri: Annotated[
        list[str],
        typer.Option(
            help="where /logout may send the citizen back; same rules as --redirect-uri (repeat)"
        ),
    ] = [],  # noqa: B006
    scope: Annotated[
        list[str],
        typer.Option(help="allowed scope (repeat); default: openid eligibility age"),
    ] = [],  # noqa: B006
    auth_method: Annotated[
        str,
        typer.Option(
            help="token endpoint authentication: client_secret_basic, client_secret_post, "
            "private_key_jwt (needs --jwks-file) or none (public client: PKCE required, "
            "no revocation, introspection or api:* scopes)"
        ),
    ] = "client_secret_basic",
    id_token_alg: Annotated[
        str, typer.Option(help="ID token (and logout token) signature: RS256 or ES256")
    ] = "RS256",  # noqa: S107 - an algorithm name
    userinfo_alg: Annotated[
        str | None,
        typer.Option(help="unset: UserInfo as JSON; RS256 or ES256: UserInfo as a signed JWT"),
    ] = None,
    sector_identifier: Annotated[
        str | None,
        typer.Option(
            help="URL or host of the pairwise sector (default: the redirect URIs' host); "
            "platforms of one sector see the same sub"
        ),
    ] = None,
    backchannel_logout_uri: Annotated[
        str | None,
        typer.Option(help="where logout tokens are POSTed (OpenID Back-Channel Logout 1.0)"),
    ] = None,
    jwks_file: Annotated[
        str | None, typer.Option(help="file of the client's public JWKS, for private_key_jwt")
    ] = None,
    purpose: Annotated[
        list[str],
        typer.Option(
            help="GROUP=PURPOSE_ID: the consent-registry purpose of a claim group; "
            "access=PURPOSE_ID records each UserInfo read (repeat)"
        ),
    ] = [],  # noqa: B006
) -> None:
    """Register a platform; prints its secret once."""
    from identity.oidc.admin import parse_jwks, register_client
    from identity.oidc.clients import Registration
    from identity.oidc.errors import ClientRegistrationError

    if any("=" not in p for p in purpose):
        raise ClientRegistrationError("--purpose takes GROUP=PURPOSE_ID")
    jwks = parse_jwks(Path(jwks_file).read_text(encoding="utf-8")) if jwks_file else None
    with _ctx() as ctx:
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
            jwks=jwks,
            purposes=dict(p.split("=", 1) for p in purpose),
            allow_loopback_http=ctx.settings.mode is not Mode.PRODUCTION,
        )
        with ctx.db.write_session() as db:
            secret = register_client(ctx, db, registration, actor=ACTOR)
    typer.echo(f"client_id: {client_id}")
    if secret:
        typer.echo(f"client_secret: {secret}")
        typer.echo("(shown once: store it in the platform's settings now)")


@client_app.command("rotate-secret")
@one_line_errors
def rotate_secret(client_id: str) -> None:
    """A new secret for CLIENT_ID (the old one stops working at once); printed once."""
    from identity.oidc.admin import rotate_client_secret

    with _ctx() as ctx, ctx.db.write_session() as db:
        secret = rotate_client_secret(ctx, db, client_id, actor=ACTOR)
    typer.echo(f"client_secret: {secret}")
    typer.echo("(shown once: store it in the platform's settings now)")


@client_app.command("disable")
@one_line_errors
def disable(client_id: str) -> None:
    """Disable CLIENT_ID: no more sign-ins or token requests; its live access tokens are
    revoked and its sign-in sessions ended."""
    from identity.oidc.admin import disable_client

    with _ctx() as ctx, ctx.db.write_session() as db:
        done = disable_client(ctx, db, client_id, actor=ACTOR)
    state = "was already disabled" if done.already else "disabled"
    typer.echo(
        f"{client_id} {state}: {done.tokens_revoked} access tokens revoked, "
        f"{done.sessions_ended} sessions ended"
    )


@client_app.command("enable")
@one_line_errors
def enable(client_id: str) -> None:
    """Enable CLIENT_ID again: sign-ins and token requests work anew; the access tokens
    revoked and sessions ended by the disabling stay so."""
    from identity.oidc.admin import enable_client

    with _ctx() as ctx, ctx.db.write_session() as db:
        changed = enable_client(ctx, db, client_id, actor=ACTOR)
    typer.echo(f"{client_id} {'enabled' if changed else 'was not disabled'}")


@client_app.command("list")
@one_line_errors
def list_clients() -> None:
    """One line per client: id, auth method, state, name."""
    from identity.oidc.service import oidc_from

    with _ctx() as ctx, ctx.db.read_session() as db:
        for row in oidc_from(ctx).clients.all(db):
            state = "disabled" if row.disabled_at else "active"
            typer.echo(f"{row.client_id}\t{row.auth_method}\t{state}\t{row.name}")


@keys_app.command("rotate")
@one_line_errors
def rotate(
    force: Annotated[
        bool,
        typer.Option(help="rotate even if the next key was published minutes ago (compromise)"),
    ] = False,
) -> None:
    """next → active, active → retired (published until its tokens expire), new next."""
    from identity.oidc.service import oidc_from

    with _ctx() as ctx, ctx.db.write_session() as db:
        service = oidc_from(ctx)
        active = service.keys.rotate(db, keep_retired_for=service.retire_after(), force=force)
    typer.echo("active keys: " + ", ".join(active))
