"""A whole key ceremony run in memory, for tests, the demo and tally tests.

Pure core (docs/adr/0018-encrypted-elections.md, "Demo trustees"). What ``n`` trustees do
with ``parvis-trustee`` (docs/trustee-tool.md, "The ceremony, step by step"), without the
sealed files and their Argon2id cost: :func:`new_static_keys` is ``keygen``;
:func:`run_ceremony` takes the setup the server wrote (``dkg-setup``) and each trustee's
static secret, runs COCKTAIL *Round 1* (with the tool's envelope signature,
:func:`ballot.trustee.round1_entry`), *Round 2* (every share decrypted and VSS-checked,
:func:`ballot.cocktail_dkg.round2`) and *Round 3* (each signature of ``T``), and returns the
complete ``parvis-dkg-ceremony-v1`` document — checked with
:func:`ballot.trustee.verify_ceremony` (``certified=True``) — with every trustee's secret
share ``x_i`` and public share ``Y_i``.

Never used by the server for a real election: the trustees' secrets would then be in one
place, which is exactly what the ceremony exists to prevent. The demo uses it for its
three demo trustees only (ballot/demo.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ballot import cocktail_dkg as dkg
from ballot.ceremony import round1_document, setup_document
from ballot.group import Point, Scalar
from ballot.trustee import (
    SHARE_KIND,
    SIGNATURE_FORMAT,
    Ceremony,
    Setup,
    round1_entry,
    verify_ceremony,
)

__all__ = [
    "LocalCeremony",
    "StaticKey",
    "TrusteeShare",
    "new_static_keys",
    "run_ceremony",
    "run_local_ceremony",
]


@dataclass(frozen=True, slots=True)
class StaticKey:
    """A trustee's per-election static key pair ``(d_i, P_i)`` (ADR 0012 decision 3)."""

    secret: Scalar
    public: Point


@dataclass(frozen=True, slots=True)
class TrusteeShare:
    """Participant ``index``'s outcome: ``x_i`` (secret) and ``Y_i`` = ``x_i·B`` (public)."""

    index: int
    label: str
    static: StaticKey
    secret_share: Scalar
    public_share: Point


@dataclass(frozen=True, slots=True)
class LocalCeremony:
    """A complete ceremony: the document a coordinator would import, its check, the shares."""

    document: dict[str, Any]
    ceremony: Ceremony
    shares: tuple[TrusteeShare, ...]

    @property
    def group_key(self) -> Point:
        return self.ceremony.group_key

    @property
    def transcript_sha512(self) -> bytes:
        return dkg.transcript_hash(self.ceremony.transcript)

    def share_secret(self, index: int) -> dict[str, Any]:
        """Participant ``index``'s ``parvis-trustee-share-v1`` secret, as ``parvis-trustee
        round2`` seals it (docs/trustee-tool.md, "Sealed files"): seal it with
        :func:`ballot.trustee_file.seal` and ``parvis-trustee decrypt`` opens it."""
        share = self.shares[index - 1]
        setup = self.ceremony.setup
        return {
            "kind": SHARE_KIND,
            "election": setup.election,
            "attempt": setup.attempt,
            "context": setup.config.context.hex(),
            "index": index,
            "threshold": setup.config.threshold,
            "static_secret": share.static.secret.encoded.hex(),
            "static_key": share.static.public.encoded.hex(),
            "secret_share": share.secret_share.encoded.hex(),
            "group_key": self.group_key.encoded.hex(),
            "verification_shares": [p.encoded.hex() for p in self.ceremony.verification_shares],
            "transcript_sha512": self.transcript_sha512.hex(),
        }


def new_static_keys(n: int, *, rng: Callable[[], Scalar] = Scalar.random) -> list[StaticKey]:
    """``n`` fresh static keys (``parvis-trustee keygen`` without the sealed file)."""
    keys: list[StaticKey] = []
    while len(keys) < n:
        secret = rng()
        if secret.value != 0:
            keys.append(StaticKey(secret, Point.base_times(secret)))
    return keys


def run_ceremony(setup: Mapping[str, Any], statics: Sequence[StaticKey]) -> LocalCeremony:
    """Rounds 1–3 for every participant of ``setup`` (a ``parvis-dkg-setup-v1`` document),
    ``statics[i-1]`` being participant ``i``'s static key."""
    parsed = Setup.parse(dict(setup), "setup")
    config = parsed.config
    if [s.public for s in statics] != list(config.static_keys):
        raise ValueError("the static keys are not the setup's participants, in order")
    round1 = [round1_entry(parsed, i, s.secret) for i, s in enumerate(statics, 1)]
    unsigned = verify_ceremony(
        round1_document(setup, round1), where="local ceremony", certified=False
    )
    outputs = [
        dkg.round2(config=config, index=i, static_secret=s.secret, messages=unsigned.messages)
        for i, s in enumerate(statics, 1)
    ]
    digest = dkg.transcript_hash(unsigned.transcript).hex()
    signatures = [
        {
            "format": SIGNATURE_FORMAT,
            "context": config.context.hex(),
            "signer": i,
            "transcript_sha512": digest,
            "signature": dkg.sign_transcript(
                static_secret=s.secret, transcript=unsigned.transcript
            ).hex(),
        }
        for i, s in enumerate(statics, 1)
    ]
    document = {**round1_document(setup, round1), "signatures": signatures}
    ceremony = verify_ceremony(document, where="local ceremony", certified=True)
    shares = tuple(
        TrusteeShare(
            index=i,
            label=parsed.labels[i - 1],
            static=s,
            secret_share=output.secret_share,
            public_share=output.verification_share,
        )
        for i, (s, output) in enumerate(zip(statics, outputs, strict=True), 1)
    )
    return LocalCeremony(document=document, ceremony=ceremony, shares=shares)


def run_local_ceremony(
    *,
    election: str,
    threshold: int,
    labels: Sequence[str],
    manifest_hash: bytes,
    attempt: int = 1,
) -> LocalCeremony:
    """A setup and its whole ceremony at once, for pure tests that need a joint key and
    its shares without an election (the manifest hash is the caller's)."""
    statics = new_static_keys(len(labels))
    setup = setup_document(
        election=election,
        attempt=attempt,
        threshold=threshold,
        manifest_hash=manifest_hash,
        participants=[(label, s.public) for label, s in zip(labels, statics, strict=True)],
    )
    return run_ceremony(setup, statics)
