"""Staff HTML pages for elections (ADR 0006, "Definitions, platforms, CLI"; paper voters:
franceconnect.md, "An election's rule says"): the list, the election form
(:mod:`ballot.election_form`) and drafts from a file or a text area (read by
:mod:`ballot.definition_reader`, as the CLI and the APIs read them), the lifecycle, paper
voters and paper totals.

Adapters only, like :mod:`ballot.api`: every action calls the same
:class:`~ballot.service.ElectionService` method as the JSON API, with the staff member's
``audit_actor``, so the audit log cannot tell the two apart. Role checks are the API's:
lifecycle, definitions and paper totals need ``election_officer``; marking a paper voter
needs ``agent`` (an ``admin`` is neither). Pages are server-rendered, work without
JavaScript, and every POST form carries the session's CSRF token.

Fairness (voting-protocol.md, "Fairness: nothing readable before the close"): these pages
show what the public status shows — the status, the published count of tokens issued and
the number of ballots accepted — and never read a ballot, a board entry or a running total.

Refusals are pages, never stack traces: a wrong role or a missing CSRF token is a 403 page,
a refused step re-renders the page it came from with the reason and the status the JSON API
would give (404, 409, 422, 503); nothing is half-written because each service call is one
transaction.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Final
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import yaml
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

import identity
from ballot.batches import next_boundary
from ballot.booth_pages import format_euros
from ballot.definition import Status
from ballot.definition_reader import MAX_DEFINITION_BYTES, read_definition
from ballot.election_form import (
    ElectionForm,
    FieldError,
    apply,
    error_of,
    fill_defaults,
    form_from_definition,
    form_from_fields,
    to_definition,
)
from ballot.errors import (
    ElectionNotFoundError,
    ElectionStateError,
    InvalidElectionError,
    PaperVoteRecordedError,
    TokenAlreadyIssuedError,
)
from ballot.service import BoardNotIntegratedError, ElectionService, service_from
from ballot.tables import ElectionRow, PaperTotalsRow, VoterRow
from parvis.kernel import i18n
from parvis.kernel.context import AppContext
from parvis.kernel.errors import (
    ConflictError,
    DomainError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
)
from parvis.kernel.principal import Role, Staff
from parvis.kernel.staffguard import staff_required
from parvis.kernel.web import (
    check_csrf,
    get_ctx,
    page_language,
    render,
)

__all__ = ["MAX_DEFINITION_BYTES", "STEPS", "router"]

router = APIRouter(prefix="/staff/scrutins", include_in_schema=False)

Ctx = Annotated[AppContext, Depends(get_ctx)]
Text = Annotated[str, Form()]

#: The question types (ballot/questions.py) as the form names them (message ids).
TYPE_LABELS: Final[Mapping[str, str]] = {
    "single": "Single choice",
    "approval": "Approval (several options)",
    "budget": "Participatory budget (costs and envelope)",
    "majority_judgment": "Majority judgment (grades)",
    "ranked": "Ranking",
}

#: Most fields in one posted election form: 50 questions of 100 options, four fields each.
MAX_FORM_FIELDS: Final = 25_000
HOME: Final = "/staff/scrutins"


class Step:
    """One lifecycle step (definition.py, ``check_transition``): the status it starts from,
    the service call, and what the confirmation page says."""

    def __init__(
        self,
        slug: str,
        *,
        source: Status,
        label: str,
        warning: str,
        done: str,
        call: Callable[[ElectionService, str, str, bool], object],
    ) -> None:
        self.slug, self.source, self.label = slug, source, label
        self.warning, self.done, self.call = warning, done, call


#: Every step is one way (there is no "unschedule" or "reopen"), so each asks for
#: confirmation. Labels and texts are message ids (ballot/locale_staff_fr.py).
STEPS: Final[Mapping[str, Step]] = {
    step.slug: step
    for step in (
        Step(
            "programmer",
            source=Status.DRAFT,
            label="Schedule",
            warning="Scheduling freezes the definition: it can no longer be edited. The "
            "eligibility rule must exist.",
            done="The election is scheduled: its definition is final.",
            call=lambda s, e, a, _f: s.schedule(election_id=e, actor=a),
        ),
        Step(
            "ouvrir",
            source=Status.SCHEDULED,
            label="Open",
            warning="Opening generates the election's keys and publishes the manifest as "
            "entry 0 of the bulletin board; citizens can then get voting tokens and vote.",
            done="The election is open: its manifest is on the bulletin board.",
            call=lambda s, e, a, _f: s.open(election_id=e, actor=a),
        ),
        Step(
            "clore",
            source=Status.OPEN,
            label="Close",
            warning="Closing stops token issuance and voting for good and appends the close "
            "entry to the bulletin board.",
            done="The election is closed.",
            call=lambda s, e, a, force: s.close(election_id=e, actor=a, force=force),
        ),
        Step(
            "depouiller",
            source=Status.CLOSED,
            label="Tally",
            warning="Tallying counts the ballots on the board and appends the signed results "
            "entry (and the paper totals, if any). Paper totals can no longer be changed.",
            done="The election is tallied: the results entry is on the bulletin board.",
            call=lambda s, e, a, _f: s.tally(election_id=e, actor=a),
        ),
        Step(
            "publier",
            source=Status.TALLIED,
            label="Publish",
            warning="Publishing makes the results and the full bulletin board public.",
            done="The results are published.",
            call=lambda s, e, a, _f: s.publish(election_id=e, actor=a),
        ),
    )
}
_NEXT_STEP: Final = {step.source: step for step in STEPS.values()}

#: Notices shown after a redirect (``?fait=…``): fixed keys only, nothing is echoed back.
NOTICES: Final[Mapping[str, str]] = {
    "cree": "The draft election is saved.",
    "modifie": "The draft is updated.",
    "vote-papier": "The paper vote is recorded: this citizen can no longer get a voting token.",
    "totaux-papier": "The paper totals are saved.",
    **{slug: step.done for slug, step in STEPS.items()},
}


# -- who may do what --------------------------------------------------------------------------


def _form_back(request: Request) -> str:
    """Where a form's POST comes back to after sign-in: the election's page, which has the
    form (the POST targets have no page of their own)."""
    election_id = request.path_params.get("election_id")
    return f"{HOME}/{election_id}" if election_id else HOME


#: The roles of the API (``require_staff``): lifecycle, definitions and paper totals need
#: ``election_officer``, marking a paper voter needs ``agent``; the pages that only show
#: elections take either. Trustees and scrutineers land on the list after sign-in.
Reader = Annotated[
    Staff,
    Depends(
        staff_required(
            Role.ELECTION_OFFICER,
            Role.AGENT,
            form_page=_form_back,
            message="These pages are for election officers and agents.",
        )
    ),
]
ListReader = Annotated[
    Staff,
    Depends(
        staff_required(
            Role.ELECTION_OFFICER,
            Role.AGENT,
            Role.TRUSTEE,
            Role.SCRUTINEER,
            form_page=_form_back,
            message="These pages are for election officers and agents.",
        )
    ),
]
Officer = Annotated[
    Staff,
    Depends(
        staff_required(
            Role.ELECTION_OFFICER,
            form_page=_form_back,
            message="This action needs the election officer role.",
        )
    ),
]
Agent = Annotated[
    Staff,
    Depends(
        staff_required(
            Role.AGENT, form_page=_form_back, message="This action needs the agent role."
        )
    ),
]


def _refusal(request: Request, status: int, title: str, message: str, detail: str = "") -> Response:
    return render(
        request,
        "ballot/staff/refused.html",
        {"title": title, "message": message, "detail": detail},
        status_code=status,
    )


def _csrf(request: Request, token: str) -> Response | None:
    try:
        check_csrf(request, token)
    except ForbiddenError:
        return _refusal(
            request,
            403,
            "Form expired or forged",
            "The form's security token is missing or does not match your session. Go back, "
            "reload the page and submit the form again.",
        )
    return None


def _status_of(exc: DomainError) -> int:
    """The JSON API's status for a refusal (ballot.plugin's problem rows, by family)."""
    if isinstance(exc, BoardNotIntegratedError):
        return 503
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, ForbiddenError):
        return 403
    if isinstance(exc, ConflictError):
        return 409
    if isinstance(exc, InvalidInputError):
        return 422
    raise exc  # anything else is not a refusal of the request: let the kernel handle it


# -- reading ------------------------------------------------------------------------------


def _label(texts: Mapping[str, str], lang: str) -> str:
    return texts.get(lang) or texts.get("fr") or ""


def _board_links(ctx: AppContext, election_id: str, status: dict[str, Any]) -> dict[str, Any]:
    base = ctx.settings.public_url.rstrip("/")
    links = status["links"]
    return {
        "board": links["board"],
        "checkpoint": f"/elections/{election_id}/checkpoint" if links["board"] else None,
        "manifest": links["manifest"],
        "results_page": links["results_page"],
        "tracker": links["tracker"],
        "booth": links["booth"],
        "public": f"/elections/{election_id}",
        "verify": f"parvis verify-board {base}/elections/{election_id}/board"
        if links["board"]
        else None,
    }


def _paper_state(ctx: AppContext, row: ElectionRow) -> dict[str, Any]:
    """How many citizens agents marked as paper voters, and the totals entered so far:
    counts only (the voter list says who, never how; voting-protocol.md)."""
    with ctx.db.read_session() as session:
        marked = session.scalar(
            select(func.count())
            .select_from(VoterRow)
            .where(VoterRow.election_id == row.id, VoterRow.channel == "paper")
        )
        totals = session.get(PaperTotalsRow, row.id)
        entered = (
            {"voters": totals.voters, "counts": json.loads(totals.counts)}
            if totals is not None
            else None
        )
    return {"marked": int(marked or 0), "entered": entered}


def _population(ctx: AppContext, election_id: str, current: Status) -> int | None:
    """The manifest's eligible population once the election opened; before, what it would
    be counted as now (ballot-secrecy.md §3: counted when the election opens, never typed)."""
    service = service_from(ctx)
    with ctx.db.read_session() as session:
        if current not in {Status.DRAFT, Status.SCHEDULED}:
            population = service.manifest(session, election_id)["eligibility"]["population"]
            return int(population)
        rule = service.definition(service.get(session, election_id, drafts=True)).eligibility_rule
        try:
            count = identity.eligible_population(ctx, session, rule_id=rule)
        except NotFoundError:
            return None
        return count


def _election_values(
    request: Request, ctx: AppContext, staff: Staff, election_id: str
) -> dict[str, Any]:
    service = service_from(ctx)
    lang = page_language(request, ctx.settings)
    officer = staff.has(Role.ELECTION_OFFICER)
    with ctx.db.read_session() as session:
        row = service.get(session, election_id, drafts=officer)
        status = service.status(session, row)
        definition = service.definition(row)
    current = Status(row.status)
    questions = [
        {
            "id": q.id,
            "title": _label(q.title, lang),
            "type": q.type.value,
            "type_label": TYPE_LABELS[q.type.value],
            "envelope": format_euros(q.envelope, lang) if q.envelope is not None else None,
            "options": [
                {
                    "id": o.id,
                    "title": _label(o.title, lang),
                    "cost": format_euros(o.cost, lang) if o.cost is not None else None,
                }
                for o in q.options
            ],
        }
        for q in definition.questions
    ]
    step = _NEXT_STEP.get(current)
    return {
        "staff": staff,
        "officer": officer,
        "agent": staff.has(Role.AGENT),
        "election": status,
        "label": _label(definition.title, lang),
        "questions": questions,
        "rule": definition.eligibility_rule,
        "population": _population(ctx, row.id, current),
        "population_final": current not in {Status.DRAFT, Status.SCHEDULED},
        "next_step": step,
        "links": _board_links(ctx, row.id, status),
        "paper": _paper_state(ctx, row) if definition.paper else None,
        "paper_open": current in {Status.SCHEDULED, Status.OPEN},
        "paper_totals_open": current is Status.CLOSED,
        "early": current is Status.OPEN and service.now < definition.closes_at,
        "next_batch": (
            next_boundary(service.now, definition.batch_seconds).astimezone(_zone(ctx))
            if current is Status.OPEN
            else None
        ),
    }


def _election_page(
    request: Request,
    ctx: AppContext,
    staff: Staff,
    election_id: str,
    extra: dict[str, Any] | None = None,
    *,
    status: int = 200,
) -> Response:
    try:
        values = _election_values(request, ctx, staff, election_id)
    except ElectionNotFoundError:
        return _refusal(request, 404, "Election not found", "There is no election at this address.")
    values.update(extra or {})
    return render(request, "ballot/staff/election.html", values, status_code=status)


def _refused_step(
    request: Request,
    ctx: AppContext,
    staff: Staff,
    election_id: str,
    exc: DomainError,
    **extra: Any,
) -> Response:
    status = _status_of(exc)
    return _election_page(
        request, ctx, staff, election_id, {"error": exc.detail, **extra}, status=status
    )


def _done(election_id: str, notice: str) -> Response:
    return RedirectResponse(f"{HOME}/{election_id}?{urlencode({'fait': notice})}", status_code=303)


def desk_elections(ctx: AppContext, lang: str) -> list[dict[str, Any]]:
    """The town hall desk's list (identity's desk page): the elections that are not drafts
    and not yet published, with their paper channel and the staff page where agents
    record paper voters. Titles and statuses only, as the public list."""
    service = service_from(ctx)
    with ctx.db.read_session() as session:
        rows = [service.status(session, row) for row in service.elections(session)]
    return [
        {
            "id": s["id"],
            "title": _label(s["title"], lang),
            "status": s["status"],
            "paper": s["paper"],
            "href": f"{HOME}/{s['id']}",
        }
        for s in rows
        if s["status"] in {Status.SCHEDULED.value, Status.OPEN.value, Status.CLOSED.value}
    ]


@router.get("", response_class=HTMLResponse)
def elections_page(request: Request, ctx: Ctx, staff: ListReader) -> Response:
    """Every election (drafts for election officers only, as ``GET /elections``)."""
    service = service_from(ctx)
    lang = page_language(request, ctx.settings)
    officer = staff.has(Role.ELECTION_OFFICER)
    with ctx.db.read_session() as session:
        rows = [service.status(session, row) for row in service.elections(session, drafts=officer)]
    items = [{**s, "label": _label(s["title"], lang)} for s in rows]
    return render(request, "ballot/staff/list.html", {"elections": items, "officer": officer})


# -- definitions ---------------------------------------------------------------------------


def definition_text(definition: Mapping[str, Any]) -> str:
    """A definition as the YAML an officer edits (reads back to the same definition)."""
    text: str = yaml.safe_dump(
        dict(definition), allow_unicode=True, sort_keys=False, default_flow_style=False
    )
    return text


def _zone(ctx: AppContext) -> ZoneInfo:
    """The city's time zone, in which the form's dates are typed (the calendar its
    deadlines run in: ``PARVIS_CONSENT_TIMEZONE``, Europe/Paris by default)."""
    return ZoneInfo(ctx.settings.consent_timezone)


def _field_id(name: str) -> str:
    """An HTML id for a field name such as ``questions[0].options[1].cost``."""
    return re.sub(r"[^a-zA-Z0-9_-]+", "-", name).strip("-") or "form"


def _translated(errors: Mapping[str, FieldError], lang: str) -> dict[str, str]:
    """Each reason in the page's language: its message id translated (the English id when
    the catalogue has none), then filled in with its parameters."""
    messages = i18n.catalog(lang)
    out = {}
    for name, error in errors.items():
        params = {
            k: ", ".join(map(str, v)) if isinstance(v, list | tuple) else v
            for k, v in error.params.items()
        }
        text = messages.get(error.message, error.message)
        try:
            out[name] = text % params if params else text
        except (KeyError, TypeError, ValueError):  # a translation missing a parameter
            out[name] = error.message % params if params else error.message
    return out


def _rules(ctx: AppContext, current: str) -> list[dict[str, str]]:
    """The eligibility rules to choose from (identity's), the current one kept even if it
    was since removed so that the form shows what the draft says."""
    with ctx.db.read_session() as session:
        rules = [{"id": r.id, "name": r.name} for r in identity.service_from(ctx).rules(session)]
    if current and current not in {r["id"] for r in rules}:
        rules.append({"id": current, "name": current})
    return rules


def _form(
    request: Request,
    ctx: AppContext,
    *,
    election_id: str | None,
    form: ElectionForm,
    text: str = "",
    errors: Mapping[str, FieldError] | None = None,
    import_error: str = "",
    focus: str = "",
    status: int = 200,
) -> Response:
    """The election form (fields) and, below it, the file/text import."""
    lang = page_language(request, ctx.settings)
    shown = _translated(errors or {}, lang)
    return render(
        request,
        "ballot/staff/form.html",
        {
            "election_id": election_id,
            "form": form,
            "errors": shown,
            "general_error": shown.get("", ""),
            "rules": _rules(ctx, form.rule),
            "types": TYPE_LABELS,
            "zone": ctx.settings.consent_timezone,
            "fid": _field_id,
            "focus": focus,
            "text": text,
            "error": import_error,
        },
        status_code=status,
    )


async def _submitted(upload: object, text: str) -> bytes:
    """The uploaded file if one was chosen, else the text area (read at most the limit + 1
    bytes, so an oversized upload is refused without being held in memory)."""
    if isinstance(upload, UploadFile) and upload.filename:
        data: bytes = await upload.read(MAX_DEFINITION_BYTES + 1)
        if data:
            return data
    return text.encode("utf-8")


def _texts(posted: FormData) -> dict[str, str]:
    """The posted text fields (the first value of a name that appears twice)."""
    fields: dict[str, str] = {}
    for name, value in posted.multi_items():
        if isinstance(value, str) and name not in fields:
            fields[name] = value
    return fields


def _save(
    ctx: AppContext,
    staff: Staff,
    election_id: str | None,
    data: object,
) -> str:
    """``POST /elections`` or ``PUT /elections/{id}``: the same service calls as the API."""
    service = service_from(ctx)
    with ctx.db.write_session() as session:
        if election_id is None:
            return service.create(session, data=data, actor=staff.audit_actor).id
        service.update(session, election_id=election_id, data=data, actor=staff.audit_actor)
        return election_id


def _from_fields(  # noqa: PLR0911 - one page per outcome, as the other handlers here
    request: Request,
    ctx: AppContext,
    staff: Staff,
    election_id: str | None,
    fields: Mapping[str, str],
) -> Response:
    """The form's fields: a button (add/remove) shows the form again; "save" turns the
    fields into a definition and saves it, or shows each reason next to its field."""
    form = form_from_fields(fields)
    action = fields.get("action", "save")
    focus = apply(form, action)
    if focus is not None:
        fill_defaults(form)
        return _form(request, ctx, election_id=election_id, form=form, focus=focus)
    data, errors = to_definition(form, zone=_zone(ctx), election_id=election_id)
    if errors:
        return _form(request, ctx, election_id=election_id, form=form, errors=errors, status=422)
    try:
        saved = _save(ctx, staff, election_id, data)
    except ElectionNotFoundError:
        return _refusal(request, 404, "Election not found", "There is no election at this address.")
    except InvalidElectionError as exc:
        name, error = error_of(exc)
        return _form(
            request, ctx, election_id=election_id, form=form, errors={name: error}, status=422
        )
    except ElectionStateError:
        return _form(
            request,
            ctx,
            election_id=election_id,
            form=form,
            errors={"": FieldError("Only a draft can be edited.")},
            status=409,
        )
    except (InvalidInputError, ConflictError) as exc:
        return _form(
            request,
            ctx,
            election_id=election_id,
            form=form,
            errors={"": FieldError(exc.detail)},
            status=_status_of(exc),
        )
    return _done(saved, "cree" if election_id is None else "modifie")


def _from_text(
    request: Request,
    ctx: AppContext,
    staff: Staff,
    election_id: str | None,
    raw: bytes,
) -> Response:
    """A file or the text area (YAML or JSON), read by the one definition reader."""
    try:
        data = read_definition(raw)
        saved = _save(ctx, staff, election_id, data)
    except ElectionNotFoundError:
        return _refusal(request, 404, "Election not found", "There is no election at this address.")
    except (InvalidInputError, ElectionStateError) as exc:
        shown = raw.decode("utf-8", "replace") if len(raw) <= MAX_DEFINITION_BYTES else ""
        form = ElectionForm()
        if election_id is not None:
            form = _stored_form(ctx, election_id) or form
        return _form(
            request,
            ctx,
            election_id=election_id,
            form=form,
            text=shown,
            import_error=_reason(exc, page_language(request, ctx.settings)),
            status=_status_of(exc),
        )
    return _done(saved, "cree" if election_id is None else "modifie")


def _reason(exc: DomainError, lang: str) -> str:
    """A refusal in the page's language: the reason translated when it has a message id,
    prefixed with the member it is about."""
    if isinstance(exc, ElectionStateError):
        return _translated({"": FieldError("Only a draft can be edited.")}, lang)[""]
    if not isinstance(exc, InvalidElectionError):
        return exc.detail
    text = _translated({"": FieldError(exc.message, exc.params)}, lang)[""]
    if not exc.field:
        return text
    # The member's name stays as written in the file; French puts a space before a colon.
    return f"{exc.field} : {text}" if lang == "fr" else f"{exc.field}: {text}"


def _stored_form(ctx: AppContext, election_id: str) -> ElectionForm | None:
    service = service_from(ctx)
    try:
        with ctx.db.read_session() as session:
            stored = service.definition(service.get(session, election_id, drafts=True))
    except ElectionNotFoundError:
        return None
    return form_from_definition(stored.to_json(), zone=_zone(ctx))


async def _post_definition(
    request: Request, ctx: AppContext, staff: Staff, election_id: str | None
) -> Response:
    """The form's fields, or a file or text to import. A form of 50 questions of 100 options
    has about 20,000 fields; more is refused with a page, not a 400."""
    try:
        posted = await request.form(max_files=1, max_fields=MAX_FORM_FIELDS)
    except (HTTPException, MultiPartException):
        return _refusal(
            request,
            413,
            "Form too large",
            "The form has too many fields. Split the election or import it as a file.",
        )
    try:
        fields = _texts(posted)
        refused = _csrf(request, fields.get("csrf_token", ""))
        if refused is not None:
            return refused
        if fields.get("form") == "fields":
            return await run_in_threadpool(_from_fields, request, ctx, staff, election_id, fields)
        raw = await _submitted(posted.get("definition_file"), fields.get("definition", ""))
        return await run_in_threadpool(_from_text, request, ctx, staff, election_id, raw)
    finally:
        await posted.close()


@router.get("/nouveau", response_class=HTMLResponse)
def new_page(request: Request, ctx: Ctx, staff: Officer) -> Response:
    return _form(request, ctx, election_id=None, form=ElectionForm())


@router.post("/nouveau")
async def create(request: Request, ctx: Ctx, staff: Officer) -> Response:
    """``POST /elections`` from a page: the form's fields, or a file or text to import."""
    return await _post_definition(request, ctx, staff, None)


@router.get("/{election_id}/modifier", response_class=HTMLResponse)
def edit_page(request: Request, election_id: str, ctx: Ctx, staff: Officer) -> Response:
    service = service_from(ctx)
    try:
        with ctx.db.read_session() as session:
            row = service.get(session, election_id, drafts=True)
            stored = service.definition(row).to_json()
            current = row.status
    except ElectionNotFoundError:
        return _refusal(request, 404, "Election not found", "There is no election at this address.")
    if current != Status.DRAFT:
        return _election_page(
            request,
            ctx,
            staff,
            election_id,
            {"error_message": "Only a draft can be edited."},
            status=409,
        )
    return _form(
        request,
        ctx,
        election_id=row.id,
        form=form_from_definition(stored, zone=_zone(ctx)),
        text=definition_text(stored),
    )


@router.post("/{election_id}/modifier")
async def update(request: Request, election_id: str, ctx: Ctx, staff: Officer) -> Response:
    """``PUT /elections/{id}`` from a page (drafts only): fields, file or text."""
    return await _post_definition(request, ctx, staff, election_id)


# -- paper votes ---------------------------------------------------------------------------


def _mark(
    ctx: AppContext, staff: Staff, election_id: str, pseudonym: str
) -> tuple[int, str] | None:
    """Record the paper vote; None when done, else (status, message id) of a refusal that
    the paper form explains. Other refusals (no such election, wrong status) are raised."""
    if not 1 <= len(pseudonym) <= 64:
        return 422, "Give the citizen's identifier (1 to 64 characters)."
    service = service_from(ctx)
    with ctx.db.read_session() as session:
        service.get(session, election_id)  # no such election: 404 first, as the API does
        try:
            identity.service_from(ctx).citizen(session, pseudonym)
        except NotFoundError:
            return 404, "No citizen has this identifier. Check it with the citizen."
    try:
        service.mark_paper_voter(
            election_id=election_id, citizen=pseudonym, actor=staff.audit_actor
        )
    except TokenAlreadyIssuedError:
        return 409, (
            "Refused: a voting token was already issued to this citizen for this election, "
            "so they cannot also vote on paper."
        )
    except PaperVoteRecordedError:
        return 409, "A paper vote is already recorded for this citizen in this election."
    return None


@router.post("/{election_id}/vote-papier")
def mark_paper_voter(
    request: Request,
    *,
    election_id: str,
    ctx: Ctx,
    staff: Agent,
    citizen: Text = "",
    csrf_token: Text = "",
) -> Response:
    """``POST /elections/{id}/paper-voters`` (agent): paper votes (franceconnect.md, "An
    election's rule says"). The citizen is the
    pseudonym identity knows (checked there first, so a typo is "unknown citizen", not a
    mark on nobody); refused if a token was issued."""
    refused = _csrf(request, csrf_token)
    if refused is not None:
        return refused
    try:
        outcome = _mark(ctx, staff, election_id, citizen.strip())
    except DomainError as exc:
        return _refused_step(request, ctx, staff, election_id, exc)
    if outcome is not None:
        status, message = outcome
        return _election_page(
            request, ctx, staff, election_id, {"paper_error": message}, status=status
        )
    return _done(election_id, "vote-papier")


def _whole(value: object) -> int:
    text = str(value if value is not None else "").strip() or "0"
    if not text.isdigit() or len(text) > 10:
        raise ValueError(text)
    return int(text)


def _totals_from(
    form: Mapping[str, Any], questions: list[dict[str, Any]]
) -> tuple[int, dict[str, Any]]:
    """The voters and ``{question: {option: count}}`` from fields ``voters`` and
    ``count.<question>.<option>`` (ids are ``[a-z0-9_-]``, so the dot separates them); an
    empty field is 0. ``ValueError`` names the field that is not a whole number."""
    try:
        voters = _whole(form.get("voters"))
    except ValueError:
        raise ValueError("Paper voters") from None
    counts: dict[str, dict[str, int]] = {}
    for q in questions:
        row: dict[str, int] = {}
        for o in q["options"]:
            try:
                row[o["id"]] = _whole(form.get(f"count.{q['id']}.{o['id']}"))
            except ValueError:
                raise ValueError(f"{q['title']} — {o['title']}") from None
        counts[q["id"]] = row
    return voters, counts


@router.get("/{election_id}/vote-papier", include_in_schema=False)
@router.get("/{election_id}/totaux-papier", include_in_schema=False)
def back_to_election(election_id: str) -> Response:
    """The forms' targets have no page of their own (a language switch after a refusal
    lands here): back to the election."""
    return RedirectResponse(f"{HOME}/{election_id}", status_code=303)


@router.post("/{election_id}/totaux-papier")
async def paper_totals(request: Request, election_id: str, ctx: Ctx, staff: Officer) -> Response:
    """``PUT /elections/{id}/paper-totals`` (election officer), after the close."""
    form = await request.form()
    token = form.get("csrf_token")
    refused = _csrf(request, token if isinstance(token, str) else "")
    if refused is not None:
        return refused

    def work() -> Response:
        try:
            values = _election_values(request, ctx, staff, election_id)
        except ElectionNotFoundError:
            return _refusal(
                request, 404, "Election not found", "There is no election at this address."
            )
        try:
            voters, counts = _totals_from(form, values["questions"])
        except ValueError as exc:
            return _election_page(
                request,
                ctx,
                staff,
                election_id,
                {
                    "totals_error": "Each count is a whole number, 0 or more:",
                    "totals_field": str(exc),
                },
                status=422,
            )
        try:
            service_from(ctx).set_paper_totals(
                election_id=election_id, voters=voters, counts=counts, actor=staff.audit_actor
            )
        except DomainError as exc:
            return _refused_step(request, ctx, staff, election_id, exc)
        return _done(election_id, "totaux-papier")

    return await run_in_threadpool(work)


# -- the election and its lifecycle ----------------------------------------------------------


@router.get("/{election_id}", response_class=HTMLResponse)
def election_page(request: Request, election_id: str, ctx: Ctx, staff: Reader) -> Response:
    notice = NOTICES.get(request.query_params.get("fait", ""))
    return _election_page(request, ctx, staff, election_id, {"notice": notice})


def _confirm(
    request: Request, ctx: AppContext, staff: Staff, election_id: str, step: Step
) -> Response:
    try:
        values = _election_values(request, ctx, staff, election_id)
    except ElectionNotFoundError:
        return _refusal(request, 404, "Election not found", "There is no election at this address.")
    if values["next_step"] is not step:
        return _election_page(
            request,
            ctx,
            staff,
            election_id,
            {"error_message": "This step is not possible in the election's current status."},
            status=409,
        )
    values["step"] = step
    return render(request, "ballot/staff/confirm.html", values)


@router.get("/{election_id}/{step}", response_class=HTMLResponse)
def confirm_page(
    request: Request, election_id: str, step: str, ctx: Ctx, staff: Officer
) -> Response:
    """The confirmation page of a lifecycle step (its form posts to the same address)."""
    chosen = STEPS.get(step)
    if chosen is None:
        return _refusal(request, 404, "Page not found", "There is no page at this address.")
    return _confirm(request, ctx, staff, election_id, chosen)


@router.post("/{election_id}/{step}")
def take_step(
    request: Request,
    *,
    election_id: str,
    step: str,
    ctx: Ctx,
    staff: Officer,
    csrf_token: Text = "",
    confirm: Text = "",
    force: Annotated[bool, Form()] = False,
) -> Response:
    """A lifecycle step (``POST /elections/{id}/schedule|open|close|tally|publish``) once
    confirmed; without ``confirm=yes`` the confirmation page. ``force`` closes before the
    closing time, as ``?force=true`` does in the API (audited as forced)."""
    refused = _csrf(request, csrf_token)
    if refused is not None:
        return refused
    chosen = STEPS.get(step)
    if chosen is None:
        return _refusal(request, 404, "Page not found", "There is no page at this address.")
    if confirm != "yes":
        return _confirm(request, ctx, staff, election_id, chosen)
    try:
        chosen.call(service_from(ctx), election_id, staff.audit_actor, force)
    except DomainError as exc:
        return _refused_step(request, ctx, staff, election_id, exc)
    return _done(election_id, chosen.slug)
