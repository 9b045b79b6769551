"""The audit service: the surface other domains use (audit-log.md, "Sequencing" and
"Content"; ADR 0003).

Writers call :meth:`AuditService.record` (typed audit events) or :meth:`AuditService.append`
(raw entries, e.g. a bulletin board) inside **their own** transaction, so a domain's change
and its audit entry commit together or not at all; the entry is queued, and the sequencer
gives it its index later (:mod:`audit.sequencer`). The writer gets a signed
:class:`~audit.promise.Promise` at once.

Readers get checkpoints, proofs and entries of the tree as of the latest checkpoint, and the
DPO's questions answered by :meth:`AuditService.query` over the typed event index.

A log may be **sealed** (:meth:`AuditService.seal`, :meth:`AuditService.unseal`): while it
is, no read path serves its entry bodies — JSON entries, tlog-tiles entry bundles, typed
events — to anyone; hashes, checkpoints and proofs stay readable, as they reveal nothing of
the entries (migration ``audit_0002``; ADR 0003, "Sealed logs"). The domain that owns the log reads
its own entries with ``reveal_sealed=True``; the HTTP API and the CLI never pass it. Audit
knows nothing of why a log is sealed (an election's board, for one, until its close).
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, delete, exists, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from audit import merkle, storage
from audit.errors import (
    EventError,
    LogConflictError,
    LogKeyError,
    LogRollbackError,
    LogSealedError,
    LogSealError,
    RangeTooLargeError,
    TreeRangeError,
    UnknownLogError,
)
from audit.events import (
    EventLeaf,
    canonical_details,
    check_log_name,
    coarse_time,
    details_commitment,
    origin_for,
)
from audit.keys import KeyStore
from audit.note import Signer, VerifierKey
from audit.promise import Promise, PromiseBody
from audit.rollback import CheckpointMemory, Remembered, check_head
from audit.sequencer import SequencerThread, leadership
from audit.tables import CheckpointRow, DetailRow, EntryRow, EventRow, LogRow, PendingRow
from audit.tiles import TilePath
from audit.viewcheck import ViewMismatch, check_events
from parvis.kernel.context import AppContext
from parvis.kernel.errors import ConflictError, InvalidInputError
from parvis.kernel.settings import Mode

__all__ = [
    "DEFAULT_LOG",
    "MAX_ENTRIES",
    "AuditEvent",
    "AuditService",
    "ConsistencyProof",
    "InclusionProof",
    "LogEntry",
    "LogInfo",
    "service_from",
]

DEFAULT_LOG = "audit"
"""The audit trail (not public; created on first use)."""

MAX_ENTRIES = 1000
"""Most entries one :meth:`AuditService.entries` call returns (and the HTTP API serves)."""


# Statements built once: constructing them per call cost a noticeable share of a proof.
_LOG_COLUMNS = (
    LogRow.id,
    LogRow.name,
    LogRow.origin,
    LogRow.verifier_key,
    LogRow.public,
    LogRow.sealed,
)
_LOG_BY_NAME = select(*_LOG_COLUMNS).where(LogRow.name == bindparam("name"))
_LOG_AND_HEAD_BY_NAME = (
    select(*_LOG_COLUMNS, CheckpointRow.size, CheckpointRow.root_hash, CheckpointRow.note)
    .join(CheckpointRow, CheckpointRow.log_id == LogRow.id)
    .where(LogRow.name == bindparam("name"))
    .order_by(CheckpointRow.size.desc())
    .limit(1)
)


_log = logging.getLogger("parvis.audit")

#: Key of ``Session.info``: names of the logs the session created (maybe not committed).
_CREATED_HERE = "audit.created_logs"


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


@dataclass(frozen=True, slots=True)
class LogInfo:
    """A named log: its origin line, its published verifier key text, public or not, sealed
    or not (as read in the caller's transaction)."""

    name: str
    origin: str
    verifier_key: str
    public: bool
    sealed: bool = False


def _info(row: Any) -> LogInfo:
    return LogInfo(
        name=row.name,
        origin=row.origin,
        verifier_key=row.verifier_key,
        public=row.public,
        sealed=bool(row.sealed),
    )


@dataclass(frozen=True, slots=True)
class _Log:
    id: int
    info: LogInfo


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One audit event as the DPO sees it.

    ``index`` is ``None`` while the entry waits for the sequencer; ``details`` is ``None``
    once erased (or when the event had none).
    """

    index: int | None
    leaf_hash: bytes
    event_type: str
    actor: str
    subject: str | None
    purpose: str | None
    time: datetime
    details: Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class LogEntry:
    index: int
    leaf_hash: bytes
    data: bytes


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """RFC 6962 ``PATH(index, D[tree_size])`` with the leaf hash and the root it leads to."""

    index: int
    tree_size: int
    leaf_hash: bytes
    root: bytes
    proof: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        """``parvis audit proof``'s format: ``{"index", "tree_size", "leaf_hash", "root",
        "proof"}``."""
        return {
            "index": self.index,
            "tree_size": self.tree_size,
            "leaf_hash": _b64(self.leaf_hash),
            "root": _b64(self.root),
            "proof": [_b64(p) for p in self.proof],
        }


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    """RFC 6962 ``PROOF(first, D[second])``."""

    first: int
    second: int
    proof: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        """``parvis audit proof --consistency``'s format: ``{"from", "to", "proof"}``."""
        return {"from": self.first, "to": self.second, "proof": [_b64(p) for p in self.proof]}


class AuditService:
    """The log engine of one process. Get it with :func:`service_from`."""

    def __init__(self, ctx: AppContext) -> None:
        settings = ctx.settings
        self._ctx = ctx
        self._db = ctx.db
        self._clock = ctx.clock
        self.keys = KeyStore.from_settings(settings)
        self.batch_size = settings.audit_batch_size
        self.batch_delay = settings.audit_batch_delay_ms / 1000
        self.max_delay = timedelta(seconds=settings.audit_max_delay_seconds)
        self._public_url = settings.public_url
        self._by_id: dict[int, _Log] = {}
        self._writable: dict[str, _Log] = {}
        self._ranges = storage.RangeCache(ranges={})
        self._lock = threading.Lock()
        self._sequencer: SequencerThread | None = None
        self._whole_prefixes: tuple[str, ...] = ()
        # docs/adr/0017-rollback-detection.md: the heads published, kept out of the database.
        self.memory = CheckpointMemory(settings.state_path() / "audit")
        self._rollback_logged: set[str] = set()
        self.run_sequencer = (
            settings.audit_sequencer
            if settings.audit_sequencer is not None
            else settings.mode is not Mode.TEST
        )

    # --- logs ---------------------------------------------------------------------------------

    def _find(self, session: Session, name: str) -> _Log | None:
        row = session.execute(_LOG_BY_NAME, {"name": name}).one_or_none()
        if row is None:
            return None
        return _Log(id=row.id, info=_info(row))

    def _log(self, session: Session, name: str) -> _Log:
        """The log ``name``; the default audit log is created on first use."""
        check_log_name(name)
        found = self._find(session, name)
        if found is not None:
            return found
        if name == DEFAULT_LOG:
            return self._create(session, name=name, public=False)
        raise UnknownLogError(f"no log named {name}", name=name)

    def _create(self, session: Session, *, name: str, public: bool) -> _Log:
        origin = origin_for(self._public_url, name)
        signer = self.keys.signer(name=name, origin=origin, create=True)
        now = self._clock.now()
        try:
            with session.begin_nested():
                conn = session.connection()
                log_id = conn.execute(
                    insert(LogRow).returning(LogRow.id),
                    {
                        "name": name,
                        "origin": origin,
                        "public": public,
                        "verifier_key": signer.verifier.text,
                        "created_at": now,
                    },
                ).scalar_one()
                storage.insert_checkpoint(
                    conn,
                    log_id=log_id,
                    origin=origin,
                    size=0,
                    root_hash=merkle.EMPTY_ROOT,
                    signer=signer,
                    now=now,
                )
            session.info.setdefault(_CREATED_HERE, set()).add(name)
        except IntegrityError:
            # Another transaction created it first (unique name): use theirs.
            found = self._find(session, name)
            if found is None:
                raise
            return found
        return _Log(
            id=log_id,
            info=LogInfo(
                name=name, origin=origin, verifier_key=signer.verifier.text, public=public
            ),
        )

    def _append_target(self, session: Session, name: str) -> _Log:
        """The log a writer appends to, without a query once known: its id, name and origin
        never change (append-only row) and writing does not depend on its seal. Only a log
        committed by some transaction is remembered — one this session created may still
        be rolled back (and SQLite may reuse its id)."""
        with self._lock:
            cached = self._writable.get(name)
        if cached is not None:
            return cached
        found = self._log(session, name)
        if name not in session.info.get(_CREATED_HERE, ()):
            with self._lock:
                self._writable[name] = found
        return found

    def ensure_log(self, session: Session, *, name: str, public: bool) -> LogInfo:
        """The log ``name``, created in the caller's transaction if it does not exist.

        Raises :class:`~audit.errors.LogConflictError` if it exists with the other public
        flag (a log never changes from private to public or back).
        """
        check_log_name(name)
        found = self._find(session, name) or self._create(session, name=name, public=public)
        if found.info.public != public:
            raise LogConflictError(
                f"log {name} exists and is {'public' if found.info.public else 'not public'}"
            )
        return found.info

    def log_info(self, session: Session, *, log: str) -> LogInfo:
        """Origin, verifier key text and public flag of ``log``."""
        return self._log(session, log).info

    def seal(self, session: Session, *, log: str, actor: str) -> bool:
        """Seal ``log`` in the caller's transaction (migration ``audit_0002``; ADR 0003,
        "Sealed logs").

        Only a log without any entry, integrated or queued, may be sealed — a seal never
        hides what was once readable; :class:`~audit.errors.LogSealError` otherwise (the
        database refuses it too, migration ``audit_0002``). Sealing a sealed log changes
        nothing. The change is an audit event (``audit.log.sealed``) in the audit trail.
        Returns whether the log was sealed by this call.
        """
        target = self._log(session, log)
        conn = session.connection()
        has_entries = conn.execute(
            select(
                exists().where(EntryRow.log_id == target.id)
                | exists().where(PendingRow.log_id == target.id)
            )
        ).scalar_one()
        if has_entries and not target.info.sealed:
            raise LogSealError(f"log {log} has entries: only a log without entries is sealed")
        changed = conn.execute(
            update(LogRow)
            .where(LogRow.id == target.id, LogRow.sealed.is_(False))
            .values(sealed=True)
        ).rowcount
        if changed:
            self.record(session, event_type="audit.log.sealed", actor=actor, details={"log": log})
        return bool(changed)

    def unseal(self, session: Session, *, log: str, actor: str) -> bool:
        """Unseal ``log`` in the caller's transaction: its entries become readable to
        whoever may read the log. Unsealing an unsealed log changes nothing. The change is
        an audit event (``audit.log.unsealed``). Returns whether this call unsealed it."""
        target = self._log(session, log)
        changed = (
            session.connection()
            .execute(
                update(LogRow)
                .where(LogRow.id == target.id, LogRow.sealed.is_(True))
                .values(sealed=False)
            )
            .rowcount
        )
        if changed:
            self.record(session, event_type="audit.log.unsealed", actor=actor, details={"log": log})
        return bool(changed)

    @staticmethod
    def _unsealed(target: _Log, *, reveal_sealed: bool) -> None:
        """Refuse entry bodies of a sealed log (migration ``audit_0002``; ADR 0003, "Sealed
        logs")."""
        if target.info.sealed and not reveal_sealed:
            raise LogSealedError(
                f"log {target.info.name} is sealed: its entries are not served until it is "
                "unsealed (hashes, checkpoints and proofs are)",
                name=target.info.name,
            )

    def _signer(self, log: _Log) -> Signer:
        signer = self.keys.signer(name=log.info.name, origin=log.info.origin, create=False)
        if signer.verifier.text != log.info.verifier_key:
            raise LogKeyError(
                f"the signing key of log {log.info.name} does not match its published key"
            )
        return signer

    def verifier(self, session: Session, *, log: str) -> VerifierKey:
        """The published verifier key of ``log``, parsed."""
        return VerifierKey.parse(self._log(session, log).info.verifier_key)

    # --- writing ------------------------------------------------------------------------------

    def _promiser(self, log: _Log, now: datetime) -> Callable[[bytes], Promise]:
        """Makes the promises of one write: the key is looked up when a note is first read,
        so queueing an entry needs no key (a process without the log's key can still write;
        the leader signs checkpoints)."""

        def sign(body: PromiseBody) -> str:
            return body.sign(self._signer(log))

        integrate_by = (now + self.max_delay).replace(microsecond=0)

        def promise(leaf: bytes) -> Promise:
            return Promise(
                log=log.info.name,
                origin=log.info.origin,
                leaf_hash=leaf,
                integrate_by=integrate_by,
                _sign=sign,
            )

        return promise

    def record(
        self,
        session: Session,
        *,
        event_type: str,
        actor: str,
        subject: str | None = None,
        purpose: str | None = None,
        details: Mapping[str, Any] | None = None,
        log: str = DEFAULT_LOG,
    ) -> Promise:
        """Append a typed audit event in the caller's transaction (audit-log.md, "Content").

        ``actor`` is a pseudonym or role (``citizen:<pseudonym>``, ``staff:<id>``,
        ``platform:<client id>``, ``system``), ``subject`` a pseudonym. The leaf holds the
        type, the time to the minute, actor, subject, purpose and a salted hash of the
        details; the details and the salt go to the erasable table (audit-log.md,
        "Content").
        """
        target = self._append_target(session, log)
        now = self._clock.now()
        salt = secrets.token_bytes(32)
        canonical = canonical_details(details)
        leaf = EventLeaf(
            event_type=event_type,
            actor=actor,
            subject=subject,
            purpose=purpose,
            time=coarse_time(now),
            commitment=details_commitment(salt=salt, canonical=canonical),
        )
        data = leaf.encode()
        leaf_hash = merkle.leaf_hash(data)
        conn = session.connection()
        storage.enqueue(conn, target.id, [data])
        conn.execute(
            insert(EventRow),
            {
                "log_id": target.id,
                "leaf_hash": leaf_hash,
                "event_type": event_type,
                "actor": actor,
                "subject": subject,
                "purpose": purpose,
                "time": leaf.time,
            },
        )
        conn.execute(
            insert(DetailRow),
            {
                "log_id": target.id,
                "leaf_hash": leaf_hash,
                "salt": salt,
                "details": canonical.decode("utf-8"),
            },
        )
        return self._promiser(target, now)(leaf_hash)

    def promise(
        self, session: Session, *, log: str, leaf_hash: bytes, integrate_by: datetime
    ) -> Promise:
        """A signed promise that the entry with ``leaf_hash`` will be in ``log`` by
        ``integrate_by``, before the entry is appended.

        For a domain that holds entries itself and appends them later (an election's
        board batches its ballots: docs/adr/0009-batched-boards.md); the log's key signs it
        exactly as it signs the promises of :meth:`append`.
        """
        target = self._append_target(session, log)

        def sign(body: PromiseBody) -> str:
            return body.sign(self._signer(target))

        return Promise(
            log=target.info.name,
            origin=target.info.origin,
            leaf_hash=leaf_hash,
            integrate_by=integrate_by.astimezone(UTC).replace(microsecond=0),
            _sign=sign,
        )

    def integrate_whole(self, prefix: str) -> None:
        """Integrate the logs whose name starts with ``prefix`` whole: everything queued
        under one checkpoint, whatever ``audit_batch_size`` says.

        For logs whose writers append a batch in one transaction and want exactly one
        checkpoint for it (an election's board: docs/adr/0009-batched-boards.md). Each
        process registers it at start-up, so whichever process leads the sequencer knows.
        """
        check_log_name(prefix.rstrip("-") or "x")
        with self._lock:
            if prefix not in self._whole_prefixes:
                self._whole_prefixes += (prefix,)

    def _batch_size_of(self, target: _Log) -> int:
        if target.info.name.startswith(self._whole_prefixes):
            return 2**62
        return self.batch_size

    def append(self, session: Session, *, log: str, data: bytes) -> Promise:
        """Append raw entry bytes (the caller canonicalises them; the leaf is ``data``)."""
        return self.append_many(session, log=log, data=[data])[0]

    def append_many(self, session: Session, *, log: str, data: Sequence[bytes]) -> list[Promise]:
        """:meth:`append` for several entries in one statement (bulk writers, imports)."""
        if isinstance(data, bytes | bytearray):
            raise EventError("append_many takes a sequence of entries, not one bytes object")
        for n, item in enumerate(data):
            if not isinstance(item, bytes) or len(item) > 0xFFFF:
                raise EventError(f"entry {n} is not bytes of at most 65535 bytes (tlog-tiles)")
        if not data:
            return []
        target = self._append_target(session, log)
        storage.enqueue(session.connection(), target.id, data)
        promise = self._promiser(target, self._clock.now())
        return [promise(merkle.leaf_hash(item)) for item in data]

    def erase_subject_details(self, session: Session, *, subject: str) -> int:
        """Erase the details (and salts) of every event about ``subject``, in every log.

        The leaves stay: the tree and every proof remain valid, the event stays provable,
        its content is gone. Returns the number of detail rows erased.
        """
        about_subject = exists().where(
            EventRow.log_id == DetailRow.log_id,
            EventRow.leaf_hash == DetailRow.leaf_hash,
            EventRow.subject == subject,
        )
        result = session.execute(delete(DetailRow).where(about_subject))
        return int(getattr(result, "rowcount", 0))

    # --- reading ------------------------------------------------------------------------------

    def query(
        self,
        session: Session,
        *,
        log: str = DEFAULT_LOG,
        subject: str | None = None,
        actor: str | None = None,
        purpose: str | None = None,
        event_type: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[AuditEvent]:
        """Events matching every given filter, oldest first (the DPO's questions).

        ``since`` is inclusive and ``until`` exclusive, compared with the event times, which
        are truncated to the minute. Pending events are included with ``index`` None.
        """
        if not 1 <= limit <= MAX_ENTRIES or offset < 0:
            raise RangeTooLargeError(
                f"limit must be 1 to {MAX_ENTRIES} and offset not negative", limit=MAX_ENTRIES
            )
        target = self._log(session, log)
        self._unsealed(target, reveal_sealed=False)
        index = (
            select(func.min(EntryRow.idx))
            .where(EntryRow.log_id == EventRow.log_id, EntryRow.leaf_hash == EventRow.leaf_hash)
            .scalar_subquery()
        )
        stmt = (
            select(EventRow, index.label("idx"), DetailRow.details)
            .outerjoin(
                DetailRow,
                (DetailRow.log_id == EventRow.log_id) & (DetailRow.leaf_hash == EventRow.leaf_hash),
            )
            .where(EventRow.log_id == target.id)
        )
        for column, value in (
            (EventRow.subject, subject),
            (EventRow.actor, actor),
            (EventRow.purpose, purpose),
            (EventRow.event_type, event_type),
        ):
            if value is not None:
                stmt = stmt.where(column == value)
        if since is not None:
            stmt = stmt.where(EventRow.time >= _utc_param(since))
        if until is not None:
            stmt = stmt.where(EventRow.time < _utc_param(until))
        rows = session.execute(stmt.order_by(EventRow.seq).limit(limit).offset(offset)).all()
        return [
            AuditEvent(
                index=idx,
                leaf_hash=bytes(event.leaf_hash),
                event_type=event.event_type,
                actor=event.actor,
                subject=event.subject,
                purpose=event.purpose,
                time=event.time,
                details=json.loads(details) if details is not None else None,
            )
            for event, idx, details in rows
        ]

    def check_view(
        self, session: Session, *, log: str = DEFAULT_LOG
    ) -> tuple[int, list[ViewMismatch]]:
        """Check the typed view ``audit_events`` of ``log`` against its leaves and remaining
        details (:mod:`audit.viewcheck`): the rows checked and every mismatch."""
        check_log_name(log)
        target = self._find(session, log)
        if target is None:
            raise UnknownLogError(f"no log named {log}", name=log)
        return check_events(session, log_id=target.id)

    def _with_head(self, session: Session, log: str) -> tuple[_Log, storage.Head]:
        """The log and its latest checkpoint in one query (the read paths' first step)."""
        check_log_name(log)
        row = session.execute(_LOG_AND_HEAD_BY_NAME, {"name": log}).one_or_none()
        if row is None:
            created = self._log(session, log)  # the default log, or UnknownLogError
            return created, storage.latest_head(session.connection(), created.id)
        found = _Log(id=row.id, info=_info(row))
        return found, storage.Head(size=row.size, root_hash=bytes(row.root_hash), note=row.note)

    @staticmethod
    def _size(size: int | None, head: storage.Head) -> int:
        if size is None:
            return head.size
        if not 0 <= size <= head.size:
            raise TreeRangeError(f"tree size {size} is not in 0..{head.size}, the log's size")
        return size

    def head(self, session: Session, *, log: str) -> storage.Head:
        """The latest checkpoint of ``log`` (size, root, signed note)."""
        return self._with_head(session, log)[1]

    def checkpoint(self, session: Session, *, log: str) -> str:
        """The latest signed checkpoint of ``log`` (C2SP tlog-checkpoint note)."""
        return self.head(session, log=log).note

    def checkpoints(self, session: Session, *, log: str, end: int) -> list[str]:
        """Every signed checkpoint of ``log`` of a size in ``1..end``, by size: all the log
        ever signed up to that tree, for exports a verifier checks against a checkpoint it
        kept (board-format.md §7, §8.2)."""
        target, head = self._with_head(session, log)
        end = self._size(end, head)
        return list(
            session.scalars(
                select(CheckpointRow.note)
                .where(
                    CheckpointRow.log_id == target.id,
                    CheckpointRow.size > 0,
                    CheckpointRow.size <= end,
                )
                .order_by(CheckpointRow.size)
            )
        )

    def inclusion_proof(
        self, session: Session, *, log: str, index: int, size: int | None = None
    ) -> InclusionProof:
        """Inclusion proof of entry ``index`` in the tree of ``size`` (default: latest)."""
        target, head = self._with_head(session, log)
        size = self._size(size, head)
        if not 0 <= index < size:
            raise TreeRangeError(f"entry {index} is not in the tree of size {size}")

        def compute(source: merkle.NodeSource) -> tuple[list[bytes], bytes, bytes]:
            proof = merkle.inclusion_proof(source, index=index, size=size)
            # The latest root is in the checkpoint; an older one is folded from storage.
            root = (
                head.root_hash
                if size == head.size
                else merkle.CompactRange.from_source(size, source).root()
            )
            return proof, root, source(0, index)

        proof, root, leaf = storage.with_hashes(session.connection(), target.id, compute)
        return InclusionProof(
            index=index, tree_size=size, leaf_hash=leaf, root=root, proof=tuple(proof)
        )

    def index_of(
        self, session: Session, *, log: str, leaf_hash: bytes, size: int | None = None
    ) -> int:
        """Index of the first entry with ``leaf_hash`` in the tree of ``size``."""
        target, head = self._with_head(session, log)
        size = self._size(size, head)
        found = storage.leaf_index(session.connection(), target.id, leaf_hash, size)
        if found is None:
            raise TreeRangeError(f"no entry with this leaf hash in the tree of size {size}")
        return found

    def consistency_proof(
        self, session: Session, *, log: str, first: int, second: int
    ) -> ConsistencyProof:
        """Consistency proof between the trees of sizes ``first`` and ``second``."""
        target, head = self._with_head(session, log)
        second = self._size(second, head)
        if not 0 < first <= second:
            raise TreeRangeError(f"no consistency proof from size {first} to size {second}")
        proof = storage.with_hashes(
            session.connection(),
            target.id,
            lambda source: merkle.consistency_proof(source, m=first, n=second),
        )
        return ConsistencyProof(first=first, second=second, proof=tuple(proof))

    def root(self, session: Session, *, log: str, size: int) -> bytes:
        """The root hash of the tree of ``size`` (any size up to the latest)."""
        target, head = self._with_head(session, log)
        size = self._size(size, head)
        return storage.with_hashes(
            session.connection(),
            target.id,
            lambda source: merkle.CompactRange.from_source(size, source).root(),
        )

    def entries(
        self, session: Session, *, log: str, start: int, end: int, reveal_sealed: bool = False
    ) -> list[LogEntry]:
        """Entries ``[start, end)`` of the latest tree, at most :data:`MAX_ENTRIES`.

        :class:`~audit.errors.LogSealedError` if the log is sealed, unless
        ``reveal_sealed`` (the owning domain's own reads, never a read path of audit's).
        """
        target, head = self._with_head(session, log)
        self._unsealed(target, reveal_sealed=reveal_sealed)
        if not 0 <= start <= end <= head.size:
            raise TreeRangeError(f"entries [{start}, {end}) are not in 0..{head.size}")
        if end - start > MAX_ENTRIES:
            raise RangeTooLargeError(
                f"at most {MAX_ENTRIES} entries per request", limit=MAX_ENTRIES
            )
        return [
            LogEntry(index=i, leaf_hash=leaf, data=data)
            for i, leaf, data in storage.entries_range(session.connection(), target.id, start, end)
        ]

    def tile(
        self, session: Session, *, log: str, tile: TilePath, reveal_sealed: bool = False
    ) -> bytes:
        """A C2SP tlog-tiles tile or entry bundle of the latest tree.

        Entry bundles of a sealed log are refused as :meth:`entries` are; hash tiles never.
        """
        target, head = self._with_head(session, log)
        if tile.level is None:
            self._unsealed(target, reveal_sealed=reveal_sealed)
        return storage.tile_bytes(session.connection(), target.id, tile, head.size)

    # --- sequencing ---------------------------------------------------------------------------

    def _by_log_id(self, conn: Connection, log_id: int) -> _Log:
        with self._lock:
            cached = self._by_id.get(log_id)
        if cached is not None:
            return cached
        row = conn.execute(select(*_LOG_COLUMNS).where(LogRow.id == log_id)).one()
        # The sequencer uses the name, origin and key, which never change (append-only
        # row); the seal flag may, so nothing here may read it from this cache.
        found = _Log(id=row.id, info=_info(row))
        with self._lock:
            self._by_id[log_id] = found
        return found

    def _check_rollback(self, conn: Connection, target: _Log) -> None:
        """Refuse a log the database holds behind the head remembered for it
        (:mod:`audit.rollback`; docs/adr/0017-rollback-detection.md)."""
        remembered = self.memory.get(target.info.name)
        if remembered is None:
            return
        head = storage.latest_head(conn, target.id)
        check_head(
            log=target.info.name,
            remembered=remembered,
            size=head.size,
            root=head.root_hash,
            prove=lambda m, n: storage.with_hashes(
                conn, target.id, lambda source: merkle.consistency_proof(source, m=m, n=n)
            ),
        )

    def integrate_on(self, conn: Connection, *, log_ids: Sequence[int] | None = None) -> int:
        """Integrate everything pending (in ``log_ids`` or all logs) on a leading connection:
        batches of at most ``audit_batch_size``, one transaction and one checkpoint each.

        A log held behind the head this installation remembers publishing is not touched
        (docs/adr/0017-rollback-detection.md): its entries stay queued. Asked for by id, it
        raises :class:`~audit.errors.LogRollbackError`; in the all-logs sweep of the
        sequencer it is skipped, with one error line in the logs per process, so the other
        logs go on.
        """
        explicit = log_ids is not None
        if log_ids is None:
            with conn.begin():
                log_ids = storage.pending_logs(conn)
        total = 0
        for log_id in log_ids:
            while True:
                with conn.begin():
                    target = self._by_log_id(conn, log_id)
                    try:
                        self._check_rollback(conn, target)
                    except LogRollbackError as exc:
                        if explicit:
                            raise
                        if target.info.name not in self._rollback_logged:
                            self._rollback_logged.add(target.info.name)
                            _log.error(
                                "audit log rolled back: integration refused",
                                extra={"log": target.info.name, "reason": exc.detail},
                            )
                        break
                    count, more = storage.integrate_batch(
                        conn,
                        log_id=log_id,
                        origin=target.info.origin,
                        signer=self._signer(target),
                        batch_size=self._batch_size_of(target),
                        now=self._clock.now(),
                        cache=self._ranges,
                    )
                if count:
                    self._rollback_logged.discard(target.info.name)
                    # Only once committed: the memory may lag the database, never lead it.
                    published = self._ranges.ranges[log_id]
                    self.memory.remember(
                        target.info.name, Remembered(size=published.size, root=published.root())
                    )
                total += count
                if not more:
                    break
        return total

    def rollbacks(self, session: Session) -> list[LogRollbackError]:
        """Every log the database holds behind the head remembered for it (the DPO console,
        start-up, ``parvis audit acknowledge-rollback``)."""
        found: list[LogRollbackError] = []
        names = self.memory.logs()
        if not names:
            return found  # nothing published yet: no need to reach the database
        conn = session.connection()
        for name in names:
            target = self._find(session, name)
            try:
                if target is None:
                    check_head(
                        log=name, remembered=self.memory.get(name), size=None, root=None, prove=None
                    )
                else:
                    self._check_rollback(conn, target)
            except LogRollbackError as exc:
                found.append(exc)
        return found

    def acknowledge_rollback(self, *, log: str, reason: str, actor: str) -> LogRollbackError:
        """Accept the database's state of ``log`` after a rollback, so integration resumes.

        The operator's reason, and both sizes, become an ``audit.rollback.acknowledged``
        event in the audit trail; the old remembered head is kept in the state directory
        (:meth:`audit.rollback.CheckpointMemory.reset`). Raises
        :class:`~parvis.kernel.errors.ConflictError` when ``log`` is not rolled back.
        Returns what was acknowledged.
        """
        check_log_name(log)
        if not reason.strip():
            raise InvalidInputError("--reason must say why the rollback is accepted")
        with self._db.read_session() as session:
            alarm = next((e for e in self.rollbacks(session) if e.name == log), None)
            target = self._find(session, log)
            head = storage.latest_head(session.connection(), target.id) if target else None
        if alarm is None:
            raise ConflictError(f"log {log} is not behind a checkpoint it published")
        with self._db.write_session() as session:
            self.record(
                session,
                event_type="audit.rollback.acknowledged",
                actor=actor,
                details={
                    "log": log,
                    "remembered_size": alarm.remembered_size,
                    "database_size": alarm.database_size,
                    "reason": reason,
                },
            )
        self.memory.reset(
            log,
            Remembered(size=head.size, root=head.root_hash) if head is not None else None,
            reason=reason,
        )
        self._rollback_logged.discard(log)
        return alarm

    def integrate(self, *, log: str | None = None) -> int:
        """Integrate pending entries now (CLI commands, tests); returns how many.

        Returns 0 without waiting when a sequencer leader runs elsewhere (on PostgreSQL):
        that leader integrates them within the batch delay.
        """
        log_ids: list[int] | None = None
        if log is not None:
            with self._db.read_session() as session:
                log_ids = [self._log(session, log).id]
        with leadership(self._db) as conn:
            if conn is None:
                return 0
            return self.integrate_on(conn, log_ids=log_ids)

    def start_sequencer(self) -> SequencerThread:
        """Start the background leader loop (idempotent)."""
        if self._sequencer is None:
            self._sequencer = SequencerThread(
                db=self._db, integrate=self.integrate_on, delay=self.batch_delay
            )
            self._sequencer.start()
        return self._sequencer

    def stop_sequencer(self) -> None:
        if self._sequencer is not None:
            self._sequencer.stop()
            self._sequencer = None


def _utc_param(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise EventError("query times must be timezone-aware")
    # Stored times are UTC; SQLite compares the text form, so bind UTC too.
    return moment.astimezone(UTC)


def service_from(ctx: AppContext) -> AuditService:
    """The audit service of ``ctx``, set up on first use (CONTRIBUTING, "How a domain joins")."""
    return ctx.extension("audit", AuditService)
