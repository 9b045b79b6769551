"""The results charts in Chromium: no label, value or legend drawn outside its box
(architecture.md, "Web": accessible results; ballot/charts.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser

from ballot.charts import bar_chart, stacked_chart
from tests.browser.conftest import assert_accessible

STYLESHEET = Path(__file__).parents[2] / "parvis" / "static" / "parvis.css"

#: Real project names are long; some are in capitals, some are one long word.
LABELS = [
    "Rénovation complète de la médiathèque municipale Marguerite-Yourcenar et de ses jardins",
    "MAISON DES ASSOCIATIONS ET DE LA JEUNESSE DU QUARTIER NORD",
    "Anticonstitutionnellement-Wissembourg-Mommenheim",
    "Parc",
    "Éclairage à LED de l’avenue Wilhelm-Émile-Wawrzyniak, 12e arrondissement",
]
GRADES = [
    "Excellent",
    "Très bien",
    "Bien",
    "Assez bien",
    "Passable",
    "Insuffisant",
    "À rejeter absolument, sans la moindre hésitation",
]

#: For every text of every chart: its box in the chart's own units (getBBox), the chart's
#: viewBox, and the column it must stay in (labels end where the bars begin).
MEASURE = """() => [...document.querySelectorAll('svg.chart')].flatMap(svg => {
  const view = svg.viewBox.baseVal;
  return [...svg.querySelectorAll('text')].map(t => {
    const b = t.getBBox();
    return {cls: t.getAttribute('class'), text: t.textContent, x: b.x, y: b.y,
            right: b.x + b.width, bottom: b.y + b.height, width: view.width,
            height: view.height};
  });
})"""


@pytest.mark.parametrize("viewport", [1280, 360])
def test_no_chart_text_overflows_its_box(browser: Browser, viewport: int) -> None:
    charts = [
        bar_chart(
            chart_id="bars",
            title="Projets",
            labels=LABELS,
            values=[123456, 98765, 4321, 0, 7],
            unit="votes",
            highlight=[True, True, False, False, False],
        ),
        stacked_chart(
            chart_id="grades",
            title="Mentions",
            labels=LABELS,
            grades=GRADES,
            distributions=[[3, 1, 4, 1, 5, 9, 2]] * len(LABELS),
        ),
    ]
    context = browser.new_context(viewport={"width": viewport, "height": 900})
    try:
        page = context.new_page()
        stylesheet = STYLESHEET.read_text(encoding="utf-8")
        page.set_content(
            f'<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>Résultats</title>'
            f"<style>{stylesheet}</style></head><body><main><h1>Résultats</h1>"
            f"{''.join(charts)}</main></body></html>"
        )
        boxes = page.evaluate(MEASURE)
        assert_accessible(page)
    finally:
        context.close()
    assert {box["cls"] for box in boxes} == {"label", "value", "legend"}
    label_column = 240
    for box in boxes:
        assert box["x"] >= 0, box
        assert box["y"] >= 0, box
        assert box["right"] <= box["width"], box
        assert box["bottom"] <= box["height"], box
        if box["cls"] == "label":
            assert box["right"] <= label_column, box
    # A label cut short ends with "…"; the full text stays in the chart's description.
    assert any(box["text"].endswith("…") for box in boxes if box["cls"] == "label")
