"""Keys derived from the master secret (architecture.md, "Data protection by design").

One master secret (``PARVIS_SECRET_KEY``) feeds HKDF-SHA-256 (RFC 5869); each purpose gets its
own key through a distinct ``info`` label, so a key leaked for one purpose (say, session ids)
says nothing about another (say, the pseudonym of a FranceConnect ``sub``).
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["SealedValueError", "derive_key", "keyed_hash"]

_SALT = b"parvis/hkdf/v1"


class SealedValueError(ValueError):
    """A value sealed at rest does not open under the secret given (ADR 0016: a rotation with
    the wrong old secret stops here, before anything is written)."""


def derive_key(master_secret: str, purpose: str, *, length: int = 32) -> bytes:
    """HKDF-SHA-256 (RFC 5869 §2) of the master secret with ``info = purpose``."""
    if not purpose:
        raise ValueError("a key purpose label is required")
    return HKDF(
        algorithm=hashes.SHA256(), length=length, salt=_SALT, info=purpose.encode("utf-8")
    ).derive(master_secret.encode("utf-8"))


def keyed_hash(key: bytes, value: bytes) -> str:
    """HMAC-SHA-256 of ``value`` as lowercase hex: the form pseudonyms are stored in."""
    return hmac.new(key, value, hashlib.sha256).hexdigest()
