"""The FranceConnect v2 relying party ("fournisseur de service"), configured only from settings.

The same code runs against the built-in sandbox, FranceConnect's integration platform and
production: only ``PARVIS_FC_ISSUER``, ``PARVIS_FC_CLIENT_ID`` and ``PARVIS_FC_CLIENT_SECRET``
change (franceconnect.md, first paragraph). The flow, in order:

1. discovery (``{issuer}/.well-known/openid-configuration``); the document's ``issuer`` must
   be the configured one (a mix-up defence, RFC 9207 §2.4 in spirit);
2. :meth:`FranceConnectClient.begin`: ≥ 32-character random ``state`` and ``nonce``,
   ``acr_values=eidas1``, code flow (Authlib builds the URI);
3. :meth:`FranceConnectClient.finish`: ``state`` checked first (constant time), then the
   response's ``iss`` when present (RFC 9207 §2.4); an OAuth
   ``error`` becomes :class:`FranceConnectRefusedError`; code exchange with
   ``client_secret_post``; ID token verified (joserfc: ``kid`` → key, one JWKS re-fetch on an
   unknown ``kid``, ES256/RS256 only), its ``typ`` (none or ``JWT``) and its claims checked
   (:mod:`identity.franceconnect`);
   userinfo fetched as ``application/jwt``, verified the same way, its ``sub`` equal to the
   ID token's; the identity pivot parsed, with the e-mail address when ``email`` is among
   the scopes (:class:`FranceConnectIdentity`);
4. :meth:`FranceConnectClient.logout_url`: ``/session/end`` with its three parameters.

HTTP goes through an injected :class:`httpx.Client` that carries the timeout
(``PARVIS_FC_HTTP_TIMEOUT``), so tests run the whole flow in-process (``TestClient`` on the
same app) or over real HTTP against ``parvis fc-sandbox``.
"""

from __future__ import annotations

import contextlib
import hmac
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from joserfc import jwk

from identity.errors import (
    FranceConnectError,
    FranceConnectRefusedError,
    ProviderUnavailableError,
    StateMismatchError,
    TokenValidationError,
    UserinfoError,
)
from identity.franceconnect import (
    RP_RANDOM_MIN_LENGTH,
    IdentityPivot,
    SignedClaims,
    check_id_token_claims,
    check_id_token_type,
    claims_for_scopes,
    parse_identity,
    token_header,
    verify_signed_jwt,
)
from parvis.kernel.clock import Clock
from parvis.kernel.settings import Settings

__all__ = [
    "AuthorizationRequest",
    "FranceConnectClient",
    "FranceConnectIdentity",
    "RelyingPartyConfig",
    "SignInResult",
]

#: Clock skew tolerated on ``exp`` and ``iat`` (OpenID Connect Core §3.1.3.7 allows "a
#: small leeway"); FranceConnect tokens live 60 s, so the skew stays well below that.
CLOCK_SKEW_SECONDS = 30

#: The only FranceConnect OAuth error codes shown with their own message; any other code is
#: shown as a generic refusal (the code itself is still displayed for the help desk).
KNOWN_ERRORS = frozenset(
    {"access_denied", "invalid_scope", "invalid_request", "invalid_acr", "server_error"}
)


@dataclass(frozen=True, slots=True)
class RelyingPartyConfig:
    """Everything the relying party needs, read from ``PARVIS_FC_*`` settings."""

    issuer: str
    client_id: str
    client_secret: str
    scopes: tuple[str, ...]
    acr: str
    redirect_uri: str
    post_logout_redirect_uri: str
    timeout: float

    @classmethod
    def from_settings(cls, settings: Settings) -> RelyingPartyConfig:
        if not settings.fc_issuer or not settings.fc_client_id or not settings.fc_client_secret:
            raise FranceConnectError(
                "FranceConnect is not configured: set PARVIS_FC_ISSUER, PARVIS_FC_CLIENT_ID "
                "and PARVIS_FC_CLIENT_SECRET",
                reason="not-configured",
            )
        return cls(
            issuer=settings.fc_issuer,
            client_id=settings.fc_client_id,
            client_secret=settings.fc_client_secret,
            scopes=tuple(settings.fc_scopes.split()),
            acr=settings.fc_acr,
            redirect_uri=settings.fc_redirect_uri,
            post_logout_redirect_uri=settings.fc_post_logout_redirect_uri,
            timeout=settings.fc_http_timeout,
        )


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """Where to send the browser, and what to remember in the session until the callback."""

    url: str
    state: str
    nonce: str


#: Longest e-mail address kept (RFC 5321 §4.5.3.1.3: a path is at most 256 octets, so an
#: address at most 254 characters).
EMAIL_MAX_LENGTH = 254


@dataclass(frozen=True, slots=True)
class FranceConnectIdentity(IdentityPivot):
    """The identity pivot plus the e-mail address FranceConnect returned (franceconnect.md,
    "Scopes and claims": scope ``email``), empty when it was not asked for or not given.

    The address is the one the citizen's identity provider holds: Parvis has not verified
    it (``email_verified`` stays false, ADR 0008) and never uses it to link accounts
    (franceconnect.md: "``email`` is not trustworthy for account linking")."""

    email: str = ""


def email_of(claims: Mapping[str, Any]) -> str:
    """The ``email`` claim when it looks like one address (one ``@``, no space or control
    character, at most :data:`EMAIL_MAX_LENGTH`), else ``""``: an unusable address is
    dropped, never a reason to refuse the sign-in (it is not part of the pivot)."""
    value = claims.get("email")
    if not isinstance(value, str) or not 3 <= len(value) <= EMAIL_MAX_LENGTH:
        return ""
    local, at, domain = value.partition("@")
    if not at or not local or not domain or "@" in domain:
        return ""
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        return ""
    return value


@dataclass(frozen=True, slots=True)
class SignInResult:
    """A verified FranceConnect sign-in. Only :meth:`FranceConnectClient.finish` builds one."""

    sub: str
    acr: str
    pivot: FranceConnectIdentity
    id_token: str


class FranceConnectClient:
    """One relying party (per process): discovery and JWKS are cached."""

    def __init__(self, config: RelyingPartyConfig, *, http: httpx.Client, clock: Clock) -> None:
        self.config = config
        self.http = http
        self.clock = clock
        self._metadata: dict[str, Any] | None = None
        self._keys: jwk.KeySet | None = None
        self._lock = threading.Lock()

    # -- provider metadata --------------------------------------------------------------

    def _get(self, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.http.get(url, **kwargs)
        except httpx.TimeoutException as exc:
            raise ProviderUnavailableError(
                "FranceConnect did not answer in time", reason="timeout"
            ) from exc
        except httpx.HTTPError as exc:
            raise ProviderUnavailableError(
                "FranceConnect cannot be reached", reason="transport"
            ) from exc

    def _json(self, response: httpx.Response, what: str) -> dict[str, Any]:
        if response.status_code != 200:
            raise ProviderUnavailableError(
                f"FranceConnect {what} answered {response.status_code}", reason=f"{what}:status"
            )
        try:
            body = response.json()
        except ValueError as exc:
            raise ProviderUnavailableError(
                f"FranceConnect {what} is not JSON", reason=f"{what}:body"
            ) from exc
        if not isinstance(body, dict):
            raise ProviderUnavailableError(
                f"FranceConnect {what} is not an object", reason=f"{what}:body"
            )
        return body

    def metadata(self) -> dict[str, Any]:
        """The discovery document; its ``issuer`` must equal the configured issuer."""
        if self._metadata is None:
            url = f"{self.config.issuer}/.well-known/openid-configuration"
            document = self._json(self._get(url), "discovery")
            if document.get("issuer") != self.config.issuer:
                raise TokenValidationError(
                    "the discovery document names another issuer", reason="discovery:issuer"
                )
            for name in (
                "authorization_endpoint",
                "token_endpoint",
                "userinfo_endpoint",
                "jwks_uri",
                "end_session_endpoint",
            ):
                if not isinstance(document.get(name), str):
                    raise ProviderUnavailableError(
                        f"discovery lacks {name}", reason="discovery:body"
                    )
            with self._lock:
                self._metadata = document
        return self._metadata

    def keys(self, *, refresh: bool = False) -> jwk.KeySet:
        """The provider's JWKS, fetched once and again only when asked (unknown ``kid``)."""
        if self._keys is None or refresh:
            document = self._json(self._get(self.metadata()["jwks_uri"]), "jwks")
            try:
                keys = jwk.KeySet.import_key_set(document)  # type: ignore[arg-type]
            except Exception as exc:  # joserfc raises several types for a bad JWKS
                raise ProviderUnavailableError(
                    "the JWKS cannot be read", reason="jwks:body"
                ) from exc
            with self._lock:
                self._keys = keys
        assert self._keys is not None
        return self._keys

    def verify(self, token: str) -> SignedClaims:
        """Verify a FranceConnect JWS; on an unknown ``kid`` re-fetch the JWKS **once**
        (franceconnect.md, "/jwks": "on an unknown kid, re-fetch the JWKS once before
        failing")."""
        try:
            return verify_signed_jwt(token, self.keys())
        except TokenValidationError as exc:
            if exc.reason != "unknown-kid" or not isinstance(token_header(token).get("kid"), str):
                raise
        return verify_signed_jwt(token, self.keys(refresh=True))

    # -- the flow -----------------------------------------------------------------------

    def begin(
        self,
        *,
        prompt: str | None = None,
        idp_hint: str | None = None,
        nonce: str | None = None,
    ) -> AuthorizationRequest:
        """The authorization request: code flow, ``acr_values``, fresh ``state`` and
        ``nonce`` of 43 characters (256 bits, above franceconnect.md's 32).

        ``nonce`` replaces the random one for an authentication bound to a value: the
        issuance nonce of ballot-secrecy.md §3 (43 characters, a SHA-256 digest in
        base64url, which binds the ID token to one blinded message)."""
        state = secrets.token_urlsafe(32)
        nonce = nonce if nonce is not None else secrets.token_urlsafe(32)
        assert len(state) >= RP_RANDOM_MIN_LENGTH
        assert len(nonce) >= RP_RANDOM_MIN_LENGTH
        extra: dict[str, str] = {"nonce": nonce, "acr_values": self.config.acr}
        if prompt:
            extra["prompt"] = prompt
        if idp_hint:
            extra["idp_hint"] = idp_hint
        url = prepare_grant_uri(
            self.metadata()["authorization_endpoint"],
            self.config.client_id,
            "code",
            redirect_uri=self.config.redirect_uri,
            scope=" ".join(self.config.scopes),
            state=state,
            **extra,
        )
        return AuthorizationRequest(url=str(url), state=state, nonce=nonce)

    def finish(self, params: Mapping[str, str], *, state: str, nonce: str) -> SignInResult:
        """Handle the callback query ``params`` for the request that had ``state`` and
        ``nonce``; raises a :class:`FranceConnectError` subclass on any failure."""
        returned = params.get("state", "")
        if not state or not hmac.compare_digest(returned.encode(), state.encode()):
            raise StateMismatchError("state does not match this browser's request", reason="state")
        # RFC 9207 §2.4: when the response names its issuer, it must be ours exactly —
        # on an error response too — or the response is rejected before the code is used
        # (a mix-up: the code would be another provider's). Checked after the state, which
        # binds the response to this browser first; FranceConnect does not always send it.
        if "iss" in params and not hmac.compare_digest(
            params["iss"].encode(), self.config.issuer.encode()
        ):
            raise TokenValidationError(
                "the authorization response names another issuer",
                reason="authorization-response:iss",
            )
        if "error" in params:
            error = params["error"]
            raise FranceConnectRefusedError(
                f"FranceConnect answered {error if error in KNOWN_ERRORS else 'an error'}",
                error=error if error in KNOWN_ERRORS else "other",
            )
        code = params.get("code", "")
        if not code:
            raise FranceConnectError("the callback carries no code", reason="no-code")
        tokens = self._exchange(code)
        id_token = tokens["id_token"]
        access_token = tokens["access_token"]
        claims = self.verify(id_token)
        check_id_token_type(token_header(id_token))
        check_id_token_claims(
            claims,
            issuer=self.config.issuer,
            client_id=self.config.client_id,
            nonce=nonce,
            requested_acr=self.config.acr,
            now=int(self.clock.now().timestamp()),
            skew=CLOCK_SKEW_SECONDS,
            access_token=access_token,
            alg=str(token_header(id_token).get("alg")),
        )
        userinfo = self._userinfo(access_token)
        if not hmac.compare_digest(
            str(userinfo.get("sub", "")).encode(), str(claims["sub"]).encode()
        ):
            raise UserinfoError("userinfo is about another subject", reason="userinfo:sub")
        # OpenID Connect Core §5.3.2: a signed userinfo SHOULD carry iss and aud; when it
        # does they must be FranceConnect's and ours (a token minted for another client).
        if "iss" in userinfo and userinfo["iss"] != self.config.issuer:
            raise UserinfoError("userinfo from another issuer", reason="userinfo:iss")
        if "aud" in userinfo and self.config.client_id not in (
            [userinfo["aud"]] if isinstance(userinfo["aud"], str) else userinfo["aud"]
        ):
            raise UserinfoError("userinfo for another client", reason="userinfo:aud")
        expected = claims_for_scopes(self.config.scopes)
        parsed = parse_identity(userinfo, expected=expected)
        pivot = FranceConnectIdentity(
            family_name=parsed.family_name,
            given_name=parsed.given_name,
            birthdate=parsed.birthdate,
            birthplace=parsed.birthplace,
            birthcountry=parsed.birthcountry,
            email=email_of(userinfo) if "email" in expected else "",
        )
        return SignInResult(
            sub=str(claims["sub"]), acr=str(claims["acr"]), pivot=pivot, id_token=id_token
        )

    def signing_jwk(self, token: str) -> dict[str, Any]:
        """The public JWK of the provider key that signed ``token`` (already verified): what
        an issuance register archives so that scrutineers check the signature later
        (ballot-secrecy.md §3)."""
        kid = token_header(token).get("kid")
        alg = token_header(token).get("alg")
        for key in self.keys().keys:
            data = key.as_dict(private=False)
            if (kid is None or data.get("kid") == kid) and (
                {"RS256": "RSA", "ES256": "EC"}.get(str(alg)) == data.get("kty")
            ):
                return {k: v for k, v in data.items() if isinstance(v, str)}
        raise TokenValidationError("the signing key is not in the JWKS", reason="unknown-kid")

    def _exchange(self, code: str) -> dict[str, Any]:
        """RFC 6749 §4.1.3 with ``client_secret_post`` (§2.3.1)."""
        body = prepare_token_request(
            "authorization_code",
            code=code,
            redirect_uri=self.config.redirect_uri,
            client_id=self.config.client_id,
            client_secret=self.config.client_secret,
        )
        try:
            response = self.http.post(
                self.metadata()["token_endpoint"],
                content=body,
                headers={
                    "content-type": "application/x-www-form-urlencoded",
                    "accept": "application/json",
                },
            )
        except httpx.TimeoutException as exc:
            raise ProviderUnavailableError(
                "FranceConnect did not answer in time", reason="timeout"
            ) from exc
        except httpx.HTTPError as exc:
            raise ProviderUnavailableError(
                "FranceConnect cannot be reached", reason="transport"
            ) from exc
        if 400 <= response.status_code < 500:
            error = "unknown"
            with contextlib.suppress(ValueError, AttributeError):
                error = str(response.json().get("error", "unknown"))
            raise TokenValidationError("the code was refused", reason=f"token:{error}"[:60])
        tokens = self._json(response, "token")
        if tokens.get("token_type", "").lower() != "bearer" or not all(
            isinstance(tokens.get(k), str) for k in ("access_token", "id_token")
        ):
            raise ProviderUnavailableError("the token response is incomplete", reason="token:body")
        return tokens

    def _userinfo(self, access_token: str) -> SignedClaims:
        """franceconnect.md, "/userinfo": ``200 application/jwt``, signed with the client's
        algorithm; anything else is refused."""
        response = self._get(
            self.metadata()["userinfo_endpoint"],
            headers={"authorization": f"Bearer {access_token}", "accept": "application/jwt"},
        )
        if response.status_code != 200:
            raise ProviderUnavailableError(
                f"userinfo answered {response.status_code}", reason="userinfo:status"
            )
        media = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media != "application/jwt":
            raise UserinfoError("userinfo is not application/jwt", reason="userinfo:media-type")
        try:
            return self.verify(response.text.strip())
        except TokenValidationError as exc:
            raise UserinfoError(
                "userinfo signature rejected", reason=f"userinfo:{exc.reason}"
            ) from exc

    def logout_url(self, *, id_token: str, state: str) -> str:
        """franceconnect.md, "/session/end": ``id_token_hint``, ``state`` and
        ``post_logout_redirect_uri`` are all required."""
        query = urlencode(
            {
                "id_token_hint": id_token,
                "state": state,
                "post_logout_redirect_uri": self.config.post_logout_redirect_uri,
            }
        )
        return f"{self.metadata()['end_session_endpoint']}?{query}"
