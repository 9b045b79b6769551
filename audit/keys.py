"""Log signing keys: one Ed25519 key per log, from settings or from a file made on first use.

ADR 0003, "Named logs, origins and keys": keys are loaded from files or settings, never
logged, and the verifier key text is published. A log's key name is its origin line
(tlog-checkpoint: "The log's key name in its signature line SHOULD match the origin line").

* ``PARVIS_AUDIT_SECRET_KEYS``: Go signer key texts (``PRIVATE+KEY+<origin>+<id>+<key>``,
  the format of ``golang.org/x/mod/sumdb/note``), separated by spaces. A key whose name is a
  log's origin signs for that log. For deployments with several hosts, which must all sign
  with the same key.
* Otherwise ``<DATA_DIR>/keys/log-<name>.key`` holds the same text, mode 0600 in a 0700
  directory. It is created on first use — written to a temporary file and hard-linked into
  place, so two processes racing to create it end up with the same key, and nobody ever
  reads a half-written file. A key file readable by group or others is refused, like ssh
  does.

Secrets never appear in ``repr``, logs or error messages (:class:`~audit.note.Signer` keeps
its seed out of ``repr``; messages here name the log and the file, never the content).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import threading
from pathlib import Path

from audit.errors import LogKeyError, NoteError
from audit.note import Signer
from parvis.kernel.settings import Settings

__all__ = ["KeyStore"]


class KeyStore:
    """Finds (or makes) the signing key of each log; thread-safe, caches what it loaded."""

    def __init__(self, *, key_dir: Path, configured: str = "") -> None:
        self.key_dir = key_dir
        self._configured: dict[str, Signer] = {}
        for n, text in enumerate(configured.split()):
            try:
                signer = Signer.parse(text)
            except NoteError:
                # The text is a secret: say which one, never what it holds.
                raise LogKeyError(
                    f"PARVIS_AUDIT_SECRET_KEYS: key number {n + 1} is not a signer key text"
                ) from None
            self._configured[signer.name] = signer
        self._loaded: dict[tuple[str, str], Signer] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyStore:
        return cls(key_dir=Path(settings.data_dir) / "keys", configured=settings.audit_secret_keys)

    def __repr__(self) -> str:
        return f"KeyStore(key_dir={str(self.key_dir)!r}, configured={len(self._configured)})"

    def path_for(self, name: str) -> Path:
        return self.key_dir / f"log-{name}.key"

    def signer(self, *, name: str, origin: str, create: bool) -> Signer:
        """The signer of log ``name`` whose origin (and key name) is ``origin``.

        ``create``: make a new key file if there is none (only when the log itself is being
        created; an existing log without its key is a configuration error, since a new key
        would sign checkpoints nobody can verify with the published key).
        """
        with self._lock:
            cached = self._loaded.get((name, origin))
            if cached is not None:
                return cached
            signer = self._configured.get(origin) or self._from_file(
                name=name, origin=origin, create=create
            )
            self._loaded[(name, origin)] = signer
            return signer

    def _from_file(self, *, name: str, origin: str, create: bool) -> Signer:
        path = self.path_for(name)
        if not path.exists():
            if not create:
                raise LogKeyError(
                    f"no signing key for log {name}: neither {path} nor a key named {origin} "
                    "in PARVIS_AUDIT_SECRET_KEYS"
                )
            self._create(path, origin)
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise LogKeyError(f"key file {path} is accessible to group or others; chmod 600 it")
        try:
            signer = Signer.parse(path.read_text(encoding="ascii").strip())
        except (NoteError, UnicodeDecodeError):
            raise LogKeyError(f"key file {path} does not hold a signer key text") from None
        if signer.name != origin:
            raise LogKeyError(f"key file {path} holds the key of another log origin")
        return signer

    def _create(self, path: Path, origin: str) -> None:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        signer = Signer(name=origin, seed=secrets.token_bytes(32))
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(signer.secret_text() + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            # link() fails if another process created the key first: theirs wins.
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
