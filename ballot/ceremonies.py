"""The key ceremony of an encrypted election, carried through its board
(docs/adr/0018-encrypted-elections.md; ADR 0012 decision 4; board-format.md §10.1).

While the election is ``scheduled``:

1. each trustee named in the definition registers the static key ``parvis-trustee keygen``
   printed (:meth:`CeremonyUseCases.register_static_key`), or the officer gives the ``n``
   keys at once (``start_ceremony(static_keys=…)``);
2. the officer starts the ceremony (:meth:`~CeremonyUseCases.start_ceremony`): the election's
   RSA issuance key and its board are made **now**, the terms of the election (the v2
   manifest without ``encryption``) are fixed, and ``dkg-setup`` — binding the terms' hash —
   is entry 0 of the board;
3. each trustee's round-1 message (:meth:`~CeremonyUseCases.submit_round1`), then, once all
   ``n`` are on the board, each transcript signature
   (:meth:`~CeremonyUseCases.submit_signature`) is checked when it arrives — a wrong one is
   refused (``invalid-ceremony-message``) and nothing is appended — and appended;
4. with the ``n``-th signature the server appends ``dkg-complete``; ``open`` then appends the
   v2 manifest, whose ``encryption`` carries the joint key.

:meth:`~CeremonyUseCases.import_ceremony` takes a complete ``parvis-dkg-ceremony-v1``
document (what a coordinator collects with ``parvis-trustee``) and runs step 3 and 4 for
every message at once, in one transaction. A ceremony that cannot finish (a trustee gone)
is abandoned with :meth:`~CeremonyUseCases.new_attempt`: its entries stay on the board and
the next ``dkg-setup`` has ``attempt`` + 1 and fresh static keys.

Messages are audited with the election, the participant's position and the attempt: never
a key, a share or an e-mail.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import rfc8785
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select
from sqlalchemy.orm import Session

import identity
from audit.merkle import leaf_hash
from ballot import rsabssa
from ballot.board import dkg_round1_entry, dkg_setup_entry, dkg_signature_entry, entry_bytes
from ballot.ceremony import (
    check_round1,
    check_signature,
    complete_entry,
    encryption_of,
    round1_document,
    setup_document,
    unsigned_ceremony,
)
from ballot.definition import ElectionDefinition, Status
from ballot.errors import (
    CeremonyStateError,
    ElectionStateError,
    InvalidCeremonyMessageError,
    NotATrusteeError,
)
from ballot.group import GroupError, Point
from ballot.keys import seal_rsa_key
from ballot.manifest import Encryption, terms_hash
from ballot.records import ElectionRecords, board_log_name
from ballot.tables import CeremonyRow, ElectionKeyRow, ElectionRow
from ballot.trustee import Ceremony, CeremonyError, Setup, verify_ceremony
from parvis.kernel.principal import Role, Staff

__all__ = ["CeremonyUseCases"]


def _keys(row: CeremonyRow) -> dict[int, str]:
    return {int(k): v for k, v in json.loads(row.static_keys).items()}


def _messages(text: str) -> dict[int, dict[str, Any]]:
    return {int(k): v for k, v in json.loads(text).items()}


def _dump(value: Mapping[Any, Any]) -> str:
    return json.dumps({str(k): v for k, v in value.items()}, sort_keys=True, ensure_ascii=False)


def _static_key(text: object, *, position: int | None = None) -> Point:
    where = f"participant {position}: " if position is not None else ""
    refusal = InvalidCeremonyMessageError(
        f"{where}a static key is the 32-byte lowercase hex key `parvis-trustee keygen` prints",
        participant=position,
    )
    if not isinstance(text, str) or text.strip() != text.strip().lower():
        raise refusal
    try:
        return Point.decode(bytes.fromhex(text.strip()))
    except (ValueError, GroupError):
        raise refusal from None


def _refused(exc: ValueError, *, position: int | None = None) -> InvalidCeremonyMessageError:
    return InvalidCeremonyMessageError(str(exc)[:500], participant=position)


class CeremonyUseCases(ElectionRecords):
    """The ceremony's use cases; :class:`ballot.service.ElectionService` inherits them."""

    # -- reading ------------------------------------------------------------------------

    def _encrypted(self, row: ElectionRow) -> ElectionDefinition:
        definition = self.definition(row)
        if not definition.encrypted:
            raise ElectionStateError(
                "a public-ballot election has no key ceremony", status=row.status
            )
        return definition

    def _ceremony_row(self, session: Session, election_id: str, *, lock: bool) -> CeremonyRow:
        query = select(CeremonyRow).where(CeremonyRow.election_id == election_id)
        if lock:
            query = query.with_for_update().execution_options(populate_existing=True)
        found = session.scalars(query).one_or_none()
        if found is None:
            raise CeremonyStateError("the key ceremony has not started")
        return found

    def _scheduled(self, row: ElectionRow) -> None:
        if row.status != Status.SCHEDULED:
            raise ElectionStateError(
                f"the key ceremony takes place while the election is scheduled; it is {row.status}",
                status=row.status,
            )

    def ceremony_state(self, session: Session, election_id: str) -> dict[str, Any]:
        """Where the ceremony stands (docs/ballot-api.md, "Key ceremony"): public facts only
        (labels, positions, counts), never an e-mail."""
        row = self._row(session, election_id)  # drafts have no ceremony yet
        definition = self._encrypted(row)
        found = session.get(CeremonyRow, row.id)
        keys = _keys(found) if found is not None else {}
        round1 = _messages(found.round1) if found is not None else {}
        signatures = _messages(found.signatures) if found is not None else {}
        if found is not None and found.complete is not None:
            step = "complete"
        elif found is None or found.setup is None:
            step = "keys"
        elif len(round1) < len(definition.trustees):
            step = "round1"
        else:
            step = "signatures"
        return {
            "election": row.id,
            "status": row.status,
            "step": step,
            "attempt": found.attempt if found is not None else 1,
            "threshold": definition.threshold,
            "trustees": [
                {
                    "position": position,
                    "label": trustee.label,
                    "static_key": keys.get(position),
                    "round1": position in round1,
                    "signature": position in signatures,
                }
                for position, trustee in enumerate(definition.trustees, 1)
            ],
            "complete": (
                json.loads(found.complete) if found is not None and found.complete else None
            ),
        }

    def trustee_position(
        self, session: Session, definition: ElectionDefinition, staff: Staff
    ) -> int:
        """The participant index of ``staff`` in the definition's trustees; refused with
        :class:`NotATrusteeError` unless they hold the trustee role and are named there."""
        if not staff.has(Role.TRUSTEE):
            raise NotATrusteeError("this needs the trustee role")
        accounts = identity.staff_service_from(self.ctx)
        for position, trustee in enumerate(definition.trustees, 1):
            found = accounts.active_by_email(session, email=trustee.staff)
            if found is not None and found.staff_id == staff.staff_id:
                return position
        raise NotATrusteeError("you are not a trustee of this election")

    def trustee_elections(self, session: Session, staff: Staff) -> list[tuple[ElectionRow, int]]:
        """The encrypted elections (not drafts) naming ``staff`` as a trustee, with their
        position: what a trustee's staff page lists."""
        out = []
        for row in session.scalars(
            select(ElectionRow)
            .where(ElectionRow.status != Status.DRAFT.value)
            .order_by(ElectionRow.opens_at.desc(), ElectionRow.id)
        ):
            definition = self.definition(row)
            if not definition.encrypted:
                continue
            try:
                out.append((row, self.trustee_position(session, definition, staff)))
            except NotATrusteeError:
                continue
        return out

    def setup_of(self, session: Session, election_id: str) -> dict[str, Any]:
        """``setup.json``: the current attempt's ``dkg-setup`` document."""
        row = self._row(session, election_id)
        self._encrypted(row)
        found = self._ceremony_row(session, row.id, lock=False)
        if found.setup is None:
            raise CeremonyStateError("the election officer has not started the ceremony yet")
        setup: dict[str, Any] = json.loads(found.setup)
        return setup

    def round1s_of(self, session: Session, election_id: str) -> dict[str, Any]:
        """``round1s.json``: the setup and the ``n`` round-1 messages as on the board."""
        row = self._row(session, election_id)
        definition = self._encrypted(row)
        found = self._ceremony_row(session, row.id, lock=False)
        round1 = _messages(found.round1)
        if found.setup is None or len(round1) < len(definition.trustees):
            raise CeremonyStateError(
                f"{len(round1)} of the {len(definition.trustees)} round-1 messages are on the "
                "board: round1s.json exists once all are"
            )
        return round1_document(json.loads(found.setup), [round1[i] for i in sorted(round1)])

    def ceremony_document(self, session: Session, election_id: str) -> dict[str, Any]:
        """``ceremony.json`` of a complete ceremony (what ``parvis-trustee check`` reads)."""
        row = self._row(session, election_id)
        self._encrypted(row)
        found = self._ceremony_row(session, row.id, lock=False)
        if found.complete is None or found.setup is None:
            raise CeremonyStateError("the key ceremony is not complete")
        return self._document(found, certified=True)

    def _document(self, found: CeremonyRow, *, certified: bool) -> dict[str, Any]:
        assert found.setup is not None
        round1 = _messages(found.round1)
        document = round1_document(json.loads(found.setup), [round1[i] for i in sorted(round1)])
        if certified:
            signatures = _messages(found.signatures)
            document["signatures"] = [signatures[i] for i in sorted(signatures)]
        return document

    def completed_ceremony(self, session: Session, election_id: str) -> Ceremony:
        """The certified ceremony of an election whose ``dkg-complete`` is on the board."""
        found = self._ceremony_row(session, election_id, lock=False)
        if found.complete is None:
            raise CeremonyStateError("the key ceremony is not complete")
        return verify_ceremony(self._document(found, certified=True), where="board", certified=True)

    def encryption(self, session: Session, election_id: str) -> Encryption:
        """The v2 manifest's ``encryption`` member from the completed ceremony."""
        return encryption_of(self.completed_ceremony(session, election_id))

    # -- static keys --------------------------------------------------------------------

    def register_static_key(self, *, election_id: str, staff: Staff, static_key: str) -> int:
        """A trustee registers the static key of ``parvis-trustee keygen`` for the next
        setup (ADR 0012 decision 3: per election and per attempt). Replacing it is allowed
        until the setup is written. Returns the trustee's position."""
        with self.ctx.db.write_session() as session:
            row = self._row(session, election_id, lock=True)
            definition = self._encrypted(row)
            self._scheduled(row)
            position = self.trustee_position(session, definition, staff)
            key = _static_key(static_key, position=position)
            found = session.get(CeremonyRow, row.id, with_for_update=True)
            if found is None:
                found = CeremonyRow(
                    election_id=row.id,
                    attempt=1,
                    static_keys="{}",
                    terms=None,
                    setup=None,
                    round1="{}",
                    signatures="{}",
                    complete=None,
                )
                session.add(found)
            if found.setup is not None:
                raise CeremonyStateError(
                    "the setup of this attempt is written: its static keys are fixed"
                )
            keys = _keys(found)
            if any(k == key.encoded.hex() for p, k in keys.items() if p != position):
                raise InvalidCeremonyMessageError(
                    f"participant {position}: another trustee registered this static key",
                    participant=position,
                )
            keys[position] = key.encoded.hex()
            found.static_keys = _dump(keys)
            self._record(
                session,
                "ceremony.static_key",
                actor=staff.audit_actor,
                election=row.id,
                participant=position,
                attempt=found.attempt,
            )
        return position

    # -- the setup ----------------------------------------------------------------------

    def start_ceremony(
        self, *, election_id: str, actor: str, static_keys: Sequence[str] | None = None
    ) -> dict[str, Any]:
        """Write ``dkg-setup`` (board-format.md §10.1): on the first attempt, make the RSA
        issuance key and the board, and fix the terms (the v2 manifest without
        ``encryption``); the setup binds their hash (§10.2). ``static_keys`` (hex, in
        trustee order) replace the registered keys when given. Returns the setup."""
        with self.ctx.db.read_session() as session:
            row = self._row(session, election_id)
            self._encrypted(row)
            self._scheduled(row)
            has_key = session.get(ElectionKeyRow, row.id) is not None
        # Outside any transaction: a 3072-bit key takes a while.
        key = None if has_key else rsabssa.generate_key(self.settings.ballot_key_bits)
        with self.ctx.db.write_session() as session:
            row = self._row(session, election_id, lock=True)
            definition = self._encrypted(row)
            self._scheduled(row)
            if definition.closes_at <= self.now:
                raise ElectionStateError("the closing time is already past", status=row.status)
            found = session.get(CeremonyRow, row.id, with_for_update=True)
            if found is None:
                found = CeremonyRow(
                    election_id=row.id,
                    attempt=1,
                    static_keys="{}",
                    terms=None,
                    setup=None,
                    round1="{}",
                    signatures="{}",
                    complete=None,
                )
                session.add(found)
            if found.setup is not None:
                raise CeremonyStateError(
                    "the ceremony of this attempt has started; to start again, begin a new attempt"
                )
            n = len(definition.trustees)
            if static_keys is not None:
                if len(static_keys) != n:
                    raise InvalidCeremonyMessageError(
                        f"{len(static_keys)} static keys given for {n} trustees"
                    )
                keys = {
                    i: _static_key(k, position=i).encoded.hex()
                    for i, k in enumerate(static_keys, 1)
                }
                found.static_keys = _dump(keys)
            keys = _keys(found)
            missing = [definition.trustees[i - 1].label for i in range(1, n + 1) if i not in keys]
            if missing:
                raise CeremonyStateError(
                    f"{len(missing)} of {n} trustees have not registered their static key: "
                    + ", ".join(missing)
                )
            name = board_log_name(row.id)
            if found.terms is None:
                assert key is not None  # has_key was read before: no terms without the key
                found.terms = self._fix_terms(session, row=row, definition=definition, key=key)
            terms = json.loads(found.terms)
            try:
                setup = setup_document(
                    election=row.id,
                    attempt=found.attempt,
                    threshold=definition.threshold or 1,
                    manifest_hash=terms_hash(terms),
                    participants=[
                        (t.label, Point.decode(bytes.fromhex(keys[i])))
                        for i, t in enumerate(definition.trustees, 1)
                    ],
                )
            except ValueError as exc:  # CeremonyError (e.g. two equal keys)
                raise _refused(exc) from None
            self.audit.append(session, log=name, data=entry_bytes(dkg_setup_entry(setup)))
            found.setup = rfc8785.dumps(setup).decode()
            self._record(
                session,
                "ceremony.started",
                actor=actor,
                election=row.id,
                attempt=found.attempt,
                trustees=n,
                threshold=definition.threshold,
            )
        return setup

    def _fix_terms(
        self, session: Session, *, row: ElectionRow, definition: ElectionDefinition, key: Any
    ) -> str:
        """The board (not sealed: nothing on an encrypted election's board is secret,
        board-format.md §10.1), the sealed RSA key, and the terms."""
        name = board_log_name(row.id)
        info = self.audit.ensure_log(session, name=name, public=False)
        session.add(
            ElectionKeyRow(
                election_id=row.id,
                rsa_key=seal_rsa_key(self.settings.sealing_secret, election_id=row.id, key=key),
            )
        )
        self._record(session, "election.keys_generated", actor="system", election=row.id)
        manifest = definition.manifest(
            issuer_spki=key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
            board_origin=info.origin,
            board_key=info.verifier_key,
            # Counted from the census and the rule, never typed (ballot-secrecy.md §3), when
            # the ceremony fixes the terms (docs/adr/0018-encrypted-elections.md, "Hashes").
            population=identity.eligible_population(
                self.ctx, session, rule_id=definition.eligibility_rule
            ),
        )
        return rfc8785.dumps(manifest.terms_json()).decode()

    def new_attempt(self, *, election_id: str, actor: str) -> int:
        """Abandon the current attempt (a trustee gone, a fault): its entries stay on the
        board; the static keys are cleared (ADR 0012: fresh keys per attempt) and the next
        ``start_ceremony`` writes ``dkg-setup`` with ``attempt`` + 1. Returns it."""
        with self.ctx.db.write_session() as session:
            row = self._row(session, election_id, lock=True)
            self._encrypted(row)
            self._scheduled(row)
            found = self._ceremony_row(session, row.id, lock=True)
            if found.complete is not None:
                raise CeremonyStateError("the key ceremony is complete")
            if found.setup is None:
                raise CeremonyStateError("this attempt has not started: nothing to abandon")
            found.attempt += 1
            found.static_keys, found.setup, found.round1, found.signatures = "{}", None, "{}", "{}"
            self._record(
                session, "ceremony.abandoned", actor=actor, election=row.id, attempt=found.attempt
            )
            return found.attempt

    # -- messages -----------------------------------------------------------------------

    def submit_round1(self, *, election_id: str, staff: Staff, document: object) -> int:
        """A trustee's ``round1-i.json``: checked, then appended as ``dkg-round1``."""
        with self.ctx.db.write_session() as session:
            row = self._row(session, election_id, lock=True)
            definition = self._encrypted(row)
            position = self.trustee_position(session, definition, staff)
            self._scheduled(row)
            found = self._ceremony_row(session, row.id, lock=True)
            self._accept_round1(session, found, position, document, actor=staff.audit_actor)
        return position

    def submit_signature(self, *, election_id: str, staff: Staff, document: object) -> bool:
        """A trustee's ``signature-i.json``: checked against ``T`` rebuilt from the board's
        round 1, appended as ``dkg-signature``; with the ``n``-th, ``dkg-complete`` is
        appended. Returns whether the ceremony is now complete."""
        with self.ctx.db.write_session() as session:
            row = self._row(session, election_id, lock=True)
            definition = self._encrypted(row)
            position = self.trustee_position(session, definition, staff)
            self._scheduled(row)
            found = self._ceremony_row(session, row.id, lock=True)
            ceremony = self._round1_complete(found, len(definition.trustees))
            self._accept_signature(
                session, found, ceremony, position, document, actor=staff.audit_actor
            )
            return self._complete_if_ready(session, found, ceremony, actor=staff.audit_actor)

    def import_ceremony(self, *, election_id: str, document: object, actor: str) -> None:
        """A complete ``parvis-dkg-ceremony-v1`` document (``parvis-trustee`` coordinators'
        ``ceremony.json``) for the setup on the board: checked whole
        (:func:`ballot.trustee.verify_ceremony`, ``certified=True``), then every round-1
        message, every signature and ``dkg-complete`` appended in one transaction. Messages
        already on the board must be the same; nothing is appended if any check fails."""
        if not isinstance(document, Mapping):
            raise InvalidCeremonyMessageError("a ceremony is a JSON object")
        try:
            verify_ceremony(dict(document), where="ceremony", certified=True)
        except ValueError as exc:
            raise _refused(exc) from None
        with self.ctx.db.write_session() as session:
            row = self._row(session, election_id, lock=True)
            definition = self._encrypted(row)
            self._scheduled(row)
            found = self._ceremony_row(session, row.id, lock=True)
            if found.complete is not None:
                raise CeremonyStateError("the key ceremony is complete")
            if found.setup is None:
                raise CeremonyStateError("the ceremony has not started: no setup on the board")
            if rfc8785.dumps(document["setup"]).decode() != found.setup:
                raise InvalidCeremonyMessageError(
                    "the ceremony's setup is not the one on the board (another election, "
                    "attempt, manifest or set of static keys)"
                )
            for position, message in enumerate(document["round1"], 1):
                self._accept_round1(session, found, position, message, actor=actor)
            ceremony = self._round1_complete(found, len(definition.trustees))
            for position, message in enumerate(document["signatures"], 1):
                self._accept_signature(session, found, ceremony, position, message, actor=actor)
            self._complete_if_ready(session, found, ceremony, actor=actor)

    def _accept_round1(
        self,
        session: Session,
        found: CeremonyRow,
        position: int,
        document: object,
        *,
        actor: str,
    ) -> None:
        if found.complete is not None:
            raise CeremonyStateError("the key ceremony is complete")
        if found.setup is None:
            raise CeremonyStateError("the ceremony has not started: no setup on the board")
        setup = Setup.parse(json.loads(found.setup), "setup")
        round1 = _messages(found.round1)
        if position in round1:
            if round1[position] == document:
                return  # the same message again (an import repeating the board)
            raise CeremonyStateError(
                f"participant {position}'s round-1 message is already on the board "
                "(a second, different one would be equivocation)"
            )
        if _messages(found.signatures) or len(round1) == setup.config.n:
            raise CeremonyStateError("round 1 is over: the board holds every round-1 message")
        try:
            check_round1(setup, document, position=position)
        except ValueError as exc:
            raise _refused(exc, position=position) from None
        assert isinstance(document, Mapping)
        self.audit.append(
            session,
            log=board_log_name(found.election_id),
            data=entry_bytes(dkg_round1_entry(document)),
        )
        round1[position] = dict(document)
        found.round1 = _dump(round1)
        self._record(
            session,
            "ceremony.round1",
            actor=actor,
            election=found.election_id,
            participant=position,
            attempt=found.attempt,
        )

    def _round1_complete(self, found: CeremonyRow, n: int) -> Ceremony:
        if found.complete is not None:
            raise CeremonyStateError("the key ceremony is complete")
        if found.setup is None:
            raise CeremonyStateError("the ceremony has not started: no setup on the board")
        round1 = _messages(found.round1)
        if len(round1) < n:
            raise CeremonyStateError(
                f"{len(round1)} of the {n} round-1 messages are on the board: signatures come "
                "after all of them"
            )
        try:
            return unsigned_ceremony(json.loads(found.setup), [round1[i] for i in sorted(round1)])
        except ValueError as exc:
            raise _refused(exc) from None

    def _accept_signature(
        self,
        session: Session,
        found: CeremonyRow,
        ceremony: Ceremony,
        position: int,
        document: object,
        *,
        actor: str,
    ) -> None:
        signatures = _messages(found.signatures)
        if position in signatures:
            if signatures[position] == document:
                return
            raise CeremonyStateError(f"participant {position}'s signature is already on the board")
        if not 1 <= position <= ceremony.setup.config.n:
            raise InvalidCeremonyMessageError(f"there is no participant {position}")
        try:
            check_signature(ceremony, document, position=position)
        except ValueError as exc:
            raise _refused(exc, position=position) from None
        assert isinstance(document, Mapping)
        self.audit.append(
            session,
            log=board_log_name(found.election_id),
            data=entry_bytes(dkg_signature_entry(document)),
        )
        signatures[position] = dict(document)
        found.signatures = _dump(signatures)
        self._record(
            session,
            "ceremony.signature",
            actor=actor,
            election=found.election_id,
            participant=position,
            attempt=found.attempt,
        )

    def _complete_if_ready(
        self, session: Session, found: CeremonyRow, ceremony: Ceremony, *, actor: str
    ) -> bool:
        if len(_messages(found.signatures)) < ceremony.setup.config.n:
            return False
        try:
            certified = verify_ceremony(
                self._document(found, certified=True), where="board", certified=True
            )
        except CeremonyError as exc:  # each signature was checked: an implementation fault
            raise _refused(exc) from None
        data = entry_bytes(complete_entry(certified))
        self.audit.append(session, log=board_log_name(found.election_id), data=data)
        found.complete = data.decode()
        self._record(
            session,
            "ceremony.complete",
            actor=actor,
            election=found.election_id,
            attempt=found.attempt,
        )
        return True

    def complete_leaf(self, found: CeremonyRow) -> bytes:
        """The leaf hash of ``dkg-complete`` (what ``open`` waits for)."""
        assert found.complete is not None
        return leaf_hash(found.complete.encode())
