"""Benchmark of RFC 9474 ballot tokens against OpenSSL's own speed, measured in the same run.

For RSA-2048, 3072 and 4096 it measures, single-threaded, in interleaved repetitions:

* ``blind_sign`` ops/s for every available backend (input checks, private operation and
  the RFC 9474 §4.3 output check included), against ``openssl speed -seconds N rsaXXXX``
  private-key (sign) ops/s, the physical limit on this machine;
* token ``verify`` ops/s (RSASSA-PSS through ``cryptography``) against openssl's verify
  rate, plus the full ``verify_cast`` rate (parse, RSA-PSS, Ed25519) for information;
* the voter client's ``blind`` + ``finalize`` latency (``begin_issuance`` + ``finish``,
  without the signer's time).

Medians over the repetitions are reported; ratios compare with the openssl figures of the
same repetitions. Targets for the default backend: blind_sign ≥ 0.8 x openssl sign,
verify ≥ 0.5 x openssl verify. This is not a test: it never fails on a missed target.

Usage: ``python bench/tokens.py [--quick] [--reps N] [--seconds S]``. ``--quick`` runs in
well under a minute. The last line printed is one JSON object with every rate and ratio.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives.asymmetric import rsa

from ballot import rsabssa
from ballot.client import begin_issuance, obtain_voting_right
from ballot.rsa_backends import available_backends, get_backend
from ballot.token import verify_cast

SIZES = (2048, 3072, 4096)
TARGET_SIGN_RATIO = 0.8
TARGET_VERIFY_RATIO = 0.5


# Which clock divides: ``openssl speed`` divides by the process's CPU time unless given
# ``-elapsed``; we do the same so that both sides are compared like with like, and other
# processes on the 2 shared cores do not count against either. ``--elapsed`` switches both.
CLOCK: Callable[[], float] = time.process_time


def rate(op: Callable[[], object], *, seconds: float, batch: int = 1, min_ops: int = 3) -> float:
    """Operations per second of ``op`` over about ``seconds`` of CLOCK time."""
    op()  # warm caches (key loading, contexts) outside the measurement
    count = 0
    start = CLOCK()
    # A wall-clock cap keeps a starved run from lasting forever.
    wall_deadline = time.perf_counter() + 5 * seconds
    while True:
        for _ in range(batch):
            op()
        count += batch
        now = CLOCK()
        if count >= min_ops and (now - start >= seconds or time.perf_counter() > wall_deadline):
            return count / (now - start)


def openssl_speed(openssl: str, bits: int, seconds: int, *, elapsed: bool) -> tuple[float, float]:
    """Return (sign/s, verify/s) from ``openssl speed -seconds N rsaBITS`` (one process)."""
    command = [openssl, "speed", "-seconds", str(seconds)]
    if elapsed:
        command.append("-elapsed")
    completed = subprocess.run(
        [*command, f"rsa{bits}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30 * seconds + 60,
    )
    header: list[str] | None = None
    for line in completed.stdout.splitlines():
        if "sign/s" in line and "verify/s" in line:
            header = line.split()
            continue
        match = re.match(rf"^rsa\s+{bits}\s+bits\s+(.*)$", line.strip())
        if header is not None and match:
            values = match.group(1).split()
            # Column names as printed (OpenSSL 3.0: sign verify sign/s verify/s; later
            # versions add encrypt/decrypt columns): pair them up by position.
            columns = dict(zip(header, values, strict=False))
            return float(columns["sign/s"]), float(columns["verify/s"])
    raise RuntimeError(f"cannot parse openssl speed output for rsa{bits}:\n{completed.stdout}")


def measure_size(
    bits: int,
    *,
    reps: int,
    seconds: float,
    openssl: str,
    backends: tuple[str, ...],
    elapsed: bool,
) -> dict[str, Any]:
    key: rsa.RSAPrivateKey = rsabssa.generate_key(bits)
    public_key = key.public_key()
    key_id = rsabssa.key_id(public_key)
    election = uuid.uuid4()
    variant = rsabssa.DEFAULT_VARIANT

    # A pool of real blinded messages, cycled, so every blind_sign signs a fresh-looking value.
    pool = [
        rsabssa.blind(public_key, rsabssa.prepare(b"bench %d" % i, variant), variant=variant)[0]
        for i in range(16)
    ]
    right = obtain_voting_right(
        public_key,
        election_id=election,
        committed_key_id=key_id,
        transport=lambda b: rsabssa.blind_sign(key, b),
    )
    prepared, sig = right.token.prepared_msg, right.token.sig
    _right, cast = right.cast({"q": ["a"]})
    cast_body = cast.to_json_bytes()

    samples: dict[str, list[float]] = {"openssl_sign": [], "openssl_verify": [], "verify": []}
    samples.update({f"blind_sign:{name}": [] for name in backends})
    samples["verify_cast"] = []
    samples["client_ms"] = []
    op_seconds = max(0.25, seconds / 3)

    for _ in range(reps):
        sign_rate, verify_rate = openssl_speed(
            openssl, bits, max(1, round(seconds)), elapsed=elapsed
        )
        samples["openssl_sign"].append(sign_rate)
        samples["openssl_verify"].append(verify_rate)
        for name in backends:
            backend = get_backend(name)
            cursor = iter(range(1 << 62))

            def sign_one(backend: Any = backend, cursor: Any = cursor) -> bytes:
                return rsabssa.blind_sign(key, pool[next(cursor) % len(pool)], backend=backend)

            samples[f"blind_sign:{name}"].append(rate(sign_one, seconds=op_seconds))

        def verify_one() -> None:
            rsabssa.verify(public_key, prepared, sig=sig, variant=variant)

        samples["verify"].append(rate(verify_one, seconds=op_seconds, batch=50))

        def verify_cast_one() -> None:
            verify_cast(public_key, expected_election_id=election, cast=cast_body)

        samples["verify_cast"].append(rate(verify_cast_one, seconds=op_seconds, batch=20))

        # Client: blind + finalize, the signer's answer precomputed outside the timing.
        latencies = []
        for _ in range(10):
            t0 = CLOCK()
            pending = begin_issuance(public_key, election_id=election, committed_key_id=key_id)
            t1 = CLOCK()
            blind_sig = rsabssa.blind_sign(key, pending.blinded_msg)
            t2 = CLOCK()
            pending.finish(blind_sig)
            t3 = CLOCK()
            latencies.append(((t1 - t0) + (t3 - t2)) * 1000)
        samples["client_ms"].append(statistics.median(latencies))

    med = {name: statistics.median(values) for name, values in samples.items()}
    result: dict[str, Any] = {
        "openssl_sign_per_s": round(med["openssl_sign"], 1),
        "openssl_verify_per_s": round(med["openssl_verify"], 1),
        "blind_sign_per_s": {name: round(med[f"blind_sign:{name}"], 1) for name in backends},
        "blind_sign_ratio": {
            name: round(med[f"blind_sign:{name}"] / med["openssl_sign"], 3) for name in backends
        },
        "verify_per_s": round(med["verify"], 1),
        "verify_ratio": round(med["verify"] / med["openssl_verify"], 3),
        "verify_cast_per_s": round(med["verify_cast"], 1),
        "client_blind_finalize_ms": round(med["client_ms"], 3),
        "samples": {name: [round(v, 1) for v in values] for name, values in samples.items()},
    }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run (under a minute)")
    parser.add_argument("--reps", type=int, default=None, help="repetitions (median taken)")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per measurement")
    parser.add_argument("--sizes", type=int, nargs="*", default=list(SIZES))
    parser.add_argument(
        "--elapsed",
        action="store_true",
        help="divide by wall-clock time on both sides (openssl speed -elapsed)",
    )
    args = parser.parse_args(argv)
    global CLOCK  # noqa: PLW0603 - the one switch of this script
    if args.elapsed:
        CLOCK = time.perf_counter
    reps = args.reps or (3 if args.quick else 5)
    seconds = args.seconds or (1.0 if args.quick else 3.0)

    openssl = shutil.which("openssl")
    if openssl is None:
        print(
            "openssl command line not found: it is the baseline of this benchmark", file=sys.stderr
        )
        return 2
    version = subprocess.run([openssl, "version"], capture_output=True, text=True, check=True)
    backends = available_backends()
    default = get_backend().name
    print(f"# {version.stdout.strip()}; Python {platform.python_version()}; backends {backends}")
    clock = "wall-clock" if args.elapsed else "CPU"
    print(
        f"# default backend: {default}; {reps} repetitions; ~{seconds:g} s per measurement; "
        f"rates per {clock} second on both sides"
    )

    started = time.perf_counter()
    results: dict[str, Any] = {}
    for bits in args.sizes:
        r = measure_size(
            bits,
            reps=reps,
            seconds=seconds,
            openssl=openssl,
            backends=backends,
            elapsed=args.elapsed,
        )
        results[str(bits)] = r
        print(
            f"RSA-{bits}: openssl sign {r['openssl_sign_per_s']:.0f}/s "
            f"verify {r['openssl_verify_per_s']:.0f}/s"
        )
        for name in backends:
            print(
                f"  blind_sign[{name:9}] {r['blind_sign_per_s'][name]:8.1f}/s  "
                f"ratio {r['blind_sign_ratio'][name]:.3f}"
            )
        print(
            f"  verify              {r['verify_per_s']:8.1f}/s  ratio {r['verify_ratio']:.3f}; "
            f"verify_cast {r['verify_cast_per_s']:.0f}/s; "
            f"client blind+finalize {r['client_blind_finalize_ms']:.2f} ms"
        )

    met = all(
        r["blind_sign_ratio"][default] >= TARGET_SIGN_RATIO
        and r["verify_ratio"] >= TARGET_VERIFY_RATIO
        for r in results.values()
    )
    print(
        f"# targets (default backend {default}): blind_sign >= {TARGET_SIGN_RATIO} x openssl sign, "
        f"verify >= {TARGET_VERIFY_RATIO} x openssl verify: {'met' if met else 'MISSED'}"
    )
    summary = {
        "bench": "tokens",
        "openssl": version.stdout.strip(),
        "quick": args.quick,
        "repetitions": reps,
        "seconds": seconds,
        "clock": "elapsed" if args.elapsed else "cpu",
        "default_backend": default,
        "targets": {"blind_sign_ratio": TARGET_SIGN_RATIO, "verify_ratio": TARGET_VERIFY_RATIO},
        "targets_met": met,
        "elapsed_s": round(time.perf_counter() - started, 1),
        "sizes": results,
    }
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
