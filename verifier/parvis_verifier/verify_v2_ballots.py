"""Encrypted ballots on a version-2 board: token, ballot signature, every proof
(board-format.md §10.3, §10.5.2), checked in chunks by a process pool.

Pure apart from the pool (the verifier distribution's dependencies only, like
:mod:`parvis_verifier.verify`). A ballot entry verifies when, in order:

1. it has exactly the members of §10.3 (``ballot`` = ``election``, ``seq``, ``encrypted``);
2. the token is an RSASSA-PSS signature under the manifest key (RFC 9474 §4.5) on a message
   naming this election, and ``ballot.election`` is the manifest's (§8.4);
3. ``ballot_sig`` is the Ed25519 signature by the token's ``vk`` over ``JCS(ballot)``
   (libsodium refuses small-order and non-canonical keys, as in §8.4);
4. every proof of ``ballot.encrypted`` verifies (:func:`parvis_verifier.encrypted_ballot.
   verify_encrypted_ballot`) under the manifest's ``joint_key`` in the context
   (``"parvis-ballot-v2"``, election, ``manifest_hash``, ``vk``).

Speed: the proofs dominate (per 0/1 cell, two fixed-base and six variable-base scalar
multiplications through PyNaCl). Each point of a ballot is decoded once, when the wire form
is parsed; the joint key once per process. Ballots are checked in chunks by forked worker
processes that inherit the parsed board (nothing pickled but the results), in board order.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import sys
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from itertools import count
from typing import Any, Final

import nacl.bindings
import nacl.exceptions
import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from parvis_verifier.encrypted_ballot import EncryptedBallotError, verify_encrypted_ballot
from parvis_verifier.errors import DomainError
from parvis_verifier.fast_ballot_proofs import FastProofs
from parvis_verifier.group import Point
from parvis_verifier.jcs import canonical
from parvis_verifier.merkle import leaf_hash
from parvis_verifier.questions import Question
from parvis_verifier.token import MAX_SEQ, TOKEN_DOMAIN, b64u_decode_or_none, nullifier
from parvis_verifier.transcript import Context

__all__ = ["BallotContext", "BallotOutcome", "check_ballot", "check_ballots"]

# RFC 9474 §5 RSABSSA-SHA384-PSS-Randomized: RSASSA-PSS, SHA-384, MGF1-SHA-384, 48-byte salt.
_PSS: Final = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)
_SHA384: Final = hashes.SHA384()
_BALLOT_MEMBERS: Final = frozenset({"election", "seq", "encrypted"})


@dataclass(frozen=True, slots=True)
class BallotContext:
    """What every ballot check needs, prepared once per process."""

    questions: tuple[Question, ...]
    issuer_key: rsa.RSAPublicKey
    election_id: bytes
    election_text: str
    manifest_hash: bytes
    joint_key: Point
    fast: FastProofs

    @classmethod
    def of(
        cls,
        *,
        questions: tuple[Question, ...],
        issuer_key: rsa.RSAPublicKey,
        election_id: bytes,
        election_text: str,
        manifest_hash: bytes,
        joint_key: Point,
    ) -> BallotContext:
        fast = FastProofs(
            questions, key=joint_key, election=election_text, manifest_hash=manifest_hash
        )
        return cls(
            questions, issuer_key, election_id, election_text, manifest_hash, joint_key, fast
        )

    @property
    def modulus_len(self) -> int:
        return (self.issuer_key.key_size + 7) // 8


@dataclass(frozen=True, slots=True)
class BallotOutcome:
    """One ballot's outcome: its leaf hash (``b""`` when the entry has no RFC 8785 form),
    and either ``nullifier``, ``seq`` and ``cells`` (every cell's ``α ‖ β`` in manifest
    question order and wire order) or the ``fault``."""

    leaf: bytes
    nullifier: bytes = b""
    seq: int = 0
    cells: bytes = b""
    fault: str | None = None


def _exactly(value: object, members: Iterable[str], where: str) -> Mapping[str, Any]:
    wanted = set(members)
    if not isinstance(value, dict) or set(value) != wanted:
        raise _BallotFaultError(f"{where} has exactly the members {sorted(wanted)}")
    return value


class _BallotFaultError(Exception):
    """A ballot fault; the message is the failure line's text."""


def _decoded(text: object, size: int, where: str) -> bytes:
    data = b64u_decode_or_none(text)
    if data is None or len(data) != size:
        raise _BallotFaultError(f"{where} is not {size} bytes of canonical unpadded base64url")
    return data


def _check(entry: object, ctx: BallotContext) -> tuple[bytes, int, bytes]:
    """``(nullifier, seq, cells)`` of a ballot that verifies, else :class:`_BallotFaultError`."""
    cast = _exactly(entry, ("kind", "cast"), "a ballot entry")["cast"]
    members = _exactly(cast, ("token", "ballot", "ballot_sig"), "cast")
    token = _exactly(members["token"], ("msg_prefix", "msg", "sig"), "cast.token")
    ballot = _exactly(members["ballot"], _BALLOT_MEMBERS, "cast.ballot")
    msg = _decoded(token["msg"], 96, "token.msg")
    prefix = _decoded(token["msg_prefix"], 32, "token.msg_prefix")
    sig = _decoded(token["sig"], ctx.modulus_len, "token.sig")
    ballot_sig = _decoded(members["ballot_sig"], 64, "ballot_sig")
    if msg[:16] != TOKEN_DOMAIN:
        raise _BallotFaultError("token message does not start with parvis-ballot-v1")
    if msg[16:32] != ctx.election_id:
        raise _BallotFaultError("the token was issued for another election")
    if ballot["election"] != ctx.election_text:
        raise _BallotFaultError("the ballot names another election")
    seq = ballot["seq"]
    if type(seq) is not int or not 1 <= seq <= MAX_SEQ:
        raise _BallotFaultError(f"ballot.seq is an integer from 1 to {MAX_SEQ}")
    try:
        ctx.issuer_key.verify(sig, prefix + msg, _PSS, _SHA384)
    except InvalidSignature:
        raise _BallotFaultError("token signature does not verify under the manifest key") from None
    try:
        signed = canonical(ballot)  # RFC 8785; plain JSON text takes json.dumps's fast path
    except (rfc8785.CanonicalizationError, ValueError, TypeError, RecursionError) as exc:
        raise _BallotFaultError(f"the ballot has no RFC 8785 form: {exc}") from None
    vk = msg[32:64]
    try:
        nacl.bindings.crypto_sign_open(ballot_sig + signed, vk)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError):
        raise _BallotFaultError("ballot signature does not verify") from None
    cells = ctx.fast.verified_cells(vk, ballot["encrypted"])
    if cells is not None:
        return nullifier(msg), seq, cells
    context = Context(ctx.election_text, ctx.manifest_hash, vk)
    try:
        verified = verify_encrypted_ballot(
            ctx.questions, ctx.joint_key, context, ballot["encrypted"]
        )
    except EncryptedBallotError as exc:
        raise _BallotFaultError(f"encrypted ballot: {exc}") from None
    cells = b"".join(
        cell.to_bytes() for q in ctx.questions for cell in verified.questions[q.id].cells
    )
    return nullifier(msg), seq, cells


def check_ballot(entry: object, ctx: BallotContext) -> BallotOutcome:
    """Every check of §10.5.2 on one ballot entry; never raises on hostile input."""
    leaf = leaf_of(entry)
    if not leaf:
        return BallotOutcome(leaf=b"", fault="the entry has no RFC 8785 form")
    try:
        found, seq, cells = _check(entry, ctx)
    except _BallotFaultError as exc:
        return BallotOutcome(leaf=leaf, fault=str(exc))
    except (DomainError, ValueError, TypeError, RecursionError) as exc:  # hostile shapes
        return BallotOutcome(leaf=leaf, fault=f"malformed ballot: {exc}")
    return BallotOutcome(leaf=leaf, nullifier=found, seq=seq, cells=cells)


# -- the pool ------------------------------------------------------------------------------

# Runs in progress, by id: a forked worker inherits the parsed board from here instead of
# receiving it pickled (the pattern of ballot/verify.py).
_RUNS: dict[int, tuple[BallotContext, Sequence[object]]] = {}
_RUN_IDS = count()


def _run_chunk(run: int, start: int, stop: int) -> list[BallotOutcome]:
    ctx, ballots = _RUNS[run]
    return [check_ballot(entry, ctx) for entry in ballots[start:stop]]


def _can_fork() -> bool:
    """Python ≥ 3.12 warns about forking a process that runs other threads (a lock held at
    that moment stays held in the child): only a single-threaded process forks. Elsewhere
    the ballots are checked in this process."""
    return "fork" in multiprocessing.get_all_start_methods() and (
        sys.version_info < (3, 12) or threading.active_count() == 1
    )


def default_chunk(ballots: int, workers: int) -> int:
    """About eight chunks per worker (an encrypted ballot costs milliseconds, so small
    chunks cost nothing to dispatch), between 4 and 128 ballots."""
    return max(4, min(128, ballots // (8 * max(workers, 1)) or 1))


def check_ballots(
    ctx: BallotContext, ballots: Sequence[object], *, workers: int | None, chunk: int | None
) -> Iterator[list[BallotOutcome]]:
    """Every ballot checked, chunk by chunk in board order, by ``workers`` processes
    (default: every core)."""
    workers = workers or os.cpu_count() or 1
    chunk = chunk or default_chunk(len(ballots), workers)
    bounds = [(i, min(i + chunk, len(ballots))) for i in range(0, len(ballots), chunk)]
    run = next(_RUN_IDS)
    _RUNS[run] = (ctx, ballots)
    try:
        if workers <= 1 or len(bounds) < 2 or not _can_fork():
            for start, stop in bounds:
                yield _run_chunk(run, start, stop)
            return
        # The forked workers share the parsed board copy-on-write; frozen objects are left
        # out of their garbage collections, which would otherwise copy every page.
        gc.freeze()
        try:
            with ProcessPoolExecutor(
                workers, mp_context=multiprocessing.get_context("fork")
            ) as pool:
                pending: deque[Future[list[BallotOutcome]]] = deque()
                todo = iter(bounds)
                for start, stop in todo:
                    pending.append(pool.submit(_run_chunk, run, start, stop))
                    if len(pending) >= 4 * workers:
                        break
                try:
                    while pending:
                        result = pending.popleft().result()
                        for start, stop in todo:
                            pending.append(pool.submit(_run_chunk, run, start, stop))
                            break
                        yield result
                finally:
                    for future in pending:
                        future.cancel()
        finally:
            gc.unfreeze()
    finally:
        del _RUNS[run]


def leaf_of(entry: object) -> bytes:
    """The leaf hash of an entry (board-format.md §1: SHA-256(0x00 ‖ JCS(entry))), or
    ``b""`` when it has no RFC 8785 form. Its kind is the walk's business (§10.1 adds kinds
    that :func:`parvis_verifier.board.entry_leaf_hash` does not know)."""
    try:
        return leaf_hash(canonical(dict(entry))) if isinstance(entry, Mapping) else b""
    except (DomainError, ValueError, TypeError, RecursionError):
        return b""
