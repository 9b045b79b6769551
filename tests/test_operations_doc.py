"""docs/operations.md names only commands and options the ``parvis`` command line has.

Every ``parvis …`` line of its code blocks (also as ``…/bin/parvis …`` in systemd units)
and every inline ``parvis …`` span is parsed: the sub-command path must exist, each
``--option`` must be one of that command's, and ``--help`` must run (as tests/test_cli.py).
"""

from __future__ import annotations

import re
import shlex
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from parvis.cli import build_cli

DOC = Path(__file__).resolve().parents[1] / "docs" / "operations.md"

#: Commands the guide documents as their issue specifies them, built on other branches at the
#: time of writing. The lead empties this set when they are merged: the test then checks them
#: like the others, and fails while one listed here exists (so the set cannot go stale).
NOT_YET_IN_THE_CLI: frozenset[str] = frozenset()

_FENCE = re.compile(r"^```(\w*)\s*$")
_IN_BLOCK = re.compile(r"(?:^|bin/)parvis\s+(.+)$")
_INLINE = re.compile(r"`parvis ([^`]+)`")


def command_lines() -> list[str]:
    """The argument text after ``parvis`` of every command line and inline span."""
    found: list[str] = []
    in_block = False
    pending = ""
    for raw in DOC.read_text(encoding="utf-8").splitlines():
        if _FENCE.match(raw.strip()):
            in_block = not in_block
            continue
        if not in_block:
            found += _INLINE.findall(raw)
            continue
        line = pending + raw.strip()
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        match = _IN_BLOCK.search(line.split("#", 1)[0].strip())
        # The admin wrapper passes its arguments through ("$@"): no command to check there.
        if match and match.group(1) != '"$@"':
            found.append(match.group(1))
    return found


@cache
def root() -> Any:
    return get_command(build_cli())


def is_group(command: Any) -> bool:
    return hasattr(command, "commands")


def resolve(args: str) -> tuple[list[str], Any, list[str]]:
    """The sub-command path, the command, and the remaining tokens of ``parvis <args>``."""
    tokens = shlex.split(args)
    command = root()
    path: list[str] = []
    while is_group(command) and tokens and tokens[0] in command.commands:
        command = command.commands[tokens[0]]
        path.append(tokens.pop(0))
    return path, command, tokens


LINES = command_lines()


def test_the_guide_names_the_commands_it_is_about() -> None:
    paths = {" ".join(resolve(line)[0]) for line in LINES}
    assert {
        "serve",
        "check-config",
        "db upgrade",
        "audit verify",
        "audit acknowledge-rollback",
        "backup create",
        "backup restore",
        "secret rotate",
    } <= paths


@pytest.mark.parametrize("line", LINES)
def test_every_command_line_exists_with_its_options(line: str) -> None:
    words = " ".join(shlex.split(line)[:2])
    if words in NOT_YET_IN_THE_CLI:
        path, _command, _rest = resolve(line)
        assert " ".join(path) != words, f"'{words}' exists now: remove it from NOT_YET_IN_THE_CLI"
        return
    path, command, rest = resolve(line)
    assert path, f"parvis {line}: no such command"
    assert not is_group(command) or not rest, (
        f"parvis {line}: {rest[0]!r} is not a command of 'parvis {' '.join(path)}'"
    )
    options: set[str] = {"--help"}
    params: list[Any] = command.params
    for param in params:
        options.update(getattr(param, "opts", ()))
    for token in rest:
        if token.startswith("--"):
            name = token.split("=", 1)[0]
            assert name in options, f"parvis {line}: {' '.join(path)} has no option {name}"
    result = CliRunner().invoke(build_cli(), [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output
