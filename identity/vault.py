"""A small store of encrypted identity attributes under a per-citizen data key.

architecture.md, "Data protection by design": identity attributes that must be kept are
encrypted with a per-citizen data key (XChaCha20-Poly1305 through PyNaCl); erasure destroys
that key (crypto-shredding). Each data key is itself wrapped (XChaCha20-Poly1305) by a
key-encryption key derived from the master secret with HKDF
(:func:`parvis.kernel.keys.derive_key`, purpose ``identity/vault-kek/v1``).

**Integration point for the consent issue.** ``consent`` will own per-citizen data keys for
every domain. :meth:`AttributeVault.data_key` is the only function that obtains a citizen's
key; when consent's key registry lands, it delegates there, and :meth:`AttributeVault.export`
is what identity registers as its Art. 15 exporter. Nothing else in identity touches keys.
"""

from __future__ import annotations

import nacl.bindings as sodium
import nacl.utils
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from identity.tables import VaultAttributeRow, VaultKeyRow
from parvis.kernel.clock import Clock
from parvis.kernel.keys import derive_key

__all__ = ["AttributeVault", "open_sealed", "seal"]

_NONCE = sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES  # 24 bytes
_KEY = sodium.crypto_aead_xchacha20poly1305_ietf_KEYBYTES  # 32 bytes


def seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """XChaCha20-Poly1305 (IETF) with a random 192-bit nonce prefixed to the ciphertext."""
    nonce = nacl.utils.random(_NONCE)
    return nonce + sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, aad, nonce, key)


def open_sealed(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    """Inverse of :func:`seal`; raises ``nacl.exceptions.CryptoError`` if tampered with."""
    nonce, body = sealed[:_NONCE], sealed[_NONCE:]
    return bytes(sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(body, aad, nonce, key))


class AttributeVault:
    """Encrypt, read, export and shred a citizen's attributes inside the caller's transaction."""

    def __init__(self, *, master_secret: str, clock: Clock) -> None:
        self._kek = derive_key(master_secret, "identity/vault-kek/v1", length=_KEY)
        self.clock = clock

    def data_key(self, session: Session, citizen_id: str, *, create: bool) -> bytes | None:
        """The citizen's data key (created when ``create``); None once shredded/absent.

        The consent issue's key registry replaces this body; callers do not change.
        """

        row = session.get(VaultKeyRow, citizen_id)
        aad = b"identity/vault-key\x1f" + citizen_id.encode()
        if row is None:
            if not create:
                return None
            key = nacl.utils.random(_KEY)
            session.add(
                VaultKeyRow(
                    citizen_id=citizen_id,
                    wrapped_key=seal(self._kek, key, aad),
                    created_at=self.clock.now(),
                )
            )
            session.flush()
            return key
        return open_sealed(self._kek, row.wrapped_key, aad)

    @staticmethod
    def _aad(citizen_id: str, name: str) -> bytes:
        return b"identity/vault-attr\x1f" + citizen_id.encode() + b"\x1f" + name.encode()

    def put(self, session: Session, citizen_id: str, name: str, value: bytes) -> None:

        key = self.data_key(session, citizen_id, create=True)
        assert key is not None
        sealed = seal(key, value, self._aad(citizen_id, name))
        row = session.get(VaultAttributeRow, (citizen_id, name))
        if row is None:
            session.add(
                VaultAttributeRow(
                    citizen_id=citizen_id,
                    name=name,
                    ciphertext=sealed,
                    updated_at=self.clock.now(),
                )
            )
        else:
            row.ciphertext = sealed
            row.updated_at = self.clock.now()

    def get(self, session: Session, citizen_id: str, name: str) -> bytes | None:

        row = session.get(VaultAttributeRow, (citizen_id, name))
        if row is None:
            return None
        key = self.data_key(session, citizen_id, create=False)
        if key is None:
            return None
        return open_sealed(key, row.ciphertext, self._aad(citizen_id, name))

    def delete(self, session: Session, citizen_id: str, name: str) -> None:

        session.execute(
            delete(VaultAttributeRow).where(
                VaultAttributeRow.citizen_id == citizen_id, VaultAttributeRow.name == name
            )
        )

    def export(self, session: Session, citizen_id: str) -> dict[str, bytes]:
        """Every attribute in clear: identity's contribution to an Art. 15 access request."""

        names = session.scalars(
            select(VaultAttributeRow.name).where(VaultAttributeRow.citizen_id == citizen_id)
        ).all()
        result = {}
        for name in names:
            value = self.get(session, citizen_id, name)
            if value is not None:
                result[name] = value
        return result

    def shred(self, session: Session, citizen_id: str) -> None:
        """Crypto-shredding: destroy the data key; the ciphertexts become unreadable."""

        session.execute(delete(VaultAttributeRow).where(VaultAttributeRow.citizen_id == citizen_id))
        session.execute(delete(VaultKeyRow).where(VaultKeyRow.citizen_id == citizen_id))
