"""Bulletin-board entries, tracking codes and the board export (``docs/board-format.md``).

Pure core. Every entry of an election's board is a JSON object whose RFC 8785 canonical
bytes are the Merkle leaf (RFC 6962 §2.1: leaf hash = SHA-256(0x00 ‖ bytes)). Kinds:

``manifest``  entry 0, ``{"kind": "manifest", "manifest": MANIFEST}``
``issuance``  ``{"kind": "issuance", "day": "YYYY-MM-DD", "tokens_issued": N}`` — the running
              count of tokens issued, published periodically (never per voter)
``ballot``    ``{"kind": "ballot", "cast": CAST-REQUEST}`` (token, ballot, ballot_sig)
``register``  ``{"kind": "register", "size": N, "root": B64U}`` — the issuance register's
              size and root at a batch boundary (ballot-secrecy.md §3)
``close``     ``{"kind": "close", "closed_at": RFC3339, "tokens_issued": N}``
``paper``     ``{"kind": "paper", "voters": N, "counts": {question: {option: N}}}``
``results``   ``{"kind": "results", "tokens_issued": N, "ballots": N, "publication":
              "individual"|"aggregate", "results": TALLY, "paper": PAPER-COUNTS|null}``;
              for an encrypted election ``"publication": "encrypted"`` and ``"trustees":
              [INDEX, …]`` (§10.1)
``tally-sums`` ``{"kind": "tally-sums", "ballots": N, "sums": SUMS, "context": CONTEXT}``
              (encrypted elections, §10.4)
``partial-decryption`` ``{"kind": "partial-decryption", "partials": PARTIALS}`` (§10.4)

Version 2, encrypted elections (board-format.md §10.1), before the manifest:

``dkg-setup``      ``{"kind": "dkg-setup", "setup": SETUP}`` (``parvis-dkg-setup-v1``)
``dkg-round1``     ``{"kind": "dkg-round1", "round1": ROUND1}`` (``parvis-dkg-round1-v1``)
``dkg-signature``  ``{"kind": "dkg-signature", "signature": SIGNATURE}``
``dkg-complete``   ``{"kind": "dkg-complete", "attempt": K, "group_key": HEX,
                   "verification_shares": [HEX, …], "transcript_sha512": HEX}``

The trustee documents are carried verbatim, in the lowercase hex ``parvis-trustee`` writes
(docs/trustee-tool.md, "File formats").

A board export is ``{"format": "parvis-board-export-v1", "origin": ORIGIN, "entries":
[ENTRY | {"withheld": LEAF-HASH}], "checkpoints": [SIGNED-NOTE, …]}``; an entry is withheld
(only its leaf hash shown) while the election is open, and for good when fewer ballots than
the minimum anonymity set were cast.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, Final

from parvis_verifier.errors import InvalidInputError
from parvis_verifier.jcs import canonical
from parvis_verifier.manifest import Manifest
from parvis_verifier.merkle import leaf_hash
from parvis_verifier.token import CastRequest, b64u_decode, b64u_encode

__all__ = [
    "EXPORT_FORMAT",
    "InvalidEntryError",
    "ballot_entry",
    "close_entry",
    "dkg_complete_entry",
    "dkg_round1_entry",
    "dkg_setup_entry",
    "dkg_signature_entry",
    "entry_bytes",
    "entry_leaf_hash",
    "issuance_entry",
    "manifest_entry",
    "nullifier_hash",
    "paper_entry",
    "partial_decryption_entry",
    "results_entry",
    "tally_sums_entry",
    "tracking_code",
]

EXPORT_FORMAT: Final = "parvis-board-export-v1"
DKG_KINDS: Final = frozenset({"dkg-setup", "dkg-round1", "dkg-signature", "dkg-complete"})
#: Encrypted elections' tally (board-format.md §10.4).
TALLY_KINDS: Final = frozenset({"tally-sums", "partial-decryption"})
KINDS: Final = (
    frozenset({"manifest", "issuance", "register", "ballot", "close", "paper", "results"})
    | DKG_KINDS
    | TALLY_KINDS
)


class InvalidEntryError(InvalidInputError):
    """A board entry is not one of the documented kinds or shapes."""

    title = "Invalid board entry"


def entry_bytes(entry: Mapping[str, Any]) -> bytes:
    """The leaf bytes of an entry: its RFC 8785 canonical JSON."""
    if entry.get("kind") not in KINDS:
        raise InvalidEntryError(f"unknown entry kind {str(entry.get('kind'))[:32]!r}")
    return canonical(dict(entry))


def entry_leaf_hash(entry: Mapping[str, Any]) -> bytes:
    """RFC 6962 leaf hash of an entry."""
    return leaf_hash(entry_bytes(entry))


def tracking_code(leaf: bytes) -> str:
    """A short code for a receipt: the first 80 bits of the leaf hash in base32 (RFC 4648
    §6, no padding), in four groups of four (``ABCD-EFGH-IJKL-MNOP``). 80 bits make an
    accidental collision among 10⁷ ballots about one in 10¹⁰."""
    if len(leaf) != 32:
        raise InvalidEntryError("a leaf hash is 32 bytes")
    text = base64.b32encode(leaf[:10]).decode("ascii")
    return "-".join(text[i : i + 4] for i in range(0, 16, 4))


def normalise_tracking_code(code: str) -> str:
    """Upper-case, hyphens in place, Crockford-style look-alikes mapped (0→O, 1→I, 8→B)."""
    cleaned = "".join(c for c in code.upper() if c.isalnum())
    cleaned = cleaned.translate(str.maketrans("018", "OIB"))
    if len(cleaned) != 16:
        raise InvalidEntryError("a tracking code has 16 letters and digits")
    return "-".join(cleaned[i : i + 4] for i in range(0, 16, 4))


def nullifier_hash(nullifier: bytes) -> str:
    """What the open board shows for a ballot besides its leaf hash: SHA-256 of the
    nullifier, base64url. A voter recognises their own; nobody learns the token message."""
    return b64u_encode(hashlib.sha256(nullifier).digest())


def manifest_entry(manifest: Manifest) -> dict[str, Any]:
    return {"kind": "manifest", "manifest": manifest.to_json()}


def dkg_setup_entry(setup: Mapping[str, Any]) -> dict[str, Any]:
    """board-format.md §10.1: the officer's ``parvis-dkg-setup-v1`` document, verbatim."""
    return {"kind": "dkg-setup", "setup": dict(setup)}


def dkg_round1_entry(round1: Mapping[str, Any]) -> dict[str, Any]:
    """board-format.md §10.1: a trustee's ``parvis-dkg-round1-v1`` document, verbatim."""
    return {"kind": "dkg-round1", "round1": dict(round1)}


def dkg_signature_entry(signature: Mapping[str, Any]) -> dict[str, Any]:
    """board-format.md §10.1: a trustee's ``parvis-dkg-signature-v1`` document, verbatim."""
    return {"kind": "dkg-signature", "signature": dict(signature)}


def dkg_complete_entry(
    *,
    attempt: int,
    group_key: bytes,
    verification_shares: Sequence[bytes],
    transcript_sha512: bytes,
) -> dict[str, Any]:
    """board-format.md §10.1: appended by the server once the ``n`` signatures verify."""
    return {
        "kind": "dkg-complete",
        "attempt": attempt,
        "group_key": group_key.hex(),
        "verification_shares": [share.hex() for share in verification_shares],
        "transcript_sha512": transcript_sha512.hex(),
    }


def issuance_entry(*, day: str, tokens_issued: int) -> dict[str, Any]:
    return {"kind": "issuance", "day": day, "tokens_issued": tokens_issued}


def ballot_entry(cast: CastRequest) -> dict[str, Any]:
    return {"kind": "ballot", "cast": cast.to_json()}


def close_entry(*, closed_at: str, tokens_issued: int) -> dict[str, Any]:
    return {"kind": "close", "closed_at": closed_at, "tokens_issued": tokens_issued}


def paper_entry(*, voters: int, counts: Mapping[str, Mapping[str, int]]) -> dict[str, Any]:
    return {"kind": "paper", "voters": voters, "counts": {q: dict(c) for q, c in counts.items()}}


def results_entry(
    *,
    tokens_issued: int,
    ballots: int,
    individual: bool,
    results: Mapping[str, Any],
    paper: Mapping[str, Any] | None,
    trustees: Sequence[int] | None = None,
) -> dict[str, Any]:
    """The results entry; with ``trustees`` (an encrypted election, §10.1) its publication
    is ``"encrypted"`` and it lists the sorted indices of the trustees combined."""
    entry: dict[str, Any] = {
        "kind": "results",
        "tokens_issued": tokens_issued,
        "ballots": ballots,
        "publication": "individual" if individual else "aggregate",
        "results": dict(results),
        "paper": dict(paper) if paper is not None else None,
    }
    if trustees is not None:
        entry["publication"] = "encrypted"
        entry["trustees"] = sorted(trustees)
    return entry


def tally_sums_entry(
    *, ballots: int, sums: Mapping[str, Any], context: Mapping[str, Any]
) -> dict[str, Any]:
    """The homomorphic sums over the counted ballots and the decryption context (§10.4)."""
    return {"kind": "tally-sums", "ballots": ballots, "sums": dict(sums), "context": dict(context)}


def partial_decryption_entry(partials: Mapping[str, Any]) -> dict[str, Any]:
    """A trustee's ``parvis-partial-decryptions-v1`` document, verbatim (§10.4)."""
    return {"kind": "partial-decryption", "partials": dict(partials)}


def export(
    *, origin: str, entries: Sequence[Mapping[str, Any] | bytes], checkpoints: Sequence[str]
) -> dict[str, Any]:
    """A board export; an entry given as ``bytes`` is a withheld entry's leaf hash."""
    return {
        "format": EXPORT_FORMAT,
        "origin": origin,
        "entries": [
            {"withheld": b64u_encode(e)} if isinstance(e, bytes) else dict(e) for e in entries
        ],
        "checkpoints": list(checkpoints),
    }


def withheld_hash(entry: Mapping[str, Any]) -> bytes | None:
    """The leaf hash of a withheld entry, or None for a full entry."""
    if set(entry) == {"withheld"}:
        value = b64u_decode(entry["withheld"], field="withheld")
        if len(value) != 32:
            raise InvalidEntryError("a withheld entry's leaf hash is 32 bytes")
        return value
    return None
