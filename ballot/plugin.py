"""The ballot domain's plug-in: service, JSON APIs, pages, CLI, problem types, the board
publisher (CONTRIBUTING, "How a domain joins the application")."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import consent
import identity
from ballot import (
    api,
    booth_pages,
    locale_fr,
    locale_staff_fr,
    pages,
    platform_api,
    staff_pages,
    trustee_pages,
)
from ballot.cli import election_app, verify_board
from ballot.encrypted_ballot import BallotProofError, MalformedEncryptedBallotError
from ballot.encrypted_tally import (
    DuplicatePartialError,
    InvalidEncryptionError,
    WrongPartialDecryptionError,
)
from ballot.errors import (
    BackendUnavailableError,
    BallotTooLargeError,
    BlindInputError,
    CeremonyStateError,
    ElectionNotFoundError,
    ElectionStateError,
    EligiblePopulationReachedError,
    InvalidBallotSignatureError,
    InvalidCeremonyMessageError,
    InvalidElectionError,
    InvalidPaperTotalsError,
    InvalidSignatureError,
    IssuanceAuthenticationRequiredError,
    MalformedCastError,
    MalformedTokenError,
    ManifestNotPublishedError,
    NotATrusteeError,
    NotEligibleError,
    PaperVoteRecordedError,
    RateLimitedError,
    ResultsNotPublishedError,
    SigningFailureError,
    StaleRevoteError,
    TallyCheckError,
    TokenAlreadyIssuedError,
    TokenAlreadyUsedError,
    UnknownBackendError,
    UnknownReceiptError,
    WrongElectionError,
)
from ballot.keys import KeyDecryptionError
from ballot.questions import InvalidChoiceError, InvalidQuestionError
from ballot.service import (
    BoardNotIntegratedError,
    NotThisTrusteeError,
    service_from,
)
from ballot.verify import BoardVerificationError
from parvis.kernel.context import AppContext, DomainPlugin
from parvis.kernel.settings import Mode

__all__ = ["PLUGIN", "Publisher"]

log = logging.getLogger("parvis.ballot.publisher")

locale_fr.register()
locale_staff_fr.register()

_HERE = Path(__file__).resolve().parent
_STATIC = booth_pages.STATIC_DIR


def _export(export: consent.ExportContext) -> dict[str, Any]:
    """Art. 15/20: only WHETHER a token was issued (or a paper vote recorded) per election —
    never anything about a ballot (consent/hooks.py)."""
    rows = service_from(export.ctx).voter_list_of(export.session, export.subject)
    return {"voting": rows} if rows else {}


def setup(ctx: AppContext) -> None:
    service_from(ctx)
    consent.register_exporter("ballot", _export)
    identity.register_voting_rights(ctx, _voting_rights)
    identity.register_desk_elections(ctx, staff_pages.desk_elections)


def _voting_rights(ctx: AppContext, pseudonym: str) -> list[dict[str, str]]:
    """The account page's list (ballot-secrecy.md §3): each election where a voting right
    was issued to this citizen, and the day — the voter list's row, nothing finer."""
    with ctx.db.read_session() as session:
        return service_from(ctx).voters.rights_of(session, pseudonym)


class Publisher:
    """Background loop of a web process: the waiting ballots onto open boards at each batch
    boundary (docs/adr/0009-batched-boards.md; looked at every second, which costs one
    read when no boundary has passed), and issuance counts periodically
    (``PARVIS_BALLOT_ISSUANCE_SECONDS``). Checkpoints are the audit sequencer's."""

    #: How often the loop looks for a passed boundary (seconds).
    TICK = 1.0

    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name="parvis-ballot-publisher", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        period = min(60.0, self._ctx.settings.ballot_issuance_seconds)
        last_issuance = time.monotonic()
        while not self._stop.wait(self.TICK):
            service = service_from(self._ctx)
            try:
                service.integrate_batches()
            except Exception as exc:  # keep running; the type is enough to investigate
                log.warning("batch integration failed", extra={"exc_type": type(exc).__name__})
            if time.monotonic() - last_issuance < period:
                continue
            last_issuance = time.monotonic()
            try:
                service.publish_issuance()
            except Exception as exc:
                log.warning("issuance publication failed", extra={"exc_type": type(exc).__name__})


def _start(ctx: AppContext) -> None:
    settings = ctx.settings
    run = settings.ballot_publisher
    if run is None:
        run = settings.mode is not Mode.TEST
    if run:
        publisher = Publisher(ctx)
        ctx.extensions["ballot.publisher"] = publisher
        publisher.start()


def _stop(ctx: AppContext) -> None:
    publisher = ctx.extensions.pop("ballot.publisher", None)
    if isinstance(publisher, Publisher):
        publisher.stop()
    service = ctx.extensions.get("ballot")
    if service is not None:
        service.committer.stop()


def _seed_demo(ctx: AppContext) -> Iterable[str]:
    """The demo elections live in ``ballot/demo.py`` (the booth and demo work), if present."""
    if importlib.util.find_spec("ballot.demo") is None:
        return ()
    demo = importlib.import_module("ballot.demo")
    lines: Iterable[str] = demo.seed_demo(ctx)
    return lines


PLUGIN = DomainPlugin(
    name="ballot",
    setup=setup,
    hot_routers=(api.cast_router,),
    routers=(
        api.router,
        platform_api.router,
        pages.router,
        booth_pages.router,
        staff_pages.router,
        trustee_pages.router,
    ),
    template_dir=_HERE / "templates",
    static_dir=_STATIC if _STATIC.is_dir() else None,
    cli_groups={"election": election_app},
    cli_commands=(verify_board,),
    # Most specific first; slugs in docs/ballot-api.md.
    problems=(
        (SigningFailureError, 500, "signing-failure"),
        (BackendUnavailableError, 500, "rsa-backend"),
        (UnknownBackendError, 500, "rsa-backend"),
        (KeyDecryptionError, 500, "election-key"),
        (BoardNotIntegratedError, 503, "board-not-integrated"),
        (UnknownReceiptError, 404, "unknown-receipt"),
        (ManifestNotPublishedError, 404, "manifest-not-published"),
        (ResultsNotPublishedError, 404, "results-not-published"),
        (ElectionNotFoundError, 404, "election-not-found"),
        (ElectionStateError, 409, "election-state"),
        (CeremonyStateError, 409, "ceremony-state"),
        (InvalidCeremonyMessageError, 422, "invalid-ceremony-message"),
        (NotATrusteeError, 403, "not-a-trustee"),
        (TallyCheckError, 409, "tally-check-failed"),
        (DuplicatePartialError, 409, "partial-decryption-duplicate"),
        (NotThisTrusteeError, 403, "not-this-trustee"),
        (WrongPartialDecryptionError, 422, "invalid-partial-decryption"),
        (InvalidEncryptionError, 422, "invalid-election"),
        (TokenAlreadyIssuedError, 409, "token-already-issued"),
        (EligiblePopulationReachedError, 409, "eligible-population-reached"),
        (IssuanceAuthenticationRequiredError, 401, "issuance-authentication-required"),
        (PaperVoteRecordedError, 409, "paper-vote-recorded"),
        (TokenAlreadyUsedError, 409, "token-already-used"),
        (StaleRevoteError, 409, "stale-revote"),
        (NotEligibleError, 403, "not-eligible"),
        (RateLimitedError, 429, "rate-limited"),
        (BallotTooLargeError, 413, "ballot-too-large"),
        (BlindInputError, 422, "blind-input"),
        (InvalidBallotSignatureError, 403, "invalid-ballot-signature"),
        (InvalidSignatureError, 403, "invalid-token"),
        (WrongElectionError, 422, "wrong-election"),
        (MalformedTokenError, 422, "malformed-cast"),
        (MalformedCastError, 422, "malformed-cast"),
        (BallotProofError, 422, "invalid-ballot-proof"),
        (MalformedEncryptedBallotError, 422, "malformed-cast"),
        (InvalidChoiceError, 422, "invalid-ballot"),
        (InvalidQuestionError, 422, "invalid-election"),
        (InvalidElectionError, 422, "invalid-election"),
        (InvalidPaperTotalsError, 422, "paper-totals"),
        (BoardVerificationError, 422, "board-verification"),
    ),
    seed_demo=_seed_demo,
    start=_start,
    stop=_stop,
)
