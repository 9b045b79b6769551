"""``parvis backup create|restore``: encrypted backups and their restore (docs/adr/0015-backups.md).

The archive is a POSIX tar encrypted in the age format (C2SP age, through ``pyrage``) to one
or more X25519 recipients. Inside: ``manifest.json`` first, then one consistent database
snapshot (SQLite's online backup API, or ``pg_dump --format=custom``, which reads the whole
database in one repeatable-read snapshot), then the files of ``<DATA_DIR>/keys/``. The master
secret is never in it: the operator keeps it apart, and a restore needs it as before.

A restore refuses a target that is not empty, a key that does not open the archive, and an
archive that is truncated or tampered with (age authenticates every 64 KiB chunk and the end
of the stream; the manifest's SHA-256 of each member is checked too) — all before anything is
written. The database is restored in one transaction (``pg_restore --single-transaction``,
or one file rename on SQLite), the keys directory by one rename; then every log is checked
with ``parvis audit verify`` before the restore is called a success.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from parvis.kernel.cli import one_line_errors
from parvis.kernel.errors import DomainError
from parvis.kernel.settings import Settings, load_settings

__all__ = [
    "FORMAT",
    "MANIFEST",
    "BackupError",
    "backup_app",
    "create_backup",
    "restore_backup",
]

FORMAT = "parvis-backup"
VERSION = 1
MANIFEST = "manifest.json"
DB_MEMBER = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}
KEYS = "keys"
#: Names a key file may have inside the archive: no path separators, no dot files.
_KEY_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")

backup_app = typer.Typer(
    help="Encrypted backups (age) of the database and the keys, and their restore.",
    no_args_is_help=True,
)


class BackupError(DomainError):
    """A backup or restore that cannot proceed; the message is the one line shown."""


Progress = Callable[[str], None]


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size: int
    seconds: float
    manifest: dict[str, Any]


# -- recipients and identities ------------------------------------------------------------


def parse_recipients(texts: list[str]) -> list[Any]:
    """age X25519 recipients (``age1…``); a malformed one is named (it is public)."""
    from pyrage import x25519

    recipients = []
    for text in texts:
        try:
            recipients.append(x25519.Recipient.from_str(text))
        except Exception:  # pyrage raises its own RecipientError or ValueError
            raise BackupError(f"not an age X25519 recipient: {text!r}") from None
    if not recipients:
        raise BackupError("no recipient: give --recipient or set PARVIS_BACKUP_RECIPIENTS")
    return recipients


def read_identities(path: Path) -> list[Any]:
    """The ``AGE-SECRET-KEY-1…`` lines of an age identity file (``age-keygen`` writes one,
    with comment lines); the key itself never appears in a message."""
    from pyrage import x25519

    identities = []
    for n, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            identities.append(x25519.Identity.from_str(line))
        except Exception:
            raise BackupError(f"{path}: line {n} is not an age X25519 secret key") from None
    if not identities:
        raise BackupError(f"{path} holds no age secret key")
    return identities


# -- the database --------------------------------------------------------------------------


def _kind(settings: Settings) -> str:
    return "sqlite" if settings.is_sqlite else "postgresql"


def find_pg_tool(name: str) -> str:
    """``pg_dump``/``pg_restore``: ``$PARVIS_PG_BINDIR``, Debian's layout (newest version,
    which reads every older server), then ``PATH`` (as tests/support/postgres.py finds the
    server's binaries)."""
    import glob

    explicit = os.environ.get("PARVIS_PG_BINDIR")
    candidates = [Path(explicit)] if explicit else []
    candidates += [
        Path(p)
        for p in sorted(
            glob.glob("/usr/lib/postgresql/*/bin"),
            key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
            reverse=True,
        )
    ]
    for candidate in candidates:
        if (candidate / name).exists():
            return str(candidate / name)
    on_path = shutil.which(name)
    if on_path:
        return on_path
    raise BackupError(f"{name} not found: install the PostgreSQL client or set PARVIS_PG_BINDIR")


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URI without the password (which goes in ``PGPASSWORD``: never on a command
    line that ``ps`` shows), and the environment to run the tool with."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run_pg(args: list[str], env: dict[str, str], what: str) -> None:
    # The arguments are ours: the tool's path and a URI from the settings, no shell.
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        missing = re.search(r'role "([^"]+)" does not exist', done.stderr)
        if missing:
            raise BackupError(
                f"{what} failed: the target cluster has no role {missing.group(1)}; create "
                "the roles that own the source's tables first (docs/adr/0015-backups.md)"
            )
        lines = [ln for ln in done.stderr.splitlines() if ln.strip()] or ["no message"]
        # pg_restore opens with "while PROCESSING TOC:"; the reason is its "error:" line.
        reason = next((ln for ln in lines if "error:" in ln), lines[0])
        raise BackupError(f"{what} failed: {' '.join(reason.split())}")


def _snapshot_database(settings: Settings, dest: Path, progress: Progress) -> None:
    if settings.is_sqlite:
        source_path = settings.sqlite_path()
        assert source_path is not None
        if not source_path.exists():
            raise BackupError(f"no database at {source_path}")
        # The online backup API, in one step: one read transaction copies a consistent image
        # (in WAL mode writers go on meanwhile). Stepwise copies restart whenever another
        # process writes, so under a steady load they might never end. Read-only, so a
        # backup never creates a database file.
        source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True)
        target = sqlite3.connect(dest)
        try:
            source.backup(target)
        finally:
            target.close()
            source.close()
        progress(f"database: SQLite snapshot of {dest.stat().st_size} bytes")
        return
    uri, env = _libpq(settings.database_url)
    # Owners and grants are kept: the audit tables' owner and writer roles are part of their
    # append-only guarantee (ADR 0003); a restore that dropped them would weaken it silently.
    progress("database: pg_dump (one snapshot, custom format)")
    _run_pg(
        [
            find_pg_tool("pg_dump"),
            "--format=custom",
            "--file",
            str(dest),
            "--dbname",
            uri,
        ],
        env,
        "pg_dump",
    )


def _table_names(url: str) -> list[str]:
    from sqlalchemy import inspect

    from parvis.kernel.db import make_engine

    engine = make_engine(url)
    try:
        return sorted(inspect(engine).get_table_names())
    finally:
        engine.dispose()


# -- create --------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _key_files(settings: Settings) -> list[Path]:
    """The regular files of ``<DATA_DIR>/keys`` — never the master secret's file, even when
    an operator put it there."""
    key_dir = Path(settings.data_dir) / KEYS
    if not key_dir.is_dir():
        return []
    secret = settings.secret_key_file.resolve() if settings.secret_key_file else None
    return [
        p
        for p in sorted(key_dir.iterdir())
        if p.is_file() and not p.is_symlink() and p.resolve() != secret and _KEY_NAME.match(p.name)
    ]


def _settings_record() -> dict[str, str]:
    """The ``PARVIS_*`` settings the backup was made under, for the operator who restores
    (public URL, modes, verifier keys…): secrets masked as ``check-config`` masks them, and
    without the database URL (it may hold a password) — the target's own is used anyway."""
    from parvis.kernel.settings import environment_snapshot

    return {k: v for k, v in environment_snapshot().items() if k != "PARVIS_DATABASE_URL"}


def create_backup(
    settings: Settings, out: Path, recipient_texts: list[str], progress: Progress
) -> BackupResult:
    """Write the encrypted archive to ``out`` (through a temporary file and one rename, so a
    failed backup leaves no file that looks like one)."""
    import pyrage

    from parvis import migrate

    started = time.monotonic()
    recipients = parse_recipients(recipient_texts)
    kind = _kind(settings)
    with tempfile.TemporaryDirectory(prefix="parvis-backup-") as tmp_name:
        tmp = Path(tmp_name)  # mkdtemp makes it 0700: the plaintext never leaves it
        db_file = tmp / DB_MEMBER[kind]
        heads = list(migrate.schema_status(settings.database_url).current)
        _snapshot_database(settings, db_file, progress)
        members: list[tuple[str, Path, int]] = [(DB_MEMBER[kind], db_file, 0o600)]
        members += [(f"{KEYS}/{p.name}", p, 0o600) for p in _key_files(settings)]
        progress(f"keys: {len(members) - 1} files from {Path(settings.data_dir) / KEYS}")
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "database": kind,
            "migration_heads": sorted(heads),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "members": [
                {"name": name, "size": path.stat().st_size, "sha256": _sha256(path)}
                for name, path, _mode in members
            ],
            "settings": _settings_record(),
            "not_included": ["the master secret (PARVIS_SECRET_KEY / PARVIS_SECRET_KEY_FILE)"],
        }
        plain = tmp / "archive.tar"
        with tarfile.open(plain, "w", format=tarfile.PAX_FORMAT) as tar:
            body = json.dumps(manifest, indent=2, sort_keys=True).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mode, info.mtime = len(body), 0o600, int(time.time())
            import io

            tar.addfile(info, io.BytesIO(body))
            for name, path, mode in members:
                info = tar.gettarinfo(str(path), arcname=name)
                info.mode, info.uid, info.gid, info.uname, info.gname = mode, 0, 0, "", ""
                with path.open("rb") as f:
                    tar.addfile(info, f)
        progress(f"encrypting {plain.stat().st_size} bytes to {len(recipients)} recipient(s)")
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(out.name + ".partial")
        try:
            pyrage.encrypt_file(str(plain), str(partial), recipients)
            os.chmod(partial, 0o600)
            os.replace(partial, out)
        finally:
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()
    return BackupResult(out, out.stat().st_size, time.monotonic() - started, manifest)


# -- restore -------------------------------------------------------------------------------


def _companions(path: Path) -> set[str]:
    return {path.name, *(path.name + s for s in ("-wal", "-shm", "-journal"))}


def check_empty_target(settings: Settings) -> None:
    """Refuse a database with any table (even ``alembic_version``) or a data directory
    holding anything but the (empty) SQLite file itself and the state directory.

    The state directory (``PARVIS_STATE_DIR``, ``DATA_DIR/state`` by default) is never in a
    backup and must survive a restore: it remembers the checkpoints the service published,
    so that restoring an older backup over a service that moved on is detected
    (docs/adr/0017-rollback-detection.md)."""
    sqlite_path = settings.sqlite_path()
    if sqlite_path is None or sqlite_path.exists():
        tables = _table_names(settings.database_url)
        if tables:
            raise BackupError(
                f"the target database is not empty ({len(tables)} tables): "
                "a restore needs an empty database"
            )
    data_dir = Path(settings.data_dir)
    if data_dir.exists():
        allowed = set()
        if sqlite_path is not None and sqlite_path.parent.resolve() == data_dir.resolve():
            allowed = _companions(sqlite_path)
        state = settings.state_path().resolve()
        if state.parent == data_dir.resolve():
            allowed.add(state.name)
        others = sorted(p.name for p in data_dir.iterdir() if p.name not in allowed)
        if others:
            raise BackupError(
                f"the data directory {data_dir} is not empty ({others[0]}): "
                "a restore needs an empty one"
            )


def _open_archive(archive: Path, identities: list[Any], tmp: Path) -> tuple[Path, dict[str, Any]]:
    """Decrypt into ``tmp`` and check the manifest against every member."""
    import pyrage

    plain = tmp / "archive.tar"
    try:
        pyrage.decrypt_file(str(archive), str(plain), identities)
    except pyrage.DecryptError as exc:
        if "No matching keys" in str(exc):
            raise BackupError(
                f"{archive}: no key in the identity file opens this archive "
                "(wrong key, or a damaged header)"
            ) from None
        raise BackupError(f"{archive}: not an age archive, or truncated") from None
    except OSError:
        # age authenticates each chunk and the last one: a cut or altered body fails here.
        raise BackupError(f"{archive}: the archive is truncated or was tampered with") from None
    out = tmp / "members"
    out.mkdir()
    try:
        with tarfile.open(plain, "r:") as tar:
            names = tar.getnames()
            if not names or names[0] != MANIFEST:
                raise BackupError(f"{archive}: no manifest: not a Parvis backup")
            member = tar.extractfile(MANIFEST)
            assert member is not None
            manifest = json.loads(member.read())
            if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
                raise BackupError(f"{archive}: not a Parvis backup of format version {VERSION}")
            listed = {m["name"] for m in manifest["members"]}
            if set(names[1:]) != listed or len(names) != len(listed) + 1:
                raise BackupError(f"{archive}: the members differ from the manifest")
            for entry in manifest["members"]:
                name = entry["name"]
                ok = name == DB_MEMBER.get(manifest["database"]) or (
                    name.startswith(KEYS + "/") and _KEY_NAME.match(name[len(KEYS) + 1 :])
                )
                if not ok:
                    raise BackupError(f"{archive}: unexpected member {name!r}")
                # Names were checked above; the bytes are copied, never extracted with
                # the tar's own paths, modes or links.
                source = tar.extractfile(name)
                if source is None:
                    raise BackupError(f"{archive}: {name} is not a regular file")
                path = out / name
                path.parent.mkdir(mode=0o700, exist_ok=True)
                with source, path.open("wb") as sink:
                    shutil.copyfileobj(source, sink, 1 << 20)
                if path.stat().st_size != entry["size"] or _sha256(path) != entry["sha256"]:
                    raise BackupError(f"{archive}: {name} does not match its SHA-256")
    except (tarfile.TarError, KeyError, ValueError, TypeError):
        raise BackupError(f"{archive}: the archive's contents are malformed") from None
    return out, manifest


def restore_backup(
    settings: Settings, archive: Path, identity_file: Path, progress: Progress
) -> dict[str, Any]:
    """Restore into the empty database and data directory of ``settings``; return the
    manifest. Everything that can be refused is refused before anything is written."""
    identities = read_identities(identity_file)
    if not archive.is_file():
        raise BackupError(f"{archive}: no such file")
    check_empty_target(settings)
    kind = _kind(settings)
    data_dir = Path(settings.data_dir)
    with tempfile.TemporaryDirectory(prefix="parvis-restore-") as tmp_name:
        members, manifest = _open_archive(archive, identities, Path(tmp_name))
        if manifest["database"] != kind:
            raise BackupError(
                f"{archive} holds a {manifest['database']} database; the target is {kind}"
            )
        progress(f"archive of {manifest['created']} opened; {len(manifest['members'])} members")
        data_dir.mkdir(parents=True, exist_ok=True)
        # The keys go to a staging directory first, renamed into place once the database is in.
        staging = Path(tempfile.mkdtemp(prefix=".restore-keys-", dir=data_dir))
        try:
            for key in sorted((members / KEYS).glob("*")) if (members / KEYS).is_dir() else []:
                shutil.copyfile(key, staging / key.name)
                os.chmod(staging / key.name, 0o600)
            _restore_database(settings, members / DB_MEMBER[kind], progress)
            os.chmod(staging, 0o700)
            os.replace(staging, data_dir / KEYS)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    progress(f"keys: {len(manifest['members']) - 1} files into {data_dir / KEYS}")
    return manifest


def _restore_database(settings: Settings, dump: Path, progress: Progress) -> None:
    if settings.is_sqlite:
        target = settings.sqlite_path()
        assert target is not None
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            dir=target.parent, prefix=".restore-", delete=False
        ) as staged:
            staged_path = Path(staged.name)
        try:
            shutil.copyfile(dump, staged_path)
            check = sqlite3.connect(staged_path)
            try:
                if check.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                    raise BackupError("the SQLite snapshot fails its integrity check")
            finally:
                check.close()
            for stale in _companions(target) - {target.name}:
                with contextlib.suppress(FileNotFoundError):
                    (target.parent / stale).unlink()
            os.replace(staged_path, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                staged_path.unlink()
        progress(f"database: {target} restored")
        return
    uri, env = _libpq(settings.database_url)
    progress("database: pg_restore (one transaction)")
    _run_pg(
        [
            find_pg_tool("pg_restore"),
            "--single-transaction",
            "--exit-on-error",
            "--dbname",
            uri,
            str(dump),
        ],
        env,
        "pg_restore",
    )
    # pg_restore does not gather planner statistics: without them the log verification that
    # follows chose plans 20 times slower at 10,000 citizens (bench/backup.py).
    progress("database: ANALYZE")
    from sqlalchemy import text

    from parvis.kernel.db import Database

    db = Database(settings.database_url)
    try:
        with db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    finally:
        db.dispose()


def logs(settings: Settings) -> list[tuple[str, bool]]:
    """Every transparency log in the (restored) database: (name, sealed)."""
    from sqlalchemy import select

    from audit.tables import LogRow
    from parvis.kernel.db import Database

    db = Database(settings.database_url)
    try:
        with db.read_session() as session:
            return [
                (r.name, r.sealed)
                for r in session.execute(select(LogRow.name, LogRow.sealed).order_by(LogRow.name))
            ]
    finally:
        db.dispose()


def verify_sealed_log(settings: Settings, name: str) -> list[str]:
    """``parvis audit verify``'s checks (signature, every entry recomputed into the root) on
    a sealed log — a running election's board, whose entries no read path serves until it
    closes. The restore reads them in-process (it holds the whole database anyway) and
    prints nothing of them."""
    from audit.service import service_from
    from audit.verifier import LocalSource, configured_key, verify_log
    from parvis.kernel.context import build_context

    class _OwnReads(LocalSource):
        def chunk(self, start: int, end: int) -> tuple[list[bytes], list[bytes]]:
            with self._db.read_session() as session:
                found = self._service.entries(
                    session, log=self._log, start=start, end=end, reveal_sealed=True
                )
            return [e.data for e in found], [e.leaf_hash for e in found]

    ctx = build_context(settings)
    try:
        source = _OwnReads(service=service_from(ctx), db=ctx.db, log=name)
        key = configured_key(settings.audit_verifier_keys, log=name)
        report = verify_log(source, configured_key=key, state_path=None)
    finally:
        ctx.db.dispose()
    return [*report.lines, f"log {name} is sealed: its entries were checked, not shown"]


# -- commands ------------------------------------------------------------------------------


def _say(line: str) -> None:
    typer.echo(f"backup: {line}", err=True)


@backup_app.command("create")
@one_line_errors
def create(
    out: Annotated[Path, typer.Option("--out", help="archive to write (age-encrypted tar)")],
    recipient: Annotated[
        list[str] | None,
        typer.Option(
            "--recipient",
            help="age X25519 public key (age1…); repeatable; added to PARVIS_BACKUP_RECIPIENTS",
        ),
    ] = None,
) -> None:
    """Write one encrypted archive: a consistent database snapshot, the data directory's keys
    and a manifest — never the master secret. Safe while the service runs."""
    settings = load_settings()
    texts = [*settings.backup_recipients.split(), *(recipient or [])]
    result = create_backup(settings, out, texts, _say)
    typer.echo(f"backup written to {result.path}: {result.size} bytes in {result.seconds:.2f} s")


@backup_app.command("restore")
@one_line_errors
def restore(
    archive: Annotated[Path, typer.Argument(help="archive written by `parvis backup create`")],
    identity: Annotated[
        Path, typer.Option("--identity", help="age identity file (AGE-SECRET-KEY-1…)")
    ],
) -> None:
    """Restore into an empty database and data directory, then verify every log."""
    from audit.cli import verify

    settings = load_settings()
    started = time.monotonic()
    manifest = restore_backup(settings, archive, identity, _say)
    names = logs(settings)
    for name, sealed in names:
        _say(f"verifying log {name}")
        if sealed:
            for line in verify_sealed_log(settings, name):
                typer.echo(line)
        else:
            verify(log=name, url=None, state=None, key_text=None)
    typer.echo(
        f"restored the backup of {manifest['created']} ({manifest['database']}, schema "
        f"{', '.join(manifest['migration_heads']) or 'empty'}); {len(names)} logs verify; "
        f"{time.monotonic() - started:.2f} s"
    )
