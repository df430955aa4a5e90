"""Headless Chromium for the page's tests: Debian's build (/usr/bin/chromium), driven by Playwright.

Playwright's own browser download cannot be used here (no network but the package registries), so
the tests launch the system Chromium by path, with the flags that keep it off the network:
background networking, component updates and sync off. Each launch gets a fresh temporary profile
(Playwright's default for `launch`). Without Chromium or Playwright the tests are skipped, except
under CI (CI=true), where scripts/setup.sh installs both and their absence is a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

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


def _missing() -> str | None:
    if shutil.which(CHROMIUM) is None:
        return f"no Chromium at {CHROMIUM} (Debian: apt install chromium; or set GOSSAMER_CHROMIUM)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -e '.[dev]')"
    return None


def require_browser() -> None:
    missing = _missing()
    if missing is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"the browser tests cannot run in CI: {missing}")
    pytest.skip(missing)


@contextmanager
def chromium() -> Iterator[object]:
    """A Playwright Browser on the system Chromium."""
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


# Records every visible change of the newest assistant turn (its reasoning and answer text, whether
# the reasoning block is open, whether the turn is still busy), for asserting how it streamed.
WATCH_TURN = """
() => {
  window.__updates = [];
  const record = () => {
    const turn = [...document.querySelectorAll('.message.assistant')].pop();
    if (!turn) return;
    const answer = [...turn.querySelectorAll('.answer')].map((n) => n.textContent).join('|');
    const reasoning = [...turn.querySelectorAll('.reasoning-text')].map((n) => n.textContent).join('|');
    const open = turn.querySelector('details.reasoning[open]') !== null;
    const busy = turn.getAttribute('aria-busy') === 'true';
    const last = window.__updates[window.__updates.length - 1];
    const changed = !last || last.answer !== answer || last.reasoning !== reasoning;
    if (changed || last.open !== open || last.busy !== busy) {
      window.__updates.push({ t: performance.now(), answer, reasoning, open, busy });
    }
  };
  new MutationObserver(record).observe(document.getElementById('transcript'),
    { subtree: true, childList: true, characterData: true, attributes: true });
}
"""
