"""The Starlette adapter on its own (style.md, "Layout and layering": a protocol core without
a web framework, and a small adapter of our own beside it — request in, ``(status, body,
headers)`` out — tested on its own).

A bare Starlette application (no provider, no database) reads requests with
:func:`read_request` and answers what Authlib saw, or runs Authlib's own server without any
grant; :func:`to_response` turns the triples into responses.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Request
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from identity.oidc.starlette import (
    MAX_FIELD_BYTES,
    MAX_FIELDS,
    FormBodyError,
    StarletteAuthorizationServer,
    StarletteOAuth2Request,
    combined_headers,
    read_request,
    to_response,
)
from parvis.middleware import BodyLimitMiddleware

BASE = "https://parvis.example.fr"
server = StarletteAuthorizationServer(scopes_supported=None)


async def echo(request: Request) -> Response:
    oauth = await read_request(request)
    assert isinstance(oauth, OAuth2Request)
    payload = oauth.payload
    return JSONResponse(
        {
            "method": oauth.method,
            "uri": oauth.uri,
            "authorization": oauth.headers.get("Authorization"),
            "content_type": oauth.headers.get("content-type"),
            "args": list(oauth.args.multi_items()),
            "form": list(oauth.form.multi_items()),
            "data": payload.data,
            "datalist": dict(payload.datalist),
            "client_id": payload.client_id,
            "grant_type": payload.grant_type,
            "scope": payload.scope,
            "redirect_uri": payload.redirect_uri,
        }
    )


async def token(request: Request) -> Response:
    return to_response(server.create_token_response(await read_request(request)))


async def oauth_token(request: Request) -> Response:
    """A token endpoint as Parvis's are written: a form over the limits is answered as an
    OAuth error."""
    try:
        oauth = await read_request(request)
    except FormBodyError as exc:
        return exc.oauth_response()
    return to_response(server.create_token_response(oauth))


async def headers_seen(request: Request) -> Response:
    oauth = await read_request(request)
    return JSONResponse(
        {
            "authorization": oauth.headers.get("authorization"),
            "accept": oauth.headers.get("Accept"),
            "cookie": oauth.headers.getlist("set-cookie"),
            "items": [list(item) for item in oauth.headers.items()],
        }
    )


async def triple(request: Request) -> Response:
    """Answers the triple the test asks for (status, body kind, headers)."""
    kind = request.query_params["kind"]
    results: dict[str, Any] = {
        "json": (200, {"access_token": "abc", "token_type": "Bearer"}, []),
        "json-typed": (
            400,
            {"error": "invalid_grant"},
            [("Content-Type", "application/json;charset=UTF-8"), ("Cache-Control", "private")],
        ),
        "redirect": (302, "", [("Location", "https://rp.example/cb?code=x&iss=y")]),
        "text": (200, "plain body", [("Content-Type", "text/plain"), ("X-A", "1"), ("X-A", "2")]),
        "untyped-text": (200, "plain body", []),
        "untyped-bytes": (200, b"\x00\x01", [("X-A", "1")]),
    }
    return to_response(server.handle_response(*results[kind]))


app = Starlette(
    routes=[
        Route("/echo", echo, methods=["GET", "POST"]),
        Route("/token", token, methods=["POST"]),
        Route("/oauth-token", oauth_token, methods=["POST"]),
        Route("/headers", headers_seen, methods=["GET", "POST"]),
        Route("/triple", triple),
    ]
)


@pytest.fixture
def http() -> Iterator[TestClient]:
    with TestClient(app, base_url=BASE) as client:
        yield client


def test_get_query_is_read_as_args_and_payload(http: TestClient) -> None:
    seen = http.get(
        "/echo",
        params={"client_id": "decidim", "scope": "openid age", "redirect_uri": "https://rp/cb"},
        headers={"Authorization": "Basic abc"},
    ).json()
    assert seen["method"] == "GET"
    assert seen["uri"].startswith(f"{BASE}/echo?client_id=decidim&")
    assert seen["authorization"] == "Basic abc"
    assert seen["args"] == [
        ["client_id", "decidim"],
        ["scope", "openid age"],
        ["redirect_uri", "https://rp/cb"],
    ]
    assert seen["form"] == []
    assert (seen["client_id"], seen["scope"], seen["redirect_uri"]) == (
        "decidim",
        "openid age",
        "https://rp/cb",
    )


def test_post_form_and_query_together(http: TestClient) -> None:
    seen = http.post(
        "/echo?client_id=from-query&extra=1",
        data={"grant_type": "authorization_code", "client_id": "from-body"},
    ).json()
    assert seen["method"] == "POST"
    assert seen["form"] == [["grant_type", "authorization_code"], ["client_id", "from-body"]]
    assert seen["args"] == [["client_id", "from-query"], ["extra", "1"]]
    # The query wins in ``data``, as Werkzeug's ``request.values`` that Authlib's Flask
    # adapter returns (authlib/integrations/flask_oauth2/requests.py); ``datalist`` keeps
    # both so a repeated parameter is seen (RFC 6749 §3.1: "Request and response
    # parameters MUST NOT be included more than once").
    assert seen["client_id"] == "from-query"
    assert seen["data"]["client_id"] == "from-query"
    assert seen["datalist"]["client_id"] == ["from-query", "from-body"]
    assert seen["grant_type"] == "authorization_code"


def test_a_repeated_parameter_gives_its_first_value_like_werkzeug(http: TestClient) -> None:
    """``CombinedMultiDict.__getitem__`` returns the first value: in the query, then in
    the body (a later copy never overrides an earlier one)."""
    seen = http.post(
        "/echo?scope=openid&scope=age",
        content="scope=residence&state=s1&state=s2",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    ).json()
    assert seen["scope"] == "openid"
    assert seen["data"] == {"scope": "openid", "state": "s1"}
    assert seen["datalist"]["scope"] == ["openid", "age", "residence"]
    assert seen["datalist"]["state"] == ["s1", "s2"]


def test_repeated_form_parameter_is_visible(http: TestClient) -> None:
    seen = http.post(
        "/echo",
        content="scope=openid&scope=age",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    ).json()
    assert seen["datalist"]["scope"] == ["openid", "age"]


@pytest.mark.parametrize(
    "content_type",
    [
        "application/x-www-form-urlencoded; charset=UTF-8",
        "Application/X-WWW-Form-URLEncoded",
    ],
)
def test_form_media_type_with_parameters_or_other_case(http: TestClient, content_type: str) -> None:
    seen = http.post(
        "/echo", content="grant_type=client_credentials", headers={"Content-Type": content_type}
    ).json()
    assert seen["form"] == [["grant_type", "client_credentials"]]


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b'{"grant_type": "client_credentials"}'),
        ("text/plain", b"grant_type=client_credentials"),
        ("multipart/form-data; boundary=x", b'--x\r\nContent-Disposition: form-data; name="a"'),
        ("", b"grant_type=client_credentials"),
    ],
)
def test_other_bodies_are_not_read_as_parameters(
    http: TestClient, content_type: str, body: bytes
) -> None:
    """RFC 6749 §3.2: the token endpoint takes ``application/x-www-form-urlencoded`` only;
    any other body (JSON, text, multipart, none declared) carries no parameter."""
    headers = {"Content-Type": content_type} if content_type else {}
    response = http.post("/echo", content=body, headers=headers)
    assert response.status_code == 200
    seen = response.json()
    assert seen["form"] == []
    assert seen["grant_type"] is None
    refused = http.post("/token", content=body, headers=headers)
    assert refused.status_code == 400
    assert refused.json()["error"] == "unsupported_grant_type"


def test_a_get_body_is_ignored(http: TestClient) -> None:
    seen = http.request(
        "GET",
        "/echo",
        content="client_id=sneaky",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    ).json()
    assert seen["form"] == []
    assert seen["client_id"] is None


FORM = {"Content-Type": "application/x-www-form-urlencoded"}
TOO_MANY = "&".join(f"f{n}=x" for n in range(MAX_FIELDS + 1))
TOO_LARGE = "client_id=" + "a" * (MAX_FIELD_BYTES + 1)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (TOO_MANY, f"Too many fields. Maximum number of fields is {MAX_FIELDS}."),
        (TOO_LARGE, "Field exceeded maximum size of 1024KB."),
    ],
    ids=["too-many-fields", "field-too-large"],
)
def test_a_form_over_the_limits_is_an_rfc_6749_invalid_request(
    http: TestClient, body: str, reason: str
) -> None:
    """Starlette's form parser bounds what the adapter materialises (1000 fields, 1 MiB per
    field). Over that an OAuth endpoint answers RFC 6749 §5.2 ``invalid_request`` as JSON,
    never cached, not Starlette's plain-text 400."""
    response = http.post("/oauth-token", content=body, headers=FORM)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    assert response.json() == {
        "error": "invalid_request",
        "error_description": f"malformed form body: {reason}",
    }
    # A caller that does not catch the error still answers 400 (Starlette's HTTPException).
    uncaught = http.post("/echo", content=body, headers=FORM)
    assert uncaught.status_code == 400
    assert uncaught.text == reason


def test_a_form_at_the_limits_is_read(http: TestClient) -> None:
    """The bounds are inclusive: exactly 1000 fields are read (no off-by-one refusal)."""
    body = "&".join(f"f{n}=x" for n in range(MAX_FIELDS))
    seen = http.post("/echo", content=body, headers=FORM).json()
    assert len(seen["form"]) == MAX_FIELDS


def test_the_application_body_limit_stops_large_bodies_before_the_adapter() -> None:
    """In Parvis the composition root's BodyLimitMiddleware runs first: the adapter never
    reads a body over ``PARVIS_MAX_BODY_BYTES`` (413), declared or streamed."""
    limited = BodyLimitMiddleware(app, max_bytes=1024, extra_headers=[])
    with TestClient(limited, base_url=BASE) as client:
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        small = client.post("/echo", content="client_id=a", headers=form)
        assert small.status_code == 200
        assert small.json()["client_id"] == "a"
        big = client.post("/echo", content="client_id=" + "a" * 2000, headers=form)
        assert big.status_code == 413

        def chunks() -> Iterator[bytes]:
            yield b"client_id="
            for _ in range(10):
                yield b"a" * 200

        streamed = client.post("/echo", content=chunks(), headers=form)
        assert streamed.status_code == 413


def test_authlib_errors_become_rfc_6749_json(http: TestClient) -> None:
    """Authlib's own server, with no grant registered: its error triple goes out as an
    RFC 6749 §5.2 JSON error, never cached."""
    response = http.post("/token", data={"grant_type": "password"})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-store"
    assert response.json()["error"] == "unsupported_grant_type"


def test_triples_become_responses(http: TestClient) -> None:
    ok = http.get("/triple", params={"kind": "json"})
    assert ok.status_code == 200
    assert ok.json() == {"access_token": "abc", "token_type": "Bearer"}
    assert ok.headers["content-type"] == "application/json"
    assert ok.headers["cache-control"] == "no-store"  # RFC 6749 §5.1
    typed = http.get("/triple", params={"kind": "json-typed"})
    assert typed.status_code == 400
    assert typed.headers.get_list("content-type") == ["application/json;charset=UTF-8"]
    assert typed.headers.get_list("cache-control") == ["private"], "given headers are kept"
    redirect = http.get("/triple", params={"kind": "redirect"}, follow_redirects=False)
    assert redirect.status_code == 302
    assert redirect.headers["location"] == "https://rp.example/cb?code=x&iss=y"
    assert redirect.content == b""
    text = http.get("/triple", params={"kind": "text"})
    assert text.text == "plain body"
    assert text.headers.get_list("x-a") == ["1", "2"], "repeated headers are all sent"


@pytest.mark.parametrize("kind", ["untyped-text", "untyped-bytes"])
def test_a_body_without_content_type_is_sent_as_text(http: TestClient, kind: str) -> None:
    """RFC 9110 §8.3: content goes out with a Content-Type (``text/plain; charset=utf-8``
    when the triple gave none), never for the recipient to guess."""
    response = http.get("/triple", params={"kind": kind})
    assert response.status_code == 200
    assert response.headers.get_list("content-type") == ["text/plain; charset=utf-8"]
    assert response.content in {b"plain body", b"\x00\x01"}


def test_an_empty_body_gets_no_content_type(http: TestClient) -> None:
    redirect = http.get("/triple", params={"kind": "redirect"}, follow_redirects=False)
    assert "content-type" not in redirect.headers


def test_repeated_request_headers_are_combined_not_dropped(http: TestClient) -> None:
    """RFC 9110 §5.3: repeated field lines are one comma-separated value, in order (as a
    WSGI server gives them to Werkzeug); ``Set-Cookie`` lines stay apart."""
    seen = http.get(
        "/headers",
        headers=[
            ("Accept", "application/json"),
            ("Authorization", "Basic YTpi"),
            ("Accept", "text/html"),
            ("Authorization", "Basic Yzpk"),
        ],
    ).json()
    assert seen["authorization"] == "Basic YTpi, Basic Yzpk"
    assert seen["accept"] == "application/json, text/html"
    assert ["authorization", "Basic YTpi, Basic Yzpk"] in seen["items"]
    assert [k for k, _ in seen["items"]].count("accept") == 1
    headers = combined_headers(
        [("Set-Cookie", "a=1"), ("X-Y", "1"), ("set-cookie", "b=2"), ("x-y", "2")]
    )
    assert headers.getlist("set-cookie") == ["a=1", "b=2"]
    assert headers["x-y"] == "1, 2"
    assert combined_headers({"Content-Type": "text/plain"})["content-type"] == "text/plain"


def test_two_basic_credentials_are_not_one_client() -> None:
    """A second ``Authorization`` line used to be dropped (``dict(headers)`` kept one);
    combined, the two credentials are no Basic value Authlib can parse: no client."""
    request = StarletteOAuth2Request(
        method="POST",
        uri=f"{BASE}/token",
        headers=[("Authorization", "Basic YTpi"), ("Authorization", "Basic Yzpk")],
        form=[("grant_type", "client_credentials")],
    )
    assert extract_basic_authorization(request.headers) == (None, None)


def test_error_with_redirect_uri_is_a_302_triple() -> None:
    error = InvalidRequestError("bad", redirect_uri="https://rp.example/cb", state="s1")
    status, body, headers = server.handle_error_response(None, error)
    assert (status, body) == (302, "")
    assert headers == [
        ("Location", "https://rp.example/cb?error=invalid_request&error_description=bad&state=s1")
    ]


def test_only_requests_read_by_the_adapter_are_accepted() -> None:
    """Authlib must never see a half-read Starlette request (its body is read asynchronously)."""
    with pytest.raises(TypeError, match="read_request"):
        server.create_oauth2_request(object())
    request = StarletteOAuth2Request(
        method="POST",
        uri=f"{BASE}/token",
        headers={"content-type": "application/x-www-form-urlencoded"},
        form=[("grant_type", "client_credentials")],
    )
    assert server.create_oauth2_request(request) is request
    assert server.create_json_request(request) is request
    assert request.payload.grant_type == "client_credentials"
    assert request.args.multi_items() == []
