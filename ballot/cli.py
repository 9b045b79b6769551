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

ceremony_app = typer.Typer(
    help="The key ceremony of an encrypted election (docs/adr/0018-encrypted-elections.md): "
    "start it, import a ceremony made with parvis-trustee, see where it stands.",
    no_args_is_help=True,
)
election_app.add_typer(ceremony_app, name="ceremony")


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
    """The file's definition, read by the reader pages and APIs use
    (``ballot/definition_reader.py``: size, depth, alias and tag limits); at most the limit
    + 1 bytes are read, so a huge file is refused without being loaded."""
    from ballot.definition_reader import MAX_DEFINITION_BYTES, read_definition

    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_DEFINITION_BYTES + 1)
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return read_definition(raw)  # YAML, a superset of JSON
    except InvalidInputError as exc:
        raise InvalidInputError(f"{path}: {exc.detail}") from None


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
        if results["ballots"] is not None:
            typer.echo(f"ballots counted: {results['ballots']}")
        if results.get("status") == "decrypting":
            # docs/board-format.md §10.4: the trustees decrypt the sums now on the board.
            typer.echo(
                "sums on the board; waiting for the trustees' partial decryptions "
                f"(parvis election sums {election_id} --out DIR, then parvis-trustee decrypt, "
                f"then parvis election partial {election_id} FILE)"
            )
            return
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


@election_app.command("sums")
@_errors
def sums(
    election_id: ElectionId,
    out: Annotated[Path, typer.Option("--out", help="directory for sums.json and context.json")],
) -> None:
    """Write what the trustees decrypt (docs/trustee-tool.md, "Decrypting the results"):
    the tally-sums entry's sums.json and context.json."""
    import json

    from ballot.service import service_from

    with _context() as ctx:
        inputs = service_from(ctx).decryption_inputs(election_id)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("sums", "context"):
        (out / f"{name}.json").write_text(json.dumps(inputs[name], indent=1) + "\n", "utf-8")
    done = [t["index"] for t in inputs["trustees"] if t["decrypted"]]
    typer.echo(
        f"{out / 'sums.json'} and {out / 'context.json'} written; "
        f"{len(done)} of the {inputs['threshold']} partial decryptions needed are on the board"
    )


@election_app.command("partial")
@_errors
def partial(
    election_id: ElectionId,
    file: Annotated[Path, typer.Argument(help="a trustee's parvis-trustee decrypt output")],
) -> None:
    """Append a trustee's partial decryption (verified first; docs/board-format.md §10.4);
    with the threshold-th, the results entry follows and the election is tallied."""
    import json

    from ballot.service import service_from

    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"cannot read {file} as JSON: {exc}") from None
    with _context() as ctx:
        outcome = service_from(ctx).add_partial_decryption(
            election_id=election_id, document=document, actor=CLI_ACTOR
        )
        typer.echo(
            f"trustee {outcome['trustee']}'s partial decryption is on the board "
            f"({outcome['partials']} of {outcome['threshold']} needed)"
        )
        typer.echo(_status_line(ctx, election_id))


@election_app.command("simulate")
@_errors
def simulate(
    election_id: ElectionId,
    voters: Annotated[int, typer.Option("--voters", help="how many fictitious voters")],
    seed: Annotated[
        int | None, typer.Option("--seed", help="seed of the random choices (reproducible)")
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(
            "--url", help="the running Parvis they talk to (default http://127.0.0.1:PARVIS_PORT)"
        ),
    ] = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", help="voters at a time (1 to 64)")
    ] = 1,
) -> None:
    """Cast N random valid ballots through the real HTTP path, as booths do (token, then
    cast; encrypted in an encrypted election). Refused in production unless the election is
    a rehearsal. The last line is JSON: counts and timing."""
    import json

    from ballot.simulation import simulate as run

    with _context() as ctx:
        report = run(
            ctx,
            election_id=election_id,
            voters=voters,
            seed=seed,
            base_url=url,
            concurrency=concurrency,
        )
    typer.echo(json.dumps(report.to_json(), sort_keys=True))
    if report.cast != voters:
        raise typer.Exit(1)


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
        reveal = status in {"closed", "decrypting", "tallied", "published"}
        with out.open("wb") as handle:
            for chunk in service.export_chunks(election_id, reveal=reveal):
                handle.write(chunk)
    typer.echo(f"board of {election_id} written to {out}")


def _read_json(path: Path) -> object:
    import json

    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"{path} is not JSON: {exc}".splitlines()[0]) from None


def _write_json(document: object, out: Path | None) -> None:
    import json

    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"written to {out}")


@ceremony_app.command("start")
@_errors
def ceremony_start(
    election_id: ElectionId,
    static_key: Annotated[
        list[str] | None,
        typer.Option(
            "--static-key",
            help="a trustee's static key (hex, from parvis-trustee keygen), once per trustee "
            "in the definition's order; without it, the keys the trustees registered",
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="write setup.json here")] = None,
) -> None:
    """Write dkg-setup: make the issuance key and the board, fix the terms (board-format.md
    §10.1) and give setup.json to the trustees."""
    from ballot.service import service_from

    with _context() as ctx:
        setup = service_from(ctx).start_ceremony(
            election_id=election_id, actor=CLI_ACTOR, static_keys=static_key or None
        )
    _write_json(setup, out)


@ceremony_app.command("import")
@_errors
def ceremony_import(
    election_id: ElectionId,
    file: Annotated[Path, typer.Argument(help="ceremony.json (parvis-dkg-ceremony-v1)")],
) -> None:
    """Check a complete ceremony made with parvis-trustee and put every message and
    dkg-complete on the board (then `parvis election open`)."""
    from ballot.service import service_from

    document = _read_json(file)
    with _context() as ctx:
        service_from(ctx).import_ceremony(
            election_id=election_id, document=document, actor=CLI_ACTOR
        )
        typer.echo(_ceremony_line(ctx, election_id))


@ceremony_app.command("status")
@_errors
def ceremony_status(election_id: ElectionId) -> None:
    """Where the ceremony stands: each trustee's key, round-1 message and signature."""
    from ballot.service import service_from

    with _context() as ctx:
        typer.echo(_ceremony_line(ctx, election_id))
        with ctx.db.read_session() as session:
            state = service_from(ctx).ceremony_state(session, election_id)
        for trustee in state["trustees"]:
            marks = [
                "key" if trustee["static_key"] else "no key",
                "round 1" if trustee["round1"] else "no round 1",
                "signed" if trustee["signature"] else "not signed",
            ]
            typer.echo(f"  {trustee['position']}. {trustee['label']}: {', '.join(marks)}")


@ceremony_app.command("export")
@_errors
def ceremony_export(
    election_id: ElectionId,
    what: Annotated[str, typer.Argument(help="setup, round1s or ceremony")],
    out: Annotated[Path | None, typer.Option("--out", help="file to write")] = None,
) -> None:
    """Write setup.json, round1s.json or ceremony.json (docs/trustee-tool.md) from the board."""
    from ballot.service import service_from

    readers = {"setup": "setup_of", "round1s": "round1s_of", "ceremony": "ceremony_document"}
    if what not in readers:
        raise InvalidInputError("export setup, round1s or ceremony")
    with _context() as ctx, ctx.db.read_session() as session:
        document = getattr(service_from(ctx), readers[what])(session, election_id)
    _write_json(document, out)


@ceremony_app.command("new-attempt")
@_errors
def ceremony_new_attempt(election_id: ElectionId) -> None:
    """Abandon the current attempt (a trustee gone): its entries stay on the board; the
    trustees make fresh keys and the ceremony starts again with attempt + 1."""
    from ballot.service import service_from

    with _context() as ctx:
        attempt = service_from(ctx).new_attempt(election_id=election_id, actor=CLI_ACTOR)
    typer.echo(f"election {election_id}: attempt {attempt}; register fresh static keys")


def _ceremony_line(ctx: AppContext, election_id: str) -> str:
    from ballot.service import service_from

    with ctx.db.read_session() as session:
        state = service_from(ctx).ceremony_state(session, election_id)
    done = sum(1 for t in state["trustees"] if t["signature"])
    return (
        f"election {state['election']}: ceremony attempt {state['attempt']}, step "
        f"{state['step']} ({state['threshold']} of {len(state['trustees'])} trustees; "
        f"{done} signature(s))"
    )


def verify_board(
    source: Annotated[str, typer.Argument(help="board export: a file or an http(s) URL")],
    receipt: Annotated[
        str | None, typer.Option("--receipt", help="a tracking code to look for")
    ] = None,
    key: Annotated[
        str | None, typer.Option("--key", help="the board verifier key you trust")
    ] = None,
    workers: Annotated[int | None, typer.Option(help="processes (default: every core)")] = None,
    prev_checkpoint: Annotated[
        Path | None,
        typer.Option(
            "--prev-checkpoint",
            help="a checkpoint of this board kept from earlier: the board must extend it",
            metavar="FILE",
        ),
    ] = None,
) -> None:
    """Verify an election's bulletin board independently (voting-protocol.md, "Verification
    anyone can run"); fails naming the first discrepancy (every failure, one line each, for
    an encrypted board: board-format.md §10.5)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from ballot.verify import load_export
    from ballot.verify import verify_board as run_verifier

    try:
        previous = None if prev_checkpoint is None else prev_checkpoint.read_text(encoding="utf-8")
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
                export,
                trusted_key=key,
                receipt=receipt,
                workers=workers,
                progress=show,
                previous_checkpoint=previous,
            )
    except (DomainError, ValueError, OSError) as exc:
        # An encrypted board reports every failure, one line each (board-format.md §10.5).
        for line in getattr(exc, "failures", None) or [str(exc)]:
            typer.echo(f"error: {' '.join(line.split())}", err=True)
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
