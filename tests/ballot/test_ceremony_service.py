"""The key ceremony of an encrypted election through the service, on SQLite and PostgreSQL
(docs/adr/0018-encrypted-elections.md; board-format.md §10.1–§10.2): the board's entries
and their order, the v2 manifest and its hashes, and every refusal leaving nothing behind."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from fastapi import FastAPI

from ballot import cocktail_dkg as dkg
from ballot.ceremony_local import new_static_keys, run_ceremony
from ballot.definition import Mode
from ballot.errors import (
    CeremonyStateError,
    ElectionStateError,
    InvalidCeremonyMessageError,
    InvalidElectionError,
    NotATrusteeError,
)
from ballot.manifest import Manifest, manifest_hash, terms_hash
from ballot.service import service_from
from ballot.trustee import verify_ceremony
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from parvis.kernel.principal import Role, Staff
from tests.ballot.elections import OFFICER, definition, open_election, setup_rule
from tests.ballot.encrypted import (
    EncryptedElection,
    make_trustees,
    scheduled_encrypted_election,
)


def board_entries(ctx: AppContext, election_id: str) -> list[dict[str, Any]]:
    service = service_from(ctx)
    service.audit.integrate(log=f"board-{election_id}")
    with ctx.db.read_session() as db:
        head = service.audit.head(db, log=f"board-{election_id}")
        return [
            json.loads(e.data)
            for e in service.audit.entries(
                db, log=f"board-{election_id}", start=0, end=head.size, reveal_sealed=True
            )
        ]


def test_an_encrypted_election_opens_after_its_ceremony(
    app: FastAPI, encrypted_election: EncryptedElection
) -> None:
    ctx: AppContext = app.state.ctx
    election = encrypted_election.election_id
    entries = board_entries(ctx, election)
    kinds = [e["kind"] for e in entries]
    assert kinds == ["dkg-setup"] + ["dkg-round1"] * 3 + ["dkg-signature"] * 3 + [
        "dkg-complete",
        "manifest",
    ]
    document = encrypted_election.ceremony.document
    # Carried verbatim: the trustee's file and the board entry are the same JSON.
    assert entries[0]["setup"] == document["setup"]
    assert [e["round1"] for e in entries[1:4]] == document["round1"]
    assert [e["signature"] for e in entries[4:7]] == document["signatures"]
    complete = entries[7]
    ceremony = encrypted_election.ceremony
    assert complete["group_key"] == ceremony.group_key.encoded.hex()
    assert complete["transcript_sha512"] == ceremony.transcript_sha512.hex()
    assert complete["verification_shares"] == [
        s.public_share.encoded.hex() for s in ceremony.shares
    ]
    assert complete["attempt"] == 1

    # The v2 manifest: the joint key, and the setup binds the hash of the terms (§10.2).
    manifest_json = entries[8]["manifest"]
    assert manifest_json["format"] == "parvis-manifest-v2"
    manifest = Manifest.from_json(manifest_json)
    assert manifest.encryption is not None
    assert manifest.encryption.joint_key == ceremony.group_key
    assert manifest.encryption.threshold == 2
    assert [t.public_share for t in manifest.encryption.trustees] == [
        s.public_share for s in ceremony.shares
    ]
    assert [t.label for t in manifest.encryption.trustees] == [
        "Mairie", "Opposition", "Société civile",
    ]  # fmt: skip
    assert bytes.fromhex(document["setup"]["manifest_hash"]) == terms_hash(manifest_json)
    assert manifest_hash(manifest_json) == manifest.hash() != terms_hash(manifest_json)

    # The service serves it as the manifest, and the status says the mode.
    service = service_from(ctx)
    with ctx.db.read_session() as db:
        assert service.manifest(db, election) == manifest_json
        status = service.status(db, service.get(db, election))
        assert status["status"] == "open"
        assert status["mode"] == "encrypted"
        assert service.ceremony_state(db, election)["step"] == "complete"
        checked = verify_ceremony(
            service.ceremony_document(db, election), where="board", certified=True
        )
    assert checked.group_key == ceremony.group_key


def test_open_is_refused_before_the_ceremony_completes(app: FastAPI, clock: FixedClock) -> None:
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    service = service_from(ctx)
    election, _ = scheduled_encrypted_election(ctx, clock)
    with pytest.raises(ElectionStateError, match="key ceremony is complete"):
        service.open(election_id=election, actor=OFFICER.audit_actor)
    statics = new_static_keys(3)
    setup = service.start_ceremony(
        election_id=election,
        actor=OFFICER.audit_actor,
        static_keys=[s.public.encoded.hex() for s in statics],
    )
    with pytest.raises(ElectionStateError, match="key ceremony is complete"):
        service.open(election_id=election, actor=OFFICER.audit_actor)
    ceremony = run_ceremony(setup, statics)
    # Round 1 alone (a ceremony without its signatures) does not complete it.
    partial = {k: v for k, v in ceremony.document.items() if k != "signatures"}
    with pytest.raises(InvalidCeremonyMessageError, match="signatures"):
        service.import_ceremony(election_id=election, document=partial, actor="staff:o")
    with pytest.raises(ElectionStateError):
        service.open(election_id=election, actor=OFFICER.audit_actor)
    assert [e["kind"] for e in board_entries(ctx, election)] == ["dkg-setup"]
    service.import_ceremony(
        election_id=election, document=ceremony.document, actor=OFFICER.audit_actor
    )
    service.open(election_id=election, actor=OFFICER.audit_actor)


def _started(ctx: AppContext, clock: FixedClock) -> tuple[str, Any, Any]:
    setup_rule(ctx)
    service = service_from(ctx)
    election, trustees = scheduled_encrypted_election(ctx, clock)
    statics = new_static_keys(3)
    setup = service.start_ceremony(
        election_id=election,
        actor=OFFICER.audit_actor,
        static_keys=[s.public.encoded.hex() for s in statics],
    )
    return election, run_ceremony(setup, statics), trustees


def _flip(hex_text: str) -> str:
    raw = bytearray(bytes.fromhex(hex_text))
    raw[-1] ^= 1
    return raw.hex()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: d["round1"][1].update(signature=_flip(d["round1"][1]["signature"])),
         "participant 2: the round-1 envelope signature does not verify"),
        (lambda d: d["round1"][0].update(sender=2), "participant order"),
        (lambda d: d["signatures"][2].update(signature=_flip(d["signatures"][2]["signature"])),
         "3"),
        (lambda d: d["setup"].update(threshold=3), "participant 1: "),
        (lambda d: d["setup"].update(attempt=2), "made for another ceremony"),
        (lambda d: d.update(signatures=d["signatures"][:2]), "lacks 1 of 3 signatures"),
    ],
)  # fmt: skip
def test_a_wrong_ceremony_is_refused_and_nothing_is_appended(
    app: FastAPI, clock: FixedClock, damage: Any, message: str
) -> None:
    ctx: AppContext = app.state.ctx
    election, ceremony, _ = _started(ctx, clock)
    document = copy.deepcopy(ceremony.document)
    damage(document)
    with pytest.raises(InvalidCeremonyMessageError, match=message):
        service_from(ctx).import_ceremony(election_id=election, document=document, actor="x")
    assert [e["kind"] for e in board_entries(ctx, election)] == ["dkg-setup"]


def test_a_ceremony_for_another_setup_is_refused(app: FastAPI, clock: FixedClock) -> None:
    ctx: AppContext = app.state.ctx
    election, _, _ = _started(ctx, clock)
    _other, ceremony, _ = _started(ctx, clock)
    with pytest.raises(InvalidCeremonyMessageError, match="not the one on the board"):
        service_from(ctx).import_ceremony(
            election_id=election, document=ceremony.document, actor="x"
        )
    assert [e["kind"] for e in board_entries(ctx, election)] == ["dkg-setup"]


def test_trustee_messages_one_by_one(app: FastAPI, clock: FixedClock) -> None:
    """The per-trustee path: each message checked on arrival; duplicates, impostors, round 1
    after the signatures began and signatures before round 1 ends are refused."""
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    service = service_from(ctx)
    election, trustees = scheduled_encrypted_election(ctx, clock)
    statics = new_static_keys(3)
    for account, static in zip(trustees, statics, strict=True):
        service.register_static_key(
            election_id=election, staff=account.principal, static_key=static.public.encoded.hex()
        )
    outsider = Staff("not-a-trustee", frozenset({Role.TRUSTEE}))
    with pytest.raises(NotATrusteeError):
        service.register_static_key(
            election_id=election, staff=outsider, static_key=statics[0].public.encoded.hex()
        )
    setup = service.start_ceremony(election_id=election, actor=OFFICER.audit_actor)
    ceremony = run_ceremony(setup, statics)
    round1, signatures = ceremony.document["round1"], ceremony.document["signatures"]
    first, second, third = (t.principal for t in trustees)

    with pytest.raises(CeremonyStateError, match="after all of them"):
        service.submit_signature(election_id=election, staff=first, document=signatures[0])
    # One trustee cannot send another's message.
    with pytest.raises(InvalidCeremonyMessageError, match="only their own"):
        service.submit_round1(election_id=election, staff=first, document=round1[1])
    bad = {**round1[0], "signature": _flip(round1[0]["signature"])}
    with pytest.raises(InvalidCeremonyMessageError, match="envelope signature"):
        service.submit_round1(election_id=election, staff=first, document=bad)
    assert service.submit_round1(election_id=election, staff=first, document=round1[0]) == 1
    other = run_ceremony(setup, statics).document["round1"][0]  # equivocation
    with pytest.raises(CeremonyStateError, match="already on the board"):
        service.submit_round1(election_id=election, staff=first, document=other)
    service.submit_round1(election_id=election, staff=second, document=round1[1])
    service.submit_round1(election_id=election, staff=third, document=round1[2])
    assert not service.submit_signature(election_id=election, staff=first, document=signatures[0])
    # Round 1 after the signatures began: refused (one message per participant, fixed).
    late = run_ceremony(setup, statics).document["round1"][2]
    with pytest.raises(CeremonyStateError, match="already on the board"):
        service.submit_round1(election_id=election, staff=third, document=late)
    with pytest.raises(InvalidCeremonyMessageError, match="only their own"):
        service.submit_signature(election_id=election, staff=second, document=signatures[2])
    wrong = {**signatures[1], "signature": _flip(signatures[1]["signature"])}
    with pytest.raises(InvalidCeremonyMessageError, match="transcript signature does not verify"):
        service.submit_signature(election_id=election, staff=second, document=wrong)
    with pytest.raises(CeremonyStateError, match="already on the board"):
        service.submit_signature(election_id=election, staff=first, document=wrong | {"signer": 1})
    assert not service.submit_signature(election_id=election, staff=second, document=signatures[1])
    assert service.submit_signature(election_id=election, staff=third, document=signatures[2])
    kinds = [e["kind"] for e in board_entries(ctx, election)]
    assert kinds == ["dkg-setup"] + ["dkg-round1"] * 3 + ["dkg-signature"] * 3 + ["dkg-complete"]
    service.open(election_id=election, actor=OFFICER.audit_actor)
    with ctx.db.read_session() as db:
        assert service.manifest(db, election)["format"] == "parvis-manifest-v2"
    # The audit trail names positions, never keys or e-mails.
    with ctx.db.read_session() as db:
        events = [
            e
            for e in service.audit.query(db, limit=1000)
            if e.event_type.startswith("ballot.ceremony.")
        ]
    assert {e.event_type for e in events} >= {
        "ballot.ceremony.static_key", "ballot.ceremony.started", "ballot.ceremony.round1",
        "ballot.ceremony.signature", "ballot.ceremony.complete",
    }  # fmt: skip
    text = json.dumps([e.details for e in events])
    for account, static in zip(trustees, statics, strict=True):
        assert account.email not in text
        assert static.public.encoded.hex() not in text


def test_a_new_attempt_after_a_trustee_disappears(app: FastAPI, clock: FixedClock) -> None:
    ctx: AppContext = app.state.ctx
    election, ceremony, _ = _started(ctx, clock)
    service = service_from(ctx)
    with pytest.raises(CeremonyStateError, match="new attempt"):
        service.start_ceremony(election_id=election, actor="x", static_keys=["00" * 32] * 3)
    assert service.new_attempt(election_id=election, actor=OFFICER.audit_actor) == 2
    # The first attempt's ceremony is for attempt 1: refused for attempt 2.
    statics = new_static_keys(3)
    setup = service.start_ceremony(
        election_id=election,
        actor=OFFICER.audit_actor,
        static_keys=[s.public.encoded.hex() for s in statics],
    )
    assert setup["attempt"] == 2
    with pytest.raises(InvalidCeremonyMessageError, match="not the one on the board"):
        service.import_ceremony(election_id=election, document=ceremony.document, actor="x")
    service.import_ceremony(
        election_id=election, document=run_ceremony(setup, statics).document, actor="x"
    )
    service.open(election_id=election, actor=OFFICER.audit_actor)
    entries = board_entries(ctx, election)
    assert [e["kind"] for e in entries].count("dkg-setup") == 2
    manifest = Manifest.from_json(entries[-1]["manifest"])
    assert manifest.encryption is not None
    assert manifest.encryption.attempt == 2


def test_schedule_refuses_trustees_without_the_role(app: FastAPI, clock: FixedClock) -> None:
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    agents = make_trustees(ctx, 1, roles=frozenset({Role.AGENT}))
    trustees = make_trustees(ctx, 1)
    service = service_from(ctx)
    from tests.ballot.encrypted import encrypted_definition

    for people, ok in ((agents, False), (trustees, True)):
        with ctx.db.write_session() as db:
            election = service.create(
                db, data=encrypted_definition(clock, people, threshold=1), actor="x"
            ).id
        if ok:
            service.schedule(election_id=election, actor="x")
        else:
            with pytest.raises(InvalidElectionError, match="trustee role"):
                service.schedule(election_id=election, actor="x")


def test_public_elections_have_no_ceremony_and_keep_v1(app: FastAPI, clock: FixedClock) -> None:
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    election = open_election(ctx, clock)
    service = service_from(ctx)
    with ctx.db.read_session() as db:
        assert service.manifest(db, election)["format"] == "parvis-manifest-v1"
        assert "encryption" not in service.manifest(db, election)
        with pytest.raises(ElectionStateError, match="no key ceremony"):
            service.ceremony_state(db, election)
    assert [e["kind"] for e in board_entries(ctx, election)] == ["manifest"]


def test_a_ceremony_signature_names_its_transcript() -> None:
    """dkg.transcript_hash is the SHA-512 of T that the signature documents carry."""
    statics = new_static_keys(2)
    from ballot.ceremony import setup_document

    setup = setup_document(
        election="0c6d1c1e-8a5b-4bd4-9f57-0a3b7f3c2d11",
        attempt=1,
        threshold=2,
        manifest_hash=bytes(32),
        participants=[("A", statics[0].public), ("B", statics[1].public)],
    )
    local = run_ceremony(setup, statics)
    assert local.document["signatures"][0]["transcript_sha512"] == (
        dkg.transcript_hash(local.ceremony.transcript).hex()
    )


def test_a_definition_stored_before_modes_reads_as_public(app: FastAPI, clock: FixedClock) -> None:
    """A database written before this change: its definitions have no ``mode``."""
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    service = service_from(ctx)
    with ctx.db.write_session() as db:
        row = service.create(db, data=definition(clock), actor="x")
        stored = json.loads(row.definition)
        del stored["mode"]
        row.definition = json.dumps(stored, sort_keys=True)
        election = row.id
    service.schedule(election_id=election, actor="x")
    service.open(election_id=election, actor="x")
    with ctx.db.read_session() as db:
        assert service.definition(service.get(db, election)).mode is Mode.PUBLIC
        assert service.manifest(db, election)["format"] == "parvis-manifest-v1"
