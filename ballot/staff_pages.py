"""Staff HTML pages for elections (ADR 0006, "Definitions, platforms, CLI"; paper voters:
franceconnect.md, "An election's rule says"): the list, drafts from a file or
a text area, the lifecycle, paper voters and paper totals.

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
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Final
from urllib.parse import urlencode

import yaml
from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

import identity
from ballot.definition import Status
from ballot.errors import (
    ElectionNotFoundError,
    PaperVoteRecordedError,
    TokenAlreadyIssuedError,
)
from ballot.service import BoardNotIntegratedError, ElectionService, service_from
from ballot.tables import ElectionRow, PaperTotalsRow, VoterRow
from parvis.kernel.context import AppContext
from parvis.kernel.errors import (
    ConflictError,
    DomainError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
)
from parvis.kernel.principal import Principal, Role, Staff
from parvis.kernel.web import (
    check_csrf,
    current_principal,
    get_ctx,
    page_language,
    render,
)

__all__ = ["MAX_DEFINITION_BYTES", "STEPS", "router"]

router = APIRouter(prefix="/staff/scrutins", include_in_schema=False)

Ctx = Annotated[AppContext, Depends(get_ctx)]

#: Largest definition accepted from the form: a ballot of 50 questions of 100 options fits.
MAX_DEFINITION_BYTES: Final = 262_144
STAFF_LOGIN: Final = "/staff/login"
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


def staff_member(
    request: Request, principal: Annotated[Principal, Depends(current_principal)]
) -> Any:
    """The signed-in staff member, or a 303 to the staff sign-in page that comes back here
    (for a form's POST: back to the election's page, which has the form)."""
    if isinstance(principal, Staff):
        return principal
    if request.method in {"GET", "HEAD"}:
        back = request.url.path
    else:
        election_id = request.path_params.get("election_id")
        back = f"{HOME}/{election_id}" if election_id else HOME
    return RedirectResponse(f"{STAFF_LOGIN}?{urlencode({'next': back})}", status_code=303)


StaffOrLogin = Annotated[Staff | Response, Depends(staff_member)]


def _refusal(request: Request, status: int, title: str, message: str, detail: str = "") -> Response:
    return render(
        request,
        "ballot/staff/refused.html",
        {"title": title, "message": message, "detail": detail},
        status_code=status,
    )


def _needs(request: Request, staff: Staff, *roles: Role) -> Response | None:
    """A 403 page unless ``staff`` holds one of ``roles`` (the API's ``require_staff``)."""
    if any(staff.has(role) for role in roles):
        return None
    if roles == (Role.AGENT,):
        message = "This action needs the agent role."
    elif roles == (Role.ELECTION_OFFICER,):
        message = "This action needs the election officer role."
    else:
        message = "These pages are for election officers and agents."
    return _refusal(request, 403, "Access refused", message)


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
            "options": [{"id": o.id, "title": _label(o.title, lang)} for o in q.options],
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


@router.get("", response_class=HTMLResponse)
def elections_page(request: Request, ctx: Ctx, staff: StaffOrLogin) -> Response:
    """Every election (drafts for election officers only, as ``GET /elections``)."""
    if isinstance(staff, Response):
        return staff
    refused = _needs(request, staff, Role.ELECTION_OFFICER, Role.AGENT)
    if refused is not None:
        return refused
    service = service_from(ctx)
    lang = page_language(request, ctx.settings)
    officer = staff.has(Role.ELECTION_OFFICER)
    with ctx.db.read_session() as session:
        rows = [service.status(session, row) for row in service.elections(session, drafts=officer)]
    items = [{**s, "label": _label(s["title"], lang)} for s in rows]
    return render(request, "ballot/staff/list.html", {"elections": items, "officer": officer})


# -- definitions ---------------------------------------------------------------------------


class _NoAliasLoader(yaml.SafeLoader):
    """YAML without anchors and aliases: a definition never needs them, and refusing them
    rules out "billion laughs" expansion in what the parser builds."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            peek: Callable[[], Any] = self.peek_event
            event = peek()
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not accepted", event.start_mark
            )
        return super().compose_node(parent, index)


class DefinitionTextError(InvalidInputError):
    """The submitted definition is not readable YAML or JSON, too large, or not UTF-8."""

    title = "Unreadable definition"


def read_definition(raw: bytes) -> object:
    """Parse a definition file or text as ``parvis election create`` does (YAML, a superset
    of JSON), with the same refusals the form can explain."""
    if len(raw) > MAX_DEFINITION_BYTES:
        raise DefinitionTextError(f"the definition is larger than {MAX_DEFINITION_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise DefinitionTextError("the definition is not UTF-8 text") from None
    if not text.strip():
        raise DefinitionTextError("give a definition: choose a file or fill in the text area")
    try:
        return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise DefinitionTextError(f"neither YAML nor JSON{where}: {problem}") from None


def definition_text(definition: Mapping[str, Any]) -> str:
    """A definition as the YAML an officer edits (reads back to the same definition)."""
    text: str = yaml.safe_dump(
        dict(definition), allow_unicode=True, sort_keys=False, default_flow_style=False
    )
    return text


def _form(
    request: Request,
    *,
    election_id: str | None,
    text: str,
    error: str = "",
    status: int = 200,
) -> Response:
    return render(
        request,
        "ballot/staff/form.html",
        {"election_id": election_id, "text": text, "error": error},
        status_code=status,
    )


async def _submitted(upload: UploadFile | None, text: str) -> bytes:
    """The uploaded file if one was chosen, else the text area (read at most the limit + 1
    bytes, so an oversized upload is refused without being held in memory)."""
    if upload is not None and upload.filename:
        data: bytes = await upload.read(MAX_DEFINITION_BYTES + 1)
        if data:
            return data
    return text.encode("utf-8")


Upload = Annotated[UploadFile | None, File()]
Text = Annotated[str, Form()]


@router.get("/nouveau", response_class=HTMLResponse)
def new_page(request: Request, staff: StaffOrLogin) -> Response:
    if isinstance(staff, Response):
        return staff
    refused = _needs(request, staff, Role.ELECTION_OFFICER)
    return refused or _form(request, election_id=None, text="")


@router.post("/nouveau")
async def create(
    request: Request,
    *,
    ctx: Ctx,
    staff: StaffOrLogin,
    definition_file: Upload = None,
    definition: Text = "",
    csrf_token: Text = "",
) -> Response:
    """``POST /elections`` from a form: a file upload or the text area."""
    if isinstance(staff, Response):
        return staff
    refused = _needs(request, staff, Role.ELECTION_OFFICER) or _csrf(request, csrf_token)
    if refused is not None:
        return refused
    raw = await _submitted(definition_file, definition)

    def work() -> Response:
        service = service_from(ctx)
        try:
            data = read_definition(raw)
            with ctx.db.write_session() as session:
                election_id = service.create(session, data=data, actor=staff.audit_actor).id
        except InvalidInputError as exc:
            shown = raw.decode("utf-8", "replace") if len(raw) <= MAX_DEFINITION_BYTES else ""
            return _form(request, election_id=None, text=shown, error=exc.detail, status=422)
        return _done(election_id, "cree")

    return await run_in_threadpool(work)


@router.get("/{election_id}/modifier", response_class=HTMLResponse)
def edit_page(request: Request, election_id: str, ctx: Ctx, staff: StaffOrLogin) -> Response:
    if isinstance(staff, Response):
        return staff
    refused = _needs(request, staff, Role.ELECTION_OFFICER)
    if refused is not None:
        return refused
    service = service_from(ctx)
    try:
        with ctx.db.read_session() as session:
            row = service.get(session, election_id, drafts=True)
            text = definition_text(service.definition(row).to_json())
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
    return _form(request, election_id=row.id, text=text)


@router.post("/{election_id}/modifier")
async def update(
    request: Request,
    *,
    election_id: str,
    ctx: Ctx,
    staff: StaffOrLogin,
    definition_file: Upload = None,
    definition: Text = "",
    csrf_token: Text = "",
) -> Response:
    """``PUT /elections/{id}`` from a form (drafts only)."""
    if isinstance(staff, Response):
        return staff
    refused = _needs(request, staff, Role.ELECTION_OFFICER) or _csrf(request, csrf_token)
    if refused is not None:
        return refused
    raw = await _submitted(definition_file, definition)

    def work() -> Response:
        service = service_from(ctx)
        try:
            data = read_definition(raw)
            with ctx.db.write_session() as session:
                service.update(session, election_id=election_id, data=data, actor=staff.audit_actor)
        except ElectionNotFoundError:
            return _refusal(
                request, 404, "Election not found", "There is no election at this address."
            )
        except (InvalidInputError, ConflictError) as exc:
            shown = raw.decode("utf-8", "replace") if len(raw) <= MAX_DEFINITION_BYTES else ""
            return _form(
                request,
                election_id=election_id,
                text=shown,
                error=exc.detail,
                status=_status_of(exc),
            )
        return _done(election_id, "modifie")

    return await run_in_threadpool(work)


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
    staff: StaffOrLogin,
    citizen: Text = "",
    csrf_token: Text = "",
) -> Response:
    """``POST /elections/{id}/paper-voters`` (agent): paper votes (franceconnect.md, "An
    election's rule says"). The citizen is the
    pseudonym identity knows (checked there first, so a typo is "unknown citizen", not a
    mark on nobody); refused if a token was issued."""
    if isinstance(staff, Response):
        return staff
    refused = _needs(request, staff, Role.AGENT) or _csrf(request, csrf_token)
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
async def paper_totals(
    request: Request, election_id: str, ctx: Ctx, staff: StaffOrLogin
) -> Response:
    """``PUT /elections/{id}/paper-totals`` (election officer), after the close."""
    if isinstance(staff, Response):
        return staff
    form = await request.form()
    token = form.get("csrf_token")
    refused = _needs(request, staff, Role.ELECTION_OFFICER) or _csrf(
        request, token if isinstance(token, str) else ""
    )
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
def election_page(request: Request, election_id: str, ctx: Ctx, staff: StaffOrLogin) -> Response:
    if isinstance(staff, Response):
        return staff
    refused = _needs(request, staff, Role.ELECTION_OFFICER, Role.AGENT)
    if refused is not None:
        return refused
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
    request: Request, election_id: str, step: str, ctx: Ctx, staff: StaffOrLogin
) -> Response:
    """The confirmation page of a lifecycle step (its form posts to the same address)."""
    if isinstance(staff, Response):
        return staff
    refused = _needs(request, staff, Role.ELECTION_OFFICER)
    if refused is not None:
        return refused
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
    staff: StaffOrLogin,
    csrf_token: Text = "",
    confirm: Text = "",
    force: Annotated[bool, Form()] = False,
) -> Response:
    """A lifecycle step (``POST /elections/{id}/schedule|open|close|tally|publish``) once
    confirmed; without ``confirm=yes`` the confirmation page. ``force`` closes before the
    closing time, as ``?force=true`` does in the API (audited as forced)."""
    if isinstance(staff, Response):
        return staff
    refused = _needs(request, staff, Role.ELECTION_OFFICER) or _csrf(request, csrf_token)
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
