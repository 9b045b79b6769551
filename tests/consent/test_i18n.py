"""Every message of the consent pages has a French translation (French first)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from consent import locale_fr, pages
from consent.bases import LegalBasis, Right
from consent.errors import LegalBasisError, MinorConsentError, StaleNoticeError
from consent.ledger import Status
from consent.requests import CHANNELS, Outcome
from parvis import locale_fr as kernel_fr

TEMPLATES = Path(locale_fr.__file__).resolve().parent / "templates"
MSGID = re.compile(r"""_\(\s*(?:"([^"]+)"|'([^']+)')\s*\)""")


def test_every_template_message_is_translated() -> None:
    known = set(locale_fr.MESSAGES) | set(kernel_fr.MESSAGES)
    found = {
        (path.name, a or b)
        for path in TEMPLATES.rglob("*.html")
        for a, b in MSGID.findall(path.read_text(encoding="utf-8"))
    }
    assert len(found) > 100
    assert {item for item in found if item[1] not in known} == set()


def test_every_page_message_and_value_is_translated() -> None:
    source = inspect.getsource(pages)
    notices = re.findall(r'^\s+"[a-z]+": "([A-Z][^"]+)",$', source, flags=re.MULTILINE)
    assert len(notices) >= 8
    errors = [
        pages._error_text(MinorConsentError("x")),
        pages._error_text(LegalBasisError("x", purpose_id="p", basis="b", alternative=None)),
        pages._error_text(StaleNoticeError("x")),
    ]
    values = [
        *(r.value for r in Right),
        *(s.value for s in Status),
        *(o.value for o in Outcome),
        *(b.value for b in LegalBasis),
        *CHANNELS,
        "in progress",  # the label of an "open" request (privacy.html)
        "completed",
    ]
    missing = [m for m in [*notices, *errors, *values] if m not in locale_fr.MESSAGES]
    assert missing == []
