"""``parvis election ceremony …`` (docs/adr/0018-encrypted-elections.md): the officer starts
the ceremony, imports the ``ceremony.json`` the trustees made, and opens; refusals are one
line. The last test runs the real ``parvis-trustee`` tool (sealed files, Argon2id) for two
trustees against the files the server gives and takes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import identity
from ballot import trustee
from ballot.ceremony_local import new_static_keys, run_ceremony
from ballot.service import service_from
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from parvis.kernel.principal import Staff
from tests.ballot.elections import setup_rule
from tests.ballot.encrypted import encrypted_definition, make_trustees
from tests.ballot.test_cli_and_server import context, one_line_error, run


def _env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "PARVIS_MODE": "test",
        "PARVIS_DATABASE_URL": database_url,
        "PARVIS_DATA_DIR": str(tmp_path / "var"),
    }


@pytest.fixture
def contexts() -> Iterator[list[AppContext]]:
    """The contexts a test made, closed at its end (database pools, committer threads)."""
    made: list[AppContext] = []
    yield made
    for ctx in made:
        service_from(ctx).committer.stop()
        ctx.db.dispose()


def _scheduled(
    env: dict[str, str], tmp_path: Path, n: int, threshold: int, contexts: list[AppContext]
) -> tuple[str, AppContext]:
    ctx = context(env)
    contexts.append(ctx)
    setup_rule(ctx)
    trustees = make_trustees(ctx, n)
    spec = encrypted_definition(FixedClock(), trustees, threshold=threshold)
    spec["opens_at"] = "2020-01-01T00:00:00Z"
    spec["closes_at"] = "2099-01-01T00:00:00Z"
    source = tmp_path / "election.yaml"
    source.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    created = run(["election", "create", str(source), "--schedule"], env)
    assert created.exit_code == 0, created.output
    return str(spec["id"]), ctx


def test_ceremony_cli(database_url: str, tmp_path: Path, contexts: list[AppContext]) -> None:
    env = _env(database_url, tmp_path)
    election, ctx = _scheduled(env, tmp_path, 3, 2, contexts)
    assert "step keys" in run(["election", "ceremony", "status", election], env).output
    assert "ceremony is complete" in one_line_error(run(["election", "open", election], env))
    assert "3 trustees have not registered" in one_line_error(
        run(["election", "ceremony", "start", election], env)
    )
    statics = new_static_keys(3)
    keys = [arg for s in statics for arg in ("--static-key", s.public.encoded.hex())]
    setup_file = tmp_path / "setup.json"
    started = run(["election", "ceremony", "start", election, *keys, "--out", str(setup_file)], env)
    assert started.exit_code == 0, started.output
    setup = json.loads(setup_file.read_text())
    assert setup["format"] == "parvis-dkg-setup-v1"

    ceremony = run_ceremony(setup, statics)
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({**ceremony.document, "signatures": []}))
    assert "lacks 3 of 3 signatures" in one_line_error(
        run(["election", "ceremony", "import", election, str(broken)], env)
    )
    assert "not JSON" in one_line_error(
        run(["election", "ceremony", "import", election, str(tmp_path / "election.yaml")], env)
    )
    good = tmp_path / "ceremony.json"
    good.write_text(json.dumps(ceremony.document))
    imported = run(["election", "ceremony", "import", election, str(good)], env)
    assert imported.exit_code == 0, imported.output
    assert "step complete" in imported.output
    status = run(["election", "ceremony", "status", election], env).output
    assert "1. Mairie: key, round 1, signed" in status
    exported = tmp_path / "exported.json"
    assert (
        run(["election", "ceremony", "export", election, "ceremony", "--out", str(exported)], env)
    ).exit_code == 0
    assert json.loads(exported.read_text()) == ceremony.document
    assert run(["election", "open", election], env).exit_code == 0
    with ctx.db.read_session() as db:
        assert service_from(ctx).manifest(db, election)["format"] == "parvis-manifest-v2"


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
def test_the_real_trustee_tool_against_the_server(
    database_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    contexts: list[AppContext],
) -> None:
    """Two trustees with ``parvis-trustee`` (sealed files at MODERATE cost, hence SQLite
    only): the server's setup.json and round1s.json are what the tool reads, the tool's
    files are what the server accepts, byte for byte."""
    env = _env(database_url, tmp_path)
    election, ctx = _scheduled(env, tmp_path, 2, 2, contexts)
    service = service_from(ctx)
    with ctx.db.read_session() as db:
        definition = service.definition(service.get(db, election))
    passphrase = tmp_path / "passphrase"
    passphrase.write_text("correct horse battery staple\n")
    tool = ["--passphrase-file", str(passphrase)]
    people = _principals(ctx, [t.staff for t in definition.trustees])
    assert len(people) == 2
    for i, staff in enumerate(people, 1):
        key = tmp_path / f"key-{i}.sealed"
        capsys.readouterr()
        assert trustee.main([*tool, "keygen", "--election", election, "--out", str(key)]) == 0
        printed = capsys.readouterr().out.strip()
        assert printed.startswith("static key: ")
        service.register_static_key(
            election_id=election, staff=staff, static_key=printed.removeprefix("static key: ")
        )
    setup_file = tmp_path / "setup.json"
    assert (
        run(["election", "ceremony", "start", election, "--out", str(setup_file)], env).exit_code
        == 0
    )
    for i, staff in enumerate(people, 1):
        out = tmp_path / f"round1-{i}.json"
        args = ["round1", "--config", str(setup_file), "--key", str(tmp_path / f"key-{i}.sealed")]
        assert trustee.main([*tool, *args, "--out", str(out)]) == 0
        service.submit_round1(
            election_id=election, staff=staff, document=json.loads(out.read_text())
        )
    round1s = tmp_path / "round1s.json"
    assert (
        run(
            ["election", "ceremony", "export", election, "round1s", "--out", str(round1s)], env
        ).exit_code
        == 0
    )
    for i, staff in enumerate(people, 1):
        share = tmp_path / f"share-{i}.sealed"
        key = tmp_path / f"key-{i}.sealed"
        args = ["round2", "--transcript", str(round1s), "--key", str(key), "--out", str(share)]
        assert trustee.main([*tool, *args]) == 0
        out = tmp_path / f"signature-{i}.json"
        args = ["round3", "--transcript", str(round1s), "--share", str(share), "--out", str(out)]
        assert trustee.main([*tool, *args]) == 0
        service.submit_signature(
            election_id=election, staff=staff, document=json.loads(out.read_text())
        )
    ceremony = tmp_path / "ceremony.json"
    assert (
        run(
            ["election", "ceremony", "export", election, "ceremony", "--out", str(ceremony)], env
        ).exit_code
        == 0
    )
    assert trustee.main(["check", "--ceremony", str(ceremony)]) == 0
    assert run(["election", "open", election], env).exit_code == 0


def _principals(ctx: AppContext, emails: list[str]) -> list[Staff]:
    accounts = identity.staff_service_from(ctx)
    with ctx.db.read_session() as db:
        found = [accounts.find(db, email=email) for email in emails]
    return [f for f in found if f is not None]
