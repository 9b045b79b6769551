"""``parvis territory …``, ``parvis staff …`` and ``parvis fc-sandbox`` (typer).

Each command fails with a one-line reason (``parvis.cli.one_line_errors`` semantics: domain
errors are raised, never printed as tracebacks).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from parvis.kernel.cli import fail, one_line_errors
from parvis.kernel.context import AppContext, build_context
from parvis.kernel.principal import Role
from parvis.kernel.settings import load_settings

__all__ = ["fc_sandbox", "staff_app", "territory_app"]


territory_app = typer.Typer(help="Territories and census imports.", no_args_is_help=True)
staff_app = typer.Typer(help="Staff accounts.", no_args_is_help=True)


_one_line = one_line_errors


def _context() -> AppContext:
    import identity

    ctx = build_context(load_settings())
    identity.service_from(ctx)
    return ctx


_MAX_REJECTED_HELP = (
    "share of rejected lines (percent) above which activation is refused"
    " (default: PARVIS_CENSUS_MAX_REJECTED_PERCENT, else 5)"
)


@territory_app.command("import-census")
@_one_line
def import_census(
    file: Annotated[
        Path,
        typer.Argument(help="CSV file (UTF-8, Windows-1252 or Latin-1; `,` or `;`)"),
    ],
    territory: Annotated[str, typer.Option("--territory", help="territory id")],
    electoral_roll: Annotated[
        bool, typer.Option("--electoral-roll", help="the file is the electoral roll")
    ] = False,
    activate: Annotated[
        bool,
        typer.Option("--activate", help="activate the import at once (replaces the active one)"),
    ] = False,
    max_rejected: Annotated[
        float | None, typer.Option("--max-rejected", min=0, max=100, help=_MAX_REJECTED_HELP)
    ] = None,
) -> None:
    """Import a census or electoral roll as a pending import and print its preview.

    The territory's active census stays active until the import is activated (``--activate``
    here, or ``parvis territory activate-census IMPORT_ID``). Only keyed hashes are stored.
    """
    import identity
    from identity.census import CensusFileError, decode_census

    try:
        text = decode_census(file.read_bytes())
    except CensusFileError as exc:
        fail(f"census file {file.name}: {exc}")
    ctx = _context()
    if max_rejected is None:
        max_rejected = ctx.settings.census_max_rejected_percent
    try:
        with ctx.db.write_session() as db:
            report = identity.service_from(ctx).import_census(
                db,
                territory_id=territory,
                csv_text=text,
                electoral_roll=electoral_roll,
                actor="system:cli",
                max_rejected_percent=max_rejected,
            )
        for line in report.lines():
            typer.echo(line)
        if not report.activatable:
            fail(
                f"census file {file.name}: {len(report.rejects)} of {report.rows} lines rejected"
                f" ({report.rejected_percent:.1f} %, over the {max_rejected:g} % threshold);"
                " this import cannot be activated, the active census stays"
            )
        if activate:
            with ctx.db.write_session() as db:
                identity.service_from(ctx).activate_census(
                    db,
                    import_id=report.import_id,
                    actor="system:cli",
                    max_rejected_percent=max_rejected,
                )
            typer.echo(f"import {report.import_id} activated")
        else:
            typer.echo(
                f"pending: activate with `parvis territory activate-census {report.import_id}`"
            )
    finally:
        ctx.db.dispose()


@territory_app.command("activate-census")
@_one_line
def activate_census(
    import_id: Annotated[str, typer.Argument(help="the pending import's id")],
    yes: Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")] = False,
    max_rejected: Annotated[
        float | None, typer.Option("--max-rejected", min=0, max=100, help=_MAX_REJECTED_HELP)
    ] = None,
) -> None:
    """Activate a pending census import: it replaces the territory's active census."""
    import identity

    if not yes and not typer.confirm(
        f"Activate census import {import_id}? It replaces the territory's active census."
    ):
        fail("not activated")
    ctx = _context()
    try:
        with ctx.db.write_session() as db:
            row = identity.service_from(ctx).activate_census(
                db, import_id=import_id, actor="system:cli", max_rejected_percent=max_rejected
            )
            territory = row.territory_id
    finally:
        ctx.db.dispose()
    typer.echo(f"import {import_id} activated for territory {territory}")


@staff_app.command("create")
@_one_line
def staff_create(
    email: Annotated[str, typer.Argument(help="the staff member's e-mail address")],
    role: Annotated[list[Role], typer.Option("--role", help="a role (repeatable)")],
) -> None:
    """Create a staff account; prints the one-time password and the TOTP URI once."""
    import identity

    ctx = _context()
    try:
        with ctx.db.write_session() as db:
            created = identity.staff_service_from(ctx).create(
                db, email=email, roles=frozenset(role), actor="system:cli"
            )
    finally:
        ctx.db.dispose()
    typer.echo(f"staff {created.staff_id} created for {created.email}")
    typer.echo(f"password: {created.password}")
    typer.echo(f"totp: {created.totp_uri}")


@staff_app.command("list")
@_one_line
def staff_list() -> None:
    """List staff accounts: id, e-mail, roles, status, last sign-in."""
    import identity

    ctx = _context()
    try:
        with ctx.db.read_session() as db:
            accounts = identity.staff_service_from(ctx).accounts(db)
    finally:
        ctx.db.dispose()
    for a in accounts:
        if not a.active:
            status = "disabled"
        elif a.must_change_password:
            status = "one-time-password"
        elif not a.totp_enrolled:
            status = "enrolment-pending"
        else:
            status = "active"
        last = a.last_sign_in_at.strftime("%Y-%m-%dT%H:%MZ") if a.last_sign_in_at else "-"
        typer.echo(f"{a.staff_id}\t{a.email}\t{','.join(sorted(a.roles))}\t{status}\t{last}")


_ACCOUNT = Annotated[str, typer.Argument(help="the account's e-mail address or id")]


@staff_app.command("disable")
@_one_line
def staff_disable(account: _ACCOUNT) -> None:
    """Disable an account: it can no longer sign in and its sessions end now."""
    import identity

    ctx = _context()
    try:
        with ctx.db.write_session() as db:
            service = identity.staff_service_from(ctx)
            ended = service.set_active(db, account, active=False, actor="system:cli")
            staff_id = service.find(db, account).staff_id
    finally:
        ctx.db.dispose()
    typer.echo(f"staff {staff_id} disabled; {ended} session(s) ended")


@staff_app.command("enable")
@_one_line
def staff_enable(account: _ACCOUNT) -> None:
    """Enable a disabled account again (its password and second factor are unchanged)."""
    import identity

    ctx = _context()
    try:
        with ctx.db.write_session() as db:
            service = identity.staff_service_from(ctx)
            service.set_active(db, account, active=True, actor="system:cli")
            staff_id = service.find(db, account).staff_id
    finally:
        ctx.db.dispose()
    typer.echo(f"staff {staff_id} enabled")


@staff_app.command("reset")
@_one_line
def staff_reset(
    account: _ACCOUNT,
    second_factor: Annotated[
        bool,
        typer.Option(
            "--second-factor",
            help="also discard the TOTP secret and recovery codes (phone lost): the next "
            "sign-in enrols a new second factor",
        ),
    ] = False,
) -> None:
    """Reset an account: prints a one-time password once, which the next sign-in must
    change; the account's sessions end."""
    import identity

    ctx = _context()
    try:
        with ctx.db.write_session() as db:
            reset = identity.staff_service_from(ctx).reset(
                db, account, actor="system:cli", second_factor=second_factor
            )
    finally:
        ctx.db.dispose()
    typer.echo(f"staff {reset.staff_id} reset")
    typer.echo(f"one-time password: {reset.password}")
    typer.echo(f"valid until: {reset.expires_at.strftime('%Y-%m-%dT%H:%MZ')}")


@_one_line
def fc_sandbox(
    port: Annotated[int, typer.Option(help="listen port", min=1, max=65535)] = 8100,
    host: Annotated[str, typer.Option(help="listen address")] = "127.0.0.1",
    public_url: Annotated[
        str | None, typer.Option(help="the URL clients reach the sandbox at")
    ] = None,
    nonce_min_length: Annotated[
        int, typer.Option(help="shortest nonce accepted (22 like FranceConnect, up to 32)")
    ] = 22,
) -> None:
    """Run the FranceConnect sandbox alone (issuer {public_url}/fc-sandbox/api/v2)."""
    import uvicorn

    from identity.plugin import sandbox_clients
    from identity.sandbox import Sandbox, standalone_app
    from parvis.kernel.clock import SystemClock
    from parvis.kernel.keys import derive_key

    settings = load_settings()
    base = public_url or f"http://{host}:{port}"
    sandbox = Sandbox(
        issuer=f"{base}/fc-sandbox/api/v2",
        clock=SystemClock(),
        secret=derive_key(settings.secret_key, "identity/fc-sandbox/sub/v1"),
        clients=sandbox_clients(settings, issuer_base=base),
        nonce_min_length=nonce_min_length,
    )
    typer.echo(f"FranceConnect sandbox: {sandbox.issuer}")
    uvicorn.run(standalone_app(sandbox), host=host, port=port, log_level="warning")
