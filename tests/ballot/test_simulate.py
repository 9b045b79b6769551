"""``parvis election simulate ID --voters N [--seed S]`` (ballot/simulation.py): fictitious
voters get their tokens and cast through a real ``parvis serve`` over HTTP, as booths do;
the last line is JSON with the counts; production refuses it unless the election is a
rehearsal (ballot/definition.py, ``rehearsal``)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
import yaml

import identity
from ballot.service import service_from
from ballot.simulation import simulate
from identity.eligibility import Evidence, Rule
from parvis.kernel.clock import FixedClock
from parvis.kernel.errors import ForbiddenError, InvalidInputError
from parvis.kernel.settings import Mode
from tests.ballot.elections import ALL_TYPES, definition, seed_census, setup_rule
from tests.ballot.test_cli_and_server import context, run
from tests.support.server import ServerProcess


def _open_from_cli(env: dict[str, str], tmp_path: Path, **overrides: object) -> str:
    clock = FixedClock()
    spec = definition(clock, questions=ALL_TYPES, **overrides)
    spec["opens_at"] = "2020-01-01T00:00:00Z"
    spec["closes_at"] = "2099-01-01T00:00:00Z"
    source = tmp_path / f"{spec['id']}.yaml"
    source.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    assert run(["election", "create", str(source), "--schedule"], env).exit_code == 0
    assert run(["election", "open", spec["id"]], env).exit_code == 0
    return str(spec["id"])


def test_simulated_voters_cast_through_http(database_url: str, tmp_path: Path) -> None:
    env = {
        "PARVIS_MODE": "test",
        "PARVIS_DATABASE_URL": database_url,
        "PARVIS_DATA_DIR": str(tmp_path / "var"),
    }
    ctx = context(env)
    setup_rule(ctx)
    # The eligible population is counted from the census at the opening (ballot-secrecy.md
    # §3); simulated voters, who hold other evidence made later, fit within it.
    seed_census(ctx, 50)
    ctx.db.dispose()
    election = _open_from_cli(env, tmp_path)
    # A second election whose rule has age bounds (eligibility reads the sealed birth date).
    ctx = context(env)
    with ctx.db.write_session() as db:
        identity.service_from(ctx).save_rule(
            db,
            Rule(
                id="ballot-youth",
                name="Conseil des jeunes",
                territory_id="ballot-town",
                accepted_evidence=frozenset({Evidence.CENSUS, Evidence.IN_PERSON}),
                reference_date=date(2026, 6, 1),
                min_age=16,
                max_age=25,
            ),
            actor="system:test",
        )
    ctx.db.dispose()
    youth = _open_from_cli(env, tmp_path, eligibility={"rule": "ballot-youth", "population": 10})
    with ServerProcess(env) as server:
        args = ["election", "simulate", election, "--voters", "4", "--seed", "7"]
        result = run([*args, "--url", server.url, "--concurrency", "3"], env)
        young = run(["election", "simulate", youth, "--voters", "2", "--url", server.url], env)
    assert young.exit_code == 0, young.output
    assert json.loads(young.stdout.strip().splitlines()[-1])["cast"] == 2
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["mode"] == "public"
    assert (report["voters"], report["tokens"], report["cast"]) == (4, 4, 4)
    assert report["refused"] == {}
    assert report["seed"] == 7
    assert report["seconds"] > 0
    # The ballots are in the box: four tokens issued, four ballots counted at the tally.
    assert run(["election", "close", election, "--force"], env).exit_code == 0
    tallied = run(["election", "tally", election], env)
    assert tallied.exit_code == 0, tallied.output
    assert "ballots counted: 4" in tallied.output
    assert "board verified" in tallied.output


def test_production_refuses_simulated_voters_unless_a_rehearsal(
    database_url: str, tmp_path: Path
) -> None:
    env = {
        "PARVIS_MODE": "test",
        "PARVIS_DATABASE_URL": database_url,
        "PARVIS_DATA_DIR": str(tmp_path / "var"),
    }
    ctx = context(env)
    setup_rule(ctx)
    real = _open_from_cli(env, tmp_path)
    rehearsal = _open_from_cli(env, tmp_path, rehearsal=True)
    with ctx.db.read_session() as session:
        assert service_from(ctx).status(session, service_from(ctx).get(session, rehearsal))[
            "rehearsal"
        ]
    ctx.settings = ctx.settings.model_copy(update={"mode": Mode.PRODUCTION})
    try:
        with pytest.raises(ForbiddenError, match="except in a rehearsal"):
            simulate(ctx, election_id=real, voters=1, base_url="http://127.0.0.1:9")
        # A rehearsal passes that check and meets the next one (more voters than eligible).
        with pytest.raises(InvalidInputError, match="more token"):
            simulate(ctx, election_id=rehearsal, voters=5000, base_url="http://127.0.0.1:9")
    finally:
        ctx.db.dispose()
