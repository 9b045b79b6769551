"""Interoperability with independent implementations (needs Node.js and ``web/node_modules``).

* @cloudflare/blindrsa-ts (the browser booth's RFC 9474 library) blinds and finalizes
  against our ``blind_sign``, for all four variants;
* tokens made by our client verify in blindrsa-ts (WebCrypto RSA-PSS);
* the OpenSSL command line verifies a token as a plain RSA-PSS signature over
  ``msg_prefix ‖ msg`` (what ``parvis verify-board`` tells auditors to run);
* @noble/ed25519 ballot signatures verify in ``verify_cast``, and @noble/hashes computes the
  same nullifier.

These tests fail, never skip, when Node.js or the npm packages are missing: install them
with ``make node-deps`` (``npm ci --prefix web``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ballot import rsabssa
from ballot.client import VotingRight, obtain_voting_right
from ballot.errors import InvalidBallotSignatureError
from ballot.token import (
    Ballot,
    CastRequest,
    b64u_decode,
    b64u_encode,
    nullifier,
    verify_cast,
)

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "node" / "interop.mjs"
NODE_MODULES = ROOT / "web" / "node_modules"
ELECTION = uuid.UUID("9d2c1b0a-4e3f-4a5b-8c7d-6e5f4a3b2c1d")


class NodeDriver:
    """One ``node tests/node/interop.mjs`` process for the module: a JSON line in, one out."""

    def __init__(self, executable: str) -> None:
        self.process = subprocess.Popen(
            [executable, str(SCRIPT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def __call__(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            self.process.wait(timeout=30)
            assert self.process.stderr is not None
            pytest.fail(f"node exited ({self.process.returncode}): {self.process.stderr.read()}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
            for stream in (self.process.stdout, self.process.stderr):
                if stream is not None:
                    stream.close()


@pytest.fixture(scope="module")
def node() -> Iterator[NodeDriver]:
    path = shutil.which("node")
    if path is None:
        pytest.fail("Node.js is not installed: the interop tests need `node` (Node 20) on PATH")
    if not (NODE_MODULES / "@cloudflare" / "blindrsa-ts").is_dir():
        pytest.fail(
            f"{NODE_MODULES} is missing or incomplete: run `make node-deps` "
            "(npm ci --prefix web) before the interop tests"
        )
    driver = NodeDriver(path)
    try:
        yield driver
    finally:
        driver.close()


def run_node(node: NodeDriver, request: dict[str, Any]) -> dict[str, Any]:
    return node(request)


def spki(private_key: rsa.RSAPrivateKey) -> str:
    der = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return b64u_encode(der)


@pytest.fixture(scope="module")
def right(key_2048: rsa.RSAPrivateKey) -> VotingRight:
    public_key = key_2048.public_key()
    return obtain_voting_right(
        public_key,
        election_id=ELECTION,
        committed_key_id=rsabssa.key_id(public_key),
        transport=lambda blinded: rsabssa.blind_sign(key_2048, blinded),
    )


@pytest.mark.node
@pytest.mark.parametrize("variant", list(rsabssa.Variant), ids=str)
def test_blindrsa_ts_client_against_our_signer(
    node: NodeDriver, key_2048: rsa.RSAPrivateKey, variant: rsabssa.Variant
) -> None:
    msg = b"parvis interop " + variant.value.encode()
    blinded = run_node(
        node,
        {"op": "blind", "spki": spki(key_2048), "variant": variant.value, "msg": b64u_encode(msg)},
    )
    assert "error" not in blinded, blinded
    prepared = b64u_decode(blinded["prepared"], field="prepared")
    assert prepared.endswith(msg)
    assert len(prepared) == len(msg) + (32 if variant.randomized else 0)

    blind_sig = rsabssa.blind_sign(
        key_2048, b64u_decode(blinded["blinded_msg"], field="blinded_msg")
    )

    final = run_node(
        node,
        {
            "op": "finalize",
            "spki": spki(key_2048),
            "variant": variant.value,
            "prepared": blinded["prepared"],
            "blind_sig": b64u_encode(blind_sig),
            "inv": blinded["inv"],
        },
    )
    assert "error" not in final, final
    sig = b64u_decode(final["sig"], field="sig")
    # Their finalized signature verifies with ours.
    rsabssa.verify(key_2048.public_key(), prepared, sig=sig, variant=variant)


@pytest.mark.node
def test_blindrsa_ts_finalize_rejects_a_wrong_blind_signature(
    node: NodeDriver, key_2048: rsa.RSAPrivateKey
) -> None:
    """The node side really checks: a blind signature on another value is refused."""
    variant = rsabssa.DEFAULT_VARIANT
    blinded = run_node(
        node,
        {"op": "blind", "spki": spki(key_2048), "variant": variant.value, "msg": b64u_encode(b"m")},
    )
    n = key_2048.public_key().public_numbers().n
    other = (int.from_bytes(b64u_decode(blinded["blinded_msg"], field="b"), "big") + 1) % n
    wrong = rsabssa.blind_sign(key_2048, other.to_bytes(256, "big"))
    final = run_node(
        node,
        {
            "op": "finalize",
            "spki": spki(key_2048),
            "variant": variant.value,
            "prepared": blinded["prepared"],
            "blind_sig": b64u_encode(wrong),
            "inv": blinded["inv"],
        },
    )
    assert final == {"error": "invalid signature"}


@pytest.mark.node
@pytest.mark.parametrize("variant", list(rsabssa.Variant), ids=str)
def test_our_signatures_verify_in_blindrsa_ts(
    node: NodeDriver, key_2048: rsa.RSAPrivateKey, variant: rsabssa.Variant
) -> None:
    public_key = key_2048.public_key()
    prepared = rsabssa.prepare(b"made by parvis", variant)
    blinded, inv = rsabssa.blind(public_key, prepared, variant=variant)
    sig = rsabssa.finalize(
        public_key,
        prepared,
        blind_sig=rsabssa.blind_sign(key_2048, blinded),
        inv=inv,
        variant=variant,
    )
    request = {"op": "verify", "spki": spki(key_2048), "variant": variant.value}
    ok = run_node(node, {**request, "prepared": b64u_encode(prepared), "sig": b64u_encode(sig)})
    assert ok == {"valid": True}
    tampered = run_node(
        node, {**request, "prepared": b64u_encode(prepared + b"!"), "sig": b64u_encode(sig)}
    )
    assert tampered == {"valid": False}


@pytest.mark.node
def test_our_client_tokens_verify_in_blindrsa_ts(
    node: NodeDriver, key_2048: rsa.RSAPrivateKey, right: VotingRight
) -> None:
    answer = run_node(
        node,
        {
            "op": "verify",
            "spki": spki(key_2048),
            "variant": rsabssa.DEFAULT_VARIANT.value,
            "prepared": b64u_encode(right.token.prepared_msg),
            "sig": b64u_encode(right.token.sig),
        },
    )
    assert answer == {"valid": True}


def test_openssl_cli_verifies_a_token_as_plain_rsa_pss(
    tmp_path: Path, key_2048: rsa.RSAPrivateKey, right: VotingRight
) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("the openssl command line is not installed (Debian package `openssl`)")
    (tmp_path / "key.pem").write_bytes(
        key_2048.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    (tmp_path / "token.bin").write_bytes(right.token.msg_prefix + right.token.msg)
    (tmp_path / "token.sig").write_bytes(right.token.sig)
    (tmp_path / "other.bin").write_bytes(right.token.msg_prefix + right.token.msg[:-1] + b"\x00")

    def verify(data: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                openssl, "dgst", "-sha384",
                "-sigopt", "rsa_padding_mode:pss",
                "-sigopt", "rsa_pss_saltlen:48",
                "-sigopt", "rsa_mgf1_md:sha384",
                "-verify", str(tmp_path / "key.pem"),
                "-signature", str(tmp_path / "token.sig"),
                str(tmp_path / data),
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )  # fmt: skip

    good = verify("token.bin")
    assert good.returncode == 0, good.stderr
    assert good.stdout.strip() == "Verified OK"
    bad = verify("other.bin")
    assert bad.returncode != 0
    assert "Verification failure" in bad.stdout + bad.stderr


@pytest.mark.node
def test_noble_ed25519_ballots_and_hashes_agree(
    node: NodeDriver, key_2048: rsa.RSAPrivateKey, right: VotingRight
) -> None:
    """The booth signs ballots with @noble/ed25519; the server verifies them."""
    ballot = Ballot(election_id=ELECTION.bytes, seq=1, choices={"q": ["a", "b"]})
    signed = run_node(
        node,
        {
            "op": "ed25519_sign",
            "seed": b64u_encode(right.signing_key_seed),
            "message": b64u_encode(ballot.canonical_bytes()),
        },
    )
    assert b64u_decode(signed["public_key"], field="pk") == right.token.message.voter_key
    request = CastRequest(
        token=right.token, ballot=ballot, ballot_sig=b64u_decode(signed["signature"], field="sig")
    )
    verified = verify_cast(key_2048.public_key(), expected_election_id=ELECTION, cast=request)
    digest = run_node(node, {"op": "sha256", "message": b64u_encode(right.token.msg)})
    assert (
        b64u_decode(digest["digest"], field="digest")
        == verified.nullifier
        == nullifier(right.token.msg)
    )

    # Their signature over another ballot is refused by ours.
    other = Ballot(election_id=ELECTION.bytes, seq=2, choices={"q": ["a", "b"]})
    with pytest.raises(InvalidBallotSignatureError):
        verify_cast(
            key_2048.public_key(),
            expected_election_id=ELECTION,
            cast=CastRequest(token=right.token, ballot=other, ballot_sig=request.ballot_sig),
        )
