"""Identity use cases: citizen accounts, territories, rules, evidence and eligibility.

Each use case either opens its own transaction or takes the caller's ``Session`` (so that
several domains write in one transaction). Every decision and every staff action is audited
through :mod:`identity.auditing` with pseudonyms and ids only.
"""

from __future__ import annotations

import csv
import hmac
import io
import json
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

import consent
from identity import auditing
from identity.auditing import RESIDENCY_PURPOSE
from identity.census import (
    CensusFileError,
    CensusRow,
    Reject,
    read_census,
)
from identity.eligibility import (
    BirthDate,
    CitizenFacts,
    EligibilityDecision,
    Evidence,
    ResidencyEvidence,
    Rule,
    Territory,
    covered_communes,
    decide,
)
from identity.errors import (
    AttemptsExhaustedError,
    ClaimError,
    CodeExpiredError,
    DuplicateIdentityError,
    IdentityNotFoundError,
    IdentityRuleError,
    WrongCodeError,
)
from identity.franceconnect import IdentityPivot
from identity.normalise import (
    NormalisationError,
    normalise_pivot,
    pivot_from_franceconnect,
    pivot_hash,
)
from identity.oidc.tables import OidcClientRow, OidcGrantRow
from identity.purposes import require_residency_purpose
from identity.relying_party import FranceConnectIdentity
from identity.tables import (
    CensusEntryRow,
    CensusImportRow,
    CitizenRow,
    DecisionRow,
    DeskCodeRow,
    EvidenceRow,
    FranceConnectLinkRow,
    PaperVoteRow,
    PostalCodeRow,
    RuleRow,
    TerritoryCommuneRow,
    TerritoryRow,
)
from identity.vault import AttributeVault
from parvis.kernel.context import AppContext
from parvis.kernel.keys import derive_key, keyed_hash

__all__ = [
    "HELD_PREFIX",
    "RELEASED_GROUPS",
    "CensusReport",
    "IdentityService",
    "LetterExport",
]

#: How long a postal-letter code stays valid, and how many wrong entries void it.
POSTAL_CODE_LIFETIME = timedelta(days=45)
POSTAL_CODE_ATTEMPTS = 5
#: Unambiguous alphabet (no 0/O, 1/I/L): 32 symbols, 10 characters = 50 bits.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
POSTAL_CODE_LENGTH = 10
#: A desk code lets an agent find the citizen standing in front of them without a name.
DESK_CODE_LIFETIME = timedelta(minutes=15)
DESK_CODE_LENGTH = 8
#: What a staff member reads when exporting a letter (the access record's field names).
LETTER_FIELDS = ("postal_address", "letter_code")
#: Validity of residency evidence other than the census (the census lasts until replaced).
EVIDENCE_VALIDITY = {
    Evidence.POSTAL_CODE: timedelta(days=365),
    Evidence.IN_PERSON: timedelta(days=365),
    Evidence.SELF_DECLARATION: timedelta(days=365),
}


#: Identity attributes a platform receives only with the citizen's explicit consent
#: (docs/oidc-integration.md §3), per claim group: what the vault keeps for each (ADR 0008).
#: ``email_verified`` is not kept: it is always false (Parvis verifies no address).
RELEASED_GROUPS: dict[str, tuple[str, ...]] = {
    "profile": ("given_name", "family_name"),
    "email": ("email",),
}
#: Vault name prefix of the values *held for one sign-in* (``sign-in:profile``), so that a
#: first consent given during that sign-in has something to release (ADR 0008); the values
#: *retained* while a grant needs them are under the group's own name (``profile``).
HELD_PREFIX = "sign-in:"
#: Shortest time between two purges of expired held values by one process.
HELD_PURGE_INTERVAL = timedelta(minutes=10)


def rejected_percent(rows: int, rejected: int) -> float:
    return 100.0 * rejected / rows if rows else 0.0


@dataclass(frozen=True, slots=True)
class CensusReport:
    """The preview of a pending import: counts, the refused lines (line number and reason
    only) and how many people of the active census it would drop."""

    import_id: str
    territory_id: str
    rows: int
    accepted: int
    duplicates: int
    duplicate_lines: tuple[int, ...]
    rejects: tuple[Reject, ...] = field(default_factory=tuple)
    #: People on the territory's active census who are not on this import: activating it
    #: ends their census-based eligibility.
    would_lose_census: int = 0
    max_rejected_percent: float = 5.0

    @property
    def rejected_percent(self) -> float:
        return rejected_percent(self.rows, len(self.rejects))

    @property
    def activatable(self) -> bool:
        return self.rejected_percent <= self.max_rejected_percent

    def lines(self) -> list[str]:
        out = [
            f"import {self.import_id} into territory {self.territory_id} (pending)",
            f"rows: {self.rows}",
            f"accepted: {self.accepted}",
            f"duplicates: {self.duplicates}"
            + (f" (lines {', '.join(map(str, self.duplicate_lines))})" if self.duplicates else ""),
            f"rejected: {len(self.rejects)} ({self.rejected_percent:.1f} %)",
        ]
        out += [f"  line {r.line}: {r.reason}" for r in self.rejects]
        out.append(f"would lose census-based eligibility: {self.would_lose_census}")
        return out


@dataclass(frozen=True, slots=True)
class LetterExport:
    csv_text: str
    count: int


def _new_id() -> str:
    return secrets.token_hex(16)


def _code(length: int) -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


def _clean_code(value: str) -> str:
    return "".join(ch for ch in value.upper() if ch.isalnum())


class IdentityService:
    """The identity domain's services for one :class:`AppContext`."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        secret = ctx.settings.secret_key
        self._sub_key = derive_key(secret, "identity/fc-sub/v1")
        self._pivot_key = derive_key(secret, "identity/pivot/v1")
        self._code_key = derive_key(secret, "identity/postal-code/v1")
        self._desk_key = derive_key(secret, "identity/desk-code/v1")
        self.vault = AttributeVault(ctx)
        self._held_purged_at: datetime | None = None

    @property
    def now(self) -> datetime:
        return self.ctx.clock.now()

    def _audit(self, session: Session, event_type: str, actor: str, **kw: Any) -> None:
        auditing.record(self.ctx, session, event_type=event_type, actor=actor, **kw)

    def _audit_citizen(self, session: Session, event_type: str, citizen_id: str, **kw: Any) -> None:
        """An event the citizen caused about themselves: the subject is their pseudonym, so
        consent's erasure removes its details."""
        self._audit(session, event_type, f"citizen:{citizen_id}", subject=citizen_id, **kw)

    # -- citizens -----------------------------------------------------------------------

    def pivot_hash_of(self, pivot: IdentityPivot) -> str:
        try:
            return pivot_hash(self._pivot_key, pivot_from_franceconnect(pivot))
        except NormalisationError as exc:
            raise ClaimError(str(exc), reason="claim:pivot") from exc

    def sign_in_citizen(self, session: Session, *, sub: str, acr: str, pivot: IdentityPivot) -> str:
        """Find or create the account of a verified FranceConnect identity; returns the
        pseudonym. Looks up the ``sub`` (keyed hash) first, then the normalised pivot (keyed
        hash): a new ``sub`` for a known pivot is linked to the existing account (spelling
        corrected, another provider), never a second account."""
        now = self.now
        sub_hash = keyed_hash(self._sub_key, sub.encode())
        p_hash = self.pivot_hash_of(pivot)
        link = session.get(FranceConnectLinkRow, sub_hash)
        by_pivot = session.scalar(select(CitizenRow).where(CitizenRow.pivot_hash == p_hash))
        if link is not None:
            citizen = session.get(CitizenRow, link.citizen_id)
            assert citizen is not None  # foreign key
            if by_pivot is not None and by_pivot.id != citizen.id:
                self._audit_citizen(session, "identity.citizen.duplicate_refused", citizen.id)
                raise DuplicateIdentityError("this identity already belongs to another account")
            if citizen.pivot_hash != p_hash:
                citizen.pivot_hash = p_hash
                self._audit_citizen(session, "identity.citizen.pivot_updated", citizen.id)
        elif by_pivot is not None:
            citizen = by_pivot
            session.add(
                FranceConnectLinkRow(sub_hash=sub_hash, citizen_id=citizen.id, created_at=now)
            )
            self._audit_citizen(session, "identity.citizen.relinked", citizen.id)
        else:
            citizen = self.create_citizen(
                session, pivot_hash_value=p_hash, acr=acr, birth_year=pivot.birth_date.year
            )
            session.add(
                FranceConnectLinkRow(sub_hash=sub_hash, citizen_id=citizen.id, created_at=now)
            )
        citizen.acr = acr
        citizen.last_sign_in_at = now
        citizen.birth_year = pivot.birth_date.year
        session.flush()
        # The full birth date only in the vault: eligibility needs it at the boundaries.
        self.vault.put(session, citizen.id, "birthdate", pivot.birthdate.encode())
        self._keep_released(session, citizen.id, pivot)
        self._purge_held(session)
        self._audit_citizen(session, "identity.citizen.signed_in", citizen.id, details={"acr": acr})
        return citizen.id

    def citizen_for_sub(self, session: Session, *, sub: str) -> str | None:
        """The pseudonym of the account linked to this FranceConnect ``sub`` (its keyed
        hash), or None. Reads only: an issuance's authentication writes no sign-in trace
        (ballot-secrecy.md §2 and §3)."""
        link = session.get(FranceConnectLinkRow, keyed_hash(self._sub_key, sub.encode()))
        return link.citizen_id if link is not None else None

    # -- attributes released to platforms with consent (ADR 0008) -----------------------

    @property
    def held_for(self) -> timedelta:
        """How long the values of a sign-in are held for a first consent: the longest a web
        session born of that sign-in can live (``PARVIS_SESSION_ABSOLUTE_SECONDS``), after
        which that sign-in can no longer consent to anything."""
        return timedelta(seconds=self.ctx.settings.session_absolute_seconds)

    def granted_groups(self, session: Session, citizen_id: str) -> set[str]:
        """The groups of :data:`RELEASED_GROUPS` that at least one platform grant of the
        citizen includes (the grants of the consent screen, ``identity_oidc_grants``). A
        disabled platform's grant counts for nothing (ADR 0008: it receives nothing, so it
        needs nothing kept); enabled again, its grant is refreshed at the next sign-in."""
        rows = session.scalars(
            select(OidcGrantRow.groups)
            .join(OidcClientRow, OidcClientRow.client_id == OidcGrantRow.client_id)
            .where(OidcGrantRow.citizen == citizen_id, OidcClientRow.disabled_at.is_(None))
        )
        return {g for groups in rows for g in groups.split()} & set(RELEASED_GROUPS)

    def offered_groups(self, session: Session) -> set[str]:
        """The groups of :data:`RELEASED_GROUPS` that at least one enabled platform is
        registered for: nothing is held for a group no platform can ask for."""
        rows = session.scalars(
            select(OidcClientRow.scopes).where(OidcClientRow.disabled_at.is_(None))
        )
        return {s for scopes in rows for s in scopes.split()} & set(RELEASED_GROUPS)

    @staticmethod
    def _released_values(pivot: IdentityPivot) -> dict[str, bytes]:
        """The values FranceConnect gave for each group, sealed as compact JSON; a group
        without a value (no e-mail address) is absent."""
        email = pivot.email if isinstance(pivot, FranceConnectIdentity) else ""
        values = {
            "profile": {"given_name": pivot.given_name, "family_name": pivot.family_name},
            "email": {"email": email} if email else None,
        }
        return {
            group: json.dumps(value, ensure_ascii=False, sort_keys=True).encode()
            for group, value in values.items()
            if value is not None
        }

    def _keep_released(self, session: Session, citizen_id: str, pivot: IdentityPivot) -> None:
        """GDPR Art. 5(1)(c) and (e), ADR 0008: for each group, the sign-in's values are
        *retained* (refreshed) when a grant of the citizen needs them, otherwise *held* for
        this sign-in when some platform may ask for them, otherwise not kept at all. At most
        one of the two exists per group."""
        values = self._released_values(pivot)
        granted = self.granted_groups(session, citizen_id)
        offered = self.offered_groups(session) - granted
        for group in RELEASED_GROUPS:
            value = values.get(group)
            retained, held = group, HELD_PREFIX + group
            keep, drop = (retained, held) if group in granted else (held, retained)
            self.vault.delete(session, citizen_id, drop)
            if value is not None and (group in granted or group in offered):
                self.vault.put(session, citizen_id, keep, value)
            else:
                # FranceConnect no longer gives it, or nobody may ask for it: no stale copy.
                self.vault.delete(session, citizen_id, keep)

    def _read_released(self, session: Session, citizen_id: str, name: str) -> dict[str, str]:
        raw = self.vault.get(session, citizen_id, name)
        if raw is None:
            return {}
        value = json.loads(raw.decode())
        return {k: v for k, v in value.items() if isinstance(v, str)}

    def released(self, session: Session, citizen_id: str, group: str) -> dict[str, str]:
        """The retained values of ``group`` (claim name → value), empty when none. Only
        values retained under a grant are ever released; held values become retained at
        the consent (:meth:`retain_released`)."""
        if group not in RELEASED_GROUPS:
            return {}
        return self._read_released(session, citizen_id, group)

    def _held(self, session: Session, citizen_id: str, group: str) -> bytes | None:
        name = HELD_PREFIX + group
        written = self.vault.written_at(session, citizen_id, name)
        if written is None:
            return None
        if self.now - written >= self.held_for:
            # That sign-in is over: never used, and gone now rather than at the next purge.
            self.vault.delete(session, citizen_id, name)
            return None
        return self.vault.get(session, citizen_id, name)

    def retain_released(self, session: Session, citizen_id: str, groups: set[str]) -> None:
        """The citizen just consented to ``groups`` for a platform: the values held for the
        current sign-in become retained (for as long as a grant needs them). Without held
        values (the sign-in is over, or was not a FranceConnect one), nothing is retained
        and the groups release nothing until the next FranceConnect sign-in refreshes them.
        """
        for group in sorted(set(groups) & set(RELEASED_GROUPS)):
            held = self._held(session, citizen_id, group)
            if held is not None:
                self.vault.put(session, citizen_id, group, held)
                self.vault.delete(session, citizen_id, HELD_PREFIX + group)

    def prune_released(self, session: Session, citizen_id: str) -> None:
        """After a grant was withdrawn: delete the values of every group that no remaining
        grant includes, retained and held alike (ADR 0008: "deleted from the vault when the
        last such grant is revoked")."""
        needed = self.granted_groups(session, citizen_id)
        for group in RELEASED_GROUPS:
            if group not in needed:
                self.vault.delete(session, citizen_id, group)
                self.vault.delete(session, citizen_id, HELD_PREFIX + group)

    def prune_released_for_client(self, session: Session, client_id: str) -> int:
        """The platform ``client_id`` was just disabled (in this transaction): for every
        citizen whose grant to it includes a group of :data:`RELEASED_GROUPS`, delete what
        no remaining grant of an enabled platform needs (ADR 0008, GDPR Art. 5(1)(e)).
        Returns how many citizens were pruned."""
        rows = session.execute(
            select(OidcGrantRow.citizen, OidcGrantRow.groups).where(
                OidcGrantRow.client_id == client_id
            )
        )
        citizens = sorted({c for c, groups in rows if set(groups.split()) & set(RELEASED_GROUPS)})
        for citizen_id in citizens:
            self.prune_released(session, citizen_id)
        return len(citizens)

    def forget_sign_in_attributes(self, session: Session, citizen_id: str) -> None:
        """The sign-in is over (the citizen signed out): its held values go with it."""
        for group in RELEASED_GROUPS:
            self.vault.delete(session, citizen_id, HELD_PREFIX + group)

    def _purge_held(self, session: Session) -> None:
        """Delete every citizen's held values older than :attr:`held_for`, at most once per
        :data:`HELD_PURGE_INTERVAL` per process (as web sessions are purged). Run in a
        savepoint: should a concurrent purge on PostgreSQL hold the same rows and one of the
        two be chosen as a deadlock victim, this sign-in goes on and a later one purges."""
        now = self.now
        if self._held_purged_at is not None and now - self._held_purged_at < HELD_PURGE_INTERVAL:
            return
        self._held_purged_at = now
        names = [HELD_PREFIX + group for group in RELEASED_GROUPS]
        try:
            with session.begin_nested():
                self.vault.delete_older(session, names, now - self.held_for)
        except OperationalError:
            self._held_purged_at = None

    def create_citizen(
        self, session: Session, *, pivot_hash_value: str, acr: str, birth_year: int
    ) -> CitizenRow:
        """A new pseudonymous account; a second account for the same pivot is refused."""
        now = self.now
        citizen = CitizenRow(
            id=_new_id(),
            pivot_hash=pivot_hash_value,
            birth_year=birth_year,
            acr=acr,
            created_at=now,
            last_sign_in_at=now,
        )
        try:
            with session.begin_nested():
                session.add(citizen)
                session.flush()
        except IntegrityError:
            raise DuplicateIdentityError(
                "this identity already belongs to another account"
            ) from None
        self._audit_citizen(session, "identity.citizen.created", citizen.id)
        return citizen

    def citizen(self, session: Session, pseudonym: str) -> CitizenRow:
        found = session.get(CitizenRow, pseudonym)
        if found is None:
            raise IdentityNotFoundError("no such citizen")
        return found

    # -- territories and rules ----------------------------------------------------------

    def save_territory(self, session: Session, territory: Territory, *, actor: str) -> None:
        """Create or replace a territory (its communes and COG vintage)."""
        if (
            territory.parent_id is not None
            and session.get(TerritoryRow, territory.parent_id) is None
        ):
            raise IdentityNotFoundError("unknown parent territory")
        row = session.get(TerritoryRow, territory.id)
        if row is None:
            session.add(
                TerritoryRow(
                    id=territory.id,
                    name=territory.name,
                    cog_vintage=territory.cog_vintage,
                    parent_id=territory.parent_id,
                    created_at=self.now,
                )
            )
        else:
            row.name, row.cog_vintage, row.parent_id = (
                territory.name,
                territory.cog_vintage,
                territory.parent_id,
            )
            session.execute(
                delete(TerritoryCommuneRow).where(TerritoryCommuneRow.territory_id == territory.id)
            )
        session.flush()
        session.add_all(
            TerritoryCommuneRow(territory_id=territory.id, commune_code=code)
            for code in sorted(territory.communes)
        )
        self._audit(
            session,
            "identity.territory.saved",
            actor,
            details={
                "territory": territory.id,
                "cog_vintage": territory.cog_vintage,
                "communes": len(territory.communes),
            },
        )

    def territories(self, session: Session) -> dict[str, Territory]:
        communes: dict[str, set[str]] = {}
        for tid, code in session.execute(
            select(TerritoryCommuneRow.territory_id, TerritoryCommuneRow.commune_code)
        ):
            communes.setdefault(tid, set()).add(code)
        return {
            row.id: Territory(
                id=row.id,
                name=row.name,
                cog_vintage=row.cog_vintage,
                communes=frozenset(communes.get(row.id, ())),
                parent_id=row.parent_id,
            )
            for row in session.scalars(select(TerritoryRow).order_by(TerritoryRow.id))
        }

    def territory(self, session: Session, territory_id: str) -> Territory:
        found = self.territories(session).get(territory_id)
        if found is None:
            raise IdentityNotFoundError("no such territory")
        return found

    def save_rule(self, session: Session, rule: Rule, *, actor: str) -> None:
        if session.get(TerritoryRow, rule.territory_id) is None:
            raise IdentityNotFoundError("unknown territory")
        values = {
            "name": rule.name,
            "territory_id": rule.territory_id,
            "accepted_evidence": ",".join(sorted(rule.accepted_evidence)),
            "min_acr": rule.min_acr,
            "min_age": rule.min_age,
            "max_age": rule.max_age,
            "reference_date": rule.reference_date,
            "electoral_roll": rule.electoral_roll,
            "paper_votes": rule.paper_votes,
        }
        row = session.get(RuleRow, rule.id)
        if row is None:
            session.add(RuleRow(id=rule.id, created_at=self.now, **values))
        else:
            for key, value in values.items():
                setattr(row, key, value)
        self._audit(session, "identity.rule.saved", actor, details={"rule": rule.id})

    @staticmethod
    def _rule_of(row: RuleRow) -> Rule:
        return Rule(
            id=row.id,
            name=row.name,
            territory_id=row.territory_id,
            accepted_evidence=frozenset(Evidence(v) for v in row.accepted_evidence.split(",") if v),
            reference_date=row.reference_date,
            min_age=row.min_age,
            max_age=row.max_age,
            min_acr=row.min_acr,
            electoral_roll=row.electoral_roll,
            paper_votes=row.paper_votes,
        )

    def rules(self, session: Session) -> list[Rule]:
        return [self._rule_of(r) for r in session.scalars(select(RuleRow).order_by(RuleRow.id))]

    def rule(self, session: Session, rule_id: str) -> Rule:
        row = session.get(RuleRow, rule_id)
        if row is None:
            raise IdentityNotFoundError("no such rule")
        return self._rule_of(row)

    # -- census -------------------------------------------------------------------------

    def import_census(
        self,
        session: Session,
        *,
        territory_id: str,
        csv_text: str,
        electoral_roll: bool,
        actor: str,
        max_rejected_percent: float | None = None,
    ) -> CensusReport:
        """Store a census or electoral roll as a *pending* import and return its preview.

        The territory's active census stays active until :meth:`activate_census`. Only keyed
        hashes of the normalised pivots are stored. ``max_rejected_percent`` defaults to the
        ``census_max_rejected_percent`` setting.
        """
        if max_rejected_percent is None:
            max_rejected_percent = self.ctx.settings.census_max_rejected_percent
        territories = self.territories(session)
        if territory_id not in territories:
            raise IdentityNotFoundError("no such territory")
        communes = covered_communes(territory_id, territories)
        try:
            parsed = list(read_census(csv_text, communes=communes))
        except (CensusFileError, csv.Error) as exc:
            raise IdentityRuleError(f"census file: {exc}") from None
        if not parsed:
            raise IdentityRuleError("census file: no line follows the header")
        import_id = _new_id()
        seen: set[str] = set()
        entries: list[CensusEntryRow] = []
        duplicates: list[int] = []
        rejects: list[Reject] = []
        for item in parsed:
            if isinstance(item, Reject):
                rejects.append(item)
                continue
            assert isinstance(item, CensusRow)
            hashed = pivot_hash(self._pivot_key, item.pivot)
            if hashed in seen:
                duplicates.append(item.line)
                continue
            seen.add(hashed)
            entries.append(
                CensusEntryRow(import_id=import_id, pivot_hash=hashed, commune_code=item.commune)
            )
        active = set(
            session.scalars(
                select(CensusEntryRow.pivot_hash)
                .join(CensusImportRow, CensusImportRow.id == CensusEntryRow.import_id)
                .where(
                    CensusImportRow.territory_id == territory_id, CensusImportRow.active.is_(True)
                )
            )
        )
        session.add(
            CensusImportRow(
                id=import_id,
                territory_id=territory_id,
                electoral_roll=electoral_roll,
                cog_vintage=territories[territory_id].cog_vintage,
                rows=len(parsed),
                accepted=len(entries),
                duplicates=len(duplicates),
                rejected=len(rejects),
                active=False,
                imported_by=actor,
                imported_at=self.now,
            )
        )
        session.flush()
        session.add_all(entries)
        report = CensusReport(
            import_id=import_id,
            territory_id=territory_id,
            rows=len(parsed),
            accepted=len(entries),
            duplicates=len(duplicates),
            duplicate_lines=tuple(duplicates),
            rejects=tuple(rejects),
            would_lose_census=len(active - seen),
            max_rejected_percent=max_rejected_percent,
        )
        self._audit(
            session,
            "identity.census.imported",
            actor,
            purpose=RESIDENCY_PURPOSE,
            details={
                "import": import_id,
                "territory": territory_id,
                "electoral_roll": electoral_roll,
                "rows": report.rows,
                "accepted": report.accepted,
                "duplicates": report.duplicates,
                "rejected": len(rejects),
                "would_lose_census": report.would_lose_census,
            },
        )
        return report

    def activate_census(
        self,
        session: Session,
        *,
        import_id: str,
        actor: str,
        max_rejected_percent: float | None = None,
    ) -> CensusImportRow:
        """Activate a pending import: it supersedes the territory's active census, whose
        hashes are deleted. Refused when more than ``max_rejected_percent`` of its lines were
        rejected (default: the ``census_max_rejected_percent`` setting), or when the import is
        not pending."""
        if max_rejected_percent is None:
            max_rejected_percent = self.ctx.settings.census_max_rejected_percent
        row = session.get(CensusImportRow, import_id)
        if row is None:
            raise IdentityNotFoundError("no such census import")
        if not row.pending:
            raise IdentityRuleError(
                f"census import {import_id} is not pending (it is "
                f"{'active' if row.active else 'superseded'})"
            )
        share = rejected_percent(row.rows, row.rejected)
        if share > max_rejected_percent:
            raise IdentityRuleError(
                f"census import {import_id} cannot be activated: {row.rejected} of {row.rows}"
                f" lines rejected ({share:.1f} %, over the {max_rejected_percent:g} % threshold);"
                " correct the file and import it again"
            )
        old = list(
            session.scalars(
                select(CensusImportRow.id).where(
                    CensusImportRow.territory_id == row.territory_id,
                    CensusImportRow.active.is_(True),
                )
            )
        )
        if old:
            session.execute(delete(CensusEntryRow).where(CensusEntryRow.import_id.in_(old)))
            session.execute(
                update(CensusImportRow).where(CensusImportRow.id.in_(old)).values(active=False)
            )
        row.active = True
        row.activated_at = self.now
        row.activated_by = actor
        session.flush()
        self._audit(
            session,
            "identity.census.activated",
            actor,
            purpose=RESIDENCY_PURPOSE,
            details={
                "import": import_id,
                "territory": row.territory_id,
                "superseded": old,
                "rejected_percent": round(share, 2),
                "max_rejected_percent": max_rejected_percent,
            },
        )
        return row

    def census_imports(self, session: Session) -> list[CensusImportRow]:
        return list(
            session.scalars(select(CensusImportRow).order_by(CensusImportRow.imported_at.desc()))
        )

    # -- evidence -----------------------------------------------------------------------

    def _check_place(self, session: Session, territory_id: str, commune_code: str) -> Territory:
        territories = self.territories(session)
        if territory_id not in territories:
            raise IdentityNotFoundError("no such territory")
        if commune_code not in covered_communes(territory_id, territories):
            raise IdentityRuleError("this commune is not in the territory")
        return territories[territory_id]

    def _add_evidence(
        self,
        session: Session,
        *,
        citizen_id: str,
        kind: Evidence,
        territory: Territory,
        commune_code: str,
        recorded_by: str,
        reason: str | None = None,
    ) -> None:
        now = self.now
        session.add(
            EvidenceRow(
                id=_new_id(),
                citizen_id=citizen_id,
                kind=kind.value,
                territory_id=territory.id,
                commune_code=commune_code,
                cog_vintage=territory.cog_vintage,
                recorded_by=recorded_by,
                reason=reason,
                recorded_at=now,
                valid_until=now + EVIDENCE_VALIDITY[kind],
            )
        )
        self._audit(
            session,
            "identity.evidence.recorded",
            recorded_by,
            subject=citizen_id,
            purpose=RESIDENCY_PURPOSE,
            details={"kind": kind.value, "territory": territory.id, "commune": commune_code},
        )

    def self_declare(
        self, session: Session, *, citizen_id: str, territory_id: str, commune_code: str
    ) -> None:
        """Self-declaration (lowest assurance; counts only where a rule accepts it)."""
        self.citizen(session, citizen_id)
        territory = self._check_place(session, territory_id, commune_code)
        self._add_evidence(
            session,
            citizen_id=citizen_id,
            kind=Evidence.SELF_DECLARATION,
            territory=territory,
            commune_code=commune_code,
            recorded_by=f"citizen:{citizen_id}",
        )

    def request_postal_code(
        self,
        session: Session,
        *,
        citizen_id: str,
        territory_id: str,
        commune_code: str,
        address: str,
    ) -> str:
        """The citizen declares an address in the territory; a letter with a one-time code
        waits (encrypted under the citizen's key) for staff to export it. Returns its id."""
        self.citizen(session, citizen_id)
        territory = self._check_place(session, territory_id, commune_code)
        address = "\n".join(line.strip() for line in address.strip().splitlines() if line.strip())
        if not 5 <= len(address) <= 300:
            raise IdentityRuleError("the address must be 5 to 300 characters")
        now = self.now
        for old in session.scalars(
            select(PostalCodeRow).where(
                PostalCodeRow.citizen_id == citizen_id, PostalCodeRow.status == "pending"
            )
        ):
            old.status = "replaced"
            self.vault.delete(session, citizen_id, f"letter:{old.id}")
        letter_id = _new_id()
        code = _code(POSTAL_CODE_LENGTH)
        session.add(
            PostalCodeRow(
                id=letter_id,
                citizen_id=citizen_id,
                territory_id=territory.id,
                commune_code=commune_code,
                cog_vintage=territory.cog_vintage,
                code_hash=keyed_hash(self._code_key, f"{letter_id}:{code}".encode()),
                attempts=0,
                status="pending",
                created_at=now,
                expires_at=now + POSTAL_CODE_LIFETIME,
            )
        )
        session.flush()
        letter = {"address": address, "code": code}
        self.vault.put(session, citizen_id, f"letter:{letter_id}", json.dumps(letter).encode())
        self._audit_citizen(
            session,
            "identity.postal.requested",
            citizen_id,
            purpose=RESIDENCY_PURPOSE,
            details={"letter": letter_id, "territory": territory.id},
        )
        return letter_id

    def export_letters(self, session: Session, *, actor: str) -> LetterExport:
        """Staff export the letters not yet sent (CSV for a mail merge). Each letter is
        exported once: afterwards its address and code are erased, only the code's keyed
        hash remains. Every address read is an access record."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["letter_id", "address", "code", "expires_on"])
        count = 0
        pending = session.scalars(
            select(PostalCodeRow)
            .where(PostalCodeRow.status == "pending", PostalCodeRow.exported_at.is_(None))
            .order_by(PostalCodeRow.created_at)
        ).all()
        if pending:
            require_residency_purpose(self.ctx, session)
        for row in pending:
            sealed = self.vault.get(session, row.citizen_id, f"letter:{row.id}")
            if sealed is None:
                continue
            letter = json.loads(sealed)
            # The access record of this read (who, whose, which fields, why) goes through
            # consent before the address leaves; it raises if the purpose is missing from the
            # register, and then nothing is exported (one transaction).
            consent.record_access(
                self.ctx,
                session,
                actor=actor,
                subject=row.citizen_id,
                fields=LETTER_FIELDS,
                purpose=RESIDENCY_PURPOSE,
            )
            writer.writerow(
                [
                    row.id,
                    letter["address"],
                    letter["code"],
                    row.expires_at.date().isoformat(),
                ]
            )
            row.exported_at = self.now
            self.vault.delete(session, row.citizen_id, f"letter:{row.id}")
            count += 1
        self._audit(
            session,
            "identity.postal.exported",
            actor,
            purpose=RESIDENCY_PURPOSE,
            details={"letters": count},
        )
        return LetterExport(csv_text=out.getvalue(), count=count)

    def verify_postal_code(self, *, citizen_id: str, code: str) -> None:
        """Check a code typed by the citizen (own transaction: a wrong attempt is counted
        even though the call raises). Constant-time comparison of keyed hashes."""
        error: Exception | None = None
        with self.ctx.db.write_session() as session:
            now = self.now
            row = session.scalars(
                select(PostalCodeRow)
                .where(PostalCodeRow.citizen_id == citizen_id, PostalCodeRow.status == "pending")
                .order_by(PostalCodeRow.created_at.desc())
                .limit(1)
            ).first()
            if row is None:
                raise CodeExpiredError("no letter is waiting for a code; request a new one")
            if now >= row.expires_at:
                row.status = "expired"
                error = CodeExpiredError("this code has expired; request a new letter")
            elif row.attempts >= POSTAL_CODE_ATTEMPTS:
                row.status = "void"
                error = AttemptsExhaustedError("too many wrong codes; request a new letter")
            else:
                typed = keyed_hash(self._code_key, f"{row.id}:{_clean_code(code)}".encode())
                if hmac.compare_digest(typed.encode(), row.code_hash.encode()):
                    row.status = "used"
                    territory = self.territory(session, row.territory_id)
                    if territory.cog_vintage != row.cog_vintage:
                        # Recorded as it was; the decision will report the vintage mismatch.
                        territory = Territory(
                            id=territory.id,
                            name=territory.name,
                            cog_vintage=row.cog_vintage,
                            communes=territory.communes,
                            parent_id=territory.parent_id,
                        )
                    self._add_evidence(
                        session,
                        citizen_id=citizen_id,
                        kind=Evidence.POSTAL_CODE,
                        territory=territory,
                        commune_code=row.commune_code,
                        recorded_by=f"citizen:{citizen_id}",
                    )
                    self.vault.delete(session, citizen_id, f"letter:{row.id}")
                else:
                    row.attempts += 1
                    left = POSTAL_CODE_ATTEMPTS - row.attempts
                    self._audit_citizen(
                        session,
                        "identity.postal.wrong_code",
                        citizen_id,
                        purpose=RESIDENCY_PURPOSE,
                        details={"letter": row.id, "attempts_left": left},
                    )
                    if left <= 0:
                        row.status = "void"
                        error = AttemptsExhaustedError("too many wrong codes; request a new letter")
                    else:
                        error = WrongCodeError("the code does not match", attempts_left=left)
        if error is not None:
            raise error

    def postal_status(self, session: Session, citizen_id: str) -> PostalCodeRow | None:
        return session.scalars(
            select(PostalCodeRow)
            .where(PostalCodeRow.citizen_id == citizen_id)
            .order_by(PostalCodeRow.created_at.desc())
            .limit(1)
        ).first()

    def new_desk_code(self, session: Session, *, citizen_id: str) -> str:
        """A short-lived code the citizen reads out to the agent at the town-hall desk, so
        that the agent finds the account without any name being stored or searched."""
        self.citizen(session, citizen_id)
        session.execute(delete(DeskCodeRow).where(DeskCodeRow.citizen_id == citizen_id))
        code = _code(DESK_CODE_LENGTH)
        session.add(
            DeskCodeRow(
                code_hash=keyed_hash(self._desk_key, code.encode()),
                citizen_id=citizen_id,
                expires_at=self.now + DESK_CODE_LIFETIME,
            )
        )
        return code

    def record_in_person(
        self,
        session: Session,
        *,
        agent: str,
        desk_code: str,
        territory_id: str,
        commune_code: str,
        reason: str,
    ) -> str:
        """An agent confirms residency in person; a reason is required and no copy of any
        document is kept (there is no field for one). Returns the citizen's pseudonym."""
        reason = " ".join(reason.split())
        if not 3 <= len(reason) <= 300:
            raise IdentityRuleError("a reason of 3 to 300 characters is required")
        row = session.get(DeskCodeRow, keyed_hash(self._desk_key, _clean_code(desk_code).encode()))
        if row is None or self.now >= row.expires_at:
            raise IdentityNotFoundError("unknown or expired desk code")
        territory = self._check_place(session, territory_id, commune_code)
        citizen_id = row.citizen_id
        session.delete(row)
        self._add_evidence(
            session,
            citizen_id=citizen_id,
            kind=Evidence.IN_PERSON,
            territory=territory,
            commune_code=commune_code,
            recorded_by=agent,
            reason=reason,
        )
        return citizen_id

    def record_paper_vote(
        self,
        session: Session,
        *,
        agent: str,
        rule_id: str,
        family_name: str,
        given_names: str,
        birthdate: str,
        birthplace: str,
        birthcountry: str = "",
    ) -> None:
        """Mark that a person voted on paper for ``rule_id`` (by pivot hash only): they can
        no longer be found eligible online for that rule."""
        rule = self.rule(session, rule_id)
        if not rule.paper_votes:
            raise IdentityRuleError("this rule has no paper votes")
        try:
            pivot = normalise_pivot(
                family_name=family_name,
                given_names=given_names,
                birthdate=birthdate,
                birthplace=birthplace,
                birthcountry=birthcountry,
            )
        except NormalisationError as exc:
            raise IdentityRuleError(str(exc)) from None
        hashed = pivot_hash(self._pivot_key, pivot)
        if session.get(PaperVoteRow, (rule_id, hashed)) is not None:
            raise IdentityRuleError("a paper vote is already recorded for this person")
        session.add(
            PaperVoteRow(
                rule_id=rule_id, pivot_hash=hashed, recorded_by=agent, recorded_at=self.now
            )
        )
        self._audit(session, "identity.paper_vote.recorded", agent, details={"rule": rule_id})

    # -- eligibility --------------------------------------------------------------------

    def facts(self, session: Session, citizen: CitizenRow) -> CitizenFacts:
        raw = self.vault.get(session, citizen.id, "birthdate")
        birth = None
        if raw is not None:
            born = date.fromisoformat(raw.decode())
            birth = BirthDate(born.year, born.month, born.day)
        evidence: list[ResidencyEvidence] = []
        for entry, imp in session.execute(
            select(CensusEntryRow, CensusImportRow)
            .join(CensusImportRow, CensusImportRow.id == CensusEntryRow.import_id)
            .where(
                CensusEntryRow.pivot_hash == citizen.pivot_hash, CensusImportRow.active.is_(True)
            )
        ):
            evidence.append(
                ResidencyEvidence(
                    kind=Evidence.CENSUS,
                    territory_id=imp.territory_id,
                    commune_code=entry.commune_code,
                    cog_vintage=imp.cog_vintage,
                    electoral_roll=imp.electoral_roll,
                )
            )
        evidence.extend(
            ResidencyEvidence(
                kind=Evidence(row.kind),
                territory_id=row.territory_id,
                commune_code=row.commune_code,
                cog_vintage=row.cog_vintage,
                valid_until=row.valid_until,
            )
            for row in session.scalars(
                select(EvidenceRow).where(EvidenceRow.citizen_id == citizen.id)
            )
        )
        return CitizenFacts(birth=birth, acr=citizen.acr, evidence=tuple(evidence))

    def _decide(
        self, session: Session, *, citizen_pseudonym: str, rule_id: str
    ) -> tuple[CitizenRow, Rule, EligibilityDecision]:
        """The decision for ``rule_id`` now, from what is stored; writes nothing."""
        citizen = self.citizen(session, citizen_pseudonym)
        rule = self.rule(session, rule_id)
        facts = self.facts(session, citizen)
        if rule.paper_votes:
            voted = session.get(PaperVoteRow, (rule.id, citizen.pivot_hash)) is not None
            facts = CitizenFacts(
                birth=facts.birth, acr=facts.acr, evidence=facts.evidence, paper_vote=voted
            )
        return citizen, rule, decide(rule, self.territories(session), facts, now=self.now)

    def check_eligibility(
        self, session: Session, *, citizen_pseudonym: str, rule_id: str
    ) -> EligibilityDecision:
        """The same decision as :meth:`eligibility`, **neither stored nor audited**.

        For token issuance (ballot-secrecy.md §2): there the voter register is the record
        of issuance and keeps (pseudonym, election, day) only; a decision row with
        ``decided_at`` or an audit event with its minute, written as the token is issued,
        would time the issuance and let it be paired with the ballot cast just after.
        ``decision.decided_at`` stays in memory.
        """
        return self._decide(session, citizen_pseudonym=citizen_pseudonym, rule_id=rule_id)[2]

    def eligibility(
        self, session: Session, *, citizen_pseudonym: str, rule_id: str
    ) -> EligibilityDecision:
        """Is this citizen eligible for ``rule_id`` now, and why not. The decision is stored
        and audited in the caller's transaction."""
        citizen, rule, decision = self._decide(
            session, citizen_pseudonym=citizen_pseudonym, rule_id=rule_id
        )
        session.add(
            DecisionRow(
                id=_new_id(),
                citizen_id=citizen.id,
                rule_id=rule.id,
                eligible=decision.eligible,
                reasons=",".join(decision.reasons),
                evidence=decision.evidence.value if decision.evidence else None,
                assurance=decision.assurance,
                territory_id=decision.territory_id,
                valid_until=decision.valid_until,
                decided_at=decision.decided_at,
            )
        )
        self._audit(
            session,
            "identity.eligibility.decided",
            f"citizen:{citizen.id}",
            subject=citizen.id,
            purpose=RESIDENCY_PURPOSE,
            details={
                "rule": rule.id,
                "eligible": decision.eligible,
                "reasons": list(decision.reasons),
                "evidence": decision.evidence.value if decision.evidence else None,
                "assurance": decision.assurance,
            },
        )
        return decision

    # -- the eligible population of an election ----------------------------------------

    def eligible_population(self, session: Session, *, rule_id: str) -> int:
        """How many people may hold a voting right under ``rule_id`` now: the upper bound an
        election's manifest publishes when it opens (ballot-secrecy.md §3; voting-protocol.md,
        "Verification": #tokens issued ≤ eligible population).

        Counted, never typed: the people of the territory's active census (or electoral roll
        when the rule requires it) in the communes the rule covers, when the rule accepts
        census evidence, plus the citizens holding other residency evidence the rule accepts
        (postal code, in person, self-declaration: valid, of the territory's COG vintage, in
        a covered commune) whose identity is not already counted in the census. It is an
        upper bound, deliberately: the census keeps keyed hashes only, so the rule's age
        limits cannot be applied to its people (they are counted), and a paper voter is
        counted (a paper vote is recorded during the election, after this count).
        """
        rule = self.rule(session, rule_id)
        territories = self.territories(session)
        communes = covered_communes(rule.territory_id, territories)
        vintage = territories[rule.territory_id].cog_vintage
        counted: set[str] = set()
        if Evidence.CENSUS in rule.accepted_evidence:
            query = (
                select(CensusEntryRow.pivot_hash)
                .join(CensusImportRow, CensusImportRow.id == CensusEntryRow.import_id)
                .where(
                    CensusImportRow.active.is_(True),
                    CensusImportRow.cog_vintage == vintage,
                    CensusEntryRow.commune_code.in_(sorted(communes)),
                )
            )
            if rule.electoral_roll:
                query = query.where(CensusImportRow.electoral_roll.is_(True))
            counted.update(session.scalars(query))
        other = {e.value for e in rule.accepted_evidence if e is not Evidence.CENSUS}
        if other and not rule.electoral_roll:
            counted.update(
                session.scalars(
                    select(CitizenRow.pivot_hash)
                    .join(EvidenceRow, EvidenceRow.citizen_id == CitizenRow.id)
                    .where(
                        EvidenceRow.kind.in_(sorted(other)),
                        EvidenceRow.cog_vintage == vintage,
                        EvidenceRow.commune_code.in_(sorted(communes)),
                        EvidenceRow.valid_until > self.now,
                    )
                    .distinct()
                )
            )
        return len(counted)

    # -- data-subject requests --------------------------------------------------------

    def export_citizen(self, session: Session, *, citizen_pseudonym: str) -> dict[str, Any]:
        """What identity holds about a citizen (GDPR Art. 15): the account, the evidence,
        the decisions and the decrypted vault attributes. Consent's exporter registry
        (consent-registry.md, "What the DPO must be able to do", 3) calls this (integration point);
        it does not record the access itself."""
        citizen = self.citizen(session, citizen_pseudonym)
        evidence = session.scalars(
            select(EvidenceRow).where(EvidenceRow.citizen_id == citizen.id)
        ).all()
        decisions = session.scalars(
            select(DecisionRow)
            .where(DecisionRow.citizen_id == citizen.id)
            .order_by(DecisionRow.decided_at)
        ).all()
        attributes = self.vault.export(session, citizen.id)
        return {
            "pseudonym": citizen.id,
            "birth_year": citizen.birth_year,
            "acr": citizen.acr,
            "created_at": citizen.created_at.isoformat(),
            "last_sign_in_at": citizen.last_sign_in_at.isoformat(),
            "franceconnect_links": session.scalar(
                select(func.count())
                .select_from(FranceConnectLinkRow)
                .where(FranceConnectLinkRow.citizen_id == citizen.id)
            ),
            "on_census": bool(
                session.scalar(
                    select(func.count())
                    .select_from(CensusEntryRow)
                    .join(CensusImportRow, CensusImportRow.id == CensusEntryRow.import_id)
                    .where(
                        CensusEntryRow.pivot_hash == citizen.pivot_hash,
                        CensusImportRow.active.is_(True),
                    )
                )
            ),
            "evidence": [
                {
                    "kind": e.kind,
                    "territory": e.territory_id,
                    "commune": e.commune_code,
                    "recorded_by": e.recorded_by,
                    "reason": e.reason,
                    "recorded_at": e.recorded_at.isoformat(),
                }
                for e in evidence
            ],
            "decisions": [
                {
                    "rule": d.rule_id,
                    "eligible": d.eligible,
                    "reasons": [r for r in d.reasons.split(",") if r],
                    "evidence": d.evidence,
                    "decided_at": d.decided_at.isoformat(),
                }
                for d in decisions
            ],
            "attributes": {
                name: value.decode("utf-8", "replace") for name, value in attributes.items()
            },
        }

    def erase_citizen(
        self,
        session: Session,
        *,
        citizen_pseudonym: str,
        actor: str,
        destroy_key: bool = True,
    ) -> None:
        """Erase a citizen account (GDPR Art. 17): vault shredded, account deleted with its
        links, evidence, letters, desk codes and decisions. Paper-vote marks stay (they
        carry no account and protect the one-person-one-vote rule of an election).

        The citizen's data key is consent's; ``destroy_key=False`` leaves its destruction to
        consent's erasure, which calls this as an eraser and destroys the key right after."""
        self.vault.shred(session, citizen_pseudonym, destroy_key=destroy_key)
        citizen = session.get(CitizenRow, citizen_pseudonym)
        if citizen is None:
            return
        for table in (DecisionRow, DeskCodeRow, PostalCodeRow, EvidenceRow, FranceConnectLinkRow):
            session.execute(delete(table).where(table.citizen_id == citizen_pseudonym))
        session.delete(citizen)
        self._audit(
            session,
            "identity.citizen.erased",
            actor,
            subject=citizen_pseudonym,
            purpose="parvis:data-subject-requests",
        )
