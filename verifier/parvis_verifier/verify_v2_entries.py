"""An encrypted (version 2) board's structure, for the verifier: the failure lines, the v2
manifest (board-format.md §10.2) and the kinds and order of the entries (§10.1, with the
decisions written there).

Pure core (the verifier distribution's dependencies only).
:mod:`parvis_verifier.verify_v2` runs the checks; :mod:`parvis_verifier.verify_v2_ceremony`
and :mod:`parvis_verifier.verify_v2_tally` check what these entries carry.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import rfc8785

from parvis_verifier import trustee
from parvis_verifier.encrypted_ballot import EncryptedBallotError, grid_shape, sum_ranges
from parvis_verifier.errors import InvalidInputError
from parvis_verifier.group import GroupError, Point
from parvis_verifier.manifest import MANIFEST_FORMAT, Manifest
from parvis_verifier.token import b64u_decode_or_none, election_id_text

__all__ = [
    "CEREMONY",
    "GROUP",
    "MANIFEST_V2_FORMAT",
    "Attempt",
    "Encryption",
    "Failures",
    "ManifestV2",
    "Trustee",
    "Walk",
    "hex_bytes",
    "parse_manifest_v2",
    "sum_labels",
    "walk_entries",
]

MANIFEST_V2_FORMAT: Final = "parvis-manifest-v2"
GROUP: Final = "ed25519"

CEREMONY: Final = "COCKTAIL(Ed25519, SHA-512)"

#: Exact members of each kind of entry (§10.1, §2).

_MEMBERS: Final[Mapping[str, frozenset[str]]] = {
    "dkg-setup": frozenset({"kind", "setup"}),
    "dkg-round1": frozenset({"kind", "round1"}),
    "dkg-signature": frozenset({"kind", "signature"}),
    "dkg-complete": frozenset(
        {"kind", "attempt", "group_key", "verification_shares", "transcript_sha512"}
    ),
    "manifest": frozenset({"kind", "manifest"}),
    "issuance": frozenset({"kind", "day", "tokens_issued"}),
    "ballot": frozenset({"kind", "cast"}),
    "close": frozenset({"kind", "closed_at", "tokens_issued"}),
    "paper": frozenset({"kind", "voters", "counts"}),
    "tally-sums": frozenset({"kind", "ballots", "sums", "context"}),
    "partial-decryption": frozenset({"kind", "partials"}),
    "results": frozenset(
        {"kind", "tokens_issued", "ballots", "publication", "results", "paper", "trustees"}
    ),
}

_ENCRYPTION: Final = frozenset(
    {"group", "ceremony", "joint_key", "threshold", "attempt", "transcript_sha512", "trustees"}
)


@dataclass
class Failures:
    """The failure lines, in the order the checks find them."""

    lines: list[str] = field(default_factory=list)

    def add(self, detail: str, *, index: int | None = None) -> None:
        self.lines.append(f"entry {index}: {detail}" if index is not None else detail)


# -- the manifest (§10.2) ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Trustee:
    label: str
    static_key: Point
    public_share: Point


@dataclass(frozen=True, slots=True)
class Encryption:
    """The manifest's ``encryption`` member, parsed."""

    joint_key: Point
    threshold: int
    attempt: int
    transcript_sha512: bytes
    trustees: tuple[Trustee, ...]


@dataclass(frozen=True, slots=True)
class ManifestV2:
    """A v2 manifest: the v1 members (parsed by :class:`parvis_verifier.manifest.Manifest`), the
    ``encryption``, ``manifest_hash`` = SHA-256(JCS(manifest)) and ``terms_hash`` =
    SHA-256(JCS(manifest without encryption)) (§10.2, "Manifest hashes")."""

    terms: Manifest
    encryption: Encryption
    manifest_hash: bytes
    terms_hash: bytes
    election: str


def _b64u(value: object, size: int, where: str) -> bytes:
    data = b64u_decode_or_none(value)
    if data is None or len(data) != size:
        raise InvalidInputError(f"{where} is {size} bytes of canonical unpadded base64url")
    return data


def _point_b64u(value: object, where: str) -> Point:
    try:
        return Point.decode(_b64u(value, 32, where))
    except GroupError as exc:
        raise InvalidInputError(f"{where}: {exc}") from None


def _int(value: object, where: str, *, low: int = 1) -> int:
    if type(value) is not int or value < low:
        raise InvalidInputError(f"{where} is an integer ≥ {low}")
    return value


def parse_manifest_v2(value: object) -> ManifestV2:
    """Strictly parse a v2 manifest (§10.2); raise :class:`InvalidInputError`."""
    if not isinstance(value, dict) or value.get("format") != MANIFEST_V2_FORMAT:
        raise InvalidInputError(f"the manifest's format is {MANIFEST_V2_FORMAT}")
    if "encryption" not in value:
        raise InvalidInputError("a v2 manifest has an encryption member")
    terms_json = {k: v for k, v in value.items() if k != "encryption"}
    # Every v1 member with the v1 rules: the v1 parser reads the terms under its own format.
    terms = Manifest.from_json({**terms_json, "format": MANIFEST_FORMAT})
    for question in terms.questions:
        try:
            sum_ranges(question)
        except EncryptedBallotError as exc:
            raise InvalidInputError(f"manifest: {exc}") from None
    data = value["encryption"]
    if not isinstance(data, dict) or set(data) != _ENCRYPTION:
        raise InvalidInputError(
            f"manifest.encryption has exactly the members {sorted(_ENCRYPTION)}"
        )
    if data["group"] != GROUP or data["ceremony"] != CEREMONY:
        raise InvalidInputError(f"manifest.encryption is group {GROUP!r}, ceremony {CEREMONY!r}")
    items = data["trustees"]
    if not isinstance(items, list) or not items:
        raise InvalidInputError("manifest.encryption.trustees is a non-empty list")
    trustees = []
    for number, item in enumerate(items, 1):
        where = f"manifest.encryption.trustees[{number - 1}]"
        if not isinstance(item, dict) or set(item) != {"label", "static_key", "public_share"}:
            raise InvalidInputError(f"{where} has exactly label, static_key and public_share")
        if not isinstance(item["label"], str) or not item["label"]:
            raise InvalidInputError(f"{where}.label is a non-empty string")
        trustees.append(
            Trustee(
                item["label"],
                _point_b64u(item["static_key"], f"{where}.static_key"),
                _point_b64u(item["public_share"], f"{where}.public_share"),
            )
        )
    threshold = _int(data["threshold"], "manifest.encryption.threshold")
    if threshold > len(trustees):
        raise InvalidInputError("manifest.encryption.threshold exceeds the number of trustees")
    encryption = Encryption(
        joint_key=_point_b64u(data["joint_key"], "manifest.encryption.joint_key"),
        threshold=threshold,
        attempt=_int(data["attempt"], "manifest.encryption.attempt"),
        transcript_sha512=_b64u(
            data["transcript_sha512"], 64, "manifest.encryption.transcript_sha512"
        ),
        trustees=tuple(trustees),
    )
    return ManifestV2(
        terms=terms,
        encryption=encryption,
        manifest_hash=hashlib.sha256(rfc8785.dumps(value)).digest(),
        terms_hash=hashlib.sha256(rfc8785.dumps(terms_json)).digest(),
        election=election_id_text(terms.election_id),
    )


def sum_labels(questions: Sequence[Any]) -> list[str]:
    """``"<question id>/<cell index>"`` for every cell, manifest order then wire order
    (§10.4)."""
    labels = []
    for question in questions:
        rows, columns = grid_shape(question)
        labels += [f"{question.id}/{cell}" for cell in range(rows * columns)]
    return labels


def hex_bytes(value: object, size: int) -> bytes | None:
    """``size`` bytes written as lowercase hex and nothing else (``bytes.fromhex`` alone
    also takes spaces), or None."""
    if not isinstance(value, str) or len(value) != 2 * size:
        return None
    try:
        data = bytes.fromhex(value)
    except ValueError:
        return None
    return data if data.hex() == value else None


# -- kinds and order (§10.1) ---------------------------------------------------------------


@dataclass
class Attempt:
    setup: int
    parsed: trustee.Setup | None
    round1: dict[int, int] = field(default_factory=dict)  # sender -> entry index
    signatures: dict[int, int] = field(default_factory=dict)  # signer -> entry index


@dataclass
class Walk:
    attempts: list[Attempt] = field(default_factory=list)
    complete: int | None = None
    manifest: int | None = None
    ballots: list[int] = field(default_factory=list)
    close: int | None = None
    issued: int | None = None
    paper: int | None = None
    sums: int | None = None
    partials: list[int] = field(default_factory=list)
    results: int | None = None


def _document_member(entry: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    value = entry.get(name)
    return value if isinstance(value, dict) else None


def _a(kind: str) -> str:
    """``a dkg-setup``, ``an issuance``: the article and the kind, for failure lines."""
    return f"{'an' if kind[:1] in 'aeiou' else 'a'} {kind}"


def walk_entries(entries: Sequence[object], failures: Failures) -> Walk:
    """Kinds and order (§10.1); every entry out of place is one failure."""
    walk = Walk()
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            failures.add("every entry is a JSON object", index=index)
            continue
        if set(entry) == {"withheld"}:
            failures.add("nothing is withheld on an encrypted board (§10.1)", index=index)
            continue
        kind = entry.get("kind")
        if not isinstance(kind, str) or kind not in _MEMBERS:
            failures.add(f"unknown entry kind {str(kind)[:32]!r}", index=index)
            continue
        members = _MEMBERS[kind]
        if set(entry) != members:
            failures.add(f"{_a(kind)} entry has exactly the members {sorted(members)}", index=index)
            continue
        problem = _place(walk, index, entry, kind)
        if problem:
            failures.add(problem, index=index)
    return walk


def _place(walk: Walk, index: int, entry: dict[str, Any], kind: str) -> str | None:
    """Record ``entry`` in ``walk``; the failure text when it is out of place."""
    if index == 0 and kind != "dkg-setup":
        return "entry 0 of an encrypted board is a dkg-setup"
    if kind.startswith("dkg-"):
        return _place_ceremony(walk, index, entry, kind)
    if kind in {"manifest", "issuance", "ballot", "close"}:
        return _place_open(walk, index, entry, kind)
    return _place_tally(walk, index, kind)


def _place_ceremony(  # noqa: PLR0911 - one answer per rule of §10.1
    walk: Walk, index: int, entry: dict[str, Any], kind: str
) -> str | None:
    ceremony = walk.complete is None
    if kind == "dkg-setup":
        if not ceremony:
            return "a dkg-setup after dkg-complete"
        try:
            parsed: trustee.Setup | None = trustee.Setup.parse(entry["setup"], "setup")
        except (ValueError, TypeError) as exc:
            walk.attempts.append(Attempt(index, None))
            return f"dkg-setup: {exc}"
        walk.attempts.append(Attempt(index, parsed))
        return None
    if kind in {"dkg-round1", "dkg-signature"}:
        if not ceremony or not walk.attempts:
            return f"{_a(kind)} outside a ceremony attempt"
        attempt = walk.attempts[-1]
        document = _document_member(entry, "round1" if kind == "dkg-round1" else "signature")
        who = (document or {}).get("sender" if kind == "dkg-round1" else "signer")
        n = attempt.parsed.config.n if attempt.parsed is not None else 0
        if document is None or type(who) is not int or not 1 <= who <= n:
            return f"{_a(kind)} entry names no participant of its attempt"
        if kind == "dkg-round1":
            if attempt.signatures:
                return "a dkg-round1 after a signature of its attempt"
            if who in attempt.round1:
                return f"a second dkg-round1 from participant {who} (entry {attempt.round1[who]})"
            attempt.round1[who] = index
            return None
        if len(attempt.round1) != n:
            return f"a dkg-signature before all {n} round-1 entries of its attempt"
        if who in attempt.signatures:
            return f"a second dkg-signature from participant {who}"
        attempt.signatures[who] = index
        return None
    if kind == "dkg-complete":
        if not ceremony or not walk.attempts:
            return "dkg-complete outside a ceremony, or a second one"
        walk.complete = index
        attempt = walk.attempts[-1]
        n = attempt.parsed.config.n if attempt.parsed is not None else 0
        if len(attempt.signatures) != n or not n:
            return (
                f"dkg-complete before the {n} signatures of its attempt "
                f"({len(attempt.signatures)} on the board)"
            )
        return None
    return None


def _place_open(walk: Walk, index: int, entry: dict[str, Any], kind: str) -> str | None:  # noqa: PLR0911 - one answer per rule of §10.1
    if kind == "manifest":
        if walk.manifest is not None:
            return "a second manifest"
        walk.manifest = index
        if walk.complete is None or index != walk.complete + 1:
            return "the manifest comes right after dkg-complete"
        return None
    if walk.manifest is None:
        return f"{_a(kind)} entry before the manifest"
    if kind in {"issuance", "ballot"}:
        if walk.close is not None:
            return f"{_a(kind)} entry after the close entry"
        if kind == "ballot":
            walk.ballots.append(index)
            return None
        count_ = entry["tokens_issued"]
        if type(count_) is not int or (walk.issued is not None and count_ < walk.issued):
            return "the issued-token count went down"
        walk.issued = count_
        return None
    if kind == "close":
        if walk.close is not None:
            return "a second close entry"
        walk.close = index
        count_ = entry["tokens_issued"]
        if type(count_) is not int or (walk.issued is not None and count_ < walk.issued):
            return "close counts fewer tokens than issued"
    return None


def _place_tally(walk: Walk, index: int, kind: str) -> str | None:  # noqa: PLR0911 - one answer per rule of §10.1
    if walk.manifest is None:
        return f"{_a(kind)} entry before the manifest"
    if walk.close is None:
        return f"{_a(kind)} entry before the close entry"
    if walk.results is not None:
        return "an entry after the results"
    if kind == "paper":
        if walk.paper is not None or walk.sums is not None:
            return "a paper entry after tally-sums, or a second one"
        walk.paper = index
        return None
    if kind == "tally-sums":
        if walk.sums is not None:
            return "a second tally-sums entry"
        walk.sums = index
        return None
    if kind == "partial-decryption":
        walk.partials.append(index)
        return None if walk.sums is not None else "a partial-decryption before tally-sums"
    walk.results = index  # kind == "results"
    return None
