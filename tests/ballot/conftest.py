"""Fixtures for the ballot tests: the RFC 9474 vectors, session-wide keys and backends.

RSA key generation is the slow part of these tests (a 3072-bit key takes seconds on the
2-core CI machine), so each size is generated once per session.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI

from ballot import rsabssa
from ballot.rsa_backends import BACKEND_NAMES, RSABackend, get_backend
from parvis.kernel.clock import FixedClock
from tests.ballot.elections import setup_rule
from tests.ballot.encrypted import EncryptedElection, open_encrypted_election

VECTOR_FILE = (
    Path(__file__).resolve().parents[1] / "vectors" / "rfc9474" / "test_vectors_rfc9474.json"
)


@dataclass(frozen=True)
class Vector:
    """One RFC 9474 Appendix A vector, decoded."""

    name: str
    variant: rsabssa.Variant
    private_key: rsa.RSAPrivateKey
    msg: bytes
    msg_prefix: bytes | None
    input_msg: bytes
    salt: bytes
    encoded_msg: bytes | None
    inv: bytes
    blinded_msg: bytes
    blind_sig: bytes
    sig: bytes


def _hex(value: str) -> bytes:
    return bytes.fromhex(value.removeprefix("0x"))


def load_vectors() -> list[Vector]:
    vectors = []
    for raw in json.loads(VECTOR_FILE.read_text()):
        p, q, n, e, d = (int(raw[name], 16) for name in ("p", "q", "n", "e", "d"))
        private_key = rsa.RSAPrivateNumbers(
            p=p,
            q=q,
            d=d,
            dmp1=rsa.rsa_crt_dmp1(d, p),
            dmq1=rsa.rsa_crt_dmq1(d, q),
            iqmp=rsa.rsa_crt_iqmp(p, q),
            public_numbers=rsa.RSAPublicNumbers(e, n),
        ).private_key()
        k = (n.bit_length() + 7) // 8
        vectors.append(
            Vector(
                name=raw["name"],
                variant=rsabssa.Variant(raw["name"]),
                private_key=private_key,
                msg=_hex(raw["msg"]),
                msg_prefix=_hex(raw["msg_prefix"]) if raw["msg_prefix"] else None,
                input_msg=_hex(raw["input_msg"]),
                salt=_hex(raw["salt"]),
                encoded_msg=_hex(raw["encoded_msg"]) if "encoded_msg" in raw else None,
                # The file writes inv as a hex integer; Blind outputs it as modulus_len bytes.
                inv=int(raw["inv"], 16).to_bytes(k, "big"),
                blinded_msg=_hex(raw["blinded_msg"]),
                blind_sig=_hex(raw["blind_sig"]),
                sig=_hex(raw["sig"]),
            )
        )
    return vectors


VECTORS = load_vectors()
# Every concrete backend, whether or not it is available: the dev environment (and CI) has
# libcrypto and gmpy2, so a missing one must fail the tests, not silently shrink them.
CONCRETE_BACKENDS = [name for name in BACKEND_NAMES if name != "auto"]


@pytest.fixture(scope="session")
def key_2048() -> rsa.RSAPrivateKey:
    return rsabssa.generate_key(2048)


@pytest.fixture(scope="session")
def key_3072() -> rsa.RSAPrivateKey:
    return rsabssa.generate_key(3072)


@pytest.fixture(scope="session")
def keys(key_2048: rsa.RSAPrivateKey, key_3072: rsa.RSAPrivateKey) -> dict[int, rsa.RSAPrivateKey]:
    return {2048: key_2048, 3072: key_3072}


@pytest.fixture(params=CONCRETE_BACKENDS)
def backend(request: pytest.FixtureRequest) -> RSABackend:
    return get_backend(request.param)


@pytest.fixture
def encrypted_election(app: FastAPI, clock: FixedClock) -> EncryptedElection:
    """An open encrypted election, 2 of 3 trustees, through the real service
    (tests/ballot/encrypted.py, :func:`~tests.ballot.encrypted.open_encrypted_election`)."""
    ctx = app.state.ctx
    setup_rule(ctx)
    return open_encrypted_election(ctx, clock)
