"""The sealed sign-in state cookie: opens only unaltered, unexpired, under its own key."""

from __future__ import annotations

from datetime import timedelta

from parvis.kernel.clock import FixedClock
from parvis.kernel.signin_state import LIFETIME, SignInStateSealer, cookie_name


def test_sealed_state_opens_until_it_expires_and_never_when_altered() -> None:
    clock = FixedClock()
    sealer = SignInStateSealer(key=b"s" * 32, clock=clock)
    cookie = sealer.seal({"state": "st" * 22, "nonce": "no" * 22})
    assert "st" * 22 not in cookie
    assert "no" * 22 not in cookie
    assert sealer.open(cookie) == {"state": "st" * 22, "nonce": "no" * 22}
    flipped = cookie[:20] + ("A" if cookie[20] != "A" else "B") + cookie[21:]
    assert sealer.open(flipped) is None
    assert SignInStateSealer(key=b"t" * 32, clock=clock).open(cookie) is None
    for junk in ("", "x", "!!!!", "A" * 5000):
        assert sealer.open(junk) is None
    clock.advance(LIFETIME - timedelta(seconds=1))
    assert sealer.open(cookie) is not None
    clock.advance(timedelta(seconds=1))
    assert sealer.open(cookie) is None


def test_cookie_is_host_prefixed_when_secure() -> None:
    assert cookie_name(secure=True) == "__Host-parvis_sign_in"
    assert cookie_name(secure=False) == "parvis_sign_in"
