"""The voting booth and the receipt tracker pages (voting-protocol.md, "Token issuance",
"Casting").

The pages are shells: the cryptography runs in the citizen's browser (``web/src/booth.ts``,
``web/src/tracker.ts``, bundled by ``npm run build`` in ``web/`` into ``ballot/static/``).
The server renders the ballot form from the election manifest — accessible without any
script: fieldsets and legends, labels, hints — and hands the scripts what they need in
``data-*`` attributes (the strict CSP forbids inline script): the election id, the key id
committed in the manifest (the booth refuses to blind against any other), the API URLs of
``docs/ballot-api.md`` and the page's messages in its language.

Routes (``docs/ballot-api.md``, ``links.booth`` and ``links.tracker``):

* ``GET /scrutins/{id}`` — the election page: its dates and links and, while it is open,
  "get my voting right now, vote later on this device" (``web/src/election.ts``;
  ``ballot-secrecy.md`` §2, "voting right early");
* ``GET /scrutins/{id}/isoloir`` — the booth (``?retour=&sig=``: a platform's signed return
  link, checked by ``ballot.links.check_return_url``); it obtains the voting right as soon
  as a signed-in citizen opens it, before the ballot is filled;
* ``GET /scrutins/{id}/suivi`` — the tracker (``#code=`` in the fragment, which the browser
  never sends, or the older ``?code=``, checks that code at once).

Public names (``__all__``): ``router``, ``STATIC_DIR``, ``BOOTH_MESSAGES``,
``TRACKER_MESSAGES``, ``ELECTION_MESSAGES``, ``format_euros``, ``question_view``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Request
from starlette.responses import HTMLResponse

from ballot import locale_fr
from ballot.manifest import Manifest
from ballot.questions import BallotType, Question
from ballot.token import b64u_encode
from parvis.kernel.context import AppContext
from parvis.kernel.i18n import gettext_for
from parvis.kernel.principal import Citizen, Principal
from parvis.kernel.web import Ctx, current_principal, page_language, render

__all__ = [
    "BOOTH_MESSAGES",
    "ELECTION_MESSAGES",
    "STATIC_DIR",
    "TRACKER_MESSAGES",
    "format_euros",
    "question_view",
    "router",
]

#: Served at ``/static/ballot/``: booth.css (source) and the built booth.js, tracker.js,
#: election.js.
STATIC_DIR: Final = Path(__file__).resolve().parent / "static"

#: Messages of web/src/booth.ts: ``data-<key>`` on #parvis-messages (English msgids, French
#: in ballot/locale_fr.py). ``{name}`` placeholders are filled in by the script.
BOOTH_MESSAGES: Final[dict[str, str]] = {
    "loading": "Loading the ballot…",
    "manifest-unavailable": (
        "The election manifest could not be loaded, so nothing was sent. Please try again "
        "later. ({detail})"
    ),
    "uncommitted-key": (
        "Voting is stopped on this device: the election key offered is not the one committed "
        "in the public manifest. Nothing was sent. Please report this to the town hall. "
        "({detail})"
    ),
    "bad-election-key": (
        "Voting is stopped on this device: the encryption key in the election's public "
        "manifest is not valid, so no ballot can be encrypted. Nothing was sent. Please "
        "report this to the town hall. ({detail})"
    ),
    "already-voted": (
        "You have already voted from this browser; this election does not allow changing a vote."
    ),
    "can-revote": (
        "You have already voted from this browser. You can vote again until the close: only "
        "your last ballot counts."
    ),
    "last-code": "Your last tracking code: {code}.",
    "revote-button": "Vote again",
    "sign-in-first": (
        "To vote, sign in first: Parvis checks that you may take part, then gives your "
        "browser an anonymous voting right."
    ),
    "no-storage": (
        "This browser does not let Parvis keep your voting right: you can vote, but you will "
        "not be able to change your vote later."
    ),
    "problems-title": "Your ballot is not complete",
    "choose-one": "Choose one option.",
    "choose-exactly": "Choose exactly {k} options.",
    "choose-at-least": "Choose at least {min} options.",
    "choose-at-most": "Choose at most {max} options.",
    "too-many-projects": "Choose at most {max} projects.",
    "over-budget": (
        "The projects you chose cost {total}, more than the envelope of {envelope}. Untick a "
        "project."
    ),
    "grade-missing": "Give a grade to every project; missing: {options}.",
    "rank-at-least": "Rank at least {min} options.",
    "rank-at-most": "Rank at most {max} options.",
    "invalid-answer": "This answer is not valid; please choose again.",
    "budget-total": "Total: {total} of {envelope}.",
    "budget-left": "{amount} left.",
    "budget-over": "Over the envelope by {amount}.",
    "budget-count": "{count} of {max} projects at most.",
    "rank-moved": "{option}: position {position} of {count}.",
    "rank-removed": "{option}: not ranked.",
    "checking-eligibility": "Checking that you may vote…",
    "preparing-right": "Preparing your anonymous voting right on this device…",
    "right-ready": "Your anonymous voting right is ready and kept in this browser.",
    "right-kept": (
        "Your voting right is kept in this browser: vote now, or close this page and come back "
        "to vote later from this device and this browser. If you lose this device or clear "
        "this browser's data before voting, the right is lost: it is issued only once."
    ),
    "encrypting": "Encrypting your ballot on this device…",
    "sending": "Sending your ballot… (a short random wait protects your anonymity)",
    "sent": "Your ballot was recorded.",
    "receipt-included": (
        "Checked by your browser: your ballot is entry {index} of the public board, in a "
        "checkpoint of {size} entries signed with the board's key."
    ),
    "receipt-pending": (
        "Recorded — will appear on the board at about {time}. Your browser checked the "
        "board's signed promise; check your ballot on the tracker after that time."
    ),
    "receipt-promised": (
        "The board signed a promise to include your ballot by {time}; check it on the "
        "tracker after that."
    ),
    "not-eligible": (
        "You cannot vote in this election under its eligibility rule. Your account page "
        "explains what you can do."
    ),
    "token-already-issued": (
        "A voting right was already given to you for this election, perhaps in another "
        "browser. Vote from that browser, where it is kept. If this browser's data was "
        "cleared, the right is lost: it is issued only once."
    ),
    "paper-vote": "You voted on paper for this election: you cannot also vote online.",
    "election-not-open": "This election is not open for voting.",
    "already-voted-no-code": (
        "This voting right has already been used, and this election does not allow changing a vote."
    ),
    "stale-revote": (
        "A more recent ballot from this voting right is already in the ballot box. Reload the"
        " page and vote again if you wish."
    ),
    "server-refused-ballot": (
        "The ballot box refused this ballot as not valid for the election's rules. Please "
        "check your answers."
    ),
    "ballot-proof-refused": (
        "The ballot box refused the encrypted ballot: one of its proofs did not verify. "
        "Nothing was counted. Please try again; if it happens again, report it to the town "
        "hall."
    ),
    "rate-limited": "Too many attempts: please wait a few minutes and try again.",
    "network": (
        "Parvis could not be reached. Check your connection and try again: your voting right "
        "is kept."
    ),
    "server-error": "The ballot box refused the request: {detail}",
    "receipt-mismatch": (
        "The receipt does not match the ballot your browser sent. Keep this page and report "
        "it to the town hall. ({detail})"
    ),
    "device-error": "Your browser could not complete the cryptography: {detail}",
}

#: Messages of web/src/tracker.ts.
TRACKER_MESSAGES: Final[dict[str, str]] = {
    "bad-code": "A tracking code has 16 letters and digits, for example NBSM-OIJZ-WZM2-UBGA.",
    "checking": "Checking the proof…",
    "included": (
        "Included: the ballot with tracking code {code} is on the public board, and your "
        "browser verified the proof."
    ),
    "pending": (
        "Recorded — will appear on the board at about {time} (the ballot with tracking code "
        "{code})."
    ),
    "pending-no-time": (
        "Recorded — the ballot with tracking code {code} will appear on the board with the "
        "next batch."
    ),
    "pending-later": (
        "Ballots are added to the public board in batches, in a random order, so that nobody "
        "can tell when each one was cast. This page checks again after that time, and your "
        "browser then verifies the proof."
    ),
    "superseded": "Replaced by a more recent vote: this ballot is not counted.",
    "superseded-detail": (
        "The ballot with tracking code {code} is on the public board, but you voted again "
        "with the same voting right and only your last ballot counts. Check the tracking "
        "code of your last ballot."
    ),
    "detail-index": "Entry {index} of a board of {size} entries.",
    "detail-key": "Checkpoint signed by {origin} (key {keyid}).",
    "detail-root": "Root of the board: {root}.",
    "board-key-changed": (
        "Warning: the board's key or name differs from the one this browser saw when you "
        "voted. Report it to the town hall."
    ),
    "unknown-code": (
        "No ballot on this board has the tracking code {code}. Check the code you typed."
    ),
    "proof-failed": (
        "The proof did not verify: the board did not prove that it includes this ballot. "
        "Report it to the town hall."
    ),
    "lookup-failed": "The check could not be completed. Please try again later.",
    "reason-leaf": "The board's answer is about another ballot.",
    "reason-code": "The board's answer does not give back this tracking code.",
    "reason-proof": "The inclusion proof does not lead to the state of the board it signed.",
    "reason-checkpoint": (
        "The board's signed state is not signed with the board key published for this vote."
    ),
    "reason-size": "The proof and the board's signed state do not count the same entries.",
    "reason-promise": "The board's signed promise is not valid.",
}


#: Messages of web/src/election.ts (with the booth's, for the eligibility and issuance errors).
ELECTION_MESSAGES: Final[dict[str, str]] = {
    "early-ready": (
        "Done: your anonymous voting right is kept in this browser. Vote when you wish "
        "before the close, from this device and this browser."
    ),
    "early-kept": (
        "Your voting right is already kept in this browser. Vote when you wish before the "
        "close, from this device and this browser."
    ),
    "early-voted": (
        "You have already voted from this browser. If this election allows it, you can "
        "change your vote in the booth until the close."
    ),
    "early-sign-in": "Sign in to get your voting right now.",
    "early-no-storage": (
        "This browser cannot keep a voting right: vote directly in the voting booth."
    ),
    "early-not-stored": (
        "Your voting right was issued, but this browser refused to keep it: it is lost. "
        "Please contact the town hall."
    ),
}


def _messages(*tables: dict[str, str]) -> list[tuple[str, str]]:
    return [(key, text) for table in tables for key, text in table.items()]


def format_euros(amount: int, lang: str) -> str:
    """Whole euros as people read them: ``3 500 000 €`` (French), ``€3,500,000`` (English)."""
    grouped = f"{amount:,}"
    if lang == "fr":
        return grouped.replace(",", "\u202f") + "\u00a0€"
    return f"€{grouped}"


def _title(labels: Any, lang: str) -> str:
    text: str = labels.get(lang) or labels["fr"]
    return text


@dataclass(frozen=True, slots=True)
class OptionView:
    id: str
    title: str
    cost_text: str | None


@dataclass(frozen=True, slots=True)
class QuestionView:
    id: str
    type: str
    title: str
    hint: str
    options: tuple[OptionView, ...]
    grades: tuple[str, ...]
    envelope: int | None


def _hint(question: Question, lang: str) -> str:
    """The rule of a question in words (the same rules as ballot/questions.py)."""
    gettext, _ = gettext_for(lang)
    _t: Any = gettext
    kind = question.type
    if kind is BallotType.SINGLE:
        text = str(_t("Choose one option."))
    elif kind is BallotType.APPROVAL:
        if question.min == question.max:
            text = str(_t("Choose exactly {k} options.")).format(k=question.min)
        elif question.min == 0:
            text = str(_t("Choose up to {max} options.")).format(max=question.max)
        else:
            text = str(_t("Choose between {min} and {max} options.")).format(
                min=question.min, max=question.max
            )
    elif kind is BallotType.BUDGET:
        assert question.envelope is not None
        text = str(
            _t("Choose the projects you support: their total cost must fit within {envelope}.")
        ).format(envelope=format_euros(question.envelope, lang))
        if question.max_count is not None and question.max_count < len(question.options):
            text += " " + str(_t("At most {max} projects.")).format(max=question.max_count)
    elif kind is BallotType.MAJORITY_JUDGMENT:
        text = str(
            _t("Give every project a grade, from “{best}” (best) to “{worst}” (worst).")
        ).format(best=question.grades[0], worst=question.grades[-1])
    else:
        text = str(
            _t(
                "Tick between {min} and {max} options, then put them in order with the ↑ and ↓ "
                "buttons: the first is your favourite."
            )
        ).format(min=question.min, max=question.max)
    return text


def question_view(question: Question, lang: str) -> QuestionView:
    """What the template needs of one question, in the page language."""
    return QuestionView(
        id=question.id,
        type=question.type.value,
        title=_title(question.title, lang),
        hint=_hint(question, lang),
        options=tuple(
            OptionView(
                id=o.id,
                title=_title(o.title, lang),
                cost_text=format_euros(o.cost, lang) if o.cost is not None else None,
            )
            for o in question.options
        ),
        grades=question.grades,
        envelope=question.envelope,
    )


_MONTHS_FR: Final = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)


def _date_text(moment: datetime, lang: str) -> str:
    if lang == "fr":
        month = _MONTHS_FR[moment.month - 1]
        return f"{moment.day} {month} {moment.year} à {moment:%H:%M} UTC"
    return f"{moment:%d %B %Y, %H:%M} UTC"


def _urls(election_id: str) -> dict[str, str]:
    base = f"/elections/{election_id}"
    return {
        "manifest": f"{base}/manifest",
        "tokens": f"{base}/tokens",
        "ballots": f"{base}/ballots",
        "eligibility": f"{base}/eligibility",
        "receipts": f"{base}/receipts/",
        "board": f"{base}/board",
        "booth": f"/scrutins/{election_id}/isoloir",
        "tracker": f"/scrutins/{election_id}/suivi",
        "results": f"/scrutins/{election_id}/resultats",
    }


locale_fr.register()

router = APIRouter(tags=["voting booth"], include_in_schema=False)
PrincipalDep = Annotated[Principal, Depends(current_principal)]


@dataclass(frozen=True, slots=True)
class _Election:
    id: str
    status: str
    title: str
    opens_at: datetime
    closes_at: datetime
    open_now: bool
    manifest: Manifest | None


def _load(ctx: AppContext, election_id: str, lang: str) -> _Election | None:
    """The election as the pages show it, or None if there is none (drafts are hidden)."""
    from ballot.definition import Status
    from ballot.errors import ElectionNotFoundError
    from ballot.service import service_from

    service = service_from(ctx)
    with ctx.db.session() as session:
        try:
            row = service.get(session, election_id)
        except ElectionNotFoundError:
            return None
        definition = service.definition(row)
        status = Status(row.status)
        manifest = None
        if status not in {Status.DRAFT, Status.SCHEDULED}:
            manifest = Manifest.from_json(service.manifest(session, row.id))
    now = ctx.clock.now()
    return _Election(
        id=row.id,
        status=status.value,
        title=_title(definition.title, lang),
        opens_at=definition.opens_at,
        closes_at=definition.closes_at,
        open_now=status is Status.OPEN and definition.opens_at <= now < definition.closes_at,
        manifest=manifest,
    )


def _unavailable(
    request: Request, *, heading: str, message: str, election: _Election | None, status: int
) -> HTMLResponse:
    urls = _urls(election.id) if election is not None else {}
    opened = election is not None and election.manifest is not None
    return render(
        request,
        "booth_unavailable.html",
        {
            "heading": heading,
            "message": message,
            "title": election.title if election is not None else "",
            "tracker_url": urls.get("tracker") if opened else None,
            "results_url": urls.get("results")
            if election is not None and election.status == "published"
            else None,
        },
        status_code=status,
    )


def _not_found(request: Request, _t: Any) -> HTMLResponse:
    return _unavailable(
        request,
        heading=_t("Election not found"),
        message=_t("There is no election at this address."),
        election=None,
        status=404,
    )


@router.get("/scrutins/{election_id}", response_class=HTMLResponse)
def election_page(
    request: Request, election_id: str, ctx: Ctx, principal: PrincipalDep
) -> HTMLResponse:
    """The election page; while voting is open, "get my voting right now, vote later on
    this device" (ballot-secrecy.md §2): the right is obtained and kept in this browser."""
    lang = page_language(request, ctx.settings)
    gettext, _ = gettext_for(lang)
    _t: Any = gettext
    election = _load(ctx, election_id, lang)
    if election is None or election.status == "draft":
        return _not_found(request, _t)
    manifest = election.manifest
    return render(
        request,
        "ballot/election.html",
        {
            "title": election.title,
            "election_id": election.id,
            "status": election.status,
            "open_now": election.open_now and manifest is not None,
            "key_id": b64u_encode(manifest.issuer_key_id) if manifest is not None else "",
            "opens_at_iso": election.opens_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "opens_at_text": _date_text(election.opens_at, lang),
            "closes_at_iso": election.closes_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "closes_at_text": _date_text(election.closes_at, lang),
            "urls": _urls(election.id),
            "opened": manifest is not None,
            "published": election.status == "published",
            "signed_in": isinstance(principal, Citizen),
            "script_messages": _messages(BOOTH_MESSAGES, ELECTION_MESSAGES),
        },
    )


@router.get("/scrutins/{election_id}/isoloir", response_class=HTMLResponse)
def booth_page(
    request: Request, election_id: str, ctx: Ctx, principal: PrincipalDep
) -> HTMLResponse:
    """The voting booth: the ballot form for an open election."""
    lang = page_language(request, ctx.settings)
    gettext, _ = gettext_for(lang)
    _t: Any = gettext
    election = _load(ctx, election_id, lang)
    if election is None:
        return _not_found(request, _t)
    if election.manifest is None:
        return _unavailable(
            request,
            heading=_t("Voting has not started"),
            message=_t("This election is not open yet. Come back when it opens."),
            election=election,
            status=200,
        )
    if not election.open_now:
        return _unavailable(
            request,
            heading=_t("Voting is closed"),
            message=_t(
                "This election is closed: ballots are no longer accepted. You can still "
                "check your ballot on the tracker."
            ),
            election=election,
            status=200,
        )
    manifest = election.manifest
    return_url = None
    retour, sig = request.query_params.get("retour"), request.query_params.get("sig")
    if retour and sig:
        from ballot.links import check_return_url

        return_url = check_return_url(ctx, election_id=election.id, return_url=retour, sig=sig)
    return render(
        request,
        "booth.html",
        {
            "title": election.title,
            "election_id": election.id,
            "key_id": b64u_encode(manifest.issuer_key_id),
            "closes_at_iso": election.closes_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "closes_at_text": _date_text(election.closes_at, lang),
            "questions": [question_view(q, lang) for q in manifest.questions],
            "urls": _urls(election.id),
            "signed_in": isinstance(principal, Citizen),
            "return_url": return_url,
            "script_messages": _messages(BOOTH_MESSAGES),
        },
    )


@router.get("/scrutins/{election_id}/suivi", response_class=HTMLResponse)
def tracker_page(request: Request, election_id: str, ctx: Ctx) -> HTMLResponse:
    """The receipt tracker: the browser checks a tracking code's inclusion proof itself."""
    lang = page_language(request, ctx.settings)
    gettext, _ = gettext_for(lang)
    _t: Any = gettext
    election = _load(ctx, election_id, lang)
    if election is None:
        return _not_found(request, _t)
    if election.manifest is None:
        return _unavailable(
            request,
            heading=_t("Voting has not started"),
            message=_t("The tracker opens with the election."),
            election=election,
            status=200,
        )
    return render(
        request,
        "tracker.html",
        {
            "title": election.title,
            "election_id": election.id,
            "urls": _urls(election.id),
            "script_messages": _messages(TRACKER_MESSAGES),
        },
    )
