"""Every test that `threat-model.md` cites exists (brief: "every threat you handle is listed
in threat-model.md with the test that proves the mitigation"), so a renamed or deleted test
cannot leave a mitigation without its proof."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: A cited test: `tests/x.py`, `tests/x.py::name`, or `::name` (same file as the last path).
CITATION = re.compile(r"`(?:(tests/[\w/.-]+?\.py|tests/[\w/-]+/?)(?:::(\w+))?|::(\w+))[^`]*`")


def _functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    }


def citations(text: str) -> list[tuple[int, str, str | None]]:
    """``(line number, path, test name or None)`` for every test the table rows cite."""
    found: list[tuple[int, str, str | None]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.startswith("|"):
            continue
        last: str | None = None
        for match in CITATION.finditer(line):
            path, name, continued = match.groups()
            if path is not None:
                last = path
                found.append((number, path, name))
            elif last is not None:
                found.append((number, last, continued))
    return found


def test_citation_parser_reads_paths_names_and_continuations() -> None:
    row = "| t | m | `tests/a/test_b.py::test_one`, `::test_two[x]`, `tests/c/` |"
    assert citations(row) == [
        (1, "tests/a/test_b.py", "test_one"),
        (1, "tests/a/test_b.py", "test_two"),
        (1, "tests/c/", None),
    ]


def test_every_cited_test_exists() -> None:
    text = (REPO / "threat-model.md").read_text(encoding="utf-8")
    cited = citations(text)
    assert len(cited) > 100  # the parser still understands the document
    missing = []
    for number, path, name in cited:
        target = REPO / path
        if not target.exists():
            missing.append(f"line {number}: {path} does not exist")
        elif name is not None and name not in _functions(target):
            missing.append(f"line {number}: {path} has no test {name}")
    assert missing == []
