"""The verifier anyone installs alone (docs/adr/0020-standalone-verifier.md; README,
"Verifying an election"): ``pip install ./verifier`` into a fresh virtual environment
installs ``parvis-verify`` and ``parvis-trustee`` with only cryptography, PyNaCl and
rfc8785, and ``parvis-verify`` checks the worked examples of docs/board-format.md §9 and
§10.6 and refuses a tampered copy.

The install is real: ``python -m venv``, then pip from the package index (pip's own cache
makes a second run fast). The source tree is copied first so that the build leaves nothing
in the checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "docs" / "examples"

#: The distributions a fresh environment may hold after the install: the verifier, its three
#: dependencies and theirs (cryptography's cffi and pycparser), and the venv's own tools.
ALLOWED = {
    "parvis-verifier", "cryptography", "pynacl", "rfc8785", "cffi", "pycparser",
    "pip", "setuptools", "wheel",
}  # fmt: skip


def clean_env() -> dict[str, str]:
    """The environment of an auditor's shell: no PYTHONPATH pointing into the checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("verifier")
    source = base / "verifier"
    shutil.copytree(ROOT / "verifier", source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    env = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(env)], check=True, timeout=300)
    subprocess.run(
        [str(env / "bin" / "python"), "-m", "pip", "install", "-q", "./verifier"],
        cwd=base,
        env=clean_env(),
        check=True,
        timeout=900,
    )
    return env


def run(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin" / "parvis-verify"), *args, "--workers", "2"],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_installs_with_only_its_three_dependencies(venv: Path) -> None:
    listed = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "list", "--format", "json"],
        env=clean_env(),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    names = {d["name"].lower() for d in json.loads(listed.stdout)}
    assert {"parvis-verifier", "cryptography", "pynacl", "rfc8785"} <= names
    assert names <= ALLOWED, names - ALLOWED
    assert (venv / "bin" / "parvis-trustee").exists()


def test_verifies_the_worked_examples_and_refuses_a_tampered_copy(
    venv: Path, tmp_path: Path
) -> None:
    for name, counted in (("board-example.json", 2), ("board-example-v2.json", 3)):
        result = run(venv, str(EXAMPLES / name), cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines()[-1].endswith(f", {counted} ballot(s) counted")

    export = json.loads((EXAMPLES / "board-example.json").read_text())
    ballot = next(e for e in export["entries"] if e.get("kind") == "ballot")
    choices = ballot["cast"]["ballot"]["choices"]
    choices["parc"] = "gare" if choices["parc"] == "tilleuls" else "tilleuls"
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(export))

    result = run(venv, str(tampered), cwd=tmp_path)

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("FAILED: ")

    # The program is the installed one, not the checkout's.
    where = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import parvis_verifier; print(parvis_verifier.__file__)",
        ],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert where.stdout.startswith(str(venv))
