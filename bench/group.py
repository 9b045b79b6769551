"""Benchmark of the encrypted ballots' group (ballot/group.py) against bare PyNaCl calls.

ADR 0011: the cost of each group operation as Parvis calls it — variable-base scalar
multiplication (``Point * Scalar``), fixed-base multiplication (``Point.base_times``), point
addition (``Point + Point``) and strict point validation (``Point.decode``) — in µs, and as
a ratio to the bare libsodium call underneath (``nacl.bindings``), measured in the same run,
interleaved, so the ratio says what the wrapper costs whatever the machine. Then the proofs
built on it: a 0/1 proof (ballot/zeroone.py) proved and verified, its verification as a
ratio to its floor (the scalar multiplications it needs, timed alone in the same run: per
branch one fixed-base and three variable-base), an eight-option approval ballot verified from
its bytes (eight cells with their 0/1 proofs, a range proof of their sum), and a baby-step
giant-step logarithm bounded by 100,000 (ballot/elgamal.py). Not a test: nothing here
asserts a time.

Usage: ``python bench/group.py [--quick] [--reps R] [--iterations N]``. Each figure is the
median over ``R`` repetitions of ``N`` calls, in CPU time of the process. The last line
printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import nacl.bindings as sodium

from ballot.elgamal import Ciphertext, dlog, encrypt, message_point, sum_ciphertexts
from ballot.group import Point, Scalar
from ballot.range_proof import DisjunctiveProof, prove_range, verify_range
from ballot.transcript import Context
from ballot.zeroone import decode_zero_one, prove_zero_one, verify_zero_one


def _per_call_us(function: Callable[[], object], iterations: int) -> float:
    # CPU time of this process, not wall time: the machine is shared, and a descheduled
    # process would otherwise charge its neighbours' work to the operation measured.
    start = time.process_time()
    for _ in range(iterations):
        function()
    return (time.process_time() - start) / iterations * 1e6


def _pair(
    bare: Callable[[], object], wrapped: Callable[[], object], *, reps: int, iterations: int
) -> dict[str, float]:
    """Median µs per call of ``bare`` and ``wrapped``, run alternately (same noise)."""
    bare_times, wrapped_times = [], []
    for _ in range(reps):
        bare_times.append(_per_call_us(bare, iterations))
        wrapped_times.append(_per_call_us(wrapped, iterations))
    bare_us = statistics.median(bare_times)
    wrapped_us = statistics.median(wrapped_times)
    return {
        "pynacl_us": round(bare_us, 2),
        "parvis_us": round(wrapped_us, 2),
        "ratio": round(wrapped_us / bare_us, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 repetitions of 200 calls")
    parser.add_argument("--reps", type=int, default=0)
    parser.add_argument("--iterations", type=int, default=0)
    args = parser.parse_args()
    reps = args.reps or (5 if args.quick else 9)
    iterations = args.iterations or (200 if args.quick else 2_000)

    scalar, other = Scalar.random(), Scalar.random()
    point, second = Point.base_times(scalar), Point.base_times(other)
    p_bytes, q_bytes, s_bytes = point.encoded, second.encoded, scalar.encoded

    operations = {
        "variable_base_mult": _pair(
            lambda: sodium.crypto_scalarmult_ed25519_noclamp(s_bytes, p_bytes),
            lambda: point * scalar,
            reps=reps,
            iterations=iterations,
        ),
        "fixed_base_mult": _pair(
            lambda: sodium.crypto_scalarmult_ed25519_base_noclamp(s_bytes),
            lambda: Point.base_times(scalar),
            reps=reps,
            iterations=iterations,
        ),
        "addition": _pair(
            lambda: sodium.crypto_core_ed25519_add(p_bytes, q_bytes),
            lambda: point + second,
            reps=reps,
            iterations=iterations,
        ),
        "point_validation": _pair(
            lambda: sodium.crypto_core_ed25519_is_valid_point(p_bytes),
            lambda: Point.decode(p_bytes),
            reps=reps,
            iterations=iterations,
        ),
    }
    for name, figures in operations.items():
        print(
            f"{name:20s} PyNaCl {figures['pynacl_us']:8.2f} µs   ballot/group.py "
            f"{figures['parvis_us']:8.2f} µs   ratio {figures['ratio']:.3f}"
        )

    # The 0/1 proof of one cell, and its verification against its floor.
    context = Context("bench", b"\x00" * 32, b"\x01" * 32)
    key = Point.base_times(Scalar.random())
    nonce = Scalar.random()
    ciphertext = encrypt(1, key, nonce=nonce)
    proof = prove_zero_one(context, key=key, ciphertext=ciphertext, bit=1, nonce=nonce)
    proof_iterations = max(iterations // 10, 20)
    prove_times, verify_times, floor_times = [], [], []

    def floor() -> None:
        for _ in range(2):  # two branches: z·G, c·α, z·H, c·(β − m·G)
            Point.base_times(scalar)
            _ = point * scalar
            _ = point * other
            _ = second * scalar

    for _ in range(reps):
        prove_times.append(
            _per_call_us(
                lambda: prove_zero_one(context, key=key, ciphertext=ciphertext, bit=1, nonce=nonce),
                proof_iterations,
            )
        )
        verify_times.append(
            _per_call_us(
                lambda: verify_zero_one(context, key=key, ciphertext=ciphertext, proof=proof),
                proof_iterations,
            )
        )
        floor_times.append(_per_call_us(floor, proof_iterations))
    prove_us = statistics.median(prove_times)
    verify_us = statistics.median(verify_times)
    floor_us = statistics.median(floor_times)
    print(
        f"0/1 proof: prove {prove_us:.0f} µs, verify {verify_us:.0f} µs, floor {floor_us:.0f} µs"
        f" (floor/verify {floor_us / verify_us:.3f})"
    )

    # An eight-option approval ballot as a verifier meets it: bytes in, strict decoding of the
    # eight cells, their 0/1 proofs and the range proof of their sum in [0, 8], all verified.
    bits = [1, 0, 1, 1, 0, 0, 1, 0]
    nonces = [Scalar.random() for _ in bits]
    cells = [encrypt(b, key, nonce=n) for b, n in zip(bits, nonces, strict=True)]
    wire_cells = [
        (
            cell.to_bytes(),
            prove_zero_one(context, key=key, ciphertext=cell, bit=b, nonce=n).to_bytes(),
        )
        for cell, b, n in zip(cells, bits, nonces, strict=True)
    ]
    total = sum_ciphertexts(cells)
    wire_sum = prove_range(
        context,
        key=key,
        ciphertext=total,
        message=sum(bits),
        nonce=Scalar.of(sum(n.value for n in nonces)),
        lo=0,
        hi=8,
    ).to_bytes()

    def verify_ballot() -> None:
        decoded = []
        for cell_bytes, proof_bytes in wire_cells:
            cell = Ciphertext.from_bytes(cell_bytes)
            verify_zero_one(context, key=key, ciphertext=cell, proof=decode_zero_one(proof_bytes))
            decoded.append(cell)
        verify_range(
            context,
            key=key,
            ciphertext=sum_ciphertexts(decoded),
            proof=DisjunctiveProof.from_bytes(wire_sum, values=9),
            lo=0,
            hi=8,
        )

    ballot_iterations = max(iterations // 100, 5)
    ballot_ms = statistics.median(
        _per_call_us(verify_ballot, ballot_iterations) / 1e3 for _ in range(reps)
    )
    print(f"8-option approval ballot (8 cells + sum in [0, 8]): verify {ballot_ms:.2f} ms")

    target = message_point(99_999)
    dlog_times = []
    for _ in range(reps):
        start = time.process_time()
        dlog(target, 100_000)  # the baby steps are cached after the first run
        dlog_times.append((time.process_time() - start) * 1e3)
    dlog_ms = statistics.median(dlog_times)
    print(f"dlog ≤ 100,000: first {dlog_times[0]:.1f} ms, median {dlog_ms:.1f} ms")

    print(
        json.dumps(
            {
                "bench": "group",
                "reps": reps,
                "iterations": iterations,
                "operations": operations,
                "zero_one_prove_us": round(prove_us, 1),
                "zero_one_verify_us": round(verify_us, 1),
                "zero_one_verify_floor_us": round(floor_us, 1),
                "zero_one_verify_floor_ratio": round(floor_us / verify_us, 3),
                "approval_ballot_8_verify_ms": round(ballot_ms, 3),
                "dlog_100000_first_ms": round(dlog_times[0], 2),
                "dlog_100000_median_ms": round(dlog_ms, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
