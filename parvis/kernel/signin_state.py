"""The state of a sign-in in progress, kept by the browser in a sealed cookie.

An authorization request's ``state`` and ``nonce`` (OpenID Connect Core §3.1.2.1, RFC 6749
§10.12) must be bound to the browser that started it until the provider sends it back. Kept
in a server-side session, every anonymous ``GET`` of a sign-in link wrote a database row that
nobody would ever use again (GDPR Art. 5(1)(e), storage limitation; and a free way to fill
the table). Here the browser keeps them instead, sealed with AES-256-GCM (NIST SP 800-38D)
under a key derived from the master secret (:mod:`parvis.kernel.keys`): the browser can
neither read the nonce nor forge a state, the server writes nothing, and the cookie lives
:data:`LIFETIME` — the seal carries its own expiry, so a kept cookie is refused after it
even if the browser ignored ``Max-Age``. The callback deletes it: a state serves once.
"""

from __future__ import annotations

import base64
import json
import secrets
from datetime import timedelta

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from parvis.kernel.clock import Clock

__all__ = ["KEY_PURPOSE", "LIFETIME", "SignInStateSealer", "cookie_name"]

KEY_PURPOSE = "parvis/kernel/sign-in-state/v1"
"""The HKDF ``info`` label of the sealing key."""

LIFETIME = timedelta(minutes=10)
"""How long a started sign-in may take (FranceConnect's own interaction lasts longer; a
citizen who takes more than ten minutes starts again)."""

_AAD = b"parvis sign-in state v1"
_NONCE_BYTES = 12


def cookie_name(*, secure: bool) -> str:
    """``__Host-`` prefix when Secure, like the session cookie (RFC 6265bis §4.1.3.2)."""
    return "__Host-parvis_sign_in" if secure else "parvis_sign_in"


class SignInStateSealer:
    """Seal and open the values of a sign-in in progress (strings only)."""

    def __init__(self, *, key: bytes, clock: Clock) -> None:
        if len(key) != 32:
            raise ValueError("the sign-in state key is 32 bytes (AES-256-GCM)")
        self._aead = AESGCM(key)
        self.clock = clock

    def seal(self, values: dict[str, str]) -> str:
        """The cookie value carrying ``values`` until :data:`LIFETIME` from now."""
        expires = int((self.clock.now() + LIFETIME).timestamp())
        plain = json.dumps({"exp": expires, "v": values}, separators=(",", ":")).encode()
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = nonce + self._aead.encrypt(nonce, plain, _AAD)
        return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode("ascii")

    def open(self, cookie: str | None) -> dict[str, str] | None:
        """The values of a live cookie; None when absent, forged, tampered with or expired
        (the caller treats all four alike: the sign-in did not start in this browser)."""
        if not cookie or len(cookie) > 4096:
            return None
        try:
            raw = base64.urlsafe_b64decode(cookie + "=" * (-len(cookie) % 4))
            plain = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _AAD)
        except (ValueError, InvalidTag):
            return None
        data = json.loads(plain)
        if int(data["exp"]) <= int(self.clock.now().timestamp()):
            return None
        values = data["v"]
        return {str(k): str(v) for k, v in values.items()}
