"""The election CLI and ``parvis verify-board`` (both databases), and casting against a real
``parvis serve`` process: no cookie set, no client address in its logs, and the published
board verified from its URL by the CLI in a separate process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import yaml
from typer.testing import CliRunner, Result

from ballot.client import obtain_voting_right
from ballot.service import service_from
from parvis import migrate
from parvis.cli import build_cli
from parvis.domains import plugins
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext, build_context
from parvis.kernel.principal import Citizen
from parvis.kernel.settings import load_settings
from tests.ballot.elections import (
    GOOD_CHOICES,
    Voter,
    definition,
    make_citizen,
    open_election,
    seed_census,
    setup_rule,
    signed_in,
)
from tests.support.server import REPO, ServerProcess

runner = CliRunner()


def context(env: dict[str, str]) -> AppContext:
    settings = load_settings(
        mode="test", database_url=env["PARVIS_DATABASE_URL"], data_dir=env["PARVIS_DATA_DIR"]
    )
    ctx = build_context(settings)
    for plugin in plugins():
        if plugin.setup is not None:
            plugin.setup(ctx)
    return ctx


def run(args: list[str], env: dict[str, str]) -> Result:
    return runner.invoke(build_cli(), args, env=env)


def one_line_error(result: Result) -> str:
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def vote_through_service(ctx: AppContext, election: str, choices: dict[str, Any]) -> str:
    """A citizen's whole journey without HTTP: the service signs, the committer casts."""
    service = service_from(ctx)
    citizen = make_citizen(ctx)
    with ctx.db.read_session() as db:
        manifest = service._manifest(db, election)
    right = obtain_voting_right(
        manifest.public_key(),
        election_id=manifest.election_id,
        committed_key_id=manifest.issuer_key_id,
        transport=lambda blinded: service.issue_token(
            election_id=election, citizen=citizen, blinded_msg=blinded
        ),
    )
    _right, request = right.cast(choices)
    receipt = service.committer.cast(election, service.prepare_cast(election, request.to_json()))
    return str(receipt["tracking_code"])


def test_election_cli_and_verify_board(database_url: str, tmp_path: Path) -> None:
    env = {
        "PARVIS_MODE": "test",
        "PARVIS_DATABASE_URL": database_url,
        "PARVIS_DATA_DIR": str(tmp_path / "var"),
    }
    ctx = context(env)
    setup_rule(ctx)
    seed_census(ctx, 1000)  # what the manifest's eligible population counts at the opening
    clock = FixedClock()
    spec = definition(clock, questions=definition(clock)["questions"])
    spec["opens_at"] = "2020-01-01T00:00:00Z"
    spec["closes_at"] = "2099-01-01T00:00:00Z"
    source = tmp_path / "election.yaml"
    source.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    election = spec["id"]

    created = run(["election", "create", str(source), "--schedule"], env)
    assert created.exit_code == 0, created.output
    assert f"election {election}: scheduled" in created.output
    assert "already exists" in one_line_error(run(["election", "create", str(source)], env))
    assert run(["election", "open", election], env).exit_code == 0
    listed = run(["election", "list"], env)
    assert f"{election}  open" in listed.output

    codes = [vote_through_service(ctx, election, GOOD_CHOICES) for _ in range(2)]

    # While open: the export withholds every ballot, and still verifies.
    early = tmp_path / "early.json"
    assert run(["election", "export-board", election, "--out", str(early)], env).exit_code == 0
    assert all("cast" not in e for e in json.loads(early.read_text())["entries"])
    checked = run(["verify-board", str(early)], env)
    assert checked.exit_code == 0, checked.output

    assert "closes at 2099" in one_line_error(run(["election", "close", election], env))
    assert run(["election", "close", election, "--force"], env).exit_code == 0
    tallied = run(["election", "tally", election], env)
    assert tallied.exit_code == 0, tallied.output
    assert "ballots counted: 2" in tallied.output
    assert "board verified" in tallied.output
    assert run(["election", "publish", election], env).exit_code == 0

    final = tmp_path / "board.json"
    assert run(["election", "export-board", election, "--out", str(final)], env).exit_code == 0
    verified = run(["verify-board", str(final), "--receipt", codes[1].lower()], env)
    assert verified.exit_code == 0, verified.output
    assert "ok  receipt" in verified.output
    assert "2 ballot(s) counted" in verified.output

    # A tampered board fails loudly, naming the first discrepancy, in one line.
    export = json.loads(final.read_text())
    ballot = next(e for e in export["entries"] if e.get("kind") == "ballot")
    ballot["cast"]["ballot"]["choices"]["parc"] = "tilleuls"
    final.write_text(json.dumps(export))
    assert "is not the root of the entries" in one_line_error(
        run(["verify-board", str(final)], env)
    )
    assert "cannot read" in one_line_error(run(["verify-board", str(tmp_path / "none")], env))
    missing = "00000000-0000-4000-8000-000000000000"
    assert "no such election" in one_line_error(run(["election", "open", missing], env))
    service_from(ctx).committer.stop()
    ctx.db.dispose()


def test_casting_against_a_real_server(tmp_path: Path) -> None:
    data = tmp_path / "var"
    env = {
        "PARVIS_MODE": "test",
        "PARVIS_DATA_DIR": str(data),
        "PARVIS_DATABASE_URL": f"sqlite:///{tmp_path}/parvis.sqlite3",
        "PARVIS_LOG_LEVEL": "INFO",
    }
    migrate.upgrade(env["PARVIS_DATABASE_URL"])
    ctx = context(env)
    setup_rule(ctx)
    election = open_election(ctx, FixedClock(ctx.clock.now()))
    citizen = make_citizen(ctx)
    cookie, csrf = signed_in(ctx, Citizen(citizen))
    forwarded = "203.0.113.77"
    with ServerProcess(env) as server:
        with httpx.Client(base_url=server.url, timeout=30) as browser:
            voter = Voter(browser, election, cookie, csrf)
            voter.obtain_right()
            body = voter.cast_request(GOOD_CHOICES)
        # Cast from another loopback address, claiming yet another one, and with a cookie.
        transport = httpx.HTTPTransport(local_address="127.0.0.2")
        with httpx.Client(base_url=server.url, transport=transport, timeout=30) as anonymous:
            cast = anonymous.post(
                f"/elections/{election}/ballots",
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "X-Forwarded-For": forwarded,
                    "Cookie": f"{cookie[0]}={cookie[1]}",
                },
            )
        assert cast.status_code == 201, cast.text
        assert "set-cookie" not in cast.headers
        receipt = cast.json()
        looked = httpx.get(f"{server.url}/elections/{election}/receipts/{receipt['tracking_code']}")
        assert looked.status_code == 200

        service = service_from(ctx)
        ctx.clock = FixedClock(ctx.clock.now())  # the officer closes early (forced)
        service.close(election_id=election, actor="staff:t", force=True)
        service.tally(election_id=election, actor="staff:t")
        service.publish(election_id=election, actor="staff:t")
        board_url = f"{server.url}/elections/{election}/board"
        checked = subprocess.run(
            [sys.executable, "-m", "parvis", "verify-board", board_url,
             "--receipt", receipt["tracking_code"], "--workers", "1"],
            capture_output=True, text=True, timeout=120, cwd=REPO, check=False,
            env={**env, "PATH": "/usr/bin:/bin"},
        )  # fmt: skip
        assert checked.returncode == 0, checked.stderr
        assert "1 ballot(s) counted" in checked.stdout
    logs = server.stderr_path.read_text()
    # The access log is on (the receipt lookup is in it), but the token and cast routes
    # leave no line (ballot-secrecy.md §2).
    assert '"route": "/elections/{election_id}/receipts/{tracking_code}"' in logs
    assert '"route": "/elections/{election_id}/ballots"' not in logs
    assert '"route": "/elections/{election_id}/tokens"' not in logs
    for secret in ("127.0.0.2", forwarded, receipt["tracking_code"], receipt["leaf_hash"]):
        assert secret not in logs
    service_from(ctx).committer.stop()
    ctx.db.dispose()


def test_verify_board_says_what_a_non_json_url_returned(tmp_path: Path) -> None:
    """A wrong URL (the site's home page, a login page) gets an error saying what came back,
    not a bare JSON parser message."""
    import http.server
    import threading

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<!doctype html>\n<html><title>Parvis</title></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/elections/x"
    try:
        error = one_line_error(run(["verify-board", url], {}))
    finally:
        server.shutdown()
        server.server_close()
    assert f"{url} is not a board export (JSON): got text/html; charset=utf-8" in error
    assert "starting '<!doctype html> <html><title>Parvis</title></html>'" in error
    page = tmp_path / "page.html"
    page.write_text("<html></html>")
    assert f"{page} is not a board export (JSON): got a file, 13 bytes" in one_line_error(
        run(["verify-board", str(page)], {})
    )


def test_verify_board_checks_an_encrypted_board_one_line_per_failure(tmp_path: Path) -> None:
    example = REPO / "docs" / "examples" / "board-example-v2.json"
    verified = run(["verify-board", str(example), "--workers", "1"], {})
    assert verified.exit_code == 0, verified.output
    assert verified.stdout.splitlines()[-1] == (
        "verified: election 5e1f3a2b-7c4d-4e8f-9a0b-1c2d3e4f5a6b, 19 entries, 3 ballot(s) counted"
    )
    export = json.loads(example.read_text())
    export["entries"][-1]["publication"] = "aggregate"
    export["entries"][7]["attempt"] = 2
    altered = tmp_path / "altered.json"
    altered.write_text(json.dumps(export))
    failed = run(["verify-board", str(altered), "--workers", "1"], {})
    assert failed.exit_code == 1
    assert failed.stderr.splitlines() == [
        "error: entry 7: dkg-complete: attempt is not the ceremony's",
        "error: checkpoint 0: its root for size 9 is not the root of the entries (an entry was "
        "altered, removed, added or reordered)",
        "error: checkpoint 1: its root for size 12 is not the root of the entries (an entry was "
        "altered, removed, added or reordered)",
        "error: checkpoint 2: its root for size 19 is not the root of the entries (an entry was "
        "altered, removed, added or reordered)",
        "error: entry 18: the publication of an encrypted election is 'encrypted'",
    ]
