"""The offline backend: searches and pages come from the local index (browser/index.py)."""

from __future__ import annotations

import asyncio

from gossamer.tools.browser.backends import SearchHit
from gossamer.tools.browser.index import LocalIndex
from gossamer.tools.browser.page import Page


class LocalBackend:
    source = "local documents"

    def __init__(self, index: LocalIndex) -> None:
        self.index = index

    async def search(self, query: str, topn: int) -> list[SearchHit]:
        hits = await asyncio.to_thread(self.index.search, query, topn)
        return [SearchHit(h.url, h.title, h.snippet) for h in hits]

    async def open(self, url: str) -> Page | None:
        return await asyncio.to_thread(self.index.page, url)
