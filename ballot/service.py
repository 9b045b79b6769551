"""Election use cases: definitions and lifecycle, token issuance, casting, the bulletin board,
tallies, paper votes (issue 7; the protocol is ``shared/design/voting-protocol.md``).

Each use case runs in its own transaction(s) through ``ctx.db.write_session()``. The two
sides of the protocol never meet here:

* issuance (:meth:`ElectionService.issue_token`) knows the citizen, writes the voter list
  (:class:`~ballot.tables.VoterRow`: pseudonym, election, day) and returns an RFC 9474
  blind signature — it never sees a ballot, a token message or anything that a ballot
  carries;
* casting (:meth:`ElectionService.cast_batch`) knows no citizen: it verifies the token and
  the ballot (:func:`ballot.token.verify_cast`, :func:`ballot.questions.check_choices`),
  makes the nullifier count once (UNIQUE key, conditional update for re-votes) and appends
  the ballot entry to the board.

The bulletin board of an election is the audit log ``board-<election id>`` (audit engine,
ADR 0006): entries are appended in the caller's transaction and integrated by the audit
sequencer, which gives them dense indexes and signs one checkpoint per batch. The log is not
public in the audit read API, and it is **sealed** from its creation (before the manifest)
to the close, so that no audit read path — a DPO's included — serves a ballot before the
close; it stays sealed when fewer ballots than the minimum anonymity set were counted.
Ballot serves the board with the publication rules of voting-protocol.md ("Fairness"):
commitments while open, full entries once published, and ballots withheld below the minimum
anonymity set.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, cast

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import CursorResult, Table, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import audit
import identity
from audit import Promise
from audit.errors import TreeRangeError
from audit.merkle import leaf_hash
from audit.tiles import TILE_WIDTH, TilePath
from ballot import auditing, rsabssa
from ballot.batches import board_order, boundary_at_or_before, next_boundary
from ballot.board import (
    EXPORT_FORMAT,
    close_entry,
    entry_bytes,
    issuance_entry,
    manifest_entry,
    normalise_tracking_code,
    paper_entry,
    results_entry,
    tracking_code,
)
from ballot.casting import CastCommitter
from ballot.definition import ElectionDefinition, Status, check_transition, parse_definition
from ballot.errors import (
    BlindInputError,
    ElectionNotFoundError,
    ElectionStateError,
    EligiblePopulationReachedError,
    InvalidElectionError,
    InvalidLengthError,
    InvalidPaperTotalsError,
    ManifestNotPublishedError,
    NotEligibleError,
    OutOfRangeError,
    PaperVoteRecordedError,
    RateLimitedError,
    ResultsNotPublishedError,
    StaleRevoteError,
    TokenAlreadyIssuedError,
    TokenAlreadyUsedError,
    UnknownReceiptError,
)
from ballot.keys import open_rsa_key, seal_rsa_key
from ballot.manifest import Manifest, format_time
from ballot.questions import check_choices
from ballot.rsa_backends import get_backend
from ballot.tables import (
    BallotRow,
    BoardRow,
    CommitmentRow,
    ElectionKeyRow,
    ElectionRow,
    MilestoneRow,
    PaperTotalsRow,
    PendingBallotRow,
    VoterRow,
)
from ballot.tally import tally
from ballot.tiles import TileCache, TileReader
from ballot.token import VerifiedCast, b64u_decode, b64u_encode, verify_cast
from parvis.kernel.context import AppContext
from parvis.kernel.errors import DomainError, NotFoundError

__all__ = [
    "BoardNotIntegratedError",
    "ElectionService",
    "ReceiptPendingError",
    "board_log_name",
]

log = logging.getLogger("parvis.ballot")

#: Channels of the voter list.
ONLINE: Final = "online"
PAPER: Final = "paper"
#: The leaf bytes of every ballot entry start with this (RFC 8785 sorts "cast" < "kind"):
#: the export recognises ballots without parsing them.
BALLOT_PREFIX: Final = b'{"cast":'
#: Longest wait for the audit sequencer when a transition needs its entry integrated.
INTEGRATION_TIMEOUT: Final = 30.0
#: Most commitments one board page lists.
MAX_PAGE: Final = 100_000
_CHUNK: Final = 1000


class ReceiptPendingError(NotFoundError):
    """The ballot is accepted but not yet integrated into the board's tree."""

    title = "Receipt not yet integrated"


class BoardNotIntegratedError(DomainError):
    """The audit sequencer did not integrate a board entry in time (HTTP 503)."""

    title = "Bulletin board not integrated yet"


def board_log_name(election_id: str) -> str:
    """The audit log that holds an election's bulletin board."""
    return f"board-{election_id}"


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _canonical_id(election_id: str) -> str:
    try:
        parsed = uuid.UUID(election_id)
    except (ValueError, AttributeError, TypeError):
        raise ElectionNotFoundError("no such election") from None
    if str(parsed) != election_id:
        raise ElectionNotFoundError("no such election")
    return election_id


def _coarse(moment: datetime) -> datetime:
    """Whole minutes: the only precision a public time on the board gets."""
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


class RateLimiter:
    """At most ``limit`` hits per ``window`` seconds per key (in memory, per process)."""

    def __init__(self, *, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._hits: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            hits = [t for t in self._hits.get(key, ()) if now - t < self.window]
            if len(hits) >= self.limit:
                self._hits[key] = hits
                return False
            hits.append(now)
            self._hits[key] = hits
            if len(self._hits) > 50_000:  # forget idle keys; never logged
                self._hits = {k: v for k, v in self._hits.items() if now - v[-1] < self.window}
            return True


class TokenBucket:
    """``rate`` events per second on average, bursts up to ``rate`` (per process)."""

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


@dataclass(frozen=True, slots=True)
class PreparedBallot:
    """A verified cast and its board entry, ready for the ballot box."""

    verified: VerifiedCast
    data: bytes
    leaf: bytes

    @classmethod
    def of(cls, verified: VerifiedCast) -> PreparedBallot:
        data = entry_bytes({"kind": "ballot", "cast": verified.request.to_json()})
        return cls(verified=verified, data=data, leaf=leaf_hash(data))


# Statements of the casting path (ADR 0006, "Casting"), built once per process: building
# and compiling them again for every batch was most of the committer's time in SQLAlchemy
# (issue 7 profile). Core columns of the tables, not mapped attributes, so that executing
# them skips the ORM's result machinery; values are bound parameters.


@functools.cache
def _election_for_cast() -> Any:
    """Status and definition of the election ``:election_id``, ``FOR SHARE``: a close
    (``FOR UPDATE``) waits for the casts in flight, and a cast that starts after the close
    sees it."""
    table = cast(Table, ElectionRow.__table__)
    return (
        select(table.c.status, table.c.definition)
        .where(table.c.id == bindparam("election_id"))
        .with_for_update(read=True)
    )


@functools.cache
def _known_nullifiers() -> Any:
    """The nullifiers among ``:nullifiers`` (an expanding list) already in the ballot box of
    ``:election_id``."""
    table = cast(Table, BallotRow.__table__)
    return select(table.c.nullifier).where(
        table.c.election_id == bindparam("election_id"),
        table.c.nullifier.in_(bindparam("nullifiers", expanding=True)),
    )


@functools.cache
def _insert_ignore(dialect: str) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING RETURNING nullifier`` on the nullifier key, for the
    dialect named: only the rows it inserted come back. Executed with one parameter set or
    many (one multi-row statement)."""
    make = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = cast(Table, BallotRow.__table__)
    return (
        make(table)
        .on_conflict_do_nothing(index_elements=[table.c.election_id, table.c.nullifier])
        .returning(table.c.nullifier)
    )


@functools.cache
def _revote() -> Any:
    """A re-vote: the conditional ``UPDATE … SET seq = :new_seq WHERE seq < :new_seq``, which
    READ COMMITTED re-evaluates once it holds the row lock. (Parameter names differ from the
    columns: SQLAlchemy reserves the column names for the SET clause.)"""
    table = cast(Table, BallotRow.__table__)
    return (
        update(table)
        .where(
            table.c.election_id == bindparam("election"),
            table.c.nullifier == bindparam("key"),
            table.c.seq < bindparam("new_seq"),
        )
        .values(seq=bindparam("new_seq"), leaf_hash=bindparam("new_leaf"))
    )


@functools.cache
def _insert_pending() -> Any:
    """Accepted ballots into the pending pool (one multi-row statement)."""
    return insert(cast(Table, PendingBallotRow.__table__))


class ElectionService:
    """The ballot domain's use cases for one process. Get it with ``ballot.service_from``."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.settings = ctx.settings
        self._lock = threading.Lock()
        self._keys: dict[str, rsa.RSAPrivateKey] = {}
        self._manifests: dict[str, Manifest] = {}
        self._public_keys: dict[str, rsa.RSAPublicKey] = {}
        self._definitions: dict[tuple[str, str], ElectionDefinition] = {}
        self.token_attempts = RateLimiter(limit=self.settings.ballot_token_attempts, window=60)
        self.signatures = TokenBucket(self.settings.ballot_signatures_per_second)
        self.backend = get_backend(self.settings.rsa_backend)
        self.committer = CastCommitter(self)
        # Boards take a whole batch under one checkpoint (ADR 0009), in whichever process
        # leads the audit sequencer: every process registers it.
        self.audit.integrate_whole(board_log_name(""))
        self._tiles = TileCache()

    # -- helpers ------------------------------------------------------------------------

    @property
    def audit(self) -> audit.AuditService:
        return audit.service_from(self.ctx)

    @property
    def now(self) -> datetime:
        return self.ctx.clock.now()

    def _row(
        self,
        session: Session,
        election_id: str,
        *,
        lock: bool = False,
        share: bool = False,
        drafts: bool = False,
        owner_client: str | None = None,
    ) -> ElectionRow:
        """The election, if the caller may see it (drafts: staff, or the owning platform)."""
        query = select(ElectionRow).where(ElectionRow.id == _canonical_id(election_id))
        if lock or share:
            query = query.with_for_update(read=not lock).execution_options(populate_existing=True)
        row = session.scalars(query).one_or_none()
        if row is None or (owner_client is not None and row.owner_client != owner_client):
            raise ElectionNotFoundError("no such election")
        if row.status == Status.DRAFT and not drafts and owner_client is None:
            raise ElectionNotFoundError("no such election")
        return row

    def definition(self, row: ElectionRow) -> ElectionDefinition:
        return self._definition_of(row.id, row.definition)

    def _definition_of(self, election_id: str, text: str) -> ElectionDefinition:
        key = (election_id, text)
        with self._lock:
            cached = self._definitions.get(key)
        if cached is None:
            cached = parse_definition(json.loads(text), election_id=uuid.UUID(election_id))
            with self._lock:
                self._definitions[key] = cached
        return cached

    def _record(self, session: Session, event: str, *, actor: str, **details: Any) -> None:
        auditing.record(
            self.ctx, session, event_type=f"ballot.{event}", actor=actor, details=details
        )

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
            "revote": definition.revote,
            "paper": definition.paper,
            "min_anonymity_set": definition.min_anonymity_set,
            "batch_seconds": definition.batch_seconds,
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
            row.status = Status.SCHEDULED.value
            row.updated_at = self.now
            self._record(session, "election.scheduled", actor=actor, election=row.id)

    def open(self, *, election_id: str, actor: str) -> None:
        """scheduled → open (voting-protocol.md, "Keys and the bulletin board").

        Generates the election's RSA key (RFC 9474, sealed at rest) and the board (an audit
        log with its own Ed25519 key), appends the manifest, waits until the manifest is
        entry 0 under a signed checkpoint, and only then opens: no token can be issued
        before the key is committed.
        """
        with self.ctx.db.read_session() as session:
            row = self._row(session, election_id, drafts=True)
            status = Status(row.status)
            if status is not Status.SCHEDULED:
                check_transition(status, Status.OPEN)
            definition = self.definition(row)
            prepared = session.get(BoardRow, row.id) is not None
        if definition.closes_at <= self.now:
            raise ElectionStateError("the closing time is already past", status=status.value)
        key = None if prepared else rsabssa.generate_key(self.settings.ballot_key_bits)
        with self.ctx.db.write_session() as session:
            row = self._row(session, election_id, lock=True, drafts=True)
            check_transition(Status(row.status), Status.OPEN)
            board = session.get(BoardRow, row.id)
            if board is None:
                assert key is not None  # made above, or a concurrent open prepared the board
                board = self._create_board(
                    session, row=row, definition=definition, key=key, actor=actor
                )
            manifest_hash, name = board.manifest_hash, board.log
        self._wait_integrated(name, manifest_hash)
        with self.ctx.db.write_session() as session:
            row = self._row(session, election_id, lock=True, drafts=True)
            check_transition(Status(row.status), Status.OPEN)
            first = self.audit.entries(session, log=name, start=0, end=1, reveal_sealed=True)[0]
            if first.index != 0 or not hmac.compare_digest(first.leaf_hash, manifest_hash):
                raise BoardNotIntegratedError("the manifest is not entry 0 of the board")
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
        # (voting-protocol.md, "Fairness"; issue 7, item 5). Ballot serves the board itself.
        info = self.audit.ensure_log(session, name=name, public=False)
        self.audit.seal(session, log=name, actor=actor)
        manifest = Manifest(
            election_id=definition.election_id.bytes,
            title=dict(definition.title),
            questions=definition.questions,
            opens_at=definition.opens_at,
            closes_at=definition.closes_at,
            eligibility_rule=definition.eligibility_rule,
            eligible_population=definition.eligible_population,
            issuer_spki=key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
            board_origin=info.origin,
            board_key=info.verifier_key,
            revote=definition.revote,
            min_anonymity_set=definition.min_anonymity_set,
            paper=definition.paper,
            batch_seconds=definition.batch_seconds,
        )
        data = entry_bytes(manifest_entry(manifest))
        self.audit.append(session, log=name, data=data)
        session.add(
            ElectionKeyRow(
                election_id=row.id,
                rsa_key=seal_rsa_key(self.settings.secret_key, election_id=row.id, key=key),
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
        self._record(session, "election.keys_generated", actor="system", election=row.id)
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
            board = self._board(session, row.id, lock=True)
            # The last batch goes on the board before the close entry (ADR 0009).
            self._move_pending(session, row.id, board.log)
            data = entry_bytes(
                close_entry(
                    closed_at=format_time(_coarse(now)),
                    tokens_issued=self._tokens_issued(session, row.id),
                )
            )
            self.audit.append(session, log=board.log, data=data)
            board.close_hash = leaf_hash(data)
            # Unsealed after the close entry, in its transaction: nothing is accepted after
            # it (FOR UPDATE above). Below the minimum anonymity set the board stays sealed:
            # its individual ballots are never to be read, only aggregates (issue 7, item 5).
            unsealed = self._counted(session, row.id) >= definition.min_anonymity_set
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
        with self.ctx.db.write_session() as session:
            self._milestone(session, row.id, name)

    def tally(self, *, election_id: str, actor: str) -> dict[str, Any]:
        """closed → tallied: recount the board (one ballot per nullifier, highest ``seq``),
        append the paper entry (if any) and the results entry, signed in a checkpoint."""
        with self.ctx.db.read_session() as session:
            row = self._row(session, election_id)
            check_transition(Status(row.status), Status.TALLIED)
            board = self._board(session, row.id)
            name, close_hash = board.log, board.close_hash
        assert close_hash is not None, "a closed election has a close entry"
        close_index = self._wait_integrated(name, close_hash)
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
            counted = self._count(session, name, end=close_index)
            results = tally(definition.questions, list(counted.values()))
            tokens = self._tokens_issued(session, row.id)
            paper_counts = (
                {"voters": paper.voters, "counts": json.loads(paper.counts)}
                if paper is not None
                else None
            )
            entries = []
            if paper_counts is not None:
                entries.append(entry_bytes(paper_entry(**paper_counts)))
            entries.append(
                entry_bytes(
                    results_entry(
                        tokens_issued=tokens,
                        ballots=len(counted),
                        individual=len(counted) >= definition.min_anonymity_set,
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
        self._wait_integrated(name, results_hash)
        with self.ctx.db.write_session() as session:
            self._milestone(session, row.id, name)
        return results

    def publish(self, *, election_id: str, actor: str) -> None:
        """tallied → published: the full board and the results become public."""
        with self.ctx.db.read_session() as session:
            board = self._board(session, _canonical_id(election_id))
            name, results_hash = board.log, board.results_hash
        if results_hash is not None:
            self._wait_integrated(name, results_hash)
        with self.ctx.db.write_session() as session:
            row = self._row(session, election_id, lock=True)
            check_transition(Status(row.status), Status.PUBLISHED)
            row.status = Status.PUBLISHED.value
            row.updated_at = self.now
            self._record(session, "election.published", actor=actor, election=row.id)

    def _board(self, session: Session, election_id: str, *, lock: bool = False) -> BoardRow:
        query = select(BoardRow).where(BoardRow.election_id == election_id)
        if lock:
            query = query.with_for_update().execution_options(populate_existing=True)
        board = session.scalars(query).one_or_none()
        if board is None:
            raise ManifestNotPublishedError("the election has not opened: it has no board yet")
        return board

    def _tokens_issued(self, session: Session, election_id: str) -> int:
        return int(
            session.scalar(
                select(func.count())
                .select_from(VoterRow)
                .where(VoterRow.election_id == election_id, VoterRow.channel == ONLINE)
            )
            or 0
        )

    def _counted(self, session: Session, election_id: str) -> int:
        """Ballots counted (one per nullifier: the ballot box's primary key)."""
        return int(
            session.scalar(
                select(func.count())
                .select_from(BallotRow)
                .where(BallotRow.election_id == election_id)
            )
            or 0
        )

    def _entries(self, session: Session, name: str, *, start: int, end: int) -> Iterator[Any]:
        # reveal_sealed: ballot owns the board and applies its own publication rules to
        # what it reads (commitments while open, ballots withheld below the threshold).
        for first in range(start, end, _CHUNK):
            yield from self.audit.entries(
                session, log=name, start=first, end=min(end, first + _CHUNK), reveal_sealed=True
            )

    def _count(self, session: Session, name: str, *, end: int) -> dict[bytes, Any]:
        """The counted ballots' choices by nullifier: per token, the highest ``seq``.

        The ballot box accepted a re-vote only with a higher ``seq`` (conditional update),
        so on the board a token's last ballot is its highest; this is the verifier's own
        resolution (ballot/verify.py), repeated on the stored entries.
        """
        counted: dict[bytes, tuple[int, Any]] = {}
        for entry in self._entries(session, name, start=1, end=end):
            if not entry.data.startswith(BALLOT_PREFIX):
                continue
            request = json.loads(entry.data)["cast"]
            nullifier = hashlib.sha256(b64u_decode(request["token"]["msg"], field="msg")).digest()
            seq = request["ballot"]["seq"]
            earlier = counted.get(nullifier)
            if earlier is None or seq > earlier[0]:
                counted[nullifier] = (seq, request["ballot"]["choices"])
        return {n: choices for n, (_seq, choices) in counted.items()}

    # -- the manifest and keys ----------------------------------------------------------

    def _manifest(self, session: Session, election_id: str) -> Manifest:
        with self._lock:
            cached = self._manifests.get(election_id)
        if cached is not None:
            return cached
        board = self._board(session, election_id)
        first = self.audit.entries(session, log=board.log, start=0, end=1, reveal_sealed=True)
        if not first or not hmac.compare_digest(first[0].leaf_hash, board.manifest_hash):
            raise ManifestNotPublishedError("the manifest is not on the board yet")
        manifest = Manifest.from_json(json.loads(first[0].data)["manifest"])
        with self._lock:
            self._manifests[election_id] = manifest
            self._public_keys[election_id] = manifest.public_key()
        return manifest

    def manifest(self, session: Session, election_id: str) -> dict[str, Any]:
        """The manifest as committed in entry 0 (once the election is open)."""
        row = self._row(session, election_id)
        if row.status in {Status.DRAFT, Status.SCHEDULED}:
            raise ManifestNotPublishedError("the election has not opened yet")
        return self._manifest(session, row.id).to_json()

    def _private_key(self, session: Session, election_id: str) -> rsa.RSAPrivateKey:
        with self._lock:
            cached = self._keys.get(election_id)
        if cached is not None:
            return cached
        sealed = session.get(ElectionKeyRow, election_id)
        if sealed is None:
            raise ManifestNotPublishedError("the election has no key yet")
        key = open_rsa_key(self.settings.secret_key, election_id=election_id, sealed=sealed.rsa_key)
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
        # Before identity's decision (stored and audited): a cheap read that spares it. The
        # conditional update in issue_token is what actually holds the cap.
        board = session.get(BoardRow, row.id)
        if board is not None and board.tokens_issued >= definition.eligible_population:
            return self._population_reached(definition), ("eligible_population_reached",)
        try:
            decision = identity.eligibility_for(
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
    def _population_reached(definition: ElectionDefinition) -> EligiblePopulationReachedError:
        return EligiblePopulationReachedError(
            f"as many tokens were issued as the election's eligible population "
            f"({definition.eligible_population}): no more can be",
            population=definition.eligible_population,
        )

    def eligibility(self, *, election_id: str, citizen: str) -> dict[str, Any]:
        """What ``GET /elections/{id}/eligibility`` answers (the decision is stored by
        identity, as for any eligibility check)."""
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
                    population = self.definition(row).eligible_population
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
                        raise self._population_reached(self.definition(row))
                    return signature
        except IntegrityError:
            # A concurrent request of the same citizen recorded its token (or a paper vote)
            # first: the primary key refused ours, and nothing was signed.
            with self.ctx.db.read_session() as session:
                existing = session.get(VoterRow, (_canonical_id(election_id), citizen))
            if existing is not None and existing.channel == PAPER:
                raise PaperVoteRecordedError("a paper vote is recorded for you") from None
            raise TokenAlreadyIssuedError("a voting token was already issued to you") from None
        assert refusal is not None
        raise refusal

    # -- casting (the voter is unknown here) --------------------------------------------

    def knows(self, election_id: str) -> bool:
        """Whether this process has the election's manifest in memory (no I/O to verify)."""
        with self._lock:
            return election_id in self._public_keys

    def prepare_cast(self, election_id: str, body: bytes | Mapping[str, object]) -> PreparedBallot:
        """Verify a cast request against the election's manifest (no database write):
        token signature, election id, ballot signature (``verify_cast``) and the ballot
        rules (``check_choices``). Whether the election is open is checked at commit."""
        election_id = _canonical_id(election_id)
        with self._lock:
            manifest = self._manifests.get(election_id)
            public_key = self._public_keys.get(election_id)
        if manifest is None or public_key is None:
            with self.ctx.db.read_session() as session:
                self.manifest(session, election_id)
            with self._lock:
                manifest = self._manifests[election_id]
                public_key = self._public_keys[election_id]
        verified = verify_cast(public_key, expected_election_id=manifest.election_id, cast=body)
        check_choices(manifest.questions, verified.choices)
        return PreparedBallot.of(verified)

    def _one_by_one(
        self,
        session: Session,
        *,
        election_id: str,
        revote: bool,
        ballot: PreparedBallot,
    ) -> PreparedBallot | DomainError:
        """One ballot whose nullifier may exist: insert, or re-vote by conditional update."""
        vote = ballot.verified
        inserted = session.execute(
            _insert_ignore(session.get_bind().dialect.name),
            {
                "election_id": election_id,
                "nullifier": vote.nullifier,
                "seq": vote.seq,
                "leaf_hash": ballot.leaf,
            },
        ).first()
        if inserted is not None:
            return ballot
        if not revote:
            return TokenAlreadyUsedError("this token has already cast its ballot")
        # READ COMMITTED re-evaluates the condition once it holds the row lock: of
        # concurrent re-votes, each succeeds only over a lower seq.
        moved = cast(
            CursorResult[Any],
            session.execute(
                _revote(),
                {
                    "election": election_id,
                    "key": vote.nullifier,
                    "new_seq": vote.seq,
                    "new_leaf": ballot.leaf,
                },
            ),
        ).rowcount
        if moved != 1:
            return StaleRevoteError(
                "a ballot with this seq or a higher one was already cast with this token",
                seq=vote.seq,
            )
        return ballot

    def cast_batch(
        self, election_id: str, ballots: Sequence[PreparedBallot]
    ) -> tuple[datetime | None, list[Promise | DomainError]]:
        """Put verified ballots in the ballot box, in one transaction.

        A new nullifier is inserted (the primary key makes a token count once, whatever
        the concurrency); a known one is a re-vote, accepted only if re-voting is allowed
        and only by a conditional update to a higher ``seq`` — so of concurrent casts of one
        token exactly one wins, or the highest ``seq``. Ballots on nullifiers not seen
        before go in with one multi-row statement; any that another transaction inserted
        meanwhile, and every re-vote, take the one-by-one path. Accepted ballots go to the
        pending pool in the same transaction — not to the board, which takes them at the next
        batch boundary in a random order (:meth:`integrate_batches`; ADR 0009). Returns that
        boundary and, per ballot, the board's signed promise (integrated by the boundary plus
        the audit engine's delay) or the refusal.
        """
        election_id = _canonical_id(election_id)
        with self.ctx.db.write_session() as session:
            # FOR SHARE: a close (FOR UPDATE) waits for the casts in flight, and a cast
            # that starts after the close sees it. (A Core select: no ORM object needed.)
            found = session.execute(_election_for_cast(), {"election_id": election_id}).first()
            if found is None:
                raise ElectionNotFoundError("no such election")
            status, text = found
            definition = self._definition_of(election_id, text)
            now = self.now
            if status != Status.OPEN or not definition.opens_at <= now < definition.closes_at:
                refusal = ElectionStateError(
                    "ballots are accepted only while the election is open", status=status
                )
                return None, [refusal] * len(ballots)
            revote = definition.revote
            nullifiers = list({b.verified.nullifier for b in ballots})
            known = set(
                session.scalars(
                    _known_nullifiers(), {"election_id": election_id, "nullifiers": nullifiers}
                )
            )
            outcome: list[PreparedBallot | DomainError | None] = [None] * len(ballots)
            fresh: dict[bytes, PreparedBallot] = {}  # first-time nullifiers: last accepted
            members: dict[bytes, list[int]] = {}
            for i, ballot in enumerate(ballots):
                nullifier = ballot.verified.nullifier
                if nullifier in known:
                    continue
                members.setdefault(nullifier, []).append(i)
                best = fresh.get(nullifier)
                if best is None or (revote and ballot.verified.seq > best.verified.seq):
                    fresh[nullifier] = ballot
                    outcome[i] = ballot
                elif not revote:
                    outcome[i] = TokenAlreadyUsedError("this token has already cast its ballot")
                else:
                    outcome[i] = StaleRevoteError(
                        "a ballot with this seq or a higher one was already cast with this token",
                        seq=ballot.verified.seq,
                    )
            if fresh:
                inserted = set(
                    session.scalars(
                        _insert_ignore(session.get_bind().dialect.name),
                        [
                            {
                                "election_id": election_id,
                                "nullifier": n,
                                "seq": b.verified.seq,
                                "leaf_hash": b.leaf,
                            }
                            for n, b in fresh.items()
                        ],
                    )
                )
                for nullifier in set(fresh) - inserted:  # inserted meanwhile by another worker
                    for i in members[nullifier]:
                        outcome[i] = None
            for i, item in enumerate(outcome):
                if item is None:
                    outcome[i] = self._one_by_one(
                        session, election_id=election_id, revote=revote, ballot=ballots[i]
                    )
            accepted = [item for item in outcome if isinstance(item, PreparedBallot)]
            if accepted:
                session.execute(
                    _insert_pending(),
                    [
                        {
                            "election_id": election_id,
                            "leaf_hash": b.leaf,
                            "code": tracking_code(b.leaf).replace("-", ""),
                            "nullifier_hash": hashlib.sha256(b.verified.nullifier).digest(),
                            "data": b.data,
                        }
                        for b in accepted
                    ],
                )
            appears_at = next_boundary(now, definition.batch_seconds)
            name = board_log_name(election_id)
            integrate_by = appears_at + self.audit.max_delay
            result: list[Promise | DomainError] = []
            for item in outcome:
                assert item is not None
                result.append(
                    self.audit.promise(
                        session, log=name, leaf_hash=item.leaf, integrate_by=integrate_by
                    )
                    if isinstance(item, PreparedBallot)
                    else item
                )
        return appears_at, result

    # -- batches (ADR 0009) ---------------------------------------------------------------

    def integrate_batches(self, *, force: bool = False) -> int:
        """Put each open election's waiting ballots on its board, once per boundary.

        Run by the publisher inside ``parvis serve`` (every second; only a passed boundary
        does anything) and by tests and the CLI. For each open election whose last
        integrated boundary is behind the current one — or every open election with
        ``force`` — the pending pool goes on the board in a uniformly random order under one
        checkpoint (:meth:`_move_pending`). Several processes may run it: the board row's
        lock and ``batched_through`` make each boundary integrate once. Returns how many
        ballots went on boards.
        """
        now = self.now
        with self.ctx.db.read_session() as session:
            candidates = session.execute(
                select(ElectionRow.id, ElectionRow.definition, BoardRow.batched_through)
                .join(BoardRow, BoardRow.election_id == ElectionRow.id)
                .where(ElectionRow.status == Status.OPEN.value)
            ).all()
        total = 0
        for election_id, text, through in candidates:
            boundary = boundary_at_or_before(
                now, self._definition_of(election_id, text).batch_seconds
            )
            if force or through is None or _aware(through) < boundary:
                total += self._integrate_batch(election_id, boundary=boundary, force=force)
        return total

    def _integrate_batch(self, election_id: str, *, boundary: datetime, force: bool) -> int:
        with self.ctx.db.write_session() as session:
            # The board row serialises integrators and the close (which locks it too);
            # casts never lock it, so they go on while a batch is integrated.
            board = self._board(session, election_id, lock=True)
            status = session.scalar(select(ElectionRow.status).where(ElectionRow.id == election_id))
            through = board.batched_through
            if status != Status.OPEN or (
                not force and through is not None and _aware(through) >= boundary
            ):
                return 0
            moved = self._move_pending(session, election_id, board.log)
            board.batched_through = boundary
            name = board.log
        if moved:
            # Integrate now when this process may (no sequencer leader elsewhere); otherwise
            # the leader integrates the batch whole within its delay (integrate_whole).
            self.audit.integrate(log=name)
        return moved

    def _move_pending(self, session: Session, election_id: str, name: str) -> int:
        """Append every waiting ballot of the election to its board in a uniformly random
        order, with their commitments, and empty the pool — in the caller's transaction, so
        a crash leaves the ballots either waiting or on the board, never lost or doubled.

        Only the rows read here are deleted: a cast committed meanwhile (PostgreSQL) waits
        for the next batch.
        """
        waiting = session.execute(
            select(
                PendingBallotRow.leaf_hash,
                PendingBallotRow.code,
                PendingBallotRow.nullifier_hash,
                PendingBallotRow.data,
            ).where(PendingBallotRow.election_id == election_id)
        ).all()
        if not waiting:
            return 0
        batch = board_order(
            waiting,
            token=lambda row: bytes(row.nullifier_hash),
            seq=lambda row: int(json.loads(row.data)["cast"]["ballot"]["seq"]),
        )
        self.audit.append_many(session, log=name, data=[bytes(row.data) for row in batch])
        session.execute(
            insert(CommitmentRow),
            [
                {
                    "election_id": election_id,
                    "leaf_hash": bytes(row.leaf_hash),
                    "code": row.code,
                    "nullifier_hash": bytes(row.nullifier_hash),
                }
                for row in batch
            ],
        )
        leaves = [bytes(row.leaf_hash) for row in batch]
        for first in range(0, len(leaves), _CHUNK):
            session.execute(
                delete(PendingBallotRow).where(
                    PendingBallotRow.election_id == election_id,
                    PendingBallotRow.leaf_hash.in_(leaves[first : first + _CHUNK]),
                )
            )
        return len(batch)

    def _proofs(
        self, name: str, leaves: Sequence[bytes], *, fresh: bool
    ) -> dict[bytes, dict[str, Any]]:
        found: dict[bytes, dict[str, Any]] = {}
        with self.ctx.db.read_session() as session:
            head = self.audit.head(session, log=name)
            if head.size == 0:
                return found
            reader = TileReader(self.audit, session, log=name, size=head.size, cache=self._tiles)
            indexes = reader.find(leaves, tiles=2)
            for leaf in leaves:
                if leaf not in indexes and not fresh:
                    try:
                        indexes[leaf] = self.audit.index_of(
                            session, log=name, leaf_hash=leaf, size=head.size
                        )
                    except TreeRangeError:
                        continue
            for leaf, index in indexes.items():
                found[leaf] = {
                    "index": index,
                    "tree_size": head.size,
                    "checkpoint": head.note,
                    "inclusion_proof": [b64u_encode(p) for p in reader.proof(index)],
                }
        return found

    # -- public board views -------------------------------------------------------------

    def _leaves(
        self, session: Session, name: str, *, start: int, end: int, size: int
    ) -> list[bytes]:
        """Leaf hashes ``[start, end)`` from level-0 tiles (C2SP tlog-tiles) of ``size``."""
        out: list[bytes] = []
        if start >= end:
            return out
        first_tile = start // TILE_WIDTH
        for index in range(first_tile, (end - 1) // TILE_WIDTH + 1):
            width = min(TILE_WIDTH, size - index * TILE_WIDTH)
            data = self.audit.tile(
                session, log=name, tile=TilePath(level=0, index=index, width=width)
            )
            out.extend(data[i : i + 32] for i in range(0, len(data), 32))
        offset = start - first_tile * TILE_WIDTH
        return out[offset : offset + end - start]

    def board_view(
        self, session: Session, election_id: str, *, start: int = 0, limit: int = MAX_PAGE
    ) -> dict[str, Any]:
        """The open board (voting-protocol.md, "Fairness"): commitments only, plus counts."""
        row = self._row(session, election_id)
        board = self._board(session, row.id)
        head = self.audit.head(session, log=board.log)
        limit = max(1, min(limit, MAX_PAGE))
        start = max(0, start)
        end = min(head.size, start + limit)
        leaves = self._leaves(session, board.log, start=start, end=end, size=head.size)
        known: dict[bytes, bytes] = {}
        for first in range(0, len(leaves), 500):
            chunk = leaves[first : first + 500]
            known.update(
                (bytes(leaf), bytes(nullifier_hash))
                for leaf, nullifier_hash in session.execute(
                    select(CommitmentRow.leaf_hash, CommitmentRow.nullifier_hash).where(
                        CommitmentRow.election_id == row.id, CommitmentRow.leaf_hash.in_(chunk)
                    )
                )
            )
        commitments = [
            {
                "index": start + i,
                "leaf_hash": b64u_encode(leaf),
                "nullifier_hash": b64u_encode(known[leaf]),
            }
            for i, leaf in enumerate(leaves)
            if leaf in known
        ]
        return {
            "election": row.id,
            "origin": board.origin,
            "status": row.status,
            "tokens_issued": board.issued_published,
            "ballots": session.scalar(
                select(func.count())
                .select_from(CommitmentRow)
                .where(CommitmentRow.election_id == row.id)
            ),
            "size": head.size,
            "commitments": commitments,
            "checkpoint": head.note,
            "next": end if end < head.size else None,
        }

    def checkpoint(self, session: Session, election_id: str) -> str:
        row = self._row(session, election_id)
        return self.audit.checkpoint(session, log=self._board(session, row.id).log)

    def receipt(self, session: Session, election_id: str, code: str) -> dict[str, Any]:
        """A receipt by tracking code (``board-format.md`` §5): ``included`` with a fresh
        inclusion proof, or ``pending`` with the boundary at which it will appear (ADR 0009).

        Only the holder of the code learns anything: the code is the ballot's, never in a
        request that carries a session (the tracker fetches without credentials).
        """
        row = self._row(session, election_id)
        board = self._board(session, row.id)
        try:
            wanted = normalise_tracking_code(code)
        except DomainError:
            raise UnknownReceiptError("no ballot on this board has this tracking code") from None
        compact = wanted.replace("-", "")
        leaf = session.scalars(
            select(CommitmentRow.leaf_hash).where(
                CommitmentRow.election_id == row.id, CommitmentRow.code == compact
            )
        ).first()
        waiting = (
            session.scalars(
                select(PendingBallotRow.leaf_hash).where(
                    PendingBallotRow.election_id == row.id, PendingBallotRow.code == compact
                )
            ).first()
            if leaf is None
            else None
        )
        known = leaf if leaf is not None else waiting
        if known is None or not hmac.compare_digest(tracking_code(known), wanted):
            raise UnknownReceiptError("no ballot on this board has this tracking code")
        found = self._proofs(board.log, [known], fresh=False).get(known) if leaf else None
        base = {"election": row.id, "tracking_code": wanted, "leaf_hash": b64u_encode(known)}
        if found is None:
            # Waiting for its boundary, or (briefly) for the sequencer's checkpoint of the
            # batch it went into.
            batch_seconds = self.definition(row).batch_seconds
            appears_at = (
                next_boundary(self.now, batch_seconds)
                if leaf is None
                else _aware(board.batched_through or self.now)
            )
            return {
                **base,
                "status": "pending",
                "appears_at": format_time(appears_at),
                "index": None,
                "tree_size": None,
                "checkpoint": None,
                "inclusion_proof": None,
            }
        return {**base, "status": "included", "appears_at": None, **found}

    def export_chunks(self, election_id: str, *, reveal: bool | None = None) -> Iterator[bytes]:
        """The board export (``board-format.md`` §7), as JSON text in pieces.

        ``reveal`` says whether ballot entries are shown; by default only when the election
        is published and at least ``min_anonymity_set`` ballots were counted. Otherwise
        ballot entries are withheld (their leaf hash only). Entries up to the latest
        checkpoint, which is the export's last checkpoint.
        """
        with self.ctx.db.read_session() as session:
            row = self._row(session, election_id)
            board = self._board(session, row.id)
            head = self.audit.head(session, log=board.log)
            definition = self.definition(row)
            counted = self._counted(session, row.id)
            if reveal is None:
                reveal = row.status == Status.PUBLISHED
            reveal = reveal and counted >= definition.min_anonymity_set
            notes = [
                note
                for size, note in session.execute(
                    select(MilestoneRow.size, MilestoneRow.note)
                    .where(MilestoneRow.election_id == row.id, MilestoneRow.size < head.size)
                    .order_by(MilestoneRow.size)
                )
            ] + [head.note]
            yield (
                json.dumps({"format": EXPORT_FORMAT, "origin": board.origin, "checkpoints": notes})[
                    :-1
                ]
                + ', "entries": ['
            ).encode()
            for entry in self._entries(session, board.log, start=0, end=head.size):
                data = entry.data
                if not reveal and data.startswith(BALLOT_PREFIX):
                    data = b'{"withheld":"' + b64u_encode(entry.leaf_hash).encode() + b'"}'
                yield (b"," if entry.index else b"") + data
            yield b"]}"

    def export(self, election_id: str, *, reveal: bool | None = None) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(
            b"".join(self.export_chunks(election_id, reveal=reveal))
        )
        return result

    def results(self, session: Session, election_id: str) -> dict[str, Any]:
        """The published results entry, with its index on the board."""
        row = self._row(session, election_id)
        if row.status != Status.PUBLISHED:
            raise ResultsNotPublishedError("the results are not published yet")
        board = self._board(session, row.id)
        assert board.results_hash is not None
        index = self.audit.index_of(session, log=board.log, leaf_hash=board.results_hash)
        entry = json.loads(
            self.audit.entries(
                session, log=board.log, start=index, end=index + 1, reveal_sealed=True
            )[0].data
        )
        entry.pop("kind")
        return {"election": row.id, **entry, "index": index}

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
                if not force and last is not None and now - _aware(last) < interval:
                    continue
                count = self._tokens_issued(session, row.id)
                if count == board.issued_published:
                    continue
                day = now.astimezone(UTC).date().isoformat()
                self.audit.append(
                    session,
                    log=board.log,
                    data=entry_bytes(issuance_entry(day=day, tokens_issued=count)),
                )
                board.issued_published = count
                board.issued_published_at = _coarse(now)
                appended += 1
        return appended

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
