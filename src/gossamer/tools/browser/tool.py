"""The `browser` tool: search, open and find, as gpt-oss's reference browser runs them.

`search(query, topn)` shows a results page whose links open the hits; `open(id, cursor, loc,
num_lines)` follows a link of a page (or opens a URL given as `id`, or scrolls when `id` is
left out); `find(pattern, cursor)` lists the lines of a page that contain the pattern. Each call
pushes a page on the stack and answers with its line-numbered view (page.py). Wrong use (a bad
cursor or link id, a location past the end) and pages that cannot be fetched come back to the
model as the tool's message, so it can correct itself.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any
from urllib.parse import quote

from gossamer.harmony.conversation import ToolNamespace
from gossamer.harmony.tokenizer import load_harmony_encoding
from gossamer.tools.browser.backends import BackendError, SearchBackend, SearchHit
from gossamer.tools.browser.documents import DocumentError, to_page
from gossamer.tools.browser.fetch import Fetcher, FetchError
from gossamer.tools.browser.page import Page, domain_of, render_view
from gossamer.tools.browser.state import PageStack, ToolUsageError
from gossamer.tools.protocol import ToolCall, ToolResult

logger = logging.getLogger(__name__)

VIEW_TOKENS = 1024  # the reference browser's view size
MAX_SEARCH_RESULTS = 10
FIND_CONTEXT_LINES = 4
MAX_FIND_RESULTS = 50
_LINK = re.compile(r"【\d+†([^†】]*)(?:†[^】]*)?】")

# The reference browser's description, with this server's sources.
DESCRIPTION = """Tool for browsing.
The `cursor` appears in brackets before each browsing display: `[{cursor}]`.
Cite information from the tool using the following format:
`【{cursor}†L{line_start}(-L{line_end})?】`, for example: `【6†L9-L11】` or `【8†L3】`.
Do not quote more than 10 words directly from the tool output.
sources="""


class BrowserTool:
    """One conversation's browser: its page stack lives as long as the request (or is restored)."""

    name = "browser"

    def __init__(
        self, backend: SearchBackend, fetcher: Fetcher | None, *, view_tokens: int = VIEW_TOKENS
    ) -> None:
        self.backend = backend
        self.fetcher = fetcher  # None: only what the backend holds can be opened (offline)
        self.view_tokens = view_tokens
        self.stack = PageStack()
        self._encoding = load_harmony_encoding()

    def namespace(self) -> ToolNamespace:
        return ToolNamespace(self.name, DESCRIPTION + self.backend.source)

    # -- the protocol ------------------------------------------------------------------------

    async def run(self, call: ToolCall) -> ToolResult:
        try:
            args = _arguments(call.arguments)
            match call.function:
                case "search":
                    return await self.search(str(args.get("query", "")), _int(args.get("topn"), 10))
                case "open":
                    return await self.open(
                        args.get("id", -1),
                        _int(args.get("cursor"), -1),
                        _int(args.get("loc"), -1),
                        _int(args.get("num_lines"), -1),
                    )
                case "find":
                    return await self.find(str(args.get("pattern", "")), _int(args.get("cursor"), -1))
                case other:
                    raise ToolUsageError(f"Unknown function `browser.{other}`: use search, open or find.")
        except (ToolUsageError, BackendError, FetchError, DocumentError) as exc:
            return ToolResult.failure(str(exc))

    def cite(self, cursor: int) -> tuple[str, str] | None:
        page = self.stack.peek(cursor)
        record = self.stack.record(cursor)
        url = page.cite_url if page is not None else (record or {}).get("cite_url")
        title = page.title if page is not None else (record or {}).get("title", "")
        if not url or not url.startswith(("http://", "https://", "file://")):
            return None
        return url, title

    def restore(self, records: list[dict[str, Any]]) -> None:
        """Rebuild the stack of an earlier request from its calls' `page` records, in order."""
        for record in records:
            self.stack.push_lazy(record, lambda record=record: self._remake(record))

    # -- the three functions -----------------------------------------------------------------

    async def search(self, query: str, topn: int = 10) -> ToolResult:
        if not query.strip():
            raise ToolUsageError("`search` needs a non-empty `query`.")
        try:
            hits = await self.backend.search(query, max(1, min(topn, MAX_SEARCH_RESULTS)))
        except BackendError as exc:
            raise BackendError(f"Error during search for `{query}`: {exc}") from None
        page = search_page(query, hits)
        action = {"type": "search", "query": query, "sources": [{"type": "url", "url": h.url} for h in hits]}
        return self._show(page, {"kind": "search", "query": query}, 0, -1, action)

    async def open(
        self, id: int | str = -1, cursor: int = -1, loc: int = -1, num_lines: int = -1
    ) -> ToolResult:
        if isinstance(id, str) and id.strip().lstrip("-").isdigit():
            id = int(id)
        if isinstance(id, str):
            page = await self._load(id.strip())
            record = {"kind": "page", "url": page.url}
        else:
            current = await self.stack.page(cursor)
            if id >= 0:
                url = current.links.get(id)
                if url is None:
                    raise ToolUsageError(f"Invalid link id `{id}`.")
                if loc < 0 and id in current.link_lines:
                    loc = max(current.link_lines[id] - FIND_CONTEXT_LINES, 0)
                page = await self._load(url)
                record = {"kind": "page", "url": page.url}
            else:  # no id: scroll the page to `loc`
                page = current
                record = dict(self.stack.slot(cursor).record)
        return self._show(page, record, max(loc, 0), num_lines, {"type": "open_page", "url": page.cite_url})

    async def find(self, pattern: str, cursor: int = -1) -> ToolResult:
        if not pattern:
            raise ToolUsageError("`find` needs a `pattern`.")
        base = await self.stack.page(cursor)
        if base.kind != "page":
            raise ToolUsageError("Cannot run `find` on search results page or find results page")
        base_cursor = self.stack.current_cursor if cursor == -1 else cursor
        page = find_page(base, pattern)
        record = {"kind": "find", "pattern": pattern, "base": base_cursor}
        action = {"type": "find_in_page", "url": base.cite_url or base.url, "pattern": pattern}
        return self._show(page, record, 0, -1, action)

    # -- helpers -----------------------------------------------------------------------------

    def _show(
        self, page: Page, record: dict[str, Any], loc: int, num_lines: int, action: dict[str, Any]
    ) -> ToolResult:
        total = len(page.lines)
        if loc >= total:
            raise ToolUsageError(
                f"Invalid location parameter: `{loc}`. Cannot exceed page maximum of {total - 1}."
            )
        record = {**record, "url": page.url, "title": page.title, "cite_url": page.cite_url}
        cursor = self.stack.push(page, record)
        text, first, last = render_view(
            page, cursor, loc, num_lines, view_tokens=self.view_tokens, count_tokens=self._count_tokens
        )
        return ToolResult(
            output=text,
            details={"action": action, "page": record, "cursor": cursor, "lines": [first, last]},
        )

    def _count_tokens(self, text: str) -> int:
        return len(self._encoding.encode(text, disallowed_special=()))

    async def _load(self, url: str) -> Page:
        if not url:
            raise ToolUsageError("`open` needs a link id or a URL.")
        page = await self.backend.open(url)
        if page is not None:
            return page
        if self.fetcher is None or not url.startswith(("http://", "https://")):
            raise FetchError(
                f"Error fetching URL `{url[:1024]}`: not among the documents this browser can open"
            )
        fetched = await self.fetcher.fetch(url)
        page = to_page(fetched.body, fetched.content_type, fetched.url)
        if fetched.truncated:
            page.text += "\n\n[The page was cut here: it is longer than the browser reads.]"
        return page

    async def _remake(self, record: dict[str, Any]) -> Page:
        match record.get("kind"):
            case "search":
                query = record.get("query", "")
                return search_page(query, await self.backend.search(query, MAX_SEARCH_RESULTS))
            case "find":
                return find_page(
                    await self.stack.page(int(record.get("base", -1))), record.get("pattern", "")
                )
            case _:
                return await self._load(record.get("url", ""))


def search_page(query: str, hits: list[SearchHit]) -> Page:
    lines = ["# Search Results", ""]
    links: dict[int, str] = {}
    for i, hit in enumerate(hits):
        links[i] = hit.url
        domain = domain_of(hit.url)
        label = f"【{i}†{_clean(hit.title)}†{domain}】" if domain else f"【{i}†{_clean(hit.title)}】"
        lines.append(f"* {label} {_clean(hit.snippet)}".rstrip())
    if not hits:
        lines.append(f"No results for `{query}`.")
    return Page(
        url=f"search://{quote(query)}", title=query, text="\n".join(lines), links=links, kind="search"
    )


def find_page(base: Page, pattern: str) -> Page:
    lines = [_LINK.sub(r"\1", line) for line in base.lines]
    needle = pattern.lower()
    chunks: list[str] = []
    links: dict[int, str] = {}
    link_lines: dict[int, int] = {}
    i = 0
    while i < len(lines) and len(chunks) < MAX_FIND_RESULTS:
        if needle not in lines[i].lower():
            i += 1
            continue
        n = len(chunks)
        snippet = "\n".join(lines[i : i + FIND_CONTEXT_LINES])
        chunks.append(f"# 【{n}†match at L{i}】\n{snippet}")
        links[n] = base.url
        link_lines[n] = i
        i += FIND_CONTEXT_LINES
    text = "\n\n".join(chunks) if chunks else f"No `find` results for pattern: `{pattern}`"
    return Page(
        url=f"{base.url}/find?pattern={quote(pattern)}",
        title=f"Find results for text: `{pattern}` in `{base.title}`",
        text=text,
        links=links,
        kind="find",
        cite_url=base.cite_url,
        link_lines=link_lines,
    )


def _clean(text: str) -> str:
    return " ".join(text.replace("【", "〖").replace("】", "〗").replace("†", "‡").split())


def _arguments(text: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ToolUsageError(f"The arguments are not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ToolUsageError("The arguments must be a JSON object.")
    return value


def _int(value: Any, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ToolUsageError(f"Expected an integer, got `{value!r}`.")
    try:
        return int(value)
    except ValueError:
        raise ToolUsageError(f"Expected an integer, got `{value!r}`.") from None
