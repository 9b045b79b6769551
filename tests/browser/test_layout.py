"""The base layout in a real browser: language switch, keyboard skip link, accessibility."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import assert_accessible
from tests.support.server import ServerProcess


def test_home_page_in_french_then_english(page: Page, live_server: ServerProcess) -> None:
    page.goto(live_server.url + "/")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.get_by_role("heading", level=1)).to_have_text("Bienvenue sur Parvis")
    expect(page).to_have_title("Bienvenue · Parvis")
    assert_accessible(page)
    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome to Parvis")
    # the choice is remembered on the next page load
    page.goto(live_server.url + "/")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    assert_accessible(page)


def test_skip_link_is_the_first_tab_stop(page: Page, live_server: ServerProcess) -> None:
    page.goto(live_server.url + "/")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.getAttribute('href')")
    assert focused == "#main"


def test_csp_blocks_inline_script(page: Page, live_server: ServerProcess) -> None:
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text))
    page.goto(live_server.url + "/")
    # An injected inline <script> must not run under the strict CSP.
    page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.__pwned = true'; document.body.appendChild(s); }"
    )
    assert page.evaluate("window.__pwned === true") is False
    assert any("Content Security Policy" in e for e in errors)
