"""The voter side of an election: who may receive a voting token, the voter register,
issuance (RFC 9474 ``BlindSign``) and paper voters (voting-protocol.md, "Token issuance").

It knows citizens and never sees a ballot, a token message or anything a ballot carries;
it cannot import the box side (:mod:`ballot.box`, :mod:`ballot.casting`: import-linter
contracts). What it writes carries no time finer than the day and no order: the register
row is (election, pseudonym, channel, day) in a ``WITHOUT ROWID`` table, and the
eligibility check stores no timed decision (docs/adr/0009-batched-boards.md).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, cast

from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import CursorResult, Table, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import identity
from ballot import auditing, register, rsabssa
from ballot.batches import boundary_at_or_before, shuffled
from ballot.definition import Status
from ballot.errors import (
    BlindInputError,
    ElectionStateError,
    EligiblePopulationReachedError,
    InvalidLengthError,
    ManifestNotPublishedError,
    NotEligibleError,
    OutOfRangeError,
    PaperVoteRecordedError,
    RateLimitedError,
    TokenAlreadyIssuedError,
)
from ballot.keys import open_rsa_key
from ballot.manifest import format_time
from ballot.records import ElectionRecords, canonical_id
from ballot.rsa_backends import get_backend
from ballot.tables import (
    BoardRow,
    ElectionKeyRow,
    ElectionRow,
    RegisterKeyRow,
    RegisterPendingRow,
    RegisterRow,
    VoterRow,
)
from parvis.kernel.context import AppContext
from parvis.kernel.errors import DomainError, NotFoundError
from parvis.kernel.ratelimit import SharedRateLimiter

__all__ = ["ONLINE", "PAPER", "IssuanceProof", "TokenBucket", "VoterRegister"]

#: Channels of the voter list.
ONLINE: Final = "online"
PAPER: Final = "paper"


@dataclass(frozen=True, slots=True)
class IssuanceProof:
    """The FranceConnect authentication that backs one issuance, as identity verified it
    (signature, ``iss``, ``aud``, ``exp``, ``acr`` and the issuance nonce: ballot-secrecy.md
    §3): the ID token as received, and the provider's public key (JWK) that signed it — what
    the register keeps so that a scrutineer can check it again."""

    id_token: str
    jwk: Mapping[str, Any]


class TokenBucket:
    """``rate`` events per second on average, bursts up to ``rate`` (per process).

    Deliberately per process: it guards this process's CPU against a burst of RSA private
    operations (each costs milliseconds), which is a per-process resource, and it must cost
    nothing on the signing path. It limits no citizen: the per-citizen limit is
    :attr:`VoterRegister.token_attempts`, shared by every worker and host (ADR 0014).
    """

    def __init__(self, rate: int) -> None:
        self.rate = float(rate)
        self._tokens = float(rate)
        self._stamp = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.rate, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True


class VoterRegister(ElectionRecords):
    """The voter side's use cases for one process."""

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self._keys: dict[str, rsa.RSAPrivateKey] = {}
        # Per citizen (keyed by pseudonym, never by address: citizens behind one proxy or
        # one public network must not share a limit), for every worker and host (ADR 0014).
        self.token_attempts = SharedRateLimiter.create(
            db=ctx.db,
            clock=ctx.clock,
            master_secret=self.settings.secret_key,
            scope="ballot.token-attempts",
            limit=self.settings.ballot_token_attempts,
            window=60,
        )
        self.signatures = TokenBucket(self.settings.ballot_signatures_per_second)
        self.backend = get_backend(self.settings.rsa_backend)
        # A register takes a batch's entries under one checkpoint (ADR 0009, ADR 0019), in
        # whichever process leads the audit sequencer: every process registers it.
        self.audit.integrate_whole(register.register_log_name(""))

    def tokens_issued(self, session: Session, election_id: str) -> int:
        """Tokens issued: the issuance register's size, its waiting entries included
        (ballot-secrecy.md §3). An election opened before the register existed counts its
        online voters."""
        kept = session.get(RegisterRow, election_id)
        if kept is not None:
            waiting = session.scalar(
                select(func.count())
                .select_from(RegisterPendingRow)
                .where(RegisterPendingRow.election_id == election_id)
            )
            return kept.size + int(waiting or 0)
        return int(
            session.scalar(
                select(func.count())
                .select_from(VoterRow)
                .where(VoterRow.election_id == election_id, VoterRow.channel == ONLINE)
            )
            or 0
        )

    def online_voters(self, session: Session, election_id: str) -> int:
        """Citizens the voter list says received a token: with the register, as many as
        its entries (one per token, ballot-secrecy.md §3), or the lists disagree."""
        return int(
            session.scalar(
                select(func.count())
                .select_from(VoterRow)
                .where(VoterRow.election_id == election_id, VoterRow.channel == ONLINE)
            )
            or 0
        )

    def _private_key(self, session: Session, election_id: str) -> rsa.RSAPrivateKey:
        with self._lock:
            cached = self._keys.get(election_id)
        if cached is not None:
            return cached
        sealed = session.get(ElectionKeyRow, election_id)
        if sealed is None:
            raise ManifestNotPublishedError("the election has no key yet")
        key = open_rsa_key(
            self.settings.sealing_secret, election_id=election_id, sealed=sealed.rsa_key
        )
        with self._lock:
            # One object per election: the libcrypto backend caches its handle per object.
            key = self._keys.setdefault(election_id, key)
        return key

    # -- issuance (the voter is known here) ---------------------------------------------

    def _issuance_refusal(  # noqa: PLR0911 - one return per refusal, in the protocol's order
        self, session: Session, row: ElectionRow, citizen: str
    ) -> tuple[DomainError | None, tuple[str, ...]]:
        """Why a token would be refused now, and identity's reasons (none if eligible)."""
        definition = self.definition(row)
        now = self.now
        if row.status != Status.OPEN or not definition.opens_at <= now < definition.closes_at:
            return ElectionStateError(
                "tokens are issued only while the election is open", status=row.status
            ), ("election_not_open",)
        existing = session.get(VoterRow, (row.id, citizen))
        if existing is not None and existing.channel == PAPER:
            return PaperVoteRecordedError("a paper vote is recorded for you"), (
                "paper_vote_recorded",
            )
        if existing is not None:
            return TokenAlreadyIssuedError("a voting token was already issued to you"), (
                "token_already_issued",
            )
        # Before identity's decision: a cheap read that spares it. The conditional update in
        # issue_token is what actually holds the cap.
        board = session.get(BoardRow, row.id)
        population = self._manifest(session, row.id).eligible_population
        if board is not None and board.tokens_issued >= population:
            return self._population_reached(population), ("eligible_population_reached",)
        try:
            # Neither stored nor audited (ballot-secrecy.md §2): a timed decision written
            # here would time the issuance; the voter register keeps the day only.
            decision = identity.check_eligibility(
                self.ctx, session, citizen_pseudonym=citizen, rule_id=definition.eligibility_rule
            )
        except NotFoundError:
            return NotEligibleError("no citizen account", reasons=("unknown_citizen",)), (
                "unknown_citizen",
            )
        reasons = tuple(str(r) for r in decision.reasons)
        if "paper_vote_recorded" in reasons:
            return PaperVoteRecordedError("a paper vote is recorded for you"), reasons
        if not decision.eligible:
            return NotEligibleError(
                "not eligible for this election: " + ", ".join(reasons), reasons=reasons
            ), reasons
        return None, ()

    @staticmethod
    def _population_reached(population: int) -> EligiblePopulationReachedError:
        return EligiblePopulationReachedError(
            f"as many tokens were issued as the election's eligible population "
            f"({population}): no more can be",
            population=population,
        )

    def eligibility(self, *, election_id: str, citizen: str) -> dict[str, Any]:
        """What ``GET /elections/{id}/eligibility`` answers: the issuance check itself, so
        its decision is not stored either (identity's ``check_eligibility``)."""
        with self.ctx.db.write_session() as session:
            row = self._row(session, election_id)
            refusal, reasons = self._issuance_refusal(session, row, citizen)
            existing = session.get(VoterRow, (row.id, citizen))
        return {
            "eligible": refusal is None,
            "reasons": list(reasons),
            "token_issued": existing is not None and existing.channel == ONLINE,
            "paper_vote": existing is not None and existing.channel == PAPER,
        }

    def check_issuable(self, *, election_id: str, citizen: str) -> str:
        """Raise the refusal a token request would meet now (ballot-secrecy.md §3: checked
        before the FranceConnect round trip, and again when the token is issued); return
        the election's canonical id. Stores nothing."""
        with self.ctx.db.read_session() as session:
            row = self._row(session, election_id)
            refusal, _reasons = self._issuance_refusal(session, row, citizen)
        if refusal is not None:
            raise refusal
        return row.id

    def issue_token(
        self,
        *,
        election_id: str,
        citizen: str,
        blinded_msg: bytes,
        proof: IssuanceProof | None = None,
    ) -> bytes:
        """Protocol step 4: check, record (pseudonym, election, day), ``BlindSign``.

        With the register (ballot-secrecy.md §3), the same transaction writes the register
        entry: the FranceConnect ID token of ``proof`` (``None``: an issuance not bound to an
        authentication, which the register shows as such and ``verify-register`` refuses),
        the blinded message's hash and the day; it waits for the next batch boundary to go
        into the register (:meth:`integrate_registers`).

        The record and the signature are in one transaction, the record first: a
        signature is never returned without its record, so no citizen gets two tokens. The
        signer checks its own output (RFC 9474 §4.3, in :func:`ballot.rsabssa.blind_sign`).
        The board's token count goes up by a conditional update in the same transaction,
        which refuses to pass the manifest's eligible population (voting-protocol.md,
        "Verification": #tokens issued ≤ eligible population), whatever the concurrency.
        """
        if not self.token_attempts.allow(citizen):
            raise RateLimitedError("too many token requests; try again in a minute")
        refusal: DomainError | None = None
        try:
            with self.ctx.db.write_session() as session:
                row = self._row(session, election_id, share=True)
                refusal, _reasons = self._issuance_refusal(session, row, citizen)
                if refusal is None:
                    key = self._private_key(session, row.id)
                    if len(blinded_msg) != rsabssa.modulus_length(key.public_key()):
                        raise BlindInputError("blinded_msg must be as long as the modulus")
                    session.add(
                        VoterRow(
                            election_id=row.id,
                            citizen=citizen,
                            channel=ONLINE,
                            day=self.now.astimezone(UTC).date(),
                        )
                    )
                    session.flush()
                    self._register_entry(session, row.id, blinded_msg=blinded_msg, proof=proof)
                    if not self.signatures.take():
                        raise RateLimitedError("the signer is busy; try again in a moment")
                    try:
                        signature = rsabssa.blind_sign(key, blinded_msg, backend=self.backend)
                    except (OutOfRangeError, InvalidLengthError) as exc:
                        raise BlindInputError(str(exc)) from None
                    # Last, so that on PostgreSQL the board row stays locked only until the
                    # commit, not through the signature; READ COMMITTED re-evaluates the
                    # condition once it holds the lock. No row changed: the cap is reached,
                    # and the rollback discards the record and the signature.
                    population = self._manifest(session, row.id).eligible_population
                    counted = cast(
                        "CursorResult[Any]",
                        session.execute(
                            update(BoardRow)
                            .where(
                                BoardRow.election_id == row.id,
                                BoardRow.tokens_issued < population,
                            )
                            .values(tokens_issued=BoardRow.tokens_issued + 1)
                            .execution_options(synchronize_session=False)
                        ),
                    )
                    if counted.rowcount != 1:
                        raise self._population_reached(population)
                    return signature
        except IntegrityError:
            # A concurrent request of the same citizen recorded its token (or a paper vote)
            # first: the primary key refused ours, and nothing was signed.
            with self.ctx.db.read_session() as session:
                existing = session.get(VoterRow, (canonical_id(election_id), citizen))
            if existing is not None and existing.channel == PAPER:
                raise PaperVoteRecordedError("a paper vote is recorded for you") from None
            raise TokenAlreadyIssuedError("a voting token was already issued to you") from None
        assert refusal is not None
        raise refusal

    # -- the issuance register (ballot-secrecy.md §3; ADR 0019) --------------------------

    def _register_entry(
        self,
        session: Session,
        election_id: str,
        *,
        blinded_msg: bytes,
        proof: IssuanceProof | None,
    ) -> None:
        """The register entry of an issuance, waiting for the next boundary; the signing key
        is archived in the first entry it signs (one row per key and election)."""
        if session.get(RegisterRow, election_id) is None:
            return  # opened before the register existed
        digest = register.blinded_hash(blinded_msg)
        archive = False
        if proof is not None:
            thumbprint = register.jwk_thumbprint(proof.jwk)
            make = (
                postgresql.insert
                if session.get_bind().dialect.name == "postgresql"
                else (sqlite.insert)
            )
            # RETURNING, not rowcount: psycopg reports -1 for INSERT … ON CONFLICT here.
            table = cast(Table, RegisterKeyRow.__table__)
            archive = (
                session.execute(
                    make(table)
                    .values(election_id=election_id, thumbprint=thumbprint)
                    .on_conflict_do_nothing()
                    .returning(table.c.thumbprint)
                ).first()
                is not None
            )
        entry = register.issuance_entry(
            election_id=election_id,
            day=self.now.astimezone(UTC).date().isoformat(),
            blinded_msg_hash=digest,
            id_token=proof.id_token if proof is not None else None,
            jwk=proof.jwk if proof is not None else None,
            archive_key=archive,
        )
        session.add(
            RegisterPendingRow(
                election_id=election_id, blinded_hash=digest, data=register.entry_bytes(entry)
            )
        )
        session.flush()

    def create_register(self, session: Session, election_id: str, *, actor: str) -> None:
        """The register of an election that opens: a private audit log, sealed before its
        first entry (its entries are personal data for scrutineers only)."""
        name = register.register_log_name(election_id)
        self.audit.ensure_log(session, name=name, public=False)
        self.audit.seal(session, log=name, actor=actor)
        session.add(RegisterRow(election_id=election_id, log=name, size=0, published_size=0))
        session.flush()

    def move_register(self, session: Session, election_id: str) -> int:
        """Append the waiting register entries to the register in a uniformly random order
        (ADR 0009: no issuance order), in the caller's transaction, which holds the election
        row ``FOR UPDATE`` (no issuance in flight). Returns how many were appended."""
        kept = session.get(RegisterRow, election_id)
        if kept is None:
            return 0
        waiting = session.execute(
            select(RegisterPendingRow.blinded_hash, RegisterPendingRow.data).where(
                RegisterPendingRow.election_id == election_id
            )
        ).all()
        if not waiting:
            return 0
        batch = shuffled(waiting)
        self.audit.append_many(session, log=kept.log, data=[bytes(r.data) for r in batch])
        session.execute(
            delete(RegisterPendingRow).where(RegisterPendingRow.election_id == election_id)
        )
        kept.size += len(batch)
        return len(batch)

    def integrate_registers(self, *, force: bool = False) -> int:
        """At each batch boundary, the waiting entries of each open election's register go
        into it, in a random order, under one checkpoint (like the board's ballots,
        ADR 0009). Returns how many entries were appended."""
        now = self.now
        with self.ctx.db.read_session() as session:
            candidates = session.execute(
                select(ElectionRow.id, ElectionRow.definition, RegisterRow.batched_through)
                .join(RegisterRow, RegisterRow.election_id == ElectionRow.id)
                .where(ElectionRow.status == Status.OPEN.value)
            ).all()
        total = 0
        for election_id, text, through in candidates:
            boundary = boundary_at_or_before(
                now, self._definition_of(election_id, text).batch_seconds
            )
            if force or through is None or through < boundary:
                total += self._integrate_register(election_id, boundary=boundary)
        return total

    def _integrate_register(self, election_id: str, *, boundary: datetime) -> int:
        with self.ctx.db.write_session() as session:
            row = self._row(session, election_id, lock=True)
            kept = session.get(RegisterRow, row.id)
            if row.status != Status.OPEN or kept is None:
                return 0
            moved = self.move_register(session, row.id)
            kept.batched_through = boundary
            name = kept.log
        if moved:
            self.audit.integrate(log=name)
            self.ctx.db.truncate_wal()
        return moved

    def register_integrated(self, election_id: str) -> bool:
        """Whether every entry appended to the register is under its latest checkpoint
        (integrating now when this process may)."""
        with self.ctx.db.read_session() as session:
            kept = session.get(RegisterRow, election_id)
            if kept is None:
                return True
            name, size = kept.log, kept.size
        self.audit.integrate(log=name)
        with self.ctx.db.read_session() as session:
            return self.audit.head(session, log=name).size >= size

    def board_register_entry(self, session: Session, election_id: str) -> dict[str, Any] | None:
        """The board entry showing the register's size and root (ballot-secrecy.md §3),
        when the register grew since the board last showed it and all of it is integrated;
        records that the board shows it. In the caller's transaction (the batch's)."""
        kept = session.get(RegisterRow, election_id)
        if kept is None:
            return None
        head = self.audit.head(session, log=kept.log)
        if head.size != kept.size or head.size <= kept.published_size:
            return None
        kept.published_size = head.size
        return {"kind": "register", "size": head.size, "root": register.b64u(head.root_hash)}

    def register_pending(self, session: Session, election_id: str) -> int:
        return int(
            session.scalar(
                select(func.count())
                .select_from(RegisterPendingRow)
                .where(RegisterPendingRow.election_id == election_id)
            )
            or 0
        )

    def register_export(self, election_id: str) -> dict[str, Any]:
        """The register export (``ballot.register``), for scrutineers: every integrated
        entry, in register order, with the FranceConnect parameters the entries are checked
        against. Reads the sealed log as its owner."""
        with self.ctx.db.read_session() as session:
            row = self._row(session, election_id)
            kept = session.get(RegisterRow, row.id)
            if kept is None:
                raise ManifestNotPublishedError("this election has no issuance register")
            definition = self.definition(row)
            head = self.audit.head(session, log=kept.log)
            entries: list[Any] = []
            for first in range(0, head.size, 1000):
                entries.extend(
                    json_entry.data
                    for json_entry in self.audit.entries(
                        session,
                        log=kept.log,
                        start=first,
                        end=min(head.size, first + 1000),
                        reveal_sealed=True,
                    )
                )
        settings = self.settings
        return {
            "format": register.REGISTER_FORMAT,
            "election": row.id,
            "issuer": settings.fc_issuer,
            "client_id": settings.fc_client_id,
            "acr": settings.fc_acr,
            "opens_at": format_time(definition.opens_at),
            "closes_at": format_time(definition.closes_at),
            "size": head.size,
            "root": register.b64u(head.root_hash),
            "entries": [register.parse_entry(bytes(data)) for data in entries],
        }

    # -- paper votes --------------------------------------------------------------------

    def mark_paper_voter(self, *, election_id: str, citizen: str, actor: str) -> None:
        """An agent records that this citizen voted on paper: refused if a token was
        issued to them; afterwards no token will be (the voter list's primary key)."""
        try:
            with self.ctx.db.write_session() as session:
                row = self._row(session, election_id, share=True)
                if not self.definition(row).paper:
                    raise ElectionStateError(
                        "this election has no paper channel", status=row.status
                    )
                if row.status not in {Status.SCHEDULED, Status.OPEN}:
                    raise ElectionStateError(
                        "paper votes are recorded before the close only", status=row.status
                    )
                existing = session.get(VoterRow, (row.id, citizen))
                if existing is not None and existing.channel == ONLINE:
                    raise TokenAlreadyIssuedError(
                        "a voting token was already issued to this citizen: no paper vote"
                    )
                if existing is not None:
                    raise PaperVoteRecordedError("a paper vote is already recorded")
                session.add(
                    VoterRow(
                        election_id=row.id,
                        citizen=citizen,
                        channel=PAPER,
                        day=self.now.astimezone(UTC).date(),
                    )
                )
                session.flush()
                auditing.record(
                    self.ctx,
                    session,
                    event_type="ballot.paper_vote.marked",
                    actor=actor,
                    subject=citizen,
                    details={"election": row.id},
                )
        except IntegrityError:
            raise TokenAlreadyIssuedError(
                "a token or a paper vote was recorded for this citizen at the same moment"
            ) from None

    # -- Art. 15 ------------------------------------------------------------------------

    def rights_of(self, session: Session, citizen: str) -> list[dict[str, str]]:
        """The elections where a voting right was issued to this citizen, with the day
        (the voter list's row: nothing finer exists), for their account page."""
        return [
            {
                "election": election.id,
                "title": self.definition(election).title["fr"],
                "day": voter.day.isoformat(),
            }
            for voter, election in session.execute(
                select(VoterRow, ElectionRow)
                .join(ElectionRow, ElectionRow.id == VoterRow.election_id)
                .where(VoterRow.citizen == citizen, VoterRow.channel == ONLINE)
                .order_by(VoterRow.day, ElectionRow.opens_at)
            )
        ]

    def voter_list_of(self, session: Session, citizen: str) -> list[dict[str, Any]]:
        """Whether this citizen received a token (or voted on paper), per election — and
        nothing else: no time, nothing about any ballot."""
        out = []
        for voter, election in session.execute(
            select(VoterRow, ElectionRow)
            .join(ElectionRow, ElectionRow.id == VoterRow.election_id)
            .where(VoterRow.citizen == citizen)
            .order_by(ElectionRow.opens_at)
        ):
            out.append(
                {
                    "election": election.id,
                    "title": self.definition(election).title["fr"],
                    "token_issued": voter.channel == ONLINE,
                    "paper_vote": voter.channel == PAPER,
                }
            )
        return out
