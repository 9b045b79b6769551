"""What the OpenID provider adds to identity's plug-in (wired in :mod:`identity.plugin`)."""

from __future__ import annotations

from fastapi import APIRouter

import consent
from identity.oidc import admin, logout, web
from identity.oidc.cli import client_app, keys_app
from identity.oidc.service import oidc_from
from parvis.kernel.context import AppContext

__all__ = ["CLI_GROUPS", "router", "setup", "stop"]

CLI_GROUPS = {"client": client_app, "keys": keys_app}

router = APIRouter()
router.include_router(web.router)
router.include_router(logout.router)
router.include_router(admin.router)


def setup(ctx: AppContext) -> None:
    oidc_from(ctx)
    consent.register_eraser("identity-oidc", _erase)


def stop(ctx: AppContext) -> None:
    """Let back-channel logout deliveries under way finish (bounded by their timeouts)."""
    oidc_from(ctx).close()


def _erase(erasure: consent.ErasureContext) -> None:
    oidc_from(erasure.ctx).erase(erasure.session, erasure.subject)
