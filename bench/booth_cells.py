"""Benchmark of the booth's encrypted cells and ballots (web/src/lib, TypeScript) against ballot/.

ADR 0011 and ballot-secrecy.md §1: the booth encrypts every 0/1 cell of a ballot and proves it
(CDS94, web/src/lib/zeroone.ts ``encryptCell``) with @noble/curves in pure JavaScript; the
server verifies with ballot/zeroone.py over libsodium. This prints, per cell, the CPU time of
encrypting and proving and of decoding and verifying, in Node (with and without the election
key's precomputed tables, ``Point.withTables``) and in Python, measured in the same run and
interleaved, so the ratio Node / Python holds whatever the machine.

Then the whole ballot the booth makes in the demo's participatory budget (ballot/demo.py: one
budget question, 8 projects, an envelope of 400,000; three projects chosen): encrypt and prove
(web/src/lib/encrypted_ballot.ts ``encryptBallot``: 8 cells, the count in [0, 8], 19 envelope
bits and the envelope proof) in Node (CPU and wall time) and in headless Chromium (the system
Chromium through Playwright, as the browser tests run it; CPU time of the page's main thread
from DevTools' ``ThreadTime``, and wall time from ``performance.now``), against Python's
``encrypt_ballot`` in the same run. The key's tables are made once before, as the booth makes
them when its page opens. Not a test: nothing here asserts a time.

Usage: ``python bench/booth_cells.py [--quick] [--reps R] [--iterations N] [--ballots B]
[--no-browser]``. Needs Node.js and ``web/node_modules`` (``make node-deps``), and Chromium
for the browser figure. Each cell figure is the median over ``R`` repetitions of the per-cell
median over ``N`` cells, in CPU time of the process that computes it; each ballot figure the
median over ``R`` repetitions of the median over ``B`` ballots. The last line printed is one
JSON object.
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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ballot.demo import definitions
from ballot.elgamal import Ciphertext, encrypt
from ballot.encrypted_ballot import encrypt_ballot, verify_encrypted_ballot
from ballot.group import Point, Scalar
from ballot.questions import parse_questions
from ballot.token import b64u_encode
from ballot.transcript import Context
from ballot.zeroone import decode_zero_one, prove_zero_one, verify_zero_one
from bench.cast import machine

ROOT = Path(__file__).resolve().parents[1]
CONTEXT = Context("budget-2026", bytes(range(32)), b"\x11" * 32)
#: The demo's participatory budget (ballot/demo.py) and a ballot of three projects.
BUDGET = parse_questions(definitions(datetime(2026, 1, 1, tzinfo=UTC))[0]["questions"])
BUDGET_CHOICES = {"projets": ["jardins", "pistes-cyclables", "composteurs"]}

#: Run in the page: the key (with its tables) and the context once, then one ballot per call,
#: timed with performance.now (ms); the last ballot is kept for the caller to verify.
_PAGE_SETUP = """([questions, choices, context, key]) => {
  const lib = ParvisLib;
  const ctx = new lib.Context(context.election, lib.b64uDecode(context.manifest),
                              lib.b64uDecode(context.vk));
  const point = lib.Point.decode(lib.b64uDecode(key)).withTables();
  globalThis.benchBallot = () => {
    const t = performance.now();
    globalThis.lastBallot = lib.encryptBallot(questions, { key: point, context: ctx, choices });
    return performance.now() - t;
  };
  return navigator.userAgent;
}"""


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


def _python_ballot(key: Point, runs: int) -> float:
    """Median CPU ms of ballot/encrypted_ballot.py's ``encrypt_ballot`` on the demo ballot."""
    times = []
    for _ in range(runs):
        start = time.process_time()
        encrypt_ballot(BUDGET, key=key, context=CONTEXT, choices=BUDGET_CHOICES)
        times.append(time.process_time() - start)
    return statistics.median(times) * 1e3


def _in_chromium(parts: Any, key: Point, runs: int) -> tuple[float, float]:
    """Median wall ms (performance.now) and CPU ms (the renderer main thread's ``ThreadTime``,
    DevTools ``Performance.getMetrics`` in thread ticks: the page's own CPU clock, which load
    on the machine does not inflate) per demo ballot in the page, one ballot per call."""
    _, _, page, session = parts
    questions = [q.to_json() for q in BUDGET]
    page.evaluate(
        _PAGE_SETUP, [questions, BUDGET_CHOICES, _wire(CONTEXT), b64u_encode(key.encoded)]
    )

    def thread_time() -> float:
        metrics = session.send("Performance.getMetrics")["metrics"]
        return float(next(m["value"] for m in metrics if m["name"] == "ThreadTime"))

    walls, cpus = [], []
    for _ in range(runs):
        before = thread_time()
        walls.append(float(page.evaluate("() => benchBallot()")))
        cpus.append((thread_time() - before) * 1e3)
    # What was timed is a valid ballot.
    verify_encrypted_ballot(BUDGET, key, CONTEXT, page.evaluate("() => lastBallot"))
    return statistics.median(walls), statistics.median(cpus)


def _wire(context: Context) -> dict[str, str]:
    return {
        "election": context.election_id,
        "manifest": b64u_encode(context.manifest_hash),
        "vk": b64u_encode(context.vk),
    }


def _browser(esbuild: Path, directory: Path) -> Any:
    """A page of headless Chromium with web/src/lib loaded as the global ``ParvisLib``."""
    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import CHROMIUM_FLAGS, chromium_path

    bundle = directory / "booth-lib.js"
    subprocess.run(
        [str(esbuild), "src/lib/index.ts", "--bundle", "--format=iife",
         "--global-name=ParvisLib", "--platform=browser", "--target=es2022",
         f"--outfile={bundle}", "--log-level=warning"],
        cwd=ROOT / "web",
        check=True,
    )  # fmt: skip
    driver = sync_playwright().start()
    browser = driver.chromium.launch(
        executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS
    )
    page = browser.new_page()
    page.goto("about:blank")
    page.add_script_tag(content=bundle.read_text(encoding="utf-8"))
    session = page.context.new_cdp_session(page)
    session.send("Performance.enable", {"timeDomain": "threadTicks"})
    return driver, browser, page, session


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repetitions of 50 cells")
    parser.add_argument("--reps", type=int, default=0)
    parser.add_argument("--iterations", type=int, default=0)
    parser.add_argument("--ballots", type=int, default=0, help="ballots per repetition")
    parser.add_argument("--no-browser", action="store_true", help="skip headless Chromium")
    args = parser.parse_args()
    reps = args.reps or (3 if args.quick else 7)
    iterations = args.iterations or (50 if args.quick else 200)
    ballots = args.ballots or (5 if args.quick else 15)

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

        context = _wire(CONTEXT)

        def ask(request: dict[str, Any]) -> dict[str, Any]:
            assert driver.stdin is not None
            assert driver.stdout is not None
            driver.stdin.write(json.dumps(request) + "\n")
            driver.stdin.flush()
            answer: dict[str, Any] = json.loads(driver.stdout.readline())
            if "error" in answer:
                sys.exit(f"node: {answer['error']}")
            return answer

        def in_node(*, key: Point, tables: bool) -> dict[str, Any]:
            return ask(
                {
                    "op": "bench",
                    "context": context,
                    "key": b64u_encode(key.encoded),
                    "runs": iterations,
                    "tables": tables,
                }
            )

        questions = [q.to_json() for q in BUDGET]
        page_parts = None if args.no_browser else _browser(esbuild, Path(directory))

        rows: dict[str, list[float]] = {
            name: []
            for name in (
                "node_prove_ms", "node_verify_ms", "node_tables_prove_ms",
                "node_tables_verify_ms", "node_tables_once_ms", "python_prove_ms",
                "python_verify_ms", "ballot_node_cpu_ms", "ballot_node_wall_ms",
                "ballot_python_ms",
                *(() if args.no_browser else ("ballot_chromium_wall_ms", "ballot_chromium_cpu_ms")),
            )
        }  # fmt: skip
        user_agent = ""
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
            # The demo ballot: a fresh key each time, its tables made before the timing.
            key = Point.base_times(Scalar.random())
            whole = ask(
                {
                    "op": "bench_ballot",
                    "questions": questions,
                    "choices": BUDGET_CHOICES,
                    "context": context,
                    "key": b64u_encode(key.encoded),
                    "runs": ballots,
                }
            )
            rows["ballot_node_cpu_ms"].append(whole["cpu_ms"])
            rows["ballot_node_wall_ms"].append(whole["wall_ms"])
            rows["ballot_python_ms"].append(_python_ballot(key, ballots))
            if page_parts is not None:
                wall, cpu = _in_chromium(page_parts, key, ballots)
                rows["ballot_chromium_wall_ms"].append(wall)
                rows["ballot_chromium_cpu_ms"].append(cpu)
                user_agent = page_parts[2].evaluate("() => navigator.userAgent")
        driver.stdin.close()
        driver.wait(timeout=30)
        if page_parts is not None:
            page_parts[1].close()
            page_parts[0].stop()

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
    print(
        f"demo budget ballot (8 projects, 19 envelope bits), encrypt and prove: Node "
        f"{figures['ballot_node_cpu_ms']:.0f} ms CPU ({figures['ballot_node_wall_ms']:.0f} ms "
        f"wall)"
        + (
            f", headless Chromium {figures['ballot_chromium_cpu_ms']:.0f} ms CPU "
            f"({figures['ballot_chromium_wall_ms']:.0f} ms wall)"
            if "ballot_chromium_wall_ms" in figures
            else ""
        )
        + f"; Python {figures['ballot_python_ms']:.0f} ms CPU"
    )
    ratios = {
        "prove_node_tables_over_python": round(
            figures["node_tables_prove_ms"] / figures["python_prove_ms"], 1
        ),
        "verify_node_over_python": round(
            figures["node_verify_ms"] / figures["python_verify_ms"], 1
        ),
        "ballot_node_over_python": round(
            figures["ballot_node_cpu_ms"] / figures["ballot_python_ms"], 1
        ),
    }
    if "ballot_chromium_cpu_ms" in figures:
        ratios["ballot_chromium_over_python"] = round(
            figures["ballot_chromium_cpu_ms"] / figures["ballot_python_ms"], 1
        )
    print(
        f"ratio Node / Python: prove (tables) {ratios['prove_node_tables_over_python']}×, "
        f"verify {ratios['verify_node_over_python']}×"
    )
    print(
        json.dumps(
            {
                "bench": "booth_cells",
                "reps": reps,
                "iterations": iterations,
                "ballots": ballots,
                **figures,
                **ratios,
                "chromium": user_agent,
                "machine": machine(),
            }
        )
    )


if __name__ == "__main__":
    main()
