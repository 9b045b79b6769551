"""A Starlette/FastAPI adapter for Authlib's authorization server, modelled on Authlib's
Flask adapter (``authlib/integrations/flask_oauth2``): a request in, ``(status, body,
headers)`` out.

Authlib's server is synchronous and reads the request's query and form as mappings, while
Starlette reads bodies asynchronously; :func:`read_request` therefore reads the body first
and gives Authlib a fully materialised :class:`StarletteOAuth2Request`. The response stays a
plain triple so that the protocol code never depends on a web framework; :func:`to_response`
turns it into a Starlette response at the edge.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from authlib.oauth2 import AuthorizationServer as _AuthorizationServer
from authlib.oauth2.rfc6749 import OAuth2Payload, OAuth2Request
from starlette.datastructures import Headers, MultiDict
from starlette.requests import Request
from starlette.responses import Response

__all__ = [
    "OAuthResponse",
    "StarletteAuthorizationServer",
    "StarletteOAuth2Request",
    "read_request",
    "to_response",
]

OAuthResponse = tuple[int, Any, list[tuple[str, str]]]
_FORM = "application/x-www-form-urlencoded"


class StarlettePayload(OAuth2Payload):  # type: ignore[misc]  # Authlib is untyped
    """Query and form parameters together (RFC 6749 endpoints read either)."""

    def __init__(self, query: MultiDict, form: MultiDict) -> None:
        self._query = query
        self._form = form

    @property
    def data(self) -> dict[str, str]:
        merged = dict(self._query.items())
        merged.update(self._form.items())
        return merged

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        values: defaultdict[str, list[str]] = defaultdict(list)
        for source in (self._query, self._form):
            for key, value in source.multi_items():
                values[key].append(value)
        return values


class StarletteOAuth2Request(OAuth2Request):  # type: ignore[misc]  # Authlib is untyped
    """An already-read request: method, URL, headers, query and form."""

    def __init__(
        self,
        *,
        method: str,
        uri: str,
        headers: Mapping[str, str],
        query: Iterable[tuple[str, str]] = (),
        form: Iterable[tuple[str, str]] = (),
    ) -> None:
        super().__init__(method=method, uri=uri, headers=Headers(headers=dict(headers)))
        self._query = MultiDict(list(query))
        self._form = MultiDict(list(form))
        self.payload = StarlettePayload(self._query, self._form)

    @property
    def args(self) -> MultiDict:
        return self._query

    @property
    def form(self) -> MultiDict:
        return self._form


async def read_request(request: Request) -> StarletteOAuth2Request:
    """Read a Starlette request (query, and the body when it is a form) for Authlib."""
    form: list[tuple[str, str]] = []
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if request.method == "POST" and media == _FORM:
        data = await request.form()
        form = [(k, v) for k, v in data.multi_items() if isinstance(v, str)]
    return StarletteOAuth2Request(
        method=request.method,
        uri=str(request.url),
        headers=request.headers,
        query=request.query_params.multi_items(),
        form=form,
    )


class StarletteAuthorizationServer(_AuthorizationServer):  # type: ignore[misc]
    """Authlib's server with our request type in and ``(status, body, headers)`` out."""

    def create_oauth2_request(self, request: Any) -> StarletteOAuth2Request:
        if not isinstance(request, StarletteOAuth2Request):
            raise TypeError("pass the result of identity.oidc.starlette.read_request")
        return request

    def create_json_request(self, request: Any) -> StarletteOAuth2Request:
        return self.create_oauth2_request(request)

    def handle_response(
        self, status: int, body: Any, headers: Iterable[tuple[str, str]]
    ) -> OAuthResponse:
        return int(status), body, list(headers)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        # Authlib's Flask adapter turns these into blinker signals; the provider's audit
        # trail is written by the use cases themselves, so nothing listens here.
        del name, args, kwargs


def to_response(result: OAuthResponse) -> Response:
    """The Starlette response for a ``(status, body, headers)`` triple; dict bodies become
    JSON (RFC 6749 §5.1/§5.2), and token responses are never cached (§5.1)."""
    status, body, headers = result
    names = {k.lower() for k, _ in headers}
    out = list(headers)
    if isinstance(body, dict):
        body = json.dumps(body)
        if "content-type" not in names:
            out.append(("Content-Type", "application/json"))
    if "cache-control" not in names:
        out.append(("Cache-Control", "no-store"))
    response = Response(content=body or b"", status_code=status)
    for key, value in out:
        response.headers.append(key, value)
    return response
