"""Fixtures for the built-in tools: a small corpus in a local index, and a scripted engine that browses."""

from __future__ import annotations

from pathlib import Path

import pytest

from gossamer.tools.browser.backends.local import LocalBackend
from gossamer.tools.browser.index import LocalIndex

CORPUS = {
    "volcanoes.md": "# Volcanoes of Iceland\n\nIceland has about 130 volcanoes.\n\n"
    "Hekla erupted in 2000 and is nicknamed the Gateway to Hell.\n\nThe island sits on a ridge.\n",
    "rivers.html": "<html><head><title>Rivers of France</title></head><body><h1>Rivers</h1>"
    "<p>The Loire is the longest river in France, at 1,006 km.</p>"
    "<p>See <a href='https://example.org/seine'>the Seine</a> too.</p></body></html>",
    "notes/bread.txt": "Sourdough bread needs a starter.\nThe starter ferments flour and water for days.\n",
}


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    for name, text in CORPUS.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture
def local_index(tmp_path: Path, corpus: Path) -> LocalIndex:
    index = LocalIndex(tmp_path / "index.sqlite3")
    index.add(corpus)
    yield index
    index.close()


@pytest.fixture
def local_backend(local_index: LocalIndex) -> LocalBackend:
    return LocalBackend(local_index)
