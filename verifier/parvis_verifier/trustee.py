"""``parvis-trustee``: the standalone trustee tool — key ceremony, partial decryption, checks.

Design: ballot-secrecy.md §1 ("Trustees", "Trustee tool": "standalone, with the verifier's
dependencies only (no server code, no database): key ceremony rounds, partial decryption, and
checking everything"); ADR 0012 (C2SP COCKTAIL-DKG, ``COCKTAIL(Ed25519, SHA-512)``, the
session id, the round-1 envelope signature and the extension); the file formats and a
trustee's walk-through are in ``docs/trustee-tool.md``.

Files in, files out: the tool never opens a network connection; whoever coordinates the
ceremony (later, the election's board) carries the public files between trustees. Secrets
live only in files sealed by :mod:`parvis_verifier.trustee_file`. Imports: the standard library,
PyNaCl, rfc8785 and the pure ``ballot`` modules of the group, the DKG and the proofs —
``tests/ballot/test_trustee_cli.py`` runs the tool with every other distribution refused.

Subcommands: ``keygen``, ``round1``, ``round2``, ``round3``, ``decrypt``, ``check``. Every
error is one line ``error: …`` on standard error and exit status 1.
"""

from __future__ import annotations

import argparse
import getpass
import hashlib
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, NoReturn

import rfc8785

from parvis_verifier import cocktail_dkg as dkg
from parvis_verifier.decryption_proof import DecryptionProof, prove_decryption, verify_decryption
from parvis_verifier.elgamal import Ciphertext, decrypt_to_point, dlog
from parvis_verifier.group import IDENTITY, GroupError, Point, Scalar
from parvis_verifier.transcript import Context
from parvis_verifier.trustee_file import open_sealed, seal, write_atomic

__all__ = [
    "Ceremony",
    "CeremonyError",
    "Setup",
    "combine_partials",
    "lagrange_at_zero",
    "main",
    "parse_round1",
    "round1_entry",
    "verify_ceremony",
]

PROTOCOL: Final = "parvis-dkg-v1"
SETUP_FORMAT: Final = "parvis-dkg-setup-v1"
ROUND1_FORMAT: Final = "parvis-dkg-round1-v1"
SIGNATURE_FORMAT: Final = "parvis-dkg-signature-v1"
CEREMONY_FORMAT: Final = "parvis-dkg-ceremony-v1"
CONTEXT_FORMAT: Final = "parvis-decryption-context-v1"
SUMS_FORMAT: Final = "parvis-tally-sums-v1"
PARTIALS_FORMAT: Final = "parvis-partial-decryptions-v1"
KEY_KIND: Final = "parvis-trustee-static-key-v1"
SHARE_KIND: Final = "parvis-trustee-share-v1"
#: ADR 0012 decision 4: the envelope signature's domain separation.
ROUND1_ENVELOPE: Final = b"parvis-dkg-v1/round1"
#: New passphrases shorter than this are refused (the file may be stolen; Argon2id slows
#: guessing but cannot save a short passphrase).
MIN_PASSPHRASE: Final = 12


class CeremonyError(ValueError):
    """A public file is malformed or inconsistent; the message names the file and field."""


# --- JSON fields ---------------------------------------------------------------------------


def _field(document: dict[str, Any], name: str, where: str) -> Any:
    if name not in document:
        raise CeremonyError(f"{where}: the field {name!r} is missing")
    return document[name]


def _object(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise CeremonyError(f"{where}: a JSON object is expected")
    return value


def _list(value: object, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise CeremonyError(f"{where}: a JSON array is expected")
    return value


def _string(document: dict[str, Any], name: str, where: str) -> str:
    value = _field(document, name, where)
    if not isinstance(value, str) or not value:
        raise CeremonyError(f"{where}: {name!r} is a non-empty string")
    return value


def _integer(document: dict[str, Any], name: str, where: str, *, minimum: int = 1) -> int:
    value = _field(document, name, where)
    if type(value) is not int or value < minimum:
        raise CeremonyError(f"{where}: {name!r} is an integer ≥ {minimum}")
    return value


def _bytes(document: dict[str, Any], name: str, where: str, size: int | None = None) -> bytes:
    value = _string(document, name, where)
    if value != value.lower():
        raise CeremonyError(f"{where}: {name!r} is lowercase hex")
    try:
        data = bytes.fromhex(value)
    except ValueError as exc:
        raise CeremonyError(f"{where}: {name!r} is not hex") from exc
    if size is not None and len(data) != size:
        raise CeremonyError(f"{where}: {name!r} is {size} bytes")
    return data


def _point(document: dict[str, Any], name: str, where: str) -> Point:
    try:
        return Point.decode(_bytes(document, name, where, 32))
    except GroupError as exc:
        raise CeremonyError(f"{where}: {name!r}: {exc}") from exc


def _scalar(document: dict[str, Any], name: str, where: str) -> Scalar:
    try:
        return Scalar(_bytes(document, name, where, 32))
    except GroupError as exc:
        raise CeremonyError(f"{where}: {name!r}: {exc}") from exc


def _format(document: dict[str, Any], expected: str, where: str) -> None:
    if document.get("format") != expected:
        raise CeremonyError(f"{where}: not a {expected} document")


def _load_json(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise CeremonyError(f"{path}: not UTF-8 text") from exc
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CeremonyError(f"{path}: not JSON ({exc.msg}, line {exc.lineno})") from exc
    return _object(document, str(path))


def _dump(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode()


# --- setup, round 1 entries, the ceremony --------------------------------------------------


@dataclass(frozen=True, slots=True)
class Setup:
    """``CONFIG.json`` (``parvis-dkg-setup-v1``): the election officer's ``dkg-setup`` entry
    of ADR 0012 — election, attempt, threshold, the manifest hash (without the joint key) and
    the ordered participants with their static keys. The COCKTAIL ``session_id`` is the JCS
    encoding of ``{"protocol": "parvis-dkg-v1", "election": …, "attempt": …}`` and the
    ``context`` the spec's RECOMMENDED derivation over it (ADR 0012 decision 3)."""

    election: str
    attempt: int
    manifest_hash: bytes
    labels: tuple[str, ...]
    config: dkg.Configuration

    @classmethod
    def parse(cls, value: object, where: str) -> Setup:
        document = _object(value, where)
        _format(document, SETUP_FORMAT, where)
        election = _string(document, "election", where)
        attempt = _integer(document, "attempt", where)
        threshold = _integer(document, "threshold", where)
        manifest_hash = _bytes(document, "manifest_hash", where, 32)
        participants = _list(_field(document, "participants", where), f"{where}: participants")
        labels, keys = [], []
        for position, item in enumerate(participants, 1):
            entry = _object(item, f"{where}: participant {position}")
            labels.append(_string(entry, "label", f"{where}: participant {position}"))
            keys.append(_point(entry, "static_key", f"{where}: participant {position}"))
        session_id = rfc8785.dumps({"protocol": PROTOCOL, "election": election, "attempt": attempt})
        try:
            config = dkg.Configuration.for_session(
                session_id=session_id, threshold=threshold, static_keys=keys
            )
        except dkg.SetupError as exc:
            raise CeremonyError(f"{where}: {exc}") from exc
        if "context" in document and _bytes(document, "context", where) != config.context:
            raise CeremonyError(f"{where}: 'context' is not the one derived from the setup")
        return cls(election, attempt, manifest_hash, tuple(labels), config)

    def index_of(self, static_key: Point) -> int:
        matches = [i for i, key in enumerate(self.config.static_keys, 1) if key == static_key]
        if len(matches) != 1:
            raise CeremonyError("this trustee's static key is not among the setup's participants")
        return matches[0]


def _envelope_message(context: bytes, message: bytes) -> bytes:
    return ROUND1_ENVELOPE + context + message


def _round1_entry(setup: Setup, index: int, static_secret: Scalar) -> dict[str, Any]:
    message = dkg.round1(config=setup.config, index=index, static_secret=static_secret).encode()
    signature = dkg.schnorr_sign(static_secret, _envelope_message(setup.config.context, message))
    return {
        "format": ROUND1_FORMAT,
        "context": setup.config.context.hex(),
        "sender": index,
        "message": message.hex(),
        "signature": signature.hex(),
    }


def _parse_round1(setup: Setup, value: object, position: int, where: str) -> dkg.Round1Message:
    """One ``round1`` entry: format, context, sender at its position, the envelope signature
    under ``P_sender`` (ADR 0012 decision 4), then ``msg_{1|i}`` parsed exactly."""
    here = f"{where}: round1[{position - 1}]"
    entry = _object(value, here)
    _format(entry, ROUND1_FORMAT, here)
    if _bytes(entry, "context", here) != setup.config.context:
        raise CeremonyError(f"{here}: made for another ceremony (its context differs)")
    if _integer(entry, "sender", here) != position:
        raise CeremonyError(f"{here}: the entries must be in participant order 1..n")
    message = _bytes(entry, "message", here)
    try:
        dkg.schnorr_verify(
            setup.config.key_of(position),
            _envelope_message(setup.config.context, message),
            _bytes(entry, "signature", here, 64),
        )
        return dkg.Round1Message.decode(message, sender=position, config=setup.config)
    except dkg.SignatureError as exc:
        raise CeremonyError(
            f"participant {position}: the round-1 envelope signature does not verify"
        ) from exc


#: The server checks each round-1 message as it arrives (ballot/ceremony.py) and the
#: in-memory ceremony (ballot/ceremony_local.py) makes them, exactly as the tool does.
round1_entry = _round1_entry
parse_round1 = _parse_round1


def _extension(setup: Setup, messages: Sequence[dkg.Round1Message]) -> bytes:
    """ADR 0012 decision 4, "Extension": binds the certificate to the election, the manifest
    and every round-1 ciphertext."""
    framed = b"".join(dkg.encode_bundle(m.ciphertexts) for m in messages)
    statement = {
        "protocol": PROTOCOL,
        "election": setup.election,
        "manifest": setup.manifest_hash.hex(),
        "ciphertexts": hashlib.sha512(framed).hexdigest(),
    }
    return hashlib.sha512(rfc8785.dumps(statement)).digest()


def _evaluate_commitment(commitment: Sequence[Point], index: int) -> Point:
    """``Σ_k index^k · C_k``: Feldman VSS in the exponent."""
    result, power = IDENTITY, Scalar.of(1)
    factor = Scalar.of(index)
    for point in commitment:
        result = result + point * power
        power = power * factor
    return result


@dataclass(frozen=True, slots=True)
class Ceremony:
    """A checked ceremony: the setup, the round-1 messages, ``T``, and the public outputs
    recomputed from the commitments (``Y`` and every ``Y_m``)."""

    setup: Setup
    messages: tuple[dkg.Round1Message, ...]
    transcript: bytes
    group_key: Point
    verification_shares: tuple[Point, ...]
    certified: bool


def verify_ceremony(document: dict[str, Any], *, where: str, certified: bool) -> Ceremony:
    """Check a ``parvis-dkg-ceremony-v1`` document: every round-1 envelope and message,
    commitment lengths and proofs of possession (COCKTAIL *Round 2* steps 1–2, publicly
    checkable), ``T`` with the extension, and — with ``certified`` — every ``sig_j`` on ``T``
    (*Round 3* step 4). The encrypted shares cannot be checked by an outsider: each
    signature attests that its signer's shares verified."""
    _format(document, CEREMONY_FORMAT, where)
    setup = Setup.parse(_field(document, "setup", where), f"{where}: setup")
    entries = _list(_field(document, "round1", where), f"{where}: round1")
    if len(entries) != setup.config.n:
        raise CeremonyError(f"{where}: round 1 holds {len(entries)} of {setup.config.n} messages")
    messages = tuple(
        _parse_round1(setup, entry, position, where) for position, entry in enumerate(entries, 1)
    )
    data = dkg.transcript(
        config=setup.config, messages=messages, extension=_extension(setup, messages)
    )
    if certified:
        signatures = _list(_field(document, "signatures", where), f"{where}: signatures")
        if len(signatures) != setup.config.n:
            missing = setup.config.n - len(signatures)
            raise CeremonyError(
                f"{where}: the certificate lacks {missing} of {setup.config.n} signatures"
            )
        raw = []
        for position, value in enumerate(signatures, 1):
            here = f"{where}: signatures[{position - 1}]"
            entry = _object(value, here)
            _format(entry, SIGNATURE_FORMAT, here)
            if _bytes(entry, "context", here) != setup.config.context:
                raise CeremonyError(f"{here}: made for another ceremony (its context differs)")
            if _integer(entry, "signer", here) != position:
                raise CeremonyError(f"{here}: the signatures must be in participant order 1..n")
            raw.append(_bytes(entry, "signature", here, 64))
        dkg.verify_certificate(config=setup.config, transcript=data, signatures=raw)
    aggregated = list(messages[0].commitment)
    for message in messages[1:]:
        aggregated = [a + c for a, c in zip(aggregated, message.commitment, strict=True)]
    shares = tuple(_evaluate_commitment(aggregated, m) for m in range(1, setup.config.n + 1))
    return Ceremony(setup, messages, data, aggregated[0], shares, certified)


# --- threshold decryption ------------------------------------------------------------------


def lagrange_at_zero(index: int, indices: Sequence[int]) -> Scalar:
    """``λ_i = Π_{j ≠ i} j / (j − i)`` modulo the group order: the coefficient of share
    ``i`` when the secret (the polynomial at 0) is rebuilt from the shares at ``indices``."""
    numerator, denominator = Scalar.of(1), Scalar.of(1)
    for other in indices:
        if other != index:
            numerator = numerator * Scalar.of(other)
            denominator = denominator * Scalar.of(other - index)
    return numerator * denominator.inverse()


def combine_partials(partials: dict[int, Point]) -> Point:
    """``s·α = Σ λ_i · (s_i·α)`` over the trustees who decrypted (at least ``t``)."""
    indices = sorted(partials)
    result = IDENTITY
    for index in indices:
        result = result + partials[index] * lagrange_at_zero(index, indices)
    return result


def _parse_context(document: dict[str, Any], where: str) -> tuple[str, bytes]:
    _format(document, CONTEXT_FORMAT, where)
    return _string(document, "election", where), _bytes(document, "manifest_hash", where, 32)


def _parse_sums(document: dict[str, Any], where: str) -> list[tuple[str, Ciphertext]]:
    _format(document, SUMS_FORMAT, where)
    items = _list(_field(document, "ciphertexts", where), f"{where}: ciphertexts")
    if not items:
        raise CeremonyError(f"{where}: no ciphertexts")
    sums: list[tuple[str, Ciphertext]] = []
    for position, value in enumerate(items):
        here = f"{where}: ciphertexts[{position}]"
        entry = _object(value, here)
        label = _string(entry, "label", here)
        try:
            sums.append((label, Ciphertext.from_bytes(_bytes(entry, "ciphertext", here, 64))))
        except GroupError as exc:
            raise CeremonyError(f"{here}: {exc}") from exc
    if len({label for label, _ in sums}) != len(sums):
        raise CeremonyError(f"{where}: two ciphertexts have the same label")
    return sums


# --- secrets -------------------------------------------------------------------------------


class _Passphrases:
    """Where passphrases come from: ``--passphrase-file`` (first line) or a prompt."""

    def __init__(self, path: Path | None) -> None:
        self._path = path

    def _read(self) -> str | None:
        if self._path is None:
            return None
        lines = self._path.read_text(encoding="utf-8").splitlines()
        if not lines or not lines[0]:
            raise CeremonyError(f"{self._path}: the passphrase file's first line is empty")
        return lines[0]

    def existing(self, file: Path) -> str:
        return self._read() or getpass.getpass(f"Passphrase for {file}: ")

    def new(self, file: Path) -> str:
        passphrase = self._read()
        if passphrase is None:
            passphrase = getpass.getpass(f"New passphrase for {file}: ")
            if getpass.getpass("Repeat it: ") != passphrase:
                raise CeremonyError("the two passphrases differ")
        if len(passphrase) < MIN_PASSPHRASE:
            raise CeremonyError(f"a new passphrase has at least {MIN_PASSPHRASE} characters")
        return passphrase


@dataclass(slots=True)
class _Opened:
    secret: dict[str, Any]
    reseal: Callable[[dict[str, Any]], bytes]


def _open(path: Path, passphrases: _Passphrases, kind: str) -> _Opened:
    data = path.read_bytes()
    passphrase = passphrases.existing(path)
    try:
        secret, envelope, key = open_sealed(data, passphrase)
    except ValueError as exc:
        raise CeremonyError(f"{path}: {exc}") from exc
    if secret.get("kind") != kind:
        raise CeremonyError(f"{path}: not a {kind} file (it holds {secret.get('kind')!r})")
    return _Opened(secret, lambda new: seal(new, passphrase, reuse=(envelope, key)))


def _static(secret: dict[str, Any], where: str) -> tuple[Scalar, Point]:
    static_secret = _scalar(secret, "static_secret", where)
    static_key = _point(secret, "static_key", where)
    if Point.base_times(static_secret) != static_key:
        raise CeremonyError(f"{where}: the static secret does not match its key")
    return static_secret, static_key


# --- subcommands ---------------------------------------------------------------------------


def _keygen(args: argparse.Namespace, passphrases: _Passphrases) -> None:
    """A fresh static key for one election (ADR 0012 decision 3), sealed; the public key is
    printed and written beside it for the election officer."""
    static_secret = Scalar.random()
    while static_secret.value == 0:
        static_secret = Scalar.random()
    static_key = Point.base_times(static_secret)
    secret = {
        "kind": KEY_KIND,
        "election": args.election,
        "static_secret": static_secret.encoded.hex(),
        "static_key": static_key.encoded.hex(),
        "round1": None,
    }
    out: Path = args.out
    if out.exists():
        raise CeremonyError(f"{out} exists: refusing to overwrite a sealed file")
    write_atomic(out, seal(secret, passphrases.new(out)))
    print(f"static key: {static_key.encoded.hex()}")


def _round1(args: argparse.Namespace, passphrases: _Passphrases) -> None:
    """COCKTAIL *Round 1*, once per key: the message is kept in the sealed file, so running
    again re-writes the same message (a lost output is recovered) and never a second,
    different one (which would be equivocation)."""
    setup = Setup.parse(_load_json(args.config), str(args.config))
    opened = _open(args.key, passphrases, KEY_KIND)
    static_secret, static_key = _static(opened.secret, str(args.key))
    if opened.secret["election"] != setup.election:
        raise CeremonyError(
            f"{args.key}: this key was made for election {opened.secret['election']}, "
            f"the setup is for {setup.election}"
        )
    index = setup.index_of(static_key)
    previous = opened.secret.get("round1")
    if previous is not None:
        if previous.get("context") != setup.config.context.hex():
            raise CeremonyError(
                f"{args.key}: this key already took part in another attempt; "
                "make a new key with keygen (ADR 0012: fresh static keys per attempt)"
            )
        entry = previous["entry"]
    else:
        entry = _round1_entry(setup, index, static_secret)
        updated = dict(opened.secret, round1={"context": entry["context"], "entry": entry})
        write_atomic(args.key, opened.reseal(updated), replace=True)
    write_atomic(args.out, _dump(entry), mode=0o644, replace=True)
    print(f"round 1 written for participant {index} of {setup.config.n}")


def _round2(args: argparse.Namespace, passphrases: _Passphrases) -> None:
    """COCKTAIL *Round 2*: check every message, decrypt and VSS-check this trustee's shares,
    seal ``x_i`` with what decryption and recovery need."""
    ceremony = verify_ceremony(
        _load_json(args.transcript), where=str(args.transcript), certified=False
    )
    setup = ceremony.setup
    opened = _open(args.key, passphrases, KEY_KIND)
    static_secret, static_key = _static(opened.secret, str(args.key))
    index = setup.index_of(static_key)
    previous = opened.secret.get("round1")
    if previous is None or previous.get("context") != setup.config.context.hex():
        raise CeremonyError(f"{args.key}: this key has not run round 1 of this ceremony")
    if ceremony.messages[index - 1].encode().hex() != previous["entry"]["message"]:
        raise CeremonyError(
            f"{args.transcript}: participant {index}'s round-1 message is not the one this "
            "trustee produced"
        )
    output = dkg.round2(
        config=setup.config, index=index, static_secret=static_secret, messages=ceremony.messages
    )
    if output.group_public_key != ceremony.group_key:  # both from the same commitments
        raise dkg.DkgError("the group key differs from the commitments: an implementation fault")
    share = {
        "kind": SHARE_KIND,
        "election": setup.election,
        "attempt": setup.attempt,
        "context": setup.config.context.hex(),
        "index": index,
        "threshold": setup.config.threshold,
        "static_secret": static_secret.encoded.hex(),
        "static_key": static_key.encoded.hex(),
        "secret_share": output.secret_share.encoded.hex(),
        "group_key": output.group_public_key.encoded.hex(),
        "verification_shares": [p.encoded.hex() for p in output.verification_shares],
        "transcript_sha512": dkg.transcript_hash(ceremony.transcript).hex(),
    }
    out: Path = args.out
    if out.exists():
        raise CeremonyError(f"{out} exists: refusing to overwrite a sealed file")
    write_atomic(out, opened.reseal(share))
    print(f"group key: {output.group_public_key.encoded.hex()}")


def _round3(args: argparse.Namespace, passphrases: _Passphrases) -> None:
    """COCKTAIL *Round 3* step 2: sign ``T`` — the transcript this trustee checked in round 2,
    and only that one."""
    ceremony = verify_ceremony(
        _load_json(args.transcript), where=str(args.transcript), certified=False
    )
    opened = _open(args.share, passphrases, SHARE_KIND)
    static_secret, _ = _static(opened.secret, str(args.share))
    digest = dkg.transcript_hash(ceremony.transcript).hex()
    if opened.secret["transcript_sha512"] != digest:
        raise CeremonyError(
            f"{args.transcript}: not the transcript this trustee checked in round 2"
        )
    signature = dkg.sign_transcript(static_secret=static_secret, transcript=ceremony.transcript)
    entry = {
        "format": SIGNATURE_FORMAT,
        "context": opened.secret["context"],
        "signer": opened.secret["index"],
        "transcript_sha512": digest,
        "signature": signature.hex(),
    }
    write_atomic(args.out, _dump(entry), mode=0o644, replace=True)
    print(f"transcript signed by participant {opened.secret['index']}")


def _decrypt(args: argparse.Namespace, passphrases: _Passphrases) -> None:
    """Partial decryptions ``s_i·α`` of the tally's sums with Chaum–Pedersen proofs
    (ballot/decryption_proof.py), the proof's ``vk`` being the trustee's static key."""
    election, manifest_hash = _parse_context(_load_json(args.context), str(args.context))
    sums = _parse_sums(_load_json(args.ciphertexts), str(args.ciphertexts))
    opened = _open(args.share, passphrases, SHARE_KIND)
    secret = opened.secret
    where = str(args.share)
    if secret["election"] != election:
        raise CeremonyError(f"{where}: this share is for election {secret['election']}")
    _, static_key = _static(secret, where)
    share = _scalar(secret, "secret_share", where)
    index = secret["index"]
    public_share = Point.base_times(share)
    if public_share.encoded.hex() != secret["verification_shares"][index - 1]:
        raise CeremonyError(f"{where}: the share does not match its verification share")
    context = Context(election, manifest_hash, static_key.encoded)
    partials = []
    for label, ciphertext in sums:
        partial, proof = prove_decryption(context, share=share, ciphertext=ciphertext)
        partials.append(
            {
                "label": label,
                "ciphertext": ciphertext.to_bytes().hex(),
                "partial": partial.encoded.hex(),
                "proof": proof.to_bytes().hex(),
            }
        )
    document = {
        "format": PARTIALS_FORMAT,
        "election": election,
        "manifest_hash": manifest_hash.hex(),
        "trustee": index,
        "trustee_key": static_key.encoded.hex(),
        "public_share": public_share.encoded.hex(),
        "partials": partials,
    }
    write_atomic(args.out, _dump(document), mode=0o644, replace=True)
    print(f"{len(partials)} partial decryption(s) written by trustee {index}")


def _check_partials(
    ceremony: Ceremony,
    *,
    election: str,
    manifest_hash: bytes,
    sums: list[tuple[str, Ciphertext]],
    path: Path,
) -> tuple[int, list[Point]]:
    """One trustee's partial decryptions: the trustee and its keys as the ceremony says,
    the ciphertexts exactly the sums, every proof valid. Returns ``(index, partials)``."""
    where = str(path)
    document = _load_json(path)
    _format(document, PARTIALS_FORMAT, where)
    if _string(document, "election", where) != election:
        raise CeremonyError(f"{where}: made for another election")
    if _bytes(document, "manifest_hash", where, 32) != manifest_hash:
        raise CeremonyError(f"{where}: made for another manifest")
    index = _integer(document, "trustee", where)
    if index > ceremony.setup.config.n:
        raise CeremonyError(f"{where}: there is no trustee {index}")
    if _point(document, "trustee_key", where) != ceremony.setup.config.key_of(index):
        raise CeremonyError(f"{where}: trustee {index}'s key is not the ceremony's")
    if _point(document, "public_share", where) != ceremony.verification_shares[index - 1]:
        raise CeremonyError(f"{where}: trustee {index}'s public share is not the ceremony's")
    items = _list(_field(document, "partials", where), f"{where}: partials")
    if len(items) != len(sums):
        raise CeremonyError(f"{where}: {len(items)} partial(s) for {len(sums)} ciphertext(s)")
    context = Context(election, manifest_hash, ceremony.setup.config.key_of(index).encoded)
    points = []
    for position, (value, (label, ciphertext)) in enumerate(zip(items, sums, strict=True)):
        here = f"{where}: partials[{position}]"
        entry = _object(value, here)
        if _string(entry, "label", here) != label:
            raise CeremonyError(f"{here}: the label is not {label!r}")
        if _bytes(entry, "ciphertext", here, 64) != ciphertext.to_bytes():
            raise CeremonyError(f"{here}: the ciphertext is not the sum {label!r}")
        partial = _point(entry, "partial", here)
        try:
            proof = DecryptionProof.from_bytes(_bytes(entry, "proof", here, 96))
            verify_decryption(
                context,
                public_share=ceremony.verification_shares[index - 1],
                ciphertext=ciphertext,
                partial=partial,
                proof=proof,
            )
        except ValueError as exc:
            raise CeremonyError(
                f"trustee {index}'s partial decryption of {label!r} is refused: {exc}"
            ) from exc
        points.append(partial)
    return index, points


def _check(args: argparse.Namespace, _passphrases: _Passphrases) -> None:
    """Check a complete ceremony and, if given, partial decryptions; combine ``t`` or more."""
    ceremony = verify_ceremony(_load_json(args.ceremony), where=str(args.ceremony), certified=True)
    setup = ceremony.setup
    print(
        f"ok  ceremony: election {setup.election}, attempt {setup.attempt}, "
        f"{setup.config.threshold} of {setup.config.n}; round-1 envelopes, commitments, "
        "proofs of possession and every transcript signature verify"
    )
    print(f"ok  group key {ceremony.group_key.encoded.hex()}")
    if not args.partials:
        return
    if args.ciphertexts is None or args.context is None:
        raise CeremonyError("checking partial decryptions needs --ciphertexts and --context")
    election, manifest_hash = _parse_context(_load_json(args.context), str(args.context))
    if election != setup.election:
        raise CeremonyError(f"{args.context}: the context is for another election")
    sums = _parse_sums(_load_json(args.ciphertexts), str(args.ciphertexts))
    by_trustee: dict[int, list[Point]] = {}
    for path in args.partials:
        index, points = _check_partials(
            ceremony, election=election, manifest_hash=manifest_hash, sums=sums, path=path
        )
        if index in by_trustee:
            raise CeremonyError(f"{path}: trustee {index}'s partial decryptions appear twice")
        by_trustee[index] = points
        print(f"ok  trustee {index}: {len(points)} partial decryption(s) with valid proofs")
    if len(by_trustee) < setup.config.threshold:
        print(f"{len(by_trustee)} of the {setup.config.threshold} trustees needed have decrypted")
        return
    for position, (label, ciphertext) in enumerate(sums):
        factor = combine_partials({i: points[position] for i, points in by_trustee.items()})
        point = decrypt_to_point(ciphertext, factor)
        if args.bound is None:
            print(f"{label}: M·G = {point.encoded.hex()}")
        else:
            print(f"{label}: {dlog(point, args.bound)}")


# --- command line --------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse with the tool's error convention: one line, exit status 1."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(1)


def _parser() -> _Parser:
    parser = _Parser(
        prog="parvis-trustee",
        description="The trustee tool of Parvis's encrypted elections: the key ceremony "
        "(C2SP COCKTAIL-DKG), partial decryptions with proofs, and checks. Files in, files "
        "out; formats in docs/trustee-tool.md.",
    )
    parser.add_argument(
        "--passphrase-file", type=Path, help="read the passphrase from this file's first line"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    keygen = commands.add_parser("keygen", help="make and seal a static key for one election")
    keygen.add_argument("--election", required=True, help="the election's id")
    keygen.add_argument("--out", type=Path, required=True, help="sealed key file to create")
    round1 = commands.add_parser("round1", help="COCKTAIL round 1: this trustee's message")
    round1.add_argument("--config", type=Path, required=True, help="the setup (JSON)")
    round1.add_argument("--key", type=Path, required=True, help="sealed key file")
    round1.add_argument("--out", type=Path, required=True, help="round-1 message (JSON)")
    round2 = commands.add_parser("round2", help="COCKTAIL round 2: check all, seal the share")
    round2.add_argument("--transcript", type=Path, required=True, help="ceremony with round 1")
    round2.add_argument("--key", type=Path, required=True, help="sealed key file")
    round2.add_argument("--out", type=Path, required=True, help="sealed share file to create")
    round3 = commands.add_parser("round3", help="COCKTAIL round 3: sign the transcript")
    round3.add_argument("--transcript", type=Path, required=True, help="ceremony with round 1")
    round3.add_argument("--share", type=Path, required=True, help="sealed share file")
    round3.add_argument("--out", type=Path, required=True, help="signature (JSON)")
    decrypt = commands.add_parser("decrypt", help="partial decryptions with proofs")
    decrypt.add_argument("--share", type=Path, required=True, help="sealed share file")
    decrypt.add_argument("--ciphertexts", type=Path, required=True, help="the sums (JSON)")
    decrypt.add_argument("--context", type=Path, required=True, help="election context (JSON)")
    decrypt.add_argument("--out", type=Path, required=True, help="partial decryptions (JSON)")
    check = commands.add_parser("check", help="check a ceremony and partial decryptions")
    check.add_argument("--ceremony", type=Path, required=True, help="complete ceremony (JSON)")
    check.add_argument("--partials", type=Path, nargs="*", default=[], help="partials (JSON)")
    check.add_argument("--ciphertexts", type=Path, help="the sums the partials decrypt (JSON)")
    check.add_argument("--context", type=Path, help="election context (JSON)")
    check.add_argument("--bound", type=int, help="largest possible count: print the counts")
    return parser


_COMMANDS: Final[dict[str, Callable[[argparse.Namespace, _Passphrases], None]]] = {
    "keygen": _keygen,
    "round1": _round1,
    "round2": _round2,
    "round3": _round3,
    "decrypt": _decrypt,
    "check": _check,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; 0 on success, 1 with ``error: …`` on standard error otherwise."""
    args = _parser().parse_args(argv)
    try:
        _COMMANDS[args.command](args, _Passphrases(args.passphrase_file))
    except (OSError, ValueError) as exc:
        # Every domain error of the tool and the libraries is a ValueError; OSError covers
        # unreadable and unwritable files. Their messages name the file or the participant.
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, EOFError):
        print("error: interrupted", file=sys.stderr)
        return 1
    except Exception as exc:  # the tool's contract: one line, never a traceback
        print(f"error: unexpected {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
