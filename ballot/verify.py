"""The independent board verifier (voting-protocol.md, "Verification anyone can run").

Pure apart from an optional process pool: it needs no web server and no database, only the
verification libraries (cryptography, PyNaCl, rfc8785), so an auditor can run it alone:
``python -m ballot.verify board.json [--receipt CODE]`` or ``parvis verify-board``.

Checks, in this order, failing on the first discrepancy with the entry index:

1. the export's format; entry 0 is the manifest; the board origin and key are the
   manifest's (and the key the caller trusts, when given);
2. every checkpoint is signed by the board key (C2SP signed-note), sizes never decrease,
   each checkpoint's root equals the root recomputed from the entries at that size
   (which implies consistency between checkpoints), and the last covers every entry;
3. entry kinds and order: one manifest first; ballots only before the close entry; issuance
   counts never decrease; results only after close;
4. every ballot: the token verifies as RSA-PSS under the manifest key (RFC 9474 §4.5), its
   message names this election, the ballot signature verifies under the token's key, and
   the choices follow the question rules;
5. nullifiers: a token counts once; with re-voting, the highest ``seq`` wins and a lower or
   equal ``seq`` after a higher one is a discrepancy; without re-voting a second ballot on
   the same token is;
6. #ballots ≤ #tokens issued ≤ eligible population;
7. the published tally equals the recount; paper counts appear separately;
8. optionally, a receipt's tracking code names a ballot on the board.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from audit.merkle import CompactRange
from audit.note import VerifierKey, open_checkpoint
from ballot.board import (
    EXPORT_FORMAT,
    entry_leaf_hash,
    normalise_tracking_code,
    tracking_code,
    withheld_hash,
)
from ballot.manifest import Manifest
from ballot.questions import check_choices
from ballot.tally import tally
from ballot.token import verify_cast
from parvis.kernel.errors import DomainError, InvalidInputError

__all__ = ["BoardVerificationError", "VerificationReport", "main", "verify_board"]

Progress = Callable[[str, int, int], None]


class BoardVerificationError(InvalidInputError):
    """The board does not verify; ``index`` is the first entry at fault (None: the whole)."""

    title = "Bulletin board does not verify"

    def __init__(self, detail: str, *, index: int | None = None) -> None:
        super().__init__(f"entry {index}: {detail}" if index is not None else detail)
        self.index = index


@dataclass
class VerificationReport:
    """What was checked, for the verifier's printout."""

    election: str = ""
    entries: int = 0
    checkpoints: int = 0
    ballots_on_board: int = 0
    counted_ballots: int = 0
    tokens_issued: int | None = None
    eligible_population: int = 0
    recounted: bool = False
    receipt_index: int | None = None
    checks: list[str] = field(default_factory=list)


# -- ballots, possibly in several processes -------------------------------------------------

_WORKER_MANIFEST: Manifest | None = None


def _init_worker(manifest_json: Mapping[str, Any]) -> None:
    global _WORKER_MANIFEST  # noqa: PLW0603 - per-process cache of the parsed manifest
    _WORKER_MANIFEST = Manifest.from_json(manifest_json)


BallotResult = tuple[int, bytes, bytes, int, Any] | tuple[int, bytes, str]


def _check_casts(batch: Sequence[tuple[int, Mapping[str, Any]]]) -> list[BallotResult]:
    """Hash and verify a batch of ballot entries: per entry ``(index, leaf hash, nullifier,
    seq, choices)``, or ``(index, leaf hash, reason)`` when it does not verify. Every entry
    is hashed even after a failure, so that the tree checks can run first."""
    manifest = _WORKER_MANIFEST
    assert manifest is not None, "the pool initializer parses the manifest"
    key = manifest.public_key()
    out: list[BallotResult] = []
    for index, entry in batch:
        leaf = entry_leaf_hash(entry)
        try:
            if set(entry) != {"kind", "cast"}:
                raise BoardVerificationError("a ballot entry has exactly kind and cast")
            cast = entry["cast"]
            verified = verify_cast(key, expected_election_id=manifest.election_id, cast=cast)
            check_choices(manifest.questions, verified.choices)
        except DomainError as exc:
            out.append((index, leaf, str(exc)))
            continue
        out.append((index, leaf, verified.nullifier, verified.seq, verified.choices))
    return out


def _verify_ballots(
    manifest: Manifest,
    ballots: Sequence[tuple[int, Mapping[str, Any]]],
    *,
    workers: int,
    chunk: int,
    progress: Progress | None,
) -> list[BallotResult]:
    """Every ballot entry hashed and verified, in index order (errors included)."""
    results: list[BallotResult] = []
    batches = [ballots[i : i + chunk] for i in range(0, len(ballots), chunk)]

    def collect(batch_result: list[BallotResult]) -> None:
        results.extend(batch_result)
        if progress is not None:
            progress("ballots", len(results), len(ballots))

    if workers <= 1 or len(ballots) < 2 * chunk:
        _init_worker(manifest.to_json())
        for batch in batches:
            collect(_check_casts(batch))
    else:
        with ProcessPoolExecutor(
            max_workers=workers, initializer=_init_worker, initargs=(manifest.to_json(),)
        ) as pool:
            for batch_result in pool.map(_check_casts, batches):
                collect(batch_result)
    return results


# -- the board ------------------------------------------------------------------------------


def _manifest(entries: Sequence[Mapping[str, Any]]) -> Manifest:
    if not entries:
        raise BoardVerificationError("the board is empty")
    first = entries[0]
    if first.get("kind") != "manifest" or set(first) != {"kind", "manifest"}:
        raise BoardVerificationError("entry 0 must be the manifest", index=0)
    try:
        return Manifest.from_json(first["manifest"])
    except DomainError as exc:
        raise BoardVerificationError(str(exc), index=0) from None


def _check_checkpoints(
    leaves: Sequence[bytes],
    checkpoints: Sequence[str],
    *,
    manifest: Manifest,
    report: VerificationReport,
) -> None:
    if not checkpoints:
        raise BoardVerificationError("the export carries no checkpoint")
    key = manifest.verifier_key()
    wanted: list[tuple[int, bytes, int]] = []
    previous = 0
    for number, note in enumerate(checkpoints):
        try:
            verified = open_checkpoint(note, origin=manifest.board_origin, log_key=key)
        except DomainError as exc:
            raise BoardVerificationError(f"checkpoint {number}: {exc}") from None
        size = verified.checkpoint.size
        if size < previous:
            raise BoardVerificationError(f"checkpoint {number}: the tree shrank to {size}")
        if size > len(leaves):
            raise BoardVerificationError(
                f"checkpoint {number} covers {size} entries but the export has {len(leaves)}"
            )
        previous = size
        wanted.append((size, verified.checkpoint.root_hash, number))
    if previous != len(leaves):
        raise BoardVerificationError(
            f"the last checkpoint covers {previous} of the {len(leaves)} entries"
        )
    by_size: dict[int, list[tuple[bytes, int]]] = {}
    for size, root, number in wanted:
        by_size.setdefault(size, []).append((root, number))
    tree = CompactRange.empty()
    for size in sorted(by_size):
        tree = tree.append(leaves[tree.size : size]).compact_range
        root = tree.root()
        for expected, number in by_size[size]:
            if expected != root:
                raise BoardVerificationError(
                    f"checkpoint {number}: its root for size {size} is not the root of the "
                    "entries (an entry was altered, removed, added or reordered)"
                )
    report.checkpoints = len(checkpoints)
    report.checks.append(
        f"{len(checkpoints)} checkpoint(s) signed by {manifest.board_origin}, each consistent "
        f"with the {len(leaves)} entries"
    )


def _open_export(
    export: Mapping[str, Any], *, trusted_key: str | None, report: VerificationReport
) -> tuple[list[Mapping[str, Any]], Manifest]:
    if export.get("format") != EXPORT_FORMAT or not isinstance(export.get("entries"), list):
        raise BoardVerificationError(f"not a board export (format {EXPORT_FORMAT} expected)")
    entries: list[Mapping[str, Any]] = export["entries"]
    if not all(isinstance(e, Mapping) for e in entries):
        raise BoardVerificationError("every entry must be a JSON object")
    manifest = _manifest(entries)
    report.election = str(manifest.to_json()["election"])
    report.eligible_population = manifest.eligible_population
    if export.get("origin") != manifest.board_origin:
        raise BoardVerificationError("the export's origin is not the manifest's board origin")
    if trusted_key is not None and VerifierKey.parse(trusted_key) != manifest.verifier_key():
        raise BoardVerificationError("the manifest's board key is not the key you trust")
    report.checks.append("entry 0 is the manifest; board origin and key match it")
    return entries, manifest


def verify_board(
    export: Mapping[str, Any],
    *,
    trusted_key: str | None = None,
    receipt: str | None = None,
    workers: int | None = None,
    chunk: int = 500,
    progress: Progress | None = None,
) -> VerificationReport:
    """Verify a board export; raise :class:`BoardVerificationError` at the first fault.

    Ballots are verified in batches of ``chunk`` by ``workers`` processes (default: every
    core); boards with fewer than two batches are verified in this process.
    """
    report = VerificationReport()
    entries, manifest = _open_export(export, trusted_key=trusted_key, report=report)

    ballots, close, results, paper, withheld, issued = _walk(entries)
    checked = _verify_ballots(
        manifest,
        ballots,
        workers=workers or os.cpu_count() or 1,
        chunk=chunk,
        progress=progress,
    )
    leaves: list[bytes | None] = [None] * len(entries)
    for item in checked:
        leaves[item[0]] = item[1]
    for index, entry in enumerate(entries):
        if leaves[index] is None:
            try:
                hidden = withheld_hash(entry)
                leaves[index] = hidden if hidden is not None else entry_leaf_hash(entry)
            except DomainError as exc:
                raise BoardVerificationError(str(exc), index=index) from None
    all_leaves = [leaf for leaf in leaves if leaf is not None]
    report.entries = len(entries)
    checkpoints = export.get("checkpoints")
    if not isinstance(checkpoints, list) or not all(isinstance(c, str) for c in checkpoints):
        raise BoardVerificationError("checkpoints must be a list of signed notes")
    # The tree is checked before the ballots: an altered entry is first of all a log that
    # does not match its signed checkpoints.
    _check_checkpoints(all_leaves, checkpoints, manifest=manifest, report=report)

    verified: list[tuple[int, bytes, int, Any]] = []
    for item in checked:
        if len(item) == 3:
            raise BoardVerificationError(item[2], index=item[0])
        verified.append((item[0], item[2], item[3], item[4]))
    report.ballots_on_board = len(ballots) + withheld
    counted = _resolve_nullifiers(verified, revote=manifest.revote)
    report.counted_ballots = len(counted) + withheld
    if withheld and results is not None:
        # Withheld entries hide which of them are re-votes: the count is the published one,
        # which _check_results holds between the ballots shown and every entry on the board.
        published = results[1].get("ballots")
        if isinstance(published, int) and not isinstance(published, bool):
            report.counted_ballots = published
    report.checks.append(
        f"{len(verified)} ballot(s): tokens verify under the manifest key "
        f"{manifest.issuer_key_id.hex()[:16]}…, ballot signatures and rules hold"
    )
    tokens = close["tokens_issued"] if close is not None else issued
    report.tokens_issued = tokens
    if tokens is not None:
        if report.counted_ballots > tokens:
            raise BoardVerificationError(
                f"{report.counted_ballots} ballots counted but only {tokens} tokens issued"
            )
        if tokens > manifest.eligible_population:
            raise BoardVerificationError(
                f"{tokens} tokens issued for an eligible population of "
                f"{manifest.eligible_population}"
            )
        report.checks.append(
            f"ballots ({report.counted_ballots}) ≤ tokens issued ({tokens}) ≤ eligible "
            f"population ({manifest.eligible_population})"
        )
    if results is not None:
        _check_results(manifest, results, paper, counted, withheld=withheld, tokens=tokens)
        report.recounted = withheld == 0
        report.checks.append(
            "the published tally equals the recount"
            if withheld == 0
            else "aggregate publication: individual ballots withheld (below the anonymity set)"
        )
    if receipt is not None:
        report.receipt_index = _find_receipt(receipt, all_leaves, entries)
        report.checks.append(f"receipt {receipt} names entry {report.receipt_index}")
    return report


def _walk(
    entries: Sequence[Mapping[str, Any]],
) -> tuple[
    list[tuple[int, Mapping[str, Any]]],
    Mapping[str, Any] | None,
    tuple[int, Mapping[str, Any]] | None,
    Mapping[str, Any] | None,
    int,
    int | None,
]:
    ballots: list[tuple[int, Mapping[str, Any]]] = []
    close: Mapping[str, Any] | None = None
    results: tuple[int, Mapping[str, Any]] | None = None
    paper: Mapping[str, Any] | None = None
    withheld = 0
    issued: int | None = None
    for index, entry in enumerate(entries[1:], start=1):
        if withheld_hash(entry) is not None:
            if close is not None and results is not None:
                raise BoardVerificationError("a withheld entry after the results", index=index)
            withheld += 1  # only ballots are ever withheld (board-format.md)
            continue
        kind = entry.get("kind")
        if kind == "manifest":
            raise BoardVerificationError("a second manifest", index=index)
        if kind == "ballot":
            if close is not None:
                raise BoardVerificationError("a ballot after the close entry", index=index)
            ballots.append((index, entry))
        elif kind == "issuance":
            count = entry.get("tokens_issued")
            if not isinstance(count, int) or (issued is not None and count < issued):
                raise BoardVerificationError("the issued-token count went down", index=index)
            issued = count
        elif kind == "close":
            if close is not None:
                raise BoardVerificationError("a second close entry", index=index)
            count = entry.get("tokens_issued")
            if not isinstance(count, int) or (issued is not None and count < issued):
                raise BoardVerificationError("close counts fewer tokens than issued", index=index)
            close = entry
        elif kind == "paper":
            paper = entry
        elif kind == "results":
            if close is None:
                raise BoardVerificationError("results before the close entry", index=index)
            results = (index, entry)
        else:
            raise BoardVerificationError(f"unknown entry kind {str(kind)[:32]!r}", index=index)
    return ballots, close, results, paper, withheld, issued


def _resolve_nullifiers(
    verified: Iterable[tuple[int, bytes, int, Any]], *, revote: bool
) -> dict[bytes, tuple[int, Any]]:
    counted: dict[bytes, tuple[int, Any]] = {}
    for index, nullifier, seq, choices in verified:
        earlier = counted.get(nullifier)
        if earlier is not None:
            if not revote:
                raise BoardVerificationError(
                    "a second ballot on the same token (re-voting is not allowed)", index=index
                )
            if seq <= earlier[0]:
                raise BoardVerificationError(
                    f"a re-vote with seq {seq} after seq {earlier[0]}", index=index
                )
        counted[nullifier] = (seq, choices)
    return counted


def _check_results(
    manifest: Manifest,
    results: tuple[int, Mapping[str, Any]],
    paper: Mapping[str, Any] | None,
    counted: Mapping[bytes, tuple[int, Any]],
    *,
    withheld: int,
    tokens: int | None,
) -> None:
    index, entry = results
    if entry.get("tokens_issued") != tokens:
        raise BoardVerificationError("results state another number of tokens", index=index)
    stated = entry.get("ballots")
    if withheld:
        # A withheld entry may be a first vote or a re-vote: the count lies between the
        # ballots shown and every ballot entry on the board.
        if (
            isinstance(stated, bool)
            or not isinstance(stated, int)
            or not len(counted) <= stated <= len(counted) + withheld
        ):
            raise BoardVerificationError(
                f"results count {stated} ballots, the board has between {len(counted)} and "
                f"{len(counted) + withheld}",
                index=index,
            )
    elif stated != len(counted):
        raise BoardVerificationError(
            f"results count {stated} ballots, the board has {len(counted)}", index=index
        )
    expected_paper = (
        {"voters": paper["voters"], "counts": paper["counts"]} if paper is not None else None
    )
    if entry.get("paper") != expected_paper:
        raise BoardVerificationError("results do not carry the paper counts", index=index)
    if withheld:
        if entry.get("publication") != "aggregate":
            raise BoardVerificationError(
                "ballots withheld but publication is not aggregate", index=index
            )
        return
    recount = tally(manifest.questions, [choices for _, choices in counted.values()])
    if entry.get("results") != recount:
        raise BoardVerificationError("the published tally differs from the recount", index=index)


def _find_receipt(code: str, leaves: Sequence[bytes], entries: Sequence[Mapping[str, Any]]) -> int:
    wanted = normalise_tracking_code(code)
    for index, leaf in enumerate(leaves):
        if tracking_code(leaf) == wanted and entries[index].get("kind") in {"ballot", None}:
            return index
    raise BoardVerificationError(f"no ballot on the board has the tracking code {wanted}")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ballot.verify FILE [--receipt CODE] [--key KEY]``: exit 0 when it verifies."""
    parser = argparse.ArgumentParser(prog="python -m ballot.verify", description=__doc__)
    parser.add_argument("file", help="board export (JSON)")
    parser.add_argument("--receipt", help="tracking code to look for")
    parser.add_argument("--key", help="the board verifier key you trust")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all)")
    args = parser.parse_args(argv)
    try:
        with open(args.file, encoding="utf-8") as handle:
            export = json.load(handle)
        report = verify_board(
            export, trusted_key=args.key, receipt=args.receipt, workers=args.workers
        )
    except (OSError, ValueError, DomainError) as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    for line in report.checks:
        print(f"ok  {line}")
    print(f"verified: election {report.election}, {report.counted_ballots} ballot(s) counted")
    return 0


if __name__ == "__main__":
    sys.exit(main())
