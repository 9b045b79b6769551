"""Rollback detection: the checkpoints a log published, remembered outside the database.

docs/adr/0017-rollback-detection.md. A database restored from an older backup (or edited by
someone with the owner's rights) may hold a log *behind* a checkpoint that was already
published — handed to verifiers, cosigned by witnesses, quoted in promises. Appending to it
then would fork the log: two different trees under the same key. So after every integrated
batch the sequencer remembers the new head in ``STATE_DIR/audit/<log>.checkpoint``, a file a
backup never contains, and before integrating it compares the database's head with it:

* the database's tree is smaller than the remembered one, or the log is missing: rollback;
* same size, another root: rollback (a fork);
* larger: the stored tree at the remembered size must have the remembered root, checked
  with an RFC 9162 §2.1.4 consistency proof built from the stored hashes; otherwise rollback.

The file holds one line, ``<size> <base64 root>``, replaced atomically (``os.replace`` after
``fsync``): a crash leaves the old or the new line, never half of one. It is written only
after the batch committed, so it can lag the database (harmless: the next check proves
consistency from the older size) but never lead it. An operator's acknowledgement
(:meth:`CheckpointMemory.reset`) is the only way it moves backwards; the previous line is
kept beside it in ``<log>.acknowledged``, one line per acknowledgement.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from audit import merkle
from audit.errors import ConsistencyProofError, LogRollbackError, StorageIntegrityError
from audit.events import check_log_name

__all__ = ["CheckpointMemory", "Remembered", "check_head"]


@dataclass(frozen=True, slots=True)
class Remembered:
    """A tree head this installation published: its size and root hash."""

    size: int
    root: bytes

    def __post_init__(self) -> None:
        if self.size < 0 or len(self.root) != 32:
            raise StorageIntegrityError(
                "a remembered checkpoint needs a size ≥ 0 and a 32-byte root"
            )

    def line(self) -> str:
        return f"{self.size} {base64.b64encode(self.root).decode('ascii')}\n"


class CheckpointMemory:
    """The remembered heads of every log, one small file per log under ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, log: str, suffix: str) -> Path:
        check_log_name(log)  # names are safe in file names (audit.events)
        return self.directory / f"{log}.{suffix}"

    def get(self, log: str) -> Remembered | None:
        """The remembered head of ``log``, or ``None`` if this installation published none."""
        path = self._path(log, "checkpoint")
        try:
            text = path.read_text(encoding="ascii")
        except FileNotFoundError:
            return None
        try:
            size_text, root_text = text.split()
            return Remembered(size=int(size_text), root=base64.b64decode(root_text, validate=True))
        except (ValueError, binascii.Error, UnicodeDecodeError):
            # A damaged memory must not silently disable the check.
            raise StorageIntegrityError(
                f"the remembered checkpoint {path} is not '<size> <base64 root>'"
            ) from None

    def logs(self) -> list[str]:
        """Names of the logs with a remembered head."""
        if not self.directory.is_dir():
            return []
        return sorted(p.stem for p in self.directory.glob("*.checkpoint"))

    def _write(self, log: str, head: Remembered) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._path(log, "checkpoint")
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        with tmp.open("w", encoding="ascii") as out:
            out.write(head.line())
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)

    def remember(self, log: str, head: Remembered) -> None:
        """Remember a head just committed; never move backwards (a process that integrated
        an older batch may write after a newer one, without any lock between them)."""
        current = self.get(log)
        if current is not None and current.size >= head.size:
            return
        self._write(log, head)

    def reset(self, log: str, head: Remembered | None, *, reason: str) -> Remembered | None:
        """Accept the database's ``head`` (``None``: the log is gone) after an operator's
        acknowledgement; the previous head goes to ``<log>.acknowledged``. Returns it."""
        previous = self.get(log)
        self.directory.mkdir(parents=True, exist_ok=True)
        with self._path(log, "acknowledged").open("a", encoding="utf-8") as history:
            old = previous.line().strip() if previous else "-"
            new = head.line().strip() if head else "-"
            history.write(f"{old} -> {new} {' '.join(reason.split())}\n")
        if head is None:
            self._path(log, "checkpoint").unlink(missing_ok=True)
        else:
            self._write(log, head)
        return previous


def check_head(
    *,
    log: str,
    remembered: Remembered | None,
    size: int | None,
    root: bytes | None,
    prove: Callable[[int, int], Sequence[bytes]] | None,
) -> None:
    """Raise :class:`~audit.errors.LogRollbackError` unless the database's tree (``size``,
    ``root``; both ``None`` when the log is missing) extends ``remembered``.

    ``prove(m, n)`` builds the consistency proof between the stored trees of sizes ``m`` and
    ``n``; it is called only when the database's tree is larger, and the proof is verified
    against the remembered root and the database's root (RFC 9162 §2.1.4.2).
    """
    if remembered is None or remembered.size == 0:
        return
    advice = f"; run 'parvis audit acknowledge-rollback {log} --reason …' once understood"
    if size is None or root is None:
        raise LogRollbackError(
            f"log {log} is missing from the database, which published a checkpoint of size "
            f"{remembered.size}{advice}",
            name=log,
            remembered_size=remembered.size,
            database_size=None,
        )
    if size < remembered.size:
        raise LogRollbackError(
            f"log {log} has {size} entries in the database but a checkpoint of size "
            f"{remembered.size} was published{advice}",
            name=log,
            remembered_size=remembered.size,
            database_size=size,
        )
    if size == remembered.size:
        if root != remembered.root:
            raise LogRollbackError(
                f"log {log} has another root at size {size} than the checkpoint it "
                f"published{advice}",
                name=log,
                remembered_size=remembered.size,
                database_size=size,
            )
        return
    assert prove is not None
    proof = prove(remembered.size, size)
    try:
        merkle.verify_consistency(
            size1=remembered.size, size2=size, root1=remembered.root, root2=root, proof=proof
        )
    except ConsistencyProofError:
        raise LogRollbackError(
            f"log {log} at size {size} in the database is not consistent with the checkpoint "
            f"of size {remembered.size} it published{advice}",
            name=log,
            remembered_size=remembered.size,
            database_size=size,
        ) from None
