"""An encrypted election on the server: the cast's proofs, the tally's sums, the trustees'
partial decryptions and the counts (docs/board-format.md §10).

Pure core. What the ballot box and the lifecycle need from a version 2 manifest and from
the pure building blocks (ballot/encrypted_ballot.py, ballot/homomorphic_tally.py,
ballot/trustee.py), in the board's own encodings:

* :class:`Encryption` — the manifest's ``encryption`` member (§10.2) and the manifest hash
  ``SHA-256(JCS(manifest))`` that every proof's context carries;
* :meth:`Encryption.verify_ballot` — every proof of a cast's ``encrypted`` member under the
  context (``"parvis-ballot-v2"``, election id, manifest hash, the token's ``vk``) (§10.3);
* :func:`sums_document` and :func:`context_document` — the ``tally-sums`` entry's
  ``parvis-tally-sums-v1`` and ``parvis-decryption-context-v1`` documents, byte for byte
  what ``parvis-trustee decrypt`` reads (docs/trustee-tool.md, "File formats"; §10.4);
* :meth:`Encryption.check_partials` — one trustee's ``parvis-partial-decryptions-v1``
  document against its static key and public share from the manifest, refused naming the
  trustee and the label (what ``parvis-trustee check`` does against the ceremony);
* :func:`decrypt_counts` — Lagrange interpolation at 0 over the trustees combined, then
  baby-step giant-step bounded by the counted ballots, per cell.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from ballot.decryption_proof import DecryptionProof, verify_decryption
from ballot.elgamal import Ciphertext, decrypt_to_point, dlog
from ballot.encrypted_ballot import EncryptedBallot, grid_shape, verify_encrypted_ballot
from ballot.group import GroupError, Point
from ballot.homomorphic_tally import CellSums
from ballot.manifest import manifest_hash
from ballot.questions import Question
from ballot.token import b64u_decode_or_none
from ballot.transcript import Context, ProofError
from ballot.trustee import CONTEXT_FORMAT, PARTIALS_FORMAT, SUMS_FORMAT, combine_partials
from parvis.kernel.errors import ConflictError, InvalidInputError

__all__ = [
    "MANIFEST_V2_FORMAT",
    "DuplicatePartialError",
    "Encryption",
    "InvalidEncryptionError",
    "Trustee",
    "WrongPartialDecryptionError",
    "cell_label",
    "context_document",
    "decrypt_counts",
    "parse_sums_document",
    "sums_document",
]

MANIFEST_V2_FORMAT: Final = "parvis-manifest-v2"
_PARTIALS_MEMBERS: Final = frozenset(
    {"format", "election", "manifest_hash", "trustee", "trustee_key", "public_share", "partials"}
)
_PARTIAL_MEMBERS: Final = frozenset({"label", "ciphertext", "partial", "proof"})


class InvalidEncryptionError(InvalidInputError):
    """A v2 manifest's ``encryption`` member is malformed."""

    title = "Invalid election encryption parameters"


class WrongPartialDecryptionError(InvalidInputError):
    """A trustee's partial decryption is refused; the detail names the trustee and the label
    (docs/board-format.md §10.4). Nothing is appended."""

    title = "Partial decryption refused"

    def __init__(self, detail: str, *, trustee: int | None = None, label: str | None = None):
        super().__init__(detail)
        self.trustee = trustee
        self.label = label


class DuplicatePartialError(ConflictError):
    """This trustee's partial decryption is already on the board (at most one each, §10.1)."""

    title = "Partial decryption already on the board"


def _point(text: object, where: str) -> Point:
    raw = b64u_decode_or_none(text)
    if raw is None or len(raw) != 32:
        raise InvalidEncryptionError(f"{where}: 32 bytes of unpadded base64url")
    try:
        return Point.decode(raw)
    except GroupError as error:
        raise InvalidEncryptionError(f"{where}: {error}") from None


@dataclass(frozen=True, slots=True)
class Trustee:
    """Participant ``index`` (1-based) of the ceremony, as the manifest names it."""

    index: int
    label: str
    static_key: Point
    public_share: Point


@dataclass(frozen=True, slots=True)
class Encryption:
    """An encrypted election's public parameters (§10.2) and its manifest hash."""

    election_id: str
    manifest_hash: bytes
    joint_key: Point
    threshold: int
    trustees: tuple[Trustee, ...]

    @classmethod
    def of_manifest(cls, manifest: Mapping[str, Any]) -> Encryption | None:
        """The parameters of a v2 manifest (its JSON form), or None for a v1 manifest."""
        if manifest.get("format") != MANIFEST_V2_FORMAT:
            return None
        data = manifest.get("encryption")
        if not isinstance(data, Mapping):
            raise InvalidEncryptionError("a v2 manifest has an encryption object")
        threshold = data.get("threshold")
        listed = data.get("trustees")
        if not isinstance(listed, list) or not listed:
            raise InvalidEncryptionError("encryption.trustees: a non-empty list")
        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, int)
            or not 1 <= threshold <= len(listed)
        ):
            raise InvalidEncryptionError("encryption.threshold: from 1 to the trustees' count")
        trustees = []
        for position, item in enumerate(listed, start=1):
            where = f"encryption.trustees[{position - 1}]"
            if not isinstance(item, Mapping) or not isinstance(item.get("label"), str):
                raise InvalidEncryptionError(f"{where}: label, static_key, public_share")
            trustees.append(
                Trustee(
                    index=position,
                    label=item["label"],
                    static_key=_point(item.get("static_key"), f"{where}.static_key"),
                    public_share=_point(item.get("public_share"), f"{where}.public_share"),
                )
            )
        joint_key = _point(data.get("joint_key"), "encryption.joint_key")
        if joint_key.is_identity():
            raise InvalidEncryptionError("encryption.joint_key: not the identity")
        election = manifest.get("election")
        if not isinstance(election, str):
            raise InvalidEncryptionError("manifest.election: the election id")
        return cls(
            election_id=election,
            manifest_hash=manifest_hash(manifest),
            joint_key=joint_key,
            threshold=threshold,
            trustees=tuple(trustees),
        )

    def ballot_context(self, vk: bytes) -> Context:
        """The context of every proof of a ballot cast with ``vk`` (§10.3)."""
        return Context(self.election_id, self.manifest_hash, vk)

    def verify_ballot(
        self, questions: Sequence[Question], *, vk: bytes, data: object
    ) -> EncryptedBallot:
        """Parse a cast's ``encrypted`` member and check every proof: raises
        :class:`~ballot.encrypted_ballot.MalformedEncryptedBallotError` or
        :class:`~ballot.encrypted_ballot.BallotProofError` naming the question and the cell or
        proof (§10.3)."""
        return verify_encrypted_ballot(questions, self.joint_key, self.ballot_context(vk), data)

    def trustee(self, index: int) -> Trustee:
        if not 1 <= index <= len(self.trustees):
            raise WrongPartialDecryptionError(
                f"there is no trustee {index} in this election", trustee=index
            )
        return self.trustees[index - 1]

    def check_partials(
        self, document: object, *, sums: Mapping[str, Any]
    ) -> tuple[int, list[Point]]:
        """One trustee's ``parvis-partial-decryptions-v1`` document for exactly the
        ``sums`` document of the ``tally-sums`` entry: its election and manifest hash, its
        trustee key and public share as the manifest's, every label and ciphertext the sums',
        every Chaum–Pedersen proof valid in the trustee's context (election id, manifest hash,
        its static key). Returns ``(trustee index, partials in the sums' order)``; refuses
        with :class:`WrongPartialDecryptionError` naming the trustee and the label."""
        if not isinstance(document, Mapping):
            raise WrongPartialDecryptionError("a partial decryption document is a JSON object")
        # Exactly the documented members: the document goes on the board verbatim, and
        # nothing else may ride along with it.
        if set(document) != _PARTIALS_MEMBERS:
            raise WrongPartialDecryptionError(
                f"a partial decryption document has exactly {sorted(_PARTIALS_MEMBERS)}"
            )
        if document.get("format") != PARTIALS_FORMAT:
            raise WrongPartialDecryptionError(f"format: not {PARTIALS_FORMAT}")
        index = document.get("trustee")
        if isinstance(index, bool) or not isinstance(index, int):
            raise WrongPartialDecryptionError("trustee: the trustee's index (an integer)")
        trustee = self.trustee(index)

        def refuse(detail: str, label: str | None = None) -> WrongPartialDecryptionError:
            return WrongPartialDecryptionError(
                f"trustee {index}: {detail}", trustee=index, label=label
            )

        if document.get("election") != self.election_id:
            raise refuse("made for another election")
        if _hex(document.get("manifest_hash"), 32) != self.manifest_hash:
            raise refuse("made for another manifest")
        if _hex(document.get("trustee_key"), 32) != trustee.static_key.encoded:
            raise refuse("the trustee key is not the manifest's")
        if _hex(document.get("public_share"), 32) != trustee.public_share.encoded:
            raise refuse("the public share is not the manifest's")
        expected = sums["ciphertexts"]
        items = document.get("partials")
        if not isinstance(items, list) or len(items) != len(expected):
            raise refuse(f"a list of {len(expected)} partials, one per sum")
        context = Context(self.election_id, self.manifest_hash, trustee.static_key.encoded)
        points = []
        for item, wanted in zip(items, expected, strict=True):
            label = wanted["label"]
            if (
                not isinstance(item, Mapping)
                or set(item) != _PARTIAL_MEMBERS
                or item.get("label") != label
            ):
                raise refuse(f"the partial for {label!r} is missing or out of order", label)
            ciphertext_bytes = _hex(item.get("ciphertext"), 64)
            if ciphertext_bytes != bytes.fromhex(wanted["ciphertext"]):
                raise refuse(f"{label!r}: the ciphertext is not the sum", label)
            proof_bytes = _hex(item.get("proof"), 96)
            if proof_bytes is None:
                raise refuse(f"{label!r}: the proof is 96 bytes of lowercase hex", label)
            try:
                partial = Point.decode(_hex(item.get("partial"), 32) or b"")
                verify_decryption(
                    context,
                    public_share=trustee.public_share,
                    ciphertext=Ciphertext.from_bytes(ciphertext_bytes),
                    partial=partial,
                    proof=DecryptionProof.from_bytes(proof_bytes),
                )
            except (GroupError, ProofError, ValueError) as error:
                detail = f"the partial decryption of {label!r} is refused: {error}"
                raise refuse(detail, label) from None
            points.append(partial)
        return index, points


def _hex(value: object, size: int) -> bytes | None:
    """Lowercase hex of exactly ``size`` bytes (the trustee tool's encoding), else None."""
    if not isinstance(value, str) or len(value) != 2 * size or value != value.lower():
        return None
    try:
        return bytes.fromhex(value)
    except ValueError:
        return None


def cell_label(question: str, cell: int) -> str:
    """``"<question id>/<cell index from 0>"`` (§10.4)."""
    return f"{question}/{cell}"


def sums_document(
    election_id: str, questions: Sequence[Question], sums: CellSums
) -> dict[str, Any]:
    """``parvis-tally-sums-v1``: each question in manifest order, each cell in wire order."""
    return {
        "format": SUMS_FORMAT,
        "election": election_id,
        "ciphertexts": [
            {"label": cell_label(q.id, cell), "ciphertext": total.to_bytes().hex()}
            for q in questions
            for cell, total in enumerate(sums[q.id])
        ],
    }


def parse_sums_document(questions: Sequence[Question], document: Mapping[str, Any]) -> CellSums:
    """The sums of a ``tally-sums`` entry Parvis wrote, back as ciphertexts per question."""
    items = iter(document["ciphertexts"])
    out: dict[str, tuple[Ciphertext, ...]] = {}
    for q in questions:
        rows, columns = grid_shape(q)
        out[q.id] = tuple(
            Ciphertext.from_bytes(bytes.fromhex(next(items)["ciphertext"]))
            for _ in range(rows * columns)
        )
    return out


def context_document(election_id: str, hash_: bytes) -> dict[str, Any]:
    """``parvis-decryption-context-v1`` (§10.4)."""
    return {"format": CONTEXT_FORMAT, "election": election_id, "manifest_hash": hash_.hex()}


def decrypt_counts(
    questions: Sequence[Question],
    *,
    sums: Mapping[str, Any],
    partials: Mapping[int, Sequence[Point]],
    ballots: int,
) -> dict[str, tuple[int, ...]]:
    """Per question, each cell's count: ``M·G = β − Σ λ_i·D_i`` over every trustee in
    ``partials`` (already checked; at least the threshold), then ``M`` by baby-step
    giant-step up to ``ballots`` (§10.4)."""
    ciphertexts = [
        Ciphertext.from_bytes(bytes.fromhex(c["ciphertext"])) for c in sums["ciphertexts"]
    ]
    flat = []
    for position, ciphertext in enumerate(ciphertexts):
        factor = combine_partials({i: points[position] for i, points in partials.items()})
        flat.append(dlog(decrypt_to_point(ciphertext, factor), ballots))
    counts: dict[str, tuple[int, ...]] = {}
    start = 0
    for q in questions:
        rows, columns = grid_shape(q)
        counts[q.id] = tuple(flat[start : start + rows * columns])
        start += rows * columns
    return counts
