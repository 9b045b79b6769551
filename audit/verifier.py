"""``parvis audit verify``: check a log against its key and the checkpoint remembered last time.

ADR 0003, "Verification" (and audit-log.md, "Append-only in the database"): fetch (or read
the local database), check the checkpoint signature with the configured verifier key,
recompute the tree from the entries or check consistency with the last checkpoint remembered
in the state file, print what was checked with a progress bar on long runs, and exit non-zero
naming the first discrepancy.

audit-log.md, "Append-only in the database": none of the database protections stops the
operator; outsiders keeping checkpoints do. "The verifier remembers the last checkpoint it
saw and checks consistency with every new one, like the Go checksum database client." This
verifier does both checks every time, in this order, and stops at the first failure:

1. the verifier key: the configured one (``--key`` or ``PARVIS_AUDIT_VERIFIER_KEYS``), else
   the one remembered in the state file, else the one the log publishes (trusted on first
   use, and said so). A log that publishes another key than the trusted one fails;
2. the checkpoint's signature and origin (:func:`audit.note.open_checkpoint`);
3. against the remembered checkpoint: the log did not shrink, the same size has the same
   root, and a larger size comes with a valid RFC 9162 consistency proof;
4. every entry: its data hashes to the leaf hash the log serves (names the entry), the
   entries below the remembered size still give the remembered root, all entries give the
   checkpoint's root.

Only then is the new checkpoint written to the state file (atomically).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from audit import merkle
from audit.errors import (
    ConsistencyProofError,
    LogVerificationError,
    NoteError,
    StateFileError,
    StorageIntegrityError,
    TreeRangeError,
)
from audit.note import Checkpoint, VerifierKey, open_checkpoint
from audit.tiles import TILE_WIDTH, TilePath, decode_bundle

__all__ = [
    "HttpSource",
    "LocalSource",
    "LogSource",
    "State",
    "VerifyReport",
    "configured_key",
    "verify_log",
]

STATE_VERSION = 1


class LogSource(Protocol):
    """Where the verifier reads a log: the local database or a Parvis server over HTTP."""

    def published_key(self) -> str:
        """The verifier key text the log publishes."""

    def checkpoint(self) -> str:
        """The latest signed checkpoint."""

    def consistency(self, first: int, second: int) -> list[bytes]:
        """A consistency proof between two tree sizes."""

    def chunk(self, start: int, end: int) -> tuple[list[bytes], list[bytes]]:
        """Entries ``[start, end)`` (at most 256, not crossing a multiple of 256): their data
        and the leaf hashes the log serves for them."""


@dataclass(frozen=True, slots=True)
class State:
    """What the verifier remembers between runs (the JSON state file)."""

    origin: str
    verifier_key: str
    size: int
    root: bytes
    checkpoint: str
    #: How the failure messages name it: the state file's, or one given on the command line.
    label: str = "remembered"

    @classmethod
    def load(cls, path: Path) -> State | None:
        if not path.exists():
            return None
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            if raw.get("version") != STATE_VERSION:
                raise StateFileError(f"{path}: not a version {STATE_VERSION} state file")
            state = cls(
                origin=str(raw["origin"]),
                verifier_key=str(raw["verifier_key"]),
                size=int(raw["size"]),
                root=base64.b64decode(raw["root"], validate=True),
                checkpoint=str(raw["checkpoint"]),
            )
        except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
            raise StateFileError(f"{path}: not a verifier state file") from None
        if state.size < 0 or len(state.root) != merkle.HASH_SIZE:
            raise StateFileError(f"{path}: size or root out of range")
        return state

    def save(self, path: Path) -> None:
        """Write atomically: a crash leaves the old state or the new one, never half."""
        body = json.dumps(
            {
                "version": STATE_VERSION,
                "origin": self.origin,
                "verifier_key": self.verifier_key,
                "size": self.size,
                "root": base64.b64encode(self.root).decode("ascii"),
                "checkpoint": self.checkpoint,
            },
            indent=2,
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(body + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


@dataclass
class VerifyReport:
    """What was checked, one human sentence per line."""

    lines: list[str]
    checkpoint: Checkpoint


def _chunks(size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, size, TILE_WIDTH):
        yield start, min(start + TILE_WIDTH, size)


def _choose_key(
    source: LogSource, configured: VerifierKey | None, state: State | None
) -> tuple[VerifierKey, str]:
    published = source.published_key()
    if configured is not None:
        key, how = configured, "configured"
    elif state is not None:
        key, how = VerifierKey.parse(state.verifier_key), "remembered in the state file"
    else:
        try:
            key = VerifierKey.parse(published)
        except NoteError as exc:
            raise LogVerificationError(f"the published verifier key is malformed: {exc}") from None
        how = "published by the log, trusted on first use"
    if state is not None and state.verifier_key != key.text:
        raise StateFileError("the state file was made with another verifier key than this one")
    if published != key.text:
        raise LogVerificationError(
            f"the log publishes the verifier key {published}, not the trusted {key.text}"
        )
    return key, how


def _check_against_state(
    source: LogSource, state: State, checkpoint: Checkpoint, lines: list[str]
) -> None:
    if checkpoint.size < state.size:
        raise LogVerificationError(
            f"the checkpoint has size {checkpoint.size}, smaller than the {state.label} size "
            f"{state.size}: entries were removed",
            index=checkpoint.size,
        )
    if checkpoint.size == state.size:
        if checkpoint.root_hash != state.root:
            raise LogVerificationError(
                f"the checkpoint of size {state.size} has another root than the {state.label} "
                "one: the log was rewritten (or shows different views)"
            )
        lines.append(f"same tree as the {state.label} checkpoint of size {state.size}")
        return
    if state.size == 0:
        lines.append(f"the {state.label} checkpoint is the empty tree: nothing to prove")
        return
    try:
        proof = source.consistency(state.size, checkpoint.size)
        merkle.verify_consistency(
            size1=state.size,
            size2=checkpoint.size,
            root1=state.root,
            root2=checkpoint.root_hash,
            proof=proof,
        )
    except (ConsistencyProofError, TreeRangeError) as exc:
        raise LogVerificationError(
            f"the checkpoint of size {checkpoint.size} is not consistent with the {state.label} "
            f"checkpoint of size {state.size}: the log was rewritten or forked ({exc})"
        ) from None
    lines.append(
        f"consistent with the {state.label} checkpoint of size {state.size} "
        f"({len(proof)}-hash RFC 9162 proof)"
    )


def _recompute(
    source: LogSource,
    checkpoint: Checkpoint,
    kept: Sequence[State],
    progress: Callable[[int], None],
) -> None:
    """Recompute the tree from every entry; at the size of each kept checkpoint (the state
    file's, the one given with ``--prev-checkpoint``) the root must be that checkpoint's."""
    compact = merkle.CompactRange.empty()
    for start, end in _chunks(checkpoint.size):
        try:
            data, served = source.chunk(start, end)
        except (StorageIntegrityError, TreeRangeError) as exc:
            raise LogVerificationError(
                f"entries from {start} cannot be read: {exc}", index=start
            ) from None
        if len(data) != end - start or len(served) != end - start:
            missing = start + min(len(data), len(served))
            raise LogVerificationError(f"entry {missing} is missing", index=missing)
        leaves = [merkle.leaf_hash(d) for d in data]
        for offset, (mine, theirs) in enumerate(zip(leaves, served, strict=True)):
            if mine != theirs:
                raise LogVerificationError(
                    f"entry {start + offset}: its data does not hash to the leaf hash the log "
                    "serves (the entry was rewritten)",
                    index=start + offset,
                )
        done = start
        # A kept size may fall inside this chunk: check the root exactly there.
        for state in sorted(kept, key=lambda s: s.size):
            if not start < state.size <= end:
                continue
            compact = compact.append(leaves[done - start : state.size - start]).compact_range
            done = state.size
            if compact.root() != state.root:
                raise LogVerificationError(
                    f"entries 0 to {state.size - 1} no longer give the root of the "
                    f"{state.label} checkpoint of size {state.size}: an entry below "
                    f"{state.size} was changed or removed"
                )
        compact = compact.append(leaves[done - start :]).compact_range
        progress(end - start)
    if compact.root() != checkpoint.root_hash:
        raise LogVerificationError(
            f"the {checkpoint.size} entries do not give the checkpoint's root hash"
        )


def _open_previous(note: str, key: VerifierKey) -> State:
    """A checkpoint given with ``--prev-checkpoint``: it must be this log's (its origin and a
    signature by the trusted key)."""
    try:
        checkpoint = open_checkpoint(note, origin=key.name, log_key=key).checkpoint
    except NoteError as exc:
        raise LogVerificationError(f"the previous checkpoint is not this log's: {exc}") from None
    return State(
        origin=key.name,
        verifier_key=key.text,
        size=checkpoint.size,
        root=checkpoint.root_hash,
        checkpoint=note,
        label="previous",
    )


def verify_log(
    source: LogSource,
    *,
    configured_key: VerifierKey | None,
    state_path: Path | None,
    progress: Callable[[int], None] = lambda _n: None,
    on_size: Callable[[int], None] = lambda _n: None,
    previous_checkpoint: str | None = None,
) -> VerifyReport:
    """Run every check (module docstring) and update the state file; raise on the first
    failure with :class:`~audit.errors.LogVerificationError` (or a
    :class:`~audit.errors.StateFileError` for an unusable state file).

    ``previous_checkpoint`` is a signed checkpoint of this log kept from earlier (by the
    caller, a witness, a newspaper): the log must extend it, which the consistency proof
    from its size and the recomputed root at its size both show (board-format.md §8.2)."""
    state = State.load(state_path) if state_path is not None else None
    key, how = _choose_key(source, configured_key, state)
    lines = [f"verifier key {key.text} ({how})"]
    if state is not None and state.origin != key.name:
        raise StateFileError("the state file belongs to another log")
    note = source.checkpoint()
    try:
        checkpoint = open_checkpoint(note, origin=key.name, log_key=key).checkpoint
    except NoteError as exc:
        raise LogVerificationError(f"checkpoint: {exc}") from None
    lines.append(
        f"checkpoint of {checkpoint.origin}: size {checkpoint.size}, root "
        f"{base64.b64encode(checkpoint.root_hash).decode()}, signature valid"
    )
    kept: list[State] = []
    if state is not None:
        _check_against_state(source, state, checkpoint, lines)
        kept.append(state)
    else:
        lines.append("no remembered checkpoint: this run only starts the record")
    if previous_checkpoint is not None:
        previous = _open_previous(previous_checkpoint, key)
        _check_against_state(source, previous, checkpoint, lines)
        kept.append(previous)
    on_size(checkpoint.size)
    _recompute(source, checkpoint, kept, progress)
    lines.append(f"recomputed the tree from all {checkpoint.size} entries: the root matches")
    if state_path is not None:
        State(
            origin=key.name,
            verifier_key=key.text,
            size=checkpoint.size,
            root=checkpoint.root_hash,
            checkpoint=note,
        ).save(state_path)
        lines.append(f"remembered this checkpoint in {state_path}")
    return VerifyReport(lines=lines, checkpoint=checkpoint)


# --- sources ----------------------------------------------------------------------------------


class HttpSource:
    """A Parvis server's read API (``/logs/<name>/...``, C2SP tlog-tiles for entries).

    Public logs only (ballot boards, any log created public): it sends no credentials. A
    non-public log (the audit log) is verified with :class:`LocalSource` on the server.
    """

    def __init__(self, *, client: Any, base_url: str, log: str) -> None:
        self._client = client
        self._log = log
        self._base = f"{base_url.rstrip('/')}/logs/{log}"
        self._size = 0

    def _get(self, path: str, **params: int) -> Any:
        import httpx

        url = self._base + path
        try:
            response = self._client.get(url, params=params or None)
        except httpx.HTTPError as exc:
            # Name the URL: a typo in --url must be visible in the one-line error.
            raise LogVerificationError(f"cannot fetch {url}: {type(exc).__name__}") from None
        if response.status_code in (401, 403):
            # Public logs only, by design: the verifier holds no credentials, and the audit
            # log (personal pseudonyms) is read by a signed-in DPO. Say so rather than
            # leave a bare 401 that suggests a missing option.
            raise LogVerificationError(
                f"GET {url} answered {response.status_code}: the log {self._log} is not public, "
                "and --url verifies public logs only; verify it on the server with "
                "`parvis audit verify` (local database)"
            )
        if response.status_code != 200:
            detail = ""
            if response.headers.get("content-type", "").startswith("application/problem+json"):
                detail = ": " + str(response.json().get("detail", ""))
            raise LogVerificationError(f"GET {path} answered {response.status_code}{detail}")
        return response

    def published_key(self) -> str:
        return str(self._get("").json()["verifier_key"])

    def checkpoint(self) -> str:
        return str(self._get("/checkpoint").text)

    def consistency(self, first: int, second: int) -> list[bytes]:
        body = self._get("/proof/consistency", first=first, second=second).json()
        return [base64.b64decode(h, validate=True) for h in body["proof"]]

    def chunk(self, start: int, end: int) -> tuple[list[bytes], list[bytes]]:
        width = end - start
        index = start // TILE_WIDTH
        bundle = TilePath(level=None, index=index, width=width).path
        tile = TilePath(level=0, index=index, width=width).path
        data = decode_bundle(self._get("/" + bundle).content)
        raw = self._get("/" + tile).content
        hashes = [raw[i : i + merkle.HASH_SIZE] for i in range(0, len(raw), merkle.HASH_SIZE)]
        return data, hashes


class LocalSource:
    """The local database, read through the service (each call its own read transaction)."""

    def __init__(self, *, service: Any, db: Any, log: str) -> None:
        self._service = service
        self._db = db
        self._log = log

    def published_key(self) -> str:
        with self._db.read_session() as session:
            return str(self._service.log_info(session, log=self._log).verifier_key)

    def checkpoint(self) -> str:
        with self._db.read_session() as session:
            return str(self._service.checkpoint(session, log=self._log))

    def consistency(self, first: int, second: int) -> list[bytes]:
        with self._db.read_session() as session:
            proof = self._service.consistency_proof(
                session, log=self._log, first=first, second=second
            )
        return list(proof.proof)

    def chunk(self, start: int, end: int) -> tuple[list[bytes], list[bytes]]:
        with self._db.read_session() as session:
            entries = self._service.entries(session, log=self._log, start=start, end=end)
        return [e.data for e in entries], [e.leaf_hash for e in entries]


def configured_key(texts: str, *, log: str) -> VerifierKey | None:
    """The one key among ``texts`` (space-separated verifier keys) for the log named ``log``:
    its name (the origin) ends with ``/<log>``. Chosen by name, not by what a server says
    its origin is, so a server cannot steer the verifier away from a pinned key."""
    matching = []
    for text in texts.split():
        try:
            key = VerifierKey.parse(text)
        except NoteError:
            raise StateFileError("PARVIS_AUDIT_VERIFIER_KEYS holds a malformed key") from None
        if key.name.rsplit("/", 1)[-1] == log:
            matching.append(key)
    if len(matching) > 1:
        raise StateFileError(f"PARVIS_AUDIT_VERIFIER_KEYS names several keys for log {log}")
    return matching[0] if matching else None
