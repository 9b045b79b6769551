"""The census import cannot hurt (franceconnect.md, "Residency and eligibility"): encodings
and separators are detected, a bad file is one ``error:`` line and exit 1, an import is
pending until a separate, audited activation, and the active census stays until then."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

import audit
import identity
from identity.eligibility import Territory
from identity.tables import CensusEntryRow, CensusImportRow
from parvis.kernel.context import AppContext

HEADER = "family_name;given_names;birthdate;birthplace"
#: Accepted lines: the accents of French names, œ included (Windows-1252 has it, Latin-1 not).
PEOPLE = (
    "Bœuf-Lefèvre;Françoise Hélène;02/01/1980;75107",
    "Garçon;Jérôme;1975-03-04;75107",
    "Dubois;Angela;1962-08-24;75107",
)


@pytest.fixture
def cli(ctx: AppContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    with ctx.db.write_session() as db:
        identity.service_from(ctx).save_territory(
            db,
            Territory(id="t", name="Montreuil", cog_vintage=2025, communes=frozenset({"93048"})),
            actor="staff:admin",
        )
    for key, value in {
        "PARVIS_MODE": "test",
        "PARVIS_DATABASE_URL": ctx.settings.database_url,
        "PARVIS_DATA_DIR": str(tmp_path),
    }.items():
        monkeypatch.setenv(key, value)
    return CliRunner()


def run(runner: CliRunner, *args: str) -> tuple[int, str, str]:
    from parvis.cli import build_cli

    result = runner.invoke(build_cli(), ["territory", *args])
    return result.exit_code, result.stdout, result.stderr


def write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def imports(ctx: AppContext) -> dict[str, tuple[bool, bool]]:
    """Import id → (active, pending)."""
    with ctx.db.read_session() as db:
        return {r.id: (r.active, r.pending) for r in db.scalars(select(CensusImportRow))}


def import_id_of(stdout: str) -> str:
    return stdout.split()[1]


def test_windows_1252_with_semicolons_and_accents_is_read(
    ctx: AppContext, cli: CliRunner, tmp_path: Path
) -> None:
    data = ("\r\n".join((HEADER, *PEOPLE)) + "\r\n").encode("cp1252")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    code, out, err = run(cli, "import-census", "--territory", "t", write(tmp_path, "c.csv", data))
    assert (code, err) == (0, "")
    assert "rows: 3" in out
    assert "accepted: 3" in out
    assert "rejected: 0" in out
    # Read as Latin-1, "Bœuf" would be "B\x9cuf" and hash differently from the UTF-8 file.
    code, out2, _ = run(
        cli,
        "import-census",
        "--territory",
        "t",
        write(tmp_path, "u.csv", ("\ufeff" + "\n".join((HEADER, *PEOPLE))).encode("utf-8")),
    )
    assert code == 0
    assert "would lose census-based eligibility: 0" in out2


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "census file e.csv: the file is empty"),
        (b"  \r\n\r\n", "census file e.csv: the file is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "the file is binary, not CSV text"),
        ("family_name,given_names\n".encode("utf-16"), "the file is UTF-16"),
        (b"family_name,given_names\x01\x02\x03\n", "not CSV text in UTF-8, Windows-1252 or"),
        (b"nom;prenom;naissance\nDUPONT;Jean;1980-01-01\n", "the header lacks the column(s)"),
        (HEADER.encode() + b"\r\n", "census file: no line follows the header"),
    ],
    ids=["empty", "blank", "binary", "utf16", "controls", "columns", "header-only"],
)
def test_a_bad_file_is_one_error_line(
    ctx: AppContext, cli: CliRunner, tmp_path: Path, data: bytes, message: str
) -> None:
    code, out, err = run(cli, "import-census", "--territory", "t", write(tmp_path, "e.csv", data))
    assert code == 1
    assert err.startswith("error: ")
    assert message in err
    assert err.count("\n") == 1
    assert "Traceback" not in out + err
    assert imports(ctx) == {}


def test_errors_over_the_threshold_cannot_be_activated(
    ctx: AppContext, cli: CliRunner, tmp_path: Path
) -> None:
    # One rejected line of 4 is 25 %: over the default 5 %.
    bad = ("\n".join((HEADER, *PEOPLE, "Petit;Paul;1970-04-04;2C001")) + "\n").encode("cp1252")
    path = write(tmp_path, "bad.csv", bad)
    code, out, err = run(cli, "import-census", "--territory", "t", "--activate", path)
    assert code == 1
    assert "line 5: birthplace" in out
    assert "Petit" not in out + err
    assert err.startswith("error: census file bad.csv: 1 of 4 lines rejected (25.0 %, over the 5 %")
    assert err.count("\n") == 1
    ((import_id, state),) = imports(ctx).items()
    assert state == (False, True), "stays pending, never active"
    code, _, err = run(cli, "activate-census", "--yes", import_id)
    assert code == 1
    assert "cannot be activated: 1 of 4 lines rejected" in err
    # A city that accepts a higher share says so explicitly: an option, or its setting.
    code, out, err = run(cli, "activate-census", "--yes", "--max-rejected", "30", import_id)
    assert (code, err) == (0, "")
    assert imports(ctx)[import_id] == (True, False)


def test_the_threshold_is_a_setting(
    ctx: AppContext, cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARVIS_CENSUS_MAX_REJECTED_PERCENT", "30")
    bad = ("\n".join((HEADER, *PEOPLE, "Petit;Paul;1970-04-04;2C001")) + "\n").encode("cp1252")
    code, out, err = run(
        cli, "import-census", "--territory", "t", "--activate", write(tmp_path, "b.csv", bad)
    )
    assert (code, err) == (0, ""), out
    assert "rejected: 1 (25.0 %)" in out
    assert list(imports(ctx).values()) == [(True, False)]


def test_previous_census_stays_active_until_activation_which_is_audited(
    ctx: AppContext, cli: CliRunner, tmp_path: Path
) -> None:
    first = write(tmp_path, "first.csv", "\n".join((HEADER, *PEOPLE)).encode("cp1252"))
    code, out, _ = run(cli, "import-census", "--territory", "t", "--activate", first)
    assert code == 0, out
    first_id = import_id_of(out)
    assert f"import {first_id} activated" in out

    # The new file drops one person: the preview counts them; nothing changes yet.
    second = write(tmp_path, "second.csv", "\n".join((HEADER, *PEOPLE[1:])).encode("utf-8"))
    code, out, _ = run(cli, "import-census", "--territory", "t", second)
    assert code == 0, out
    second_id = import_id_of(out)
    assert "would lose census-based eligibility: 1" in out
    assert f"parvis territory activate-census {second_id}" in out
    assert imports(ctx) == {first_id: (True, False), second_id: (False, True)}
    with ctx.db.read_session() as db:
        assert (
            len(
                db.scalars(select(CensusEntryRow).where(CensusEntryRow.import_id == first_id)).all()
            )
            == 3
        )

    # Activation asks for confirmation; "no" changes nothing.
    from parvis.cli import build_cli

    declined = cli.invoke(build_cli(), ["territory", "activate-census", second_id], input="n\n")
    assert declined.exit_code == 1
    assert "error: not activated" in declined.stderr
    assert imports(ctx)[second_id] == (False, True)

    confirmed = cli.invoke(build_cli(), ["territory", "activate-census", second_id], input="y\n")
    assert confirmed.exit_code == 0, confirmed.output
    assert imports(ctx) == {first_id: (False, False), second_id: (True, False)}
    with ctx.db.read_session() as db:
        assert not db.scalars(
            select(CensusEntryRow).where(CensusEntryRow.import_id == first_id)
        ).all(), "the superseded census's hashes are deleted"
        activated = audit.service_from(ctx).query(
            db, limit=10, event_type="identity.census.activated"
        )
    # One event per activation (the first import's, by --activate, and the second's).
    by_import = {e.details["import"]: e for e in activated if e.details is not None}
    assert set(by_import) == {first_id, second_id}
    assert by_import[second_id].actor == "system:cli"
    assert by_import[second_id].details == {
        "import": second_id,
        "territory": "t",
        "superseded": [first_id],
        "rejected_percent": 0.0,
        "max_rejected_percent": 5.0,
    }

    code, _, err = run(cli, "activate-census", "--yes", second_id)
    assert code == 1
    assert err == f"error: census import {second_id} is not pending (it is active)\n"
    code, _, err = run(cli, "activate-census", "--yes", "nope")
    assert (code, err) == (1, "error: no such census import\n")
