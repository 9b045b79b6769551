"""The election manifest: entry 0 of every bulletin board (voting-protocol.md, "Keys and the
bulletin board").

Pure core. The manifest commits, before the first token is issued, to everything a voter's
device and a verifier need: the questions and their rules, the opening and closing times,
the eligibility rule and the eligible-population count, the issuer's RSA public key (SPKI
DER) and its key id ``SHA-256(SPKI)``, the board's checkpoint key, whether re-voting is
allowed and the minimum anonymity set. Clients refuse to blind against any other key.

Wire form (``docs/board-format.md``): a JSON object with exactly these members, hashed and
signed in its RFC 8785 canonical form::

    {"format": "parvis-manifest-v1", "election": UUID, "title": {"fr": …, "en": …},
     "questions": [...], "opens_at": RFC3339, "closes_at": RFC3339,
     "eligibility": {"rule": ID, "population": INT},
     "issuer": {"spki": B64U, "key_id": B64U, "variant": "RSABSSA-SHA384-PSS-Randomized"},
     "board": {"origin": TEXT, "key": VERIFIER-KEY-TEXT},
     "revote": BOOL, "min_anonymity_set": INT, "paper": BOOL, "batch_seconds": INT}

``batch_seconds`` (optional: manifests written before batched boards lack it) says how
often the board integrates the ballots waiting: at every multiple of it since the Unix
epoch, in a random order (docs/adr/0009-batched-boards.md).

Times are UTC, whole seconds, written ``YYYY-MM-DDTHH:MM:SSZ`` (RFC 3339 §5.6).

Version 2 (board-format.md §10.2, encrypted elections): every member above with
``"format": "parvis-manifest-v2"`` plus ``encryption`` (:class:`Encryption`: the joint key of
the trustees' ceremony, the threshold, the attempt, the transcript hash and each trustee's
label, static key and public share). Two hashes (§10.2, "Manifest hashes"):
:func:`manifest_hash` = ``SHA-256(JCS(manifest))`` of the whole manifest, the context of
every proof; :func:`terms_hash` = ``SHA-256(JCS(manifest without "encryption"))``, which the
ceremony's setup binds (the terms are fixed before the ceremony, the key after it).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Final

import rfc8785
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from parvis_verifier import rsabssa
from parvis_verifier.errors import InvalidInputError
from parvis_verifier.group import GroupError, Point
from parvis_verifier.note import VerifierKey
from parvis_verifier.questions import InvalidQuestionError, Question, parse_questions
from parvis_verifier.token import TOKEN_VARIANT, b64u_decode, b64u_encode, election_id_text
from parvis_verifier.token import parse_election_id as _parse_election_id

__all__ = [
    "CEREMONY_SUITE",
    "GROUP",
    "MANIFEST_FORMAT",
    "MANIFEST_FORMAT_V2",
    "Encryption",
    "EncryptionTrustee",
    "InvalidManifestError",
    "Manifest",
    "format_time",
    "manifest_hash",
    "parse_time",
    "terms_hash",
]

MANIFEST_FORMAT: Final = "parvis-manifest-v1"
MANIFEST_FORMAT_V2: Final = "parvis-manifest-v2"
#: board-format.md §10.2: the group of the ciphertexts and the ceremony's ciphersuite.
GROUP: Final = "ed25519"
CEREMONY_SUITE: Final = "COCKTAIL(Ed25519, SHA-512)"
_ENCRYPTION_MEMBERS: Final = frozenset(
    {"group", "ceremony", "joint_key", "threshold", "attempt", "transcript_sha512", "trustees"}
)
_MEMBERS = frozenset(
    {
        "format",
        "election",
        "title",
        "questions",
        "opens_at",
        "closes_at",
        "eligibility",
        "issuer",
        "board",
        "revote",
        "min_anonymity_set",
        "paper",
    }
)
#: Optional members (absent from manifests written before them).
_OPTIONAL = frozenset({"batch_seconds"})


class InvalidManifestError(InvalidInputError):
    """A manifest is malformed or inconsistent (e.g. its key id does not match its key)."""

    title = "Invalid election manifest"


def format_time(value: datetime) -> str:
    """RFC 3339 UTC with whole seconds: ``2026-03-01T08:00:00Z``."""
    if value.tzinfo is None:
        raise InvalidManifestError("manifest times must be timezone-aware")
    return value.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: object, *, field: str) -> datetime:
    """Parse exactly the form :func:`format_time` writes."""
    if not isinstance(text, str):
        raise InvalidManifestError(f"{field} must be an RFC 3339 UTC time string")
    try:
        value = datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise InvalidManifestError(f"{field} must look like 2026-03-01T08:00:00Z") from None
    return value


def _exact(obj: object, members: set[str] | frozenset[str], *, where: str) -> Mapping[str, Any]:
    if not isinstance(obj, Mapping) or set(obj) != set(members):
        raise InvalidManifestError(f"{where} must have exactly the members {sorted(members)}")
    return obj


def _count(value: object, *, field: str, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= 10**9:
        raise InvalidManifestError(f"{field} must be an integer ≥ {low}")
    return value


def _without_encryption(manifest: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in manifest.items() if k != "encryption"}


def manifest_hash(manifest: Mapping[str, Any]) -> bytes:
    """``SHA-256(JCS(manifest))`` (board-format.md §10.2): the whole manifest, as published."""
    return hashlib.sha256(rfc8785.dumps(dict(manifest))).digest()


def terms_hash(manifest: Mapping[str, Any]) -> bytes:
    """``SHA-256(JCS(manifest without its "encryption" member))`` (board-format.md §10.2):
    the ``manifest_hash`` of the ceremony's setup, computed before the joint key exists."""
    return hashlib.sha256(rfc8785.dumps(_without_encryption(manifest))).digest()


def _point(value: object, *, field: str) -> Point:
    try:
        data = b64u_decode(value, field=field)
        return Point.decode(data)
    except GroupError as exc:
        raise InvalidManifestError(f"{field}: {exc}") from None
    except InvalidInputError as exc:
        raise InvalidManifestError(str(exc)) from None


@dataclass(frozen=True, slots=True)
class EncryptionTrustee:
    """Participant ``i`` of the ceremony (``trustees[i-1]``): label and static key as in the
    setup, ``public_share`` = ``Y_i``."""

    label: str
    static_key: Point
    public_share: Point


@dataclass(frozen=True, slots=True)
class Encryption:
    """The ``encryption`` member of a v2 manifest (board-format.md §10.2)."""

    joint_key: Point
    threshold: int
    attempt: int
    transcript_sha512: bytes
    trustees: tuple[EncryptionTrustee, ...]

    def __post_init__(self) -> None:
        if not self.trustees:
            raise InvalidManifestError("encryption.trustees: at least one trustee")
        if not 1 <= self.threshold <= len(self.trustees):
            raise InvalidManifestError("encryption.threshold is from 1 to the trustee count")
        if self.attempt < 1:
            raise InvalidManifestError("encryption.attempt is at least 1")
        if len(self.transcript_sha512) != 64:
            raise InvalidManifestError("encryption.transcript_sha512 is 64 bytes")
        if len({t.static_key for t in self.trustees}) != len(self.trustees):
            raise InvalidManifestError("encryption.trustees: two trustees share a static key")
        if any(not t.label for t in self.trustees):
            raise InvalidManifestError("encryption.trustees: every label is a non-empty text")

    def to_json(self) -> dict[str, Any]:
        return {
            "group": GROUP,
            "ceremony": CEREMONY_SUITE,
            "joint_key": b64u_encode(self.joint_key.encoded),
            "threshold": self.threshold,
            "attempt": self.attempt,
            "transcript_sha512": b64u_encode(self.transcript_sha512),
            "trustees": [
                {
                    "label": t.label,
                    "static_key": b64u_encode(t.static_key.encoded),
                    "public_share": b64u_encode(t.public_share.encoded),
                }
                for t in self.trustees
            ],
        }

    @classmethod
    def from_json(cls, obj: object) -> Encryption:
        """Strict: exactly the members of §10.2, canonical B64U, valid group elements."""
        data = _exact(obj, _ENCRYPTION_MEMBERS, where="manifest.encryption")
        if data["group"] != GROUP:
            raise InvalidManifestError(f"encryption.group must be {GROUP!r}")
        if data["ceremony"] != CEREMONY_SUITE:
            raise InvalidManifestError(f"encryption.ceremony must be {CEREMONY_SUITE!r}")
        trustees = data["trustees"]
        if not isinstance(trustees, list):
            raise InvalidManifestError("encryption.trustees must be a list")
        parsed = []
        for position, item in enumerate(trustees):
            where = f"encryption.trustees[{position}]"
            entry = _exact(item, {"label", "static_key", "public_share"}, where=where)
            if not isinstance(entry["label"], str):
                raise InvalidManifestError(f"{where}.label must be a string")
            parsed.append(
                EncryptionTrustee(
                    label=entry["label"],
                    static_key=_point(entry["static_key"], field=f"{where}.static_key"),
                    public_share=_point(entry["public_share"], field=f"{where}.public_share"),
                )
            )
        try:
            transcript = b64u_decode(
                data["transcript_sha512"], field="encryption.transcript_sha512"
            )
        except InvalidInputError as exc:
            raise InvalidManifestError(str(exc)) from None
        return cls(
            joint_key=_point(data["joint_key"], field="encryption.joint_key"),
            threshold=_count(data["threshold"], field="encryption.threshold", low=1),
            attempt=_count(data["attempt"], field="encryption.attempt", low=1),
            transcript_sha512=transcript,
            trustees=tuple(parsed),
        )


@dataclass(frozen=True, slots=True)
class Manifest:
    """A parsed, self-consistent manifest (construct with :meth:`create` or :meth:`from_json`)."""

    election_id: bytes
    title: Mapping[str, str]
    questions: tuple[Question, ...]
    opens_at: datetime
    closes_at: datetime
    eligibility_rule: str
    eligible_population: int
    issuer_spki: bytes
    board_origin: str
    board_key: str
    revote: bool
    min_anonymity_set: int
    paper: bool
    batch_seconds: int | None = None
    #: Version 2 (an encrypted election) exactly when present (board-format.md §10.2).
    encryption: Encryption | None = None

    def __post_init__(self) -> None:
        if self.closes_at <= self.opens_at:
            raise InvalidManifestError("an election closes after it opens")
        if self.min_anonymity_set < 1:
            raise InvalidManifestError("the minimum anonymity set is at least 1")
        if self.batch_seconds is not None and (
            not 60 <= self.batch_seconds <= 86_400 or self.batch_seconds % 60
        ):
            raise InvalidManifestError("batch_seconds is whole minutes from 60 to 86400")
        # The board key must be a valid C2SP verifier key whose name is the board's origin.
        key = VerifierKey.parse(self.board_key)
        if key.name != self.board_origin:
            raise InvalidManifestError("the board key's name must be the board's origin")
        self.public_key()  # the SPKI must be a usable RSA key for the token variant

    # -- keys ----------------------------------------------------------------------------

    def public_key(self) -> rsa.RSAPublicKey:
        """The issuer key, loaded from the committed SPKI DER."""
        try:
            key = serialization.load_der_public_key(self.issuer_spki)
        except ValueError:
            raise InvalidManifestError("issuer.spki is not a DER SubjectPublicKeyInfo") from None
        if not isinstance(key, rsa.RSAPublicKey):
            raise InvalidManifestError("issuer.spki is not an RSA key")
        if not rsabssa.MIN_MODULUS_BITS <= key.key_size <= rsabssa.MAX_MODULUS_BITS:
            raise InvalidManifestError("issuer key size is outside 2048–8192 bits")
        return key

    @property
    def issuer_key_id(self) -> bytes:
        """``SHA-256(SPKI DER)`` — what clients compare before blinding."""
        return hashlib.sha256(self.issuer_spki).digest()

    def verifier_key(self) -> VerifierKey:
        return VerifierKey.parse(self.board_key)

    # -- wire form -----------------------------------------------------------------------

    @property
    def encrypted(self) -> bool:
        return self.encryption is not None

    def terms_json(self) -> dict[str, Any]:
        """An encrypted election's terms: the v2 manifest without ``encryption``, what the
        ceremony's setup binds (:func:`terms_hash`). Known before the joint key exists."""
        out = self.to_json()
        out["format"] = MANIFEST_FORMAT_V2
        out.pop("encryption", None)
        return out

    def hash(self) -> bytes:
        """:func:`manifest_hash` of this manifest."""
        return manifest_hash(self.to_json())

    def with_encryption(self, encryption: Encryption) -> Manifest:
        """The v2 manifest: these terms and the ceremony's outcome."""
        return replace(self, encryption=encryption)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "format": MANIFEST_FORMAT if self.encryption is None else MANIFEST_FORMAT_V2,
            "election": election_id_text(self.election_id),
            "title": dict(self.title),
            "questions": [q.to_json() for q in self.questions],
            "opens_at": format_time(self.opens_at),
            "closes_at": format_time(self.closes_at),
            "eligibility": {
                "rule": self.eligibility_rule,
                "population": self.eligible_population,
            },
            "issuer": {
                "spki": b64u_encode(self.issuer_spki),
                "key_id": b64u_encode(self.issuer_key_id),
                "variant": TOKEN_VARIANT.value,
            },
            "board": {"origin": self.board_origin, "key": self.board_key},
            "revote": self.revote,
            "min_anonymity_set": self.min_anonymity_set,
            "paper": self.paper,
        }
        if self.batch_seconds is not None:
            out["batch_seconds"] = self.batch_seconds
        if self.encryption is not None:
            out["encryption"] = self.encryption.to_json()
        return out

    def canonical_bytes(self) -> bytes:
        """RFC 8785 form: what the board's entry 0 commits to."""
        return rfc8785.dumps(self.to_json())

    @classmethod
    def from_json(cls, obj: object) -> Manifest:
        """Strictly parse a manifest; the published key id must match the published key.

        ``parvis-manifest-v1`` has no ``encryption``; ``parvis-manifest-v2`` must have it
        (board-format.md §10.2). Use :meth:`from_terms` for v2 terms without it."""
        version = obj.get("format") if isinstance(obj, Mapping) else None
        required = _MEMBERS | ({"encryption"} if version == MANIFEST_FORMAT_V2 else set())
        if not isinstance(obj, Mapping) or not required <= set(obj) <= required | _OPTIONAL:
            raise InvalidManifestError(
                f"manifest must have exactly the members {sorted(required)} "
                f"and may have {sorted(_OPTIONAL)}"
            )
        if version not in {MANIFEST_FORMAT, MANIFEST_FORMAT_V2}:
            raise InvalidManifestError(
                f"manifest format must be {MANIFEST_FORMAT} or {MANIFEST_FORMAT_V2}"
            )
        encryption = (
            Encryption.from_json(obj["encryption"]) if version == MANIFEST_FORMAT_V2 else None
        )
        return replace(cls._parse_terms(obj), encryption=encryption)

    @classmethod
    def from_terms(cls, obj: object) -> Manifest:
        """Parse an encrypted election's terms (:meth:`terms_json`): a v2 manifest without
        ``encryption``; the result has ``encryption`` None until :meth:`with_encryption`."""
        if not isinstance(obj, Mapping) or obj.get("format") != MANIFEST_FORMAT_V2:
            raise InvalidManifestError(
                f"the terms of an encrypted election are {MANIFEST_FORMAT_V2}"
            )
        if not _MEMBERS <= set(obj) <= _MEMBERS | _OPTIONAL:
            raise InvalidManifestError(
                f"the terms have exactly the members {sorted(_MEMBERS)} "
                f"and may have {sorted(_OPTIONAL)}"
            )
        return cls._parse_terms(obj)

    @classmethod
    def _parse_terms(cls, data: Mapping[str, Any]) -> Manifest:
        try:
            election_id = _parse_election_id(data["election"], field="manifest.election")
            questions = parse_questions(data["questions"])
        except InvalidQuestionError:
            raise
        except InvalidInputError as exc:
            raise InvalidManifestError(str(exc)) from None
        title = data["title"]
        if (
            not isinstance(title, Mapping)
            or "fr" not in title
            or not all(k in {"fr", "en"} and isinstance(v, str) and v for k, v in title.items())
        ):
            raise InvalidManifestError("manifest.title needs a French text (and may have 'en')")
        eligibility = _exact(
            data["eligibility"], {"rule", "population"}, where="manifest.eligibility"
        )
        issuer = _exact(data["issuer"], {"spki", "key_id", "variant"}, where="manifest.issuer")
        board = _exact(data["board"], {"origin", "key"}, where="manifest.board")
        if issuer["variant"] != TOKEN_VARIANT.value:
            raise InvalidManifestError(f"issuer.variant must be {TOKEN_VARIANT.value}")
        try:
            spki = b64u_decode(issuer["spki"], field="manifest.issuer.spki")
            key_id = b64u_decode(issuer["key_id"], field="manifest.issuer.key_id")
        except InvalidInputError as exc:
            raise InvalidManifestError(str(exc)) from None
        if not hmac.compare_digest(key_id, hashlib.sha256(spki).digest()):
            raise InvalidManifestError("issuer.key_id is not SHA-256 of issuer.spki")
        for flag in ("revote", "paper"):
            if not isinstance(data[flag], bool):
                raise InvalidManifestError(f"manifest.{flag} must be true or false")
        if not isinstance(eligibility["rule"], str) or not eligibility["rule"]:
            raise InvalidManifestError("manifest.eligibility.rule must be a non-empty string")
        if not isinstance(board["origin"], str) or not isinstance(board["key"], str):
            raise InvalidManifestError("manifest.board origin and key are strings")
        try:
            return cls(
                election_id=election_id,
                title=dict(title),
                questions=questions,
                opens_at=parse_time(data["opens_at"], field="manifest.opens_at"),
                closes_at=parse_time(data["closes_at"], field="manifest.closes_at"),
                eligibility_rule=eligibility["rule"],
                eligible_population=_count(
                    eligibility["population"], field="manifest.eligibility.population"
                ),
                issuer_spki=spki,
                board_origin=board["origin"],
                board_key=board["key"],
                revote=data["revote"],
                min_anonymity_set=_count(
                    data["min_anonymity_set"], field="manifest.min_anonymity_set", low=1
                ),
                paper=data["paper"],
                batch_seconds=(
                    _count(data["batch_seconds"], field="manifest.batch_seconds", low=60)
                    if "batch_seconds" in data
                    else None
                ),
            )
        except InvalidManifestError:
            raise
        except InvalidInputError as exc:  # e.g. a malformed board verifier key
            raise InvalidManifestError(str(exc)) from None
