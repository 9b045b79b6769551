"""The issuance register of an election: its entries, the FranceConnect nonce that binds an
issuance to one blinded message, and the register export (ballot-secrecy.md §3;
``docs/board-format.md`` §11; ADR 0019).

Pure core, with the verifier's dependencies only (cryptography, rfc8785 and the pure
:mod:`audit.merkle`): the server writes with it, ``parvis election verify-register`` reads
with it. Each token issued adds one entry, whose RFC 8785 canonical bytes are a leaf of the
register, a sealed audit log (``register-<election id>``)::

    {"kind": "issuance", "election": UUID, "day": "YYYY-MM-DD",
     "blinded_hash": B64U(SHA-256(blinded_msg)),
     "id_token": COMPACT-JWS | null,     # FranceConnect's ID token of this issuance
     "fc_key": B64U(RFC 7638 thumbprint) | null,
     "jwk": JWK}                         # only in the first entry signed by that key

The ID token's ``nonce`` is :func:`issuance_nonce` of the election and the blinded message,
so the token is good for this one issuance. A register export is::

    {"format": "parvis-issuance-register-v1", "election": UUID,
     "issuer": FC-ISSUER, "client_id": FC-CLIENT-ID, "acr": MIN-ACR,
     "opens_at": RFC3339, "closes_at": RFC3339,
     "size": N, "root": B64U, "entries": [ENTRY, …]}     # in register order
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

import rfc8785

from audit.merkle import leaf_hash, root

__all__ = [
    "ENTRY_KIND",
    "NONCE_LABEL",
    "REGISTER_FORMAT",
    "b64u",
    "blinded_hash",
    "entry_bytes",
    "issuance_entry",
    "issuance_nonce",
    "jwk_thumbprint",
    "register_log_name",
    "register_root",
]

REGISTER_FORMAT: Final = "parvis-issuance-register-v1"
ENTRY_KIND: Final = "issuance"
#: The domain-separation label of the issuance nonce (ballot-secrecy.md §3).
NONCE_LABEL: Final = b"parvis-issuance-v1"


def b64u(raw: bytes) -> str:
    """Base64url without padding (RFC 4648 §5)."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def register_log_name(election_id: str) -> str:
    """The audit log that holds an election's issuance register."""
    return f"register-{election_id}"


def blinded_hash(blinded_msg: bytes) -> bytes:
    """SHA-256 of the RFC 9474 blinded message: what the register and the nonce carry of it."""
    return hashlib.sha256(blinded_msg).digest()


def issuance_nonce(election_id: str, blinded_msg_hash: bytes) -> str:
    """``B64U(SHA-256("parvis-issuance-v1" ‖ election id ‖ SHA-256(blinded_msg)))``
    (ballot-secrecy.md §3): the OpenID Connect ``nonce`` of the authentication that backs
    one issuance. The election id is its canonical UUID text; 43 characters, above
    FranceConnect's minimum of 22."""
    if len(blinded_msg_hash) != 32:
        raise ValueError("the blinded message's hash is 32 bytes")
    digest = hashlib.sha256(NONCE_LABEL + election_id.encode("ascii") + blinded_msg_hash)
    return b64u(digest.digest())


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 §3: SHA-256 of the key's required members, in lexicographic order, no
    whitespace (RFC 8785 serialises exactly so), base64url."""
    kty = jwk.get("kty")
    if kty == "RSA":
        required: tuple[str, ...] = ("e", "kty", "n")
    elif kty == "EC":
        required = ("crv", "kty", "x", "y")
    else:
        raise ValueError("only RSA and EC keys are archived")
    if not all(isinstance(jwk.get(name), str) for name in required):
        raise ValueError(f"a {kty} JWK needs {', '.join(required)}")
    return b64u(hashlib.sha256(rfc8785.dumps({n: jwk[n] for n in required})).digest())


def public_jwk(jwk: Mapping[str, Any]) -> dict[str, Any]:
    """The public members an archive keeps (never a private member, whatever was given)."""
    keep = ("kty", "kid", "alg", "use", "crv", "x", "y", "n", "e")
    return {name: jwk[name] for name in keep if name in jwk}


def issuance_entry(
    *,
    election_id: str,
    day: str,
    blinded_msg_hash: bytes,
    id_token: str | None,
    jwk: Mapping[str, Any] | None,
    archive_key: bool,
) -> dict[str, Any]:
    """One register entry; ``archive_key`` adds the key itself (its first use)."""
    entry: dict[str, Any] = {
        "kind": ENTRY_KIND,
        "election": election_id,
        "day": day,
        "blinded_hash": b64u(blinded_msg_hash),
        "id_token": id_token,
        "fc_key": jwk_thumbprint(jwk) if jwk is not None else None,
    }
    if archive_key and jwk is not None:
        entry["jwk"] = public_jwk(jwk)
    return entry


def entry_bytes(entry: Mapping[str, Any]) -> bytes:
    """The leaf bytes of a register entry: its RFC 8785 canonical JSON."""
    return rfc8785.dumps(dict(entry))


def register_root(entries: Sequence[bytes]) -> bytes:
    """RFC 6962 root of the register's leaves (the empty tree's root for none)."""
    return root([leaf_hash(data) for data in entries])


def parse_entry(data: bytes) -> dict[str, Any]:
    """A register leaf's JSON object (its shape is checked by the verifier)."""
    value = json.loads(data)
    if not isinstance(value, dict):
        raise TypeError("a register entry is a JSON object")
    return value
