"""Every message of the identity pages has a French translation (French first)."""

from __future__ import annotations

import re
from pathlib import Path

from identity import locale_fr, pages
from identity.eligibility import Evidence
from identity.oidc import locale_admin_fr as oidc_admin_fr
from identity.oidc import locale_fr as oidc_fr
from parvis import locale_fr as kernel_fr

TEMPLATES = Path(locale_fr.__file__).resolve().parent / "templates"
MSGID = re.compile(r'_\(\s*"([^"]+)"\s*\)')


def test_every_template_message_is_translated() -> None:
    known = (
        set(locale_fr.MESSAGES)
        | set(kernel_fr.MESSAGES)
        | set(oidc_fr.MESSAGES)
        | set(oidc_admin_fr.MESSAGES)
    )
    missing = {
        (path.name, msgid)
        for path in TEMPLATES.rglob("*.html")
        for msgid in MSGID.findall(path.read_text(encoding="utf-8"))
        if msgid not in known
    }
    assert missing == set()


def test_every_page_message_is_translated() -> None:
    source = Path(pages.__file__).read_text(encoding="utf-8")
    notices = re.findall(r'\{"notice": "([^"]+)"\}', source)
    messages = [
        *pages.FC_MESSAGES.values(),
        *pages.NEXT_STEPS.values(),
        *notices,
        *(e.value for e in Evidence),
    ]
    assert notices
    assert [m for m in messages if m not in locale_fr.MESSAGES] == []
