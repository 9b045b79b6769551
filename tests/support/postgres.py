"""A throw-away PostgreSQL server for the test suite and the benchmarks.

environment.md: the server binaries live in the Debian layout (``/usr/lib/postgresql/N/bin``)
and refuse to run as root, so as root the cluster is created and started as the ``postgres``
system user (``runuser``) in a temporary directory it owns. The server listens on 127.0.0.1
on a free port and on a Unix socket inside that directory; :meth:`TempPostgres.stop` stops it
and removes the directory, also when tests fail.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["PostgresUnavailableError", "TempPostgres", "find_bindir"]

INSTALL_HINT = (
    "PostgreSQL server binaries not found. Install them with "
    "`apt-get install -y postgresql` (as root: `make test` does it for you), "
    "or set PARVIS_PG_BINDIR to the directory holding initdb and pg_ctl."
)


class PostgresUnavailableError(RuntimeError):
    """No PostgreSQL server can be started on this machine."""


def find_bindir() -> Path:
    """Locate ``initdb``/``pg_ctl``: $PARVIS_PG_BINDIR, Debian's layout (newest), then PATH."""
    explicit = os.environ.get("PARVIS_PG_BINDIR")
    candidates = [Path(explicit)] if explicit else []
    candidates += [
        Path(p)
        for p in sorted(
            glob.glob("/usr/lib/postgresql/*/bin"),
            key=lambda p: int(Path(p).parent.name),
            reverse=True,
        )
    ]
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for candidate in candidates:
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    raise PostgresUnavailableError(INSTALL_HINT)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class TempPostgres:
    """Start with :meth:`start`, get :attr:`url`, end with :meth:`stop`.

    ``durable=False`` (tests) turns off fsync for speed; benchmarks keep it on so that they
    measure real durable commits.
    """

    def __init__(self, *, durable: bool = False) -> None:
        self.durable = durable
        self.bindir = find_bindir()
        self.root = Path(tempfile.mkdtemp(prefix="parvis-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.as_root = os.geteuid() == 0
        self.started = False

    @property
    def url(self) -> str:
        return self.url_for("postgres")

    def url_for(self, database: str, user: str = "postgres") -> str:
        return f"postgresql+psycopg://{user}@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = list(args)
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=120)

    def start(self) -> TempPostgres:
        if self.as_root:
            shutil.chown(self.root, user="postgres", group="postgres")
        os.chmod(self.root, 0o700)
        init = self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        if init.returncode != 0:
            raise PostgresUnavailableError(f"initdb failed: {init.stderr.strip()}")
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c max_connections=200 -c shared_buffers=128MB"
        )
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        started = self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.root / "server.log"),
            "-w",
            "-t",
            "60",
            "start",
        )
        if started.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise PostgresUnavailableError(f"pg_ctl start failed: {started.stderr.strip()} {tail}")
        self.started = True
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=1),
            ):
                return
            time.sleep(0.1)
        raise PostgresUnavailableError("PostgreSQL did not accept connections within 30 s")

    def psql(self, sql: str, database: str = "postgres") -> None:
        """Run SQL as the superuser (autocommit), e.g. CREATE DATABASE."""
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname=database, autocommit=True
        ) as conn:
            conn.execute(sql)  # type: ignore[arg-type]  # test-only trusted SQL

    def stop(self) -> None:
        if self.started:
            self._run(
                str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"
            )
            self.started = False
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> TempPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
