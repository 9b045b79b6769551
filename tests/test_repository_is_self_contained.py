"""The repository explains itself: nothing in it points outside it.

A newcomer gets a clone and nothing else, so every tracked file must be readable on its own
(docs/design/style.md, "Repository habits"):

* no path outside the repository — the design documents live in ``docs/design/`` and the
  test vectors in ``tests/vectors/``; a reference to a sibling folder or to an absolute path
  of the machine the code was written on resolves nowhere in a clone;
* no issue-tracker number in code, tests, templates or documents — maintainers have no
  tracker, so a rule cites the specification, RFC, ADR or design-document section it comes
  from instead.

Each failure names the offending ``file:line`` and the text found.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The patterns are spelt so that this file does not match itself (``[.]``, ``[k]``).
OUTSIDE_PATHS = re.compile(r"[.][.]/shared\b|\bshared/(?:design|vectors)\b|/wor[k]/")
#: A tracker citation: a number, a quoted title, or a possessive (a ticket as an author).
ISSUE_NUMBER = re.compile(
    r"\bissues?\s*(?:#|n[o°]\.?\s*)?[0-9]+|\bissues?\s+[\"“]|\bissue[']s\b", re.IGNORECASE
)

#: Files where an issue number would be a citation: source, tests, templates, documents and
#: configuration. Data (vectors, lockfiles, images) is free text from elsewhere.
CITING_SUFFIXES = frozenset(
    {".py", ".md", ".html", ".jinja", ".j2", ".txt", ".toml", ".cfg", ".ini", ".yaml", ".yml",
     ".ts", ".js", ".mjs", ".css", ".po", ".pot", ".sh", ".sql"}
)  # fmt: skip
CITING_NAMES = frozenset({"Makefile", "Dockerfile"})

#: Never scanned: dependencies and build output that are not the project's text.
SKIPPED_PARTS = frozenset({".git", "node_modules", ".venv", "var", "__pycache__", "dist"})


def _tracked_files() -> list[Path]:
    """The files of the repository: ``git ls-files`` in a checkout, else the tree itself."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        candidates = [p for p in ROOT.rglob("*") if p.is_file()]
    else:
        candidates = [ROOT / name for name in listed.decode().split("\0") if name]
    return [
        path
        for path in candidates
        if path.is_file() and not SKIPPED_PARTS.intersection(path.relative_to(ROOT).parts)
    ]


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except (UnicodeDecodeError, OSError):
        return []  # binary (images, fonts, archives): nothing a reader follows


def _offences(pattern: re.Pattern[str], files: list[Path]) -> list[str]:
    found = []
    for path in files:
        for number, line in enumerate(_lines(path), start=1):
            match = pattern.search(line)
            if match:
                found.append(f"{path.relative_to(ROOT)}:{number}: {match.group(0)!r}")
    return found


def test_the_file_list_is_the_repository() -> None:
    """The scan sees the real tree (a scan of nothing would pass every check below)."""
    names = {path.relative_to(ROOT).as_posix() for path in _tracked_files()}
    assert {"README.md", "pyproject.toml", "docs/design/architecture.md"} <= names
    assert "tests/test_repository_is_self_contained.py" in names


def test_no_file_refers_to_a_path_outside_the_repository() -> None:
    offences = _offences(OUTSIDE_PATHS, _tracked_files())
    print("\n".join(offences))
    assert not offences, "paths outside the repository:\n" + "\n".join(offences)


def test_no_source_test_or_document_cites_an_issue_number() -> None:
    files = [
        path
        for path in _tracked_files()
        if path.suffix in CITING_SUFFIXES or path.name in CITING_NAMES
    ]
    offences = _offences(ISSUE_NUMBER, files)
    print("\n".join(offences))
    assert not offences, "issue numbers (cite the spec, ADR or doc section):\n" + "\n".join(
        offences
    )


def test_the_design_sections_the_code_cites_exist() -> None:
    """``voting-protocol.md, "Casting"`` must lead somewhere: each quoted section name of a
    design document cited in the repository is the start of a heading of that document."""
    design = ROOT / "docs" / "design"
    headings = {
        doc.name: [
            line.lstrip("#").strip().casefold() for line in _lines(doc) if line.startswith("#")
        ]
        for doc in design.glob("*.md")
    }
    # ``doc.md, "Section"`` or ``doc.md §2`` (numbered sections: the heading starts "2.").
    citation = re.compile(r"\b([a-z-]+\.md)(?:,? [\"“]([^\"”]{3,})[\"”]| §([0-9]+))")
    missing = []
    for path in _tracked_files():
        for number, line in enumerate(_lines(path), start=1):
            for match in citation.finditer(line):
                doc = match.group(1)
                section = (match.group(2) or f"{match.group(3)}.").casefold()
                if doc in headings and not any(h.startswith(section) for h in headings[doc]):
                    missing.append(f"{path.relative_to(ROOT)}:{number}: {doc}, {section!r}")
    print("\n".join(missing))
    assert not missing, "cited sections without a heading:\n" + "\n".join(missing)
