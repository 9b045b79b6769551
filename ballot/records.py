"""What both sides of an election read: its row, definition, board row and manifest.

The ballot domain is split along the line it protects (docs/adr/0009-batched-boards.md,
"Voter side and box side"): :mod:`ballot.voters` knows citizens and issues tokens,
:mod:`ballot.box` knows ballots and no citizen, and :mod:`ballot.service` orchestrates an
election's lifecycle over both. Neither side imports the other (import-linter contracts);
both read elections through :class:`ElectionRecords`, which holds nothing of either.
"""

from __future__ import annotations

import hmac
import json
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select
from sqlalchemy.orm import Session

import audit
from audit.errors import TreeRangeError
from ballot import auditing
from ballot.definition import ElectionDefinition, Status, parse_definition
from ballot.encrypted_tally import Encryption
from ballot.errors import (
    ElectionNotFoundError,
    ManifestNotPublishedError,
)
from ballot.manifest import Manifest
from ballot.tables import (
    BoardRow,
    ElectionRow,
)
from parvis.kernel.context import AppContext
from parvis.kernel.errors import DomainError

__all__ = [
    "BoardNotIntegratedError",
    "ElectionRecords",
    "board_log_name",
    "canonical_id",
]


class BoardNotIntegratedError(DomainError):
    """The audit sequencer did not integrate a board entry in time (HTTP 503)."""

    title = "Bulletin board not integrated yet"


def board_log_name(election_id: str) -> str:
    """The audit log that holds an election's bulletin board."""
    return f"board-{election_id}"


def canonical_id(election_id: str) -> str:
    try:
        parsed = uuid.UUID(election_id)
    except (ValueError, AttributeError, TypeError):
        raise ElectionNotFoundError("no such election") from None
    if str(parsed) != election_id:
        raise ElectionNotFoundError("no such election")
    return election_id


def coarse(moment: datetime) -> datetime:
    """Whole minutes: the only precision a public time on the board gets."""
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


class ElectionRecords:
    """Reads of elections shared by the voter side, the box side and the lifecycle."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.settings = ctx.settings
        self._lock = threading.Lock()
        self._manifests: dict[str, Manifest] = {}
        self._public_keys: dict[str, rsa.RSAPublicKey] = {}
        #: Per election whose manifest is loaded: its encryption parameters (a v2 manifest,
        #: docs/board-format.md §10.2) or None (a public-ballot election).
        self._encryptions: dict[str, Encryption | None] = {}
        self._definitions: dict[tuple[str, str], ElectionDefinition] = {}

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
        query = select(ElectionRow).where(ElectionRow.id == canonical_id(election_id))
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
            cached = parse_definition(
                json.loads(text), election_id=uuid.UUID(election_id), stored=True
            )
            with self._lock:
                self._definitions[key] = cached
        return cached

    def _record(self, session: Session, event: str, *, actor: str, **details: Any) -> None:
        auditing.record(
            self.ctx, session, event_type=f"ballot.{event}", actor=actor, details=details
        )

    def _board(self, session: Session, election_id: str, *, lock: bool = False) -> BoardRow:
        query = select(BoardRow).where(BoardRow.election_id == election_id)
        if lock:
            query = query.with_for_update().execution_options(populate_existing=True)
        board = session.scalars(query).one_or_none()
        if board is None:
            raise ManifestNotPublishedError("the election has not opened: it has no board yet")
        return board

    # -- the manifest and keys ----------------------------------------------------------

    def _manifest(self, session: Session, election_id: str) -> Manifest:
        with self._lock:
            cached = self._manifests.get(election_id)
        if cached is not None:
            return cached
        board = self._board(session, election_id)
        # Entry 0 of a public election's board; right after dkg-complete on an encrypted
        # one's (board-format.md §10.1).
        try:
            index = self.audit.index_of(session, log=board.log, leaf_hash=board.manifest_hash)
        except TreeRangeError:
            raise ManifestNotPublishedError("the manifest is not on the board yet") from None
        first = self.audit.entries(
            session, log=board.log, start=index, end=index + 1, reveal_sealed=True
        )
        if not first or not hmac.compare_digest(first[0].leaf_hash, board.manifest_hash):
            raise ManifestNotPublishedError("the manifest is not on the board yet")
        manifest = Manifest.from_json(json.loads(first[0].data)["manifest"])
        self._remember(election_id, manifest)
        return manifest

    def _remember(self, election_id: str, manifest: Manifest) -> None:
        """Cache a manifest read from the board, its RSA key and its encryption parameters."""
        encryption = Encryption.of_manifest(manifest.to_json())
        with self._lock:
            self._manifests[election_id] = manifest
            self._public_keys[election_id] = manifest.public_key()
            self._encryptions[election_id] = encryption

    def encrypted_params(self, session: Session, election_id: str) -> Encryption | None:
        """The election's encryption parameters (docs/board-format.md §10.2), or None for a
        public-ballot election (v1 manifest). Needs the manifest on the board."""
        election_id = canonical_id(election_id)
        with self._lock:
            if election_id in self._encryptions:
                return self._encryptions[election_id]
        self._manifest(session, election_id)
        with self._lock:
            return self._encryptions[election_id]

    def is_encrypted(self, session: Session, election_id: str) -> bool:
        """Whether the election is encrypted (its definition's ``mode``)."""
        return self.definition(self._row(session, election_id, drafts=True)).encrypted

    def manifest(self, session: Session, election_id: str) -> dict[str, Any]:
        """The manifest as committed in entry 0 (once the election is open)."""
        row = self._row(session, election_id)
        if row.status in {Status.DRAFT, Status.SCHEDULED}:
            raise ManifestNotPublishedError("the election has not opened yet")
        return self._manifest(session, row.id).to_json()
