"""Error pages in a real browser: in the visitor's language, accessible (parvis.problems)."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import assert_accessible
from tests.support.server import ServerProcess


def post_form(page: Page, action: str) -> None:
    """Submit an empty form to ``action``, as a stale or hand-made form would."""
    with page.expect_navigation():
        page.evaluate(
            """action => { const f = document.createElement('form'); f.method = 'post';
            f.action = action; document.body.appendChild(f); f.submit(); }""",
            action,
        )


def test_not_found_page_in_french_then_english(page: Page, live_server: ServerProcess) -> None:
    response = page.goto(live_server.url + "/pas/de/page")
    assert response is not None
    assert response.status == 404
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.get_by_role("heading", level=1)).to_have_text("Page introuvable")
    assert_accessible(page)
    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    assert_accessible(page)
    page.get_by_role("link", name="Back to the home page").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome to Parvis")


def test_refused_and_not_allowed_pages(page: Page, live_server: ServerProcess) -> None:
    page.goto(live_server.url + "/")
    post_form(page, "/auth/logout")  # no CSRF token: refused
    expect(page.get_by_role("heading", level=1)).to_have_text("Formulaire expiré")
    assert_accessible(page)
    post_form(page, "/")  # the home page is only read
    expect(page.get_by_role("heading", level=1)).to_have_text("Action impossible ici")
    assert_accessible(page)
    page.goto(live_server.url + "/?lang=en")
    post_form(page, "/auth/logout")
    expect(page.get_by_role("heading", level=1)).to_have_text("Form expired")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    assert_accessible(page)
    post_form(page, "/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Action not possible here")
    assert_accessible(page)
