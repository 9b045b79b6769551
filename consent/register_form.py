"""The register entry's form, field by field (GDPR Art. 30(1): purposes, legal basis,
categories of data with their retention, recipients), for the DPO console.

Pure: the purpose's dictionary form (:meth:`consent.catalogue.Purpose.to_dict`) and the
posted fields in, the new dictionary and the errors per field out. Error messages are
message ids of the French catalogue (:mod:`consent.locale_fr`), shown next to their field;
what the form does not show (processors, transfers, security measures, DPIA…) is kept as it
is, and the YAML text area stays for everything else (and as import).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Final

from consent.bases import LegalBasis
from consent.catalogue import Disposition, RetentionStart
from consent.deadlines import Duration

__all__ = [
    "RECIPIENT_KINDS",
    "RECIPIENT_ROWS",
    "apply_fields",
    "duration_parts",
]

#: Recipient kinds of the catalogue (Art. 4(9)): internal service, external body, authority.
RECIPIENT_KINDS: Final = ("internal", "external", "authority")
#: Empty recipient rows offered after the existing ones, to add recipients.
RECIPIENT_ROWS: Final = 2
_MAX_UNITS: Final = 1000
_TEXT_LIMIT: Final = 2000


def duration_parts(text: str | None) -> dict[str, int]:
    """``{"years", "months", "days"}`` of an ISO 8601 duration (zeros for none)."""
    if not text:
        return {"years": 0, "months": 0, "days": 0}
    duration = Duration.parse(text)
    return {"years": duration.years, "months": duration.months, "days": duration.days}


def _whole(value: str) -> int | None:
    value = value.strip()
    if not value:
        return 0
    if not value.isdigit() or int(value) > _MAX_UNITS:
        return None
    return int(value)


def _duration(
    posted: Mapping[str, str], prefix: str, errors: dict[str, str], *, required: bool
) -> str | None:
    parts = {
        unit: _whole(posted.get(f"{prefix}.{unit}", "")) for unit in ("years", "months", "days")
    }
    if any(v is None for v in parts.values()):
        errors[prefix] = "Enter whole numbers of years, months and days."
        return None
    years, months, days = (int(parts[u] or 0) for u in ("years", "months", "days"))
    if years == months == days == 0:
        if required:
            errors[prefix] = "Enter a period longer than zero."
        return None
    return str(Duration(years=years, months=months, days=days))


def _text(
    posted: Mapping[str, str], name: str, errors: dict[str, str], *, required: bool = True
) -> str:
    value = posted.get(name, "").strip()
    if required and not value:
        errors[name] = "This field is required."
    elif len(value) > _TEXT_LIMIT:
        errors[name] = "This text is too long."
    return value


def _labels(posted: Mapping[str, str], name: str, errors: dict[str, str]) -> dict[str, str]:
    french = _text(posted, f"{name}.fr", errors)
    english = _text(posted, f"{name}.en", errors, required=False)
    return {"fr": french, "en": english} if english else {"fr": french}


def apply_fields(
    current: Mapping[str, Any], posted: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The register entry ``current`` with the form's fields applied, and the errors by
    field name (empty when the entry can be saved as a new version)."""
    errors: dict[str, str] = {}
    data = copy.deepcopy(dict(current))
    data["label"] = _labels(posted, "label", errors)
    data["description"] = _labels(posted, "description", errors)
    basis = posted.get("legal_basis", "")
    if basis not in {b.value for b in LegalBasis}:
        errors["legal_basis"] = "Choose one of the six legal bases."
    data["legal_basis"] = basis
    data["legal_basis_detail"] = _text(posted, "legal_basis_detail", errors, required=False)
    validity = _duration(
        posted, "consent_validity", errors, required=basis == LegalBasis.CONSENT.value
    )
    if basis == LegalBasis.CONSENT.value:
        data["consent_validity"] = validity
    else:
        data.pop("consent_validity", None)
    categories = []
    for i, category in enumerate(data.get("data_categories") or []):
        prefix = f"category.{i}"
        updated = dict(category)
        retention = _duration(posted, f"{prefix}.retention", errors, required=True)
        if retention is not None:
            updated["retention"] = retention
        start = posted.get(f"{prefix}.retention_from", "")
        if start not in {s.value for s in RetentionStart}:
            errors[f"{prefix}.retention_from"] = "Choose when the period starts."
        updated["retention_from"] = start
        disposition = posted.get(f"{prefix}.disposition", "")
        if disposition not in {d.value for d in Disposition}:
            errors[f"{prefix}.disposition"] = "Choose what happens at the end of the period."
        updated["disposition"] = disposition
        categories.append(updated)
    data["data_categories"] = categories
    recipients = []
    rows = len(current.get("recipients") or []) + RECIPIENT_ROWS
    for i in range(rows):
        name = _text(posted, f"recipient.{i}.name", errors, required=False)
        if not name:
            continue  # an emptied row removes the recipient
        kind = posted.get(f"recipient.{i}.kind", "")
        if kind not in RECIPIENT_KINDS:
            errors[f"recipient.{i}.kind"] = "Choose the kind of recipient."
        recipients.append({"name": name, "kind": kind})
    data["recipients"] = recipients
    return data, errors
