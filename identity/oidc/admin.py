"""Administration of the OpenID clients: the staff pages, and the use cases they share with
``parvis client …`` (docs/oidc-integration.md §4: clients are registered by an admin, in pages
or with ``parvis client create``; secrets are shown once, stored hashed, compared in constant
time, rotatable).

Who: staff with :attr:`~parvis.kernel.principal.Role.ADMIN`. Registering a platform decides
which personal data leave Parvis for which recipient, which is platform administration, the
admin's job (architecture.md, "City staff (admins …) define territories, eligibility rules
and elections"). The DPO audits processing and answers data-subject requests; keeping the DPO
out of the operation they audit keeps that control independent (GDPR Art. 38(6): the DPO's
other tasks must not "result in a conflict of interests"). Agents and election officers have
no business here.

Every change is written to the audit log in the transaction that makes it, with the staff
member (or ``system:cli``) as actor and only the client's metadata as details: never the
platform's display name (free text), never a secret. Disabling a client revokes its live
access tokens and ends its sign-in sessions in the same transaction (the registry does it:
:meth:`identity.oidc.clients.ClientRegistry.disable`); enabling it again lifts the flag only.

Pages (French paths like the other staff pages): ``/staff/plateformes`` (list),
``/staff/plateformes/nouvelle`` (register), ``/staff/plateformes/{client_id}`` (details,
secret rotation, disabling, enabling). Forms carry the session's CSRF token; refused input is
shown on the form with what was typed (422), never as a 500.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from joserfc import jwk
from joserfc.errors import JoseError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

import consent
from identity import auditing
from identity.oidc import locale_admin_fr  # noqa: F401 - registers the French catalogue
from identity.oidc.claims import CLAIM_GROUPS, SCOPES
from identity.oidc.clients import API_SCOPES, ID_TOKEN_ALGS, Disabled, Registration
from identity.oidc.errors import ClientRegistrationError, UnknownClientError
from identity.oidc.service import oidc_from
from identity.oidc.tables import OidcClientRow
from parvis.kernel.context import AppContext
from parvis.kernel.errors import DomainError
from parvis.kernel.principal import Role, Staff
from parvis.kernel.settings import Mode
from parvis.kernel.staffguard import staff_required
from parvis.kernel.web import check_csrf, get_ctx, page_language, render

__all__ = [
    "CONFIDENTIAL_METHODS",
    "PURPOSE_KEYS",
    "Disabled",
    "PrivateKeyMaterialError",
    "disable_client",
    "enable_client",
    "parse_jwks",
    "register_client",
    "rotate_client_secret",
    "router",
]

router = APIRouter(prefix="/staff/plateformes", include_in_schema=False)
CtxDep = Annotated[AppContext, Depends(get_ctx)]
AdminDep = Annotated[Staff, Depends(staff_required(Role.ADMIN))]

#: Token endpoint authentication of a confidential client (RFC 6749 §2.3, RFC 7523 §2.2); a
#: public client authenticates with ``none`` and must use PKCE.
CONFIDENTIAL_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt")
SECRET_METHODS = frozenset({"client_secret_basic", "client_secret_post"})
#: Keys of ``Registration.purposes``: each claim group that needs consent, and ``access``
#: (the purpose under which a platform's reads of personal data are recorded).
PURPOSE_KEYS = (*(g.scope for g in CLAIM_GROUPS.values() if g.needs_consent), "access")
#: Bounds on what a form may carry (a registration is a few URIs and one small JWKS).
MAX_URIS = 20
MAX_URI_LENGTH = 2000
MAX_JWKS_CHARS = 20_000
_CLIENT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{2,47}$")
#: JWK members that only a private or symmetric key has (RFC 7518 §6.2.2, §6.3.2, §6.4.1).
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


class PrivateKeyMaterialError(ClientRegistrationError):
    """A JWKS given for a client holds private or symmetric key material."""


# -- use cases (shared with identity.oidc.cli) ----------------------------------------------


def _audit(
    ctx: AppContext, session: Session, event: str, *, actor: str, details: dict[str, Any]
) -> None:
    # No subject: a client is not a person, and consent's erasure must never touch these.
    auditing.record(
        ctx, session, event_type=f"identity.oidc.client.{event}", actor=actor, details=details
    )


def _metadata(registration: Registration) -> dict[str, Any]:
    """What the audit log keeps of a registration: ids, methods and counts only."""
    reg = registration
    return {
        "client_id": reg.client_id,
        "auth_method": reg.auth_method,
        "public": reg.auth_method == "none",
        "scopes": sorted(reg.scopes),
        "id_token_alg": reg.id_token_alg,
        "userinfo": reg.userinfo_alg or "json",
        "redirect_uris": len(reg.redirect_uris),
        "post_logout_redirect_uris": len(reg.post_logout_redirect_uris),
        "sector_identifier": reg.sector_identifier is not None,
        "backchannel_logout": reg.backchannel_logout_uri is not None,
        "jwks_keys": len((reg.jwks or {}).get("keys", [])),
        "purposes": dict(sorted(reg.purposes.items())),
    }


def register_client(
    ctx: AppContext, session: Session, registration: Registration, *, actor: str
) -> str | None:
    """Register a platform (checking its consent purposes exist) and audit it; returns the
    secret to show once, for the secret-based methods."""
    registry = consent.service_from(ctx)
    for key, purpose_id in sorted(registration.purposes.items()):
        if key not in PURPOSE_KEYS:
            raise ClientRegistrationError(f"purposes: unknown claim group {key!r}")
        try:
            registry.purpose(session, purpose_id)
        except DomainError:
            raise ClientRegistrationError(
                f"purposes: no purpose {purpose_id[:64]!r} in the register"
            ) from None
    secret = oidc_from(ctx).clients.create(session, registration)
    _audit(ctx, session, "registered", actor=actor, details=_metadata(registration))
    return secret


def rotate_client_secret(ctx: AppContext, session: Session, client_id: str, *, actor: str) -> str:
    """A new secret (the old one stops working at once); returned to be shown once."""
    row = session.get(OidcClientRow, client_id) if _CLIENT_ID.match(client_id) else None
    if row is None:
        raise UnknownClientError(f"no client {client_id[:64]!r}")
    if row.disabled_at is not None:
        raise ClientRegistrationError(f"client {client_id!r} is disabled")
    secret = oidc_from(ctx).clients.rotate_secret(session, client_id)
    _audit(ctx, session, "secret_rotated", actor=actor, details={"client_id": client_id})
    return secret


def disable_client(ctx: AppContext, session: Session, client_id: str, *, actor: str) -> Disabled:
    """Disable a client through :meth:`ClientRegistry.disable` (which revokes its live
    access tokens, ends its sign-in sessions and expires its pending codes, in the caller's
    transaction) and audit it. A second disabling that found nothing left to end is not
    audited (it changed nothing)."""
    result = oidc_from(ctx).clients.disable(session, client_id)
    if not result.already or result.tokens_revoked or result.sessions_ended:
        _audit(
            ctx,
            session,
            "disabled",
            actor=actor,
            details={
                "client_id": client_id,
                "tokens_revoked": result.tokens_revoked,
                "sessions_ended": result.sessions_ended,
            },
        )
    return result


def enable_client(ctx: AppContext, session: Session, client_id: str, *, actor: str) -> bool:
    """Lift a disabling (:meth:`ClientRegistry.enable`: tokens and sessions ended by the
    disabling stay ended) and audit it as ``identity.oidc.client.enabled``; returns whether
    the client was disabled (enabling an enabled client changes nothing and is not
    audited)."""
    changed = oidc_from(ctx).clients.enable(session, client_id)
    if changed:
        _audit(ctx, session, "enabled", actor=actor, details={"client_id": client_id})
    return changed


def parse_jwks(text: str) -> dict[str, Any] | None:
    """The client's public JWK Set for ``private_key_jwt`` (RFC 7517 §5), or None when
    empty. Refused: malformed JSON, keys joserfc cannot import, and any private or
    symmetric key (RFC 7523 §2.2 verifies the client's assertion with its *public* key;
    Parvis must never hold a platform's private key)."""
    if not text.strip():
        return None
    if len(text) > MAX_JWKS_CHARS:
        raise ClientRegistrationError(f"JWKS: at most {MAX_JWKS_CHARS} characters")
    try:
        value = json.loads(text)
    except ValueError:
        raise ClientRegistrationError("JWKS: not valid JSON") from None
    keys = value.get("keys") if isinstance(value, dict) else None
    if not isinstance(keys, list) or not keys or not all(isinstance(k, dict) for k in keys):
        raise ClientRegistrationError('JWKS: a JSON object {"keys": [...]} with at least one key')
    for n, key in enumerate(keys):
        if key.get("kty") not in {"RSA", "EC"}:
            raise ClientRegistrationError(f"JWKS: key {n} must be an RSA or EC public key")
        if _PRIVATE_MEMBERS & set(key):
            raise PrivateKeyMaterialError(
                f"JWKS: key {n} contains private key material; give the public keys only"
            )
    try:
        jwk.KeySet.import_key_set({"keys": keys})
    except (JoseError, ValueError, TypeError, KeyError):
        raise ClientRegistrationError("JWKS: a key could not be read") from None
    return {"keys": keys}


# -- form parsing ----------------------------------------------------------------------------


def _lines(value: str, what: str) -> tuple[str, ...]:
    uris = tuple(line.strip() for line in value.splitlines() if line.strip())
    if len(uris) > MAX_URIS:
        raise ClientRegistrationError(f"{what}: at most {MAX_URIS}")
    if any(len(u) > MAX_URI_LENGTH for u in uris):
        raise ClientRegistrationError(f"{what}: at most {MAX_URI_LENGTH} characters each")
    return uris


def registration_from_form(values: Mapping[str, Any], *, allow_loopback_http: bool) -> Registration:
    """A :class:`Registration` from the form's fields (strings, and ``scope`` a list)."""

    def text(name: str) -> str:
        value = values.get(name, "")
        return value.strip() if isinstance(value, str) else ""

    if not text("name"):
        raise ClientRegistrationError("name: required (shown to citizens on the consent screen)")
    if len(text("name")) > 200:
        raise ClientRegistrationError("name: at most 200 characters")
    public = text("client_type") == "public"
    auth_method = "none" if public else text("auth_method")
    if not public and auth_method not in CONFIDENTIAL_METHODS:
        raise ClientRegistrationError(
            f"token endpoint auth method: one of {', '.join(CONFIDENTIAL_METHODS)}"
        )
    userinfo = text("userinfo") or "json"
    if userinfo not in ("json", *ID_TOKEN_ALGS):
        raise ClientRegistrationError("userinfo: JSON, or a JWT signed with RS256 or ES256")
    scopes = values.get("scope", [])
    jwks = parse_jwks(values.get("jwks", "") if isinstance(values.get("jwks"), str) else "")
    if jwks is not None and auth_method != "private_key_jwt":
        raise ClientRegistrationError("JWKS: only for the private_key_jwt method")
    return Registration(
        client_id=text("client_id"),
        name=text("name"),
        redirect_uris=_lines(text("redirect_uris"), "redirect URIs"),
        post_logout_redirect_uris=_lines(
            text("post_logout_redirect_uris"), "post-logout redirect URIs"
        ),
        scopes=tuple(s for s in scopes if isinstance(s, str)),
        auth_method=auth_method,
        id_token_alg=text("id_token_alg") or "RS256",
        userinfo_alg=None if userinfo == "json" else userinfo,
        sector_identifier=text("sector_identifier") or None,
        backchannel_logout_uri=text("backchannel_logout_uri") or None,
        jwks=jwks,
        purposes={k: text(f"purpose_{k}") for k in PURPOSE_KEYS if text(f"purpose_{k}")},
        allow_loopback_http=allow_loopback_http,
    )


def _form_values(form: FormData) -> dict[str, Any]:
    values: dict[str, Any] = {
        k: v for k, v in form.multi_items() if isinstance(v, str) and k != "scope"
    }
    values["scope"] = [v for v in form.getlist("scope") if isinstance(v, str)]
    return values


# -- pages -----------------------------------------------------------------------------------


def _purposes(ctx: AppContext, request: Request) -> list[tuple[str, str]]:
    """(id, label) of the register's active purposes, for the purpose selectors."""
    lang = page_language(request, ctx.settings)
    with ctx.db.read_session() as db:
        records = consent.service_from(ctx).purposes(db, active_only=True)
    return [(r.purpose.id, r.purpose.label.get(lang)) for r in records]


def _form_page(
    request: Request,
    ctx: AppContext,
    values: Mapping[str, Any],
    *,
    error: str | None = None,
    status: int = 200,
) -> Response:
    return render(
        request,
        "identity/oidc/admin/form.html",
        {
            "values": values,
            "error": error,
            "scopes": [*SCOPES, *API_SCOPES],
            "methods": CONFIDENTIAL_METHODS,
            "algs": ID_TOKEN_ALGS,
            "purpose_keys": PURPOSE_KEYS,
            "purposes": _purposes(ctx, request),
        },
        status_code=status,
    )


def _detail_page(
    request: Request,
    ctx: AppContext,
    client_id: str,
    *,
    secret: str | None = None,
    notice: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    with ctx.db.read_session() as db:
        row = db.get(OidcClientRow, client_id) if _CLIENT_ID.match(client_id) else None
        client = _view(row) if row is not None else None
    if client is None:
        return _list_page(request, ctx, error="No platform with this identifier.", status=404)
    response = render(
        request,
        "identity/oidc/admin/detail.html",
        {
            "client": client,
            "secret": secret,
            "notice": notice,
            "error": error,
            "secret_methods": SECRET_METHODS,
        },
        status_code=status,
    )
    if secret is not None:
        # The secret is shown once: no copy in a browser or proxy cache (RFC 9111 §5.2.2.5).
        response.headers["cache-control"] = "no-store"
    return response


def _view(row: OidcClientRow) -> dict[str, Any]:
    return {
        "client_id": row.client_id,
        "name": row.name,
        "public": row.public,
        "auth_method": row.auth_method,
        "redirect_uris": json.loads(row.redirect_uris),
        "post_logout_redirect_uris": json.loads(row.post_logout_redirect_uris),
        "scopes": row.scopes.split(),
        "grant_types": row.grant_types.split(),
        "id_token_alg": row.id_token_alg,
        "userinfo_alg": row.userinfo_alg,
        "sector": row.sector,
        "backchannel_logout_uri": row.backchannel_logout_uri,
        "jwks_keys": len(json.loads(row.jwks).get("keys", [])) if row.jwks else 0,
        "purposes": sorted(json.loads(row.purposes).items()),
        "created_at": row.created_at,
        "disabled_at": row.disabled_at,
    }


def _list_page(
    request: Request, ctx: AppContext, *, error: str | None = None, status: int = 200
) -> Response:
    with ctx.db.read_session() as db:
        rows = [_view(r) for r in oidc_from(ctx).clients.all(db)]
    return render(
        request,
        "identity/oidc/admin/list.html",
        {"clients": rows, "error": error},
        status_code=status,
    )


@router.get("", response_class=HTMLResponse)
def list_page(request: Request, ctx: CtxDep, staff: AdminDep) -> Response:
    return _list_page(request, ctx)


DEFAULTS: dict[str, Any] = {
    "client_type": "confidential",
    "auth_method": "client_secret_basic",
    "id_token_alg": "RS256",
    "userinfo": "json",
    "scope": ["openid", "eligibility", "age"],
}


@router.get("/nouvelle", response_class=HTMLResponse)
def new_page(request: Request, ctx: CtxDep, staff: AdminDep) -> Response:
    return _form_page(request, ctx, DEFAULTS)


@router.post("/nouvelle")
async def create(request: Request, ctx: CtxDep, staff: AdminDep) -> Response:
    values = _form_values(await request.form())
    check_csrf(request, values.get("csrf_token"))
    actor = staff.audit_actor

    def work() -> str | None:
        registration = registration_from_form(
            values, allow_loopback_http=ctx.settings.mode is not Mode.PRODUCTION
        )
        with ctx.db.write_session() as db:
            return register_client(ctx, db, registration, actor=actor)

    try:
        secret = await run_in_threadpool(work)
    except DomainError as exc:
        if isinstance(exc, PrivateKeyMaterialError):
            # Not echoed back: a private key must not sit in a page, a cache or a history.
            values["jwks"] = ""
        return _form_page(request, ctx, values, error=exc.detail, status=422)
    except IntegrityError:
        # Two administrators registering the same id at once: the second insert fails.
        message = f"client {values.get('client_id', '')[:64]!r} already exists"
        return _form_page(request, ctx, values, error=message, status=422)
    client_id = str(values.get("client_id", "")).strip()
    if secret is None:
        return RedirectResponse(f"{router.prefix}/{client_id}", status_code=303)
    return _detail_page(
        request, ctx, client_id, secret=secret, notice="Platform registered.", status=201
    )


@router.get("/{client_id}", response_class=HTMLResponse)
def detail_page(request: Request, ctx: CtxDep, staff: AdminDep, client_id: str) -> Response:
    return _detail_page(request, ctx, client_id)


ACTIONS: dict[str, Callable[[AppContext, Session, str, str], Any]] = {
    "rotate-secret": lambda ctx, db, cid, actor: rotate_client_secret(ctx, db, cid, actor=actor),
    "disable": lambda ctx, db, cid, actor: disable_client(ctx, db, cid, actor=actor),
    "enable": lambda ctx, db, cid, actor: enable_client(ctx, db, cid, actor=actor),
}
NOTICES = {"disable": "Platform disabled.", "enable": "Platform enabled."}


@router.post("/{client_id}")
async def act(request: Request, ctx: CtxDep, staff: AdminDep, client_id: str) -> Response:
    """Rotate the secret (the new one is shown once), disable or enable the client."""
    form = await request.form()
    token, action = form.get("csrf_token"), form.get("action")
    check_csrf(request, token if isinstance(token, str) else None)
    if not isinstance(action, str) or action not in ACTIONS:
        return _detail_page(request, ctx, client_id, error="Unknown action.", status=422)
    use_case, actor = ACTIONS[action], staff.audit_actor

    def work() -> Any:
        with ctx.db.write_session() as db:
            return use_case(ctx, db, client_id, actor)

    try:
        result = await run_in_threadpool(work)
    except UnknownClientError:
        return _list_page(request, ctx, error="No platform with this identifier.", status=404)
    except DomainError as exc:
        return _detail_page(request, ctx, client_id, error=exc.detail, status=409)
    if isinstance(result, str):
        return _detail_page(request, ctx, client_id, secret=result, notice="New secret created.")
    return _detail_page(request, ctx, client_id, notice=NOTICES[action])
