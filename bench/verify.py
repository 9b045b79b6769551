"""Benchmark of ``verify-board`` against the floor of its primitives, measured in the same run.

voting-protocol.md, "Verification anyone can run": ``verify-board`` on a generated board (100,000
ballots; ``--quick``: 3,000), as a ratio to the floor of what each ballot costs at minimum — RSA-PSS
verify of the token (``cryptography``), Ed25519 verify of the ballot signature (PyNaCl) and the
SHA-256 leaf hash of the entry bytes — run alone over the same ballots with the same number of
processes (both cores). Target: ≥ 0.8.

The board is generated quickly but honestly: a finalized RFC 9474 token *is* an RSASSA-PSS
signature over ``msg_prefix ‖ msg``, so tokens are signed directly with the election key
(no blinding round trip, which the verifier cannot see anyway); ballots are signed with
their own Ed25519 keys; entries, tree and checkpoints come from the real code.

Usage: ``python bench/verify.py [--quick] [--ballots N] [--reps R] [--workers W]``.
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import secrets
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import nacl.bindings
import nacl.signing
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_der_private_key,
)

from ballot import board
from ballot.tally import tally
from ballot.token import Ballot, CastRequest, Token, TokenMessage, sign_ballot
from ballot.verify import verify_board
from tests.support.boards import BoardBuilder, random_choices

PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)
SHA384 = hashes.SHA384()
TARGET = 0.8

_KEY: rsa.RSAPrivateKey | None = None


def _init(der: bytes) -> None:
    global _KEY  # noqa: PLW0603 - per-process key for the generator pool
    key = load_der_private_key(der, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    _KEY = key


def _make_casts(args: tuple[bytes, int, int]) -> list[dict[str, Any]]:
    election_id, count, seed = args
    assert _KEY is not None
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        signing_seed = secrets.token_bytes(32)
        vk = bytes(nacl.signing.SigningKey(signing_seed).verify_key)
        msg = TokenMessage(
            election_id=election_id, voter_key=vk, nonce=secrets.token_bytes(32)
        ).to_bytes()
        prefix = secrets.token_bytes(32)
        sig = _KEY.sign(prefix + msg, PSS, hashes.SHA384())
        ballot = Ballot(election_id=election_id, seq=1, choices=random_choices(rng))
        cast = CastRequest(
            token=Token(msg_prefix=prefix, msg=msg, sig=sig),
            ballot=ballot,
            ballot_sig=sign_ballot(signing_seed, ballot),
        )
        out.append(board.ballot_entry(cast))
    return out


def generate(ballots: int, workers: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    builder = BoardBuilder.create(population=ballots)
    der = builder.key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
    chunk = 1000
    jobs = [
        (builder.manifest.election_id, min(chunk, ballots - i), i) for i in range(0, ballots, chunk)
    ]
    with ProcessPoolExecutor(workers, initializer=_init, initargs=(der,)) as pool:
        for entries in pool.map(_make_casts, jobs):
            builder.entries.extend(entries)
            if len(builder.entries) % 20_000 < chunk:
                builder.checkpoint()
    builder.tokens_issued = ballots
    for entry in builder.entries[1:]:
        builder.counted[entry["cast"]["token"]["msg"].encode()] = entry["cast"]["ballot"]["choices"]
    builder.close()
    casts = [e["cast"] for e in builder.entries if e.get("kind") == "ballot"]
    assert tally(builder.manifest.questions, [c["ballot"]["choices"] for c in casts])
    return builder.export(), casts


def _floor_batch(
    args: tuple[bytes, list[tuple[bytes, bytes, bytes, bytes, bytes]]],
) -> tuple[int, float]:
    """Verify a batch with the bare primitives: (ballots, CPU seconds spent)."""
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    cpu = time.process_time()
    spki, items = args
    key = load_der_public_key(spki)
    assert isinstance(key, rsa.RSAPublicKey)
    for prepared, sig, vk, signed, ballot_sig, leaf_bytes in items:  # type: ignore[misc]
        key.verify(sig, prepared, PSS, SHA384)
        # PyNaCl's most direct public call (VerifyKey.verify wraps this same function).
        nacl.bindings.crypto_sign_open(ballot_sig + signed, vk)
        hashlib.sha256(b"\x00" + leaf_bytes).digest()
    return len(items), time.process_time() - cpu


def _cpu_seconds() -> float:
    """CPU time of this process and of its children that have exited (the pool's)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def floor_rate(
    export: dict[str, Any], casts: list[dict[str, Any]], workers: int
) -> tuple[float, float]:
    """Ballots/s of the bare primitives over the same ballots, same process count, and the
    CPU seconds per ballot they took."""
    from ballot.manifest import Manifest
    from ballot.token import parse_cast

    manifest = Manifest.from_json(export["entries"][0]["manifest"])
    items = []
    for cast in casts:
        parsed = parse_cast(cast)
        items.append(
            (
                parsed.token.prepared_msg,
                parsed.token.sig,
                parsed.token.message.voter_key,
                parsed.ballot.canonical_bytes(),
                parsed.ballot_sig,
                board.entry_bytes({"kind": "ballot", "cast": cast}),
            )
        )
    size = 500
    batches = [(manifest.issuer_spki, items[i : i + size]) for i in range(0, len(items), size)]
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_floor_batch, batches[:2]))  # start the workers outside the timing
        start = time.perf_counter()
        outcomes = list(pool.map(_floor_batch, batches))
        elapsed = time.perf_counter() - start
    done = sum(n for n, _ in outcomes)
    return done / elapsed, sum(cpu for _, cpu in outcomes) / done


def verifier_rate(export: dict[str, Any], ballots: int, workers: int) -> tuple[float, float]:
    """Ballots/s of verify-board, and the CPU seconds per ballot of all its processes
    (this one, including the pool's start and the recount, and the workers)."""
    cpu = _cpu_seconds()
    start = time.perf_counter()
    report = verify_board(export, workers=workers)
    elapsed = time.perf_counter() - start
    cpu = _cpu_seconds() - cpu
    assert report.counted_ballots == ballots
    assert report.recounted
    return ballots / elapsed, cpu / ballots


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3,000 ballots, 3 repetitions")
    parser.add_argument("--ballots", type=int, default=None)
    parser.add_argument("--reps", type=int, default=None)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    ballots = args.ballots or (3_000 if args.quick else 100_000)
    reps = args.reps or (3 if args.quick else 5)
    start = time.perf_counter()
    export, casts = generate(ballots, args.workers)
    print(f"generated a board of {ballots} ballots in {time.perf_counter() - start:.1f} s")
    floors: list[float] = []
    verifiers: list[float] = []
    floor_cpus: list[float] = []
    verifier_cpus: list[float] = []
    for rep in range(reps):
        rate, cpu = floor_rate(export, casts, args.workers)
        floors.append(rate)
        floor_cpus.append(cpu)
        rate, cpu = verifier_rate(export, ballots, args.workers)
        verifiers.append(rate)
        verifier_cpus.append(cpu)
        print(
            f"rep {rep + 1}: floor {floors[-1]:,.0f} ballots/s ({floor_cpus[-1] * 1e6:.0f} µs "
            f"CPU each), verify-board {verifiers[-1]:,.0f} ballots/s "
            f"({verifier_cpus[-1] * 1e6:.0f} µs CPU each)"
        )
    floor, verifier = statistics.median(floors), statistics.median(verifiers)
    ratio = verifier / floor
    # On a shared, loaded machine wall-clock rates swing with the neighbours; the CPU-time
    # ratio (floor CPU per ballot / verify-board CPU per ballot, all processes) is steadier.
    cpu_ratio = statistics.median(floor_cpus) / statistics.median(verifier_cpus)
    print(
        f"median: verify-board {verifier:,.0f} ballots/s = {ratio:.2f} x floor "
        f"{floor:,.0f} ballots/s (target ≥ {TARGET}); CPU-time ratio {cpu_ratio:.2f}"
    )
    print(
        json.dumps(
            {
                "bench": "verify",
                "ballots": ballots,
                "workers": args.workers,
                "reps": reps,
                "floor_ballots_per_s": round(floor, 1),
                "verify_board_ballots_per_s": round(verifier, 1),
                "ratio": round(ratio, 3),
                "cpu_ratio": round(cpu_ratio, 3),
                "target": TARGET,
            }
        )
    )


if __name__ == "__main__":
    main()
