"""C2SP signed notes, checkpoints and cosignatures: round trips and every rejection rule.

Test keys: RFC 8032 §7.1 TEST 1-3 secrets and one counting seed; test-only, never used
outside this file.
"""

from __future__ import annotations

import base64
from typing import Any

import nacl.signing
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.errors import (
    CheckpointOriginError,
    CosignatureQuorumError,
    DuplicateSignatureError,
    InvalidSignatureError,
    MalformedCheckpointError,
    MalformedKeyError,
    MalformedNoteError,
    NoteError,
    UnverifiedNoteError,
)
from audit.note import (
    MAX_SIGNATURES,
    SIG_TYPE_COSIGNATURE_V1,
    SIG_TYPE_ED25519,
    Checkpoint,
    SignatureLine,
    Signer,
    VerifiedCheckpoint,
    VerifiedNote,
    VerifierKey,
    add_signatures,
    cosignature_message,
    open_checkpoint,
    open_note,
    sign_note,
)
from tests.audit.vectors import STANDARD_ROOTS

TEST1 = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
TEST2 = bytes.fromhex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")
TEST3 = bytes.fromhex("c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7")

ORIGIN = "example.com/log"
LOG = Signer(name=ORIGIN, seed=TEST1)
LOG2 = Signer(name="example.com/log-backup", seed=TEST3)
EVIL = Signer(name="evil.example", seed=bytes(range(32)))
WIT1 = Signer(name="witness.example/w1", seed=TEST2, key_type=SIG_TYPE_COSIGNATURE_V1)
WIT2 = Signer(name="witness.example/w2", seed=bytes(range(32)), key_type=SIG_TYPE_COSIGNATURE_V1)
T0 = 1_700_000_000

BODY = Checkpoint(origin=ORIGIN, size=8, root_hash=STANDARD_ROOTS[8]).text
ROOT8_B64 = base64.b64encode(STANDARD_ROOTS[8]).decode()
SIGNED = sign_note(BODY, signers=[LOG])
COSIGNED = add_signatures(SIGNED, signers=[WIT1, WIT2], timestamp=T0)


def _lines(note: str) -> tuple[str, list[str]]:
    text, block = note.rsplit("\n\n", 1)
    return text + "\n", block.splitlines(keepends=True)


def _line(signer: Signer, text: str = BODY, timestamp: int | None = None) -> str:
    return _lines(sign_note(text, signers=[signer], timestamp=timestamp))[1][0]


def _raw_line(name: str, raw: bytes) -> str:
    return f"\u2014 {name} {base64.b64encode(raw).decode()}\n"


# --- round trips ------------------------------------------------------------------------------


def test_sign_and_verify_with_two_signers() -> None:
    note = sign_note(BODY, signers=[LOG, LOG2])
    assert note.startswith(BODY + "\n\u2014 example.com/log ")
    both = open_note(note, verifiers=[LOG.verifier, LOG2.verifier])
    assert [s.key_name for s in both.signatures] == [LOG.name, LOG2.name]
    assert all(s.key_type == SIG_TYPE_ED25519 and s.timestamp is None for s in both.signatures)
    assert both.text == BODY

    only_second = open_note(note, verifiers=[LOG2.verifier])
    assert [s.key_name for s in only_second.signatures] == [LOG2.name]
    # The first key is unknown to this verifier: ignored, kept aside, not verified.
    assert [u.key_name for u in only_second.unverified] == [LOG.name]


def test_notes_are_accepted_as_bytes() -> None:
    assert open_note(SIGNED.encode(), verifiers=[LOG.verifier]).text == BODY


def test_text_with_empty_lines_is_split_at_the_last_one() -> None:
    text = "first paragraph\n\nsecond paragraph\n"
    note = sign_note(text, signers=[LOG])
    assert open_note(note, verifiers=[LOG.verifier]).text == text


def test_cosigned_checkpoint_round_trip() -> None:
    result = open_checkpoint(
        COSIGNED,
        origin=ORIGIN,
        log_key=LOG.verifier,
        witnesses=[WIT1.verifier, WIT2.verifier],
        witness_quorum=2,
        now=T0,
    )
    assert isinstance(result, VerifiedCheckpoint)
    assert result.checkpoint == Checkpoint.parse(BODY)
    assert [(c.key_name, c.timestamp) for c in result.cosignatures] == [
        (WIT1.name, T0),
        (WIT2.name, T0),
    ]
    assert all(c.key_type == SIG_TYPE_COSIGNATURE_V1 for c in result.cosignatures)


def test_recosigning_replaces_the_witness_line() -> None:
    later = add_signatures(COSIGNED, signers=[WIT1], timestamp=T0 + 60)
    _, lines = _lines(later)
    assert len(lines) == 3
    assert sum(line.startswith(f"\u2014 {WIT1.name} ") for line in lines) == 1
    result = open_checkpoint(
        later, origin=ORIGIN, log_key=LOG.verifier, witnesses=[WIT1.verifier, WIT2.verifier]
    )
    assert {c.key_name: c.timestamp for c in result.cosignatures} == {
        WIT1.name: T0 + 60,
        WIT2.name: T0,
    }


def test_cosignature_message_layout() -> None:
    assert cosignature_message(BODY, timestamp=T0) == (
        f"cosignature/v1\ntime 1700000000\n{BODY}".encode()
    )


# --- unknown, duplicate and failing signers (signed-note "Signatures") ------------------------


def test_a_note_needs_one_verified_known_signature() -> None:
    with pytest.raises(UnverifiedNoteError, match="no signature from a known key"):
        open_note(SIGNED, verifiers=[LOG2.verifier])
    with pytest.raises(UnverifiedNoteError):
        open_note(SIGNED, verifiers=[])


def test_same_id_other_name_and_same_name_other_id_are_unknown_keys() -> None:
    text, [line] = _lines(SIGNED)
    raw = base64.b64decode(line.split(" ")[2])
    renamed = text + "\n" + _raw_line("other.example", raw)
    with pytest.raises(UnverifiedNoteError):
        open_note(renamed, verifiers=[LOG.verifier])
    reid = text + "\n" + _raw_line(LOG.name, b"\x00\x00\x00\x00" + raw[4:])
    with pytest.raises(UnverifiedNoteError):
        open_note(reid, verifiers=[LOG.verifier])


def test_signature_under_a_known_name_and_id_by_another_key_is_rejected() -> None:
    # An attacker who copies the log's name and key id still cannot sign.
    evil_sig = base64.b64decode(_line(EVIL).split(" ")[2])[4:]
    forged = BODY + "\n" + _raw_line(LOG.name, LOG.verifier.key_id + evil_sig)
    with pytest.raises(InvalidSignatureError, match="does not verify") as caught:
        open_note(forged, verifiers=[LOG.verifier])
    assert caught.value.key_name == LOG.name
    assert caught.value.key_id == LOG.verifier.key_id


def test_one_failing_known_signature_rejects_the_whole_note() -> None:
    text, [good, other] = _lines(sign_note(BODY, signers=[LOG, LOG2]))
    raw = bytearray(base64.b64decode(other.split(" ")[2]))
    raw[10] ^= 1
    note = text + "\n" + good + _raw_line(LOG2.name, bytes(raw))
    with pytest.raises(InvalidSignatureError) as caught:
        open_note(note, verifiers=[LOG.verifier, LOG2.verifier])
    assert caught.value.key_name == LOG2.name


def test_duplicate_signature_lines_by_a_known_key_are_an_error() -> None:
    text, [line] = _lines(SIGNED)
    with pytest.raises(DuplicateSignatureError, match="more than one signature by"):
        open_note(text + "\n" + line + line, verifiers=[LOG.verifier])
    # The Go library would skip the second line unverified; here it is an error too.
    raw = bytearray(base64.b64decode(line.split(" ")[2]))
    raw[-1] ^= 1
    with pytest.raises(DuplicateSignatureError):
        open_note(text + "\n" + line + _raw_line(LOG.name, bytes(raw)), verifiers=[LOG.verifier])


def test_repeated_unknown_lines_are_ignored() -> None:
    text, [line] = _lines(SIGNED)
    unknown = _line(LOG2)
    result = open_note(text + "\n" + unknown + line + unknown, verifiers=[LOG.verifier])
    assert len(result.signatures) == 1
    assert [u.key_name for u in result.unverified] == [LOG2.name]


def test_the_same_verifier_given_twice_is_harmless() -> None:
    assert open_note(SIGNED, verifiers=[LOG.verifier, LOG.verifier]).signatures


def test_sixteen_signatures_are_accepted_and_the_limit_is_enforced() -> None:
    text, [line] = _lines(SIGNED)
    others = [_raw_line(f"unknown{i}.example", b"\x00\x00\x00\x01" + bytes(64)) for i in range(120)]
    accepted = text + "\n" + line + "".join(others[:15])
    assert len(open_note(accepted, verifiers=[LOG.verifier]).unverified) == 15
    at_limit = text + "\n" + line + "".join(others[: MAX_SIGNATURES - 1])
    assert open_note(at_limit, verifiers=[LOG.verifier]).signatures
    over = text + "\n" + line + "".join(others[:MAX_SIGNATURES])
    with pytest.raises(MalformedNoteError, match=f"more than {MAX_SIGNATURES} signature lines"):
        open_note(over, verifiers=[LOG.verifier])


# --- note syntax (signed-note "Format") -------------------------------------------------------


def _swap(old: str, new: str, note: str = SIGNED) -> str:
    assert old in note
    return note.replace(old, new, 1)


MALFORMED_NOTES = [
    pytest.param(_swap("\u2014 ", "- "), "EM DASH", id="hyphen-instead-of-em-dash"),
    pytest.param(_swap("\u2014 ", "\u2013 "), "EM DASH", id="en-dash"),
    pytest.param(_swap("\u2014 ", "\u2014"), "EM DASH", id="em-dash-without-space"),
    pytest.param(_swap("\u2014 ", "\u2014  "), "key name is empty", id="two-spaces"),
    pytest.param(_swap("\n\n", "\n"), "no empty line", id="missing-blank-line"),
    pytest.param(SIGNED[:-1], "does not end with a newline", id="missing-final-newline"),
    pytest.param(BODY + "\n", "no signature lines", id="no-signatures"),
    pytest.param(SIGNED.replace("\n", "\r\n"), "control character", id="crlf"),
    pytest.param(_swap("8\n", "8\t\n"), "control character", id="tab-in-text"),
    pytest.param(SIGNED + "\n", "no signature lines", id="trailing-empty-line"),
    pytest.param(SIGNED[:-2] + "!\n", "not valid standard base64", id="bad-base64-char"),
    pytest.param(SIGNED[:-2] + "\n", "not valid standard base64", id="missing-padding"),
    pytest.param(SIGNED[:-1] + " \n", "not valid standard base64", id="trailing-space"),
    pytest.param(_swap(ORIGIN + " ", "bad+name "), "plus sign", id="plus-in-key-name"),
    pytest.param(
        BODY + "\n" + _raw_line(ORIGIN, b"\x01\x02\x03\x04"), "shorter than", id="short-sig"
    ),
    pytest.param("\u2014 x AAAAAAA=\n", "no empty line", id="empty-text"),
]


@pytest.mark.parametrize(("note", "message"), MALFORMED_NOTES)
def test_malformed_notes_are_rejected(note: str, message: str) -> None:
    with pytest.raises(MalformedNoteError, match=message):
        open_note(note, verifiers=[LOG.verifier])


def test_an_extra_blank_line_changes_the_signed_text() -> None:
    # The text ends at the LAST empty line, so an extra one becomes part of the text.
    with pytest.raises(InvalidSignatureError):
        open_note(_swap("=\n\n", "=\n\n\n"), verifiers=[LOG.verifier])


def test_non_canonical_base64_is_rejected() -> None:
    # 66 bytes of signature end in "=="... 68 bytes: last base64 char holds 2 padding bits.
    text, [line] = _lines(SIGNED)
    b64 = line.split(" ")[2].rstrip("\n")
    assert b64.endswith("=")
    last = b64.rstrip("=")[-1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    sibling = alphabet[alphabet.index(last) ^ 1]  # differs only in a padding bit
    mangled = b64.rstrip("=")[:-1] + sibling + "=" * (len(b64) - len(b64.rstrip("=")))
    assert base64.b64decode(mangled) == base64.b64decode(b64)
    with pytest.raises(MalformedNoteError, match="canonical"):
        open_note(text + "\n" + f"\u2014 {LOG.name} {mangled}\n", verifiers=[LOG.verifier])


def test_invalid_utf8_is_rejected() -> None:
    with pytest.raises(MalformedNoteError, match="UTF-8"):
        open_note(b"\xff" + SIGNED.encode(), verifiers=[LOG.verifier])


# --- checkpoint bodies (tlog-checkpoint "Note text") ------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(f"{ORIGIN}\n8\n{ROOT8_B64}", "end with a newline", id="no-final-newline"),
        pytest.param(f"{ORIGIN}\n8\n", "at least 3", id="two-lines"),
        pytest.param(f"\n8\n{ROOT8_B64}\n", "origin is empty", id="empty-origin"),
        pytest.param(f" {ORIGIN}\n8\n{ROOT8_B64}\n", "leading or trailing", id="origin-space"),
        pytest.param(f"{ORIGIN} \n8\n{ROOT8_B64}\n", "leading or trailing", id="origin-trailing"),
        pytest.param(f"{ORIGIN}\n08\n{ROOT8_B64}\n", "leading zeros", id="leading-zero"),
        pytest.param(f"{ORIGIN}\n00\n{ROOT8_B64}\n", "leading zeros", id="double-zero"),
        pytest.param(f"{ORIGIN}\n+8\n{ROOT8_B64}\n", "sign", id="plus-sign"),
        pytest.param(f"{ORIGIN}\n-8\n{ROOT8_B64}\n", "sign", id="minus-sign"),
        pytest.param(f"{ORIGIN}\n8 \n{ROOT8_B64}\n", "spaces", id="size-trailing-space"),
        pytest.param(f"{ORIGIN}\n 8\n{ROOT8_B64}\n", "spaces", id="size-leading-space"),
        pytest.param(f"{ORIGIN}\n\uff18\n{ROOT8_B64}\n", "decimal", id="fullwidth-digit"),
        pytest.param(f"{ORIGIN}\n0x8\n{ROOT8_B64}\n", "decimal", id="hex-size"),
        pytest.param(f"{ORIGIN}\n\n{ROOT8_B64}\n", "decimal", id="empty-size"),
        pytest.param(f"{ORIGIN}\n{2**64}\n{ROOT8_B64}\n", "outside", id="size-too-big"),
        pytest.param(f"{ORIGIN}\n8\n {ROOT8_B64}\n", "base64", id="root-leading-space"),
        pytest.param(f"{ORIGIN}\n8\n{ROOT8_B64} \n", "base64", id="root-trailing-space"),
        pytest.param(f"{ORIGIN}\n8\n{ROOT8_B64[:-1]}\n", "base64", id="root-no-padding"),
        pytest.param(
            f"{ORIGIN}\n8\n{base64.b64encode(bytes(31)).decode()}\n", "31 bytes", id="root-31"
        ),
        pytest.param(
            f"{ORIGIN}\n8\n{base64.b64encode(bytes(33)).decode()}\n", "33 bytes", id="root-33"
        ),
        pytest.param(f"{ORIGIN}\n8\n{ROOT8_B64}\n\n", "extension line 0 is empty", id="empty-ext"),
        pytest.param(f"example\r.com\n8\n{ROOT8_B64}\n", "control", id="cr-in-origin"),
    ],
)
def test_malformed_checkpoints_are_rejected(body: str, message: str) -> None:
    with pytest.raises(MalformedCheckpointError, match=message):
        Checkpoint.parse(body)


def test_checkpoint_round_trips_including_size_zero_and_extensions() -> None:
    empty = Checkpoint.parse(f"{ORIGIN}\n0\n{ROOT8_B64}\n")
    assert empty.size == 0
    with_ext = Checkpoint.parse(f"{ORIGIN}\n8\n{ROOT8_B64}\nmeta one\nmeta two\n")
    assert with_ext.extensions == ("meta one", "meta two")
    assert with_ext.text == f"{ORIGIN}\n8\n{ROOT8_B64}\nmeta one\nmeta two\n"
    biggest = Checkpoint.parse(f"{ORIGIN}\n{2**64 - 1}\n{ROOT8_B64}\n")
    assert biggest.size == 2**64 - 1
    assert Checkpoint.parse(BODY).text == BODY


@pytest.mark.parametrize(
    "kwargs",
    [
        {"origin": "", "size": 1, "root_hash": bytes(32)},
        {"origin": "a\nb", "size": 1, "root_hash": bytes(32)},
        {"origin": "o", "size": -1, "root_hash": bytes(32)},
        {"origin": "o", "size": True, "root_hash": bytes(32)},
        {"origin": "o", "size": 1, "root_hash": bytes(31)},
        {"origin": "o", "size": 1, "root_hash": bytes(32), "extensions": ("",)},
        {"origin": "o", "size": 1, "root_hash": bytes(32), "extensions": ("a\nb",)},
    ],
)
def test_invalid_checkpoints_cannot_be_constructed(kwargs: dict[str, Any]) -> None:
    with pytest.raises(MalformedCheckpointError):
        Checkpoint(**kwargs)


# --- open_checkpoint policy -------------------------------------------------------------------


def test_checkpoint_of_another_log_is_rejected() -> None:
    with pytest.raises(CheckpointOriginError) as caught:
        open_checkpoint(SIGNED, origin="example.com/other", log_key=LOG.verifier)
    assert (caught.value.expected, caught.value.found) == ("example.com/other", ORIGIN)


def test_witness_signatures_alone_do_not_make_a_checkpoint_valid() -> None:
    witness_only = sign_note(BODY, signers=[WIT1], timestamp=T0)
    with pytest.raises(UnverifiedNoteError, match="no signature by the log key"):
        open_checkpoint(
            witness_only, origin=ORIGIN, log_key=LOG.verifier, witnesses=[WIT1.verifier]
        )


def test_witness_quorum() -> None:
    with pytest.raises(CosignatureQuorumError) as caught:
        open_checkpoint(
            COSIGNED,
            origin=ORIGIN,
            log_key=LOG.verifier,
            witnesses=[WIT1.verifier],
            witness_quorum=2,
        )
    assert (caught.value.required, caught.value.found) == (2, 1)


def test_cosignature_from_the_future_is_rejected_when_now_is_given() -> None:
    with pytest.raises(InvalidSignatureError, match="after now"):
        open_checkpoint(
            COSIGNED, origin=ORIGIN, log_key=LOG.verifier, witnesses=[WIT1.verifier], now=T0 - 1
        )


def test_key_types_must_match_their_roles() -> None:
    with pytest.raises(MalformedKeyError, match="log key must be an Ed25519"):
        open_checkpoint(COSIGNED, origin=ORIGIN, log_key=WIT1.verifier)
    with pytest.raises(MalformedKeyError, match="not a cosignature"):
        open_checkpoint(COSIGNED, origin=ORIGIN, log_key=LOG.verifier, witnesses=[LOG2.verifier])


# --- cosignature tampering and type confusion -------------------------------------------------


def _witness_line(note: str, witness: Signer) -> str:
    return next(line for line in _lines(note)[1] if line.startswith(f"\u2014 {witness.name} "))


def test_tampered_cosignature_timestamp_fails() -> None:
    line = _witness_line(COSIGNED, WIT1)
    raw = bytearray(base64.b64decode(line.split(" ")[2]))
    raw[11] ^= 1  # last byte of the 8-byte timestamp
    note = BODY + "\n" + _raw_line(WIT1.name, bytes(raw))
    with pytest.raises(InvalidSignatureError) as caught:
        open_note(note, verifiers=[WIT1.verifier])
    assert caught.value.key_name == WIT1.name


def test_cosignature_over_another_body_fails() -> None:
    other_body = Checkpoint(origin=ORIGIN, size=9, root_hash=STANDARD_ROOTS[8]).text
    line = _witness_line(COSIGNED, WIT1)
    with pytest.raises(InvalidSignatureError):
        open_note(other_body + "\n" + line, verifiers=[WIT1.verifier])


def test_cosignature_timestamp_beyond_int63_is_rejected() -> None:
    timestamp = 2**63
    message = f"cosignature/v1\ntime {timestamp}\n{BODY}".encode()
    signature = nacl.signing.SigningKey(TEST2).sign(message).signature
    raw = WIT1.verifier.key_id + timestamp.to_bytes(8, "big") + signature
    with pytest.raises(InvalidSignatureError, match="exceeds"):
        open_note(BODY + "\n" + _raw_line(WIT1.name, raw), verifiers=[WIT1.verifier])
    with pytest.raises(NoteError, match="outside"):
        cosignature_message(BODY, timestamp=timestamp)


def test_key_type_is_bound_into_the_key_id() -> None:
    # The witness key configured as a plain Ed25519 (0x01) key has another key id, so the
    # cosignature line is an unknown signature for it, never checked with the wrong message.
    as_plain = VerifierKey(
        name=WIT1.name, key_type=SIG_TYPE_ED25519, public_key=WIT1.verifier.public_key
    )
    assert as_plain.key_id != WIT1.verifier.key_id
    with pytest.raises(UnverifiedNoteError):
        open_note(BODY + "\n" + _witness_line(COSIGNED, WIT1), verifiers=[as_plain])
    # A plain signature relabelled with the cosignature key id does not pass as one.
    plain_signer = Signer(name=WIT1.name, seed=TEST2)
    plain_sig = base64.b64decode(_line(plain_signer).split(" ")[2])[4:]
    relabelled = BODY + "\n" + _raw_line(WIT1.name, WIT1.verifier.key_id + plain_sig)
    with pytest.raises(InvalidSignatureError, match="cosignature is 64 bytes, want 72"):
        open_note(relabelled, verifiers=[WIT1.verifier])


def test_signing_rules() -> None:
    with pytest.raises(NoteError, match="needs a timestamp"):
        sign_note(BODY, signers=[WIT1])
    with pytest.raises(MalformedCheckpointError):
        sign_note("not a checkpoint\n", signers=[WIT1], timestamp=T0)
    with pytest.raises(NoteError, match="at least one signer"):
        sign_note(BODY, signers=[])
    with pytest.raises(NoteError, match="twice"):
        sign_note(BODY, signers=[LOG, Signer(name=ORIGIN, seed=TEST1)])
    with pytest.raises(MalformedNoteError, match="end with a newline"):
        sign_note("no newline", signers=[LOG])
    with pytest.raises(MalformedNoteError, match="control"):
        sign_note("bell\a\n", signers=[LOG])


# --- keys ---------------------------------------------------------------------------------------


def test_verifier_key_text_round_trip() -> None:
    for signer in (LOG, WIT1):
        assert VerifierKey.parse(signer.verifier.text) == signer.verifier


LOG_VKEY = LOG.verifier.text
LOG_ID = LOG.verifier.key_id.hex()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(f"{ORIGIN}+{LOG_ID}", "verifier key is not", id="missing-part"),
        pytest.param("+" + LOG_VKEY.split("+", 1)[1], "key name is empty", id="empty-name"),
        pytest.param("a b" + LOG_VKEY[len(ORIGIN) :], "Unicode space", id="space-in-name"),
        pytest.param(_swap(LOG_ID, LOG_ID.upper(), LOG_VKEY), "lowercase", id="uppercase"),
        pytest.param(_swap(LOG_ID, LOG_ID[:7], LOG_VKEY), "8 lowercase", id="7-hex"),
        pytest.param(_swap(LOG_ID, "00000000", LOG_VKEY), "does not match", id="bad-id"),
        pytest.param(LOG_VKEY[:-4], "29 bytes", id="truncated-key"),
        pytest.param(LOG_VKEY[:-1], "base64", id="unpadded-key"),
        pytest.param(
            f"{ORIGIN}+00000000+{base64.b64encode(bytes([2]) + bytes(32)).decode()}",
            "0x02 is not supported",
            id="ecdsa-type",
        ),
        pytest.param(
            f"{ORIGIN}+00000000+{base64.b64encode(bytes([1]) + bytes(31)).decode()}",
            "31 bytes",
            id="short-key",
        ),
        pytest.param(f"{ORIGIN}+00000000+", "empty", id="empty-key"),
    ],
)
def test_malformed_verifier_keys_are_rejected(text: str, message: str) -> None:
    with pytest.raises(MalformedKeyError, match=message):
        VerifierKey.parse(text)


def test_signer_key_text_round_trip_and_secrecy() -> None:
    for signer in (LOG, WIT1):
        secret = signer.secret_text()
        assert secret.startswith(f"PRIVATE+KEY+{signer.name}+{signer.verifier.key_id.hex()}+")
        parsed = Signer.parse(secret)
        assert parsed.verifier == signer.verifier
        assert parsed.key_type == signer.key_type
    assert TEST1.hex() not in repr(LOG)
    assert base64.b64encode(TEST1).decode()[:20] not in repr(LOG)
    assert Signer(name=ORIGIN, seed=TEST1) != LOG  # eq=False: no == on secrets


@pytest.mark.parametrize(
    "text",
    [
        LOG.secret_text().replace("PRIVATE+KEY", "PUBLIC+KEY"),
        LOG.secret_text().replace(f"+{LOG_ID}+", "+00000000+"),
        LOG.secret_text()[:-4],
        "PRIVATE+KEY+only",
    ],
)
def test_malformed_signer_keys_are_rejected_without_echoing_them(text: str) -> None:
    with pytest.raises(MalformedKeyError) as caught:
        Signer.parse(text)
    assert text not in str(caught.value)
    assert base64.b64encode(b"\x01" + TEST1).decode()[:16] not in str(caught.value)


def test_key_names_follow_the_spec() -> None:
    for bad in ("", "a+b", "a b", "a\u00a0b", "a\nb", "a\x00b"):
        with pytest.raises(MalformedKeyError):
            Signer(name=bad, seed=TEST1)
    with pytest.raises(MalformedKeyError, match="seed is 31 bytes"):
        Signer(name=ORIGIN, seed=TEST1[:31])
    with pytest.raises(MalformedNoteError):
        SignatureLine(key_name=ORIGIN, key_id=b"\x00\x00\x00", signature=b"x")


def test_verified_results_cannot_be_forged_by_construction() -> None:
    with pytest.raises(TypeError, match="open_note only"):
        VerifiedNote(text=BODY, signatures=(), unverified=(), _token=object())
    verified = open_note(SIGNED, verifiers=[LOG.verifier])
    with pytest.raises(TypeError, match="open_checkpoint only"):
        VerifiedCheckpoint(
            checkpoint=Checkpoint.parse(BODY), note=verified, cosignatures=(), _token=None
        )


# --- any tampering fails (property) -----------------------------------------------------------

REPLACEMENTS = ["\n", " ", "A", "a", "0", "9", "+", "/", "=", "\u2014", "-", "\u00a0", ""]


@settings(deadline=None, max_examples=300)
@given(
    position=st.integers(0, len(COSIGNED) - 1),
    replacement=st.sampled_from(REPLACEMENTS),
    insert=st.booleans(),
)
def test_any_single_character_change_is_rejected(
    position: int, replacement: str, *, insert: bool
) -> None:
    if insert:
        tampered = COSIGNED[:position] + replacement + COSIGNED[position:]
    else:
        tampered = COSIGNED[:position] + replacement + COSIGNED[position + 1 :]
    if tampered == COSIGNED:
        # Replacing a character by itself (or inserting nothing) is not a change.
        return
    with pytest.raises(NoteError):
        open_checkpoint(
            tampered,
            origin=ORIGIN,
            log_key=LOG.verifier,
            witnesses=[WIT1.verifier, WIT2.verifier],
            witness_quorum=2,
        )
