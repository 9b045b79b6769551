"""Public HTML pages of the ballot domain: the list of elections and the results pages with
tables and accessible SVG bar charts (architecture.md, "Web"). French first.

The voting booth and the tracker (``/scrutins/{id}/isoloir``, ``/scrutins/{id}/suivi``)
are separate pages with their own templates. Nothing here reads or shows anything before
publication but what the public status already says.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from ballot.booth_pages import format_euros
from ballot.charts import bar_chart, stacked_chart
from ballot.definition import Status
from ballot.questions import BallotType, Question
from ballot.service import service_from
from parvis.kernel.context import AppContext
from parvis.kernel.web import get_ctx, page_language, render

__all__ = ["TIE_BREAKS", "router"]

#: How each question type ranks its options and breaks ties, in words for people
#: (board-format.md §6 is the rule; these sentences say the same thing).
TIE_BREAKS: dict[str, str] = {
    "single": (
        "How the winner is decided: the option with the most votes wins. When several "
        "options have the same highest number of votes, they all win; options with as many "
        "votes are listed in the order of the ballot."
    ),
    "approval": (
        "How the winner is decided: the option with the most votes wins. When several "
        "options have the same highest number of votes, they all win; options with as many "
        "votes are listed in the order of the ballot."
    ),
    "budget": (
        "How projects are funded: projects are taken from the most voted to the least "
        "voted; between projects with as many votes, the cheaper one comes first, then the "
        "order of the ballot. A project with at least one vote is funded if its cost fits in "
        "what is left of the envelope; otherwise it is skipped and the next one is "
        "considered, until the maximum number of projects is funded."
    ),
    "majority_judgment": (
        "How the winner is decided: options are ranked by their majority grade, the grade "
        "of the median voter (the lower one when there are two). When two options have the "
        "same majority grade, one median vote is set aside for each and their majority "
        "grades are compared again, as many times as needed (Balinski and Laraki's rule)."
    ),
    "ranked": (
        "How the winner is decided: among n options, an option ranked r-th on a ballot gets "
        "n − r points, an unranked option none (Borda count); the most points wins. Between "
        "options with as many points, the one ranked first on more ballots comes first, "
        "then the order of the ballot."
    ),
}

router = APIRouter(include_in_schema=False)

Ctx = Annotated[AppContext, Depends(get_ctx)]


def _label(texts: Any, lang: str) -> str:
    if isinstance(texts, str):
        return texts
    return str(texts.get(lang) or texts.get("fr") or "")


def _question_view(question: Question, result: dict[str, Any], lang: str) -> dict[str, Any]:
    """Rows and a chart for one question's result (board-format.md §6)."""
    names = {o.id: _label(o.title, lang) for o in question.options}
    title = _label(question.title, lang)
    chart_id = f"chart-{question.id}"
    view: dict[str, Any] = {
        "id": question.id,
        "title": title,
        "type": question.type.value,
        "rule": TIE_BREAKS[question.type.value],
    }
    if question.type is BallotType.MAJORITY_JUDGMENT:
        grades = list(question.grades)
        order = result["ranking"]
        view["grades"] = grades
        view["rows"] = [
            {
                "option": names[o],
                "cells": result["distribution"][o],
                "grade": (
                    grades[result["majority_grade"][o]]
                    if result["majority_grade"][o] is not None
                    else "—"
                ),
                "winner": o in result["winners"],
            }
            for o in order
        ]
        view["chart"] = stacked_chart(
            chart_id=chart_id,
            title=title,
            labels=[names[o] for o in order],
            grades=grades,
            distributions=[result["distribution"][o] for o in order],
        )
        return view
    if question.type is BallotType.RANKED:
        order = result["ranking"]
        points = result["borda"]
        view["ranks"] = list(range(1, question.max + 1))
        view["rows"] = [
            {
                "option": names[o],
                "value": points[o],
                "cells": result["rank_counts"][o],
                "winner": o in result["winners"],
            }
            for o in order
        ]
        values = [points[o] for o in order]
        marks = [o in result["winners"] for o in order]
        unit = "points"
    else:
        order = result["ranking"]
        counts = result["counts"]
        marked = set(result["funded"] if question.type is BallotType.BUDGET else result["winners"])
        view["rows"] = [
            {
                "option": names[o],
                "value": counts[o],
                "cost": (
                    format_euros(question.cost_of(o), lang)
                    if question.type is BallotType.BUDGET
                    else None
                ),
                "winner": o in marked,
            }
            for o in order
        ]
        if question.type is BallotType.BUDGET:
            view["spent"] = format_euros(result["spent"], lang)
            view["envelope"] = format_euros(result["envelope"], lang)
        values = [counts[o] for o in order]
        marks = [o in marked for o in order]
        unit = "votes"
    view["chart"] = bar_chart(
        chart_id=chart_id,
        title=title,
        labels=[names[o] for o in order],
        values=values,
        unit=unit,
        highlight=marks,
    )
    return view


@router.get("/scrutins", response_class=HTMLResponse)
def elections_page(request: Request, ctx: Ctx) -> HTMLResponse:
    service = service_from(ctx)
    lang = page_language(request, ctx.settings)
    with ctx.db.read_session() as session:
        rows = [service.status(session, row) for row in service.elections(session)]
    items = [{**s, "label": _label(s["title"], lang)} for s in rows]
    return render(request, "ballot/elections.html", {"elections": items})


@router.get("/scrutins/{election_id}/resultats", response_class=HTMLResponse)
def results_page(election_id: str, request: Request, ctx: Ctx) -> HTMLResponse:
    service = service_from(ctx)
    lang = page_language(request, ctx.settings)
    with ctx.db.read_session() as session:
        row = service.get(session, election_id)
        definition = service.definition(row)
        title = _label(definition.title, lang)
        if row.status != Status.PUBLISHED:
            return render(
                request,
                "ballot/results_pending.html",
                {"title": title, "election_id": row.id},
                status_code=404,
            )
        published = service.results(session, row.id)
    questions = [
        _question_view(q, published["results"]["questions"][q.id], lang)
        for q in definition.questions
    ]
    paper = published.get("paper")
    paper_rows = []
    if paper is not None:
        for q in definition.questions:
            names = {o.id: _label(o.title, lang) for o in q.options}
            paper_rows.append(
                {
                    "title": _label(q.title, lang),
                    "rows": [(names[o], n) for o, n in paper["counts"].get(q.id, {}).items()],
                }
            )
    return render(
        request,
        "ballot/results.html",
        {
            "title": title,
            "election_id": row.id,
            "published": published,
            "questions": questions,
            "paper": paper,
            "paper_rows": paper_rows,
        },
    )
