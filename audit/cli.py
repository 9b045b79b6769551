"""``parvis audit record|checkpoint|key|proof|verify`` (ADR 0003, "Verification": other tools
rely on these names and output formats).

Every command fails with one line on standard error and exit status 1 (the
``parvis.cli.one_line_errors`` semantics: domain errors are raised, never printed as
tracebacks). Hashes in JSON output are standard base64.
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from parvis.kernel.cli import one_line_errors
from parvis.kernel.context import AppContext, build_context
from parvis.kernel.errors import InvalidInputError
from parvis.kernel.settings import load_settings

__all__ = ["audit_app"]


audit_app = typer.Typer(
    help="Transparency logs: record events, print checkpoints, keys and proofs, verify.",
    no_args_is_help=True,
)

CLI_ACTOR = "system:cli"

LogOption = Annotated[str, typer.Option("--log", help="log name (the audit trail is 'audit')")]


_one_line = one_line_errors


@contextmanager
def _context() -> Iterator[AppContext]:
    ctx = build_context(load_settings())
    try:
        yield ctx
    finally:
        ctx.db.dispose()


def _details(detail: str | None) -> Iterator[tuple[str, dict[str, Any]]]:
    """``--detail`` or one JSON object per non-empty line of standard input."""
    sources = [("--detail", detail)] if detail is not None else None
    if sources is None:
        sources = [
            (f"line {n} of standard input", line)
            for n, line in enumerate(sys.stdin, start=1)
            if line.strip()
        ]
    for where, text in sources:
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            raise InvalidInputError(f"{where} is not JSON") from None
        if not isinstance(value, dict):
            raise InvalidInputError(f"{where} is not a JSON object")
        yield where, value


@audit_app.command("record")
@_one_line
def record(
    *,
    log: LogOption = "audit",
    event_type: Annotated[str, typer.Option("--type", help="event type")] = "manual",
    detail: Annotated[
        str | None,
        typer.Option("--detail", help="details as a JSON object; without it, one per stdin line"),
    ] = None,
    actor: Annotated[str, typer.Option("--actor", help="who acts (role or pseudonym)")] = CLI_ACTOR,
    subject: Annotated[str | None, typer.Option("--subject", help="subject pseudonym")] = None,
    purpose: Annotated[str | None, typer.Option("--purpose", help="purpose id")] = None,
) -> None:
    """Record manual events (a DPO's inspection, a breach notification), then integrate them
    unless a server's sequencer leads. Prints one JSON object per event."""
    from audit.service import service_from

    events = list(_details(detail))
    if not events:
        raise InvalidInputError("nothing to record: no --detail and no line on standard input")
    with _context() as ctx:
        service = service_from(ctx)
        with ctx.db.write_session() as session:
            promises = [
                service.record(
                    session,
                    event_type=event_type,
                    actor=actor,
                    subject=subject,
                    purpose=purpose,
                    details=details,
                    log=log,
                )
                for _where, details in events
            ]
        integrated = service.integrate(log=log)
        with ctx.db.read_session() as session:
            for promise in promises:
                index = None
                if integrated:
                    index = service.index_of(session, log=log, leaf_hash=promise.leaf_hash)
                typer.echo(
                    json.dumps(
                        {
                            "log": log,
                            "index": index,
                            "leaf_hash": base64.b64encode(promise.leaf_hash).decode("ascii"),
                            "integrate_by": promise.integrate_by.isoformat(),
                            "promise": promise.note,
                        }
                    )
                )
    if not integrated:
        typer.echo("a sequencer leader is running: it will integrate these entries", err=True)


@audit_app.command("checkpoint")
@_one_line
def checkpoint(log: LogOption = "audit") -> None:
    """Print the latest signed checkpoint (C2SP tlog-checkpoint)."""
    from audit.service import service_from

    with _context() as ctx, ctx.db.read_session() as session:
        note = service_from(ctx).checkpoint(session, log=log)
    typer.echo(note, nl=False)


@audit_app.command("key")
@_one_line
def key(log: LogOption = "audit") -> None:
    """Print the log's verifier key text (<origin>+<key id>+<base64 key>)."""
    from audit.service import service_from

    with _context() as ctx, ctx.db.read_session() as session:
        text = service_from(ctx).log_info(session, log=log).verifier_key
    typer.echo(text)


@audit_app.command("proof")
@_one_line
def proof(
    log: LogOption = "audit",
    index: Annotated[int | None, typer.Option("--index", help="entry index", min=0)] = None,
    size: Annotated[
        int | None, typer.Option("--size", help="tree size (default: latest)", min=1)
    ] = None,
    consistency: Annotated[
        tuple[int, int] | None,
        typer.Option("--consistency", help="two tree sizes M N", metavar="M N"),
    ] = None,
) -> None:
    """Print an inclusion proof (--index I [--size N]) or a consistency proof
    (--consistency M N) as JSON, hashes in base64."""
    from audit.service import service_from

    if (index is None) == (consistency is None):
        raise InvalidInputError("give either --index or --consistency M N")
    with _context() as ctx, ctx.db.read_session() as session:
        service = service_from(ctx)
        if consistency is not None:
            first, second = consistency
            result = service.consistency_proof(
                session, log=log, first=first, second=second
            ).to_json()
        else:
            assert index is not None
            result = service.inclusion_proof(session, log=log, index=index, size=size).to_json()
    typer.echo(json.dumps(result))


@audit_app.command("verify")
@_one_line
def verify(
    log: LogOption = "audit",
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            help="base URL of a Parvis server, for public logs only (default: local DB)",
        ),
    ] = None,
    state: Annotated[
        Path | None,
        typer.Option("--state", help="state file: the checkpoint remembered from the last run"),
    ] = None,
    key_text: Annotated[
        str | None,
        typer.Option("--key", help="trusted verifier key (default: PARVIS_AUDIT_VERIFIER_KEYS)"),
    ] = None,
    prev_checkpoint: Annotated[
        Path | None,
        typer.Option(
            "--prev-checkpoint",
            help="a signed checkpoint of this log kept from earlier: the log must extend it",
            metavar="FILE",
        ),
    ] = None,
) -> None:
    """Check the checkpoint signature, consistency with the remembered checkpoint (and with
    the one given with --prev-checkpoint) and every entry; exit 1 naming the first
    discrepancy."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from audit.note import VerifierKey
    from audit.service import service_from
    from audit.verifier import HttpSource, LocalSource, LogSource, configured_key, verify_log

    previous = None
    if prev_checkpoint is not None:
        try:
            previous = prev_checkpoint.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInputError(f"--prev-checkpoint {prev_checkpoint}: {exc}") from None
    settings = load_settings()
    trusted = (
        VerifierKey.parse(key_text)
        if key_text is not None
        else configured_key(settings.audit_verifier_keys, log=log)
    )
    console = Console(stderr=True)
    progress = Progress(
        TextColumn("verifying entries"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
    )
    task = progress.add_task("entries", total=None)

    def on_size(size: int) -> None:
        progress.update(task, total=size)
        # A progress bar only for long runs on a terminal.
        if size >= 10_000 and console.is_terminal:
            progress.start()

    with _context() as ctx:
        source: LogSource
        client = None
        if url is None:
            source = LocalSource(service=service_from(ctx), db=ctx.db, log=log)
        else:
            import httpx

            client = httpx.Client(timeout=30)
            source = HttpSource(client=client, base_url=url, log=log)
        try:
            report = verify_log(
                source,
                configured_key=trusted,
                state_path=state,
                progress=lambda n: progress.advance(task, n),
                on_size=on_size,
                previous_checkpoint=previous,
            )
        finally:
            progress.stop()
            if client is not None:
                client.close()
        if url is None:
            report.lines.append(_check_view(ctx, log=log))
        else:
            # The typed view is not published: only the server's own database can be checked.
            report.lines.append("the typed view audit_events is checked only without --url")
    for line in report.lines:
        typer.echo(line)


def _check_view(ctx: AppContext, *, log: str) -> str:
    """Check ``audit_events`` against the leaves (:mod:`audit.viewcheck`); raise naming the
    first mismatch."""
    from audit.errors import LogVerificationError
    from audit.service import service_from

    with ctx.db.read_session() as session:
        checked, mismatches = service_from(ctx).check_view(session, log=log)
    if mismatches:
        more = f" (and {len(mismatches) - 1} more)" if len(mismatches) > 1 else ""
        raise LogVerificationError(
            f"the typed view does not match the log: {mismatches[0]}{more}",
            index=mismatches[0].index,
        )
    return f"the typed view audit_events matches the leaves ({checked} rows checked)"


@audit_app.command("acknowledge-rollback")
@_one_line
def acknowledge_rollback(
    log: Annotated[str, typer.Argument(help="the log held behind its published checkpoint")],
    reason: Annotated[str, typer.Option("--reason", help="why the rollback is accepted (audited)")],
) -> None:
    """Accept a log that a restore put behind a checkpoint it had published, so integration
    resumes from the database's state (docs/adr/0017-rollback-detection.md). The reason and
    both tree sizes go to the audit trail."""
    from audit.service import service_from

    with _context() as ctx:
        service = service_from(ctx)
        alarm = service.acknowledge_rollback(log=log, reason=reason, actor=CLI_ACTOR)
        integrated = service.integrate()
    database = "missing" if alarm.database_size is None else f"size {alarm.database_size}"
    done = (
        f"{integrated} queued entries integrated"
        if integrated
        else "the sequencer integrates queued entries"
    )
    typer.echo(
        f"log {log}: rollback from size {alarm.remembered_size} to {database} acknowledged; " + done
    )
