"""``parvis election …`` (officer operations) and ``parvis verify-board`` (anyone).

CLI commands follow ``parvis.cli.one_line_errors``: a refusal is a one-line ``error: …`` on
standard error and exit status 1, never a traceback. Election commands act as the operator
(audit actor ``system:cli``) on the configured database.

``verify-board`` needs neither the database nor the web stack: it reads a file or fetches a
URL with the standard library, then runs :func:`ballot.verify.verify_board` with a progress
bar, so an auditor can run it with only the verification dependencies installed.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from parvis.kernel.cli import fail, one_line_errors
from parvis.kernel.errors import DomainError, InvalidInputError

if TYPE_CHECKING:
    from parvis.kernel.context import AppContext

__all__ = ["election_app", "verify_board"]

CLI_ACTOR = "system:cli"

election_app = typer.Typer(
    help="Elections: define, schedule, open, close, tally, publish, export the board.",
    no_args_is_help=True,
)

ElectionId = Annotated[str, typer.Argument(help="election id (UUID)")]


@contextmanager
def _context() -> Iterator[AppContext]:
    """A context for the configured database (CONTRIBUTING: ``build_context(load_settings())``
    and the services the command needs: ballot's, which reaches audit's and identity's
    through their accessors); its database pool is closed at the end."""
    from ballot.service import service_from
    from parvis.kernel.context import build_context
    from parvis.kernel.settings import load_settings

    ctx = build_context(load_settings())
    service = service_from(ctx)
    try:
        yield ctx
    finally:
        service.committer.stop()
        ctx.db.dispose()


_errors = one_line_errors
_fail = fail


def _status_line(ctx: AppContext, election_id: str) -> str:
    from ballot.service import service_from

    service = service_from(ctx)
    with ctx.db.read_session() as session:
        status = service.status(session, service.get(session, election_id, drafts=True))
    return f"election {status['id']}: {status['status']} — {status['title']['fr']}"


def _read_definition(path: Path) -> object:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return yaml.safe_load(text)  # YAML is a superset of JSON
    except yaml.YAMLError as exc:
        raise InvalidInputError(f"{path} is neither YAML nor JSON: {exc}".splitlines()[0]) from None


@election_app.command("create")
@_errors
def create(
    file: Annotated[Path, typer.Argument(help="election definition (YAML or JSON)")],
    schedule: Annotated[bool, typer.Option(help="also schedule it")] = False,
) -> None:
    """Define a draft election from a file (docs/ballot-api.md, DEFINITION)."""
    from ballot.service import service_from

    data = _read_definition(file)
    with _context() as ctx:
        service = service_from(ctx)
        with ctx.db.write_session() as session:
            election_id = service.create(session, data=data, actor=CLI_ACTOR).id
        if schedule:
            service.schedule(election_id=election_id, actor=CLI_ACTOR)
        typer.echo(_status_line(ctx, election_id))


@election_app.command("list")
@_errors
def list_elections() -> None:
    """Every election with its status."""
    from ballot.service import service_from

    with _context() as ctx, ctx.db.read_session() as session:
        service = service_from(ctx)
        for row in service.elections(session, drafts=True):
            title = service.definition(row).title["fr"]
            typer.echo(f"{row.id}  {row.status:<9}  {title}")


def _step(step: str, election_id: str, **kwargs: Any) -> None:
    from ballot.service import service_from

    with _context() as ctx:
        getattr(service_from(ctx), step)(election_id=election_id, actor=CLI_ACTOR, **kwargs)
        typer.echo(_status_line(ctx, election_id))


@election_app.command("schedule")
@_errors
def schedule_election(election_id: ElectionId) -> None:
    """draft → scheduled (the definition is frozen)."""
    _step("schedule", election_id)


@election_app.command("open")
@_errors
def open_election(election_id: ElectionId) -> None:
    """scheduled → open: make the keys, commit the manifest as entry 0 of the board."""
    _step("open", election_id)


@election_app.command("close")
@_errors
def close_election(
    election_id: ElectionId,
    force: Annotated[bool, typer.Option(help="close before the closing time")] = False,
) -> None:
    """open → closed: append the close entry; no more tokens or ballots."""
    _step("close", election_id, force=force)


@election_app.command("tally")
@_errors
def tally_election(
    election_id: ElectionId,
    verify: Annotated[bool, typer.Option(help="verify the whole board afterwards")] = True,
) -> None:
    """closed → tallied: recount, append and sign the results; then verify the board."""
    from ballot.service import service_from
    from ballot.verify import verify_board as run_verifier

    with _context() as ctx:
        service = service_from(ctx)
        results = service.tally(election_id=election_id, actor=CLI_ACTOR)
        typer.echo(_status_line(ctx, election_id))
        typer.echo(f"ballots counted: {results['ballots']}")
        if verify:
            report = run_verifier(service.export(election_id, reveal=True))
            typer.echo(f"board verified: {len(report.checks)} checks passed")


@election_app.command("publish")
@_errors
def publish_election(election_id: ElectionId) -> None:
    """tallied → published: the full board and the results become public."""
    _step("publish", election_id)


@election_app.command("paper-totals")
@_errors
def paper_totals(
    election_id: ElectionId,
    file: Annotated[Path, typer.Argument(help='{"voters": N, "counts": {question: {option: N}}}')],
) -> None:
    """Enter the paper-ballot totals (after the close, before the tally)."""
    from ballot.service import service_from

    data = _read_definition(file)
    if not isinstance(data, dict) or set(data) != {"voters", "counts"}:
        raise InvalidInputError("paper totals are {voters, counts}")
    with _context() as ctx:
        service_from(ctx).set_paper_totals(
            election_id=election_id, voters=data["voters"], counts=data["counts"], actor=CLI_ACTOR
        )
    typer.echo(f"paper totals recorded for {election_id}")


@election_app.command("export-board")
@_errors
def export_board(
    election_id: ElectionId,
    out: Annotated[Path, typer.Option("--out", help="file to write the export to")],
) -> None:
    """Write the board export (board-format.md §7). Ballots are shown from the close on
    (when at least the minimum anonymity set was cast), withheld before."""
    from ballot.service import service_from

    with _context() as ctx:
        service = service_from(ctx)
        with ctx.db.read_session() as session:
            status = service.get(session, election_id).status
        reveal = status in {"closed", "tallied", "published"}
        with out.open("wb") as handle:
            for chunk in service.export_chunks(election_id, reveal=reveal):
                handle.write(chunk)
    typer.echo(f"board of {election_id} written to {out}")


def verify_board(
    source: Annotated[str, typer.Argument(help="board export: a file or an http(s) URL")],
    receipt: Annotated[
        str | None, typer.Option("--receipt", help="a tracking code to look for")
    ] = None,
    key: Annotated[
        str | None, typer.Option("--key", help="the board verifier key you trust")
    ] = None,
    workers: Annotated[int | None, typer.Option(help="processes (default: every core)")] = None,
) -> None:
    """Verify an election's bulletin board independently (voting-protocol.md, "Verification
    anyone can run"); fails naming the first discrepancy."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from ballot.verify import load_export
    from ballot.verify import verify_board as run_verifier

    try:
        export = load_export(source)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            transient=True,
            disable=not sys.stderr.isatty(),
        ) as progress:
            task = progress.add_task("verifying ballots", total=None)

            def show(_stage: str, done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            report = run_verifier(
                export, trusted_key=key, receipt=receipt, workers=workers, progress=show
            )
    except (DomainError, ValueError) as exc:
        typer.echo(f"error: {' '.join(str(exc).split())}", err=True)
        raise typer.Exit(1) from None
    for line in report.checks:
        typer.echo(f"ok  {line}")
    typer.echo(
        f"verified: election {report.election}, {report.entries} entries, "
        f"{report.counted_ballots} ballot(s) counted"
    )


@election_app.command("export-register")
@_errors
def export_register(
    election_id: ElectionId,
    out: Annotated[Path, typer.Option("--out", help="file to write the register to")],
) -> None:
    """Write the election's issuance register for its scrutineers (ballot-secrecy.md §3;
    ``ballot.register``): every entry under the register's latest checkpoint. The register
    holds FranceConnect ID tokens (personal data): hand it to the scrutineers only. The
    export is an audit event."""
    import json

    from ballot.service import service_from

    with _context() as ctx:
        export = service_from(ctx).export_register(election_id, actor=CLI_ACTOR)
        with out.open("w", encoding="utf-8") as handle:
            json.dump(export, handle, ensure_ascii=False)
    typer.echo(f"issuance register of {election_id} ({export['size']} entries) written to {out}")


@election_app.command("verify-register")
def verify_register(
    source: Annotated[str, typer.Argument(help="issuance register export (JSON file)")],
    board: Annotated[
        str | None,
        typer.Option("--board", help="the election's board export: a file or an http(s) URL"),
    ] = None,
    fc_jwks: Annotated[
        str | None,
        typer.Option("--fc-jwks", help="FranceConnect's published JWKS: a file or a URL"),
    ] = None,
) -> None:
    """Check every entry of an issuance register (FranceConnect signature, nonce, one entry
    per citizen, times in the voting period) and that it matches the board's root and
    counts (ballot-secrecy.md §3). Exit 0 only when all hold; one line per failure."""
    from ballot.verify_register import run

    report = run(source, board=board, fc_jwks=fc_jwks)
    if report.failures:
        raise typer.Exit(1)
