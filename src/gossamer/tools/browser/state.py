"""The browser's page stack: every search, open and find pushes a page; its index is its cursor.

The model refers to pages by cursor (`open(cursor=2, id=5)`, `find(cursor=1)`, citations
`【2†L4-L9】`). A conversation continued in a later request (Responses' previous_response_id)
gets its stack back from the stored calls: each slot remembers how its page was made, and the
page is made again only if the model goes back to it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from gossamer.tools.browser.page import Page


class ToolUsageError(Exception):
    """The model called the browser wrongly (a bad cursor, link id or location): it is told so."""


@dataclass
class PageSlot:
    record: dict[str, Any]  # how the page was made: {"kind", "url", "title", "query"|"pattern"|"base"}
    page: Page | None = None
    load: Callable[[], Awaitable[Page]] | None = None  # re-makes a restored page on first use


class PageStack:
    def __init__(self) -> None:
        self.slots: list[PageSlot] = []

    @property
    def current_cursor(self) -> int:
        return len(self.slots) - 1

    def push(self, page: Page, record: dict[str, Any]) -> int:
        self.slots.append(PageSlot(record, page))
        return self.current_cursor

    def push_lazy(self, record: dict[str, Any], load: Callable[[], Awaitable[Page]]) -> None:
        self.slots.append(PageSlot(record, None, load))

    def pop(self) -> None:
        self.slots.pop()

    def slot(self, cursor: int = -1) -> PageSlot:
        if not self.slots:
            raise ToolUsageError("No pages to access! Search or open a page first.")
        if cursor == -1:
            return self.slots[-1]
        if not isinstance(cursor, int) or isinstance(cursor, bool):
            raise ToolUsageError(f"`cursor` should be an integer, not `{type(cursor).__name__}`")
        if not 0 <= cursor < len(self.slots):
            raise ToolUsageError(
                f"Cursor `{cursor}` is out of range. Available cursor indices: [0 - {self.current_cursor}]."
            )
        return self.slots[cursor]

    async def page(self, cursor: int = -1) -> Page:
        slot = self.slot(cursor)
        if slot.page is None:
            assert slot.load is not None
            slot.page = await slot.load()
        return slot.page

    def peek(self, cursor: int) -> Page | None:
        """The page at `cursor` if it is loaded (citations never load pages)."""
        if 0 <= cursor < len(self.slots):
            return self.slots[cursor].page
        return None

    def record(self, cursor: int) -> dict[str, Any] | None:
        return self.slots[cursor].record if 0 <= cursor < len(self.slots) else None
