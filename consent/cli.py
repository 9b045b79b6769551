"""``parvis consent …``: register export, receipts, purge, register file, API clients.

Every command fails with one line on standard error and exit status 1 (the
``parvis.cli.one_line_errors`` semantics): domain errors are raised, never printed as
tracebacks.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from parvis.kernel.cli import one_line_errors
from parvis.kernel.context import AppContext, build_context
from parvis.kernel.settings import load_settings

__all__ = ["consent_app"]


consent_app = typer.Typer(
    help="The GDPR registry: register, receipts, retention, platforms.", no_args_is_help=True
)
CLI_ACTOR = "system:cli"


_one_line = one_line_errors


@contextmanager
def _context() -> Iterator[AppContext]:
    from consent import service_from

    ctx = build_context(load_settings())
    service_from(ctx)
    try:
        yield ctx
    finally:
        ctx.db.dispose()


@consent_app.command("register")
@_one_line
def register(
    controller: Annotated[str, typer.Option("--controller", help="controller id")],
    fmt: Annotated[str, typer.Option("--format", help="csv, json or ods")] = "csv",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="file to write (default: stdout)")
    ] = None,
) -> None:
    """Export a controller's Art. 30 register in the CNIL model layout (CSV, JSON or ODS)."""
    from consent.errors import CatalogueError
    from consent.pages import EXPORT_FORMATS, export_register

    if fmt not in EXPORT_FORMATS:
        raise CatalogueError("--format must be csv, json or ods")
    with _context() as ctx:
        text, _media = export_register(ctx, controller, fmt)
    if isinstance(text, bytes):
        if output is None:
            sys.stdout.buffer.write(text)
            sys.stdout.flush()
        else:
            output.write_bytes(text)
            typer.echo(f"register of {controller} written to {output}")
        return
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        output.write_text(text, encoding="utf-8", newline="")
        typer.echo(f"register of {controller} written to {output}")


@consent_app.command("verify-receipt")
@_one_line
def verify_receipt_command(
    file: Annotated[Path, typer.Argument(help="receipt JSON file")],
    public_key: Annotated[
        str | None,
        typer.Option(
            "--public-key",
            help="base64 Ed25519 key, or a file holding the published key JSON "
            "(default: this installation's key)",
        ),
    ] = None,
) -> None:
    """Verify a consent receipt offline; exit 1 with the reason if it does not verify."""
    from consent.receipts import ReceiptKey, verify_receipt

    raw = file.read_bytes()
    if public_key is None:
        from consent.receipts import ReceiptSigner
        from parvis.kernel.keys import derive_key

        settings = load_settings()
        key = ReceiptSigner(derive_key(settings.secret_key, "consent/receipt-signing/v1")).verifier
    else:
        candidate = Path(public_key)
        text = candidate.read_text(encoding="utf-8") if candidate.is_file() else public_key
        key = ReceiptKey.parse(text)
    verified = verify_receipt(raw, trusted=[key])
    typer.echo(
        f"receipt {verified.record_id} verifies: {verified.event_type} for purpose "
        f"{verified.purpose_id} at {verified.event_time} (key {verified.key_id})"
    )


@consent_app.command("receipt-key")
@_one_line
def receipt_key() -> None:
    """Print this installation's receipt verification key (JSON), to publish."""
    from consent.receipts import ReceiptSigner
    from parvis.kernel.keys import derive_key

    settings = load_settings()
    key = ReceiptSigner(derive_key(settings.secret_key, "consent/receipt-signing/v1")).verifier
    typer.echo(json.dumps(key.to_dict()))


@consent_app.command("purge")
@_one_line
def purge(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="count what would be purged; change nothing")
    ] = False,
) -> None:
    """Apply the retention periods of the register (idempotent); print the report (JSON)."""
    from consent.retention import purge as run_purge

    with _context() as ctx, ctx.db.write_session() as session:
        report = run_purge(ctx, session, dry_run=dry_run, actor=CLI_ACTOR)
    typer.echo(json.dumps(report.to_json(), ensure_ascii=False, indent=2))


@consent_app.command("expire")
@_one_line
def expire() -> None:
    """Record an `expired` event for every consent whose validity period has ended."""
    from consent import service_from

    with _context() as ctx, ctx.db.write_session() as session:
        count = service_from(ctx).expire_due(session, limit=100_000)
    typer.echo(f"{count} consent(s) expired")


@consent_app.command("load")
@_one_line
def load(
    file: Annotated[Path, typer.Argument(help="register file (YAML or JSON)")],
) -> None:
    """Create or update controllers and purposes and publish their notices, from a file."""
    import yaml

    from consent.errors import CatalogueError
    from consent.loader import load_document

    try:
        document = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise CatalogueError(f"{file}: not valid YAML or JSON{where}") from None
    with _context() as ctx, ctx.db.write_session() as session:
        report = load_document(ctx, session, document, actor=CLI_ACTOR)
    for line in report.lines():
        typer.echo(line)


@consent_app.command("add-client")
@_one_line
def add_client(
    controller: Annotated[str, typer.Option("--controller", help="controller id")],
    client_id: Annotated[
        str, typer.Option("--id", help="the platform's OAuth client id, e.g. decidim")
    ],
    name: Annotated[str, typer.Option("--name", help="platform name")] = "",
    webhook: Annotated[
        str | None, typer.Option("--webhook", help="URL receiving signed webhooks")
    ] = None,
) -> None:
    """Link a platform's OAuth client to a controller: its client-credentials access tokens
    then act for that controller at the platform APIs (ADR 0007). No key is minted."""
    from consent.clients import link_client
    from consent.webhooks import subscribe

    with _context() as ctx, ctx.db.write_session() as session:
        link_client(
            ctx,
            session,
            client_id=client_id,
            controller_id=controller,
            name=name or client_id,
            actor=CLI_ACTOR,
        )
        if webhook:
            subscribe(ctx, session, client_id=client_id, url=webhook)
    typer.echo(f"platform {client_id} acts for controller {controller}")
    typer.echo(
        "it authenticates with the client-credentials grant: if not done yet, register it with "
        f"`parvis client create {client_id} --name NAME --scope api:consent --scope api:ballot`"
    )


@consent_app.command("retire-key")
@_one_line
def retire_key_command(
    client_id: Annotated[str, typer.Option("--id", help="the platform's client id")],
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help="sunset date (ISO 8601 with timezone, e.g. 2027-03-31T00:00:00+00:00); "
            "default: now, which removes the key",
        ),
    ] = None,
) -> None:
    """End (or reschedule the end of) a platform's deprecated interim API key."""
    from datetime import datetime

    from consent.clients import retire_key
    from consent.errors import CatalogueError

    when = None
    if at is not None:
        try:
            when = datetime.fromisoformat(at)
        except ValueError:
            raise CatalogueError("--at must be an ISO 8601 date and time") from None
    with _context() as ctx, ctx.db.write_session() as session:
        sunset = retire_key(ctx, session, client_id=client_id, actor=CLI_ACTOR, at=when)
    if sunset is None:
        typer.echo(f"platform {client_id} has no API key any more")
    else:
        typer.echo(f"the API key of {client_id} stops working at {sunset.isoformat()}")
