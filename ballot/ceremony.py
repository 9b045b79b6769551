"""The key ceremony as the server carries it over the board: building the setup, checking
each trustee's message as it arrives, the ``dkg-complete`` entry and the manifest's
``encryption`` member.

Pure core (docs/adr/0018-encrypted-elections.md, "The ceremony in the lifecycle"; ADR 0012
decision 4; board-format.md §10.1–§10.2). The checks are those of ``parvis-trustee``
(:mod:`ballot.trustee`) applied one message at a time: a round-1 message is checked against
the setup (format, context, sender, envelope signature under the sender's static key, exact
framing) before it goes on the board; a transcript signature against the transcript ``T``
rebuilt from the ``n`` round-1 messages on the board (extension included). Every failure
raises :class:`~ballot.trustee.CeremonyError` (a ``ValueError``) naming the participant; the
service maps it to ``invalid-ceremony-message``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from ballot import cocktail_dkg as dkg
from ballot.board import dkg_complete_entry
from ballot.group import Point
from ballot.manifest import Encryption, EncryptionTrustee
from ballot.trustee import (
    CEREMONY_FORMAT,
    SETUP_FORMAT,
    SIGNATURE_FORMAT,
    Ceremony,
    CeremonyError,
    Setup,
    parse_round1,
    verify_ceremony,
)

__all__ = [
    "check_round1",
    "check_signature",
    "complete_entry",
    "encryption_of",
    "round1_document",
    "setup_document",
    "unsigned_ceremony",
]

#: The ``where`` of messages checked one at a time.
_WHERE: Final = "ceremony"


def setup_document(
    *,
    election: str,
    attempt: int,
    threshold: int,
    manifest_hash: bytes,
    participants: Sequence[tuple[str, Point]],
) -> dict[str, Any]:
    """The ``parvis-dkg-setup-v1`` document of ``dkg-setup`` (docs/trustee-tool.md,
    ``setup.json``), checked by parsing it back (distinct keys, ``1 ≤ t ≤ n``)."""
    document = {
        "format": SETUP_FORMAT,
        "election": election,
        "attempt": attempt,
        "threshold": threshold,
        "manifest_hash": manifest_hash.hex(),
        "participants": [
            {"label": label, "static_key": key.encoded.hex()} for label, key in participants
        ],
    }
    Setup.parse(document, "setup")
    return document


def round1_document(
    setup: Mapping[str, Any], round1: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """``round1s.json``: the ``parvis-dkg-ceremony-v1`` document without signatures that a
    trustee's ``round2`` and ``round3`` read (docs/trustee-tool.md)."""
    return {"format": CEREMONY_FORMAT, "setup": dict(setup), "round1": [dict(r) for r in round1]}


def check_round1(setup: Setup, document: object, *, position: int) -> None:
    """One ``dkg-round1`` message from participant ``position``: format, context (this
    attempt's), ``sender`` = ``position``, the envelope signature under ``P_position`` (ADR
    0012 decision 4) and ``msg_{1|i}`` parsed exactly (``t`` commitment points, ``n``
    ciphertexts). The proof of possession is checked with all messages
    (:func:`unsigned_ceremony`), as in COCKTAIL *Round 2*; it is also checked here so that a
    bad one is refused before it reaches the board."""
    if not isinstance(document, Mapping):
        raise CeremonyError(f"participant {position}: the round-1 message is a JSON object")
    sender = document.get("sender")
    if sender != position:
        raise CeremonyError(
            f"participant {position}: the round-1 message says it is from participant "
            f"{sender!r}: a trustee sends only their own"
        )
    message = parse_round1(setup, dict(document), position, _WHERE)
    if len(message.commitment) != setup.config.threshold:
        raise CeremonyError(
            f"participant {position}: the commitment has {len(message.commitment)} points, "
            f"not t = {setup.config.threshold}"
        )
    if len(message.ciphertexts) != setup.config.n:
        raise CeremonyError(f"participant {position}: the message does not carry n ciphertexts")
    try:
        dkg.schnorr_verify(
            message.commitment[0],
            message.pop_message(setup.config.context),
            message.proof_of_possession,
        )
    except dkg.SignatureError as exc:
        raise CeremonyError(f"participant {position}: the proof of possession is invalid") from exc


def unsigned_ceremony(setup: Mapping[str, Any], round1: Sequence[Mapping[str, Any]]) -> Ceremony:
    """All ``n`` round-1 messages checked together; ``T`` rebuilt (ADR 0012 decision 4)."""
    return verify_ceremony(round1_document(setup, round1), where=_WHERE, certified=False)


def check_signature(ceremony: Ceremony, document: object, *, position: int) -> None:
    """One ``dkg-signature`` from participant ``position``: format, context, ``signer`` =
    ``position``, ``transcript_sha512`` = SHA-512 of ``T``, and ``sig_i`` on ``T`` under
    ``P_position`` (COCKTAIL *Round 3* step 4)."""
    where = f"participant {position}"
    if not isinstance(document, Mapping):
        raise CeremonyError(f"{where}: the signature is a JSON object")
    if document.get("format") != SIGNATURE_FORMAT:
        raise CeremonyError(f"{where}: not a {SIGNATURE_FORMAT} document")
    if document.get("signer") != position:
        raise CeremonyError(
            f"{where}: the signature says it is from participant {document.get('signer')!r}: "
            "a trustee sends only their own"
        )
    config = ceremony.setup.config
    if document.get("context") != config.context.hex():
        raise CeremonyError(f"{where}: made for another ceremony (its context differs)")
    digest = dkg.transcript_hash(ceremony.transcript).hex()
    if document.get("transcript_sha512") != digest:
        raise CeremonyError(
            f"{where}: the signature is for another transcript than the board's round 1"
        )
    if set(document) != {"format", "context", "signer", "transcript_sha512", "signature"}:
        raise CeremonyError(f"{where}: unexpected or missing members in the signature")
    signature = document.get("signature")
    raw = _hex(signature)
    if raw is None or len(raw) != 64:
        raise CeremonyError(f"{where}: 'signature' is 64 bytes of lowercase hex")
    try:
        dkg.schnorr_verify(config.key_of(position), ceremony.transcript, raw)
    except dkg.SignatureError as exc:
        raise CeremonyError(f"{where}: the transcript signature does not verify") from exc


def _hex(value: object) -> bytes | None:
    if not isinstance(value, str) or value != value.lower():
        return None
    try:
        return bytes.fromhex(value)
    except ValueError:
        return None


def complete_entry(ceremony: Ceremony) -> dict[str, Any]:
    """The ``dkg-complete`` entry of a certified ceremony (board-format.md §10.1)."""
    if not ceremony.certified:
        raise CeremonyError("dkg-complete needs the n transcript signatures")
    return dkg_complete_entry(
        attempt=ceremony.setup.attempt,
        group_key=ceremony.group_key.encoded,
        verification_shares=[p.encoded for p in ceremony.verification_shares],
        transcript_sha512=dkg.transcript_hash(ceremony.transcript),
    )


def encryption_of(ceremony: Ceremony) -> Encryption:
    """The v2 manifest's ``encryption`` member (board-format.md §10.2): ``joint_key`` = ``Y``,
    ``trustees[i-1]`` = participant ``i`` with ``public_share`` = ``Y_i``."""
    setup = ceremony.setup
    return Encryption(
        joint_key=ceremony.group_key,
        threshold=setup.config.threshold,
        attempt=setup.attempt,
        transcript_sha512=dkg.transcript_hash(ceremony.transcript),
        trustees=tuple(
            EncryptionTrustee(label=label, static_key=key, public_share=share)
            for label, key, share in zip(
                setup.labels, setup.config.static_keys, ceremony.verification_shares, strict=True
            )
        ),
    )
