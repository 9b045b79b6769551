"""Consent receipts: ISO/IEC TS 27560:2023 records with a Kantara v1.1 view, signed with Ed25519.

A receipt is one JSON document::

    {"format": "parvis-consent-receipt/v1",
     "record":  {... ISO/IEC TS 27560:2023 consent record ...},
     "kantara": {... Kantara Initiative Consent Receipt v1.1 (KI-CR-v1.1.0) view ...},
     "signature": {"alg": "Ed25519", "key_id": "<16 hex>", "value": "<base64 signature>"}}

The signature (RFC 8032 Ed25519, through PyNaCl) covers ``SIGNING_CONTEXT`` followed by the
RFC 8785 (JSON Canonicalization Scheme) form of the document without its ``signature``
member, so any change to the record *or* to the Kantara view breaks it. The key id is the
first 8 bytes of SHA-256 of the public key. Verification (:func:`verify_receipt`) needs only
the document and the published public key — it works offline — and **raises** a
:class:`~consent.errors.ReceiptError` on any failure; only it creates a
:class:`VerifiedReceipt`.

ISO/IEC TS 27560 fields (M = mandatory): schema_version (M), record_id (M),
pii_principal_id (M); processing: privacy_notice (M), language (M), purposes (M),
lawful_basis (M under GDPR), pii_information (M), pii_controllers (M), collection_method
(M under GDPR), storage_locations (M), retention_period (M), jurisdiction (M),
recipient_third_parties (M), withdrawal_method (M), privacy_rights (M under GDPR),
authority_party (M under GDPR); parties: id, name, type (M); events: event_time (M),
validity_duration (M), entity_id (M), event_type (M), event_state (M).

Pure module: the caller passes every fact, including the time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import nacl.exceptions
import nacl.signing
import rfc8785

from consent.bases import RIGHT_ARTICLES, Right
from consent.catalogue import Controller, Purpose
from consent.errors import MalformedReceiptError, ReceiptKeyError, ReceiptSignatureError
from consent.ledger import ACTIVE, DPV_STATUS, ConsentEvent
from consent.notices import CNIL

__all__ = [
    "FORMAT",
    "MAX_RECEIPT_BYTES",
    "SCHEMA_VERSION",
    "NoticeRef",
    "ReceiptKey",
    "ReceiptSigner",
    "VerifiedReceipt",
    "build_receipt",
    "kantara_view",
    "verify_receipt",
]

FORMAT = "parvis-consent-receipt/v1"
SCHEMA_VERSION = "ISO/IEC TS 27560:2023"
KANTARA_VERSION = "KI-CR-v1.1.0"
SIGNING_CONTEXT = b"parvis-consent-receipt/v1\n"
MAX_RECEIPT_BYTES = 256 * 1024

_RECORD_MANDATORY = ("schema_version", "record_id", "pii_principal_id", "processing", "parties")
_PROCESSING_MANDATORY = (
    "privacy_notice",
    "language",
    "purposes",
    "pii_information",
    "pii_controllers",
    "collection_method",
    "storage_locations",
    "retention_period",
    "jurisdiction",
    "recipient_third_parties",
    "withdrawal_method",
    "privacy_rights",
    "authority_party",
)
_EVENT_MANDATORY = ("event_time", "validity_duration", "entity_id", "event_type", "event_state")


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: object, *, what: str, length: int) -> bytes:
    if not isinstance(text, str):
        raise MalformedReceiptError(f"{what}: base64 text expected")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedReceiptError(f"{what}: not valid base64") from None
    if len(raw) != length:
        raise MalformedReceiptError(f"{what}: {length} bytes expected, got {len(raw)}")
    return raw


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class ReceiptKey:
    """A receipt verification key (Ed25519 public key) and its id."""

    public_key: bytes

    def __post_init__(self) -> None:
        if len(self.public_key) != 32:
            raise ReceiptKeyError("an Ed25519 public key is 32 bytes")

    @property
    def key_id(self) -> str:
        return hashlib.sha256(self.public_key).hexdigest()[:16]

    @classmethod
    def parse(cls, text: str) -> ReceiptKey:
        """Accept the base64 public key or the published JSON (``{"public_key": …}``)."""
        text = text.strip()
        if text.startswith("{"):
            try:
                data = json.loads(text)
            except json.JSONDecodeError:
                raise ReceiptKeyError("the key file is not valid JSON") from None
            text = data.get("public_key", "") if isinstance(data, dict) else ""
        try:
            return cls(_unb64(text, what="public key", length=32))
        except MalformedReceiptError as exc:
            raise ReceiptKeyError(str(exc)) from None

    def to_dict(self) -> dict[str, str]:
        return {"alg": "Ed25519", "key_id": self.key_id, "public_key": _b64(self.public_key)}


class ReceiptSigner:
    """Signs receipts with an Ed25519 key (seed from ``parvis.kernel.keys.derive_key``)."""

    def __init__(self, seed: bytes) -> None:
        if len(seed) != 32:
            raise ValueError("an Ed25519 seed is 32 bytes")
        self._key = nacl.signing.SigningKey(seed)
        self.verifier = ReceiptKey(bytes(self._key.verify_key))

    def sign(self, unsigned: Mapping[str, Any]) -> dict[str, Any]:
        """``unsigned`` (format, record, kantara) with its ``signature`` member added."""
        message = SIGNING_CONTEXT + rfc8785.dumps(dict(unsigned))
        signature = self._key.sign(message).signature
        return {
            **unsigned,
            "signature": {
                "alg": "Ed25519",
                "key_id": self.verifier.key_id,
                "value": _b64(signature),
            },
        }


@dataclass(frozen=True, slots=True)
class NoticeRef:
    """The notice version shown when the event happened."""

    notice_id: str
    version: int
    language: str
    url: str
    content_hash: str


def _parties(controller: Controller) -> list[dict[str, Any]]:
    rep = controller.representative
    return [
        {
            "id": controller.id,
            "type": "organisation",
            "role": "pii_controller",
            "name": controller.name,
            "address": controller.address,
            "contact": rep.name,
            "email": controller.email or rep.email,
            "url": controller.url,
            "phone": rep.phone,
        },
        {
            "id": f"{controller.id}#dpo",
            "type": "person",
            "role": "data_protection_officer",
            "name": controller.dpo.name,
            "address": controller.dpo.address,
            "contact": controller.dpo.organisation,
            "email": controller.dpo.email,
            "url": controller.dpo.url,
        },
        {
            "id": "cnil",
            "type": "organisation",
            "role": "supervisory_authority",
            "name": CNIL["name"],
            "address": CNIL["address"],
            "url": CNIL["url"],
        },
    ]


def build_receipt(
    *,
    receipt_id: str,
    event: ConsentEvent,
    purpose: Purpose,
    controller: Controller,
    notice: NoticeRef,
    withdrawal_method: str,
    public_key: ReceiptKey,
    locations: Iterable[str] = ("FR",),
) -> dict[str, Any]:
    """The unsigned receipt (format, ISO/IEC TS 27560 record, Kantara view) for ``event``."""
    lang = notice.language
    validity = (
        str(purpose.consent_validity)
        if event.status in ACTIVE and purpose.consent_validity is not None
        else "P0D"
    )
    recipients = [r.name for r in purpose.recipients] + [p.name for p in purpose.processors]
    record: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "record_id": receipt_id,
        "pii_principal_id": event.subject,
        "processing": {
            "privacy_notice": {
                "id": notice.notice_id,
                "version": notice.version,
                "url": notice.url,
                "content_hash": "sha256:" + notice.content_hash,
            },
            "language": lang,
            "purposes": [
                {
                    "purpose_id": purpose.id,
                    "purpose": purpose.label.get(lang),
                    "description": purpose.description.get(lang),
                    "purpose_type": purpose.dpv_purpose,
                    "lawful_basis": purpose.basis.dpv_gdpr,
                    "fingerprint": "sha256:" + purpose.fingerprint(),
                }
            ],
            "pii_information": [
                {
                    "pii_type": c.label.get(lang),
                    "pii_attribute_id": c.id,
                    "pii_optional": False,
                    "sensitive_pii_category": c.special,
                    "special_pii_category": c.special_condition or None,
                }
                for c in purpose.data_categories
            ],
            "pii_controllers": [controller.id],
            "collection_method": event.method.value,
            "processing_method": "automated",
            "storage_locations": sorted(set(locations)),
            "retention_period": [
                {
                    "pii_attribute_id": c.id,
                    "period": str(c.retention),
                    "from": c.retention_from.value,
                    "disposition": c.disposition.value,
                }
                for c in purpose.data_categories
            ],
            "processing_locations": sorted(set(locations)),
            "geographic_restrictions": [],
            "service": "Parvis",
            "jurisdiction": "FR",
            "recipient_third_parties": recipients,
            "transfers": [t.to_dict() for t in purpose.transfers],
            "withdrawal_method": withdrawal_method,
            "privacy_rights": [
                {"right": r.value, "article": RIGHT_ARTICLES[r]}
                for r in Right
                if r in purpose.basis.rights
            ],
            "codes_of_conduct": [],
            "impact_assessment": purpose.dpia_ref or None,
            "authority_party": "cnil",
        },
        "parties": _parties(controller),
        "events": [
            {
                "event_id": event.event_id,
                "event_time": _time(event.time),
                "validity_duration": validity,
                "valid_until": _time(event.valid_until) if event.valid_until else None,
                "entity_id": event.actor.audit_actor(event.subject),
                "actor": event.actor.to_dict(),
                "interface": event.interface,
                "event_type": event.status.value,
                "event_state": DPV_STATUS[event.status],
            }
        ],
    }
    return {
        "format": FORMAT,
        "record": record,
        "kantara": kantara_view(record, controller=controller, purpose=purpose, key=public_key),
    }


def kantara_view(
    record: Mapping[str, Any], *, controller: Controller, purpose: Purpose, key: ReceiptKey
) -> dict[str, Any]:
    """The Kantara Consent Receipt v1.1 fields of the same record."""
    processing = record["processing"]
    event = record["events"][0]
    lang = processing["language"]
    third = [r.name for r in purpose.recipients if r.kind != "internal"] + [
        p.name for p in purpose.processors
    ]
    ended = event["event_type"] not in {s.value for s in ACTIVE}
    termination = (
        f"consent {event['event_type']} at {event['event_time']}"
        if ended
        else f"valid until {event['valid_until']}; withdraw at any time: "
        f"{processing['withdrawal_method']}"
    )
    return {
        "version": KANTARA_VERSION,
        "jurisdiction": processing["jurisdiction"],
        "consentTimestamp": int(
            datetime.strptime(event["event_time"], "%Y-%m-%dT%H:%M:%SZ")
            .replace(tzinfo=UTC)
            .timestamp()
        ),
        "collectionMethod": processing["collection_method"],
        "consentReceiptID": record["record_id"],
        "publicKey": _b64(key.public_key),
        "language": lang,
        "piiPrincipalId": record["pii_principal_id"],
        "piiControllers": [
            {
                "piiController": controller.name,
                "onBehalf": False,
                "contact": controller.representative.name,
                "address": controller.address,
                "email": controller.email or controller.representative.email,
                "phone": controller.representative.phone,
                "piiControllerUrl": controller.url,
            }
        ],
        "policyUrl": processing["privacy_notice"]["url"],
        "services": [
            {
                "service": processing["service"],
                "purposes": [
                    {
                        "purpose": purpose.label.get(lang),
                        "purposeCategory": [purpose.dpv_purpose],
                        "consentType": "EXPLICIT",
                        "piiCategory": [c.label.get(lang) for c in purpose.data_categories],
                        "primaryPurpose": False,
                        "termination": termination,
                        "thirdPartyDisclosure": bool(third),
                        "thirdPartyName": ", ".join(third),
                    }
                ],
            }
        ],
        "sensitive": any(c.special for c in purpose.data_categories),
        "spiCat": [c.label.get(lang) for c in purpose.data_categories if c.special],
    }


@dataclass(frozen=True, slots=True)
class VerifiedReceipt:
    """A receipt whose signature checked out (only :func:`verify_receipt` makes one)."""

    record_id: str
    subject: str
    purpose_id: str
    event_type: str
    event_time: str
    key_id: str
    document: Mapping[str, Any]


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        # Two parsers could pick different values for a duplicated key: refuse outright.
        raise MalformedReceiptError("duplicate member names in the receipt")
    return dict(pairs)


def _load(document: bytes | str | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(document, Mapping):
        return dict(document)
    raw = document.encode("utf-8") if isinstance(document, str) else document
    if len(raw) > MAX_RECEIPT_BYTES:
        raise MalformedReceiptError(f"a receipt is at most {MAX_RECEIPT_BYTES} bytes")
    try:
        data = json.loads(raw, object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise MalformedReceiptError("the receipt is not valid UTF-8 JSON") from None
    except RecursionError:
        raise MalformedReceiptError("the receipt is nested too deeply") from None
    if not isinstance(data, dict):
        raise MalformedReceiptError("a receipt is a JSON object")
    return data


def _require(obj: object, keys: Iterable[str], what: str) -> Mapping[str, Any]:
    if not isinstance(obj, Mapping):
        raise MalformedReceiptError(f"{what}: a JSON object is required")
    missing = [k for k in keys if k not in obj]
    if missing:
        raise MalformedReceiptError(f"{what}: mandatory field(s) missing: {', '.join(missing)}")
    return obj


def verify_receipt(
    document: bytes | str | Mapping[str, Any], *, trusted: Iterable[ReceiptKey]
) -> VerifiedReceipt:
    """Check a receipt offline against the published key(s); raise on any failure."""
    data = _load(document)
    if set(data) != {"format", "record", "kantara", "signature"}:
        raise MalformedReceiptError(
            "a receipt has exactly the members format, record, kantara and signature"
        )
    if data["format"] != FORMAT:
        raise MalformedReceiptError(f"unknown receipt format {str(data['format'])[:60]!r}")
    record = _require(data["record"], _RECORD_MANDATORY, "record")
    processing = _require(record["processing"], _PROCESSING_MANDATORY, "record.processing")
    events = record.get("events")
    if not isinstance(events, list) or len(events) != 1:
        raise MalformedReceiptError("record.events: exactly one event")
    event = _require(events[0], _EVENT_MANDATORY, "record.events[0]")
    purposes = processing["purposes"]
    if not isinstance(purposes, list) or len(purposes) != 1 or not isinstance(purposes[0], dict):
        raise MalformedReceiptError("record.processing.purposes: exactly one purpose")
    kantara = _require(
        data["kantara"], ("version", "consentReceiptID", "piiPrincipalId", "publicKey"), "kantara"
    )
    if (
        kantara["consentReceiptID"] != record["record_id"]
        or kantara["piiPrincipalId"] != record["pii_principal_id"]
    ):
        raise MalformedReceiptError("the Kantara view does not describe the same record")
    signature = _require(data["signature"], ("alg", "key_id", "value"), "signature")
    if signature["alg"] != "Ed25519":
        raise MalformedReceiptError("signature.alg: only Ed25519 is accepted")
    raw_signature = _unb64(signature["value"], what="signature.value", length=64)
    keys = {key.key_id: key for key in trusted}
    key = keys.get(str(signature["key_id"]))
    if key is None:
        raise ReceiptKeyError(
            f"the receipt is signed by key {str(signature['key_id'])[:16]!r}, which is not a "
            "published Parvis receipt key"
        )
    if kantara["publicKey"] != _b64(key.public_key):
        raise ReceiptSignatureError("the Kantara view names another public key")
    unsigned = {k: data[k] for k in ("format", "record", "kantara")}
    try:
        message = SIGNING_CONTEXT + rfc8785.dumps(unsigned)
    except rfc8785.CanonicalizationError:
        raise MalformedReceiptError(
            "the receipt holds values JSON canonicalization refuses"
        ) from None
    try:
        nacl.signing.VerifyKey(key.public_key).verify(message, raw_signature)
    except nacl.exceptions.BadSignatureError:
        raise ReceiptSignatureError(
            "the signature does not match the receipt's content: it was modified or forged"
        ) from None
    return VerifiedReceipt(
        record_id=str(record["record_id"]),
        subject=str(record["pii_principal_id"]),
        purpose_id=str(purposes[0].get("purpose_id", "")),
        event_type=str(event["event_type"]),
        event_time=str(event["event_time"]),
        key_id=key.key_id,
        document=data,
    )
