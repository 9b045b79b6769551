"""Sign a principal in for a test, through the kernel's real session store.

Until ``identity`` lands, tests of other domains use this to obtain a citizen or staff
session; the real sign-in writes the same :class:`~parvis.kernel.principal.Principal` into
the same store.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from parvis.kernel.context import AppContext
from parvis.kernel.principal import Principal
from parvis.kernel.sessions import WebSession, cookie_name

__all__ = ["sign_in"]


def sign_in(client: TestClient, app: FastAPI, principal: Principal) -> WebSession:
    """Create a session for ``principal`` and put its cookie into ``client``'s jar."""
    ctx: AppContext = app.state.ctx
    with ctx.db.write_session() as db:
        session = ctx.sessions.create(db, principal)
    assert session.cookie is not None
    client.cookies.set(cookie_name(secure=ctx.settings.secure_cookies), session.cookie)
    return session
