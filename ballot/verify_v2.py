"""The verifier of encrypted (version 2) boards: board-format.md §10, §10.5.

Pure apart from the process pool of :mod:`ballot.verify_ballots_v2`; only the ``verify``
extra (cryptography, PyNaCl, rfc8785). :func:`ballot.verify.verify_board` hands a board
here when its entry 0 is a ``dkg-setup``. Unlike version 1, which stops at the first
discrepancy, every check runs and every failure is one line (``entry N: …`` when an entry is
at fault), so that an auditor sees everything wrong with a board at once; a check that
cannot run because what it needs failed says so once instead of repeating the cause.

Checks, in the order their failures are reported:

1. the export (§7); kinds and order of the entries (§10.1, with the decisions written
   there: round-1 and signature entries of an attempt in any order, one per participant;
   exact members for every kind); the manifest (§10.2), its origin and board key;
2. the ceremony (§10.5.1) of the attempt ``dkg-complete`` names, through
   :func:`ballot.trustee.verify_ceremony` (round-1 envelopes, framing, commitment lengths,
   proofs of possession, every signature on ``T``), ``dkg-complete`` and the manifest's
   ``encryption`` equal to its outcome, the setup bound to the manifest's terms;
   earlier attempts: numbered 1, 2, …, same election, fresh static keys, entries of their
   own ceremony;
3. every ballot (§10.5.2: :mod:`ballot.verify_ballots_v2`); nullifiers (§8.5);
4. the checkpoints: signed by the manifest's board key, sizes non-decreasing, each root the
   root of the first ``size`` entries, the last covering every entry (§8.2) — after the
   ballots, whose leaf hashes the workers compute;
5. counted ballots ≤ ``tokens_issued`` ≤ eligible population (§8.6);
6. ``tally-sums`` (§10.5.3): ``ballots`` and every sum recomputed from the counted ballots,
   the decryption context;
7. every ``partial-decryption`` (§10.5.4) against its trustee's ``public_share``, over the
   published sums; at least ``threshold`` of them;
8. ``results``: the combination of the listed trustees, baby-step giant-step bounded by
   the counted ballots, §6 from the per-cell counts, the paper entry.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import rfc8785

from audit.note import VerifierKey, open_checkpoint
from ballot import trustee
from ballot.board import EXPORT_FORMAT, normalise_tracking_code, tracking_code
from ballot.decryption_proof import DecryptionProof, verify_decryption
from ballot.elgamal import Ciphertext, DlogError, decrypt_to_point, dlog
from ballot.encrypted_ballot import EncryptedBallotError, grid_shape, sum_ranges
from ballot.group import IDENTITY, GroupError, Point
from ballot.homomorphic_tally import lagrange_at_zero, results_from_counts
from ballot.manifest import MANIFEST_FORMAT, Manifest
from ballot.token import b64u_decode_or_none, election_id_text
from ballot.transcript import Context
from ballot.verify import BoardVerificationError, VerificationReport
from ballot.verify_ballots_v2 import BallotContext, check_ballots, leaf_of
from parvis.kernel.errors import DomainError, InvalidInputError

__all__ = [
    "MANIFEST_V2_FORMAT",
    "EncryptedBoardError",
    "Encryption",
    "ManifestV2",
    "is_encrypted_board",
    "parse_manifest_v2",
    "sum_labels",
    "verify_encrypted_board",
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

Progress = Callable[[str, int, int], None]


class EncryptedBoardError(BoardVerificationError):
    """An encrypted board does not verify; ``failures`` holds one line per failure."""

    def __init__(self, failures: Sequence[str]) -> None:
        super().__init__("\n".join(failures))
        self.failures = list(failures)


class _StopError(Exception):
    """A failure after which nothing else can be checked (recorded before raising)."""


@dataclass
class _Failures:
    lines: list[str] = field(default_factory=list)

    def add(self, detail: str, *, index: int | None = None) -> None:
        self.lines.append(f"entry {index}: {detail}" if index is not None else detail)

    def stop(self, detail: str, *, index: int | None = None) -> _StopError:
        self.add(detail, index=index)
        return _StopError()


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
    """A v2 manifest: the v1 members (parsed by :class:`ballot.manifest.Manifest`), the
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


# -- kinds and order (§10.1) ---------------------------------------------------------------


@dataclass
class _Attempt:
    setup: int
    parsed: trustee.Setup | None
    round1: dict[int, int] = field(default_factory=dict)  # sender -> entry index
    signatures: dict[int, int] = field(default_factory=dict)  # signer -> entry index


@dataclass
class _Walk:
    attempts: list[_Attempt] = field(default_factory=list)
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


def _walk(entries: Sequence[object], failures: _Failures) -> _Walk:
    """Kinds and order (§10.1); every entry out of place is one failure."""
    walk = _Walk()
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
            failures.add(f"a {kind} entry has exactly the members {sorted(members)}", index=index)
            continue
        problem = _place(walk, index, entry, kind)
        if problem:
            failures.add(problem, index=index)
    return walk


def _place(walk: _Walk, index: int, entry: dict[str, Any], kind: str) -> str | None:
    """Record ``entry`` in ``walk``; the failure text when it is out of place."""
    if index == 0 and kind != "dkg-setup":
        return "entry 0 of an encrypted board is a dkg-setup"
    if kind.startswith("dkg-"):
        return _place_ceremony(walk, index, entry, kind)
    if kind in {"manifest", "issuance", "ballot", "close"}:
        return _place_open(walk, index, entry, kind)
    return _place_tally(walk, index, kind)


def _place_ceremony(  # noqa: PLR0911 - one answer per rule of §10.1
    walk: _Walk, index: int, entry: dict[str, Any], kind: str
) -> str | None:
    ceremony = walk.complete is None
    if kind == "dkg-setup":
        if not ceremony:
            return "a dkg-setup after dkg-complete"
        try:
            parsed: trustee.Setup | None = trustee.Setup.parse(entry["setup"], "setup")
        except (ValueError, TypeError) as exc:
            walk.attempts.append(_Attempt(index, None))
            return f"dkg-setup: {exc}"
        walk.attempts.append(_Attempt(index, parsed))
        return None
    if kind in {"dkg-round1", "dkg-signature"}:
        if not ceremony or not walk.attempts:
            return f"a {kind} outside a ceremony attempt"
        attempt = walk.attempts[-1]
        document = _document_member(entry, "round1" if kind == "dkg-round1" else "signature")
        who = (document or {}).get("sender" if kind == "dkg-round1" else "signer")
        n = attempt.parsed.config.n if attempt.parsed is not None else 0
        if document is None or type(who) is not int or not 1 <= who <= n:
            return f"a {kind} entry names no participant of its attempt"
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


def _place_open(walk: _Walk, index: int, entry: dict[str, Any], kind: str) -> str | None:  # noqa: PLR0911 - one answer per rule of §10.1
    if kind == "manifest":
        if walk.manifest is not None:
            return "a second manifest"
        walk.manifest = index
        if walk.complete is None or index != walk.complete + 1:
            return "the manifest comes right after dkg-complete"
        return None
    if walk.manifest is None:
        return f"a {kind} entry before the manifest"
    if kind in {"issuance", "ballot"}:
        if walk.close is not None:
            return f"a {kind} entry after the close entry"
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


def _place_tally(walk: _Walk, index: int, kind: str) -> str | None:  # noqa: PLR0911 - one answer per rule of §10.1
    if walk.manifest is None:
        return f"a {kind} entry before the manifest"
    if walk.close is None:
        return f"a {kind} entry before the close entry"
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


# -- checkpoints (§8.2) --------------------------------------------------------------------


class _Tree:
    """RFC 6962 tree folded leaf by leaf (one root per set bit of the size)."""

    def __init__(self) -> None:
        self.hashes: list[bytes] = []
        self.size = 0

    def append(self, leaf: bytes) -> None:
        current, index = leaf, self.size
        while index & 1:
            current = hashlib.sha256(b"\x01" + self.hashes.pop() + current).digest()
            index >>= 1
        self.hashes.append(current)
        self.size += 1

    def root(self) -> bytes:
        if not self.hashes:
            return hashlib.sha256(b"").digest()
        result = self.hashes[-1]
        for node in reversed(self.hashes[:-1]):
            result = hashlib.sha256(b"\x01" + node + result).digest()
        return result


def _check_checkpoints(
    export: Mapping[str, Any], manifest: ManifestV2, leaves: Sequence[bytes], failures: _Failures
) -> int:
    notes = export.get("checkpoints")
    if not isinstance(notes, list) or not notes or not all(isinstance(n, str) for n in notes):
        failures.add("checkpoints: a non-empty list of signed notes is expected")
        return 0
    key = manifest.terms.verifier_key()
    wanted: dict[int, list[tuple[bytes, int]]] = {}
    previous = 0
    for number, note in enumerate(notes):
        try:
            checkpoint = open_checkpoint(
                note, origin=manifest.terms.board_origin, log_key=key
            ).checkpoint
        except DomainError as exc:
            failures.add(f"checkpoint {number}: {exc}")
            continue
        if checkpoint.size < previous:
            failures.add(f"checkpoint {number}: the tree shrank to {checkpoint.size}")
        if checkpoint.size > len(leaves):
            failures.add(
                f"checkpoint {number} covers {checkpoint.size} entries but the export has "
                f"{len(leaves)}"
            )
        previous = max(previous, checkpoint.size)
        wanted.setdefault(checkpoint.size, []).append((checkpoint.root_hash, number))
    if previous != len(leaves):
        failures.add(f"the last checkpoint covers {previous} of the {len(leaves)} entries")
    tree = _Tree()
    for size in range(len(leaves) + 1):
        for root, number in wanted.get(size, []):
            if root != tree.root():
                failures.add(
                    f"checkpoint {number}: its root for size {size} is not the root of the "
                    "entries (an entry was altered, removed, added or reordered)"
                )
        if size == len(leaves):
            break
        if not leaves[size]:
            failures.add(f"the tree cannot be checked past entry {size} (no RFC 8785 form)")
            break
        tree.append(leaves[size])
    return len(notes)


# -- the ceremony (§10.5.1) ----------------------------------------------------------------


def _hex(value: object, size: int) -> bytes | None:
    """``size`` bytes written as lowercase hex and nothing else (``bytes.fromhex`` alone
    also takes spaces), or None."""
    if not isinstance(value, str) or len(value) != 2 * size:
        return None
    try:
        data = bytes.fromhex(value)
    except ValueError:
        return None
    return data if data.hex() == value else None


def _check_ceremony(
    entries: Sequence[Any], walk: _Walk, manifest: ManifestV2, failures: _Failures
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
    failures: _Failures,
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
    failures: _Failures,
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


# -- ballots, nullifiers, sums -------------------------------------------------------------


def _add(left: bytes, right: bytes) -> bytes:
    """``α ‖ β`` component-wise sums (the identity handled by :class:`Point`)."""
    return (Point(left[:32]) + Point(right[:32])).encoded + (
        Point(left[32:]) + Point(right[32:])
    ).encoded


def _cell_sums(counted: Sequence[bytes], cells: int) -> list[bytes]:
    sums = [IDENTITY.encoded * 2] * cells
    for ballot in counted:
        for k in range(cells):
            sums[k] = _add(sums[k], ballot[64 * k : 64 * (k + 1)])
    return sums


@dataclass
class _Counted:
    """Counted ballots (last per nullifier), every ballot leaf, and how many ballot or
    nullifier faults were found."""

    by_nullifier: dict[bytes, tuple[int, bytes]] = field(default_factory=dict)
    leaves: dict[int, bytes] = field(default_factory=dict)
    shown: int = 0
    faults: int = 0


def _check_ballots(
    entries: Sequence[Any],
    walk: _Walk,
    manifest: ManifestV2,
    failures: _Failures,
    *,
    workers: int | None,
    chunk: int | None,
    progress: Progress | None,
) -> _Counted:
    terms = manifest.terms
    ctx = BallotContext.of(
        questions=terms.questions,
        issuer_key=terms.public_key(),
        election_id=terms.election_id,
        election_text=manifest.election,
        manifest_hash=manifest.manifest_hash,
        joint_key=manifest.encryption.joint_key,
    )
    ballots = [entries[i] for i in walk.ballots]
    counted = _Counted()
    done = 0
    for outcomes in check_ballots(ctx, ballots, workers=workers, chunk=chunk):
        for outcome in outcomes:
            index = walk.ballots[done]
            done += 1
            counted.leaves[index] = outcome.leaf
            if outcome.fault is not None:
                failures.add(outcome.fault, index=index)
                counted.faults += 1
                continue
            earlier = counted.by_nullifier.get(outcome.nullifier)
            if earlier is not None and (not terms.revote or outcome.seq <= earlier[0]):
                counted.faults += 1
            if earlier is not None and not terms.revote:
                failures.add(
                    "a second ballot on the same token (re-voting is not allowed)", index=index
                )
            elif earlier is not None and outcome.seq <= earlier[0]:
                failures.add(
                    f"a re-vote with seq {outcome.seq} after seq {earlier[0]}", index=index
                )
            else:
                counted.by_nullifier[outcome.nullifier] = (outcome.seq, outcome.cells)
        if progress is not None:
            progress("ballots", done, len(ballots))
    counted.shown = len(ballots)
    return counted


def _check_sums(  # noqa: PLR0911 - each malformed shape stops the comparison
    entries: Sequence[Any],
    walk: _Walk,
    manifest: ManifestV2,
    counted: _Counted,
    failures: _Failures,
) -> list[tuple[str, Ciphertext]] | None:
    """§10.5.3; the published sums (parsed) for the partials, or None."""
    labels = sum_labels(manifest.terms.questions)
    ballots = len(counted.by_nullifier)
    if walk.sums is None:
        if ballots and walk.results is not None:
            failures.add("results without a tally-sums entry")
        return None
    index = walk.sums
    entry = entries[index]
    # With a ballot at fault the recount means nothing (the ballot lines say why): said once,
    # and the published sums still serve to check the partial decryptions and the results.
    compare = not counted.faults
    if not compare:
        failures.add(
            f"tally-sums not compared with the ballots: {counted.faults} ballot(s) fail",
            index=index,
        )
    elif not ballots:
        failures.add("no ballot is counted: no tally-sums is published (§10.4)", index=index)
        return None
    elif type(entry["ballots"]) is not int or entry["ballots"] != ballots:
        failures.add(
            f"tally-sums counts {entry['ballots']} ballots, the board has {ballots}", index=index
        )
    expected_context = {
        "format": trustee.CONTEXT_FORMAT,
        "election": manifest.election,
        "manifest_hash": manifest.manifest_hash.hex(),
    }
    if entry["context"] != expected_context:
        failures.add("tally-sums: the decryption context is not this election's", index=index)
    sums = entry["sums"]
    items = sums.get("ciphertexts") if isinstance(sums, dict) else None
    if (
        not isinstance(sums, dict)
        or set(sums) != {"format", "election", "ciphertexts"}
        or sums["format"] != trustee.SUMS_FORMAT
        or sums["election"] != manifest.election
        or not isinstance(items, list)
        or len(items) != len(labels)
    ):
        failures.add(
            f"tally-sums: sums is a {trustee.SUMS_FORMAT} document of this election with "
            f"{len(labels)} ciphertexts",
            index=index,
        )
        return None
    recomputed = _cell_sums([cells for _, cells in counted.by_nullifier.values()], len(labels))
    published: list[tuple[str, Ciphertext]] = []
    wrong = []
    for label, item, mine in zip(labels, items, recomputed, strict=True):
        raw = _hex(item.get("ciphertext"), 64) if isinstance(item, dict) else None
        if not isinstance(item, dict) or set(item) != {"label", "ciphertext"} or raw is None:
            failures.add(
                f"tally-sums: the sum {label} is not {{label, ciphertext (hex)}}", index=index
            )
            return None
        if item["label"] != label:
            failures.add(
                f"tally-sums: the label {str(item['label'])[:64]!r} is not {label!r}", index=index
            )
            return None
        if compare and raw != mine:
            wrong.append(label)
        try:
            published.append((label, Ciphertext.from_bytes(raw)))
        except GroupError as exc:
            failures.add(f"tally-sums: the sum {label}: {exc}", index=index)
            return None
    if wrong:
        failures.add(
            f"tally-sums: {len(wrong)} sum(s) differ from the counted ballots' sums "
            f"({', '.join(wrong[:5])}{'…' if len(wrong) > 5 else ''})",
            index=index,
        )
    return published


_PARTIALS: Final = frozenset(
    {"format", "election", "manifest_hash", "trustee", "trustee_key", "public_share", "partials"}
)


def _check_partial(
    document: object, manifest: ManifestV2, sums: Sequence[tuple[str, Ciphertext]]
) -> tuple[int, list[Point]]:
    """One ``partials`` document (§10.5.4); raise :class:`InvalidInputError` naming the
    trustee and the label."""
    if not isinstance(document, dict) or set(document) != _PARTIALS:
        raise InvalidInputError(f"partials has exactly the members {sorted(_PARTIALS)}")
    if document["format"] != trustee.PARTIALS_FORMAT:
        raise InvalidInputError(f"partials is not a {trustee.PARTIALS_FORMAT} document")
    number = document["trustee"]
    trustees = manifest.encryption.trustees
    if type(number) is not int or not 1 <= number <= len(trustees):
        raise InvalidInputError("partials names no trustee of the manifest")
    who = f"trustee {number}"
    if document["election"] != manifest.election:
        raise InvalidInputError(f"{who}: made for another election")
    if document["manifest_hash"] != manifest.manifest_hash.hex():
        raise InvalidInputError(f"{who}: made for another manifest")
    member = trustees[number - 1]
    if document["trustee_key"] != member.static_key.encoded.hex():
        raise InvalidInputError(f"{who}: trustee_key is not the manifest's static key")
    if document["public_share"] != member.public_share.encoded.hex():
        raise InvalidInputError(f"{who}: public_share is not the manifest's")
    items = document["partials"]
    if not isinstance(items, list) or len(items) != len(sums):
        raise InvalidInputError(f"{who}: one partial per published sum ({len(sums)})")
    context = Context(manifest.election, manifest.manifest_hash, member.static_key.encoded)
    points = []
    for item, (label, ciphertext) in zip(items, sums, strict=True):
        if not isinstance(item, dict) or set(item) != {"label", "ciphertext", "partial", "proof"}:
            raise InvalidInputError(f"{who}: {label}: label, ciphertext, partial and proof")
        if item["label"] != label:
            raise InvalidInputError(
                f"{who}: the label {str(item['label'])[:64]!r} is not {label!r}"
            )
        if _hex(item["ciphertext"], 64) != ciphertext.to_bytes():
            raise InvalidInputError(f"{who}: {label}: the ciphertext is not the published sum")
        partial_raw, proof_raw = _hex(item["partial"], 32), _hex(item["proof"], 96)
        if partial_raw is None or proof_raw is None:
            raise InvalidInputError(f"{who}: {label}: partial (32 bytes) and proof (96) in hex")
        try:
            partial = Point.decode(partial_raw)
            verify_decryption(
                context,
                public_share=member.public_share,
                ciphertext=ciphertext,
                partial=partial,
                proof=DecryptionProof.from_bytes(proof_raw),
            )
        except ValueError as exc:  # GroupError, ProofError
            raise InvalidInputError(
                f"{who}: {label}: the partial decryption is refused: {exc}"
            ) from None
        points.append(partial)
    return number, points


def _check_partials(
    entries: Sequence[Any],
    walk: _Walk,
    manifest: ManifestV2,
    sums: Sequence[tuple[str, Ciphertext]] | None,
    failures: _Failures,
) -> dict[int, list[Point]]:
    valid: dict[int, list[Point]] = {}
    seen: set[int] = set()
    for index in walk.partials:
        if sums is None:
            failures.add("partial decryption not checked: no valid tally-sums", index=index)
            continue
        document = entries[index]["partials"]
        number = document.get("trustee") if isinstance(document, dict) else None
        if type(number) is int:
            if number in seen:
                failures.add(f"a second partial decryption by trustee {number}", index=index)
                continue
            seen.add(number)
        try:
            trustee_number, points = _check_partial(document, manifest, sums)
        except InvalidInputError as exc:
            failures.add(str(exc), index=index)
            continue
        valid[trustee_number] = points
    return valid


@dataclass(frozen=True, slots=True)
class _Tally:
    """What the results are checked against: the counted ballots, the published sums (or
    None when they are unusable) and the valid partial decryptions by trustee."""

    ballots: int
    sums: Sequence[tuple[str, Ciphertext]] | None
    partials: Mapping[int, list[Point]]


def _check_results(
    entries: Sequence[Any], walk: _Walk, manifest: ManifestV2, tally: _Tally, failures: _Failures
) -> bool:
    """The results entry (§10.5.4, §6, §2); True when it equals the recount."""
    if walk.results is None:
        return False
    index = walk.results
    entry = entries[index]
    before = len(failures.lines)
    close = entries[walk.close] if walk.close is not None else {}
    if entry["tokens_issued"] != close.get("tokens_issued"):
        failures.add("results state another number of tokens", index=index)
    if type(entry["ballots"]) is not int or entry["ballots"] != tally.ballots:
        failures.add(
            f"results count {entry['ballots']} ballots, the board has {tally.ballots}",
            index=index,
        )
    if entry["publication"] != "encrypted":
        failures.add("the publication of an encrypted election is 'encrypted'", index=index)
    paper = entries[walk.paper] if walk.paper is not None else None
    expected_paper = {"voters": paper["voters"], "counts": paper["counts"]} if paper else None
    if entry["paper"] != expected_paper:
        failures.add("results do not carry the paper counts", index=index)
    questions = manifest.terms.questions
    try:
        counts = _decrypted_counts(entry["trustees"], manifest, tally)
    except InvalidInputError as exc:
        failures.add(str(exc), index=index)
        return False
    by_question: dict[str, list[int]] = {}
    position = 0
    for question in questions:
        rows, columns = grid_shape(question)
        by_question[question.id] = counts[position : position + rows * columns]
        position += rows * columns
    recount = results_from_counts(questions, by_question, ballots=tally.ballots)
    if entry["results"] != recount:
        failures.add("the published results differ from the decrypted counts (§6)", index=index)
    return len(failures.lines) == before


def _decrypted_counts(listed: object, manifest: ManifestV2, tally: _Tally) -> list[int]:
    """Every sum's count (§10.4 "Counts"): Lagrange at 0 over ``listed`` (results.trustees),
    then baby-step giant-step bounded by the counted ballots; with no counted ballot, zeros
    and no trustee. Raise :class:`InvalidInputError` saying what prevents it."""
    labels = sum_labels(manifest.terms.questions)
    if not isinstance(listed, list) or not all(type(i) is int for i in listed):
        raise InvalidInputError("results.trustees is a list of trustee indices")
    if listed != sorted(set(listed)):
        raise InvalidInputError("results.trustees is sorted, without repetition")
    if not tally.ballots:
        if listed:
            raise InvalidInputError("with no counted ballot no trustee decrypts (trustees [])")
        return [0] * len(labels)
    threshold = manifest.encryption.threshold
    if len(tally.partials) < threshold:
        raise InvalidInputError(
            f"{len(tally.partials)} valid partial decryption(s), the threshold is {threshold}"
        )
    if len(listed) < threshold or any(i not in tally.partials for i in listed):
        raise InvalidInputError(
            f"results.trustees {listed} are not {threshold} or more trustees with a valid "
            "partial decryption"
        )
    if tally.sums is None:
        raise InvalidInputError("results not checked: no valid tally-sums")
    weights = lagrange_at_zero(listed)
    counts = []
    for position, (label, ciphertext) in enumerate(tally.sums):
        factor = IDENTITY
        for number in listed:
            factor = factor + tally.partials[number][position] * weights[number]
        try:
            counts.append(dlog(decrypt_to_point(ciphertext, factor), tally.ballots))
        except DlogError:
            raise InvalidInputError(
                f"the sum {label} does not decrypt to a count from 0 to {tally.ballots}"
            ) from None
    return counts


# -- the board -----------------------------------------------------------------------------


def is_encrypted_board(export: Mapping[str, Any]) -> bool:
    """Entry 0 is a ``dkg-setup`` (§10.1)."""
    entries = export.get("entries")
    return (
        isinstance(entries, list)
        and bool(entries)
        and isinstance(entries[0], dict)
        and entries[0].get("kind") == "dkg-setup"
    )


def verify_encrypted_board(
    export: Mapping[str, Any],
    *,
    trusted_key: str | None = None,
    receipt: str | None = None,
    workers: int | None = None,
    chunk: int | None = None,
    progress: Progress | None = None,
) -> VerificationReport:
    """Verify an encrypted board export (parsed JSON); raise :class:`EncryptedBoardError` with
    every failure, one line each (module docstring for the checks and their order)."""
    failures = _Failures()
    report = VerificationReport()
    try:
        _verify(
            export,
            failures,
            report,
            trusted_key=trusted_key,
            receipt=receipt,
            workers=workers,
            chunk=chunk,
            progress=progress,
        )
    except _StopError:
        pass
    except (TypeError, KeyError, AttributeError, IndexError, RecursionError) as exc:
        # A shape no check above anticipated: still one line, never a traceback (the
        # checks already recorded stay).
        failures.add(f"the board is malformed: {type(exc).__name__}: {str(exc)[:200]}")
    if failures.lines:
        raise EncryptedBoardError(failures.lines)
    return report


def _verify(  # noqa: PLR0915 - the checks of §10.5 in order
    export: Mapping[str, Any],
    failures: _Failures,
    report: VerificationReport,
    *,
    trusted_key: str | None,
    receipt: str | None,
    workers: int | None,
    chunk: int | None,
    progress: Progress | None,
) -> None:
    entries = export.get("entries")
    if export.get("format") != EXPORT_FORMAT or not isinstance(entries, list):
        raise failures.stop(f"not a board export (format {EXPORT_FORMAT} expected)")
    report.entries = len(entries)
    walk = _walk(entries, failures)
    if walk.manifest is None:
        raise failures.stop("an encrypted board has a manifest entry after dkg-complete")
    try:
        manifest = parse_manifest_v2(entries[walk.manifest]["manifest"])
    except (DomainError, ValueError) as exc:
        raise failures.stop(f"manifest: {exc}", index=walk.manifest) from None
    terms = manifest.terms
    report.election = manifest.election
    report.eligible_population = terms.eligible_population
    if export.get("origin") != terms.board_origin:
        failures.add("the export's origin is not the manifest's board origin")
    if trusted_key is not None:
        try:
            trusted = VerifierKey.parse(trusted_key) == terms.verifier_key()
        except DomainError:
            trusted = False
        if not trusted:
            failures.add("the manifest's board key is not the key you trust")
    if terms.paper is False and walk.paper is not None:
        failures.add("a paper entry but the manifest has no paper channel", index=walk.paper)

    _check_ceremony(entries, walk, manifest, failures)
    report.checks.append(
        f"ceremony: attempt {manifest.encryption.attempt}, "
        f"{manifest.encryption.threshold} of {len(manifest.encryption.trustees)} trustees; "
        "round-1 envelopes, proofs of possession, transcript signatures, group key and "
        "verification shares; the manifest's encryption is its outcome"
    )

    counted = _check_ballots(
        entries, walk, manifest, failures, workers=workers, chunk=chunk, progress=progress
    )
    leaves = [counted.leaves.get(i) or leaf_of(e) for i, e in enumerate(entries)]
    report.checkpoints = _check_checkpoints(export, manifest, leaves, failures)
    report.checks.append(
        f"{report.checkpoints} checkpoint(s) signed by {terms.board_origin}, each "
        f"consistent with the {len(entries)} entries"
    )
    report.ballots_on_board = counted.shown
    report.counted_ballots = len(counted.by_nullifier)
    report.checks.append(
        f"{counted.shown} ballot(s): tokens under the manifest key "
        f"{terms.issuer_key_id.hex()[:16]}…, ballot signatures and every proof hold"
    )

    close = entries[walk.close] if walk.close is not None else None
    report.tokens_issued = close["tokens_issued"] if close is not None else walk.issued
    _check_counts(report, terms, failures)

    sums = _check_sums(entries, walk, manifest, counted, failures)
    partials = _check_partials(entries, walk, manifest, sums, failures)
    if walk.sums is not None:
        report.checks.append(
            f"tally-sums: {len(sum_labels(terms.questions))} sums of the "
            f"{report.counted_ballots} counted ballots; {len(partials)} partial "
            "decryption(s) verify against their trustees' public shares"
        )
    ballots = len(counted.by_nullifier)
    if counted.faults and walk.sums is not None:
        published = entries[walk.sums]["ballots"]
        # The published count bounds the discrete logarithms: never above the ballots shown.
        if type(published) is int and 0 <= published <= counted.shown:
            ballots = published
    tally = _Tally(ballots, sums, partials)
    report.recounted = _check_results(entries, walk, manifest, tally, failures)
    if report.recounted:
        report.checks.append("the published results equal the decrypted counts (§6)")
    if receipt is not None:
        _find_receipt(receipt, counted, report, failures)


def _check_counts(report: VerificationReport, terms: Manifest, failures: _Failures) -> None:
    """Counted ballots ≤ tokens issued ≤ eligible population (§8.6)."""
    tokens = report.tokens_issued
    if type(tokens) is not int:
        return
    if report.counted_ballots > tokens:
        failures.add(f"{report.counted_ballots} ballots counted but only {tokens} tokens issued")
    elif tokens > terms.eligible_population:
        failures.add(
            f"{tokens} tokens issued for an eligible population of {terms.eligible_population}"
        )
    else:
        report.checks.append(
            f"ballots ({report.counted_ballots}) ≤ tokens issued ({tokens}) ≤ eligible "
            f"population ({terms.eligible_population})"
        )


def _find_receipt(
    receipt: str, counted: _Counted, report: VerificationReport, failures: _Failures
) -> None:
    """A receipt's tracking code names a ballot on the board (§5)."""
    wanted = normalise_tracking_code(receipt)
    found = [i for i, leaf in counted.leaves.items() if leaf and tracking_code(leaf) == wanted]
    if found:
        report.receipt_index = found[0]
        report.checks.append(f"receipt {receipt} names entry {found[0]}")
    else:
        failures.add(f"no ballot on the board has the tracking code {wanted}")
