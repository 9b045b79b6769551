"""Per-subject data keys and crypto-shredding (architecture.md, "Data protection by design").

Each subject gets a random 256-bit data key the first time something is encrypted for them.
Data is sealed with XChaCha20-Poly1305 (IETF AEAD, libsodium through PyNaCl) under that key,
with a random 192-bit nonce and associated data binding the ciphertext to the subject and to
a caller-chosen context (so a ciphertext moved to another subject or field does not
decrypt). The data key is stored wrapped — sealed the same way — under a key-encryption key
derived from the sealing secret (ADR 0016) with HKDF (:func:`parvis.kernel.keys.derive_key`,
purpose ``consent/data-key-wrap/v1``).

Erasure (GDPR Art. 17) destroys the wrapped key: every ciphertext of the subject, in any
domain, becomes unreadable at once, including copies in backups taken after the key was
created but restored after it was shredded — provided the backups of ``consent_data_keys``
are themselves rotated out (see ADR 0005). The row is kept with ``wrapped = NULL`` so that
nothing can be encrypted for an erased subject by mistake.

Format of a sealed value: ``0x01 || nonce (24 bytes) || ciphertext+tag``.
"""

from __future__ import annotations

import nacl.bindings as sodium
import nacl.exceptions
import nacl.utils
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from consent.errors import DataKeyError, SubjectErasedError
from consent.tables import DataKeyRow
from parvis.kernel.clock import Clock
from parvis.kernel.keys import SealedValueError, derive_key

__all__ = ["WRAP_PURPOSE", "DataKeys", "reseal_data_keys"]

#: HKDF ``info`` label of the key-encryption key.
WRAP_PURPOSE = "consent/data-key-wrap/v1"

_VERSION = b"\x01"
_NONCE = sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
_KEY = sodium.crypto_aead_xchacha20poly1305_ietf_KEYBYTES
_MAX_CONTEXT = 200


def _seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = nacl.utils.random(_NONCE)
    return (
        _VERSION
        + nonce
        + sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, aad, nonce, key)
    )


def _open(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    if len(sealed) < 1 + _NONCE + 16 or sealed[:1] != _VERSION:
        raise DataKeyError("not a value sealed by Parvis (unknown format)")
    nonce, body = sealed[1 : 1 + _NONCE], sealed[1 + _NONCE :]
    try:
        return bytes(sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(body, aad, nonce, key))
    except nacl.exceptions.CryptoError:
        raise DataKeyError(
            "the value does not decrypt under this subject's key and context (modified, or "
            "sealed for another subject or field)"
        ) from None


class DataKeys:
    """Encrypt, decrypt and shred inside the caller's transaction.

    Other domains (identity's attribute vault) store their encrypted attributes under these
    keys, so that one erasure reaches everything Parvis holds on a person.
    """

    def __init__(self, *, master_secret: str, clock: Clock) -> None:
        self._kek = derive_key(master_secret, WRAP_PURPOSE, length=_KEY)
        self.clock = clock

    @staticmethod
    def _key_aad(subject: str) -> bytes:
        return b"parvis/consent/data-key\x1f" + subject.encode("utf-8")

    @staticmethod
    def _aad(subject: str, context: str) -> bytes:
        if len(context) > _MAX_CONTEXT:
            raise ValueError(f"a sealing context is at most {_MAX_CONTEXT} characters")
        return (
            b"parvis/consent/data\x1f" + subject.encode("utf-8") + b"\x1f" + context.encode("utf-8")
        )

    def _key(self, session: Session, subject: str, *, create: bool) -> bytes | None:
        row = session.get(DataKeyRow, subject)
        if row is None:
            if not create:
                return None
            key = nacl.utils.random(_KEY)
            session.add(
                DataKeyRow(
                    subject=subject,
                    wrapped=_seal(self._kek, key, self._key_aad(subject)),
                    created_at=self.clock.now(),
                )
            )
            session.flush()
            return key
        if row.wrapped is None:
            raise SubjectErasedError(
                "this subject's data key was destroyed by an erasure; nothing can be stored "
                "or read for them"
            )
        return _open(self._kek, row.wrapped, self._key_aad(subject))

    def encrypt_for(
        self, session: Session, subject: str, plaintext: bytes, context: str = ""
    ) -> bytes:
        """Seal ``plaintext`` for ``subject`` (creating their key on first use)."""
        key = self._key(session, subject, create=True)
        assert key is not None
        return _seal(key, plaintext, self._aad(subject, context))

    def decrypt_for(
        self, session: Session, subject: str, ciphertext: bytes, context: str = ""
    ) -> bytes:
        """Open a value sealed by :meth:`encrypt_for`; raises :class:`SubjectErasedError`
        after erasure and :class:`DataKeyError` for a modified or foreign value."""
        key = self._key(session, subject, create=False)
        if key is None:
            raise DataKeyError("nothing was ever sealed for this subject")
        return _open(key, ciphertext, self._aad(subject, context))

    def has_key(self, session: Session, subject: str) -> bool:
        row = session.get(DataKeyRow, subject)
        return row is not None and row.wrapped is not None

    def is_shredded(self, session: Session, subject: str) -> bool:
        row = session.get(DataKeyRow, subject)
        return row is not None and row.wrapped is None

    def shred(self, session: Session, subject: str) -> bool:
        """Crypto-shredding: destroy the subject's key (idempotent). True if a key existed.

        On SQLite ``secure_delete`` makes the freed bytes be overwritten with zeros instead of
        lingering in free pages; PostgreSQL leaves the old tuple until VACUUM (ADR 0005).
        """
        if session.get_bind().dialect.name == "sqlite":
            session.execute(text("PRAGMA secure_delete=ON"))
        row = session.get(DataKeyRow, subject)
        now = self.clock.now()
        if row is None:
            session.add(DataKeyRow(subject=subject, wrapped=None, created_at=now, shredded_at=now))
            session.flush()
            return False
        existed = row.wrapped is not None
        session.execute(
            update(DataKeyRow)
            .where(DataKeyRow.subject == subject)
            .values(wrapped=None, shredded_at=row.shredded_at or now)
        )
        session.expire(row)
        return existed


def reseal_data_keys(session: Session, *, old_secret: str, new_secret: str) -> int:
    """Re-wrap every live data key under the key-encryption key of ``new_secret``, inside the
    caller's transaction (ADR 0016); returns how many. The data keys themselves do not change,
    so every value sealed under them (identity's vault, any domain's) opens as before.
    Shredded keys stay shredded. Raises :class:`SealedValueError` if a wrapped key does not
    open under ``old_secret``."""
    old_kek = derive_key(old_secret, WRAP_PURPOSE, length=_KEY)
    new_kek = derive_key(new_secret, WRAP_PURPOSE, length=_KEY)
    count = 0
    rows = session.scalars(
        select(DataKeyRow).where(DataKeyRow.wrapped.is_not(None)).order_by(DataKeyRow.subject)
    )
    for row in rows:
        assert row.wrapped is not None
        aad = DataKeys._key_aad(row.subject)
        try:
            key = _open(old_kek, row.wrapped, aad)
        except DataKeyError:
            raise SealedValueError(
                "a consent data key does not open under the old sealing secret"
            ) from None
        row.wrapped = _seal(new_kek, key, aad)
        count += 1
    session.flush()
    return count
