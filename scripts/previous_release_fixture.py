"""Write ``tests/upgrade/previous_release.json``: a database filled by the PREVIOUS release.

Run with the previous release's code first on the path (the release before the migrations
``ballot_0003``, ``ballot_0004``, ``identity_0003`` and ``kernel_0002``: commit ``c35b6d9``),
so that every row is written by that release's services, at its migration heads::

    mkdir /tmp/prev && git archive c35b6d9 | tar -x -C /tmp/prev
    PYTHONPATH=/tmp/prev python scripts/previous_release_fixture.py \
        tests/upgrade/previous_release.json

What it writes: an open election with three ballots on its board (their receipts), a citizen
with a sealed vault attribute, a consent register and a consent given, and every audit entry
those wrote; then every table's rows, typed (bytes, datetimes, dates tagged), and the data
directory's files (the audit logs' signing keys, test-only). ``tests/upgrade/test_upgrade.py``
loads it into a database at the previous heads, on SQLite and PostgreSQL, and upgrades it.
"""

from __future__ import annotations

import base64
import json
import sys
import tempfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from consent import service_from as consent_service
from consent.ledger import Actor, ActorKind, Method, Status
from consent.loader import load_document
from identity.vault import AttributeVault
from parvis import migrate
from parvis.app import create_app
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from parvis.kernel.settings import load_settings
from tests.ballot.elections import make_citizen, open_election, setup_rule, voters
from tests.consent.conftest import DPO, register_document

CHOICES = [
    {"parc": "gare", "budget": ["jardin"]},
    {"parc": "tilleuls", "budget": ["velos", "bancs"]},
    {"parc": "gare", "budget": []},
]


def _tag(value: Any) -> Any:
    if isinstance(value, bytes | memoryview):
        return {"$b": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, date):
        return {"$d": value.isoformat()}
    return value


def _fill(ctx: AppContext, client: TestClient, clock: FixedClock) -> dict[str, Any]:
    setup_rule(ctx)
    election = open_election(ctx, clock)
    receipts = []
    for voter, choices in zip(voters(ctx, client, election, len(CHOICES)), CHOICES, strict=True):
        voter.obtain_right()
        receipts.append(voter.vote(choices))
    citizen = make_citizen(ctx)
    consents = consent_service(ctx)
    with ctx.db.write_session() as session:
        AttributeVault(ctx).put(session, citizen, "birthdate", b"1980-05-17")
        load_document(ctx, session, register_document(), actor=DPO)
    with ctx.db.read_session() as session:
        notice = consents.current_notice(session, "ville-exemple", "fr")
        assert notice is not None
    with ctx.db.write_session() as session:
        consents.record(
            session,
            subject=citizen,
            purpose_id="newsletter",
            status=Status.GIVEN,
            actor=Actor(ActorKind.SUBJECT),
            method=Method.WEB_FORM,
            interface="parvis:privacy-page",
            notice_id=notice.id,
        )
    return {
        "election": election,
        "choices": CHOICES,
        "receipts": receipts,
        "citizen": citizen,
        "clock": clock.now().isoformat(),
    }


def main(out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/previous.sqlite3"
        data_dir = Path(tmp) / "var"
        settings = load_settings(mode="test", database_url=url, data_dir=data_dir)
        migrate.upgrade(url)
        clock = FixedClock()
        app = create_app(settings, clock=clock)
        with TestClient(app, base_url="http://127.0.0.1") as client:
            expect = _fill(app.state.ctx, client, clock)
        app.state.ctx.db.dispose()
        engine = sa.create_engine(url)
        meta = sa.MetaData()
        meta.reflect(engine)
        tables: dict[str, list[dict[str, Any]]] = {}
        with engine.connect() as conn:
            heads = sorted(r[0] for r in conn.execute(sa.text("SELECT * FROM alembic_version")))
            for table in meta.sorted_tables:
                if table.name == "alembic_version":
                    continue
                rows = conn.execute(sa.select(table)).mappings().all()
                tables[table.name] = [{k: _tag(v) for k, v in row.items()} for row in rows]
        engine.dispose()
        files = {
            str(path.relative_to(data_dir)): base64.b64encode(path.read_bytes()).decode()
            for path in sorted(data_dir.rglob("*"))
            if path.is_file()
        }
    document = {"heads": heads, "expect": expect, "tables": tables, "data_dir": files}
    out.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
    print(f"{out}: heads {', '.join(heads)}; {sum(map(len, tables.values()))} rows")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
