"""The chat page with the server's built-in tools: a web search shows as cards (search, open, find)
before the answer; a tool the server does not run is refused with the flag that would start it, the
switch goes off and the message goes back to the box."""

from __future__ import annotations

import pytest

from gossamer.server.settings import ServerSettings
from gossamer.testing.scripted_engine import ScriptedEngine
from gossamer.testing.tool_script import builtin_tool_script
from gossamer.tools.browser.index import LocalIndex
from tests.server.conftest import start_app
from tests.webui.browser import chromium

RIVERS = (
    "<html><head><title>Rivers of France</title></head><body><h1>Rivers</h1>"
    "<p>The Loire is the longest river in France, at 1,006 km.</p></body></html>"
)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    (root / "rivers.html").write_text(RIVERS)
    index_path = root / "index.sqlite3"
    index = LocalIndex(index_path)
    index.add(root / "rivers.html")
    index.close()
    settings = ServerSettings(tools=["browser"], browser_index=str(index_path), browser_fetch=False)
    live = start_app(
        ScriptedEngine(builtin_tool_script, max_context_length=16384, step_delay_s=0.002), settings
    )
    yield live
    live.stop()


@pytest.fixture(scope="module")
def page(app):
    with chromium() as browser:
        page = browser.new_page()
        page.goto(app.url)
        page.wait_for_selector("body[data-ready=true]")
        yield page


def test_a_web_search_shows_its_steps_as_cards(page):
    page.check("#tool-web_search")
    page.fill("#prompt", "Which river of France is the longest? Loire")
    page.press("#prompt", "Enter")
    turn = page.locator(".message.assistant").last
    turn.locator(".answer", has_text="The page says it about Loire").wait_for()
    page.wait_for_selector("#send:not([hidden])")
    cards = page.locator(".message.assistant").last.locator(".tool-card")
    assert cards.locator(".tool-name").all_inner_texts() == ["web search"] * 3
    assert cards.locator(".tool-state").all_inner_texts() == ["done"] * 3
    assert "Which river of France is the longest" in cards.first.locator(".tool-arguments").inner_text()
    page.uncheck("#tool-web_search")


def test_a_tool_the_server_does_not_run_is_refused_clearly(page):
    page.check("#tool-code_interpreter")
    page.fill("#prompt", "compute 6 * 7")
    page.press("#prompt", "Enter")
    notice = page.locator("#transcript > .notice.error")  # after the conversation, not part of it
    notice.wait_for()
    assert "--tools python" in notice.inner_text()
    assert not page.is_checked("#tool-code_interpreter")
    assert page.input_value("#prompt") == "compute 6 * 7"  # nothing was sent: the text is back
    assert page.locator(".message.user .bubble").all_inner_texts() == [
        "Which river of France is the longest? Loire"
    ]
