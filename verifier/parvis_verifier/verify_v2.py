"""The verifier of encrypted (version 2) boards: board-format.md §10, §10.5.

Pure apart from the process pool of :mod:`parvis_verifier.verify_v2_ballots`; only the
verifier distribution's dependencies (cryptography, PyNaCl, rfc8785).
:func:`parvis_verifier.verify.verify_board` hands a board here when its entry 0 is a
``dkg-setup``. Unlike version 1, which stops at the first
discrepancy, every check runs and every failure is one line (``entry N: …`` when an entry is
at fault), so that an auditor sees everything wrong with a board at once; a check that
cannot run because what it needs failed says so once instead of repeating the cause.

Checks, in the order their failures are reported:

1. the export (§7); kinds and order of the entries (§10.1, with the decisions written
   there: round-1 and signature entries of an attempt in any order, one per participant;
   exact members for every kind); the manifest (§10.2), its origin and board key;
2. the ceremony (§10.5.1) of the attempt ``dkg-complete`` names, through
   :func:`parvis_verifier.trustee.verify_ceremony` (round-1 envelopes, framing, commitment lengths,
   proofs of possession, every signature on ``T``), ``dkg-complete`` and the manifest's
   ``encryption`` equal to its outcome, the setup bound to the manifest's terms;
   earlier attempts: numbered 1, 2, …, same election, fresh static keys, entries of their
   own ceremony;
3. every ballot (§10.5.2: :mod:`parvis_verifier.verify_v2_ballots`); nullifiers (§8.5);
4. the checkpoints: signed by the manifest's board key, sizes non-decreasing, each root the
   root of the first ``size`` entries, the last covering every entry (§8.2) — after the
   ballots, whose leaf hashes the workers compute;
5. counted ballots ≤ ``tokens_issued`` ≤ eligible population (§8.6);
6. ``tally-sums`` (§10.5.3): ``ballots`` and every sum recomputed from the counted ballots,
   the decryption context;
7. every ``partial-decryption`` (§10.5.4) against its trustee's ``public_share``, over the
   published sums; at least ``threshold`` of them;
8. ``results``: the combination of the listed trustees, baby-step giant-step bounded by
   the counted ballots, §6 from the per-cell counts, the paper entry.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from parvis_verifier.board import EXPORT_FORMAT, normalise_tracking_code, tracking_code
from parvis_verifier.errors import DomainError
from parvis_verifier.manifest import Manifest
from parvis_verifier.note import VerifierKey, open_checkpoint
from parvis_verifier.verify import (
    PREVIOUS,
    BoardVerificationError,
    VerificationReport,
    extends_line,
    open_previous,
    rewritten_history,
)
from parvis_verifier.verify_v2_ballots import BallotContext, check_ballots, leaf_of
from parvis_verifier.verify_v2_ceremony import check_ceremony
from parvis_verifier.verify_v2_entries import (
    Failures,
    ManifestV2,
    Walk,
    parse_manifest_v2,
    sum_labels,
    walk_entries,
)
from parvis_verifier.verify_v2_tally import (
    Counted,
    Tally,
    check_partials,
    check_results,
    check_sums,
)

__all__ = ["EncryptedBoardError", "is_encrypted_board", "verify_encrypted_board"]

Progress = Callable[[str, int, int], None]


class EncryptedBoardError(BoardVerificationError):
    """An encrypted board does not verify; ``failures`` holds one line per failure."""

    def __init__(self, failures: Sequence[str]) -> None:
        super().__init__("\n".join(failures))
        self.failures = list(failures)


class _StopError(Exception):
    """A failure after which nothing else can be checked (recorded before raising)."""


def _stop(failures: Failures, detail: str, *, index: int | None = None) -> _StopError:
    """Record ``detail``: nothing else can be checked."""
    failures.add(detail, index=index)
    return _StopError()


# -- checkpoints (§8.2) --------------------------------------------------------------------


class _Tree:
    """RFC 6962 tree folded leaf by leaf (one root per set bit of the size)."""

    def __init__(self) -> None:
        self.hashes: list[bytes] = []
        self.size = 0

    def append(self, leaf: bytes) -> None:
        current, index = leaf, self.size
        while index & 1:
            current = hashlib.sha256(b"\x01" + self.hashes.pop() + current).digest()
            index >>= 1
        self.hashes.append(current)
        self.size += 1

    def root(self) -> bytes:
        if not self.hashes:
            return hashlib.sha256(b"").digest()
        result = self.hashes[-1]
        for node in reversed(self.hashes[:-1]):
            result = hashlib.sha256(b"\x01" + node + result).digest()
        return result


def _check_checkpoints(
    export: Mapping[str, Any],
    manifest: ManifestV2,
    leaves: Sequence[bytes],
    failures: Failures,
    previous_checkpoint: str | None = None,
) -> tuple[int, int | None]:
    """The number of checkpoints, and the size of the previous checkpoint when the board
    extends it (§8.2)."""
    notes = export.get("checkpoints")
    if not isinstance(notes, list) or not notes or not all(isinstance(n, str) for n in notes):
        failures.add("checkpoints: a non-empty list of signed notes is expected")
        return 0, None
    key = manifest.terms.verifier_key()
    wanted: dict[int, list[tuple[bytes, int]]] = {}
    previous = 0
    for number, note in enumerate(notes):
        try:
            checkpoint = open_checkpoint(
                note, origin=manifest.terms.board_origin, log_key=key
            ).checkpoint
        except DomainError as exc:
            failures.add(f"checkpoint {number}: {exc}")
            continue
        if checkpoint.size < previous:
            failures.add(f"checkpoint {number}: the tree shrank to {checkpoint.size}")
        if checkpoint.size > len(leaves):
            failures.add(
                f"checkpoint {number} covers {checkpoint.size} entries but the export has "
                f"{len(leaves)}"
            )
        previous = max(previous, checkpoint.size)
        wanted.setdefault(checkpoint.size, []).append((checkpoint.root_hash, number))
    if previous != len(leaves):
        failures.add(f"the last checkpoint covers {previous} of the {len(leaves)} entries")
    extends: int | None = None
    if previous_checkpoint is not None:
        try:
            size, root = open_previous(
                previous_checkpoint,
                origin=manifest.terms.board_origin,
                key=key,
                entries=len(leaves),
            )
            wanted.setdefault(size, []).append((root, PREVIOUS))
            extends = size
        except BoardVerificationError as exc:
            failures.add(str(exc))
    tree = _Tree()
    for size in range(len(leaves) + 1):
        for root, number in wanted.get(size, []):
            if root != tree.root() and number == PREVIOUS:
                failures.add(rewritten_history(size))
                extends = None
            elif root != tree.root():
                failures.add(
                    f"checkpoint {number}: its root for size {size} is not the root of the "
                    "entries (an entry was altered, removed, added or reordered)"
                )
        if size == len(leaves):
            break
        if not leaves[size]:
            failures.add(f"the tree cannot be checked past entry {size} (no RFC 8785 form)")
            break
        tree.append(leaves[size])
    return len(notes), extends


# -- ballots, nullifiers, sums -------------------------------------------------------------


def _check_ballots(
    entries: Sequence[Any],
    walk: Walk,
    manifest: ManifestV2,
    failures: Failures,
    *,
    workers: int | None,
    chunk: int | None,
    progress: Progress | None,
) -> Counted:
    terms = manifest.terms
    ctx = BallotContext.of(
        questions=terms.questions,
        issuer_key=terms.public_key(),
        election_id=terms.election_id,
        election_text=manifest.election,
        manifest_hash=manifest.manifest_hash,
        joint_key=manifest.encryption.joint_key,
    )
    ballots = [entries[i] for i in walk.ballots]
    counted = Counted()
    done = 0
    for outcomes in check_ballots(ctx, ballots, workers=workers, chunk=chunk):
        for outcome in outcomes:
            index = walk.ballots[done]
            done += 1
            counted.leaves[index] = outcome.leaf
            if outcome.fault is not None:
                failures.add(outcome.fault, index=index)
                counted.faults += 1
                continue
            earlier = counted.by_nullifier.get(outcome.nullifier)
            if earlier is not None and (not terms.revote or outcome.seq <= earlier[0]):
                counted.faults += 1
            if earlier is not None and not terms.revote:
                failures.add(
                    "a second ballot on the same token (re-voting is not allowed)", index=index
                )
            elif earlier is not None and outcome.seq <= earlier[0]:
                failures.add(
                    f"a re-vote with seq {outcome.seq} after seq {earlier[0]}", index=index
                )
            else:
                counted.by_nullifier[outcome.nullifier] = (outcome.seq, outcome.cells)
        if progress is not None:
            progress("ballots", done, len(ballots))
    counted.shown = len(ballots)
    return counted


# -- the board -----------------------------------------------------------------------------


def is_encrypted_board(export: Mapping[str, Any]) -> bool:
    """Entry 0 is a ``dkg-setup`` (§10.1)."""
    entries = export.get("entries")
    return (
        isinstance(entries, list)
        and bool(entries)
        and isinstance(entries[0], dict)
        and entries[0].get("kind") == "dkg-setup"
    )


def verify_encrypted_board(
    export: Mapping[str, Any],
    *,
    trusted_key: str | None = None,
    receipt: str | None = None,
    workers: int | None = None,
    chunk: int | None = None,
    progress: Progress | None = None,
    previous_checkpoint: str | None = None,
) -> VerificationReport:
    """Verify an encrypted board export (parsed JSON); raise :class:`EncryptedBoardError` with
    every failure, one line each (module docstring for the checks and their order)."""
    failures = Failures()
    report = VerificationReport()
    try:
        _verify(
            export,
            failures,
            report,
            trusted_key=trusted_key,
            receipt=receipt,
            workers=workers,
            chunk=chunk,
            progress=progress,
            previous_checkpoint=previous_checkpoint,
        )
    except _StopError:
        pass
    except (TypeError, KeyError, AttributeError, IndexError, RecursionError) as exc:
        # A shape no check above anticipated: still one line, never a traceback (the
        # checks already recorded stay).
        failures.add(f"the board is malformed: {type(exc).__name__}: {str(exc)[:200]}")
    if failures.lines:
        raise EncryptedBoardError(failures.lines)
    return report


def _verify(  # noqa: PLR0915 - the checks of §10.5 in order
    export: Mapping[str, Any],
    failures: Failures,
    report: VerificationReport,
    *,
    trusted_key: str | None,
    receipt: str | None,
    workers: int | None,
    chunk: int | None,
    progress: Progress | None,
    previous_checkpoint: str | None,
) -> None:
    entries = export.get("entries")
    if export.get("format") != EXPORT_FORMAT or not isinstance(entries, list):
        raise _stop(failures, f"not a board export (format {EXPORT_FORMAT} expected)")
    report.entries = len(entries)
    walk = walk_entries(entries, failures)
    if walk.manifest is None:
        raise _stop(failures, "an encrypted board has a manifest entry after dkg-complete")
    try:
        manifest = parse_manifest_v2(entries[walk.manifest]["manifest"])
    except (DomainError, ValueError) as exc:
        raise _stop(failures, f"manifest: {exc}", index=walk.manifest) from None
    terms = manifest.terms
    report.election = manifest.election
    report.eligible_population = terms.eligible_population
    if export.get("origin") != terms.board_origin:
        failures.add("the export's origin is not the manifest's board origin")
    if trusted_key is not None:
        try:
            trusted = VerifierKey.parse(trusted_key) == terms.verifier_key()
        except DomainError:
            trusted = False
        if not trusted:
            failures.add("the manifest's board key is not the key you trust")
    if terms.paper is False and walk.paper is not None:
        failures.add("a paper entry but the manifest has no paper channel", index=walk.paper)

    check_ceremony(entries, walk, manifest, failures)
    report.checks.append(
        f"ceremony: attempt {manifest.encryption.attempt}, "
        f"{manifest.encryption.threshold} of {len(manifest.encryption.trustees)} trustees; "
        "round-1 envelopes, proofs of possession, transcript signatures, group key and "
        "verification shares; the manifest's encryption is its outcome"
    )

    counted = _check_ballots(
        entries, walk, manifest, failures, workers=workers, chunk=chunk, progress=progress
    )
    leaves = [counted.leaves.get(i) or leaf_of(e) for i, e in enumerate(entries)]
    report.checkpoints, extends = _check_checkpoints(
        export, manifest, leaves, failures, previous_checkpoint
    )
    report.checks.append(
        f"{report.checkpoints} checkpoint(s) signed by {terms.board_origin}, each "
        f"consistent with the {len(entries)} entries"
    )
    if extends is not None:
        report.checks.append(extends_line(extends))
    report.ballots_on_board = counted.shown
    report.counted_ballots = len(counted.by_nullifier)
    report.checks.append(
        f"{counted.shown} ballot(s): tokens under the manifest key "
        f"{terms.issuer_key_id.hex()[:16]}…, ballot signatures and every proof hold"
    )

    close = entries[walk.close] if walk.close is not None else None
    report.tokens_issued = close["tokens_issued"] if close is not None else walk.issued
    _check_counts(report, terms, failures)

    sums = check_sums(entries, walk, manifest, counted, failures)
    partials = check_partials(entries, walk, manifest, sums, failures)
    if walk.sums is not None:
        report.checks.append(
            f"tally-sums: {len(sum_labels(terms.questions))} sums of the "
            f"{report.counted_ballots} counted ballots; {len(partials)} partial "
            "decryption(s) verify against their trustees' public shares"
        )
    ballots = len(counted.by_nullifier)
    if counted.faults and walk.sums is not None:
        published = entries[walk.sums]["ballots"]
        # The published count bounds the discrete logarithms: never above the ballots shown.
        if type(published) is int and 0 <= published <= counted.shown:
            ballots = published
    tally = Tally(ballots, sums, partials)
    report.recounted = check_results(entries, walk, manifest, tally, failures)
    if report.recounted:
        report.checks.append("the published results equal the decrypted counts (§6)")
    if receipt is not None:
        _find_receipt(receipt, counted, report, failures)


def _check_counts(report: VerificationReport, terms: Manifest, failures: Failures) -> None:
    """Counted ballots ≤ tokens issued ≤ eligible population (§8.6)."""
    tokens = report.tokens_issued
    if type(tokens) is not int:
        return
    if report.counted_ballots > tokens:
        failures.add(f"{report.counted_ballots} ballots counted but only {tokens} tokens issued")
    elif tokens > terms.eligible_population:
        failures.add(
            f"{tokens} tokens issued for an eligible population of {terms.eligible_population}"
        )
    else:
        report.checks.append(
            f"ballots ({report.counted_ballots}) ≤ tokens issued ({tokens}) ≤ eligible "
            f"population ({terms.eligible_population})"
        )


def _find_receipt(
    receipt: str, counted: Counted, report: VerificationReport, failures: Failures
) -> None:
    """A receipt's tracking code names a ballot on the board (§5)."""
    wanted = normalise_tracking_code(receipt)
    found = [i for i, leaf in counted.leaves.items() if leaf and tracking_code(leaf) == wanted]
    if found:
        report.receipt_index = found[0]
        report.checks.append(f"receipt {receipt} names entry {found[0]}")
    else:
        failures.add(f"no ballot on the board has the tracking code {wanted}")
