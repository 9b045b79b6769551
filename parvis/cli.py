"""The ``parvis`` command line (typer). Domains add their sub-commands in :func:`build_cli`.

Every command has ``--help`` and, on failure, exits non-zero with a one-line reason on
standard error (style.md, "Code") — never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from parvis.backup import backup_app
from parvis.kernel.cli import fail, one_line_errors
from parvis.kernel.settings import Mode, Settings, environment_snapshot, load_settings

__all__ = ["app", "fail", "main", "one_line_errors", "settings_from_env"]


app = typer.Typer(
    name="parvis",
    help="Parvis: identity, consent and secure voting for French local authorities.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(backup_app, name="backup")
secret_app = typer.Typer(help="The sealing secret (ADR 0016).", no_args_is_help=True)
app.add_typer(secret_app, name="secret")


def settings_from_env(**overrides: Any) -> Settings:
    return load_settings(**{k: v for k, v in overrides.items() if v is not None})


@db_app.command("upgrade")
@one_line_errors
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="target revision")] = "heads",
) -> None:
    """Upgrade the database schema (default: every branch to its latest revision)."""
    from parvis import migrate

    settings = settings_from_env()
    _ensure_sqlite_dir(settings)
    if migrate.schema_status(settings.database_url).ahead:
        migrate.require_head(settings.database_url)  # raises SchemaAheadError: one line
    migrate.upgrade(settings.database_url, revision)
    typer.echo(migrate.schema_status(settings.database_url).describe())


@db_app.command("downgrade")
@one_line_errors
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="target revision, e.g. -1 or base")] = "-1",
) -> None:
    """Downgrade the database schema (default: by one revision)."""
    from parvis import migrate

    settings = settings_from_env()
    migrate.downgrade(settings.database_url, revision)
    typer.echo(migrate.schema_status(settings.database_url).describe())


@db_app.command("current")
@one_line_errors
def db_current() -> None:
    """Print the database's schema revision and whether it is at head."""
    from parvis import migrate

    status = migrate.schema_status(settings_from_env().database_url)
    typer.echo(
        status.describe()
        + (" (up to date)" if status.at_head else "" if status.ahead else " (behind)")
    )
    if not status.at_head:
        raise typer.Exit(1)


def _read_secret(path: Path, name: str) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        fail(f"--{name}-secret-file: cannot read {path}: {exc.strerror or exc}")


@secret_app.command("rotate")
@one_line_errors
def secret_rotate(
    old_secret_file: Annotated[
        Path,
        typer.Option(help="file holding the sealing secret in use (the master secret at first)"),
    ],
    new_secret_file: Annotated[Path, typer.Option(help="file holding the new sealing secret")],
) -> None:
    """Re-seal every key and vault entry under a new sealing secret, in one transaction.

    Then set PARVIS_SEALING_SECRET_FILE to the new file and restart; web sessions end.
    Secrets are read from files only, never from the command line (ADR 0016)."""
    from parvis.rotation import RotationError, rotate_sealing_secret

    old = _read_secret(old_secret_file, "old")
    new = _read_secret(new_secret_file, "new")
    ctx = cli_context()
    try:
        report = rotate_sealing_secret(ctx.db, old_secret=old, new_secret=new)
    except RotationError as exc:
        fail(str(exc))
    finally:
        ctx.db.dispose()
    typer.echo(report.describe())
    typer.echo(f"now set PARVIS_SEALING_SECRET_FILE={new_secret_file} and restart Parvis")


@app.command("check-config")
@one_line_errors
def check_config() -> None:
    """Validate the PARVIS_* settings and reach the database; exit 1 with the reason if not."""
    from parvis import migrate

    settings = settings_from_env()
    for key, value in environment_snapshot().items():
        typer.echo(f"{key}={value}")
    typer.echo(f"mode={settings.mode.value} database={_redact_url(settings.database_url)}")
    status = migrate.schema_status(settings.database_url)
    if not status.at_head:
        remedy = "run the newer release of Parvis" if status.ahead else "run `parvis db upgrade`"
        fail(f"{status.describe()}; {remedy}")
    typer.echo("configuration ok; database reachable and up to date")


@app.command("serve")
@one_line_errors
def serve(
    host: Annotated[str | None, typer.Option(help="listen address")] = None,
    port: Annotated[int | None, typer.Option(help="listen port", min=1, max=65535)] = None,
    workers: Annotated[int | None, typer.Option(help="worker processes", min=1, max=64)] = None,
) -> None:
    """Serve Parvis with uvicorn (several workers need PostgreSQL)."""
    settings = settings_from_env(host=host, port=port, workers=workers)
    _serve(settings)


demo_app = typer.Typer(
    help="The local demo: without a sub-command, create ./var/, seed it and serve.",
    invoke_without_command=True,
)
app.add_typer(demo_app, name="demo")


@demo_app.callback()
@one_line_errors
def demo(
    context: typer.Context,
    port: Annotated[
        int | None,
        typer.Option(help="listen port (default: PARVIS_PORT, else 8000)", min=1, max=65535),
    ] = None,
) -> None:
    """Create ./var/, upgrade the SQLite database, seed demo data and serve on 127.0.0.1."""
    if context.invoked_subcommand is not None:
        return
    import os

    from parvis import migrate

    os.environ.setdefault("PARVIS_MODE", Mode.DEMO.value)
    # --port wins over PARVIS_PORT, which wins over the default (pydantic-settings' order).
    port = settings_from_env(host="127.0.0.1", port=port, workers=1).port
    # The issuer, the sandbox and its redirect URIs follow the port actually served.
    os.environ.setdefault("PARVIS_PUBLIC_URL", f"http://127.0.0.1:{port}")
    settings = settings_from_env(host="127.0.0.1", port=port, workers=1)
    if settings.mode is Mode.PRODUCTION:
        fail("`parvis demo` refuses to run in production mode")
    # Before migrating and seeding: a busy port is known at once, in one line.
    require_free_port(settings.host, settings.port)
    _ensure_sqlite_dir(settings)
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.database_url)
    from parvis.demo import seed_demo

    for line in seed_demo(cli_context(settings)):
        typer.echo(line)
    typer.echo(f"Parvis demo: http://127.0.0.1:{settings.port}")
    _serve(settings)


@demo_app.command("decrypt")
@one_line_errors
def demo_decrypt(
    election_id: Annotated[str, typer.Argument(help="a closed encrypted demo election (UUID)")],
) -> None:
    """After the close: the demo trustees decrypt the sums with their sealed shares
    (parvis-trustee decrypt) and upload their partial decryptions, so that the tally
    completes (docs/board-format.md §10.4). Demo and test modes only."""
    import os

    os.environ.setdefault("PARVIS_MODE", Mode.DEMO.value)
    settings = settings_from_env()
    if settings.mode is Mode.PRODUCTION:
        fail("`parvis demo decrypt` refuses to run in production mode")
    from ballot.demo_decrypt import decrypt_demo

    ctx = cli_context(settings)
    try:
        for line in decrypt_demo(ctx, election_id):
            typer.echo(line)
    finally:
        ctx.db.dispose()


def require_free_port(host: str, port: int) -> None:
    """Exit with one line when ``host:port`` cannot be bound (uvicorn would log a traceback-
    like block and exit 3). The probe sets ``SO_REUSEADDR`` as uvicorn does, so a port left in
    TIME_WAIT by a previous run is not mistaken for a busy one."""
    import errno
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        fail(f"cannot listen on {host}: {exc.strerror}")
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                fail(
                    f"port {port} is already in use on {host}; stop the program using it or"
                    " choose another port (--port N, PARVIS_PORT=N, or make demo PORT=N)"
                )
            fail(f"cannot listen on {host}:{port}: {exc.strerror}")


def _serve(settings: Settings) -> None:
    import uvicorn

    from parvis import migrate
    from parvis.logs import uvicorn_log_config

    if settings.workers > 1 and settings.is_sqlite:
        fail("several workers need PostgreSQL: set PARVIS_DATABASE_URL=postgresql+psycopg://…")
    require_free_port(settings.host, settings.port)
    migrate.require_head(settings.database_url)
    uvicorn.run(
        "parvis.app:create_app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        access_log=False,  # our middleware logs route templates, never addresses
        log_config=uvicorn_log_config(settings.log_level),
        server_header=False,
        # The app adds uvicorn's ProxyHeadersMiddleware itself, from PARVIS_TRUSTED_PROXIES
        # (parvis/app.py): one place decides whose X-Forwarded-For is believed.
        proxy_headers=False,
    )


def _ensure_sqlite_dir(settings: Settings) -> None:
    path = settings.sqlite_path()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)


def _redact_url(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in creds else url
    return url


_wired = False


def build_cli() -> typer.Typer:
    """The root command with every domain's sub-commands attached (once)."""
    global _wired  # noqa: PLW0603 - the typer app is a module-level singleton
    if not _wired:
        from parvis.domains import plugins

        for plugin in plugins():
            for group, sub_app in plugin.cli_groups.items():
                app.add_typer(sub_app, name=group)
            for command in plugin.cli_commands:
                app.command()(command)
        _wired = True
    return app


def cli_context(settings: Settings | None = None) -> Any:
    """An :class:`~parvis.kernel.context.AppContext` for a CLI command, domains set up."""
    from parvis.domains import plugins
    from parvis.kernel.context import build_context

    ctx = build_context(settings or settings_from_env())
    for plugin in plugins():
        if plugin.setup is not None:
            plugin.setup(ctx)
    return ctx


def main() -> None:
    """Console-script entry point."""
    cli = build_cli()
    try:
        cli()
    except KeyboardInterrupt:
        sys.exit(130)
