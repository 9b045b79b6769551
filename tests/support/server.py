"""Run ``parvis serve`` as a real process on a free local port (tests and benchmarks)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

__all__ = ["ServerProcess", "free_port"]

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerProcess:
    """``with ServerProcess(env) as server: httpx.get(server.url + "/healthz")``."""

    def __init__(
        self,
        env: dict[str, str],
        *,
        workers: int = 1,
        args: list[str] | None = None,
        startup_timeout: float = 180.0,
    ):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **env}
        self.workers = workers
        self.args = args or ["serve"]
        self.proc: subprocess.Popen[str] | None = None
        # Generous: two workers migrating a PostgreSQL database on a shared, loaded 2-core
        # machine have taken close to two minutes; a healthy start answers in seconds.
        self.startup_timeout = startup_timeout
        self.stderr_path = Path(env.get("PARVIS_DATA_DIR", "/tmp")) / f"server-{self.port}.log"

    def __enter__(self) -> ServerProcess:
        self.stderr_path.parent.mkdir(parents=True, exist_ok=True)
        self._stderr = self.stderr_path.open("w")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "parvis",
                *self.args,
                "--port",
                str(self.port),
                *(["--workers", str(self.workers)] if self.args == ["serve"] else []),
            ],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            cwd=REPO,
        )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = self.stop()
                raise RuntimeError(f"server exited early: {log[-2000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        log = self.stop()
        raise RuntimeError(
            f"server did not answer /healthz within {self.startup_timeout:.0f} s: {log[-2000:]}"
        )

    def stop(self) -> str:
        """Stop the server and return what it wrote on stderr."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()
        self._stderr.close()
        return self.stderr_path.read_text()

    def __exit__(self, *exc: object) -> None:
        self.stop()
