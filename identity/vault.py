"""A small store of encrypted identity attributes under the citizen's data key — consent's.

architecture.md, "Data protection by design": identity attributes that must be kept are
encrypted with a per-citizen data key; erasure destroys that key (crypto-shredding). The keys
are consent's per-subject data keys (:func:`consent.data_keys`; ADR 0005: "Identity stores
its encrypted attributes through ``consent.data_keys(ctx)``, so one erasure reaches
everything"): a granted Art. 17 request destroys the key in consent, and every attribute
identity sealed for that citizen — in this table, in a backup of it, anywhere — becomes
unreadable at once. The subject is the citizen's pseudonym; the sealing context
``identity/<name>`` binds each ciphertext to its attribute, so a value moved to another
attribute or citizen does not decrypt.

:meth:`AttributeVault.export` is identity's part of an Art. 15 access request.

:func:`seal` and :func:`open_sealed` remain for secrets that belong to no data subject (the
staff TOTP secrets, under a key derived from the sealing secret, ADR 0016).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

import nacl.bindings as sodium
import nacl.utils
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

import consent
from identity.tables import VaultAttributeRow
from parvis.kernel.context import AppContext

if TYPE_CHECKING:
    from consent.datakeys import DataKeys

__all__ = ["AttributeVault", "open_sealed", "seal"]

_NONCE = sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES  # 24 bytes


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

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    @property
    def keys(self) -> DataKeys:
        return consent.data_keys(self.ctx)

    @staticmethod
    def context(name: str) -> str:
        """The sealing context of attribute ``name`` (consent binds it into the AEAD)."""
        return f"identity/{name}"

    def has_key(self, session: Session, citizen_id: str) -> bool:
        """Whether the citizen has a live data key (False before the first attribute and
        after erasure)."""
        return self.keys.has_key(session, citizen_id)

    def put(self, session: Session, citizen_id: str, name: str, value: bytes) -> None:
        """Seal ``value`` for the citizen (creating their data key on first use). Raises
        consent's ``SubjectErasedError`` for a citizen whose key was destroyed."""
        sealed = self.keys.encrypt_for(session, citizen_id, value, self.context(name))
        row = session.get(VaultAttributeRow, (citizen_id, name))
        if row is None:
            session.add(
                VaultAttributeRow(
                    citizen_id=citizen_id,
                    name=name,
                    ciphertext=sealed,
                    updated_at=self.ctx.clock.now(),
                )
            )
        else:
            row.ciphertext = sealed
            row.updated_at = self.ctx.clock.now()

    def get(self, session: Session, citizen_id: str, name: str) -> bytes | None:
        """The attribute in clear; None if absent or once the key is destroyed. A modified
        or misplaced ciphertext raises consent's ``DataKeyError``."""
        row = session.get(VaultAttributeRow, (citizen_id, name))
        if row is None or not self.keys.has_key(session, citizen_id):
            return None
        return self.keys.decrypt_for(session, citizen_id, row.ciphertext, self.context(name))

    def written_at(self, session: Session, citizen_id: str, name: str) -> datetime | None:
        """When the attribute was last sealed (None if absent); SQLite's naive value is UTC."""
        row = session.get(VaultAttributeRow, (citizen_id, name))
        if row is None:
            return None
        at = row.updated_at
        return at if at.tzinfo is not None else at.replace(tzinfo=self.ctx.clock.now().tzinfo)

    def delete(self, session: Session, citizen_id: str, name: str) -> None:
        session.execute(
            delete(VaultAttributeRow).where(
                VaultAttributeRow.citizen_id == citizen_id, VaultAttributeRow.name == name
            )
        )

    def delete_older(self, session: Session, names: Iterable[str], before: datetime) -> int:
        """Delete, for every citizen, the attributes ``names`` last sealed at or before
        ``before`` (storage limitation, GDPR Art. 5(1)(e)); returns how many."""
        result = session.execute(
            delete(VaultAttributeRow)
            .where(VaultAttributeRow.name.in_(list(names)), VaultAttributeRow.updated_at <= before)
            .execution_options(synchronize_session="fetch")
        )
        return int(getattr(result, "rowcount", 0) or 0)

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

    def shred(self, session: Session, citizen_id: str, *, destroy_key: bool = True) -> None:
        """Crypto-shredding: delete the ciphertexts and destroy the citizen's data key in
        consent (idempotent), so that any copy of them becomes unreadable.

        ``destroy_key=False`` only deletes the ciphertexts: consent's erasure passes it,
        because it destroys the key itself right after the erasers have run (and reports
        that it did)."""
        session.execute(delete(VaultAttributeRow).where(VaultAttributeRow.citizen_id == citizen_id))
        if destroy_key:
            self.keys.shred(session, citizen_id)
