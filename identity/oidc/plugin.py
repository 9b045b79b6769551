"""What the OpenID provider adds to identity's plug-in (wired in :mod:`identity.plugin`)."""

from __future__ import annotations

import consent
from identity.oidc.cli import client_app, keys_app
from identity.oidc.service import oidc_from
from identity.oidc.web import router
from parvis.kernel.context import AppContext

__all__ = ["CLI_GROUPS", "router", "setup"]

CLI_GROUPS = {"client": client_app, "keys": keys_app}


def setup(ctx: AppContext) -> None:
    oidc_from(ctx)
    consent.register_eraser("identity-oidc", _erase)


def _erase(erasure: consent.ErasureContext) -> None:
    oidc_from(erasure.ctx).erase(erasure.session, erasure.subject)
