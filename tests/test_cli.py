"""The ``parvis`` command line: every command's --help, failure paths, and a real server."""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from typer.main import get_command
from typer.testing import CliRunner, Result

from parvis import migrate
from parvis.cli import build_cli
from tests.support.server import ServerProcess

runner = CliRunner()


def all_command_paths() -> list[list[str]]:
    root = get_command(build_cli())
    paths: list[list[str]] = []

    def walk(command: Any, path: list[str]) -> None:
        paths.append(path)
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                walk(sub, [*path, name])

    walk(root, [])
    return paths


@pytest.mark.parametrize("path", all_command_paths(), ids=lambda p: " ".join(p) or "parvis")
def test_every_command_has_help(path: list[str]) -> None:
    result = runner.invoke(build_cli(), [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_expected_commands_exist() -> None:
    names = {" ".join(p) for p in all_command_paths()}
    assert {"serve", "demo", "check-config", "db upgrade", "db downgrade", "db current"} <= names


def run(args: list[str], env: dict[str, str]) -> Result:
    return runner.invoke(build_cli(), args, env=env)


def one_line_error(result: Result) -> str:
    assert result.exit_code != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    return lines[0]


BAD_URL = {"PARVIS_DATABASE_URL": "mysql://db/parvis"}
UNREACHABLE = {"PARVIS_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"}


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["check-config"], BAD_URL, "unknown database URL scheme"),
        (["check-config"], UNREACHABLE, "database error"),
        (["db", "upgrade"], BAD_URL, "unknown database URL scheme"),
        (["db", "downgrade"], UNREACHABLE, "database error"),
        (["db", "current"], UNREACHABLE, "database error"),
        (["serve"], {"PARVIS_MODE": "production"}, "PARVIS_SECRET_KEY"),
        (["serve", "--workers", "2"], {}, "several workers need PostgreSQL"),
        (
            ["demo"],
            {"PARVIS_MODE": "production", "PARVIS_SECRET_KEY": "x" * 40},
            "refuses to run in production",
        ),
    ],
)
def test_failures_are_one_line(args: list[str], env: dict[str, str], expected: str) -> None:
    assert expected in one_line_error(run(args, env))


def test_db_commands_against_a_real_database(empty_database_url: str) -> None:
    env = {"PARVIS_DATABASE_URL": empty_database_url}
    behind = run(["db", "current"], env)
    assert behind.exit_code == 1
    assert "(behind)" in behind.output
    assert "run `parvis db upgrade`" in one_line_error(run(["check-config"], env))
    assert run(["db", "upgrade"], env).exit_code == 0
    assert "(up to date)" in run(["db", "current"], env).output
    assert run(["check-config"], env).exit_code == 0
    assert run(["db", "downgrade", "base"], env).exit_code == 0
    assert migrate.schema_status(empty_database_url).current == ()


def test_real_server_logs_no_secrets(database_url: str, tmp_path: Path) -> None:
    env = {
        "PARVIS_DATABASE_URL": database_url,
        "PARVIS_DATA_DIR": str(tmp_path),
        "PARVIS_MODE": "test",
    }
    secret = "s3cr3t-canary-value"
    with ServerProcess(env) as server:
        headers = {"authorization": f"Bearer {secret}", "cookie": f"parvis_session={secret}"}
        assert httpx.get(f"{server.url}/readyz?token={secret}", headers=headers).status_code == 200
        response = httpx.post(
            f"{server.url}/healthz", content=f'{{"password": "{secret}"}}', headers=headers
        )
        assert response.status_code == 405
        assert httpx.get(f"{server.url}/nowhere/{secret}").status_code == 404
        logs = server.stop()
    assert secret not in logs
    access = [
        json.loads(line)
        for line in logs.splitlines()
        if line.startswith("{") and '"parvis.access"' in line
    ]
    assert {(a["route"], a["status"]) for a in access} >= {
        ("/readyz", 200),
        ("/healthz", 405),
        ("unmatched", 404),
    }
    allowed = {"time", "level", "logger", "message", "method", "route", "status", "duration_ms"}
    assert all(set(a) <= allowed for a in access)


def test_typer_app_is_the_console_script() -> None:
    assert isinstance(build_cli(), typer.Typer)


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port another program listens on."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["demo", "--port", "{port}"], {}),
        (["demo"], {"PARVIS_PORT": "{port}"}),
        (["serve", "--port", "{port}"], {}),
        (["serve"], {"PARVIS_PORT": "{port}"}),
    ],
    ids=["demo --port", "demo PARVIS_PORT", "serve --port", "serve PARVIS_PORT"],
)
def test_a_busy_port_is_one_line(
    busy_port: int, tmp_path: Path, args: list[str], env: dict[str, str]
) -> None:
    env = {
        "PARVIS_DATABASE_URL": f"sqlite:///{tmp_path}/parvis.db",
        "PARVIS_DATA_DIR": str(tmp_path / "data"),
        **{k: v.format(port=busy_port) for k, v in env.items()},
    }
    error = one_line_error(run([a.format(port=busy_port) for a in args], env))
    assert error.startswith(f"error: port {busy_port} is already in use on 127.0.0.1;")
    assert not (tmp_path / "data").exists(), "refused before creating or seeding anything"


def test_make_demo_passes_the_port() -> None:
    root = Path(__file__).resolve().parent.parent
    planned = subprocess.run(
        ["make", "-n", "demo", "PORT=8123"], cwd=root, capture_output=True, text=True, check=True
    ).stdout
    assert "parvis demo --port 8123" in planned
    default = subprocess.run(
        ["make", "-n", "demo"], cwd=root, capture_output=True, text=True, check=True
    ).stdout
    # `make -n` also prints the steps of prerequisites that are out of date (a fresh clone
    # builds its bundles): look for the demo's own line among them.
    commands = [line.split("/")[-1].strip() for line in default.splitlines()]
    assert "parvis demo" in commands
    assert not [c for c in commands if c.startswith("parvis demo --port")]
