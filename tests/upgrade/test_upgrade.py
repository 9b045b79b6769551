"""Upgrades: a database the previous release filled, upgraded by `parvis db upgrade`, goes on.

``previous_release.json`` holds every row the previous release's own services wrote (an open
election with three ballots on its board, citizens, a vault attribute, a consent register and
a consent given, their audit entries), at that release's migration heads, with its data
directory's log keys; ``scripts/previous_release_fixture.py`` says how it was made. Here it is
loaded into a database at those heads, on both engines; then the current code's upgrade runs
and the current services use the data: receipts are found, the vault and the consent open, a
new ballot is cast, the election closes, tallies, publishes, and its board verifies.

And the server refuses to start on a schema ahead of the code, as it does on one behind.
"""

from __future__ import annotations

import asyncio
import base64
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import consent
from ballot.manifest import Manifest
from ballot.service import service_from
from ballot.verify import verify_board
from identity.vault import AttributeVault
from parvis import migrate
from parvis.app import create_app
from parvis.cli import build_cli
from parvis.kernel.clock import FixedClock
from parvis.kernel.db import make_engine
from parvis.kernel.settings import Settings, load_settings
from parvis.migrate import SchemaBehindError
from tests.ballot.elections import fetch_receipt, integrate, later, voters

FIXTURE = Path(__file__).with_name("previous_release.json")
#: The heads of the release before this one's migrations (ballot_0003, ballot_0004,
#: identity_0003, kernel_0002).
PREVIOUS_HEADS = [
    "0001_kernel",
    "audit_0002",
    "ballot_0002",
    "consent_0002",
    "identity_0002",
    "identity_0100",
]


def _untag(value: Any) -> Any:
    if isinstance(value, dict) and len(value) == 1:
        ((tag, text),) = value.items()
        if tag == "$b":
            return base64.b64decode(text)
        if tag == "$dt":
            at = datetime.fromisoformat(text)
            return at if at.tzinfo is not None else at.replace(tzinfo=UTC)  # stored as UTC
        if tag == "$d":
            return date.fromisoformat(text)
    return value


def _row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: _untag(v) for k, v in row.items()}


def _insert(table: sa.Table, dialect: str) -> Any:
    """An INSERT keeping the rows' ids: PostgreSQL identity columns are ``GENERATED ALWAYS``,
    so it needs ``OVERRIDING SYSTEM VALUE`` (which SQLAlchemy Core cannot spell)."""
    if dialect != "postgresql":
        return table.insert()
    names = [c.name for c in table.columns]
    columns = ", ".join(f'"{n}"' for n in names)
    values = ", ".join(f":{n}" for n in names)
    sql = f'INSERT INTO "{table.name}" ({columns}) OVERRIDING SYSTEM VALUE VALUES ({values})'
    return sa.text(sql).bindparams(*(sa.bindparam(c.name, type_=c.type) for c in table.columns))


def _load_previous_release(url: str, data_dir: Path) -> dict[str, Any]:
    """A database at the previous heads holding the previous release's rows."""
    document: dict[str, Any] = json.loads(FIXTURE.read_text())
    assert document["heads"] == PREVIOUS_HEADS
    for head in PREVIOUS_HEADS:
        migrate.upgrade(url, head)
    assert sorted(migrate.schema_status(url).current) == PREVIOUS_HEADS
    engine = make_engine(url)
    meta = sa.MetaData()
    meta.reflect(engine)
    with engine.begin() as conn:
        for table in meta.sorted_tables:
            rows = document["tables"].get(table.name, [])
            if rows:
                conn.execute(_insert(table, engine.dialect.name), [_row(r) for r in rows])
        if engine.dialect.name == "postgresql":
            # Rows came with their ids: the sequences move past them, as the release's own
            # inserts had moved them.
            for table in meta.sorted_tables:
                for column in table.primary_key.columns:
                    seq = conn.scalar(
                        sa.text("SELECT pg_get_serial_sequence(:t, :c)"),
                        {"t": table.name, "c": column.name},
                    )
                    if seq is not None and document["tables"].get(table.name):
                        conn.execute(
                            sa.text(
                                f'SELECT setval(:s, (SELECT max("{column.name}") '
                                f'FROM "{table.name}"))'
                            ),
                            {"s": seq},
                        )
    engine.dispose()
    for name, content in document["data_dir"].items():
        path = data_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(content))
        path.chmod(0o600)  # the audit key store refuses a key others can read
    expect: dict[str, Any] = document["expect"]
    return expect


def _settings(url: str, tmp_path: Path) -> Settings:
    return load_settings(mode="test", database_url=url, data_dir=tmp_path / "var")


def test_a_previous_release_database_upgrades_and_goes_on(
    empty_database_url: str, tmp_path: Path
) -> None:
    settings = _settings(empty_database_url, tmp_path)
    expect = _load_previous_release(empty_database_url, settings.data_dir)
    assert not migrate.schema_status(empty_database_url).at_head

    result = CliRunner().invoke(
        build_cli(),
        ["db", "upgrade"],
        env={"PARVIS_MODE": "test", "PARVIS_DATABASE_URL": empty_database_url},
    )
    assert result.exit_code == 0, result.output
    assert migrate.schema_status(empty_database_url).at_head

    clock = FixedClock(datetime.fromisoformat(expect["clock"]))
    app = create_app(settings, clock=clock)
    ctx = app.state.ctx
    election: str = expect["election"]
    try:
        with TestClient(app, base_url="http://127.0.0.1") as client:
            # What the previous release wrote opens and is found.
            for receipt in expect["receipts"]:
                found = fetch_receipt(client, election, receipt["tracking_code"])
                assert found["leaf_hash"] == receipt["leaf_hash"]
            with ctx.db.read_session() as db:
                vault = AttributeVault(ctx)
                assert vault.get(db, expect["citizen"], "birthdate") == b"1980-05-17"
                check = consent.service_from(ctx).check(db, expect["citizen"], "newsletter")
                assert check.in_force, check.reason

            # The election goes on under the new code: a ballot, the close, the tally.
            voter = next(voters(ctx, client, election, 1))
            voter.obtain_right()
            voter.vote({"parc": "tilleuls", "budget": ["fresque"]})
            assert integrate(ctx) == 1
            later(clock)
            service = service_from(ctx)
            service.close(election_id=election, actor="staff:upgrade-test")
            service.tally(election_id=election, actor="staff:upgrade-test")
            service.publish(election_id=election, actor="staff:upgrade-test")
            results = client.get(f"/elections/{election}/results").json()
            assert results["ballots"] == 4
            assert results["tokens_issued"] == 4
            parc = results["results"]["questions"]["parc"]["counts"]
            assert parc["gare"] == 2
            assert parc["tilleuls"] == 2
            manifest = Manifest.from_json(client.get(f"/elections/{election}/manifest").json())
            export = client.get(f"/elections/{election}/board").json()
            report = verify_board(
                export,
                trusted_key=manifest.board_key,
                receipt=expect["receipts"][0]["tracking_code"],
            )
            assert report.counted_ballots == 4
    finally:
        ctx.db.dispose()


def _start(settings: Settings) -> None:
    app = create_app(settings)

    async def start() -> None:
        async with app.router.lifespan_context(app):
            pass

    # A thread of its own (see tests/kernel/test_migrations.py).
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, start()).result()


def test_the_server_refuses_a_schema_ahead_of_the_code(
    empty_database_url: str, tmp_path: Path
) -> None:
    """A database a newer release upgraded (a revision this code does not know)."""
    migrate.upgrade(empty_database_url)
    engine = make_engine(empty_database_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE alembic_version SET version_num = 'ballot_9999' WHERE version_num = :head"
            ),
            {"head": "ballot_0007"},
        )
    engine.dispose()
    settings = _settings(empty_database_url, tmp_path)
    with pytest.raises(SchemaBehindError, match="ahead") as raised:
        _start(settings)
    assert "\n" not in str(raised.value)
    assert "ballot_9999" in str(raised.value)

    # And the command line says the same on one line, exit 1.
    result = CliRunner().invoke(
        build_cli(),
        ["db", "current"],
        env={"PARVIS_MODE": "test", "PARVIS_DATABASE_URL": empty_database_url},
    )
    assert result.exit_code == 1
    assert "ahead" in result.output
