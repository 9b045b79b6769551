"""Token message, ballot and cast request formats, and ``verify_cast``."""

from __future__ import annotations

import copy
import hashlib
import json
import uuid
from collections.abc import Callable
from typing import Any

import nacl.signing
import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given
from hypothesis import strategies as st

from ballot import rsabssa
from ballot.client import VotingRight, obtain_voting_right
from ballot.errors import (
    InvalidBallotSignatureError,
    InvalidSignatureError,
    MalformedCastError,
    MalformedTokenError,
    WrongElectionError,
)
from ballot.token import (
    MAX_SEQ,
    TOKEN_DOMAIN,
    Ballot,
    CastRequest,
    TokenMessage,
    b64u_decode,
    b64u_encode,
    election_id_text,
    nullifier,
    parse_cast,
    parse_election_id,
    verify_cast,
)

ELECTION_A = uuid.UUID("0b8e6c3e-5d1f-4e0a-9b61-3a4f2d9c7e10")
ELECTION_B = uuid.UUID("6f1d2a44-98c7-4f0b-8d3e-0c5a7b9e2f31")
VOTER_KEY = bytes(nacl.signing.SigningKey(b"\x07" * 32).verify_key)


def issue_right(private_key: rsa.RSAPrivateKey, election: uuid.UUID) -> VotingRight:
    public_key = private_key.public_key()
    return obtain_voting_right(
        public_key,
        election_id=election,
        committed_key_id=rsabssa.key_id(public_key),
        transport=lambda blinded: rsabssa.blind_sign(private_key, blinded),
    )


@pytest.fixture(scope="module")
def right_a(key_2048: rsa.RSAPrivateKey) -> VotingRight:
    return issue_right(key_2048, ELECTION_A)


@pytest.fixture
def cast_a(right_a: VotingRight) -> dict[str, Any]:
    _right, request = right_a.cast({"q1": "yes"})
    document: dict[str, Any] = json.loads(request.to_json_bytes())
    return document


# ---- token message ----------------------------------------------------------------------


def test_token_message_layout() -> None:
    message = TokenMessage(election_id=ELECTION_A.bytes, voter_key=VOTER_KEY, nonce=b"\x01" * 32)
    data = message.to_bytes()
    assert len(TOKEN_DOMAIN) == 16
    assert data == b"parvis-ballot-v1" + ELECTION_A.bytes + VOTER_KEY + b"\x01" * 32
    assert len(data) == 96
    assert TokenMessage.from_bytes(data) == message
    assert nullifier(data) == hashlib.sha256(data).digest()


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d[:-1],
        lambda d: d + b"\x00",
        lambda d: b"parvis-ballot-v2" + d[16:],
        lambda d: b"PARVIS-BALLOT-V1" + d[16:],
        lambda d: b"",
    ],
    ids=["short", "long", "v2", "upper-case", "empty"],
)
def test_token_message_parse_is_strict(mutate: Callable[[bytes], bytes]) -> None:
    data = TokenMessage(
        election_id=ELECTION_A.bytes, voter_key=VOTER_KEY, nonce=b"\x01" * 32
    ).to_bytes()
    with pytest.raises(MalformedTokenError):
        TokenMessage.from_bytes(mutate(data))


@pytest.mark.parametrize(
    "voter_key",
    [
        b"\x00" * 32,  # not canonical / small order
        b"\x01" + b"\x00" * 31,  # the identity point: small order
        b"\xff" * 32,  # not a field element
        VOTER_KEY[:31],
    ],
    ids=["zero", "identity", "non-canonical", "short"],
)
def test_token_message_refuses_invalid_voter_keys(voter_key: bytes) -> None:
    with pytest.raises(MalformedTokenError):
        TokenMessage(election_id=ELECTION_A.bytes, voter_key=voter_key, nonce=b"\x01" * 32)


# ---- encodings --------------------------------------------------------------------------


@given(st.binary(max_size=80))
def test_b64u_round_trip(data: bytes) -> None:
    text = b64u_encode(data)
    assert "=" not in text
    assert b64u_decode(text, field="x") == data


@pytest.mark.parametrize(
    "text",
    ["AQ==", "AQ=", "A", "a+b/", "AQ\n", " AQ", "AR", "AB", "_x", "😀"],
    ids=[
        "padded",
        "half-padded",
        "one-char",
        "standard-alphabet",
        "newline",
        "space",
        "stray-bits-1",
        "stray-bits-2",
        "stray-bits-3",
        "emoji",
    ],
)
def test_b64u_decode_refuses_non_canonical_text(text: str) -> None:
    with pytest.raises(MalformedCastError):
        b64u_decode(text, field="x")


def test_election_id_text_is_canonical_uuid() -> None:
    assert election_id_text(ELECTION_A.bytes) == str(ELECTION_A)
    assert parse_election_id(str(ELECTION_A)) == ELECTION_A.bytes
    for text in (
        str(ELECTION_A).upper(),
        "{" + str(ELECTION_A) + "}",
        ELECTION_A.hex,
        ELECTION_A.urn,
        42,
    ):
        with pytest.raises(MalformedCastError):
            parse_election_id(text)


# ---- ballot -----------------------------------------------------------------------------


def test_ballot_signs_its_rfc8785_form() -> None:
    ballot = Ballot(election_id=ELECTION_A.bytes, seq=3, choices={"b": [2, 1], "a": "é"})
    assert (
        ballot.canonical_bytes()
        == ('{"choices":{"a":"é","b":[2,1]},"election":"' + str(ELECTION_A) + '","seq":3}').encode()
    )


def test_ballot_keeps_its_own_copy_of_choices() -> None:
    choices: dict[str, Any] = {"q": ["x"]}
    ballot = Ballot(election_id=ELECTION_A.bytes, seq=1, choices=choices)
    before = ballot.canonical_bytes()
    choices["q"].append("y")
    exported: Any = ballot.to_json()
    exported["choices"]["q"] = "mutated"
    assert ballot.canonical_bytes() == before


@pytest.mark.parametrize("seq", [0, -1, MAX_SEQ + 1, True, 1.0, "1"])
def test_ballot_refuses_bad_seq(seq: object) -> None:
    with pytest.raises(MalformedCastError):
        Ballot(election_id=ELECTION_A.bytes, seq=seq, choices={})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "choices", [[], "x", None, {"x": float("nan")}, {"x": 2**60}, {"x": 1e16}, {1: "x"}]
)
def test_ballot_refuses_non_canonicalizable_choices(choices: object) -> None:
    with pytest.raises(MalformedCastError):
        Ballot(election_id=ELECTION_A.bytes, seq=1, choices=choices)  # type: ignore[arg-type]


# ---- cast request: parsing --------------------------------------------------------------


def test_cast_request_round_trip(cast_a: dict[str, Any]) -> None:
    request = parse_cast(cast_a)
    assert isinstance(request, CastRequest)
    assert request.to_json() == cast_a
    assert parse_cast(json.dumps(cast_a)) == request
    assert parse_cast(json.dumps(cast_a).encode()) == request


def _drop(path: str) -> Callable[[dict[str, Any]], None]:
    def mutate(obj: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for name in parents:
            obj = obj[name]
        del obj[last]

    return mutate


def _set(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    def mutate(obj: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for name in parents:
            obj = obj[name]
        obj[last] = value

    return mutate


MALFORMED = {
    "missing-token": _drop("token"),
    "missing-ballot-sig": _drop("ballot_sig"),
    "missing-msg-prefix": _drop("token.msg_prefix"),
    "missing-seq": _drop("ballot.seq"),
    "extra-top": _set("extra", 1),
    "extra-token": _set("token.variant", "x"),
    "extra-ballot": _set("ballot.time", "now"),
    "token-not-object": _set("token", []),
    "sig-padded": lambda o: o["token"].__setitem__("sig", o["token"]["sig"] + "=="),
    "sig-standard-alphabet": _set("token.sig", "ab+/"),
    "sig-empty": _set("token.sig", ""),
    "prefix-short": _set("token.msg_prefix", b64u_encode(b"\x00" * 31)),
    "msg-number": _set("token.msg", 5),
    "ballot-sig-short": _set("ballot_sig", b64u_encode(b"\x00" * 63)),
    "seq-string": _set("ballot.seq", "1"),
    "seq-bool": _set("ballot.seq", True),
    "seq-float": _set("ballot.seq", 1.0),
    "seq-zero": _set("ballot.seq", 0),
    "choices-list": _set("ballot.choices", ["a"]),
    "election-upper": _set("ballot.election", str(ELECTION_A).upper()),
    "election-bytes": _set("ballot.election", b64u_encode(ELECTION_A.bytes)),
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_parse_cast_refuses_malformed_requests(cast_a: dict[str, Any], name: str) -> None:
    bad = copy.deepcopy(cast_a)
    MALFORMED[name](bad)
    with pytest.raises(MalformedCastError):
        parse_cast(bad)
    with pytest.raises(MalformedCastError):
        parse_cast(json.dumps(bad))


def test_parse_cast_refuses_a_malformed_token_message(cast_a: dict[str, Any]) -> None:
    bad = copy.deepcopy(cast_a)
    msg = b64u_decode(bad["token"]["msg"], field="msg")
    bad["token"]["msg"] = b64u_encode(b"parvis-ballot-v0" + msg[16:])
    with pytest.raises(MalformedTokenError):
        parse_cast(bad)


@pytest.mark.parametrize(
    "text",
    [
        '{"token": 1, "token": 2}',
        "[]",
        "not json",
        '{"a": NaN}',
        '{"a": Infinity}',
        "",
    ],
)
def test_parse_cast_refuses_non_json_and_duplicates(text: str) -> None:
    with pytest.raises(MalformedCastError):
        parse_cast(text)


def test_parse_cast_refuses_duplicate_members_inside(cast_a: dict[str, Any]) -> None:
    text = json.dumps(cast_a)
    doubled = text.replace('"seq": 1', '"seq": 1, "seq": 2')
    assert doubled != text
    with pytest.raises(MalformedCastError):
        parse_cast(doubled)


# ---- cast request: verification ---------------------------------------------------------


def test_verify_cast_accepts_the_valid_request(
    key_2048: rsa.RSAPrivateKey, right_a: VotingRight, cast_a: dict[str, Any]
) -> None:
    verified = verify_cast(key_2048.public_key(), expected_election_id=ELECTION_A, cast=cast_a)
    assert verified.election_id == ELECTION_A.bytes
    assert verified.nullifier == hashlib.sha256(right_a.token.msg).digest()
    assert verified.voter_key == right_a.token.message.voter_key
    assert verified.seq == 1
    assert verified.choices == {"q1": "yes"}
    # bytes form of the election id works the same
    assert (
        verify_cast(key_2048.public_key(), expected_election_id=ELECTION_A.bytes, cast=cast_a)
        == verified
    )


def test_a_token_for_election_a_is_refused_for_election_b(
    key_2048: rsa.RSAPrivateKey, right_a: VotingRight
) -> None:
    # The ballot names B, the token was issued for A: the token decides.
    ballot = Ballot(election_id=ELECTION_B.bytes, seq=1, choices={"q1": "yes"})
    from ballot.token import sign_ballot

    request = CastRequest(
        token=right_a.token, ballot=ballot, ballot_sig=sign_ballot(right_a.signing_key_seed, ballot)
    )
    with pytest.raises(WrongElectionError):
        verify_cast(key_2048.public_key(), expected_election_id=ELECTION_B, cast=request)


def test_a_cast_for_election_a_is_refused_at_election_b(
    key_2048: rsa.RSAPrivateKey, cast_a: dict[str, Any]
) -> None:
    with pytest.raises(WrongElectionError):
        verify_cast(key_2048.public_key(), expected_election_id=ELECTION_B, cast=cast_a)


def test_a_ballot_naming_another_election_is_refused(
    key_2048: rsa.RSAPrivateKey, right_a: VotingRight
) -> None:
    from ballot.token import sign_ballot

    ballot = Ballot(election_id=ELECTION_B.bytes, seq=1, choices={})
    request = CastRequest(
        token=right_a.token, ballot=ballot, ballot_sig=sign_ballot(right_a.signing_key_seed, ballot)
    )
    with pytest.raises(WrongElectionError):
        verify_cast(key_2048.public_key(), expected_election_id=ELECTION_A, cast=request)


def test_a_token_from_another_key_is_refused(
    key_3072: rsa.RSAPrivateKey, cast_a: dict[str, Any]
) -> None:
    with pytest.raises(InvalidSignatureError):
        verify_cast(key_3072.public_key(), expected_election_id=ELECTION_A, cast=cast_a)


def test_a_forged_token_is_refused(key_2048: rsa.RSAPrivateKey, right_a: VotingRight) -> None:
    """A voter who changes vk inside the message (to reuse the signature) is caught."""
    seed = b"\x42" * 32
    forged_vk = bytes(nacl.signing.SigningKey(seed).verify_key)
    msg = TokenMessage(
        election_id=ELECTION_A.bytes, voter_key=forged_vk, nonce=right_a.token.message.nonce
    ).to_bytes()
    ballot = Ballot(election_id=ELECTION_A.bytes, seq=1, choices={})
    from ballot.token import Token, sign_ballot

    request = CastRequest(
        token=Token(msg_prefix=right_a.token.msg_prefix, msg=msg, sig=right_a.token.sig),
        ballot=ballot,
        ballot_sig=sign_ballot(seed, ballot),
    )
    with pytest.raises(InvalidSignatureError):
        verify_cast(key_2048.public_key(), expected_election_id=ELECTION_A, cast=request)


@pytest.mark.parametrize("where", ["choices", "seq", "ballot_sig"])
def test_a_tampered_ballot_is_refused(
    key_2048: rsa.RSAPrivateKey, cast_a: dict[str, Any], where: str
) -> None:
    bad = copy.deepcopy(cast_a)
    if where == "choices":
        bad["ballot"]["choices"]["q1"] = "no"
    elif where == "seq":
        bad["ballot"]["seq"] = 2
    else:
        sig = bytearray(b64u_decode(bad["ballot_sig"], field="x"))
        sig[0] ^= 1
        bad["ballot_sig"] = b64u_encode(bytes(sig))
    with pytest.raises(InvalidBallotSignatureError):
        verify_cast(key_2048.public_key(), expected_election_id=ELECTION_A, cast=bad)


def test_a_ballot_signed_by_another_key_is_refused(
    key_2048: rsa.RSAPrivateKey, right_a: VotingRight
) -> None:
    from ballot.token import sign_ballot

    ballot = Ballot(election_id=ELECTION_A.bytes, seq=1, choices={})
    request = CastRequest(
        token=right_a.token, ballot=ballot, ballot_sig=sign_ballot(b"\x09" * 32, ballot)
    )
    with pytest.raises(InvalidBallotSignatureError):
        verify_cast(key_2048.public_key(), expected_election_id=ELECTION_A, cast=request)


def test_the_signature_covers_the_canonical_form_only(
    key_2048: rsa.RSAPrivateKey, cast_a: dict[str, Any]
) -> None:
    """Reordering members or whitespace changes nothing: the signature is over JCS."""
    text = json.dumps(cast_a, indent=3, sort_keys=False)
    reordered = json.dumps(dict(reversed(list(cast_a.items()))))
    for body in (text, reordered):
        verify_cast(key_2048.public_key(), expected_election_id=ELECTION_A, cast=body)
    assert rfc8785.dumps(cast_a) == parse_cast(text).to_json_bytes()


JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    # Integral doubles of 2^53 and beyond are refused (test_ballot_refuses_...): keep below.
    | st.floats(min_value=-(2.0**53) + 1, max_value=2.0**53 - 1)
    | st.text()
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(
    choices=st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=5),
    seq=st.integers(1, MAX_SEQ),
    election=st.uuids(),
)
def test_ballot_canonical_bytes_equal_rfc8785_of_the_whole_ballot(
    choices: dict[str, Any], seq: int, election: uuid.UUID
) -> None:
    ballot = Ballot(election_id=election.bytes, seq=seq, choices=choices)
    assert ballot.canonical_bytes() == rfc8785.dumps(ballot.to_json())
    assert Ballot.from_json(json.loads(ballot.canonical_bytes())) == ballot
