"""Simple, accessible SVG bar charts for the results pages (architecture.md, "Web": accessible,
no JavaScript).

Pure: numbers in, SVG markup out (escaped with ``markupsafe``). Each chart is an
``<svg role="img">`` with a ``<title>`` and a ``<desc>`` that states every value in words,
so a screen reader gets the whole chart; the page also shows the same figures in a table
(WCAG 2.1 1.1.1 non-text content, 1.4.1 use of colour: bars carry their value as text).
No inline style and no script: the page's strict CSP applies.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from markupsafe import Markup, escape

__all__ = ["bar_chart", "stacked_chart"]

_WIDTH: Final = 640
_LABEL: Final = 200
_BAR: Final = 26
_GAP: Final = 10
#: Fills with a contrast ratio ≥ 3:1 against white (WCAG 1.4.11), for grades best first.
_PALETTE: Final = ("#00605a", "#1e7f3a", "#5a7d00", "#8a6d00", "#a35200", "#b3261e", "#6e3b8a")


def _text(value: str, limit: int = 32) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def bar_chart(
    *,
    chart_id: str,
    title: str,
    labels: Sequence[str],
    values: Sequence[int],
    unit: str,
    highlight: Sequence[bool] = (),
) -> Markup:
    """Horizontal bars, one per label; ``highlight`` marks bars (winners, funded) in a
    darker fill *and* with a ★ in the label, so the mark does not rely on colour alone."""
    top = max(values, default=0) or 1
    height = len(labels) * (_BAR + _GAP) + _GAP
    span = _WIDTH - _LABEL - 80
    desc = "; ".join(
        f"{label}: {value} {unit}" for label, value in zip(labels, values, strict=True)
    )
    parts = [
        f'<svg class="chart" id="{escape(chart_id)}" role="img" viewBox="0 0 {_WIDTH} {height}" '
        f'width="100%" aria-labelledby="{escape(chart_id)}-t {escape(chart_id)}-d" '
        'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{escape(chart_id)}-t">{escape(title)}</title>',
        f'<desc id="{escape(chart_id)}-d">{escape(desc)}</desc>',
    ]
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = _GAP + i * (_BAR + _GAP)
        marked = i < len(highlight) and highlight[i]
        width = round(span * value / top)
        fill = "#00605a" if marked else "#4a6fa5"
        shown = ("★ " if marked else "") + _text(label)
        parts += [
            f'<text x="{_LABEL - 8}" y="{y + _BAR * 0.7:.0f}" text-anchor="end" '
            f'font-size="14" fill="#1a1a1a">{escape(shown)}</text>',
            f'<rect x="{_LABEL}" y="{y}" width="{max(width, 1)}" height="{_BAR}" fill="{fill}"/>',
            f'<text x="{_LABEL + max(width, 1) + 6}" y="{y + _BAR * 0.7:.0f}" font-size="14" '
            f'fill="#1a1a1a">{value}</text>',
        ]
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text is escaped above


def stacked_chart(
    *,
    chart_id: str,
    title: str,
    labels: Sequence[str],
    grades: Sequence[str],
    distributions: Sequence[Sequence[int]],
) -> Markup:
    """Merit profiles (majority judgment): one bar per option split by grade, best first,
    with a line at the median; the ``<desc>`` lists every count."""
    height = len(labels) * (_BAR + _GAP) + _GAP + 24
    span = _WIDTH - _LABEL - 20
    desc = "; ".join(
        f"{label}: " + ", ".join(f"{g} {n}" for g, n in zip(grades, dist, strict=True))
        for label, dist in zip(labels, distributions, strict=True)
    )
    parts = [
        f'<svg class="chart" id="{escape(chart_id)}" role="img" viewBox="0 0 {_WIDTH} {height}" '
        f'width="100%" aria-labelledby="{escape(chart_id)}-t {escape(chart_id)}-d" '
        'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{escape(chart_id)}-t">{escape(title)}</title>',
        f'<desc id="{escape(chart_id)}-d">{escape(desc)}</desc>',
    ]
    for i, (label, dist) in enumerate(zip(labels, distributions, strict=True)):
        y = _GAP + i * (_BAR + _GAP)
        total = sum(dist) or 1
        x = float(_LABEL)
        parts.append(
            f'<text x="{_LABEL - 8}" y="{y + _BAR * 0.7:.0f}" text-anchor="end" font-size="14" '
            f'fill="#1a1a1a">{escape(_text(label))}</text>'
        )
        for g, count in enumerate(dist):
            width = span * count / total
            if width > 0:
                parts.append(
                    f'<rect x="{x:.1f}" y="{y}" width="{width:.1f}" height="{_BAR}" '
                    f'fill="{_PALETTE[g % len(_PALETTE)]}"><title>{escape(grades[g])}: {count}'
                    "</title></rect>"
                )
            x += width
    median_x = _LABEL + span / 2
    parts.append(
        f'<line x1="{median_x:.1f}" y1="0" x2="{median_x:.1f}" y2="{height - 24}" '
        'stroke="#1a1a1a" stroke-width="2" stroke-dasharray="4 3"/>'
    )
    legend_y = height - 8
    x = float(_LABEL)
    for g, grade in enumerate(grades):
        parts.append(
            f'<rect x="{x:.0f}" y="{legend_y - 11}" width="12" height="12" '
            f'fill="{_PALETTE[g % len(_PALETTE)]}"/>'
            f'<text x="{x + 16:.0f}" y="{legend_y}" font-size="12" fill="#1a1a1a">'
            f"{escape(_text(grade, 14))}</text>"
        )
        x += 16 + 7 * min(len(grade), 14) + 12
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text is escaped above
