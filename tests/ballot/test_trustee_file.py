"""Sealed trustee files (ballot/trustee_file.py, docs/trustee-tool.md "Sealed files"):
the secret comes back only with its passphrase, and every kind of damage gets its own error.
Each opening runs Argon2id at its real (MODERATE) cost; the fixture seals once."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from ballot import trustee_file
from ballot.trustee_file import (
    SealedFormatError,
    TamperedFileError,
    TruncatedFileError,
    WrongPassphraseError,
    open_sealed,
    seal,
    write_atomic,
)

SECRET = {"kind": "test", "static_secret": "00" * 32, "note": "é"}
PASSPHRASE = "a long enough passphrase"


@pytest.fixture(scope="module")
def sealed() -> bytes:
    return seal(SECRET, PASSPHRASE)


def envelope(sealed: bytes) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(sealed)
    return result


def dumps(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


def test_opens_with_its_passphrase_and_reseals_without_a_second_derivation(
    sealed: bytes,
) -> None:
    secret, parsed, key = open_sealed(sealed, PASSPHRASE)
    assert secret == SECRET
    assert (parsed.opslimit, parsed.memlimit) == (3, 256 * 1024 * 1024)
    again = seal({"kind": "test", "more": 1}, PASSPHRASE, reuse=(parsed, key))
    assert envelope(again)["kdf"] == envelope(sealed)["kdf"]
    assert envelope(again)["cipher"]["nonce"] != envelope(sealed)["cipher"]["nonce"]
    assert open_sealed(again, PASSPHRASE)[0] == {"kind": "test", "more": 1}
    assert b"static_secret" not in sealed


def test_a_passphrase_opens_whatever_its_unicode_composition() -> None:
    composed, decomposed = "mot de passe été 2026", "mot de passe e\u0301te\u0301 2026"
    assert composed != decomposed
    assert open_sealed(seal(SECRET, composed), decomposed)[0] == SECRET


def test_a_wrong_passphrase_or_altered_salt_is_a_wrong_passphrase(sealed: bytes) -> None:
    with pytest.raises(WrongPassphraseError, match="wrong passphrase"):
        open_sealed(sealed, PASSPHRASE + "!")
    document = envelope(sealed)
    document["kdf"]["salt"] = "00" * 16
    with pytest.raises(WrongPassphraseError):
        open_sealed(dumps(document), PASSPHRASE)


@pytest.mark.parametrize("field", ["nonce", "ciphertext"])
def test_an_altered_nonce_or_ciphertext_is_tampering(sealed: bytes, field: str) -> None:
    document = envelope(sealed)
    place = document["cipher"] if field == "nonce" else document
    value = bytearray.fromhex(place[field])
    value[0] ^= 0x80
    place[field] = value.hex()
    with pytest.raises(TamperedFileError, match="altered"):
        open_sealed(dumps(document), PASSPHRASE)


@pytest.mark.parametrize("keep", [0, 1, 40, 200, -2])
def test_a_truncated_file_is_named_truncated(sealed: bytes, keep: int) -> None:
    with pytest.raises(TruncatedFileError):
        open_sealed(sealed[:keep], PASSPHRASE)


def test_a_ciphertext_shorter_than_its_tag_is_truncated(sealed: bytes) -> None:
    document = envelope(sealed)
    document["ciphertext"] = document["ciphertext"][:30]
    with pytest.raises(TruncatedFileError, match="authentication tag"):
        open_sealed(dumps(document), PASSPHRASE)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(format="parvis-trustee-sealed-v2"), "parvis-trustee-sealed-v1"),
        (lambda d: d["kdf"].update(opslimit=2), "opslimit"),
        (lambda d: d["kdf"].update(memlimit=2**31), "memlimit"),
        (lambda d: d["kdf"].update(algorithm="scrypt"), "argon2id13"),
        (lambda d: d["cipher"].update(nonce="zz"), "nonce is not hex"),
        (lambda d: d["kdf"].update(salt="00"), "salt is not 16 bytes"),
    ],
)
def test_format_errors_are_named_before_any_derivation(
    sealed: bytes, change: Any, message: str
) -> None:
    document = envelope(sealed)
    change(document)
    with pytest.raises(SealedFormatError, match=message):
        trustee_file.read_sealed(dumps(document))


def test_write_atomic_creates_0600_and_never_overwrites_unless_asked(tmp_path: Path) -> None:
    path = tmp_path / "key.sealed"
    write_atomic(path, b"one")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):
        write_atomic(path, b"two")
    write_atomic(path, b"two", replace=True)
    assert path.read_bytes() == b"two"
    assert [p.name for p in tmp_path.iterdir()] == ["key.sealed"]
