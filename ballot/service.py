"""An election's lifecycle: definitions, schedule, open (keys, board, manifest), close,
tally, publish, periodic issuance counts and paper totals (voting-protocol.md; the
protocol's two sides live apart: :mod:`ballot.voters` and :mod:`ballot.box`).

:class:`ElectionService` orchestrates both sides and is what the adapters (HTTP API, pages,
CLI, platform API) call; the calls that belong to one side are passed to it unchanged.

The bulletin board of an election is the audit log ``board-<election id>`` (audit engine,
ADR 0006). It is **sealed** from its creation (before the manifest) to the close, so that
no audit read path — a DPO's included — serves a ballot before the close; it stays sealed
when fewer ballots than the minimum anonymity set were counted
(:func:`ballot.publication.decide_publication`).
"""

from __future__ import annotations

import hmac
import json
import logging
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import identity
from audit import Promise
from audit.errors import TreeRangeError
from audit.merkle import leaf_hash
from ballot import rsabssa
from ballot.batches import boundary_at_or_before
from ballot.board import (
    close_entry,
    entry_bytes,
    issuance_entry,
    manifest_entry,
    paper_entry,
    partial_decryption_entry,
    results_entry,
    tally_sums_entry,
)
from ballot.box import MAX_PAGE, BallotBox, PreparedBallot
from ballot.casting import CastCommitter
from ballot.ceremonies import CeremonyUseCases
from ballot.definition import ElectionDefinition, Status, check_transition, parse_definition
from ballot.encrypted_ballot import cell_labels, parse_encrypted_ballot
from ballot.encrypted_tally import (
    DuplicatePartialError,
    check_entry_sizes,
    context_document,
    decrypt_counts,
    sums_document,
)
from ballot.errors import (
    ElectionStateError,
    InvalidElectionError,
    InvalidPaperTotalsError,
    TallyCheckError,
)
from ballot.homomorphic_tally import cell_sums, results_from_counts
from ballot.keys import seal_rsa_key
from ballot.manifest import Manifest, format_time
from ballot.publication import decide_publication
from ballot.records import (
    BoardNotIntegratedError,
    board_log_name,
    canonical_id,
    coarse,
)
from ballot.tables import (
    BoardRow,
    CeremonyRow,
    CommitmentRow,
    ElectionKeyRow,
    ElectionRow,
    MilestoneRow,
    PaperTotalsRow,
    PartialDecryptionRow,
    TallyFailureRow,
)
from ballot.tally import tally
from ballot.token import b64u_encode
from ballot.voters import IssuanceProof, VoterRegister
from parvis.kernel.context import AppContext
from parvis.kernel.errors import DomainError, ForbiddenError
from parvis.kernel.principal import Role, Staff

__all__ = [
    "BoardNotIntegratedError",
    "ElectionService",
    "IssuanceProof",
    "NotThisTrusteeError",
    "PreparedBallot",
    "board_log_name",
    "service_from",
]

log = logging.getLogger("parvis.ballot")

#: Longest wait for the audit sequencer when a transition needs its entry integrated.
INTEGRATION_TIMEOUT: Final = 30.0
#: Rounds a close makes when tokens keep being issued while it flushes the register.
REGISTER_ATTEMPTS: Final = 5


class ElectionService(CeremonyUseCases):
    """The ballot domain's use cases for one process. Get it with ``ballot.service_from``.

    The key ceremony of encrypted elections is :class:`ballot.ceremonies.CeremonyUseCases`."""

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self.voters = VoterRegister(ctx)
        self.box = BallotBox(ctx)

    # -- the voter side's and the box side's calls, for the adapters --------------------

    @property
    def committer(self) -> CastCommitter:
        return self.box.committer

    def eligibility(self, *, election_id: str, citizen: str) -> dict[str, Any]:
        return self.voters.eligibility(election_id=election_id, citizen=citizen)

    def issue_token(
        self,
        *,
        election_id: str,
        citizen: str,
        blinded_msg: bytes,
        proof: IssuanceProof | None = None,
    ) -> bytes:
        return self.voters.issue_token(
            election_id=election_id, citizen=citizen, blinded_msg=blinded_msg, proof=proof
        )

    def export_register(self, election_id: str, *, actor: str) -> dict[str, Any]:
        """The issuance register for scrutineers (ballot-secrecy.md §3), its download an
        audit event (who, which election; nothing of its content)."""
        export = self.voters.register_export(election_id)
        with self.ctx.db.write_session() as session:
            self._record(session, "register.exported", actor=actor, election=export["election"])
        return export

    def mark_paper_voter(self, *, election_id: str, citizen: str, actor: str) -> None:
        self.voters.mark_paper_voter(election_id=election_id, citizen=citizen, actor=actor)

    def voter_list_of(self, session: Session, citizen: str) -> list[dict[str, Any]]:
        return self.voters.voter_list_of(session, citizen)

    def is_rehearsal(self, election_id: str) -> bool:
        """Whether the election's definition says ``rehearsal: true`` (ballot/definition.py)."""
        with self.ctx.db.read_session() as session:
            return self.definition(self._row(session, election_id)).rehearsal

    def knows(self, election_id: str) -> bool:
        return self.box.knows(election_id)

    def encrypted_known(self, election_id: str) -> bool:
        return self.box.encrypted_known(election_id)

    def prepare_cast(self, election_id: str, body: bytes | Mapping[str, object]) -> PreparedBallot:
        return self.box.prepare_cast(election_id, body)

    def cast_batch(
        self, election_id: str, ballots: Sequence[PreparedBallot]
    ) -> tuple[datetime | None, list[Promise | DomainError]]:
        return self.box.cast_batch(election_id, ballots)

    def integrate_batches(self, *, force: bool = False) -> int:
        """At each boundary: the issuance register takes its waiting entries, then the board
        shows the register's size and root before the batch of ballots (ballot-secrecy.md
        §3; ADR 0009)."""
        self.voters.integrate_registers(force=force)
        return self.box.integrate_batches(force=force, before=self.voters.board_register_entry)

    def board_view(
        self, session: Session, election_id: str, *, start: int = 0, limit: int = MAX_PAGE
    ) -> dict[str, Any]:
        return self.box.board_view(session, election_id, start=start, limit=limit)

    def checkpoint(self, session: Session, election_id: str) -> str:
        return self.box.checkpoint(session, election_id)

    def receipt(self, session: Session, election_id: str, code: str) -> dict[str, Any]:
        return self.box.receipt(session, election_id, code)

    def export_chunks(self, election_id: str, *, reveal: bool | None = None) -> Iterator[bytes]:
        return self.box.export_chunks(election_id, reveal=reveal)

    def export(self, election_id: str, *, reveal: bool | None = None) -> dict[str, Any]:
        return self.box.export(election_id, reveal=reveal)

    def results(self, session: Session, election_id: str) -> dict[str, Any]:
        return self.box.results(session, election_id)

    # -- definitions --------------------------------------------------------------------

    def create(
        self,
        session: Session,
        *,
        data: object,
        actor: str,
        owner_client: str | None = None,
    ) -> ElectionRow:
        """A new draft election from a definition (file, staff API, platform API)."""
        definition = parse_definition(data)
        election_id = str(definition.election_id)
        if session.get(ElectionRow, election_id) is not None:
            raise InvalidElectionError("an election with this id already exists")
        now = self.now
        row = ElectionRow(
            id=election_id,
            status=Status.DRAFT.value,
            definition=json.dumps(definition.to_json(), ensure_ascii=False, sort_keys=True),
            opens_at=definition.opens_at,
            closes_at=definition.closes_at,
            owner_client=owner_client,
            created_by=actor[:100],
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        session.flush()
        self._record(session, "election.created", actor=actor, election=election_id)
        return row

    def update(
        self,
        session: Session,
        *,
        election_id: str,
        data: object,
        actor: str,
        owner_client: str | None = None,
    ) -> ElectionRow:
        """Replace a draft's definition (its id stays)."""
        row = self._row(session, election_id, lock=True, drafts=True, owner_client=owner_client)
        if row.status != Status.DRAFT:
            raise ElectionStateError(
                f"only a draft can be edited; this election is {row.status}", status=row.status
            )
        definition = parse_definition(data, election_id=uuid.UUID(row.id))
        row.definition = json.dumps(definition.to_json(), ensure_ascii=False, sort_keys=True)
        row.opens_at = definition.opens_at
        row.closes_at = definition.closes_at
        row.updated_at = self.now
        self._record(session, "election.updated", actor=actor, election=row.id)
        return row

    def get(
        self,
        session: Session,
        election_id: str,
        *,
        drafts: bool = False,
        owner_client: str | None = None,
    ) -> ElectionRow:
        return self._row(session, election_id, drafts=drafts, owner_client=owner_client)

    def elections(
        self, session: Session, *, drafts: bool = False, owner_client: str | None = None
    ) -> list[ElectionRow]:
        query = select(ElectionRow).order_by(ElectionRow.opens_at.desc(), ElectionRow.id)
        if owner_client is not None:
            query = query.where(ElectionRow.owner_client == owner_client)
        elif not drafts:
            query = query.where(ElectionRow.status != Status.DRAFT.value)
        return list(session.scalars(query))

    def status(self, session: Session, row: ElectionRow, *, base_url: str = "") -> dict[str, Any]:
        """The status document of ``GET /elections/{id}`` (docs/ballot-api.md)."""
        definition = self.definition(row)
        status = Status(row.status)
        opened = status not in {Status.DRAFT, Status.SCHEDULED}
        board = session.get(BoardRow, row.id) if opened else None
        manifest = self._manifest(session, row.id) if board is not None else None
        ballots = (
            session.scalar(
                select(func.count())
                .select_from(CommitmentRow)
                .where(CommitmentRow.election_id == row.id)
            )
            if board is not None
            else None
        )
        base = f"{base_url}/elections/{row.id}"
        pages = f"{base_url}/scrutins/{row.id}"
        published = status is Status.PUBLISHED
        return {
            "id": row.id,
            "title": dict(definition.title),
            "status": status.value,
            "opens_at": format_time(definition.opens_at),
            "closes_at": format_time(definition.closes_at),
            "eligibility_rule": definition.eligibility_rule,
            "mode": definition.mode.value,
            "revote": definition.revote,
            "paper": definition.paper,
            "min_anonymity_set": definition.min_anonymity_set,
            "batch_seconds": definition.batch_seconds,
            "rehearsal": definition.rehearsal,
            "questions": [q.to_json() for q in definition.questions],
            "key_id": b64u_encode(manifest.issuer_key_id) if manifest is not None else None,
            "board_origin": board.origin if board is not None else None,
            "tokens_issued": board.issued_published if board is not None else None,
            "ballots": ballots,
            "links": {
                "self": base,
                "manifest": f"{base}/manifest" if board is not None else None,
                "board": f"{base}/board" if board is not None else None,
                "results": f"{base}/results" if published else None,
                "results_page": f"{pages}/resultats" if published else None,
                "booth": f"{pages}/isoloir",
                "tracker": f"{pages}/suivi",
            },
        }

    # -- lifecycle ----------------------------------------------------------------------

    def schedule(self, *, election_id: str, actor: str) -> None:
        """draft → scheduled: the definition is frozen; its eligibility rule must exist."""
        with self.ctx.db.write_session() as session:
            row = self._row(session, election_id, lock=True, drafts=True)
            check_transition(Status(row.status), Status.SCHEDULED)
            definition = self.definition(row)
            if definition.closes_at <= self.now:
                raise ElectionStateError("the closing time is already past", status=row.status)
            rules = {r.id for r in identity.service_from(self.ctx).rules(session)}
            if definition.eligibility_rule not in rules:
                raise InvalidElectionError(
                    f"eligibility.rule: no identity rule {definition.eligibility_rule!r}"
                )
            self._check_trustees(session, definition)
            if definition.encrypted:
                # Every cast and every partial decryption must fit a board entry (§10.3).
                check_entry_sizes(definition.questions)
            row.status = Status.SCHEDULED.value
            row.updated_at = self.now
            self._record(session, "election.scheduled", actor=actor, election=row.id)

    def _check_trustees(self, session: Session, definition: ElectionDefinition) -> None:
        """Every trustee of an encrypted election is an active staff account with the
        trustee role (docs/adr/0018-encrypted-elections.md, "Who may upload what")."""
        accounts = identity.staff_service_from(self.ctx)
        for position, trustee in enumerate(definition.trustees):
            found = accounts.active_by_email(session, email=trustee.staff)
            if found is None or not found.has(Role.TRUSTEE):
                raise InvalidElectionError(
                    f"trustees[{position}].staff: no active staff account with the trustee "
                    f"role for the trustee {trustee.label!r}"
                )

    def open(self, *, election_id: str, actor: str) -> None:
        """scheduled → open (voting-protocol.md, "Keys and the bulletin board").

        Generates the election's RSA key (RFC 9474, sealed at rest) and the board (an audit
        log with its own Ed25519 key), appends the manifest, waits until the manifest is
        entry 0 under a signed checkpoint, and only then opens: no token can be issued
        before the key is committed.

        An encrypted election (board-format.md §10) made its key and board when its key
        ceremony started; it opens only once ``dkg-complete`` is on the board, and the v2
        manifest, with the joint key in ``encryption``, goes right after it.
        """
        with self.ctx.db.read_session() as session:
            row = self._row(session, election_id, drafts=True)
            status = Status(row.status)
            if status is not Status.SCHEDULED:
                check_transition(status, Status.OPEN)
            definition = self.definition(row)
            prepared = session.get(BoardRow, row.id) is not None
            complete_leaf: bytes | None = None
            if definition.encrypted:
                ceremony = session.get(CeremonyRow, row.id)
                if ceremony is None or ceremony.complete is None:
                    raise ElectionStateError(
                        "an encrypted election opens once its key ceremony is complete "
                        "(dkg-complete on the board)",
                        status=status.value,
                    )
                complete_leaf = self.complete_leaf(ceremony)
        if definition.closes_at <= self.now:
            raise ElectionStateError("the closing time is already past", status=status.value)
        if complete_leaf is not None:
            self._wait_integrated(board_log_name(row.id), complete_leaf)
        needs_key = not prepared and not definition.encrypted
        key = rsabssa.generate_key(self.settings.ballot_key_bits) if needs_key else None
        with self.ctx.db.write_session() as session:
            row = self._row(session, election_id, lock=True, drafts=True)
            check_transition(Status(row.status), Status.OPEN)
            board = session.get(BoardRow, row.id)
            if board is None and definition.encrypted:
                board = self._open_encrypted_board(session, row=row, definition=definition)
            elif board is None:
                assert key is not None  # made above, or a concurrent open prepared the board
                board = self._create_board(
                    session, row=row, definition=definition, key=key, actor=actor
                )
            manifest_hash, name = board.manifest_hash, board.log
        index = self._wait_integrated(name, manifest_hash)
        with self.ctx.db.write_session() as session:
            row = self._row(session, election_id, lock=True, drafts=True)
            check_transition(Status(row.status), Status.OPEN)
            # Public: the manifest is entry 0. Encrypted: right after dkg-complete (§10.1).
            expected = 0 if complete_leaf is None else index
            first = self.audit.entries(
                session, log=name, start=expected, end=expected + 1, reveal_sealed=True
            )[0]
            if first.index != expected or not hmac.compare_digest(first.leaf_hash, manifest_hash):
                raise BoardNotIntegratedError("the manifest is not where it belongs on the board")
            if complete_leaf is not None:
                before = self.audit.entries(
                    session, log=name, start=index - 1, end=index, reveal_sealed=True
                )[0]
                if not hmac.compare_digest(before.leaf_hash, complete_leaf):
                    raise BoardNotIntegratedError("the manifest does not follow dkg-complete")
            self._milestone(session, row.id, name)
            row.status = Status.OPEN.value
            row.updated_at = self.now
            self._record(session, "election.opened", actor=actor, election=row.id)

    def _create_board(
        self,
        session: Session,
        *,
        row: ElectionRow,
        definition: ElectionDefinition,
        key: rsa.RSAPrivateKey,
        actor: str,
    ) -> BoardRow:
        name = board_log_name(row.id)
        # Not public in the audit read API, and sealed before entry 0: its entries hold
        # ballots, which nobody — a DPO included — may read before the close
        # (voting-protocol.md, "Fairness"; ADR 0003, "Sealed logs"). Ballot serves the board itself.
        info = self.audit.ensure_log(session, name=name, public=False)
        self.audit.seal(session, log=name, actor=actor)
        manifest = definition.manifest(
            issuer_spki=key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
            board_origin=info.origin,
            board_key=info.verifier_key,
            # Counted from the census and the rule, never typed (ballot-secrecy.md §3).
            population=identity.eligible_population(
                self.ctx, session, rule_id=definition.eligibility_rule
            ),
        )
        data = entry_bytes(manifest_entry(manifest))
        self.audit.append(session, log=name, data=data)
        session.add(
            ElectionKeyRow(
                election_id=row.id,
                rsa_key=seal_rsa_key(self.settings.sealing_secret, election_id=row.id, key=key),
            )
        )
        board = BoardRow(
            election_id=row.id,
            log=name,
            origin=info.origin,
            verifier_key=info.verifier_key,
            manifest_hash=leaf_hash(data),
            close_hash=None,
            results_hash=None,
            issued_published=0,
            issued_published_at=None,
            tokens_issued=0,
            # The first batch is the one of the first boundary after the opening.
            batched_through=boundary_at_or_before(self.now, definition.batch_seconds),
        )
        session.add(board)
        session.flush()
        # The issuance register, sealed like the board (ballot-secrecy.md §3; ADR 0019).
        self.voters.create_register(session, row.id, actor=actor)
        self._record(session, "election.keys_generated", actor="system", election=row.id)
        return board

    def _open_encrypted_board(
        self, session: Session, *, row: ElectionRow, definition: ElectionDefinition
    ) -> BoardRow:
        """The v2 manifest (board-format.md §10.2): the terms fixed when the ceremony
        started, and ``encryption`` from the ceremony whose ``dkg-complete`` is on the
        board; then the board's row, as :meth:`_create_board` makes it for public ones."""
        found = session.get(CeremonyRow, row.id)
        assert found is not None
        assert found.terms is not None
        manifest = Manifest.from_terms(json.loads(found.terms)).with_encryption(
            self.encryption(session, row.id)
        )
        name = board_log_name(row.id)
        data = entry_bytes(manifest_entry(manifest))
        self.audit.append(session, log=name, data=data)
        board = BoardRow(
            election_id=row.id,
            log=name,
            origin=manifest.board_origin,
            verifier_key=manifest.board_key,
            manifest_hash=leaf_hash(data),
            close_hash=None,
            results_hash=None,
            issued_published=0,
            issued_published_at=None,
            tokens_issued=0,
            batched_through=boundary_at_or_before(self.now, definition.batch_seconds),
        )
        session.add(board)
        session.flush()
        return board

    def _wait_integrated(self, name: str, leaf: bytes) -> int:
        """Index of ``leaf`` in the board, integrating now or waiting for the sequencer."""
        deadline = time.monotonic() + INTEGRATION_TIMEOUT
        while True:
            self.audit.integrate(log=name)  # 0 at once when another process leads
            with self.ctx.db.read_session() as session:
                try:
                    return self.audit.index_of(session, log=name, leaf_hash=leaf)
                except TreeRangeError:
                    pass
            if time.monotonic() > deadline:
                raise BoardNotIntegratedError(
                    f"the audit sequencer has not integrated the entry within "
                    f"{INTEGRATION_TIMEOUT:.0f} s; try again"
                )
            time.sleep(0.05)

    def _milestone(self, session: Session, election_id: str, name: str) -> None:
        head = self.audit.head(session, log=name)
        if session.get(MilestoneRow, (election_id, head.size)) is None:
            session.add(MilestoneRow(election_id=election_id, size=head.size, note=head.note))

    def close(self, *, election_id: str, actor: str, force: bool = False) -> None:
        """open → closed: no more tokens or ballots; the close entry follows every ballot.

        Refused before ``closes_at`` unless ``force`` (an officer's emergency close, audited
        as such). The close entry's time is coarse (whole minutes).
        """
        for _attempt in range(REGISTER_ATTEMPTS):
            # The register's last entries go into it and under a checkpoint first, so that
            # the board shows its final size and root before the close entry
            # (ballot-secrecy.md §3); a token issued meanwhile makes it go round again.
            self._flush_register(election_id, force=force)
            if self._close(election_id, actor=actor, force=force):
                return
        raise BoardNotIntegratedError("the issuance register kept growing while closing; try again")

    def _flush_register(self, election_id: str, *, force: bool) -> None:
        with self.ctx.db.write_session() as session:
            row = self._row(session, election_id, lock=True)
            check_transition(Status(row.status), Status.CLOSED)
            if self.now < self.definition(row).closes_at and not force:
                raise ElectionStateError(
                    f"the election closes at {format_time(self.definition(row).closes_at)}; "
                    "closing earlier needs force",
                    status=row.status,
                )
            self.voters.move_register(session, row.id)
        deadline = time.monotonic() + INTEGRATION_TIMEOUT
        while not self.voters.register_integrated(election_id):
            if time.monotonic() > deadline:
                raise BoardNotIntegratedError(
                    f"the audit sequencer has not integrated the issuance register within "
                    f"{INTEGRATION_TIMEOUT:.0f} s; try again"
                )
            time.sleep(0.05)

    def _close(self, election_id: str, *, actor: str, force: bool) -> bool:
        """The close itself, once the register is integrated; False when a token was issued
        since (its entry waits: the caller flushes the register again)."""
        with self.ctx.db.write_session() as session:
            row = self._row(session, election_id, lock=True)
            check_transition(Status(row.status), Status.CLOSED)
            definition = self.definition(row)
            now = self.now
            if now < definition.closes_at and not force:
                raise ElectionStateError(
                    f"the election closes at {format_time(definition.closes_at)}; "
                    "closing earlier needs force",
                    status=row.status,
                )
            if self.voters.register_pending(session, row.id):
                return False
            board = self._board(session, row.id, lock=True)
            shown = self.voters.board_register_entry(session, row.id)
            if shown is not None:
                self.audit.append(session, log=board.log, data=entry_bytes(shown))
            # The last batch goes on the board before the close entry (ADR 0009).
            self.box.move_pending(session, row.id, board.log)
            data = entry_bytes(
                close_entry(
                    closed_at=format_time(coarse(now)),
                    tokens_issued=self.voters.tokens_issued(session, row.id),
                )
            )
            self.audit.append(session, log=board.log, data=data)
            board.close_hash = leaf_hash(data)
            # Unsealed after the close entry, in its transaction: nothing is accepted after
            # it (FOR UPDATE above). Below the minimum anonymity set the board stays sealed:
            # its individual ballots are never to be read, only aggregates (voting-protocol.md,
            # "Fairness").
            # An encrypted election's ballots are ciphertexts: its board is public whatever
            # the count (docs/board-format.md §10.1).
            unsealed = (
                definition.encrypted
                or decide_publication(
                    counted=self.box.counted(session, row.id),
                    min_anonymity_set=definition.min_anonymity_set,
                ).individual
            )
            if unsealed:
                self.audit.unseal(session, log=board.log, actor=actor)
            row.status = Status.CLOSED.value
            row.updated_at = now
            self._record(
                session,
                "election.closed",
                actor=actor,
                election=row.id,
                forced=force,
                board_unsealed=unsealed,
            )
            name, close_hash = board.log, board.close_hash
        self._wait_integrated(name, close_hash)
        # The last batch is on the board: SQLite's write-ahead log, which holds its casts in
        # the order they arrived, is emptied as after every batch (ADR 0009).
        self.ctx.db.truncate_wal()
        with self.ctx.db.write_session() as session:
            self._milestone(session, row.id, name)
        return True

    def tally(self, *, election_id: str, actor: str) -> dict[str, Any]:
        """closed → tallied: recount the board (one ballot per nullifier, highest ``seq``),
        check, then append the paper entry (if any) and the results entry, signed in a
        checkpoint.

        The check comes first (ADR 0010): #ballots counted ≤ #tokens issued ≤ eligible
        population, and the voter list still counts the tokens the close entry states
        (voting-protocol.md, "Verification" — what the verifier will check on the results
        entry). When it fails, the tally records nothing — no entry, no status change, no
        audit event — but the one-line reason (:class:`~ballot.tables.TallyFailureRow`,
        which :meth:`publish` refuses), and raises :class:`TallyCheckError`.
        """
        with self.ctx.db.read_session() as session:
            row = self._row(session, election_id)
            encrypted = self.definition(row).encrypted
            if encrypted and row.status == Status.DECRYPTING:
                # A tally interrupted after the threshold-th partial decryption: finish it.
                return self._finish_decryption(election_id=row.id, actor=actor) or {
                    "ballots": None,
                    "status": Status.DECRYPTING.value,
                }
            check_transition(Status(row.status), Status.TALLIED)
            board = self._board(session, row.id)
            name, close_hash = board.log, board.close_hash
        assert close_hash is not None, "a closed election has a close entry"
        close_index = self._wait_integrated(name, close_hash)
        if encrypted:
            return self._tally_encrypted(
                election_id=row.id, actor=actor, name=name, close_index=close_index
            )
        failure: str | None = None
        with self.ctx.db.write_session() as session:
            row = self._row(session, election_id, lock=True)
            check_transition(Status(row.status), Status.TALLIED)
            definition = self.definition(row)
            paper = session.get(PaperTotalsRow, row.id)
            if definition.paper and paper is None:
                raise ElectionStateError(
                    "this election has a paper channel: enter the paper totals first",
                    status=row.status,
                )
            counted = self.box.count(session, name, end=close_index)
            tokens = self.voters.tokens_issued(session, row.id)
            failure = _tally_refusal(
                ballots=len(counted),
                tokens=tokens,
                listed=self.voters.online_voters(session, row.id),
                closed_tokens=self._closed_tokens(session, name, close_index),
                population=self._manifest(session, row.id).eligible_population,
            )
            if not _remember_failure(session, row.id, failure):
                results = tally(definition.questions, list(counted.values()))
                paper_counts = _paper_of(paper)
                entries = []
                if paper_counts is not None:
                    entries.append(entry_bytes(paper_entry(**paper_counts)))
                entries.append(
                    entry_bytes(
                        results_entry(
                            tokens_issued=tokens,
                            ballots=len(counted),
                            individual=decide_publication(
                                counted=len(counted),
                                min_anonymity_set=definition.min_anonymity_set,
                            ).individual,
                            results=results,
                            paper=paper_counts,
                        )
                    )
                )
                self.audit.append_many(session, log=name, data=entries)
                board = self._board(session, row.id, lock=True)
                board.results_hash = leaf_hash(entries[-1])
                row.status = Status.TALLIED.value
                row.updated_at = self.now
                self._record(session, "election.tallied", actor=actor, election=row.id)
                results_hash = board.results_hash
        if failure is not None:
            raise TallyCheckError(f"tally refused, nothing recorded: {failure}", reason=failure)
        self._wait_integrated(name, results_hash)
        with self.ctx.db.write_session() as session:
            self._milestone(session, row.id, name)
        return results

    # -- encrypted elections: sums, trustees, results (docs/board-format.md §10.4) --------

    def _tally_encrypted(
        self, *, election_id: str, actor: str, name: str, close_index: int
    ) -> dict[str, Any]:
        """closed → decrypting: the check of :meth:`tally`, then the paper entry (if any) and
        the ``tally-sums`` entry — each cell's homomorphic sum over the counted ballots (one
        per nullifier, highest ``seq``) and the decryption context — which the trustees
        decrypt. With no counted ballot there is nothing to decrypt (§10.4): the results
        entry (every count 0, no trustee) follows at once and the election is tallied.

        The sums are computed before the write transaction (point additions over every
        counted ballot; the board up to the close entry no longer changes), so the election
        row is locked only to check and append.
        """
        with self.ctx.db.read_session() as session:
            row = self._row(session, election_id)
            definition = self.definition(row)
            encryption = self.encrypted_params(session, row.id)
            assert encryption is not None
            counted = self.box.count(session, name, end=close_index)
        questions = definition.questions
        ballots = [parse_encrypted_ballot(questions, data) for data in counted.values()]
        sums = sums_document(row.id, questions, cell_sums(questions, ballots)) if ballots else None
        failure: str | None = None
        with self.ctx.db.write_session() as session:
            row = self._row(session, election_id, lock=True)
            check_transition(Status(row.status), Status.DECRYPTING)
            paper = session.get(PaperTotalsRow, row.id)
            if definition.paper and paper is None:
                raise ElectionStateError(
                    "this election has a paper channel: enter the paper totals first",
                    status=row.status,
                )
            tokens = self.voters.tokens_issued(session, row.id)
            failure = _tally_refusal(
                ballots=len(ballots),
                tokens=tokens,
                listed=self.voters.online_voters(session, row.id),
                closed_tokens=self._closed_tokens(session, name, close_index),
                population=self._manifest(session, row.id).eligible_population,
            )
            if not _remember_failure(session, row.id, failure):
                paper_counts = _paper_of(paper)
                entries = []
                if paper_counts is not None:
                    entries.append(entry_bytes(paper_entry(**paper_counts)))
                board = self._board(session, row.id, lock=True)
                if sums is not None:
                    entries.append(
                        entry_bytes(
                            tally_sums_entry(
                                ballots=len(ballots),
                                sums=sums,
                                context=context_document(row.id, encryption.manifest_hash),
                            )
                        )
                    )
                    row.status = Status.DECRYPTING.value
                    event = "election.sums_published"
                else:
                    zero = {q.id: (0,) * len(cell_labels(q)) for q in questions}
                    entries.append(
                        entry_bytes(
                            results_entry(
                                tokens_issued=tokens,
                                ballots=0,
                                individual=False,
                                results=results_from_counts(questions, zero, ballots=0),
                                paper=paper_counts,
                                trustees=[],
                            )
                        )
                    )
                    board.results_hash = leaf_hash(entries[-1])
                    row.status = Status.TALLIED.value
                    event = "election.tallied"
                self.audit.append_many(session, log=name, data=entries)
                row.updated_at = self.now
                self._record(session, event, actor=actor, election=row.id, ballots=len(ballots))
                last = leaf_hash(entries[-1])
                status = row.status
        if failure is not None:
            raise TallyCheckError(f"tally refused, nothing recorded: {failure}", reason=failure)
        self._wait_integrated(name, last)
        with self.ctx.db.write_session() as session:
            self._milestone(session, row.id, name)
        return {"ballots": len(ballots), "status": status}

    def _after_close(self, session: Session, name: str, close_hash: bytes) -> list[dict[str, Any]]:
        """The entries after the close entry, parsed (a handful: paper, sums, partials)."""
        start = self.audit.index_of(session, log=name, leaf_hash=close_hash) + 1
        size = self.audit.head(session, log=name).size
        return [
            json.loads(entry.data)
            for entry in self.audit.entries(
                session, log=name, start=start, end=size, reveal_sealed=True
            )
        ]

    def decryption_inputs(self, election_id: str) -> dict[str, Any]:
        """What the trustees decrypt (docs/trustee-tool.md, "Decrypting the results"): the
        ``sums`` and ``context`` documents of the ``tally-sums`` entry, the threshold and
        the trustees whose partial decryption is on the board."""
        with self.ctx.db.read_session() as session:
            row = self._row(session, election_id)
            encryption = self.encrypted_params(session, row.id)
            if encryption is None:
                raise ElectionStateError("this election is not encrypted", status=row.status)
            board = self._board(session, row.id)
            if board.close_hash is None:
                raise ElectionStateError("the election is not closed", status=row.status)
            sums = next(
                (
                    e
                    for e in self._after_close(session, board.log, board.close_hash)
                    if e.get("kind") == "tally-sums"
                ),
                None,
            )
            if sums is None:
                raise ElectionStateError(
                    "the sums are not on the board: tally the election first", status=row.status
                )
            done = sorted(
                session.scalars(
                    select(PartialDecryptionRow.trustee).where(
                        PartialDecryptionRow.election_id == row.id
                    )
                )
            )
        return {
            "election": row.id,
            "status": row.status,
            "ballots": sums["ballots"],
            "sums": sums["sums"],
            "context": sums["context"],
            "threshold": encryption.threshold,
            "trustees": [
                {"index": t.index, "label": t.label, "decrypted": t.index in done}
                for t in encryption.trustees
            ],
        }

    def trustee_index(self, *, election_id: str, staff: Staff) -> int:
        """The participant index of a signed-in trustee in this election (403 otherwise)."""
        with self.ctx.db.read_session() as session:
            row = self._row(session, election_id)
            return self.trustee_position(session, self.definition(row), staff)

    def add_partial_decryption(
        self, *, election_id: str, document: object, actor: str, trustee: int | None = None
    ) -> dict[str, Any]:
        """Append one trustee's ``parvis-trustee decrypt`` output to the board of a
        decrypting election (docs/board-format.md §10.4) and, with the threshold-th, the
        results.

        The document is verified first, outside any transaction (:meth:`Encryption.
        check_partials`: the trustee's static key and public share as the manifest states
        them, exactly the sums of the ``tally-sums`` entry, every proof): a wrong one is
        refused naming the trustee and the label, and nothing is appended. A trustee's
        second upload is refused (:class:`DuplicatePartialError`). ``trustee``, when given
        (a trustee signed in through the API), must be the document's. Returns the trustee,
        how many partial decryptions are on the board, the threshold and the status.
        """
        inputs = self.decryption_inputs(election_id)
        if inputs["status"] != Status.DECRYPTING:
            raise ElectionStateError(
                "partial decryptions are accepted while the election is decrypting",
                status=inputs["status"],
            )
        with self.ctx.db.read_session() as session:
            encryption = self.encrypted_params(session, election_id)
            assert encryption is not None
        index, _points = encryption.check_partials(document, sums=inputs["sums"])
        if trustee is not None and index != trustee:
            raise NotThisTrusteeError(
                f"this document is trustee {index}'s partial decryption, not yours"
            )
        assert isinstance(document, Mapping)
        data = entry_bytes(partial_decryption_entry(document))
        with self.ctx.db.write_session() as session:
            row = self._row(session, election_id, lock=True)
            if row.status != Status.DECRYPTING:
                raise ElectionStateError(
                    "partial decryptions are accepted while the election is decrypting",
                    status=row.status,
                )
            if session.get(PartialDecryptionRow, (row.id, index)) is not None:
                raise DuplicatePartialError(
                    f"trustee {index}'s partial decryption is already on the board"
                )
            board = self._board(session, row.id)
            name = board.log
            self.audit.append(session, log=name, data=data)
            session.add(
                PartialDecryptionRow(election_id=row.id, trustee=index, leaf_hash=leaf_hash(data))
            )
            session.flush()
            have = int(
                session.scalar(
                    select(func.count())
                    .select_from(PartialDecryptionRow)
                    .where(PartialDecryptionRow.election_id == row.id)
                )
                or 0
            )
            self._record(
                session, "partial_decryption.added", actor=actor, election=row.id, trustee=index
            )
        self._wait_integrated(name, leaf_hash(data))
        with self.ctx.db.write_session() as session:
            self._milestone(session, election_id, name)
        status = Status.DECRYPTING.value
        if have >= encryption.threshold:
            finished = self._finish_decryption(election_id=election_id, actor=actor)
            status = finished["status"] if finished is not None else status
        return {
            "election": election_id,
            "trustee": index,
            "partials": have,
            "threshold": encryption.threshold,
            "status": status,
        }

    def _finish_decryption(self, *, election_id: str, actor: str) -> dict[str, Any] | None:
        """decrypting → tallied once at least ``threshold`` partial decryptions are on the
        board: combine them (Lagrange at 0), baby-step giant-step bounded by the counted
        ballots, results by the rules of §6 plus the paper totals, the ``results`` entry
        with ``publication: "encrypted"`` and the trustees combined. None if not yet (or
        another process finished first)."""
        with self.ctx.db.read_session() as session:
            row = self._row(session, election_id)
            if row.status != Status.DECRYPTING:
                return None
            definition = self.definition(row)
            encryption = self.encrypted_params(session, row.id)
            assert encryption is not None
            board = self._board(session, row.id)
            assert board.close_hash is not None
            name = board.log
            after = self._after_close(session, name, board.close_hash)
        sums_entry = next(e for e in after if e.get("kind") == "tally-sums")
        partials: dict[int, list[Any]] = {}
        for entry in after:
            if entry.get("kind") == "partial-decryption":
                index, points = encryption.check_partials(
                    entry["partials"], sums=sums_entry["sums"]
                )
                partials[index] = points
        if len(partials) < encryption.threshold:
            return None
        ballots = int(sums_entry["ballots"])
        counts = decrypt_counts(
            definition.questions, sums=sums_entry["sums"], partials=partials, ballots=ballots
        )
        results = results_from_counts(definition.questions, counts, ballots=ballots)
        with self.ctx.db.write_session() as session:
            row = self._row(session, election_id, lock=True)
            if row.status != Status.DECRYPTING:
                return None
            check_transition(Status(row.status), Status.TALLIED)
            data = entry_bytes(
                results_entry(
                    tokens_issued=self.voters.tokens_issued(session, row.id),
                    ballots=ballots,
                    individual=False,
                    results=results,
                    paper=_paper_of(session.get(PaperTotalsRow, row.id)),
                    trustees=sorted(partials),
                )
            )
            self.audit.append(session, log=name, data=data)
            board = self._board(session, row.id, lock=True)
            board.results_hash = leaf_hash(data)
            row.status = Status.TALLIED.value
            row.updated_at = self.now
            self._record(
                session,
                "election.tallied",
                actor=actor,
                election=row.id,
                trustees=sorted(partials),
            )
        self._wait_integrated(name, leaf_hash(data))
        with self.ctx.db.write_session() as session:
            self._milestone(session, election_id, name)
        return {**results, "status": Status.TALLIED.value}

    def _closed_tokens(self, session: Session, name: str, close_index: int) -> int | None:
        """The token count the close entry states (None if the entry is not a close)."""
        entries = self.audit.entries(
            session, log=name, start=close_index, end=close_index + 1, reveal_sealed=True
        )
        for entry in entries:
            data = json.loads(entry.data)
            if data.get("kind") == "close" and isinstance(data.get("tokens_issued"), int):
                return int(data["tokens_issued"])
        return None

    def publish(self, *, election_id: str, actor: str) -> None:
        """tallied → published: the full board and the results become public.

        Refused with :class:`TallyCheckError` while the election's last tally failed its
        check (ADR 0010), whatever its status.
        """
        with self.ctx.db.read_session() as session:
            board = self._board(session, canonical_id(election_id))
            name, results_hash = board.log, board.results_hash
        if results_hash is not None:
            self._wait_integrated(name, results_hash)
        with self.ctx.db.write_session() as session:
            row = self._row(session, election_id, lock=True)
            failed = session.get(TallyFailureRow, row.id)
            if failed is not None:
                raise TallyCheckError(
                    f"publication refused: the last tally failed its check: {failed.reason}",
                    reason=failed.reason,
                )
            check_transition(Status(row.status), Status.PUBLISHED)
            row.status = Status.PUBLISHED.value
            row.updated_at = self.now
            self._record(session, "election.published", actor=actor, election=row.id)

    # -- periodic publication -----------------------------------------------------------

    def publish_issuance(self, *, force: bool = False) -> int:
        """Append an issuance entry (day, running count) to each open board whose count
        changed and whose last one is older than ``PARVIS_BALLOT_ISSUANCE_SECONDS`` (or at
        once with ``force``). Returns how many entries were appended."""
        interval = timedelta(seconds=self.settings.ballot_issuance_seconds)
        with self.ctx.db.read_session() as session:
            open_ids = list(
                session.scalars(
                    select(ElectionRow.id).where(ElectionRow.status == Status.OPEN.value)
                )
            )
        appended = 0
        for election_id in open_ids:
            with self.ctx.db.write_session() as session:
                row = self._row(session, election_id, share=True)
                if row.status != Status.OPEN:
                    continue
                board = self._board(session, row.id, lock=True)
                now = self.now
                last = board.issued_published_at
                if not force and last is not None and now - last < interval:
                    continue
                count = self.voters.tokens_issued(session, row.id)
                if count == board.issued_published:
                    continue
                day = now.astimezone(UTC).date().isoformat()
                self.audit.append(
                    session,
                    log=board.log,
                    data=entry_bytes(issuance_entry(day=day, tokens_issued=count)),
                )
                board.issued_published = count
                board.issued_published_at = coarse(now)
                appended += 1
        return appended

    def set_paper_totals(
        self, *, election_id: str, voters: object, counts: object, actor: str
    ) -> dict[str, Any]:
        """Paper-ballot totals, entered by an officer after the close (shown separately)."""
        with self.ctx.db.write_session() as session:
            row = self._row(session, election_id, lock=True)
            definition = self.definition(row)
            if not definition.paper:
                raise ElectionStateError("this election has no paper channel", status=row.status)
            if row.status != Status.CLOSED:
                raise ElectionStateError(
                    "paper totals are entered after the close and before the tally",
                    status=row.status,
                )
            clean = _paper_counts(definition, voters=voters, counts=counts)
            existing = session.get(PaperTotalsRow, row.id)
            text = json.dumps(clean["counts"], sort_keys=True)
            if existing is None:
                session.add(
                    PaperTotalsRow(
                        election_id=row.id,
                        voters=clean["voters"],
                        counts=text,
                        entered_by=actor[:100],
                    )
                )
            else:
                existing.voters, existing.counts, existing.entered_by = (
                    clean["voters"],
                    text,
                    actor[:100],
                )
            self._record(session, "paper_totals.entered", actor=actor, election=row.id)
        return clean


class NotThisTrusteeError(ForbiddenError):
    """A trustee uploaded another trustee's partial decryption (HTTP 403)."""

    title = "Not this trustee's partial decryption"


def _remember_failure(session: Session, election_id: str, failure: str | None) -> bool:
    """Record (or clear) the reason of a failed tally check (ADR 0010); whether it failed.

    The reason alone, committed on its own: the status, the board and the audit trail stay
    as the close left them.
    """
    previous = session.get(TallyFailureRow, election_id)
    if failure is not None:
        if previous is None:
            session.add(TallyFailureRow(election_id=election_id, reason=failure))
        else:
            previous.reason = failure
        return True
    if previous is not None:
        session.delete(previous)
    return False


def _paper_of(paper: PaperTotalsRow | None) -> dict[str, Any] | None:
    if paper is None:
        return None
    return {"voters": paper.voters, "counts": json.loads(paper.counts)}


def _tally_refusal(
    *, ballots: int, tokens: int, listed: int, closed_tokens: int | None, population: int
) -> str | None:
    """Why the counts cannot be published, in one line (ADR 0010), or None.

    The verifier's own checks on a results entry (board-format.md §8.6; ballot/verify.py
    ``_check_counts`` and ``_check_results``), run before the entry exists.
    """
    if ballots > tokens:
        return f"{ballots} ballots counted but only {tokens} tokens issued"
    if closed_tokens is None:
        return "the close entry states no token count"
    if tokens != closed_tokens:
        return f"{tokens} tokens issued in the register, {closed_tokens} on the close entry"
    if listed != tokens:
        # Each token writes one voter-list row and one register entry in one transaction
        # (ballot-secrecy.md §3): a row without its entry, or the reverse, was written by
        # someone else.
        return f"{listed} online voters on the voter list, {tokens} tokens in the register"
    if tokens > population:
        return f"{tokens} tokens issued for an eligible population of {population}"
    return None


def _paper_counts(
    definition: ElectionDefinition, *, voters: object, counts: object
) -> dict[str, Any]:
    if isinstance(voters, bool) or not isinstance(voters, int) or not 0 <= voters <= 10**9:
        raise InvalidPaperTotalsError("voters: an integer ≥ 0")
    if not isinstance(counts, Mapping):
        raise InvalidPaperTotalsError("counts: {question: {option: count}}")
    questions = {q.id: q for q in definition.questions}
    unknown = set(counts) - set(questions)
    if unknown:
        raise InvalidPaperTotalsError(
            f"counts: unknown question(s) {sorted(map(str, unknown))[:5]}"
        )
    clean: dict[str, dict[str, int]] = {}
    for qid, question in questions.items():
        given = counts.get(qid, {})
        if not isinstance(given, Mapping) or set(given) - set(question.option_ids):
            raise InvalidPaperTotalsError(
                f"counts.{qid}: counts keyed by the question's option ids"
            )
        row: dict[str, int] = {}
        for option in question.option_ids:
            value = given.get(option, 0)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10**9:
                raise InvalidPaperTotalsError(f"counts.{qid}.{option}: an integer ≥ 0")
            row[option] = value
        clean[qid] = row
    return {"voters": voters, "counts": clean}


def service_from(ctx: AppContext) -> ElectionService:
    """The election service of ``ctx`` (created on first use)."""
    return ctx.extension("ballot", ElectionService)
