"""Ballot stuffing by the operator becomes visible (ballot-secrecy.md §3; ADR 0019).

The operator holds the database and the master secret. Each test plays what it can do —
sign tokens with the election key, add voter-list rows, add register entries without a
FranceConnect signature, reuse an old ID token, have one citizen issued twice — on an
election where real citizens obtained their rights through the FranceConnect sandbox (the
booth's HTTP calls, one redirect at a time), and shows that ``parvis election
verify-register`` (with the board) or the board's counts catch it. The honest election
verifies. SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import ECKey
from sqlalchemy import delete, select
from typer.testing import CliRunner

import identity
from audit.tables import EventRow
from ballot import register, rsabssa
from ballot.client import VotingRight, begin_issuance
from ballot.demo import DEMO_RULE
from ballot.keys import open_rsa_key
from ballot.manifest import Manifest, format_time
from ballot.service import service_from
from ballot.tables import ElectionKeyRow, RegisterPendingRow, VoterRow
from ballot.token import b64u_decode, b64u_encode
from ballot.verify_register import RegisterReport, verify_register
from parvis.app import create_app
from parvis.cli import build_cli
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from parvis.kernel.principal import Role, Staff
from tests.ballot.elections import OFFICER, post_anonymously
from tests.support.auth import sign_in

PUBLIC_URL = "http://127.0.0.1:8000"
CHOICE = {"projets": ["jardins"]}
STUFFED = {"projets": ["pistes-cyclables"]}


@pytest.fixture
def fc_app(make_settings: Any, clock: FixedClock) -> FastAPI:
    """The app as production runs it here: a right only on a FranceConnect authentication."""
    return create_app(make_settings(ballot_issuance_franceconnect=True), clock=clock)


@pytest.fixture
def ctx(fc_app: FastAPI) -> Iterator[AppContext]:
    context: AppContext = fc_app.state.ctx
    from consent.plugin import seed_demo as consent_seed_demo
    from identity.plugin import seed_demo

    list(consent_seed_demo(context))
    list(seed_demo(context))  # the demo city, its rule and its census of sandbox citizens
    yield context
    context.db.dispose()


@pytest.fixture
def back_channel(fc_app: FastAPI, ctx: AppContext) -> Iterator[TestClient]:
    with TestClient(fc_app, base_url=PUBLIC_URL) as channel:
        identity.use_franceconnect_http(ctx, channel)  # type: ignore[arg-type]
        yield channel


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


@dataclass
class Citizen:
    """A sandbox citizen's browser: signed in with FranceConnect, then through the booth's
    calls (python client for RFC 9474)."""

    browser: TestClient
    election: str
    login: str
    csrf: str = ""

    def sign_in(self) -> None:
        start = self.browser.get("/auth/franceconnect/login")
        page = self.browser.get(_path(start.headers["location"]))
        back = self._choose(page)
        done = self.browser.get(_path(back.headers["location"]))
        assert done.status_code == 303, done.text
        booth = self.browser.get(f"/scrutins/{self.election}/isoloir")
        marker = 'data-csrf="'
        self.csrf = booth.text[booth.text.index(marker) + len(marker) :].split('"', 1)[0]

    def _choose(self, page: Any) -> Any:
        if page.status_code == 303:  # FranceConnect's single sign-on: no page at all
            return page
        assert page.status_code == 200, page.text
        action = page.text[page.text.index('action="') + 8 :].split('"', 1)[0]
        answer = self.browser.post(action, data={"login": self.login})
        assert answer.status_code == 303, answer.text
        return answer

    def obtain(self) -> VotingRight:
        """The booth: blinded message first, FranceConnect round trip, then the signature."""
        manifest = Manifest.from_json(
            self.browser.get(f"/elections/{self.election}/manifest").json()
        )
        pending = begin_issuance(
            manifest.public_key(),
            election_id=manifest.election_id,
            committed_key_id=manifest.issuer_key_id,
        )
        body = {"blinded_msg": b64u_encode(pending.blinded_msg)}
        headers = {"X-CSRF-Token": self.csrf}
        refused = self.browser.post(
            f"/elections/{self.election}/tokens", json=body, headers=headers
        )
        assert refused.status_code == 401, refused.text  # not without FranceConnect
        started = self.browser.post(
            f"/elections/{self.election}/issuance", json=body, headers=headers
        )
        assert started.status_code == 200, started.text
        url = started.json()["authorize_url"]
        nonce = parse_qs(urlsplit(url).query)["nonce"][0]
        assert nonce == register.issuance_nonce(
            self.election, register.blinded_hash(pending.blinded_msg)
        )
        back = self._choose(self.browser.get(_path(url)))
        returned = self.browser.get(_path(back.headers["location"]))
        assert returned.status_code == 303, returned.text
        assert returned.headers["location"] == f"/scrutins/{self.election}/isoloir"
        answer = self.browser.post(f"/elections/{self.election}/tokens", json=body, headers=headers)
        assert answer.status_code == 200, answer.text
        return pending.finish(b64u_decode(answer.json()["blind_sig"], field="blind_sig"))


def _open(ctx: AppContext, clock: FixedClock) -> str:
    service = service_from(ctx)
    data = {
        "title": {"fr": "Budget participatif"},
        "opens_at": format_time(clock.now()),
        "closes_at": format_time(clock.now() + timedelta(days=7)),
        "eligibility": {"rule": DEMO_RULE},
        # The register does not depend on the mode; a public election keeps this test short.
        "mode": "public",
        "min_anonymity_set": 1,
        "batch_seconds": 600,
        "questions": [
            {
                "id": "projets",
                "type": "approval",
                "title": "Projets",
                "min": 1,
                "max": 1,
                "options": [
                    {"id": "jardins", "title": "Jardins"},
                    {"id": "pistes-cyclables", "title": "Pistes cyclables"},
                ],
            }
        ],
    }
    with ctx.db.write_session() as db:
        election = service.create(db, data=data, actor=OFFICER.audit_actor).id
    service.schedule(election_id=election, actor=OFFICER.audit_actor)
    service.open(election_id=election, actor=OFFICER.audit_actor)
    return election


def _vote(client: TestClient, election: str, right: VotingRight, choices: dict[str, Any]) -> None:
    _right, request = right.cast(choices)
    cast = post_anonymously(client, election, request.to_json_bytes())
    assert cast.status_code == 201, cast.text


def _honest(fc_app: FastAPI, ctx: AppContext, election: str, logins: list[str]) -> None:
    for login in logins:
        with TestClient(fc_app, base_url=PUBLIC_URL, follow_redirects=False) as browser:
            citizen = Citizen(browser, election, login)
            citizen.sign_in()
            right = citizen.obtain()
        with TestClient(fc_app, base_url=PUBLIC_URL) as anonymous:
            _vote(anonymous, election, right, CHOICE)


def _operator_token(ctx: AppContext, election: str) -> VotingRight:
    """What the operator signs with the election key it unseals with the master secret."""
    with ctx.db.read_session() as db:
        sealed = db.get(ElectionKeyRow, election)
        manifest = Manifest.from_json(service_from(ctx).manifest(db, election))
    assert sealed is not None
    key = open_rsa_key(ctx.settings.sealing_secret, election_id=election, sealed=sealed.rsa_key)
    pending = begin_issuance(
        manifest.public_key(),
        election_id=manifest.election_id,
        committed_key_id=manifest.issuer_key_id,
    )
    return pending.finish(rsabssa.blind_sign(key, pending.blinded_msg))


def _pending_entry(ctx: AppContext, election: str, entry: dict[str, Any]) -> None:
    with ctx.db.write_session() as db:
        db.add(
            RegisterPendingRow(
                election_id=election,
                blinded_hash=b64u_decode(entry["blinded_hash"], field="h"),
                data=register.entry_bytes(entry),
            )
        )


def _close_and_verify(
    ctx: AppContext, clock: FixedClock, election: str, tmp_path: Path
) -> tuple[RegisterReport, dict[str, Any]]:
    service = service_from(ctx)
    service.integrate_batches(force=True)
    clock.advance(timedelta(days=8))
    service.close(election_id=election, actor=OFFICER.audit_actor)
    exported = service.export_register(election, actor="staff:scrutineer")
    board = service.export(election, reveal=True)
    # Through files, as a scrutineer receives them.
    (tmp_path / "register.json").write_text(json.dumps(exported))
    report = verify_register(json.loads((tmp_path / "register.json").read_text()), board=board)
    return report, board


def test_an_honest_election_verifies(
    fc_app: FastAPI, ctx: AppContext, back_channel: TestClient, clock: FixedClock, tmp_path: Path
) -> None:
    election = _open(ctx, clock)
    _honest(fc_app, ctx, election, ["test", "accents"])
    report, board = _close_and_verify(ctx, clock, election, tmp_path)
    assert report.failures == []
    assert report.entries == 2
    close = next(e for e in board["entries"] if e.get("kind") == "close")
    assert close["tokens_issued"] == 2
    assert [e for e in board["entries"] if e.get("kind") == "register"][-1]["size"] == 2
    jwks = back_channel.get("/fc-sandbox/api/v2/jwks").json()
    assert (
        verify_register(
            service_from(ctx).export_register(election, actor="staff:s"), board=board, fc_jwks=jwks
        ).failures
        == []
    )


def test_tokens_signed_by_the_operator_with_voter_rows_are_caught_by_the_counts(
    fc_app: FastAPI, ctx: AppContext, back_channel: TestClient, clock: FixedClock, tmp_path: Path
) -> None:
    """Sign tokens with the election key and add voter-list rows: the register does not
    grow, so the ballots outnumber the tokens on the board, the tally refuses, and the
    register checked against the board says so."""
    election = _open(ctx, clock)
    _honest(fc_app, ctx, election, ["test"])
    with TestClient(fc_app, base_url=PUBLIC_URL) as anonymous:
        for _ in range(3):
            _vote(anonymous, election, _operator_token(ctx, election), STUFFED)
    with ctx.db.write_session() as db:
        for _ in range(3):
            db.add(
                VoterRow(
                    election_id=election,
                    citizen=secrets.token_hex(16),
                    channel="online",
                    day=clock.now().date(),
                )
            )
    report, _board = _close_and_verify(ctx, clock, election, tmp_path)
    assert any("4 ballots counted but only 1 tokens issued" in f for f in report.failures), (
        report.failures
    )
    with pytest.raises(Exception, match="4 ballots counted but only 1 tokens issued"):
        service_from(ctx).tally(election_id=election, actor=OFFICER.audit_actor)


def test_register_rows_without_a_franceconnect_signature_are_caught(
    fc_app: FastAPI, ctx: AppContext, back_channel: TestClient, clock: FixedClock, tmp_path: Path
) -> None:
    """Register entries written by the operator: without an ID token, or with one it signed
    with its own key (archived as if it were FranceConnect's). The counts agree; the
    register does not."""
    election = _open(ctx, clock)
    _honest(fc_app, ctx, election, ["test"])
    with TestClient(fc_app, base_url=PUBLIC_URL) as anonymous:
        for _ in range(2):
            _vote(anonymous, election, _operator_token(ctx, election), STUFFED)
    day = clock.now().date().isoformat()
    unsigned = register.issuance_entry(
        election_id=election,
        day=day,
        blinded_msg_hash=secrets.token_bytes(32),
        id_token=None,
        jwk=None,
        archive_key=False,
    )
    _pending_entry(ctx, election, unsigned)
    # A token "signed" by the operator's own key, archived in the entry.
    own = ECKey.generate_key("P-256", parameters={"kid": "fc-lookalike"})
    blinded = secrets.token_bytes(32)
    claims = {
        "iss": ctx.settings.fc_issuer,
        "aud": ctx.settings.fc_client_id,
        "sub": secrets.token_hex(32) + "v1",
        "acr": "eidas1",
        "iat": int(clock.now().timestamp()),
        "exp": int(clock.now().timestamp()) + 60,
        "nonce": register.issuance_nonce(election, blinded),
    }
    forged = jwt.encode({"alg": "ES256", "kid": "fc-lookalike"}, claims, own)
    public = own.as_dict(private=False)
    _pending_entry(
        ctx,
        election,
        register.issuance_entry(
            election_id=election,
            day=day,
            blinded_msg_hash=blinded,
            id_token=forged,
            jwk=public,
            archive_key=True,
        ),
    )
    report, board = _close_and_verify(ctx, clock, election, tmp_path)
    close = next(e for e in board["entries"] if e.get("kind") == "close")
    assert close["tokens_issued"] == 3  # the counts agree: the register is what is wrong
    assert any("no FranceConnect ID token backs this issuance" in f for f in report.failures)
    jwks = back_channel.get("/fc-sandbox/api/v2/jwks").json()
    checked = verify_register(
        service_from(ctx).export_register(election, actor="staff:s"), board=board, fc_jwks=jwks
    )
    assert any("is not in FranceConnect's JWKS" in f for f in checked.failures), checked.failures


def test_an_old_id_token_reused_is_caught(
    fc_app: FastAPI, ctx: AppContext, back_channel: TestClient, clock: FixedClock, tmp_path: Path
) -> None:
    """A real ID token copied from an honest entry into a new one: its nonce binds another
    blinded message, and its citizen is already in the register."""
    election = _open(ctx, clock)
    with ctx.db.read_session() as db:
        assert db.scalars(select(RegisterPendingRow)).first() is None
    _honest(fc_app, ctx, election, ["test"])
    with ctx.db.read_session() as db:
        honest = json.loads(db.scalars(select(RegisterPendingRow.data)).one())
    copied = {**honest, "blinded_hash": b64u_encode(secrets.token_bytes(32))}
    copied.pop("jwk", None)
    _pending_entry(ctx, election, copied)
    with TestClient(fc_app, base_url=PUBLIC_URL) as anonymous:
        _vote(anonymous, election, _operator_token(ctx, election), STUFFED)
    report, _board = _close_and_verify(ctx, clock, election, tmp_path)
    assert any(
        "the nonce does not bind this election and this blinded message" in f
        for f in report.failures
    ), report.failures


def test_a_token_of_another_election_is_caught(
    fc_app: FastAPI, ctx: AppContext, back_channel: TestClient, clock: FixedClock, tmp_path: Path
) -> None:
    """An ID token of an earlier election (an old authentication of a real citizen), moved
    into this register: the nonce names the other election, and its time is outside."""
    earlier = _open(ctx, clock)
    _honest(fc_app, ctx, earlier, ["accents"])
    with ctx.db.read_session() as db:
        old = json.loads(
            db.scalars(
                select(RegisterPendingRow.data).where(RegisterPendingRow.election_id == earlier)
            ).one()
        )
    clock.advance(timedelta(days=9))
    election = _open(ctx, clock)
    _honest(fc_app, ctx, election, ["test"])
    _pending_entry(ctx, election, {**old, "election": election})
    report, _board = _close_and_verify(ctx, clock, election, tmp_path)
    failures = " | ".join(report.failures)
    assert "the nonce does not bind this election" in failures
    assert "iat is outside the voting period" in failures


def test_one_citizen_issued_twice_is_caught(
    fc_app: FastAPI, ctx: AppContext, back_channel: TestClient, clock: FixedClock, tmp_path: Path
) -> None:
    """The operator deletes a citizen's voter-list row so that a second right is issued on
    a second, genuine FranceConnect authentication of the same citizen: the register holds
    the same ``sub`` twice."""
    election = _open(ctx, clock)
    _honest(fc_app, ctx, election, ["test", "accents"])
    with ctx.db.write_session() as db:
        some = db.scalars(select(VoterRow).where(VoterRow.election_id == election)).first()
        assert some is not None
        db.execute(
            delete(VoterRow).where(
                VoterRow.election_id == election, VoterRow.citizen == some.citizen
            )
        )
    for login in ("test", "accents"):
        with TestClient(fc_app, base_url=PUBLIC_URL, follow_redirects=False) as browser:
            citizen = Citizen(browser, election, login)
            citizen.sign_in()
            started = browser.post(
                f"/elections/{election}/issuance",
                json={"blinded_msg": b64u_encode(b"\x01" * 256)},
                headers={"X-CSRF-Token": citizen.csrf},
            )
            if started.status_code == 200:
                right = citizen.obtain()
                break
    with TestClient(fc_app, base_url=PUBLIC_URL) as anonymous:
        _vote(anonymous, election, right, STUFFED)
    report, _board = _close_and_verify(ctx, clock, election, tmp_path)
    assert any("one citizen, two voting rights" in f for f in report.failures), report.failures
    assert uuid.UUID(report.election) == uuid.UUID(election)


# -- the scrutineers' tools ------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
#: ``python -m ballot.verify_register`` in an interpreter that refuses (and records) every
#: import outside the verifier's dependencies — joserfc and Authlib included: the ID tokens
#: are verified with cryptography alone.
RUNNER = (
    (Path(__file__).resolve().parent / "test_verify_standalone.py")
    .read_text()
    .split('RUNNER = r"""', 1)[1]
    .split('"""', 1)[0]
    .replace('["ballot.verify", *sys.argv[1:]]', '["ballot.verify_register", *sys.argv[1:]]')
    .replace('run_module("ballot.verify",', 'run_module("ballot.verify_register",')
)


def _standalone(*args: str) -> Any:
    return subprocess.run(
        [sys.executable, "-c", RUNNER, *args],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_verify_register_runs_alone_and_prints_one_line_per_failure(
    fc_app: FastAPI, ctx: AppContext, back_channel: TestClient, clock: FixedClock, tmp_path: Path
) -> None:
    election = _open(ctx, clock)
    _honest(fc_app, ctx, election, ["test", "accents"])
    _report, board = _close_and_verify(ctx, clock, election, tmp_path)
    exported = service_from(ctx).export_register(election, actor="staff:s")
    (tmp_path / "board.json").write_text(json.dumps(board))
    (tmp_path / "jwks.json").write_text(
        json.dumps(back_channel.get("/fc-sandbox/api/v2/jwks").json())
    )
    good = tmp_path / "register.json"
    good.write_text(json.dumps(exported))
    ok = _standalone(
        str(good), "--board", str(tmp_path / "board.json"), "--fc-jwks", str(tmp_path / "jwks.json")
    )
    assert ok.returncode == 0, ok.stderr
    assert "REFUSED: []" in ok.stderr
    assert ok.stdout.splitlines()[-1] == (
        f"verified: issuance register of election {election}, 2 entries"
    )
    # Two faults: the second entry's citizen replaced by the first's token (one citizen
    # twice, and a nonce for another blinded message), and the export's root kept.
    bad = json.loads(json.dumps(exported))
    bad["entries"][1]["id_token"] = bad["entries"][0]["id_token"]
    bad["entries"][1]["fc_key"] = bad["entries"][0]["fc_key"]
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    failed = _standalone(str(tmp_path / "bad.json"), "--board", str(tmp_path / "board.json"))
    assert failed.returncode == 1
    lines = [line for line in failed.stderr.splitlines() if line.startswith("FAILED: ")]
    assert "FAILED: register: its size and root are not those of its entries" in lines
    assert (
        "FAILED: entry 1: the nonce does not bind this election and this blinded message" in lines
    )
    assert any("root at size 2 is not the board's" in line for line in lines), lines
    assert failed.stdout == ""


def test_the_register_goes_to_scrutineers_only(
    fc_app: FastAPI, ctx: AppContext, back_channel: TestClient, clock: FixedClock, tmp_path: Path
) -> None:
    """The register holds FranceConnect ID tokens: only a scrutineer downloads it over
    HTTP (an audit event); the CLI writes the same export; ``verify-register`` exits 0 on
    it and 1 with one line per failure."""
    election = _open(ctx, clock)
    _honest(fc_app, ctx, election, ["test"])
    service_from(ctx).integrate_batches(force=True)
    url = f"/elections/{election}/register"
    with TestClient(fc_app, base_url=PUBLIC_URL) as client:
        assert client.get(url).status_code == 401
        sign_in(client, fc_app, Staff("officer-9", frozenset({Role.ELECTION_OFFICER})))
        assert client.get(url).status_code == 403
    with TestClient(fc_app, base_url=PUBLIC_URL) as client:
        sign_in(client, fc_app, Staff("scrutineer-1", frozenset({Role.SCRUTINEER})))
        served = client.get(url)
    assert served.status_code == 200, served.text
    assert served.json()["size"] == 1
    assert served.json()["entries"][0]["id_token"].count(".") == 2
    env = {
        "PARVIS_MODE": "test",
        "PARVIS_DATABASE_URL": ctx.settings.database_url,
        "PARVIS_DATA_DIR": str(ctx.settings.data_dir),
    }
    runner = CliRunner()
    out = tmp_path / "register.json"
    written = runner.invoke(
        build_cli(), ["election", "export-register", election, "--out", str(out)], env=env
    )
    assert written.exit_code == 0, written.output
    assert json.loads(out.read_text())["root"] == served.json()["root"]
    checked = runner.invoke(build_cli(), ["election", "verify-register", str(out)], env=env)
    assert checked.exit_code == 0, checked.output
    assert "verified: issuance register of election" in checked.stdout
    bad = json.loads(out.read_text())
    bad["entries"][0]["id_token"] = None
    out.write_text(json.dumps(bad))
    refused = runner.invoke(build_cli(), ["election", "verify-register", str(out)], env=env)
    assert refused.exit_code == 1
    assert "FAILED: entry 0: no FranceConnect ID token backs this issuance" in refused.stderr
    with ctx.db.read_session() as db:
        events = db.scalars(
            select(EventRow.actor).where(EventRow.event_type == "ballot.register.exported")
        ).all()
    assert "staff:scrutineer-1" in events
    assert "system:cli" in events


def test_a_citizen_sees_every_right_issued_in_their_name(
    fc_app: FastAPI, ctx: AppContext, back_channel: TestClient, clock: FixedClock
) -> None:
    """The account page lists the elections where a right was issued to the citizen, by
    day — the one they obtained, and the one the operator recorded in their name."""
    election = _open(ctx, clock)
    other = _open(ctx, clock)
    with TestClient(fc_app, base_url=PUBLIC_URL, follow_redirects=False) as browser:
        citizen = Citizen(browser, election, "test")
        citizen.sign_in()
        before = browser.get("/mon-compte").text
        assert "Aucun droit de vote n’a été délivré en votre nom." in before
        citizen.obtain()
        with ctx.db.read_session() as db:
            pseudonym = db.scalars(
                select(VoterRow.citizen).where(VoterRow.election_id == election)
            ).one()
        with ctx.db.write_session() as db:  # the operator, in the citizen's name
            db.add(
                VoterRow(
                    election_id=other, citizen=pseudonym, channel="online", day=clock.now().date()
                )
            )
        page = browser.get("/mon-compte")
    assert page.status_code == 200
    listed = page.text[page.text.index('id="voting-rights-list"') :].split("</ul>", 1)[0]
    day = clock.now().date().isoformat()
    assert listed.count(f'<time datetime="{day}">{day}</time>') == 2
    assert f'href="/scrutins/{election}"' in listed
    assert f'href="/scrutins/{other}"' in listed
    assert "Vos droits de vote" in page.text
