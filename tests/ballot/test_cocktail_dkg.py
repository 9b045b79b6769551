"""C2SP COCKTAIL-DKG, ``COCKTAIL(Ed25519, SHA-512)`` (ballot/cocktail_dkg.py).

First the published vectors (C2SP/CCTV ``cocktail-dkg-ed25519-sha512.json``, v0.2.0, copied
in ``tests/vectors/c2sp/``): every value of every vector is recomputed and compared byte for
byte, and :func:`test_every_vector_field_is_checked` fails if the file holds a field these
tests do not read. Then a ceremony run end to end with fresh randomness, and the faults the
spec says must be detected and blamed on the participant who caused them.

What the vectors do not let anyone recompute: the ephemeral secrets ``e_i`` and the
coefficients ``a_{i,k}`` come from an implementation's "RNG stream" seeded by
``round1_participant_{i}``, which neither the spec nor the vector README defines. So the
ephemeral public keys ``E_i`` are taken from the file; ``a_{i,0}`` is read from the PoP's
``nonce_input`` (which holds ``encode(sk)``); the rest of each polynomial is interpolated
from ``t`` decrypted shares and must then reproduce ``a_{i,0}``, the other ``n − t`` shares,
the commitment, the PoP and every ciphertext.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import nacl.bindings as sodium
import nacl.exceptions
import nacl.signing
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ballot import cocktail_dkg as dkg
from ballot.group import BASE, IDENTITY, ORDER, Point, Scalar

VECTORS_FILE = Path(__file__).parents[1] / "vectors" / "c2sp" / "cocktail-dkg-ed25519-sha512.json"
DATA: dict[str, Any] = json.loads(VECTORS_FILE.read_text())
VECTORS: list[dict[str, Any]] = DATA["vectors"]
IDS = [f"{v['t']}-of-{v['n']}" + ("-payload" if "payloads" in v else "") for v in VECTORS]
NONCE_PREFIX = b"COCKTAIL-DKG-Ed25519-SHA512-NONCE"


def h(value: str) -> bytes:
    return bytes.fromhex(value)


def labelled(vector: dict[str, Any], label: str) -> bytes:
    """The vectors' transparent derivation: ``H(seed || ciphersuite_id || uint32_le(t) ||
    uint32_le(n) || label)`` (spec Appendix B)."""
    return hashlib.sha512(
        h(DATA["seed"])
        + dkg.CIPHERSUITE_ID
        + vector["t"].to_bytes(4, "little")
        + vector["n"].to_bytes(4, "little")
        + label.encode()
    ).digest()


def static_secrets(vector: dict[str, Any]) -> list[Scalar]:
    return [Scalar(h(x)) for x in vector["config"]["static_secret_keys"]]


def config_of(vector: dict[str, Any]) -> dkg.Configuration:
    return dkg.Configuration.for_session(
        session_id=h(vector["session_tag"]),
        threshold=vector["t"],
        static_keys=[Point.decode(h(x)) for x in vector["config"]["static_public_keys"]],
    )


def messages_of(vector: dict[str, Any]) -> list[dkg.Round1Message]:
    return [
        dkg.Round1Message(
            sender=r["participant_id"],
            commitment=tuple(Point.decode(h(c)) for c in r["vss_commitment"]),
            proof_of_possession=h(r["pop"]),
            ephemeral_key=Point.decode(h(r["ephemeral_public_key"])),
            ciphertexts=tuple(h(c) for c in r["encrypted_shares"]),
        )
        for r in vector["round1"]
    ]


def share_key(
    config: dkg.Configuration, *, sender: int, recipient: int, ephemeral: Point, secret: Scalar
) -> tuple[bytes, bytes]:
    """``(k_{sender,recipient}, iv)`` computed on the recipient's side (``d_r·E_s``,
    ``d_r·P_s``): the only side the vectors allow, since ``e_s`` is not published."""
    return dkg.share_key_and_nonce(
        ephemeral_dh=ephemeral * secret,
        static_dh=config.key_of(sender) * secret,
        ephemeral_key=ephemeral,
        sender_key=config.key_of(sender),
        recipient_key=config.key_of(recipient),
        context=config.context,
    )


def interpolate(points: list[tuple[int, int]]) -> list[int]:
    """Coefficients (mod the group order) of the polynomial of degree < len(points) through
    ``points`` — test-side Lagrange interpolation in plain integers."""
    coefficients = [0] * len(points)
    for i, (xi, yi) in enumerate(points):
        basis = [1]
        denominator = 1
        for j, (xj, _) in enumerate(points):
            if j != i:
                basis = [
                    (a - xj * b) % ORDER for a, b in zip([0, *basis], [*basis, 0], strict=True)
                ]
                denominator = denominator * (xi - xj) % ORDER
        factor = yi * pow(denominator, -1, ORDER) % ORDER
        coefficients = [(c + factor * b) % ORDER for c, b in zip(coefficients, basis, strict=True)]
    return coefficients


# --- the vectors, value by value --------------------------------------------------------------


def test_vector_file_header() -> None:
    assert DATA["ciphersuite"] == dkg.CIPHERSUITE_ID.decode()
    names = b"Daniel Bourdrez,Soatok Dreamseeker,Tjaden Hess"
    assert h(DATA["seed"]) == hashlib.sha256(names).digest()
    assert DATA["derivation"]["method"].startswith(
        "H(seed || ciphersuite_id || uint32_le(t) || uint32_le(n) || label)"
    )
    assert DATA["derivation"]["labels"] == {
        "static_secret_key": "static_secret_key_{{i}}",
        "ephemeral_secret_key": "round1_participant_{{i}} (RNG stream)",
        "polynomial_coefficient": "round1_participant_{{i}} (RNG stream)",
    }
    assert IDS == ["2-of-3", "3-of-5", "7-of-14", "2-of-3-payload"]


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_setup(vector: dict[str, Any]) -> None:
    """Static keys from the labelled derivation, the session tag, the recommended context."""
    n, t = vector["n"], vector["t"]
    secrets = static_secrets(vector)
    assert len(secrets) == n == len(vector["config"]["static_public_keys"])
    for i, (secret, public) in enumerate(
        zip(secrets, vector["config"]["static_public_keys"], strict=True), 1
    ):
        derived = Scalar.from_wide(labelled(vector, f"static_secret_key_{i}"))
        assert derived == secret
        assert Point.base_times(secret).encoded == h(public)
    assert h(vector["session_tag"]) == f"COCKTAIL-DKG-TEST-VECTOR-{t}-OF-{n}".encode()
    config = config_of(vector)
    assert config.context == h(vector["context"])
    assert (config.threshold, config.n) == (t, n)


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_payloads_and_extension(vector: dict[str, Any]) -> None:
    """Payload vectors: ``payload_i`` from the labelled derivation, the extension as the
    spec's hash of the ordered payloads; basic vectors: an empty extension."""
    if "payloads" not in vector:
        assert vector["extension"] == ""
        return
    payloads = [h(p) for p in vector["payloads"]]
    assert payloads == [labelled(vector, f"payload_{i}") for i in range(1, vector["n"] + 1)]
    assert dkg.payload_extension(payloads) == h(vector["extension"])


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_round1(vector: dict[str, Any]) -> None:
    """Each participant's commitment, PoP (every intermediate value) and ciphertexts."""
    config = config_of(vector)
    n, t = config.n, config.threshold
    secrets = static_secrets(vector)
    payloads = [h(p) for p in vector.get("payloads", [""] * n)]
    for i, r in enumerate(vector["round1"], 1):
        assert r["participant_id"] == i
        ephemeral = Point.decode(h(r["ephemeral_public_key"]))
        # Decrypt every share sent by i (recipient side), then rebuild f_i from t of them.
        keys = [
            share_key(config, sender=i, recipient=j, ephemeral=ephemeral, secret=secrets[j - 1])
            for j in range(1, n + 1)
        ]
        shares = [
            Scalar(sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(h(c), None, nonce, key)[:32])
            for (key, nonce), c in zip(keys, r["encrypted_shares"], strict=True)
        ]
        coefficients = [
            Scalar.of(c) for c in interpolate([(j, shares[j - 1].value) for j in range(1, t + 1)])
        ]
        intermediate = r["pop_intermediate"]
        # a_{i,0} as published (nonce_input = prefix || encode(a_{i,0}) || m) is f_i(0).
        published_secret = h(intermediate["nonce_input"])[len(NONCE_PREFIX) :][:32]
        assert coefficients[0].encoded == published_secret
        commitment = [Point.base_times(a) for a in coefficients]
        assert [p.encoded.hex() for p in commitment] == r["vss_commitment"]
        message = config.context + b"".join(p.encoded for p in commitment) + ephemeral.encoded
        trace = dkg.schnorr_trace(coefficients[0], message)
        assert message == h(intermediate["message"])
        assert trace.nonce_input == h(intermediate["nonce_input"])
        assert trace.nonce.encoded == h(intermediate["nonce"])
        assert trace.nonce_commitment.encoded == h(intermediate["nonce_commitment"])
        assert trace.challenge_input == h(intermediate["challenge_input"])
        assert trace.challenge.encoded == h(intermediate["challenge"])
        assert trace.signature == h(r["pop"])
        for j, ((key, nonce), ciphertext) in enumerate(
            zip(keys, r["encrypted_shares"], strict=True), 1
        ):
            share = Scalar.of(sum(a.value * j**k for k, a in enumerate(coefficients)))
            assert share == shares[j - 1]  # for j > t: the polynomial really has degree t − 1
            sealed = dkg.seal_share(key=key, nonce=nonce, share=share, payload=payloads[i - 1])
            assert sealed == h(ciphertext)


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_round2(vector: dict[str, Any]) -> None:
    """Every participant's ``x_i`` and ``Y_i``, the group key, and the payloads received."""
    config = config_of(vector)
    messages = messages_of(vector)
    payloads = tuple(h(p) for p in vector.get("payloads", [""] * config.n))
    for i, (secret, expected) in enumerate(
        zip(static_secrets(vector), vector["round2"], strict=True), 1
    ):
        assert expected["participant_id"] == i
        output = dkg.round2(config=config, index=i, static_secret=secret, messages=messages)
        assert output.secret_share.encoded == h(expected["secret_share"])
        assert output.verification_share.encoded == h(expected["verification_share"])
        assert [y.encoded.hex() for y in output.verification_shares] == [
            e["verification_share"] for e in vector["round2"]
        ]
        assert output.group_public_key.encoded == h(vector["group_public_key"])
        assert output.payloads == payloads


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_round3(vector: dict[str, Any]) -> None:
    """The transcript (by its published hash), every signature, and the certificate."""
    config = config_of(vector)
    messages = messages_of(vector)
    for message, r in zip(messages, vector["round1"], strict=True):
        assert (
            dkg.Round1Message.decode(message.encode(), sender=r["participant_id"], config=config)
            == message
        )
    transcript = dkg.transcript(config=config, messages=messages, extension=h(vector["extension"]))
    assert dkg.transcript_hash(transcript) == h(vector["round3"]["transcript_hash"])
    assert dkg.Transcript.parse(transcript).encode() == transcript
    signatures = []
    for j, (secret, expected) in enumerate(
        zip(static_secrets(vector), vector["round3"]["signatures"], strict=True), 1
    ):
        assert expected["signer_id"] == j
        signature = dkg.sign_transcript(static_secret=secret, transcript=transcript)
        assert signature == h(expected["signature"])
        signatures.append(signature)
    dkg.verify_certificate(config=config, transcript=transcript, signatures=signatures)


@pytest.mark.parametrize(
    "vector",
    [v for v in VECTORS if "recovery" in v],
    ids=lambda v: f"{v['t']}-of-{v['n']}" + ("-payload" if "payloads" in v else ""),
)
def test_recovery(vector: dict[str, Any]) -> None:
    """*Share Recovery* for participant 1 from ``d_1``, ``T``, the certificate and the
    bundle assembled from the listed (unframed) ciphertexts."""
    recovery = vector["recovery"]
    index = recovery["participant_id"]
    assert index == 1
    assert recovery["ciphertexts"] == [r["encrypted_shares"][index - 1] for r in vector["round1"]]
    config = config_of(vector)
    transcript = dkg.transcript(
        config=config, messages=messages_of(vector), extension=h(vector["extension"])
    )
    signatures = [h(s["signature"]) for s in vector["round3"]["signatures"]]
    bundle = dkg.encode_bundle([h(c) for c in recovery["ciphertexts"]])
    secret = static_secrets(vector)[index - 1]
    output = dkg.recover(
        static_secret=secret, transcript=transcript, signatures=signatures, bundle=bundle
    )
    assert output.index == index
    assert output.secret_share.encoded == h(recovery["recovered_secret_share"])
    assert output.verification_share.encoded == h(recovery["recovered_verification_share"])
    assert output.group_public_key.encoded == h(vector["group_public_key"])


def test_recovery_is_in_the_two_of_three_vectors_only() -> None:
    assert [("recovery" in v) for v in VECTORS] == [True, False, False, True]


def test_every_vector_field_is_checked() -> None:
    """The tests above read exactly these fields; a field added to the file fails here
    until a test checks it."""
    assert set(DATA) == {"ciphersuite", "seed", "derivation", "vectors"}
    for vector in VECTORS:
        expected = {
            "n", "t", "session_tag", "context", "extension", "config", "round1", "round2",
            "round3", "group_public_key",
        }  # fmt: skip
        expected |= {"payloads"} & set(vector)
        expected |= {"recovery"} & set(vector)
        assert set(vector) == expected
        assert set(vector["config"]) == {"static_secret_keys", "static_public_keys"}
        for r in vector["round1"]:
            assert set(r) == {
                "participant_id", "ephemeral_public_key", "vss_commitment", "pop",
                "pop_intermediate", "encrypted_shares",
            }  # fmt: skip
            assert set(r["pop_intermediate"]) == {
                "message", "nonce_input", "nonce", "nonce_commitment", "challenge_input",
                "challenge",
            }  # fmt: skip
        for r in vector["round2"]:
            assert set(r) == {"participant_id", "secret_share", "verification_share"}
        assert set(vector["round3"]) == {"transcript_hash", "signatures"}
        for s in vector["round3"]["signatures"]:
            assert set(s) == {"signer_id", "signature"}
        if "recovery" in vector:
            assert set(vector["recovery"]) == {
                "participant_id", "ciphertexts", "recovered_secret_share",
                "recovered_verification_share",
            }  # fmt: skip


# --- a ceremony end to end ----------------------------------------------------------------------


def sequence(values: list[Scalar]) -> Callable[[], Scalar]:
    iterator: Iterator[Scalar] = iter(values)
    return lambda: next(iterator)


class Ceremony:
    """Three trustees, threshold 2, with known round-1 randomness so that a test can play a
    cheating trustee."""

    def __init__(self, *, n: int = 3, t: int = 2) -> None:
        self.secrets = [Scalar.random() for _ in range(n)]
        self.config = dkg.Configuration.for_session(
            session_id=b"parvis-test-election",
            threshold=t,
            static_keys=[Point.base_times(s) for s in self.secrets],
        )
        self.coefficients = [[Scalar.random() for _ in range(t)] for _ in range(n)]
        self.ephemeral = [Scalar.random() for _ in range(n)]
        self.messages = [
            dkg.round1(
                config=self.config,
                index=i,
                static_secret=self.secrets[i - 1],
                rng=sequence([*self.coefficients[i - 1], self.ephemeral[i - 1]]),
            )
            for i in range(1, n + 1)
        ]

    def round2(self, index: int) -> dkg.DkgOutput:
        return dkg.round2(
            config=self.config,
            index=index,
            static_secret=self.secrets[index - 1],
            messages=self.messages,
        )

    def sealed_for(self, sender: int, recipient: int, share: Scalar) -> bytes:
        """What ``sender`` would send ``recipient`` for ``share`` (sender side of H6)."""
        key, nonce = dkg.share_key_and_nonce(
            ephemeral_dh=self.config.key_of(recipient) * self.ephemeral[sender - 1],
            static_dh=self.config.key_of(recipient) * self.secrets[sender - 1],
            ephemeral_key=self.messages[sender - 1].ephemeral_key,
            sender_key=self.config.key_of(sender),
            recipient_key=self.config.key_of(recipient),
            context=self.config.context,
        )
        return dkg.seal_share(key=key, nonce=nonce, share=share)


def test_a_ceremony_end_to_end_with_recovery() -> None:
    ceremony = Ceremony(n=4, t=3)
    config = ceremony.config
    outputs = [ceremony.round2(i) for i in range(1, config.n + 1)]
    group_key = outputs[0].group_public_key
    assert all(o.group_public_key == group_key for o in outputs)
    assert all(o.verification_shares == outputs[0].verification_shares for o in outputs)
    # Any t shares interpolate the joint secret, which no participant ever held.
    joint = interpolate([(o.index, o.secret_share.value) for o in outputs[:3]])[0]
    assert Point.base_times(Scalar.of(joint)) == group_key
    joint_other = interpolate([(o.index, o.secret_share.value) for o in outputs[1:]])[0]
    assert joint_other == joint
    transcript = dkg.transcript(config=config, messages=ceremony.messages, extension=b"ext")
    signatures = [
        dkg.sign_transcript(static_secret=s, transcript=transcript) for s in ceremony.secrets
    ]
    dkg.verify_certificate(config=config, transcript=transcript, signatures=signatures)
    bundle = dkg.encode_bundle([m.ciphertexts[1] for m in ceremony.messages])
    recovered = dkg.recover(
        static_secret=ceremony.secrets[1],
        transcript=transcript,
        signatures=signatures,
        bundle=bundle,
    )
    assert recovered == outputs[1]


# --- faults, each detected and blamed on its author --------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_any_bit_flipped_in_a_round1_message_is_caught_and_blamed_on_its_sender(
    data: st.DataObject,
) -> None:
    """Whatever bit of ``msg_{1|j}`` changes in transit, some recipient aborts, and every
    recipient that aborts names ``j`` (the ciphertexts are AEAD-protected, the rest is
    signed by the PoP)."""
    vector = VECTORS[3]  # 2-of-3 with payloads: variable-size ciphertexts
    config = config_of(vector)
    secrets = static_secrets(vector)
    sender = data.draw(st.integers(min_value=1, max_value=config.n), label="sender")
    encoded = bytearray(messages_of(vector)[sender - 1].encode())
    bit = data.draw(st.integers(min_value=0, max_value=8 * len(encoded) - 1), label="bit")
    encoded[bit // 8] ^= 1 << (bit % 8)
    blamed = []
    for recipient in range(1, config.n + 1):
        try:
            messages = messages_of(vector)
            messages[sender - 1] = dkg.Round1Message.decode(
                bytes(encoded), sender=sender, config=config
            )
            dkg.round2(
                config=config,
                index=recipient,
                static_secret=secrets[recipient - 1],
                messages=messages,
            )
        except dkg.ParticipantFaultError as fault:
            blamed.append(fault.participant)
    assert blamed
    assert set(blamed) == {sender}


def test_a_tampered_encrypted_share_names_its_sender() -> None:
    vector = VECTORS[1]  # 3-of-5
    messages = messages_of(vector)
    ciphertext = bytearray(messages[3].ciphertexts[0])
    ciphertext[5] ^= 0x01
    messages[3] = replace(
        messages[3], ciphertexts=(bytes(ciphertext), *messages[3].ciphertexts[1:])
    )
    with pytest.raises(dkg.ShareDecryptionError) as caught:
        dkg.round2(
            config=config_of(vector),
            index=1,
            static_secret=static_secrets(vector)[0],
            messages=messages,
        )
    assert caught.value.participant == 4
    # The other recipients' ciphertexts are intact: participant 2 completes round 2.
    dkg.round2(
        config=config_of(vector),
        index=2,
        static_secret=static_secrets(vector)[1],
        messages=messages,
    )


def test_a_share_off_the_commitment_names_its_sender_with_public_evidence() -> None:
    ceremony = Ceremony()
    ceremony.round2(1)  # before the tampering, the honest run passes
    coefficients = ceremony.coefficients[1]
    wrong = Scalar.of(coefficients[0].value + coefficients[1].value * 1 + 1)  # f_2(1) + 1
    message = ceremony.messages[1]
    ceremony.messages[1] = replace(
        message, ciphertexts=(ceremony.sealed_for(2, 1, wrong), *message.ciphertexts[1:])
    )
    with pytest.raises(dkg.InvalidShareError) as caught:
        ceremony.round2(1)
    assert caught.value.participant == 2
    # The blame is publicly checkable: the revealed share is off participant 2's commitment.
    assert caught.value.share == wrong
    commitment = ceremony.messages[1].commitment
    assert Point.base_times(wrong) != commitment[0] + commitment[1] * Scalar.of(1)


def test_a_wrong_commitment_signed_by_its_author_names_it_at_every_recipient() -> None:
    """A trustee commits to a polynomial other than the one it shares (and signs that
    commitment, so the PoP holds): every recipient's VSS check blames it."""
    ceremony = Ceremony()
    i = 3
    message = ceremony.messages[i - 1]
    commitment = (message.commitment[0], message.commitment[1] + BASE)
    pop_message = (
        ceremony.config.context
        + b"".join(p.encoded for p in commitment)
        + message.ephemeral_key.encoded
    )
    ceremony.messages[i - 1] = replace(
        message,
        commitment=commitment,
        proof_of_possession=dkg.schnorr_sign(ceremony.coefficients[i - 1][0], pop_message),
    )
    for recipient in (1, 2, 3):
        with pytest.raises(dkg.InvalidShareError) as caught:
            ceremony.round2(recipient)
        assert caught.value.participant == i


def test_a_commitment_of_the_wrong_length_is_refused_threshold_elevation() -> None:
    ceremony = Ceremony()
    message = ceremony.messages[0]
    commitment = (*message.commitment, Point.base_times(Scalar.random()))
    pop_message = (
        ceremony.config.context
        + b"".join(p.encoded for p in commitment)
        + message.ephemeral_key.encoded
    )
    ceremony.messages[0] = replace(
        message,
        commitment=commitment,
        proof_of_possession=dkg.schnorr_sign(ceremony.coefficients[0][0], pop_message),
    )
    with pytest.raises(dkg.InvalidCommitmentError) as caught:
        ceremony.round2(2)
    assert caught.value.participant == 1


def test_a_commitment_changed_in_transit_fails_the_proof_of_possession() -> None:
    vector = VECTORS[0]
    messages = messages_of(vector)
    messages[1] = replace(
        messages[1], commitment=(messages[1].commitment[0], messages[2].commitment[1])
    )
    with pytest.raises(dkg.InvalidProofOfPossessionError) as caught:
        dkg.round2(
            config=config_of(vector),
            index=1,
            static_secret=static_secrets(vector)[0],
            messages=messages,
        )
    assert caught.value.participant == 2


@pytest.mark.parametrize("byte", [0, 40])  # in R, in z
def test_a_bad_proof_of_possession_names_its_author(byte: int) -> None:
    vector = VECTORS[2]  # 7-of-14
    messages = messages_of(vector)
    pop = bytearray(messages[9].proof_of_possession)
    pop[byte] ^= 0x02
    messages[9] = replace(messages[9], proof_of_possession=bytes(pop))
    with pytest.raises(dkg.InvalidProofOfPossessionError) as caught:
        dkg.round2(
            config=config_of(vector),
            index=1,
            static_secret=static_secrets(vector)[0],
            messages=messages,
        )
    assert caught.value.participant == 10


def test_a_proof_of_possession_from_another_session_is_refused() -> None:
    """The PoP signs the context: a round-1 message replayed into another session fails."""
    vector = VECTORS[0]
    messages = messages_of(vector)
    other = dkg.Configuration(
        threshold=vector["t"], static_keys=config_of(vector).static_keys, context=b"another session"
    )
    with pytest.raises(dkg.InvalidProofOfPossessionError) as caught:
        dkg.round2(
            config=other, index=1, static_secret=static_secrets(vector)[0], messages=messages
        )
    assert caught.value.participant == 1


def test_a_bad_round3_signature_names_its_signer() -> None:
    vector = VECTORS[1]
    config = config_of(vector)
    transcript = dkg.transcript(config=config, messages=messages_of(vector))
    signatures = [h(s["signature"]) for s in vector["round3"]["signatures"]]
    tampered = bytearray(signatures[2])
    tampered[63] ^= 0x10
    with pytest.raises(dkg.InvalidTranscriptSignatureError) as caught:
        dkg.verify_certificate(
            config=config,
            transcript=transcript,
            signatures=[*signatures[:2], bytes(tampered), *signatures[3:]],
        )
    assert caught.value.participant == 3


def test_a_split_view_fails_the_certificate_at_the_signer_who_saw_it() -> None:
    """A coordinator showing participant 2 another extension: 2's signature is over another
    transcript, and everyone else's check names 2."""
    vector = VECTORS[0]
    config = config_of(vector)
    secrets = static_secrets(vector)
    messages = messages_of(vector)
    seen = dkg.transcript(config=config, messages=messages)
    other = dkg.transcript(config=config, messages=messages, extension=b"\x00")
    signatures = [
        dkg.sign_transcript(static_secret=s, transcript=other if i == 2 else seen)
        for i, s in enumerate(secrets, 1)
    ]
    with pytest.raises(dkg.InvalidTranscriptSignatureError) as caught:
        dkg.verify_certificate(config=config, transcript=seen, signatures=signatures)
    assert caught.value.participant == 2


def test_signatures_are_not_ed25519_signatures() -> None:
    """*Schnorr Security Notes*: the H7 prefix keeps a COCKTAIL signature from verifying as
    EdDSA over the same key and message."""
    vector = VECTORS[0]
    transcript = dkg.transcript(config=config_of(vector), messages=messages_of(vector))
    signature = h(vector["round3"]["signatures"][0]["signature"])
    verify_key = nacl.signing.VerifyKey(h(vector["config"]["static_public_keys"][0]))
    with pytest.raises(nacl.exceptions.BadSignatureError):
        verify_key.verify(transcript, signature)


# --- parsing and setup ----------------------------------------------------------------------


def test_round1_wire_messages_parse_exactly_and_blame_the_sender() -> None:
    vector = VECTORS[0]
    config = config_of(vector)
    encoded = messages_of(vector)[1].encode()
    with pytest.raises(dkg.MalformedMessageError) as trailing:
        dkg.Round1Message.decode(encoded + b"\x00", sender=2, config=config)
    assert trailing.value.participant == 2
    with pytest.raises(dkg.MalformedMessageError):
        dkg.Round1Message.decode(encoded[:-1], sender=2, config=config)
    oversized = bytearray(encoded)
    frame = 2 * 32 + 64 + 32
    oversized[frame : frame + 8] = (dkg.MAX_CIPHERTEXT_SIZE + 1).to_bytes(8, "big")
    with pytest.raises(dkg.MalformedMessageError, match="MAX_CIPHERTEXT_SIZE"):
        dkg.Round1Message.decode(bytes(oversized), sender=2, config=config)
    identity = IDENTITY.encoded + encoded[32:]
    with pytest.raises(dkg.InvalidCommitmentError) as caught:
        dkg.Round1Message.decode(identity, sender=2, config=config)
    assert caught.value.participant == 2


def test_recovery_material_must_parse_exactly() -> None:
    vector = VECTORS[0]
    config = config_of(vector)
    transcript = dkg.transcript(config=config, messages=messages_of(vector))
    signatures = [h(s["signature"]) for s in vector["round3"]["signatures"]]
    bundle = dkg.encode_bundle([h(c) for c in vector["recovery"]["ciphertexts"]])
    secret = static_secrets(vector)[0]
    with pytest.raises(dkg.RecoveryError, match="trailing"):
        dkg.recover(
            static_secret=secret,
            transcript=transcript,
            signatures=signatures,
            bundle=bundle + b"\x00",
        )
    with pytest.raises(dkg.RecoveryError, match="certificate"):
        dkg.recover(
            static_secret=secret, transcript=transcript, signatures=signatures[::-1], bundle=bundle
        )
    with pytest.raises(dkg.RecoveryError, match="no single participant"):
        dkg.recover(
            static_secret=Scalar.of(7), transcript=transcript, signatures=signatures, bundle=bundle
        )
    other_suite = transcript.replace(dkg.CIPHERSUITE_ID, b"COCKTAIL(Ed25519, SHA-256)", 1)
    with pytest.raises(dkg.RecoveryError, match="not for COCKTAIL"):
        dkg.recover(
            static_secret=secret, transcript=other_suite, signatures=signatures, bundle=bundle
        )


def test_invalid_setups_are_refused_before_round1() -> None:
    keys = tuple(Point.base_times(Scalar.of(k)) for k in (2, 3, 4))
    for threshold in (0, 4):
        with pytest.raises(dkg.SetupError):
            dkg.Configuration(threshold, keys, b"ctx")
    with pytest.raises(dkg.SetupError, match="distinct"):
        dkg.Configuration(2, (keys[0], keys[1], keys[0]), b"ctx")
    with pytest.raises(dkg.SetupError, match="prime-order"):
        dkg.Configuration(2, (keys[0], keys[1], IDENTITY), b"ctx")
    config = dkg.Configuration(2, keys, b"ctx")
    with pytest.raises(dkg.SetupError, match="not this participant"):
        dkg.round1(config=config, index=1, static_secret=Scalar.of(3))
    with pytest.raises(dkg.SetupError):
        config.key_of(0)
