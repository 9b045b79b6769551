"""The one definition reader (ballot/definition_reader.py) on its three paths — staff pages,
``parvis election create FILE`` and the staff and platform JSON APIs — on SQLite and
PostgreSQL: deep nesting, "billion laughs" aliases, YAML tags, duplicate keys and oversized
inputs are each a precise refusal (a French page, one CLI line, a 422 problem+json), never
a 500 or a traceback, and nothing is written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ballot.definition_reader import (
    MAX_DEFINITION_BYTES,
    MAX_DEPTH,
    UnreadableDefinitionError,
    read_definition,
)
from ballot.service import service_from
from parvis.cli import build_cli
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from tests.ballot.elections import OFFICER, definition, session_cookie, setup_rule
from tests.ballot.test_platform_api import bearer, keys
from tests.support.auth import sign_in

HOME = "/staff/scrutins"

#: "Billion laughs": nine levels of ten aliases each, 10⁹ strings once expanded.
LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(8)
)


def nested(depth: int) -> str:
    return "title: " + "[" * depth + "]" * depth


#: (name, text, French reason on the page, English reason in the CLI and the API)
BAD_TEXTS: list[tuple[str, bytes, str, str]] = [
    (
        "nested",
        nested(MAX_DEPTH + 5).encode(),
        f"la définition a plus de {MAX_DEPTH} niveaux d’imbrication",
        f"nested more than {MAX_DEPTH} levels deep",
    ),
    (
        "very deeply nested",
        nested(100_000).encode(),
        f"la définition a plus de {MAX_DEPTH} niveaux d’imbrication",
        f"nested more than {MAX_DEPTH} levels deep",
    ),
    (
        "billion laughs",
        LAUGHS.encode(),
        "les ancres (&amp;nom) ne sont pas acceptées (ligne 1, colonne 4)",
        "anchors (&name) are not accepted (line 1, column 4)",
    ),
    (
        "python tag",
        b"title: !!python/object/apply:os.system [echo]\n",
        "les étiquettes YAML (!nom) ne sont pas acceptées (ligne 1, colonne 8)",
        "YAML tags (!name) are not accepted (line 1, column 8)",
    ),
    (
        "duplicate key",
        b"title: a\ntitle: b\n",
        "la clé &#39;title&#39; apparaît deux fois (ligne 2, colonne 1)",
        "the key 'title' appears twice (line 2, column 1)",
    ),
    (
        "oversized",
        b"title: " + b"x" * MAX_DEFINITION_BYTES,
        f"la définition dépasse {MAX_DEFINITION_BYTES} octets",
        f"the definition is larger than {MAX_DEFINITION_BYTES} bytes",
    ),
]


@pytest.mark.parametrize(
    ("name", "text", "_fr", "reason"), BAD_TEXTS, ids=[c[0] for c in BAD_TEXTS]
)
def test_the_reader_refuses_what_no_definition_needs(
    name: str, text: bytes, _fr: str, reason: str
) -> None:
    with pytest.raises(UnreadableDefinitionError) as refused:
        read_definition(text)
    assert reason in refused.value.detail, name
    assert refused.value.field is None


def test_the_reader_reads_yaml_and_json_definitions() -> None:
    data = definition(FixedClock())
    assert read_definition(yaml.safe_dump(data, allow_unicode=True).encode()) == data
    as_json = json.dumps(data).encode()
    assert read_definition(as_json) == data
    assert read_definition(as_json, syntax="json") == data
    assert read_definition(b"\xef\xbb\xbf" + as_json) == data  # a byte order mark is fine
    # Nesting up to the limit is fine; one more level is not.
    assert read_definition(f"a: {'[' * (MAX_DEPTH - 1)}{']' * (MAX_DEPTH - 1)}".encode())
    with pytest.raises(UnreadableDefinitionError):
        read_definition(f"a: {'[' * MAX_DEPTH}{']' * MAX_DEPTH}".encode())
    with pytest.raises(UnreadableDefinitionError, match="nested more than"):
        read_definition(b'{"a": ' + b"[" * MAX_DEPTH + b"]" * MAX_DEPTH + b"}", syntax="json")
    # Brackets inside JSON strings are text, not nesting.
    assert read_definition(b'{"a": "[[[[[[[[[[[[[[[[[[[[\\"[[[["}', syntax="json") == {
        "a": '[[[[[[[[[[[[[[[[[[[["[[[['
    }
    for bad, reason in [
        (b'{"a": NaN}', "NaN is not a JSON number"),
        (b'{"a": 1, "a": 2}', "the key 'a' appears twice"),
        (b"title: yaml", "not JSON (line 1, column 1)"),
    ]:
        with pytest.raises(
            UnreadableDefinitionError, match=reason.replace("(", r"\(").replace(")", r"\)")
        ):
            read_definition(bad, syntax="json")


def no_election(ctx: AppContext) -> None:
    with ctx.db.read_session() as db:
        assert service_from(ctx).elections(db, drafts=True) == []


def test_pages_explain_each_bad_text_in_french(
    app: FastAPI, client: TestClient, clock: FixedClock
) -> None:
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    csrf = sign_in(client, app, OFFICER).csrf_token
    for name, text, french, _en in BAD_TEXTS:
        for as_file in (False, True):
            response = client.post(
                f"{HOME}/nouveau",
                data={"csrf_token": csrf, "definition": "" if as_file else text.decode()},
                files={"definition_file": ("d.yaml", text, "application/yaml")}
                if as_file
                else None,
                follow_redirects=False,
            )
            assert response.status_code == 422, (name, as_file, response.text[:300])
            assert response.headers["content-type"].startswith("text/html")
            assert "La définition n’est pas valide ; rien n’a été enregistré" in response.text
            assert french in response.text, (name, as_file)
    no_election(ctx)


def test_the_apis_answer_422_problems(app: FastAPI, client: TestClient, clock: FixedClock) -> None:
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    cookie_name, cookie = session_cookie(ctx, OFFICER)
    platform, _other = keys(ctx, client)
    good = json.dumps(definition(clock)).encode()
    bodies = [
        ("nested", b'{"title": ' + b"[" * 100 + b"]" * 100 + b"}", "nested more than"),
        (
            "very deeply nested",
            b'{"title": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
            "nested more than",
        ),
        ("oversized", good[:-1] + b', "x": "' + b"x" * MAX_DEFINITION_BYTES + b'"}', "larger than"),
        ("duplicate key", b'{"title": "a", "title": "b"}', "the key 'title' appears twice"),
        ("NaN", b'{"title": NaN}', "NaN is not a JSON number"),
        ("YAML", LAUGHS.encode(), "not JSON"),
    ]
    for name, body, reason in bodies:
        for method, path, headers in [
            ("POST", "/elections", {"Cookie": f"{cookie_name}={cookie}"}),
            ("POST", "/api/ballot/v1/elections", bearer(platform)),
        ]:
            response = client.request(
                method,
                path,
                content=body,
                headers={**headers, "Content-Type": "application/json"},
            )
            assert response.status_code == 422, (name, path, response.text[:300])
            assert response.headers["content-type"] == "application/problem+json"
            problem: dict[str, Any] = response.json()
            assert problem["type"].endswith("/invalid-election"), problem
            assert reason in problem["detail"], (name, problem)
    # Not JSON at all is still 415, and a good definition still works.
    plain = client.post(
        "/elections",
        content=good,
        headers={"Cookie": f"{cookie_name}={cookie}", "Content-Type": "text/plain"},
    )
    assert plain.status_code == 415
    no_election(ctx)
    created = client.post(
        "/elections",
        content=good,
        headers={"Cookie": f"{cookie_name}={cookie}", "Content-Type": "application/json"},
    )
    assert created.status_code == 201, created.text


def test_the_cli_says_one_line(database_url: str, tmp_path: Path) -> None:
    env = {
        "PARVIS_MODE": "test",
        "PARVIS_DATABASE_URL": database_url,
        "PARVIS_DATA_DIR": str(tmp_path / "var"),
    }
    runner = CliRunner()
    for name, text, _fr, reason in BAD_TEXTS:
        source = tmp_path / "election.yaml"
        source.write_bytes(text)
        result = runner.invoke(build_cli(), ["election", "create", str(source)], env=env)
        assert result.exit_code == 1, (name, result.output)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert lines == [f"error: {source}: {reason}"] or (
            len(lines) == 1 and lines[0].startswith(f"error: {source}: {reason}")
        ), (name, result.stderr[:500])
        assert "Traceback" not in result.output


def test_limits_come_after_authentication_and_a_huge_form_is_a_page(
    app: FastAPI, client: TestClient, clock: FixedClock
) -> None:
    ctx: AppContext = app.state.ctx
    deep = b'{"title": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    # Nobody signed in: 401 first, whatever the body (the body is not even read).
    anonymous = client.post(
        "/elections", content=deep, headers={"Content-Type": "application/json"}
    )
    assert anonymous.status_code == 401
    assert client.post("/api/ballot/v1/elections", content=deep).status_code == 401
    # A form with more fields than 50 questions of 100 options: a page, not a 400.
    csrf = sign_in(client, app, OFFICER).csrf_token
    fields = {"csrf_token": csrf, "form": "fields"}
    fields.update({f"f{i}": "" for i in range(25_001)})  # under the 1 MB body limit
    huge = client.post(f"{HOME}/nouveau", data=fields, follow_redirects=False)
    assert huge.status_code == 413
    assert huge.headers["content-type"].startswith("text/html")
    assert "Le formulaire a trop de champs" in huge.text
    no_election(ctx)


def test_the_openapi_document_still_describes_the_definition_body(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path, method in [
        ("/elections", "post"),
        ("/elections/{election_id}", "put"),
        ("/api/ballot/v1/elections", "post"),
        ("/api/ballot/v1/elections/{election_id}", "put"),
    ]:
        body = paths[path][method]["requestBody"]
        assert body["required"] is True
        assert body["content"]["application/json"]["schema"] == {"type": "object"}
