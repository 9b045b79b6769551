"""A Starlette/FastAPI adapter for Authlib's authorization server, modelled on Authlib's
Flask adapter (``authlib/integrations/flask_oauth2``): a request in, ``(status, body,
headers)`` out.

Authlib's server is synchronous and reads the request's query and form as mappings, while
Starlette reads bodies asynchronously; :func:`read_request` therefore reads the body first
and gives Authlib a fully materialised :class:`StarletteOAuth2Request`. The response stays a
plain triple so that the protocol code never depends on a web framework; :func:`to_response`
turns it into a Starlette response at the edge.

Where the Flask adapter leans on Werkzeug, the same semantics are kept here:

- ``payload.data`` is Werkzeug's ``request.values`` (``FlaskOAuth2Payload.data`` in
  ``authlib/integrations/flask_oauth2/requests.py``): a ``CombinedMultiDict`` of the query
  then the form, whose lookup returns the *first* value found — the query string wins over
  the body, and a repeated parameter gives its first occurrence;
- headers are seen as a WSGI server hands them to Werkzeug: repeated field lines combined
  into one value, comma-separated in order (RFC 9110 §5.3), ``Set-Cookie`` excepted.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from authlib.oauth2 import AuthorizationServer as _AuthorizationServer
from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Payload, OAuth2Request
from starlette.datastructures import Headers, MultiDict
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import Response

__all__ = [
    "FormBodyError",
    "OAuthResponse",
    "StarletteAuthorizationServer",
    "StarletteOAuth2Request",
    "combined_headers",
    "read_request",
    "to_response",
]

OAuthResponse = tuple[int, Any, list[tuple[str, str]]]
_FORM = "application/x-www-form-urlencoded"
#: Starlette's form parser limits (``Request.form`` defaults), named here for the messages.
MAX_FIELDS = 1000
MAX_FIELD_BYTES = 1024 * 1024


class FormBodyError(HTTPException):
    """A form body over the parser's limits (more than :data:`MAX_FIELDS` fields, or a field
    over :data:`MAX_FIELD_BYTES`).

    An OAuth endpoint answers it with :meth:`oauth_response`: RFC 6749 §5.2
    ``invalid_request`` ("the request … is otherwise malformed") as JSON, 400. It is also
    Starlette's ``HTTPException(400)``, so a caller that does not catch it (a page, such as
    RP-initiated logout) still answers 400 through the application's handler, never 500.
    The description is the parser's own (counts and sizes only, never the body)."""

    def __init__(self, reason: str) -> None:
        super().__init__(status_code=400, detail=reason)
        self.reason = reason

    def oauth_error(self) -> InvalidRequestError:
        return InvalidRequestError(f"malformed form body: {self.reason}")

    def oauth_response(self) -> Response:
        status, body, headers = self.oauth_error()()
        return to_response((int(status), body, list(headers)))


def combined_headers(pairs: Mapping[str, str] | Iterable[tuple[str, str]]) -> Headers:
    """Headers with each repeated field combined into one comma-separated value, in order
    (RFC 9110 §5.3: "A recipient MAY combine multiple field lines within a field section
    that have the same field name into one field line … by appending each subsequent field
    line value to the initial field line value in order, separated by a comma"), except
    ``Set-Cookie``, whose lines stay separate (RFC 9110 §5.3 note, RFC 6265 §3).

    Folding keeps what was sent: ``dict(headers)`` kept one line only, so a second
    ``Authorization`` line was silently dropped; combined, two credentials become one value
    that no scheme parses, and the request fails authentication (RFC 6749 §2.3: a client
    "MUST NOT use more than one authentication method in each request")."""
    if isinstance(pairs, Headers):
        items: Iterable[tuple[str, str]] = pairs.items()  # every line, repeats included
    elif isinstance(pairs, Mapping):
        items = pairs.items()
    else:
        items = pairs
    combined: dict[str, list[str]] = {}
    cookies: list[str] = []
    for name, value in items:
        key = name.lower()
        if key == "set-cookie":
            cookies.append(value)
        else:
            combined.setdefault(key, []).append(value)
    raw = [(k.encode("latin-1"), ", ".join(v).encode("latin-1")) for k, v in combined.items()]
    raw += [(b"set-cookie", c.encode("latin-1")) for c in cookies]
    return Headers(raw=raw)


class StarlettePayload(OAuth2Payload):  # type: ignore[misc]  # Authlib is untyped
    """Query and form parameters together (RFC 6749 endpoints read either), looked up as
    Werkzeug's ``request.values`` that Authlib's Flask adapter uses: query first."""

    def __init__(self, query: MultiDict, form: MultiDict) -> None:
        self._query = query
        self._form = form

    @property
    def data(self) -> dict[str, str]:
        """The first value of each parameter, the query string before the body
        (``CombinedMultiDict([args, form])[key]`` in Werkzeug)."""
        merged: dict[str, str] = {}
        for source in (self._query, self._form):
            for key, value in source.multi_items():
                merged.setdefault(key, value)
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
        headers: Mapping[str, str] | Iterable[tuple[str, str]],
        query: Iterable[tuple[str, str]] = (),
        form: Iterable[tuple[str, str]] = (),
    ) -> None:
        super().__init__(method=method, uri=uri, headers=combined_headers(headers))
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
    """Read a Starlette request (query, and the body when it is a form) for Authlib.

    Raises :class:`FormBodyError` when the form is over the parser's limits."""
    form: list[tuple[str, str]] = []
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if request.method == "POST" and media == _FORM:
        try:
            data = await request.form(max_fields=MAX_FIELDS, max_part_size=MAX_FIELD_BYTES)
        except MultiPartException as exc:  # raised as such outside an application
            raise FormBodyError(exc.message) from None
        except HTTPException as exc:  # Starlette's 400 for the same, inside an application
            if exc.status_code != 400:
                raise
            raise FormBodyError(str(exc.detail)) from None
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
    JSON (RFC 6749 §5.1/§5.2), and token responses are never cached (§5.1).

    A non-empty text body without a ``Content-Type`` is sent as ``text/plain;
    charset=utf-8``: RFC 9110 §8.3 says a sender "SHOULD generate a Content-Type header
    field" for content; without one the recipient "MAY either assume a media type of
    application/octet-stream … or examine the data to determine its type"."""
    status, body, headers = result
    names = {k.lower() for k, _ in headers}
    out = list(headers)
    if isinstance(body, dict):
        body = json.dumps(body)
        if "content-type" not in names:
            out.append(("Content-Type", "application/json"))
    elif body and "content-type" not in names:
        out.append(("Content-Type", "text/plain; charset=utf-8"))
    if "cache-control" not in names:
        out.append(("Cache-Control", "no-store"))
    response = Response(content=body or b"", status_code=status)
    for key, value in out:
        response.headers.append(key, value)
    return response
