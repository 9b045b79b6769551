"""Does the client prefer an HTML page to JSON? (RFC 9110 §12.5.1, ``Accept``).

Browsers navigating to a page send ``text/html`` explicitly and ``*/*`` at a lower weight;
scripts send ``application/json``, ``application/problem+json``, ``*/*`` or nothing. An error
is answered as an HTML page only when ``text/html`` weighs strictly more than JSON, so every
client that does not say it prefers HTML keeps RFC 9457 problem+json.
"""

from __future__ import annotations

__all__ = ["prefers_html", "prefers_json"]

_JSON_TYPES = ("application/json", "application/problem+json")


def _ranges(accept: str) -> list[tuple[str, float]]:
    """``(media range, q)`` pairs of an Accept header; a malformed weight counts as 0."""
    ranges: list[tuple[str, float]] = []
    for item in accept.split(","):
        media, *params = (part.strip() for part in item.split(";"))
        if "/" not in media:
            continue
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
                if not 0.0 <= weight <= 1.0:
                    weight = 0.0
        ranges.append((media.lower(), weight))
    return ranges


def _weight(media_type: str, ranges: list[tuple[str, float]]) -> float:
    """The weight of ``media_type``: the most specific matching range's q (RFC 9110
    §12.5.1: "type/subtype" over "type/*" over "*/*"), 0 when nothing matches."""
    kind = media_type.split("/", 1)[0]
    best: tuple[int, float] = (-1, 0.0)
    for media, weight in ranges:
        if media == media_type:
            specificity = 2
        elif media == f"{kind}/*":
            specificity = 1
        elif media == "*/*":
            specificity = 0
        else:
            continue
        if specificity > best[0]:
            best = (specificity, weight)
    return best[1]


def prefers_html(accept: str | None) -> bool:
    """True when ``accept`` weighs ``text/html`` strictly above every JSON type."""
    if not accept:
        return False
    ranges = _ranges(accept)
    html = _weight("text/html", ranges)
    return html > 0 and html > max(_weight(t, ranges) for t in _JSON_TYPES)


def prefers_json(accept: str | None) -> bool:
    """True when a JSON type weighs strictly more than ``text/html`` in ``accept``: a script
    (``application/json``, ``application/problem+json``), not a browser nor ``*/*``. Pages
    answer HTML to everyone else."""
    if not accept:
        return False
    ranges = _ranges(accept)
    json_weight = max(_weight(t, ranges) for t in _JSON_TYPES)
    return json_weight > 0 and json_weight > _weight("text/html", ranges)
