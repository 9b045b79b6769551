"""Benchmark of the booth's encrypted cells (web/src/lib, TypeScript in Node) against ballot/.

ADR 0011 and ballot-secrecy.md §1: the booth encrypts every 0/1 cell of a ballot and proves it
(CDS94, web/src/lib/zeroone.ts ``encryptCell``) with @noble/curves in pure JavaScript; the
server verifies with ballot/zeroone.py over libsodium. This prints, per cell, the CPU time of
encrypting and proving and of decoding and verifying, in Node (with and without the election
key's precomputed tables, ``Point.withTables``) and in Python, measured in the same run and
interleaved, so the ratio Node / Python holds whatever the machine. The booth in a browser runs
the same JavaScript engine family; headless Chromium figures belong to bench/encrypted.py.
Not a test: nothing here asserts a time.

Usage: ``python bench/booth_cells.py [--quick] [--reps R] [--iterations N]``. Needs Node.js and
``web/node_modules`` (``make node-deps``). Each figure is the median over ``R`` repetitions of
the per-cell median over ``N`` cells, in CPU time of the process that computes it. The last line
printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ballot.elgamal import Ciphertext, encrypt
from ballot.group import Point, Scalar
from ballot.token import b64u_encode
from ballot.transcript import Context
from ballot.zeroone import decode_zero_one, prove_zero_one, verify_zero_one

ROOT = Path(__file__).resolve().parents[1]
CONTEXT = Context("budget-2026", bytes(range(32)), b"\x11" * 32)


def _python_cells(key: Point, iterations: int) -> tuple[float, float]:
    """Median CPU ms per cell: encrypt and prove, then decode and verify (ballot/)."""
    prove, verify = [], []
    for index in range(iterations):
        start = time.process_time()
        nonce = Scalar.random()
        ciphertext = encrypt(index % 2, key, nonce=nonce)
        proof = prove_zero_one(
            CONTEXT, key=key, ciphertext=ciphertext, bit=index % 2, nonce=nonce
        ).to_bytes()
        cell = ciphertext.to_bytes()
        prove.append(time.process_time() - start)
        start = time.process_time()
        verify_zero_one(
            CONTEXT, key=key, ciphertext=Ciphertext.from_bytes(cell), proof=decode_zero_one(proof)
        )
        verify.append(time.process_time() - start)
    return statistics.median(prove) * 1e3, statistics.median(verify) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repetitions of 50 cells")
    parser.add_argument("--reps", type=int, default=0)
    parser.add_argument("--iterations", type=int, default=0)
    args = parser.parse_args()
    reps = args.reps or (3 if args.quick else 7)
    iterations = args.iterations or (50 if args.quick else 200)

    node, esbuild = shutil.which("node"), ROOT / "web" / "node_modules" / ".bin" / "esbuild"
    if node is None or not esbuild.exists():
        sys.exit("needs Node.js and web/node_modules: run `make node-deps`")
    with tempfile.TemporaryDirectory() as directory:
        bundle = Path(directory) / "booth-lib.mjs"
        subprocess.run(
            [str(esbuild), "src/lib/index.ts", "--bundle", "--format=esm", "--platform=node",
             "--target=node20", f"--outfile={bundle}", "--log-level=warning"],
            cwd=ROOT / "web",
            check=True,
        )  # fmt: skip
        driver = subprocess.Popen(
            [node, str(ROOT / "tests" / "node" / "encrypted_units.mjs"), str(bundle)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert driver.stdin is not None
        assert driver.stdout is not None

        def in_node(*, key: Point, tables: bool) -> dict[str, Any]:
            request = {
                "op": "bench",
                "context": {
                    "election": CONTEXT.election_id,
                    "manifest": b64u_encode(CONTEXT.manifest_hash),
                    "vk": b64u_encode(CONTEXT.vk),
                },
                "key": b64u_encode(key.encoded),
                "runs": iterations,
                "tables": tables,
            }
            assert driver.stdin is not None
            assert driver.stdout is not None
            driver.stdin.write(json.dumps(request) + "\n")
            driver.stdin.flush()
            answer: dict[str, Any] = json.loads(driver.stdout.readline())
            if "error" in answer:
                sys.exit(f"node: {answer['error']}")
            return answer

        rows: dict[str, list[float]] = {
            name: []
            for name in (
                "node_prove_ms", "node_verify_ms", "node_tables_prove_ms",
                "node_tables_verify_ms", "node_tables_once_ms", "python_prove_ms",
                "python_verify_ms",
            )
        }  # fmt: skip
        for _ in range(reps):
            key = Point.base_times(Scalar.random())  # a fresh key: no tables left from before
            plain = in_node(key=key, tables=False)
            tabled = in_node(key=key, tables=True)
            python_prove, python_verify = _python_cells(key, iterations)
            rows["node_prove_ms"].append(plain["prove_ms"])
            rows["node_verify_ms"].append(plain["verify_ms"])
            rows["node_tables_prove_ms"].append(tabled["prove_ms"])
            rows["node_tables_verify_ms"].append(tabled["verify_ms"])
            rows["node_tables_once_ms"].append(tabled["tables_ms"])
            rows["python_prove_ms"].append(python_prove)
            rows["python_verify_ms"].append(python_verify)
        driver.stdin.close()
        driver.wait(timeout=30)

    figures = {name: round(statistics.median(values), 3) for name, values in rows.items()}
    print(
        f"0/1 cell, Node (@noble/curves): prove {figures['node_prove_ms']:.2f} ms, verify "
        f"{figures['node_verify_ms']:.2f} ms; with the key's tables "
        f"({figures['node_tables_once_ms']:.1f} ms once): prove "
        f"{figures['node_tables_prove_ms']:.2f} ms, "
        f"verify {figures['node_tables_verify_ms']:.2f} ms"
    )
    print(
        f"0/1 cell, Python (libsodium): prove {figures['python_prove_ms']:.2f} ms, verify "
        f"{figures['python_verify_ms']:.2f} ms"
    )
    ratios = {
        "prove_node_tables_over_python": round(
            figures["node_tables_prove_ms"] / figures["python_prove_ms"], 1
        ),
        "verify_node_over_python": round(
            figures["node_verify_ms"] / figures["python_verify_ms"], 1
        ),
    }
    print(
        f"ratio Node / Python: prove (tables) {ratios['prove_node_tables_over_python']}×, "
        f"verify {ratios['verify_node_over_python']}×"
    )
    print(
        json.dumps(
            {"bench": "booth_cells", "reps": reps, "iterations": iterations, **figures, **ratios}
        )
    )


if __name__ == "__main__":
    main()
