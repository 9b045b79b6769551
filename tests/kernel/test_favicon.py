"""The site icon: linked from every page of the base layout, cached by browsers."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from fastapi.testclient import TestClient

from parvis.app import FAVICON_CACHE
from parvis.kernel.sessions import cookie_name


def test_pages_link_the_favicon(client: TestClient) -> None:
    assert '<link rel="icon" href="/favicon.svg" type="image/svg+xml">' in client.get("/").text


def test_favicon_is_an_svg_with_a_cache_header(client: TestClient) -> None:
    # A session cookie makes other responses no-store; the icon holds nothing personal.
    client.cookies.set(cookie_name(secure=False), "anything")
    response = client.get("/favicon.svg")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/svg+xml"
    assert response.headers["cache-control"] == FAVICON_CACHE
    assert "max-age=86400" in FAVICON_CACHE
    root = ET.fromstring(response.content)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
