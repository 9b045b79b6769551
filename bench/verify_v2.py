"""Benchmark of the encrypted-board verifier against the floor of its scalar multiplications.

board-format.md §10.5: checking an encrypted ballot is dominated by its proofs, one
fixed-base and three variable-base scalar multiplications (libsodium through PyNaCl) per
branch of every proof, plus two per option for a budget's envelope
(:func:`ballot.fast_ballot_proofs.floor_operations`). The floor runs exactly that many
multiplications per ballot, on the ballot's own scalars and points, and nothing else, with
the same number of processes over the same ballots; ``verify-board`` checks the whole board
(ceremony, tokens, signatures, proofs, sums, partial decryptions, results). Both are
measured in the same run; the ratio is verify-board's rate over the floor's.

The board comes from :func:`tests.ballot.encrypted_board.build_board` (deterministic,
through the real code: ceremony, RFC 9474 tokens, encryption with proofs, checkpoints).

Usage: ``python bench/verify_v2.py [--quick] [--ballots N] [--reps R] [--workers W]``.
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import nacl.bindings

from ballot.fast_ballot_proofs import floor_operations
from ballot.token import b64u_decode
from ballot.verify import verify_board
from ballot.verify_v2_entries import parse_manifest_v2
from tests.ballot.encrypted_board import build_board

#: One ballot's floor: ``(fixed-base scalars, [(scalar, point)] for variable-base)``.
Work = tuple[list[bytes], list[tuple[bytes, bytes]]]


def _operands(entry: dict[str, Any], base: int, variable: int) -> Work:
    """``base`` responses and ``variable`` (scalar, point) pairs taken from the ballot's own
    proofs and cells (every multiplication costs the same: libsodium is constant-time)."""
    scalars: list[bytes] = []
    points: list[bytes] = []
    for question in entry["cast"]["ballot"]["encrypted"].values():
        for text in [*question["cells"], *question.get("bits", [])]:
            raw = b64u_decode(text, field="cell")
            points += [raw[:32], raw[32:]]
        proofs = [*question["cell_proofs"], *question["sum_proofs"]]
        proofs += [*question.get("bit_proofs", [])]
        if "envelope_proof" in question:
            proofs.append(question["envelope_proof"])
        for text in proofs:
            raw = b64u_decode(text, field="proof")
            for branch in range(len(raw) // 128):
                scalars += [raw[128 * branch + 64 : 128 * branch + 96]]
                scalars += [raw[128 * branch + 96 : 128 * branch + 128]]
    pairs = [(scalars[i % len(scalars)], points[i % len(points)]) for i in range(variable)]
    return [scalars[i % len(scalars)] for i in range(base)], pairs


def _floor_batch(batch: list[Work]) -> tuple[int, float]:
    """The bare scalar multiplications of a batch of ballots: (ballots, CPU seconds)."""
    cpu = time.process_time()
    base, mul = (
        nacl.bindings.crypto_scalarmult_ed25519_base_noclamp,
        nacl.bindings.crypto_scalarmult_ed25519_noclamp,
    )
    for scalars, pairs in batch:
        for scalar in scalars:
            base(scalar)
        for scalar, point in pairs:
            mul(scalar, point)
    return len(batch), time.process_time() - cpu


def _cpu_seconds() -> float:
    """CPU time of this process and of its children that have exited (the pool's)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def floor_rate(work: list[Work], workers: int) -> tuple[float, float]:
    size = max(1, len(work) // (8 * workers))
    batches = [work[i : i + size] for i in range(0, len(work), size)]
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_floor_batch, [batches[0][:1]] * workers))  # start the workers first
        start = time.perf_counter()
        outcomes = list(pool.map(_floor_batch, batches))
        elapsed = time.perf_counter() - start
    done = sum(n for n, _ in outcomes)
    return done / elapsed, sum(cpu for _, cpu in outcomes) / done


def verifier_rate(export: dict[str, Any], ballots: int, workers: int) -> tuple[float, float]:
    """Ballots/s of verify-board over the ballot entries on the board, and the CPU seconds
    per ballot of all its processes (the whole board's checks included)."""
    cpu = _cpu_seconds()
    start = time.perf_counter()
    report = verify_board(export, workers=workers)
    elapsed = time.perf_counter() - start
    cpu = _cpu_seconds() - cpu
    assert report.ballots_on_board == ballots
    assert report.recounted
    return ballots / elapsed, cpu / ballots


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="60 ballots, 2 repetitions")
    parser.add_argument("--ballots", type=int, default=None)
    parser.add_argument("--reps", type=int, default=None)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    voters = args.ballots or (60 if args.quick else 300)
    reps = args.reps or (2 if args.quick else 3)
    start = time.perf_counter()
    built = build_board(voters, revoters=voters // 10, seed=b"bench verify_v2")
    export = built.export()
    entries = [e for e in export["entries"] if e["kind"] == "ballot"]
    print(f"generated a board of {len(entries)} ballots in {time.perf_counter() - start:.1f} s")
    manifest = parse_manifest_v2(export["entries"][8]["manifest"])
    base, variable = floor_operations(manifest.terms.questions)
    print(f"floor per ballot: {base} fixed-base + {variable} variable-base multiplications")
    work = [_operands(entry, base, variable) for entry in entries]
    floors, verifiers, floor_cpus, verifier_cpus = [], [], [], []
    for rep in range(reps):
        rate, cpu = floor_rate(work, args.workers)
        floors.append(rate)
        floor_cpus.append(cpu)
        rate, cpu = verifier_rate(export, len(entries), args.workers)
        verifiers.append(rate)
        verifier_cpus.append(cpu)
        print(
            f"rep {rep + 1}: floor {floors[-1]:,.1f} ballots/s ({floor_cpus[-1] * 1e3:.2f} ms "
            f"CPU each), verify-board {verifiers[-1]:,.1f} ballots/s "
            f"({verifier_cpus[-1] * 1e3:.2f} ms CPU each)"
        )
    floor, verifier = statistics.median(floors), statistics.median(verifiers)
    ratio = verifier / floor
    # On a shared, loaded machine wall-clock rates swing with the neighbours; the CPU-time
    # ratio (floor CPU per ballot / verify-board CPU per ballot, all processes) is steadier.
    cpu_ratio = statistics.median(floor_cpus) / statistics.median(verifier_cpus)
    print(
        f"median: verify-board {verifier:,.1f} ballots/s = {ratio:.2f} x floor "
        f"{floor:,.1f} ballots/s; CPU-time ratio {cpu_ratio:.2f}"
    )
    print(
        json.dumps(
            {
                "bench": "verify_v2",
                "ballots": len(entries),
                "workers": args.workers,
                "reps": reps,
                "floor_multiplications": {"fixed_base": base, "variable_base": variable},
                "floor_ballots_per_s": round(floor, 2),
                "verify_board_ballots_per_s": round(verifier, 2),
                "ratio": round(ratio, 3),
                "cpu_ratio": round(cpu_ratio, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
