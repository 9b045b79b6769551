"""Election keys at rest: XChaCha20-Poly1305 (libsodium, through PyNaCl) under a key derived
from the master secret (architecture.md, "Cryptography": data at rest).

Each election has its own RFC 9474 RSA key (voting-protocol.md, "Keys and the bulletin
board"), kept as PKCS #8 DER sealed with ``derive_key(PARVIS_SEALING_SECRET,
"ballot/election-keys")`` (HKDF-SHA-256), a fresh random 24-byte nonce, and associated data
binding the ciphertext to its election, so that a ciphertext moved to another election does
not decrypt. (The board's Ed25519 checkpoint key is the audit engine's: one key per log,
``audit.keys``.)

Nothing here logs, prints or puts key material in exception messages.
"""

from __future__ import annotations

import secrets
from typing import Final

import nacl.bindings
import nacl.exceptions
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from parvis.kernel.errors import DomainError
from parvis.kernel.keys import derive_key

__all__ = ["KEY_PURPOSE", "KeyDecryptionError", "open_rsa_key", "seal_rsa_key"]

#: HKDF ``info`` label of the key that seals election keys.
KEY_PURPOSE: Final = "ballot/election-keys"
_NONCE: Final = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES


class KeyDecryptionError(DomainError):
    """A sealed election key does not open (wrong master secret, or the row was altered)."""

    title = "Election key does not decrypt"


def _key(master_secret: str) -> bytes:
    return derive_key(master_secret, KEY_PURPOSE)


def _aad(election_id: str, slot: str) -> bytes:
    return f"parvis-election-key-v1\n{election_id}\n{slot}".encode()


def _seal(master_secret: str, *, election_id: str, slot: str, plaintext: bytes) -> bytes:
    nonce = secrets.token_bytes(_NONCE)
    sealed = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(
        plaintext, _aad(election_id, slot), nonce, _key(master_secret)
    )
    return nonce + sealed


def _open(master_secret: str, *, election_id: str, slot: str, sealed: bytes) -> bytes:
    try:
        return nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(
            sealed[_NONCE:], _aad(election_id, slot), sealed[:_NONCE], _key(master_secret)
        )
    except nacl.exceptions.CryptoError:
        raise KeyDecryptionError(
            f"the {slot} key of election {election_id} does not decrypt under this master secret"
        ) from None


def seal_rsa_key(master_secret: str, *, election_id: str, key: rsa.RSAPrivateKey) -> bytes:
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return _seal(master_secret, election_id=election_id, slot="rsa", plaintext=der)


def open_rsa_key(master_secret: str, *, election_id: str, sealed: bytes) -> rsa.RSAPrivateKey:
    der = _open(master_secret, election_id=election_id, slot="rsa", sealed=sealed)
    key = serialization.load_der_private_key(der, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyDecryptionError(f"the rsa key of election {election_id} is not an RSA key")
    return key
