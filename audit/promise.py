"""Signed promises: what a writer gets back before its entry has an index.

audit-log.md, "Sequencing": "A writer that needs an immediate answer gets a signed promise
(entry hash + maximum integration delay) and the inclusion proof once integrated." The
promise plays the role of a Certificate Transparency SCT (RFC 9162 §4.8): a log that signs a
promise and does not include the entry by the promised time has signed evidence of its own
misbehaviour.

A promise is a C2SP signed note (https://c2sp.org/signed-note) by the log's key whose text
is::

    parvis-log-promise/v1
    <origin>
    <base64 of the 32-byte leaf hash>
    <integrate-by time, POSIX seconds>

The first line makes the text impossible to read as a checkpoint (a checkpoint's second
line is a decimal size; here it is the origin), so one key can sign both without a promise
ever passing for a checkpoint or the reverse.

This module is pure: signing goes through a :class:`~audit.note.Signer` passed in, times are
passed in.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from audit.errors import PromiseError
from audit.note import Signer, VerifierKey, open_note, sign_note

__all__ = ["PROMISE_HEADER", "Promise", "PromiseBody", "integrate_by_datetime", "open_promise"]

PROMISE_HEADER = "parvis-log-promise/v1"
_SECONDS = re.compile(r"0|[1-9][0-9]{0,18}", re.ASCII)


@dataclass(frozen=True, slots=True)
class PromiseBody:
    """The promise text: the log's origin, the leaf hash and the integrate-by time."""

    origin: str
    leaf_hash: bytes
    integrate_by: int

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise PromiseError("promise origin is empty or spans lines")
        if len(self.leaf_hash) != 32:
            raise PromiseError("promise leaf hash is not 32 bytes")
        if not 0 <= self.integrate_by < 2**63:
            raise PromiseError("promise time is out of range")

    @property
    def text(self) -> str:
        leaf = base64.b64encode(self.leaf_hash).decode("ascii")
        return f"{PROMISE_HEADER}\n{self.origin}\n{leaf}\n{self.integrate_by}\n"

    @classmethod
    def parse(cls, text: str) -> PromiseBody:
        lines = text.split("\n")
        if len(lines) != 5 or lines[0] != PROMISE_HEADER or lines[4] != "":
            raise PromiseError("note text is not a version 1 promise")
        _, origin, leaf_b64, seconds, _ = lines
        try:
            leaf = base64.b64decode(leaf_b64, validate=True)
        except binascii.Error:
            raise PromiseError("promise leaf hash is not base64") from None
        if base64.b64encode(leaf).decode("ascii") != leaf_b64 or not _SECONDS.fullmatch(seconds):
            raise PromiseError("promise leaf hash or time is not in canonical form")
        return cls(origin=origin, leaf_hash=leaf, integrate_by=int(seconds))

    def sign(self, signer: Signer) -> str:
        """The signed note of this promise."""
        return sign_note(self.text, signers=[signer])


@dataclass(frozen=True, eq=False)
class Promise:
    """What :meth:`audit.AuditService.record` and ``append`` return.

    ``leaf_hash`` identifies the entry (ask for its inclusion proof by hash once
    integrated); ``integrate_by`` is the latest time the log promises to have integrated it.
    :attr:`note` is the promise signed by the log key. It is signed when first read, not
    when the entry is written: a signature costs as much as a small database insert, and
    most writers (an audit record inside a consent change) never look at it. Ed25519 is
    deterministic, so the note is the same whenever it is read.
    """

    log: str
    origin: str
    leaf_hash: bytes
    integrate_by: datetime
    _sign: Callable[[PromiseBody], str] = field(repr=False)
    _note: list[str] = field(default_factory=list, repr=False)

    @property
    def body(self) -> PromiseBody:
        return PromiseBody(
            origin=self.origin,
            leaf_hash=self.leaf_hash,
            integrate_by=int(self.integrate_by.timestamp()),
        )

    @property
    def note(self) -> str:
        """The signed promise (C2SP signed note), verifiable with :func:`open_promise`."""
        if not self._note:
            self._note.append(self._sign(self.body))
        return self._note[0]


def open_promise(
    note: str | bytes, *, log_key: VerifierKey, origin: str, leaf_hash: bytes | None = None
) -> PromiseBody:
    """Verify a promise signed by ``log_key`` for the log ``origin`` and return its body.

    ``leaf_hash``, when given, must be the hash promised (compared in constant time).
    Raises :class:`~audit.errors.PromiseError` or a :class:`~audit.errors.NoteError`.
    """
    verified = open_note(note, verifiers=[log_key])
    body = PromiseBody.parse(verified.text)
    if body.origin != origin:
        raise PromiseError("promise belongs to another log")
    if leaf_hash is not None and not hmac.compare_digest(body.leaf_hash, leaf_hash):
        raise PromiseError("promise is for another entry")
    return body


def integrate_by_datetime(body: PromiseBody) -> datetime:
    """The promise's integrate-by time as an aware UTC datetime."""
    return datetime.fromtimestamp(body.integrate_by, tz=UTC)
