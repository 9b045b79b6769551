"""A trustee's secrets sealed in a file under a passphrase: Argon2id + XSalsa20-Poly1305.

Pure core for the trustee tool (ballot-secrecy.md §1, "Trustees": "Each trustee keeps its
share in a file sealed under a passphrase (argon2id + secretbox) on its own machine"; ADR
0012 decision 3; the format is documented in ``docs/trustee-tool.md``). Only PyNaCl and
rfc8785 are used, so the trustee tool keeps the verifier's dependencies.

Format ``parvis-trustee-sealed-v1``, a JSON object (UTF-8, one trailing newline)::

    {"format": "parvis-trustee-sealed-v1",
     "kdf": {"algorithm": "argon2id13", "opslimit": 3, "memlimit": 268435456,
             "salt": "<16 bytes, hex>", "check": "<32 bytes, hex>"},
     "cipher": {"algorithm": "xsalsa20poly1305", "nonce": "<24 bytes, hex>"},
     "ciphertext": "<hex>"}

* **Key derivation**: Argon2id v1.3 (RFC 9106) through libsodium's ``crypto_pwhash``
  (``nacl.pwhash.argon2id.kdf``) gives 64 bytes from the passphrase and the salt: the first
  32 are the secretbox key, the last 32 are stored as ``check``. ``check`` lets opening tell
  a wrong passphrase from a tampered ciphertext (both would otherwise be one Poly1305
  failure); it gives an attacker nothing the ciphertext does not already give (an offline
  guess is checked either way at the full Argon2id cost), and the two halves of one
  BLAKE2b-512 output say nothing about each other. Compared with ``hmac.compare_digest``.
* **Parameters**: libsodium's MODERATE profile, ``opslimit = 3`` passes over ``memlimit =
  256 MiB`` (:data:`OPSLIMIT`, :data:`MEMLIMIT`). A trustee opens its file a handful of
  times per election on its own computer, so a second or more per opening costs nothing,
  while 256 MiB per guess makes a stolen file expensive to attack on GPUs; SENSITIVE (1 GiB)
  would fail on the small laptops trustees bring. Opening accepts only parameters between
  MODERATE and SENSITIVE: a file whose header asks for less was not written by this tool,
  one that asks for more would let a tampered header make the tool allocate without bound.
* **Encryption**: ``nacl.secret.SecretBox`` (XSalsa20-Poly1305) with a random 24-byte nonce,
  over the RFC 8785 (JCS) canonical JSON of the secret object. The header is not
  authenticated by the box: a changed salt or parameter changes the key, which shows as a
  wrong passphrase (the ``check`` fails); a changed nonce or ciphertext fails Poly1305.
* **Writing**: a temporary file created ``0600`` beside the target, flushed and fsynced, then
  renamed over it (atomic on POSIX) and the directory fsynced.

Errors: :class:`WrongPassphraseError`, :class:`TruncatedFileError`,
:class:`TamperedFileError`, :class:`SealedFormatError` — all :class:`SealedFileError`
(a ``ValueError``), each with a message precise enough to act on.
"""

from __future__ import annotations

import hmac
import json
import os
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import nacl.exceptions
import nacl.secret
import nacl.utils
import rfc8785
from nacl.pwhash import argon2id

__all__ = [
    "FORMAT",
    "MEMLIMIT",
    "OPSLIMIT",
    "SealedFile",
    "SealedFileError",
    "SealedFormatError",
    "TamperedFileError",
    "TruncatedFileError",
    "WrongPassphraseError",
    "derive_key",
    "open_sealed",
    "read_sealed",
    "seal",
    "write_atomic",
]

#: The envelope's format identifier; any other value is refused.
FORMAT: Final = "parvis-trustee-sealed-v1"
#: libsodium's ``crypto_pwhash_argon2id_OPSLIMIT_MODERATE`` (3 passes).
OPSLIMIT: Final[int] = argon2id.OPSLIMIT_MODERATE
#: libsodium's ``crypto_pwhash_argon2id_MEMLIMIT_MODERATE`` (256 MiB).
MEMLIMIT: Final[int] = argon2id.MEMLIMIT_MODERATE
_MAX_OPSLIMIT: Final[int] = argon2id.OPSLIMIT_SENSITIVE
_MAX_MEMLIMIT: Final[int] = argon2id.MEMLIMIT_SENSITIVE
_SALT_SIZE: Final[int] = argon2id.SALTBYTES
_KEY_SIZE: Final[int] = nacl.secret.SecretBox.KEY_SIZE
_NONCE_SIZE: Final[int] = nacl.secret.SecretBox.NONCE_SIZE
_MAC_SIZE: Final[int] = nacl.secret.SecretBox.MACBYTES
#: A sealed file is small (a few kilobytes); a bigger one is refused before parsing.
_MAX_FILE_SIZE: Final = 1 << 20


class SealedFileError(ValueError):
    """A sealed file cannot be opened; subclasses say why."""


class WrongPassphraseError(SealedFileError):
    """The passphrase does not open the file (or its key-derivation header was altered)."""


class TruncatedFileError(SealedFileError):
    """The file ends early: an interrupted copy or a cut download."""


class TamperedFileError(SealedFileError):
    """The passphrase is right but the nonce or ciphertext was altered (Poly1305 fails)."""


class SealedFormatError(SealedFileError):
    """The file is not a sealed file of a version this tool reads, or a field is invalid."""


@dataclass(frozen=True, slots=True)
class SealedFile:
    """A parsed envelope (nothing decrypted yet)."""

    opslimit: int
    memlimit: int
    salt: bytes
    check: bytes
    nonce: bytes
    ciphertext: bytes


def derive_key(
    passphrase: str, *, salt: bytes, opslimit: int, memlimit: int
) -> tuple[bytes, bytes]:
    """``(secretbox key, check)`` from Argon2id over the passphrase, in Unicode NFC and
    UTF-8 (as RFC 8265's OpaqueString profile prepares passwords): the same passphrase typed
    on another system, whose keyboard composes accents differently, opens the file."""
    if not passphrase:
        raise SealedFileError("the passphrase is empty")
    prepared = unicodedata.normalize("NFC", passphrase).encode()
    output = argon2id.kdf(_KEY_SIZE * 2, prepared, salt, opslimit=opslimit, memlimit=memlimit)
    return output[:_KEY_SIZE], output[_KEY_SIZE:]


def seal(
    secret: dict[str, Any],
    passphrase: str,
    *,
    reuse: tuple[SealedFile, bytes] | None = None,
) -> bytes:
    """The sealed file's bytes for ``secret`` (a JSON object).

    ``reuse`` = ``(envelope, key)`` of a file just opened with the same passphrase re-seals
    under the same salt and key with a fresh random nonce (192 bits: no reuse to fear), so
    updating a file costs no second Argon2id run.
    """
    if reuse is None:
        salt = nacl.utils.random(_SALT_SIZE)
        key, check = derive_key(passphrase, salt=salt, opslimit=OPSLIMIT, memlimit=MEMLIMIT)
        opslimit, memlimit = OPSLIMIT, MEMLIMIT
    else:
        envelope, key = reuse
        salt, check = envelope.salt, envelope.check
        opslimit, memlimit = envelope.opslimit, envelope.memlimit
    nonce = nacl.utils.random(_NONCE_SIZE)
    ciphertext = nacl.secret.SecretBox(key).encrypt(rfc8785.dumps(secret), nonce).ciphertext
    document = {
        "format": FORMAT,
        "kdf": {
            "algorithm": "argon2id13",
            "opslimit": opslimit,
            "memlimit": memlimit,
            "salt": salt.hex(),
            "check": check.hex(),
        },
        "cipher": {"algorithm": "xsalsa20poly1305", "nonce": nonce.hex()},
        "ciphertext": ciphertext.hex(),
    }
    return (json.dumps(document, indent=2) + "\n").encode()


def _hex_field(value: object, name: str, size: int | None = None) -> bytes:
    if not isinstance(value, str):
        raise SealedFormatError(f"the sealed file's {name} is not a hex string")
    try:
        data = bytes.fromhex(value)
    except ValueError as exc:
        raise SealedFormatError(f"the sealed file's {name} is not hex") from exc
    if size is not None and len(data) != size:
        # A hex string cut short by truncation cannot reach here: the JSON would not parse.
        raise SealedFormatError(f"the sealed file's {name} is not {size} bytes")
    return data


def _object(value: object, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SealedFormatError(f"the sealed file's {name} is not a JSON object")
    return value


def read_sealed(data: bytes) -> SealedFile:
    """Parse the envelope strictly (no decryption)."""
    if len(data) > _MAX_FILE_SIZE:
        raise SealedFormatError("the file is too large to be a sealed trustee file")
    try:
        text = data.decode()
    except UnicodeDecodeError as exc:
        raise SealedFormatError("the file is not UTF-8 text: not a sealed trustee file") from exc
    if not text.strip():
        raise TruncatedFileError("the file is empty")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        # This module writes a JSON object, so the file ends with its closing brace; cut
        # anywhere before it, the brace is gone. A file that still ends with one is damaged
        # some other way.
        if not text.rstrip().endswith("}"):
            raise TruncatedFileError("the file ends early (truncated)") from exc
        raise SealedFormatError(f"the file is not JSON ({exc.msg})") from exc
    top = _object(document, "content")
    if top.get("format") != FORMAT:
        raise SealedFormatError(f"not a sealed trustee file of format {FORMAT}")
    kdf = _object(top.get("kdf"), "kdf")
    cipher = _object(top.get("cipher"), "cipher")
    if kdf.get("algorithm") != "argon2id13":
        raise SealedFormatError("the key derivation is not argon2id13")
    if cipher.get("algorithm") != "xsalsa20poly1305":
        raise SealedFormatError("the cipher is not xsalsa20poly1305")
    opslimit, memlimit = kdf.get("opslimit"), kdf.get("memlimit")
    if type(opslimit) is not int or not OPSLIMIT <= opslimit <= _MAX_OPSLIMIT:
        raise SealedFormatError(
            f"the Argon2id opslimit must be between {OPSLIMIT} and {_MAX_OPSLIMIT}"
        )
    if type(memlimit) is not int or not MEMLIMIT <= memlimit <= _MAX_MEMLIMIT:
        raise SealedFormatError(
            f"the Argon2id memlimit must be between {MEMLIMIT} and {_MAX_MEMLIMIT} bytes"
        )
    ciphertext = _hex_field(top.get("ciphertext"), "ciphertext")
    if len(ciphertext) <= _MAC_SIZE:
        raise TruncatedFileError("the ciphertext is shorter than its authentication tag")
    return SealedFile(
        opslimit=opslimit,
        memlimit=memlimit,
        salt=_hex_field(kdf.get("salt"), "salt", _SALT_SIZE),
        check=_hex_field(kdf.get("check"), "check value", _KEY_SIZE),
        nonce=_hex_field(cipher.get("nonce"), "nonce", _NONCE_SIZE),
        ciphertext=ciphertext,
    )


def open_sealed(data: bytes, passphrase: str) -> tuple[dict[str, Any], SealedFile, bytes]:
    """Open a sealed file: ``(secret object, envelope, key)`` (the last two for
    :func:`seal`'s ``reuse``). Raises a :class:`SealedFileError` subclass."""
    envelope = read_sealed(data)
    key, check = derive_key(
        passphrase, salt=envelope.salt, opslimit=envelope.opslimit, memlimit=envelope.memlimit
    )
    if not hmac.compare_digest(check, envelope.check):
        raise WrongPassphraseError(
            "wrong passphrase (or the file's key-derivation header was altered)"
        )
    try:
        plaintext = nacl.secret.SecretBox(key).decrypt(envelope.ciphertext, envelope.nonce)
    except nacl.exceptions.CryptoError as exc:
        raise TamperedFileError(
            "the passphrase is right but the sealed content was altered (authentication fails)"
        ) from exc
    secret = json.loads(plaintext)
    if not isinstance(secret, dict):  # only reachable if this tool sealed something else
        raise SealedFormatError("the sealed content is not a JSON object")
    return secret, envelope, key


def write_atomic(path: Path, data: bytes, *, mode: int = 0o600, replace: bool = False) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file created with ``mode`` in the
    same directory, fsynced, renamed over ``path``, then the directory fsynced. Without
    ``replace`` an existing ``path`` is refused (a sealed key must never be overwritten by
    mistake); the final check and the rename are not one step, which only matters if two
    ceremonies race on one file."""
    directory = path.parent if str(path.parent) else Path(".")
    if not replace and path.exists():
        raise FileExistsError(f"{path} exists: refusing to overwrite it")
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    try:
        os.fchmod(descriptor, mode)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(directory_fd)
    finally:
        os.close(directory_fd)
