"""FranceConnect v2 ("fcp-low") rules a relying party checks by hand, and its claim formats.

Sources: franceconnect.md (Parvis design), FranceConnect's partner documentation
(docs.partenaires.franceconnect.gouv.fr) and OpenID Connect Core 1.0
(https://openid.net/specs/openid-connect-core-1_0.html). JOSE itself (JWS signature
verification, key selection by ``kid``) is joserfc's; this module only adds what
FranceConnect specifies on top: the algorithm allow-list, the ``acr`` order, the scope → claim
map, the claim formats, the minimum lengths of ``state`` and ``nonce``.

Pure core: no web framework, no database, no clock (``now`` is passed in), no randomness.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, NewType

from joserfc import jwk, jws, jwt
from joserfc.errors import JoseError

from identity.errors import ClaimError, TokenValidationError

__all__ = [
    "ACR_ORDER",
    "ALLOWED_ALGORITHMS",
    "BIRTHCOUNTRY_FRANCE",
    "CLAIM_FORMATS",
    "NONCE_MIN_LENGTH",
    "RP_RANDOM_MIN_LENGTH",
    "SCOPE_CLAIMS",
    "IdentityPivot",
    "SignedClaims",
    "acr_satisfies",
    "at_hash",
    "check_id_token_claims",
    "check_id_token_type",
    "claims_for_scopes",
    "is_cog_commune",
    "parse_identity",
    "token_header",
    "verify_signed_jwt",
]

#: franceconnect.md, "Platforms": v2 standard signs with ES256 or RS256, chosen per client.
#: ``none`` and every symmetric algorithm are refused: an HS256 token "signed" with the
#: provider's *public* key would otherwise verify (the algorithm-confusion attack).
ALLOWED_ALGORITHMS: tuple[str, ...] = ("ES256", "RS256")

#: eIDAS levels in increasing order; v2 standard only issues ``eidas1``.
ACR_ORDER: tuple[str, ...] = ("eidas1", "eidas2", "eidas3")

#: franceconnect.md, "/authorize": "the core rejects a nonce shorter than 22 characters".
NONCE_MIN_LENGTH = 22

#: franceconnect.md: "use ≥ 32 random characters" for ``state`` and ``nonce``.
RP_RANDOM_MIN_LENGTH = 32

#: COG country code of France (franceconnect.md, "Formats").
BIRTHCOUNTRY_FRANCE = "99100"

_PROFILE = ("given_name", "given_name_array", "family_name", "birthdate", "gender")
_BIRTH = ("birthplace", "birthcountry")

#: franceconnect.md, "Scopes and claims (v2 standard)".
SCOPE_CLAIMS: Mapping[str, tuple[str, ...]] = {
    "openid": ("sub",),
    "given_name": ("given_name", "given_name_array"),
    "family_name": ("family_name",),
    "birthdate": ("birthdate",),
    "gender": ("gender",),
    "birthplace": ("birthplace",),
    "birthcountry": ("birthcountry",),
    "email": ("email",),
    "preferred_username": ("preferred_username",),
    "profile": (*_PROFILE, "preferred_username"),
    "birth": _BIRTH,
    "identite_pivot": (*_PROFILE, *_BIRTH),
    "idp_birthdate": ("idp_birthdate",),
    "amr": ("amr",),
    "idp_id": ("idp_id",),
}

_COG_COMMUNE = re.compile(r"^(?:\d{5}|2[AB]\d{3})$")
_COG_COUNTRY = re.compile(r"^99\d{3}$")
_BIRTHDATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

#: Claim formats (franceconnect.md, "Formats"), as regular expressions on the string value.
CLAIM_FORMATS: Mapping[str, re.Pattern[str]] = {
    "birthdate": _BIRTHDATE,
    "gender": re.compile(r"^(?:male|female)$"),
    "birthplace": re.compile(r"^(?:|\d{5}|2[AB]\d{3})$"),
    "birthcountry": _COG_COUNTRY,
    "sub": re.compile(r"^[0-9a-f]{64}v1$"),
}

#: Claims that make up the identity pivot Parvis needs (uniqueness, census matching, age).
PIVOT_CLAIMS: tuple[str, ...] = (
    "given_name",
    "family_name",
    "birthdate",
    "birthplace",
    "birthcountry",
)

#: A verified JWT payload: only :func:`verify_signed_jwt` creates one (style.md, NewType).
SignedClaims = NewType("SignedClaims", dict[str, Any])


def claims_for_scopes(scopes: Iterable[str]) -> frozenset[str]:
    """The claims FranceConnect returns for ``scopes`` (unknown scopes give nothing)."""
    return frozenset(claim for scope in scopes for claim in SCOPE_CLAIMS.get(scope, ()))


def is_cog_commune(code: str) -> bool:
    """True for a 5-character INSEE COG commune code (``2A``/``2B`` for Corsica)."""
    return bool(_COG_COMMUNE.match(code))


def acr_satisfies(returned: object, requested: str) -> bool:
    """franceconnect.md, "ID token claims": "The FS must check that the returned ``acr`` is
    at least the requested level." An unknown value never satisfies."""
    if not isinstance(returned, str) or returned not in ACR_ORDER:
        return False
    if requested not in ACR_ORDER:
        raise ValueError(f"unknown requested acr {requested!r}")
    return ACR_ORDER.index(returned) >= ACR_ORDER.index(requested)


def token_header(token: str) -> dict[str, Any]:
    """The JOSE header of a compact JWS, **unverified** (to read ``kid`` and ``alg``)."""
    try:
        header: dict[str, Any] = jws.extract_compact(token.encode("ascii")).headers()
    except (JoseError, ValueError, UnicodeError) as exc:
        raise TokenValidationError("not a compact JWS", reason="malformed") from exc
    return header


def verify_signed_jwt(token: str, keys: jwk.KeySet) -> SignedClaims:
    """Verify a JWS signed by FranceConnect and return its payload.

    The header must name an algorithm of :data:`ALLOWED_ALGORITHMS` and a ``kid`` present in
    ``keys`` whose key type matches the algorithm; anything else raises
    :class:`TokenValidationError` (``reason`` ``alg``, ``unknown-kid``, ``signature`` or
    ``malformed``). Claims are *not* checked here.
    """
    header = token_header(token)
    alg = header.get("alg")
    if alg not in ALLOWED_ALGORITHMS:
        # Checked before joserfc sees the token: the allow-list is ours, not the library's.
        raise TokenValidationError(f"signature algorithm {alg!r} is not allowed", reason="alg")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise TokenValidationError("the token names no key (kid)", reason="unknown-kid")
    try:
        key = keys.get_by_kid(kid)
    except (JoseError, ValueError, KeyError) as exc:
        raise TokenValidationError("unknown signing key", reason="unknown-kid") from exc
    expected_type = "EC" if alg == "ES256" else "RSA"
    if key.key_type != expected_type:
        raise TokenValidationError("key type does not match the algorithm", reason="alg")
    try:
        decoded = jwt.decode(token, key, algorithms=[alg])
    except (JoseError, ValueError, UnicodeError) as exc:
        raise TokenValidationError("bad signature", reason="signature") from exc
    return SignedClaims(dict(decoded.claims))


def at_hash(access_token: str, alg: str) -> str:
    """OpenID Connect Core §3.1.3.6: base64url of the left half of the hash of the access
    token (SHA-256 for ES256 and RS256)."""
    if alg not in ALLOWED_ALGORITHMS:
        raise ValueError(f"unsupported alg {alg!r}")
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode("ascii")


#: ``typ`` header values an ID token may carry: RFC 7519 §5.1 recommends ``JWT`` (and media
#: types may drop their ``application/`` prefix, RFC 7515 §4.1.9); none at all is usual.
ID_TOKEN_TYPES = frozenset({"jwt", "application/jwt"})


def check_id_token_type(header: Mapping[str, Any]) -> None:
    """Explicit typing (RFC 8725 §3.11): a JWT typed as another kind of token — an access
    token (``at+jwt``, RFC 9068 §2.1, which §4 forbids using as anything else), a logout
    token (``logout+jwt``) — is not an ID token, whoever signed it. Only ``JWT`` or no
    ``typ`` passes (compared case-insensitively, RFC 7515 §4.1.9)."""
    typ = header.get("typ")
    if typ is None:
        return
    if not isinstance(typ, str) or typ.lower() not in ID_TOKEN_TYPES:
        raise TokenValidationError("the token is not typed as an ID token", reason="typ")


def check_id_token_claims(
    claims: SignedClaims,
    *,
    issuer: str,
    client_id: str,
    nonce: str,
    requested_acr: str,
    now: int,
    skew: int = 30,
    access_token: str | None = None,
    alg: str | None = None,
) -> None:
    """OpenID Connect Core §3.1.3.7 with FranceConnect's additions; raises
    :class:`TokenValidationError` with a ``reason`` naming the failed rule.

    - 2. "The Issuer Identifier … MUST exactly match the value of the iss Claim."
    - 3. "The Client MUST validate that the aud Claim contains its client_id value" (and,
      with several audiences, ``azp`` must be the client).
    - 9. "The current time MUST be before the time represented by the exp Claim."
    - 10. ``iat`` not in the future (beyond ``skew`` seconds).
    - 11. "The value of the nonce Claim MUST be checked to verify that it is the same value
      as the one that was sent in the Authentication Request" (constant-time compare).
    - 12. ``acr`` at least the requested level (franceconnect.md).
    - §3.1.3.8: when ``at_hash`` is present it must match the access token.
    """
    if claims.get("iss") != issuer:
        raise TokenValidationError("issuer mismatch", reason="iss")
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if client_id not in audiences:
        raise TokenValidationError("audience mismatch", reason="aud")
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise TokenValidationError("authorized party mismatch", reason="azp")
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int) or isinstance(exp, bool) or now >= exp + skew:
        raise TokenValidationError("token expired", reason="exp")
    if not isinstance(iat, int) or isinstance(iat, bool) or iat > now + skew:
        raise TokenValidationError("token issued in the future", reason="iat")
    sent = claims.get("nonce")
    if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), nonce.encode()):
        raise TokenValidationError("nonce mismatch", reason="nonce")
    if not acr_satisfies(claims.get("acr"), requested_acr):
        raise TokenValidationError("assurance level below the requested one", reason="acr")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise TokenValidationError("no subject", reason="sub")
    expected_hash = claims.get("at_hash")
    if (
        expected_hash is not None
        and access_token is not None
        and alg is not None
        and (
            not isinstance(expected_hash, str)
            or not hmac.compare_digest(expected_hash.encode(), at_hash(access_token, alg).encode())
        )
    ):
        raise TokenValidationError("access token hash mismatch", reason="at_hash")


@dataclass(frozen=True, slots=True)
class IdentityPivot:
    """The identity pivot as FranceConnect formats it (franceconnect.md, "Formats").

    ``given_name`` holds every first name separated by spaces; ``family_name`` is the birth
    name; ``birthplace`` is empty exactly when ``birthcountry`` is not France.
    """

    family_name: str
    given_name: str
    birthdate: str
    birthplace: str
    birthcountry: str

    def __post_init__(self) -> None:
        if not self.family_name.strip():
            raise ClaimError("family_name is empty", reason="claim:family_name")
        if not self.given_name.strip():
            raise ClaimError("given_name is empty", reason="claim:given_name")
        birth_date_of(self.birthdate)
        if not _COG_COUNTRY.match(self.birthcountry):
            raise ClaimError("birthcountry is not a COG country code", reason="claim:format")
        if self.birthcountry == BIRTHCOUNTRY_FRANCE:
            if not is_cog_commune(self.birthplace):
                raise ClaimError("birthplace is not a COG commune code", reason="claim:format")
        elif self.birthplace:
            raise ClaimError("birthplace must be empty when born abroad", reason="claim:format")

    @property
    def birth_date(self) -> date:
        return birth_date_of(self.birthdate)


def birth_date_of(value: str) -> date:
    """Parse FranceConnect's ``birthdate`` (``YYYY-MM-DD``; partial dates come as
    ``YYYY-01-01`` or ``YYYY-MM-01``, so they are valid calendar dates)."""
    if not _BIRTHDATE.match(value):
        raise ClaimError("birthdate is not YYYY-MM-DD", reason="claim:format")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ClaimError("birthdate is not a calendar date", reason="claim:format") from exc


def parse_identity(claims: Mapping[str, Any], *, expected: Iterable[str]) -> IdentityPivot:
    """Check that every claim of ``expected`` is present and well-formed, and return the
    pivot. Raises :class:`ClaimError` (``reason`` ``claim:missing`` or ``claim:format``)."""
    for name in expected:
        if name not in claims:
            raise ClaimError(f"claim {name} is missing", reason="claim:missing")
        pattern = CLAIM_FORMATS.get(name)
        value = claims[name]
        if name == "given_name_array":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ClaimError("given_name_array is not a list of strings", reason="claim:format")
            continue
        if not isinstance(value, str) or (pattern is not None and not pattern.match(value)):
            raise ClaimError(
                f"claim {name} is not in FranceConnect's format", reason="claim:format"
            )
    for name in PIVOT_CLAIMS:
        if not isinstance(claims.get(name), str):
            raise ClaimError(f"claim {name} is missing", reason="claim:missing")
    return IdentityPivot(
        family_name=claims["family_name"],
        given_name=claims["given_name"],
        birthdate=claims["birthdate"],
        birthplace=claims["birthplace"],
        birthcountry=claims["birthcountry"],
    )
