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
_LABEL: Final = 240
_BAR: Final = 30
_GAP: Final = 10
#: Label text size and line height, in viewBox units.
_FONT: Final = 13
_LINE: Final = 15
#: Generous glyph widths in em, by kind of character, for the widest common sans-serif
#: fonts (DejaVu Sans, Verdana): a line measured with them fits in its column whatever
#: font the visitor's system picks.
_NARROW: Final = frozenset(" .,;:'’!|()[]-iljtfrI")
_WIDE: Final = frozenset("MWmw@%")


def _em(char: str) -> float:
    if char in _NARROW:
        return 0.4
    if char in _WIDE:
        return 1.05
    if char.isupper() or char.isdigit():
        return 0.8
    return 0.66


def _measure(value: str, size: float = _FONT) -> float:
    """An upper estimate of ``value``'s drawn width at ``size``, in viewBox units."""
    return sum(_em(c) for c in value) * size


#: Fills with a contrast ratio ≥ 3:1 against white (WCAG 1.4.11), for grades best first.
_PALETTE: Final = ("#00605a", "#1e7f3a", "#5a7d00", "#8a6d00", "#a35200", "#b3261e", "#6e3b8a")


def _text(value: str, limit: int = 32) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _lines(value: str, width: float, *, most: int = 2) -> list[str]:
    """``value`` cut at spaces into at most ``most`` lines that fit in ``width`` units, the
    last one shortened with "…" when the text goes on (the table under the chart and the
    chart's ``<desc>`` give every label in full)."""
    lines: list[str] = []
    words = value.split()
    while words and len(lines) < most:
        line = words.pop(0)
        if _measure(line + "-") > width:
            cut = _fit(line, width, "-")
            words.insert(0, line[cut:])
            line = line[:cut] + "-"
        while words and _measure(f"{line} {words[0]}") <= width:
            line += " " + words.pop(0)
        lines.append(line)
    if words:
        rest = f"{lines[-1]} {' '.join(words)}"
        lines[-1] = rest[: _fit(rest, width, "…")] + "…"
    return lines or [""]


def _fit(value: str, width: float, mark: str) -> int:
    """How many leading characters of ``value``, followed by ``mark``, fit in ``width``."""
    count = len(value)
    while count > 1 and _measure(value[:count] + mark) > width:
        count -= 1
    return count


def _label(value: str, y: int) -> str:
    """A right-aligned label in the label column, centred on the bar at ``y`` and wrapped
    onto two lines rather than drawn past the chart's left edge."""
    lines = _lines(value, _LABEL - 12)
    first = y + _BAR / 2 - (len(lines) - 1) * _LINE / 2 + _FONT * 0.35
    spans = "".join(
        f'<tspan x="{_LABEL - 8}" y="{first + i * _LINE:.0f}">{escape(line)}</tspan>'
        for i, line in enumerate(lines)
    )
    return (
        f'<text class="label" text-anchor="end" font-size="{_FONT}" fill="#1a1a1a">{spans}</text>'
    )


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
        shown = ("★ " if marked else "") + label
        parts += [
            _label(shown, y),
            f'<rect x="{_LABEL}" y="{y}" width="{max(width, 1)}" height="{_BAR}" fill="{fill}"/>',
            f'<text class="value" x="{_LABEL + max(width, 1) + 6}" y="{y + _BAR * 0.7:.0f}" '
            f'font-size="{_FONT}" '
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
    bars = len(labels) * (_BAR + _GAP) + _GAP
    # The legend flows onto as many rows as the grades need, from the left edge.
    legend: list[tuple[float, int, str]] = []
    x, row = 8.0, 0
    for grade in grades:
        shown = _text(grade, 24)
        item = 16 + _measure(shown) + 14
        if x + item > _WIDTH - 4 and x > 8:
            x, row = 8.0, row + 1
        legend.append((x, row, shown))
        x += item
    height = bars + (row + 1) * 20 + 6
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
        parts.append(_label(label, y))
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
        f'<line x1="{median_x:.1f}" y1="0" x2="{median_x:.1f}" y2="{bars}" '
        'stroke="#1a1a1a" stroke-width="2" stroke-dasharray="4 3"/>'
    )
    for g, (x, row, shown) in enumerate(legend):
        legend_y = bars + 16 + row * 20
        parts.append(
            f'<rect x="{x:.0f}" y="{legend_y - 11}" width="12" height="12" '
            f'fill="{_PALETTE[g % len(_PALETTE)]}"/>'
            f'<text class="legend" x="{x + 16:.0f}" y="{legend_y}" font-size="{_FONT}" '
            f'fill="#1a1a1a">{escape(shown)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text is escaped above
