"""Drive a Node.js script that runs the booth's TypeScript (``web/src/lib``) beside Python:
the library is bundled for Node with esbuild, and the script answers one JSON line for each
JSON line it reads (tests/node/*_units.mjs).

The tests that use it fail, never skip, when Node.js or ``web/node_modules`` is missing
(``make node-deps``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

__all__ = ["NodeDriver", "start_node"]

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"


class NodeDriver:
    """One ``node SCRIPT BUNDLE`` process: a JSON line in, one out."""

    def __init__(self, node: str, script: Path, bundle: Path) -> None:
        self.process = subprocess.Popen(
            [node, str(script), str(bundle)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def __call__(self, op: str, **request: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(json.dumps({"op": op, **request}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            self.process.wait(timeout=30)
            assert self.process.stderr is not None
            pytest.fail(f"node exited ({self.process.returncode}): {self.process.stderr.read()}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def ok(self, op: str, **request: Any) -> dict[str, Any]:
        answer = self(op, **request)
        assert "error" not in answer, answer["error"]
        return answer

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
            for stream in (self.process.stdout, self.process.stderr):
                if stream is not None:
                    stream.close()


def start_node(tmp_path: Path, script: Path, *, needs: str) -> NodeDriver:
    """Bundle ``web/src/lib`` into ``tmp_path`` and start ``script`` on it; ``needs`` is an
    npm package (``@scope/name``) the bundle must find installed."""
    executable = shutil.which("node")
    if executable is None:
        pytest.fail("Node.js is not installed: these tests need `node` (Node 20) on PATH")
    esbuild = WEB / "node_modules" / ".bin" / "esbuild"
    if not esbuild.exists() or not (WEB / "node_modules" / needs).is_dir():
        pytest.fail("web/node_modules is missing or incomplete: run `make node-deps` (npm ci)")
    bundle = tmp_path / "booth-lib.mjs"
    subprocess.run(
        [
            str(esbuild),
            "src/lib/index.ts",
            "--bundle",
            "--format=esm",
            "--platform=node",
            "--target=node20",
            f"--outfile={bundle}",
            "--log-level=warning",
        ],
        cwd=WEB,
        check=True,
    )
    return NodeDriver(executable, script, bundle)
