"""``parvis demo``'s elections (ballot/demo.py; docs/adr/0018-encrypted-elections.md, "Demo
trustees"), on SQLite and PostgreSQL: the participatory budget is encrypted, its ceremony is
run for three demo trustees whose sealed shares and passphrases land in the data directory
and open with ``parvis-trustee``'s format; the consultation stays public; a second run
changes nothing."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from ballot import demo
from ballot.manifest import Manifest
from ballot.service import service_from
from ballot.trustee import SHARE_KIND
from ballot.trustee_file import open_sealed
from identity.plugin import seed_demo as seed_identity
from parvis.kernel.context import AppContext


def test_the_demo_budget_is_encrypted_with_three_trustees(app: FastAPI) -> None:
    ctx: AppContext = app.state.ctx
    list(seed_identity(ctx))
    lines = list(demo.seed_demo(ctx))
    assert any("key ceremony of the budget done" in line for line in lines), lines
    assert sum("opened" in line for line in lines) == 2, lines
    service = service_from(ctx)
    with ctx.db.read_session() as db:
        budget = service.manifest(db, str(demo.BUDGET_ID))
        consultation = service.manifest(db, str(demo.CONSULTATION_ID))
    assert budget["format"] == "parvis-manifest-v2"
    assert consultation["format"] == "parvis-manifest-v1"
    encryption = Manifest.from_json(budget).encryption
    assert encryption is not None
    assert encryption.threshold == 2
    assert [t.label for t in encryption.trustees] == [label for label, _ in demo.DEMO_TRUSTEES]

    directory = Path(ctx.settings.data_dir) / demo.TRUSTEE_DIR
    files = sorted(p.name for p in directory.iterdir())
    assert files == sorted(
        [f"share-{i}.sealed" for i in (1, 2, 3)]
        + [f"share-{i}.passphrase" for i in (1, 2, 3)]
        + [f"garant-{i}.txt" for i in (1, 2, 3)]
    )
    for name in files:
        assert (directory / name).stat().st_mode & 0o077 == 0, name  # 0600: secrets
    # One share opens with its passphrase and is the manifest's trustee 2.
    passphrase = (directory / "share-2.passphrase").read_text().splitlines()[0]
    secret, _, _ = open_sealed((directory / "share-2.sealed").read_bytes(), passphrase)
    assert secret["kind"] == SHARE_KIND
    assert secret["index"] == 2
    assert secret["election"] == str(demo.BUDGET_ID)
    assert secret["group_key"] == encryption.joint_key.encoded.hex()
    assert secret["verification_shares"][1] == encryption.trustees[1].public_share.encoded.hex()
    assert "garant-2@demo.parvis.test" in (directory / "garant-2.txt").read_text()

    # Idempotent: nothing is made again.
    stamps = {name: (directory / name).stat().st_mtime_ns for name in files}
    again = list(demo.seed_demo(ctx))
    assert all("already open" in line for line in again), again
    assert {name: (directory / name).stat().st_mtime_ns for name in files} == stamps
    with ctx.db.read_session() as db:
        assert service.manifest(db, str(demo.BUDGET_ID)) == budget


def test_an_interrupted_demo_ceremony_starts_a_new_attempt(app: FastAPI) -> None:
    """A crash after dkg-setup (the election scheduled, the ceremony started): the next
    run abandons that attempt and completes a fresh one."""
    ctx: AppContext = app.state.ctx
    list(seed_identity(ctx))
    service = service_from(ctx)
    budget = next(d for d in demo.definitions(ctx.clock.now()) if d["id"] == str(demo.BUDGET_ID))
    list(demo._demo_trustees(ctx))
    with ctx.db.write_session() as db:
        service.create(db, data=budget, actor="system:demo")
    service.schedule(election_id=budget["id"], actor="system:demo")
    from ballot.ceremony_local import new_static_keys

    service.start_ceremony(
        election_id=budget["id"],
        actor="system:demo",
        static_keys=[s.public.encoded.hex() for s in new_static_keys(3)],
    )
    lines = list(demo.seed_demo(ctx))
    assert any("key ceremony of the budget done" in line for line in lines), lines
    with ctx.db.read_session() as db:
        manifest = Manifest.from_json(service.manifest(db, budget["id"]))
    assert manifest.encryption is not None
    assert manifest.encryption.attempt == 2
