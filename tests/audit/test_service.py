"""The audit service on SQLite and PostgreSQL: recording, sequencing, proofs, queries, keys.

audit-log.md, "Sequencing" and "Content"; ADR 0003. Every proof is checked with the RFC 9162
verifiers of
:mod:`audit.merkle` against a checkpoint verified with :func:`audit.note.open_checkpoint`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from audit import (
    AuditService,
    LogConflictError,
    LogKeyError,
    UnknownLogError,
    merkle,
    open_promise,
)
from audit.errors import (
    EventError,
    LogNameError,
    RangeTooLargeError,
    TreeRangeError,
)
from audit.events import EventLeaf
from audit.note import Signer, VerifierKey, open_checkpoint
from audit.service import service_from
from audit.tables import CheckpointRow, DetailRow
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext, build_context
from tests.audit.conftest import record_many

MakeService = Callable[..., tuple[AppContext, AuditService]]


@pytest.fixture
def make_service(make_settings: Any, clock: FixedClock) -> Iterator[MakeService]:
    made: list[AppContext] = []

    def factory(**overrides: Any) -> tuple[AppContext, AuditService]:
        context = build_context(make_settings(**overrides), clock=clock)
        made.append(context)
        return context, service_from(context)

    yield factory
    for context in made:
        context.db.dispose()


def verified_root(service: AuditService, ctx: AppContext, log: str = "audit") -> tuple[int, bytes]:
    with ctx.db.read_session() as session:
        key = service.verifier(session, log=log)
        note = service.checkpoint(session, log=log)
    checkpoint = open_checkpoint(note, origin=key.name, log_key=key).checkpoint
    return checkpoint.size, checkpoint.root_hash


def test_queue_then_dense_indexes_and_one_checkpoint_per_batch(make_service: MakeService) -> None:
    ctx, service = make_service(audit_batch_size=4)
    record_many(service, ctx, 10)
    with ctx.db.read_session() as session:
        pending = service.query(session)
    assert [e.index for e in pending] == [None] * 10
    assert verified_root(service, ctx)[0] == 0

    assert service.integrate() == 10
    assert service.integrate() == 0
    with ctx.db.read_session() as session:
        events = service.query(session)
        sizes = session.execute(select(CheckpointRow.size).order_by(CheckpointRow.size)).scalars()
        assert list(sizes) == [0, 4, 8, 10]  # batches of at most 4, one checkpoint each
    assert [e.index for e in events] == list(range(10))
    assert [e.details for e in events] == [{"i": i} for i in range(10)]


def test_proofs_verify_against_every_checkpoint(make_service: MakeService) -> None:
    # 300 entries in batches of 64 store level-4 and level-8 nodes and leave a ragged edge.
    ctx, service = make_service(audit_batch_size=64)
    data = [f"entry {i}".encode() for i in range(300)]
    leaves = [merkle.leaf_hash(d) for d in data]
    with ctx.db.write_session() as session:
        service.append_many(session, log="audit", data=data)
    service.integrate()
    size, root = verified_root(service, ctx)
    assert (size, root) == (300, merkle.root(leaves))
    with ctx.db.read_session() as session:
        notes = list(session.execute(select(CheckpointRow.size, CheckpointRow.root_hash)))
        assert [n for n, _ in notes] == [0, 64, 128, 192, 256, 300]
        for n, stored_root in notes[1:]:
            root_n = bytes(stored_root)
            assert service.root(session, log="audit", size=n) == root_n
            assert root_n == merkle.root(leaves[:n])
            for index in {0, 1, 15, 16, 17, 255, n // 2, n - 1}:
                if index >= n:
                    continue
                proof = service.inclusion_proof(session, log="audit", index=index, size=n)
                assert proof.leaf_hash == leaves[index]
                merkle.verify_inclusion(
                    leaf_hash=leaves[index], index=index, size=n, proof=proof.proof, root=root_n
                )
                assert len(proof.proof) <= (n - 1).bit_length()
        for m in (1, 2, 3, 16, 17, 64, 100, 255, 256, 257, 299, 300):
            for n in (m, 257, 300):
                if m > n:
                    continue
                link = service.consistency_proof(session, log="audit", first=m, second=n)
                merkle.verify_consistency(
                    size1=m,
                    size2=n,
                    root1=merkle.root(leaves[:m]),
                    root2=merkle.root(leaves[:n]),
                    proof=link.proof,
                )
        entries = service.entries(session, log="audit", start=250, end=300)
    assert [e.data for e in entries] == data[250:]
    assert [e.leaf_hash for e in entries] == leaves[250:]


def test_range_errors(service: AuditService, ctx: AppContext) -> None:
    record_many(service, ctx, 5)
    service.integrate()
    with ctx.db.read_session() as session:
        for call in (
            lambda: service.inclusion_proof(session, log="audit", index=5),
            lambda: service.inclusion_proof(session, log="audit", index=0, size=6),
            lambda: service.inclusion_proof(session, log="audit", index=-1),
            lambda: service.consistency_proof(session, log="audit", first=0, second=5),
            lambda: service.consistency_proof(session, log="audit", first=4, second=3),
            lambda: service.consistency_proof(session, log="audit", first=1, second=6),
            lambda: service.entries(session, log="audit", start=3, end=6),
            lambda: service.entries(session, log="audit", start=4, end=3),
        ):
            with pytest.raises(TreeRangeError):
                call()
        with pytest.raises(RangeTooLargeError):
            service.query(session, limit=1001)


def test_record_commits_with_the_callers_transaction(
    service: AuditService, ctx: AppContext
) -> None:
    class DomainFailureError(Exception):
        pass

    def failing_use_case() -> None:
        with ctx.db.write_session() as session:
            service.record(session, event_type="consent.given", actor="system", subject="s")
            raise DomainFailureError

    with pytest.raises(DomainFailureError):
        failing_use_case()
    with ctx.db.read_session() as session:
        assert service.query(session) == []
    assert service.integrate() == 0


def test_event_leaf_commits_to_salted_details_and_erasure_keeps_the_tree(
    service: AuditService, ctx: AppContext, clock: FixedClock
) -> None:
    clock.current = datetime(2026, 1, 15, 9, 41, 27, 123456, tzinfo=UTC)
    with ctx.db.write_session() as session:
        service.record(
            session,
            event_type="identity.read",
            actor="staff:agent-7",
            subject="pseudo-A",
            purpose="residency",
            details={"fields": ["birth_year"]},
        )
        service.record(session, event_type="identity.read", actor="staff:agent-7", subject="B")
    service.integrate()
    size, root = verified_root(service, ctx)
    with ctx.db.read_session() as session:
        first, second = service.query(session)
        entry = service.entries(session, log="audit", start=0, end=1)[0]
        salt = session.execute(
            select(DetailRow.salt).where(DetailRow.leaf_hash == first.leaf_hash)
        ).scalar_one()
    # The leaf holds pseudonyms, the coarse time and a salted hash; never the details.
    leaf = EventLeaf.decode(entry.data)
    assert b"birth_year" not in entry.data
    assert leaf.time == datetime(2026, 1, 15, 9, 41, tzinfo=UTC) == first.time
    assert (leaf.actor, leaf.subject, leaf.purpose) == ("staff:agent-7", "pseudo-A", "residency")
    expected = hmac.new(bytes(salt), b'{"fields":["birth_year"]}', hashlib.sha256).digest()
    assert leaf.commitment == expected
    assert second.details is None  # recorded without details

    with ctx.db.write_session() as session:
        assert service.erase_subject_details(session, subject="pseudo-A") == 1
    with ctx.db.read_session() as session:
        erased, kept = service.query(session)
        assert erased.details is None
        assert erased.index == 0
        assert kept.subject == "B"
        assert session.execute(select(DetailRow.leaf_hash)).scalars().all() == [kept.leaf_hash]
        proof = service.inclusion_proof(session, log="audit", index=0)
    merkle.verify_inclusion(
        leaf_hash=merkle.leaf_hash(entry.data), index=0, size=size, proof=proof.proof, root=root
    )


def test_every_event_leaf_is_unique(service: AuditService, ctx: AppContext) -> None:
    # Same type, actor, subject and minute: the per-event salt still makes two leaves.
    record_many(service, ctx, 2, subject="same")
    with ctx.db.read_session() as session:
        a, b = service.query(session)
    assert a.leaf_hash != b.leaf_hash


def test_query_filters(service: AuditService, ctx: AppContext, clock: FixedClock) -> None:
    start = clock.now()
    with ctx.db.write_session() as session:
        for minute, (event_type, actor, subject, purpose) in enumerate(
            [
                ("consent.given", "citizen:a", "a", "newsletter"),
                ("consent.withdrawn", "citizen:a", "a", "newsletter"),
                ("identity.read", "staff:1", "a", "residency"),
                ("identity.read", "staff:1", "b", "residency"),
            ]
        ):
            clock.current = start + timedelta(minutes=minute)
            service.record(
                session, event_type=event_type, actor=actor, subject=subject, purpose=purpose
            )
    service.integrate()

    def types(**filters: Any) -> list[str]:
        with ctx.db.read_session() as session:
            return [e.event_type for e in service.query(session, **filters)]

    assert types(subject="a") == ["consent.given", "consent.withdrawn", "identity.read"]
    assert types(actor="staff:1", subject="b") == ["identity.read"]
    assert types(purpose="newsletter", event_type="consent.withdrawn") == ["consent.withdrawn"]
    assert types(since=start + timedelta(minutes=1), until=start + timedelta(minutes=3)) == [
        "consent.withdrawn",
        "identity.read",
    ]
    assert types(limit=2, offset=1) == ["consent.withdrawn", "identity.read"]
    assert types(subject="nobody") == []
    with pytest.raises(EventError):
        types(since=datetime(2026, 1, 1))  # naive


def test_promise_is_signed_and_leads_to_the_proof(
    service: AuditService, ctx: AppContext, clock: FixedClock
) -> None:
    with ctx.db.write_session() as session:
        promise = service.record(session, event_type="dpo.inspection", actor="staff:dpo")
        key = service.verifier(session, log="audit")
    body = open_promise(
        promise.note, log_key=key, origin=promise.origin, leaf_hash=promise.leaf_hash
    )
    assert promise.integrate_by == clock.now() + timedelta(seconds=60)
    assert body.integrate_by == int(promise.integrate_by.timestamp())
    assert promise.note == promise.note  # deterministic, signed once
    assert "_sign" not in repr(promise)
    service.integrate()
    size, root = verified_root(service, ctx)
    with ctx.db.read_session() as session:
        index = service.index_of(session, log="audit", leaf_hash=promise.leaf_hash)
        proof = service.inclusion_proof(session, log="audit", index=index)
    merkle.verify_inclusion(
        leaf_hash=promise.leaf_hash, index=index, size=size, proof=proof.proof, root=root
    )


def test_raw_entries_and_named_logs(service: AuditService, ctx: AppContext) -> None:
    with ctx.db.write_session() as session:
        info = service.ensure_log(session, name="board-2026", public=True)
        again = service.ensure_log(session, name="board-2026", public=True)
        promise = service.append(session, log="board-2026", data=b'{"ballot":1}')
    assert info == again
    assert info.origin == "127.0.0.1:8000/board-2026"
    assert VerifierKey.parse(info.verifier_key).name == info.origin
    assert promise.leaf_hash == hashlib.sha256(b'\x00{"ballot":1}').digest()
    assert service.integrate(log="board-2026") == 1
    with ctx.db.read_session() as session:
        assert service.entries(session, log="board-2026", start=0, end=1)[0].data == (
            b'{"ballot":1}'
        )
        assert service.head(session, log="audit").size == 0  # logs are separate trees
        with pytest.raises(LogConflictError):
            service.ensure_log(session, name="board-2026", public=False)
        with pytest.raises(UnknownLogError):
            service.checkpoint(session, log="board-2027")
        with pytest.raises(UnknownLogError):
            service.append(session, log="board-2027", data=b"x")
        with pytest.raises(LogNameError):
            service.ensure_log(session, name="../etc", public=True)
        with pytest.raises(EventError):
            service.append_many(session, log="board-2026", data=b"not a list")  # type: ignore[arg-type]


def test_key_file_is_private_reused_and_never_shown(
    make_service: MakeService, settings: Any
) -> None:
    ctx, service = make_service()
    with ctx.db.write_session() as session:
        info = service.log_info(session, log="audit")
    path = Path(settings.data_dir) / "keys" / "log-audit.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    signer = Signer.parse(path.read_text().strip())
    assert signer.verifier.text == info.verifier_key
    secret = signer.secret_text().split("+", 4)[4]  # base64(type || seed)
    assert secret not in repr(service.keys)
    assert secret not in repr(signer)

    # Another process (context) signs with the same key.
    ctx2, service2 = make_service()
    record_many(service2, ctx2, 1)
    assert service2.integrate() == 1
    size, _root = verified_root(service, ctx)
    assert size == 1

    # Queueing needs no key; signing (promise notes, checkpoints) needs the right one.
    os.chmod(path, 0o644)
    _ctx3, service3 = make_service()
    with ctx.db.write_session() as session:
        promise = service3.record(session, event_type="x", actor="system")
    with pytest.raises(LogKeyError, match="chmod 600"):
        _ = promise.note
    with pytest.raises(LogKeyError, match="chmod 600"):
        service3.integrate()
    os.chmod(path, 0o600)

    good = path.read_text()
    path.write_text(Signer(name=info.origin, seed=bytes(32)).secret_text() + "\n")
    _ctx4, service4 = make_service()
    with pytest.raises(LogKeyError, match="does not match"):
        service4.integrate()

    path.unlink()
    _ctx5, service5 = make_service()
    with pytest.raises(LogKeyError, match="no signing key"):
        service5.integrate()
    assert verified_root(service, ctx)[0] == 1  # nothing was signed with a wrong key

    path.write_text(good)
    os.chmod(path, 0o600)
    assert service.integrate() == 1
    assert verified_root(service, ctx)[0] == 2


def test_key_from_settings(make_service: MakeService, settings: Any) -> None:
    signer = Signer(name="127.0.0.1:8000/audit", seed=bytes(range(32)))
    ctx, service = make_service(audit_secret_keys=signer.secret_text())
    with ctx.db.write_session() as session:
        assert service.log_info(session, log="audit").verifier_key == signer.verifier.text
    assert not (Path(settings.data_dir) / "keys").exists()
    assert signer.secret_text() not in repr(ctx.settings)
    with pytest.raises(LogKeyError, match="key number 1"):
        make_service(audit_secret_keys="PRIVATE+KEY+nonsense")


def test_sqlite_times_come_back_aware(service: AuditService, ctx: AppContext) -> None:
    record_many(service, ctx, 1)
    with ctx.db.read_session() as session:
        (event,) = service.query(session)
        created = session.execute(text("SELECT count(*) FROM audit_logs")).scalar_one()
    assert event.time.tzinfo is not None
    assert created == 1
