"""The ballot domain's tables (SQLAlchemy 2 typed models).

Two groups that share **no identifier and no join key** (architecture.md, "Separate the
voter list from the ballot box"):

* the **voter list** — :class:`VoterRow`: (election, citizen pseudonym, channel, day). Who
  received a token (or voted on paper), never what they voted; no time finer than the day,
  no blinded message, no row number that a ballot refers to;
* the **ballot box** — :class:`BallotRow` (one row per nullifier: the UNIQUE key that makes
  a token count once, its last ``seq`` and entry), :class:`PendingBallotRow` (the ballots
  accepted since the last batch boundary) and what ballot keeps beside the board:
  :class:`CommitmentRow`, :class:`MilestoneRow`, :class:`BoardRow`. No timestamp at all.

No order either (docs/adr/0009-batched-boards.md): the tables written on the token path and
the cast path have random primary keys (a pseudonym, a nullifier, a leaf hash) and, on
SQLite, no rowid (``WITHOUT ROWID``: the rows are stored in key order, not in the order they
were written), so neither the order in which tokens were issued nor the order in which
ballots arrived survives in the database.

The bulletin board itself is an audit log (``board-<election id>``): entries, tree and
signed checkpoints live in the audit engine's append-only tables (ADR 0006).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Final

from sqlalchemy import (
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from parvis.kernel.db import Base, UTCDateTime

#: Table option: on SQLite, a clustered table keyed by its (random) primary key instead of
#: an implicit rowid that would number the rows in the order they were written.
NO_ROWID: Final = {"sqlite_with_rowid": False}

__all__ = [
    "BallotRow",
    "BoardRow",
    "CeremonyRow",
    "CommitmentRow",
    "ElectionKeyRow",
    "ElectionRow",
    "MilestoneRow",
    "PaperTotalsRow",
    "PartialDecryptionRow",
    "PendingBallotRow",
    "RegisterKeyRow",
    "RegisterPendingRow",
    "RegisterRow",
    "TallyFailureRow",
    "VoterRow",
]


class ElectionRow(Base):
    """An election: its definition (canonical JSON, ``ballot.definition``) and status."""

    __tablename__ = "ballot_elections"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    definition: Mapped[str] = mapped_column(Text, nullable=False)
    opens_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    #: The consent API client that created it (platform elections), else None (staff, CLI).
    owner_client: Mapped[str | None] = mapped_column(String(48), nullable=True, index=True)
    created_by: Mapped[str] = mapped_column(String(100), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class ElectionKeyRow(Base):
    """The election's RSA private key, encrypted at rest (XChaCha20-Poly1305, ``ballot.keys``)."""

    __tablename__ = "ballot_election_keys"

    election_id: Mapped[str] = mapped_column(ForeignKey("ballot_elections.id"), primary_key=True)
    rsa_key: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class BoardRow(Base):
    """An election's bulletin board: the audit log that holds it and what ballot publishes.

    The log itself (entries, Merkle nodes, signed checkpoints, its Ed25519 key) is the audit
    engine's (``audit.service_from(ctx)``, log ``log``); the leaf hashes of the manifest,
    close and results entries say where they are. ``issued_published`` is the token
    count of the last issuance entry and ``issued_published_at`` when it was appended
    (scheduling only: the entry itself carries the day). ``tokens_issued`` counts the
    tokens issued, raised only by a conditional update that stops at the eligible
    population (migration ``ballot_0002``).
    """

    __tablename__ = "ballot_boards"

    election_id: Mapped[str] = mapped_column(ForeignKey("ballot_elections.id"), primary_key=True)
    log: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    origin: Mapped[str] = mapped_column(String(255), nullable=False)
    verifier_key: Mapped[str] = mapped_column(Text, nullable=False)
    manifest_hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)
    close_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), nullable=True)
    results_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), nullable=True)
    issued_published: Mapped[int] = mapped_column(BigInteger, nullable=False)
    issued_published_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    tokens_issued: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    #: The last batch boundary at which the waiting ballots were integrated (a multiple of
    #: the election's ``batch_seconds``: a public time, no finer than the boundaries).
    batched_through: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class CommitmentRow(Base):
    """What the open board shows of a ballot entry, and how a receipt finds it.

    ``code`` is the tracking code without hyphens (``board-format.md`` §5);
    ``nullifier_hash`` = SHA-256(nullifier). Keyed by the entry's leaf hash; the entry and
    its index are in the audit log.
    """

    __tablename__ = "ballot_commitments"
    __table_args__ = (Index("ix_ballot_commitments_code", "election_id", "code"), NO_ROWID)

    election_id: Mapped[str] = mapped_column(ForeignKey("ballot_elections.id"), primary_key=True)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    code: Mapped[str] = mapped_column(String(16), nullable=False)
    nullifier_hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)


class MilestoneRow(Base):
    """Checkpoints kept for the board export: after the manifest, the close and the results
    were integrated (``board-format.md`` §7 ``checkpoints``)."""

    __tablename__ = "ballot_milestones"

    election_id: Mapped[str] = mapped_column(ForeignKey("ballot_elections.id"), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    note: Mapped[str] = mapped_column(Text, nullable=False)


class BallotRow(Base):
    """The ballot box's counted ballot per token: one row per nullifier (SHA-256 of the token
    message) whose ballots are on the board, with the highest ``seq`` and its leaf hash.

    Written when a batch goes on the board, in the batch's random order — never at cast
    time, which would store the arrival order of tokens in the table's layout (ADR 0009).
    The primary key keeps one row per token (voting-protocol.md, "Casting"); while a ballot
    waits, :class:`PendingBallotRow`'s UNIQUE slot does. No timestamp, nothing about the
    voter.
    """

    __tablename__ = "ballot_ballots"
    __table_args__ = (NO_ROWID,)

    election_id: Mapped[str] = mapped_column(ForeignKey("ballot_elections.id"), primary_key=True)
    nullifier: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)


class VoterRow(Base):
    """The voter list: this citizen received a token (``online``) or voted on ``paper``.

    The primary key makes the two exclusive and a token unique per citizen and election,
    on every database, whatever the concurrency. ``day`` only: no finer time.
    """

    __tablename__ = "ballot_voters"
    __table_args__ = (Index("ix_ballot_voters_channel", "election_id", "channel"), NO_ROWID)

    election_id: Mapped[str] = mapped_column(ForeignKey("ballot_elections.id"), primary_key=True)
    citizen: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(String(8), nullable=False)
    day: Mapped[date] = mapped_column(Date, nullable=False)


class PendingBallotRow(Base):
    """A ballot accepted since the last batch boundary, waiting to go on the board.

    Durable before the voter's receipt is sent; at the next boundary every waiting ballot
    of the election is appended to the board in a uniformly random order, its nullifier
    recorded in :class:`BallotRow` in that order, and deleted here, in one transaction
    (docs/adr/0009-batched-boards.md). Keyed by the entry's leaf hash: no time, no arrival
    order. ``code`` finds a receipt by tracking code meanwhile.

    ``slot`` makes a token count once among the waiting ballots, whatever the concurrency:
    the UNIQUE key (election, nullifier, slot) takes ``slot`` = 0 for every ballot when
    re-voting is off (one ballot per token), ``slot`` = ``seq`` when it is on (one ballot per
    token and ``seq``).
    """

    __tablename__ = "ballot_pending"
    __table_args__ = (
        Index("ix_ballot_pending_code", "election_id", "code"),
        UniqueConstraint("election_id", "nullifier", "slot", name="uq_ballot_pending_slot"),
        NO_ROWID,
    )

    election_id: Mapped[str] = mapped_column(ForeignKey("ballot_elections.id"), primary_key=True)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    code: Mapped[str] = mapped_column(String(16), nullable=False)
    nullifier: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    slot: Mapped[int] = mapped_column(BigInteger, nullable=False)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class PaperTotalsRow(Base):
    """Paper-ballot totals entered by an election officer (shown separately in results)."""

    __tablename__ = "ballot_paper_totals"

    election_id: Mapped[str] = mapped_column(ForeignKey("ballot_elections.id"), primary_key=True)
    voters: Mapped[int] = mapped_column(Integer, nullable=False)
    counts: Mapped[str] = mapped_column(Text, nullable=False)
    entered_by: Mapped[str] = mapped_column(String(100), nullable=False)


class TallyFailureRow(Base):
    """Why the election's last tally failed its check; absent when it passed or never ran.

    Written alone by a failed tally (which records nothing else), deleted by a tally that
    passes; ``publish`` refuses an election that has one (ADR 0010). ``reason`` is the
    one line the officer was shown (counts only). No time: the officer saw it happen.
    """

    __tablename__ = "ballot_tally_failures"

    election_id: Mapped[str] = mapped_column(ForeignKey("ballot_elections.id"), primary_key=True)
    reason: Mapped[str] = mapped_column(Text, nullable=False)


class CeremonyRow(Base):
    """An encrypted election's key ceremony (docs/adr/0018-encrypted-elections.md; ADR 0012
    decision 4; board-format.md §10.1), from the first static key registered to
    ``dkg-complete``.

    Everything here is public or goes on the board: ``static_keys`` (``{position: hex}``,
    registered by the trustees, or given by the officer), ``terms`` (the v2 manifest without
    ``encryption``, fixed when the ceremony starts, JCS text), ``setup`` (the ``dkg-setup``
    document), ``round1`` and ``signatures`` (``{position: document}`` as appended), and
    ``complete`` (the ``dkg-complete`` entry). No secret: the trustees keep theirs in sealed
    files. ``attempt`` counts the attempts (a new ``dkg-setup`` starts the next one).
    """

    __tablename__ = "ballot_ceremonies"

    election_id: Mapped[str] = mapped_column(ForeignKey("ballot_elections.id"), primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, nullable=False)
    static_keys: Mapped[str] = mapped_column(Text, nullable=False)
    terms: Mapped[str | None] = mapped_column(Text, nullable=True)
    setup: Mapped[str | None] = mapped_column(Text, nullable=True)
    round1: Mapped[str] = mapped_column(Text, nullable=False)
    signatures: Mapped[str] = mapped_column(Text, nullable=False)
    complete: Mapped[str | None] = mapped_column(Text, nullable=True)


class PartialDecryptionRow(Base):
    """A trustee's partial decryption appended to the board of an encrypted election
    (docs/board-format.md §10.4): at most one per trustee, the primary key refusing a second
    even while the first waits for the audit sequencer. ``leaf_hash`` is its board entry's.
    """

    __tablename__ = "ballot_partial_decryptions"

    election_id: Mapped[str] = mapped_column(ForeignKey("ballot_elections.id"), primary_key=True)
    trustee: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)


class RegisterRow(Base):
    """An election's issuance register (ballot-secrecy.md §3; ADR 0019): the sealed audit log
    ``log`` that holds one entry per token issued, how many entries were appended to it
    (``size``: the tokens issued once the pending ones are counted), the register size last
    shown on the board, and the last batch boundary at which waiting entries were appended
    (a public time, like :attr:`BoardRow.batched_through`)."""

    __tablename__ = "ballot_registers"

    election_id: Mapped[str] = mapped_column(ForeignKey("ballot_elections.id"), primary_key=True)
    log: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    published_size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    batched_through: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class RegisterPendingRow(Base):
    """A register entry written with its token, waiting for the next batch boundary to go
    into the register in a random order with the others of its batch (ADR 0009, ADR 0019).

    Keyed by the blinded message's hash (random): no time, no issuance order; ``WITHOUT
    ROWID`` on SQLite. The entry is the register leaf's bytes (``ballot.register``)."""

    __tablename__ = "ballot_register_pending"
    __table_args__ = (NO_ROWID,)

    election_id: Mapped[str] = mapped_column(ForeignKey("ballot_elections.id"), primary_key=True)
    blinded_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class RegisterKeyRow(Base):
    """A FranceConnect signing key already archived in an election's register (its RFC 7638
    thumbprint): the first entry signed by a key carries the key, the others its thumbprint
    only."""

    __tablename__ = "ballot_register_keys"
    __table_args__ = (NO_ROWID,)

    election_id: Mapped[str] = mapped_column(ForeignKey("ballot_elections.id"), primary_key=True)
    thumbprint: Mapped[str] = mapped_column(String(64), primary_key=True)
