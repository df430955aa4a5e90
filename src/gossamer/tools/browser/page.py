"""A page the browser shows: text with numbered links, wrapped into lines, viewed a window at a time.

The view format is the gpt-oss reference browser's, which the model was trained to read and cite:

    [3] Title (url)
    **viewing lines [0 - 41] of 120**

    L0: first line
    L1: a 【2†link text†example.com】 in the text

Lines are the page text wrapped at 80 columns; a view holds as many lines as fit in
`view_tokens` tokens (1,024 by default, as in the reference).
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal
from urllib.parse import unquote, urlparse

PageKind = Literal["page", "search", "find"]
WRAP_COLUMNS = 80


@dataclass
class Page:
    url: str  # shown in the header; search pages: search://QUERY, find pages: URL/find?pattern=...
    title: str
    text: str  # links appear as 【id†text】 (same site) or 【id†text†domain】
    links: dict[int, str] = field(default_factory=dict)  # link id -> absolute URL
    kind: PageKind = "page"
    cite_url: str | None = None  # where a citation of this page points; None: not citable (search)
    # For search and find results: link id -> the line of the target page to open at.
    link_lines: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.cite_url is None and self.kind == "page":
            self.cite_url = self.url

    @cached_property
    def lines(self) -> list[str]:
        return wrap_lines(self.text)


def wrap_lines(text: str, width: int = WRAP_COLUMNS) -> list[str]:
    out: list[str] = []
    for line in text.split("\n"):
        if not line:
            out.append("")  # paragraph breaks stay: the model reads structure from them
            continue
        out += textwrap.wrap(line, width=width, replace_whitespace=False, drop_whitespace=False) or [""]
    return out


def domain_of(url: str) -> str:
    parsed = urlparse(url)
    return parsed.netloc or urlparse("http://" + url).netloc if parsed.scheme in ("http", "https", "") else ""


def render_view(
    page: Page,
    cursor: int,
    loc: int,
    num_lines: int | None,
    *,
    view_tokens: int,
    count_tokens: Callable[[str], int],
) -> tuple[str, int, int]:
    """The display of `page` from line `loc`: (text, first line, last line shown)."""
    lines = page.lines
    total = len(lines)
    end = loc + num_lines if num_lines and num_lines > 0 else _fit(lines, loc, view_tokens, count_tokens)
    end = max(min(end, total), loc + 1)
    body = "\n".join(f"L{i}: {lines[i]}" for i in range(loc, end))
    header = page.title + (f" ({unquote(page.url)[:1024]})" if page.url else "")
    scrollbar = f"viewing lines [{loc} - {end - 1}] of {total - 1}"
    return f"[{cursor}] {header}\n**{scrollbar}**\n\n{body}", loc, end - 1


def _fit(lines: list[str], loc: int, view_tokens: int, count_tokens: Callable[[str], int]) -> int:
    """The end of a window from `loc` that holds at most `view_tokens` tokens (at least one line)."""
    used = 0
    for i in range(loc, len(lines)):
        used += count_tokens(f"L{i}: {lines[i]}\n")
        if used > view_tokens:
            return max(i, loc + 1)
    return len(lines)
