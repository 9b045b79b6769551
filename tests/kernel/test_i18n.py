"""Every message a template marks for translation has a French text (French comes first)."""

from __future__ import annotations

import re
from pathlib import Path

from parvis.domains import plugins
from parvis.kernel import i18n
from parvis.kernel.web import KERNEL_TEMPLATES

# _("…") / _('…') and gettext("…"), with the literal on one line or several.
MARKED = re.compile(r"""(?:\b_|\bgettext)\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')\s*[,)]""")


def template_dirs() -> list[Path]:
    import parvis.app  # noqa: F401 - registers the kernel's catalogue

    return [KERNEL_TEMPLATES, *(p.template_dir for p in plugins() if p.template_dir)]


def test_every_marked_message_has_a_french_translation() -> None:
    french = i18n.catalog("fr")
    missing: list[str] = []
    seen = 0
    for directory in template_dirs():
        for template in directory.rglob("*.html"):
            for match in MARKED.finditer(template.read_text(encoding="utf-8")):
                message = match.group(1) if match.group(1) is not None else match.group(2)
                seen += 1
                if message not in french:
                    missing.append(f"{template.relative_to(directory)}: {message!r}")
    assert seen > 20, "the pattern found too few messages: it is broken"
    assert not missing, "untranslated messages:\n" + "\n".join(sorted(set(missing)))


def test_a_message_translated_two_ways_is_refused() -> None:
    import pytest

    i18n.register_catalog("fr", {"Parvis test message": "Message de test"})
    i18n.register_catalog("fr", {"Parvis test message": "Message de test"})  # same: fine
    with pytest.raises(ValueError, match="translated differently elsewhere"):
        i18n.register_catalog("fr", {"Parvis test message": "Autre texte"})
    assert i18n.catalog("fr")["Parvis test message"] == "Message de test"
