"""The tally of an encrypted board, as the verifier checks it (board-format.md §10.5.3,
§10.5.4, §10.4): ``tally-sums`` against the counted ballots, every ``partial-decryption``
against its trustee's public share over the published sums, at least ``threshold`` of them,
and the results: Lagrange combination of the listed trustees, baby-step giant-step bounded by
the counted ballots, §6 from the per-cell counts, the paper entry.

Pure core (the verifier distribution's dependencies only).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from parvis_verifier import trustee
from parvis_verifier.decryption_proof import DecryptionProof, verify_decryption
from parvis_verifier.elgamal import Ciphertext, DlogError, decrypt_to_point, dlog
from parvis_verifier.encrypted_ballot import grid_shape
from parvis_verifier.errors import InvalidInputError
from parvis_verifier.group import IDENTITY, GroupError, Point
from parvis_verifier.homomorphic_tally import lagrange_at_zero, results_from_counts
from parvis_verifier.transcript import Context
from parvis_verifier.verify_v2_entries import Failures, ManifestV2, Walk, hex_bytes, sum_labels

__all__ = ["Counted", "Tally", "check_partials", "check_results", "check_sums"]


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
class Counted:
    """Counted ballots (last per nullifier), every ballot leaf, and how many ballot or
    nullifier faults were found."""

    by_nullifier: dict[bytes, tuple[int, bytes]] = field(default_factory=dict)
    leaves: dict[int, bytes] = field(default_factory=dict)
    shown: int = 0
    faults: int = 0


def check_sums(  # noqa: PLR0911 - each malformed shape stops the comparison
    entries: Sequence[Any],
    walk: Walk,
    manifest: ManifestV2,
    counted: Counted,
    failures: Failures,
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
        raw = hex_bytes(item.get("ciphertext"), 64) if isinstance(item, dict) else None
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
        if hex_bytes(item["ciphertext"], 64) != ciphertext.to_bytes():
            raise InvalidInputError(f"{who}: {label}: the ciphertext is not the published sum")
        partial_raw, proof_raw = hex_bytes(item["partial"], 32), hex_bytes(item["proof"], 96)
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


def check_partials(
    entries: Sequence[Any],
    walk: Walk,
    manifest: ManifestV2,
    sums: Sequence[tuple[str, Ciphertext]] | None,
    failures: Failures,
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
class Tally:
    """What the results are checked against: the counted ballots, the published sums (or
    None when they are unusable) and the valid partial decryptions by trustee."""

    ballots: int
    sums: Sequence[tuple[str, Ciphertext]] | None
    partials: Mapping[int, list[Point]]


def check_results(
    entries: Sequence[Any], walk: Walk, manifest: ManifestV2, tally: Tally, failures: Failures
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


def _decrypted_counts(listed: object, manifest: ManifestV2, tally: Tally) -> list[int]:
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
