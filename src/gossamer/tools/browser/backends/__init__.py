"""Where the browser's searches go: `local` (offline index), `exa`, `youcom`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from gossamer.tools.browser.page import Page


@dataclass(frozen=True)
class SearchHit:
    url: str
    title: str
    snippet: str


class BackendError(Exception):
    """A search that failed; the message is for the model."""


class SearchBackend(Protocol):
    source: str  # what the system message says the results come from ("web", "local documents")

    async def search(self, query: str, topn: int) -> list[SearchHit]: ...

    async def open(self, url: str) -> Page | None:
        """The page at `url` when this backend holds it (the local index); None: fetch it."""
        ...
