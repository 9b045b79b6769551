"""Benchmark of encrypted ballots (ballot-secrecy.md §1; ADR 0011), side by side with Belenios.

In one run, each figure against a baseline measured in that run:

1. **Floor.** The operations a verification cannot avoid, run alone through bare libsodium
   (``nacl.bindings``): fixed-base and variable-base scalar multiplications, and strict point
   validations (``crypto_core_ed25519_is_valid_point``, whose subgroup check is a
   multiplication by the group order ``L``). A ballot's *floor* is each of them as many times
   as its verification needs (``_floor_counts``), timed alternately with the verification
   itself, repetition by repetition, so that both meet the same load on a shared machine; the
   *multiplications-only* floor leaves validation out (the definition of ADR 0011's
   measurement). Each operation's own cost is printed first.
2. **Question types.** For the demo's consultation (single, 3 options) and participatory
   budget (8 projects, 400 000 € envelope: ballot/demo.py), an approval of 0 to 8 among 8
   (Belenios's shape below), majority judgment with 5 options and 6 grades and a ranking of 1
   to 3 among 5: the wire form's size, the CPU time to encrypt and prove
   (``encrypt_ballot``), to verify from the JSON text (``verify_encrypted_ballot``, strict
   parsing included) and the floor over the verification.
3. **The demo budget ballot in the booth.** Encrypted and proved in headless Chromium (Debian's,
   driven by Playwright as tests/browser/ do) by the booth's TypeScript (web/src/lib bundled by
   esbuild), in wall time per ballot (a page has no CPU clock), against Python's
   ``encrypt_ballot`` in CPU time: by the booth's ``encryptBallot``
   (web/src/lib/encrypted_ballot.ts) when the tree has it, and in any case composed from the
   primitives (``encrypt``, ``proveClaimed``, group operations; bench/encrypted_booth.js) in the
   wire form of ballot/encrypted_ballot.py. The output says which ran. The last ballot of each
   is verified by Python, so each figure is known to be that of a real ballot.
4. **Verification at scale.** ``--ballots`` budget ballots verified from their JSON text by
   ``--workers`` processes (multiprocessing, chunks of ``CHUNK``): ``--distinct`` different
   ballots, each with its own ballot key, verified in turn; every ``FLOOR_EVERY``-th ballot,
   the worker also runs the floor, timed apart. Reported as ballots per second (wall) and as the
   floor over the workers' CPU time of verification, and over wall time × workers.
5. **Tally.** Of ``--ballots`` ballots, after an in-memory COCKTAIL-DKG ceremony of 3
   trustees, threshold 2 (ballot/cocktail_dkg.py, as ballot/trustee.py runs it): the
   homomorphic sums (ballot/homomorphic_tally.py ``cell_sums``), the partial decryptions of
   trustees 1 and 2 with their proofs, then ``decrypt_counts`` (every partial verified,
   Lagrange combination, baby-step giant-step bounded by the ballot count). The counts are
   checked against the clear choices.
6. **Belenios.** Debian's ``belenios-tool`` (2.0; ``make bench`` installs it through
   scripts/ensure-system-deps.sh) runs an election of Belenios's shape closest to ours: one
   question, 8 answers, select 0 to 8, 3 trustees threshold 2 (its threshold key ceremony), and
   ``--belenios-ballots`` ballots generated with ``election generate-ballot``, appended to the
   archive, verified by ``election verify``, then tallied and decrypted by two trustees. CPU
   time of its processes (``RUSAGE_CHILDREN``). Per ballot: generation minus the CPU of starting
   the tool (``belenios-tool sha256-b64`` on empty input, measured beside it), and verification
   as the difference between ``election verify`` with the ballots and on the empty archive.
   Debian's build offers only finite-field groups (``BELENIOS-2048``, 2048-bit): the ratios
   compare the two systems as they ship, group included, not two implementations of one group.
   Parvis's side is the approval of 0 to 8 among 8: ``encrypt_ballot`` plus the ballot's Ed25519
   signature, and JSON parsing, ``verify_encrypted_ballot`` plus the signature's check.
   Belenios's ballots also carry a credential signature, checked by its verification.

Not a test: nothing here asserts a time; a wrong result (a ballot or a count that does not
verify) stops it. Usage: ``python bench/encrypted.py [--quick] [--reps R] [--ballots N]
[--verify-ballots V] [--distinct K] [--workers W] [--belenios-ballots B] [--browser-ballots M]``
(full: N = V = 100,000, K = 200, B = 1,000, M = 10, R = 7; ``--quick``: 2,000, 20, 50, 3, 3;
W = every core). Per-ballot CPU times are medians over ``R`` repetitions. The last line printed
is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import nacl.bindings as sodium
from nacl.signing import SigningKey, VerifyKey

from ballot import cocktail_dkg as dkg
from ballot.demo import definitions
from ballot.encrypted_ballot import (
    EncryptedBallot,
    EncryptedQuestion,
    cell_values,
    encrypt_ballot,
    envelope_bits,
    grid_shape,
    parse_encrypted_ballot,
    sum_ranges,
    verify_encrypted_ballot,
)
from ballot.group import Point, Scalar
from ballot.homomorphic_tally import cell_sums, decrypt_counts, partial_decrypt
from ballot.questions import Question, parse_questions
from ballot.token import b64u_decode_or_none, b64u_encode
from ballot.transcript import Context
from bench.cast import machine

ROOT = Path(__file__).resolve().parents[1]
CHUNK = 250  # ballots per multiprocessing task: a few ms of pickling for seconds of work
MANIFEST_HASH = bytes(range(32))


def _median_cpu(run: Callable[[], object], reps: int, calls: int = 1) -> float:
    """Median over ``reps`` of the CPU seconds of one call (``calls`` calls per repetition)."""
    times = []
    for _ in range(reps):
        start = time.process_time()
        for _ in range(calls):
            run()
        times.append((time.process_time() - start) / calls)
    return statistics.median(times)


# --- the floor -----------------------------------------------------------------------------------


def primitives(reps: int, calls: int) -> dict[str, float]:
    """Seconds per fixed-base and variable-base multiplication and point validation, each
    through bare libsodium and timed alone."""
    scalar = Scalar.random().encoded
    point = sodium.crypto_scalarmult_ed25519_base_noclamp(Scalar.random().encoded)
    return {
        "fixed": _median_cpu(
            lambda: sodium.crypto_scalarmult_ed25519_base_noclamp(scalar), reps, calls
        ),
        "variable": _median_cpu(
            lambda: sodium.crypto_scalarmult_ed25519_noclamp(scalar, point), reps, calls
        ),
        "validation": _median_cpu(
            lambda: sodium.crypto_core_ed25519_is_valid_point(point), reps, calls
        ),
    }


def _floor_counts(question: Question) -> dict[str, int]:
    """How many of each floor operation verifying ``question``'s answer needs.

    Per branch of every disjunctive proof (two per 0/1 proof, ``hi − lo + 1`` per range proof,
    one for the envelope): ``z·G`` (fixed base) and ``c·α``, ``z·H``, ``c·(β − m·G)`` (variable
    base). Per range proof with ``lo ≠ 0``: ``lo·G``. For a budget: ``E·G``, and one variable-base
    multiplication per option and component (``Σ c_i·X_i``). Every point of the wire form is
    validated once: two per ciphertext (cells and bits), two per branch (its commitments)."""
    rows, columns = grid_shape(question)
    cells = rows * columns
    ranges = sum_ranges(question)
    bits = envelope_bits(question)
    envelope = 1 if bits else 0
    branches = 2 * cells + sum(r.hi - r.lo + 1 for r in ranges) + 2 * bits + envelope
    return {
        "fixed": branches + sum(1 for r in ranges if r.lo) + envelope,
        "variable": 3 * branches + envelope * 2 * rows,
        "validation": 2 * (cells + bits) + 2 * branches,
    }


def floor_runs(counts: dict[str, int]) -> tuple[Callable[[], None], Callable[[], None]]:
    """Two functions doing a ballot's floor through bare libsodium, each operation alone: its
    scalar multiplications, and its point validations."""
    scalar = Scalar.random().encoded
    point = sodium.crypto_scalarmult_ed25519_base_noclamp(Scalar.random().encoded)
    fixed, variable, validation = counts["fixed"], counts["variable"], counts["validation"]

    def multiplications() -> None:
        for _ in range(fixed):
            sodium.crypto_scalarmult_ed25519_base_noclamp(scalar)
        for _ in range(variable):
            sodium.crypto_scalarmult_ed25519_noclamp(scalar, point)

    def validations() -> None:
        for _ in range(validation):
            sodium.crypto_core_ed25519_is_valid_point(point)

    return multiplications, validations


def _cpu(run: Callable[[], object], calls: int = 1) -> float:
    start = time.process_time()
    for _ in range(calls):
        run()
    return (time.process_time() - start) / calls


# --- questions and ballots -----------------------------------------------------------------------


def shapes() -> tuple[dict[str, Question], dict[str, Any]]:
    """The five shapes (module docstring, 2) by name, and one valid choice for each."""
    demo = definitions(datetime.now(UTC))
    options = [{"id": f"o{i}", "title": "x"} for i in range(8)]
    single, approval, budget, judgment, ranked = parse_questions(
        [
            demo[1]["questions"][0],
            {"id": "a", "type": "approval", "title": "A", "min": 0, "max": 8, "options": options},
            demo[0]["questions"][0],
            {
                "id": "m",
                "type": "majority_judgment",
                "title": "M",
                "grades": list("abcdef"),
                "options": options[:5],
            },
            {"id": "r", "type": "ranked", "title": "R", "min": 1, "max": 3, "options": options[:5]},
        ]
    )
    questions = {
        "single": single,
        "approval": approval,
        "budget": budget,
        "majority_judgment": judgment,
        "ranked": ranked,
    }
    choices = {
        "single": single.option_ids[0],
        "approval": ["o0", "o2", "o3", "o7"],
        "budget": budget_choice(budget, 0),
        "majority_judgment": {f"o{i}": i % 6 for i in range(5)},
        "ranked": ["o4", "o1", "o2"],
    }
    return questions, choices


def budget_choice(question: Question, index: int) -> list[str]:
    """The ``index``-th of a fixed cycle of valid budget choices (within the envelope)."""
    assert question.envelope is not None
    chosen, spent = [], 0
    for k, option in enumerate(question.option_ids):
        cost = question.cost_of(option)
        if (index >> k) & 1 and spent + cost <= question.envelope:
            chosen.append(option)
            spent += cost
    return chosen


def raw_bytes(wire: dict[str, Any]) -> int:
    """Bytes under the base64url of a ballot's wire form."""
    total = 0
    for answer in wire.values():
        for member in answer.values():
            for value in member if isinstance(member, list) else [member]:
                total += len(b64u_decode_or_none(value) or b"")
    return total


def question_types(
    questions: dict[str, Question], choices: dict[str, Any], *, key: Point, reps: int
) -> dict[str, Any]:
    """Per shape: sizes, encryption, verification, and the floor run alone but interleaved with
    the verification, repetition by repetition, so both see the same load."""
    context = Context("bench", MANIFEST_HASH, bytes(32))
    report: dict[str, Any] = {}
    for name, question in questions.items():
        choice = {question.id: choices[name]}
        text = json.dumps(
            encrypt_ballot([question], key=key, context=context, choices=choice).to_json(),
            separators=(",", ":"),
        )

        def prove(q: Question = question, c: dict[str, Any] = choice) -> object:
            return encrypt_ballot([q], key=key, context=context, choices=c)

        def verify(q: Question = question, t: str = text) -> object:
            return verify_encrypted_ballot([q], key, context, json.loads(t))

        proving = _median_cpu(prove, reps)
        counts = _floor_counts(question)
        multiplications, validations = floor_runs(counts)
        verifying, floors, mult_floors = [], [], []
        for _ in range(reps):
            verifying.append(_cpu(verify, 3))
            mult_floors.append(_cpu(multiplications, 3))
            floors.append(mult_floors[-1] + _cpu(validations, 3))
        verify_s = statistics.median(verifying)
        floor = statistics.median(floors)
        ratio = statistics.median(f / v for f, v in zip(floors, verifying, strict=True))
        mult_ratio = statistics.median(f / v for f, v in zip(mult_floors, verifying, strict=True))
        report[name] = {
            "json_bytes": len(text),
            "raw_bytes": raw_bytes(json.loads(text)),
            "prove_ms": round(proving * 1e3, 2),
            "verify_ms": round(verify_s * 1e3, 2),
            "floor_ms": round(floor * 1e3, 2),
            "floor_over_verify": round(ratio, 3),
            "mult_floor_over_verify": round(mult_ratio, 3),
            "floor_counts": counts,
        }
        print(
            f"{name:18} json {len(text):6} B  raw {report[name]['raw_bytes']:6} B  "
            f"prove {proving * 1e3:6.1f} ms  verify {verify_s * 1e3:6.1f} ms  "
            f"floor {floor * 1e3:6.1f} ms  floor/verify {ratio:.3f} "
            f"(multiplications only {mult_ratio:.3f})",
            flush=True,
        )
    return report


# --- the trustees ------------------------------------------------------------------------------


class Ceremony:
    """An in-memory COCKTAIL-DKG of ``n`` trustees, threshold ``t`` (every trustee honest)."""

    def __init__(self, n: int = 3, t: int = 2) -> None:
        self.secrets = [Scalar.random() for _ in range(n)]
        keys = [Point.base_times(s) for s in self.secrets]
        config = dkg.Configuration.for_session(
            session_id=secrets.token_bytes(16), threshold=t, static_keys=keys
        )
        messages = [
            dkg.round1(config=config, index=i, static_secret=s)
            for i, s in enumerate(self.secrets, 1)
        ]
        self.outputs = [
            dkg.round2(config=config, index=i, static_secret=s, messages=messages)
            for i, s in enumerate(self.secrets, 1)
        ]
        self.threshold = t
        self.key = self.outputs[0].group_public_key
        self.contexts = {
            i: Context("bench", MANIFEST_HASH, k.encoded) for i, k in enumerate(keys, 1)
        }
        self.public_shares = dict(enumerate(self.outputs[0].verification_shares, 1))


# --- verification at scale ---------------------------------------------------------------------

_WORK: dict[str, Any] = {}
FLOOR_EVERY = 20  # one floor sample per this many ballots verified, in the same process


def _worker_setup(question: dict[str, Any], key: bytes, texts: list[tuple[str, bytes]]) -> None:
    _WORK["questions"] = parse_questions([question])
    _WORK["key"] = Point.decode(key)
    _WORK["texts"] = texts
    _WORK["floor"] = floor_runs(_floor_counts(_WORK["questions"][0]))


def _verify_chunk(task: tuple[int, int]) -> tuple[float, float, int]:
    """Verify ``count`` ballots from the ``start``-th (in turn over the distinct ones), and run
    a ballot's floor after every ``FLOOR_EVERY``-th; return the CPU seconds of the
    verifications, of the floor samples, and the number of samples."""
    start, count = task
    questions, key, texts = _WORK["questions"], _WORK["key"], _WORK["texts"]
    multiplications, validations = _WORK["floor"]
    verifying = flooring = 0.0
    samples = 0
    for i in range(start, start + count):
        text, vk = texts[i % len(texts)]
        began = time.process_time()
        verify_encrypted_ballot(
            questions, key, Context("bench", MANIFEST_HASH, vk), json.loads(text)
        )
        verifying += time.process_time() - began
        if i % FLOOR_EVERY == 0:
            began = time.process_time()
            multiplications()
            validations()
            flooring += time.process_time() - began
            samples += 1
    return verifying, flooring, samples


def verify_many(
    definition: dict[str, Any], key: Point, texts: list[tuple[str, bytes]], *, n: int, workers: int
) -> dict[str, float]:
    """Verify ``n`` ballots on ``workers`` processes: wall seconds, CPU seconds of the
    verifications, and the floor's CPU seconds per ballot sampled in those processes."""
    # At least four tasks per worker, so that none waits for the last one for long.
    size = max(1, min(CHUNK, math.ceil(n / (4 * workers))))
    tasks = [(start, min(size, n - start)) for start in range(0, n, size)]
    with multiprocessing.get_context("fork").Pool(
        workers, initializer=_worker_setup, initargs=(definition, key.encoded, texts)
    ) as pool:
        pool.map(_verify_chunk, [(1, 1)] * workers)  # start-up and imports, not timed
        began = time.perf_counter()
        results = list(pool.imap_unordered(_verify_chunk, tasks))
        wall = time.perf_counter() - began
    cpu = sum(r[0] for r in results)
    floor_cpu = sum(r[1] for r in results)
    samples = sum(r[2] for r in results)
    # The wall time without the floor samples' share of the work.
    return {
        "wall": wall * cpu / (cpu + floor_cpu),
        "cpu": cpu,
        "floor": floor_cpu / samples,
    }


# --- the booth in Chromium ---------------------------------------------------------------------


def browser_ballots(
    definition: dict[str, Any],
    question: Question,
    choice: Any,
    *,
    key: Point,
    context: Context,
    runs: int,
) -> dict[str, Any]:
    """Wall ms of each of ``runs`` ballots encrypted in headless Chromium, and the last one:
    ``{"composed": {"ms": […], "ballot": …}, "booth": … or None}`` (bench/encrypted_booth.js)."""
    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import CHROMIUM_FLAGS

    esbuild = ROOT / "web" / "node_modules" / ".bin" / "esbuild"
    chromium = os.environ.get("PARVIS_CHROMIUM") or shutil.which("chromium")
    if not esbuild.exists() or chromium is None:
        sys.exit("needs web/node_modules and Chromium: run `make node-deps bench-deps`")
    with tempfile.TemporaryDirectory() as directory:
        bundle = Path(directory) / "lib.js"
        subprocess.run(
            [str(esbuild), "src/lib/index.ts", "--bundle", "--format=iife",
             "--global-name=parvisLib", "--platform=browser", "--target=es2022",
             f"--outfile={bundle}", "--log-level=warning"],
            cwd=ROOT / "web",
            check=True,
        )  # fmt: skip
        script = bundle.read_text()
    composer = (ROOT / "bench" / "encrypted_booth.js").read_text()
    ranges = sum_ranges(question)
    request = {
        "key": b64u_encode(key.encoded),
        "context": {
            "election": context.election_id,
            "manifest": b64u_encode(context.manifest_hash),
            "vk": b64u_encode(context.vk),
        },
        "question": {
            "id": question.id,
            "lo": ranges[0].lo,
            "hi": ranges[0].hi,
            "costs": [o.cost or 0 for o in question.options] if question.envelope else None,
            "envelope": question.envelope,
        },
        "definition": definition,
        "choice": choice,
        "bits": cell_values(question, choice),
        "runs": runs,
    }
    with sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_FLAGS
        )
        try:
            page = browser.new_page()
            page.set_content("<!doctype html><title>bench</title>")
            page.add_script_tag(content=script)
            answer: dict[str, Any] = page.evaluate(composer, request)
        finally:
            browser.close()
    return answer


# --- Belenios -----------------------------------------------------------------------------------


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Belenios:
    """One election run by ``belenios-tool`` in a temporary directory (its demo-threshold.sh
    example's steps, without the optional server key)."""

    GROUP = "BELENIOS-2048"

    def __init__(self, directory: Path) -> None:
        tool = shutil.which("belenios-tool")
        if tool is None:
            sys.exit("needs Debian's belenios-tool: run `make bench-deps` (as root)")
        self.tool = tool
        self.dir = directory
        self.env = {**os.environ, "BELENIOS_USE_URANDOM": "1"}

    def run(self, *args: str, stdin: str = "") -> str:
        done = subprocess.run(
            [self.tool, *args],
            cwd=self.dir,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode:
            sys.exit(f"belenios-tool {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def timed(self, *args: str, stdin: str = "") -> tuple[float, str]:
        began = _children_cpu()
        out = self.run(*args, stdin=stdin)
        return _children_cpu() - began, out

    def setup(self, voters: int) -> list[str]:
        """Credentials, the trustees' threshold ceremony, the election; the private
        credentials."""
        group = f"--group={self.GROUP}"
        uuid = self.run("setup", "generate-token").strip()
        self.run("setup", "generate-credentials", f"--uuid={uuid}", group, f"--count={voters}")
        (pub,) = self.dir.glob("*.pubcreds")
        pub.rename(self.dir / "public_creds.json")
        (priv,) = self.dir.glob("*.privcreds")
        credentials = [line.split()[1] for line in priv.read_text().splitlines() if line.strip()]
        priv.unlink()

        def threshold(*args: str, stdin: str = "") -> str:
            return self.run("setup", "generate-trustee-key-threshold", group, *args, stdin=stdin)

        for _ in range(3):
            threshold("--step=1")
        certs = self.dir / "certs.jsons"
        certs.write_text("".join(p.read_text() for p in sorted(self.dir.glob("*.cert"))))
        threshold("--certs=certs.jsons", "--step=2")
        self.keys = sorted(self.dir.glob("*.key"))
        (self.dir / "polynomials.jsons").write_text(
            "".join(
                threshold("--certs=certs.jsons", f"--key={k.name}", "--step=3", "--threshold=2")
                for k in self.keys
            )
        )
        threshold("--certs=certs.jsons", "--step=4", "--polynomials=polynomials.jsons")
        outputs = [
            threshold(
                "--certs=certs.jsons",
                f"--key={k.name}",
                "--step=5",
                stdin=k.with_suffix(".vinput").read_text(),
            )
            for k in self.keys
        ]
        (self.dir / "threshold.json").write_text(
            threshold(
                "--certs=certs.jsons",
                "--step=6",
                "--polynomials=polynomials.jsons",
                stdin="".join(outputs),
            )
        )
        (self.dir / "public_keys.jsons").write_text("")  # no server key: 3 trustees only
        self.run("setup", "make-trustees")
        template = {
            "description": "bench",
            "name": "bench",
            "questions": [
                {
                    "question": "Which projects?",
                    "answers": [f"project {i}" for i in range(1, 9)],
                    "min": 0,
                    "max": 8,
                }
            ],
        }
        (self.dir / "template.json").write_text(json.dumps(template))
        self.run("setup", "make-election", f"--uuid={uuid}", group, "--template=template.json")
        self.run("archive", "init")
        for name in ("election.json", "trustees.json", "public_creds.json", "threshold.json"):
            (self.dir / name).unlink()
        return credentials

    def ballots(self, credentials: list[str], *, workers: int) -> tuple[float, list[str]]:
        """(CPU seconds, ballots) of ``generate-ballot`` for every credential, ``workers`` at a
        time, with choices cycling through patterns of 0 to 8 answers."""
        for k in range(8):
            bits = [[(k * 37 % 256 >> j) & 1 for j in range(8)]]  # as belenios() counts them
            (self.dir / f"vote{k}.json").write_text(json.dumps(bits))
        for i, credential in enumerate(credentials):
            (self.dir / f"cred{i}.txt").write_text(credential + "\n")

        def one(i: int) -> str:
            return self.run(
                "election", "generate-ballot", "--dir=.", f"--privcred=cred{i}.txt",
                f"--ballot=vote{i % 8}.json",
            )  # fmt: skip

        began = _children_cpu()
        with ThreadPoolExecutor(workers) as pool:
            ballots = list(pool.map(one, range(len(credentials))))
        return _children_cpu() - began, ballots

    def start_up(self, reps: int) -> float:
        """Median CPU seconds of starting the tool and doing nothing much."""
        return statistics.median(self.timed("sha256-b64")[0] for _ in range(reps))


def belenios(count: int, *, workers: int, reps: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="parvis-bench-belenios-") as directory:
        tool = Belenios(Path(directory))
        began = _children_cpu()
        credentials = tool.setup(count)
        setup = _children_cpu() - began
        empty_verify = statistics.median(
            tool.timed("election", "verify", "--dir=.")[0] for _ in range(reps)
        )
        generate, ballots = tool.ballots(credentials, workers=workers)
        start_up = tool.start_up(reps)
        began = _children_cpu()
        for ballot in ballots:
            tool.run("archive", "add-event", "--type=Ballot", stdin=ballot)
        append = _children_cpu() - began
        verify, _ = tool.timed("election", "verify", "--dir=.")
        began = _children_cpu()
        tool.run("archive", "add-event", "--type=EndBallots")
        tool.run(
            "archive", "add-event", "--type=EncryptedTally",
            stdin=tool.run("election", "compute-encrypted-tally", "--dir=."),
        )  # fmt: skip
        for trustee, key in enumerate(tool.keys[:2], 1):
            partial = tool.run(
                "election", "decrypt-threshold", "--dir=.", f"--key={key.name}",
                f"--decryption-key={key.with_suffix('.dkey').name}", f"--trustee-id={trustee}",
            )  # fmt: skip
            tool.run("archive", "add-event", "--type=PartialDecryption", stdin=partial)
        result = tool.run("election", "compute-result", "--dir=.")
        tool.run("archive", "add-event", "--type=Result", stdin=result)
        tally = _children_cpu() - began
        final_verify, _ = tool.timed("election", "verify", "--dir=.")
        ballot_bytes = round(statistics.median(len(b.encode()) for b in ballots))
    counts = [sum((i % 8 * 37 % 256 >> j) & 1 for i in range(count)) for j in range(8)]
    if json.loads(result).get("result") != [counts]:
        sys.exit(f"belenios: result {result.strip()[:200]} differs from the choices' {counts}")
    generate_per_ballot = generate / count - start_up
    verify_per_ballot = (verify - empty_verify) / count
    return {
        "group": Belenios.GROUP,
        "ballots": count,
        "ballot_json_bytes": ballot_bytes,
        "setup_cpu_s": round(setup, 3),
        "generate_cpu_s": round(generate, 3),
        "start_up_cpu_ms": round(start_up * 1e3, 2),
        "generate_ms_per_ballot": round(generate_per_ballot * 1e3, 2),
        "append_cpu_s": round(append, 3),
        "verify_empty_cpu_s": round(empty_verify, 3),
        "verify_cpu_s": round(verify, 3),
        "verify_ms_per_ballot": round(verify_per_ballot * 1e3, 2),
        "tally_decrypt_cpu_s": round(tally, 3),
        "final_verify_cpu_s": round(final_verify, 3),
        "result": counts,
    }


def parvis_approval(question: Question, *, key: Point, reps: int) -> dict[str, Any]:
    """Parvis's side of the Belenios comparison: CPU ms per ballot of the approval shape."""
    signer = SigningKey.generate()
    vk = bytes(signer.verify_key)
    context = Context("bench", MANIFEST_HASH, vk)
    choice = {question.id: ["o0", "o2", "o3", "o7"]}

    def create() -> bytes:
        wire = encrypt_ballot([question], key=key, context=context, choices=choice).to_json()
        text = json.dumps(wire, separators=(",", ":")).encode()
        return signer.sign(text)

    signed = create()

    def verify() -> None:
        text = VerifyKey(vk).verify(signed)
        verify_encrypted_ballot([question], key, context, json.loads(text))

    return {
        "create_ms": round(_median_cpu(create, reps) * 1e3, 3),
        "verify_ms": round(_median_cpu(verify, reps) * 1e3, 3),
        "ballot_json_bytes": len(signed),
    }


# --- the run --------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer ballots and repetitions")
    parser.add_argument("--reps", type=int, default=0, help="repetitions (medians)")
    parser.add_argument("--ballots", type=int, default=0, help="verified and tallied ballots")
    parser.add_argument(
        "--verify-ballots", type=int, default=0, help="verified ballots, if not --ballots"
    )
    parser.add_argument("--distinct", type=int, default=0, help="distinct ballots among them")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--belenios-ballots", type=int, default=0)
    parser.add_argument("--browser-ballots", type=int, default=0)
    args = parser.parse_args()
    reps = args.reps or (3 if args.quick else 7)
    n = args.ballots or (2_000 if args.quick else 100_000)
    n_verify = args.verify_ballots or n
    distinct = min(n, n_verify, args.distinct or (20 if args.quick else 200))
    belenios_n = args.belenios_ballots or (50 if args.quick else 1_000)
    browser_n = args.browser_ballots or (3 if args.quick else 10)
    report: dict[str, Any] = {
        "benchmark": "encrypted",
        "quick": args.quick,
        "reps": reps,
        "workers": args.workers,
    }

    unit = primitives(reps, 200 if args.quick else 1_000)
    report["floor_us"] = {k: round(v * 1e6, 2) for k, v in unit.items()}
    print(
        "floor operations (bare libsodium, CPU): fixed-base {fixed:.1f} µs, variable-base "
        "{variable:.1f} µs, point validation {validation:.1f} µs".format(
            **{k: v * 1e6 for k, v in unit.items()}
        ),
        flush=True,
    )

    began = time.process_time()
    ceremony = Ceremony()
    report["ceremony_ms"] = round((time.process_time() - began) * 1e3, 1)
    key = ceremony.key
    print(f"key ceremony (COCKTAIL-DKG, 3 trustees, threshold 2): {report['ceremony_ms']} ms")

    questions, choices = shapes()
    report["types"] = question_types(questions, choices, key=key, reps=reps)
    budget = questions["budget"]

    # The demo budget ballot: Python and the booth in Chromium.
    context = Context("bench", MANIFEST_HASH, SigningKey.generate().verify_key.encode())
    definition = definitions(datetime.now(UTC))[0]["questions"][0]
    browser = browser_ballots(
        definition, budget, choices["budget"], key=key, context=context, runs=browser_n
    )
    python_ms = report["types"]["budget"]["prove_ms"]
    figures: dict[str, Any] = {"python_encrypt_cpu_ms": python_ms, "chromium_runs": browser_n}
    for way in ("booth", "composed"):
        if browser[way] is None:
            continue
        # Raises if what Chromium made is not a valid ballot: the figure is then meaningless.
        verify_encrypted_ballot([budget], key, context, browser[way]["ballot"])
        ms = statistics.median(browser[way]["ms"])
        figures[f"chromium_{way}_wall_ms"] = round(ms, 1)
        figures[f"chromium_{way}_over_python"] = round(ms / python_ms, 2)
    figures["chromium_source"] = (
        "web/src/lib/encrypted_ballot.ts (encryptBallot), and composed from the primitives"
        if browser["booth"] is not None
        else "composed from web/src/lib's primitives: no encrypted_ballot.ts in this tree"
    )
    report["budget_ballot"] = figures
    booth = (
        f"the booth's encryptBallot {figures['chromium_booth_wall_ms']:.1f} ms, "
        if browser["booth"] is not None
        else "no encrypted_ballot.ts in web/src/lib, "
    )
    print(
        f"demo budget ballot, encrypt and prove: Python {python_ms:.1f} ms (CPU); headless "
        f"Chromium (wall, median of {browser_n}) {booth}composed from web/src/lib's primitives "
        f"{figures['chromium_composed_wall_ms']:.1f} ms; each verified by Python",
        flush=True,
    )

    # Verification of n ballots on every core.
    texts: list[tuple[str, bytes]] = []
    plain: list[EncryptedBallot] = []
    expected = [0] * len(budget.options)
    for i in range(distinct):
        vk = SigningKey.generate().verify_key.encode()
        choice = {budget.id: budget_choice(budget, i * 37)}
        ballot = encrypt_ballot(
            [budget], key=key, context=Context("bench", MANIFEST_HASH, vk), choices=choice
        )
        texts.append((json.dumps(ballot.to_json(), separators=(",", ":")), vk))
        plain.append(ballot)
    for i in range(n):
        for k, v in enumerate(cell_values(budget, budget_choice(budget, (i % distinct) * 37))):
            expected[k] += v
    measured = verify_many(definition, key, texts, n=n_verify, workers=args.workers)
    wall, cpu, floor = measured["wall"], measured["cpu"], measured["floor"]
    report["verify_many"] = {
        "ballots": n_verify,
        "distinct": distinct,
        "wall_s": round(wall, 2),
        "worker_cpu_s": round(cpu, 2),
        "ballots_per_s": round(n_verify / wall, 1),
        "floor_ms": round(floor * 1e3, 2),
        "floor_over_cpu": round(n_verify * floor / cpu, 3),
        "floor_over_wall_x_workers": round(n_verify * floor / (wall * args.workers), 3),
    }
    print(
        f"verification of {n_verify} budget ballots on {args.workers} processes: {wall:.1f} s "
        f"wall, {cpu:.1f} s CPU, {n_verify / wall:.0f} ballots/s; floor (sampled in the "
        f"workers) {floor * 1e3:.1f} ms; floor/CPU {report['verify_many']['floor_over_cpu']:.3f}, "
        f"floor/(wall × workers) {report['verify_many']['floor_over_wall_x_workers']:.3f}",
        flush=True,
    )

    # Tally of n ballots: sums, two trustees' partial decryptions, combination, dlog.
    cells_only = [
        EncryptedBallot({budget.id: EncryptedQuestion(b.questions[budget.id].cells, (), ())})
        for b in (parse_encrypted_ballot([budget], json.loads(t)) for t, _ in texts)
    ]
    del plain
    counted = [cells_only[i % distinct] for i in range(n)]
    began = time.process_time()
    sums = cell_sums([budget], counted)
    summing = time.process_time() - began
    began = time.process_time()
    partials = [
        partial_decrypt(
            ceremony.contexts[i], trustee=i, share=ceremony.outputs[i - 1].secret_share, sums=sums
        )
        for i in (1, 2)
    ]
    partial_s = time.process_time() - began
    began = time.process_time()
    counts = decrypt_counts(
        [budget],
        sums=sums,
        ballots=n,
        partials=partials,
        public_shares=ceremony.public_shares,
        contexts=ceremony.contexts,
        threshold=ceremony.threshold,
    )
    decrypting = time.process_time() - began
    if list(counts[budget.id]) != expected:
        sys.exit(f"tally: counts {counts[budget.id]} differ from the choices' {expected}")
    report["tally"] = {
        "ballots": n,
        "sums_s": round(summing, 3),
        "partial_decryptions_s": round(partial_s, 3),
        "combine_and_dlog_s": round(decrypting, 3),
        "total_s": round(summing + partial_s + decrypting, 3),
    }
    print(
        f"tally of {n} ballots (CPU): sums {summing:.2f} s, 2 trustees' partial decryptions "
        f"{partial_s * 1e3:.0f} ms, verification + combination + dlog {decrypting * 1e3:.0f} ms; "
        f"counts {list(counts[budget.id])} as cast",
        flush=True,
    )

    # Belenios, same shape as the approval question; Parvis's side of it.
    anchor = belenios(belenios_n, workers=args.workers, reps=reps)
    ours = parvis_approval(questions["approval"], key=key, reps=reps)
    report["belenios"] = anchor
    report["parvis_approval"] = ours
    report["ratios"] = {
        "verify_per_cpu_s_parvis_over_belenios": round(
            anchor["verify_ms_per_ballot"] / ours["verify_ms"], 2
        ),
        "create_per_cpu_s_parvis_over_belenios": round(
            anchor["generate_ms_per_ballot"] / ours["create_ms"], 2
        ),
        "create_per_cpu_s_with_start_up": round(
            (anchor["generate_ms_per_ballot"] + anchor["start_up_cpu_ms"]) / ours["create_ms"], 2
        ),
    }
    print(
        f"Belenios 2.0 ({Belenios.GROUP}), {belenios_n} ballots, one question 0-8 of 8, 3 "
        f"trustees threshold 2 (CPU): generate {anchor['generate_ms_per_ballot']:.1f} ms/ballot "
        f"(+ {anchor['start_up_cpu_ms']:.1f} ms start-up), verify "
        f"{anchor['verify_ms_per_ballot']:.1f} ms/ballot, tally and decryption "
        f"{anchor['tally_decrypt_cpu_s']:.1f} s; ballot {anchor['ballot_json_bytes']} B",
        flush=True,
    )
    print(
        f"Parvis, same shape (CPU): create {ours['create_ms']:.2f} ms/ballot, verify "
        f"{ours['verify_ms']:.2f} ms/ballot; ballot {ours['ballot_json_bytes']} B",
    )
    ratios = report["ratios"]
    print(
        f"per CPU-second, Parvis / Belenios: verification "
        f"{ratios['verify_per_cpu_s_parvis_over_belenios']}×, ballot creation "
        f"{ratios['create_per_cpu_s_parvis_over_belenios']}× "
        f"({ratios['create_per_cpu_s_with_start_up']}× counting Belenios's start-up)"
    )
    report["machine"] = machine()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
