"""The voter's side of Parvis voting: obtain a blind-signed token, then sign ballots.

Specifications: ``docs/design/voting-protocol.md`` ("Token issuance" steps 1-5,
"Casting"); RFC 9474 "RSA Blind Signatures" §4.1 ``Prepare``, §4.2 ``Blind``, §4.4
``Finalize`` with RSABSSA-SHA384-PSS-Randomized (§5); formats in :mod:`ballot.token`.

This module is pure: no HTTP library, no clock. The one network exchange of issuance
(send ``blinded_msg``, receive ``blind_sig``) is a callable the caller provides
(:data:`IssuanceTransport`), or the caller drives :func:`begin_issuance` and
:meth:`PendingIssuance.finish` itself (an async client, the browser booth's tests).
Randomness is injectable (``rng=``) for reproducible tests.

The client refuses to blind against any key whose key id (SHA-256 of the SPKI DER) differs
from the one committed in the election manifest: a personal key per voter would let the
issuer recognise the voter's token at casting time ("tagging").

Public names (``__all__``): ``IssuanceTransport``, ``PendingIssuance``, ``VotingRight``,
``begin_issuance``, ``obtain_voting_right``.
"""

from __future__ import annotations

import hmac
import json
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Final

import nacl.signing
import rfc8785
from cryptography.hazmat.primitives.asymmetric import rsa

from ballot import rsabssa
from ballot.errors import MalformedCastError, UncommittedKeyError
from ballot.token import (
    MAX_SEQ,
    TOKEN_VARIANT,
    Ballot,
    CastRequest,
    JSONValue,
    Token,
    TokenMessage,
    b64u_decode,
    b64u_encode,
    election_id_text,
    parse_election_id,
    sign_ballot,
)

__all__ = [
    "IssuanceTransport",
    "PendingIssuance",
    "VotingRight",
    "begin_issuance",
    "obtain_voting_right",
]

#: ``transport(blinded_msg) -> blind_sig``: one authenticated POST to
#: ``/elections/{id}/tokens``, with the session cookie and the session's CSRF token in the
#: ``X-CSRF-Token`` header (docs/ballot-api.md). Errors it raises propagate unchanged.
IssuanceTransport = Callable[[bytes], bytes]

#: Format label of a stored voting right (``VotingRight.to_json``).
VOTING_RIGHT_FORMAT: Final = "parvis-voting-right-v1"
_SEED_LENGTH: Final = 32
_KEY_ID_LENGTH: Final = 32


def _as_election_id(election_id: bytes | uuid.UUID) -> bytes:
    if isinstance(election_id, uuid.UUID):
        return election_id.bytes
    if not isinstance(election_id, bytes) or len(election_id) != 16:
        raise MalformedCastError("an election id is exactly 16 bytes", field="election")
    return election_id


@dataclass(frozen=True, slots=True)
class VotingRight:
    """What the voter keeps after issuance: the token and the ephemeral signing key.

    ``last_seq`` is the sequence number of the last ballot signed with this right, so
    that a re-vote after reloading continues with a higher one. The signing key never
    appears in ``repr``; :meth:`to_json` includes it because the right is useless
    without it — store that JSON as a secret.
    """

    election_id: bytes
    token: Token
    signing_key_seed: bytes = field(repr=False)
    last_seq: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.token, Token):
            raise MalformedCastError("a voting right needs a Token", field="token")
        if not hmac.compare_digest(self.token.message.election_id, self.election_id):
            raise MalformedCastError("the token was issued for another election", field="token.msg")
        if not isinstance(self.signing_key_seed, bytes) or len(self.signing_key_seed) != 32:
            raise MalformedCastError("the signing key seed must be 32 bytes", field="signing_key")
        voter_key = bytes(nacl.signing.SigningKey(self.signing_key_seed).verify_key)
        if not hmac.compare_digest(voter_key, self.token.message.voter_key):
            raise MalformedCastError(
                "the signing key does not match the token's voter key", field="signing_key"
            )
        if type(self.last_seq) is not int or not 0 <= self.last_seq <= MAX_SEQ:
            raise MalformedCastError("last_seq out of range", field="last_seq")

    def check(self, public_key: rsa.RSAPublicKey) -> None:
        """Verify the token under the election key (RFC 9474 §4.5); raise on failure."""
        self.token.verify(public_key)

    @property
    def voter_key(self) -> bytes:
        """The ballot's Ed25519 ``vk`` (from the token message): the ``vk`` of every proof
        of an encrypted ballot cast with this right (docs/board-format.md §10.3)."""
        return self.token.message.voter_key

    def cast(
        self, choices: dict[str, JSONValue], *, seq: int | None = None, encrypted: bool = False
    ) -> tuple[VotingRight, CastRequest]:
        """Sign a ballot; return the updated right (``last_seq = seq``) and the request.

        ``seq`` defaults to ``last_seq + 1`` and must exceed ``last_seq``: the ballot box
        keeps, per nullifier, the ballot with the highest ``seq`` (re-voting). With
        ``encrypted``, ``choices`` is an encrypted ballot's wire form (made with
        :attr:`voter_key` in its context) and goes in the ballot's ``encrypted`` member.
        """
        if seq is None:
            seq = self.last_seq + 1
        if type(seq) is not int or not self.last_seq < seq <= MAX_SEQ:
            raise MalformedCastError(
                f"seq must be an integer in ({self.last_seq}, {MAX_SEQ}]", field="ballot.seq"
            )
        ballot = Ballot(election_id=self.election_id, seq=seq, choices=choices, encrypted=encrypted)
        request = CastRequest(
            token=self.token,
            ballot=ballot,
            ballot_sig=sign_ballot(self.signing_key_seed, ballot),
        )
        return replace(self, last_seq=seq), request

    def to_json(self) -> str:
        """Serialise for storage (canonical JSON). Contains the secret signing key."""
        document: dict[str, JSONValue] = {
            "format": VOTING_RIGHT_FORMAT,
            "election": election_id_text(self.election_id),
            "token": self.token.to_json(),
            "signing_key": b64u_encode(self.signing_key_seed),
            "last_seq": self.last_seq,
        }
        return rfc8785.dumps(document).decode("utf-8")

    @classmethod
    def from_json(cls, text: str | bytes) -> VotingRight:
        """Strictly parse what :meth:`to_json` wrote (same members, same encodings)."""
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise MalformedCastError("voting right is not valid JSON", field="") from exc
        names = {"format", "election", "token", "signing_key", "last_seq"}
        if not isinstance(obj, dict) or set(obj) != names:
            raise MalformedCastError(f"a voting right has exactly {sorted(names)}", field="")
        if obj["format"] != VOTING_RIGHT_FORMAT:
            raise MalformedCastError("unknown voting right format", field="format")
        return cls(
            election_id=parse_election_id(obj["election"], field="election"),
            token=Token.from_json(obj["token"]),
            signing_key_seed=b64u_decode(obj["signing_key"], field="signing_key"),
            last_seq=obj["last_seq"],
        )


@dataclass(frozen=True, slots=True)
class PendingIssuance:
    """Client state between ``Blind`` and ``Finalize``; send :attr:`blinded_msg`.

    ``inv`` and the prepared message are secrets until the end of the election: with
    them, anyone holding the issuance record could link the token to the voter.
    """

    election_id: bytes
    public_key: rsa.RSAPublicKey = field(repr=False)
    blinded_msg: bytes
    msg: bytes = field(repr=False)
    msg_prefix: bytes = field(repr=False)
    inv: bytes = field(repr=False)
    signing_key_seed: bytes = field(repr=False)

    def finish(self, blind_sig: bytes) -> VotingRight:
        """RFC 9474 §4.4 ``Finalize``: unblind, verify, and return the voting right.

        Raises :class:`~ballot.errors.InvalidSignatureError` if the issuer's answer does
        not give a valid token (a wrong or malicious blind signature).
        """
        sig = rsabssa.finalize(
            self.public_key,
            self.msg_prefix + self.msg,
            blind_sig=blind_sig,
            inv=self.inv,
            variant=TOKEN_VARIANT,
        )
        return VotingRight(
            election_id=self.election_id,
            token=Token(msg_prefix=self.msg_prefix, msg=self.msg, sig=sig),
            signing_key_seed=self.signing_key_seed,
        )


def begin_issuance(
    public_key: rsa.RSAPublicKey,
    *,
    election_id: bytes | uuid.UUID,
    committed_key_id: bytes,
    rng: rsabssa.Rng | None = None,
) -> PendingIssuance:
    """Protocol steps 1-3: ephemeral key, nonce, token message, ``Prepare`` and ``Blind``.

    Refuses (:class:`UncommittedKeyError`) unless ``key_id(public_key)`` equals
    ``committed_key_id``, the key id published in the election manifest (entry 0 of the
    bulletin board) before the first token was issued.
    """
    eid = _as_election_id(election_id)
    if not isinstance(committed_key_id, bytes) or len(committed_key_id) != _KEY_ID_LENGTH:
        raise UncommittedKeyError("the committed key id must be 32 bytes")
    if not hmac.compare_digest(rsabssa.key_id(public_key), committed_key_id):
        raise UncommittedKeyError("refusing to blind: key id differs from the manifest's")
    draw = rng or secrets.token_bytes
    seed = draw(_SEED_LENGTH)
    nonce = draw(32)
    if len(seed) != _SEED_LENGTH or len(nonce) != 32:
        raise MalformedCastError("rng returned the wrong number of bytes", field="")
    voter_key = bytes(nacl.signing.SigningKey(seed).verify_key)
    msg = TokenMessage(election_id=eid, voter_key=voter_key, nonce=nonce).to_bytes()
    prepared = rsabssa.prepare(msg, TOKEN_VARIANT, rng=draw)
    blinded_msg, inv = rsabssa.blind(public_key, prepared, variant=TOKEN_VARIANT, rng=draw)
    return PendingIssuance(
        election_id=eid,
        public_key=public_key,
        blinded_msg=blinded_msg,
        msg=msg,
        msg_prefix=prepared[: rsabssa.PREFIX_LENGTH],
        inv=inv,
        signing_key_seed=seed,
    )


def obtain_voting_right(
    public_key: rsa.RSAPublicKey,
    *,
    election_id: bytes | uuid.UUID,
    committed_key_id: bytes,
    transport: IssuanceTransport,
    rng: rsabssa.Rng | None = None,
) -> VotingRight:
    """Run issuance end to end: blind, call ``transport(blinded_msg)``, finalize."""
    pending = begin_issuance(
        public_key, election_id=election_id, committed_key_id=committed_key_id, rng=rng
    )
    return pending.finish(transport(pending.blinded_msg))
