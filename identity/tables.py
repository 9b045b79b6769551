"""The identity domain's tables (SQLAlchemy 2 typed models). Other domains never read them:
they call :mod:`identity`'s public functions (architecture.md, "The five parts").

What is **not** here, by design (architecture.md, "Data protection by design"): no name, no
FranceConnect ``sub``, no birthplace, no address in clear. A citizen is a random id; the
``sub`` and the normalised identity pivot are HMAC-SHA-256 under purpose-specific keys; the
birth date and any address wait encrypted under the citizen's data key, which consent holds
(:mod:`identity.vault`).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from parvis.kernel.db import Base, UTCDateTime

__all__ = [
    "CensusEntryRow",
    "CensusImportRow",
    "CitizenRow",
    "DecisionRow",
    "DeskCodeRow",
    "EvidenceRow",
    "FranceConnectLinkRow",
    "LoginThrottleRow",
    "PaperVoteRow",
    "PostalCodeRow",
    "RuleRow",
    "SandboxStateRow",
    "StaffRecoveryCodeRow",
    "StaffRow",
    "TerritoryCommuneRow",
    "TerritoryRow",
    "VaultAttributeRow",
]

Hash = String(64)


class CitizenRow(Base):
    """A pseudonymous citizen account: ``id`` is the pseudonym in the session and the logs."""

    __tablename__ = "identity_citizens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    pivot_hash: Mapped[str] = mapped_column(Hash, unique=True, nullable=False)
    birth_year: Mapped[int] = mapped_column(Integer, nullable=False)
    acr: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    last_sign_in_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class FranceConnectLinkRow(Base):
    """A FranceConnect ``sub`` (keyed hash) that signs into a citizen account. Several can
    point to one account: the same person through providers that spell a name differently."""

    __tablename__ = "identity_fc_links"

    sub_hash: Mapped[str] = mapped_column(Hash, primary_key=True)
    citizen_id: Mapped[str] = mapped_column(
        ForeignKey("identity_citizens.id", ondelete="CASCADE"), nullable=False, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class VaultAttributeRow(Base):
    """One encrypted attribute, sealed under the citizen's data key in consent
    (:func:`consent.data_keys`; XChaCha20-Poly1305, associated data = pseudonym + name).
    Consent's erasure destroys that key: the ciphertext, and any copy of it, is unreadable."""

    __tablename__ = "identity_vault_attributes"

    citizen_id: Mapped[str] = mapped_column(
        ForeignKey("identity_citizens.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class TerritoryRow(Base):
    """A set of INSEE COG commune codes of one COG vintage, optionally inside a parent."""

    __tablename__ = "identity_territories"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    cog_vintage: Mapped[int] = mapped_column(Integer, nullable=False)
    parent_id: Mapped[str | None] = mapped_column(
        ForeignKey("identity_territories.id"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class TerritoryCommuneRow(Base):
    __tablename__ = "identity_territory_communes"

    territory_id: Mapped[str] = mapped_column(
        ForeignKey("identity_territories.id", ondelete="CASCADE"), primary_key=True
    )
    commune_code: Mapped[str] = mapped_column(String(5), primary_key=True)


class RuleRow(Base):
    """An eligibility rule (franceconnect.md, "Residency and eligibility")."""

    __tablename__ = "identity_rules"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    territory_id: Mapped[str] = mapped_column(ForeignKey("identity_territories.id"), nullable=False)
    accepted_evidence: Mapped[str] = mapped_column(String(200), nullable=False)
    min_acr: Mapped[str] = mapped_column(String(16), nullable=False)
    min_age: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_age: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reference_date: Mapped[date] = mapped_column(Date, nullable=False)
    electoral_roll: Mapped[bool] = mapped_column(Boolean, nullable=False)
    paper_votes: Mapped[bool] = mapped_column(Boolean, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class CensusImportRow(Base):
    """One census or electoral-roll import.

    An import is *pending* (not active, ``activated_at`` empty) until a staff member activates
    it; activation supersedes the territory's active import (then not active, ``activated_at``
    set). Eligibility reads only the active import (franceconnect.md, "Residency and eligibility").
    """

    __tablename__ = "identity_census_imports"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    territory_id: Mapped[str] = mapped_column(
        ForeignKey("identity_territories.id"), nullable=False, index=True
    )
    electoral_roll: Mapped[bool] = mapped_column(Boolean, nullable=False)
    cog_vintage: Mapped[int] = mapped_column(Integer, nullable=False)
    rows: Mapped[int] = mapped_column(Integer, nullable=False)
    accepted: Mapped[int] = mapped_column(Integer, nullable=False)
    duplicates: Mapped[int] = mapped_column(Integer, nullable=False)
    rejected: Mapped[int] = mapped_column(Integer, nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False)
    imported_by: Mapped[str] = mapped_column(String(80), nullable=False)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    activated_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    @property
    def pending(self) -> bool:
        return not self.active and self.activated_at is None


class CensusEntryRow(Base):
    """One person of an import, as the keyed hash of the normalised pivot only."""

    __tablename__ = "identity_census_entries"

    import_id: Mapped[str] = mapped_column(
        ForeignKey("identity_census_imports.id", ondelete="CASCADE"), primary_key=True
    )
    pivot_hash: Mapped[str] = mapped_column(Hash, primary_key=True)
    commune_code: Mapped[str] = mapped_column(String(5), nullable=False)
    __table_args__ = (Index("ix_identity_census_entries_pivot_hash", "pivot_hash"),)


class EvidenceRow(Base):
    """Residency evidence other than the census: postal code, agent, self-declaration."""

    __tablename__ = "identity_evidence"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    citizen_id: Mapped[str] = mapped_column(
        ForeignKey("identity_citizens.id", ondelete="CASCADE"), nullable=False, index=True
    )
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    territory_id: Mapped[str] = mapped_column(ForeignKey("identity_territories.id"), nullable=False)
    commune_code: Mapped[str] = mapped_column(String(5), nullable=False)
    cog_vintage: Mapped[int] = mapped_column(Integer, nullable=False)
    recorded_by: Mapped[str] = mapped_column(String(80), nullable=False)
    reason: Mapped[str | None] = mapped_column(String(300), nullable=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    valid_until: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class PostalCodeRow(Base):
    """A postal-letter code. The letter (address and code) waits encrypted in the vault
    until staff export it; then only the code's keyed hash remains."""

    __tablename__ = "identity_postal_codes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    citizen_id: Mapped[str] = mapped_column(
        ForeignKey("identity_citizens.id", ondelete="CASCADE"), nullable=False, index=True
    )
    territory_id: Mapped[str] = mapped_column(ForeignKey("identity_territories.id"), nullable=False)
    commune_code: Mapped[str] = mapped_column(String(5), nullable=False)
    cog_vintage: Mapped[int] = mapped_column(Integer, nullable=False)
    code_hash: Mapped[str] = mapped_column(Hash, nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    exported_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class PaperVoteRow(Base):
    """A paper vote recorded for a rule, by pivot hash (paper voters may have no account)."""

    __tablename__ = "identity_paper_votes"

    rule_id: Mapped[str] = mapped_column(
        ForeignKey("identity_rules.id", ondelete="CASCADE"), primary_key=True
    )
    pivot_hash: Mapped[str] = mapped_column(Hash, primary_key=True)
    recorded_by: Mapped[str] = mapped_column(String(80), nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class DecisionRow(Base):
    """Every eligibility decision (rule, evidence, assurance, validity) as it was made."""

    __tablename__ = "identity_decisions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    citizen_id: Mapped[str] = mapped_column(
        ForeignKey("identity_citizens.id", ondelete="CASCADE"), nullable=False
    )
    rule_id: Mapped[str] = mapped_column(
        ForeignKey("identity_rules.id", ondelete="CASCADE"), nullable=False
    )
    eligible: Mapped[bool] = mapped_column(Boolean, nullable=False)
    reasons: Mapped[str] = mapped_column(String(300), nullable=False)
    evidence: Mapped[str | None] = mapped_column(String(32), nullable=True)
    assurance: Mapped[int] = mapped_column(Integer, nullable=False)
    territory_id: Mapped[str] = mapped_column(String(64), nullable=False)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    __table_args__ = (
        Index("ix_identity_decisions_citizen_rule", "citizen_id", "rule_id", "decided_at"),
    )


class StaffRow(Base):
    """A staff account (not pseudonymous: staff act for the controller)."""

    __tablename__ = "identity_staff"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    email: Mapped[str] = mapped_column(String(254), nullable=False)
    password_hash: Mapped[str] = mapped_column(Text, nullable=False)
    totp_secret: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    totp_last_step: Mapped[int] = mapped_column(Integer, nullable=False)
    roles: Mapped[str] = mapped_column(String(200), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: The password is a one-time password (set by a reset or a generated creation): the
    #: next sign-in must change it before anything else, and it is refused after
    #: ``one_time_expires_at``.
    must_change_password: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    one_time_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: False until the staff member has confirmed a code of ``totp_secret`` (enrolment with
    #: the QR code); meanwhile the sign-in asks for no code and leads to the enrolment.
    totp_enrolled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    __table_args__ = (UniqueConstraint("email", name="uq_identity_staff_email"),)


class StaffRecoveryCodeRow(Base):
    """A recovery code of a staff account, stored as HMAC-SHA-256 under a key derived from
    the master secret (never in clear; shown once), single use (``used_at``)."""

    __tablename__ = "identity_staff_recovery_codes"

    staff_id: Mapped[str] = mapped_column(
        ForeignKey("identity_staff.id", ondelete="CASCADE"), primary_key=True
    )
    code_hash: Mapped[str] = mapped_column(Hash, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class LoginThrottleRow(Base):
    """Failed staff sign-ins per keyed hash of the e-mail address, known or not, so that an
    unknown address is throttled and locked exactly like a real one."""

    __tablename__ = "identity_login_throttle"

    key_hash: Mapped[str] = mapped_column(Hash, primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, nullable=False)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class DeskCodeRow(Base):
    """A short-lived code a citizen reads out at the desk (keyed hash only)."""

    __tablename__ = "identity_desk_codes"

    code_hash: Mapped[str] = mapped_column(Hash, primary_key=True)
    citizen_id: Mapped[str] = mapped_column(
        ForeignKey("identity_citizens.id", ondelete="CASCADE"), nullable=False, index=True
    )
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class SandboxStateRow(Base):
    """The FranceConnect sandbox's state (demo and rehearsals only): pending interactions,
    codes, access tokens, provider sessions, issued ID tokens and its signing keys, one JSON
    document per ``(kind, key)``, so that every worker process of one demo shares them
    (franceconnect.md, "The sandbox Parvis ships"). ``key`` is a SHA-256 of the secret value
    (code, token, session id), never the value; rows past ``expires_at`` are ignored and
    purged. The sandbox's citizens are fictitious: nothing here is personal data.
    """

    __tablename__ = "identity_fc_sandbox_state"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(Hash, primary_key=True)
    data: Mapped[str] = mapped_column(Text, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)
