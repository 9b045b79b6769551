"""Use cases of the OpenID provider: the claims of a citizen, remembered grants with their
consent events, sign-out of platforms (OpenID Back-Channel Logout 1.0), erasure.

Back-channel logout tokens are delivered after the transaction that ended the sessions
commits, on a small pool of background threads: the citizen's response never waits for a
platform. Each POST has a bounded timeout; a transport failure, a 5xx or a 429 is retried a
few times with exponential back-off (the token is valid for two minutes, Back-Channel
Logout 1.0 §2.4 ``exp``), and a delivery that still fails is logged and recorded in the
audit log with the platform's id, the number of attempts and the reason only — never the
token, ``sub`` or ``sid``."""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Collection
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx
from sqlalchemy import delete, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

import consent
import identity
from identity.oidc.claims import AGE_THRESHOLDS, CLAIM_GROUPS, age_over, claims_for
from identity.oidc.clients import Client, ClientRegistry
from identity.oidc.keystore import KeyStore
from identity.oidc.pairwise import PAIRWISE_KEY_PURPOSE
from identity.oidc.provider import ID_TOKEN_SECONDS, Provider
from identity.oidc.tables import (
    OidcCodeRow,
    OidcGrantRow,
    OidcSessionRow,
    OidcTokenRow,
)
from identity.service import RELEASED_GROUPS
from identity.tables import CitizenRow
from parvis.kernel.context import AppContext
from parvis.kernel.keys import derive_key

__all__ = ["LogoutNotice", "OidcService", "oidc_from"]

log = logging.getLogger("identity.oidc")

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
#: Seconds for one POST (connect, write, read): a platform that hangs holds one thread
#: this long, never a citizen's request.
BACKCHANNEL_TIMEOUT = 3.0
#: Attempts per logout token, and the first wait between two (doubled each time): at most
#: 3 × 3 s + 1 s + 2 s, well inside the token's two minutes.
BACKCHANNEL_ATTEMPTS = 3
BACKCHANNEL_BACKOFF = 1.0
#: Logout tokens live this long (Back-Channel Logout 1.0 §2.4 ``exp``; §2.6 "RECOMMENDED
#: … to be no more than two minutes").
LOGOUT_TOKEN_SECONDS = 120
#: Answers worth another attempt (the platform may recover); any other status is final
#: (§2.8: 400 means the platform refused the token, which a retry would not change).
_RETRIABLE = frozenset({429, 500, 502, 503, 504})


def oidc_from(ctx: AppContext) -> OidcService:
    return ctx.extension("identity.oidc", OidcService)


@dataclass(frozen=True, slots=True)
class LogoutNotice:
    """A logout token to deliver after the transaction commits."""

    client_id: str
    uri: str
    token: str


class OidcService:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        secret = ctx.settings.secret_key
        self.keys = KeyStore(master_secret=ctx.settings.sealing_secret, clock=ctx.clock)
        self.clients = ClientRegistry(master_secret=secret, clock=ctx.clock)
        # ADR 0008: disabling a platform deletes, in the same transaction, the names and
        # addresses that only its grants needed.
        self.clients.after_disable = self._prune_after_disable
        self.provider = Provider(
            issuer=ctx.settings.public_url,
            clock=ctx.clock,
            clients=self.clients,
            keys=self.keys,
            pairwise_key=derive_key(secret, PAIRWISE_KEY_PURPOSE),
        )
        self.http: httpx.Client | None = None
        #: Wait before the second attempt (then doubled); tests shorten it.
        self.backchannel_backoff = BACKCHANNEL_BACKOFF
        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()

    # -- claims ------------------------------------------------------------------------------

    def facts(self, session: Session, pseudonym: str, scopes: set[str]) -> dict[str, Any]:
        """Claim values for the groups in ``scopes``: computed now, except the names and
        e-mail address, read from the vault where they are retained under a grant (ADR 0008).
        The caller passes only the groups it may release (:meth:`userinfo`)."""
        service = identity.service_from(self.ctx)
        citizen = session.get(CitizenRow, pseudonym)
        if citizen is None:
            return {}
        out: dict[str, Any] = {}
        today: date = self.ctx.clock.now().date()
        if "age" in scopes:
            raw = service.vault.get(session, pseudonym, "birthdate")
            born = date.fromisoformat(raw.decode()) if raw is not None else None
            for n in AGE_THRESHOLDS:
                out[f"age_over_{n}"] = age_over(
                    n, birth=born, birth_year=citizen.birth_year, on=today
                )
        if "eligibility" in scopes:
            items = []
            for rule in service.rules(session):
                decision = identity.eligibility_for(
                    self.ctx, session, citizen_pseudonym=pseudonym, rule_id=rule.id
                )
                if decision.eligible:
                    items.append(
                        {
                            "rule": decision.rule_id,
                            "territory": decision.territory_id,
                            "assurance": decision.assurance,
                            "valid_until": decision.valid_until.isoformat()
                            if decision.valid_until
                            else None,
                        }
                    )
            out["eligibility"] = items
        if "residence" in scopes:
            facts = service.facts(session, citizen)
            communes = sorted({e.commune_code for e in facts.evidence})
            if communes:
                out["residence"] = communes[0]
        # ADR 0008: names and address come from the vault, retained there only while a
        # grant of the citizen includes the group (claims_for still requires *this*
        # platform's grant). Nothing is computed for a group without a retained value.
        if "profile" in scopes:
            out.update(service.released(session, pseudonym, "profile"))
        if "email" in scopes:
            address = service.released(session, pseudonym, "email").get("email")
            if address:
                out["email"] = address
                # OpenID Connect Core §5.1: true only when the OP "took affirmative and
                # reasonable steps to ensure that this e-mail address was controlled by the
                # End-User". Parvis took none: the address is the one the citizen's
                # FranceConnect identity provider holds (franceconnect.md, "Formats").
                out["email_verified"] = False
        return out

    def userinfo(self, session: Session, token: OidcTokenRow, client: Client) -> dict[str, Any]:
        assert token.citizen is not None
        scopes = set(token.scope.split())
        granted, lapsed = self._consent_split(session, token.citizen, client)
        self._drop_lapsed(session, token.citizen, client, lapsed)
        # Nothing is read or decrypted for a consent-based group this platform may not have.
        releasable = {
            s
            for s in scopes
            if s in granted or s not in CLAIM_GROUPS or not CLAIM_GROUPS[s].needs_consent
        }
        values = self.facts(session, token.citizen, releasable)
        claims = claims_for(scopes=scopes, granted=granted, facts=values)
        claims["sub"] = self.provider.subject_for(client, token.citizen)
        access_purpose = client.purposes.get("access")
        if access_purpose:
            # The platform's read of personal data, under the purpose its admin registered.
            consent.record_access(
                self.ctx,
                session,
                actor=f"platform:{client.client_id}",
                subject=token.citizen,
                fields=sorted(k for k in claims if k != "sub"),
                purpose=access_purpose,
            )
        return claims

    # -- grants (the consent screen) ---------------------------------------------------------

    def granted(self, session: Session, citizen: str, client_id: str) -> set[str]:
        row = session.get(OidcGrantRow, (citizen, client_id))
        return set(row.groups.split()) if row is not None else set()

    def consented(self, session: Session, citizen: str, client: Client) -> set[str]:
        """The platform's granted groups whose consent is still in force: a group with a
        registered purpose counts only while the registry's state for that purpose is
        given or renewed (GDPR Art. 7(3): a consent withdrawn — or expired, or revoked —
        in the registry stops the release at once, whichever page it was withdrawn on)."""
        return self._consent_split(session, citizen, client)[0]

    def _consent_split(
        self, session: Session, citizen: str, client: Client
    ) -> tuple[set[str], set[str]]:
        """The granted groups in force (:meth:`consented`), and those whose consent the
        registry records as no longer in force (withdrawn, refused, expired, revoked,
        invalidated). A group whose purpose has no state yet is in neither: it releases
        nothing until the consent screen records one, but nothing was withdrawn."""
        from consent.ledger import ACTIVE

        registry = consent.service_from(self.ctx)
        in_force, lapsed = set(), set()
        for group in self.granted(session, citizen, client.client_id):
            purpose = client.purposes.get(group)
            if purpose:
                state = registry.state(session, citizen, purpose)
                if state is None:
                    continue
                if state.status not in ACTIVE:
                    lapsed.add(group)
                    continue
            in_force.add(group)
        return in_force, lapsed

    def _drop_lapsed(
        self, session: Session, citizen: str, client: Client, lapsed: set[str]
    ) -> None:
        """ADR 0008 decision 5, GDPR Art. 7(3) and 5(1)(e): a consent withdrawn in the
        registry (not through the platforms page) leaves the grant row behind, and consent
        offers no in-process hook on its events. So the first write transaction that finds
        it lapsed (UserInfo, the consent decision) removes the name and address groups from
        this platform's grant and deletes what no other grant needs. Other groups stay in
        the grant: their values are computed at each call, never stored."""
        dropped = lapsed & set(RELEASED_GROUPS)
        if not dropped:
            return
        row = session.get(OidcGrantRow, (citizen, client.client_id))
        if row is None:
            return
        row.groups = " ".join(sorted(set(row.groups.split()) - dropped))
        session.flush()
        identity.service_from(self.ctx).prune_released(session, citizen)

    def _prune_after_disable(self, session: Session, client_id: str) -> None:
        """:attr:`ClientRegistry.after_disable` (ADR 0008 decision 4): a disabled
        platform's grants keep nothing in the vault."""
        identity.service_from(self.ctx).prune_released_for_client(session, client_id)

    def obtainable(self, scopes: set[str]) -> set[str]:
        """``scopes`` without the identity groups Parvis cannot have: a group of
        :data:`RELEASED_GROUPS` counts only when every FranceConnect claim it releases is
        asked of FranceConnect (``PARVIS_FC_SCOPES``). Consent is asked for a processing
        that can take place (GDPR Art. 4(11): "specific, informed"); asking to share an
        address Parvis never receives would misinform the citizen."""
        asked = set(self.ctx.settings.fc_scopes.split())
        return {s for s in scopes if s not in RELEASED_GROUPS or set(RELEASED_GROUPS[s]) <= asked}

    def missing_consent(
        self, session: Session, citizen: str, client: Client, scopes: set[str]
    ) -> list[str]:
        """Claim groups asked for that need consent and are not granted, or whose consent
        is no longer in force in the registry (:meth:`consented`): the screen asks again."""
        has = self.consented(session, citizen, client)
        row = session.get(OidcGrantRow, (citizen, client.client_id))
        wanted = [g for s, g in CLAIM_GROUPS.items() if s in scopes and g.needs_consent]
        out = [g.scope for g in wanted if g.scope not in has]
        if row is None and not out:
            # First visit to this platform: the screen is shown once even without consent
            # claims (the citizen learns who receives what).
            return ["__first__"]
        return out

    def decide(
        self,
        session: Session,
        *,
        citizen: str,
        client: Client,
        scopes: set[str],
        allowed: bool,
        lang: str,
    ) -> None:
        """Remember the decision; each consent-based group with a registered purpose gets
        a consent event (and receipt) in consent's registry."""
        groups = {g.scope for s, g in CLAIM_GROUPS.items() if s in scopes and g.needs_consent}
        row = session.get(OidcGrantRow, (citizen, client.client_id))
        if row is None:
            row = OidcGrantRow(
                citizen=citizen,
                client_id=client.client_id,
                groups="",
                granted_at=self.ctx.clock.now(),
            )
            session.add(row)
        have = set(row.groups.split())
        if allowed:
            have |= groups
            # ADR 0008: the first consent to profile/email keeps the values of this sign-in.
            identity.service_from(self.ctx).retain_released(session, citizen, groups)
        row.groups = " ".join(sorted(have))
        row.granted_at = self.ctx.clock.now()
        registry = consent.service_from(self.ctx)
        from consent.ledger import Actor, ActorKind, Method, Status

        for group in sorted(groups):
            purpose = client.purposes.get(group)
            if not purpose:
                continue
            record = registry.purpose(session, purpose)
            notice = registry.current_notice(session, record.purpose.controller_id, lang)
            registry.record(
                session,
                subject=citizen,
                purpose_id=purpose,
                status=Status.GIVEN if allowed else Status.REFUSED,
                actor=Actor(kind=ActorKind.SUBJECT),
                method=Method.WEB_FORM,
                interface=f"oidc-consent:{client.client_id}",
                notice_id=notice.id if notice is not None else None,
                lang=lang,
            )
        # ADR 0008: a group whose consent lapsed in the registry and that was not given
        # again just now (refused, or not asked) leaves the grant and, unless another grant
        # needs them, the vault. The consent screen's own check runs in a read transaction.
        self._drop_lapsed(
            session, citizen, client, self._consent_split(session, citizen, client)[1]
        )

    def platforms(self, session: Session, citizen: str) -> list[tuple[OidcGrantRow, Client | None]]:
        rows = session.scalars(
            select(OidcGrantRow)
            .where(OidcGrantRow.citizen == citizen)
            .order_by(OidcGrantRow.client_id)
        )
        return [(r, self.clients.get(session, r.client_id)) for r in rows]

    def revoke_platform(
        self, session: Session, *, citizen: str, client_id: str
    ) -> list[LogoutNotice]:
        """Forget the grant, revoke tokens, end sessions (back-channel logout to send) and
        withdraw the consents given through this platform's screen (consent webhooks)."""
        row = session.get(OidcGrantRow, (citizen, client_id))
        client = self.clients.get(session, client_id)
        if row is not None:
            groups = set(row.groups.split())
            session.delete(row)
            if client is not None:
                registry = consent.service_from(self.ctx)
                from consent.ledger import Actor, ActorKind, Method, Status

                for group in sorted(groups):
                    purpose = client.purposes.get(group)
                    state = registry.state(session, citizen, purpose) if purpose else None
                    if purpose and state is not None and state.status.value in {"given", "renewed"}:
                        registry.record(
                            session,
                            subject=citizen,
                            purpose_id=purpose,
                            status=Status.WITHDRAWN,
                            actor=Actor(kind=ActorKind.SUBJECT),
                            method=Method.WEB_FORM,
                            interface=f"oidc-privacy:{client_id}",
                        )
            session.flush()
            # ADR 0008: names and address leave the vault with the last grant needing them.
            identity.service_from(self.ctx).prune_released(session, citizen)
        self.provider.revoke_for(session, citizen=citizen, client_id=client_id)
        return self.end_sessions(session, citizen=citizen, client_id=client_id)

    # -- sign-out ----------------------------------------------------------------------------

    def end_initiating_session(self, session: Session, sid: str, client_id: str) -> str | None:
        """RP-Initiated Logout 1.0 §2: the platform that asked to log out ends its own
        session ``sid`` (no back-channel token back to it) and loses its access tokens.
        Returns the citizen's pseudonym, or None when ``sid`` is not this platform's."""
        row = session.get(OidcSessionRow, sid)
        if row is None or row.client_id != client_id:
            return None
        row.ended_at = row.ended_at or self.ctx.clock.now()
        self.provider.revoke_for(session, citizen=row.citizen, client_id=client_id)
        return row.citizen

    def end_sessions(
        self,
        session: Session,
        *,
        citizen: str,
        client_id: str | None = None,
        skip: str | None = None,
        sids: Collection[str] | None = None,
    ) -> list[LogoutNotice]:
        """End the citizen's platform sessions (only those named in ``sids`` when given:
        the ones started from one browser, ADR 0013); the logout tokens to send after
        commit."""
        query = select(OidcSessionRow).where(
            OidcSessionRow.citizen == citizen, OidcSessionRow.ended_at.is_(None)
        )
        if client_id is not None:
            query = query.where(OidcSessionRow.client_id == client_id)
        if sids is not None:
            query = query.where(OidcSessionRow.sid.in_(list(sids)))
        now = self.ctx.clock.now()
        notices = []
        for row in session.scalars(query):
            row.ended_at = now
            client = self.clients.get(session, row.client_id)
            if client is None or not client.backchannel_logout_uri or row.client_id == skip:
                continue
            claims = {
                "iss": self.provider.issuer,
                "aud": client.client_id,
                "iat": int(now.timestamp()),
                "exp": int(now.timestamp()) + LOGOUT_TOKEN_SECONDS,
                "jti": secrets.token_urlsafe(16),
                "sub": self.provider.subject_for(client, citizen),
                "sid": row.sid,
                "events": {BACKCHANNEL_EVENT: {}},
            }
            token = self.provider.sign(
                session, claims, alg=client.id_token_signed_response_alg, typ="logout+jwt"
            )
            notices.append(LogoutNotice(client.client_id, client.backchannel_logout_uri, token))
        return notices

    def deliver(self, notices: list[LogoutNotice]) -> Future[dict[str, int]]:
        """Send each logout token in the background (Back-Channel Logout 1.0 §2.5: an
        ``application/x-www-form-urlencoded`` POST of ``logout_token``); call only after
        the transaction that produced ``notices`` committed.

        The future resolves to the final HTTP status per client (0 when the platform could
        not be reached); callers do not wait for it, tests do."""
        if not notices:
            done: Future[dict[str, int]] = Future()
            done.set_result({})
            return done
        with self._executor_lock:
            if self.http is None:
                self.http = httpx.Client(
                    timeout=httpx.Timeout(BACKCHANNEL_TIMEOUT), follow_redirects=False
                )
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=2, thread_name_prefix="oidc-backchannel"
                )
            executor = self._executor
        return executor.submit(self._deliver_all, list(notices))

    def _deliver_all(self, notices: list[LogoutNotice]) -> dict[str, int]:
        return {notice.client_id: self._deliver_one(notice) for notice in notices}

    def _deliver_one(self, notice: LogoutNotice) -> int:
        """Up to :data:`BACKCHANNEL_ATTEMPTS` POSTs with exponential back-off; the final
        status (0: unreachable). A failure is recorded without personal data."""
        assert self.http is not None
        wait = self.backchannel_backoff
        status, reason = 0, ""
        for attempt in range(1, BACKCHANNEL_ATTEMPTS + 1):
            try:
                response = self.http.post(
                    notice.uri,
                    data={"logout_token": notice.token},
                    headers={"Cache-Control": "no-store"},
                )
                status, reason = response.status_code, f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                status, reason = 0, type(exc).__name__
            if 200 <= status < 300:
                log.info(
                    "back-channel logout delivered",
                    extra={"client": notice.client_id, "attempts": attempt},
                )
                return status
            if status and status not in _RETRIABLE:
                break
            if attempt < BACKCHANNEL_ATTEMPTS:
                time.sleep(wait)
                wait *= 2
        self._record_failure(notice.client_id, attempts=attempt, reason=reason)
        return status

    def _record_failure(self, client_id: str, *, attempts: int, reason: str) -> None:
        """Log and audit an undelivered logout: the platform, the attempts, the reason
        (an HTTP status or an exception class) — nothing about the citizen."""
        details = {"client": client_id, "attempts": attempts, "reason": reason}
        log.warning("back-channel logout not delivered", extra=details)
        from identity import auditing

        try:
            with self.ctx.db.write_session() as db:
                auditing.record(
                    self.ctx,
                    db,
                    event_type="identity.oidc.backchannel_logout_failed",
                    actor="system:backchannel-logout",
                    details=details,
                )
        except SQLAlchemyError as exc:
            # The log line above stays the record; the worker thread must not die.
            log.warning(
                "back-channel logout failure not audited", extra={"exc_type": type(exc).__name__}
            )

    def close(self) -> None:
        """Wait for the deliveries under way (bounded by their timeouts), then release
        the pool and the HTTP client (the plug-in's ``stop``)."""
        with self._executor_lock:
            executor, self._executor = self._executor, None
            http, self.http = self.http, None
        if executor is not None:
            executor.shutdown(wait=True)
        if http is not None:
            http.close()

    def erase(self, session: Session, citizen: str) -> None:
        """Art. 17: everything the provider holds on the citizen."""
        for table in (OidcGrantRow, OidcSessionRow, OidcTokenRow, OidcCodeRow):
            session.execute(delete(table).where(table.citizen == citizen))

    def retire_after(self) -> timedelta:
        """How long a retired key stays published: its longest-lived token, plus margin."""
        return timedelta(seconds=2 * ID_TOKEN_SECONDS)

    def revoke_session_tokens(self, session: Session, citizen: str, sids: Collection[str]) -> None:
        """Revoke the access tokens issued from the platform sessions ``sids`` (through the
        code each token was exchanged for): a browser's sign-out ends what was started
        from it, and only that (ADR 0013)."""
        if not sids:
            return
        codes = select(OidcCodeRow.code_hash).where(OidcCodeRow.sid.in_(list(sids)))
        session.execute(
            update(OidcTokenRow)
            .where(
                OidcTokenRow.citizen == citizen,
                OidcTokenRow.revoked_at.is_(None),
                OidcTokenRow.code_hash.in_(codes),
            )
            .values(revoked_at=self.ctx.clock.now())
        )

    def browser_sid(self, session: Session, known: str | None) -> str:
        """The ``sid`` (Back-Channel Logout 1.0 §2.1) of a platform session started from
        one browser: ``known`` (kept in that browser's Parvis session) while its session
        row is open, a fresh one otherwise (after a logout, the next sign-in at the
        platform is a new session)."""
        if known:
            row = session.get(OidcSessionRow, known)
            if row is None or row.ended_at is None:
                return known
        return secrets.token_urlsafe(16)

    @staticmethod
    def dumps(value: Any) -> str:
        return json.dumps(value, separators=(",", ":"))
