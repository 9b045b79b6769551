"""Receipts: ISO/IEC TS 27560 record, Kantara view, Ed25519 over RFC 8785 (pure core)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from consent.catalogue import Controller, Purpose
from consent.errors import (
    MalformedReceiptError,
    ReceiptError,
    ReceiptKeyError,
    ReceiptSignatureError,
)
from consent.ledger import Actor, ActorKind, ConsentEvent, Method, Status
from consent.notices import build_notice
from consent.receipts import (
    MAX_RECEIPT_BYTES,
    NoticeRef,
    ReceiptKey,
    ReceiptSigner,
    build_receipt,
    verify_receipt,
)
from tests.consent.factories import CONTROLLER, NEWSLETTER

T0 = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
SIGNER = ReceiptSigner(bytes(range(32)))
OTHER = ReceiptSigner(bytes(range(1, 33)))


def make_receipt(status: Status = Status.GIVEN, signer: ReceiptSigner = SIGNER) -> dict[str, Any]:
    controller = Controller.from_dict(CONTROLLER)
    purpose = Purpose.from_dict(NEWSLETTER, controller_id=controller.id)
    notice = build_notice(controller, [purpose], language="fr", text="", withdrawal_method="u")
    event = ConsentEvent(
        event_id="ev-1",
        subject="subject-a",
        purpose_id=purpose.id,
        status=status,
        time=T0,
        actor=Actor(ActorKind.SUBJECT),
        method=Method.WEB_FORM,
        interface="parvis:privacy-page",
        notice_id="notice-1",
        valid_until=T0 + timedelta(days=365) if status is Status.GIVEN else None,
    )
    unsigned = build_receipt(
        receipt_id="rcpt-1",
        event=event,
        purpose=purpose,
        controller=controller,
        notice=NoticeRef("notice-1", 1, "fr", "https://p/notice/1", notice.content_hash),
        withdrawal_method="https://p/privacy",
        public_key=signer.verifier,
    )
    return signer.sign(unsigned)


def test_valid_receipt_verifies_offline() -> None:
    receipt = make_receipt()
    verified = verify_receipt(json.dumps(receipt), trusted=[SIGNER.verifier])
    assert verified.subject == "subject-a"
    assert verified.purpose_id == "newsletter"
    assert verified.event_type == "given"
    assert verified.key_id == SIGNER.verifier.key_id


def test_iso_27560_mandatory_fields_and_kantara_view() -> None:
    receipt = make_receipt()
    record = receipt["record"]
    assert record["schema_version"] == "ISO/IEC TS 27560:2023"
    processing = record["processing"]
    assert processing["purposes"][0]["lawful_basis"] == "https://w3id.org/dpv/legal/eu/gdpr#A6-1-a"
    assert processing["jurisdiction"] == "FR"
    assert processing["authority_party"] == "cnil"
    assert {p["role"] for p in record["parties"]} == {
        "pii_controller",
        "data_protection_officer",
        "supervisory_authority",
    }
    assert {r["right"] for r in processing["privacy_rights"]} >= {"withdrawal", "portability"}
    ev = record["events"][0]
    assert ev["event_state"] == "https://w3id.org/dpv#ConsentGiven"
    assert ev["validity_duration"] == "P1Y"
    assert ev["entity_id"] == "citizen:subject-a"
    kantara = receipt["kantara"]
    assert kantara["version"] == "KI-CR-v1.1.0"
    assert kantara["consentTimestamp"] == int(T0.timestamp())
    assert kantara["consentReceiptID"] == "rcpt-1"
    assert kantara["services"][0]["purposes"][0]["thirdPartyName"] == "Routeur SAS"
    withdrawn = make_receipt(Status.WITHDRAWN)
    assert withdrawn["record"]["events"][0]["validity_duration"] == "P0D"
    assert "withdrawn" in withdrawn["kantara"]["services"][0]["purposes"][0]["termination"]


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _leaves(v, (*path, k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _leaves(v, (*path, i))]
    return [path]


RECEIPT = make_receipt()
LEAVES = list(_leaves({k: RECEIPT[k] for k in ("record", "kantara")}))


@settings(max_examples=150)
@given(st.sampled_from(LEAVES), st.sampled_from(["x", 0, True, None, "2026-01-15T09:00:01Z"]))
def test_any_modification_fails(path: tuple[Any, ...], replacement: Any) -> None:
    receipt = copy.deepcopy(RECEIPT)
    target: Any = receipt
    for key in path[:-1]:
        target = target[key]
    if target[path[-1]] == replacement:
        replacement = "changed"
    target[path[-1]] = replacement
    with pytest.raises(ReceiptError):
        verify_receipt(json.dumps(receipt), trusted=[SIGNER.verifier])


def test_back_dating_a_receipt_fails() -> None:
    receipt = copy.deepcopy(RECEIPT)
    receipt["record"]["events"][0]["event_time"] = "2025-01-15T09:00:00Z"
    receipt["kantara"]["consentTimestamp"] -= 365 * 86400
    with pytest.raises(ReceiptSignatureError, match="modified or forged"):
        verify_receipt(receipt, trusted=[SIGNER.verifier])


def test_forged_with_another_key_fails() -> None:
    forged = make_receipt(signer=OTHER)
    with pytest.raises(ReceiptKeyError, match="not a published"):
        verify_receipt(forged, trusted=[SIGNER.verifier])
    # Re-signing with another key while claiming the trusted key id still fails.
    forged["signature"]["key_id"] = SIGNER.verifier.key_id
    with pytest.raises(ReceiptSignatureError):
        verify_receipt(forged, trusted=[SIGNER.verifier])


@pytest.mark.parametrize(
    "mutate",
    [
        lambda r: r.pop("signature"),
        lambda r: r.update(extra=1),
        lambda r: r.update(format="other/v9"),
        lambda r: r["signature"].update(alg="RS256"),
        lambda r: r["signature"].update(value="!!!"),
        lambda r: r["signature"].update(value="AAAA"),
        lambda r: r["record"].pop("pii_principal_id"),
        lambda r: r["record"]["processing"].pop("withdrawal_method"),
        lambda r: r["record"]["events"][0].pop("validity_duration"),
        lambda r: r["record"].update(events=[]),
        lambda r: r["kantara"].update(piiPrincipalId="someone-else"),
    ],
)
def test_malformed_receipts(mutate: Any) -> None:
    receipt = copy.deepcopy(RECEIPT)
    mutate(receipt)
    with pytest.raises(MalformedReceiptError):
        verify_receipt(json.dumps(receipt), trusted=[SIGNER.verifier])


def test_garbage_duplicates_and_oversize() -> None:
    for raw in (b"\xff\xfe", b"[1,2]", b"{", b"null"):
        with pytest.raises(MalformedReceiptError):
            verify_receipt(raw, trusted=[SIGNER.verifier])
    text = json.dumps(RECEIPT)
    duplicated = text[:-1] + ', "format": "parvis-consent-receipt/v1"}'
    with pytest.raises(MalformedReceiptError, match="duplicate"):
        verify_receipt(duplicated, trusted=[SIGNER.verifier])
    with pytest.raises(MalformedReceiptError, match="at most"):
        verify_receipt(b" " * (MAX_RECEIPT_BYTES + 1), trusted=[SIGNER.verifier])


def test_signature_is_over_the_canonical_form() -> None:
    """Re-serialising with other whitespace or key order keeps the receipt valid (RFC 8785)."""
    reordered = json.dumps(RECEIPT, indent=3, sort_keys=True, ensure_ascii=False)
    verify_receipt(reordered, trusted=[SIGNER.verifier])
    canonical = rfc8785.dumps(RECEIPT)
    verify_receipt(canonical, trusted=[SIGNER.verifier])


def test_key_parsing() -> None:
    published = json.dumps(SIGNER.verifier.to_dict())
    assert ReceiptKey.parse(published) == SIGNER.verifier
    assert ReceiptKey.parse(SIGNER.verifier.to_dict()["public_key"]) == SIGNER.verifier
    with pytest.raises(ReceiptKeyError):
        ReceiptKey.parse("not base64!")
