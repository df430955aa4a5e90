"""On a failed browser test, what the page showed: its transcript's text and its status line, in the
report (a timeout alone says too little about a page)."""

from __future__ import annotations

import pytest


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    page = item.funcargs.get("page") if hasattr(item, "funcargs") else None
    if report.failed and page is not None:
        try:
            shown = page.evaluate(
                "() => ({url: location.href, status: document.getElementById('status')?.textContent,"
                " transcript: document.getElementById('transcript')?.innerText})"
            )
        except Exception as exc:  # the page itself may be what broke
            shown = f"(the page could not be read: {exc})"
        report.sections.append(("the page", str(shown)))
    return report
