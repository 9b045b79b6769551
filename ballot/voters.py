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
from datetime import UTC
from typing import Any, Final, cast

from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import identity
from ballot import auditing, rsabssa
from ballot.definition import ElectionDefinition, Status
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
from ballot.records import ElectionRecords, canonical_id
from ballot.rsa_backends import get_backend
from ballot.tables import (
    BoardRow,
    ElectionKeyRow,
    ElectionRow,
    VoterRow,
)
from parvis.kernel.context import AppContext
from parvis.kernel.errors import DomainError, NotFoundError
from parvis.kernel.ratelimit import SharedRateLimiter

__all__ = ["ONLINE", "PAPER", "TokenBucket", "VoterRegister"]

#: Channels of the voter list.
ONLINE: Final = "online"
PAPER: Final = "paper"


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

    def tokens_issued(self, session: Session, election_id: str) -> int:
        """Tokens issued (online voters in the register)."""
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

    def issue_token(self, *, election_id: str, citizen: str, blinded_msg: bytes) -> bytes:
        """Protocol step 4: check, record (pseudonym, election, day), ``BlindSign``.

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
