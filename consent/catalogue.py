"""The purpose catalogue: controllers and purposes as GDPR Art. 30(1) register entries.

A **purpose** (finalité) is one processing activity of the register (Art. 30(1)): the
controller and its DPO (30(1)(a)), the purpose (30(1)(b)) and its one lawful basis
(Art. 6(1)), the categories of data subjects and of personal data (30(1)(c)) — with the
Art. 9 flag and the Art. 9(2) condition for special categories — the recipients, processors
included (30(1)(d)), transfers outside the EU with their safeguards (30(1)(e)), the
retention of each data category and its final disposition under French archives law (Code du
patrimoine L212-2 and L212-3: destruction, *versement* to public archives, or *tri*)
(30(1)(f)), the security measures (30(1)(g), Art. 32) and the DPIA reference (Art. 35).

Everything is parsed and validated in the constructors (style.md: invalid values cannot
exist); ``from_dict``/``to_dict`` are the JSON form kept in the database and read from the
staff's catalogue files. :meth:`Purpose.fingerprint` hashes (RFC 8785 + SHA-256) exactly the
fields a privacy notice must tell under Art. 13/14, so a change of any of them is *material*
and re-asks consent (see :mod:`consent.notices`). Pure module: no I/O.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import rfc8785

from consent.bases import BASES, BasisInfo, LegalBasis
from consent.deadlines import Duration
from consent.errors import CatalogueError

__all__ = [
    "Contact",
    "Controller",
    "DataCategory",
    "Disposition",
    "Labels",
    "Processor",
    "Purpose",
    "Recipient",
    "RetentionStart",
    "Transfer",
    "fingerprint",
    "parse_purposes",
]

_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
#: EU member states and the other EEA states (Iceland, Liechtenstein, Norway): not transfers.
EEA = frozenset(
    {
        *("AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU"),
        *("IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK"),
        *("IS", "LI", "NO"),
    }
)
MAX_TEXT = 2000


def fingerprint(value: Any) -> str:
    """SHA-256 (hex) of the RFC 8785 canonical JSON of ``value``."""
    return hashlib.sha256(rfc8785.dumps(value)).hexdigest()


def _check_id(value: object, what: str) -> str:
    if not isinstance(value, str) or not _ID.match(value):
        raise CatalogueError(
            f"{what}: an id of 1 to 63 lowercase letters, digits, '.', '_' or '-' is required"
        )
    return value


def _text(value: object, what: str, *, required: bool = True, limit: int = MAX_TEXT) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise CatalogueError(f"{what}: a non-empty text is required")
    if len(value) > limit:
        raise CatalogueError(f"{what}: at most {limit} characters")
    return value.strip()


def _list(data: Mapping[str, Any], key: str, what: str) -> list[Any]:
    value = data.get(key, [])
    if value is None:
        return []
    if not isinstance(value, list):
        raise CatalogueError(f"{what}.{key}: a list is required")
    return value


def _mapping(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise CatalogueError(f"{what}: an object is required")
    return value


@dataclass(frozen=True, slots=True)
class Labels:
    """A text in French (required: French first) and English (falls back to French)."""

    fr: str
    en: str = ""

    def __post_init__(self) -> None:
        if not self.fr.strip():
            raise CatalogueError("a French text is required")

    def get(self, lang: str) -> str:
        return (self.en or self.fr) if lang == "en" else self.fr

    @classmethod
    def parse(cls, value: object, what: str) -> Labels:
        if isinstance(value, str):
            return cls(fr=_text(value, what))
        data = _mapping(value, what)
        unknown = set(data) - {"fr", "en"}
        if unknown:
            raise CatalogueError(f"{what}: unknown language(s) {sorted(unknown)}")
        return cls(
            fr=_text(data.get("fr"), f"{what}.fr"),
            en=_text(data.get("en"), f"{what}.en", required=False),
        )

    def to_dict(self) -> dict[str, str]:
        return {"fr": self.fr, "en": self.en} if self.en else {"fr": self.fr}


@dataclass(frozen=True, slots=True)
class Contact:
    """A person or office to reach (the controller's representative, the DPO)."""

    name: str
    organisation: str = ""
    email: str = ""
    phone: str = ""
    address: str = ""
    url: str = ""

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise CatalogueError("a contact needs a name")
        if self.email and "@" not in self.email:
            raise CatalogueError("contact email: not an e-mail address")

    @classmethod
    def parse(cls, value: object, what: str) -> Contact:
        data = _mapping(value, what)
        return cls(
            name=_text(data.get("name"), f"{what}.name", limit=200),
            **{
                key: _text(data.get(key), f"{what}.{key}", required=False, limit=500)
                for key in ("organisation", "email", "phone", "address", "url")
            },
        )

    def to_dict(self) -> dict[str, str]:
        return {
            key: getattr(self, key)
            for key in ("name", "organisation", "email", "phone", "address", "url")
            if getattr(self, key)
        }


@dataclass(frozen=True, slots=True)
class Controller:
    """A controller (Art. 4(7)), e.g. a commune represented by its mayor, and its DPO.

    Several controllers share one Parvis; one DPO may serve several of them (Art. 37(3):
    a DPO designated for several public authorities).
    """

    id: str
    name: str
    representative: Contact
    dpo: Contact
    address: str = ""
    siret: str = ""
    url: str = ""
    email: str = ""

    def __post_init__(self) -> None:
        _check_id(self.id, "controller id")
        if self.siret and not re.fullmatch(r"\d{14}", self.siret):
            raise CatalogueError("controller siret: 14 digits")
        if not (self.dpo.email or self.dpo.address or self.dpo.url):
            raise CatalogueError(
                "controller dpo: Art. 37(7) requires published contact details "
                "(email, address or url)"
            )

    @classmethod
    def from_dict(cls, value: object) -> Controller:
        data = _mapping(value, "controller")
        cid = _check_id(data.get("id"), "controller id")
        what = f"controller {cid}"
        return cls(
            id=cid,
            name=_text(data.get("name"), f"{what}.name", limit=300),
            representative=Contact.parse(data.get("representative"), f"{what}.representative"),
            dpo=Contact.parse(data.get("dpo"), f"{what}.dpo"),
            address=_text(data.get("address"), f"{what}.address", required=False, limit=500),
            siret=_text(data.get("siret"), f"{what}.siret", required=False, limit=14),
            url=_text(data.get("url"), f"{what}.url", required=False, limit=500),
            email=_text(data.get("email"), f"{what}.email", required=False, limit=200),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "representative": self.representative.to_dict(),
            "dpo": self.dpo.to_dict(),
        }
        for key in ("address", "siret", "url", "email"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        return out


class Disposition(StrEnum):
    """Final disposition at the end of retention (Code du patrimoine L212-2, L212-3)."""

    DESTRUCTION = "destruction"  #: élimination, with the archives' authorisation (visa)
    VERSEMENT = "versement"  #: transfer to the public archives (archives définitives)
    TRI = "tri"  #: selection: a sample is kept as archives, the rest destroyed


class RetentionStart(StrEnum):
    """The moment a retention period runs from (what the purge job measures against)."""

    COLLECTION = "collection"  #: the data was collected / the event happened
    CONSENT_END = "consent_end"  #: consent was withdrawn, refused, expired or revoked
    LAST_ACTIVITY = "last_activity"  #: the person's last use of the service


@dataclass(frozen=True, slots=True)
class DataCategory:
    """A category of personal data (Art. 30(1)(c)) with its retention (30(1)(f)).

    ``special`` marks an Art. 9(1) category; ``special_condition`` is then the Art. 9(2)
    exception relied on (e.g. "Art. 9(2)(a) explicit consent"). ``source`` is "subject"
    when collected from the person (Art. 13), otherwise the source (Art. 14(2)(f)).
    """

    id: str
    label: Labels
    retention: Duration
    retention_from: RetentionStart
    disposition: Disposition
    special: bool = False
    special_condition: str = ""
    source: str = "subject"
    note: str = ""

    def __post_init__(self) -> None:
        _check_id(self.id, "data category id")
        if self.special and not self.special_condition.strip():
            raise CatalogueError(
                f"data category {self.id}: Art. 9(1) special category needs its "
                "Art. 9(2) condition (special_condition)"
            )
        if self.retention.is_zero:
            raise CatalogueError(f"data category {self.id}: retention must be longer than P0D")

    @classmethod
    def parse(cls, value: object, what: str) -> DataCategory:
        data = _mapping(value, what)
        cid = _check_id(data.get("id"), f"{what}.id")
        what = f"{what} {cid}"
        try:
            start = RetentionStart(data.get("retention_from", "collection"))
            disposition = Disposition(str(data.get("disposition")))
        except ValueError:
            raise CatalogueError(
                f"{what}: retention_from must be one of {[s.value for s in RetentionStart]} "
                f"and disposition one of {[d.value for d in Disposition]}"
            ) from None
        special = data.get("special", False)
        if not isinstance(special, bool):
            raise CatalogueError(f"{what}.special: true or false")
        return cls(
            id=cid,
            label=Labels.parse(data.get("label"), f"{what}.label"),
            retention=Duration.parse(_text(data.get("retention"), f"{what}.retention")),
            retention_from=start,
            disposition=disposition,
            special=special,
            special_condition=_text(
                data.get("special_condition"), f"{what}.special_condition", required=False
            ),
            source=_text(data.get("source", "subject"), f"{what}.source", limit=300),
            note=_text(data.get("note"), f"{what}.note", required=False),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "label": self.label.to_dict(),
            "retention": str(self.retention),
            "retention_from": self.retention_from.value,
            "disposition": self.disposition.value,
            "special": self.special,
            "source": self.source,
        }
        if self.special_condition:
            out["special_condition"] = self.special_condition
        if self.note:
            out["note"] = self.note
        return out


@dataclass(frozen=True, slots=True)
class Recipient:
    """A recipient or category of recipients (Art. 4(9), 30(1)(d))."""

    name: str
    kind: str = "internal"  # internal service, external organisation, public authority

    def __post_init__(self) -> None:
        if self.kind not in {"internal", "external", "authority"}:
            raise CatalogueError(
                f"recipient {self.name}: kind must be internal, external or authority"
            )

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "kind": self.kind}


@dataclass(frozen=True, slots=True)
class Processor:
    """A processor (Art. 28) with the reference of its contract or data-processing terms."""

    name: str
    contract_ref: str = ""
    contact: str = ""

    def to_dict(self) -> dict[str, str]:
        out = {"name": self.name}
        if self.contract_ref:
            out["contract_ref"] = self.contract_ref
        if self.contact:
            out["contact"] = self.contact
        return out


@dataclass(frozen=True, slots=True)
class Transfer:
    """A transfer outside the EEA (Art. 30(1)(e)) and its Chapter V safeguard."""

    recipient: str
    country: str
    safeguard: str
    documentation: str = ""

    def __post_init__(self) -> None:
        if not _COUNTRY.match(self.country):
            raise CatalogueError("transfer country: an ISO 3166-1 alpha-2 code (e.g. US)")
        if self.country in EEA:
            raise CatalogueError(
                f"transfer to {self.country}: not a transfer outside the EU/EEA (Chapter V)"
            )
        if not self.safeguard.strip():
            raise CatalogueError(
                "transfer: the Chapter V safeguard is required (adequacy decision Art. 45, "
                "standard clauses Art. 46(2)(c), …)"
            )

    def to_dict(self) -> dict[str, str]:
        out = {"recipient": self.recipient, "country": self.country, "safeguard": self.safeguard}
        if self.documentation:
            out["documentation"] = self.documentation
        return out


@dataclass(frozen=True, slots=True)
class Purpose:
    """One Art. 30 register activity with exactly one Art. 6(1) lawful basis.

    ``consent_validity`` is required when the basis is consent (consent is never asked for
    ever: Parvis re-asks when it lapses) and forbidden otherwise.
    """

    id: str
    controller_id: str
    label: Labels
    description: Labels
    dpv_purpose: str
    legal_basis: LegalBasis
    legal_basis_detail: str
    data_subjects: tuple[str, ...]
    data_categories: tuple[DataCategory, ...]
    recipients: tuple[Recipient, ...] = ()
    processors: tuple[Processor, ...] = ()
    transfers: tuple[Transfer, ...] = ()
    security_measures: tuple[str, ...] = ()
    dpia_ref: str = ""
    consent_validity: Duration | None = None
    active: bool = True

    def __post_init__(self) -> None:
        _check_id(self.id, "purpose id")
        _check_id(self.controller_id, f"purpose {self.id}: controller id")
        if not self.dpv_purpose.startswith(("https://", "http://")):
            raise CatalogueError(
                f"purpose {self.id}: dpv_purpose must be an IRI, e.g. "
                "https://w3id.org/dpv#CommunicationManagement"
            )
        if not self.data_subjects:
            raise CatalogueError(f"purpose {self.id}: Art. 30(1)(c) data subject categories")
        if not self.data_categories:
            raise CatalogueError(f"purpose {self.id}: Art. 30(1)(c) personal data categories")
        ids = [c.id for c in self.data_categories]
        if len(set(ids)) != len(ids):
            raise CatalogueError(f"purpose {self.id}: duplicate data category ids")
        if not self.security_measures:
            raise CatalogueError(
                f"purpose {self.id}: Art. 30(1)(g) a description of the security measures"
            )
        if self.legal_basis is LegalBasis.CONSENT:
            if self.consent_validity is None or self.consent_validity.is_zero:
                raise CatalogueError(
                    f"purpose {self.id}: a consent-based purpose needs consent_validity "
                    "(e.g. P1Y): consent is re-asked when it lapses"
                )
        elif self.consent_validity is not None:
            raise CatalogueError(
                f"purpose {self.id}: consent_validity applies only to consent-based purposes"
            )
        if not self.legal_basis_detail.strip() and self.legal_basis in {
            LegalBasis.LEGAL_OBLIGATION,
            LegalBasis.PUBLIC_TASK,
        }:
            raise CatalogueError(
                f"purpose {self.id}: {BASES[self.legal_basis].article} needs the text it rests "
                "on (Art. 6(3): Union or Member State law), e.g. the council deliberation"
            )

    @property
    def basis(self) -> BasisInfo:
        return BASES[self.legal_basis]

    @property
    def special_categories(self) -> tuple[DataCategory, ...]:
        return tuple(c for c in self.data_categories if c.special)

    def warnings(self) -> list[str]:
        """Points the DPO should look at; they do not block the entry."""
        notes = []
        if self.legal_basis is LegalBasis.LEGITIMATE_INTERESTS:
            notes.append(
                "Art. 6(1), second subparagraph: a public authority cannot rely on legitimate "
                "interests for processing carried out in the performance of its tasks"
            )
        if self.special_categories and not self.dpia_ref:
            notes.append(
                "special-category data (Art. 9) without a DPIA reference: check Art. 35(3) "
                "and the CNIL list of processing operations requiring a DPIA"
            )
        if self.legal_basis is LegalBasis.CONSENT and self.special_categories:
            notes.append("Art. 9(2)(a): consent to special-category data must be explicit")
        return notes

    def material(self) -> dict[str, Any]:
        """What a notice must tell about this purpose (Art. 13(1)(c)–(f), 13(2)(a), 14(1)(d),
        14(2)(f)): a change in any of it is a material change."""
        return {
            "id": self.id,
            "controller": self.controller_id,
            "label": self.label.to_dict(),
            "description": self.description.to_dict(),
            "dpv_purpose": self.dpv_purpose,
            "legal_basis": self.legal_basis.value,
            "legal_basis_detail": self.legal_basis_detail,
            "data_subjects": list(self.data_subjects),
            "data_categories": [c.to_dict() for c in self.data_categories],
            "recipients": [r.to_dict() for r in self.recipients],
            "processors": [p.to_dict() for p in self.processors],
            "transfers": [t.to_dict() for t in self.transfers],
            "consent_validity": str(self.consent_validity) if self.consent_validity else None,
        }

    def fingerprint(self) -> str:
        """SHA-256 over :meth:`material` (RFC 8785): equal fingerprints, same information."""
        return fingerprint(self.material())

    def to_dict(self) -> dict[str, Any]:
        out = self.material()
        out["security_measures"] = list(self.security_measures)
        out["dpia_ref"] = self.dpia_ref
        out["active"] = self.active
        return out

    @classmethod
    def from_dict(cls, value: object, *, controller_id: str | None = None) -> Purpose:
        data = _mapping(value, "purpose")
        pid = _check_id(data.get("id"), "purpose id")
        what = f"purpose {pid}"
        try:
            basis = LegalBasis(str(data.get("legal_basis")))
        except ValueError:
            raise CatalogueError(
                f"{what}.legal_basis: one of {', '.join(b.value for b in LegalBasis)}"
            ) from None
        validity = data.get("consent_validity")
        active = data.get("active", True)
        if not isinstance(active, bool):
            raise CatalogueError(f"{what}.active: true or false")
        return cls(
            id=pid,
            controller_id=_check_id(controller_id or data.get("controller"), f"{what}.controller"),
            label=Labels.parse(data.get("label"), f"{what}.label"),
            description=Labels.parse(data.get("description"), f"{what}.description"),
            dpv_purpose=_text(data.get("dpv_purpose"), f"{what}.dpv_purpose", limit=300),
            legal_basis=basis,
            legal_basis_detail=_text(
                data.get("legal_basis_detail"), f"{what}.legal_basis_detail", required=False
            ),
            data_subjects=tuple(
                _text(s, f"{what}.data_subjects", limit=200)
                for s in _list(data, "data_subjects", what)
            ),
            data_categories=tuple(
                DataCategory.parse(c, f"{what}.data_categories")
                for c in _list(data, "data_categories", what)
            ),
            recipients=tuple(
                _recipient(r, f"{what}.recipients") for r in _list(data, "recipients", what)
            ),
            processors=tuple(
                _processor(p, f"{what}.processors") for p in _list(data, "processors", what)
            ),
            transfers=tuple(
                _transfer(t, f"{what}.transfers") for t in _list(data, "transfers", what)
            ),
            security_measures=tuple(
                _text(s, f"{what}.security_measures", limit=500)
                for s in _list(data, "security_measures", what)
            ),
            dpia_ref=_text(data.get("dpia_ref"), f"{what}.dpia_ref", required=False, limit=300),
            consent_validity=Duration.parse(validity) if validity is not None else None,
            active=active,
        )


def _recipient(value: object, what: str) -> Recipient:
    if isinstance(value, str):
        return Recipient(name=_text(value, what, limit=300))
    data = _mapping(value, what)
    return Recipient(
        name=_text(data.get("name"), f"{what}.name", limit=300),
        kind=_text(data.get("kind", "internal"), f"{what}.kind", limit=20),
    )


def _processor(value: object, what: str) -> Processor:
    if isinstance(value, str):
        return Processor(name=_text(value, what, limit=300))
    data = _mapping(value, what)
    return Processor(
        name=_text(data.get("name"), f"{what}.name", limit=300),
        contract_ref=_text(data.get("contract_ref"), f"{what}.contract_ref", required=False),
        contact=_text(data.get("contact"), f"{what}.contact", required=False),
    )


def _transfer(value: object, what: str) -> Transfer:
    data = _mapping(value, what)
    return Transfer(
        recipient=_text(data.get("recipient"), f"{what}.recipient", limit=300),
        country=_text(data.get("country"), f"{what}.country", limit=2),
        safeguard=_text(data.get("safeguard"), f"{what}.safeguard", limit=500),
        documentation=_text(data.get("documentation"), f"{what}.documentation", required=False),
    )


def parse_purposes(values: Sequence[object], *, controller_id: str) -> list[Purpose]:
    """Parse a controller's list of purposes, refusing duplicate ids."""
    purposes = [Purpose.from_dict(v, controller_id=controller_id) for v in values]
    ids = [p.id for p in purposes]
    if len(set(ids)) != len(ids):
        raise CatalogueError(f"controller {controller_id}: duplicate purpose ids")
    return purposes
