"""Benchmark of encrypted ballots (ballot/encrypted_ballot.py), one question of each type.

For each type: the wire form's size (compact JSON, and the raw bytes under the base64url),
the CPU time to encrypt and prove, the CPU time to verify from the JSON wire form (strict
parsing included), and the verification as a ratio to its floor — the scalar
multiplications it needs (per 0/1 proof and per range-proof branch, as in bench/group.py;
for budget also one variable-base multiplication per option and component and the envelope's
fixed-base one), each timed alone in the same run. The shapes: the demo's consultation
(single, 3 options) and participatory budget (8 projects, 400,000 € envelope: ballot/demo.py),
an approval of 0 to 8 among 8 (the Belenios comparison's shape), majority judgment with 5
options and 6 grades, a ranking of 1 to 3 among 5. Not a test: nothing here asserts a time.

Usage: ``python bench/encrypted_ballot.py [--reps R]``: each figure is the median of ``R``
runs, in CPU time of the process. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ballot.demo import definitions
from ballot.encrypted_ballot import (
    encrypt_ballot,
    envelope_bits,
    grid_shape,
    sum_ranges,
    verify_encrypted_ballot,
)
from ballot.group import BASE, Point, Scalar
from ballot.questions import Question, parse_questions
from ballot.token import b64u_decode_or_none
from ballot.transcript import Context


def _median(run: Callable[[], object], reps: int, calls: int = 1) -> float:
    times = []
    for _ in range(reps):
        start = time.process_time()
        for _ in range(calls):
            run()
        times.append((time.process_time() - start) / calls)
    return statistics.median(times)


def _questions() -> tuple[tuple[Question, ...], dict[str, Any]]:
    demo = definitions(datetime.now(UTC))
    options = [{"id": f"o{i}", "title": "x"} for i in range(8)]
    questions = parse_questions(
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
    budget = questions[2]
    cheapest = sorted(budget.option_ids, key=budget.cost_of)[:3]
    choices = {
        questions[0].id: questions[0].option_ids[0],
        "a": ["o0", "o2", "o3", "o7"],
        budget.id: [o for o in budget.option_ids if o in cheapest],
        "m": {f"o{i}": i % 6 for i in range(5)},
        "r": ["o4", "o1", "o2"],
    }
    return questions, choices


def _floor_counts(question: Question) -> tuple[int, int]:
    """(fixed-base, variable-base) scalar multiplications the verification needs."""
    rows, columns = grid_shape(question)
    cells = rows * columns
    branches = sum(r.hi - r.lo + 1 for r in sum_ranges(question))
    bits = envelope_bits(question)
    envelope = 1 if bits else 0
    fixed = 2 * cells + branches + 2 * bits + 2 * envelope
    variable = 6 * cells + 3 * branches + 6 * bits + envelope * 2 * rows
    return fixed, variable


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=None, help="repetitions (median)")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (make bench)")
    args = parser.parse_args()
    args.reps = args.reps or (3 if args.quick else 7)
    scalar = Scalar.random()
    variable = _median(lambda: BASE * scalar, args.reps, 500)
    fixed = _median(lambda: Point.base_times(scalar), args.reps, 500)
    print(f"variable-base {variable * 1e6:.1f} µs, fixed-base {fixed * 1e6:.1f} µs")
    key = Point.base_times(Scalar.random())
    context = Context("bench", bytes(32), bytes(range(32)))
    questions, choices = _questions()
    report: dict[str, Any] = {}
    for question in questions:
        choice = {question.id: choices[question.id]}

        def prove(q: Question = question, c: dict[str, Any] = choice) -> object:
            return encrypt_ballot([q], key=key, context=context, choices=c)

        wire = encrypt_ballot([question], key=key, context=context, choices=choice).to_json()
        text = json.dumps(wire, separators=(",", ":"))
        raw = 0
        for member in wire[question.id].values():
            for value in member if isinstance(member, list) else [member]:
                raw += len(b64u_decode_or_none(value) or b"")
        data = json.loads(text)

        def verify(q: Question = question, d: Any = data) -> object:
            return verify_encrypted_ballot([q], key, context, d)

        proving = _median(prove, args.reps)
        verifying = _median(verify, args.reps)
        n_fixed, n_variable = _floor_counts(question)
        floor = n_fixed * fixed + n_variable * variable
        report[question.type.value] = {
            "json_bytes": len(text),
            "raw_bytes": raw,
            "prove_ms": round(proving * 1e3, 2),
            "verify_ms": round(verifying * 1e3, 2),
            "floor_over_verify": round(floor / verifying, 3),
        }
        print(
            f"{question.type.value:18} json {len(text):6} B  raw {raw:6} B  "
            f"prove {proving * 1e3:6.1f} ms  verify {verifying * 1e3:6.1f} ms  "
            f"floor/verify {floor / verifying:.2f}"
        )
    print(json.dumps(report))


if __name__ == "__main__":
    main()
