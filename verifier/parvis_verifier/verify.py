"""The independent board verifier (voting-protocol.md, "Verification anyone can run").

Pure apart from an optional process pool: it needs no web server and no database, only the
verifier distribution's dependencies (verifier/pyproject.toml, ADR 0020: cryptography,
PyNaCl, rfc8785; gmpy2 is optional), so an auditor can run it alone: ``parvis-verify
(FILE|URL) [--receipt CODE] [--prev-checkpoint FILE]``, ``python -m ballot.verify`` or
``parvis verify-board``. ``tests/ballot/test_verify_standalone.py`` runs it with SQLAlchemy,
FastAPI, Starlette, Alembic, Uvicorn and Authlib made unimportable.

A board whose entry 0 is a ``dkg-setup`` is an encrypted election (board-format.md §10):
:func:`verify_board` hands it to :mod:`parvis_verifier.verify_v2`, which runs every check of §10.5
and reports every failure. What follows is version 1.

Checks (board-format.md §8), failing on the first discrepancy with the entry index:

1. the export's format; entry 0 is the manifest; the board origin and key are the
   manifest's (and the key the caller trusts, when given);
2. every checkpoint is signed by the board key (C2SP signed-note), sizes never decrease,
   each checkpoint's root equals the root recomputed from the entries at that size
   (which implies consistency between checkpoints), and the last covers every entry;
3. entry kinds and order: one manifest first; ballots only before the close entry; issuance
   counts never decrease; the issuance register's size never decreases and, when the board
   shows it, equals the close entry's tokens issued; results only after close;
4. every ballot: the token verifies as RSA-PSS under the manifest key (RFC 9474 §4.5), its
   message names this election, the ballot signature verifies under the token's key, and
   the choices follow the question rules;
5. nullifiers: a token counts once; with re-voting, the highest ``seq`` wins and a lower or
   equal ``seq`` after a higher one is a discrepancy; without re-voting a second ballot on
   the same token is;
6. #ballots ≤ #tokens issued ≤ eligible population;
7. the published tally equals the recount; paper counts appear separately;
8. optionally, a receipt's tracking code names a ballot on the board;
9. optionally, the board extends a checkpoint kept from earlier (§8.2): that checkpoint is
   this board's (origin, key), covers no more entries, and its root is the root of the first
   ``size`` entries — checked with the tree (2), so a rewritten history fails there.

Precedence when a board has several faults: the export's shape and entry order (3), then
the checkpoints' signatures and sizes, then the tree (2) — an altered entry is first of all
a log that does not match its signed checkpoints —, then the lowest-index ballot or
nullifier fault (4, 5), then the counts (6, 7). The same board gives the same message with
one process or several.

Speed (architecture.md, "Scale figures to design for"): per ballot the floor is one RSA-PSS
verification, one Ed25519 verification and SHA-256 of the entry (``bench/verify.py``).
:func:`_check_fast` does the checks of :func:`parvis_verifier.token.verify_cast` with no
intermediate objects: base64url decoded once, the RFC 8785 bytes of the ballot and of the entry
assembled from the canonical ``choices`` (which are hashed, signed and rule-checked once per
distinct value), and the entry hashed once. Anything it does not accept goes through the reference
path (:func:`_check_reference`: :func:`~parvis_verifier.token.verify_cast`, ``check_choices``),
which decides and names the fault, so the fast path can only accept what the reference accepts
(the one deliberate difference, the voter key's subgroup, is argued at :func:`_check_fast`).
Ballots are checked in chunks by a process pool that inherits the parsed board (``fork``)
and returns packed bytes; this process meanwhile folds the Merkle tree and resolves
nullifiers in entry order.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import multiprocessing
import os
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any, Final

import nacl.bindings
import nacl.exceptions
import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from parvis_verifier.board import (
    EXPORT_FORMAT,
    entry_leaf_hash,
    normalise_tracking_code,
    tracking_code,
    withheld_hash,
)
from parvis_verifier.errors import DomainError, InvalidInputError
from parvis_verifier.jcs import canonical, is_simple, simple_dumps
from parvis_verifier.manifest import Manifest
from parvis_verifier.note import VerifierKey, open_checkpoint
from parvis_verifier.publication import decide_publication
from parvis_verifier.questions import Question, check_choices
from parvis_verifier.tally import tally
from parvis_verifier.token import MAX_SEQ, TOKEN_DOMAIN, b64u_decode_or_none, nullifier, verify_cast

__all__ = ["BoardVerificationError", "VerificationReport", "load_export", "main", "verify_board"]

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


# -- one ballot -------------------------------------------------------------------------------

_ENTRY_KEYS: Final = frozenset({"kind", "cast"})
# RFC 9474 §5 RSABSSA-SHA384-PSS-Randomized: RSASSA-PSS, SHA-384, MGF1-SHA-384, 48-byte salt.
_PSS: Final = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)
_SHA384: Final = hashes.SHA384()
_HASH: Final = 32
# Distinct choice values whose rules were checked, per process. Ballots over a few options
# repeat the same answers (the 100,000 ballots of bench/verify.py have 24 distinct ones);
# the bound only caps memory.
_RULES_CACHE_SIZE: Final = 1 << 16


@dataclass(frozen=True, slots=True)
class _Context:
    """What every ballot check needs, prepared once per process."""

    manifest: Manifest
    key: rsa.RSAPublicKey
    modulus_len: int
    election_id: bytes
    election_text: str
    questions: tuple[Question, ...]
    rules_ok: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, manifest: Manifest) -> _Context:
        key = manifest.public_key()
        return cls(
            manifest=manifest,
            key=key,
            modulus_len=(key.key_size + 7) // 8,
            election_id=manifest.election_id,
            election_text=str(manifest.to_json()["election"]),
            questions=manifest.questions,
        )


#: ``(leaf hash, nullifier, seq, canonical choices)`` of a ballot that verifies.
Checked = tuple[bytes, bytes, int, str]


def _check_fast(entry: object, ctx: _Context) -> Checked | None:
    """Every check of :func:`_check_reference` on a well-formed ballot entry, or ``None``
    to let the reference path decide (and name the fault).

    The bytes: ``JCS(entry)`` of a ballot entry is, member by member (RFC 8785 §3.2.3
    sorts "ballot" < "ballot_sig" < "token" and "msg" < "msg_prefix" < "sig"; canonical
    base64url, the canonical UUID text of ``ballot.election`` and a decimal ``seq`` below
    2^53 need no escaping, §3.2.2.2-3)::

        {"cast":{"ballot":JCS(ballot),"ballot_sig":"…","token":{"msg":"…",
        "msg_prefix":"…","sig":"…"}},"kind":"ballot"}
        JCS(ballot) = {"choices":JCS(choices),"election":"…","seq":N}

    exactly as :meth:`parvis_verifier.token.Ballot.canonical_bytes` assembles the signed bytes;
    a test compares the leaf with :func:`parvis_verifier.board.entry_leaf_hash` on every ballot.

    The voter key: casting also requires ``vk`` to be a prime-order point
    (``crypto_core_ed25519_is_valid_point``, which costs as much as the signature check;
    libsodium documents it as checking that the point is canonical, on the main subgroup
    and not of small order — doc.libsodium.org, "Point arithmetic"). The verifier relies
    on the signature check instead: libsodium's ``crypto_sign_open`` (what PyNaCl calls)
    runs ``_crypto_sign_ed25519_verify_detached`` (src/libsodium/crypto_sign/ed25519/
    ref10/open.c), which refuses a non-canonical or small-order ``vk``, a small-order
    ``R`` and a non-canonical ``S`` before checking ``[S]B = R + [k]A`` without the
    cofactor. What prime order protects is "one signature verifies several ballots":
    that needs ``[k1]A = [k2]A`` for two ballot hashes, i.e. ``A`` of small order (refused
    by libsodium) or ``k1 ≡ k2 (mod ℓ)`` (a SHA-512 collision modulo ℓ). A key with a
    torsion component but a prime-order part ``A0`` still needs the discrete log of
    ``A0`` to sign, and each signature still binds one ballot. So a ballot accepted here
    was signed, once, by the holder of the token's key — the property board-format.md §8
    asks the verifier to check.
    """
    shape = _shape(entry)
    if shape is None:
        return None
    token, ballot, ballot_sig_text = shape
    prefix_text, msg_text, sig_text = token["msg_prefix"], token["msg"], token["sig"]
    msg = b64u_decode_or_none(msg_text)
    prefix = b64u_decode_or_none(prefix_text)
    sig = b64u_decode_or_none(sig_text)
    ballot_sig = b64u_decode_or_none(ballot_sig_text)
    seq, choices = ballot["seq"], ballot["choices"]
    if (
        msg is None
        or prefix is None
        or sig is None
        or ballot_sig is None
        or len(msg) != 96
        or len(prefix) != 32
        or len(sig) != ctx.modulus_len
        or len(ballot_sig) != 64
        or msg[:16] != TOKEN_DOMAIN
        or msg[16:32] != ctx.election_id
        or ballot["election"] != ctx.election_text
        or type(seq) is not int
        or not 1 <= seq <= MAX_SEQ
        or type(choices) is not dict
    ):
        return None
    try:
        choices_text = simple_dumps(choices)
    except (ValueError, TypeError, RecursionError):  # NaN, or not JSON at all
        return None
    # json.dumps text determines a parsed-JSON value (it reads back to the same value), so
    # a text already checked stands for a value that is simple and follows the rules.
    known = choices_text in ctx.rules_ok
    if not known and not is_simple(choices):
        return None
    ballot_text = f'{{"choices":{choices_text},"election":"{ctx.election_text}","seq":{seq}}}'
    if not _signed_and_valid(
        ctx,
        prepared=prefix + msg,
        sig=sig,
        voter_key=msg[32:64],
        signed=ballot_text.encode(),
        ballot_sig=ballot_sig,
        choices=None if known else (choices_text, choices),
    ):
        return None
    leaf = hashlib.sha256(
        (
            f'\x00{{"cast":{{"ballot":{ballot_text},"ballot_sig":"{ballot_sig_text}",'
            f'"token":{{"msg":"{msg_text}","msg_prefix":"{prefix_text}","sig":"{sig_text}"}}'
            '},"kind":"ballot"}'
        ).encode()
    ).digest()
    return leaf, nullifier(msg), seq, choices_text


def _shape(entry: object) -> tuple[dict[str, Any], dict[str, Any], object] | None:
    """``(token, ballot, ballot_sig)`` of an entry with exactly the members of a ballot
    (counted and looked up: half the cost of comparing key views with sets)."""
    if type(entry) is not dict or len(entry) != 2 or "cast" not in entry or "kind" not in entry:
        return None
    cast = entry["cast"]
    if (
        type(cast) is not dict
        or len(cast) != 3
        or "token" not in cast
        or "ballot" not in cast
        or "ballot_sig" not in cast
    ):
        return None
    token, ballot = cast["token"], cast["ballot"]
    if (
        type(token) is not dict
        or len(token) != 3
        or "msg" not in token
        or "msg_prefix" not in token
        or "sig" not in token
        or type(ballot) is not dict
        or len(ballot) != 3
        or "election" not in ballot
        or "seq" not in ballot
        or "choices" not in ballot
    ):
        return None
    return token, ballot, cast["ballot_sig"]


def _signed_and_valid(
    ctx: _Context,
    *,
    prepared: bytes,
    sig: bytes,
    voter_key: bytes,
    signed: bytes,
    ballot_sig: bytes,
    choices: tuple[str, object] | None,
) -> bool:
    """The token under the manifest key (RFC 9474 §4.5: RSASSA-PSS), the ballot under the
    token's key (RFC 8032 Ed25519, libsodium), and the rules for choices not seen yet."""
    try:
        ctx.key.verify(sig, prepared, _PSS, _SHA384)
        nacl.bindings.crypto_sign_open(ballot_sig + signed, voter_key)
    except (InvalidSignature, nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError):
        return False
    if choices is not None:
        text, value = choices
        try:
            check_choices(ctx.questions, value)
        except DomainError:
            return False
        if len(ctx.rules_ok) < _RULES_CACHE_SIZE:
            ctx.rules_ok.add(text)
    return True


def _check_reference(entry: Mapping[str, Any], ctx: _Context) -> Checked | tuple[bytes, str]:
    """The ballot checked through the protocol's own objects (:func:`verify_cast`), for
    whatever :func:`_check_fast` leaves: ``(leaf, nullifier, seq, choices)`` when it
    verifies, else ``(leaf, reason)``. The leaf is ``b""`` when the entry has no canonical
    form (then the tree cannot be checked past it)."""
    try:
        leaf = entry_leaf_hash(entry)
    except (DomainError, ValueError, TypeError, RecursionError) as exc:
        return b"", f"the entry has no RFC 8785 form: {exc}"
    try:
        if set(entry) != _ENTRY_KEYS:
            raise BoardVerificationError("a ballot entry has exactly kind and cast")
        verified = verify_cast(ctx.key, expected_election_id=ctx.election_id, cast=entry["cast"])
        check_choices(ctx.questions, verified.choices)
        choices = canonical(verified.choices).decode()
    except (DomainError, rfc8785.CanonicalizationError) as exc:
        return leaf, str(exc)
    return leaf, verified.nullifier, verified.seq, choices


#: A chunk's outcome, packed to cross the process boundary cheaply: the leaf hashes and
#: nullifiers concatenated (32 bytes each, zeros for a ballot that failed), the ``seq``
#: and canonical ``choices`` lists, and the failures as ``(position in chunk, leaf, why)``.
Chunk = tuple[bytes, bytes, list[int], list[str], list[tuple[int, bytes, str]]]


def _check_chunk(entries: Iterable[Mapping[str, Any]], ctx: _Context) -> Chunk:
    leaves, nullifiers = bytearray(), bytearray()
    seqs: list[int] = []
    choices: list[str] = []
    failures: list[tuple[int, bytes, str]] = []
    for position, entry in enumerate(entries):
        result = _check_fast(entry, ctx) or _check_reference(entry, ctx)
        if len(result) == 2:
            leaf, reason = result
            failures.append((position, leaf, reason))
            leaves += leaf.ljust(_HASH, b"\x00")
            nullifiers += bytes(_HASH)
            seqs.append(0)
            choices.append("")
            continue
        leaves += result[0]
        nullifiers += result[1]
        seqs.append(result[2])
        choices.append(result[3])
    return bytes(leaves), bytes(nullifiers), seqs, choices, failures


# -- ballots in several processes -------------------------------------------------------------

# Runs in progress in this process, by id: a forked worker inherits the board from here
# instead of receiving it pickled. Keyed so that concurrent calls do not mix.
_RUNS: dict[int, tuple[_Context, Sequence[Mapping[str, Any]]]] = {}
_RUN_IDS = count()
_WORKER_CONTEXT: _Context | None = None


def _init_worker(manifest_json: Mapping[str, Any] | None) -> None:
    """Pool initializer for start methods that do not fork (the manifest comes pickled)."""
    global _WORKER_CONTEXT  # noqa: PLW0603 - the per-process context of a spawned worker
    if manifest_json is not None:
        _WORKER_CONTEXT = _Context.of(Manifest.from_json(manifest_json))


def _run_chunk(
    run: int, start: int, stop: int, entries: Sequence[Mapping[str, Any]] | None
) -> Chunk:
    """A pool task: ballots ``[start, stop)`` of run ``run`` (inherited), or ``entries``."""
    if entries is None:
        ctx, ballots = _RUNS[run]
        return _check_chunk(ballots[start:stop], ctx)
    assert _WORKER_CONTEXT is not None, "the pool initializer parses the manifest"
    return _check_chunk(entries, _WORKER_CONTEXT)


def _pool_context() -> tuple[Any, bool]:
    """The multiprocessing context for the pool, and whether its workers inherit the board.

    ``fork`` where available: the workers read the parsed board in place (nothing pickled
    but the results) and start in milliseconds. Python ≥ 3.12 warns about forking a
    process that runs other threads (a lock held at that moment stays held in the child),
    so there only a single-threaded process forks; otherwise the platform's default start
    method is used and each chunk's entries travel pickled.
    """
    if "fork" in multiprocessing.get_all_start_methods() and (
        sys.version_info < (3, 12) or threading.active_count() == 1
    ):
        return multiprocessing.get_context("fork"), True
    return multiprocessing.get_context(), False


def _chunks(
    ctx: _Context,
    ballots: Sequence[Mapping[str, Any]],
    *,
    workers: int,
    chunk: int,
) -> Iterable[Chunk]:
    """Every ballot checked, chunk by chunk in board order, by ``workers`` processes."""
    bounds = [(i, min(i + chunk, len(ballots))) for i in range(0, len(ballots), chunk)]
    if workers <= 1 or len(bounds) < 2:
        for start, stop in bounds:
            yield _check_chunk(ballots[start:stop], ctx)
        return
    context, inherits = _pool_context()
    run = next(_RUN_IDS)
    _RUNS[run] = (ctx, ballots)
    if inherits:
        # The forked workers share the parsed board copy-on-write. Their garbage collector
        # would walk (and so copy) every inherited object on each full collection; frozen
        # objects are left out of collections (gc.freeze, the documented fork pattern).
        gc.freeze()

    def submit(pool: ProcessPoolExecutor, start: int, stop: int) -> Future[Chunk]:
        batch = None if inherits else ballots[start:stop]
        return pool.submit(_run_chunk, run, start, stop, batch)

    try:
        with ProcessPoolExecutor(
            workers,
            mp_context=context,
            initializer=_init_worker,
            initargs=(None if inherits else ctx.manifest.to_json(),),
        ) as pool:
            # A bounded window of tasks in flight keeps memory flat and lets a caller that
            # stops early (a fault) cancel the rest.
            pending: deque[Future[Chunk]] = deque()
            todo = iter(bounds)
            try:
                for start, stop in todo:
                    pending.append(submit(pool, start, stop))
                    if len(pending) >= 4 * workers:
                        break
                while pending:
                    result = pending.popleft().result()
                    for start, stop in todo:
                        pending.append(submit(pool, start, stop))
                        break
                    yield result
            finally:
                for future in pending:
                    future.cancel()
    finally:
        del _RUNS[run]
        if inherits:
            gc.unfreeze()


# -- the tree ---------------------------------------------------------------------------------


class _Tree:
    """The RFC 6962 tree over the entries, folded leaf by leaf as the leaves arrive.

    The same compact range as :class:`parvis_verifier.merkle.CompactRange` (one root per set bit of
    the size; ``root`` folds them from the right), without recording every new node for
    storage, which costs more than the hashing here. A test checks it against
    :func:`parvis_verifier.merkle.root` at every size.
    """

    __slots__ = ("hashes", "size")

    def __init__(self) -> None:
        self.hashes: list[bytes] = []
        self.size = 0

    def append(self, leaves: Iterable[bytes]) -> None:
        hashes, size, sha = self.hashes, self.size, hashlib.sha256
        for leaf in leaves:
            current, index = leaf, size
            while index & 1:
                current = sha(b"\x01" + hashes.pop() + current).digest()
                index >>= 1
            hashes.append(current)
            size += 1
        self.size = size

    def root(self) -> bytes:
        if not self.hashes:
            return hashlib.sha256(b"").digest()
        result = self.hashes[-1]
        for h in reversed(self.hashes[:-1]):
            result = hashlib.sha256(b"\x01" + h + result).digest()
        return result


class _TreeCheck:
    """Feeds the tree in entry order and compares each signed root when its size is reached."""

    def __init__(
        self, leaves: list[bytes | None], wanted: Mapping[int, list[tuple[bytes, int]]]
    ) -> None:
        self.leaves = leaves
        # size -> (root, checkpoint number) of every checkpoint of that size
        self.wanted = dict(wanted)
        self.sizes = sorted(wanted)  # sizes still to check, smallest first
        self.next = 0
        self.tree = _Tree()

    def advance(self) -> None:
        """Fold every leaf known so far (up to the first unknown one), checking each
        checkpoint's root at its size."""
        leaves, tree, sizes = self.leaves, self.tree, self.sizes
        end = tree.size
        while end < len(leaves) and leaves[end] is not None:
            end += 1
        while True:
            while self.next < len(sizes) and sizes[self.next] == tree.size:
                self._compare(tree.size)
                self.next += 1
            if tree.size >= end:
                return
            stop = sizes[self.next] if self.next < len(sizes) else end
            tree.append(leaves[tree.size : min(stop, end)])  # type: ignore[arg-type]

    def _compare(self, size: int) -> None:
        root = self.tree.root()
        for expected, number in self.wanted[size]:
            if expected != root and number == PREVIOUS:
                raise BoardVerificationError(rewritten_history(size))
            if expected != root:
                raise BoardVerificationError(
                    f"checkpoint {number}: its root for size {size} is not the root of "
                    "the entries (an entry was altered, removed, added or reordered)"
                )


# -- the board --------------------------------------------------------------------------------


def _manifest(entries: Sequence[Mapping[str, Any]]) -> Manifest:
    if not entries:
        raise BoardVerificationError("the board is empty")
    first = entries[0]
    if (
        not isinstance(first, Mapping)
        or first.get("kind") != "manifest"
        or set(first) != {"kind", "manifest"}
    ):
        raise BoardVerificationError("entry 0 must be the manifest", index=0)
    try:
        return Manifest.from_json(first["manifest"])
    except DomainError as exc:
        raise BoardVerificationError(str(exc), index=0) from None


def _open_checkpoints(
    export: Mapping[str, Any], *, manifest: Manifest, entries: int
) -> dict[int, list[tuple[bytes, int]]]:
    """Verify every checkpoint's signature and size; return the roots to compare, by size."""
    checkpoints = export.get("checkpoints")
    if not isinstance(checkpoints, list) or not all(isinstance(c, str) for c in checkpoints):
        raise BoardVerificationError("checkpoints must be a list of signed notes")
    if not checkpoints:
        raise BoardVerificationError("the export carries no checkpoint")
    key = manifest.verifier_key()
    by_size: dict[int, list[tuple[bytes, int]]] = {}
    previous = 0
    for number, note in enumerate(checkpoints):
        try:
            verified = open_checkpoint(note, origin=manifest.board_origin, log_key=key)
        except DomainError as exc:
            raise BoardVerificationError(f"checkpoint {number}: {exc}") from None
        size = verified.checkpoint.size
        if size < previous:
            raise BoardVerificationError(f"checkpoint {number}: the tree shrank to {size}")
        if size > entries:
            raise BoardVerificationError(
                f"checkpoint {number} covers {size} entries but the export has {entries}"
            )
        previous = size
        by_size.setdefault(size, []).append((verified.checkpoint.root_hash, number))
    if previous != entries:
        raise BoardVerificationError(
            f"the last checkpoint covers {previous} of the {entries} entries"
        )
    return by_size


#: The number under which the previously seen checkpoint is compared with the entries.
PREVIOUS: Final = -1


def rewritten_history(size: int) -> str:
    """The failure of a board that does not extend the checkpoint kept from earlier."""
    return (
        f"the board does not extend the previous checkpoint: the root of its first {size} "
        "entries differs from the root signed then (the history was rewritten: an entry "
        "removed, altered or reordered, and the board re-signed)"
    )


def extends_line(size: int) -> str:
    """The report line of a board that extends the previous checkpoint."""
    return f"the board extends the previous checkpoint (its first {size} entries unchanged)"


def open_previous(note: str, *, origin: str, key: VerifierKey, entries: int) -> tuple[int, bytes]:
    """The size and root of a checkpoint the verifier kept from an earlier visit (§8.2,
    "keep the last checkpoint you saw"): it must be this board's (same origin, signed by
    the same key) and cover no more entries than the export has; the caller then checks
    that the root of the export's first ``size`` entries is its root."""
    try:
        checkpoint = open_checkpoint(note, origin=origin, log_key=key).checkpoint
    except DomainError as exc:
        raise BoardVerificationError(
            f"the previous checkpoint is not this board's: {exc}"
        ) from None
    if checkpoint.size > entries:
        raise BoardVerificationError(
            f"the board does not extend the previous checkpoint: it covered {checkpoint.size} "
            f"entries, the export has {entries} (the board shrank)"
        )
    return checkpoint.size, checkpoint.root_hash


def _open_export(
    export: Mapping[str, Any], *, trusted_key: str | None, report: VerificationReport
) -> tuple[list[Mapping[str, Any]], Manifest]:
    if export.get("format") != EXPORT_FORMAT or not isinstance(export.get("entries"), list):
        raise BoardVerificationError(f"not a board export (format {EXPORT_FORMAT} expected)")
    entries: list[Mapping[str, Any]] = export["entries"]
    manifest = _manifest(entries)
    report.election = str(manifest.to_json()["election"])
    report.eligible_population = manifest.eligible_population
    if export.get("origin") != manifest.board_origin:
        raise BoardVerificationError("the export's origin is not the manifest's board origin")
    if trusted_key is not None and VerifierKey.parse(trusted_key) != manifest.verifier_key():
        raise BoardVerificationError("the manifest's board key is not the key you trust")
    report.checks.append("entry 0 is the manifest; board origin and key match it")
    return entries, manifest


def _default_chunk(ballots: int, workers: int) -> int:
    """About sixteen chunks per worker, so that the last ones leave little idle time, but
    between 32 ballots (a task costs a fraction of a millisecond to dispatch) and 512
    (progress steps and results in flight)."""
    return max(32, min(512, ballots // (16 * max(workers, 1)) or 1))


def verify_board(
    export: Mapping[str, Any],
    *,
    trusted_key: str | None = None,
    receipt: str | None = None,
    workers: int | None = None,
    chunk: int | None = None,
    progress: Progress | None = None,
    previous_checkpoint: str | None = None,
) -> VerificationReport:
    """Verify a board export (parsed JSON); raise :class:`BoardVerificationError` at the
    first fault (see the module docstring for the order). A board whose entry 0 is a
    ``dkg-setup`` is an encrypted election (board-format.md §10): it is verified by
    :func:`parvis_verifier.verify_v2.verify_encrypted_board`, which raises
    :class:`parvis_verifier.verify_v2.EncryptedBoardError` (a :class:`BoardVerificationError` whose
    ``failures`` lists every failure, one line each).

    Ballots are verified in chunks of ``chunk`` (default: see :func:`_default_chunk`) by
    ``workers`` processes (default: every core); a board of fewer than two chunks is
    verified in this process. ``progress(stage, done, total)`` is called after each chunk.
    """
    entries = export.get("entries")
    if (
        isinstance(entries, list)
        and entries
        and isinstance(entries[0], Mapping)
        and entries[0].get("kind") == "dkg-setup"
    ):
        # An encrypted election (board-format.md §10): its own checks, every failure
        # reported (ballot/verify_v2.py imports this module, hence the late import).
        from parvis_verifier.verify_v2 import verify_encrypted_board

        return verify_encrypted_board(
            export,
            trusted_key=trusted_key,
            receipt=receipt,
            workers=workers,
            chunk=chunk,
            progress=progress,
            previous_checkpoint=previous_checkpoint,
        )
    report = VerificationReport()
    entries, manifest = _open_export(export, trusted_key=trusted_key, report=report)
    walk = _walk(entries)
    report.entries = len(entries)
    wanted = _open_checkpoints(export, manifest=manifest, entries=len(entries))
    report.checkpoints = len(export["checkpoints"])
    previous: tuple[int, bytes] | None = None
    if previous_checkpoint is not None:
        previous = open_previous(
            previous_checkpoint,
            origin=manifest.board_origin,
            key=manifest.verifier_key(),
            entries=len(entries),
        )
        wanted.setdefault(previous[0], []).append((previous[1], PREVIOUS))

    leaves: list[bytes | None] = [None] * len(entries)
    for index in walk.others:
        entry = entries[index]
        try:
            hidden = withheld_hash(entry)
            leaves[index] = hidden if hidden is not None else entry_leaf_hash(entry)
        except (DomainError, ValueError, TypeError, RecursionError) as exc:
            raise BoardVerificationError(str(exc), index=index) from None
    tree = _TreeCheck(leaves=leaves, wanted=wanted)
    tree.advance()

    workers = workers or os.cpu_count() or 1
    counted = _verify_ballots(
        _Context.of(manifest),
        walk,
        tree,
        workers=workers,
        chunk=chunk or _default_chunk(len(walk.ballots), workers),
        progress=progress,
    )
    ballots, withheld, results = walk.ballots, walk.withheld, walk.results
    report.checks.append(
        f"{report.checkpoints} checkpoint(s) signed by {manifest.board_origin}, each "
        f"consistent with the {len(entries)} entries"
    )
    if previous is not None:
        report.checks.append(extends_line(previous[0]))
    report.ballots_on_board = len(ballots) + withheld
    report.counted_ballots = len(counted) + withheld
    if withheld and results is not None:
        # Withheld entries hide which of them are re-votes: the count is the published one,
        # which _check_results holds between the ballots shown and every entry on the board.
        published = results[1].get("ballots")
        if isinstance(published, int) and not isinstance(published, bool):
            report.counted_ballots = published
    report.checks.append(
        f"{len(ballots)} ballot(s): tokens verify under the manifest key "
        f"{manifest.issuer_key_id.hex()[:16]}…, ballot signatures and rules hold"
    )
    report.tokens_issued = walk.close["tokens_issued"] if walk.close is not None else walk.issued
    _check_counts(report, manifest)
    if results is not None:
        _check_results(
            manifest, results, walk.paper, counted, withheld=withheld, tokens=report.tokens_issued
        )
        report.recounted = withheld == 0
        report.checks.append(
            "the published tally equals the recount"
            if withheld == 0
            else "aggregate publication: individual ballots withheld (below the anonymity set)"
        )
    if receipt is not None:
        all_leaves = [leaf for leaf in leaves if leaf is not None]
        report.receipt_index = _find_receipt(receipt, all_leaves, entries)
        report.checks.append(f"receipt {receipt} names entry {report.receipt_index}")
    return report


def _verify_ballots(
    ctx: _Context,
    walk: _Walk,
    tree: _TreeCheck,
    *,
    workers: int,
    chunk: int,
    progress: Progress | None,
) -> dict[bytes, tuple[int, str]]:
    """Check every ballot, feed its leaf to the tree and resolve nullifiers, in board order;
    return the counted ballots by nullifier (``(seq, canonical choices)``).

    The tree is checked to the end before any ballot fault is raised (the module docstring
    gives the order); of the ballot and nullifier faults, the lowest index is raised.
    """
    indexes, ballots = walk.ballot_indexes, walk.ballots
    leaves = tree.leaves
    revote = ctx.manifest.revote
    counted: dict[bytes, tuple[int, str]] = {}
    fault: tuple[int, str] | None = None
    done = 0
    for packed, nullifiers, seqs, choices, failures in _chunks(
        ctx, ballots, workers=workers, chunk=chunk
    ):
        failed = {position: (leaf, why) for position, leaf, why in failures}
        for position, seq in enumerate(seqs):
            index = indexes[done + position]
            if position in failed:
                leaf, why = failed[position]
                if not leaf:
                    tree.advance()  # a fault of the tree before this entry comes first
                    raise BoardVerificationError(why, index=index)
                leaves[index] = leaf
                fault = fault or (index, why)
                continue
            leaves[index] = packed[position * _HASH : (position + 1) * _HASH]
            if fault is not None:
                continue
            nullifier = nullifiers[position * _HASH : (position + 1) * _HASH]
            earlier = counted.get(nullifier)
            if earlier is not None and not revote:
                fault = (index, "a second ballot on the same token (re-voting is not allowed)")
            elif earlier is not None and seq <= earlier[0]:
                fault = (index, f"a re-vote with seq {seq} after seq {earlier[0]}")
            else:
                counted[nullifier] = (seq, choices[position])
        done += len(seqs)
        tree.advance()
        if progress is not None:
            progress("ballots", done, len(ballots))
    tree.advance()
    if fault is not None:
        raise BoardVerificationError(fault[1], index=fault[0])
    return counted


def _check_counts(report: VerificationReport, manifest: Manifest) -> None:
    """#ballots ≤ #tokens issued ≤ eligible population (board-format.md §8.6)."""
    tokens = report.tokens_issued
    if tokens is None:
        return
    if report.counted_ballots > tokens:
        raise BoardVerificationError(
            f"{report.counted_ballots} ballots counted but only {tokens} tokens issued"
        )
    if tokens > manifest.eligible_population:
        raise BoardVerificationError(
            f"{tokens} tokens issued for an eligible population of {manifest.eligible_population}"
        )
    report.checks.append(
        f"ballots ({report.counted_ballots}) ≤ tokens issued ({tokens}) ≤ eligible "
        f"population ({manifest.eligible_population})"
    )


@dataclass
class _Walk:
    """The board's entries sorted by kind, in one pass (board-format.md §2)."""

    ballot_indexes: list[int] = field(default_factory=list)
    ballots: list[Mapping[str, Any]] = field(default_factory=list)
    others: list[int] = field(default_factory=lambda: [0])  # every entry but the ballots
    close: Mapping[str, Any] | None = None
    results: tuple[int, Mapping[str, Any]] | None = None
    paper: Mapping[str, Any] | None = None
    withheld: int = 0
    issued: int | None = None
    #: The issuance register's last (size, root) shown on the board (ballot-secrecy.md §3).
    register: tuple[int, object] | None = None


def _walk(entries: Sequence[Mapping[str, Any]]) -> _Walk:
    """Kinds and order (board-format.md §8.3); raise at the first entry out of place."""
    walk = _Walk()
    ballot_indexes, ballots, others = walk.ballot_indexes, walk.ballots, walk.others
    for index in range(1, len(entries)):
        entry = entries[index]
        if type(entry) is not dict and not isinstance(entry, Mapping):
            raise BoardVerificationError("every entry must be a JSON object", index=index)
        kind = entry.get("kind")
        if kind == "ballot":  # the common case first
            if walk.close is not None:
                raise BoardVerificationError("a ballot after the close entry", index=index)
            ballot_indexes.append(index)
            ballots.append(entry)
            continue
        others.append(index)
        if len(entry) == 1 and "withheld" in entry:
            if walk.close is not None and walk.results is not None:
                raise BoardVerificationError("a withheld entry after the results", index=index)
            walk.withheld += 1  # only ballots are ever withheld (board-format.md)
        else:
            _walk_other(walk, index, entry, kind)
    return walk


def _walk_other(walk: _Walk, index: int, entry: Mapping[str, Any], kind: object) -> None:
    if kind == "manifest":
        raise BoardVerificationError("a second manifest", index=index)
    if kind == "issuance":
        count_ = entry.get("tokens_issued")
        if not isinstance(count_, int) or (walk.issued is not None and count_ < walk.issued):
            raise BoardVerificationError("the issued-token count went down", index=index)
        walk.issued = count_
    elif kind == "register":
        _walk_register(walk, index, entry)
    elif kind == "close":
        if walk.close is not None:
            raise BoardVerificationError("a second close entry", index=index)
        count_ = entry.get("tokens_issued")
        if not isinstance(count_, int) or (walk.issued is not None and count_ < walk.issued):
            raise BoardVerificationError("close counts fewer tokens than issued", index=index)
        # tokens_issued is the issuance register's size (ballot-secrecy.md §3): the register
        # shown last before the close must be all of them.
        if walk.register is not None and walk.register[0] != count_:
            raise BoardVerificationError(
                f"the close counts {count_} tokens but the issuance register holds "
                f"{walk.register[0]}",
                index=index,
            )
        walk.close = entry
    elif kind == "paper":
        walk.paper = entry
    elif kind == "results":
        if walk.close is None:
            raise BoardVerificationError("results before the close entry", index=index)
        walk.results = (index, entry)
    else:
        raise BoardVerificationError(f"unknown entry kind {str(kind)[:32]!r}", index=index)


def _walk_register(walk: _Walk, index: int, entry: Mapping[str, Any]) -> None:
    """``{"kind": "register", "size": N, "root": B64U}`` (board-format.md §11): before the
    close, sizes never decrease and the root is 32 bytes."""
    size, root = entry.get("size"), entry.get("root")
    if set(entry) != {"kind", "size", "root"} or type(size) is not int or size < 0:
        raise BoardVerificationError("a register entry has kind, size and root", index=index)
    raw = b64u_decode_or_none(root) if isinstance(root, str) else None
    if raw is None or len(raw) != 32:
        raise BoardVerificationError("a register root is 32 bytes in base64url", index=index)
    if walk.close is not None:
        raise BoardVerificationError("a register entry after the close entry", index=index)
    if walk.register is not None and size < walk.register[0]:
        raise BoardVerificationError("the issuance register shrank", index=index)
    walk.register = (size, root)


def _check_results(
    manifest: Manifest,
    results: tuple[int, Mapping[str, Any]],
    paper: Mapping[str, Any] | None,
    counted: Mapping[bytes, tuple[int, str]],
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
    expected = decide_publication(
        counted=len(counted), min_anonymity_set=manifest.min_anonymity_set
    ).label
    if entry.get("publication") != expected:
        raise BoardVerificationError(
            f"{len(counted)} ballot(s) shown with publication {entry.get('publication')!r}; "
            f"the minimum anonymity set ({manifest.min_anonymity_set}) makes it {expected!r}",
            index=index,
        )
    # Each distinct canonical choices text is parsed once; equal texts are equal values.
    parsed: dict[str, Any] = {}
    ballots = []
    for _, text in counted.values():
        value = parsed.get(text)
        if value is None:
            value = parsed[text] = json.loads(text)
        ballots.append(value)
    recount = tally(manifest.questions, ballots)
    if entry.get("results") != recount:
        raise BoardVerificationError("the published tally differs from the recount", index=index)


def _find_receipt(code: str, leaves: Sequence[bytes], entries: Sequence[Mapping[str, Any]]) -> int:
    wanted = normalise_tracking_code(code)
    for index, leaf in enumerate(leaves):
        if tracking_code(leaf) == wanted and entries[index].get("kind") in {"ballot", None}:
            return index
    raise BoardVerificationError(f"no ballot on the board has the tracking code {wanted}")


def load_export(source: str) -> Any:
    """A board export from a file or an http(s) URL, with the standard library only."""
    if source.startswith(("http://", "https://")):
        import urllib.request

        # Only http(s) reaches here, so urlopen cannot open file: URLs.
        request = urllib.request.Request(source, headers={"Accept": "application/json"})  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                body = response.read()
                content_type = response.headers.get("Content-Type") or "no content type"
        except OSError as exc:
            raise InvalidInputError(f"cannot fetch {source}: {exc}") from None
        return _parse_export(body, source=source, got=content_type)
    try:
        with open(source, "rb") as handle:
            body = handle.read()
    except OSError as exc:
        raise InvalidInputError(f"cannot read {source}: {exc.strerror or exc}") from None
    return _parse_export(body, source=source, got="a file")


def _parse_export(body: bytes, *, source: str, got: str) -> Any:
    """The JSON of a board export, or an error saying what came instead (an HTML page from a
    wrong URL, a login page, an empty answer) rather than a bare JSON parser message."""
    try:
        return json.loads(body)
    except ValueError:  # JSONDecodeError, UnicodeDecodeError
        start = body[:60].decode("utf-8", "replace")
        shown = " ".join(start.split()) or "nothing"
        raise InvalidInputError(
            f"{source} is not a board export (JSON): got {got}, {len(body)} bytes "
            f"starting {shown!r}"
        ) from None


def _terminal_progress(stage: str, done: int, total: int) -> None:
    """One self-overwriting line on standard error (only when it is a terminal)."""
    end = "\n" if done >= total else ""
    print(f"\rverifying {stage}: {done:,}/{total:,}", end=end, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """``parvis-verify (FILE|URL) [--receipt CODE] [--key KEY] [--prev-checkpoint FILE]``
    (also ``python -m ballot.verify``): exit 0 when it verifies, 1 with ``FAILED: entry N: …``
    on standard error when it does not."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("file", help="board export (JSON): a file or an http(s) URL")
    parser.add_argument("--receipt", help="tracking code to look for")
    parser.add_argument("--key", help="the board verifier key you trust")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all)")
    parser.add_argument("--chunk", type=int, default=None, help="ballots per task")
    parser.add_argument(
        "--prev-checkpoint",
        metavar="FILE",
        help="a checkpoint of this board kept from earlier: the board must extend it",
    )
    args = parser.parse_args(argv)
    try:
        previous = (
            None
            if args.prev_checkpoint is None
            else Path(args.prev_checkpoint).read_text(encoding="utf-8")
        )
        export = load_export(args.file)
        if not isinstance(export, Mapping):
            raise BoardVerificationError("not a board export (a JSON object expected)")
        report = verify_board(
            export,
            trusted_key=args.key,
            receipt=args.receipt,
            workers=args.workers,
            chunk=args.chunk,
            progress=_terminal_progress if sys.stderr.isatty() else None,
            previous_checkpoint=previous,
        )
    except (OSError, ValueError, DomainError) as exc:
        # One line per failure: an encrypted board reports every failure (verify_v2.py).
        for line in getattr(exc, "failures", None) or [str(exc)]:
            print(f"FAILED: {line}", file=sys.stderr)
        return 1
    except RecursionError:  # a hostile export nested deeper than the interpreter's stack
        print("FAILED: the export nests JSON too deeply", file=sys.stderr)
        return 1
    for line in report.checks:
        print(f"ok  {line}")
    print(f"verified: election {report.election}, {report.counted_ballots} ballot(s) counted")
    return 0


if __name__ == "__main__":
    sys.exit(main())
