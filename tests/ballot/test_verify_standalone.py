"""The verifier runs alone, with only the verification dependencies (voting-protocol.md,
"Verification anyone can run": importable and runnable with only the verification
dependencies — no web server, no database — so an auditor can run it alone).

Each test runs ``python -m ballot.verify`` in a fresh interpreter whose import system refuses
every third-party distribution outside the verifier distribution's dependencies
(verifier/pyproject.toml, ADR 0020: cryptography and its cffi backend, PyNaCl, rfc8785,
optionally gmpy2) and every module of the web and
database stack — SQLAlchemy, FastAPI, Starlette, Alembic, Uvicorn, Authlib and
``parvis.kernel.db`` by name. A refused import is also recorded, so that one swallowed by an
``except ImportError`` still fails the test. The board is a real export from
:class:`tests.support.boards.BoardBuilder`, verified by two forked worker processes.
"""

from __future__ import annotations

import copy
import functools
import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from audit.merkle import leaf_hash
from ballot import board
from ballot.jcs import canonical
from tests.support.boards import BoardBuilder, build_board

ROOT = Path(__file__).resolve().parents[2]

# Runs in the child: refuse (and record) imports, then run the verifier's command line.
RUNNER = r"""
import atexit, importlib.abc, sys

STACK = ("sqlalchemy", "fastapi", "starlette", "alembic", "uvicorn", "authlib",
         "parvis.kernel.db")
ALLOWED = {"audit", "ballot", "parvis", "parvis_verifier", "cryptography", "_cffi_backend", "nacl",
           "_sodium", "rfc8785", "gmpy2"} | set(sys.stdlib_module_names)
# Optional imports that libraries probe and do without: cryptography's SSH key support
# (bcrypt), the standard library's Jython check (org.python.core).
PROBES = {"bcrypt", "org"}
refused = []

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        top = name.split(".")[0]
        if name.startswith(tuple(s + "." for s in STACK)) or name in STACK or (
            top not in ALLOWED
        ):
            if top not in PROBES:
                refused.append(name)
            raise ImportError(f"refused by the test: {name}")
        return None

sys.meta_path.insert(0, Refuse())
atexit.register(lambda: print("REFUSED:", sorted(set(refused)), file=sys.stderr))

import runpy
sys.argv = ["ballot.verify", *sys.argv[1:]]
runpy.run_module("ballot.verify", run_name="__main__", alter_sys=True)
"""


def run_verifier(source: Path | str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", RUNNER, str(source), "--workers", "2", "--chunk", "4", *args],
        cwd=ROOT,
        # verifier/ too: the verifier distribution's source tree (ADR 0020), for a checkout
        # where `make install` has not installed it into the interpreter's environment.
        env={
            "PYTHONPATH": os.pathsep.join((str(ROOT), str(ROOT / "verifier"))),
            "PATH": "/usr/bin:/bin",
        },
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def refused(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("REFUSED:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def built() -> BoardBuilder:
    return build_board(20, revoters=4)


def test_verifies_a_real_board_without_the_web_and_database_stack(
    built: BoardBuilder, tmp_path: Path
) -> None:
    path = tmp_path / "board.json"
    path.write_text(json.dumps(built.export()))
    index = [i for i, e in enumerate(built.entries) if e.get("kind") == "ballot"][7]
    code = board.tracking_code(board.entry_leaf_hash(built.entries[index]))

    result = run_verifier(path, "--receipt", code)

    assert result.returncode == 0, result.stderr
    assert refused(result) == "REFUSED: []"
    lines = result.stdout.splitlines()
    assert lines[-1] == (
        "verified: election 0c6d1c1e-8a5b-4bd4-9f57-0a3b7f3c2d11, 20 ballot(s) counted"
    )
    assert "ok  24 ballot(s): tokens verify under the manifest key" in result.stdout
    assert "ok  ballots (20) ≤ tokens issued (20) ≤ eligible population (40)" in lines
    assert "ok  the published tally equals the recount" in lines
    assert f"ok  receipt {code} names entry {index}" in lines


def test_a_tampered_board_fails_naming_the_first_discrepancy(
    built: BoardBuilder, tmp_path: Path
) -> None:
    # Two ballots altered in different chunks (4 ballots each), the board re-signed by its
    # operator so that only the ballot checks can tell: the lower index is named.
    export: dict[str, Any] = copy.deepcopy(built.export())
    indexes = [i for i, e in enumerate(export["entries"]) if e.get("kind") == "ballot"]
    first, later = indexes[9], indexes[2]  # chunk 3 is altered first, chunk 1 afterwards
    for index in (first, later):
        choices = export["entries"][index]["cast"]["ballot"]["choices"]
        choices["parc"] = "gare" if choices["parc"] == "tilleuls" else "tilleuls"
    export["checkpoints"] = []
    tampered = BoardBuilder(
        key=built.key,
        signer=built.signer,
        manifest=built.manifest,
        entries=export["entries"],
    )
    tampered.checkpoint()
    path = tmp_path / "tampered.json"
    path.write_text(json.dumps(tampered.export()))

    result = run_verifier(path)

    assert result.returncode == 1
    assert refused(result) == "REFUSED: []"
    assert f"FAILED: entry {later}: ballot signature does not verify" in result.stderr
    assert result.stdout == ""


def test_fetches_the_board_from_a_url(built: BoardBuilder, tmp_path: Path) -> None:
    # An auditor points the verifier at the city's published export (standard library only).
    (tmp_path / "board.json").write_text(json.dumps(built.export()))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            port = server.server_address[1]
            result = run_verifier(f"http://127.0.0.1:{port}/board.json")
            missing = run_verifier(f"http://127.0.0.1:{port}/none.json")
        finally:
            server.shutdown()
            thread.join()
    assert result.returncode == 0, result.stderr
    assert refused(result) == "REFUSED: []"
    assert result.stdout.splitlines()[-1].endswith("20 ballot(s) counted")
    assert missing.returncode == 1
    assert "FAILED: cannot fetch http://127.0.0.1:" in missing.stderr
    assert "404" in missing.stderr


def test_verifies_an_encrypted_board_without_the_web_and_database_stack(tmp_path: Path) -> None:
    # board-format.md §10: the ceremony, every proof (in two forked workers, one ballot per
    # task), the sums, the partial decryptions and the results, with the verify extra only.
    example = ROOT / "docs" / "examples" / "board-example-v2.json"
    export = json.loads(example.read_text())
    ballot = next(i for i, e in enumerate(export["entries"]) if e["kind"] == "ballot")
    code = board.tracking_code(leaf_hash(canonical(export["entries"][ballot])))

    result = run_verifier(example, "--chunk", "1", "--receipt", code)

    assert result.returncode == 0, result.stderr
    assert refused(result) == "REFUSED: []"
    lines = result.stdout.splitlines()
    assert lines[-1] == (
        "verified: election 5e1f3a2b-7c4d-4e8f-9a0b-1c2d3e4f5a6b, 3 ballot(s) counted"
    )
    assert "ok  the published results equal the decrypted counts (§6)" in lines
    assert f"ok  receipt {code} names entry {ballot}" in lines


def test_an_altered_encrypted_board_fails_one_line_per_failure(tmp_path: Path) -> None:
    export = json.loads((ROOT / "docs" / "examples" / "board-example-v2.json").read_text())
    del export["entries"][-2]  # trustee 3's partial decryption, not re-signed
    path = tmp_path / "altered.json"
    path.write_text(json.dumps(export))

    result = run_verifier(path, "--chunk", "1")

    assert result.returncode == 1
    assert refused(result) == "REFUSED: []"
    assert result.stdout == ""
    assert [line for line in result.stderr.splitlines() if line.startswith("FAILED")] == [
        "FAILED: checkpoint 2 covers 19 entries but the export has 18",
        "FAILED: the last checkpoint covers 19 of the 18 entries",
        "FAILED: entry 17: 1 valid partial decryption(s), the threshold is 2",
    ]
