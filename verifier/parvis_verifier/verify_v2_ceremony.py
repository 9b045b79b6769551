"""The key ceremony of an encrypted board, as the verifier checks it (board-format.md
§10.5.1): the attempt ``dkg-complete`` names, rebuilt as a ``parvis-dkg-ceremony-v1``
document and checked by :func:`parvis_verifier.trustee.verify_ceremony` (round-1 envelopes, framing,
commitment lengths, proofs of possession, every signature on ``T``), ``dkg-complete`` and
the manifest's ``encryption`` equal to its outcome, the setup bound to the manifest's
terms; earlier attempts numbered 1, 2, …, for the same election, with fresh static keys and
entries of their own ceremony.

Pure core (the verifier distribution's dependencies only).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from parvis_verifier import trustee
from parvis_verifier.group import Point
from parvis_verifier.verify_v2_entries import Failures, ManifestV2, Trustee, Walk

__all__ = ["check_ceremony"]


def check_ceremony(
    entries: Sequence[Any], walk: Walk, manifest: ManifestV2, failures: Failures
) -> None:
    """§10.5.1. Earlier attempts are checked for their place only (they are void)."""
    seen_keys: set[Point] = set()
    for number, attempt in enumerate(walk.attempts, 1):
        setup = attempt.parsed
        if setup is None:
            continue  # already a failure of the walk
        where = f"dkg-setup of attempt {number}"
        if setup.attempt != number:
            failures.add(
                f"{where}: attempt {setup.attempt}, expected {number}", index=attempt.setup
            )
        if setup.election != manifest.election:
            failures.add(f"{where}: made for another election", index=attempt.setup)
        if seen_keys & set(setup.config.static_keys):
            failures.add(
                f"{where}: a static key of an earlier attempt is reused", index=attempt.setup
            )
        seen_keys |= set(setup.config.static_keys)
        context = setup.config.context.hex()
        for index in [*attempt.round1.values(), *attempt.signatures.values()]:
            document = entries[index].get("round1") or entries[index].get("signature")
            if document.get("context") != context:
                failures.add(f"made for another ceremony than attempt {number}", index=index)
    if walk.complete is None or not walk.attempts or walk.attempts[-1].parsed is None:
        failures.add("ceremony: no complete attempt to check")
        return
    attempt = walk.attempts[-1]
    setup = attempt.parsed
    assert setup is not None
    complete = entries[walk.complete]
    document = {
        "format": trustee.CEREMONY_FORMAT,
        "setup": entries[attempt.setup]["setup"],
        "round1": [entries[i]["round1"] for _, i in sorted(attempt.round1.items())],
        "signatures": [entries[i]["signature"] for _, i in sorted(attempt.signatures.items())],
    }
    try:
        ceremony = trustee.verify_ceremony(
            document, where=f"ceremony of attempt {setup.attempt}", certified=True
        )
    except (ValueError, TypeError, KeyError) as exc:
        failures.add(f"{exc}")
        return
    digest = hashlib.sha512(ceremony.transcript).digest()
    for signer, index in sorted(attempt.signatures.items()):
        if entries[index]["signature"].get("transcript_sha512") != digest.hex():
            failures.add(f"participant {signer}'s signature names another transcript", index=index)
    _check_complete(complete, ceremony, digest, walk.complete, failures)
    _check_encryption(manifest, ceremony, digest, walk.manifest, failures)


def _check_complete(
    complete: Mapping[str, Any],
    ceremony: trustee.Ceremony,
    digest: bytes,
    index: int,
    failures: Failures,
) -> None:
    expected = {
        "attempt": ceremony.setup.attempt,
        "group_key": ceremony.group_key.encoded.hex(),
        "verification_shares": [p.encoded.hex() for p in ceremony.verification_shares],
        "transcript_sha512": digest.hex(),
    }
    for name, value in expected.items():
        if type(complete.get(name)) is not type(value) or complete.get(name) != value:
            failures.add(f"dkg-complete: {name} is not the ceremony's", index=index)


def _check_encryption(
    manifest: ManifestV2,
    ceremony: trustee.Ceremony,
    digest: bytes,
    index: int | None,
    failures: Failures,
) -> None:
    # The setup's election was compared with the manifest's with every attempt.
    setup, encryption = ceremony.setup, manifest.encryption
    if setup.manifest_hash != manifest.terms_hash:
        failures.add(
            "the setup's manifest_hash is not SHA-256 of the manifest without encryption",
            index=index,
        )
    if encryption.joint_key != ceremony.group_key:
        failures.add("manifest: encryption.joint_key is not the ceremony's group key", index=index)
    if encryption.threshold != setup.config.threshold:
        failures.add("manifest: encryption.threshold is not the setup's", index=index)
    if encryption.attempt != setup.attempt:
        failures.add("manifest: encryption.attempt is not dkg-complete's", index=index)
    if encryption.transcript_sha512 != digest:
        failures.add("manifest: encryption.transcript_sha512 is not the ceremony's", index=index)
    expected = [
        Trustee(label, key, share)
        for label, key, share in zip(
            setup.labels, setup.config.static_keys, ceremony.verification_shares, strict=True
        )
    ]
    if len(expected) != len(encryption.trustees):
        failures.add(
            "manifest: encryption.trustees are not the ceremony's participants", index=index
        )
        return
    for number, (mine, theirs) in enumerate(zip(expected, encryption.trustees, strict=True), 1):
        if mine != theirs:
            failures.add(
                f"manifest: encryption.trustees[{number - 1}] is not participant {number} "
                "(label, static key, public share)",
                index=index,
            )
