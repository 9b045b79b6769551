"""``parvis consent …`` commands: load, register, add-client, retire-key, purge,
verify-receipt."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

from consent import service_from
from consent.ledger import Actor, ActorKind, Method, Status
from parvis.cli import build_cli
from parvis.kernel.context import build_context
from parvis.kernel.settings import Settings
from tests.consent.factories import catalogue, read_ods

runner = CliRunner()


@pytest.fixture
def env(settings: Settings, tmp_path: Path) -> dict[str, str]:
    return {
        "PARVIS_MODE": "test",
        "PARVIS_DATABASE_URL": settings.database_url,
        "PARVIS_DATA_DIR": str(tmp_path / "var"),
    }


def run(args: list[str], env: dict[str, str]) -> Result:
    return runner.invoke(build_cli(), ["consent", *args], env=env)


def one_line_error(result: Result) -> str:
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    return lines[0]


@pytest.fixture
def loaded(env: dict[str, str], tmp_path: Path) -> Path:
    doc = catalogue()
    doc["controllers"][0]["notices"] = [{"language": "fr", "text": "Notice."}]
    path = tmp_path / "registre.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    result = run(["load", str(path)], env)
    assert result.exit_code == 0, result.output
    assert "purpose newsletter (version 1)" in result.stdout
    assert "notice ville-exemple/fr v1" in result.stdout
    return path


def test_register_export_csv_and_json(loaded: Path, env: dict[str, str], tmp_path: Path) -> None:
    again = run(["load", str(loaded)], env)  # idempotent: same versions, same notice
    assert "purpose newsletter (version 1)" in again.stdout
    assert "notice ville-exemple/fr v1" in again.stdout
    result = run(["register", "--controller", "ville-exemple", "--format", "csv"], env)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {r["feuille"] for r in rows} >= {
        "Registre des activités de traitement",
        "Fiche newsletter",
    }
    out = tmp_path / "registre.json"
    result = run(
        ["register", "--controller", "ville-exemple", "--format", "json", "-o", str(out)], env
    )
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text(encoding="utf-8"))["format"] == "parvis-art30-register/v1"
    assert "unknown" in one_line_error(
        run(["register", "--controller", "unknown", "--format", "csv"], env)
    )
    assert "csv, json or ods" in one_line_error(
        run(["register", "--controller", "ville-exemple", "--format", "xlsx"], env)
    )
    workbook = tmp_path / "registre.ods"
    result = run(
        ["register", "--controller", "ville-exemple", "--format", "ods", "-o", str(workbook)], env
    )
    assert result.exit_code == 0, result.output
    sheets = read_ods(workbook.read_bytes())
    as_csv = run(["register", "--controller", "ville-exemple"], env).stdout
    csv_rows = list(csv.reader(io.StringIO(as_csv)))[1:]
    assert list(sheets) == list(dict.fromkeys(r[0] for r in csv_rows))

    def fields(rows: list[list[str]]) -> list[list[str]]:
        # the two exports were generated a moment apart: their edition times differ
        return [r for r in rows if r[2] != "Date d'édition"]

    for name, rows in sheets.items():
        assert rows[0] == ["rubrique", "élément", "champ", "valeur"]
        assert fields(rows[1:]) == fields([r[1:] for r in csv_rows if r[0] == name])


def test_load_refuses_a_bad_file_without_writing(env: dict[str, str], tmp_path: Path) -> None:
    doc = catalogue()
    doc["controllers"][0]["purposes"][1]["legal_basis_detail"] = ""
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc), encoding="utf-8")
    assert "Art. 6(3)" in one_line_error(run(["load", str(bad)], env))
    garbage = tmp_path / "garbage.yaml"
    garbage.write_text("controllers: [\n  {id: x", encoding="utf-8")
    assert "not valid YAML" in one_line_error(run(["load", str(garbage)], env))
    result = run(["register", "--controller", "ville-exemple"], env)
    assert "no controller" in one_line_error(result)  # nothing was written


def test_add_client_and_purge(loaded: Path, env: dict[str, str]) -> None:
    result = run(
        [
            "add-client",
            "--controller",
            "ville-exemple",
            "--id",
            "decidim",
            "--webhook",
            "http://127.0.0.1:9/h",
        ],
        env,
    )
    assert result.exit_code == 0, result.output
    # A link, not a key (ADR 0007): nothing secret is printed, the next step is named.
    assert "platform decidim acts for controller ville-exemple" in result.stdout
    assert "parvis client create decidim" in result.stdout
    assert "--scope api:consent" in result.stdout
    assert "decidim." not in result.stdout
    assert "already exists" in one_line_error(
        run(["add-client", "--controller", "ville-exemple", "--id", "decidim"], env)
    )
    dry = run(["purge", "--dry-run"], env)
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["dry_run"] is True
    real = run(["purge"], env)
    assert json.loads(real.stdout)["total"] == 0


def test_retire_key_of_a_legacy_platform(
    loaded: Path, env: dict[str, str], settings: Settings
) -> None:
    """A key minted before the switch (``create_client``) gets a new sunset or is removed."""
    from consent.clients import create_client
    from consent.tables import ApiClientRow

    ctx = build_context(settings)
    try:
        with ctx.db.write_session() as session:
            create_client(
                ctx,
                session,
                client_id="cap-collectif",
                controller_id="ville-exemple",
                name="CAP",
                actor="staff:admin",
            )
        moved = run(
            ["retire-key", "--id", "cap-collectif", "--at", "2099-01-31T00:00:00+00:00"], env
        )
        assert moved.exit_code == 0, moved.output
        assert "stops working at 2099-01-31T00:00:00+00:00" in moved.stdout
        assert "timezone" in one_line_error(
            run(["retire-key", "--id", "cap-collectif", "--at", "2099-01-31T00:00:00"], env)
        )
        assert "ISO 8601" in one_line_error(
            run(["retire-key", "--id", "cap-collectif", "--at", "soon"], env)
        )
        assert "no API client" in one_line_error(run(["retire-key", "--id", "nobody"], env))
        with ctx.db.read_session() as session:
            row = session.get(ApiClientRow, "cap-collectif")
            assert row is not None
            assert row.api_key_hash is not None
        removed = run(["retire-key", "--id", "cap-collectif"], env)
        assert removed.exit_code == 0, removed.output
        assert "has no API key any more" in removed.stdout
        with ctx.db.read_session() as session:
            row = session.get(ApiClientRow, "cap-collectif")
            assert row is not None
            assert row.api_key_hash is None
            assert row.api_key_sunset_at is None
            assert row.revoked_at is None  # the link stays: only the key is gone
    finally:
        ctx.db.dispose()


def test_verify_receipt_offline(
    loaded: Path, env: dict[str, str], settings: Settings, tmp_path: Path
) -> None:
    ctx = build_context(settings)
    service = service_from(ctx)
    with ctx.db.write_session() as session:
        notice = service.current_notice(session, "ville-exemple", "fr")
        assert notice is not None
        recorded = service.record(
            session,
            subject="alice",
            purpose_id="newsletter",
            status=Status.GIVEN,
            actor=Actor(ActorKind.SUBJECT),
            method=Method.WEB_FORM,
            interface="parvis:test",
            notice_id=notice.id,
        )
        raw = service.receipt_document(session, "alice", recorded.receipt_id)
    ctx.db.dispose()
    good = tmp_path / "recu.json"
    good.write_bytes(raw)
    result = run(["verify-receipt", str(good)], env)
    assert result.exit_code == 0, result.output
    assert "verifies: given for purpose newsletter" in result.stdout
    key_file = tmp_path / "key.json"
    key_file.write_text(run(["receipt-key"], env).stdout, encoding="utf-8")
    result = run(["verify-receipt", str(good), "--public-key", str(key_file)], env)
    assert result.exit_code == 0, result.output
    document = json.loads(raw)
    document["record"]["events"][0]["event_time"] = "2025-01-01T00:00:00Z"  # back-dated
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(document), encoding="utf-8")
    assert "modified or forged" in one_line_error(run(["verify-receipt", str(tampered)], env))
    other = {**env, "PARVIS_SECRET_KEY": "another-installation-secret-0123456789"}
    assert "not a published" in one_line_error(run(["verify-receipt", str(good)], other))
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json", encoding="utf-8")
    assert "not valid UTF-8 JSON" in one_line_error(run(["verify-receipt", str(garbage)], env))
    assert "No such file" in one_line_error(
        run(["verify-receipt", str(tmp_path / "none.json")], env)
    )
