"""The chat page, measured in headless Chromium against `gossamer serve` on the embedded model.

    python benchmarks/webui_latency.py [--rounds 7] [--screenshots docs/]

- Page load: from navigation to the page being usable (models and the conversation list loaded,
  `body[data-ready]`), and the bytes over the wire (transferSize: headers plus gzipped bodies) of the
  page and its files, cold (a fresh browser profile) and warm (a reload: hashed files come from the
  cache). API calls the page makes at start are counted apart.
- Enter to the first token shown: from the Enter key in the message box to the first streamed text
  (reasoning or answer) in the new turn, taken in the page; against the same requests made with the
  openai SDK (a new conversation, then a streamed background response on it), from the first call
  to the first text delta. The two alternate, `--rounds` times each, and medians are reported.

With --screenshots DIR it also saves the page in light and dark (webui-light.png, webui-dark.png)
after a tool-using turn. Chromium is Debian's (/usr/bin/chromium, or $GOSSAMER_CHROMIUM), launched
with the flags that keep it off the network; the server binds 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from openai import OpenAI
from playwright.sync_api import sync_playwright

CHROMIUM = os.environ.get("GOSSAMER_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PROMPT = "Hello! Tell me about yourself."

# Sets window.__firstToken to the milliseconds from the Enter key to the first text of the new turn.
FIRST_TOKEN_JS = """
() => {
  window.__firstToken = null;
  const prompt = document.getElementById('prompt');
  let pressed = null;
  prompt.addEventListener('keydown', (e) => { if (e.key === 'Enter') pressed = performance.now(); },
                          { capture: true, once: true });
  const seen = new MutationObserver(() => {
    const turn = [...document.querySelectorAll('.message.assistant')].pop();
    const text = turn && [...turn.querySelectorAll('.reasoning-text, .answer')].some((n) => n.textContent);
    if (pressed !== null && text) { seen.disconnect(); window.__firstToken = performance.now() - pressed; }
  });
  const watch = { subtree: true, childList: true, characterData: true };
  seen.observe(document.getElementById('transcript'), watch);
}
"""

WIRE_JS = """
() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const files = performance.getEntriesByType('resource').filter((r) => r.name.includes('/static/'));
  const api = performance.getEntriesByType('resource').filter((r) => r.name.includes('/v1/'));
  const sum = (list, key) => list.reduce((total, r) => total + r[key], 0);
  return {
    page_bytes: nav.transferSize + sum(files, 'transferSize'),
    page_decoded_bytes: nav.decodedBodySize + sum(files, 'decodedBodySize'),
    num_files: files.length + 1,
    api_bytes: sum(api, 'transferSize'),
    load_event_ms: nav.loadEventEnd,
  };
}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(store: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "gossamer.server.main",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--responses-store",
        str(store),
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(command)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise TimeoutError("gossamer serve did not come up")


def page_load(browser, url: str) -> dict:
    context = browser.new_context()
    page = context.new_page()
    started = time.perf_counter()
    page.goto(url)
    page.wait_for_selector("body[data-ready=true]")
    cold = {"ready_ms": (time.perf_counter() - started) * 1000, **page.evaluate(WIRE_JS)}
    started = time.perf_counter()
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    warm = {"ready_ms": (time.perf_counter() - started) * 1000, **page.evaluate(WIRE_JS)}
    context.close()
    return {"cold": cold, "warm": warm}


def page_first_token_ms(page, url: str) -> float:
    page.goto(url)  # a new chat every round: the same requests as the SDK's below
    page.wait_for_selector("body[data-ready=true]")
    page.evaluate(FIRST_TOKEN_JS)
    page.fill("#prompt", PROMPT)
    page.press("#prompt", "Enter")
    page.wait_for_selector("#stop:not([hidden])")
    page.wait_for_selector("#send:not([hidden])", timeout=120_000)
    return page.evaluate("window.__firstToken")


def sdk_first_token_ms(client: OpenAI, model: str) -> float:
    started = time.perf_counter()
    conversation = client.conversations.create(metadata={"title": PROMPT})
    events = client.responses.create(
        model=model,
        input=PROMPT,
        conversation=conversation.id,
        background=True,
        stream=True,
        reasoning={"effort": "medium"},
    )
    elapsed = None
    for event in events:
        if elapsed is None and event.type in ("response.reasoning_text.delta", "response.output_text.delta"):
            elapsed = (time.perf_counter() - started) * 1000
    return elapsed


SAMPLES = {  # a few earlier conversations, so the list in the screenshots looks like a person's
    "Packing list for Lisbon": ("What should I pack for Lisbon in May?", "Light layers and **good shoes**."),
    "Miles to kilometers": ("How far is 26 miles in km?", "About 41.8 kilometers."),
    "Order K4821": ("Where is my order K4821?", "It has **shipped**."),
}


def sample_conversations(client: OpenAI) -> None:
    """The benchmark's own conversations out of the list, a few plausible ones in."""
    listed = httpx.get(f"{client.base_url}conversations", params={"limit": 100}, timeout=10).json()["data"]
    for conversation in listed:
        client.conversations.delete(conversation["id"])
    for title, (question, answer) in SAMPLES.items():
        items = [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        client.conversations.create(metadata={"title": title}, items=items)


def screenshots(browser, url: str, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    sample_conversations(OpenAI(base_url=url + "/v1", api_key="unused"))
    for scheme in ("light", "dark"):
        context = browser.new_context(viewport={"width": 1200, "height": 760}, color_scheme=scheme)
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector("body[data-ready=true]")
        if scheme == "light":  # one tool-using turn, then it is in the list for the dark shot too
            page.check("#demo-tools")
            page.fill("#prompt", "What's the weather in Paris?")
            page.press("#prompt", "Enter")
            page.wait_for_selector("#stop:not([hidden])")
            page.wait_for_selector("#send:not([hidden])", timeout=120_000)
            page.wait_for_timeout(300)
            first = page.evaluate("location.hash")
        else:
            page.goto(url + "/" + first)
            page.wait_for_selector(".message.assistant")
        page.locator("details.reasoning").first.evaluate("(d) => d.open = true")
        page.screenshot(path=str(out / f"webui-{scheme}.png"))
        context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--screenshots", type=Path, default=None)
    args = parser.parse_args()
    store = Path(tempfile.mkdtemp(prefix="gossamer-webui-bench-")) / "responses.sqlite3"
    process, url = start_server(store)
    try:
        client = OpenAI(base_url=url + "/v1", api_key="unused")
        model = client.models.list().data[0].id
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            load = page_load(browser, url)
            page = browser.new_context().new_page()
            page_first_token_ms(page, url)  # warm-up: the first turn compiles and caches
            sdk_first_token_ms(client, model)
            page_ms, sdk_ms = [], []
            for _ in range(args.rounds):
                page_ms.append(page_first_token_ms(page, url))
                sdk_ms.append(sdk_first_token_ms(client, model))
            print(json.dumps(summary(load, page_ms, sdk_ms), indent=2), flush=True)
            if args.screenshots:
                screenshots(browser, url, args.screenshots)
            browser.close()
    finally:
        process.terminate()
        process.wait(timeout=30)


def summary(load: dict, page_ms: list[float], sdk_ms: list[float]) -> dict:
    return {
        "page_load": load,
        "first_token_ms": {
            "page": {"median": statistics.median(page_ms), "all": [round(x, 1) for x in page_ms]},
            "sdk": {"median": statistics.median(sdk_ms), "all": [round(x, 1) for x in sdk_ms]},
        },
    }


if __name__ == "__main__":
    main()
