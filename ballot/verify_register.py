"""The issuance-register verifier for scrutineers (ballot-secrecy.md §3; ADR 0019):
``parvis election verify-register FILE [--board FILE|URL] [--fc-jwks FILE|URL]``, also
``python -m ballot.verify_register``.

Standalone, with the board verifier's dependencies only (cryptography, PyNaCl, rfc8785): the
FranceConnect ID tokens are verified here with ``cryptography`` directly (RS256: RSASSA-
PKCS1-v1_5 with SHA-256, RFC 7518 §3.3; ES256: ECDSA P-256 with SHA-256, the JWS signature
being ``R ‖ S``, RFC 7518 §3.4), not with a JOSE library, so that a scrutineer needs
nothing the board verifier does not.

Checks, reporting **every** failure on its own line (``FAILED: …``) and exiting 0 only when
none is found:

1. the export's shape; its ``size`` and ``root`` are the RFC 6962 root of its entries;
2. each entry: this election; a 32-byte blinded-message hash; an ID token, signed under a
   FranceConnect key archived in the register (once, its RFC 7638 thumbprint matching);
   its ``iss``, ``aud`` and ``acr`` as the export states them; its ``nonce`` equal to
   ``B64U(SHA-256("parvis-issuance-v1" ‖ election ‖ blinded_hash))``; ``iat`` inside the
   voting period; the entry's day that of the token;
3. one entry per FranceConnect ``sub``;
4. with ``--fc-jwks``, every archived key is in FranceConnect's published JWKS (without it,
   the archived keys are believed: say so);
5. with ``--board``, the board verifies (:func:`ballot.verify.verify_board`), names this
   election and voting period, every register size and root it shows is a prefix of this
   register, and its close entry counts as many tokens as the register holds entries.
"""

from __future__ import annotations

import argparse
import base64
import hmac
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from audit.merkle import leaf_hash, root
from ballot.manifest import parse_time
from ballot.register import (
    ENTRY_KIND,
    REGISTER_FORMAT,
    b64u,
    entry_bytes,
    issuance_nonce,
    jwk_thumbprint,
)
from parvis.kernel.errors import DomainError

__all__ = ["RegisterReport", "main", "verify_register"]

#: eIDAS levels in FranceConnect's order (franceconnect.md, "ID token claims").
ACR_ORDER: Final = ("eidas1", "eidas2", "eidas3")
_ENTRY_MEMBERS: Final = frozenset({"kind", "election", "day", "blinded_hash", "id_token", "fc_key"})


@dataclass
class RegisterReport:
    """What was checked (``checks``) and every failure found (``failures``)."""

    election: str = ""
    entries: int = 0
    checks: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def fail(self, line: str) -> None:
        self.failures.append(" ".join(line.split()))


def _b64u_decode(text: object) -> bytes | None:
    if not isinstance(text, str) or "=" in text:
        return None
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        return None


def _public_key(jwk: Mapping[str, Any]) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
    """A JWK's public key (RFC 7518 §6.2, §6.3): RSA, or EC on P-256 only."""
    if jwk.get("kty") == "RSA":
        n, e = _b64u_decode(jwk.get("n")), _b64u_decode(jwk.get("e"))
        if not n or not e:
            raise ValueError("an RSA key needs n and e")
        return rsa.RSAPublicNumbers(int.from_bytes(e, "big"), int.from_bytes(n, "big")).public_key()
    if jwk.get("kty") == "EC" and jwk.get("crv") == "P-256":
        x, y = _b64u_decode(jwk.get("x")), _b64u_decode(jwk.get("y"))
        if x is None or y is None or len(x) != 32 or len(y) != 32:
            raise ValueError("a P-256 key needs 32-byte x and y")
        return ec.EllipticCurvePublicNumbers(
            int.from_bytes(x, "big"), int.from_bytes(y, "big"), ec.SECP256R1()
        ).public_key()
    raise ValueError("only RSA and P-256 keys sign FranceConnect ID tokens")


def verify_jws(token: str, jwk: Mapping[str, Any]) -> dict[str, Any]:
    """Verify a compact JWS (RFC 7515 §5.2) signed RS256 or ES256 under ``jwk``; return its
    claims. Raises ``ValueError`` naming what is wrong."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("the ID token is not a compact JWS")
    header_raw, claims_raw, signature = (_b64u_decode(p) for p in parts)
    if header_raw is None or claims_raw is None or signature is None:
        raise ValueError("the ID token is not base64url")
    try:
        header, claims = json.loads(header_raw), json.loads(claims_raw)
    except ValueError:
        raise ValueError("the ID token's header or claims are not JSON") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise ValueError("the ID token's header and claims are JSON objects")  # noqa: TRY004 - one error type for every malformed token
    alg = header.get("alg")
    signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
    key = _public_key(jwk)
    try:
        if alg == "RS256" and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
        elif alg == "ES256" and isinstance(key, ec.EllipticCurvePublicKey):
            if len(signature) != 64:
                raise ValueError("an ES256 signature is 64 bytes")
            der = encode_dss_signature(
                int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            )
            key.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
        else:
            raise ValueError(f"alg {str(alg)[:16]!r} does not fit the archived key")
    except InvalidSignature:
        raise ValueError("the FranceConnect signature does not verify") from None
    if "kid" in header and "kid" in jwk and header["kid"] != jwk["kid"]:
        raise ValueError("the ID token names another key than the archived one")
    return claims


def _time(value: object, what: str) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} is not a NumericDate")  # noqa: TRY004 - as above
    return datetime.fromtimestamp(value, UTC)


@dataclass
class _Header:
    election: str
    issuer: str
    client_id: str
    acr: str
    opens_at: datetime
    closes_at: datetime


def _header(export: Mapping[str, Any], report: RegisterReport) -> _Header | None:
    if export.get("format") != REGISTER_FORMAT:
        report.fail(f"register: the format is not {REGISTER_FORMAT}")
        return None
    try:
        header = _Header(
            election=str(export["election"]),
            issuer=str(export["issuer"]),
            client_id=str(export["client_id"]),
            acr=str(export["acr"]),
            opens_at=parse_time(export["opens_at"], field="opens_at"),
            closes_at=parse_time(export["closes_at"], field="closes_at"),
        )
    except (KeyError, DomainError) as exc:
        report.fail(f"register: {exc}")
        return None
    if header.acr not in ACR_ORDER:
        report.fail(f"register: acr {header.acr[:16]!r} is not an eIDAS level")
        return None
    report.election = header.election
    return header


def _archived_keys(entries: Sequence[Any], report: RegisterReport) -> dict[str, Mapping[str, Any]]:
    """Thumbprint → archived JWK, each archived once."""
    keys: dict[str, Mapping[str, Any]] = {}
    for index, entry in enumerate(entries):
        if not isinstance(entry, Mapping) or "jwk" not in entry:
            continue
        jwk = entry["jwk"]
        try:
            thumbprint = jwk_thumbprint(jwk) if isinstance(jwk, Mapping) else ""
            _public_key(jwk)
        except ValueError as exc:
            report.fail(f"entry {index}: archived key: {exc}")
            continue
        if thumbprint != entry.get("fc_key"):
            report.fail(f"entry {index}: the archived key's thumbprint is not its fc_key")
        elif thumbprint in keys:
            report.fail(f"entry {index}: the key {thumbprint[:12]}… is archived twice")
        else:
            keys[thumbprint] = jwk
    return keys


def _check_entry(  # noqa: PLR0911 - one return per failure, each reported
    index: int,
    entry: object,
    header: _Header,
    keys: Mapping[str, Mapping[str, Any]],
    report: RegisterReport,
) -> str | None:
    """Check one entry; return its FranceConnect ``sub`` when its token verified."""
    if not isinstance(entry, Mapping) or not (
        _ENTRY_MEMBERS <= set(entry) <= _ENTRY_MEMBERS | {"jwk"}
    ):
        report.fail(f"entry {index}: not a register entry")
        return None
    if entry["kind"] != ENTRY_KIND or entry["election"] != header.election:
        report.fail(f"entry {index}: not an issuance of election {header.election}")
        return None
    blinded = _b64u_decode(entry["blinded_hash"])
    if blinded is None or len(blinded) != 32:
        report.fail(f"entry {index}: blinded_hash is not 32 bytes")
        return None
    token, fc_key = entry["id_token"], entry["fc_key"]
    if not isinstance(token, str) or not isinstance(fc_key, str):
        report.fail(f"entry {index}: no FranceConnect ID token backs this issuance")
        return None
    jwk = keys.get(fc_key)
    if jwk is None:
        report.fail(f"entry {index}: its FranceConnect key {fc_key[:12]}… is not archived")
        return None
    try:
        claims = verify_jws(token, jwk)
        iat = _time(claims.get("iat"), "iat")
        exp = _time(claims.get("exp"), "exp")
    except ValueError as exc:
        report.fail(f"entry {index}: {exc}")
        return None
    problems = []
    if claims.get("iss") != header.issuer:
        problems.append("iss is not the register's FranceConnect issuer")
    audience = claims.get("aud")
    if header.client_id not in ([audience] if isinstance(audience, str) else audience or []):
        problems.append("aud is not Parvis's client id")
    acr = claims.get("acr")
    if acr not in ACR_ORDER or ACR_ORDER.index(acr) < ACR_ORDER.index(header.acr):
        problems.append(f"acr is below {header.acr}")
    expected = issuance_nonce(header.election, blinded)
    if not isinstance(claims.get("nonce"), str) or not hmac.compare_digest(
        claims["nonce"].encode(), expected.encode()
    ):
        problems.append("the nonce does not bind this election and this blinded message")
    if not header.opens_at <= iat < header.closes_at:
        problems.append("iat is outside the voting period")
    if exp < iat:
        problems.append("exp is before iat")
    days = {iat.date().isoformat(), (exp + timedelta(seconds=60)).date().isoformat()}
    if entry["day"] not in days:
        problems.append("the entry's day is not the token's")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        problems.append("the token has no sub")
    for problem in problems:
        report.fail(f"entry {index}: {problem}")
    return sub if not problems and isinstance(sub, str) else None


def _check_fc_jwks(
    keys: Mapping[str, Mapping[str, Any]], published: object, report: RegisterReport
) -> None:
    if not isinstance(published, Mapping) or not isinstance(published.get("keys"), list):
        report.fail('--fc-jwks: not a JWKS ({"keys": [...]})')
        return
    known = set()
    for jwk in published["keys"]:
        try:
            known.add(jwk_thumbprint(jwk))
        except (ValueError, TypeError, AttributeError):
            continue
    for thumbprint in sorted(set(keys) - known):
        report.fail(f"archived key {thumbprint[:12]}… is not in FranceConnect's JWKS")
    if set(keys) <= known:
        report.checks.append(f"{len(keys)} archived key(s) are FranceConnect's published keys")


def _check_board(
    board: Mapping[str, Any],
    header: _Header,
    leaves: Sequence[bytes],
    report: RegisterReport,
) -> None:
    from ballot.verify import verify_board

    try:
        verified = verify_board(board, workers=1)
    except (DomainError, ValueError) as exc:
        report.fail(f"board: {exc}")
        return
    entries = board["entries"]
    manifest = entries[0]["manifest"]
    if manifest["election"] != header.election:
        report.fail("board: it is another election's")
        return
    if (
        parse_time(manifest["opens_at"], field="opens_at") != header.opens_at
        or parse_time(manifest["closes_at"], field="closes_at") != header.closes_at
    ):
        report.fail("board: the manifest's voting period is not the register's")
    shown = [
        (index, e)
        for index, e in enumerate(entries)
        if isinstance(e, Mapping) and e.get("kind") == "register"
    ]
    for index, entry in shown:
        size = entry["size"]
        if size > len(leaves):
            report.fail(
                f"board entry {index}: the board shows a register of {size} entries, "
                f"this one has {len(leaves)}"
            )
        elif b64u(root(leaves[:size])) != entry["root"]:
            report.fail(
                f"board entry {index}: the register's root at size {size} is not the board's"
            )
    close = next((e for e in entries if isinstance(e, Mapping) and e.get("kind") == "close"), None)
    if close is not None:
        if close["tokens_issued"] != len(leaves):
            report.fail(
                f"board: the close counts {close['tokens_issued']} tokens issued, the "
                f"register holds {len(leaves)} entries"
            )
        if not shown or shown[-1][1]["size"] != len(leaves):
            report.fail("board: the board does not show the register's final size and root")
    elif not shown:
        report.fail("board: the board shows no register size and root")
    report.checks.append(
        f"board of {header.election} verifies ({verified.entries} entries); it shows the "
        f"register {len(shown)} time(s)"
    )


def verify_register(
    export: object,
    *,
    board: Mapping[str, Any] | None = None,
    fc_jwks: object = None,
) -> RegisterReport:
    """Verify a register export; every failure goes into ``report.failures``."""
    report = RegisterReport()
    if not isinstance(export, Mapping) or not isinstance(export.get("entries"), list):
        report.fail("register: not a register export (a JSON object with entries)")
        return report
    header = _header(export, report)
    if header is None:
        return report
    entries = export["entries"]
    report.entries = len(entries)
    leaves: list[bytes] = []
    for index, entry in enumerate(entries):
        try:
            leaves.append(leaf_hash(entry_bytes(entry)))
        except (TypeError, ValueError) as exc:
            report.fail(f"entry {index}: not canonical JSON ({exc})")
            return report
    if export.get("size") != len(entries) or export.get("root") != b64u(root(leaves)):
        report.fail("register: its size and root are not those of its entries")
    keys = _archived_keys(entries, report)
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        sub = _check_entry(index, entry, header, keys, report)
        if sub is None:
            continue
        if sub in seen:
            report.fail(
                f"entry {index}: the same FranceConnect sub as entry {seen[sub]}: one "
                "citizen, two voting rights"
            )
        else:
            seen[sub] = index
    report.checks.append(
        f"{len(entries)} entries of election {header.election}; {len(seen)} distinct "
        f"citizens authenticated by {header.issuer} for client {header.client_id}"
    )
    if fc_jwks is not None:
        _check_fc_jwks(keys, fc_jwks, report)
    else:
        report.checks.append(
            f"{len(keys)} archived FranceConnect key(s) believed: compare them with "
            "FranceConnect's JWKS (--fc-jwks)"
        )
    if board is not None:
        _check_board(board, header, leaves, report)
    return report


def _load(source: str) -> Any:
    from ballot.verify import load_export

    return load_export(source)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ballot.verify_register FILE [--board FILE|URL] [--fc-jwks FILE|URL]``:
    exit 0 when every check holds, 1 with one ``FAILED: …`` line per failure."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("file", help="issuance register export (JSON file)")
    parser.add_argument("--board", help="the election's board export: a file or http(s) URL")
    parser.add_argument("--fc-jwks", help="FranceConnect's JWKS: a file or http(s) URL")
    args = parser.parse_args(argv)
    report = run(args.file, board=args.board, fc_jwks=args.fc_jwks)
    return 0 if not report.failures else 1


def run(source: str, *, board: str | None, fc_jwks: str | None) -> RegisterReport:
    """Load, verify and print: ``ok`` lines on standard output, one ``FAILED`` line per
    failure on standard error."""
    try:
        export = _load(source)
        board_export = _load(board) if board is not None else None
        jwks = _load(fc_jwks) if fc_jwks is not None else None
    except (DomainError, ValueError) as exc:
        report = RegisterReport()
        report.fail(str(exc))
    else:
        report = verify_register(export, board=board_export, fc_jwks=jwks)
    for line in report.failures:
        print(f"FAILED: {line}", file=sys.stderr)
    if not report.failures:
        for line in report.checks:
            print(f"ok  {line}")
        print(
            f"verified: issuance register of election {report.election}, {report.entries} entries"
        )
    return report


if __name__ == "__main__":
    sys.exit(main())
