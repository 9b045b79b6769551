"""The application through HTTP: operations endpoints, problem+json, security headers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from parvis import migrate
from parvis.app import create_app
from parvis.kernel.errors import ConflictError, NotFoundError
from parvis.kernel.settings import Settings, load_settings
from parvis.kernel.web import api_router

SECRET_MESSAGE = "db password hunter2 at /srv/secret/path"


class Item(BaseModel):
    name: str = Field(min_length=1, max_length=20)
    count: int = Field(ge=0)


def add_probe_routes(app: FastAPI) -> None:
    """Routes that raise each kind of error, as a domain router would."""
    router = api_router(prefix="/probe")

    @router.post("/items")
    def create_item(item: Item) -> dict[str, str]:
        return {"name": item.name}

    @router.get("/missing")
    def missing() -> None:
        raise NotFoundError("no election with that id")

    @router.get("/conflict")
    def conflict() -> None:
        raise ConflictError("the election is already open")

    @router.get("/crash")
    def crash() -> None:
        raise RuntimeError(SECRET_MESSAGE)

    app.include_router(router)


@pytest.fixture
def probe_client(app: FastAPI) -> Iterator[TestClient]:
    add_probe_routes(app)
    with TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False) as client:
        yield client


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert isinstance(body["type"], str)
    assert isinstance(body["title"], str)
    assert body["title"]
    return dict(body)


def test_app_boots_and_is_ready(client: TestClient, db_kind: str) -> None:
    assert client.get("/healthz").text == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert client.get("/").status_code == 200
    assert client.get("/openapi.json").json()["info"]["title"] == "Parvis"


def test_readyz_fails_when_schema_is_behind(client: TestClient, settings: Settings) -> None:
    assert client.get("/readyz").status_code == 200
    migrate.downgrade(settings.database_url, "base")
    body = assert_problem(client.get("/readyz"), 503)
    assert "parvis db upgrade" in str(body["detail"])


def test_readyz_fails_when_database_unreachable(tmp_path: object) -> None:
    settings = load_settings(
        mode="test", database_url="postgresql+psycopg://nobody@127.0.0.1:1/none"
    )
    app = create_app(settings, check_schema=False)
    with TestClient(app) as unreachable:
        body = assert_problem(unreachable.get("/readyz"), 503)
    assert body["detail"] == "database unreachable"


def test_problem_404_and_405(probe_client: TestClient) -> None:
    assert_problem(probe_client.get("/no/such/page"), 404)
    assert_problem(probe_client.delete("/healthz"), 405)


def test_problem_413_for_oversized_body(make_settings: object, clock: object) -> None:
    from parvis.kernel.clock import FixedClock

    assert callable(make_settings)
    assert isinstance(clock, FixedClock)
    app = create_app(make_settings(max_body_bytes=1000), clock=clock)
    add_probe_routes(app)
    with TestClient(app) as small:
        body = assert_problem(
            small.post(
                "/probe/items",
                content=b"{" + b" " * 2000 + b"}",
                headers={"content-type": "application/json"},
            ),
            413,
        )
        assert "1000 bytes" in str(body["detail"])

        def chunks() -> object:
            yield b'{"name": "'
            yield b"x" * 2000
            yield b'", "count": 1}'

        # No Content-Length: the limit is enforced on the bytes actually received.
        assert_problem(
            small.post(
                "/probe/items",
                content=chunks(),  # type: ignore[arg-type]
                headers={"content-type": "application/json"},
            ),
            413,
        )
        ok = small.post("/probe/items", json={"name": "a", "count": 1})
        assert ok.status_code == 200


def test_problem_415_for_non_json_body(probe_client: TestClient) -> None:
    body = assert_problem(
        probe_client.post("/probe/items", content="name=a", headers={"content-type": "text/plain"}),
        415,
    )
    assert "application/json" in str(body["detail"])


def test_problem_422_lists_field_errors_without_echoing_input(probe_client: TestClient) -> None:
    response = probe_client.post("/probe/items", json={"name": "", "count": -5, "password": "p4ss"})
    body = assert_problem(response, 422)
    errors = body["errors"]
    assert isinstance(errors, list)
    assert {tuple(e["loc"]) for e in errors} == {("body", "name"), ("body", "count")}
    assert all(set(e) == {"loc", "msg", "type"} for e in errors)
    assert "p4ss" not in response.text
    malformed = probe_client.post(
        "/probe/items", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_problem(malformed, 422)


def test_domain_errors_map_to_their_status(probe_client: TestClient) -> None:
    missing = assert_problem(probe_client.get("/probe/missing"), 404)
    assert missing["detail"] == "no election with that id"
    assert str(missing["type"]).endswith("/not-found")
    assert_problem(probe_client.get("/probe/conflict"), 409)


def test_unhandled_exception_leaks_nothing(
    probe_client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    response = probe_client.get("/probe/crash")
    body = assert_problem(response, 500)
    assert set(body) == {"type", "title", "status", "detail"}
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text
    assert "RuntimeError" not in response.text
    assert all("hunter2" not in r.getMessage() for r in caplog.records)


EXPECTED_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


@pytest.mark.parametrize("path", ["/", "/healthz", "/readyz", "/no/such", "/openapi.json"])
def test_security_headers_on_pages_and_apis(client: TestClient, path: str) -> None:
    response = client.get(path)
    for name, value in EXPECTED_HEADERS.items():
        assert response.headers[name] == value
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "default-src 'none'" in csp
    assert "unsafe-inline" not in csp
    assert "strict-transport-security" not in response.headers


def test_hsts_when_behind_tls(make_settings: object, clock: object) -> None:
    assert callable(make_settings)
    app = create_app(make_settings(behind_tls=True, hsts_max_age=600), clock=clock)  # type: ignore[arg-type]
    with TestClient(app) as tls:
        assert tls.get("/healthz").headers["strict-transport-security"] == (
            "max-age=600; includeSubDomains"
        )


def test_metrics_in_prometheus_format(client: TestClient) -> None:
    client.get("/healthz")
    text = client.get("/metrics").text
    assert "# TYPE parvis_http_requests_total counter" in text
    line = next(
        line
        for line in text.splitlines()
        if line.startswith('parvis_http_requests_total{method="GET",route="/healthz",status="200"}')
    )
    assert float(line.rsplit(" ", 1)[1]) >= 1


def test_pages_are_french_by_default_and_english_on_request(client: TestClient) -> None:
    french = client.get("/")
    assert '<html lang="fr">' in french.text
    assert "Bienvenue sur Parvis" in french.text
    english = client.get("/?lang=en")
    assert '<html lang="en">' in english.text
    assert "Welcome to Parvis" in english.text
    # the choice sticks through a cookie
    assert "Welcome to Parvis" in client.get("/").text
    assert json.loads(client.get("/readyz").text)["status"] == "ready"
