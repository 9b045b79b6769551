"""Page languages: French first, English available (architecture.md, "Web").

Message ids are the English text; each domain registers a French catalogue with
:func:`register_catalog`. A missing French translation falls back to the English text, and
a test walks every template to make sure none is missing.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["LANGUAGES", "gettext_for", "negotiate", "register_catalog"]

LANGUAGES = ("fr", "en")

_CATALOGS: dict[str, dict[str, str]] = {"fr": {}, "en": {}}


def register_catalog(language: str, messages: Mapping[str, str]) -> None:
    """Add translations (message id → text) for ``language``."""
    if language not in _CATALOGS:
        raise ValueError(f"unsupported language {language!r}")
    existing = _CATALOGS[language]
    # One catalogue is shared by every domain: a message id translated two ways would make
    # one domain's pages show the other's wording, depending on import order.
    clashes = sorted(k for k, v in messages.items() if k in existing and existing[k] != v)
    if clashes:
        raise ValueError(f"message ids translated differently elsewhere: {clashes}")
    existing.update(messages)


def catalog(language: str) -> Mapping[str, str]:
    return _CATALOGS[language]


def gettext_for(language: str) -> tuple[object, object]:
    """``(gettext, ngettext)`` callables for Jinja2's i18n extension."""
    messages = _CATALOGS.get(language, {})

    def gettext(message: str) -> str:
        return messages.get(message, message)

    def ngettext(singular: str, plural: str, n: int) -> str:
        return gettext(singular if n == 1 else plural)

    return gettext, ngettext


def negotiate(requested: str | None, accept_language: str | None, default: str) -> str:
    """Pick the page language: explicit choice, then ``Accept-Language``, then the default."""
    if requested in LANGUAGES:
        return requested
    if accept_language:
        for part in accept_language.split(","):
            tag = part.split(";", 1)[0].strip().lower()[:2]
            if tag in LANGUAGES:
                return tag
    return default
