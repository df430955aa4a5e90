"""The chat page in headless Chromium against the real app over a scripted engine.

What needs an answer chosen in advance: a model answer that tries to inject HTML (shown as text,
never run), a long answer to stop with the button and to follow across a reload, and a server that
asks for an API key. Also the page on a phone-sized screen driven by the keyboard, and the themes.
"""

from __future__ import annotations

import re

import httpx
import pytest

from gossamer.engine.protocol import SamplingParams
from gossamer.harmony.tokenizer import decode_text
from gossamer.server.settings import ServerSettings
from gossamer.testing.scripted_engine import ScriptedEngine, harmony_reply
from tests.server.conftest import MODEL_NAME, start_app
from tests.webui.browser import chromium

KEY = "page-key"
INJECTION = (
    'Look: <script>window.__pwned = 1</script> and <img src=x onerror="window.__pwned = 2"> '
    "[click](javascript:window.__pwned=3) ![pixel](http://127.0.0.1:9/pixel.png) **bold**"
)
LONG_WORDS = 1000


def script(prompt_ids: list[int], params: SamplingParams, index: int) -> list[int]:
    prompt = decode_text(prompt_ids)
    last_user = prompt[prompt.rfind("<|start|>user") :]
    if "INJECT" in last_user:
        return harmony_reply(reasoning="Here is some HTML.", final=INJECTION)
    if "LONG" in last_user:
        return harmony_reply(reasoning="A long one.", final=" ".join(f"word{i}" for i in range(LONG_WORDS)))
    return harmony_reply(reasoning="Small talk.", final="Hello **there**.")


@pytest.fixture(scope="module")
def app():
    engine = ScriptedEngine(script, max_context_length=8192, tokens_per_step=2, step_delay_s=0.004)
    live = start_app(engine, ServerSettings(api_key=KEY))
    yield live
    live.stop()


@pytest.fixture(scope="module")
def context(app):
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1100, "height": 760})
        yield context
        context.close()


@pytest.fixture(scope="module")
def page(context, app):
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(app.url)
    yield page
    assert errors == []


def wait_idle(page) -> None:
    page.wait_for_selector("#send:not([hidden])", timeout=60_000)
    page.wait_for_selector(".message.assistant:not([aria-busy])")


def send(page, text: str) -> None:
    page.fill("#prompt", text)
    page.press("#prompt", "Enter")
    page.wait_for_selector("#stop:not([hidden])")


def test_the_page_loads_without_a_key_then_asks_for_one(page, app):
    assert httpx.get(f"{app.url}/v1/models").status_code == 401  # the API itself stays closed
    page.wait_for_selector("#key-dialog[open]")
    page.fill("#key-input", "wrong-key")
    page.press("#key-input", "Enter")
    page.wait_for_selector("#key-reason:text('That key was refused')")
    page.fill("#key-input", KEY)
    page.press("#key-input", "Enter")
    page.wait_for_selector("body[data-ready=true]")
    assert page.locator("#model").input_value() == MODEL_NAME
    assert page.evaluate("localStorage.getItem('gossamer.apiKey')") == KEY


def test_model_output_is_shown_as_text_never_run(page):
    send(page, "INJECT please")
    wait_idle(page)
    answer = page.locator(".message.assistant .answer").last
    text = answer.inner_text()
    assert "<script>window.__pwned = 1</script>" in text
    assert '<img src=x onerror="window.__pwned = 2">' in text
    assert answer.locator("script, img, [onerror]").count() == 0
    assert answer.locator("strong").inner_text() == "bold"  # Markdown still renders
    assert answer.locator('a[href^="javascript"]').count() == 0
    assert answer.locator("a", has_text="pixel").get_attribute("href") == "http://127.0.0.1:9/pixel.png"
    assert page.evaluate("window.__pwned") is None
    page.reload()  # the stored answer, drawn from the conversation's items: the same
    page.wait_for_selector("body[data-ready=true]")
    assert page.evaluate("window.__pwned") is None
    assert "<script>" in page.locator(".message.assistant .answer").last.inner_text()


def test_the_stop_button_aborts_a_long_answer(page, app):
    aborted_before = app.engine.stats().num_aborted
    send(page, "LONG answer")
    page.wait_for_selector("article:last-of-type .answer:not(:empty)")
    page.click("#stop")
    wait_idle(page)
    assert page.locator(".message.assistant").last.locator(".notice").inner_text() == "Stopped."
    assert app.engine.stats().num_aborted == aborted_before + 1
    words = page.locator(".message.assistant .answer").last.inner_text().split()
    assert 0 < len(words) < LONG_WORDS


def test_a_reload_mid_answer_follows_it_to_the_end(page):
    page.locator(".message.assistant").last.get_by_role("button", name="Regenerate the answer").click()
    page.wait_for_selector(".message.assistant[aria-busy=true] .answer:not(:empty)")  # the new answer
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    page.wait_for_selector(".message.assistant[aria-busy=true]")  # following the running response
    wait_idle(page)
    assert page.locator(".message.assistant .answer").last.inner_text().split()[-1] == f"word{LONG_WORDS - 1}"
    page.reload()  # and it is in the conversation, once
    page.wait_for_selector("body[data-ready=true]")
    assert page.locator(".message.user .bubble").all_inner_texts() == ["INJECT please", "LONG answer"]


def test_edit_the_last_message(page):
    page.locator(".message.user").last.get_by_role("button", name="Edit your last message").click()
    page.fill(".edit-box textarea", "hello again")
    page.press(".edit-box textarea", "Enter")
    page.locator(".message.assistant").last.locator(".answer", has_text="Hello there.").wait_for()
    wait_idle(page)
    assert page.locator(".message.user .bubble").all_inner_texts() == ["INJECT please", "hello again"]
    assert page.locator(".message.assistant .answer").last.inner_text() == "Hello there."


def test_a_rename_begun_while_an_answer_streams_survives_its_end(page):
    send(page, "LONG answer")
    page.wait_for_selector("article:last-of-type .answer:not(:empty)")
    entry = page.locator(".conversation[aria-current=page]")
    conversation = entry.get_attribute("data-id")
    entry.get_by_role("button", name=re.compile("^Rename")).click()
    page.locator(".rename-input").press_sequentially("Renamed mid-answer")
    wait_idle(page)  # the answer's end moves the conversation to the top of the list: not while renaming
    assert page.input_value(".rename-input") == "Renamed mid-answer"
    page.press(".rename-input", "Enter")
    first = page.locator(".conversation").first
    first.locator('.open:text-is("Renamed mid-answer")').wait_for()
    assert first.get_attribute("data-id") == conversation
    assert page.locator("#title").inner_text() == "Renamed mid-answer"


def test_a_phone_sized_screen_by_keyboard_alone(context, app):
    page = context.new_page()  # the same browser profile: the key is remembered
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(app.url)
    page.wait_for_selector("body[data-ready=true]")
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")  # nothing sideways
    assert page.locator("#sidebar").bounding_box()["x"] < 0  # the list is a drawer, closed
    page.keyboard.press("Control+k")
    page.wait_for_selector("#sidebar.open")
    assert page.evaluate("document.activeElement.id") == "search"
    page.keyboard.press("Escape")
    page.wait_for_selector("#sidebar:not(.open)")
    page.keyboard.press("Control+Shift+O")  # a new chat, the message box focused
    assert page.evaluate("document.activeElement.id") == "prompt"
    page.keyboard.type("hi from a phone")
    page.keyboard.press("Enter")
    page.locator(".message.assistant").last.locator(".answer", has_text="Hello there.").wait_for()
    wait_idle(page)
    assert page.locator(".message.assistant .answer").last.inner_text() == "Hello there."
    page.close()


def test_light_and_dark_themes(page):
    background = "getComputedStyle(document.body).backgroundColor"
    while page.locator("#theme").inner_text() != "Theme: light":
        page.click("#theme")
    light = page.evaluate(background)
    page.click("#theme")
    assert page.locator("#theme").inner_text() == "Theme: dark"
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    dark = page.evaluate(background)
    assert light == "rgb(255, 255, 255)" and dark != light
    page.click("#theme")  # back to the system's (headless Chromium prefers light)
    assert page.locator("#theme").inner_text() == "Theme: system"
    assert page.evaluate("document.documentElement.dataset.theme") == "light"
